//! The provider against the emulator's `cloud` profile, through the real
//! `google-cloud-compute-v1` clients: it converges while Compute throttles (403
//! `rateLimitExceeded`, polls included) and answers `resourceNotReady`, reports an operation
//! that ended DONE with an error as that failure (Google's code, not ambiguous), never reads a
//! 403 as "gone", changes each field with the method Compute takes for it (and repairs
//! out-of-band drift), and sees a managed instance group's VMs arrive over time.

mod common;

use common::{object, owner, Env, PROJECT, REGION};
use gce_emulator::{Config, Latency, Profile, Span};
use serde_json::{json, Value as Json};
use std::time::{Duration, Instant};
use terrace::provider::{
    CreateRequest, DeleteRequest, ErrorKind, Provider, ReadRequest, UpdateRequest,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cloud(seed: u64) -> Config {
    Config::for_profile(Profile::Cloud, Some(seed))
}

async fn rest_post(env: &Env, path: &str, body: Json) -> Json {
    let url = format!("{}/compute/v1/projects/{PROJECT}/{path}", env.base());
    env.http
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("emulator answers")
        .json()
        .await
        .expect("json")
}

fn update(type_name: &str, region: Option<&str>, id: &str, old: Json, new: Json) -> UpdateRequest {
    UpdateRequest {
        type_name: type_name.into(),
        region: region.map(str::to_string),
        id: id.into(),
        old: object(old),
        new: object(new),
        ownership: owner("r"),
        idempotency_key: format!("update-{id}-{}", rand_suffix()),
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_while_compute_throttles_and_takes_its_time() {
    let config = Config {
        latency: Latency::between(ms(20), ms(60)),
        throttle_rate: 0.3,
        fault_rate: 0.05,
        ..cloud(7)
    };
    let env = Env::start(config).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let mut subnets = Vec::new();
    for i in 0..3 {
        let props = json!({"network": net.id, "ip_cidr_range": format!("10.3.{i}.0/24")});
        subnets.push((
            env.create(
                "gcp:compute:Subnetwork",
                Some(REGION),
                &format!("s{i}"),
                props.clone(),
            )
            .await,
            props,
        ));
    }
    let fw_props = json!({"network": net.id, "allowed": [{"ip_protocol": "tcp", "ports": ["5432"]}],
                          "source_ranges": ["10.0.0.0/8"]});
    let fw = env
        .create("gcp:compute:Firewall", None, "fw", fw_props.clone())
        .await;
    let mut narrowed = fw_props.clone();
    narrowed["source_ranges"] = json!(["10.16.0.0/12"]);
    env.provider
        .update(update(
            "gcp:compute:Firewall",
            None,
            &fw.id,
            fw_props,
            narrowed,
        ))
        .await
        .expect("update under throttling");

    let statuses = env.statuses();
    assert!(statuses.contains(&403), "Compute throttled: {statuses:?}");
    assert!(!statuses.contains(&429), "Compute never answers 429");
    let notes = env.provider.waits().recent();
    assert!(
        notes
            .iter()
            .any(|n| n.code == "rateLimitExceeded" || n.code == "userRateLimitExceeded"),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.call.contains(": poll ")),
        "a throttled poll was polled again: {notes:?}"
    );
    assert!(notes[0].to_string().starts_with("gcp: "), "{}", notes[0]);

    let listed = env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await;
    assert_eq!(listed.len(), 3, "one subnetwork each: {listed:?}");
    let firewall = env.rest_list("global/firewalls").await;
    assert_eq!(firewall.len(), 1);
    assert_eq!(firewall[0]["sourceRanges"], json!(["10.16.0.0/12"]));
    for (s, _) in &subnets {
        env.delete("gcp:compute:Subnetwork", Some(REGION), &s.id)
            .await;
    }
    env.delete("gcp:compute:Firewall", None, &fw.id).await;
    env.delete("gcp:compute:Network", None, &net.id).await;
    assert!(env.rest_list("global/networks").await.is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referent_that_is_not_ready_is_waited_for() {
    let config = Config {
        latency: Latency::uniform(ms(5)).with("insert", Span::fixed(ms(300))),
        throttle_rate: 0.0,
        ..cloud(3)
    };
    let env = Env::start(config).await;
    // A network whose insert is still running (made outside the provider).
    let op = rest_post(
        &env,
        "global/networks",
        json!({"name": "slow-net", "autoCreateSubnetworks": false}),
    )
    .await;
    assert_ne!(op["status"], "DONE");
    let subnet = env
        .create(
            "gcp:compute:Subnetwork",
            Some(REGION),
            "subnet",
            json!({"network": format!("projects/{PROJECT}/global/networks/slow-net"),
                   "ip_cidr_range": "10.4.0.0/24"}),
        )
        .await;
    assert!(env.statuses().contains(&400), "{:?}", env.statuses());
    assert!(env
        .provider
        .waits()
        .recent()
        .iter()
        .any(|n| n.code == "resourceNotReady" && n.http_status == Some(400)));
    let listed = env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["selfLink"], json!(subnet.id));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_done_with_an_error_is_that_failure() {
    let config = Config {
        latency: Latency::uniform(ms(5)).with("insert", Span::fixed(ms(400))),
        throttle_rate: 0.0,
        ..cloud(4)
    };
    let env = Env::start(config).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let net_name = net.attributes["name"].as_str().unwrap().to_string();
    let create = env.provider.create(CreateRequest {
        type_name: "gcp:compute:Subnetwork".into(),
        region: Some(REGION.into()),
        properties: object(json!({"network": net.id, "ip_cidr_range": "10.5.0.0/24"})),
        ownership: owner("subnet"),
        idempotency_key: "subnet-1".into(),
    });
    // While the subnetwork's insert runs, its network goes.
    let remove_network = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ops = env.rest_list(&format!("regions/{REGION}/operations")).await;
            if ops
                .iter()
                .any(|o| o["operationType"] == "insert" && o["status"] != "DONE")
            {
                break;
            }
            assert!(Instant::now() < deadline, "the insert was accepted");
            tokio::time::sleep(ms(5)).await;
        }
        let url = format!(
            "{}/compute/v1/projects/{PROJECT}/global/networks/{net_name}",
            env.base()
        );
        let answer = env.http.delete(url).send().await.expect("delete");
        assert!(answer.status().is_success());
    };
    let (created, ()) = tokio::join!(create, remove_network);
    let error = created.expect_err("the operation ended with an error");
    assert_eq!(
        (error.kind, error.code.as_str()),
        (ErrorKind::NotFound, "RESOURCE_NOT_FOUND"),
        "{error:?}"
    );
    assert!(error.message.contains("operation failed"), "{error:?}");
    assert!(env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await
        .is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_answer_is_never_read_as_gone() {
    let env = Env::start(Config {
        forbidden_projects: vec![PROJECT.to_string()],
        ..Config::default()
    })
    .await;
    let id =
        format!("https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/vpc");
    let read = env
        .provider
        .read(ReadRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            ids: vec![id.clone()],
            owner: None,
        })
        .await
        .expect_err("a refused read is an error, not an empty answer");
    assert_eq!(
        (read.kind, read.code.as_str()),
        (ErrorKind::Denied, "forbidden")
    );
    assert!(read.message.contains("anonymous credentials"), "{read:?}");
    assert!(read.message.contains("compute.networks.list"), "{read:?}");
    let delete = env
        .provider
        .delete(DeleteRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            id: id.clone(),
            properties: Default::default(),
            idempotency_key: "d".into(),
        })
        .await
        .expect_err("a refused delete is not a deleted resource");
    assert_eq!(delete.code, "forbidden");
    assert!(delete.message.contains(&id) && delete.message.contains("anonymous credentials"));
    assert_eq!(
        env.requests().len(),
        2,
        "a 403 is not retried: {:?}",
        env.requests()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_field_is_changed_with_the_method_compute_takes() {
    let env = Env::start(common::strict()).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    // networks.patch takes routingConfig only: mtu forces a replacement.
    let schema = env
        .provider
        .schemas()
        .into_iter()
        .find(|s| s.type_name == "gcp:compute:Network")
        .unwrap();
    assert!(schema.field("mtu").unwrap().force_new);
    let e = env
        .provider
        .update(update(
            "gcp:compute:Network",
            None,
            &net.id,
            json!({}),
            json!({"mtu": 1500}),
        ))
        .await
        .expect_err("mtu is not patched");
    assert_eq!(e.kind, ErrorKind::Invalid);

    let props = json!({"network": net.id, "ip_cidr_range": "10.6.0.0/24"});
    let subnet = env
        .create(
            "gcp:compute:Subnetwork",
            Some(REGION),
            "subnet",
            props.clone(),
        )
        .await;
    env.clear_requests();
    let mut private = props.clone();
    private["private_ip_google_access"] = json!(true);
    env.provider
        .update(update(
            "gcp:compute:Subnetwork",
            Some(REGION),
            &subnet.id,
            props,
            private,
        ))
        .await
        .expect("setPrivateIpGoogleAccess");
    let sent = env.requests();
    assert!(
        sent.iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("/setPrivateIpGoogleAccess")),
        "{sent:?}"
    );
    assert!(!sent.iter().any(|r| r.starts_with("PATCH ")), "{sent:?}");
    let listed = env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await;
    assert_eq!(listed[0]["privateIpGoogleAccess"], json!(true));

    // Drift: a firewall opened outside Terrace is closed again by the next update, even
    // though the previous properties already were the desired ones.
    let fw_props = json!({"network": net.id, "allowed": [{"ip_protocol": "tcp", "ports": ["5432"]}],
                          "source_ranges": ["10.16.0.0/12"]});
    let fw = env
        .create("gcp:compute:Firewall", None, "fw", fw_props.clone())
        .await;
    let fw_name = fw.attributes["name"].as_str().unwrap();
    let opened = env
        .http
        .patch(format!(
            "{}/compute/v1/projects/{PROJECT}/global/firewalls/{fw_name}",
            env.base()
        ))
        .json(&json!({"sourceRanges": ["0.0.0.0/0"]}))
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success());
    env.provider
        .update(update(
            "gcp:compute:Firewall",
            None,
            &fw.id,
            fw_props.clone(),
            fw_props,
        ))
        .await
        .expect("drift repaired");
    let firewall = env.rest_get("global/firewalls", fw_name).await.unwrap();
    assert_eq!(firewall["sourceRanges"], json!(["10.16.0.0/12"]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_instance_group_gets_its_vms_over_time() {
    let config = Config {
        latency: Latency::default(),
        throttle_rate: 0.0,
        vm_latency: Span::fixed(ms(80)),
        ..cloud(9)
    };
    let env = Env::start(config).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let subnet = env
        .create(
            "gcp:compute:Subnetwork",
            Some(REGION),
            "subnet",
            json!({"network": net.id, "ip_cidr_range": "10.7.0.0/24"}),
        )
        .await;
    let template = |machine: &str| {
        json!({"properties": {
            "machine_type": machine,
            "disks": [{"boot": true, "initialize_params": {"source_image": "projects/debian-cloud/global/images/family/debian-12"}}],
            "network_interfaces": [{"subnetwork": subnet.id}],
        }})
    };
    let t1 = env
        .create(
            "gcp:compute:InstanceTemplate",
            None,
            "t1",
            template("e2-small"),
        )
        .await;
    let t2 = env
        .create(
            "gcp:compute:InstanceTemplate",
            None,
            "t2",
            template("e2-medium"),
        )
        .await;
    let props =
        |t: &str| json!({"base_instance_name": "db", "instance_template": t, "target_size": 2});
    let group = env
        .create(
            "gcp:compute:RegionInstanceGroupManager",
            Some(REGION),
            "nodes",
            props(&t1.id),
        )
        .await;
    // The insert is DONE before the VMs exist; the provider waited until the group was
    // stable, so they are all there, running its template.
    let name = group.attributes["name"].as_str().unwrap().to_string();
    let get = || async {
        env.rest_get(&format!("regions/{REGION}/instanceGroupManagers"), &name)
            .await
            .unwrap()
    };
    let vms_now = || async {
        env.provider
            .managed_instances(&group.id)
            .await
            .expect("list")
    };
    let template_of = |v: &Json| {
        v.pointer("/version/instanceTemplate")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let names = |vms: &[Json]| -> std::collections::BTreeSet<String> {
        vms.iter()
            .map(|v| v["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let vms = vms_now().await;
    assert_eq!(vms.len(), 2, "{vms:?}");
    assert!(
        vms.iter()
            .all(|v| v["currentAction"] == "NONE" && template_of(v) == t1.id),
        "create returns once the VMs run: {vms:?}"
    );
    assert_eq!(get().await["status"]["isStable"], json!(true));

    // The group's default update policy is OPPORTUNISTIC: a new template leaves them be, and
    // the update does not wait for a version target that will not be reached.
    env.provider
        .update(UpdateRequest {
            idempotency_key: "igm-t2".into(),
            ownership: owner("nodes"),
            ..update(
                "gcp:compute:RegionInstanceGroupManager",
                Some(REGION),
                &group.id,
                props(&t1.id),
                props(&t2.id),
            )
        })
        .await
        .expect("new template");
    let g = get().await;
    assert_eq!(g["status"]["versionTarget"]["isReached"], json!(false));
    let after = vms_now().await;
    assert!(after.iter().all(|v| template_of(v) == t1.id), "{after:?}");
    assert_eq!(names(&after), names(&vms));

    // PROACTIVE, one surge VM at a time: the update returns once every VM was replaced by
    // one created from the new template, and the group is stable on it.
    let proactive = |t: &str| {
        let mut p = props(t);
        p["update_policy"] = json!({"type": "PROACTIVE", "minimal_action": "REPLACE",
                                    "max_surge": {"fixed": 1}, "max_unavailable": {"fixed": 0}});
        p
    };
    env.provider
        .update(UpdateRequest {
            idempotency_key: "igm-proactive".into(),
            ownership: owner("nodes"),
            ..update(
                "gcp:compute:RegionInstanceGroupManager",
                Some(REGION),
                &group.id,
                props(&t2.id),
                proactive(&t2.id),
            )
        })
        .await
        .expect("proactive policy");
    let g = get().await;
    assert_eq!(g["updatePolicy"]["type"], "PROACTIVE");
    assert_eq!(g["status"]["isStable"], json!(true));
    assert_eq!(g["status"]["versionTarget"]["isReached"], json!(true));
    let rolled = vms_now().await;
    assert_eq!(rolled.len(), 2, "{rolled:?}");
    assert!(
        rolled
            .iter()
            .all(|v| template_of(v) == t2.id && v["currentAction"] == "NONE"),
        "{rolled:?}"
    );
    assert!(
        names(&rolled).is_disjoint(&names(&vms)),
        "every VM was replaced: {rolled:?} after {vms:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_router_carries_its_nat_and_changes_it_in_place() {
    let env = Env::start(cloud(11)).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let subnet = env
        .create(
            "gcp:compute:Subnetwork",
            Some(REGION),
            "subnet",
            json!({"network": net.id, "ip_cidr_range": "10.9.0.0/24"}),
        )
        .await;
    let nat = |ranges: &str| {
        let mut nat = json!({"name": "egress", "nat_ip_allocate_option": "AUTO_ONLY",
                             "source_subnetwork_ip_ranges_to_nat": ranges});
        if ranges == "LIST_OF_SUBNETWORKS" {
            nat["subnetworks"] = json!([{"name": subnet.id}]);
        }
        json!({"network": net.id, "nats": [nat]})
    };
    let router = env
        .create(
            "gcp:compute:Router",
            Some(REGION),
            "router",
            nat("ALL_SUBNETWORKS_ALL_IP_RANGES"),
        )
        .await;
    let name = router.attributes["name"].as_str().unwrap().to_string();
    let stored = env
        .rest_get(&format!("regions/{REGION}/routers"), &name)
        .await
        .unwrap();
    assert_eq!(stored["nats"][0]["natIpAllocateOption"], "AUTO_ONLY");
    assert_eq!(
        stored["nats"][0]["sourceSubnetworkIpRangesToNat"],
        "ALL_SUBNETWORKS_ALL_IP_RANGES"
    );
    env.provider
        .update(update(
            "gcp:compute:Router",
            Some(REGION),
            &router.id,
            nat("ALL_SUBNETWORKS_ALL_IP_RANGES"),
            nat("LIST_OF_SUBNETWORKS"),
        ))
        .await
        .expect("nats patched");
    let stored = env
        .rest_get(&format!("regions/{REGION}/routers"), &name)
        .await
        .unwrap();
    assert_eq!(
        stored["id"], router.attributes["gce_id"],
        "changed in place"
    );
    assert_eq!(
        stored["nats"][0]["subnetworks"][0]["name"],
        json!(subnet.id)
    );
    env.provider
        .delete(DeleteRequest {
            type_name: "gcp:compute:Router".into(),
            region: Some(REGION.into()),
            id: router.id.clone(),
            properties: Default::default(),
            idempotency_key: "router-delete".into(),
        })
        .await
        .expect("deleted");
    assert!(env
        .rest_get(&format!("regions/{REGION}/routers"), &name)
        .await
        .is_none());
    env.stop().await;
}
