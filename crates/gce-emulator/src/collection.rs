//! The one generic implementation of a Compute collection — insert, get, list, delete,
//! patch (JSON merge patch), update (PUT) and setLabels — parameterised by a
//! [`KindSpec`]. Per-kind rules come in through the spec's `prepare` hook.

use crate::app::App;
use crate::errors::{ApiError, ApiResult};
use crate::filter;
use crate::ident;
use crate::operations::{self, request_key, Mutation, Submission};
use crate::paths::{collection_path, ResourcePath, Route, API_BASE};
use crate::query::Query;
use crate::references;
use crate::registry::KindSpec;
use crate::resources::{check_labels, check_name, Ctx};
use crate::store::Store;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Fields the server owns; whatever a client sends for them is ignored.
const OUTPUT_ONLY: &[&str] = &[
    "id",
    "kind",
    "selfLink",
    "selfLinkWithId",
    "creationTimestamp",
    "region",
    "zone",
];

const LIST_PARAMS: &[&str] = &[
    "filter",
    "maxResults",
    "orderBy",
    "pageToken",
    "returnPartialSuccess",
    "views",
];

/// Parses a request body that must be a JSON object.
pub fn parse_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::parse_error(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::parse_error(&e.to_string())),
    }
}

/// The `requestId` parameter, which Compute requires to be a non-zero UUID.
pub fn request_id(query: &Query) -> ApiResult<Option<String>> {
    let Some(rid) = query.get("requestId") else {
        return Ok(None);
    };
    let groups: Vec<&str> = rid.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let is_uuid = groups.len() == 5
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !is_uuid || rid.bytes().all(|b| b == b'0' || b == b'-') {
        return Err(ApiError::invalid_field(
            "requestId",
            rid,
            "The request ID must be a valid UUID with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000).",
        ));
    }
    Ok(Some(rid.to_ascii_lowercase()))
}

/// The operation an earlier request with the same requestId created, if any.
fn replay(store: &Store, project: &str, rid: Option<&str>) -> Option<Value> {
    let path = store.request_ids.get(&request_key(project, rid?))?;
    store.operations.get(path).map(|r| json!(r.op))
}

fn path_of(route: &Route, name: &str) -> ResourcePath {
    ResourcePath::new(&route.project, &route.scope, &route.collection, name)
}

fn stored<'a>(store: &'a Store, path: &ResourcePath) -> ApiResult<&'a Value> {
    store
        .get(&path.path())
        .ok_or_else(|| ApiError::not_found(&path.path()))
}

/// GET one resource.
pub fn get(app: &App, route: &Route, name: &str, query: &Query) -> ApiResult<Value> {
    query.check_allowed(&["views"])?;
    let path = path_of(route, name);
    app.read(|s| stored(s, &path).cloned())
}

/// GET the collection, filtered, ordered and paginated.
pub fn list(app: &App, spec: &KindSpec, route: &Route, query: &Query) -> ApiResult<Value> {
    query.check_allowed(LIST_PARAMS)?;
    let max = max_results(query)?;
    let expr = filter::parse(query.get("filter").unwrap_or_default())?;
    let offset = query
        .get("pageToken")
        .map(decode_page_token)
        .transpose()?
        .unwrap_or(0);
    let prefix = collection_path(&route.project, &route.scope, &route.collection);
    let mut items: Vec<Value> = app.read(|s| {
        s.list(&prefix)
            .into_iter()
            .filter(|v| expr.as_ref().is_none_or(|e| filter::matches(e, v)))
            .cloned()
            .collect()
    });
    order(&mut items, query.get("orderBy"))?;
    Ok(page(spec.list_kind, &prefix, items, offset, max))
}

/// Builds one page of a list response.
pub fn page(kind: &str, prefix: &str, items: Vec<Value>, offset: usize, max: usize) -> Value {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(max).collect();
    let mut out = json!({"kind": kind, "id": prefix, "selfLink": format!("{API_BASE}{prefix}")});
    if !page.is_empty() {
        out["items"] = Value::Array(page);
    }
    if offset + max < total {
        out["nextPageToken"] = json!(encode_page_token(offset + max));
    }
    out
}

/// `maxResults`: 0..=500, default 500 (0 also means the default, as Compute treats it).
pub fn max_results(query: &Query) -> ApiResult<usize> {
    match query.get("maxResults") {
        None => Ok(500),
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) => Ok(500),
            Ok(n) if n <= 500 => Ok(n),
            _ => Err(ApiError::invalid_field(
                "maxResults",
                raw,
                "Must be less than or equal to 500",
            )),
        },
    }
}

/// Page tokens are opaque to clients; here they encode the next offset.
fn encode_page_token(offset: usize) -> String {
    ident::base64(format!("offset:{offset}").as_bytes())
}

fn decode_page_token(token: &str) -> ApiResult<usize> {
    decode_offset(token)
        .ok_or_else(|| ApiError::invalid_field("pageToken", token, "Invalid page token."))
}

fn decode_offset(token: &str) -> Option<usize> {
    let decoded = crate::ident::base64_decode(token)?;
    String::from_utf8(decoded)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

/// `orderBy`: `name` or `creationTimestamp`, each optionally `desc`.
fn order(items: &mut [Value], order_by: Option<&str>) -> ApiResult<()> {
    let Some(spec) = order_by.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let mut parts = spec.split_whitespace();
    let field = parts.next().unwrap_or_default();
    let desc = match parts.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "orderBy",
                spec,
                "Invalid order by expression.",
            ))
        }
    };
    if !["name", "creationTimestamp"].contains(&field) || parts.next().is_some() {
        return Err(ApiError::invalid_field(
            "orderBy",
            spec,
            "Sorting is supported on 'name' and 'creationTimestamp' only.",
        ));
    }
    items.sort_by(|a, b| {
        let key = |v: &Value| {
            v.get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        key(a).cmp(&key(b))
    });
    if desc {
        items.reverse();
    }
    Ok(())
}

/// Sets the fields the server owns and the fingerprints derived from content.
fn finalize(
    spec: &KindSpec,
    path: &ResourcePath,
    id: &str,
    created: &str,
    body: &mut Map<String, Value>,
) {
    body.insert("kind".into(), json!(spec.kind));
    body.insert("id".into(), json!(id));
    body.insert("creationTimestamp".into(), json!(created));
    body.insert("name".into(), json!(path.name));
    body.insert("selfLink".into(), json!(path.self_link()));
    if spec.self_link_with_id {
        let with_id = ResourcePath::new(&path.project, &path.scope, &path.collection, id);
        body.insert("selfLinkWithId".into(), json!(with_id.self_link()));
    }
    match &path.scope {
        crate::paths::Scope::Region(_) => {
            body.insert("region".into(), json!(path.scope.link(&path.project)));
        }
        crate::paths::Scope::Zone(_) => {
            body.insert("zone".into(), json!(path.scope.link(&path.project)));
        }
        crate::paths::Scope::Global => {}
    }
    if spec.set_labels {
        let labels = body
            .get("labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if labels.is_empty() {
            body.remove("labels");
        }
        body.insert(
            "labelFingerprint".into(),
            json!(ident::label_fingerprint(&labels)),
        );
    }
    if spec.fingerprint {
        body.remove("fingerprint");
        let content = Value::Object(body.clone()).to_string();
        body.insert("fingerprint".into(), json!(ident::fingerprint(&content)));
    }
}

/// Common entry of every mutation: query check, requestId replay, the store lock.
fn mutation(
    app: &Arc<App>,
    route: &Route,
    query: &Query,
    extra: &[&str],
    act: impl FnOnce(&mut Store, Option<String>) -> ApiResult<Submission>,
) -> ApiResult<Value> {
    let mut allowed = vec!["requestId"];
    allowed.extend_from_slice(extra);
    query.check_allowed(&allowed)?;
    let rid = request_id(query)?;
    app.mutate(|store| {
        if let Some(op) = replay(store, &route.project, rid.as_deref()) {
            return Ok(op);
        }
        let sub = act(store, rid)?;
        Ok(json!(operations::submit(app, store, sub)))
    })
}

/// POST: insert a resource.
pub fn insert(
    app: &Arc<App>,
    spec: &KindSpec,
    route: &Route,
    query: &Query,
    body: &[u8],
) -> ApiResult<Value> {
    let mut body = parse_object(body)?;
    app.check_body(&spec.schema(), &body)?;
    mutation(app, route, query, spec.extra_params, |store, rid| {
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::required("resource.name"))?
            .to_string();
        check_name("resource.name", &name)?;
        let path = path_of(route, &name);
        if store.get(&path.path()).is_some() || store.insert_pending(&path.path()) {
            return Err(ApiError::already_exists(&path.path()));
        }
        OUTPUT_ONLY.iter().for_each(|k| {
            body.remove(*k);
        });
        body.remove("labelFingerprint");
        if spec.set_labels {
            check_labels("resource.labels", body.get("labels"))?;
        }
        let canonical = path.path();
        let mut ctx = Ctx {
            store,
            project: &route.project,
            scope: &route.scope,
            name: &name,
            path: &canonical,
            creating: true,
            not_ready: app.config.not_ready,
        };
        (spec.prepare)(&mut ctx, &mut body)?;
        let id = ident::numeric_id(app.id_seed, store.next_counter());
        finalize(spec, &path, &id, &ident::now_timestamp(), &mut body);
        Ok(Submission {
            scope: route.scope.clone(),
            op_type: "insert",
            target: path.clone(),
            target_id: id,
            mutation: Mutation::Put {
                path: canonical,
                value: Value::Object(body),
                insert: true,
            },
            request_id: rid,
        })
    })
}

/// DELETE: remove a resource unless something still uses it.
pub fn delete(
    app: &Arc<App>,
    spec: &KindSpec,
    route: &Route,
    name: &str,
    query: &Query,
) -> ApiResult<Value> {
    mutation(app, route, query, &[], |store, rid| {
        let path = path_of(route, name);
        let current = stored(store, &path)?;
        if let Some(check) = spec.before_delete {
            check(current)?;
        }
        references::check_unused(store, &path.path())?;
        Ok(Submission {
            scope: route.scope.clone(),
            op_type: "delete",
            target_id: id_of(current),
            mutation: Mutation::Delete { path: path.path() },
            target: path,
            request_id: rid,
        })
    })
}

fn id_of(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// RFC 7386 JSON merge patch, as Compute's PATCH methods apply it.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// How an update combines the body with the stored resource.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    Patch,
    Replace,
}

/// PATCH or PUT: fingerprint check, merge or replace, re-validation, immutable fields.
pub fn update(
    app: &Arc<App>,
    spec: &KindSpec,
    route: &Route,
    name: &str,
    query: &Query,
    body: &[u8],
    mode: UpdateMode,
) -> ApiResult<Value> {
    let patch = parse_object(body)?;
    app.check_body(&spec.schema(), &patch)?;
    let extra: Vec<&str> = spec
        .extra_params
        .iter()
        .copied()
        .chain(spec.name_param)
        .collect();
    mutation(app, route, query, &extra, |store, rid| {
        let path = path_of(route, name);
        let current = stored(store, &path)?.clone();
        if patch.get("name").is_some_and(|n| n.as_str() != Some(name)) {
            return Err(ApiError::invalid_field(
                "resource.name",
                &patch["name"].to_string(),
                "Resource name cannot be changed.",
            ));
        }
        check_fingerprint(spec, &current, &patch)?;
        if mode == UpdateMode::Patch && app.config.strict_patch {
            check_patchable(spec, &current, &patch)?;
        }
        let mut next = merged(&current, &patch, mode);
        let canonical = path.path();
        let mut ctx = Ctx {
            store,
            project: &route.project,
            scope: &route.scope,
            name,
            path: &canonical,
            creating: false,
            not_ready: app.config.not_ready,
        };
        (spec.prepare)(&mut ctx, &mut next)?;
        check_immutable(spec, &current, &next)?;
        for key in spec.backrefs {
            if let Some(v) = current.get(*key) {
                next.insert((*key).into(), v.clone());
            }
        }
        let created = current
            .get("creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        finalize(spec, &path, &id_of(&current), &created, &mut next);
        Ok(Submission {
            scope: route.scope.clone(),
            op_type: if mode == UpdateMode::Patch {
                "patch"
            } else {
                "update"
            },
            target_id: id_of(&current),
            mutation: Mutation::Put {
                path: canonical,
                value: Value::Object(next),
                insert: false,
            },
            target: path,
            request_id: rid,
        })
    })
}

fn check_fingerprint(
    spec: &KindSpec,
    current: &Value,
    patch: &Map<String, Value>,
) -> ApiResult<()> {
    if !spec.fingerprint {
        return Ok(());
    }
    let want = current.get("fingerprint");
    if patch.get("fingerprint") != want {
        return Err(ApiError::condition_not_met(
            "Supplied fingerprint does not match current fingerprint.",
        ));
    }
    Ok(())
}

fn merged(current: &Value, patch: &Map<String, Value>, mode: UpdateMode) -> Map<String, Value> {
    let mut clean = patch.clone();
    for k in OUTPUT_ONLY
        .iter()
        .chain(&["fingerprint", "labelFingerprint"])
    {
        clean.remove(*k);
    }
    let mut next = match mode {
        UpdateMode::Patch => current.clone(),
        UpdateMode::Replace => json!({}),
    };
    merge_patch(&mut next, &Value::Object(clean));
    let mut out = match next {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if mode == UpdateMode::Replace {
        if let Some(labels) = current.get("labels") {
            out.entry("labels").or_insert(labels.clone());
        }
    }
    out
}

fn check_immutable(spec: &KindSpec, current: &Value, next: &Map<String, Value>) -> ApiResult<()> {
    for key in spec.immutable {
        if current.get(*key) != next.get(*key) {
            let shown = next
                .get(*key)
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            return Err(ApiError::invalid_field(
                &format!("resource.{key}"),
                &shown,
                "This field cannot be changed after creation.",
            ));
        }
    }
    Ok(())
}

/// POST .../{name}/setLabels: replaces the labels if `labelFingerprint` is current.
pub fn set_labels(
    app: &Arc<App>,
    spec: &KindSpec,
    route: &Route,
    name: &str,
    query: &Query,
    body: &[u8],
) -> ApiResult<Value> {
    let req = parse_object(body)?;
    app.check_body(spec.set_labels_schema(), &req)?;
    mutation(app, route, query, &[], |store, rid| {
        let path = path_of(route, name);
        let current = stored(store, &path)?.clone();
        if req.get("labelFingerprint") != current.get("labelFingerprint") {
            return Err(ApiError::condition_not_met(
                "Labels fingerprint either invalid or resource labels have changed",
            ));
        }
        check_labels("labels", req.get("labels"))?;
        let labels = req.get("labels").cloned().unwrap_or_else(|| json!({}));
        Ok(replaced(
            spec,
            route,
            name,
            &current,
            "setLabels",
            rid,
            |next| {
                next.insert("labels".into(), labels);
            },
        ))
    })
}

/// The submission of an action that sets fields of a stored resource.
fn replaced(
    spec: &KindSpec,
    route: &Route,
    name: &str,
    current: &Value,
    op_type: &'static str,
    rid: Option<String>,
    set: impl FnOnce(&mut Map<String, Value>),
) -> Submission {
    let path = path_of(route, name);
    let mut next = current.as_object().cloned().unwrap_or_default();
    set(&mut next);
    let created = current
        .get("creationTimestamp")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    finalize(spec, &path, &id_of(current), &created, &mut next);
    Submission {
        scope: route.scope.clone(),
        op_type,
        target_id: id_of(current),
        mutation: Mutation::Put {
            path: path.path(),
            value: Value::Object(next),
            insert: false,
        },
        target: path,
        request_id: rid,
    }
}

/// POST .../subnetworks/{name}/setPrivateIpGoogleAccess: the only way to change
/// `privateIpGoogleAccess` ("This field can be both set at resource creation time and
/// updated using setPrivateIpGoogleAccess", `Subnetwork` in the discovery document). The body
/// is `SubnetworksSetPrivateIpGoogleAccessRequest`; no fingerprint is needed.
pub fn set_private_ip_google_access(
    app: &Arc<App>,
    spec: &KindSpec,
    route: &Route,
    name: &str,
    query: &Query,
    body: &[u8],
) -> ApiResult<Value> {
    let req = parse_object(body)?;
    app.check_body("SubnetworksSetPrivateIpGoogleAccessRequest", &req)?;
    let access = match req.get("privateIpGoogleAccess") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "privateIpGoogleAccess",
                &other.to_string(),
                "Must be a boolean.",
            ))
        }
    };
    mutation(app, route, query, &[], |store, rid| {
        let current = stored(store, &path_of(route, name))?.clone();
        Ok(replaced(
            spec,
            route,
            name,
            &current,
            "setPrivateIpGoogleAccess",
            rid,
            |next| {
                next.insert("privateIpGoogleAccess".into(), json!(access));
            },
        ))
    })
}

/// Fields a PATCH names without changing them: the resource's identity, its fingerprints and
/// what the server owns.
fn is_identity(key: &str) -> bool {
    OUTPUT_ONLY.contains(&key) || ["name", "fingerprint", "labelFingerprint"].contains(&key)
}

/// Refuses a PATCH that changes a field the collection's patch method does not update
/// (`KindSpec::patchable`), in Compute's words (`ApiError::not_updatable`). A field sent with
/// its current value is accepted.
fn check_patchable(spec: &KindSpec, current: &Value, patch: &Map<String, Value>) -> ApiResult<()> {
    let Some(allowed) = spec.patchable else {
        return Ok(());
    };
    for (key, value) in patch {
        if is_identity(key) || allowed.contains(&key.as_str()) || current.get(key) == Some(value) {
            continue;
        }
        let shown = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        return Err(ApiError::not_updatable(&format!("resource.{key}"), &shown));
    }
    Ok(())
}

/// What an action does to a stored resource: `edit(store, request, resource)` checks the
/// request body and changes the resource's fields.
pub type ActionEdit =
    fn(&Store, &Map<String, Value>, &mut Map<String, Value>, &str) -> ApiResult<()>;

/// POST .../{name}/{action} for an action that changes fields of a stored resource
/// (`networks.addPeering`, `networks.removePeering`): the body is checked against
/// `request_schema`, then `edit` changes a copy of the resource; the operation is `action`.
#[allow(clippy::too_many_arguments)]
pub fn act(
    app: &Arc<App>,
    spec: &KindSpec,
    route: &Route,
    name: &str,
    query: &Query,
    body: &[u8],
    (action, request_schema): (&'static str, &str),
    edit: ActionEdit,
) -> ApiResult<Value> {
    let req = parse_object(body)?;
    app.check_body(request_schema, &req)?;
    mutation(app, route, query, &[], |store, rid| {
        let current = stored(store, &path_of(route, name))?.clone();
        let mut next = current.as_object().cloned().unwrap_or_default();
        edit(store, &req, &mut next, &route.project)?;
        Ok(replaced(
            spec,
            route,
            name,
            &current,
            action,
            rid,
            |fields| {
                *fields = next;
            },
        ))
    })
}

/// GET .../{name}/{view}: a runtime view of a stored resource (`routers.getRouterStatus`).
pub fn view(
    app: &Arc<App>,
    route: &Route,
    name: &str,
    query: &Query,
    answer: fn(&Store, &Value) -> Value,
) -> ApiResult<Value> {
    query.check_allowed(&[])?;
    let path = path_of(route, name);
    app.read(|s| stored(s, &path).map(|current| answer(s, current)))
}
