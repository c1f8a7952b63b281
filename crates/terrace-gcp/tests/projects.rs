//! `gcp:resourcemanager:Project` against the emulator's Resource Manager v3: create, read
//! back, update in place, replace, delete, adoption of a repeated create; checked by plain
//! REST on `/v3/projects`.

mod common;

use common::{object, owner, Env};
use serde_json::{json, Value as Json};
use terrace::provider::{CreateRequest, Ownership, Provider, ReadRequest, UpdateRequest};

const TYPE: &str = "gcp:resourcemanager:Project";

async fn rest_project(env: &Env, id: &str) -> Json {
    let url = format!("{}/v3/projects/{id}", env.base());
    env.http
        .get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

fn props(id: &str, display: &str) -> Json {
    json!({"project_id": id, "parent": "organizations/4242", "display_name": display,
           "labels": {"team": "db"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_lifecycle() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let first = env
        .create(TYPE, None, "account", props("terrace-eu-one", "EU"))
        .await;
    assert_eq!(first.id, "terrace-eu-one");
    let rest = rest_project(&env, "terrace-eu-one").await;
    assert_eq!(rest["state"], json!("ACTIVE"), "{rest}");
    assert_eq!(rest["labels"]["team"], json!("db"));
    assert_eq!(rest["labels"]["terrace-resource"], json!("account"));
    assert_eq!(rest["parent"], json!("organizations/4242"));

    let read = env
        .read_ids(TYPE, None, std::slice::from_ref(&first.id))
        .await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].properties["display_name"], json!("EU"));
    assert_eq!(read[0].ownership, Some(owner("account")));

    // A repeated create of the same project (its answer was lost) adopts it.
    let again = env
        .create(TYPE, None, "account", props("terrace-eu-one", "EU"))
        .await;
    assert_eq!(again.id, first.id);
    let stranger = env
        .provider
        .create(CreateRequest {
            type_name: TYPE.into(),
            region: None,
            properties: object(props("terrace-eu-one", "EU")),
            ownership: owner("someone-else"),
            idempotency_key: "x".into(),
        })
        .await
        .expect_err("owned by another resource");
    assert_eq!(
        stranger.kind,
        terrace::provider::ErrorKind::Conflict,
        "{stranger:?}"
    );

    // Update in place: display name and labels.
    let mut new = props("terrace-eu-one", "EU primary");
    new["labels"] = json!({"team": "platform"});
    env.provider
        .update(UpdateRequest {
            type_name: TYPE.into(),
            region: None,
            id: first.id.clone(),
            old: object(props("terrace-eu-one", "EU")),
            new: object(new.clone()),
            ownership: owner("account"),
            idempotency_key: "u".into(),
        })
        .await
        .expect("update");
    let rest = rest_project(&env, "terrace-eu-one").await;
    assert_eq!(rest["displayName"], json!("EU primary"));
    assert_eq!(rest["labels"]["team"], json!("platform"));
    assert_eq!(
        rest["labels"]["terrace-stack"],
        json!("networks_seu_sgcp-europe-west3")
    );

    // Adoption: found by owner.
    let found = env
        .provider
        .read(ReadRequest {
            type_name: TYPE.into(),
            region: None,
            ids: vec![],
            owner: Some(Ownership {
                resource: String::new(),
                ..owner("")
            }),
        })
        .await
        .expect("read by owner");
    assert_eq!(found.len(), 1);

    // Replace: project_id forces a new project; the old one is deleted.
    let schema = env
        .provider
        .schemas()
        .into_iter()
        .find(|s| s.type_name == TYPE)
        .expect("schema");
    assert!(schema.field("project_id").expect("field").force_new);
    let second = env
        .create_with_key(
            TYPE,
            None,
            "account",
            props("terrace-eu-two", "EU"),
            "replace",
        )
        .await;
    env.delete(TYPE, None, &first.id).await;
    assert_eq!(
        rest_project(&env, "terrace-eu-one").await["state"],
        json!("DELETE_REQUESTED")
    );
    assert_eq!(
        rest_project(&env, "terrace-eu-two").await["state"],
        json!("ACTIVE")
    );
    let gone = env
        .read_ids(TYPE, None, std::slice::from_ref(&first.id))
        .await;
    assert!(gone.is_empty(), "{gone:?}");
    env.delete(TYPE, None, &second.id).await;
    assert_eq!(
        rest_project(&env, "terrace-eu-two").await["state"],
        json!("DELETE_REQUESTED")
    );
    // Deleting again succeeds.
    env.delete(TYPE, None, &second.id).await;
    env.stop().await;
}

/// Issue 13: a project is bootstrapped as GCP needs before Compute can be used in it — billing
/// linked, `compute.googleapis.com` enabled — and a provider configured for the project (a
/// stack's `providers.gcp.project`) creates its networks there. Without the bootstrap the
/// cloud's 403 `SERVICE_DISABLED` comes back as a refusal, never as "absent".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapped_project_takes_compute_resources_of_its_stacks() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let bare = env
        .create(TYPE, None, "bare", props("terrace-bare-one", "bare"))
        .await;
    let in_bare = env
        .provider
        .configure(&object(json!({"project": bare.id})))
        .unwrap();
    let refused = in_bare
        .create(CreateRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            properties: object(json!({"auto_create_subnetworks": false})),
            ownership: owner("network"),
            idempotency_key: "bare/network".into(),
        })
        .await
        .expect_err("compute is not enabled");
    assert_eq!(
        refused.kind,
        terrace::provider::ErrorKind::Denied,
        "{refused}"
    );
    assert!(
        refused.to_string().contains("has not been used in project"),
        "{refused}"
    );

    let mut desired = props("terrace-eu-two", "EU");
    desired["billing_account"] = json!("billingAccounts/012345-6789AB-CDEF01");
    desired["services"] = json!({"compute.googleapis.com": "ENABLED"});
    let project = env.create(TYPE, None, "project", desired).await;
    assert_eq!(
        project.properties["billing_account"],
        json!("billingAccounts/012345-6789AB-CDEF01")
    );
    assert_eq!(
        project.properties["services"]["compute.googleapis.com"],
        json!("ENABLED")
    );
    let url = format!("{}/v1/projects/terrace-eu-two/billingInfo", env.base());
    let billing: Json = env
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(billing["billingEnabled"], json!(true));

    let in_project = env
        .provider
        .configure(&object(json!({"project": "terrace-eu-two"})))
        .unwrap();
    let network = in_project
        .create(CreateRequest {
            type_name: "gcp:compute:Network".into(),
            region: None,
            properties: object(json!({"auto_create_subnetworks": false})),
            ownership: owner("network"),
            idempotency_key: "eu/network".into(),
        })
        .await
        .expect("compute works once bootstrapped");
    assert!(
        network.id.contains("/projects/terrace-eu-two/"),
        "{}",
        network.id
    );
    let listed: Json = env
        .http
        .get(format!(
            "{}/compute/v1/projects/terrace-eu-two/global/networks",
            env.base()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    env.stop().await;
}

/// Issue 13: with `random_suffix`, the project's id is `project_id` plus six hex digits drawn
/// from the create's idempotency key: the id is kept as the resource id, reads give the
/// template's `project_id` back, a retried create (same key) adopts the same project, and a
/// create under another key (another workspace) gets another id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_suffix_makes_the_project_id_the_workspaces_own() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let mut desired = props("terrace-db-eu", "EU");
    desired["random_suffix"] = json!(true);
    let first = env
        .create_with_key(
            TYPE,
            None,
            "project",
            desired.clone(),
            "ws-a/accounts/eu/gcp/project",
        )
        .await;
    let suffix = first.id.strip_prefix("terrace-db-eu-").expect("suffixed");
    assert_eq!(suffix.len(), 6, "{}", first.id);
    assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(first.properties["project_id"], json!("terrace-db-eu"));
    assert_eq!(first.properties["random_suffix"], json!(true));
    let read = env
        .read_ids(TYPE, None, std::slice::from_ref(&first.id))
        .await;
    assert_eq!(read[0].properties["project_id"], json!("terrace-db-eu"));
    assert!(read[0].properties["labels"]
        .get("terrace-id-suffix")
        .is_none());

    let retried = env
        .create_with_key(
            TYPE,
            None,
            "project",
            desired.clone(),
            "ws-a/accounts/eu/gcp/project",
        )
        .await;
    assert_eq!(retried.id, first.id, "a retry adopts its own project");
    let other = env
        .create_with_key(
            TYPE,
            None,
            "project",
            desired,
            "ws-b/accounts/eu/gcp/project",
        )
        .await;
    assert_ne!(other.id, first.id);
    assert!(other.id.starts_with("terrace-db-eu-"));
    env.stop().await;
}
