//! Create, read back, update in place, replace (create the new resource, delete the old) and
//! delete, for every resource type, against the Compute emulator. Every effect is checked by
//! plain REST listing of the emulator, not through the provider.

mod common;

use common::{object, owner, Env, REGION, ZONE};
use serde_json::{json, Value as Json};
use terrace::provider::{Observed, Provider, UpdateRequest};

/// One type's walk through its lifecycle.
struct Case<'a> {
    type_name: &'a str,
    region: Option<&'a str>,
    /// REST collection path under the project, e.g. `global/networks`.
    collection: String,
    resource: &'a str,
    create: Json,
    /// New properties, and a JSON pointer into the REST item with its expected value.
    update: Option<(Json, &'a str, Json)>,
    /// Properties differing in `force_new_field`.
    replace: Json,
    force_new_field: &'a str,
    /// Delete the old resource before creating its replacement.
    delete_first: bool,
}

fn name_of(o: &Observed) -> String {
    o.attributes["name"]
        .as_str()
        .expect("name attribute")
        .to_string()
}

/// Runs the case and returns the live resource (the replacement).
async fn lifecycle(env: &Env, case: Case<'_>) -> Observed {
    let t = case.type_name;
    let first = env
        .create(t, case.region, case.resource, case.create.clone())
        .await;
    let item = env
        .rest_get(&case.collection, &name_of(&first))
        .await
        .unwrap_or_else(|| panic!("{t}: created resource is listed"));
    assert_eq!(item["selfLink"], json!(first.id), "{t}: id is the selfLink");
    assert!(
        item["description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("managed-by=terrace"),
        "{t}: description carries ownership"
    );
    assert_eq!(
        first.ownership,
        Some(owner(case.resource)),
        "{t}: ownership read back"
    );

    let read = env
        .read_ids(t, case.region, std::slice::from_ref(&first.id))
        .await;
    assert_eq!(read.len(), 1, "{t}: read back by id");
    assert_eq!(read[0].id, first.id);

    let schema = env
        .provider
        .schemas()
        .into_iter()
        .find(|s| s.type_name == t)
        .expect("schema");
    if let Some((new, pointer, expected)) = &case.update {
        let changed = env
            .provider
            .update(UpdateRequest {
                type_name: t.into(),
                region: case.region.map(str::to_string),
                id: first.id.clone(),
                old: object(case.create.clone()),
                new: object(new.clone()),
                ownership: owner(case.resource),
                idempotency_key: format!("update-{}", case.resource),
            })
            .await
            .unwrap_or_else(|e| panic!("{t}: update: {e:?}"));
        assert_eq!(changed.id, first.id, "{t}: updated in place");
        let item = env
            .rest_get(&case.collection, &name_of(&first))
            .await
            .expect("still listed");
        assert_eq!(
            item.pointer(pointer),
            Some(expected),
            "{t}: {pointer} after update"
        );
    }

    let field = schema.field(case.force_new_field).expect("field");
    assert!(
        field.force_new,
        "{t}: {} forces a replacement",
        case.force_new_field
    );
    let key = format!("replace-{}", case.resource);
    let second = if case.delete_first {
        env.delete(t, case.region, &first.id).await;
        env.create_with_key(t, case.region, case.resource, case.replace.clone(), &key)
            .await
    } else {
        let second = env
            .create_with_key(t, case.region, case.resource, case.replace.clone(), &key)
            .await;
        env.delete(t, case.region, &first.id).await;
        second
    };
    assert_ne!(
        second.id, first.id,
        "{t}: the replacement is a new resource"
    );
    assert!(
        env.rest_get(&case.collection, &name_of(&first))
            .await
            .is_none(),
        "{t}: old one deleted"
    );
    assert!(
        env.rest_get(&case.collection, &name_of(&second))
            .await
            .is_some(),
        "{t}: new one listed"
    );
    second
}

/// Deletes resources (in the order given) and checks by REST that each is gone.
async fn delete_all(env: &Env, resources: &[(&str, Option<&str>, &str, &Observed)]) {
    for (type_name, region, collection, observed) in resources {
        env.delete(type_name, *region, &observed.id).await;
        assert!(
            env.rest_get(collection, &name_of(observed)).await.is_none(),
            "{type_name} deleted"
        );
        // Deleting again succeeds: it is already gone.
        env.delete(type_name, *region, &observed.id).await;
    }
}

fn regional(collection: &str) -> String {
    format!("regions/{REGION}/{collection}")
}

async fn network_and_subnet(env: &Env) -> (Observed, Observed) {
    let net = env
        .create("gcp:compute:Network", None, "base-net", json!({}))
        .await;
    let subnet = env
        .create(
            "gcp:compute:Subnetwork",
            Some(REGION),
            "base-subnet",
            json!({"network": net.id, "ip_cidr_range": "10.20.0.0/24"}),
        )
        .await;
    (net, subnet)
}

fn template_props(subnet: &Observed, machine: &str) -> Json {
    json!({"properties": {
        "machine_type": machine,
        "disks": [{"boot": true, "initialize_params": {"source_image": "projects/debian-cloud/global/images/family/debian-12"}}],
        "network_interfaces": [{"subnetwork": subnet.id}],
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_types() {
    let env = Env::start(common::strict()).await;
    let net = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:Network",
            region: None,
            collection: "global/networks".into(),
            resource: "vpc",
            create: json!({}),
            update: Some((
                json!({"routing_config": {"routing_mode": "GLOBAL"}}),
                "/routingConfig/routingMode",
                json!("GLOBAL"),
            )),
            replace: json!({"mtu": 1500, "auto_create_subnetworks": true}),
            force_new_field: "auto_create_subnetworks",
            delete_first: false,
        },
    )
    .await;
    let custom = env
        .create("gcp:compute:Network", None, "custom", json!({}))
        .await;
    let subnet = lifecycle(&env, Case {
        type_name: "gcp:compute:Subnetwork",
        region: Some(REGION),
        collection: regional("subnetworks"),
        resource: "subnet",
        create: json!({"network": custom.id, "ip_cidr_range": "10.0.0.0/24"}),
        update: Some((
            json!({"network": custom.id, "ip_cidr_range": "10.0.0.0/24", "private_ip_google_access": true}),
            "/privateIpGoogleAccess",
            json!(true),
        )),
        replace: json!({"network": custom.id, "ip_cidr_range": "10.0.1.0/24"}),
        force_new_field: "ip_cidr_range",
        delete_first: false,
    })
    .await;
    let allowed = json!([{"ip_protocol": "tcp", "ports": ["5432"]}]);
    let firewall = lifecycle(&env, Case {
        type_name: "gcp:compute:Firewall",
        region: None,
        collection: "global/firewalls".into(),
        resource: "allow-db",
        create: json!({"network": custom.id, "allowed": allowed, "source_ranges": ["10.0.0.0/8"]}),
        update: Some((
            json!({"network": custom.id, "allowed": allowed, "source_ranges": ["10.1.0.0/16"]}),
            "/sourceRanges",
            json!(["10.1.0.0/16"]),
        )),
        replace: json!({"network": custom.id, "direction": "EGRESS", "allowed": allowed, "destination_ranges": ["10.0.0.0/8"]}),
        force_new_field: "direction",
        delete_first: false,
    })
    .await;
    delete_all(
        &env,
        &[
            ("gcp:compute:Firewall", None, "global/firewalls", &firewall),
            (
                "gcp:compute:Subnetwork",
                Some(REGION),
                &regional("subnetworks"),
                &subnet,
            ),
            ("gcp:compute:Network", None, "global/networks", &custom),
            ("gcp:compute:Network", None, "global/networks", &net),
        ],
    )
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_types() {
    let env = Env::start(common::strict()).await;
    let (net, subnet) = network_and_subnet(&env).await;
    let template = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:InstanceTemplate",
            region: None,
            collection: "global/instanceTemplates".into(),
            resource: "template",
            create: template_props(&subnet, "e2-small"),
            update: None,
            replace: template_props(&subnet, "e2-medium"),
            force_new_field: "properties",
            delete_first: false,
        },
    )
    .await;
    let igm_props = |base: &str, size: u32| json!({"base_instance_name": base, "instance_template": template.id, "target_size": size});
    let igm = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:RegionInstanceGroupManager",
            region: Some(REGION),
            collection: regional("instanceGroupManagers"),
            resource: "nodes",
            create: igm_props("db", 1),
            update: Some((igm_props("db", 2), "/targetSize", json!(2))),
            replace: igm_props("db2", 2),
            force_new_field: "base_instance_name",
            delete_first: false,
        },
    )
    .await;
    let other_igm = env
        .create(
            "gcp:compute:RegionInstanceGroupManager",
            Some(REGION),
            "nodes-b",
            igm_props("dbb", 1),
        )
        .await;
    let policy = |max: u32| json!({"max_num_replicas": max, "min_num_replicas": 1});
    let autoscaler = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:RegionAutoscaler",
            region: Some(REGION),
            collection: regional("autoscalers"),
            resource: "scaler",
            create: json!({"target": igm.id, "autoscaling_policy": policy(3)}),
            update: Some((
                json!({"target": igm.id, "autoscaling_policy": policy(5)}),
                "/autoscalingPolicy/maxNumReplicas",
                json!(5),
            )),
            replace: json!({"target": other_igm.id, "autoscaling_policy": policy(5)}),
            force_new_field: "target",
            delete_first: true,
        },
    )
    .await;
    let check = lifecycle(&env, Case {
        type_name: "gcp:compute:RegionHealthCheck",
        region: Some(REGION),
        collection: regional("healthChecks"),
        resource: "check",
        create: json!({"type": "TCP", "tcp_health_check": {"port": 5432}}),
        update: Some((
            json!({"type": "TCP", "tcp_health_check": {"port": 5432}, "check_interval_sec": 10}),
            "/checkIntervalSec",
            json!(10),
        )),
        replace: json!({"type": "HTTP", "http_health_check": {"port": 8080}}),
        force_new_field: "type",
        delete_first: false,
    })
    .await;
    let group = igm.attributes["instance_group"]
        .as_str()
        .expect("instance group")
        .to_string();
    let service_props = |timeout: u32| {
        json!({"load_balancing_scheme": "INTERNAL", "protocol": "TCP", "health_checks": [check.id],
               "backends": [{"group": group}], "timeout_sec": timeout})
    };
    let service = lifecycle(&env, Case {
        type_name: "gcp:compute:RegionBackendService",
        region: Some(REGION),
        collection: regional("backendServices"),
        resource: "db-service",
        create: service_props(30),
        update: Some((service_props(60), "/timeoutSec", json!(60))),
        replace: json!({"load_balancing_scheme": "EXTERNAL", "protocol": "TCP", "health_checks": [check.id]}),
        force_new_field: "load_balancing_scheme",
        delete_first: false,
    })
    .await;
    let internal = env
        .create(
            "gcp:compute:RegionBackendService",
            Some(REGION),
            "db-internal",
            service_props(30),
        )
        .await;
    let rule_props = |port: &str, role: &str| {
        json!({"load_balancing_scheme": "INTERNAL", "ip_protocol": "TCP", "ports": [port],
               "network": net.id, "subnetwork": subnet.id, "backend_service": internal.id,
               "labels": {"role": role}})
    };
    let rule = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:ForwardingRule",
            region: Some(REGION),
            collection: regional("forwardingRules"),
            resource: "db-endpoint",
            create: rule_props("5432", "db"),
            update: Some((
                rule_props("5432", "primary"),
                "/labels/role",
                json!("primary"),
            )),
            replace: rule_props("6432", "primary"),
            force_new_field: "ports",
            delete_first: false,
        },
    )
    .await;
    let after = env
        .rest_get(&regional("forwardingRules"), &name_of(&rule))
        .await
        .expect("rule");
    assert_eq!(
        after["labels"]["terrace-resource"],
        json!("db-endpoint"),
        "ownership labels kept"
    );
    let instance_props = |machine: &str, team: &str| {
        json!({"zone": ZONE, "machine_type": format!("zones/{ZONE}/machineTypes/{machine}"),
               "disks": [{"boot": true, "initialize_params": {"source_image": "projects/debian-cloud/global/images/family/debian-12"}}],
               "network_interfaces": [{"subnetwork": subnet.id}], "labels": {"team": team}})
    };
    let instance = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:Instance",
            region: Some(REGION),
            collection: format!("zones/{ZONE}/instances"),
            resource: "bastion",
            create: instance_props("e2-small", "db"),
            update: Some((
                instance_props("e2-small", "ops"),
                "/labels/team",
                json!("ops"),
            )),
            replace: instance_props("e2-medium", "ops"),
            force_new_field: "machine_type",
            delete_first: false,
        },
    )
    .await;
    assert!(instance.attributes["network_ip"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.20.0.")));
    delete_all(
        &env,
        &[
            (
                "gcp:compute:Instance",
                Some(REGION),
                &format!("zones/{ZONE}/instances"),
                &instance,
            ),
            (
                "gcp:compute:ForwardingRule",
                Some(REGION),
                &regional("forwardingRules"),
                &rule,
            ),
            (
                "gcp:compute:RegionBackendService",
                Some(REGION),
                &regional("backendServices"),
                &internal,
            ),
            (
                "gcp:compute:RegionBackendService",
                Some(REGION),
                &regional("backendServices"),
                &service,
            ),
            (
                "gcp:compute:RegionHealthCheck",
                Some(REGION),
                &regional("healthChecks"),
                &check,
            ),
            (
                "gcp:compute:RegionAutoscaler",
                Some(REGION),
                &regional("autoscalers"),
                &autoscaler,
            ),
            (
                "gcp:compute:RegionInstanceGroupManager",
                Some(REGION),
                &regional("instanceGroupManagers"),
                &other_igm,
            ),
            (
                "gcp:compute:RegionInstanceGroupManager",
                Some(REGION),
                &regional("instanceGroupManagers"),
                &igm,
            ),
            (
                "gcp:compute:InstanceTemplate",
                None,
                "global/instanceTemplates",
                &template,
            ),
            (
                "gcp:compute:Subnetwork",
                Some(REGION),
                &regional("subnetworks"),
                &subnet,
            ),
            ("gcp:compute:Network", None, "global/networks", &net),
        ],
    )
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_types() {
    let env = Env::start(common::strict()).await;
    let (net, subnet) = network_and_subnet(&env).await;
    let template = env
        .create(
            "gcp:compute:InstanceTemplate",
            None,
            "template",
            template_props(&subnet, "e2-small"),
        )
        .await;
    let igm = env
        .create(
            "gcp:compute:RegionInstanceGroupManager",
            Some(REGION),
            "nodes",
            json!({"base_instance_name": "db", "instance_template": template.id, "target_size": 1}),
        )
        .await;
    let check = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:HealthCheck",
            region: None,
            collection: "global/healthChecks".into(),
            resource: "check",
            create: json!({"type": "TCP", "tcp_health_check": {"port": 5432}}),
            update: Some((
                json!({"type": "TCP", "tcp_health_check": {"port": 5432}, "timeout_sec": 4}),
                "/timeoutSec",
                json!(4),
            )),
            replace: json!({"type": "HTTP", "http_health_check": {"port": 8080}}),
            force_new_field: "type",
            delete_first: false,
        },
    )
    .await;
    let group = igm.attributes["instance_group"]
        .as_str()
        .expect("instance group")
        .to_string();
    let service_props = |scheme: &str, timeout: u32| {
        json!({"load_balancing_scheme": scheme, "protocol": "TCP", "health_checks": [check.id],
               "backends": [{"group": group}], "timeout_sec": timeout})
    };
    let service = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:BackendService",
            region: None,
            collection: "global/backendServices".into(),
            resource: "pool",
            create: service_props("EXTERNAL", 30),
            update: Some((service_props("EXTERNAL", 45), "/timeoutSec", json!(45))),
            replace: service_props("EXTERNAL_MANAGED", 45),
            force_new_field: "load_balancing_scheme",
            delete_first: false,
        },
    )
    .await;
    let proxy = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:TargetTcpProxy",
            region: None,
            collection: "global/targetTcpProxies".into(),
            resource: "proxy",
            create: json!({"service": service.id}),
            update: None,
            replace: json!({"service": service.id, "proxy_header": "PROXY_V1"}),
            force_new_field: "proxy_header",
            delete_first: false,
        },
    )
    .await;
    let rule_props = |port: &str, env_label: &str| {
        json!({"load_balancing_scheme": "EXTERNAL", "ip_protocol": "TCP", "port_range": port,
               "target": proxy.id, "labels": {"env": env_label}})
    };
    let rule = lifecycle(
        &env,
        Case {
            type_name: "gcp:compute:GlobalForwardingRule",
            region: None,
            collection: "global/forwardingRules".into(),
            resource: "public",
            create: rule_props("5432", "eu"),
            update: Some((rule_props("5432", "eu-1"), "/labels/env", json!("eu-1"))),
            replace: rule_props("6432", "eu-1"),
            force_new_field: "port_range",
            delete_first: false,
        },
    )
    .await;
    assert!(
        rule.attributes["ip_address"].as_str().is_some(),
        "address attribute"
    );
    delete_all(
        &env,
        &[
            (
                "gcp:compute:GlobalForwardingRule",
                None,
                "global/forwardingRules",
                &rule,
            ),
            (
                "gcp:compute:TargetTcpProxy",
                None,
                "global/targetTcpProxies",
                &proxy,
            ),
            (
                "gcp:compute:BackendService",
                None,
                "global/backendServices",
                &service,
            ),
            (
                "gcp:compute:HealthCheck",
                None,
                "global/healthChecks",
                &check,
            ),
            (
                "gcp:compute:RegionInstanceGroupManager",
                Some(REGION),
                &regional("instanceGroupManagers"),
                &igm,
            ),
            (
                "gcp:compute:InstanceTemplate",
                None,
                "global/instanceTemplates",
                &template,
            ),
            (
                "gcp:compute:Subnetwork",
                Some(REGION),
                &regional("subnetworks"),
                &subnet,
            ),
            ("gcp:compute:Network", None, "global/networks", &net),
        ],
    )
    .await;
    env.stop().await;
}
