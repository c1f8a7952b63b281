//! Compute `Operation` resources and their lifecycle. Every mutation becomes an operation
//! that goes PENDING → RUNNING → DONE over the configured latency; the resource change it
//! carries ([`Mutation`]) is applied only when it turns DONE, and a change that has become
//! impossible meanwhile (name taken, referent gone, still in use) fails the operation with
//! Compute's `error.errors[{code, message}]` instead.

use crate::app::App;
use crate::errors::{ApiError, ApiResult};
use crate::ident;
use crate::paths::{ResourcePath, Scope};
use crate::references;
use crate::resources;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// `Operation.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OpStatus {
    Pending,
    Running,
    Done,
}

/// One entry of `Operation.error.errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpErrorItem {
    pub code: String,
    pub message: String,
}

/// `Operation.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpError {
    pub errors: Vec<OpErrorItem>,
}

/// A `compute#operation`, field for field as Compute returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub operation_type: String,
    pub target_link: String,
    pub target_id: String,
    pub status: OpStatus,
    pub progress: i32,
    pub insert_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub self_link: String,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_operation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_error_status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_error_message: Option<String>,
}

/// The state change an operation makes when it finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Mutation {
    /// Store `value` at `path`; `insert` means the path must be free, else it must exist.
    Put {
        path: String,
        value: Value,
        insert: bool,
    },
    /// Remove the resource at `path`.
    Delete { path: String },
}

impl Mutation {
    /// The resource the mutation changes.
    pub fn path(&self) -> &str {
        match self {
            Mutation::Put { path, .. } | Mutation::Delete { path } => path,
        }
    }
}

/// An operation plus the mutation it still has to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpRecord {
    pub op: Operation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<Mutation>,
}

/// What a handler asks for when it submits a mutation.
pub struct Submission {
    pub scope: Scope,
    pub op_type: &'static str,
    pub target: ResourcePath,
    pub target_id: String,
    pub mutation: Mutation,
    pub request_id: Option<String>,
}

/// The path of an operation named `name` in a scope.
pub fn op_path(project: &str, scope: &Scope, name: &str) -> String {
    ResourcePath::new(project, scope, "operations", name).path()
}

fn new_operation(app: &App, store: &mut Store, sub: &Submission) -> Operation {
    let project = &sub.target.project;
    let counter = store.next_counter();
    let now = chrono::Utc::now();
    let name = ident::operation_name(app.id_seed, counter, now);
    let self_link = ResourcePath::new(project, &sub.scope, "operations", &name).self_link();
    let (zone, region) = match &sub.scope {
        Scope::Zone(_) => (sub.scope.link(project), None),
        Scope::Region(_) => (None, sub.scope.link(project)),
        Scope::Global => (None, None),
    };
    Operation {
        kind: "compute#operation".into(),
        id: ident::numeric_id(app.id_seed, counter),
        name,
        operation_type: sub.op_type.into(),
        target_link: sub.target.self_link(),
        target_id: sub.target_id.clone(),
        status: OpStatus::Pending,
        progress: 0,
        insert_time: ident::timestamp(now),
        start_time: None,
        end_time: None,
        self_link,
        user: app.config.user.clone(),
        zone,
        region,
        client_operation_id: sub.request_id.clone(),
        error: None,
        http_error_status_code: None,
        http_error_message: None,
    }
}

/// Records a new operation and starts it; with zero latency it is DONE on return.
pub fn submit(app: &Arc<App>, store: &mut Store, sub: Submission) -> Operation {
    let op = new_operation(app, store, &sub);
    let path = op_path(&sub.target.project, &sub.scope, &op.name);
    if let Some(rid) = &sub.request_id {
        store
            .request_ids
            .insert(request_key(&sub.target.project, rid), path.clone());
    }
    let record = OpRecord {
        op,
        mutation: Some(sub.mutation),
    };
    store.operations.insert(path.clone(), record);
    let latency = app.operation_latency(sub.op_type);
    if latency.is_zero() {
        complete(store, &path);
        after_done(app, store, &path);
    } else {
        tokio::spawn(drive(app.clone(), path.clone(), latency));
    }
    store.operations[&path].op.clone()
}

/// Key of the requestId index.
pub fn request_key(project: &str, request_id: &str) -> String {
    format!("{project}/{request_id}")
}

async fn drive(app: Arc<App>, path: String, latency: Duration) {
    let app = &app;
    let pending = latency / 3;
    tokio::time::sleep(pending).await;
    if app.stopping() {
        return;
    }
    app.mutate(|store| start(store, &path));
    tokio::time::sleep(latency - pending).await;
    if app.stopping() {
        return;
    }
    app.mutate(|store| {
        complete(store, &path);
        after_done(app, store, &path);
    });
}

/// Lets a managed instance group whose operation just finished work on its VMs.
fn after_done(app: &Arc<App>, store: &mut Store, op_path: &str) {
    let target = store
        .operations
        .get(op_path)
        .and_then(|r| crate::paths::parse_link(&r.op.target_link))
        .map(|p| p.path());
    if let Some(target) = target.filter(|t| crate::mig::is_group(t)) {
        crate::mig::kick(app, store, &target);
    }
}

fn start(store: &mut Store, path: &str) {
    if let Some(rec) = store.operations.get_mut(path) {
        if rec.op.status == OpStatus::Pending {
            rec.op.status = OpStatus::Running;
            rec.op.start_time = Some(ident::now_timestamp());
        }
    }
}

/// Applies the operation's mutation and marks it DONE (with an error if it failed).
pub fn complete(store: &mut Store, path: &str) {
    start(store, path);
    let Some(mutation) = store
        .operations
        .get_mut(path)
        .and_then(|r| r.mutation.take())
    else {
        return;
    };
    let result = apply(store, &mutation);
    if let Some(rec) = store.operations.get_mut(path) {
        let op = &mut rec.op;
        op.status = OpStatus::Done;
        op.progress = 100;
        op.end_time = Some(ident::now_timestamp());
        if let Err(e) = result {
            op.error = Some(OpError {
                errors: vec![OpErrorItem {
                    code: e.operation_code().into(),
                    message: e.message.clone(),
                }],
            });
            op.http_error_status_code = Some(i32::from(e.status));
            op.http_error_message = Some(http_reason(e.status).into());
        }
    }
}

/// Completes every unfinished operation at once (used after loading a state file).
pub fn complete_all(store: &mut Store) {
    let open: Vec<String> = store
        .operations
        .iter()
        .filter(|(_, r)| r.op.status != OpStatus::Done)
        .map(|(k, _)| k.clone())
        .collect();
    open.iter().for_each(|p| complete(store, p));
}

fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "BAD REQUEST",
        404 => "NOT FOUND",
        409 => "CONFLICT",
        412 => "PRECONDITION FAILED",
        _ => "INTERNAL SERVER ERROR",
    }
}

/// Applies a mutation, re-checking what may have changed since it was accepted.
pub fn apply(store: &mut Store, mutation: &Mutation) -> ApiResult<()> {
    let path = mutation.path().to_string();
    match mutation {
        Mutation::Put { value, insert, .. } => {
            let exists = store.resources.contains_key(&path);
            if *insert && exists {
                return Err(ApiError::already_exists(&path));
            }
            if !*insert && !exists {
                return Err(ApiError::not_found(&path));
            }
            if let Some(missing) = references::missing_reference(store, &path, value) {
                return Err(ApiError::not_found(&missing));
            }
            let old = store.resources.insert(path.clone(), value.clone());
            resources::after_change(store, &path, old.as_ref(), Some(value));
        }
        Mutation::Delete { .. } => {
            references::check_unused(store, &path)?;
            let old = store
                .resources
                .remove(&path)
                .ok_or_else(|| ApiError::not_found(&path))?;
            resources::after_change(store, &path, Some(&old), None);
        }
    }
    Ok(())
}
