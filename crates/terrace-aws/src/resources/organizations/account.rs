//! `aws:organizations:Account`: a member account created in the organization. Create waits
//! for the CreateAccount request to succeed. An active account with the same email (found
//! before creating, or met as an `EMAIL_ALREADY_EXISTS` failure) is adopted when it carries the
//! same ownership tags (a retry after a lost
//! answer: CreateAccount has no client token). The parent (root or OU) is updated in place
//! with MoveAccount — by id (`parent_id`) or by the name of an OU under the root
//! (`organizational_unit`, created when missing and never deleted) — tags with TagResource/UntagResource; email, name, role name and billing
//! access force a replacement. Delete closes the account (accounts cannot be deleted).
//!
//! Reads list the organization's accounts (one call per page of 20) and fetch tags with one
//! ListTagsForResource per candidate account (Organizations has no batched tag read). An
//! account's lifecycle is its `State` (`ACTIVE`, `PENDING_ACTIVATION`, `PENDING_CLOSURE`,
//! `SUSPENDED`, `CLOSED`); the older `Status` field is retired
//! (<https://docs.aws.amazon.com/organizations/latest/APIReference/API_Account.html>). A
//! managed account closed by Terrace's own delete (tagged `terrace:closed` just before) reads
//! as gone; one closing or closed otherwise is reported as such — an error naming its state
//! and what can be done — never read as absent, which would plan a new account: a closed
//! account stays SUSPENDED for 90 days (it can be reopened through AWS Support), and its email
//! cannot be used for another account
//! (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_close.html>).
//! CloseAccount's quota (10% of the member accounts per rolling 30 days) is reported plainly.

use super::Ctx;
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::ownership::{self, user_tags};
use crate::props::{changed, check_known, str_opt, str_req};
use crate::resources::common::{after_create, create_once, put, wait_for};
use aws_sdk_organizations::types::{
    Account, AccountState, AccountStatus, CreateAccountState, IamUserAccessToBilling, Tag,
};
use serde_json::json;
use terrace_provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Ownership, Properties, ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:organizations:Account";

crate::resources::resource_type!(AccountDef: organizations);
const FIELDS: &[&str] = &[
    "email",
    "name",
    "role_name",
    "iam_user_access_to_billing",
    "parent_id",
    "organizational_unit",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    ResourceSchema {
        type_name: TYPE.into(),
        fields: vec![
            // One AWS account per email address (`EMAIL_ALREADY_EXISTS`).
            FieldSchema::input("email", String)
                .required()
                .force_new()
                .unique_within(&[]),
            FieldSchema::input("name", String).required().force_new(),
            FieldSchema::input("role_name", String).force_new(),
            FieldSchema::input("iam_user_access_to_billing", String).force_new(),
            FieldSchema::input("parent_id", String),
            // An OU under the root, by name: created when missing, never deleted (OUs are
            // shared, and a closed account stays in its OU for 90 days).
            FieldSchema::input("organizational_unit", String),
            FieldSchema::input("tags", StringMap),
            FieldSchema::computed("arn", String),
            FieldSchema::computed("status", String),
            FieldSchema::computed("state", String),
            FieldSchema::computed("joined_method", String),
        ],
        api: ApiClasses {
            read: "organizations:describe".into(),
            mutate: "organizations:mutate".into(),
        },
        regional: false,
    }
}

async fn list(ctx: &Ctx<'_>) -> Result<Vec<Account>, ProviderError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = ctx
            .org
            .list_accounts()
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(page.accounts().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// An account's `State`; from the retired `Status` when an endpoint sends only that.
fn state_of(account: &Account) -> AccountState {
    if let Some(state) = account.state() {
        return state.clone();
    }
    match account.status() {
        Some(AccountStatus::Active) => AccountState::Active,
        Some(AccountStatus::PendingClosure) => AccountState::PendingClosure,
        _ => AccountState::Suspended,
    }
}

fn is_active(account: &Account) -> bool {
    state_of(account) == AccountState::Active
}

/// The tag Terrace puts on an account just before it closes it: a closed account with it was
/// deleted by Terrace (reads take it as gone); one without it was closed or suspended by
/// someone else, and is reported.
const CLOSED_TAG: &str = "terrace:closed";

async fn closed_by_terrace(ctx: &Ctx<'_>, id: &str) -> Result<bool, ProviderError> {
    Ok(tags_of(ctx, id)
        .await?
        .iter()
        .any(|t| t.key() == CLOSED_TAG))
}

/// The error a managed account that is closing or closed is reported with.
fn not_active(account: &Account) -> ProviderError {
    let id = account.id().unwrap_or_default();
    let state = state_of(account);
    let what = match state {
        AccountState::PendingClosure => "is being closed (PENDING_CLOSURE)",
        AccountState::Suspended => {
            "is closed (SUSPENDED): AWS keeps it 90 days, during which AWS Support can reopen it"
        }
        AccountState::PendingActivation => "is not active yet (PENDING_ACTIVATION)",
        _ => "is closed for good (CLOSED)",
    };
    ProviderError::new(
        ErrorKind::Conflict,
        format!("Account{}", state.as_str()),
        format!(
            "account {id} ({}) {what}; it cannot hold the group's resources and Terrace will not \
             create another in its place on its own: reopen it, or take it out of state \
             (`terrace state rm STACK:RESOURCE`) and give the new account another email (a \
             closed account's email cannot be reused)",
            account.name().unwrap_or_default()
        ),
    )
}

async fn tags_of(ctx: &Ctx<'_>, id: &str) -> Result<Vec<Tag>, ProviderError> {
    let mut tags = Vec::new();
    let mut token = None;
    loop {
        let page = ctx
            .org
            .list_tags_for_resource()
            .resource_id(id)
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        tags.extend(page.tags().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(tags);
        }
    }
}

async fn parent_of(ctx: &Ctx<'_>, id: &str) -> Result<Option<String>, ProviderError> {
    let answer = ctx
        .org
        .list_parents()
        .child_id(id)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(answer
        .parents()
        .first()
        .and_then(|p| p.id())
        .map(str::to_string))
}

async fn observe(ctx: &Ctx<'_>, account: &Account) -> Result<Observed, ProviderError> {
    let id = account.id().unwrap_or_default();
    let tags = tags_of(ctx, id).await?;
    let (owner, user) = ownership::split_pairs(tags.iter().map(|t| (t.key(), t.value())));
    let mut props = Properties::new();
    put(&mut props, "email", account.email());
    put(&mut props, "name", account.name());
    props.insert("tags".into(), json!(user));
    let mut attrs = Properties::new();
    put(&mut attrs, "arn", account.arn());
    put(&mut attrs, "status", account.status().map(|s| s.as_str()));
    put(&mut attrs, "state", Some(state_of(account).as_str()));
    put(
        &mut attrs,
        "joined_method",
        account.joined_method().map(|m| m.as_str()),
    );
    Ok(Observed {
        id: id.to_string(),
        properties: props,
        attributes: attrs,
        ownership: owner,
    })
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for account in list(ctx).await? {
        let id = account.id().unwrap_or_default();
        let asked = request.ids.iter().any(|i| i == id);
        if !asked && request.owner.is_none() {
            continue;
        }
        if !is_active(&account) {
            if asked && !closed_by_terrace(ctx, id).await? {
                return Err(not_active(&account));
            }
            continue; // gone (Terrace closed it), and never adopted by its tags
        }
        let observed = observe(ctx, &account).await?;
        let owned = request
            .owner
            .as_ref()
            .is_some_and(|o| ownership::matches(observed.ownership.as_ref(), o));
        if asked || owned {
            out.push(observed);
        }
    }
    Ok(out)
}

async fn read_one(ctx: &Ctx<'_>, id: &str) -> Result<Option<Observed>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(read(ctx, &request).await?.into_iter().next())
}

/// Whether an account is active; `None` when the organization has no such account.
async fn active(ctx: &Ctx<'_>, id: &str) -> Result<Option<bool>, ProviderError> {
    Ok(list(ctx)
        .await?
        .iter()
        .find(|a| a.id() == Some(id))
        .map(is_active))
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let email = str_req(p, "email")?;
    // Emails are unique: an account with this email is adopted when it is ours (a retry after a
    // lost answer), refused otherwise. Checked first because moto 5.1 does not refuse a
    // duplicate email.
    let accounts = list(ctx).await?;
    if let Some(closed) = accounts
        .iter()
        .find(|a| a.email() == Some(email) && !is_active(a))
    {
        return Err(not_active(closed));
    }
    if accounts.iter().any(|a| a.email() == Some(email)) {
        let id = adopt(ctx, email, &request.ownership).await?;
        place(ctx, &id, p).await?;
        return finish(ctx, &id, p).await;
    }
    // Sent once (no SDK retry): moto does not refuse a second account with the same email, so
    // a retried CreateAccount after a lost answer would make two; a lost answer is ambiguous
    // and resolved by ownership tags instead.
    let answer = create_once(ctx.settings, || async {
        ctx.org
            .create_account()
            .email(email)
            .account_name(str_req(p, "name")?)
            .set_role_name(str_opt(p, "role_name")?.map(str::to_string))
            .set_iam_user_access_to_billing(
                str_opt(p, "iam_user_access_to_billing")?.map(IamUserAccessToBilling::from),
            )
            .set_tags(Some(super::tags(&request.ownership, p)?))
            .customize()
            .config_override(super::no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let status_id = answer
        .create_account_status()
        .and_then(|s| s.id())
        .ok_or_else(|| invalid("CreateAccount answered no request id"))?
        .to_string();
    let created = after_create(&status_id, wait_created(ctx, &status_id)).await?;
    let id = match created {
        Ok(id) => id,
        Err(reason) if reason == "EMAIL_ALREADY_EXISTS" => {
            adopt(ctx, email, &request.ownership).await?
        }
        Err(reason) => {
            return Err(ProviderError::new(
                ErrorKind::Other,
                "CreateAccountFailed",
                format!("CreateAccount failed: {reason}"),
            ))
        }
    };
    after_create(&id, async {
        if let Some(parent) = str_opt(p, "parent_id")? {
            move_to(ctx, &id, parent).await?;
        }
        place(ctx, &id, p).await?;
        finish(ctx, &id, p).await
    })
    .await
}

/// Waits for a CreateAccount request: the account id, or the failure reason.
async fn wait_created(
    ctx: &Ctx<'_>,
    status_id: &str,
) -> Result<Result<String, String>, ProviderError> {
    wait_for(
        ctx.settings,
        &format!("account creation {status_id}"),
        || async {
            let answer = ctx
                .org
                .describe_create_account_status()
                .create_account_request_id(status_id)
                .send()
                .await
                .map_err(from_sdk)?;
            let Some(status) = answer.create_account_status() else {
                return Ok(None);
            };
            Ok(match status.state() {
                Some(CreateAccountState::Succeeded) => {
                    Some(Ok(status.account_id().unwrap_or_default().to_string()))
                }
                Some(CreateAccountState::Failed) => Some(Err(status
                    .failure_reason()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default())),
                _ => None,
            })
        },
    )
    .await
}

/// The account of `email`, when it carries this ownership.
async fn adopt(ctx: &Ctx<'_>, email: &str, owner: &Ownership) -> Result<String, ProviderError> {
    for account in list(ctx).await? {
        if account.email() == Some(email) && is_active(&account) {
            let observed = observe(ctx, &account).await?;
            if observed.ownership.as_ref() == Some(owner) {
                return Ok(observed.id);
            }
        }
    }
    Err(ProviderError::new(
        ErrorKind::Conflict,
        "EMAIL_ALREADY_EXISTS",
        format!("an account with email {email} exists and is not this resource"),
    ))
}

async fn move_to(ctx: &Ctx<'_>, id: &str, parent: &str) -> Result<(), ProviderError> {
    let current = parent_of(ctx, id).await?;
    if current.as_deref() == Some(parent) {
        return Ok(());
    }
    let source = current.ok_or_else(|| invalid(format!("account {id} has no parent")))?;
    ctx.org
        .move_account()
        .account_id(id)
        .source_parent_id(source)
        .destination_parent_id(parent)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(())
}

/// Reads the account back, with its parent when the configuration sets one.
async fn finish(ctx: &Ctx<'_>, id: &str, p: &Properties) -> Result<Observed, ProviderError> {
    let mut observed = read_one(ctx, id)
        .await?
        .ok_or_else(|| crate::error::not_found(TYPE, id))?;
    if p.contains_key("parent_id") || p.contains_key("organizational_unit") {
        if let Some(parent) = parent_of(ctx, id).await? {
            if p.contains_key("organizational_unit") {
                let name = ou_name(ctx, &parent).await?;
                put(&mut observed.properties, "organizational_unit", name);
            }
            if p.contains_key("parent_id") {
                observed
                    .properties
                    .insert("parent_id".into(), json!(parent));
            }
        }
    }
    Ok(observed)
}

/// The name of an OU by id; `None` for the root.
async fn ou_name(ctx: &Ctx<'_>, id: &str) -> Result<Option<String>, ProviderError> {
    if !id.starts_with("ou-") {
        return Ok(None);
    }
    let answer = ctx
        .org
        .describe_organizational_unit()
        .organizational_unit_id(id)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(answer
        .organizational_unit()
        .and_then(|ou| ou.name())
        .map(str::to_string))
}

/// The id of the OU named `name` under the organization's root, created when missing.
async fn ensure_ou(ctx: &Ctx<'_>, name: &str) -> Result<String, ProviderError> {
    let roots = ctx.org.list_roots().send().await.map_err(from_sdk)?;
    let root = roots
        .roots()
        .first()
        .and_then(|r| r.id())
        .ok_or_else(|| invalid("the organization has no root"))?
        .to_string();
    if let Some(id) = find_ou(ctx, &root, name).await? {
        return Ok(id);
    }
    // Sent once: a retried create after a lost answer would make a second OU of the name
    // (moto does not refuse it, AWS answers DuplicateOrganizationalUnitException); whatever
    // happened, the OU is looked up again by name.
    let created = ctx
        .org
        .create_organizational_unit()
        .parent_id(&root)
        .name(name)
        .customize()
        .config_override(super::no_retry())
        .send()
        .await;
    match created.map_err(from_sdk_unretried) {
        Ok(answer) => answer
            .organizational_unit()
            .and_then(|ou| ou.id())
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("CreateOrganizationalUnit {name} returned no id"))),
        Err(e) => match find_ou(ctx, &root, name).await? {
            Some(id) => Ok(id),
            None => Err(e),
        },
    }
}

/// The id of the OU named `name` directly under `parent`.
async fn find_ou(ctx: &Ctx<'_>, parent: &str, name: &str) -> Result<Option<String>, ProviderError> {
    let mut token = None;
    loop {
        let page = ctx
            .org
            .list_organizational_units_for_parent()
            .parent_id(parent)
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        if let Some(id) = page
            .organizational_units()
            .iter()
            .find(|ou| ou.name() == Some(name))
            .and_then(|ou| ou.id())
        {
            return Ok(Some(id.to_string()));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// Moves the account into the OU `props` name, if any.
async fn place(ctx: &Ctx<'_>, id: &str, props: &Properties) -> Result<(), ProviderError> {
    if let Some(name) = str_opt(props, "organizational_unit")? {
        let ou = ensure_ou(ctx, name).await?;
        move_to(ctx, id, &ou).await?;
    }
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    if changed(old, new, "parent_id") {
        if let Some(parent) = str_opt(new, "parent_id")? {
            move_to(ctx, &request.id, parent).await?;
        }
    }
    if changed(old, new, "organizational_unit") {
        place(ctx, &request.id, new).await?;
    }
    let before = user_tags(old).unwrap_or_default();
    let after = user_tags(new)?;
    let removed: Vec<String> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    if !removed.is_empty() {
        ctx.org
            .untag_resource()
            .resource_id(&request.id)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    let set = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| invalid(e.to_string()))
        })
        .collect::<Result<Vec<Tag>, ProviderError>>()?;
    if !set.is_empty() {
        ctx.org
            .tag_resource()
            .resource_id(&request.id)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    finish(ctx, &request.id, new).await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    // Closing or closed already: deleted, as far as an account can be.
    if active(ctx, &request.id).await? != Some(true) {
        return Ok(());
    }
    let mark = Tag::builder()
        .key(CLOSED_TAG)
        .value("true")
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    ctx.org
        .tag_resource()
        .resource_id(&request.id)
        .tags(mark)
        .send()
        .await
        .map_err(from_sdk)?;
    match ctx
        .org
        .close_account()
        .account_id(&request.id)
        .send()
        .await
        .map_err(from_sdk)
    {
        Err(e)
            if e.code == "ConstraintViolationException"
                && e.message.to_lowercase().contains("quota") =>
        {
            Err(close_quota(&request.id, e))
        }
        Err(e) if e.kind != ErrorKind::NotFound && e.code != "AccountAlreadyClosedException" => {
            Err(e)
        }
        _ => Ok(()),
    }
}

/// CloseAccount refused by its quota (`CLOSE_ACCOUNT_QUOTA_EXCEEDED`: 10% of the member
/// accounts, at least 10 and at most 1,000, per rolling 30 days;
/// <https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html>).
fn close_quota(id: &str, e: ProviderError) -> ProviderError {
    ProviderError::new(
        ErrorKind::Conflict,
        "CLOSE_ACCOUNT_QUOTA_EXCEEDED",
        format!(
            "account {id} cannot be closed now: Organizations closes at most 10% of the member \
             accounts (10 to 1,000) per rolling 30 days, and that quota is used up; the account \
             stays in state and the next apply tries again ({})",
            e.message
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_close_quota_is_said_plainly_and_states_are_read() {
        let sdk = ProviderError::new(
            ErrorKind::Invalid,
            "ConstraintViolationException",
            "You have exceeded close account quota for the past 30 days.",
        );
        let err = close_quota("123456789012", sdk);
        assert_eq!(err.code, "CLOSE_ACCOUNT_QUOTA_EXCEEDED");
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(
            err.message.contains("10% of the member accounts"),
            "{}",
            err.message
        );
        assert!(err.message.contains("stays in state"), "{}", err.message);

        let suspended = Account::builder()
            .id("123456789012")
            .name("db-eu")
            .state(AccountState::Suspended)
            .build();
        assert!(!is_active(&suspended));
        let reported = not_active(&suspended);
        assert_eq!(reported.code, "AccountSUSPENDED");
        // Only the retired field: read through it.
        let legacy = Account::builder()
            .id("1")
            .status(AccountStatus::PendingClosure)
            .build();
        assert_eq!(state_of(&legacy), AccountState::PendingClosure);
    }
}
