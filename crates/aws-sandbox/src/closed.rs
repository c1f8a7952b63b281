//! Closed accounts are out of reach: once Organizations `CloseAccount` succeeded for a member
//! account, an STS `AssumeRole` into one of its roles is refused with 403 `AccessDenied`, as AWS
//! refuses it. moto keeps handing out credentials for a closed (`SUSPENDED`) account, so a
//! program that closed an account and went on using it would pass here and fail on AWS.
//!
//! Sources: "Closing a member account" (after closure the account is `SUSPENDED` for 90 days and
//! its resources cannot be used:
//! <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_close.html>);
//! the refusal's words, "User: … is not authorized to perform: sts:AssumeRole on resource:
//! arn:aws:iam::ACCOUNT:role/…", as reported for suspended accounts in
//! CrowdStrike/cloud-resource-estimator#25 (also awslabs/landing-zone-accelerator-on-aws#727:
//! "fails to assume role in the target account (expected)").

use crate::answer::AwsError;
use crate::call::Call;
use crate::upstream::Upstream;
use axum::http::HeaderMap;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Ids of the accounts closed through this layer.
#[derive(Debug, Default)]
pub struct ClosedAccounts {
    ids: Mutex<BTreeSet<String>>,
}

impl ClosedAccounts {
    /// Records the account of a successful Organizations `CloseAccount`.
    pub fn observe(&self, call: &Call) {
        if call.service != "organizations" || call.action != "CloseAccount" {
            return;
        }
        if let Some(id) = call.json["AccountId"].as_str() {
            self.lock().insert(id.to_string());
        }
    }

    /// The refusal of an STS `AssumeRole` whose `RoleArn` is in a closed account, naming the
    /// caller as STS does (looked up with `GetCallerIdentity` in the caller's own credentials).
    pub async fn refusal(
        &self,
        call: &Call,
        headers: &HeaderMap,
        upstream: &Upstream,
    ) -> Option<AwsError> {
        if call.service != "sts" || call.action != "AssumeRole" {
            return None;
        }
        let role = call.param("RoleArn")?;
        let account = account_of(role)?;
        if !self.lock().contains(account) {
            return None;
        }
        let caller = caller_arn(call, headers, upstream)
            .await
            .unwrap_or_else(|| "the caller".to_string());
        Some(AwsError::new(
            403,
            "AccessDenied",
            format!(
                "User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"
            ),
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The account id of `arn:PARTITION:iam::ACCOUNT:role/NAME`.
fn account_of(role_arn: &str) -> Option<&str> {
    let mut parts = role_arn.split(':');
    let (arn, _partition, iam, _region) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let account = parts.next()?;
    (arn == "arn" && iam == "iam" && !account.is_empty()).then_some(account)
}

/// The ARN of the credentials that signed `call`, from STS `GetCallerIdentity`.
async fn caller_arn(call: &Call, headers: &HeaderMap, upstream: &Upstream) -> Option<String> {
    let params = [
        ("Action".to_string(), "GetCallerIdentity".to_string()),
        ("Version".to_string(), "2011-06-15".to_string()),
    ];
    let text = upstream
        .query(headers, "sts", &call.region, &params)
        .await?;
    crate::xml::texts(&text, "Arn").into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_a_role_arn() {
        let cases = [
            (
                "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole",
                Some("111122223333"),
            ),
            (
                "arn:aws-us-gov:iam::444455556666:role/r",
                Some("444455556666"),
            ),
            ("arn:aws:iam:::role/r", None),
            ("arn:aws:s3:::bucket", None),
            ("not an arn", None),
        ];
        for (arn, account) in cases {
            assert_eq!(account_of(arn), account, "{arn}");
        }
    }
}
