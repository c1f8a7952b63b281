//! `terrace access policy ROLE` and `terrace access check [ROLE]`: the roles of `access:` in
//! terrace.yaml, and the least-privilege IAM policy that makes the cloud enforce one of them
//! on the S3 backend.

use super::args::{AccessCommand, PolicyFormat};
use super::output::{out, outln};
use serde_json::json;
use std::collections::BTreeMap;
use terrace::access::{Action, RoleAccess};
use terrace::engine::Terrace;
use terrace::error::EXIT_OK;
use terrace::Error;
use terrace_s3::iam::{iam_policy, PolicyInputs};
use terrace_s3::S3Location;

/// Runs an `access` command.
pub async fn run(terrace: &Terrace, json: bool, command: &AccessCommand) -> Result<i32, Error> {
    match command {
        AccessCommand::Policy { role, format } => policy(terrace, role, *format).await,
        AccessCommand::Check { role } => {
            let roles: Vec<String> = match role {
                Some(role) => vec![role.clone()],
                None => terrace
                    .workspace()
                    .settings
                    .access
                    .keys()
                    .cloned()
                    .collect(),
            };
            if roles.is_empty() {
                return Err(Error::usage(
                    "terrace.yaml has no `access:` block; add roles with their stacks and actions",
                ));
            }
            let resolved = roles
                .iter()
                .map(|r| terrace.access(r))
                .collect::<Result<Vec<_>, _>>()?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&resolved).expect("access serializes")
                );
            } else {
                for access in &resolved {
                    out!("{}", check_text(access));
                }
            }
            Ok(EXIT_OK)
        }
    }
}

/// One role as `access check` prints it: a line per stack with its actions.
fn check_text(access: &RoleAccess) -> String {
    let mut text = format!("role {}", access.role);
    if let Some(description) = &access.description {
        text.push_str(&format!(" ({description})"));
    }
    text.push_str(&format!(": {} stack(s)\n", access.stacks.len()));
    let width = access
        .stacks
        .iter()
        .map(|g| g.stack.name.len())
        .max()
        .unwrap_or(0);
    for grant in &access.stacks {
        let actions: Vec<&str> = grant.actions.iter().map(|a| a.as_str()).collect();
        text.push_str(&format!(
            "  {:<width$}  {}\n",
            grant.stack.name,
            actions.join(", ")
        ));
    }
    if !access.reads.is_empty() {
        text.push_str(&format!(
            "  reads the state of: {}\n",
            access.reads.join(", ")
        ));
    }
    text
}

/// The S3 location of the workspace's state (TERRACE_BACKEND, else `backend:`).
pub fn s3_location(terrace: &Terrace) -> Result<S3Location, Error> {
    let url = super::backend_url(terrace.workspace());
    if !url.starts_with("s3://") {
        return Err(Error::usage(format!(
            "access policies are made for the S3 backend, and this workspace keeps its state at `{url}`; set `backend: s3://BUCKET/PREFIX?region=R&lock_table=T` in terrace.yaml (or TERRACE_BACKEND)"
        )));
    }
    S3Location::parse(&url).map_err(|e| Error::State(e.into()))
}

async fn policy(terrace: &Terrace, role: &str, format: PolicyFormat) -> Result<i32, Error> {
    let access = terrace.access(role)?;
    let location = s3_location(terrace)?;
    let mut deploy_roles = BTreeMap::new();
    for grant in access
        .stacks
        .iter()
        .filter(|g| g.actions.iter().any(|a| *a != Action::State))
    {
        let roles = terrace.deploy_roles(&grant.stack.name).await?;
        if !roles.is_empty() {
            deploy_roles.insert(grant.stack.name.clone(), roles);
        }
    }
    let secrets_key = terrace
        .workspace()
        .settings
        .secrets
        .as_ref()
        .and_then(|s| s.provider.strip_prefix("awskms://"))
        .map(str::to_string);
    let inputs = PolicyInputs {
        secrets_key,
        deploy_roles,
    };
    let document = iam_policy(&location, &access, &inputs);
    let body = match format {
        PolicyFormat::AwsIam => document,
        PolicyFormat::Json => json!({
            "role": access.role,
            "backend": location.url,
            "stacks": access.stacks.iter().map(|g| json!({"stack": g.stack.name, "actions": g.actions})).collect::<Vec<_>>(),
            "reads": access.reads,
            "deploy_roles": inputs.deploy_roles,
            "policy": document,
        }),
    };
    outln!(
        "{}",
        serde_json::to_string_pretty(&body).expect("policy serializes")
    );
    Ok(EXIT_OK)
}
