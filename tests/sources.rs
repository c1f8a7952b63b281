//! Workspaces from [`Sources`] (issue 16, the automation API without files): a group given in
//! code over a read-only directory, a workspace wholly in memory, located errors in text given
//! in memory, and no state written where the library may not write. The fixture directory is
//! read in place and compared byte for byte afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use terrace::config::group::{Group, Replica};
use terrace::config::Sources;
use terrace::engine::{ApplyOptions, PlanOptions, Selector, Terrace};
use terrace::events::EventSink;
use terrace::provider::Registry;
use terrace::state::memory::MemoryBackend;
use terrace::testing::{TestOptions, TestProvider};
use terrace::Error;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basic")
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(current) = todo.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn qa_group(name: &str) -> Group {
    Group {
        name: name.into(),
        residency: Some("EU".into()),
        replicas: vec![Replica {
            name: "a".into(),
            cloud: "test".into(),
            region: "eu-1".into(),
            zones: vec!["eu-1a".into()],
            nodes: 1,
            machine: None,
            vars: BTreeMap::new(),
            renamed_from: None,
        }],
        vars: BTreeMap::new(),
        rollout: None,
        file: PathBuf::new(),
        key_path: Vec::new(),
    }
}

fn open(sources: Sources, provider: &Arc<TestProvider>) -> Result<Terrace, Error> {
    let provider = provider.clone();
    Terrace::builder(sources, move |_| {
        let mut registry = Registry::new();
        registry.register(provider);
        Ok(registry)
    })
    .backend(Arc::new(MemoryBackend::new()))
    .open()
}

fn only(group: &str) -> Selector {
    Selector {
        groups: vec![group.into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_group_given_in_code_over_a_read_only_directory_is_applied_without_writing_there() {
    let before = snapshot(&fixture());
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let sources = Sources::read_only(fixture())
        .group(&qa_group("qa-1"))
        .unwrap();
    let terrace = open(sources, &provider).unwrap();
    let names: Vec<&str> = terrace
        .stacks(&only("qa-1"))
        .unwrap()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "accounts/qa-1/test",
            "networks/qa-1/a",
            "replicas/qa-1/a",
            "proxies/qa-1"
        ]
    );
    let options = PlanOptions {
        selector: only("qa-1"),
        ..Default::default()
    };
    let plan = terrace.plan(&options).await.unwrap();
    assert!(plan.summary.create > 0);
    let summary = terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let owned: Vec<String> = provider
        .cloud()
        .list()
        .unwrap()
        .iter()
        .map(|r| r.ownership.stack.clone())
        .collect();
    assert!(!owned.is_empty());
    assert!(owned.iter().all(|s| s.contains("/qa-1")), "{owned:?}");
    assert!(!terrace.plan(&options).await.unwrap().has_changes());
    assert!(
        snapshot(&fixture()) == before,
        "nothing written into the directory"
    );
}

#[tokio::test]
async fn a_workspace_wholly_in_memory_plans_like_the_same_files_on_disk() {
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let mut sources = Sources::memory();
    for (path, bytes) in snapshot(&fixture()) {
        let relative = path.strip_prefix(fixture()).unwrap().to_path_buf();
        sources = sources.file(relative, String::from_utf8(bytes).unwrap());
    }
    let in_memory = open(sources, &provider).unwrap();
    let on_disk = open(Sources::read_only(fixture()), &provider).unwrap();
    assert!(in_memory.workspace().root.as_os_str().is_empty());
    let memory_plan = in_memory.plan(&PlanOptions::default()).await.unwrap();
    let disk_plan = on_disk.plan(&PlanOptions::default()).await.unwrap();
    assert_eq!(memory_plan.summary.create, disk_plan.summary.create);
    assert_eq!(
        serde_json::to_value(&memory_plan.stacks).unwrap(),
        serde_json::to_value(&disk_plan.stacks).unwrap()
    );
}

#[test]
fn an_error_in_a_group_given_as_text_names_its_line() {
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let text = "residency: EU\nreplicas:\n  - name: a\n    cloud: test\n    region: mars-1\n    zones: [mars-1a]\n";
    let sources = Sources::read_only(fixture()).group_yaml("qa-2", text);
    let terrace = open(sources, &provider).unwrap();
    let err = terrace.stacks(&only("qa-2")).unwrap_err();
    let Error::Invalid(diagnostics) = err else {
        panic!("an input error, not {err:?}");
    };
    let first = &diagnostics.0[0];
    assert_eq!(first.location.file, Path::new("groups/qa-2.yaml"));
    assert_eq!(first.location.line, Some(5), "{first:?}");
    assert!(first.message.contains("mars-1"), "{}", first.message);
    // The other groups still open.
    assert!(terrace.stacks(&only("eu")).is_ok());
}

#[test]
fn state_is_never_written_into_a_read_only_directory_by_default() {
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let registry = move |_: &terrace::config::Workspace| {
        let mut registry = Registry::new();
        registry.register(provider.clone());
        Ok(registry)
    };
    let err = Terrace::builder(Sources::read_only(fixture()), registry)
        .open()
        .err()
        .expect("the default file:// state is refused");
    assert!(err.to_string().contains("give a backend"), "{err}");
    assert!(!fixture().join(".terrace").exists());
}

/// The secrets API in the library: a control plane keeps terrace.yaml in memory, creates the
/// key and seals a config value with `terrace::edit` (what `config set --secret` does); the
/// value reaches the provider and nowhere else — not the settings text, not the plan.
#[tokio::test]
async fn a_secret_set_through_the_library_reaches_the_provider_only() {
    use terrace::edit;
    use terrace::secrets::Secrets;
    const SECRET: &str = "image-only-the-cloud-sees-7f3a";
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let settings = std::fs::read_to_string(fixture().join("terrace.yaml")).unwrap();
    let (key, material) = Secrets::new_passphrase_with("control plane passphrase").unwrap();
    let settings = edit::set_secrets_key(&settings, &material).unwrap();
    let settings = edit::set_config_secret(&settings, "image", SECRET, &key).unwrap();
    assert!(!settings.contains(SECRET), "{settings}");
    assert!(
        settings.contains("# An engine-test workspace"),
        "comments are kept"
    );
    let sources = Sources::read_only(fixture()).file("terrace.yaml", settings);
    let provider_for_open = provider.clone();
    let terrace = Terrace::builder(sources, move |_| {
        let mut registry = Registry::new();
        registry.register(provider_for_open);
        Ok(registry)
    })
    .secrets(Some(Arc::new(key)))
    .backend(Arc::new(MemoryBackend::new()))
    .open()
    .unwrap();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let shown = serde_json::to_string(&plan).unwrap();
    assert!(!shown.contains(SECRET), "the plan never holds the secret");
    let summary = terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let images: Vec<String> = provider
        .cloud()
        .list()
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.properties
                .get("image")
                .and_then(|v| v.as_str())
                .map(String::from)
        })
        .collect();
    assert!(
        !images.is_empty() && images.iter().all(|i| i == SECRET),
        "{images:?}"
    );
    // A plain value goes through the same edit, checked the same way.
    let text = edit::set_config_value("name: w\n", "db_port", &edit::parse_value("6432")).unwrap();
    assert_eq!(text, "name: w\nconfig:\n  db_port: 6432\n");
    assert!(edit::set_config_value("name: w\n", "bad key", &serde_json::json!(1)).is_err());
}
