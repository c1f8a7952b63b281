//! The `globalOperations`, `regionOperations` and `zoneOperations` collections: get, list,
//! delete, and `wait` (which blocks until the operation is DONE or the deadline passes, as
//! Compute does, returning the operation either way).

use crate::app::App;
use crate::collection::{max_results, page};
use crate::errors::{ApiError, ApiResult};
use crate::filter;
use crate::operations::op_path;
use crate::operations::OpStatus;
use crate::paths::{collection_path, Route};
use crate::query::Query;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

fn find(app: &App, route: &Route, name: &str) -> ApiResult<(Value, bool)> {
    let path = op_path(&route.project, &route.scope, name);
    app.read(|s| {
        s.operations
            .get(&path)
            .map(|r| (json!(r.op), r.op.status == OpStatus::Done))
            .ok_or_else(|| ApiError::not_found(&path))
    })
}

pub fn get(app: &App, route: &Route, name: &str, query: &Query) -> ApiResult<Value> {
    query.check_allowed(&[])?;
    find(app, route, name).map(|(op, _)| op)
}

pub fn list(app: &App, route: &Route, query: &Query) -> ApiResult<Value> {
    query.check_allowed(crate::query::LIST_PARAMS)?;
    let max = max_results(query)?;
    let expr = filter::parse(query.get("filter").unwrap_or_default())?;
    let offset = match query.get("pageToken") {
        None => 0,
        Some(t) => crate::ident::base64_decode(t)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| ApiError::invalid_field("pageToken", t, "Invalid page token."))?,
    };
    let prefix = collection_path(&route.project, &route.scope, "operations");
    let start = format!("{prefix}/");
    let items: Vec<Value> = app.read(|s| {
        s.operations
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(_, r)| json!(r.op))
            .filter(|v| expr.as_ref().is_none_or(|e| filter::matches(e, v)))
            .collect()
    });
    Ok(page("compute#operationList", &prefix, items, offset, max))
}

pub fn delete(app: &App, route: &Route, name: &str, query: &Query) -> ApiResult<Value> {
    query.check_allowed(&[])?;
    let path = op_path(&route.project, &route.scope, name);
    app.mutate(|s| {
        s.operations
            .remove(&path)
            .map(|_| json!({}))
            .ok_or_else(|| ApiError::not_found(&path))
    })
}

/// POST .../operations/{name}/wait.
pub async fn wait(app: &Arc<App>, route: &Route, name: &str, query: &Query) -> ApiResult<Value> {
    query.check_allowed(&[])?;
    let deadline = Instant::now() + app.config.wait_timeout;
    let mut shutdown = app.shutdown.clone();
    loop {
        let notified = app.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (op, done) = find(app, route, name)?;
        if done || *shutdown.borrow() {
            return Ok(op);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => return find(app, route, name).map(|(op, _)| op),
            _ = shutdown.changed() => return Ok(op),
        }
    }
}
