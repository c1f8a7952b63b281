//! The VMs of regional managed instance groups, created and replaced over time.
//!
//! Compute marks a group's insert or patch DONE "even if the instances in the group are still
//! in the process of being patched. You must separately verify the status of the individual
//! instances with the listmanagedinstances method" (`regionInstanceGroupManagers.patch` in the
//! discovery document). So here each group owns a list of [`ManagedVm`]s that a background
//! task moves one step per `vm_latency`: VMs being created become running, VMs being deleted
//! go, and the next actions are planned:
//!
//! - fewer VMs than `targetSize`: create the missing ones from the group's current template;
//!   more: delete the surplus (VMs on an old template first);
//! - `updatePolicy.type` PROACTIVE replaces VMs still on an old template, at most
//!   `max(maxSurge, maxUnavailable, 1)` at a time ("PROACTIVE so that the MIG automatically
//!   updates VMs to the latest configurations"); OPPORTUNISTIC leaves them ("OPPORTUNISTIC so
//!   that you can select the VMs that you want to update"; `InstanceGroupManagerUpdatePolicy`).
//!
//! After every step the group's `currentActions`, `status.isStable` ("none of the instances
//! ... is currently undergoing any type of change ... no future changes are scheduled") and
//! `status.versionTarget.isReached` ("all instances are in their target version") are
//! rewritten; these do not change the group's `fingerprint`. `listManagedInstances` answers
//! each VM with its `currentAction`, `instanceStatus` and `version.instanceTemplate`. The VMs
//! are not in the `instances` collection (see the README's known differences).

use crate::app::App;
use crate::errors::{ApiError, ApiResult};
use crate::ident;
use crate::paths::{ResourcePath, Route, Scope};
use crate::query::Query;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// What the group is doing to one VM (`ManagedInstance.currentAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VmAction {
    Creating,
    None,
    Deleting,
}

/// One VM of a managed instance group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedVm {
    pub name: String,
    pub zone: String,
    pub id: String,
    /// URL of the instance template the VM is (being) created from.
    pub template: String,
    pub action: VmAction,
}

/// What a group asks for, read from its stored resource.
struct Desired {
    size: usize,
    template: String,
    proactive: bool,
    batch: usize,
    zones: Vec<String>,
    base: String,
}

fn fixed(policy: &Value, key: &str) -> Option<usize> {
    let v = policy.get(key)?;
    v.get("calculated")
        .or_else(|| v.get("fixed"))
        .and_then(Value::as_u64)
        .map(|n| n as usize)
}

/// The target of a group: its single version's template (or the version without a
/// `targetSize`, the one "applied to all remaining instances"), size, policy and zones.
fn desired(igm: &Value) -> Desired {
    let versions = igm.get("versions").and_then(Value::as_array);
    let template = versions
        .and_then(|vs| vs.iter().find(|v| v.get("targetSize").is_none()))
        .and_then(|v| v.get("instanceTemplate"))
        .or_else(|| igm.get("instanceTemplate"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let policy = igm.get("updatePolicy").cloned().unwrap_or(Value::Null);
    let zones: Vec<String> = igm
        .pointer("/distributionPolicy/zones")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|z| z.get("zone").and_then(Value::as_str))
        .map(|z| z.rsplit('/').next().unwrap_or(z).to_string())
        .collect();
    let surge = fixed(&policy, "maxSurge").unwrap_or(zones.len());
    let unavailable = fixed(&policy, "maxUnavailable").unwrap_or(0);
    Desired {
        size: igm.get("targetSize").and_then(Value::as_u64).unwrap_or(0) as usize,
        template,
        proactive: policy.get("type").and_then(Value::as_str) == Some("PROACTIVE"),
        batch: surge.max(unavailable).max(1),
        zones,
        base: igm
            .get("baseInstanceName")
            .and_then(Value::as_str)
            .unwrap_or("vm")
            .trim_end_matches(['#', '-'])
            .to_string(),
    }
}

/// Finishes the actions in flight: created VMs run, deleted VMs go.
fn finish(vms: &mut Vec<ManagedVm>) {
    vms.retain(|vm| vm.action != VmAction::Deleting);
    for vm in vms.iter_mut() {
        vm.action = VmAction::None;
    }
}

/// A new VM in the zone holding the fewest of the group's VMs.
fn new_vm(store: &mut Store, seed: u64, want: &Desired, vms: &[ManagedVm]) -> ManagedVm {
    let zone = want
        .zones
        .iter()
        .min_by_key(|z| {
            vms.iter()
                .filter(|v| &v.zone == *z && v.action != VmAction::Deleting)
                .count()
        })
        .cloned()
        .unwrap_or_default();
    let counter = store.next_counter();
    let suffix: String = ident::mix64(seed ^ counter)
        .to_le_bytes()
        .iter()
        .take(4)
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(*b % 36) as usize]))
        .collect();
    ManagedVm {
        name: format!("{}-{suffix}", want.base),
        zone,
        id: ident::numeric_id(seed, counter),
        template: want.template.clone(),
        action: VmAction::Creating,
    }
}

/// Plans the next actions; returns whether any was planned.
fn plan(store: &mut Store, seed: u64, want: &Desired, vms: &mut Vec<ManagedVm>) -> bool {
    if vms.iter().any(|vm| vm.action != VmAction::None) {
        return true;
    }
    let count = vms.len();
    if count < want.size {
        for _ in count..want.size {
            let vm = new_vm(store, seed, want, vms);
            vms.push(vm);
        }
        return true;
    }
    if count > want.size {
        let mut surplus = count - want.size;
        // VMs on an old template go first, then the newest.
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by_key(|i| (vms[*i].template == want.template, std::cmp::Reverse(*i)));
        for i in order {
            if surplus == 0 {
                break;
            }
            vms[i].action = VmAction::Deleting;
            surplus -= 1;
        }
        return true;
    }
    let old: Vec<usize> = (0..count)
        .filter(|i| vms[*i].template != want.template)
        .collect();
    if !want.proactive || old.is_empty() {
        return false;
    }
    for i in old.into_iter().take(want.batch) {
        vms[i].action = VmAction::Deleting;
        let vm = new_vm(store, seed, want, vms);
        vms.push(vm);
    }
    true
}

/// Rewrites the group's `currentActions` and `status` from its VMs.
fn publish(store: &mut Store, path: &str, want: &Desired, busy: bool) {
    let vms = store.managed.get(path).cloned().unwrap_or_default();
    let count = |a: VmAction| vms.iter().filter(|v| v.action == a).count();
    let reached = !busy && vms.iter().all(|v| v.template == want.template);
    let Some(Value::Object(igm)) = store.resources.get_mut(path) else {
        return;
    };
    igm.insert(
        "currentActions".into(),
        json!({
            "abandoning": 0, "creating": count(VmAction::Creating), "creatingWithoutRetries": 0,
            "deleting": count(VmAction::Deleting), "none": count(VmAction::None),
            "recreating": 0, "refreshing": 0, "restarting": 0, "resuming": 0, "starting": 0,
            "stopping": 0, "suspending": 0, "verifying": 0
        }),
    );
    if let Some(Value::Object(status)) = igm.get_mut("status") {
        status.insert("isStable".into(), json!(!busy));
        status.insert("versionTarget".into(), json!({ "isReached": reached }));
    }
}

/// One step of a group: finish what is in flight (unless `fresh`), plan the next actions and
/// publish the status. Returns whether the group still has work.
fn step(store: &mut Store, seed: u64, path: &str, fresh: bool) -> bool {
    let Some(igm) = store.resources.get(path).cloned() else {
        store.managed.remove(path);
        return false;
    };
    let want = desired(&igm);
    let mut vms = store.managed.remove(path).unwrap_or_default();
    if !fresh {
        finish(&mut vms);
    }
    let busy = plan(store, seed, &want, &mut vms);
    store.managed.insert(path.to_string(), vms);
    publish(store, path, &want, busy);
    busy
}

/// Called (with the store locked) after an operation on a group finished: plans at once and,
/// while work remains, lets a background task take one step per `vm_latency`. With no VM
/// latency the group reaches its target within this call.
pub fn kick(app: &Arc<App>, store: &mut Store, path: &str) {
    if app.config.vm_latency.max.is_zero() {
        let mut fresh = true;
        for _ in 0..10_000 {
            if !step(store, app.id_seed, path, fresh) {
                return;
            }
            fresh = false;
        }
        return;
    }
    if !step(store, app.id_seed, path, true) {
        return;
    }
    let mut drivers = app.mig_drivers.lock().unwrap_or_else(|e| e.into_inner());
    if drivers.insert(path.to_string()) {
        tokio::spawn(drive(app.clone(), path.to_string()));
    }
}

async fn drive(app: Arc<App>, path: String) {
    loop {
        tokio::time::sleep(app.vm_latency()).await;
        if app.stopping() {
            return;
        }
        let done = app.mutate(|store| {
            let busy = step(store, app.id_seed, &path, false);
            if !busy {
                let mut drivers = app.mig_drivers.lock().unwrap_or_else(|e| e.into_inner());
                drivers.remove(&path);
            }
            !busy
        });
        if done {
            return;
        }
    }
}

/// Whether a path is a regional managed instance group's.
pub fn is_group(path: &str) -> bool {
    ResourcePath::parse(path).is_some_and(|p| {
        p.collection == "instanceGroupManagers" && matches!(p.scope, Scope::Region(_))
    })
}

fn managed_instance(project: &str, vm: &ManagedVm) -> Value {
    let link = ResourcePath::new(
        project,
        &Scope::Zone(vm.zone.clone()),
        "instances",
        &vm.name,
    );
    let mut out = json!({
        "instance": link.self_link(),
        "name": vm.name,
        "currentAction": vm.action,
        "targetStatus": if vm.action == VmAction::Deleting { "DELETED" } else { "RUNNING" },
    });
    if vm.action != VmAction::Creating {
        out["id"] = json!(vm.id);
        out["instanceStatus"] = json!(if vm.action == VmAction::None {
            "RUNNING"
        } else {
            "STOPPING"
        });
    }
    if vm.action != VmAction::Deleting {
        out["version"] = json!({ "instanceTemplate": vm.template });
    }
    out
}

/// POST .../instanceGroupManagers/{name}/listManagedInstances: every VM of the group and
/// those scheduled, in one page (`listManagedInstancesResults` PAGELESS, Compute's default).
pub fn list_managed_instances(
    app: &App,
    route: &Route,
    name: &str,
    query: &Query,
) -> ApiResult<Value> {
    query.check_allowed(crate::query::LIST_PARAMS)?;
    let path = ResourcePath::new(&route.project, &route.scope, &route.collection, name).path();
    app.read(|store| {
        store.get(&path).ok_or_else(|| ApiError::not_found(&path))?;
        let vms = store.managed.get(&path).cloned().unwrap_or_default();
        let items: Vec<Value> = vms
            .iter()
            .map(|vm| managed_instance(&route.project, vm))
            .collect();
        Ok(if items.is_empty() {
            json!({})
        } else {
            json!({ "managedInstances": items })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(size: u64, template: &str, kind: &str) -> Value {
        json!({
            "targetSize": size, "instanceTemplate": template, "baseInstanceName": "db",
            "versions": [{"instanceTemplate": template}],
            "updatePolicy": {"type": kind, "maxSurge": {"fixed": 1}, "maxUnavailable": {"fixed": 0}},
            "distributionPolicy": {"zones": [{"zone": "x/zones/r-a"}, {"zone": "x/zones/r-b"}]},
            "status": {"isStable": true, "versionTarget": {"isReached": true}}
        })
    }

    fn run(store: &mut Store, path: &str) -> usize {
        let mut steps = 0;
        while step(store, 7, path, false) {
            steps += 1;
            assert!(steps < 100);
        }
        steps
    }

    #[test]
    fn groups_grow_then_follow_their_update_policy() {
        let path = "projects/p/regions/r/instanceGroupManagers/g";
        let mut store = Store::default();
        store
            .resources
            .insert(path.into(), group(3, "t1", "OPPORTUNISTIC"));
        assert!(step(&mut store, 7, path, true));
        assert_eq!(store.resources[path]["status"]["isStable"], json!(false));
        assert_eq!(
            store.resources[path]["currentActions"]["creating"],
            json!(3)
        );
        run(&mut store, path);
        let vms = &store.managed[path];
        assert_eq!(vms.len(), 3);
        assert!(vms.iter().all(|v| v.template == "t1"));
        let zones: std::collections::BTreeSet<&str> = vms.iter().map(|v| v.zone.as_str()).collect();
        assert_eq!(zones.len(), 2, "spread over the zones");
        assert_eq!(store.resources[path]["status"]["isStable"], json!(true));

        // OPPORTUNISTIC: a new template leaves running VMs alone.
        store
            .resources
            .insert(path.into(), group(3, "t2", "OPPORTUNISTIC"));
        assert!(!step(&mut store, 7, path, true));
        assert!(store.managed[path].iter().all(|v| v.template == "t1"));
        assert_eq!(
            store.resources[path]["status"]["versionTarget"]["isReached"],
            json!(false)
        );
        // PROACTIVE replaces them, one at a time (maxSurge 1, maxUnavailable 0).
        store
            .resources
            .insert(path.into(), group(3, "t2", "PROACTIVE"));
        assert!(step(&mut store, 7, path, true));
        assert_eq!(
            store.resources[path]["currentActions"]["deleting"],
            json!(1)
        );
        assert_eq!(
            store.resources[path]["currentActions"]["creating"],
            json!(1)
        );
        assert_eq!(
            run(&mut store, path),
            2,
            "two more replacements, one at a time"
        );
        assert!(store.managed[path].iter().all(|v| v.template == "t2"));
        assert_eq!(store.managed[path].len(), 3);
        assert_eq!(
            store.resources[path]["status"]["versionTarget"]["isReached"],
            json!(true)
        );
        // Shrinking deletes the surplus; a deleted group loses its VMs.
        store
            .resources
            .insert(path.into(), group(1, "t2", "PROACTIVE"));
        step(&mut store, 7, path, true);
        run(&mut store, path);
        assert_eq!(store.managed[path].len(), 1);
        store.resources.remove(path);
        assert!(!step(&mut store, 7, path, false));
        assert!(!store.managed.contains_key(path));
    }
}
