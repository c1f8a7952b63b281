//! `terrace test`: passing and failing tests, broken test files, Rego assertions, policy unit
//! tests, steps that show a change's blast radius, refusals, JUnit XML validated against the
//! JUnit schema, and the reference workspace's own tests. Engine fixtures run on the test
//! provider's schemas (`TERRACE_TEST_PROVIDER=1`), the reference on the real AWS and GCP
//! schemas; nothing reaches a cloud or a sandbox.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{edit, reference_workspace, stderr, stdout, terrace, workspace, write};

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// The last line of stdout: the summary.
fn summary(output: &Output) -> String {
    stdout(output)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

const PASSING: &str = "\
tests:
  - name: a fresh group creates everything
    expect:
      actions:
        \"*\": create only
      values:
        - replicas/eu/a:db.count == 3
        - replicas/eu/*:db.image == db-16
        - replicas/eu/a:db.subnet_id == unknown
        - proxies/eu:lb.targets == unknown
      changed_stacks: [\"*\"]
      summary: {create: 9, stacks_changed: 6}
";

#[test]
fn passing_and_failing_tests_print_a_line_each_the_failures_and_a_summary() {
    let dir = workspace("basic");
    write(dir.path(), "tests/a.yaml", PASSING);
    write(
        dir.path(),
        "tests/b.yaml",
        "\
tests:
  - name: replica a has four nodes
    expect:
      values:
        - replicas/eu/a:db.count == 4
  - name: every stack is unchanged
    expect:
      actions:
        networks/eu/*: no-op
",
    );
    let output = terrace(dir.path(), &["test"]);
    let out = stdout(&output);
    assert_eq!(code(&output), Some(1), "{out}{}", stderr(&output));
    assert!(
        out.contains("ok   tests/a.yaml › a fresh group creates everything ("),
        "{out}"
    );
    assert!(
        out.contains("FAIL tests/b.yaml › replica a has four nodes"),
        "{out}"
    );
    // The failing value: the assertion's line, expected, actual, and the template line.
    assert!(
        out.contains(
            "tests/b.yaml:5:11: `replicas/eu/a:db.count == 4` does not hold for replicas/eu/a:db\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("       expected: 4\n       actual:   3\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "from:     templates/replicas/replica.yaml.tera:8:7 (rendered for stack replicas/eu/a)"
        ),
        "{out}"
    );
    assert!(out.contains("| count: 3"), "{out}");
    assert!(
        out.contains("tests/b.yaml:9:9: stack networks/eu/a does not do what `networks/eu/*` says"),
        "{out}"
    );
    assert!(
        out.contains("expected: no-op\n       actual:   create: vpc, subnet-eu-1a, subnet-eu-1b"),
        "{out}"
    );
    assert_eq!(summary(&output), "1 passed, 2 failed");
    // Only the passing file: exit 0.
    let output = terrace(dir.path(), &["test", "tests/a.yaml"]);
    assert_eq!(code(&output), Some(0), "{}", stdout(&output));
    assert_eq!(summary(&output), "1 passed, 0 failed");
}

#[test]
fn a_broken_test_file_is_one_error_with_file_and_line_and_nothing_runs() {
    let dir = workspace("basic");
    write(dir.path(), "tests/a.yaml", PASSING);
    write(
        dir.path(),
        "tests/broken.yaml",
        "\
tests:
  - name: a typo
    expect:
      actions:
        networks/eu/*: crate
",
    );
    let output = terrace(dir.path(), &["test", "--junit", "out.xml"]);
    let err = stderr(&output);
    assert_eq!(code(&output), Some(1));
    assert_eq!(
        err,
        "error: tests/broken.yaml:5:9: unknown action `crate`; did you mean `create`?\n  help: actions are create, update, replace, delete, no-op, and `only`\n"
    );
    assert_eq!(stdout(&output), "", "no test ran");
    assert!(!dir.path().join("out.xml").exists(), "nothing written");
    write(
        dir.path(),
        "tests/broken.yaml",
        "tests:\n  - name: x\n    expcet: {}\n",
    );
    let err = stderr(&terrace(dir.path(), &["test"]));
    assert!(
        err.starts_with("error: tests/broken.yaml:3:5: tests[0]: unknown field `expcet`"),
        "{err}"
    );
    assert!(err.contains("help: did you mean `expect`?"), "{err}");
}

#[test]
fn rego_assertions_hold_or_fail_at_their_own_line() {
    let dir = workspace("basic");
    write(
        dir.path(),
        "tests/rego.yaml",
        "\
tests:
  - name: rego
    expect:
      rego: |
        public := [c | some s in input.stacks; some c in s.changes; c.after.public == true]

        assert_one_public_balancer if count(public) == 1

        assert_no_public_balancer if count(public) == 0
",
    );
    let output = terrace(dir.path(), &["test"]);
    let out = stdout(&output);
    assert_eq!(code(&output), Some(1), "{out}");
    assert!(
        out.contains(
            "tests/rego.yaml:9:1: Rego assertion `assert_no_public_balancer` is undefined"
        ),
        "{out}"
    );
    assert!(!out.contains("assert_one_public_balancer"), "{out}");
    assert_eq!(summary(&output), "0 passed, 1 failed");
}

#[test]
fn steps_show_a_changes_blast_radius_against_mocked_state() {
    let dir = workspace("basic");
    write(
        dir.path(),
        "tests/steps.yaml",
        "\
tests:
  - name: adding replica c touches only its stacks and the proxies
    state: applied
    expect:
      actions:
        \"*\": no-op
      values:
        - replicas/eu/a:db.subnet_id == mock:networks/eu/a:subnet-eu-1a
        - \"proxies/eu:lb.targets == [mock:replicas/eu/a:db.private_ip:5432, mock:replicas/eu/b:db.private_ip:5432]\"
    then:
      - groups:
          - name: eu
            residency: EU
            replicas:
              - {name: a, cloud: test, region: eu-1, zones: [eu-1a, eu-1b], nodes: 3}
              - {name: b, cloud: test, region: eu-2, zones: [eu-2a]}
              - {name: c, cloud: test, region: eu-2, zones: [eu-2b]}
        expect:
          actions:
            networks/eu/c: create only
            replicas/eu/c: create only
            proxies/eu:lb: update
            \"*\": no-op
          changed_stacks: [networks/eu/c, replicas/eu/c, proxies/eu]
      - groups: [eu]
        expect:
          actions:
            \"*/eu/c\": delete only
            proxies/eu: update
            \"*\": no-op
",
    );
    let output = terrace(dir.path(), &["test"]);
    assert_eq!(
        code(&output),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    // The same test, wrong about the blast radius: the failure names the extra stacks.
    edit(
        dir.path(),
        "tests/steps.yaml",
        "changed_stacks: [networks/eu/c, replicas/eu/c, proxies/eu]",
        "changed_stacks: [networks/eu/c, replicas/eu/c]",
    );
    let out = stdout(&terrace(dir.path(), &["test"]));
    assert!(
        out.contains("step 2: the changed stacks differ: also changes proxies/eu"),
        "{out}"
    );
}

#[test]
fn refusals_and_invalid_groups_are_expected_with_their_messages() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "terrace.yaml",
        "jurisdictions:\n",
        "jurisdictions:\n  NORTH:\n    test: [eu-2]\n",
    );
    write(
        dir.path(),
        "tests/refusals.yaml",
        "\
tests:
  - name: the proxies' region is outside a northern group
    groups:
      - name: north
        residency: NORTH
        replicas:
          - {name: a, cloud: test, region: eu-2, zones: [eu-2a]}
    expect:
      refused: proxies/north:lb (test:LoadBalancer) would be in region eu-1, outside jurisdiction NORTH
  - name: a replica outside its jurisdiction is an input error at its line
    groups:
      - name: north
        residency: NORTH
        replicas:
          - name: a
            cloud: test
            region: eu-1
            zones: [eu-1a]
    expect:
      invalid:
        message: replica `a` is in test region eu-1, outside the group's jurisdiction NORTH
        at: tests/refusals.yaml:17:13
  - name: a refusal that does not come
    expect:
      refused: is protected
",
    );
    let output = terrace(dir.path(), &["test"]);
    let out = stdout(&output);
    assert!(
        out.contains("ok   tests/refusals.yaml › the proxies' region"),
        "{out}"
    );
    assert!(
        out.contains("ok   tests/refusals.yaml › a replica outside"),
        "{out}"
    );
    assert!(
        out.contains("tests/refusals.yaml:25:7: the plan must be refused\n       expected: is protected\n       actual:   the plan was accepted (9 to create"),
        "{out}"
    );
    assert_eq!(summary(&output), "2 passed, 1 failed");
}

#[test]
fn policy_unit_tests_run_against_fixture_plans() {
    let dir = workspace("basic");
    write(
        dir.path(),
        "policies/no_public.rego",
        "package terrace\n\ndeny contains msg if {\n\tsome s in input.stacks\n\tsome c in s.changes\n\tc.after.public == true\n\tmsg := sprintf(\"%s:%s is public\", [s.name, c.name])\n}\n",
    );
    write(
        dir.path(),
        "policies/fixtures/public_lb.yaml",
        "stacks:\n  - name: proxies/eu\n    changes:\n      - {name: lb, after: {public: true}}\n",
    );
    write(
        dir.path(),
        "policies/no_public_test.rego",
        "package terrace_test\n\nimport data.terrace\n\ntest_a_public_balancer_is_denied if {\n\t\"proxies/eu:lb is public\" in terrace.deny with input as data.fixtures.public_lb\n}\n\ntest_wrongly_expects_nothing if {\n\tcount(terrace.deny) == 0 with input as data.fixtures.public_lb\n}\n",
    );
    let output = terrace(dir.path(), &["test", "policies"]);
    let out = stdout(&output);
    assert!(
        out.contains("ok   policies/no_public_test.rego › test_a_public_balancer_is_denied"),
        "{out}"
    );
    assert!(
        out.contains(
            "policies/no_public_test.rego:9:1: `test_wrongly_expects_nothing` is undefined"
        ),
        "{out}"
    );
    assert_eq!(summary(&output), "1 passed, 1 failed");
    // Plans never evaluate a policy test file: the policy alone refuses the public balancer.
    let plan = terrace(dir.path(), &["plan"]);
    assert_eq!(code(&plan), Some(3));
    assert_eq!(
        stderr(&plan).matches("is public").count(),
        1,
        "{}",
        stderr(&plan)
    );
}

fn xmllint() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("xmllint"))
            .find(|p| p.is_file())
    });
    found.expect(
        "xmllint is needed to validate JUnit XML: apt-get install libxml2-utils (scripts/test.sh installs it)",
    )
}

fn validate_junit(file: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit/jenkins-junit.xsd");
    let output = Command::new(xmllint())
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint runs");
    assert!(
        output.status.success(),
        "the JUnit XML does not validate: {}\n{}",
        stderr(&output),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

#[test]
fn the_reference_workspace_passes_its_own_tests_and_junit_validates() {
    let dir = reference_workspace();
    let output = Command::new(env!("CARGO_BIN_EXE_terrace"))
        .arg("-C")
        .arg(dir.path())
        .args(["test", "--junit", "junit.xml"])
        .env("NO_COLOR", "1")
        .output()
        .expect("terrace runs");
    let out = stdout(&output);
    assert_eq!(code(&output), Some(0), "{out}{}", stderr(&output));
    assert!(!out.contains("FAIL"), "{out}");
    let counts = summary(&output);
    let passed: usize = counts
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("summary line: {counts}"));
    assert!(passed >= 15, "{out}");
    let xml = dir.path().join("junit.xml");
    validate_junit(&xml);
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(
        text.contains(&format!(
            r#"<testsuites name="terrace test" tests="{passed}" failures="0""#
        )),
        "{text}"
    );
    assert!(text.contains(r#"<testsuite name="workspace-tests/reference.yaml""#));
    assert!(text.contains(r#"<testsuite name="policies/no_open_database_ports_test.rego""#));
}

#[test]
fn junit_with_failures_validates_and_carries_each_failure() {
    let dir = workspace("basic");
    write(dir.path(), "tests/a.yaml", PASSING);
    write(
        dir.path(),
        "tests/b.yaml",
        "tests:\n  - name: \"<wrong> & count\"\n    expect:\n      values:\n        - replicas/eu/a:db.count == 4\n",
    );
    let output = terrace(dir.path(), &["test", "--junit", "reports/junit.xml"]);
    assert_eq!(code(&output), Some(1));
    let xml = dir.path().join("reports/junit.xml");
    validate_junit(&xml);
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(
        text.contains(r#"<testsuites name="terrace test" tests="2" failures="1""#),
        "{text}"
    );
    assert!(
        text.contains(r#"<testcase name="&lt;wrong&gt; &amp; count" classname="tests/b.yaml""#),
        "{text}"
    );
    assert!(
        text.contains(r#"<failure message="tests/b.yaml:5:11: `replicas/eu/a:db.count == 4` does not hold for replicas/eu/a:db" type="assertion">"#),
        "{text}"
    );
    assert!(text.contains("expected: 4\n  actual:   3"), "{text}");
}
