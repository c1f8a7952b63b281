//! Elastic Load Balancing v2 types and what they share. ELBv2 has no tag filter on its
//! Describe calls, so a batched read lists the region's resources (one call per page of 400)
//! and fetches tags with DescribeTags (one call per 20 resources) for the candidates only:
//! those asked for by id, or all of them when an owner is asked for.

pub mod listener;
pub mod load_balancer;
pub mod target_group;

use crate::client::Settings;
use crate::error::from_sdk;
use crate::ownership::{self, user_tags};
use aws_sdk_elasticloadbalancingv2::types::Tag;
use serde_json::json;
use std::collections::HashMap;
use terrace_provider::{
    ApiClasses, FieldKind, FieldSchema, Observed, Ownership, Properties, ProviderError,
    ReadRequest, ResourceSchema,
};

pub use super::common::{
    after_create, create_once, dedup, delete_when_free, put, read_back, wait_for,
};

/// A per-request configuration without SDK retries, for creates (see [`create_once`]): ELBv2
/// answers a second create of the same name with `Duplicate…` in moto (AWS returns the first
/// one when its settings match), so a lost answer is resolved by ownership tags instead.
pub fn no_retry() -> aws_sdk_elasticloadbalancingv2::config::Builder {
    aws_sdk_elasticloadbalancingv2::config::Builder::new()
        .retry_config(aws_config::retry::RetryConfig::disabled())
}

/// What an ELBv2 operation needs: the region's client and the provider settings.
pub struct Ctx<'a> {
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub settings: &'a Settings,
}

/// The schema of an ELBv2 type (regional, `elbv2:describe`/`elbv2:mutate`, `tags` field).
pub fn schema(type_name: &str, mut fields: Vec<FieldSchema>) -> ResourceSchema {
    fields.push(FieldSchema::input("tags", FieldKind::StringMap));
    fields.push(FieldSchema::computed("arn", FieldKind::String));
    ResourceSchema {
        type_name: type_name.to_string(),
        fields,
        api: ApiClasses {
            read: "elbv2:describe".into(),
            mutate: "elbv2:mutate".into(),
        },
        regional: true,
    }
}

/// Ownership and user tags of a create call.
pub fn create_tags(owner: &Ownership, p: &Properties) -> Result<Vec<Tag>, ProviderError> {
    Ok(ownership::pairs(owner, &user_tags(p)?)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect())
}

/// Tags by ARN (DescribeTags takes 20 ARNs per call).
pub async fn tags_of(
    ctx: &Ctx<'_>,
    arns: &[String],
) -> Result<HashMap<String, Vec<Tag>>, ProviderError> {
    let mut out = HashMap::new();
    for chunk in arns.chunks(20) {
        let answer = ctx
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(from_sdk)?;
        for description in answer.tag_descriptions() {
            if let Some(arn) = description.resource_arn() {
                out.insert(arn.to_string(), description.tags().to_vec());
            }
        }
    }
    Ok(out)
}

/// ARNs worth fetching tags for: asked for by id, or every one when an owner is asked for.
pub fn candidates(request: &ReadRequest, arns: impl Iterator<Item = String>) -> Vec<String> {
    arns.filter(|arn| request.owner.is_some() || request.ids.contains(arn))
        .collect()
}

/// An observation, or `None` when the resource is neither asked for by id nor by owner.
pub fn observed(
    request: &ReadRequest,
    arn: &str,
    mut properties: Properties,
    mut attributes: Properties,
    tags: &[Tag],
) -> Option<Observed> {
    let (owner, user) = ownership::split_pairs(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    );
    let by_owner = request
        .owner
        .as_ref()
        .is_some_and(|o| ownership::matches(owner.as_ref(), o));
    if !by_owner && !request.ids.iter().any(|id| id == arn) {
        return None;
    }
    properties.insert("tags".into(), json!(user));
    attributes.insert("arn".into(), json!(arn));
    Some(Observed {
        id: arn.to_string(),
        properties,
        attributes,
        ownership: owner,
    })
}

/// Applies a change of the `tags` property (ownership tags are never touched).
pub async fn sync_tags(
    ctx: &Ctx<'_>,
    arn: &str,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let before = user_tags(old).unwrap_or_default();
    let after = user_tags(new)?;
    let removed: Vec<String> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let set: Vec<Tag> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !removed.is_empty() {
        ctx.elb
            .remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    if !set.is_empty() {
        ctx.elb
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

/// The name of a new load balancer or target group: `name`, or `name_prefix` followed by eight
/// characters derived from the create's idempotency key (the same on every retry of that
/// create, different for a replacement). ELBv2 names are at most 32 characters of letters,
/// digits and hyphens.
pub fn name_of(p: &Properties, idempotency_key: &str) -> Result<String, ProviderError> {
    use crate::props::str_opt;
    match (str_opt(p, "name")?, str_opt(p, "name_prefix")?) {
        (Some(name), None) => Ok(name.to_string()),
        (None, Some(prefix)) if prefix.len() <= 24 => {
            let hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, idempotency_key.as_bytes())
                .simple()
                .to_string();
            Ok(format!("{prefix}{}", &hash[..8]))
        }
        (None, Some(prefix)) => Err(crate::error::invalid(format!(
            "`name_prefix` {prefix:?} is longer than 24 characters (ELBv2 names are at most 32)"
        ))),
        (Some(_), Some(_)) => Err(crate::error::invalid(
            "set `name` or `name_prefix`, not both",
        )),
        (None, None) => Err(crate::error::invalid("set `name` or `name_prefix`")),
    }
}

/// The `name_prefix` a name was made from by [`name_of`] (the name without its eight-character
/// suffix), as terraform-provider-aws's reads set `name_prefix` (`create.NamePrefixFromName`):
/// the cloud keeps only the name, and without this an import of a resource made from a prefix
/// would plan its replacement. `None` when the name does not end in such a suffix.
pub fn prefix_of(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(8).filter(|cut| *cut > 0)?;
    let (prefix, suffix) = name.split_at_checked(cut)?;
    suffix
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some(prefix)
}

/// ELBv2's letter case: protocols upper case, types and schemes lower case (as the API reads
/// them back).
pub fn normalize(field: &str, value: &serde_json::Value) -> Option<serde_json::Value> {
    let text = value.as_str()?;
    let canonical = match field {
        "protocol" | "health_check_protocol" => text.to_ascii_uppercase(),
        "type" | "scheme" | "target_type" => text.to_ascii_lowercase(),
        _ => return None,
    };
    (canonical != text).then(|| serde_json::Value::String(canonical))
}

/// A read of one resource by its ARN.
pub fn by_id(type_name: &str, arn: &str) -> ReadRequest {
    ReadRequest {
        type_name: type_name.to_string(),
        region: None,
        ids: vec![arn.to_string()],
        owner: None,
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    #[test]
    fn a_prefix_is_read_back_only_from_a_name_made_from_one() {
        let p = serde_json::json!({"name_prefix": "eu-a-"});
        let name = name_of(p.as_object().unwrap(), "replicas/eu/a/targets/create").unwrap();
        assert_eq!(prefix_of(&name), Some("eu-a-"));
        assert_eq!(prefix_of("eu-a-db"), None, "no eight-character suffix");
        assert_eq!(prefix_of("0123abcd"), None, "a suffix alone has no prefix");
        assert_eq!(
            prefix_of("db-0123ABCD"),
            None,
            "upper case is not made by name_of"
        );
    }
}
