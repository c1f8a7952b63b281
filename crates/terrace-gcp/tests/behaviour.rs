//! Provider behaviours against the Compute emulator: batched reads bounded by pages (counted
//! at a proxy), `requestId` making a retried create single, adoption by owner filter, and
//! convergence under injected 429/503 faults with latency.

mod common;

use common::{object, owner, Env, PROJECT, REGION, ZONE};
use serde_json::{json, Value as Json};
use std::time::Duration;
use terrace::provider::{CreateRequest, ErrorKind, Ownership, Provider, ReadRequest};

fn list_calls(env: &Env, collection: &str) -> usize {
    let path = format!("/compute/v1/projects/{PROJECT}/{collection}");
    env.requests()
        .iter()
        .filter(|r| **r == format!("GET {path}"))
        .count()
}

async fn networks(env: &Env, n: usize, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let o = env
            .create(
                "gcp:compute:Network",
                None,
                &format!("{prefix}-{i}"),
                json!({}),
            )
            .await;
        ids.push(o.id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_read_makes_one_list_call_per_page() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let ids = networks(&env, 30, "net").await;
    assert_eq!(env.rest_list("global/networks").await.len(), 30);

    env.clear_requests();
    let found = env.read_ids("gcp:compute:Network", None, &ids).await;
    assert_eq!(found.len(), 30);
    assert_eq!(
        list_calls(&env, "global/networks"),
        1,
        "{:?}",
        env.requests()
    );
    assert_eq!(env.requests().len(), 1, "nothing else is called");

    // More ids than fit a name filter: the whole collection, still one call per page.
    let more = networks(&env, 30, "more").await;
    let all: Vec<String> = ids.iter().chain(&more).cloned().collect();
    env.clear_requests();
    assert_eq!(
        env.read_ids("gcp:compute:Network", None, &all).await.len(),
        60
    );
    assert_eq!(env.requests().len(), 1, "{:?}", env.requests());

    // By owner (a label-less type: listed whole, matched on descriptions): one call.
    env.clear_requests();
    let mut stack = owner("");
    stack.resource.clear();
    let found = env
        .provider
        .read(ReadRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            ids: vec![],
            owner: Some(stack),
        })
        .await
        .expect("read by owner");
    assert_eq!(found.len(), 60);
    assert_eq!(env.requests().len(), 1);

    // Ids that no longer exist are simply absent.
    env.delete("gcp:compute:Network", None, &ids[0]).await;
    let found = env.read_ids("gcp:compute:Network", None, &ids[..2]).await;
    assert_eq!(found.len(), 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_with_the_same_key_creates_once() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let props = json!({"name": "shared-net"});
    let first = env
        .create_with_key("gcp:compute:Network", None, "vpc", props.clone(), "op-1")
        .await;
    // The same create again (as after a lost answer): same requestId, same resource.
    let again = env
        .create_with_key("gcp:compute:Network", None, "vpc", props.clone(), "op-1")
        .await;
    assert_eq!(first.id, again.id);
    let inserts = env
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.ends_with("/global/networks"))
        .count();
    assert_eq!(inserts, 2, "both creates reached Compute");
    let listed = env.rest_list("global/networks").await;
    assert_eq!(listed.len(), 1, "created once: {listed:?}");

    // Derived names and requestIds both come from the key: still one resource.
    let a = env
        .create_with_key("gcp:compute:Network", None, "derived", json!({}), "op-2")
        .await;
    let b = env
        .create_with_key("gcp:compute:Network", None, "derived", json!({}), "op-2")
        .await;
    assert_eq!(a.id, b.id);
    assert_eq!(env.rest_list("global/networks").await.len(), 2);

    // A different owner cannot take over a name: Compute's reason is reported.
    let taken = env
        .provider
        .create(CreateRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            properties: object(props),
            ownership: owner("someone-else"),
            idempotency_key: "op-3".into(),
        })
        .await
        .expect_err("the name is taken");
    assert_eq!(taken.kind, ErrorKind::Conflict);
    assert_eq!(taken.code, "alreadyExists");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_with_the_same_request_id() {
    let env = Env::start(gce_emulator::Config::default()).await;
    env.lose_next_answer("POST", "global/networks");
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let posts: Vec<String> = env
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("POST "))
        .collect();
    assert_eq!(posts.len(), 2, "the insert was sent twice: {posts:?}");
    let listed = env.rest_list("global/networks").await;
    assert_eq!(listed.len(), 1, "created once: {listed:?}");
    assert_eq!(listed[0]["selfLink"], json!(net.id));

    // The same for a delete: the retry finds the original operation.
    env.lose_next_answer(
        "DELETE",
        &format!("global/networks/{}", listed[0]["name"].as_str().unwrap()),
    );
    env.delete("gcp:compute:Network", None, &net.id).await;
    assert!(env.rest_list("global/networks").await.is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_found_by_owner_for_adoption() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let subnet = env
        .create(
            "gcp:compute:Subnetwork",
            Some(REGION),
            "subnet",
            json!({"network": net.id, "ip_cidr_range": "10.1.0.0/24"}),
        )
        .await;
    let firewall = env
        .create(
            "gcp:compute:Firewall",
            None,
            "fw",
            json!({"network": net.id, "allowed": [{"ip_protocol": "tcp"}]}),
        )
        .await;
    let instance = env
        .create(
            "gcp:compute:Instance",
            Some(REGION),
            "vm",
            json!({"zone": ZONE, "machine_type": format!("zones/{ZONE}/machineTypes/e2-small"),
                   "disks": [{"boot": true, "initialize_params": {"source_image": "projects/debian-cloud/global/images/family/debian-12"}}],
                   "network_interfaces": [{"subnetwork": subnet.id}]}),
        )
        .await;
    // A resource of another stack is never returned.
    let mut stranger = owner("fw");
    stranger.stack = "networks/us/other".into();
    let by_owner = |type_name: &str, region: Option<&str>, resource: &str| ReadRequest {
        type_name: type_name.into(),
        region: region.map(str::to_string),
        ids: vec![],
        owner: Some(Ownership {
            resource: resource.into(),
            ..owner("")
        }),
    };
    for (type_name, region, resource, want) in [
        ("gcp:compute:Network", None, "vpc", &net),
        ("gcp:compute:Subnetwork", Some(REGION), "", &subnet),
        ("gcp:compute:Firewall", None, "fw", &firewall),
        ("gcp:compute:Instance", Some(REGION), "vm", &instance),
    ] {
        let found = env
            .provider
            .read(by_owner(type_name, region, resource))
            .await
            .unwrap_or_else(|e| panic!("{type_name}: {e:?}"));
        assert_eq!(found.len(), 1, "{type_name}: {found:?}");
        assert_eq!(found[0].id, want.id);
        assert_eq!(
            found[0].ownership.as_ref().map(|o| o.resource.as_str()),
            Some(resource).filter(|r| !r.is_empty()).or(Some("subnet"))
        );
    }
    let none = env
        .provider
        .read(ReadRequest {
            type_name: "gcp:compute:Firewall".into(),
            region: None,
            ids: vec![],
            owner: Some(stranger),
        })
        .await
        .expect("read");
    assert!(none.is_empty());
    // Instances are looked up zone by zone in the region (zones that do not exist are skipped).
    env.clear_requests();
    env.provider
        .read(by_owner("gcp:compute:Instance", Some(REGION), ""))
        .await
        .expect("read instances");
    assert!(env.requests().len() <= 5, "{:?}", env.requests());
    // The filter on ownership labels is done by Compute for labelled types.
    assert!(env.requests().iter().all(|r| r.starts_with("GET ")));
    // Import reads one resource by its id.
    let imported = env
        .provider
        .import("gcp:compute:Subnetwork", Some(REGION), &subnet.id)
        .await
        .expect("import");
    assert_eq!(imported.properties["ip_cidr_range"], json!("10.1.0.0/24"));
    let missing = env
        .provider
        .import("gcp:compute:Firewall", None, "no-such-firewall")
        .await
        .expect_err("missing");
    assert_eq!(missing.kind, ErrorKind::NotFound);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_injected_faults_and_latency() {
    let config = gce_emulator::Config {
        throttle_rate: 0.2,
        fault_rate: 0.05,
        seed: Some(42),
        latency: gce_emulator::Latency::uniform(Duration::from_millis(30)),
        ..gce_emulator::Config::default()
    };
    let env = Env::start(config).await;
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    let mut subnets = Vec::new();
    for i in 0..5 {
        let s = env
            .create(
                "gcp:compute:Subnetwork",
                Some(REGION),
                &format!("subnet-{i}"),
                json!({"network": net.id, "ip_cidr_range": format!("10.9.{i}.0/24")}),
            )
            .await;
        subnets.push(s);
    }
    let injected = env
        .statuses()
        .iter()
        .filter(|s| **s == 403 || **s == 503)
        .count();
    assert!(
        injected > 0,
        "faults were injected and retried: {:?}",
        env.statuses()
    );
    let listed = env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await;
    assert_eq!(listed.len(), 5, "no duplicate: {listed:?}");
    let mut names: Vec<&str> = listed.iter().filter_map(|i| i["name"].as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5);
    let ids: Vec<String> = subnets.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        env.read_ids("gcp:compute:Subnetwork", Some(REGION), &ids)
            .await
            .len(),
        5
    );
    for s in &subnets {
        env.delete("gcp:compute:Subnetwork", Some(REGION), &s.id)
            .await;
    }
    env.delete("gcp:compute:Network", None, &net.id).await;
    assert!(env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await
        .is_empty());
    assert!(env.rest_list("global/networks").await.is_empty());
    env.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let create = |type_name: &str, props: Json| CreateRequest {
        type_name: type_name.into(),
        region: Some(REGION.into()),
        properties: object(props),
        ownership: owner("bad"),
        idempotency_key: "bad".into(),
    };
    let e = env
        .provider
        .create(create("gcp:compute:Subnetwork", json!({"network": "projects/terrace-test/global/networks/missing", "ip_cidr_range": "10.0.0.0/24"})))
        .await
        .expect_err("missing network");
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::NotFound, "notFound"),
        "{e:?}"
    );
    let e = env
        .provider
        .create(create("gcp:compute:Firewall", json!({"network": 5})))
        .await
        .expect_err("wrong type");
    assert_eq!(e.kind, ErrorKind::Invalid, "{e:?}");
    let net = env
        .create("gcp:compute:Network", None, "vpc", json!({}))
        .await;
    env.create(
        "gcp:compute:Subnetwork",
        Some(REGION),
        "subnet",
        json!({"network": net.id, "ip_cidr_range": "10.0.0.0/24"}),
    )
    .await;
    let e = env
        .provider
        .delete(terrace::provider::DeleteRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            id: net.id.clone(),
            properties: Default::default(),
            idempotency_key: "del".into(),
        })
        .await
        .expect_err("in use");
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Conflict, "resourceInUseByAnotherResource"),
        "{e:?}"
    );
    let e = env
        .provider
        .create(create("gcp:compute:Nope", json!({})))
        .await
        .expect_err("unknown type");
    assert_eq!(e.code, "unknownType");
    env.stop().await;
}

#[tokio::test]
async fn exhausted_retries_report_an_uncertain_outcome() {
    let config = gce_emulator::Config {
        fault_rate: 1.0,
        seed: Some(3),
        ..gce_emulator::Config::default()
    };
    let env = Env::start_with(config, object(json!({"max_attempts": 3}))).await;
    let e = env
        .provider
        .create(CreateRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            properties: object(json!({})),
            ownership: owner("vpc"),
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("every answer is a fault");
    match e.code.as_str() {
        "backendError" => assert_eq!(e.kind, ErrorKind::Ambiguous, "{e:?}"),
        "rateLimitExceeded" => assert_eq!(e.kind, ErrorKind::Throttled, "{e:?}"),
        other => panic!("unexpected reason {other}: {e:?}"),
    }
    assert_eq!(env.requests().len(), 3, "one call per attempt");
    env.stop().await;
}
