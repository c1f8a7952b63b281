//! Encrypted secrets through the library, on the in-process test provider: a secret config
//! value used in a template (inside text) and by reference reaches the provider in clear and
//! nothing else — plans, events, state, outputs — holds its plaintext; fresh nonces never show
//! as changes; a changed secret is an update shown as `[secret]`; a wrong key is an error.

mod support;

use std::sync::Arc;
use support::{edit, workspace, Engine};
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::events::EventSink;
use terrace::plan::Action;
use terrace::provider::Registry;
use terrace::secrets::Secrets;
use terrace::testing::TestOptions;
use terrace::value::Value;
use terrace::Error;

const PLAINTEXT: &str = "pw-Zq8!xK2#secret";

fn keeper(byte: u8) -> Arc<Secrets> {
    Arc::new(Secrets::from_key(&[byte; 32]))
}

fn open(engine: &Engine, secrets: Arc<Secrets>) -> Result<Terrace, Error> {
    let mut registry = Registry::new();
    registry.register(engine.provider.clone());
    Terrace::open_with_secrets(&engine.root, |_| Ok(registry), |_| Ok(Some(secrets)))
}

/// Sets `config.db_password` (encrypted) and uses it inside text and by reference.
fn with_secret(dir: &std::path::Path, secrets: &Secrets, value: &str) {
    let text = std::fs::read_to_string(dir.join("terrace.yaml")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.contains("db_password"))
        .map(str::to_string)
        .collect();
    let at = lines.iter().position(|l| l == "config:").unwrap();
    lines.insert(
        at + 1,
        format!("  db_password: {{secure: \"{}\"}}", secrets.encrypt(value)),
    );
    std::fs::write(dir.join("terrace.yaml"), lines.join("\n") + "\n").unwrap();
}

fn use_secret_in_templates(dir: &std::path::Path) {
    edit(
        dir,
        "templates/replicas/replica.yaml.tera",
        "      size: small\n",
        "      size: small\n      user_data: \"password={{ config.db_password }}\"\n",
    );
    edit(
        dir,
        "templates/replicas/replica.yaml.tera",
        "outputs:\n",
        "outputs:\n  password: ${config.db_password}\n",
    );
}

#[tokio::test]
async fn a_secret_reaches_the_provider_and_nothing_else() {
    let dir = workspace("basic");
    let secrets = keeper(1);
    with_secret(dir.path(), &secrets, PLAINTEXT);
    use_secret_in_templates(dir.path());
    let engine = Engine::new(dir.path(), TestOptions::default());
    let terrace = open(&engine, secrets.clone()).unwrap();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let plan_json = serde_json::to_string(&plan).unwrap();
    assert!(!plan_json.contains(PLAINTEXT));
    let db = plan.stack("replicas/eu/a").unwrap().changes[0].clone();
    assert!(matches!(
        db.after.as_ref().unwrap()["user_data"],
        Value::Secret(_)
    ));
    assert!(!format!("{db:?}").contains(PLAINTEXT));

    let (sink, mut events) = EventSink::collector();
    let summary = terrace
        .apply_with(plan, ApplyOptions::default(), sink)
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let mut printed = String::new();
    while let Ok(event) = events.try_recv() {
        printed.push_str(&serde_json::to_string(&event).unwrap());
    }
    assert!(printed.contains("resource_finished"));
    assert!(!printed.contains(PLAINTEXT));

    // The provider got the plaintext, inside the text of the template.
    let stored = engine.provider.cloud().list().unwrap();
    let instance = stored
        .iter()
        .find(|r| r.type_name == "test:Instance")
        .unwrap();
    assert_eq!(
        instance.properties["user_data"],
        format!("password={PLAINTEXT}")
    );
    // State and outputs hold it sealed only.
    let state = terrace.state("replicas/eu/a").await.unwrap().unwrap();
    let state_json = serde_json::to_string(&state).unwrap();
    assert!(!state_json.contains(PLAINTEXT));
    assert!(terrace::secrets::is_sealed(
        &state.resources["db"].inputs["user_data"]
    ));
    let outputs = terrace.outputs("replicas/eu/a").await.unwrap();
    assert!(terrace::secrets::is_sealed(&outputs["password"]));

    // Fresh nonces and the cloud's plaintext echo (refresh) are not changes.
    let again = open(&engine, secrets.clone())
        .unwrap()
        .plan(&PlanOptions::default())
        .await
        .unwrap();
    assert!(!again.has_changes(), "{:#?}", again.summary);
    assert!(!serde_json::to_string(&again).unwrap().contains(PLAINTEXT));
    let report = terrace
        .refresh(&Default::default(), std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(report.drift.is_empty(), "{report:#?}");

    // A new value is an update, shown as [secret] on both sides.
    with_secret(dir.path(), &secrets, "another-Secret-99");
    let changed = open(&engine, secrets.clone())
        .unwrap()
        .plan(&PlanOptions::default())
        .await
        .unwrap();
    let db = &changed.stack("replicas/eu/a").unwrap().changes[0];
    assert_eq!(db.action, Action::Update);
    assert_eq!(db.changed, vec!["user_data"]);
    let before = db.before.as_ref().unwrap()["user_data"].to_string();
    let after = db.after.as_ref().unwrap()["user_data"].to_string();
    assert_eq!((before.as_str(), after.as_str()), ("[secret]", "[secret]"));
    let json = serde_json::to_string(&changed).unwrap();
    assert!(!json.contains(PLAINTEXT) && !json.contains("another-Secret-99"));
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_error_and_no_key_is_one_too() {
    let dir = workspace("basic");
    with_secret(dir.path(), &keeper(1), PLAINTEXT);
    let engine = Engine::new(dir.path(), TestOptions::default());
    let err = open(&engine, keeper(2)).err().expect("a wrong key fails");
    assert!(matches!(err, Error::Secrets(_)), "{err}");
    assert!(
        err.to_string()
            .contains("config.db_password cannot be decrypted"),
        "{err}"
    );
    let mut registry = Registry::new();
    registry.register(engine.provider.clone());
    let err = Terrace::open_with_secrets(&engine.root, |_| Ok(registry), |_| Ok(None))
        .err()
        .expect("no key fails");
    assert!(
        err.to_string().contains("config.db_password is encrypted"),
        "{err}"
    );
}

#[tokio::test]
async fn several_secrets_in_one_text_are_each_substituted() {
    let dir = workspace("basic");
    let secrets = keeper(1);
    let text = std::fs::read_to_string(dir.path().join("terrace.yaml")).unwrap();
    let config = format!(
        "config:\n  pw: {{secure: \"{}\"}}\n  pw_long: {{secure: \"{}\"}}\n",
        secrets.encrypt("short-1"),
        secrets.encrypt("long-2")
    );
    std::fs::write(
        dir.path().join("terrace.yaml"),
        text.replace("config:\n", &config),
    )
    .unwrap();
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "      size: small\n",
        "      size: small\n      user_data: \"{{ config.pw_long }}/{{ config.pw }}/{{ config.image }}\"\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    let terrace = open(&engine, secrets).unwrap();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let summary = terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let stored = engine.provider.cloud().list().unwrap();
    let instance = stored
        .iter()
        .find(|r| r.type_name == "test:Instance")
        .unwrap();
    assert_eq!(instance.properties["user_data"], "long-2/short-1/db-16");
}

/// A secret the cloud generates (`FieldSchema::sensitive`, like a VPN connection's pre-shared
/// keys) is sealed by the engine before state, plans, events or outputs see it, and reaches a
/// resource that references it in clear; a sensitive input must come from a secret (written in
/// clear in a template, the plan is refused). Without a key, the plan is refused before any
/// call.
#[tokio::test]
async fn secrets_the_cloud_generates_are_sealed_and_need_a_key() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "outputs:\n",
        "  credential:\n    type: test:Credential\n    properties:\n      name: db\n      passphrase: \"{{ config.db_password }}\"\n  consumer:\n    type: test:Thing\n    properties:\n      value: ${credential.token}\noutputs:\n  token: ${credential.token}\n",
    );
    let text = std::fs::read_to_string(dir.path().join("terrace.yaml")).unwrap();
    std::fs::write(
        dir.path().join("terrace.yaml"),
        text.replace("config:\n", "config:\n  db_password: typed-In-Clear-77\n"),
    )
    .unwrap();
    let engine = Engine::new(dir.path(), TestOptions::default());
    let mut registry = Registry::new();
    registry.register(engine.provider.clone());
    let keyless = Terrace::open_with_secrets(&engine.root, |_| Ok(registry), |_| Ok(None)).unwrap();
    let refused = keyless.plan(&PlanOptions::default()).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("returns secrets (passphrase, token)")
            && refused.to_string().contains("terrace config init-secrets"),
        "{refused}"
    );
    assert!(engine.provider.cloud().list().unwrap().is_empty());

    let secrets = keeper(4);
    // Written in clear, a sensitive input is refused.
    let clear = open(&engine, secrets.clone())
        .unwrap()
        .plan(&PlanOptions::default())
        .await
        .unwrap_err();
    assert!(
        clear
            .to_string()
            .contains("`passphrase` of `test:Credential` is a secret and is written in clear"),
        "{clear}"
    );
    // From a secret config value, it is sealed everywhere.
    with_secret(dir.path(), &secrets, "typed-In-Clear-77");
    let terrace = open(&engine, secrets.clone()).unwrap();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let plan_json = serde_json::to_string(&plan).unwrap();
    assert!(!plan_json.contains("typed-In-Clear-77"), "{plan_json}");
    let (sink, mut events) = EventSink::collector();
    let summary = terrace
        .apply_with(plan, ApplyOptions::default(), sink)
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let stored = engine.provider.cloud().list().unwrap();
    // The provider got both in clear: the passphrase, and each token where it is referenced
    // (one credential and one consumer per replica).
    let credentials: Vec<_> = stored
        .iter()
        .filter(|r| r.type_name == "test:Credential")
        .collect();
    assert_eq!(credentials.len(), 2);
    let tokens: Vec<String> = credentials
        .iter()
        .map(|c| format!("generated-token-{}", c.id))
        .collect();
    for credential in &credentials {
        assert_eq!(credential.properties["passphrase"], "typed-In-Clear-77");
    }
    let consumed: std::collections::BTreeSet<String> = stored
        .iter()
        .filter(|r| {
            r.type_name == "test:Thing"
                && r.properties["value"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("generated-token-"))
        })
        .map(|r| r.properties["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(consumed, tokens.iter().cloned().collect());
    let mut printed = String::new();
    while let Ok(event) = events.try_recv() {
        printed.push_str(&serde_json::to_string(&event).unwrap());
    }
    let state = serde_json::to_string(&terrace.state("replicas/eu/a").await.unwrap()).unwrap();
    let outputs = terrace.outputs("replicas/eu/a").await.unwrap();
    for (place, text) in [
        ("events", printed),
        ("state", state),
        ("outputs", serde_json::to_string(&outputs).unwrap()),
    ] {
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "a token in clear in {place}"
            );
        }
        assert!(
            !text.contains("typed-In-Clear-77"),
            "the passphrase in clear in {place}"
        );
    }
    assert!(terrace::secrets::is_sealed(&outputs["token"]));
    let again = open(&engine, secrets)
        .unwrap()
        .plan(&PlanOptions::default())
        .await
        .unwrap();
    assert!(!again.has_changes(), "{:#?}", again.summary);
}
