//! The least-privilege AWS IAM policy of one access role ([`terrace::access::RoleAccess`]) on
//! this backend: the cloud, not Terrace, then enforces who touches which stack.
//!
//! | statement | actions | resources |
//! | --- | --- | --- |
//! | `ReadState` | `s3:GetObject` | snapshot and journal objects of every stack the role covers, and of the stacks above them (their outputs) |
//! | `ListState` | `s3:ListBucket` | the bucket, only for the prefixes Terrace lists (`s3:prefix`: the workspace prefix, which `plan` lists to find removed stacks; those stacks' journal and history folders) |
//! | `WriteState` | `s3:PutObject`, `s3:DeleteObject` | snapshot, journal and history objects of the stacks with `apply` or `destroy` |
//! | `Locks` | `dynamodb:GetItem`, `PutItem`, `UpdateItem`, `DeleteItem` | the lock table, items of those stacks only (`dynamodb:LeadingKeys`); `GetItem` also on the stacks above them |
//! | `UnlockState` | `dynamodb:GetItem`, `DeleteItem` | items of the stacks with `state` |
//! | `SecretsKey` | `kms:Decrypt` | the workspace's secrets key, when `secrets.provider` is `awskms://` |
//! | `DeployRoles` | `sts:AssumeRole` | the roles the stacks deploy with ([`terrace::access::deploy_role_arns`]) |
//!
//! Nothing else. ARNs use the `aws` partition; the account of the lock table and key is `*`.

use crate::{S3Backend, S3Location};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use terrace::access::{Action, RoleAccess};

/// What a role's policy covers besides its stacks.
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    /// The workspace's KMS secrets key (`KEY` of `secrets.provider: awskms://KEY`): a key id,
    /// key ARN, alias name (`alias/x`) or alias ARN.
    pub secrets_key: Option<String>,
    /// Stack → the AWS roles it deploys with.
    pub deploy_roles: BTreeMap<String, Vec<String>>,
}

/// The IAM policy document (`{"Version": "2012-10-17", "Statement": [...]}`) that lets
/// exactly `access` happen on the backend at `location`.
pub fn iam_policy(location: &S3Location, access: &RoleAccess, inputs: &PolicyInputs) -> Json {
    let layout = S3Backend::at(location.clone());
    let object = |key: String| format!("arn:aws:s3:::{}/{key}", location.bucket);
    let writers: Vec<&str> = access
        .stacks
        .iter()
        .filter(|g| g.actions.iter().any(|a| a.writes()))
        .map(|g| g.stack.name.as_str())
        .collect();
    let unlockers: Vec<&str> = access
        .stacks_with(Action::State)
        .map(|g| g.stack.name.as_str())
        .collect();
    let readable = access.readable();
    let mut statements = Vec::new();
    let read: Vec<String> = readable
        .iter()
        .flat_map(|s| {
            [
                object(layout.snapshot_key(s)),
                object(format!("{}*", layout.journal_prefix(s))),
            ]
        })
        .collect();
    if !read.is_empty() {
        statements.push(statement("ReadState", &["s3:GetObject"], read, None));
        let mut prefixes = vec![layout.key(""), format!("{}*", layout.key(""))];
        prefixes.truncate(if location.prefix.is_empty() { 1 } else { 2 });
        prefixes.extend(
            readable
                .iter()
                .map(|s| format!("{}*", layout.journal_prefix(s))),
        );
        prefixes.extend(
            writers
                .iter()
                .map(|s| format!("{}*", layout.history_prefix(s))),
        );
        statements.push(statement(
            "ListState",
            &["s3:ListBucket"],
            vec![format!("arn:aws:s3:::{}", location.bucket)],
            Some(json!({"StringLike": {"s3:prefix": dedup(prefixes)}})),
        ));
    }
    if !writers.is_empty() {
        let objects = writers
            .iter()
            .flat_map(|s| {
                [
                    object(layout.snapshot_key(s)),
                    object(format!("{}*", layout.journal_prefix(s))),
                    object(format!("{}*", layout.history_prefix(s))),
                ]
            })
            .collect();
        statements.push(statement(
            "WriteState",
            &["s3:PutObject", "s3:DeleteObject"],
            objects,
            None,
        ));
    }
    let table = format!(
        "arn:aws:dynamodb:{}:*:table/{}",
        location.region.as_deref().unwrap_or("*"),
        location.lock_table
    );
    let lock_keys = |stacks: &mut dyn Iterator<Item = &str>| -> Json {
        json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": dedup(stacks.map(|s| layout.lock_id(s)).collect())}})
    };
    if !writers.is_empty() {
        statements.push(statement(
            "Locks",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            vec![table.clone()],
            Some(lock_keys(&mut writers.iter().copied())),
        ));
        // Applying part of a saved plan checks that the stacks above were applied first.
        if !access.reads.is_empty() {
            statements.push(statement(
                "UpstreamLocks",
                &["dynamodb:GetItem"],
                vec![table.clone()],
                Some(lock_keys(&mut access.reads.iter().map(String::as_str))),
            ));
        }
    }
    if !unlockers.is_empty() {
        statements.push(statement(
            "UnlockState",
            &["dynamodb:GetItem", "dynamodb:DeleteItem"],
            vec![table],
            Some(lock_keys(&mut unlockers.iter().copied())),
        ));
    }
    if let Some(key) = &inputs.secrets_key {
        let (resource, condition) = kms_resource(key, location.region.as_deref());
        statements.push(statement(
            "SecretsKey",
            &["kms:Decrypt"],
            vec![resource],
            condition,
        ));
    }
    let roles: Vec<String> = access
        .stacks
        .iter()
        .filter(|g| g.actions.iter().any(|a| *a != Action::State))
        .flat_map(|g| inputs.deploy_roles.get(&g.stack.name).into_iter().flatten())
        .cloned()
        .collect();
    if !roles.is_empty() {
        statements.push(statement(
            "DeployRoles",
            &["sts:AssumeRole"],
            dedup(roles),
            None,
        ));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>, condition: Option<Json>) -> Json {
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    statement
}

fn dedup(values: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// The resource (and condition) that names a KMS key written as an id, a key ARN, an alias
/// name or an alias ARN. Decrypt is authorized on the key, so an alias becomes "any key that
/// has this alias" (`kms:ResourceAliases`).
fn kms_resource(key: &str, region: Option<&str>) -> (String, Option<Json>) {
    let region = region.unwrap_or("*");
    if key.starts_with("arn:") && key.contains(":key/") {
        return (key.to_string(), None);
    }
    let alias = if let Some((arn, name)) = key.split_once(":alias/") {
        let arn_region = arn.split(':').nth(3).unwrap_or(region);
        Some((arn_region.to_string(), format!("alias/{name}")))
    } else {
        key.starts_with("alias/")
            .then(|| (region.to_string(), key.to_string()))
    };
    match alias {
        Some((region, alias)) => (
            format!("arn:aws:kms:{region}:*:key/*"),
            Some(json!({"ForAnyValue:StringEquals": {"kms:ResourceAliases": [alias]}})),
        ),
        None => (format!("arn:aws:kms:{region}:*:key/{key}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace::access::StackGrant;
    use terrace::config::StackInstance;

    fn grant(name: &str, actions: &[Action]) -> StackGrant {
        let mut parts = name.split('/');
        StackGrant {
            stack: StackInstance {
                name: name.into(),
                layer: parts.next().unwrap().into(),
                group: parts.next().unwrap().into(),
                cloud: Some("aws".into()),
                replica: None,
                region: None,
                zones: vec![],
                renamed_from: None,
            },
            actions: actions.iter().copied().collect(),
        }
    }

    fn location() -> S3Location {
        S3Location::parse("s3://state/ws?region=eu-west-1&lock_table=locks").unwrap()
    }

    fn find<'a>(policy: &'a Json, sid: &str) -> Option<&'a Json> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
    }

    fn strings(value: &Json) -> Vec<&str> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_plan_role_reads_its_stacks_and_their_upstream_and_writes_nothing() {
        let access = RoleAccess {
            role: "viewers".into(),
            description: None,
            stacks: vec![grant("networks/eu/a", &[Action::Plan])],
            reads: vec!["accounts/eu/aws".into()],
        };
        let policy = iam_policy(&location(), &access, &PolicyInputs::default());
        let read = find(&policy, "ReadState").unwrap();
        assert_eq!(strings(&read["Action"]), ["s3:GetObject"]);
        assert_eq!(
            strings(&read["Resource"]),
            [
                "arn:aws:s3:::state/ws/accounts/eu/aws.json",
                "arn:aws:s3:::state/ws/accounts/eu/aws.journal/*",
                "arn:aws:s3:::state/ws/networks/eu/a.json",
                "arn:aws:s3:::state/ws/networks/eu/a.journal/*",
            ]
        );
        let list = find(&policy, "ListState").unwrap();
        assert_eq!(
            strings(&list["Condition"]["StringLike"]["s3:prefix"]),
            [
                "ws/",
                "ws/*",
                "ws/accounts/eu/aws.journal/*",
                "ws/networks/eu/a.journal/*"
            ]
        );
        for sid in [
            "WriteState",
            "Locks",
            "UnlockState",
            "SecretsKey",
            "DeployRoles",
        ] {
            assert!(find(&policy, sid).is_none(), "{sid} in a plan-only policy");
        }
        let every: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| strings(&s["Action"]))
            .collect();
        assert_eq!(every, ["s3:GetObject", "s3:ListBucket"]);
    }

    #[test]
    fn an_apply_role_writes_and_locks_exactly_its_stacks() {
        let access = RoleAccess {
            role: "networks".into(),
            description: None,
            stacks: vec![
                grant("networks/eu/a", &[Action::Plan, Action::Apply]),
                grant("networks/eu/b", &[Action::Plan, Action::Apply]),
            ],
            reads: vec!["accounts/eu/aws".into()],
        };
        let inputs = PolicyInputs {
            secrets_key: Some("alias/terrace".into()),
            deploy_roles: BTreeMap::from([(
                "networks/eu/a".to_string(),
                vec!["arn:aws:iam::123456789012:role/OrganizationAccountAccessRole".to_string()],
            )]),
        };
        let policy = iam_policy(&location(), &access, &inputs);
        let write = find(&policy, "WriteState").unwrap();
        assert_eq!(
            strings(&write["Resource"]),
            [
                "arn:aws:s3:::state/ws/networks/eu/a.json",
                "arn:aws:s3:::state/ws/networks/eu/a.journal/*",
                "arn:aws:s3:::state/ws/.history/networks/eu/a/*",
                "arn:aws:s3:::state/ws/networks/eu/b.json",
                "arn:aws:s3:::state/ws/networks/eu/b.journal/*",
                "arn:aws:s3:::state/ws/.history/networks/eu/b/*",
            ]
        );
        let locks = find(&policy, "Locks").unwrap();
        assert_eq!(
            strings(&locks["Resource"]),
            ["arn:aws:dynamodb:eu-west-1:*:table/locks"]
        );
        assert_eq!(
            strings(&locks["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]),
            ["ws/networks/eu/a", "ws/networks/eu/b"]
        );
        let upstream = find(&policy, "UpstreamLocks").unwrap();
        assert_eq!(strings(&upstream["Action"]), ["dynamodb:GetItem"]);
        let key = find(&policy, "SecretsKey").unwrap();
        assert_eq!(strings(&key["Resource"]), ["arn:aws:kms:eu-west-1:*:key/*"]);
        assert_eq!(
            strings(&key["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]),
            ["alias/terrace"]
        );
        let roles = find(&policy, "DeployRoles").unwrap();
        assert_eq!(
            strings(&roles["Resource"]),
            ["arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"]
        );
    }

    #[test]
    fn kms_keys_are_named_as_written() {
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(kms_resource(arn, None), (arn.to_string(), None));
        assert_eq!(
            kms_resource("1234abcd", Some("us-east-1")).0,
            "arn:aws:kms:us-east-1:*:key/1234abcd"
        );
        let (resource, condition) =
            kms_resource("arn:aws:kms:eu-west-3:123456789012:alias/db", None);
        assert_eq!(resource, "arn:aws:kms:eu-west-3:*:key/*");
        assert_eq!(
            condition.unwrap()["ForAnyValue:StringEquals"]["kms:ResourceAliases"][0],
            "alias/db"
        );
    }
}
