//! Static input that would fail at apply is refused at plan, before any cloud call, on the
//! reference workspace: regions and zones each cloud does not have, malformed and overlapping
//! address ranges, replicas without zones or nodes, a number as a tag value, keys written twice.
//! And template errors are reported once, at the template's own line — of the imported file
//! where the mistake is — with tera's syntax errors kept readable.

mod support;

use std::path::Path;
use support::{edit, line_and_column, place, reference_workspace, stderr, terrace, write};

/// `terrace plan` fails with exit 1, the message has every piece and none of `absent`, and
/// nothing is written.
fn refused(dir: &Path, expected: &[&str], absent: &[&str]) -> String {
    let output = terrace(dir, &["plan"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    for piece in expected {
        assert!(message.contains(piece), "missing {piece:?} in:\n{message}");
    }
    for piece in absent {
        assert!(
            !message.contains(piece),
            "unexpected {piece:?} in:\n{message}"
        );
    }
    assert!(!message.contains("panicked"), "{message}");
    assert!(!dir.join(".terrace").exists(), "nothing is written");
    message
}

#[test]
fn a_region_a_cloud_does_not_have_is_an_input_error_with_the_closest_name() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "examples/us.yaml",
        "region: us-east-1",
        "region: us-esat-1",
    );
    edit(
        dir.path(),
        "examples/eu.yaml",
        "region: eu-west-1",
        "region: eu-wets-1",
    );
    let us = place(dir.path(), "examples/us.yaml", "region: us-esat-1");
    let eu = place(dir.path(), "examples/eu.yaml", "region: eu-wets-1");
    refused(
        dir.path(),
        &[
            &format!("{us}: aws has no region `us-esat-1`\n  help: did you mean `us-east-1`?"),
            &format!("{eu}: aws has no region `eu-wets-1`\n  help: did you mean `eu-west-1`?"),
        ],
        &["jurisdiction"],
    );
}

#[test]
fn zones_must_be_of_the_replicas_region_and_there_must_be_some() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "examples/eu.yaml",
        "zones: [eu-west-1a, eu-west-1b]",
        "zones: []",
    );
    edit(
        dir.path(),
        "examples/eu.yaml",
        "zones: [europe-west3-a, europe-west3-b]",
        "zones: [europe-west3-a, europe-west4-b]",
    );
    edit(
        dir.path(),
        "examples/eu.yaml",
        "zones: [eu-central-1a, eu-central-1b]",
        "zones: [eu-central-1a, eu-central-1z]",
    );
    let at = |text: &str| place(dir.path(), "examples/eu.yaml", text);
    refused(
        dir.path(),
        &[
            &format!("{}: replica `aws-eu-west-1` has no zones\n  help: list the zones of eu-west-1 its nodes spread over, e.g. `zones: [eu-west-1a, eu-west-1b]`", at("zones: []")),
            &format!("{}: zone `europe-west4-b` is in region europe-west4, not europe-west3\n  help: did you mean `europe-west3-b`?", at("zones: [europe-west3-a, europe-west4-b]")),
            &format!("{}: aws region eu-central-1 has no zone `eu-central-1z`", at("zones: [eu-central-1a, eu-central-1z]")),
        ],
        &[],
    );
}

#[test]
fn address_ranges_are_checked_in_the_group_file() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "examples/eu.yaml",
        "{cidr: 10.16.0.0/16}",
        "{cidr: banana}",
    );
    edit(
        dir.path(),
        "examples/eu.yaml",
        "{cidr: 10.17.0.0/16}",
        "{cidr: 10.17.0.300/16}",
    );
    edit(
        dir.path(),
        "examples/us.yaml",
        "{cidr: 10.34.0.0/16}",
        "{cidr: 10.32.128.0/17}",
    );
    edit(
        dir.path(),
        "examples/global.yaml",
        "{cidr: 10.51.0.0/16}",
        "{cidr: 10.80.0.0/16}",
    );
    // A range inside a flow mapping is reported at its `vars` key.
    let at = |file: &str, text: &str| place(dir.path(), file, text);
    refused(
        dir.path(),
        &[
            &format!("{}: `banana` is not a CIDR block: it has no prefix length", at("examples/eu.yaml", "vars: {cidr: banana}")),
            &format!("{}: `10.17.0.300/16` is not a CIDR block: `10.17.0.300` is not an IP address", at("examples/eu.yaml", "vars: {cidr: 10.17.0.300/16}")),
            &format!("{}: the range 10.32.128.0/17 of replica `aws-us-west-2` overlaps 10.32.0.0/16 of replica `aws-us-east-1`", at("examples/us.yaml", "vars: {cidr: 10.32.128.0/17}")),
            &format!("{}: the range 10.80.0.0/16 of replica `gcp-asia-northeast1` lies outside the group's range 10.48.0.0/12", at("examples/global.yaml", "vars: {cidr: 10.80.0.0/16}")),
        ],
        &[],
    );
}

#[test]
fn a_replica_without_nodes_is_refused() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "examples/eu.yaml",
        "    nodes: 2\n    vars: {cidr: 10.16",
        "    nodes: 0\n    vars: {cidr: 10.16",
    );
    let at = place(dir.path(), "examples/eu.yaml", "nodes: 0");
    refused(
        dir.path(),
        &[&format!("{at}: replica `aws-eu-west-1` has no nodes")],
        &[],
    );
}

#[test]
fn a_number_as_a_tag_value_and_a_malformed_range_in_a_template_are_refused_at_their_lines() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "      tags: {owner: {{ config.owner }}, Name: {{ stack.name }}, account:",
        "      tags: {zones: {{ zones | length }}, owner: {{ config.owner }}, Name: {{ stack.name }}, account:",
    );
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "cidr_block: {{ base }}.{{ net::zone_number(zone=zone, offset=0) }}.0/24",
        "cidr_block: {{ base }}.{{ net::zone_number(zone=zone, offset=0) }}.1/24",
    );
    let at = |text: &str| place(dir.path(), "templates/networks/network.yaml.tera", text);
    let message = refused(
        dir.path(),
        &[
            &format!("{} (rendered for stack networks/eu/aws-eu-west-1, and 5 more stack(s)): `tags`: the value of `zones` must be a string, not a number", at("tags: {zones:")),
            "help: quote it: `zones: \"2\"`",
            &format!("{} (rendered for stack networks/eu/aws-eu-west-1, and 5 more stack(s)): `cidr_block`: `10.16.1.1/24` is not a network address", at("cidr_block: {{ base }}.{{ net::zone_number(zone=zone, offset=0) }}.1/24")),
        ],
        &[],
    );
    assert_eq!(
        message.matches("error:").count(),
        2,
        "one error per mistake: {message}"
    );
}

#[test]
fn keys_written_twice_are_refused_naming_both_lines() {
    let dir = reference_workspace();
    // A second resource `database` would silently replace the firewall declared between them.
    let template = "\
resources:
  database:
    type: gcp:compute:Firewall
    properties:
      network: x
  firewall:
    type: gcp:compute:Firewall
    properties:
      network: y
      network: z
  database:
    type: gcp:compute:Firewall
    properties:
      network: w
";
    write(dir.path(), "templates/extra/extra.yaml.tera", template);
    write(dir.path(), "stacks/extra/layer.yaml", "per: group\n");
    edit(
        dir.path(),
        "terrace.yaml",
        "  owner: db-platform\n",
        "  owner: db-platform\n  db_port: 5433\n",
    );
    let (first, _) = line_and_column(dir.path(), "terrace.yaml", "db_port: 5433", "db_port");
    let second = place(dir.path(), "terrace.yaml", "db_port: 5432");
    refused(
        dir.path(),
        &[&format!(
            "{second}: duplicate key `db_port` in `config`: the first is at line {first}"
        )],
        &[],
    );
    edit(
        dir.path(),
        "terrace.yaml",
        "  owner: db-platform\n  db_port: 5433\n",
        "  owner: db-platform\n",
    );
    refused(
        dir.path(),
        &["templates/extra/extra.yaml.tera:10:7 (rendered for stack extra/eu, and 2 more stack(s)): duplicate key `network` in `resources.firewall.properties`: the first is on line 9"],
        &[],
    );
    edit(
        dir.path(),
        "templates/extra/extra.yaml.tera",
        "      network: z\n",
        "",
    );
    refused(
        dir.path(),
        &[
            "templates/extra/extra.yaml.tera:10:3 (rendered for stack extra/eu, and 2 more stack(s)): duplicate key `database` in `resources`: the first is on line 2",
        ],
        &[],
    );
}

#[test]
fn a_bad_reference_is_reported_at_its_template_line() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "  network_id: ${vpc.id}",
        "  network_id: ${vcp.id}",
    );
    let at = place(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "network_id: ${vcp.id}",
    );
    refused(
        dir.path(),
        &[
            &format!("{at} (rendered for stack networks/eu/aws-eu-west-1, and 5 more stack(s)): bad reference `${{vcp.id}}`: no resource `vcp`"),
            "   | network_id: ${vcp.id}",
            "help: did you mean `vpc`?",
        ],
        &[],
    );
}

#[test]
fn a_mistake_in_an_imported_file_is_one_error_at_its_own_line() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "templates/shared/cloud-init.tera",
        "TERRACE_REGION={{ replica.region }}",
        "TERRACE_REGION={{ replica.regoin }}",
    );
    let at = place(
        dir.path(),
        "templates/shared/cloud-init.tera",
        "replica.regoin",
    );
    let message = refused(
        dir.path(),
        &[
            &format!("{at} (rendered for stack replicas/eu/aws-eu-west-1 through templates/replicas/replica.yaml.tera, and 9 more stack(s)): unknown variable `replica.regoin`"),
            "   | TERRACE_REGION={{ replica.regoin }}",
            "help: did you mean `replica.region`?",
        ],
        &[],
    );
    assert_eq!(message.matches("error:").count(), 1, "{message}");
    assert!(message.len() < 600, "short: {message}");
}

#[test]
fn a_tera_syntax_error_keeps_its_line_and_expectation() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "templates/shared/cloud-init.tera",
        "{%- endmacro database %}",
        "{%- endmacr database %}",
    );
    let at = place(
        dir.path(),
        "templates/shared/cloud-init.tera",
        "{%- endmacr database %}",
    );
    let message = refused(
        dir.path(),
        &[
            &format!("{at}: template syntax: unexpected tag; expected `{{% endmacro %}}` or the macro content"),
            "   | {%- endmacr database %}",
        ],
        &["isn't present in Tera"],
    );
    assert_eq!(message.matches("error:").count(), 1, "{message}");
}

#[test]
fn a_template_that_is_not_utf8_is_blamed_on_itself() {
    let dir = reference_workspace();
    let path = dir.path().join("templates/proxies/proxy.yaml.tera");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    bytes.splice(at..at, *b"# caf\xe9\n");
    std::fs::write(&path, bytes).unwrap();
    refused(
        dir.path(),
        &["templates/proxies/proxy.yaml.tera:2:6: not UTF-8 text: byte 0xe9"],
        &["layer.yaml"],
    );
}

#[test]
fn a_misindented_key_is_reported_as_misindented() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "    type: aws:ec2:Vpc\n    properties:",
        "    type: aws:ec2:Vpc\n  properties:",
    );
    let file = "templates/networks/network.yaml.tera";
    let (line, column) = line_and_column(
        dir.path(),
        file,
        "    type: aws:ec2:Vpc\n  properties:",
        "properties:",
    );
    refused(
        dir.path(),
        &[&format!("{file}:{line}:{column} (rendered for stack networks/eu/aws-eu-west-1, and 5 more stack(s)): `properties` is indented like a resource's name, so it is read as a resource of its own")],
        &["missing field"],
    );
}

#[test]
fn a_provider_setting_typo_has_its_line_and_the_closest_name() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "terrace.yaml",
        "  aws:\n    settings: {}",
        "  aws:\n    settings:\n      regin: eu-west-1",
    );
    let at = place(dir.path(), "terrace.yaml", "regin: eu-west-1");
    refused(
        dir.path(),
        &[
            &format!("{at}: unknown aws provider setting `regin`"),
            "help: did you mean `region`?",
        ],
        &["(known:"],
    );
}

#[test]
fn wrong_value_types_are_said_in_words() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "terrace.yaml",
        "name: reference\n",
        "name: reference\nconcurrency: 3\n",
    );
    let (line, column) = line_and_column(dir.path(), "terrace.yaml", "concurrency: 3\n", "3");
    refused(
        dir.path(),
        &[&format!("terrace.yaml:{line}:{column}: concurrency: expected a mapping of fields (`key: value` lines), found the number `3`")],
        &["struct", "Concurrency"],
    );
    edit(dir.path(), "terrace.yaml", "concurrency: 3\n", "");
    edit(
        dir.path(),
        "examples/eu.yaml",
        "    nodes: 2\n    vars: {cidr: 10.16",
        "    nodes: two\n    vars: {cidr: 10.16",
    );
    refused(
        dir.path(),
        &["replicas[0].nodes: expected a whole number, 0 or more, found the text \"two\""],
        &["u32"],
    );
}

#[test]
fn planning_with_the_sandbox_recorded_but_stopped_says_so() {
    let dir = reference_workspace();
    let dead = |marker: &str, port: u16| serde_json::json!({"pid": 999_999, "url": format!("http://127.0.0.1:{port}"), "marker": marker});
    let record = serde_json::json!({
        "gce": dead("serve-gce", 1), "moto": dead("moto_server", 2), "aws": dead("serve-aws", 3),
        "profile": "cloud", "seed": 1,
    });
    write(dir.path(), ".terrace/sandbox.json", &record.to_string());
    let output = support::command(dir.path(), &["plan"])
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("TERRACE_GCP_ENDPOINT")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.starts_with("error: the sandbox is not running (start it with `terrace -C ")
            && message.contains("sandbox start`)")
            && message.contains("serve-gce (pid 999999)"),
        "{message}"
    );
    assert!(!message.contains("project"), "{message}");
}

/// Issue 13: `providers:` of a layer or template names real providers, and its references are
/// checked like any other (a key the upstream stack does not output is refused, in the
/// template, at its line), before any cloud call.
#[test]
fn stack_provider_configuration_is_checked_before_any_cloud_call() {
    let dir = reference_workspace();
    edit(
        dir.path(),
        "stacks/networks/layer.yaml",
        "  gcp:\n",
        "  gpc:\n",
    );
    refused(
        dir.path(),
        &[
            "stacks/networks/layer.yaml: `providers:` names `gpc`, which is not a provider",
            "did you mean `gcp`?",
        ],
        &[],
    );
    let dir = reference_workspace();
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "outputs.account_id}'}",
        "outputs.acount_id}'}",
    );
    refused(
        dir.path(),
        &[
            "templates/proxies/proxy.yaml.tera:",
            "stack accounts/eu/aws has no output `acount_id`",
            "did you mean `account_id`?",
        ],
        &[],
    );
}
