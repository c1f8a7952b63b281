//! Per-stack access control: `access:` in `terrace.yaml` names roles (teams), each with stack
//! selectors (globs on stack names, groups, layers, clouds) and the actions it may take
//! (`plan`, `apply`, `destroy`, `state`).
//!
//! Terrace does not enforce these itself: they are turned into cloud policies (the S3 backend
//! makes an IAM policy of them, `terrace access policy ROLE`) that the cloud enforces, and the
//! CLI probes the current credentials before it writes anything
//! ([`crate::state::Backend::probe`]). This module resolves a role to the stacks it covers ([`RoleAccess`]), validates
//! the `access:` block against the workspace, and says which cloud roles a stack deploys with
//! ([`deploy_role_arns`]).

pub use crate::config::sections::{Action, Role};
use crate::config::yaml::{self, Seg};
use crate::config::{StackInstance, Workspace, SETTINGS_FILE};
use crate::diagnostics::{suggest, Diagnostic, Location};
use crate::provider::Properties;
use crate::select::Selector;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

impl Role {
    /// The role's stack selection, as a [`Selector`].
    pub fn selector(&self) -> Selector {
        Selector {
            groups: self.groups.clone(),
            layers: self.layers.clone(),
            stacks: self.stacks.clone(),
            clouds: self.clouds.clone(),
            ..Selector::default()
        }
    }
}

/// A stack a role covers, and what the role may do to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackGrant {
    /// The stack.
    #[serde(flatten)]
    pub stack: StackInstance,
    /// The actions the role may take on it.
    pub actions: BTreeSet<Action>,
}

/// What one role may do: the stacks it covers, and the stacks it only reads outputs of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleAccess {
    /// The role's name.
    pub role: String,
    /// Its description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Covered stacks, in dependency order.
    pub stacks: Vec<StackGrant>,
    /// Stacks outside the role that its stacks depend on, directly or not: planning reads
    /// their outputs, and applying part of a saved plan checks that they were applied first,
    /// so the role reads their state (and nothing else).
    pub reads: Vec<String>,
}

impl RoleAccess {
    /// Stacks the role may take `action` on.
    pub fn stacks_with(&self, action: Action) -> impl Iterator<Item = &StackGrant> {
        self.stacks
            .iter()
            .filter(move |g| g.actions.contains(&action))
    }

    /// Stacks whose state the role reads: every covered stack with any action, and `reads`.
    pub fn readable(&self) -> BTreeSet<String> {
        self.stacks
            .iter()
            .map(|g| g.stack.name.clone())
            .chain(self.reads.iter().cloned())
            .collect()
    }
}

/// Resolves a role of the workspace over its stacks (`stacks` in dependency order) and the
/// stacks each one depends on (`upstream`: stack → every stack above it, directly or not).
/// `None` when no role has that name.
pub fn resolve(
    workspace: &Workspace,
    role: &str,
    stacks: &[StackInstance],
    upstream: &BTreeMap<String, BTreeSet<String>>,
) -> Option<RoleAccess> {
    let settings = workspace.settings.access.get(role)?;
    let selector = settings.selector();
    let actions: BTreeSet<Action> = settings.actions.iter().copied().collect();
    let granted: Vec<StackGrant> = stacks
        .iter()
        .filter(|s| selector.selects(s))
        .map(|s| StackGrant {
            stack: s.clone(),
            actions: actions.clone(),
        })
        .collect();
    let names: BTreeSet<&str> = granted.iter().map(|g| g.stack.name.as_str()).collect();
    let outside: BTreeSet<String> = granted
        .iter()
        .flat_map(|g| upstream.get(&g.stack.name).into_iter().flatten())
        .filter(|r| !names.contains(r.as_str()))
        .cloned()
        .collect();
    Some(RoleAccess {
        role: role.to_string(),
        description: settings.description.clone(),
        stacks: granted,
        reads: outside.into_iter().collect(),
    })
}

/// The error for a role name that `access:` does not define.
pub fn unknown_role(workspace: &Workspace, role: &str) -> String {
    let roles = workspace.settings.access.keys().map(String::as_str);
    if workspace.settings.access.is_empty() {
        format!("no role `{role}`: terrace.yaml has no `access:` block; add one with roles, their stacks and actions")
    } else {
        format!("no role `{role}` in `access:`; {}", suggest(role, roles))
    }
}

/// Checks `access:` against the workspace: valid role names, at least one selector and one
/// action per role, and selectors that name existing groups, layers and clouds and match at
/// least one stack. Each problem names its line in terrace.yaml.
pub fn validate(workspace: &Workspace, stacks: &[StackInstance]) -> Vec<Diagnostic> {
    let access = &workspace.settings.access;
    if access.is_empty() {
        return Vec::new();
    }
    let file = Path::new(SETTINGS_FILE);
    let text = workspace.text(file);
    let at = |path: &[Seg]| yaml::location_of(file, text, path);
    let groups: Vec<&str> = workspace.groups.iter().map(|g| g.name.as_str()).collect();
    let layers: Vec<&str> = workspace.layers.iter().map(|l| l.name.as_str()).collect();
    let clouds: BTreeSet<&str> = stacks.iter().filter_map(|s| s.cloud.as_deref()).collect();
    let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
    let mut problems = Vec::new();
    for (name, role) in access {
        let role_at = at(&[Seg::Key("access"), Seg::Key(name)]);
        if !valid_role_name(name) {
            problems.push(
                Diagnostic::new(role_at.clone(), format!("invalid role name `{name}`"))
                    .help("use letters, digits, `-` and `_` (the name becomes part of cloud policy names)"),
            );
        }
        if role.actions.is_empty() {
            problems.push(
                Diagnostic::new(role_at.clone(), format!("role `{name}` has no actions"))
                    .help("add `actions: [plan]` (or apply, destroy, state)"),
            );
        }
        if role.selector().is_empty() {
            problems.push(
                Diagnostic::new(role_at.clone(), format!("role `{name}` selects no stacks"))
                    .help("add `stacks: ['*']` for every stack, or stacks, groups, layers or clouds to narrow it"),
            );
        }
        let lists: [(&str, &Vec<String>, Vec<&str>); 3] = [
            ("groups", &role.groups, groups.clone()),
            ("layers", &role.layers, layers.clone()),
            ("clouds", &role.clouds, clouds.iter().copied().collect()),
        ];
        for (key, values, known) in lists {
            for (i, value) in values.iter().enumerate() {
                if !known.contains(&value.as_str()) {
                    problems.push(
                        Diagnostic::new(
                            at(&[
                                Seg::Key("access"),
                                Seg::Key(name),
                                Seg::Key(key),
                                Seg::Index(i),
                            ]),
                            format!("role `{name}`: no {} `{value}`", &key[..key.len() - 1]),
                        )
                        .help(suggest(value, known.iter().copied())),
                    );
                }
            }
        }
        for (i, pattern) in role.stacks.iter().enumerate() {
            let location = at(&[
                Seg::Key("access"),
                Seg::Key(name),
                Seg::Key("stacks"),
                Seg::Index(i),
            ]);
            problems.extend(check_pattern(name, pattern, &names, location));
        }
    }
    problems
}

fn check_pattern(
    role: &str,
    pattern: &str,
    names: &[&str],
    location: Location,
) -> Option<Diagnostic> {
    let glob = match glob::Pattern::new(pattern) {
        Ok(glob) => glob,
        Err(err) => {
            return Some(
                Diagnostic::new(
                    location,
                    format!("role `{role}`: `{pattern}` is not a glob: {err}"),
                )
                .help("use `*`, `?` and `[...]`, e.g. `networks/eu/*`"),
            )
        }
    };
    if names.iter().any(|n| glob.matches(n)) {
        return None;
    }
    Some(
        Diagnostic::new(
            location,
            format!("role `{role}`: `{pattern}` matches no stack"),
        )
        .help(suggest(pattern, names.iter().copied())),
    )
}

fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The role every member account of an AWS Organization is created with, assumable from the
/// management account.
pub const MEMBER_ACCOUNT_ROLE: &str = "OrganizationAccountAccessRole";

/// The AWS roles that applying `stack` assumes: the one function that says which accounts a
/// stack deploys into, so that the generated access policies grant `sts:AssumeRole` on
/// exactly those.
///
/// `aws` is the stack's `providers.aws` configuration, resolved (references to upstream
/// outputs replaced by their recorded values; see [`crate::plan::providers`]): the role is
/// `assume_role.role_arn`, or `arn:aws:iam::{account_id}:role/{role_name}` with `role_name`
/// defaulting to [`MEMBER_ACCOUNT_ROLE`] — the same rule the AWS provider applies
/// (`terrace-aws`'s `stack_config`). None for a stack of another cloud, without `assume_role`
/// (it uses the workspace's base credentials), or whose configuration is not known yet (the
/// account is not created) or not valid (the provider refuses it when the stack is planned).
pub fn deploy_role_arns(stack: &StackInstance, aws: Option<&Properties>) -> Vec<String> {
    if stack.cloud.as_deref() != Some("aws") {
        return Vec::new();
    }
    aws.and_then(assumed_role_arn).into_iter().collect()
}

/// The role ARN of a `providers.aws` configuration's `assume_role`, when valid.
fn assumed_role_arn(aws: &Properties) -> Option<String> {
    let role = aws.get("assume_role")?.as_object()?;
    let text = |key: &str| match role.get(key) {
        Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Json::Number(n)) if key == "account_id" => Some(n.to_string()),
        _ => None,
    };
    match (text("role_arn"), text("account_id")) {
        (Some(arn), None) => arn.starts_with("arn:aws:iam::").then_some(arn),
        (None, Some(id)) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => {
            let name = text("role_name").unwrap_or_else(|| MEMBER_ACCOUNT_ROLE.into());
            Some(format!("arn:aws:iam::{id}:role/{name}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stack(name: &str, cloud: Option<&str>) -> StackInstance {
        let mut parts = name.split('/');
        StackInstance {
            name: name.into(),
            layer: parts.next().unwrap().into(),
            group: parts.next().unwrap().into(),
            cloud: cloud.map(str::to_string),
            replica: None,
            region: None,
            zones: vec![],
            renamed_from: None,
        }
    }

    fn aws(config: Json) -> Properties {
        config.as_object().cloned().unwrap()
    }

    #[test]
    fn deploy_roles_are_the_roles_the_stack_assumes() {
        let networks = stack("networks/eu/a", Some("aws"));
        assert!(
            deploy_role_arns(&networks, None).is_empty(),
            "base credentials"
        );
        let default = aws(json!({"assume_role": {"account_id": "123456789012"}}));
        assert_eq!(
            deploy_role_arns(&networks, Some(&default)),
            vec!["arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"]
        );
        let named = aws(json!({"assume_role": {"account_id": "123456789012",
                                                "role_name": "TerraceDeploy"}}));
        assert_eq!(
            deploy_role_arns(&networks, Some(&named)),
            vec!["arn:aws:iam::123456789012:role/TerraceDeploy"]
        );
        let arn = aws(json!({"assume_role": {
            "role_arn": "arn:aws:iam::210987654321:role/deploy", "external_id": "x"}}));
        assert_eq!(
            deploy_role_arns(&networks, Some(&arn)),
            vec!["arn:aws:iam::210987654321:role/deploy"]
        );
        let gcp = stack("networks/eu/b", Some("gcp"));
        assert!(deploy_role_arns(&gcp, Some(&default)).is_empty());
        for invalid in [
            json!({"assume_role": {"account_id": "not-an-id"}}),
            json!({"assume_role": {"account_id": "123456789012",
                                   "role_arn": "arn:aws:iam::123456789012:role/x"}}),
            json!({"region": "eu-west-1"}),
        ] {
            assert!(
                deploy_role_arns(&networks, Some(&aws(invalid.clone()))).is_empty(),
                "{invalid}"
            );
        }
    }
}
