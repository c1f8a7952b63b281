//! The `cloud` profile's behaviours, each checked through the discovery-document harness
//! (bodies and responses validated against `compute.v1.json`): `resourceNotReady`,
//! operations that end DONE with an error, PATCH limited to what Compute's reference allows
//! (and `setPrivateIpGoogleAccess`), managed instance groups that create and replace their
//! VMs over time (`listManagedInstances`), 403 `forbidden` projects, and the profiles' knobs.

mod common;

use common::*;
use gce_emulator::{Config, Latency, Profile, Span};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The cloud profile without throttling (tested on its own) and with short latencies.
fn cloud(latency: Latency, vm: Span) -> Config {
    Config {
        latency,
        vm_latency: vm,
        throttle_rate: 0.0,
        ..Config::for_profile(Profile::Cloud, Some(11))
    }
}

/// An emulator whose inserts take `insert_ms`, and the operation of a network `net`'s
/// insert, still running.
async fn slow_inserts_and_a_network(insert_ms: u64) -> (Emu, Value) {
    let emu = Emu::with(cloud(
        Latency::uniform(ms(10)).with("insert", Span::fixed(ms(insert_ms))),
        Span::default(),
    ))
    .await;
    let op = emu
        .call(
            "networks",
            "insert",
            &[],
            Some(json!({"name": "net", "autoCreateSubnetworks": false})),
        )
        .await
        .ok();
    (emu, op)
}

fn subnet_body(name: &str, network: &str, range: &str) -> Value {
    json!({"name": name, "network": network, "ipCidrRange": range})
}

#[tokio::test]
async fn inserts_on_an_unfinished_network_are_not_ready() {
    let (emu, op) = slow_inserts_and_a_network(400).await;
    assert_ne!(op["status"], "DONE", "the insert takes a while");
    let refused = emu
        .call(
            "subnetworks",
            "insert",
            &[],
            Some(subnet_body("sub", "global/networks/net", "10.0.0.0/24")),
        )
        .await
        .err(400, "resourceNotReady");
    assert_eq!(
        refused["error"]["message"],
        format!("The resource 'projects/{PROJECT}/global/networks/net' is not ready")
    );
    emu.wait_done(&op).await;
    emu.mutate(
        "subnetworks",
        "insert",
        &[],
        Some(subnet_body("sub", "global/networks/net", "10.0.0.0/24")),
    )
    .await;
    emu.stop().await;

    // The fast profile has no such state: the unfinished network is simply not found yet.
    let emu = Emu::with(Config {
        latency: Latency::uniform(ms(400)),
        ..Config::default()
    })
    .await;
    emu.call(
        "networks",
        "insert",
        &[],
        Some(json!({"name": "net", "autoCreateSubnetworks": false})),
    )
    .await
    .ok();
    emu.call(
        "subnetworks",
        "insert",
        &[],
        Some(subnet_body("sub", "global/networks/net", "10.0.0.0/24")),
    )
    .await
    .err(404, "notFound");
    emu.stop().await;
}

#[tokio::test]
async fn an_operation_can_end_done_with_an_error() {
    let (emu, net) = slow_inserts_and_a_network(300).await;
    emu.wait_done(&net).await;
    // The subnetwork insert is accepted; its network goes before it finishes.
    let op = emu
        .call(
            "subnetworks",
            "insert",
            &[],
            Some(subnet_body("sub", "global/networks/net", "10.0.0.0/24")),
        )
        .await
        .ok();
    emu.mutate("networks", "delete", &[("network", "net")], None)
        .await;
    let done = emu.wait_done(&op).await;
    assert_eq!(done["status"], "DONE");
    assert_eq!(done["error"]["errors"][0]["code"], "RESOURCE_NOT_FOUND");
    assert_eq!(done["httpErrorStatusCode"], 404);
    emu.call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .err(404, "notFound");
    emu.stop().await;
}

#[tokio::test]
async fn patch_takes_only_what_the_reference_allows() {
    let emu = Emu::with(cloud(Latency::default(), Span::default())).await;
    base_network(&emu).await;
    // networks.patch: routingConfig only.
    let refused = emu
        .call(
            "networks",
            "patch",
            &[("network", "net")],
            Some(json!({"mtu": 1500})),
        )
        .await
        .err(400, "invalid");
    assert_eq!(
        refused["error"]["message"],
        "Invalid value for field 'resource.mtu': '1500'. Updating this field is not supported."
    );
    emu.mutate(
        "networks",
        "patch",
        &[("network", "net")],
        Some(json!({"routingConfig": {"routingMode": "GLOBAL"}, "mtu": 1460})),
    )
    .await;
    let net = emu
        .call("networks", "get", &[("network", "net")], None)
        .await
        .ok();
    assert_eq!(net["routingConfig"]["routingMode"], "GLOBAL");

    // subnetworks.patch refuses privateIpGoogleAccess; setPrivateIpGoogleAccess sets it.
    let sub = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    emu.call(
        "subnetworks",
        "patch",
        &[("subnetwork", "sub")],
        Some(json!({"privateIpGoogleAccess": true, "fingerprint": sub["fingerprint"]})),
    )
    .await
    .err(400, "invalid");
    emu.mutate(
        "subnetworks",
        "setPrivateIpGoogleAccess",
        &[("subnetwork", "sub")],
        Some(json!({"privateIpGoogleAccess": true})),
    )
    .await;
    let after = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    assert_eq!(after["privateIpGoogleAccess"], true);
    assert_ne!(after["fingerprint"], sub["fingerprint"]);
    emu.mutate(
        "subnetworks",
        "patch",
        &[("subnetwork", "sub")],
        Some(
            json!({"secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": "10.8.0.0/16"}],
                    "fingerprint": after["fingerprint"]}),
        ),
    )
    .await;

    // forwardingRules.patch: the network tier, not the description.
    emu.mutate(
        "regionBackendServices",
        "insert",
        &[],
        Some(json!({"name": "bs", "loadBalancingScheme": "INTERNAL", "protocol": "TCP"})),
    )
    .await;
    emu.mutate(
        "forwardingRules",
        "insert",
        &[],
        Some(
            json!({"name": "fr", "loadBalancingScheme": "INTERNAL", "ports": ["5432"],
                    "backendService": format!("regions/{REGION}/backendServices/bs"),
                    "subnetwork": format!("regions/{REGION}/subnetworks/sub")}),
        ),
    )
    .await;
    let fr = emu
        .call("forwardingRules", "get", &[("forwardingRule", "fr")], None)
        .await
        .ok();
    emu.call(
        "forwardingRules",
        "patch",
        &[("forwardingRule", "fr")],
        Some(json!({"description": "x", "fingerprint": fr["fingerprint"]})),
    )
    .await
    .err(400, "invalid");
    emu.mutate(
        "forwardingRules",
        "patch",
        &[("forwardingRule", "fr")],
        Some(json!({"allowGlobalAccess": true, "fingerprint": fr["fingerprint"]})),
    )
    .await;
    emu.stop().await;

    // The fast profile merges any mutable field, as before.
    let emu = Emu::start().await;
    base_network(&emu).await;
    emu.mutate(
        "networks",
        "patch",
        &[("network", "net")],
        Some(json!({"mtu": 1500})),
    )
    .await;
    emu.stop().await;
}

async fn group(emu: &Emu) -> Value {
    emu.call(
        "regionInstanceGroupManagers",
        "get",
        &[("instanceGroupManager", "mig")],
        None,
    )
    .await
    .ok()
}

async fn managed(emu: &Emu) -> Vec<Value> {
    let list = emu
        .call(
            "regionInstanceGroupManagers",
            "listManagedInstances",
            &[("instanceGroupManager", "mig")],
            None,
        )
        .await
        .ok();
    list["managedInstances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits (bounded) until the group says it is stable.
async fn stable(emu: &Emu) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = group(emu).await;
        if g["status"]["isStable"] == true {
            return g;
        }
        assert!(Instant::now() < deadline, "never stable: {g:#}");
        tokio::time::sleep(ms(10)).await;
    }
}

fn templates_of(vms: &[Value]) -> Vec<String> {
    vms.iter()
        .map(|v| {
            v["version"]["instanceTemplate"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn patch_group(emu: &Emu, body: Value) {
    let mut body = body;
    body["fingerprint"] = group(emu).await["fingerprint"].clone();
    emu.mutate(
        "regionInstanceGroupManagers",
        "patch",
        &[("instanceGroupManager", "mig")],
        Some(body),
    )
    .await;
}

#[tokio::test]
async fn managed_instance_groups_create_and_replace_vms_over_time() {
    let emu = Emu::with(cloud(Latency::default(), Span::fixed(ms(60)))).await;
    base_network(&emu).await;
    for t in ["t1", "t2"] {
        emu.mutate(
            "instanceTemplates",
            "insert",
            &[],
            Some(json!({"name": t, "properties": {
                "machineType": "e2-small",
                "disks": [{"boot": true, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
                "networkInterfaces": [{"subnetwork": format!("regions/{REGION}/subnetworks/sub")}]}})),
        )
        .await;
    }
    emu.mutate(
        "regionInstanceGroupManagers",
        "insert",
        &[],
        Some(
            json!({"name": "mig", "baseInstanceName": "db", "targetSize": 3,
                    "instanceTemplate": "global/instanceTemplates/t1",
                    "updatePolicy": {"type": "OPPORTUNISTIC", "maxSurge": {"fixed": 1},
                                     "maxUnavailable": {"fixed": 0}}}),
        ),
    )
    .await;
    // The insert is DONE, the VMs are not there yet.
    let g = group(&emu).await;
    assert_eq!(g["status"]["isStable"], false, "{g:#}");
    assert_eq!(g["status"]["versionTarget"]["isReached"], false);
    assert_eq!(g["currentActions"]["creating"], 3);
    let vms = managed(&emu).await;
    assert_eq!(vms.len(), 3);
    assert!(vms.iter().all(|v| v["currentAction"] == "CREATING"));
    assert!(vms.iter().all(|v| v.get("instanceStatus").is_none()));
    assert_eq!(templates_of(&vms), ["t1", "t1", "t1"]);
    assert!(vms
        .iter()
        .all(|v| v["name"].as_str().unwrap().starts_with("db-")));

    let g = stable(&emu).await;
    assert_eq!(g["status"]["versionTarget"]["isReached"], true);
    assert_eq!(g["currentActions"]["none"], 3);
    let vms = managed(&emu).await;
    assert!(vms
        .iter()
        .all(|v| v["currentAction"] == "NONE" && v["instanceStatus"] == "RUNNING"));
    let names: Vec<Value> = vms.iter().map(|v| v["name"].clone()).collect();

    // OPPORTUNISTIC: a new template leaves the running VMs on the old one.
    patch_group(
        &emu,
        json!({"instanceTemplate": link("global/instanceTemplates/t2")}),
    )
    .await;
    let g = stable(&emu).await;
    assert_eq!(g["status"]["versionTarget"]["isReached"], false);
    let vms = managed(&emu).await;
    assert_eq!(templates_of(&vms), ["t1", "t1", "t1"]);
    assert_eq!(
        vms.iter().map(|v| v["name"].clone()).collect::<Vec<_>>(),
        names
    );
    // Growing the group creates the new VM from the new template.
    patch_group(&emu, json!({"targetSize": 4})).await;
    stable(&emu).await;
    let mut templates = templates_of(&managed(&emu).await);
    templates.sort();
    assert_eq!(templates, ["t1", "t1", "t1", "t2"]);

    // PROACTIVE replaces them, never more than one in flight (maxSurge 1).
    patch_group(&emu, json!({"updatePolicy": {"type": "PROACTIVE"}})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = group(&emu).await;
        assert!(
            g["currentActions"]["creating"].as_u64().unwrap() <= 1,
            "{g:#}"
        );
        if g["status"]["isStable"] == true {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(ms(10)).await;
    }
    let g = group(&emu).await;
    assert_eq!(g["status"]["versionTarget"]["isReached"], true);
    assert_eq!(templates_of(&managed(&emu).await), ["t2", "t2", "t2", "t2"]);
    emu.stop().await;
}

#[tokio::test]
async fn forbidden_projects_answer_403_naming_the_permission() {
    let emu = Emu::with(Config {
        forbidden_projects: vec![PROJECT.to_string()],
        ..Config::default()
    })
    .await;
    let body = emu
        .call("networks", "get", &[("network", "default")], None)
        .await
        .err(403, "forbidden");
    assert_eq!(
        body["error"]["message"],
        format!(
            "Google Compute Engine: Required 'compute.networks.get' permission for \
             'projects/{PROJECT}/global/networks/default'."
        )
    );
    emu.call("networks", "list", &[("project", "other-project")], None)
        .await
        .ok();
    emu.stop().await;
}

#[tokio::test]
async fn the_cloud_profile_throttles_with_403_and_takes_time() {
    let config = Config {
        latency: Latency::between(ms(20), ms(60)),
        throttle_rate: 0.3,
        ..Config::for_profile(Profile::Cloud, Some(5))
    };
    let emu = Emu::with(config).await;
    let mut throttled = 0;
    let mut op = Value::Null;
    for _ in 0..40 {
        let r = emu
            .call(
                "networks",
                "insert",
                &[("requestId", "6f1c2a55-9b1e-4d0a-a9f3-7e0c51d28b44")],
                Some(json!({"name": "net", "autoCreateSubnetworks": false})),
            )
            .await;
        if r.status == 403 {
            throttled += 1;
            continue;
        }
        op = r.ok();
        break;
    }
    assert!(throttled < 40);
    assert_ne!(op["status"], "DONE", "operations take time: {op:#}");
    let calls = 200;
    let mut refused = 0;
    for _ in 0..calls {
        let r = emu.call("networks", "list", &[], None).await;
        match r.status {
            403 => refused += 1,
            200 => {}
            other => panic!("unexpected {other}: {:#}", r.body),
        }
    }
    assert!((30..=90).contains(&refused), "{refused} of {calls} at 0.3");
    emu.stop().await;
}
