//! `aws:organizations:Policy`: a service control policy (SCP) attached to accounts or OUs —
//! the cloud's own guard of a group's jurisdiction, e.g. a deny of every region outside it
//! (AWS's example "Deny access to AWS based on the requested AWS Region",
//! <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html>).
//!
//! `content` is the policy document as a map (sent as JSON text, read back parsed, so spacing
//! never reads as drift); `target_ids` are the accounts, OUs or root it is attached to.
//! Name, description and content change in place (UpdatePolicy), targets by
//! AttachPolicy/DetachPolicy; delete detaches it everywhere first (DeletePolicy refuses an
//! attached policy, `PolicyInUseException`). SCPs must be enabled on the root
//! (`PolicyTypeNotEnabledException` otherwise): the first create enables them
//! (EnablePolicyType), which changes nothing until a policy is attached. Reads by id are
//! DescribePolicy + ListTargetsForPolicy + tags; by owner, ListPolicies of the SCP type and the
//! tags of each.

use super::Ctx;
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::ownership;
use crate::props::{check_known, str_opt, str_req, strings};
use crate::resources::common::{after_create, create_once, put};
use aws_sdk_organizations::types::PolicyType;
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use terrace_provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Properties, ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:organizations:Policy";

crate::resources::resource_type!(PolicyDef: organizations);
const FIELDS: &[&str] = &["name", "description", "content", "target_ids", "tags"];
const SCP: PolicyType = PolicyType::ServiceControlPolicy;

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    ResourceSchema {
        type_name: TYPE.into(),
        fields: vec![
            FieldSchema::input("name", String).required(),
            FieldSchema::input("description", String),
            FieldSchema::input("content", Map).required(),
            FieldSchema::input("target_ids", List).unordered(),
            FieldSchema::input("tags", StringMap),
            FieldSchema::computed("arn", String),
        ],
        api: ApiClasses {
            read: "organizations:describe".into(),
            mutate: "organizations:mutate".into(),
        },
        regional: false,
    }
}

fn content_text(p: &Properties) -> Result<String, ProviderError> {
    match p.get("content") {
        Some(Json::Object(doc)) => Ok(Json::Object(doc.clone()).to_string()),
        _ => Err(invalid(
            "an SCP's `content` must be a policy document (a map)",
        )),
    }
}

async fn observe(ctx: &Ctx<'_>, id: &str) -> Result<Option<Observed>, ProviderError> {
    let described = match ctx.org.describe_policy().policy_id(id).send().await {
        Ok(d) => d,
        Err(e) => {
            let e = from_sdk(e);
            return match e.kind {
                ErrorKind::NotFound => Ok(None),
                _ if e.code == "PolicyNotFoundException" => Ok(None),
                _ => Err(e),
            };
        }
    };
    let Some(policy) = described.policy() else {
        return Ok(None);
    };
    let summary = policy.policy_summary();
    let targets = ctx
        .org
        .list_targets_for_policy()
        .policy_id(id)
        .send()
        .await
        .map_err(from_sdk)?;
    let target_ids: BTreeSet<String> = targets
        .targets()
        .iter()
        .filter_map(|t| t.target_id().map(str::to_string))
        .collect();
    let tags = ctx
        .org
        .list_tags_for_resource()
        .resource_id(id)
        .send()
        .await
        .map_err(from_sdk)?;
    let (owner, user) = ownership::split_pairs(tags.tags().iter().map(|t| (t.key(), t.value())));
    let mut props = Properties::new();
    put(&mut props, "name", summary.and_then(|s| s.name()));
    put(
        &mut props,
        "description",
        summary.and_then(|s| s.description()),
    );
    let content = policy
        .content()
        .and_then(|c| serde_json::from_str::<Json>(c).ok())
        .unwrap_or(Json::Null);
    props.insert("content".into(), content);
    props.insert("target_ids".into(), json!(target_ids));
    props.insert("tags".into(), json!(user));
    let mut attrs = Properties::new();
    put(&mut attrs, "arn", summary.and_then(|s| s.arn()));
    Ok(Some(Observed {
        id: id.to_string(),
        properties: props,
        attributes: attrs,
        ownership: owner,
    }))
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for id in &request.ids {
        out.extend(observe(ctx, id).await?);
    }
    if let Some(wanted) = &request.owner {
        let listed = ctx
            .org
            .list_policies()
            .filter(SCP)
            .send()
            .await
            .map_err(from_sdk)?;
        for id in listed.policies().iter().filter_map(|p| p.id()) {
            if out.iter().any(|o| o.id == id) {
                continue;
            }
            if let Some(o) = observe(ctx, id).await? {
                if ownership::matches(o.ownership.as_ref(), wanted) {
                    out.push(o);
                }
            }
        }
    }
    Ok(out)
}

/// Enables SCPs on the organization's root when they are not yet.
async fn enable_scps(ctx: &Ctx<'_>) -> Result<(), ProviderError> {
    let roots = ctx.org.list_roots().send().await.map_err(from_sdk)?;
    let Some(root) = roots.roots().first() else {
        return Err(invalid("the organization has no root"));
    };
    let enabled = root.policy_types().iter().any(|t| t.r#type() == Some(&SCP));
    if !enabled {
        ctx.org
            .enable_policy_type()
            .root_id(root.id().unwrap_or_default())
            .policy_type(SCP)
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

async fn attach(ctx: &Ctx<'_>, id: &str, targets: &[String]) -> Result<(), ProviderError> {
    for target in targets {
        ctx.org
            .attach_policy()
            .policy_id(id)
            .target_id(target)
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

async fn detach(ctx: &Ctx<'_>, id: &str, targets: &[String]) -> Result<(), ProviderError> {
    for target in targets {
        ctx.org
            .detach_policy()
            .policy_id(id)
            .target_id(target)
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

async fn finish(ctx: &Ctx<'_>, id: &str) -> Result<Observed, ProviderError> {
    observe(ctx, id)
        .await?
        .ok_or_else(|| crate::error::not_found(TYPE, id))
}

/// The id of the SCP named `name`, if any (names are unique per organization).
async fn find_by_name(ctx: &Ctx<'_>, name: &str) -> Result<Option<String>, ProviderError> {
    let mut token = None;
    loop {
        let page = ctx
            .org
            .list_policies()
            .filter(SCP)
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        if let Some(id) = page
            .policies()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.id())
        {
            return Ok(Some(id.to_string()));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// A policy of this name that carries `owner`'s tags (a create whose answer was lost), or the
/// conflict of a name taken by something else.
async fn adopt(
    ctx: &Ctx<'_>,
    name: &str,
    owner: &terrace_provider::Ownership,
) -> Result<Option<String>, ProviderError> {
    let Some(id) = find_by_name(ctx, name).await? else {
        return Ok(None);
    };
    let found = observe(ctx, &id).await?;
    if found.is_some_and(|o| o.ownership.as_ref() == Some(owner)) {
        return Ok(Some(id));
    }
    Err(ProviderError::new(
        ErrorKind::Conflict,
        "DuplicatePolicyException",
        format!("a policy named {name} exists ({id}) and is not this resource"),
    ))
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let name = str_req(p, "name")?;
    enable_scps(ctx).await?;
    // CreatePolicy has no client token: a policy of this name that is ours is a retry after a
    // lost answer, adopted; the create itself is sent without SDK retries.
    let id = match adopt(ctx, name, &request.ownership).await? {
        Some(id) => id,
        None => {
            let created = create_once(ctx.settings, || async {
                ctx.org
                    .create_policy()
                    .name(name)
                    .description(str_opt(p, "description")?.unwrap_or_default())
                    .content(content_text(p)?)
                    .r#type(SCP)
                    .set_tags(Some(super::tags(&request.ownership, p)?))
                    .customize()
                    .config_override(super::no_retry())
                    .send()
                    .await
                    .map_err(from_sdk_unretried)
            })
            .await?;
            created
                .policy()
                .and_then(|p| p.policy_summary())
                .and_then(|s| s.id())
                .ok_or_else(|| invalid("CreatePolicy returned no id"))?
                .to_string()
        }
    };
    after_create(&id, async {
        let current = finish(ctx, &id).await?;
        let have = strings(&current.properties, "target_ids")?;
        let missing: Vec<String> = strings(p, "target_ids")?
            .into_iter()
            .filter(|t| !have.contains(t))
            .collect();
        attach(ctx, &id, &missing).await?;
        finish(ctx, &id).await
    })
    .await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    ctx.org
        .update_policy()
        .policy_id(&request.id)
        .name(str_req(new, "name")?)
        .description(str_opt(new, "description")?.unwrap_or_default())
        .content(content_text(new)?)
        .send()
        .await
        .map_err(from_sdk)?;
    let before: BTreeSet<String> = strings(old, "target_ids")
        .unwrap_or_default()
        .into_iter()
        .collect();
    let after: BTreeSet<String> = strings(new, "target_ids")?.into_iter().collect();
    let added: Vec<String> = after.difference(&before).cloned().collect();
    let removed: Vec<String> = before.difference(&after).cloned().collect();
    attach(ctx, &request.id, &added).await?;
    detach(ctx, &request.id, &removed).await?;
    finish(ctx, &request.id).await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let Some(current) = observe(ctx, &request.id).await? else {
        return Ok(());
    };
    let targets = strings(&current.properties, "target_ids")?;
    detach(ctx, &request.id, &targets).await?;
    match ctx
        .org
        .delete_policy()
        .policy_id(&request.id)
        .send()
        .await
        .map_err(from_sdk)
    {
        Err(e) if e.kind != ErrorKind::NotFound && e.code != "PolicyNotFoundException" => Err(e),
        _ => Ok(()),
    }
}
