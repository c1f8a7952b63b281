//! Regional autoscalers (`regions/{r}/autoscalers`): the `target` must be an existing
//! regional managed instance group in the same region with no other autoscaler, and the
//! policy's replica bounds must be coherent. Defaults as Compute fills them.

use super::{default, get_str, int_in, same_region, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::paths::ScopeKind;
use serde_json::{json, Map, Value};

const IGM: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "instanceGroupManagers")];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let (target, _) = ctx.required_reference(body, "target", "resource.target", IGM)?;
    same_region(ctx, "resource.target", &target)?;
    let link = get_str(body, "target").unwrap_or_default().to_string();
    let taken = ctx.store.live_and_pending().any(|(k, v)| {
        k.as_str() != ctx.path
            && k.contains("/autoscalers/")
            && v.get("target").and_then(Value::as_str) == Some(link.as_str())
    });
    if taken {
        return Err(ApiError::invalid_field(
            "resource.target",
            &link,
            "The instance group manager already has an autoscaler.",
        ));
    }
    policy(super::object_mut(body, "autoscalingPolicy")?)?;
    body.insert("status".into(), json!("ACTIVE"));
    Ok(())
}

fn policy(p: &mut Map<String, Value>) -> ApiResult<()> {
    let f = "resource.autoscalingPolicy";
    let max = int_in(p, "maxNumReplicas", &format!("{f}.maxNumReplicas"), 1, 1000)?
        .ok_or_else(|| ApiError::required(&format!("{f}.maxNumReplicas")))?;
    let min = int_in(p, "minNumReplicas", &format!("{f}.minNumReplicas"), 0, 1000)?;
    if let Some(min) = min.filter(|m| *m > max) {
        return Err(ApiError::invalid_field(
            &format!("{f}.minNumReplicas"),
            &min.to_string(),
            "Must be less than or equal to maxNumReplicas.",
        ));
    }
    default(p, "minNumReplicas", json!(1.min(max)));
    int_in(
        p,
        "coolDownPeriodSec",
        &format!("{f}.coolDownPeriodSec"),
        15,
        3600,
    )?;
    default(p, "coolDownPeriodSec", json!(60));
    default(p, "mode", json!("ON"));
    super::check_enum(
        p,
        "mode",
        &format!("{f}.mode"),
        &["ON", "OFF", "ONLY_SCALE_OUT", "ONLY_UP"],
    )?;
    let has_signal = [
        "cpuUtilization",
        "loadBalancingUtilization",
        "customMetricUtilizations",
    ]
    .iter()
    .any(|k| p.contains_key(*k));
    if !has_signal {
        p.insert(
            "cpuUtilization".into(),
            json!({"utilizationTarget": 0.6, "predictiveMethod": "NONE"}),
        );
    }
    if let Some(Value::Object(cpu)) = p.get("cpuUtilization") {
        let target = cpu
            .get("utilizationTarget")
            .and_then(Value::as_f64)
            .unwrap_or(0.6);
        if !(0.0 < target && target <= 1.0) {
            return Err(ApiError::invalid_field(
                &format!("{f}.cpuUtilization.utilizationTarget"),
                &target.to_string(),
                "Must be in (0, 1].",
            ));
        }
    }
    Ok(())
}
