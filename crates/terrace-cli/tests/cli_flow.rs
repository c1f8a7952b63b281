//! The CLI as a pipeline sees it: exit codes, saved plans, unattended refusal, locks between
//! processes, SIGKILL at random points, graph and state commands. Uses the `terrace` binary on
//! the test provider (its fake cloud lives in the workspace, shared between processes).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::{assert_exactly_one_wins, delays, edit, stderr, stdout, terrace, workspace};
use terrace::testing::{FakeCloud, StoredResource};

fn cloud(dir: &std::path::Path) -> Vec<StoredResource> {
    FakeCloud::in_dir(dir.join(".terrace/test-cloud"))
        .list()
        .unwrap()
}

fn set_latency(dir: &std::path::Path, ms: u64) {
    edit(
        dir,
        "terrace.yaml",
        "    settings: {}",
        &format!("    settings: {{latency_ms: {ms}}}"),
    );
}

#[test]
fn detailed_exit_codes_and_a_saved_plan_applied_exactly() {
    let dir = workspace("basic");
    let plan = terrace(
        dir.path(),
        &["plan", "--detailed-exitcode", "--out", "plan.json"],
    );
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert!(stdout(&plan).contains("Plan: 9 to create"));
    let apply = terrace(dir.path(), &["apply", "plan.json"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert_eq!(cloud(dir.path()).len(), 9);
    let again = terrace(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    // The saved plan is now stale: applying it again is refused before anything runs.
    let stale = terrace(dir.path(), &["apply", "plan.json"]);
    assert_eq!(stale.status.code(), Some(5));
    assert!(
        stderr(&stale).contains("the plan no longer holds for stack accounts/eu/test"),
        "{}",
        stderr(&stale)
    );
    assert_eq!(cloud(dir.path()).len(), 9);
}

#[test]
fn json_plan_is_versioned_and_events_are_ndjson() {
    let dir = workspace("basic");
    let plan = terrace(dir.path(), &["plan", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["summary"]["create"], 9);
    let subnet_ids = &doc["stacks"][1]["outputs"]["subnet_ids"]["after"][0];
    assert!(
        subnet_ids["$unknown"].is_string(),
        "unknowns are typed in JSON: {subnet_ids}"
    );
    let apply = terrace(dir.path(), &["apply", "--yes", "--json"]);
    assert_eq!(apply.status.code(), Some(0));
    let events: Vec<serde_json::Value> = stdout(&apply)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON event"))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "apply_started");
    assert_eq!(events.last().unwrap()["event"], "apply_finished");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "resource_finished")
            .count(),
        9
    );
}

#[test]
fn unattended_apply_without_yes_is_refused() {
    let dir = workspace("basic");
    let output = Command::new(env!("CARGO_BIN_EXE_terrace"))
        .args(["-C", dir.path().to_str().unwrap(), "apply"])
        .env("TERRACE_TEST_PROVIDER", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("refusing to change infrastructure unattended"),
        "{}",
        stderr(&output)
    );
    assert!(cloud(dir.path()).is_empty());
}

#[test]
fn processes_racing_for_one_stack_exactly_one_wins() {
    let dir = workspace("basic");
    set_latency(dir.path(), 3000);
    let plan = terrace(
        dir.path(),
        &["plan", "--stack", "accounts/eu/test", "--out", "plan.json"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_terrace"))
                .args(["-C", dir.path().to_str().unwrap(), "apply", "plan.json"])
                .env("TERRACE_TEST_PROVIDER", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert_exactly_one_wins(&outputs);
    let locked = outputs
        .iter()
        .find(|o| o.status.code() == Some(4))
        .expect("at least one saw the lock");
    assert!(stderr(locked).contains("locked by"), "{}", stderr(locked));
    assert_eq!(cloud(dir.path()).len(), 1, "one account, not four");
}

#[test]
fn a_held_lock_is_waited_for_then_reported_with_its_holder_and_can_be_unlocked() {
    let dir = workspace("basic");
    let backend = terrace::state::file::FileBackend::new(dir.path().join(".terrace/state"));
    let holder = terrace::state::LockInfo::for_operation("held-by-test");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(terrace::state::Backend::lock(
            &backend,
            "accounts/eu/test",
            &holder,
        ))
        .unwrap();
    let started = std::time::Instant::now();
    let output = terrace(
        dir.path(),
        &[
            "apply",
            "--yes",
            "--stack",
            "accounts/eu/test",
            "--lock-timeout",
            "1s",
        ],
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for the lock"
    );
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("pid {}", std::process::id()))
            && message.contains("held-by-test"),
        "{message}"
    );
    let list = terrace(dir.path(), &["state", "list"]);
    assert!(
        stdout(&list).is_empty() || !stdout(&list).contains("accounts/eu/test  serial"),
        "no state was written"
    );
    // The holder (this test process) still runs: only a forced unlock removes its lock.
    let refused = terrace(dir.path(), &["state", "unlock", "accounts/eu/test"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let unlock = terrace(
        dir.path(),
        &["state", "unlock", "--force", "accounts/eu/test"],
    );
    assert!(
        stdout(&unlock).contains("held-by-test"),
        "{}",
        stdout(&unlock)
    );
    let output = terrace(
        dir.path(),
        &["apply", "--yes", "--stack", "accounts/eu/test"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn sigkill_at_random_points_never_corrupts_state_or_duplicates_resources() {
    let dir = workspace("basic");
    set_latency(dir.path(), 40);
    for delay in delays(7, 10, 0, 700) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_terrace"))
            .args(["-C", dir.path().to_str().unwrap(), "apply", "--yes"])
            .env("TERRACE_TEST_PROVIDER", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().ok();
        child.wait().unwrap();
        // Every state still reads.
        let list = terrace(dir.path(), &["state", "list", "--json"]);
        assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
        for row in rows {
            let show = terrace(
                dir.path(),
                &["state", "show", row["stack"].as_str().unwrap()],
            );
            assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
        }
    }
    let finish = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(
        finish.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&finish),
        stderr(&finish)
    );
    let resources = cloud(dir.path());
    let mut owners: Vec<String> = resources
        .iter()
        .map(|r| format!("{}:{}", r.ownership.stack, r.ownership.resource))
        .collect();
    owners.sort();
    let before = owners.len();
    owners.dedup();
    assert_eq!(
        before,
        owners.len(),
        "a resource was duplicated: {owners:?}"
    );
    assert_eq!(owners.len(), 9, "{owners:?}");
    let plan = terrace(dir.path(), &["plan", "--detailed-exitcode"]);
    if plan.status.code() != Some(0) {
        let state = stdout(&terrace(dir.path(), &["state", "show", "replicas/eu/a"]));
        let journal =
            std::fs::read_to_string(dir.path().join(".terrace/state/replicas/eu/a.journal"))
                .unwrap_or_default();
        panic!("state does not match the cloud:\n{}\nfinal apply:\n{}\nstate:\n{state}\njournal:\n{journal}\ncloud: {owners:?}", stdout(&plan), stderr(&finish));
    }
}

#[test]
fn graph_formats_and_plan_colouring() {
    let dir = workspace("basic");
    let dot = stdout(&terrace(dir.path(), &["graph"]));
    assert!(dot.starts_with("digraph terrace {"));
    assert!(dot.contains("\"networks/eu/a\" -> \"replicas/eu/a\";"));
    assert!(dot.contains("\"replicas/eu/b\" -> \"proxies/eu\";"));
    let mermaid = stdout(&terrace(dir.path(), &["graph", "--format", "mermaid"]));
    assert!(mermaid.contains("accounts_eu_test --> networks_eu_a"));
    let json: serde_json::Value = serde_json::from_slice(
        &terrace(dir.path(), &["graph", "--format", "json", "--plan"]).stdout,
    )
    .unwrap();
    assert_eq!(json["nodes"][0]["action"], "create");
    // accounts → 2 networks → 2 replicas → 1 proxy.
    assert_eq!(json["edges"].as_array().unwrap().len(), 6);
    let resources = stdout(&terrace(
        dir.path(),
        &["graph", "--resources", "--stack", "networks/eu/a"],
    ));
    assert!(resources.contains("label=\"networks/eu/a\""), "{resources}");
    assert!(
        resources.contains("\"networks/eu/a:vpc\" -> \"networks/eu/a:subnet-eu-1a\";"),
        "{resources}"
    );
}

#[test]
fn outputs_and_state_commands() {
    let dir = workspace("basic");
    assert_eq!(
        terrace(dir.path(), &["apply", "--yes"]).status.code(),
        Some(0)
    );
    let endpoint = stdout(&terrace(dir.path(), &["output", "proxies/eu", "endpoint"]));
    assert!(endpoint.trim().ends_with(".lb.test.invalid"), "{endpoint}");
    let missing = terrace(dir.path(), &["output", "proxies/eu", "endpont"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("did you mean `endpoint`?"));
    let show: serde_json::Value =
        serde_json::from_slice(&terrace(dir.path(), &["state", "show", "networks/eu/a"]).stdout)
            .unwrap();
    assert_eq!(show["serial"], 1);
    assert_eq!(show["resources"].as_object().unwrap().len(), 3);
    assert!(show["lineage"].is_string());
}

#[test]
fn state_mv_and_rm_from_the_command_line() {
    let dir = workspace("basic");
    assert_eq!(
        terrace(dir.path(), &["apply", "--yes"]).status.code(),
        Some(0)
    );
    let before = cloud(dir.path()).len();
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "resources:\n  db:",
        "resources:\n  database:",
    );
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "${db.private_ip}",
        "${database.private_ip}",
    );
    let typo = terrace(
        dir.path(),
        &["state", "mv", "replicas/eu/a:bd", "replicas/eu/a:database"],
    );
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("did you mean `db`?"),
        "{}",
        stderr(&typo)
    );
    let mv = terrace(
        dir.path(),
        &["state", "mv", "replicas/eu/a:db", "replicas/eu/a:database"],
    );
    assert_eq!(mv.status.code(), Some(0), "{}", stderr(&mv));
    assert!(stdout(&mv).contains("the cloud was not touched"));
    let plan = terrace(dir.path(), &["plan", "--json", "--stack", "replicas/eu/a"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let changes = plan["stacks"][0]["changes"].as_array().unwrap();
    assert!(
        changes.iter().all(|c| c["action"] == "no-op"),
        "the moved entry is the same node: {changes:#?}"
    );
    let rm = terrace(dir.path(), &["state", "rm", "replicas/eu/a:database"]);
    assert_eq!(rm.status.code(), Some(0), "{}", stderr(&rm));
    assert!(stdout(&rm).contains("no longer managed"));
    assert_eq!(
        cloud(dir.path()).len(),
        before,
        "state commands never touch the cloud"
    );
}

#[test]
fn ctrl_c_stops_gracefully_and_releases_locks() {
    let dir = workspace("basic");
    set_latency(dir.path(), 300);
    let child = Command::new(env!("CARGO_BIN_EXE_terrace"))
        .args(["-C", dir.path().to_str().unwrap(), "apply", "--yes"])
        .env("TERRACE_TEST_PROVIDER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first create is in flight (its pending record is journalled).
    let journal = dir.path().join(".terrace/state/accounts/eu/test.journal");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !journal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(journal.exists(), "the apply never started");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Interrupted: finishing the operations in flight"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("not started: the apply was interrupted"),
        "{}",
        stdout(&output)
    );
    let locks = dir.path().join(".terrace/state/.locks");
    let held: Vec<_> = walk(&locks);
    assert!(held.is_empty(), "locks left behind: {held:?}");
    // Whatever was in flight when the signal arrived finished and was recorded; nothing else
    // started. (How much was in flight depends on timing: assert the invariant, not a count.)
    let created = cloud(dir.path());
    assert!(
        !created.is_empty() && created.len() < 9,
        "{} created",
        created.len()
    );
    let recorded = recorded_ids(dir.path());
    for resource in &created {
        assert!(
            recorded.contains(&resource.id),
            "{} exists but is not in state",
            resource.id
        );
    }
    let finish = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(finish.status.code(), Some(0), "{}", stderr(&finish));
    assert_eq!(cloud(dir.path()).len(), 9);
}

/// Cloud ids recorded in every stack state, read through `terrace state`.
fn recorded_ids(dir: &std::path::Path) -> Vec<String> {
    let list = terrace(dir, &["state", "list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    rows.iter()
        .flat_map(|row| {
            let show = terrace(dir, &["state", "show", row["stack"].as_str().unwrap()]);
            let state: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
            state["resources"]
                .as_object()
                .map(|r| {
                    r.values()
                        .map(|v| v["id"].as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}
