//! The hooks of the types that really differ, named by their table entries
//! (`resources::table`): request-body defaults and what a managed instance group waits for.

use serde_json::{json, Map, Value as Json};

/// A network is created in custom mode unless `auto_create_subnetworks` says otherwise
/// (Compute's default is auto mode, which would add a subnetwork in every region).
pub fn network_defaults(body: &mut Map<String, Json>) {
    body.entry("autoCreateSubnetworks").or_insert(json!(false));
}

/// What a regional managed instance group still waits for (`None`: stable, and on its target
/// version when its update policy is PROACTIVE), in words with its `currentActions` counts.
/// Compute marks an insert or patch DONE "even if the instances in the group are still in the
/// process of being patched" (`regionInstanceGroupManagers.patch`, discovery document), so the
/// group is polled until `status.isStable` ("none of the instances … is currently undergoing
/// any type of change") and, when PROACTIVE, `status.versionTarget.isReached` ("all instances
/// are in their target version"); an OPPORTUNISTIC group leaves old VMs be, so only stability
/// is waited for.
pub fn unsettled(group: &Json) -> Option<String> {
    let stable = group.pointer("/status/isStable").and_then(Json::as_bool) == Some(true);
    let proactive = group.pointer("/updatePolicy/type").and_then(Json::as_str) == Some("PROACTIVE");
    let reached = group
        .pointer("/status/versionTarget/isReached")
        .and_then(Json::as_bool)
        == Some(true);
    if stable && (reached || !proactive) {
        return None;
    }
    let actions: Vec<String> = group
        .get("currentActions")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, v)| *k != "none" && v.as_u64().is_some_and(|n| n > 0))
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let doing = if actions.is_empty() {
        String::new()
    } else {
        format!(" ({})", actions.join(", "))
    };
    Some(if stable {
        "VMs not yet on the group's template".to_string()
    } else {
        format!("VMs still changing{doing}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_settled_when_stable_and_proactive_groups_when_on_target() {
        let group = |stable: bool, reached: bool, kind: &str| {
            json!({"status": {"isStable": stable, "versionTarget": {"isReached": reached}},
                   "updatePolicy": {"type": kind},
                   "currentActions": {"creating": 1, "deleting": 1, "none": 2}})
        };
        assert_eq!(unsettled(&group(true, true, "PROACTIVE")), None);
        assert_eq!(unsettled(&group(true, false, "OPPORTUNISTIC")), None);
        assert_eq!(
            unsettled(&group(false, false, "PROACTIVE")).as_deref(),
            Some("VMs still changing (1 creating, 1 deleting)")
        );
        assert!(unsettled(&group(true, false, "PROACTIVE")).is_some());
    }

    #[test]
    fn networks_default_to_custom_mode_unless_told() {
        let mut body = Map::new();
        network_defaults(&mut body);
        assert_eq!(body["autoCreateSubnetworks"], json!(false));
        let mut auto = Map::new();
        auto.insert("autoCreateSubnetworks".into(), json!(true));
        network_defaults(&mut auto);
        assert_eq!(auto["autoCreateSubnetworks"], json!(true));
    }
}
