//! Org Policy v2 on a project and `constraints/gcp.resourceLocations` enforced on Compute:
//! the policy API's answers and errors, then inserts of regional and zonal resources inside
//! and outside the allowed locations, and global resources left alone.

mod common;

use common::Emu;
use reqwest::Method;
use serde_json::{json, Value};

const P: &str = "db-eu-0a1b2c";
const POLICIES: &str = "v2/projects/db-eu-0a1b2c/policies";
const POLICY: &str = "v2/projects/db-eu-0a1b2c/policies/gcp.resourceLocations";

/// A project created through Resource Manager, billed and with Compute enabled.
async fn project(emu: &Emu) -> String {
    let op = emu
        .raw(Method::POST, "v3/projects", Some(json!({"projectId": P})))
        .await
        .ok();
    let number = op["response"]["name"].as_str().expect("name").to_string();
    emu.raw(
        Method::PUT,
        &format!("v1/projects/{P}/billingInfo"),
        Some(json!({"billingAccountName": "billingAccounts/012345-6789AB-CDEF01"})),
    )
    .await
    .ok();
    emu.raw(
        Method::POST,
        &format!("v1/projects/{P}/services/compute.googleapis.com:enable"),
        Some(json!({})),
    )
    .await
    .ok();
    number.trim_start_matches("projects/").to_string()
}

fn policy(values: &[&str]) -> Value {
    json!({"name": format!("projects/{P}/policies/gcp.resourceLocations"),
           "spec": {"rules": [{"values": {"allowedValues": values}}]}})
}

fn refused(reply: common::Reply, status: u16, name: &str) -> String {
    assert_eq!(reply.status, status, "{:#}", reply.body);
    assert_eq!(reply.body["error"]["code"], status, "{:#}", reply.body);
    assert_eq!(reply.body["error"]["status"], name, "{:#}", reply.body);
    reply.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn policies_are_created_read_listed_updated_and_deleted_with_googles_errors() {
    let emu = Emu::start().await;
    let number = project(&emu).await;

    let created = emu
        .raw(Method::POST, POLICIES, Some(policy(&["in:eu-locations"])))
        .await
        .ok();
    // Answers name the project by number and carry the server's etag and update time.
    assert_eq!(
        created["name"],
        format!("projects/{number}/policies/gcp.resourceLocations")
    );
    assert_eq!(
        created["spec"]["rules"][0]["values"]["allowedValues"],
        json!(["in:eu-locations"])
    );
    assert!(created["spec"]["etag"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert!(created["spec"]["updateTime"].is_string());
    let by_number = format!("v2/projects/{number}/policies/gcp.resourceLocations");
    assert_eq!(emu.raw(Method::GET, &by_number, None).await.ok(), created);
    let listed = emu.raw(Method::GET, POLICIES, None).await.ok();
    assert_eq!(listed["policies"], json!([created.clone()]));

    let twice = emu
        .raw(Method::POST, POLICIES, Some(policy(&["in:eu-locations"])))
        .await;
    let message = refused(twice, 409, "ALREADY_EXISTS");
    assert_eq!(message, "Requested entity already exists");

    // Unknown constraint, malformed values, unknown fields, a project that is not there.
    let mut unknown = policy(&["in:eu-locations"]);
    unknown["name"] = json!(format!("projects/{P}/policies/compute.noSuchThing"));
    refused(
        emu.raw(Method::POST, POLICIES, Some(unknown)).await,
        404,
        "NOT_FOUND",
    );
    for bad in [
        policy(&["in:mars-locations"]),
        policy(&["europe-west99"]),
        json!({"name": format!("projects/{P}/policies/gcp.resourceLocations"),
               "spec": {"rules": [{"enforce": true}]}}),
        json!({"name": format!("projects/{P}/policies/gcp.resourceLocations"), "specs": {}}),
        json!({"name": "projects/other-project/policies/gcp.resourceLocations"}),
    ] {
        let reply = emu.raw(Method::PATCH, POLICY, Some(bad.clone())).await;
        refused(reply, 400, "INVALID_ARGUMENT");
    }
    let missing = emu
        .raw(
            Method::POST,
            "v2/projects/no-such-project/policies",
            Some(policy(&["in:eu-locations"])),
        )
        .await;
    assert!(refused(missing, 403, "PERMISSION_DENIED").contains("(or it may not exist)"));

    // PATCH overwrites the spec; a stale etag is ABORTED.
    let updated = emu
        .raw(
            Method::PATCH,
            POLICY,
            Some(policy(&["in:europe-west3-locations"])),
        )
        .await
        .ok();
    assert_eq!(
        updated["spec"]["rules"][0]["values"]["allowedValues"],
        json!(["in:europe-west3-locations"])
    );
    assert_ne!(updated["etag"], created["etag"]);
    let mut stale = policy(&["in:eu-locations"]);
    stale["etag"] = created["etag"].clone();
    refused(
        emu.raw(Method::PATCH, POLICY, Some(stale)).await,
        409,
        "ABORTED",
    );

    emu.raw(Method::DELETE, POLICY, None).await.ok();
    refused(emu.raw(Method::GET, POLICY, None).await, 404, "NOT_FOUND");
    refused(
        emu.raw(Method::DELETE, POLICY, None).await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(emu.raw(Method::GET, POLICIES, None).await.ok(), json!({}));
    emu.stop().await;
}

fn compute(path: &str) -> String {
    format!("compute/v1/projects/{P}/{path}")
}

fn vm(zone: &str, subnet: &str) -> Value {
    json!({
        "name": format!("vm-{zone}"),
        "machineType": format!("zones/{zone}/machineTypes/e2-small"),
        "disks": [{"boot": true, "autoDelete": true,
                   "initializeParams": {"sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
        "networkInterfaces": [{"subnetwork": subnet}],
    })
}

/// The 412 Compute answers for an insert outside the allowed locations.
fn violation(reply: common::Reply, location: &str, resource: &str) {
    assert_eq!(reply.status, 412, "{:#}", reply.body);
    let error = &reply.body["error"];
    assert_eq!(error["status"], "FAILED_PRECONDITION");
    assert_eq!(error["errors"][0]["reason"], "conditionNotMet");
    assert_eq!(
        error["message"],
        format!(
            "Location {location} violates constraint constraints/gcp.resourceLocations on the resource projects/{P}/{resource}."
        )
    );
}

#[tokio::test]
async fn compute_inserts_outside_the_allowed_locations_are_refused_as_compute_refuses_them() {
    let emu = Emu::start().await;
    project(&emu).await;
    emu.raw(Method::POST, POLICIES, Some(policy(&["in:eu-locations"])))
        .await
        .ok();

    // Global resources are not restricted.
    let net = json!({"name": "net", "autoCreateSubnetworks": false});
    emu.raw(Method::POST, &compute("global/networks"), Some(net))
        .await
        .ok();
    let fw = json!({"name": "fw", "network": "global/networks/net",
                    "allowed": [{"IPProtocol": "tcp", "ports": ["5432"]}],
                    "sourceRanges": ["10.0.0.0/8"]});
    emu.raw(Method::POST, &compute("global/firewalls"), Some(fw))
        .await
        .ok();

    // Regional: us-east1 is outside the EU, europe-west3 inside.
    let subnet = |region: &str| {
        json!({"name": format!("sub-{region}"), "network": "global/networks/net",
               "ipCidrRange": if region == "us-east1" { "10.1.0.0/24" } else { "10.2.0.0/24" }})
    };
    let outside = emu
        .raw(
            Method::POST,
            &compute("regions/us-east1/subnetworks"),
            Some(subnet("us-east1")),
        )
        .await;
    violation(
        outside,
        "REGION:us-east1",
        "regions/us-east1/subnetworks/sub-us-east1",
    );
    let listed = emu
        .raw(Method::GET, &compute("regions/us-east1/subnetworks"), None)
        .await
        .ok();
    assert!(listed.get("items").is_none(), "nothing created: {listed:#}");
    emu.raw(
        Method::POST,
        &compute("regions/europe-west3/subnetworks"),
        Some(subnet("europe-west3")),
    )
    .await
    .ok();

    // Zonal.
    let refused = emu
        .raw(
            Method::POST,
            &compute("zones/us-east1-b/instances"),
            Some(vm(
                "us-east1-b",
                "regions/europe-west3/subnetworks/sub-europe-west3",
            )),
        )
        .await;
    violation(
        refused,
        "ZONE:us-east1-b",
        "zones/us-east1-b/instances/vm-us-east1-b",
    );
    let inside = emu
        .raw(
            Method::POST,
            &compute("zones/europe-west3-a/instances"),
            Some(vm(
                "europe-west3-a",
                "regions/europe-west3/subnetworks/sub-europe-west3",
            )),
        )
        .await;
    assert_eq!(inside.status, 200, "{:#}", inside.body);

    // A narrower policy (one region) refuses another EU region; deleting it lifts the limit.
    emu.raw(
        Method::PATCH,
        POLICY,
        Some(policy(&["in:europe-west3-locations"])),
    )
    .await
    .ok();
    let frankfurt_only = emu
        .raw(
            Method::POST,
            &compute("regions/europe-west1/subnetworks"),
            Some(subnet("europe-west1")),
        )
        .await;
    violation(
        frankfurt_only,
        "REGION:europe-west1",
        "regions/europe-west1/subnetworks/sub-europe-west1",
    );
    emu.raw(Method::DELETE, POLICY, None).await.ok();
    let mut us = subnet("us-east1");
    us["name"] = json!("sub-us-later");
    emu.raw(
        Method::POST,
        &compute("regions/us-east1/subnetworks"),
        Some(us),
    )
    .await
    .ok();
    emu.stop().await;
}
