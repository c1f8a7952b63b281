//! Organization Policy v2 on projects, on the same port: `POST /v2/projects/{p}/policies`,
//! `GET/PATCH/DELETE /v2/projects/{p}/policies/{constraint}` and
//! `GET /v2/projects/{p}/policies`, shaped after the Org Policy v2 discovery document
//! (`orgpolicy:v2`, googleapis/google-api-go-client `orgpolicy/v2/orgpolicy-api.json`;
//! `GoogleCloudOrgpolicyV2Policy`: `name`, `spec {etag, updateTime, rules[] {values
//! {allowedValues, deniedValues}, allowAll, denyAll, enforce, condition}, inheritFromParent,
//! reset}`, `dryRunSpec`, `etag`).
//!
//! `{p}` is a project id or number; answers name the project by number ("responses will
//! return the name using the equivalent project number", `Policy.name`). Errors, as the API
//! answers them, in the newer Google shape:
//! - a project that does not exist (or is being deleted): 403 `PERMISSION_DENIED`
//!   "Permission 'orgpolicy.policies.create' denied on resource
//!   '//cloudresourcemanager.googleapis.com/projects/p' (or it may not exist)"
//!   (terraform-google-modules/terraform-google-org-policy#101) — Google does not reveal
//!   whether a project exists;
//! - a constraint that does not exist: 404 `NOT_FOUND` "Requested entity was not found."
//!   (`policies.create`: "Returns NOT_FOUND if the constraint does not exist";
//!   terraform-google-org-policy#99); the emulator knows [`CONSTRAINTS`];
//! - no policy of the constraint on the project: 404 `NOT_FOUND` (`policies.get`);
//! - a second create: 409 `ALREADY_EXISTS` "Requested entity already exists"
//!   (hashicorp/terraform-provider-google#24335);
//! - an `etag` that is not the stored one on patch or delete: 409 `ABORTED`
//!   (`policies.patch`: "Returns ABORTED if the etag supplied in the request does not match");
//! - a body that is not a policy, a name that does not match the URL, a rule mixing
//!   `values` with `allowAll`/`denyAll`, `enforce` on a list constraint, or a value that is
//!   not a location or known value group ([`groups`]): 400 `INVALID_ARGUMENT`.
//!
//! Policies are stored by project id; [`enforce`] applies `gcp.resourceLocations` to
//! Compute inserts.

pub mod enforce;
pub mod groups;

use crate::app::App;
use crate::bootstrap::error;
use crate::query::Query;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The constraints the emulator knows (list constraints only).
pub const CONSTRAINTS: &[&str] = &["gcp.resourceLocations"];

/// Policies by project id, then by constraint name.
pub type PolicyState = BTreeMap<String, BTreeMap<String, Value>>;

/// A refused request: HTTP status, canonical status name, message.
struct Refusal(u16, &'static str, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1, &self.2, None, json!([]))
    }
}

type Answer = Result<Value, Refusal>;

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal(400, "INVALID_ARGUMENT", message.into())
}

fn not_found() -> Refusal {
    Refusal(404, "NOT_FOUND", "Requested entity was not found.".into())
}

fn denied(permission: &str, key: &str) -> Refusal {
    Refusal(
        403,
        "PERMISSION_DENIED",
        format!(
            "Permission 'orgpolicy.policies.{permission}' denied on resource \
             '//cloudresourcemanager.googleapis.com/projects/{key}' (or it may not exist)."
        ),
    )
}

/// Routes a request below `/v2/`.
pub fn handle(app: &App, method: &Method, rest: &str, query: &Query, body: &[u8]) -> Response {
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let answer = match (method.as_str(), segs.as_slice()) {
        ("POST", ["projects", key, "policies"]) => create(app, key, body),
        ("GET", ["projects", key, "policies"]) => list(app, key),
        ("GET", ["projects", key, "policies", c]) => get(app, key, c),
        ("PATCH", ["projects", key, "policies", c]) => patch(app, key, c, query, body),
        ("DELETE", ["projects", key, "policies", c]) => delete(app, key, c, query),
        _ => Err(not_found()),
    };
    match answer {
        Ok(v) => axum::Json(v).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The project id and number of an active project created here.
fn project(app: &App, key: &str, permission: &str) -> Result<(String, String), Refusal> {
    app.read(|s| {
        let id = crate::crm::resolve(&s.crm, key)?;
        let p = &s.crm.projects[&id];
        let number = p["name"].as_str()?.strip_prefix("projects/")?.to_string();
        (p["state"] == "ACTIVE").then_some((id, number))
    })
    .ok_or_else(|| denied(permission, key))
}

fn known_constraint(constraint: &str) -> Result<(), Refusal> {
    if CONSTRAINTS.contains(&constraint) {
        Ok(())
    } else {
        Err(not_found())
    }
}

fn parse(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    crate::collection::parse_object(body).map_err(|e| invalid(e.message))
}

/// Refuses fields a schema of the discovery document does not declare, worded as Google's
/// JSON parser words it.
fn known_fields(at: &str, object: &Map<String, Value>, fields: &[&str]) -> Result<(), Refusal> {
    match object.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
        ))),
        None => Ok(()),
    }
}

/// The constraint a policy `name` (`projects/{id or number}/policies/{constraint}`) names,
/// checked against the project of the URL.
fn constraint_of(name: &str, id: &str, number: &str) -> Result<String, Refusal> {
    let bad = || {
        invalid(format!(
            "Invalid policy name: '{name}'. Expected projects/{id}/policies/{{constraint}}."
        ))
    };
    let rest = name.strip_prefix("projects/").ok_or_else(bad)?;
    let (project, constraint) = rest.split_once("/policies/").ok_or_else(bad)?;
    if project != id && project != number || constraint.is_empty() || constraint.contains('/') {
        return Err(bad());
    }
    Ok(constraint.to_string())
}

/// Checks a `PolicySpec` (`spec` or `dryRunSpec`) of a list constraint.
fn check_spec(at: &str, spec: &Value) -> Result<(), Refusal> {
    let spec = spec
        .as_object()
        .ok_or_else(|| invalid(format!("'{at}' must be an object")))?;
    known_fields(
        at,
        spec,
        &["etag", "updateTime", "rules", "inheritFromParent", "reset"],
    )?;
    let rules = match spec.get("rules") {
        None => return Ok(()),
        Some(Value::Array(rules)) => rules,
        Some(_) => return Err(invalid(format!("'{at}.rules' must be a list"))),
    };
    for (i, rule) in rules.iter().enumerate() {
        check_rule(&format!("{at}.rules[{i}]"), rule)?;
    }
    Ok(())
}

fn check_rule(at: &str, rule: &Value) -> Result<(), Refusal> {
    let rule = rule
        .as_object()
        .ok_or_else(|| invalid(format!("'{at}' must be an object")))?;
    known_fields(
        at,
        rule,
        &[
            "values",
            "allowAll",
            "denyAll",
            "enforce",
            "condition",
            "parameters",
        ],
    )?;
    if rule.contains_key("enforce") {
        return Err(invalid(format!(
            "'{at}.enforce' is for boolean constraints; constraints/gcp.resourceLocations is a list constraint"
        )));
    }
    let kinds = ["values", "allowAll", "denyAll"]
        .iter()
        .filter(|k| rule.contains_key(**k))
        .count();
    if kinds != 1 {
        return Err(invalid(format!(
            "'{at}' must set exactly one of values, allowAll, denyAll"
        )));
    }
    let Some(values) = rule.get("values") else {
        return Ok(());
    };
    let values = values
        .as_object()
        .ok_or_else(|| invalid(format!("'{at}.values' must be an object")))?;
    known_fields(
        &format!("{at}.values"),
        values,
        &["allowedValues", "deniedValues"],
    )?;
    for key in ["allowedValues", "deniedValues"] {
        for v in values
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = v.as_str().unwrap_or_default();
            if !groups::is_valid(s) {
                return Err(invalid(format!(
                    "Invalid value {v} in '{at}.values.{key}' for constraint \
                     constraints/gcp.resourceLocations: expected a location (e.g. \
                     europe-west3, europe-west3-a) or a value group (e.g. in:eu-locations, \
                     in:europe-west3-locations)"
                )));
            }
        }
    }
    Ok(())
}

/// The policy as stored and answered: named by project number, with a fresh etag and
/// `spec.updateTime`.
fn stored(number: &str, constraint: &str, req: &Map<String, Value>) -> Value {
    let now = crate::crm::now();
    let mut spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
    let content = format!("{constraint}{spec}{now}");
    let etag = crate::ident::fingerprint(&content);
    spec["etag"] = json!(etag);
    spec["updateTime"] = json!(now);
    let mut policy = json!({
        "name": format!("projects/{number}/policies/{constraint}"),
        "spec": spec,
        "etag": etag,
    });
    if let Some(dry) = req.get("dryRunSpec") {
        policy["dryRunSpec"] = dry.clone();
    }
    policy
}

/// Checks a request body that is a `Policy` and returns it with the constraint it names.
fn policy_request(
    body: &[u8],
    id: &str,
    number: &str,
) -> Result<(Map<String, Value>, String), Refusal> {
    let req = parse(body)?;
    known_fields(
        "policy",
        &req,
        &["name", "spec", "dryRunSpec", "etag", "alternate"],
    )?;
    let name = req.get("name").and_then(Value::as_str).ok_or_else(|| {
        invalid("Policy name is required: projects/{project}/policies/{constraint}.")
    })?;
    let constraint = constraint_of(name, id, number)?;
    known_constraint(&constraint)?;
    for key in ["spec", "dryRunSpec"] {
        if let Some(spec) = req.get(key) {
            check_spec(&format!("policy.{key}"), spec)?;
        }
    }
    Ok((req, constraint))
}

fn create(app: &App, key: &str, body: &[u8]) -> Answer {
    let (id, number) = project(app, key, "create")?;
    let (req, constraint) = policy_request(body, &id, &number)?;
    app.mutate(|s| {
        let policies = s.crm.policies.entry(id).or_default();
        if policies.contains_key(&constraint) {
            return Err(Refusal(
                409,
                "ALREADY_EXISTS",
                "Requested entity already exists".into(),
            ));
        }
        let policy = stored(&number, &constraint, &req);
        policies.insert(constraint, policy.clone());
        Ok(policy)
    })
}

fn get(app: &App, key: &str, constraint: &str) -> Answer {
    let (id, _) = project(app, key, "get")?;
    known_constraint(constraint)?;
    app.read(|s| s.crm.policies.get(&id)?.get(constraint).cloned())
        .ok_or_else(not_found)
}

fn list(app: &App, key: &str) -> Answer {
    let (id, _) = project(app, key, "list")?;
    let policies: Vec<Value> = app.read(|s| {
        s.crm
            .policies
            .get(&id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    });
    Ok(if policies.is_empty() {
        json!({})
    } else {
        json!({"policies": policies})
    })
}

/// An `etag` given on patch or delete must be the stored one.
fn check_etag(given: Option<&str>, current: &Value) -> Result<(), Refusal> {
    match given.filter(|e| !e.is_empty()) {
        Some(e) if current["etag"] != e => Err(Refusal(
            409,
            "ABORTED",
            "The etag supplied does not match the persisted etag of the policy.".into(),
        )),
        _ => Ok(()),
    }
}

/// `PATCH`: "the supplied policy will perform a full overwrite of all fields"; an
/// `updateMask` may name `spec` / `dryRunSpec` (`policy.spec` in the proto form).
fn patch(app: &App, key: &str, constraint: &str, query: &Query, body: &[u8]) -> Answer {
    let (id, number) = project(app, key, "update")?;
    known_constraint(constraint)?;
    let (req, named) = policy_request(body, &id, &number)?;
    if named != constraint {
        return Err(invalid(format!(
            "The policy name names {named}, the URL {constraint}."
        )));
    }
    let mask: Vec<String> = query
        .get("updateMask")
        .map(|m| {
            m.split(',')
                .map(|p| p.trim().trim_start_matches("policy.").to_string())
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = mask
        .iter()
        .find(|p| !["spec", "dryRunSpec", "dry_run_spec"].contains(&p.as_str()))
    {
        return Err(invalid(format!("Invalid update mask path: {bad}")));
    }
    app.mutate(|s| {
        let current = s
            .crm
            .policies
            .get_mut(&id)
            .and_then(|m| m.get_mut(constraint))
            .ok_or_else(not_found)?;
        check_etag(req.get("etag").and_then(Value::as_str), current)?;
        let mut merged = req.clone();
        if !mask.is_empty() && !mask.iter().any(|p| p == "spec") {
            merged.insert("spec".into(), current["spec"].clone());
        }
        *current = stored(&number, constraint, &merged);
        Ok(current.clone())
    })
}

fn delete(app: &App, key: &str, constraint: &str, query: &Query) -> Answer {
    let (id, _) = project(app, key, "delete")?;
    known_constraint(constraint)?;
    app.mutate(|s| {
        let policies = s.crm.policies.get_mut(&id).ok_or_else(not_found)?;
        let current = policies.get(constraint).ok_or_else(not_found)?;
        check_etag(query.get("etag"), current)?;
        policies.remove(constraint);
        Ok(json!({}))
    })
}
