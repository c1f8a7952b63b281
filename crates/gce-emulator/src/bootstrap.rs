//! What a new project needs before any Compute call, as on GCP: a billing account linked with
//! the Cloud Billing API (`GET/PUT /v1/projects/{id}/billingInfo`) and
//! `compute.googleapis.com` enabled with the Service Usage API
//! (`GET /v1/projects/{id}/services/{service}`, `POST .../{service}:enable` and `:disable`,
//! answered with finished operations). The services are declared once in [`SERVICES`].
//!
//! Projects created through Resource Manager start with no billing and no services. Compute
//! calls into such a project answer what Compute answers: 403 `PERMISSION_DENIED` with
//! `errors[].reason` `accessNotConfigured` and a `google.rpc.ErrorInfo` detail of reason
//! `SERVICE_DISABLED`, domain `googleapis.com` and metadata `service`, `consumer`,
//! `containerInfo`, `serviceTitle`, `activationUrl` (the shape in
//! google-gemini/gemini-cli#1343; `accessNotConfigured` with "has not been used in project ...
//! before or it is disabled" in hashicorp/terraform-provider-google#2971 and
//! GoogleCloudPlatform/community#884). Enabling a service that needs billing in a project
//! without it is 400 `FAILED_PRECONDITION` with ErrorInfo reason
//! `UREQ_PROJECT_BILLING_NOT_FOUND`, domain `serviceusage.googleapis.com/billing-enabled`
//! ("Billing must be enabled for activation of service(s) ... to proceed", kyegomez/zeta#71,
//! GoogleCloudPlatform/deploystack#52). Unlinking billing later makes Compute answer 403 "This
//! API method requires billing to be enabled" (OpenRouterLabs/spawn#3091).
//!
//! A project pending deletion (`DELETE_REQUESTED`) refuses every Compute call with 403
//! "Project … has been scheduled for deletion and cannot be used for API calls"
//! (forseti-security/forseti-security#2878) until it is undeleted.
//!
//! Projects the emulator never saw created (the sandbox's base project) are taken as
//! bootstrapped already.

use crate::app::App;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A Google API a project can enable.
pub struct ServiceDef {
    /// Service name, e.g. `compute.googleapis.com`.
    pub name: &'static str,
    /// Its title, as `serviceTitle` reports it.
    pub title: &'static str,
    /// Enabling it needs a linked billing account.
    pub needs_billing: bool,
    /// The path prefix of the emulator's routes this service gates.
    pub gates: &'static str,
}

/// The services the emulator knows.
pub const SERVICES: &[ServiceDef] = &[ServiceDef {
    name: "compute.googleapis.com",
    title: "Compute Engine API",
    needs_billing: true,
    gates: "/compute/v1/",
}];

/// Billing links and enabled services, by project id.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct BootstrapState {
    /// Project id → linked billing account (`billingAccounts/...`).
    #[serde(default)]
    pub billing: BTreeMap<String, String>,
    /// Project id → enabled services.
    #[serde(default)]
    pub services: BTreeMap<String, BTreeSet<String>>,
}

/// An error in the newer Google shape (`code`, `message`, `status`, `details`), optionally
/// with Compute's `errors[]` list.
pub(crate) fn error(
    status: u16,
    name: &str,
    message: &str,
    reason: Option<&str>,
    details: Value,
) -> Response {
    let mut body = json!({"error": {"code": status, "message": message, "status": name,
                                    "details": details}});
    if let Some(reason) = reason {
        body["error"]["errors"] =
            json!([{"message": message, "domain": "usageLimits", "reason": reason}]);
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

fn denied(project: &str) -> Response {
    error(
        403,
        "PERMISSION_DENIED",
        &format!("Permission denied on resource project {project}."),
        None,
        json!([]),
    )
}

/// The 403 a call into `project` gets when `service` is not enabled there.
fn service_disabled(project: &str, service: &ServiceDef) -> Response {
    let url = format!(
        "https://console.developers.google.com/apis/api/{}/overview?project={project}",
        service.name
    );
    let message = format!(
        "{} has not been used in project {project} before or it is disabled. Enable it by \
         visiting {url} then retry. If you enabled this API recently, wait a few minutes for \
         the action to propagate to our systems and retry.",
        service.title
    );
    let details = json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "SERVICE_DISABLED",
        "domain": "googleapis.com",
        "metadata": {"service": service.name, "consumer": format!("projects/{project}"),
                     "containerInfo": project, "serviceTitle": service.title,
                     "activationUrl": url},
    }]);
    error(
        403,
        "PERMISSION_DENIED",
        &message,
        Some("accessNotConfigured"),
        details,
    )
}

/// The id of a project created through this emulator's Resource Manager, named by its id or
/// its number.
fn created_here(app: &App, key: &str) -> Option<String> {
    app.read(|s| crate::crm::resolve(&s.crm, key))
}

/// Whether a project created here is `ACTIVE` (not `DELETE_REQUESTED`).
fn active(app: &App, project: &str) -> bool {
    app.read(|s| {
        s.crm
            .projects
            .get(project)
            .is_some_and(|p| p["state"] == "ACTIVE")
    })
}

/// The 403 every Compute call into a project pending deletion gets, in the words Compute uses
/// (the `HttpError 403` quoted in forseti-security/forseti-security#2878); the project's
/// resources stay until it is purged, but no API call reaches them, and `:undelete` restores
/// access.
fn scheduled_for_deletion(project: &str) -> Response {
    let message = format!(
        "Project {project} has been scheduled for deletion and cannot be used for API calls. \
         Visit https://console.developers.google.com/iam-admin/projects?pendingDeletion=true to \
         undelete the project."
    );
    error(403, "PERMISSION_DENIED", &message, None, json!([]))
}

/// The refusal of a call to `path` (e.g. `/compute/v1/projects/p/...`) when its project lacks
/// the service that serves it, or its billing; `None` when the call may go on.
pub fn gate(app: &App, path: &str) -> Option<Response> {
    let service = SERVICES.iter().find(|s| path.starts_with(s.gates))?;
    let rest = path.strip_prefix(service.gates)?;
    let project = rest.strip_prefix("projects/")?.split('/').next()?;
    let id = created_here(app, project)?;
    if !active(app, &id) {
        return Some(scheduled_for_deletion(project));
    }
    let (enabled, billed) = app.read(|s| {
        let b = &s.crm.bootstrap;
        (
            b.services
                .get(&id)
                .is_some_and(|set| set.contains(service.name)),
            b.billing.contains_key(&id),
        )
    });
    if !enabled {
        return Some(service_disabled(project, service));
    }
    if service.needs_billing && !billed {
        let message = format!(
            "This API method requires billing to be enabled. Please enable billing on project \
             #{project} by visiting https://console.developers.google.com/billing/enable?project={project} then retry."
        );
        let details = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                               "reason": "BILLING_DISABLED", "domain": "googleapis.com",
                               "metadata": {"consumer": format!("projects/{project}"),
                                            "service": service.name}}]);
        return Some(error(
            403,
            "PERMISSION_DENIED",
            &message,
            Some("accessNotConfigured"),
            details,
        ));
    }
    None
}

/// The project id of `projects/{id or number}` among those created here, or `None`.
fn project_of(app: &App, key: &str) -> Option<String> {
    app.read(|s| crate::crm::resolve(&s.crm, key))
        .filter(|id| app.read(|s| s.crm.projects[id]["state"] == "ACTIVE"))
}

/// Routes a request below `/v1/`: Cloud Billing's `billingInfo` and Service Usage.
pub fn handle(
    app: &Arc<App>,
    method: &Method,
    rest: &str,
    query: &crate::query::Query,
    body: &[u8],
) -> Response {
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["projects", key, "services"]) => match project_of(app, key) {
            None => denied(key),
            Some(id) => {
                let only_enabled = query.get("filter") == Some("state:ENABLED");
                let services: Vec<Value> = SERVICES
                    .iter()
                    .map(|def| service_state(app, &id, def))
                    .filter(|s| !only_enabled || s["state"] == "ENABLED")
                    .collect();
                axum::Json(json!({"services": services})).into_response()
            }
        },
        (_, ["projects", key, "billingInfo"]) => match project_of(app, key) {
            None => denied(key),
            Some(id) if method == Method::PUT => update_billing(app, &id, body),
            Some(id) => axum::Json(billing_info(app, &id)).into_response(),
        },
        ("GET", ["projects", key, "services", service]) => match project_of(app, key) {
            None => denied(key),
            Some(id) => with_service(service, |def| {
                axum::Json(service_state(app, &id, def)).into_response()
            }),
        },
        ("POST", ["projects", key, "services", action]) => {
            let Some((service, verb)) = action.split_once(':') else {
                return not_found(rest);
            };
            match project_of(app, key) {
                None => denied(key),
                Some(id) => with_service(service, |def| switch(app, &id, def, verb == "enable")),
            }
        }
        ("GET", ["operations", name]) => axum::Json(json!({
            "name": format!("operations/{name}"), "done": true,
            "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}
        }))
        .into_response(),
        _ => not_found(rest),
    }
}

fn not_found(rest: &str) -> Response {
    error(
        404,
        "NOT_FOUND",
        &format!("Requested entity was not found: v1/{rest}"),
        None,
        json!([]),
    )
}

fn with_service(name: &str, f: impl FnOnce(&'static ServiceDef) -> Response) -> Response {
    match SERVICES.iter().find(|s| s.name == name) {
        Some(def) => f(def),
        None => error(
            403,
            "PERMISSION_DENIED",
            &format!("Not found or permission denied for service(s): {name}."),
            None,
            json!([]),
        ),
    }
}

fn billing_info(app: &App, id: &str) -> Value {
    let account = app.read(|s| s.crm.bootstrap.billing.get(id).cloned());
    json!({"name": format!("projects/{id}/billingInfo"), "projectId": id,
           "billingAccountName": account.clone().unwrap_or_default(),
           "billingEnabled": account.is_some()})
}

/// `PUT billingInfo`: links `billingAccountName` (`billingAccounts/...`), or unlinks with an
/// empty one (<https://cloud.google.com/billing/docs/reference/rest/v1/projects/updateBillingInfo>).
fn update_billing(app: &App, id: &str, body: &[u8]) -> Response {
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let account = req["billingAccountName"].as_str().unwrap_or_default();
    if !account.is_empty() && !account.starts_with("billingAccounts/") {
        return error(
            400,
            "INVALID_ARGUMENT",
            &format!("Invalid billing account name: {account}"),
            None,
            json!([]),
        );
    }
    app.mutate(|s| {
        if account.is_empty() {
            s.crm.bootstrap.billing.remove(id);
        } else {
            s.crm.bootstrap.billing.insert(id.into(), account.into());
        }
    });
    axum::Json(billing_info(app, id)).into_response()
}

fn service_state(app: &App, id: &str, def: &ServiceDef) -> Value {
    let enabled = app.read(|s| {
        s.crm
            .bootstrap
            .services
            .get(id)
            .is_some_and(|set| set.contains(def.name))
    });
    json!({"name": format!("projects/{id}/services/{}", def.name),
           "parent": format!("projects/{id}"),
           "config": {"name": def.name, "title": def.title},
           "state": if enabled { "ENABLED" } else { "DISABLED" }})
}

/// `:enable` / `:disable`, answered with a finished operation whose response is the service.
fn switch(app: &App, id: &str, def: &ServiceDef, enable: bool) -> Response {
    let billed = app.read(|s| s.crm.bootstrap.billing.contains_key(id));
    if enable && def.needs_billing && !billed {
        let message = format!(
            "Billing account for project '{id}' is not found. Billing must be enabled for \
             activation of service(s) '{}' to proceed.",
            def.name
        );
        let details = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                               "reason": "UREQ_PROJECT_BILLING_NOT_FOUND",
                               "domain": "serviceusage.googleapis.com/billing-enabled",
                               "metadata": {"project": id, "services": def.name}}]);
        return error(400, "FAILED_PRECONDITION", &message, None, details);
    }
    app.mutate(|s| {
        let set = s.crm.bootstrap.services.entry(id.into()).or_default();
        if enable {
            set.insert(def.name.into());
        } else {
            set.remove(def.name);
        }
    });
    let counter = app.mutate(|s| s.next_counter());
    let kind = if enable {
        "EnableServiceResponse"
    } else {
        "DisableServiceResponse"
    };
    axum::Json(json!({
        "name": format!("operations/acat.p2-{counter}"),
        "done": true,
        "response": {"@type": format!("type.googleapis.com/google.api.serviceusage.v1.{kind}"),
                     "service": service_state(app, id, def)},
    }))
    .into_response()
}
