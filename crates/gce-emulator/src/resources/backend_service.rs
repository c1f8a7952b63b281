//! Backend services (`global/backendServices`, `regions/{r}/backendServices`): health
//! checks and backend groups must exist (regional instance groups exist through their
//! managed instance group; zonal groups and NEGs are not emulated, so they never exist),
//! with Compute's defaults for scheme, protocol, timeouts and balancing.

use super::{check_enum, default, get_str, int_in, objects_mut, same_region, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::paths::ScopeKind;
use serde_json::{json, Map, Value};

const SCHEMES: &[&str] = &[
    "EXTERNAL",
    "EXTERNAL_MANAGED",
    "INTERNAL",
    "INTERNAL_MANAGED",
    "INTERNAL_SELF_MANAGED",
];
const PROTOCOLS: &[&str] = &[
    "HTTP",
    "HTTPS",
    "HTTP2",
    "TCP",
    "SSL",
    "UDP",
    "GRPC",
    "H2C",
    "UNSPECIFIED",
];
const HEALTH_CHECK: &[(ScopeKind, &str)] = &[
    (ScopeKind::Global, "healthChecks"),
    (ScopeKind::Regional, "healthChecks"),
];
const GROUP: &[(ScopeKind, &str)] = &[
    (ScopeKind::Regional, "instanceGroups"),
    (ScopeKind::Zonal, "instanceGroups"),
    (ScopeKind::Zonal, "networkEndpointGroups"),
    (ScopeKind::Regional, "networkEndpointGroups"),
    (ScopeKind::Global, "networkEndpointGroups"),
];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    default(body, "loadBalancingScheme", json!("EXTERNAL"));
    check_enum(
        body,
        "loadBalancingScheme",
        "resource.loadBalancingScheme",
        SCHEMES,
    )?;
    let internal = get_str(body, "loadBalancingScheme") == Some("INTERNAL");
    default(
        body,
        "protocol",
        json!(if internal { "TCP" } else { "HTTP" }),
    );
    check_enum(body, "protocol", "resource.protocol", PROTOCOLS)?;
    health_checks(ctx, body)?;
    for (i, b) in objects_mut(body, "backends", "resource.backends")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.backends[{i}].group");
        let (group, _) = ctx.required_reference(b, "group", &field, GROUP)?;
        same_region(ctx, &field, &group)?;
        default(
            b,
            "balancingMode",
            json!(if internal {
                "CONNECTION"
            } else {
                "UTILIZATION"
            }),
        );
        default(b, "capacityScaler", json!(1.0));
    }
    int_in(body, "timeoutSec", "resource.timeoutSec", 1, 2_147_483_647)?;
    default(body, "timeoutSec", json!(30));
    default(body, "sessionAffinity", json!("NONE"));
    default(body, "connectionDraining", json!({"drainingTimeoutSec": 0}));
    if !internal {
        default(body, "port", json!(80));
        default(body, "portName", json!("http"));
    }
    Ok(())
}

fn health_checks(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let Some(list) = body.get("healthChecks").cloned() else {
        return Ok(());
    };
    let items = list.as_array().ok_or_else(|| {
        ApiError::invalid_field(
            "resource.healthChecks",
            &list.to_string(),
            "Must be an array.",
        )
    })?;
    let mut links = Vec::new();
    for (i, raw) in items.iter().enumerate() {
        let field = format!("resource.healthChecks[{i}]");
        let raw = raw.as_str().unwrap_or_default();
        let path = ctx.resolve(&field, raw, HEALTH_CHECK)?;
        same_region(ctx, &field, &path)?;
        if !ctx.exists(&path) {
            return Err(ApiError::not_found(&path.path()));
        }
        links.push(json!(path.self_link()));
    }
    body.insert("healthChecks".into(), Value::Array(links));
    Ok(())
}
