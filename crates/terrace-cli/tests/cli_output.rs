//! What the CLI does with its output streams and its command line: a reader that goes away
//! ends output quietly (never a panic, the command's own exit code), and a command line that
//! cannot be parsed is a usage error with its own exit code, never 2.

mod support;

use std::process::Stdio;
use support::{command, stderr, stdout, terrace, workspace};

/// Runs terrace with standard output closed before it writes anything: every write fails
/// with a broken pipe.
fn with_closed_stdout(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut child = command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("terrace runs");
    drop(child.stdout.take());
    child.wait_with_output().expect("terrace ends")
}

#[test]
fn a_closed_pipe_ends_output_quietly_with_the_commands_own_exit_code() {
    let dir = workspace("basic");
    let apply = with_closed_stdout(dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert!(!stderr(&apply).contains("panicked"), "{}", stderr(&apply));
    let state = terrace(dir.path(), &["state", "list"]);
    assert_eq!(
        stdout(&state).lines().count(),
        6,
        "the apply finished and recorded every stack: {}",
        stdout(&state)
    );
    let commands: [&[&str]; 7] = [
        &["stacks"],
        &["plan", "--json"],
        &["plan"],
        &["output"],
        &["state", "list"],
        &["state", "show", "networks/eu/a"],
        &["graph"],
    ];
    for args in commands {
        let output = with_closed_stdout(dir.path(), args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).is_empty(), "{args:?}: {}", stderr(&output));
    }
    let changes = with_closed_stdout(dir.path(), &["plan", "--destroy", "--detailed-exitcode"]);
    assert_eq!(changes.status.code(), Some(2), "the command's own code");
}

#[test]
fn a_command_line_that_does_not_parse_is_a_usage_error_exit_64() {
    let dir = workspace("basic");
    for args in [
        &["plan", "--no-such-flag"][..],
        &["plna"],
        &[],
        &["apply", "--lock-timeout", "banana"],
        &["plan", "--detailed-exitcode", "--group"],
    ] {
        let output = terrace(dir.path(), args);
        assert_eq!(
            output.status.code(),
            Some(64),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("--help"), "{}", stderr(&output));
    }
    let duration = terrace(dir.path(), &["apply", "--lock-timeout", "banana"]);
    assert!(
        stderr(&duration).contains("expected a duration such as 30s, 5m or 1h30m"),
        "{}",
        stderr(&duration)
    );
    let json = terrace(dir.path(), &["--json", "plan", "--bogus"]);
    assert_eq!(json.status.code(), Some(64));
    let body: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON error");
    assert_eq!(body["error"]["exit_code"], 64);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--bogus"));
    let help = terrace(dir.path(), &["plan", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--detailed-exitcode"));
}

#[test]
fn a_replace_is_told_as_its_two_halves_and_counted_once() {
    let dir = workspace("basic");
    let apply = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    support::edit(dir.path(), "terrace.yaml", "image: db-16", "image: db-17");
    let apply = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let progress = stderr(&apply);
    let db_lines: Vec<&str> = progress
        .lines()
        .filter(|l| l.starts_with("replicas/eu/a: db: "))
        .collect();
    assert_eq!(db_lines.len(), 2, "{progress}");
    assert!(
        db_lines
            .iter()
            .any(|l| l.starts_with("replicas/eu/a: db: replace (old copy deleted) done"))
            && db_lines
                .iter()
                .any(|l| l.starts_with("replicas/eu/a: db: replace (new copy created) done")),
        "{progress}"
    );
    let changes = progress
        .lines()
        .find_map(|l| l.strip_prefix("applying "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    assert!(
        stdout(&apply).contains(&format!("resources: {changes} done, 0 failed, 0 skipped")),
        "as many resources done as changes announced ({changes}): {}",
        stdout(&apply)
    );
}

#[test]
fn a_skip_says_skipped_once() {
    let dir = workspace("basic");
    support::edit(
        dir.path(),
        "terrace.yaml",
        "    settings: {}",
        "    settings: {fail_resources: [vpc]}",
    );
    let apply = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(1));
    let all = format!("{}{}", stdout(&apply), stderr(&apply));
    assert!(all.contains("skipped"), "{all}");
    assert!(!all.contains("skipped: skipped"), "{all}");
    assert!(!all.contains("not started: \n"), "{all}");
}

#[test]
fn a_stale_saved_plan_is_refused_before_its_text_is_shown() {
    let dir = workspace("basic");
    let plan = terrace(dir.path(), &["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0));
    let apply = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let stale = terrace(dir.path(), &["apply", "plan.json"]);
    assert_eq!(stale.status.code(), Some(5), "{}", stderr(&stale));
    assert!(
        stdout(&stale).is_empty(),
        "no plan text before the refusal: {}",
        stdout(&stale)
    );
    assert!(stderr(&stale).contains("the plan no longer holds"));
}

#[test]
fn a_plan_says_what_its_reads_wait_for() {
    let dir = workspace("basic");
    let apply = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    support::edit(
        dir.path(),
        "terrace.yaml",
        "    settings: {}",
        "    settings: {throttle_reads: true}",
    );
    let plan = terrace(dir.path(), &["plan", "--stack", "networks/eu/a"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(
        stderr(&plan).contains(
            "waiting: test read of test:Network throttled; retrying (next attempt in 10 ms)"
        ),
        "{}",
        stderr(&plan)
    );
}
