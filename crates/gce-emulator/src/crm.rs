//! Cloud Resource Manager v3 projects on the same port: `POST /v3/projects` (a long-running
//! operation), `GET/DELETE/PATCH /v3/projects/{id}`, `POST /v3/projects/{id}:undelete`,
//! `GET /v3/projects?parent=` and `GET /v3/operations/{id}`. Errors use the newer Google
//! shape (`code`, `message`, `status`); an unknown project is a 403 as the real API
//! answers, so that existence is not revealed.

use crate::app::App;
use crate::errors::{ApiError, ApiResult};
use crate::ident;
use crate::query::Query;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

const PROJECT_TYPE: &str = "type.googleapis.com/google.cloud.resourcemanager.v3.Project";

/// Projects by projectId and their operations by name.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CrmState {
    pub projects: BTreeMap<String, Value>,
    pub operations: BTreeMap<String, CrmOp>,
    /// Billing links and enabled services ([`crate::bootstrap`]).
    #[serde(default)]
    pub bootstrap: crate::bootstrap::BootstrapState,
    /// Org Policy v2 policies ([`crate::orgpolicy`]).
    #[serde(default)]
    pub policies: crate::orgpolicy::PolicyState,
}

/// A `google.longrunning.Operation` plus the change it still has to make.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrmOp {
    pub operation: Value,
    pub pending: Option<CrmChange>,
}

/// What a project operation does when it finishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CrmChange {
    Create(Value),
    Delete(String),
}

/// A Resource Manager error, rendered in the newer shape.
pub struct CrmError(pub ApiError);

impl IntoResponse for CrmError {
    fn into_response(self) -> Response {
        let e = self.0;
        let code = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({"error": {"code": e.status, "message": e.message, "status": e.status_name()}});
        (code, axum::Json(body)).into_response()
    }
}

/// The current time as the newer APIs write it (RFC 3339 in UTC, `...Z`).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn denied(id: &str) -> ApiError {
    ApiError {
        status: 403,
        reason: "forbidden",
        domain: "global",
        message: format!(
            "Permission 'resourcemanager.projects.get' denied on resource \
             '//cloudresourcemanager.googleapis.com/projects/{id}' (or it may not exist)."
        ),
    }
}

/// Routes a request below `/v3/`.
pub fn handle(
    app: &Arc<App>,
    method: &Method,
    rest: &str,
    query: &Query,
    body: &[u8],
) -> Result<Value, CrmError> {
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let result = match (method.as_str(), segs.as_slice()) {
        ("POST", ["projects"]) => create(app, body),
        ("GET", ["projects"]) => list(app, query),
        ("GET", ["operations", id]) => operation(app, id),
        ("POST", ["projects", id]) if id.ends_with(":undelete") => {
            undelete(app, id.trim_end_matches(":undelete"))
        }
        ("GET", ["projects", id]) => get(app, id),
        ("DELETE", ["projects", id]) => delete(app, id),
        ("PATCH", ["projects", id]) => patch(app, id, query, body),
        _ => Err(ApiError::not_found(&format!("v3/{rest}"))),
    };
    result.map_err(CrmError)
}

fn valid_project_id(id: &str) -> bool {
    let b = id.as_bytes();
    (6..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

fn create(app: &Arc<App>, body: &[u8]) -> ApiResult<Value> {
    let req = crate::collection::parse_object(body)?;
    let id = req
        .get("projectId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("project.project_id"))?
        .to_string();
    if !valid_project_id(&id) {
        return Err(ApiError::invalid(format!(
            "Project id '{id}' is invalid: use 6 to 30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
        )));
    }
    crate::resources::check_labels("project.labels", req.get("labels"))?;
    app.mutate(|store| {
        if store.crm.projects.contains_key(&id) || pending_create(&store.crm, &id) {
            return Err(ApiError { status: 409, reason: "alreadyExists", domain: "global", message: "Requested entity already exists".into() });
        }
        let counter = store.next_counter();
        let number = 100_000_000_000 + ident::mix64(app.id_seed ^ counter) % 900_000_000_000;
        let project = new_project(&id, number, &req);
        let meta = json!({"@type": "type.googleapis.com/google.cloud.resourcemanager.v3.CreateProjectMetadata", "createTime": now(), "gettable": false, "ready": false});
        Ok(start(app, store, counter, "cp", meta, CrmChange::Create(project)))
    })
}

fn new_project(id: &str, number: u64, req: &Map<String, Value>) -> Value {
    let mut p = json!({
        "name": format!("projects/{number}"),
        "projectId": id,
        "state": "ACTIVE",
        "displayName": req.get("displayName").cloned().unwrap_or_else(|| json!(id)),
        "createTime": now(),
        "updateTime": now(),
        "etag": format!("W/\"{}\"", ident::fingerprint(id)),
        "labels": req.get("labels").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(parent) = req.get("parent") {
        p["parent"] = parent.clone();
    }
    p
}

fn pending_create(crm: &CrmState, id: &str) -> bool {
    crm.operations
        .values()
        .any(|o| matches!(&o.pending, Some(CrmChange::Create(p)) if p["projectId"] == id))
}

fn start(
    app: &Arc<App>,
    store: &mut crate::store::Store,
    counter: u64,
    prefix: &str,
    metadata: Value,
    change: CrmChange,
) -> Value {
    let name = format!(
        "operations/{prefix}.{}",
        ident::numeric_id(app.id_seed, counter)
    );
    let latency = app.operation_latency(match change {
        CrmChange::Create(_) => "insert",
        CrmChange::Delete(_) => "delete",
    });
    let op = CrmOp {
        operation: json!({"name": name, "metadata": metadata, "done": false}),
        pending: Some(change),
    };
    store.crm.operations.insert(name.clone(), op);
    if latency.is_zero() {
        complete(&mut store.crm, &name);
    } else {
        let (app, n) = (app.clone(), name.clone());
        tokio::spawn(async move {
            tokio::time::sleep(latency).await;
            if !app.stopping() {
                app.mutate(|s| complete(&mut s.crm, &n));
            }
        });
    }
    store.crm.operations[&name].operation.clone()
}

/// Finishes a project operation.
pub fn complete(crm: &mut CrmState, name: &str) {
    let Some(change) = crm.operations.get_mut(name).and_then(|o| o.pending.take()) else {
        return;
    };
    let project = match change {
        CrmChange::Create(p) => {
            let id = p["projectId"].as_str().unwrap_or_default().to_string();
            crm.projects.insert(id, p.clone());
            p
        }
        CrmChange::Delete(id) => set_state(crm, &id, "DELETE_REQUESTED").unwrap_or(Value::Null),
    };
    if let Some(op) = crm.operations.get_mut(name) {
        let mut response = project;
        if let Value::Object(m) = &mut response {
            m.insert("@type".into(), json!(PROJECT_TYPE));
        }
        op.operation["done"] = json!(true);
        op.operation["response"] = response;
        if op.operation["metadata"].get("ready").is_some() {
            op.operation["metadata"]["ready"] = json!(true);
            op.operation["metadata"]["gettable"] = json!(true);
        }
    }
}

/// Finishes every unfinished project operation (after loading a state file).
pub fn complete_all(crm: &mut CrmState) {
    let open: Vec<String> = crm
        .operations
        .iter()
        .filter(|(_, o)| o.pending.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    open.iter().for_each(|n| complete(crm, n));
}

fn set_state(crm: &mut CrmState, id: &str, state: &str) -> Option<Value> {
    let p = crm.projects.get_mut(id)?;
    p["state"] = json!(state);
    p["updateTime"] = json!(now());
    if state == "DELETE_REQUESTED" {
        p["deleteTime"] = json!(now());
    } else if let Value::Object(m) = p {
        m.remove("deleteTime");
    }
    Some(p.clone())
}

/// Finds a project by projectId or by `projects/<number>`'s number.
pub(crate) fn resolve(crm: &CrmState, key: &str) -> Option<String> {
    if crm.projects.contains_key(key) {
        return Some(key.to_string());
    }
    let name = format!("projects/{key}");
    crm.projects
        .iter()
        .find(|(_, p)| p["name"] == name.as_str())
        .map(|(k, _)| k.clone())
}

fn get(app: &App, key: &str) -> ApiResult<Value> {
    app.read(|s| resolve(&s.crm, key).map(|id| s.crm.projects[&id].clone()))
        .ok_or_else(|| denied(key))
}

fn delete(app: &Arc<App>, key: &str) -> ApiResult<Value> {
    app.mutate(|store| {
        let id = resolve(&store.crm, key).ok_or_else(|| denied(key))?;
        if store.crm.projects[&id]["state"] != "ACTIVE" {
            return Err(ApiError { status: 400, reason: "failedPrecondition", domain: "global", message: format!("Project {id} is not active.") });
        }
        let counter = store.next_counter();
        let meta = json!({"@type": "type.googleapis.com/google.cloud.resourcemanager.v3.DeleteProjectMetadata"});
        Ok(start(app, store, counter, "dp", meta, CrmChange::Delete(id)))
    })
}

fn undelete(app: &App, key: &str) -> ApiResult<Value> {
    app.mutate(|store| {
        let id = resolve(&store.crm, key).ok_or_else(|| denied(key))?;
        let p = set_state(&mut store.crm, &id, "ACTIVE").unwrap_or_default();
        let name = format!(
            "operations/up.{}",
            ident::numeric_id(app.id_seed, store.next_counter())
        );
        let mut response = p;
        response["@type"] = json!(PROJECT_TYPE);
        Ok(json!({"name": name, "done": true, "response": response}))
    })
}

fn patch(app: &App, key: &str, query: &Query, body: &[u8]) -> ApiResult<Value> {
    let req = crate::collection::parse_object(body)?;
    let mask: Vec<String> = query
        .get("updateMask")
        .unwrap_or("displayName,labels")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    crate::resources::check_labels("project.labels", req.get("labels"))?;
    app.mutate(|store| {
        let id = resolve(&store.crm, key).ok_or_else(|| denied(key))?;
        let p = store.crm.projects.get_mut(&id).ok_or_else(|| denied(key))?;
        for field in &mask {
            match field.as_str() {
                "displayName" | "display_name" => {
                    p["displayName"] = req.get("displayName").cloned().unwrap_or(json!(""))
                }
                "labels" => p["labels"] = req.get("labels").cloned().unwrap_or(json!({})),
                other => {
                    return Err(ApiError::invalid(format!(
                        "Invalid update mask path: {other}"
                    )))
                }
            }
        }
        p["updateTime"] = json!(now());
        let mut response = p.clone();
        response["@type"] = json!(PROJECT_TYPE);
        let name = format!(
            "operations/up.{}",
            ident::numeric_id(app.id_seed, store.next_counter())
        );
        Ok(json!({"name": name, "done": true, "response": response}))
    })
}

fn list(app: &App, query: &Query) -> ApiResult<Value> {
    let parent = query.get("parent");
    let show_deleted = query.get("showDeleted") == Some("true");
    let projects: Vec<Value> = app.read(|s| {
        s.crm
            .projects
            .values()
            .filter(|p| parent.is_none_or(|want| p["parent"] == want))
            .filter(|p| show_deleted || p["state"] == "ACTIVE")
            .cloned()
            .collect()
    });
    Ok(if projects.is_empty() {
        json!({})
    } else {
        json!({"projects": projects})
    })
}

fn operation(app: &App, id: &str) -> ApiResult<Value> {
    let name = format!("operations/{id}");
    app.read(|s| s.crm.operations.get(&name).map(|o| o.operation.clone()))
        .ok_or_else(|| ApiError::not_found(&name))
}
