//! Policy as code: `policies/*.rego` of a workspace, evaluated with regorus on the plan JSON.
//! Policies are Rego v1 in `package terrace` and add messages to the partial set `deny`; any
//! message refuses the plan. The plan's JSON form (docs/plan-format.md) is the `input`.
//! Files named `*_test.rego` are policy unit tests, run by `terrace test`, never policies.
//!
//! Policies also see the workspace's groups as `data.workspace.groups`:
//! `{"<group>": {"cidr": "<the group's vars.cidr>", "replicas": {"<replica>": "<its vars.cidr>"}}}`
//! (a range absent from a group file is absent here), so that a rule can tell a group's
//! ranges from another group's.

use crate::diagnostics::{Diagnostic, Location};
use crate::plan::Plan;
use std::path::{Path, PathBuf};

pub use crate::config::sources::is_policy_test as is_test_file;

/// The rule every policy contributes to.
pub const DENY_RULE: &str = "data.terrace.deny";

/// The policies of a workspace, checked to parse.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    files: Vec<(PathBuf, String)>,
    /// `data.workspace` (the groups' ranges), when the workspace is known.
    data: Option<serde_json::Value>,
}

impl Policies {
    /// Reads `policies/*.rego` under `root` (none is fine); a policy that does not parse is an
    /// input error naming the file.
    pub fn load(root: &Path) -> Result<Policies, Vec<Diagnostic>> {
        let workspace = crate::config::Sources::workspace(root);
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for path in workspace.files_in(Path::new("policies"), ".rego") {
            if is_test_file(&path) {
                continue;
            }
            match workspace.read(&path) {
                Ok(text) => files.push((path, text.unwrap_or_default())),
                Err(diagnostic) => problems.push(diagnostic),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Policies::from_files(files)
    }

    /// The policies of these files (`(path relative to the root, Rego text)`), checked to
    /// parse; a policy that does not parse is an input error.
    pub fn from_files(files: Vec<(PathBuf, String)>) -> Result<Policies, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let policies = Policies { files, data: None };
        if let Err(message) = policies.engine() {
            problems.push(
                Diagnostic::new(Location::file("policies/"), message)
                    .help("fix the Rego syntax (policies are Rego v1, `package terrace`)"),
            );
        }
        if problems.is_empty() {
            Ok(policies)
        } else {
            Err(problems)
        }
    }

    /// The same policies, seeing `groups` as `data.workspace.groups` (see the module doc).
    pub fn with_groups(mut self, groups: &[crate::config::group::Group]) -> Policies {
        let cidr = |vars: &std::collections::BTreeMap<String, serde_json::Value>| {
            vars.get("cidr").cloned().unwrap_or(serde_json::Value::Null)
        };
        let groups: serde_json::Map<String, serde_json::Value> = groups
            .iter()
            .map(|g| {
                let replicas: serde_json::Map<String, serde_json::Value> = g
                    .replicas
                    .iter()
                    .map(|r| (r.name.clone(), cidr(&r.vars)))
                    .collect();
                (
                    g.name.clone(),
                    serde_json::json!({"cidr": cidr(&g.vars), "replicas": replicas}),
                )
            })
            .collect();
        self.data = Some(serde_json::json!({"workspace": {"groups": groups}}));
        self
    }

    /// True when there is no policy.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// A regorus engine with every policy loaded (to add tests or assertions to).
    pub fn engine(&self) -> Result<regorus::Engine, String> {
        let mut engine = regorus::Engine::new();
        for (path, text) in &self.files {
            engine
                .add_policy(path.display().to_string(), text.clone())
                .map_err(|e| format!("policy {} does not parse: {e}", path.display()))?;
        }
        if let Some(data) = &self.data {
            engine
                .add_data_json(&data.to_string())
                .map_err(|e| format!("policy data: {e}"))?;
        }
        Ok(engine)
    }

    /// The messages of every `deny` the plan triggers, sorted.
    pub fn deny(&self, plan: &Plan) -> Result<Vec<String>, String> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        self.deny_json(&serde_json::to_string(plan).expect("plans serialize"))
    }

    /// [`Policies::deny`] on a plan already in JSON form.
    pub fn deny_json(&self, input: &str) -> Result<Vec<String>, String> {
        let mut engine = self.engine()?;
        engine
            .set_input_json(input)
            .map_err(|e| format!("policy input: {e}"))?;
        let value = engine
            .eval_rule(DENY_RULE.to_string())
            .map_err(|e| format!("evaluating {DENY_RULE}: {e}"))?;
        let json = value
            .to_json_str()
            .map_err(|e| format!("policy result: {e}"))?;
        let messages: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| format!("policy result: {e}"))?;
        let mut denied: Vec<String> = match messages {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string())
                })
                .collect(),
            serde_json::Value::Null => Vec::new(),
            other => vec![other.to_string()],
        };
        denied.sort();
        Ok(denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shipped() -> Policies {
        Policies::load(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the shipped policies parse")
    }

    fn plan_with(type_name: &str, after: serde_json::Value) -> String {
        json!({"stacks": [{"name": "networks/eu/a", "changes": [
            {"name": "db", "type": type_name, "action": "create", "after": after}
        ]}]})
        .to_string()
    }

    fn denied(type_name: &str, after: serde_json::Value) -> Vec<String> {
        shipped().deny_json(&plan_with(type_name, after)).unwrap()
    }

    #[test]
    fn aws_ingress_open_to_the_world_on_a_database_port_is_denied() {
        let open = json!({"owner": "x", "ingress": [{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["0.0.0.0/0"]}]});
        assert_eq!(
            denied("aws:ec2:SecurityGroup", open),
            vec!["networks/eu/a:db opens database port 5432 to 0.0.0.0/0"]
        );
        let all = json!({"ingress": [{"protocol": "-1", "ipv6_cidr_blocks": ["::/0"]}]});
        assert_eq!(
            denied("aws:ec2:SecurityGroup", all).len(),
            6,
            "every database port"
        );
        let private = json!({"ingress": [{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.0.0.0/8"]}]});
        assert!(denied("aws:ec2:SecurityGroup", private).is_empty());
        let https = json!({"ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}]});
        assert!(denied("aws:ec2:SecurityGroup", https).is_empty());
    }

    #[test]
    fn gcp_firewall_open_to_the_world_on_a_database_port_is_denied() {
        let open = json!({"source_ranges": ["0.0.0.0/0"], "allowed": [{"ip_protocol": "tcp", "ports": ["5000-6000"]}]});
        assert_eq!(
            denied("gcp:compute:Firewall", open),
            vec!["networks/eu/a:db opens database port 5432 to 0.0.0.0/0"]
        );
        let every_tcp =
            json!({"source_ranges": ["0.0.0.0/0"], "allowed": [{"ip_protocol": "tcp"}]});
        assert_eq!(denied("gcp:compute:Firewall", every_tcp).len(), 6);
        let egress = json!({"direction": "EGRESS", "source_ranges": ["0.0.0.0/0"], "allowed": [{"ip_protocol": "all"}]});
        assert!(denied("gcp:compute:Firewall", egress).is_empty());
        let web = json!({"source_ranges": ["0.0.0.0/0"], "allowed": [{"ip_protocol": "tcp", "ports": ["443"]}]});
        assert!(denied("gcp:compute:Firewall", web).is_empty());
    }

    #[test]
    fn tags_and_labels_need_an_owner() {
        assert_eq!(
            denied("aws:ec2:Vpc", json!({"tags": {"Name": "x"}})),
            vec!["networks/eu/a:db (aws:ec2:Vpc) has tags without an `owner` entry"]
        );
        assert!(denied(
            "gcp:compute:Network",
            json!({"labels": {"owner": "db-team"}})
        )
        .is_empty());
        assert!(
            denied("gcp:compute:Network", json!({})).is_empty(),
            "no labels at all is not this policy's business"
        );
    }

    #[test]
    fn a_broken_policy_is_an_input_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::write(
            dir.path().join("policies/bad.rego"),
            "package terrace\ndeny contains msg if {\n",
        )
        .unwrap();
        let problems = Policies::load(dir.path()).unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("policy policies/bad.rego does not parse"),
            "{}",
            problems[0].message
        );
    }
}

#[cfg(test)]
mod unknown_values {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_known_only_after_apply_do_not_break_the_shipped_policies() {
        let policies = Policies::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let unknown = json!({"$unknown": "networks/eu/a: vpc.id"});
        for (type_name, after) in [
            ("aws:ec2:SecurityGroup", json!({"ingress": unknown})),
            (
                "aws:ec2:SecurityGroup",
                json!({"ingress": [{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": unknown}]}),
            ),
            ("aws:ec2:SecurityGroup", json!({"ingress": [unknown]})),
            (
                "gcp:compute:Firewall",
                json!({"source_ranges": unknown, "allowed": unknown}),
            ),
            (
                "gcp:compute:Firewall",
                json!({"source_ranges": ["0.0.0.0/0"], "allowed": [{"ip_protocol": "tcp", "ports": unknown}]}),
            ),
            ("aws:ec2:Vpc", json!({"tags": unknown})),
        ] {
            let input = json!({"stacks": [{"name": "s", "changes": [{"name": "r", "type": type_name, "action": "create", "after": after}]}]});
            let result = policies.deny_json(&input.to_string());
            assert!(result.is_ok(), "{type_name} {after}: {result:?}");
        }
    }
}
