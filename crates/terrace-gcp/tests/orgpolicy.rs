//! `gcp:orgpolicy:Policy` against the emulator's Org Policy v2: create, read back with no
//! difference from the desired properties once normalised (what a plan compares), update of
//! the allowed values, delete; a second create of the constraint on the project surfaced as
//! a conflict. Every effect is checked by plain REST on `/v2/projects/{p}/policies`.

mod common;

use common::{object, Env};
use serde_json::{json, Value as Json};
use terrace::provider::{CreateRequest, ErrorKind, Provider, UpdateRequest};

const TYPE: &str = "gcp:orgpolicy:Policy";
const PROJECT: &str = "db-eu-5e6f7a";
const ID: &str = "projects/db-eu-5e6f7a/policies/gcp.resourceLocations";

fn props(values: &[&str]) -> Json {
    json!({"parent": format!("projects/{PROJECT}"),
           "constraint": "constraints/gcp.resourceLocations",
           "spec": {"rules": [{"values": {"allowed_values": values}}]}})
}

async fn rest_policy(env: &Env) -> (u16, Json) {
    let url = format!("{}/v2/{ID}", env.base());
    let reply = env.http.get(url).send().await.expect("get");
    let status = reply.status().as_u16();
    (status, reply.json().await.expect("json"))
}

/// The desired properties as the engine compares them: each field normalised.
fn normalised(env: &Env, desired: &Json) -> Json {
    let map: serde_json::Map<String, Json> = desired
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| {
            let v = env.provider.normalize(TYPE, k, v).unwrap_or(v.clone());
            (k.clone(), v)
        })
        .collect();
    Json::Object(map)
}

async fn create(
    env: &Env,
    desired: &Json,
) -> Result<terrace::provider::Observed, terrace::provider::ProviderError> {
    env.provider
        .create(CreateRequest {
            type_name: TYPE.into(),
            region: None,
            properties: object(normalised(env, desired)),
            ownership: common::owner("location-guard"),
            idempotency_key: "k".into(),
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_lifecycle_with_an_empty_diff_after_apply() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let url = format!("{}/v3/projects", env.base());
    let made = env
        .http
        .post(url)
        .json(&json!({"projectId": PROJECT}))
        .send()
        .await
        .expect("create project");
    assert!(made.status().is_success());

    // Values out of order and repeated: the plan compares the normalised form.
    let desired = props(&[
        "in:europe-west3-locations",
        "in:europe-west1-locations",
        "in:europe-west3-locations",
    ]);
    let created = create(&env, &desired).await.expect("create");
    assert_eq!(created.id, ID);
    let (status, rest) = rest_policy(&env).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(
        rest["spec"]["rules"][0]["values"]["allowedValues"],
        json!(["in:europe-west1-locations", "in:europe-west3-locations"])
    );
    assert!(rest["name"]
        .as_str()
        .unwrap()
        .ends_with("/policies/gcp.resourceLocations"));

    // Read back (refresh / import): the properties are the desired ones exactly, so a plan
    // after apply is empty; etag and update time are attributes.
    let read = env.read_ids(TYPE, None, &[ID.to_string()]).await;
    assert_eq!(read.len(), 1);
    assert_eq!(
        Json::Object(read[0].properties.clone()),
        normalised(&env, &desired)
    );
    assert!(read[0].properties["spec"].get("etag").is_none());
    assert_eq!(read[0].attributes["etag"], rest["etag"]);
    assert_eq!(read[0].attributes["name"], rest["name"]);

    // Update: the allowed values change in place.
    let newer = props(&["in:eu-locations"]);
    let updated = env
        .provider
        .update(UpdateRequest {
            type_name: TYPE.into(),
            region: None,
            id: ID.into(),
            old: object(normalised(&env, &desired)),
            new: object(normalised(&env, &newer)),
            ownership: common::owner("location-guard"),
            idempotency_key: "u".into(),
        })
        .await
        .expect("update");
    assert_eq!(
        Json::Object(updated.properties.clone()),
        normalised(&env, &newer)
    );
    let (_, rest) = rest_policy(&env).await;
    assert_eq!(
        rest["spec"]["rules"][0]["values"]["allowedValues"],
        json!(["in:eu-locations"])
    );

    // A second create: the same spec (a retry whose answer was lost) adopts the policy;
    // another spec is a conflict that says what to do.
    let again = create(&env, &newer)
        .await
        .expect("identical policy adopted");
    assert_eq!(again.id, ID);
    let other = create(&env, &props(&["in:us-locations"]))
        .await
        .expect_err("a policy of the constraint exists");
    assert_eq!(other.kind, ErrorKind::Conflict, "{other:?}");
    assert!(
        other.message.contains("already set on the project")
            && other.message.contains("HTTP 409")
            && other.message.contains(ID),
        "{}",
        other.message
    );
    let (_, rest) = rest_policy(&env).await;
    assert_eq!(
        rest["spec"]["rules"][0]["values"]["allowedValues"],
        json!(["in:eu-locations"]),
        "the conflicting create changed nothing"
    );

    // Delete; again is a no-op; the read finds nothing.
    env.delete(TYPE, None, ID).await;
    assert_eq!(rest_policy(&env).await.0, 404);
    env.delete(TYPE, None, ID).await;
    assert!(env.read_ids(TYPE, None, &[ID.to_string()]).await.is_empty());

    // Bad input is one clear error before any call.
    let bad = create(
        &env,
        &json!({"parent": format!("projects/{PROJECT}"),
        "constraint": "gcp.resourceLocations",
        "spec": {"rules": [{"values": {"allowed_values": ["eu"]}, "deny_all": true}]}}),
    )
    .await
    .expect_err("two kinds in one rule");
    assert_eq!(bad.kind, ErrorKind::Invalid);
    assert!(bad.message.contains("spec.rules[0]"), "{}", bad.message);
    env.stop().await;
}
