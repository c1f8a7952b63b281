//! Health checks (`global/healthChecks`, `regions/{r}/healthChecks`): `type` and exactly one
//! matching protocol block, intervals and thresholds with Compute's defaults.

use super::{default, get_str, int_in, Ctx};
use crate::errors::{ApiError, ApiResult};
use serde_json::{json, Map, Value};

/// Each type with its protocol block and default port.
const TYPES: &[(&str, &str, i64)] = &[
    ("TCP", "tcpHealthCheck", 80),
    ("SSL", "sslHealthCheck", 443),
    ("HTTP", "httpHealthCheck", 80),
    ("HTTPS", "httpsHealthCheck", 443),
    ("HTTP2", "http2HealthCheck", 443),
    ("GRPC", "grpcHealthCheck", 0),
    ("GRPC_WITH_TLS", "grpcTlsHealthCheck", 0),
];

pub fn prepare(_ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let present: Vec<&(&str, &str, i64)> = TYPES
        .iter()
        .filter(|(_, k, _)| body.contains_key(*k))
        .collect();
    let ty = match (get_str(body, "type"), present.as_slice()) {
        (Some(t), _) if !TYPES.iter().any(|(n, _, _)| *n == t) => {
            return Err(ApiError::invalid_field("resource.type", t, "Must be one of [TCP, SSL, HTTP, HTTPS, HTTP2, GRPC, GRPC_WITH_TLS]."))
        }
        (_, [a, _, ..]) => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.{}'. Exactly one protocol-specific health check may be set.",
                a.1
            )))
        }
        (Some(t), [one]) if one.0 != t => {
            return Err(ApiError::invalid_field("resource.type", t, &format!("Does not match the '{}' field.", one.1)))
        }
        (Some(t), _) => *TYPES.iter().find(|(n, _, _)| *n == t).unwrap_or(&TYPES[0]),
        (None, [one]) => **one,
        (None, []) => return Err(ApiError::required("resource.type")),
    };
    body.insert("type".into(), json!(ty.0));
    protocol_block(super::object_mut(body, ty.1)?, ty)?;
    for (key, dflt) in [
        ("checkIntervalSec", 5),
        ("timeoutSec", 5),
        ("healthyThreshold", 2),
        ("unhealthyThreshold", 2),
    ] {
        int_in(body, key, &format!("resource.{key}"), 1, 300)?;
        default(body, key, json!(dflt));
    }
    let interval = super::get_int(body, "checkIntervalSec").unwrap_or(5);
    let timeout = super::get_int(body, "timeoutSec").unwrap_or(5);
    if timeout > interval {
        return Err(ApiError::invalid_field(
            "resource.timeoutSec",
            &timeout.to_string(),
            "timeoutSec should be less than or equal to checkIntervalSec.",
        ));
    }
    Ok(())
}

fn protocol_block(
    block: &mut Map<String, Value>,
    (ty, key, port): (&str, &str, i64),
) -> ApiResult<()> {
    int_in(block, "port", &format!("resource.{key}.port"), 1, 65535)?;
    let spec = get_str(block, "portSpecification").map(str::to_string);
    if port > 0 && spec.is_none() && !block.contains_key("port") && !block.contains_key("portName")
    {
        block.insert("port".into(), json!(port));
    }
    if !ty.starts_with("GRPC") {
        default(block, "proxyHeader", json!("NONE"));
    }
    if ty.starts_with("HTTP") {
        default(block, "requestPath", json!("/"));
    }
    Ok(())
}
