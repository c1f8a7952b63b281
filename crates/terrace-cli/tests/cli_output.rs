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
