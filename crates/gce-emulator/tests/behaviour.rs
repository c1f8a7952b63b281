//! Behaviour tests: idempotency, Google's error shapes, pagination, filters, operation
//! progression, fault injection, the state file, Resource Manager, and the binary.

mod common;

use common::*;
use gce_emulator::{Config, Latency};
use serde_json::{json, Value};
use std::time::Duration;

fn net(name: &str) -> Value {
    json!({"name": name, "autoCreateSubnetworks": false})
}

#[test]
fn schema_validator_rejects_what_compute_does_not_declare() {
    assert!(discovery()
        .validate(
            "Network",
            &json!({"name": "n", "autoCreateSubnetworks": false})
        )
        .is_ok());
    assert!(discovery()
        .validate("Network", &json!({"name": "n", "bogus": 1}))
        .is_err());
    assert!(
        discovery()
            .validate("Operation", &json!({"id": 12}))
            .is_err(),
        "uint64 must be a string"
    );
    assert!(
        discovery()
            .validate("Operation", &json!({"status": "FINISHED"}))
            .is_err(),
        "enum"
    );
}

#[tokio::test]
async fn request_id_makes_retries_idempotent() {
    let emu = Emu::start().await;
    let rid = "5b5a1c1e-2f0b-4c1e-9a51-3b8a7c8d9e0f";
    let first = emu
        .call("networks", "insert", &[("requestId", rid)], Some(net("n1")))
        .await
        .ok();
    let again = emu
        .call("networks", "insert", &[("requestId", rid)], Some(net("n1")))
        .await
        .ok();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["name"], again["name"]);
    assert_eq!(again["clientOperationId"], rid);
    let list = emu.call("networks", "list", &[], None).await.ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Without a requestId the same insert is a conflict.
    emu.call("networks", "insert", &[], Some(net("n1")))
        .await
        .err(409, "alreadyExists");
    // The same for deletes: the retry returns the original operation, not a 404.
    let rid2 = "6b5a1c1e-2f0b-4c1e-9a51-3b8a7c8d9e0f";
    let del = emu
        .call(
            "networks",
            "delete",
            &[("network", "n1"), ("requestId", rid2)],
            None,
        )
        .await
        .ok();
    let del2 = emu
        .call(
            "networks",
            "delete",
            &[("network", "n1"), ("requestId", rid2)],
            None,
        )
        .await
        .ok();
    assert_eq!(del["id"], del2["id"]);
    emu.call(
        "networks",
        "insert",
        &[("requestId", "not-a-uuid")],
        Some(net("n2")),
    )
    .await
    .err(400, "invalid");
    emu.stop().await;
}

#[tokio::test]
async fn errors_have_googles_shape_and_status() {
    let emu = Emu::start().await;
    let body = emu
        .call("networks", "get", &[("network", "missing")], None)
        .await
        .err(404, "notFound");
    assert_eq!(
        body["error"]["message"],
        "The resource 'projects/proj-1/global/networks/missing' was not found"
    );
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    emu.mutate("networks", "insert", &[], Some(net("n1"))).await;
    emu.call("networks", "insert", &[], Some(net("n1")))
        .await
        .err(409, "alreadyExists");
    emu.call("networks", "insert", &[], Some(net("Bad_Name")))
        .await
        .err(400, "invalid");
    emu.call("networks", "insert", &[], Some(net("-x")))
        .await
        .err(400, "invalid");
    let long = "a".repeat(64);
    emu.call("networks", "insert", &[], Some(net(&long)))
        .await
        .err(400, "invalid");
    let sub = |name: &str, range: &str| json!({"name": name, "network": "global/networks/n1", "ipCidrRange": range});
    for bad in [
        "10.0.0.0",
        "10.0.0.1/24",
        "10.0.0.0/33",
        "300.0.0.0/8",
        "10.0.0.0/30",
        "127.0.0.0/24",
    ] {
        emu.call("subnetworks", "insert", &[], Some(sub("s", bad)))
            .await
            .err(400, "invalid");
    }
    emu.mutate("subnetworks", "insert", &[], Some(sub("s1", "10.0.0.0/24")))
        .await;
    let overlap = emu
        .call(
            "subnetworks",
            "insert",
            &[("region", "europe-west1")],
            Some(sub("s2", "10.0.0.128/25")),
        )
        .await;
    let msg = overlap.clone().err(400, "invalid")["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("conflicts with existing subnetwork 's1'"),
        "{msg}"
    );
    let missing =
        json!({"name": "s3", "network": "global/networks/nope", "ipCidrRange": "10.9.0.0/24"});
    emu.call("subnetworks", "insert", &[], Some(missing))
        .await
        .err(404, "notFound");
    let body = emu
        .call("networks", "delete", &[("network", "n1")], None)
        .await
        .err(400, "resourceInUseByAnotherResource");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("subnetworks/s1"));
    // Bare names are not references; Compute wants a URL.
    let bare = json!({"name": "s4", "network": "n1", "ipCidrRange": "10.9.0.0/24"});
    emu.call("subnetworks", "insert", &[], Some(bare))
        .await
        .err(400, "invalid");
    emu.call(
        "networks",
        "get",
        &[("network", "n1"), ("bogusParam", "1")],
        None,
    )
    .await
    .err(400, "badRequest");
    emu.call("subnetworks", "list", &[("region", "mars-north1")], None)
        .await
        .err(404, "notFound");
    let r = emu
        .raw(
            reqwest::Method::POST,
            "compute/v1/projects/p/global/networks",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .http
        .post(format!(
            "{}/compute/v1/projects/p/global/networks",
            emu.base()
        ))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(assert_error_shape(400, &body), "parseError");
    emu.stop().await;
}

#[tokio::test]
async fn lists_paginate_with_next_page_token() {
    let emu = Emu::start().await;
    for i in (0..7).rev() {
        emu.mutate("networks", "insert", &[], Some(net(&format!("n{i}"))))
            .await;
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![("maxResults", "3")];
        if let Some(t) = &token {
            params.push(("pageToken", t));
        }
        let page = emu.call("networks", "list", &params, None).await.ok();
        assert_eq!(page["kind"], "compute#networkList");
        assert_eq!(page["selfLink"], link("global/networks"));
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_string()),
        );
        match page.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["n0", "n1", "n2", "n3", "n4", "n5", "n6"]);
    let desc = emu
        .call(
            "networks",
            "list",
            &[("orderBy", "name desc"), ("maxResults", "2")],
            None,
        )
        .await
        .ok();
    assert_eq!(desc["items"][0]["name"], "n6");
    emu.call("networks", "list", &[("maxResults", "501")], None)
        .await
        .err(400, "invalid");
    emu.call("networks", "list", &[("pageToken", "garbage!")], None)
        .await
        .err(400, "invalid");
    emu.stop().await;
}

#[tokio::test]
async fn list_filters_by_labels_and_name() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    for (name, env) in [("vm-a", "prod"), ("vm-b", "prod"), ("vm-c", "dev")] {
        let body = json!({
            "name": name, "machineType": format!("zones/{ZONE}/machineTypes/e2-micro"),
            "disks": [{"boot": true, "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
            "networkInterfaces": [{"subnetwork": format!("regions/{REGION}/subnetworks/sub")}],
            "labels": {"env": env, "team": "core"},
        });
        emu.mutate("instances", "insert", &[], Some(body)).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v.get("items")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|i| i["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (filter, want) in [
        ("labels.env=prod", vec!["vm-a", "vm-b"]),
        ("labels.env=\"prod\"", vec!["vm-a", "vm-b"]),
        ("labels.env = dev", vec!["vm-c"]),
        ("name=vm-b", vec!["vm-b"]),
        ("name eq vm-b", vec!["vm-b"]),
        ("name eq 'vm-[ab]'", vec!["vm-a", "vm-b"]),
        ("labels.env=prod AND name=vm-a", vec!["vm-a"]),
        (
            "labels.env=prod labels.team=core name != vm-a",
            vec!["vm-b"],
        ),
        ("(labels.env=dev) OR (name=vm-a)", vec!["vm-a", "vm-c"]),
        ("labels.owner:*", vec![]),
        ("labels.nothing=x", vec![]),
    ] {
        let list = emu
            .call("instances", "list", &[("filter", filter)], None)
            .await
            .ok();
        assert_eq!(names(&list), want, "filter {filter}");
    }
    emu.call("instances", "list", &[("filter", "name = ")], None)
        .await
        .err(400, "invalid");
    emu.stop().await;
}

#[tokio::test]
async fn operations_progress_and_resources_appear_only_when_done() {
    let emu = Emu::with(Config {
        latency: Latency::uniform(Duration::from_millis(600)),
        ..Config::default()
    })
    .await;
    let op = emu
        .call("networks", "insert", &[], Some(net("slow")))
        .await
        .ok();
    assert_ne!(op["status"], "DONE");
    assert!(op.get("endTime").is_none());
    let mut statuses = vec![op["status"].as_str().unwrap().to_string()];
    loop {
        let before = emu
            .call("networks", "get", &[("network", "slow")], None)
            .await;
        let now = emu.get_operation(&op).await;
        let status = now["status"].as_str().unwrap().to_string();
        if status != "DONE" {
            // The resource was read before this still-unfinished status, so it was absent.
            before.err(404, "notFound");
        }
        if statuses.last() != Some(&status) {
            statuses.push(status.clone());
        }
        if status == "DONE" {
            assert_eq!(now["progress"], 100);
            assert!(now["startTime"].is_string() && now["endTime"].is_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let order = ["PENDING", "RUNNING", "DONE"];
    let idx: Vec<usize> = statuses
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "statuses went {statuses:?}"
    );
    emu.call("networks", "get", &[("network", "slow")], None)
        .await
        .ok();

    // A second insert of a name whose insert is still running is a conflict already.
    let op2 = emu
        .call("networks", "insert", &[], Some(net("slow2")))
        .await
        .ok();
    emu.call("networks", "insert", &[], Some(net("slow2")))
        .await
        .err(409, "alreadyExists");
    // wait blocks until DONE.
    let waited = emu
        .call(
            "globalOperations",
            "wait",
            &[("operation", op2["name"].as_str().unwrap())],
            None,
        )
        .await
        .ok();
    assert_eq!(waited["status"], "DONE");
    emu.call("networks", "get", &[("network", "slow2")], None)
        .await
        .ok();

    // Deletes: the resource stays until the operation finishes.
    let del = emu
        .call("networks", "delete", &[("network", "slow")], None)
        .await
        .ok();
    let still = emu
        .call("networks", "get", &[("network", "slow")], None)
        .await;
    if emu.get_operation(&del).await["status"] != "DONE" {
        still.ok();
    }
    emu.wait_done(&del).await;
    emu.call("networks", "get", &[("network", "slow")], None)
        .await
        .err(404, "notFound");
    let ops = emu.call("globalOperations", "list", &[], None).await.ok();
    assert_eq!(ops["items"].as_array().unwrap().len(), 3);
    emu.stop().await;
}

#[tokio::test]
async fn operations_live_in_their_scope() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let op = emu.call("subnetworks", "insert", &[], Some(json!({"name": "s2", "network": "global/networks/net", "ipCidrRange": "10.5.0.0/24"}))).await.ok();
    assert_eq!(op["region"], link("regions/us-central1"));
    let name = op["name"].as_str().unwrap();
    emu.call("regionOperations", "get", &[("operation", name)], None)
        .await
        .ok();
    emu.call("globalOperations", "get", &[("operation", name)], None)
        .await
        .err(404, "notFound");
    emu.call(
        "regionOperations",
        "get",
        &[("operation", name), ("region", "europe-west1")],
        None,
    )
    .await
    .err(404, "notFound");
    emu.stop().await;
}

#[tokio::test]
async fn fault_injection_is_seeded_and_roughly_at_rate() {
    async fn run(seed: u64) -> Vec<u16> {
        let emu = Emu::with(Config {
            throttle_rate: 0.2,
            fault_rate: 0.1,
            seed: Some(seed),
            ..Config::default()
        })
        .await;
        let mut statuses = Vec::new();
        for _ in 0..300 {
            let r = emu.call("networks", "list", &[], None).await;
            match r.status {
                // Compute throttles with 403, never 429.
                403 => {
                    let reason = assert_error_shape(403, &r.body);
                    assert!(
                        ["rateLimitExceeded", "userRateLimitExceeded"].contains(&reason.as_str()),
                        "{reason}"
                    );
                    assert_eq!(r.body["error"]["errors"][0]["domain"], "usageLimits");
                }
                503 => assert_eq!(assert_error_shape(503, &r.body), "backendError"),
                200 => {}
                other => panic!("unexpected {other}"),
            }
            statuses.push(r.status);
        }
        emu.stop().await;
        statuses
    }
    let a = run(42).await;
    let faults = a.iter().filter(|s| **s != 200).count();
    assert!(
        (50..=130).contains(&faults),
        "{faults} faults in 300 at rate 0.3"
    );
    assert!(a.contains(&403) && a.contains(&503));
    assert_eq!(a, run(42).await, "same seed, same faults");
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = Config {
        state_file: Some(state.clone()),
        ..Config::default()
    };
    let emu = Emu::with(config.clone()).await;
    base_network(&emu).await;
    let before = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    let op = emu
        .call("networks", "insert", &[], Some(net("other")))
        .await
        .ok();
    emu.stop().await;

    let emu = Emu::with(config).await;
    let after = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    assert_eq!(before, after);
    let again = emu.get_operation(&op).await;
    assert_eq!(again["id"], op["id"]);
    let fresh = emu
        .mutate("networks", "insert", &[], Some(net("third")))
        .await;
    assert_ne!(fresh["targetId"], op["targetId"]);
    emu.stop().await;
}

#[tokio::test]
async fn operations_running_at_shutdown_finish_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Config {
        state_file: Some(dir.path().join("state.json")),
        latency: Latency::uniform(Duration::from_secs(600)),
        ..Config::default()
    };
    let emu = Emu::with(slow.clone()).await;
    let op = emu
        .call("networks", "insert", &[], Some(net("pending")))
        .await
        .ok();
    assert_ne!(op["status"], "DONE");
    emu.stop().await;

    let emu = Emu::with(slow).await;
    let done = emu.get_operation(&op).await;
    assert_eq!(done["status"], "DONE");
    emu.call("networks", "get", &[("network", "pending")], None)
        .await
        .ok();
    emu.stop().await;
}

#[tokio::test]
async fn patch_requires_current_fingerprint_where_compute_does() {
    let emu = Emu::start().await;
    base_network(&emu).await;
    let sub = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    let p = json!({"privateIpGoogleAccess": true});
    emu.call("subnetworks", "patch", &[("subnetwork", "sub")], Some(p))
        .await
        .err(412, "conditionNotMet");
    let p = json!({"privateIpGoogleAccess": true, "fingerprint": sub["fingerprint"]});
    emu.mutate("subnetworks", "patch", &[("subnetwork", "sub")], Some(p))
        .await;
    let after = emu
        .call("subnetworks", "get", &[("subnetwork", "sub")], None)
        .await
        .ok();
    assert_eq!(after["privateIpGoogleAccess"], true);
    assert_ne!(after["fingerprint"], sub["fingerprint"]);
    let p = json!({"ipCidrRange": "10.0.0.0/23", "fingerprint": after["fingerprint"]});
    emu.call("subnetworks", "patch", &[("subnetwork", "sub")], Some(p))
        .await
        .err(400, "invalid");
    emu.stop().await;
}

#[tokio::test]
async fn resource_manager_projects() {
    let emu = Emu::start().await;
    let create = json!({"projectId": "sandbox-123", "displayName": "Sandbox", "labels": {"owner": "terrace"}, "parent": "folders/42"});
    let op = emu
        .raw(reqwest::Method::POST, "v3/projects", Some(create.clone()))
        .await
        .ok();
    assert!(op["name"].as_str().unwrap().starts_with("operations/"));
    let id = op["name"]
        .as_str()
        .unwrap()
        .trim_start_matches("operations/")
        .to_string();
    let got = emu
        .raw(reqwest::Method::GET, &format!("v3/operations/{id}"), None)
        .await
        .ok();
    assert_eq!(got["done"], true);
    assert_eq!(got["response"]["projectId"], "sandbox-123");
    let p = emu
        .raw(reqwest::Method::GET, "v3/projects/sandbox-123", None)
        .await
        .ok();
    assert!(p["name"]
        .as_str()
        .unwrap()
        .strip_prefix("projects/")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(p["state"], "ACTIVE");
    assert_eq!(p["labels"]["owner"], "terrace");
    let by_number = emu
        .raw(
            reqwest::Method::GET,
            &format!("v3/{}", p["name"].as_str().unwrap()),
            None,
        )
        .await
        .ok();
    assert_eq!(by_number["projectId"], "sandbox-123");
    let dup = emu
        .raw(reqwest::Method::POST, "v3/projects", Some(create))
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error"]["status"], "ALREADY_EXISTS");
    let bad = emu
        .raw(
            reqwest::Method::POST,
            "v3/projects",
            Some(json!({"projectId": "X"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    emu.raw(reqwest::Method::DELETE, "v3/projects/sandbox-123", None)
        .await
        .ok();
    let p = emu
        .raw(reqwest::Method::GET, "v3/projects/sandbox-123", None)
        .await
        .ok();
    assert_eq!(p["state"], "DELETE_REQUESTED");
    // A project pending deletion refuses Compute calls (forseti-security#2878) until undeleted.
    let networks = "compute/v1/projects/sandbox-123/global/networks";
    let refused = emu.raw(reqwest::Method::GET, networks, None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"]["status"], "PERMISSION_DENIED");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Project sandbox-123 has been scheduled for deletion and cannot be used for API calls."
        ),
        "{message}"
    );
    // Named by its number, the same project is refused too.
    let by_number = format!("compute/v1/{}/global/networks", p["name"].as_str().unwrap());
    let refused = emu.raw(reqwest::Method::GET, &by_number, None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("has been scheduled for deletion"));
    emu.raw(
        reqwest::Method::POST,
        "v3/projects/sandbox-123:undelete",
        None,
    )
    .await
    .ok();
    // Active again: the call reaches the usual gate (Compute never enabled in this project).
    let again = emu.raw(reqwest::Method::GET, networks, None).await;
    assert_eq!(again.status, 403);
    assert_eq!(
        again.body["error"]["errors"][0]["reason"],
        "accessNotConfigured"
    );
    let unknown = emu
        .raw(reqwest::Method::GET, "v3/projects/nobody-here", None)
        .await;
    assert_eq!(unknown.status, 403);
    assert_eq!(unknown.body["error"]["status"], "PERMISSION_DENIED");
    emu.stop().await;
}

#[tokio::test]
async fn undeclared_request_fields_are_refused_like_google_does() {
    let emu = Emu::start().await;
    let path = "compute/v1/projects/p/global/networks";
    let body = json!({"name": "n1", "autoCreateSubnetworks": false, "bogus": 1});
    let r = emu.raw(reqwest::Method::POST, path, Some(body)).await;
    let msg = r.err(400, "invalid")["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("Unknown name \"bogus\" at 'resource'"),
        "{msg}"
    );
    let body = json!({"name": "n1", "autoCreateSubnetworks": "yes"});
    emu.raw(reqwest::Method::POST, path, Some(body))
        .await
        .err(400, "invalid");
    // int64/int32 as strings are accepted, as Google's JSON parser accepts them.
    let body = json!({"name": "n1", "autoCreateSubnetworks": false, "mtu": "1500"});
    emu.raw(
        reqwest::Method::POST,
        &format!("{path}?$alt=json"),
        Some(body),
    )
    .await
    .ok();
    let got = emu
        .raw(reqwest::Method::GET, &format!("{path}/n1"), None)
        .await
        .ok();
    assert_eq!(got["mtu"], 1500);
    emu.stop().await;
}

#[tokio::test]
async fn reset_clears_state() {
    let emu = Emu::start().await;
    emu.mutate("networks", "insert", &[], Some(net("n1"))).await;
    emu.raw(reqwest::Method::POST, "_emulator/reset", None)
        .await
        .ok();
    emu.call("networks", "get", &[("network", "n1")], None)
        .await
        .err(404, "notFound");
    emu.stop().await;
}

#[test]
fn binary_prints_its_address_and_honours_environment_knobs() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gce-emulator"))
        .args(["--listen", "127.0.0.1:0"])
        .env("GCE_EMULATOR_THROTTLE_RATE", "1")
        .env("GCE_EMULATOR_FAULT_SEED", "7")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn gce-emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line}"))
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("{url}/compute/v1/projects/p/global/networks"))
            .await
            .map(|r| r.status().as_u16())
    });
    let health = rt.block_on(async {
        reqwest::get(format!("{url}/_emulator/health"))
            .await
            .map(|r| r.status().as_u16())
    });
    child.kill().ok();
    child.wait().ok();
    assert!(
        matches!(status, Ok(403)),
        "throttle rate 1 must throttle: {status:?}"
    );
    assert_eq!(health.unwrap(), 200, "admin endpoints are not faulted");
}

/// A project created through Resource Manager is usable by Compute only once billing is
/// linked and `compute.googleapis.com` enabled, as on GCP: before, Compute answers 403
/// `accessNotConfigured` / `SERVICE_DISABLED` with its ErrorInfo metadata, and enabling the
/// service without billing is 400 `FAILED_PRECONDITION`. Project ids are global: a second
/// create is 409, and so is the create of a deleted project's id.
#[tokio::test]
async fn a_new_project_needs_billing_and_compute_enabled_and_its_id_is_never_reused() {
    let emu = Emu::start().await;
    emu.raw(
        reqwest::Method::POST,
        "v3/projects",
        Some(json!({"projectId": "db-eu-1a2b3c"})),
    )
    .await
    .ok();
    let networks = "compute/v1/projects/db-eu-1a2b3c/global/networks";
    let refused = emu.raw(reqwest::Method::GET, networks, None).await;
    assert_eq!(refused.status, 403);
    let error = &refused.body["error"];
    assert_eq!(error["status"], "PERMISSION_DENIED");
    assert_eq!(error["errors"][0]["reason"], "accessNotConfigured");
    assert_eq!(error["details"][0]["reason"], "SERVICE_DISABLED");
    assert_eq!(
        error["details"][0]["metadata"]["service"],
        "compute.googleapis.com"
    );
    assert_eq!(
        error["details"][0]["metadata"]["consumer"],
        "projects/db-eu-1a2b3c"
    );
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("has not been used in project db-eu-1a2b3c before or it is disabled"));

    let enable = "v1/projects/db-eu-1a2b3c/services/compute.googleapis.com:enable";
    let unbilled = emu
        .raw(reqwest::Method::POST, enable, Some(json!({})))
        .await;
    assert_eq!(unbilled.status, 400);
    assert_eq!(unbilled.body["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(
        unbilled.body["error"]["details"][0]["reason"],
        "UREQ_PROJECT_BILLING_NOT_FOUND"
    );

    let billing = emu
        .raw(
            reqwest::Method::PUT,
            "v1/projects/db-eu-1a2b3c/billingInfo",
            Some(json!({"billingAccountName": "billingAccounts/012345-6789AB-CDEF01"})),
        )
        .await
        .ok();
    assert_eq!(billing["billingEnabled"], true);
    let op = emu
        .raw(reqwest::Method::POST, enable, Some(json!({})))
        .await
        .ok();
    assert_eq!(op["done"], true);
    assert_eq!(op["response"]["service"]["state"], "ENABLED");
    let enabled = emu
        .raw(
            reqwest::Method::GET,
            "v1/projects/db-eu-1a2b3c/services?filter=state:ENABLED",
            None,
        )
        .await
        .ok();
    assert_eq!(
        enabled["services"][0]["name"],
        "projects/db-eu-1a2b3c/services/compute.googleapis.com"
    );
    emu.raw(reqwest::Method::POST, networks, Some(net("n1")))
        .await
        .ok();
    // The sandbox's base project, never created through Resource Manager, is open.
    let base = emu
        .raw(
            reqwest::Method::GET,
            "compute/v1/projects/p/global/networks",
            None,
        )
        .await;
    assert_eq!(base.status, 200);

    // Ids are global and never reused.
    let again = emu
        .raw(
            reqwest::Method::POST,
            "v3/projects",
            Some(json!({"projectId": "db-eu-1a2b3c"})),
        )
        .await;
    assert_eq!(again.status, 409);
    emu.raw(reqwest::Method::DELETE, "v3/projects/db-eu-1a2b3c", None)
        .await
        .ok();
    let deleted = emu
        .raw(
            reqwest::Method::POST,
            "v3/projects",
            Some(json!({"projectId": "db-eu-1a2b3c"})),
        )
        .await;
    assert_eq!(
        deleted.status, 409,
        "a deleted project's id is not re-creatable"
    );
    emu.stop().await;
}
