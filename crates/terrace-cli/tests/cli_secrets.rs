//! Encrypted secrets through the `terrace` binary on the test provider: a secret set with
//! `config set --secret` (from standard input) and used inside a template property is received
//! by the provider in clear, while every byte the commands print (plan, saved plan, apply with
//! and without `--json`, state, outputs, refresh, config) and every file written under the
//! workspace except the test provider's cloud holds zero occurrences of it.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::{edit, workspace};

const FIRST: &str = "s3cr3t-Hunter2-first";
const SECOND: &str = "s3cr3t-Hunter2-second";
const PASSPHRASE: &str = "correct horse battery staple";

/// Runs `terrace` with the test provider and the passphrase, feeding `stdin`.
fn run(dir: &Path, args: &[&str], stdin: &str, passphrase: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terrace"));
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("TERRACE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1")
        .env_remove("TERRACE_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(passphrase) = passphrase {
        command.env("TERRACE_PASSPHRASE", passphrase);
    }
    let mut child = command.spawn().expect("terrace runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("terrace ends")
}

/// Every byte a run printed, kept for the final check.
struct Transcript(Vec<u8>);

impl Transcript {
    fn run(&mut self, dir: &Path, args: &[&str], stdin: &str) -> Output {
        let output = run(dir, args, stdin, Some(PASSPHRASE));
        self.0.extend_from_slice(&output.stdout);
        self.0.extend_from_slice(&output.stderr);
        output
    }

    fn ok(&mut self, dir: &Path, args: &[&str]) -> String {
        let output = self.run(dir, args, "");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(0), "terrace {args:?}: {text}");
        text
    }
}

fn count(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// (path, occurrences) of `needle` in every file under `dir`, skipping `skip`.
fn files_with(dir: &Path, skip: &Path, needle: &str, found: &mut Vec<(String, usize)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == skip {
            continue;
        }
        if path.is_dir() {
            files_with(&path, skip, needle, found);
        } else {
            let n = count(&std::fs::read(&path).unwrap(), needle);
            if n > 0 {
                found.push((path.display().to_string(), n));
            }
        }
    }
}

/// Renders `config.db_password` into the replicas' `user_data` with Tera (the secret is in the
/// rendered template, not only in a reference).
fn render_the_secret_into_user_data(root: &Path) {
    edit(
        root,
        "templates/replicas/replica.yaml.tera",
        "      size: small\n",
        "      size: small\n      user_data: \"#cloud-config\\npassword: {{ config.db_password }}\"\n",
    );
}

#[test]
fn no_byte_printed_or_written_holds_a_secret_but_the_provider_gets_it() {
    let dir = workspace("basic");
    let root = dir.path();
    render_the_secret_into_user_data(root);
    edit(
        root,
        "templates/replicas/replica.yaml.tera",
        "outputs:\n",
        "outputs:\n  password: ${config.db_password}\n",
    );
    let mut out = Transcript(Vec::new());

    // Without the passphrase: one clear error, nothing written.
    let before = std::fs::read_to_string(root.join("terrace.yaml")).unwrap();
    let missing = run(
        root,
        &["config", "set", "--secret", "db_password", "-"],
        FIRST,
        None,
    );
    out.0.extend_from_slice(&missing.stdout);
    out.0.extend_from_slice(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("TERRACE_PASSPHRASE is not set"));
    assert_eq!(
        std::fs::read_to_string(root.join("terrace.yaml")).unwrap(),
        before
    );

    let set = out.run(
        root,
        &["config", "set", "--secret", "db_password", "-"],
        FIRST,
    );
    assert_eq!(set.status.code(), Some(0), "{set:?}");
    let yaml = std::fs::read_to_string(root.join("terrace.yaml")).unwrap();
    assert!(
        yaml.starts_with("# An engine-test workspace"),
        "comments kept: {yaml}"
    );
    assert!(yaml.contains("  db_password: {secure: \"v1:"), "{yaml}");
    assert!(
        yaml.contains("secrets:\n  provider: \"passphrase\"\n  salt: "),
        "{yaml}"
    );

    let listed = out.ok(root, &["config", "list"]);
    assert!(listed.contains("db_password = [secret]"), "{listed}");
    assert_eq!(
        out.ok(root, &["config", "get", "db_password"]).trim(),
        "[secret]"
    );

    let plan = out.ok(root, &["plan"]);
    assert!(plan.contains("user_data: [secret]"), "{plan}");
    assert!(plan.contains("+ password: [secret]"), "{plan}");
    out.ok(root, &["plan", "--json"]);
    out.ok(root, &["plan", "--out", "plan.json"]);
    let applied = out.ok(root, &["apply", "plan.json"]);
    assert!(applied.contains("Apply complete"), "{applied}");
    let again = out.run(root, &["plan", "--detailed-exitcode"], "");
    assert_eq!(again.status.code(), Some(0), "fresh nonces are no change");

    // A new value from standard input: an update, applied with NDJSON events.
    out.run(
        root,
        &["config", "set", "--secret", "db_password", "-"],
        &format!("{SECOND}\n"),
    );
    let plan = out.ok(root, &["plan"]);
    assert!(plan.contains("user_data: [secret] → [secret]"), "{plan}");
    assert!(plan.contains("~ password: [secret] → [secret]"), "{plan}");
    let events = out.ok(root, &["apply", "--yes", "--json"]);
    assert!(events.contains("\"resource_finished\""), "{events}");
    out.ok(root, &["apply", "--yes"]);
    out.ok(root, &["state", "list"]);
    let state = out.ok(root, &["state", "show", "replicas/eu/a"]);
    assert!(state.contains("\"$secret\""), "{state}");
    let outputs = out.ok(root, &["output", "replicas/eu/a"]);
    assert!(outputs.contains("password = \"[secret]\""), "{outputs}");
    out.ok(root, &["output", "--json"]);
    assert_eq!(
        out.ok(root, &["output", "replicas/eu/a", "password"])
            .trim(),
        "[secret]"
    );
    let refreshed = out.ok(root, &["refresh", "--detailed-exitcode"]);
    assert!(refreshed.contains("0 drifted"), "{refreshed}");
    out.ok(root, &["graph", "--plan"]);

    // The provider received the plaintext: the check above can fail.
    let cloud = root.join(".terrace/test-cloud");
    let mut in_cloud = Vec::new();
    files_with(&cloud, Path::new("/nonexistent"), SECOND, &mut in_cloud);
    assert_eq!(in_cloud.len(), 2, "both replicas got it: {in_cloud:?}");

    // Zero occurrences anywhere else.
    for secret in [FIRST, SECOND] {
        assert_eq!(count(&out.0, secret), 0, "printed: {secret}");
        let mut found = Vec::new();
        files_with(root, &cloud, secret, &mut found);
        assert!(found.is_empty(), "{secret} written to {found:?}");
    }
    assert!(root.join(".terrace/state").is_dir());

    // Shown only on request; a wrong passphrase is one clear error.
    let shown = run(
        root,
        &["config", "get", "db_password", "--show-secrets"],
        "",
        Some(PASSPHRASE),
    );
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), SECOND);
    let wrong = run(root, &["plan"], "", Some("not the passphrase"));
    assert_eq!(wrong.status.code(), Some(1));
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(message.contains("wrong TERRACE_PASSPHRASE"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
}

/// Every file under the state directory, by path, with its bytes.
fn state_files(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.join(".terrace/state")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Commands that read no secret value — stacks, graph, state, outputs — work without the
/// passphrase (as `pulumi stack ls` does), even with a secret rendered into a template; those
/// that plan or change the clouds refuse with the passphrase's error before writing anything.
#[test]
fn without_the_passphrase_stacks_graph_state_and_outputs_work_and_plan_refuses() {
    let dir = workspace("basic");
    let root = dir.path();
    render_the_secret_into_user_data(root);
    let set = run(
        root,
        &["config", "set", "--secret", "db_password", "-"],
        FIRST,
        Some(PASSPHRASE),
    );
    assert_eq!(set.status.code(), Some(0), "{set:?}");
    let applied = run(root, &["apply", "--yes"], "", Some(PASSPHRASE));
    assert_eq!(applied.status.code(), Some(0), "{applied:?}");

    for args in [
        &["stacks"][..],
        &["graph"],
        &["state", "list"],
        &["state", "show", "replicas/eu/a"],
        &["output", "replicas/eu/a"],
    ] {
        let output = run(root, args, "", None);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(0), "{args:?}: {text}");
        assert!(!text.contains(FIRST), "{args:?} shows no secret: {text}");
    }
    let listed = run(root, &["stacks"], "", None);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("replicas/eu/a"));

    let before = state_files(root);
    for args in [
        &["plan"][..],
        &["apply", "--yes"],
        &["refresh"],
        &["drift"],
        &["graph", "--plan"],
    ] {
        let output = run(root, args, "", None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("TERRACE_PASSPHRASE is not set"),
            "{args:?} says what is missing: {stderr}"
        );
    }
    assert!(state_files(root) == before, "nothing was written");
}
