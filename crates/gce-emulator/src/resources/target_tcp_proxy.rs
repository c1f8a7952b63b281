//! Target TCP proxies (`global/targetTcpProxies`, `regions/{r}/targetTcpProxies`): the
//! `service` must be an existing backend service of the same scope.

use super::{check_enum, default, Ctx};
use crate::errors::ApiResult;
use crate::paths::ScopeKind;
use serde_json::{json, Map, Value};

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let allowed: &[(ScopeKind, &str)] = match ctx.scope.kind() {
        ScopeKind::Global => &[(ScopeKind::Global, "backendServices")],
        _ => &[(ScopeKind::Regional, "backendServices")],
    };
    let (service, _) = ctx.required_reference(body, "service", "resource.service", allowed)?;
    super::same_region(ctx, "resource.service", &service)?;
    default(body, "proxyHeader", json!("NONE"));
    check_enum(
        body,
        "proxyHeader",
        "resource.proxyHeader",
        &["NONE", "PROXY_V1"],
    )
}
