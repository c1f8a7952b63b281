//! Stack locks between `terrace` processes, on `file://` and on `s3://` (S3 + DynamoDB on
//! moto): two applies of one stack — one proceeds, the other waits `--lock-timeout` then fails
//! with exit 4 naming the holder; applies of different stacks both proceed at once; racing
//! processes with one saved plan — exactly one wins; a stale lock is removed with
//! `state unlock`. Uses the test provider (its fake cloud lives in the workspace).

mod support;

use terrace_test_support::moto;

use moto::Moto;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{assert_exactly_one_wins, edit, runtime, stderr, stdout, terrace, workspace};
use terrace::state::{Backend, LockInfo};
use terrace::testing::FakeCloud;

/// Where the workspace keeps its state.
enum Store {
    File,
    S3 { _moto: Moto, url: String },
}

impl Store {
    /// `file://` (the default), or an S3 bucket and lock table on a fresh moto, named in
    /// terrace.yaml.
    fn set_up(s3: bool, dir: &Path) -> Store {
        if !s3 {
            return Store::File;
        }
        moto::credentials();
        let moto = Moto::start();
        let url = moto.url("terrace-state", "ws", "");
        runtime()
            .block_on(terrace_s3::bootstrap(&url))
            .expect("bucket and lock table");
        let config = dir.join("terrace.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("backend: '{url}'\n{text}")).unwrap();
        Store::S3 { _moto: moto, url }
    }

    /// The backend, opened as the CLI opens it.
    fn backend(&self, dir: &Path) -> Box<dyn Backend> {
        match self {
            Store::File => Box::new(terrace::state::file::FileBackend::new(
                dir.join(".terrace/state"),
            )),
            Store::S3 { url, .. } => Box::new(terrace_s3::S3Backend::new(url).unwrap()),
        }
    }
}

fn lock_info(backend: &dyn Backend, stack: &str) -> Option<LockInfo> {
    runtime().block_on(backend.lock_info(stack)).unwrap()
}

fn set_latency(dir: &Path, ms: u64) {
    edit(
        dir,
        "terrace.yaml",
        "    settings: {}",
        &format!("    settings: {{latency_ms: {ms}}}"),
    );
}

fn cloud_size(dir: &Path) -> usize {
    FakeCloud::in_dir(dir.join(".terrace/test-cloud"))
        .list()
        .unwrap()
        .len()
}

/// Starts `terrace` in `dir` with the test provider, its output captured.
fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_terrace"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("TERRACE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("terrace starts")
}

/// Waits until `ready` holds (or fails the test after 30 s).
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn both_outputs(output: &Output) -> String {
    format!("{}\n{}", stdout(output), stderr(output))
}

fn one_apply_waits_for_the_lock_timeout_then_fails_naming_the_holder(s3: bool) {
    let dir = workspace("basic");
    let store = Store::set_up(s3, dir.path());
    let backend = store.backend(dir.path());
    set_latency(dir.path(), 3000);
    let stack = "accounts/eu/test";
    let first = spawn(dir.path(), &["apply", "--yes", "--stack", stack]);
    let first_pid = first.id();
    wait_until("the first apply holds the lock", || {
        lock_info(backend.as_ref(), stack).is_some_and(|l| l.pid == first_pid)
    });
    // No refresh: the second plans from state at once (a refresh would read the cloud at
    // the same slow pace and could outlast the first apply) and then meets the lock.
    let started = Instant::now();
    let second = terrace(
        dir.path(),
        &[
            "apply",
            "--yes",
            "--no-refresh",
            "--stack",
            stack,
            "--lock-timeout",
            "1s",
        ],
    );
    let waited = started.elapsed();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", both_outputs(&first));
    assert_eq!(
        second.status.code(),
        Some(4),
        "the second is locked out: {}",
        both_outputs(&second)
    );
    assert!(
        waited >= Duration::from_millis(900),
        "it waited: {waited:?}"
    );
    let message = stderr(&second);
    assert!(
        message.contains("locked by")
            && message.contains(&format!("pid {first_pid}"))
            && message.contains("for `apply`"),
        "the holder is named: {message}"
    );
    assert_eq!(cloud_size(dir.path()), 1, "one account was created, once");
    assert!(
        lock_info(backend.as_ref(), stack).is_none(),
        "the lock was released"
    );
}

fn applies_of_different_stacks_both_proceed(s3: bool) {
    let dir = workspace("basic");
    let store = Store::set_up(s3, dir.path());
    let backend = store.backend(dir.path());
    let accounts = terrace(
        dir.path(),
        &["apply", "--yes", "--stack", "accounts/eu/test"],
    );
    assert_eq!(accounts.status.code(), Some(0), "{}", stderr(&accounts));
    set_latency(dir.path(), 2000);
    let (a, b) = ("networks/eu/a", "networks/eu/b");
    let first = spawn(dir.path(), &["apply", "--yes", "--stack", a]);
    let second = spawn(dir.path(), &["apply", "--yes", "--stack", b]);
    wait_until("both stacks are locked at the same time", || {
        lock_info(backend.as_ref(), a).is_some() && lock_info(backend.as_ref(), b).is_some()
    });
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", both_outputs(&output));
        assert!(
            !both_outputs(&output).contains("waiting for the lock"),
            "{}",
            both_outputs(&output)
        );
    }
    // 1 account, then a network with 2 subnets and a network with 1.
    assert_eq!(cloud_size(dir.path()), 6);
    let list = terrace(dir.path(), &["state", "list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    let stacks: Vec<&str> = rows.iter().filter_map(|r| r["stack"].as_str()).collect();
    assert_eq!(stacks, ["accounts/eu/test", a, b]);
    assert!(rows.iter().all(|r| r["locked_by"].is_null()), "{rows:?}");
}

/// A workspace (file state) whose one account stack is being applied, slowly (3 s a call), by
/// another `terrace` process that holds the stack's lock.
fn an_apply_holding_a_lock() -> (tempfile::TempDir, Box<dyn Backend>, &'static str, Child) {
    let dir = workspace("basic");
    let backend = Store::File.backend(dir.path());
    set_latency(dir.path(), 3000);
    let stack = "accounts/eu/test";
    let first = spawn(dir.path(), &["apply", "--yes", "--stack", stack]);
    let first_pid = first.id();
    wait_until("the apply holds the lock", || {
        lock_info(backend.as_ref(), stack).is_some_and(|l| l.pid == first_pid)
    });
    (dir, backend, stack, first)
}

/// A refresh that meets a held lock says so as it starts waiting, on a terminal or not
/// (without the line, a long `--lock-timeout` looks like a hang); the line comes before the
/// lock error that ends the wait.
#[test]
fn a_refresh_that_meets_a_held_lock_says_it_waits() {
    let (dir, _, stack, first) = an_apply_holding_a_lock();
    let first_pid = first.id();
    let refresh = terrace(
        dir.path(),
        &["refresh", "--stack", stack, "--lock-timeout", "1s"],
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", both_outputs(&first));
    assert_eq!(refresh.status.code(), Some(4), "{}", both_outputs(&refresh));
    let message = stderr(&refresh);
    let waiting = message.find(&format!("{stack}: waiting for the lock held by"));
    let locked = message.find(&format!("stack {stack} is locked by"));
    assert!(
        waiting.is_some_and(|w| locked.is_some_and(|l| w < l))
            && message.contains(&format!("pid {first_pid}")),
        "the wait is shown as it starts, before the lock error: {message}"
    );
}

/// `import` and `state rm`, which send no events, say too that they wait for a held lock.
#[test]
fn import_and_state_rm_meeting_a_held_lock_say_they_wait() {
    let (dir, _, stack, first) = an_apply_holding_a_lock();
    let first_pid = first.id();
    let import = spawn(
        dir.path(),
        &[
            "import",
            stack,
            "account",
            "thing-1",
            "--lock-timeout",
            "1s",
        ],
    );
    let remove = spawn(
        dir.path(),
        &[
            "state",
            "rm",
            &format!("{stack}:account"),
            "--lock-timeout",
            "1s",
        ],
    );
    for (what, child) in [("import", import), ("state rm", remove)] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(4),
            "{what}: {}",
            both_outputs(&output)
        );
        let message = stderr(&output);
        assert!(
            message.contains(&format!("waiting: the lock of {stack}, held by"))
                && message.contains(&format!("pid {first_pid}")),
            "{what} says it waits: {message}"
        );
    }
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", both_outputs(&first));
}

#[test]
fn file_one_apply_waits_for_the_lock_timeout_then_fails_naming_the_holder() {
    one_apply_waits_for_the_lock_timeout_then_fails_naming_the_holder(false);
}

#[test]
fn s3_one_apply_waits_for_the_lock_timeout_then_fails_naming_the_holder() {
    one_apply_waits_for_the_lock_timeout_then_fails_naming_the_holder(true);
}

#[test]
fn file_applies_of_different_stacks_both_proceed() {
    applies_of_different_stacks_both_proceed(false);
}

#[test]
fn s3_applies_of_different_stacks_both_proceed() {
    applies_of_different_stacks_both_proceed(true);
}

#[test]
fn s3_processes_racing_with_one_saved_plan_exactly_one_wins() {
    let dir = workspace("basic");
    let store = Store::set_up(true, dir.path());
    set_latency(dir.path(), 2000);
    let plan = terrace(
        dir.path(),
        &["plan", "--stack", "accounts/eu/test", "--out", "plan.json"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let children: Vec<Child> = (0..4)
        .map(|_| spawn(dir.path(), &["apply", "plan.json"]))
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert_exactly_one_wins(&outputs);
    assert_eq!(cloud_size(dir.path()), 1, "one account, not four");
    let state = runtime()
        .block_on(store.backend(dir.path()).load("accounts/eu/test"))
        .unwrap()
        .expect("the winner saved its state in the bucket");
    assert_eq!(state.serial, 1);
    assert_eq!(state.resources.len(), 1);
}

#[test]
fn s3_a_stale_lock_is_reported_and_removed_with_state_unlock() {
    let dir = workspace("basic");
    let store = Store::set_up(true, dir.path());
    let backend = store.backend(dir.path());
    let stack = "accounts/eu/test";
    // A holder on another machine: this host cannot tell whether it still runs.
    let holder = LockInfo {
        host: "ci-runner-7".into(),
        ..LockInfo::for_operation("held-by-test")
    };
    runtime().block_on(backend.lock(stack, &holder)).unwrap();
    let output = terrace(
        dir.path(),
        &[
            "apply",
            "--yes",
            "--stack",
            stack,
            "--lock-timeout",
            "500ms",
        ],
    );
    assert_eq!(output.status.code(), Some(4), "{}", both_outputs(&output));
    assert!(
        stderr(&output).contains("held-by-test")
            && stderr(&output).contains(&format!("terrace state unlock {stack}")),
        "{}",
        stderr(&output)
    );
    let unlock = terrace(dir.path(), &["state", "unlock", stack]);
    assert_eq!(unlock.status.code(), Some(0), "{}", stderr(&unlock));
    assert!(
        stdout(&unlock).contains(&format!("Removed the lock of {stack} held by"))
            && stdout(&unlock).contains("held-by-test"),
        "{}",
        stdout(&unlock)
    );
    assert!(lock_info(backend.as_ref(), stack).is_none());
    let output = terrace(dir.path(), &["apply", "--yes", "--stack", stack]);
    assert_eq!(output.status.code(), Some(0), "{}", both_outputs(&output));
    let again = terrace(dir.path(), &["state", "unlock", stack]);
    assert!(
        stdout(&again).contains("was not locked"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn a_lock_whose_holder_runs_here_is_kept_unless_forced_and_a_rejected_state_write_is_counted() {
    let (dir, backend, stack, first) = an_apply_holding_a_lock();
    let refused = terrace(dir.path(), &["state", "unlock", stack]);
    assert_eq!(refused.status.code(), Some(4), "{}", both_outputs(&refused));
    assert!(
        stderr(&refused).contains("a process still running on this host")
            && stderr(&refused).contains(&format!("terrace state unlock --force {stack}")),
        "{}",
        stderr(&refused)
    );
    assert!(
        lock_info(backend.as_ref(), stack).is_some(),
        "the lock stays"
    );
    let forced = terrace(dir.path(), &["state", "unlock", "--force", stack]);
    assert_eq!(forced.status.code(), Some(0), "{}", both_outputs(&forced));
    assert!(
        stderr(&forced).starts_with("warning: ") && stderr(&forced).contains("still runs"),
        "{}",
        stderr(&forced)
    );
    assert!(lock_info(backend.as_ref(), stack).is_none());
    // Another writer saves the stack meanwhile: the apply's own state write is rejected.
    let mut other = terrace::state::StackState::new(stack);
    other.serial = 1;
    runtime().block_on(backend.save(&other, None)).unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", both_outputs(&first));
    let summary = stdout(&first);
    assert!(
        summary.contains("stacks: 0 succeeded, 1 failed; resources: 1 done, 0 failed"),
        "the operation that ran is counted: {summary}"
    );
    assert!(
        summary.contains("the state could not be saved after its operations ran")
            && summary.contains("expected serial none, found 1"),
        "{summary}"
    );
}

#[test]
fn unlocking_a_stack_that_does_not_exist_is_an_error() {
    let dir = workspace("basic");
    let output = terrace(dir.path(), &["state", "unlock", "networks/eu/aa"]);
    assert_eq!(output.status.code(), Some(1), "{}", both_outputs(&output));
    assert!(
        stderr(&output).contains("no stack networks/eu/aa; did you mean `networks/eu/a`?"),
        "{}",
        stderr(&output)
    );
    let known = terrace(dir.path(), &["state", "unlock", "networks/eu/a"]);
    assert_eq!(known.status.code(), Some(0), "{}", both_outputs(&known));
    assert!(stdout(&known).contains("was not locked"));
}

#[test]
fn a_malformed_s3_backend_url_is_one_clear_error() {
    let dir = workspace("basic");
    let config = dir.path().join("terrace.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("backend: 's3://terrace-state/ws?region=eu-west-1'\n{text}"),
    )
    .unwrap();
    let output = terrace(dir.path(), &["state", "list"]);
    assert_eq!(output.status.code(), Some(1), "{}", both_outputs(&output));
    let message = stderr(&output);
    assert!(
        message.contains("invalid state backend URL")
            && message.contains("lock_table=NAME")
            && message.contains(terrace_s3::EXAMPLE),
        "{message}"
    );
}
