//! Contract tests: insert/get/list/delete for every emulated collection, with each body
//! sent and received checked against Compute's discovery document.

mod common;

use common::*;
use serde_json::{json, Value};

/// The path parameter naming one resource of a collection.
fn name_param(resource: &str) -> &'static str {
    match resource {
        "networks" => "network",
        "subnetworks" => "subnetwork",
        "firewalls" => "firewall",
        "instances" => "instance",
        "instanceTemplates" | "regionInstanceTemplates" => "instanceTemplate",
        "regionInstanceGroupManagers" => "instanceGroupManager",
        "regionAutoscalers" => "autoscaler",
        "healthChecks" | "regionHealthChecks" => "healthCheck",
        "backendServices" | "regionBackendServices" => "backendService",
        "forwardingRules" | "globalForwardingRules" => "forwardingRule",
        "targetTcpProxies" | "regionTargetTcpProxies" => "targetTcpProxy",
        "routers" => "router",
        other => panic!("no name parameter for {other}"),
    }
}

/// Inserts, waits, then checks get and list; returns the stored resource.
async fn create(emu: &Emu, resource: &str, body: Value) -> Value {
    let name = body["name"].as_str().unwrap().to_string();
    let op = emu.mutate(resource, "insert", &[], Some(body)).await;
    assert_eq!(op["operationType"], "insert");
    let got = emu
        .call(resource, "get", &[(name_param(resource), &name)], None)
        .await
        .ok();
    assert_eq!(got["name"], name.as_str());
    assert_eq!(op["targetLink"], got["selfLink"]);
    assert_eq!(op["targetId"], got["id"]);
    assert!(got["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(
        chrono::DateTime::parse_from_rfc3339(got["creationTimestamp"].as_str().unwrap()).is_ok()
    );
    let list = emu.call(resource, "list", &[], None).await.ok();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == name.as_str()),
        "{list:#}"
    );
    got
}

/// Deletes, waits, and checks the resource is gone.
async fn destroy(emu: &Emu, resource: &str, name: &str) {
    let op = emu
        .mutate(resource, "delete", &[(name_param(resource), name)], None)
        .await;
    assert_eq!(op["operationType"], "delete");
    emu.call(resource, "get", &[(name_param(resource), name)], None)
        .await
        .err(404, "notFound");
}

#[tokio::test]
async fn networks_round_trip() {
    let emu = Emu::start().await;
    let net = create(
        &emu,
        "networks",
        json!({"name": "net", "autoCreateSubnetworks": false, "description": "d"}),
    )
    .await;
    assert_eq!(net["kind"], "compute#network");
    assert_eq!(net["selfLink"], link("global/networks/net"));
    assert_eq!(net["routingConfig"]["routingMode"], "REGIONAL");
    assert_eq!(net["mtu"], 1460);
    let list = emu.call("networks", "list", &[], None).await.ok();
    assert_eq!(list["kind"], "compute#networkList");
    destroy(&emu, "networks", "net").await;
    let empty = emu.call("networks", "list", &[], None).await.ok();
    assert!(empty.get("items").is_none());
    emu.stop().await;
}

#[tokio::test]
async fn subnetworks_round_trip_and_network_lists_them() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let sub = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    assert_eq!(sub["gatewayAddress"], "10.0.0.1");
    assert_eq!(sub["region"], link("regions/us-central1"));
    assert_eq!(sub["network"], link("global/networks/net"));
    assert!(sub["fingerprint"].is_string());
    let second = json!({"name": "sub2", "network": link("global/networks/net"), "ipCidrRange": "10.1.0.0/24",
                        "secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": "10.8.0.0/16"}]});
    create(&emu, "subnetworks", second).await;
    let net = emu
        .call("networks", "get", &[("network", "net")], None)
        .await
        .ok();
    assert_eq!(
        net["subnetworks"],
        json!([
            link("regions/us-central1/subnetworks/sub"),
            link("regions/us-central1/subnetworks/sub2")
        ])
    );
    destroy(&emu, "subnetworks", "sub2").await;
    destroy(&emu, "subnetworks", "sub").await;
    let net = emu
        .call("networks", "get", &[("network", "net")], None)
        .await
        .ok();
    assert!(net.get("subnetworks").is_none());
    destroy(&emu, "networks", "net").await;
    emu.stop().await;
}

#[tokio::test]
async fn firewalls_round_trip_with_patch() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let fw = json!({"name": "allow-ssh", "network": "projects/proj-1/global/networks/net",
                    "allowed": [{"IPProtocol": "tcp", "ports": ["22", "8000-8080"]}], "sourceRanges": ["10.0.0.0/8"]});
    let got = create(&emu, "firewalls", fw).await;
    assert_eq!(got["direction"], "INGRESS");
    assert_eq!(got["priority"], 1000);
    assert_eq!(got["network"], link("global/networks/net"));
    let op = emu
        .mutate(
            "firewalls",
            "patch",
            &[("firewall", "allow-ssh")],
            Some(json!({"priority": 900})),
        )
        .await;
    assert_eq!(op["operationType"], "patch");
    let got = emu
        .call("firewalls", "get", &[("firewall", "allow-ssh")], None)
        .await
        .ok();
    assert_eq!(got["priority"], 900);
    assert_eq!(
        got["sourceRanges"],
        json!(["10.0.0.0/8"]),
        "merge patch keeps other fields"
    );
    emu.call(
        "firewalls",
        "patch",
        &[("firewall", "allow-ssh")],
        Some(json!({"direction": "EGRESS"})),
    )
    .await
    .err(400, "invalid");
    emu.call("networks", "delete", &[("network", "net")], None)
        .await
        .err(400, "resourceInUseByAnotherResource");
    destroy(&emu, "firewalls", "allow-ssh").await;
    emu.stop().await;
}

fn instance_body(name: &str) -> Value {
    json!({
        "name": name,
        "machineType": format!("zones/{ZONE}/machineTypes/e2-small"),
        "disks": [{"boot": true, "autoDelete": true,
                   "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12", "diskSizeGb": "20"}}],
        "networkInterfaces": [{"subnetwork": format!("regions/{REGION}/subnetworks/sub"), "accessConfigs": [{"type": "ONE_TO_ONE_NAT"}]}],
        "labels": {"env": "test"},
        "tags": {"items": ["web"]},
    })
}

#[tokio::test]
async fn instances_round_trip_with_set_labels() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let vm = create(&emu, "instances", instance_body("vm-1")).await;
    assert_eq!(vm["status"], "RUNNING");
    assert_eq!(vm["zone"], link("zones/us-central1-a"));
    let nic = &vm["networkInterfaces"][0];
    assert_eq!(nic["networkIP"], "10.0.0.2");
    assert_eq!(nic["network"], link("global/networks/net"));
    assert!(nic["accessConfigs"][0]["natIP"].is_string());
    assert_eq!(vm["disks"][0]["diskSizeGb"], "20");
    let vm2 = create(&emu, "instances", instance_body("vm-2")).await;
    assert_eq!(vm2["networkInterfaces"][0]["networkIP"], "10.0.0.3");

    let stale = json!({"labels": {"env": "prod"}, "labelFingerprint": "AAAAAAAAAAA="});
    emu.call(
        "instances",
        "setLabels",
        &[("instance", "vm-1")],
        Some(stale),
    )
    .await
    .err(412, "conditionNotMet");
    let req = json!({"labels": {"env": "prod"}, "labelFingerprint": vm["labelFingerprint"]});
    let op = emu
        .mutate("instances", "setLabels", &[("instance", "vm-1")], Some(req))
        .await;
    assert_eq!(op["operationType"], "setLabels");
    let after = emu
        .call("instances", "get", &[("instance", "vm-1")], None)
        .await
        .ok();
    assert_eq!(after["labels"], json!({"env": "prod"}));
    assert_ne!(after["labelFingerprint"], vm["labelFingerprint"]);

    emu.call("subnetworks", "delete", &[("subnetwork", "sub")], None)
        .await
        .err(400, "resourceInUseByAnotherResource");
    destroy(&emu, "instances", "vm-1").await;
    destroy(&emu, "instances", "vm-2").await;
    emu.stop().await;
}

fn template_props() -> Value {
    json!({
        "machineType": "e2-medium",
        "disks": [{"boot": true, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
        "networkInterfaces": [{"network": "global/networks/net", "subnetwork": format!("regions/{REGION}/subnetworks/sub")}],
        "labels": {"role": "web"},
    })
}

#[tokio::test]
async fn instance_templates_round_trip_global_and_regional() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let g = create(
        &emu,
        "instanceTemplates",
        json!({"name": "tpl", "properties": template_props()}),
    )
    .await;
    assert_eq!(
        g["properties"]["networkInterfaces"][0]["subnetwork"],
        link("regions/us-central1/subnetworks/sub")
    );
    let r = create(
        &emu,
        "regionInstanceTemplates",
        json!({"name": "rtpl", "properties": template_props()}),
    )
    .await;
    assert_eq!(r["region"], link("regions/us-central1"));
    assert_eq!(
        r["selfLink"],
        link("regions/us-central1/instanceTemplates/rtpl")
    );
    destroy(&emu, "regionInstanceTemplates", "rtpl").await;
    destroy(&emu, "instanceTemplates", "tpl").await;
    emu.stop().await;
}

#[tokio::test]
async fn health_checks_round_trip_global_and_regional() {
    let emu = Emu::start().await;
    let g = create(
        &emu,
        "healthChecks",
        json!({"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 8080}}),
    )
    .await;
    assert_eq!(g["checkIntervalSec"], 5);
    assert_eq!(g["tcpHealthCheck"]["port"], 8080);
    emu.mutate(
        "healthChecks",
        "patch",
        &[("healthCheck", "hc")],
        Some(json!({"checkIntervalSec": 10})),
    )
    .await;
    let g = emu
        .call("healthChecks", "get", &[("healthCheck", "hc")], None)
        .await
        .ok();
    assert_eq!(g["checkIntervalSec"], 10);
    let r = create(
        &emu,
        "regionHealthChecks",
        json!({"name": "rhc", "httpHealthCheck": {"requestPath": "/healthz"}}),
    )
    .await;
    assert_eq!(r["type"], "HTTP");
    assert_eq!(r["httpHealthCheck"]["port"], 80);
    destroy(&emu, "regionHealthChecks", "rhc").await;
    destroy(&emu, "healthChecks", "hc").await;
    emu.stop().await;
}

/// net/sub, a global template, a regional health check and a regional MIG `mig`.
async fn mig_fixture(emu: &Emu) -> Value {
    base_network(emu).await;
    create(
        emu,
        "instanceTemplates",
        json!({"name": "tpl", "properties": template_props()}),
    )
    .await;
    create(
        emu,
        "regionHealthChecks",
        json!({"name": "rhc", "type": "TCP", "tcpHealthCheck": {"port": 80}}),
    )
    .await;
    let mig = json!({
        "name": "mig", "baseInstanceName": "web", "targetSize": 2,
        "instanceTemplate": "global/instanceTemplates/tpl",
        "autoHealingPolicies": [{"healthCheck": format!("regions/{REGION}/healthChecks/rhc"), "initialDelaySec": 60}],
        "namedPorts": [{"name": "http", "port": 80}],
    });
    create(emu, "regionInstanceGroupManagers", mig).await
}

#[tokio::test]
async fn patching_a_groups_template_frees_the_old_one() {
    let emu = Emu::start().await;
    let mig = mig_fixture(&emu).await;
    create(
        &emu,
        "instanceTemplates",
        json!({"name": "tpl2", "properties": template_props()}),
    )
    .await;
    let patch = json!({"instanceTemplate": link("global/instanceTemplates/tpl2"), "fingerprint": mig["fingerprint"]});
    emu.mutate(
        "regionInstanceGroupManagers",
        "patch",
        &[("instanceGroupManager", "mig")],
        Some(patch),
    )
    .await;
    let got = emu
        .call(
            "regionInstanceGroupManagers",
            "get",
            &[("instanceGroupManager", "mig")],
            None,
        )
        .await
        .ok();
    assert_eq!(
        got["instanceTemplate"],
        link("global/instanceTemplates/tpl2")
    );
    assert_eq!(
        got["versions"],
        json!([{"instanceTemplate": link("global/instanceTemplates/tpl2")}]),
        "a single version follows the patched template"
    );
    destroy(&emu, "instanceTemplates", "tpl").await;
    emu.call(
        "instanceTemplates",
        "delete",
        &[("instanceTemplate", "tpl2")],
        None,
    )
    .await
    .err(400, "resourceInUseByAnotherResource");
    emu.stop().await;
}

#[tokio::test]
async fn region_instance_group_managers_and_autoscalers_round_trip() {
    let emu = Emu::start().await;
    let mig = mig_fixture(&emu).await;
    assert_eq!(
        mig["instanceGroup"],
        link("regions/us-central1/instanceGroups/mig")
    );
    assert_eq!(mig["targetSize"], 2);
    assert_eq!(
        mig["distributionPolicy"]["zones"].as_array().unwrap().len(),
        4
    );
    let patch = json!({"targetSize": 3, "fingerprint": mig["fingerprint"]});
    emu.mutate(
        "regionInstanceGroupManagers",
        "patch",
        &[("instanceGroupManager", "mig")],
        Some(patch),
    )
    .await;
    let stale = json!({"targetSize": 4, "fingerprint": mig["fingerprint"]});
    emu.call(
        "regionInstanceGroupManagers",
        "patch",
        &[("instanceGroupManager", "mig")],
        Some(stale),
    )
    .await
    .err(412, "conditionNotMet");

    let asc = json!({"name": "asc", "target": format!("regions/{REGION}/instanceGroupManagers/mig"),
                     "autoscalingPolicy": {"minNumReplicas": 1, "maxNumReplicas": 5}});
    let got = create(&emu, "regionAutoscalers", asc).await;
    assert_eq!(got["autoscalingPolicy"]["coolDownPeriodSec"], 60);
    let patch = json!({"name": "asc", "autoscalingPolicy": {"maxNumReplicas": 8}});
    emu.mutate(
        "regionAutoscalers",
        "patch",
        &[("autoscaler", "asc")],
        Some(patch),
    )
    .await;
    let got = emu
        .call("regionAutoscalers", "get", &[("autoscaler", "asc")], None)
        .await
        .ok();
    assert_eq!(got["autoscalingPolicy"]["maxNumReplicas"], 8);
    assert_eq!(got["autoscalingPolicy"]["minNumReplicas"], 1);

    emu.call(
        "regionInstanceGroupManagers",
        "delete",
        &[("instanceGroupManager", "mig")],
        None,
    )
    .await
    .err(400, "resourceInUseByAnotherResource");
    emu.call(
        "instanceTemplates",
        "delete",
        &[("instanceTemplate", "tpl")],
        None,
    )
    .await
    .err(400, "resourceInUseByAnotherResource");
    destroy(&emu, "regionAutoscalers", "asc").await;
    destroy(&emu, "regionInstanceGroupManagers", "mig").await;
    destroy(&emu, "instanceTemplates", "tpl").await;
    destroy(&emu, "regionHealthChecks", "rhc").await;
    emu.stop().await;
}

#[tokio::test]
async fn backend_services_target_tcp_proxies_and_global_forwarding_rules_round_trip() {
    let emu = Emu::start().await;
    mig_fixture(&emu).await;
    create(
        &emu,
        "healthChecks",
        json!({"name": "hc", "type": "TCP", "tcpHealthCheck": {"port": 80}}),
    )
    .await;
    let bs = json!({"name": "bs", "protocol": "TCP", "loadBalancingScheme": "EXTERNAL",
                    "healthChecks": ["global/healthChecks/hc"],
                    "backends": [{"group": format!("regions/{REGION}/instanceGroups/mig")}]});
    let got = create(&emu, "backendServices", bs).await;
    assert_eq!(
        got["backends"][0]["group"],
        link("regions/us-central1/instanceGroups/mig")
    );
    let patch = json!({"timeoutSec": 60, "fingerprint": got["fingerprint"]});
    emu.mutate(
        "backendServices",
        "patch",
        &[("backendService", "bs")],
        Some(patch),
    )
    .await;
    emu.call(
        "backendServices",
        "patch",
        &[("backendService", "bs")],
        Some(json!({"timeoutSec": 61})),
    )
    .await
    .err(412, "conditionNotMet");

    create(
        &emu,
        "targetTcpProxies",
        json!({"name": "proxy", "service": "global/backendServices/bs"}),
    )
    .await;
    let fr = json!({"name": "gfr", "target": "global/targetTcpProxies/proxy", "portRange": "443",
                    "loadBalancingScheme": "EXTERNAL", "labels": {"app": "web"}});
    let got = create(&emu, "globalForwardingRules", fr).await;
    assert_eq!(got["portRange"], "443-443");
    assert!(got["IPAddress"].is_string());
    let req = json!({"labels": {"app": "api"}, "labelFingerprint": got["labelFingerprint"]});
    emu.mutate(
        "globalForwardingRules",
        "setLabels",
        &[("resource", "gfr")],
        Some(req),
    )
    .await;

    emu.call("healthChecks", "delete", &[("healthCheck", "hc")], None)
        .await
        .err(400, "resourceInUseByAnotherResource");
    emu.call(
        "backendServices",
        "delete",
        &[("backendService", "bs")],
        None,
    )
    .await
    .err(400, "resourceInUseByAnotherResource");
    emu.call(
        "regionInstanceGroupManagers",
        "delete",
        &[("instanceGroupManager", "mig")],
        None,
    )
    .await
    .err(400, "resourceInUseByAnotherResource");
    destroy(&emu, "globalForwardingRules", "gfr").await;
    destroy(&emu, "targetTcpProxies", "proxy").await;
    destroy(&emu, "backendServices", "bs").await;
    destroy(&emu, "healthChecks", "hc").await;
    emu.stop().await;
}

#[tokio::test]
async fn regional_backend_services_proxies_and_forwarding_rules_round_trip() {
    let emu = Emu::start().await;
    mig_fixture(&emu).await;
    let bs = json!({"name": "ilb", "loadBalancingScheme": "INTERNAL", "protocol": "TCP",
                    "healthChecks": [format!("regions/{REGION}/healthChecks/rhc")],
                    "backends": [{"group": format!("regions/{REGION}/instanceGroups/mig")}]});
    let got = create(&emu, "regionBackendServices", bs).await;
    assert_eq!(got["backends"][0]["balancingMode"], "CONNECTION");
    let fr = json!({"name": "ilb-fr", "loadBalancingScheme": "INTERNAL", "backendService": format!("regions/{REGION}/backendServices/ilb"),
                    "subnetwork": format!("regions/{REGION}/subnetworks/sub"), "ports": ["80"], "labels": {"tier": "be"}});
    let got = create(&emu, "forwardingRules", fr).await;
    assert_eq!(got["IPAddress"], "10.0.0.2");
    assert_eq!(got["network"], link("global/networks/net"));
    let req = json!({"labels": {}, "labelFingerprint": got["labelFingerprint"]});
    emu.mutate(
        "forwardingRules",
        "setLabels",
        &[("resource", "ilb-fr")],
        Some(req),
    )
    .await;
    let got = emu
        .call(
            "forwardingRules",
            "get",
            &[("forwardingRule", "ilb-fr")],
            None,
        )
        .await
        .ok();
    assert!(got.get("labels").is_none());
    assert_eq!(got["labelFingerprint"], "42WmSpB8rSM=");

    let ebs = json!({"name": "rproxy-bs", "loadBalancingScheme": "EXTERNAL_MANAGED", "protocol": "TCP",
                     "healthChecks": [format!("regions/{REGION}/healthChecks/rhc")]});
    create(&emu, "regionBackendServices", ebs).await;
    let proxy =
        json!({"name": "rproxy", "service": format!("regions/{REGION}/backendServices/rproxy-bs")});
    create(&emu, "regionTargetTcpProxies", proxy).await;
    let fr = json!({"name": "rproxy-fr", "loadBalancingScheme": "EXTERNAL_MANAGED", "portRange": "8080-8080",
                    "target": format!("regions/{REGION}/targetTcpProxies/rproxy"), "network": "global/networks/net"});
    create(&emu, "forwardingRules", fr).await;

    destroy(&emu, "forwardingRules", "rproxy-fr").await;
    destroy(&emu, "regionTargetTcpProxies", "rproxy").await;
    destroy(&emu, "regionBackendServices", "rproxy-bs").await;
    destroy(&emu, "forwardingRules", "ilb-fr").await;
    destroy(&emu, "regionBackendServices", "ilb").await;
    emu.stop().await;
}

#[tokio::test]
async fn routers_with_cloud_nat_round_trip_and_refuse_what_compute_refuses() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let nat = json!({"name": "nat", "natIpAllocateOption": "AUTO_ONLY",
                     "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"});
    let router = create(
        &emu,
        "routers",
        json!({"name": "egress", "network": "global/networks/net", "nats": [nat]}),
    )
    .await;
    assert_eq!(router["kind"], "compute#router");
    assert_eq!(router["network"], link("global/networks/net"));
    assert_eq!(router["region"], link(&format!("regions/{REGION}")));
    assert_eq!(router["nats"][0]["name"], "nat");
    // The network is in use while the router is there.
    emu.call("networks", "delete", &[("network", "net")], None)
        .await
        .err(400, "resourceInUseByAnotherResource");

    // A second NAT for the network in the region is refused while one covers every range.
    let listed = json!({"name": "listed", "natIpAllocateOption": "AUTO_ONLY",
                        "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
                        "subnetworks": [{"name": format!("regions/{REGION}/subnetworks/sub")}]});
    emu.call(
        "routers",
        "insert",
        &[],
        Some(json!({"name": "other", "network": "global/networks/net", "nats": [listed.clone()]})),
    )
    .await
    .err(400, "invalid");
    // Patched to a list of subnetworks instead (merge patch, no fingerprint), it is accepted
    // and the subnetwork's ranges default to ALL_IP_RANGES.
    emu.mutate(
        "routers",
        "patch",
        &[("router", "egress")],
        Some(json!({"nats": [listed]})),
    )
    .await;
    let got = emu
        .call("routers", "get", &[("router", "egress")], None)
        .await
        .ok();
    assert_eq!(
        got["nats"][0]["subnetworks"][0],
        json!({"name": link(&format!("regions/{REGION}/subnetworks/sub")),
               "sourceIpRangesToNat": ["ALL_IP_RANGES"]})
    );

    for (why, nats) in [
        (
            "AUTO_ONLY with addresses",
            json!([{"name": "n", "natIpAllocateOption": "AUTO_ONLY", "natIps": ["x"],
                    "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}]),
        ),
        (
            "MANUAL_ONLY without addresses",
            json!([{"name": "n", "natIpAllocateOption": "MANUAL_ONLY",
                    "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}]),
        ),
        (
            "no allocation option",
            json!([{"name": "n", "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}]),
        ),
        (
            "LIST_OF_SUBNETWORKS without subnetworks",
            json!([{"name": "n", "natIpAllocateOption": "AUTO_ONLY",
                    "sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS"}]),
        ),
        (
            "subnetworks without LIST_OF_SUBNETWORKS",
            json!([{"name": "n", "natIpAllocateOption": "AUTO_ONLY",
                    "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES",
                    "subnetworks": [{"name": format!("regions/{REGION}/subnetworks/sub")}]}]),
        ),
        (
            "two NATs of one name",
            json!([{"name": "n", "natIpAllocateOption": "AUTO_ONLY",
                    "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES"},
                   {"name": "n", "natIpAllocateOption": "AUTO_ONLY",
                    "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES"}]),
        ),
    ] {
        let reply = emu
            .raw(
                reqwest::Method::POST,
                &format!("compute/v1/projects/{PROJECT}/regions/{REGION}/routers"),
                Some(json!({"name": "bad", "network": "global/networks/net", "nats": nats})),
            )
            .await;
        assert_eq!(reply.status, 400, "{why}: {:?}", reply.body);
    }
    // A router needs its network, which cannot move.
    emu.call("routers", "insert", &[], Some(json!({"name": "lost"})))
        .await
        .err(400, "required");
    emu.call(
        "routers",
        "insert",
        &[],
        Some(json!({"name": "x", "network": "global/networks/absent"})),
    )
    .await
    .err(404, "notFound");
    destroy(&emu, "routers", "egress").await;
    emu.stop().await;
}

#[tokio::test]
async fn update_policies_get_compute_defaults_and_rules() {
    let emu = Emu::start().await;
    let mig = mig_fixture(&emu).await;
    let zones = mig["distributionPolicy"]["zones"].as_array().unwrap().len() as u64;
    let policy = &mig["updatePolicy"];
    assert_eq!(policy["type"], "OPPORTUNISTIC");
    assert_eq!(
        policy["maxSurge"],
        json!({"fixed": zones, "calculated": zones}),
        "a fixed value equal to the number of zones"
    );
    assert_eq!(
        policy["maxUnavailable"],
        json!({"fixed": zones, "calculated": zones})
    );
    let patch = json!({"fingerprint": mig["fingerprint"],
                       "updatePolicy": {"type": "PROACTIVE", "maxSurge": {"fixed": 3}, "maxUnavailable": {"fixed": 0}}});
    emu.mutate(
        "regionInstanceGroupManagers",
        "patch",
        &[("instanceGroupManager", "mig")],
        Some(patch),
    )
    .await;
    let got = emu
        .call(
            "regionInstanceGroupManagers",
            "get",
            &[("instanceGroupManager", "mig")],
            None,
        )
        .await
        .ok();
    assert_eq!(got["updatePolicy"]["type"], "PROACTIVE");
    assert_eq!(
        got["updatePolicy"]["maxSurge"],
        json!({"fixed": 3, "calculated": 3})
    );
    assert_eq!(
        got["updatePolicy"]["maxUnavailable"],
        json!({"fixed": 0, "calculated": 0})
    );
    for (why, policy) in [
        (
            "both zero",
            json!({"maxSurge": {"fixed": 0}, "maxUnavailable": {"fixed": 0}}),
        ),
        (
            "a percentage of a group under 10",
            json!({"maxSurge": {"percent": 50}}),
        ),
        ("an unknown type", json!({"type": "EVENTUALLY"})),
    ] {
        let got = emu
            .call(
                "regionInstanceGroupManagers",
                "get",
                &[("instanceGroupManager", "mig")],
                None,
            )
            .await
            .ok();
        let reply = emu
            .raw(
                reqwest::Method::PATCH,
                &format!(
                    "compute/v1/projects/{PROJECT}/regions/{REGION}/instanceGroupManagers/mig"
                ),
                Some(json!({"fingerprint": got["fingerprint"], "updatePolicy": policy})),
            )
            .await;
        assert_eq!(reply.status, 400, "{why}: {:?}", reply.body);
    }
    emu.stop().await;
}
