//! Regional managed instance groups (`regions/{r}/instanceGroupManagers`): the instance
//! template(s) and autohealing health checks must exist; Compute's derived fields
//! (`instanceGroup`, `distributionPolicy`, `currentActions`, `status`, `updatePolicy`) are
//! filled in. The group's VMs themselves are not emulated.

use super::{check_name, default, get_int, get_str, int_in, objects_mut, same_region, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::geo;
use crate::paths::{ResourcePath, Scope, ScopeKind};
use serde_json::{json, Map, Value};

const TEMPLATE: &[(ScopeKind, &str)] = &[
    (ScopeKind::Global, "instanceTemplates"),
    (ScopeKind::Regional, "instanceTemplates"),
];
const HEALTH_CHECK: &[(ScopeKind, &str)] = &[
    (ScopeKind::Global, "healthChecks"),
    (ScopeKind::Regional, "healthChecks"),
];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let region = ctx.region().unwrap_or_default().to_string();
    templates(ctx, body)?;
    let base = get_str(body, "baseInstanceName")
        .ok_or_else(|| ApiError::required("resource.baseInstanceName"))?;
    let base_ok = base.len() <= 58
        && check_name(
            "resource.baseInstanceName",
            base.trim_end_matches(['#', '-']),
        )
        .is_ok();
    if !base_ok {
        return Err(ApiError::invalid_field(
            "resource.baseInstanceName",
            base,
            "Must be a match of regex '[a-z][-a-z0-9]{0,57}' (optionally ending in -#).",
        ));
    }
    int_in(body, "targetSize", "resource.targetSize", 0, 2000)?;
    default(body, "targetSize", json!(0));
    for (i, p) in objects_mut(body, "autoHealingPolicies", "resource.autoHealingPolicies")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.autoHealingPolicies[{i}].healthCheck");
        if let Some((hc, _)) = ctx.reference(p, "healthCheck", &field, HEALTH_CHECK)? {
            same_region(ctx, &field, &hc)?;
        }
    }
    let group = ResourcePath::new(ctx.project, ctx.scope, "instanceGroups", ctx.name);
    body.insert("instanceGroup".into(), json!(group.self_link()));
    distribution(ctx.project, &region, body)?;
    update_policy(body)?;
    derived_state(body);
    Ok(())
}

/// `instanceTemplate` and `versions[].instanceTemplate`: at least one, all existing; a
/// single version and the top-level field mirror each other as Compute shows them.
fn templates(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    follow_patched_template(ctx, body);
    if let Some((t, _)) = ctx.reference(
        body,
        "instanceTemplate",
        "resource.instanceTemplate",
        TEMPLATE,
    )? {
        same_region(ctx, "resource.instanceTemplate", &t)?;
    }
    let top = get_str(body, "instanceTemplate").map(str::to_string);
    let mut version_templates = Vec::new();
    for (i, v) in objects_mut(body, "versions", "resource.versions")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.versions[{i}].instanceTemplate");
        let (t, _) = ctx.required_reference(v, "instanceTemplate", &field, TEMPLATE)?;
        same_region(ctx, &field, &t)?;
        version_templates.push(t.self_link());
    }
    match (top, version_templates.as_slice()) {
        (None, []) => Err(ApiError::required("resource.instanceTemplate")),
        (Some(t), []) => {
            body.insert("versions".into(), json!([{"instanceTemplate": t}]));
            Ok(())
        }
        (None, [only]) => {
            body.insert("instanceTemplate".into(), json!(only));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A patch that changes only one of `instanceTemplate` and a single version's template moves
/// the other along, as Compute does: the group then has one template, not two.
fn follow_patched_template(ctx: &Ctx, body: &mut Map<String, Value>) {
    if ctx.creating {
        return;
    }
    let Some(current) = ctx.store.resources.get(ctx.path) else {
        return;
    };
    let single = |v: &Value| match v.get("versions").and_then(Value::as_array) {
        Some(versions) if versions.len() == 1 => versions[0].get("instanceTemplate").cloned(),
        _ => None,
    };
    let body_value = Value::Object(body.clone());
    let (top_was, top_is) = (
        current.get("instanceTemplate"),
        body.get("instanceTemplate"),
    );
    let (version_was, version_is) = (single(current), single(&body_value));
    if top_was != top_is && version_was == version_is && version_is.is_some() {
        if let Some(top) = top_is.cloned() {
            body.insert("versions".into(), json!([{ "instanceTemplate": top }]));
        }
    } else if version_was != version_is && top_was == top_is {
        if let Some(version) = version_is {
            body.insert("instanceTemplate".into(), version);
        }
    }
}

fn distribution(project: &str, region: &str, body: &mut Map<String, Value>) -> ApiResult<()> {
    let policy = super::object_mut(body, "distributionPolicy")?;
    default(policy, "targetShape", json!("EVEN"));
    let given: Vec<String> = policy
        .get("zones")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|z| z.get("zone").and_then(Value::as_str).map(str::to_string))
        .collect();
    let names: Vec<String> = if given.is_empty() {
        geo::zones_of(region)
    } else {
        given
            .iter()
            .map(|z| z.rsplit('/').next().unwrap_or_default().to_string())
            .collect()
    };
    for z in &names {
        if geo::region_of_zone(z) != Some(region) {
            return Err(ApiError::invalid_field(
                "resource.distributionPolicy.zones",
                z,
                &format!("Zone must be in region '{region}'."),
            ));
        }
    }
    let zones: Vec<Value> = names
        .iter()
        .map(|z| json!({"zone": Scope::Zone(z.clone()).link(project)}))
        .collect();
    policy.insert("zones".into(), json!(zones));
    Ok(())
}

/// `updatePolicy` with Compute's defaults and rules (`InstanceGroupManagerUpdatePolicy` and
/// `FixedOrPercent` in the discovery document): `type` OPPORTUNISTIC unless given; `maxSurge`
/// and `maxUnavailable` default to "a fixed value equal to the number of zones in which the
/// managed instance group operates", are "either a fixed number or, if the group has 10 or
/// more instances, a percentage", and "at least one of either maxSurge or maxUnavailable must
/// be greater than 0"; `calculated` is the fixed value, or the percentage of `targetSize`
/// rounded.
fn update_policy(body: &mut Map<String, Value>) -> ApiResult<()> {
    let size = get_int(body, "targetSize").unwrap_or(0);
    let zones = body
        .get("distributionPolicy")
        .and_then(|d| d.get("zones"))
        .and_then(Value::as_array)
        .map_or(1, Vec::len) as i64;
    let policy = super::object_mut(body, "updatePolicy")?;
    for (key, allowed) in [
        ("type", &["OPPORTUNISTIC", "PROACTIVE"][..]),
        (
            "minimalAction",
            &["NONE", "REFRESH", "REPLACE", "RESTART"][..],
        ),
        ("replacementMethod", &["RECREATE", "SUBSTITUTE"][..]),
        ("instanceRedistributionType", &["NONE", "PROACTIVE"][..]),
    ] {
        super::check_enum(
            policy,
            key,
            &format!("resource.updatePolicy.{key}"),
            allowed,
        )?;
    }
    default(policy, "type", json!("OPPORTUNISTIC"));
    default(policy, "minimalAction", json!("REPLACE"));
    default(policy, "instanceRedistributionType", json!("PROACTIVE"));
    default(policy, "replacementMethod", json!("SUBSTITUTE"));
    let mut total = 0;
    for key in ["maxSurge", "maxUnavailable"] {
        total += fixed_or_percent(policy, key, size, zones)?;
    }
    if total == 0 {
        return Err(ApiError::invalid(
            "Invalid value for field 'resource.updatePolicy': At least one of either maxSurge or \
             maxUnavailable must be greater than 0.",
        ));
    }
    Ok(())
}

/// One `FixedOrPercent` of the update policy, defaulted and with `calculated` set; returns it.
fn fixed_or_percent(
    policy: &mut Map<String, Value>,
    key: &str,
    size: i64,
    zones: i64,
) -> ApiResult<i64> {
    let field = format!("resource.updatePolicy.{key}");
    let value = super::object_mut(policy, key)?;
    value.remove("calculated");
    if value.is_empty() {
        value.insert("fixed".into(), json!(zones));
    }
    let calculated =
        match (get_int(value, "fixed"), get_int(value, "percent")) {
            (Some(n), None) if n >= 0 => n,
            (None, Some(p)) if (0..=100).contains(&p) && size >= 10 => (p * size + 50) / 100,
            (None, Some(p)) if (0..=100).contains(&p) => {
                return Err(ApiError::invalid_field(
                    &format!("{field}.percent"),
                    &p.to_string(),
                    "A percentage may be set only for a group of 10 or more instances.",
                ))
            }
            _ => return Err(ApiError::invalid_field(
                &field,
                &Value::Object(value.clone()).to_string(),
                "Set either a fixed number of instances (0 or more) or a percentage (0 to 100).",
            )),
        };
    value.insert("calculated".into(), json!(calculated));
    Ok(calculated)
}

/// The status fields of a group whose instances are all in place.
fn derived_state(body: &mut Map<String, Value>) {
    let size = get_int(body, "targetSize").unwrap_or(0);
    body.insert(
        "currentActions".into(),
        json!({
            "abandoning": 0, "creating": 0, "creatingWithoutRetries": 0, "deleting": 0,
            "none": size, "recreating": 0, "refreshing": 0, "restarting": 0,
            "resuming": 0, "starting": 0, "stopping": 0, "suspending": 0, "verifying": 0
        }),
    );
    body.insert(
        "status".into(),
        json!({
            "isStable": true,
            "versionTarget": {"isReached": true},
            "stateful": {"hasStatefulConfig": false, "perInstanceConfigs": {"allEffective": true}},
            "allInstancesConfig": {"effective": true}
        }),
    );
    default(body, "listManagedInstancesResults", json!("PAGELESS"));
}
