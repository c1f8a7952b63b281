//! HTTP routing: `/compute/v1/...` to the operation collections or the generic collection
//! implementation, `/v3/...` to Resource Manager, and the `/_emulator/...` admin endpoints.
//! Fault injection is applied here, before a request reaches any handler.

use crate::app::App;
use crate::collection::{self, UpdateMode};
use crate::crm;
use crate::errors::{ApiError, ApiResult};
use crate::geo;
use crate::op_api;
use crate::paths::{Route, Scope};
use crate::query::Query;
use crate::registry::{self, KindSpec};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/compute/v1/{*rest}", any(compute))
        .route("/v3/{*rest}", any(resource_manager))
        .route("/v1/{*rest}", any(billing_and_services))
        .route("/v2/{*rest}", any(org_policies))
        .route("/_emulator/reset", post(reset))
        .route(
            "/_emulator/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .fallback(unknown_url)
        .with_state(app)
}

async fn unknown_url(uri: Uri) -> Response {
    ApiError::not_found(uri.path().trim_start_matches('/')).into_response()
}

async fn reset(State(app): State<Arc<App>>) -> Json<Value> {
    app.mutate(|s| *s = crate::store::Store::default());
    Json(json!({}))
}

async fn compute(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(fault) = app.roll_fault() {
        return fault.into_response();
    }
    if let Some(refused) = crate::bootstrap::gate(&app, uri.path()) {
        return refused;
    }
    let query = Query::parse(raw.as_deref());
    let rest = uri.path().strip_prefix("/compute/v1/").unwrap_or_default();
    let rest = crate::query::percent_decode(rest);
    match dispatch(&app, &method, &rest, &query, &body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn resource_manager(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(fault) = app.roll_fault() {
        // Resource Manager v3 speaks the newer error model: throttling is 429.
        let fault = if fault.status == 403 {
            ApiError::rate_limited()
        } else {
            fault
        };
        return crm::CrmError(fault).into_response();
    }
    let query = Query::parse(raw.as_deref());
    let rest = uri.path().strip_prefix("/v3/").unwrap_or_default();
    match crm::handle(&app, &method, rest, &query, &body) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Cloud Billing's `billingInfo` and Service Usage ([`crate::bootstrap`]).
async fn billing_and_services(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let rest = uri.path().strip_prefix("/v1/").unwrap_or_default();
    let query = Query::parse(raw.as_deref());
    crate::bootstrap::handle(&app, &method, rest, &query, &body)
}

/// Org Policy v2 policies of projects ([`crate::orgpolicy`]).
async fn org_policies(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let rest = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let rest = crate::query::percent_decode(rest);
    let query = Query::parse(raw.as_deref());
    crate::orgpolicy::handle(&app, &method, &rest, &query, &body)
}

/// Refuses regions and zones that do not exist.
fn check_scope(route: &Route) -> ApiResult<()> {
    let known = match &route.scope {
        Scope::Global => true,
        Scope::Region(r) => geo::is_region(r),
        Scope::Zone(z) => geo::is_zone(z),
    };
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(&format!(
            "projects/{}/{}",
            route.project,
            route.scope.segment()
        )))
    }
}

/// 403 `forbidden` for a project the caller may not use, naming the permission Compute
/// would require (`compute.<collection>.<verb>`) and the resource.
fn forbidden(method: &Method, route: &Route) -> ApiError {
    let verb = match (
        method.as_str(),
        route.name.as_deref(),
        route.action.as_deref(),
    ) {
        (_, _, Some(action)) => action,
        ("GET", None, _) => "list",
        ("GET", Some(_), _) => "get",
        ("POST", None, _) => "create",
        ("DELETE", _, _) => "delete",
        _ => "update",
    };
    let collection = match (route.collection.as_str(), route.scope.kind()) {
        ("operations", crate::paths::ScopeKind::Global) => "globalOperations",
        ("operations", crate::paths::ScopeKind::Regional) => "regionOperations",
        ("operations", crate::paths::ScopeKind::Zonal) => "zoneOperations",
        (c, _) => c,
    };
    let mut path = crate::paths::collection_path(&route.project, &route.scope, &route.collection);
    if let Some(name) = &route.name {
        path = format!("{path}/{name}");
    }
    ApiError::forbidden(&format!("compute.{collection}.{verb}"), &path)
}

async fn dispatch(
    app: &Arc<App>,
    method: &Method,
    rest: &str,
    query: &Query,
    body: &[u8],
) -> ApiResult<Value> {
    let route =
        Route::parse(rest).ok_or_else(|| ApiError::not_found(&format!("compute/v1/{rest}")))?;
    check_scope(&route)?;
    if app.config.forbidden_projects.contains(&route.project) {
        return Err(forbidden(method, &route));
    }
    if route.collection == "operations" {
        return operations(app, method, &route, query).await;
    }
    if let Some(refused) = location_refusal(app, method, &route, body) {
        return Err(refused);
    }
    let spec = registry::spec_for(route.scope.kind(), &route.collection)
        .ok_or_else(|| ApiError::not_found(&format!("compute/v1/{rest}")))?;
    resource(app, spec, method, &route, query, body)
}

/// An insert outside the locations the project's `gcp.resourceLocations` policy allows.
fn location_refusal(app: &App, method: &Method, route: &Route, body: &[u8]) -> Option<ApiError> {
    if method != Method::POST || route.name.is_some() || route.action.is_some() {
        return None;
    }
    let body = collection::parse_object(body).ok()?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    crate::orgpolicy::enforce::check_insert(app, route, name)
}

async fn operations(
    app: &Arc<App>,
    method: &Method,
    route: &Route,
    query: &Query,
) -> ApiResult<Value> {
    match (
        method.as_str(),
        route.name.as_deref(),
        route.action.as_deref(),
    ) {
        ("GET", None, None) => op_api::list(app, route, query),
        ("GET", Some(n), None) => op_api::get(app, route, n, query),
        ("DELETE", Some(n), None) => op_api::delete(app, route, n, query),
        ("POST", Some(n), Some("wait")) => op_api::wait(app, route, n, query).await,
        _ => Err(ApiError::method_not_allowed(
            method.as_str(),
            &route.collection,
        )),
    }
}

fn resource(
    app: &Arc<App>,
    spec: &KindSpec,
    method: &Method,
    route: &Route,
    query: &Query,
    body: &[u8],
) -> ApiResult<Value> {
    let by_param = spec
        .name_param
        .and_then(|p| query.get(p))
        .map(str::to_string);
    let by_body = || {
        collection::parse_object(body)
            .ok()
            .and_then(|b| b.get("name").and_then(Value::as_str).map(str::to_string))
    };
    match (
        method.as_str(),
        route.name.as_deref(),
        route.action.as_deref(),
    ) {
        ("GET", None, None) => collection::list(app, spec, route, query),
        ("POST", None, None) => collection::insert(app, spec, route, query, body),
        ("PATCH" | "PUT", None, None) if spec.name_param.is_some() => {
            let name = by_param
                .or_else(by_body)
                .ok_or_else(|| ApiError::required(spec.name_param.unwrap_or("name")))?;
            let mode = if method == Method::PATCH {
                UpdateMode::Patch
            } else {
                UpdateMode::Replace
            };
            collection::update(app, spec, route, &name, query, body, mode)
        }
        ("GET", Some(n), None) => collection::get(app, route, n, query),
        ("DELETE", Some(n), None) => collection::delete(app, spec, route, n, query),
        ("PATCH", Some(n), None) if spec.patch => {
            collection::update(app, spec, route, n, query, body, UpdateMode::Patch)
        }
        ("PUT", Some(n), None) if spec.update => {
            collection::update(app, spec, route, n, query, body, UpdateMode::Replace)
        }
        ("POST", Some(n), Some("setLabels")) if spec.set_labels => {
            collection::set_labels(app, spec, route, n, query, body)
        }
        ("POST", Some(n), Some("setPrivateIpGoogleAccess")) if spec.collection == "subnetworks" => {
            collection::set_private_ip_google_access(app, spec, route, n, query, body)
        }
        ("POST", Some(n), Some("listManagedInstances"))
            if spec.collection == "instanceGroupManagers" =>
        {
            crate::mig::list_managed_instances(app, route, n, query)
        }
        ("POST", Some(n), Some(action @ ("addPeering" | "removePeering")))
            if spec.collection == "networks" =>
        {
            use crate::resources::peering;
            let (edit, schema): (collection::ActionEdit, _) = if action == "addPeering" {
                (peering::add, peering::ADD_REQUEST)
            } else {
                (peering::remove, peering::REMOVE_REQUEST)
            };
            let action = if action == "addPeering" {
                "addPeering"
            } else {
                "removePeering"
            };
            collection::act(app, spec, route, n, query, body, (action, schema), edit)
        }
        ("GET", Some(n), Some("getRouterStatus")) if spec.collection == "routers" => {
            collection::view(app, route, n, query, crate::resources::router_bgp::status)
        }
        (_, _, Some(action)) => Err(ApiError::not_found(&format!(
            "{}/{}/{action}",
            route.collection,
            route.name.as_deref().unwrap_or_default()
        ))),
        _ => Err(ApiError::method_not_allowed(
            method.as_str(),
            &route.collection,
        )),
    }
}
