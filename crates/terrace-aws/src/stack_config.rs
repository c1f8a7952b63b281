//! A stack's own AWS provider configuration (`providers.aws` of its layer or template):
//!
//! ```yaml
//! providers:
//!   aws:
//!     assume_role:
//!       account_id: ${accounts.outputs.account_id}   # or role_arn: arn:aws:iam::...:role/...
//!       role_name: OrganizationAccountAccessRole       # with account_id; this is the default
//!       session_name: terrace                          # default
//!       external_id: ...                               # optional
//!       duration_seconds: 3600                         # optional, 900..=43200
//! ```
//!
//! `OrganizationAccountAccessRole` is the role Organizations creates in every member account
//! it creates, trusting the management account
//! (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access-cross-account-role.html>).
//! STS accepts 900 seconds up to the role's maximum session duration, at most 43,200
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).

use crate::client::AssumeRole;
use crate::error::invalid;
use serde_json::Value as Json;
use std::time::Duration;
use terrace_provider::{Properties, ProviderError};

/// The role Organizations creates in a member account when `role_name` is not given.
pub const DEFAULT_ROLE_NAME: &str = "OrganizationAccountAccessRole";
/// `RoleSessionName` when the configuration gives none.
pub const DEFAULT_SESSION_NAME: &str = "terrace";

const KEYS: &[&str] = &[
    "role_arn",
    "account_id",
    "role_name",
    "session_name",
    "external_id",
    "duration_seconds",
];

/// Reads a stack's `providers.aws`. Errors say which key is wrong and what it takes.
pub fn parse(config: &Properties) -> Result<AssumeRole, ProviderError> {
    if let Some(key) = config.keys().find(|k| *k != "assume_role") {
        return Err(invalid(format!(
            "unknown key `{key}` in providers.aws of a stack (known: assume_role)"
        )));
    }
    let role = match config.get("assume_role") {
        Some(Json::Object(role)) => role,
        Some(_) => return Err(invalid("providers.aws.assume_role must be a map")),
        None => return Err(invalid("providers.aws of a stack needs `assume_role`")),
    };
    if let Some(key) = role.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown key `{key}` in providers.aws.assume_role (known: {})",
            KEYS.join(", ")
        )));
    }
    let text = |key: &str| -> Result<Option<String>, ProviderError> {
        match role.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(Json::Number(n)) if key == "account_id" => Ok(Some(n.to_string())),
            Some(other) => Err(invalid(format!(
                "providers.aws.assume_role.{key} must be a non-empty string, not {other}"
            ))),
        }
    };
    let role_arn = match (text("role_arn")?, text("account_id")?) {
        (Some(arn), None) => arn,
        (None, Some(account)) => {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!(
                    "providers.aws.assume_role.account_id `{account}` is not a 12-digit AWS account id"
                )));
            }
            let name = text("role_name")?.unwrap_or_else(|| DEFAULT_ROLE_NAME.into());
            format!("arn:aws:iam::{account}:role/{name}")
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "providers.aws.assume_role takes `role_arn` or `account_id`, not both",
            ))
        }
        (None, None) => {
            return Err(invalid(
                "providers.aws.assume_role needs `role_arn` or `account_id`",
            ))
        }
    };
    let duration = match role.get("duration_seconds") {
        None | Some(Json::Null) => None,
        Some(v) => match v.as_u64().filter(|s| (900..=43_200).contains(s)) {
            Some(secs) => Some(Duration::from_secs(secs)),
            None => {
                return Err(invalid(format!(
                    "providers.aws.assume_role.duration_seconds is {v}: STS takes 900 to 43200"
                )))
            }
        },
    };
    Ok(AssumeRole {
        role_arn,
        session_name: text("session_name")?.unwrap_or_else(|| DEFAULT_SESSION_NAME.into()),
        external_id: text("external_id")?,
        duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(value: Json) -> Result<AssumeRole, ProviderError> {
        parse(value.as_object().unwrap())
    }

    #[test]
    fn an_account_id_means_the_organizations_role() {
        let role = parse_json(json!({"assume_role": {"account_id": "123456789012"}})).unwrap();
        assert_eq!(
            role.role_arn,
            "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"
        );
        assert_eq!(role.session_name, "terrace");
        assert_eq!(role.duration, None);
        let role = parse_json(json!({"assume_role": {
            "role_arn": "arn:aws:iam::123456789012:role/deploy", "external_id": "x",
            "session_name": "ci", "duration_seconds": 900}}))
        .unwrap();
        assert_eq!(role.role_arn, "arn:aws:iam::123456789012:role/deploy");
        assert_eq!(role.external_id.as_deref(), Some("x"));
        assert_eq!(role.duration, Some(Duration::from_secs(900)));
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (bad, says) in [
            (json!({"project": "x"}), "unknown key `project`"),
            (
                json!({"assume_role": {}}),
                "needs `role_arn` or `account_id`",
            ),
            (json!({"assume_role": {"account_id": "12"}}), "12-digit"),
            (
                json!({"assume_role": {"account_id": "123456789012", "duration_seconds": 60}}),
                "900 to 43200",
            ),
            (
                json!({"assume_role": {"account_id": "123456789012", "role_arn": "a"}}),
                "not both",
            ),
            (
                json!({"assume_role": {"acount_id": "123456789012"}}),
                "unknown key `acount_id`",
            ),
        ] {
            let err = parse_json(bad).unwrap_err();
            assert!(err.message.contains(says), "{}", err.message);
            assert_eq!(err.kind, terrace_provider::ErrorKind::Invalid);
        }
    }
}
