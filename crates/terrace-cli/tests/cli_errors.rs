//! Every kind of bad input, through the `terrace` binary: one clear error naming file, line and
//! column, what is wrong and what would fix it; exit code 1; nothing written.

mod support;

use support::{edit, stderr, stdout, terrace, workspace, write};

/// Runs `terrace plan` and checks the exit code, that every expected piece is in the message,
/// and that nothing was written to the workspace.
fn expect_error(dir: &std::path::Path, expected: &[&str]) {
    let output = terrace(dir, &["plan"]);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit code; stderr:\n{message}"
    );
    for piece in expected {
        assert!(message.contains(piece), "missing {piece:?} in:\n{message}");
    }
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        !dir.join(".terrace").exists(),
        "bad input must not write anything"
    );
}

#[test]
fn yaml_syntax_error_names_the_line() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "    zones: [eu-2a]",
        "    zones: [eu-2a\n",
    );
    expect_error(dir.path(), &["groups/eu.yaml:13:1: did not find expected ',' or ']', while parsing a flow sequence at line 11 column 12"]);
}

#[test]
fn unknown_field_suggests_the_closest_name() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "    region: eu-2",
        "    regoin: eu-2",
    );
    expect_error(
        dir.path(),
        &[
            "groups/eu.yaml:10:5: replicas[1]: unknown field `regoin`",
            "help: did you mean `region`?",
        ],
    );
}

#[test]
fn unknown_field_in_a_layer_file() {
    let dir = workspace("basic");
    write(
        dir.path(),
        "stacks/networks/layer.yaml",
        "dependson: [accounts]\nper: replica\n",
    );
    expect_error(
        dir.path(),
        &[
            "stacks/networks/layer.yaml:1:1: unknown field `dependson`",
            "did you mean `depends_on`?",
        ],
    );
}

#[test]
fn unknown_resource_type_suggests_the_closest_type() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "type: test:Network",
        "type: test:Netwrk",
    );
    expect_error(
        dir.path(),
        &[
            "templates/networks/network.yaml.tera:3:5 (rendered for stack networks/eu/a, and 1 more stack(s)): unknown resource type `test:Netwrk`",
            "   | type: test:Netwrk",
            "help: did you mean `test:Network`?",
        ],
    );
}

#[test]
fn unknown_resource_field_suggests_the_closest_field() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "      cidr: 10.0.0.0/16",
        "      cidrr: 10.0.0.0/16",
    );
    expect_error(
        dir.path(),
        &[
            "templates/networks/network.yaml.tera:5:7 (rendered for stack networks/eu/a, and 1 more stack(s)): `test:Network` has no field `cidrr`",
            "help: did you mean `cidr`?",
            "requires field `cidr`",
        ],
    );
}

#[test]
fn wrong_value_type_is_named() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "public: true",
        "public: \"yes\"",
    );
    expect_error(
        dir.path(),
        &[
            "templates/proxies/proxy.yaml.tera:6:7",
            "`public` must be true or false, not a string",
        ],
    );
}

#[test]
fn duplicate_replica_name() {
    let dir = workspace("basic");
    edit(dir.path(), "groups/eu.yaml", "  - name: b", "  - name: a");
    expect_error(
        dir.path(),
        &[
            "groups/eu.yaml:8:5: duplicate replica name `a`",
            "the first is on line 3",
        ],
    );
}

#[test]
fn duplicate_resource_name_across_templates() {
    let dir = workspace("basic");
    write(
        dir.path(),
        "templates/networks/extra.yaml.tera",
        "resources:\n  vpc:\n    type: test:Thing\n",
    );
    expect_error(
        dir.path(),
        &[
            "templates/networks/network.yaml.tera:2:3",
            "duplicate resource name `vpc` in stack networks/eu/a",
        ],
    );
}

#[test]
fn bad_reference_to_a_resource() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "network_id: ${vpc.id}",
        "network_id: ${vcp.id}",
    );
    expect_error(
        dir.path(),
        &[
            "templates/networks/network.yaml.tera:13:7 (rendered for stack networks/eu/a, and 1 more stack(s)): bad reference `${vcp.id}`: no resource `vcp`",
            "   | network_id: ${vcp.id}",
            "did you mean `vpc`?",
            // The same mistake in the outputs is a mistake of its own, at its own line.
            "templates/networks/network.yaml.tera:18:3 (rendered for stack networks/eu/a, and 1 more stack(s)): bad reference `${vcp.id}`",
        ],
    );
}

#[test]
fn bad_reference_to_an_attribute() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "${db.private_ip}",
        "${db.privat_ip}",
    );
    expect_error(
        dir.path(),
        &[
            "`test:Instance` has no attribute `privat_ip`",
            "did you mean `private_ip`?",
        ],
    );
}

#[test]
fn malformed_reference() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "network_id: ${vpc.id}",
        "network_id: ${vpc.id",
    );
    expect_error(
        dir.path(),
        &["templates/networks/network.yaml.tera:13:7", "unclosed `${`"],
    );
}

#[test]
fn missing_output_of_an_upstream_layer() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "networks.outputs.subnet_ids",
        "networks.outputs.subnet_idz",
    );
    expect_error(
        dir.path(),
        &[
            "templates/replicas/replica.yaml.tera:5:7",
            "stack networks/eu/a has no output `subnet_idz`",
            "did you mean `subnet_ids`?",
        ],
    );
}

#[test]
fn reference_to_a_layer_not_depended_on() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "name: \"{{ group.name }}-{{ replica.name }}\"",
        "name: ${replicas.outputs.endpoint}",
    );
    expect_error(
        dir.path(),
        &[
            "templates/networks/network.yaml.tera:6:7",
            "layer `networks` does not depend on layer `replicas`",
            "add `replicas` to depends_on",
        ],
    );
}

#[test]
fn unknown_layer_in_depends_on() {
    let dir = workspace("basic");
    write(
        dir.path(),
        "stacks/networks/layer.yaml",
        "depends_on: [acounts]\nper: replica\n",
    );
    expect_error(
        dir.path(),
        &[
            "stacks/networks/layer.yaml:1:",
            "depends on unknown layer `acounts`",
            "did you mean `accounts`?",
        ],
    );
}

#[test]
fn unknown_cloud_in_a_group() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "  - name: b\n    cloud: test",
        "  - name: b\n    cloud: tset",
    );
    expect_error(
        dir.path(),
        &[
            "groups/eu.yaml:9:5: unknown cloud `tset`",
            "did you mean `test`?",
        ],
    );
}

#[test]
fn template_syntax_error() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "{% for zone in zones %}",
        "{% for zone in zones %",
    );
    expect_error(
        dir.path(),
        &[
            "templates/networks/network.yaml.tera:10:10: template syntax: expected an integer",
            "   | subnet-{{ zone }}:",
        ],
    );
}

#[test]
fn resources_in_a_cycle_are_printed() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "account: ${accounts.outputs.account_id}",
        "account: ${subnet-eu-1a.id}",
    );
    write(
        dir.path(),
        "groups/eu.yaml",
        "replicas:\n  - name: a\n    cloud: test\n    region: eu-1\n    zones: [eu-1a]\n",
    );
    expect_error(
        dir.path(),
        &["resources depend on each other in a cycle: vpc -> subnet-eu-1a -> vpc"],
    );
}

#[test]
fn stacks_in_a_cycle_are_printed() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "account: ${accounts.outputs.account_id}",
        "account: ${stack(\"proxies/eu\").outputs.endpoint}",
    );
    expect_error(
        dir.path(),
        &[
            "stacks depend on each other in a cycle:",
            "networks/eu/a -> replicas/eu/a -> proxies/eu -> networks/eu/a",
        ],
    );
}

#[test]
fn not_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    expect_error(dir.path(), &["not a Terrace workspace", "pass -C DIR"]);
}

#[test]
fn bad_selector_is_a_clear_error() {
    let dir = workspace("basic");
    let output = terrace(dir.path(), &["plan", "--layer", "netwrks"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--layer netwrks: no such layer; did you mean `networks`?"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_jurisdiction() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "residency: EU",
        "residency: EUU",
    );
    expect_error(
        dir.path(),
        &[
            "groups/eu.yaml:1:1: unknown jurisdiction `EUU`",
            "did you mean `EU`?",
        ],
    );
}

#[test]
fn a_policy_refusal_exits_3_and_writes_nothing() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "terrace.yaml",
        "config:",
        "budgets:\n  max_stacks: 2\nconfig:",
    );
    let output = terrace(dir.path(), &["plan"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("the plan changes 6 stack(s); the budget allows 2"));
    // The refused plan is still shown: what it would do, then (on stderr) why it may not.
    assert!(
        stdout(&output).contains("Plan: 9 to create, 0 to update, 0 to replace, 0 to delete"),
        "{}",
        stdout(&output)
    );
    let raised = terrace(dir.path(), &["plan", "--max-stacks", "6"]);
    assert_eq!(raised.status.code(), Some(0), "{}", stderr(&raised));
    assert!(!dir.path().join(".terrace/state").exists());
}

#[test]
fn a_region_on_a_global_type() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/accounts/account.yaml.tera",
        "    type: test:Thing\n",
        "    type: test:Thing\n    region: eu-1\n",
    );
    expect_error(
        dir.path(),
        &[
            "templates/accounts/account.yaml.tera:4:5",
            "`test:Thing` is global: a `account` has no region",
            "remove `region:`",
        ],
    );
}
