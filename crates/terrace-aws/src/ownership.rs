//! Ownership: the `terrace:*` tags written at creation (in the create call itself), the tag
//! filters that find a stack's resources again, and idempotency tokens.

use crate::error::invalid;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use terrace_provider::Ownership;

pub const WORKSPACE: &str = "terrace:workspace";
pub const STACK: &str = "terrace:stack";
pub const RESOURCE: &str = "terrace:resource";

/// User tags: a map of strings. Keys starting with `terrace:` or `aws:` are reserved.
pub type UserTags = BTreeMap<String, String>;

/// Reads the `tags` property.
pub fn user_tags(properties: &serde_json::Map<String, Json>) -> Result<UserTags, ProviderError> {
    let Some(value) = properties.get("tags") else {
        return Ok(UserTags::new());
    };
    if value.is_null() {
        return Ok(UserTags::new());
    }
    let map = value
        .as_object()
        .ok_or_else(|| invalid("`tags` must be a map of strings"))?;
    let mut tags = UserTags::new();
    for (key, value) in map {
        if reserved(key) {
            return Err(invalid(format!(
                "tag `{key}` is reserved (terrace:* and aws:* tags are managed)"
            )));
        }
        let value = value
            .as_str()
            .ok_or_else(|| invalid(format!("tag `{key}` must be a string")))?;
        tags.insert(key.clone(), value.to_string());
    }
    Ok(tags)
}

use terrace_provider::ProviderError;

fn reserved(key: &str) -> bool {
    key.starts_with("terrace:") || key.starts_with("aws:")
}

/// Ownership tags followed by user tags.
pub fn all_tags(owner: &Ownership, user: &UserTags) -> Vec<Tag> {
    pairs(owner, user)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The TagSpecification of a create call.
pub fn tag_spec(kind: ResourceType, owner: &Ownership, user: &UserTags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(all_tags(owner, user)))
        .build()
}

/// EC2 filters matching an owner (`stack` empty: any stack of the workspace; `resource`
/// empty: any resource of the stack).
pub fn ec2_filters(owner: &Ownership) -> Vec<Filter> {
    filter_pairs(owner)
        .into_iter()
        .map(|(key, value)| {
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build()
        })
        .collect()
}

/// The (tag key, value) pairs a resource of `owner` carries, without those `owner` leaves
/// open (an empty stack or resource): what an owner read filters on. The EC2 and Auto
/// Scaling filters are built from these.
pub fn filter_pairs(owner: &Ownership) -> Vec<(&'static str, &str)> {
    [
        (WORKSPACE, owner.workspace.as_str()),
        (STACK, owner.stack.as_str()),
        (RESOURCE, owner.resource.as_str()),
    ]
    .into_iter()
    .filter(|(key, value)| *key == WORKSPACE || !value.is_empty())
    .collect()
}

/// Splits EC2 tags into the ownership (when all three tags are present) and user tags.
pub fn split_tags(tags: &[Tag]) -> (Option<Ownership>, UserTags) {
    split_pairs(tags.iter().filter_map(|t| Some((t.key()?, t.value()?))))
}

/// Splits key/value tags into the ownership (when all three tags are present) and user tags.
pub fn split_pairs<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Option<Ownership>, UserTags) {
    let mut user = UserTags::new();
    let mut owned = BTreeMap::new();
    for (key, value) in tags {
        if key.starts_with("terrace:") {
            owned.insert(key.to_string(), value.to_string());
        } else if !key.starts_with("aws:") {
            user.insert(key.to_string(), value.to_string());
        }
    }
    let owner = match (owned.get(WORKSPACE), owned.get(STACK), owned.get(RESOURCE)) {
        (Some(w), Some(s), Some(r)) => Some(Ownership {
            workspace: w.clone(),
            stack: s.clone(),
            resource: r.clone(),
        }),
        _ => None,
    };
    (owner, user)
}

/// Ownership tags followed by user tags, as key/value pairs.
pub fn pairs(owner: &Ownership, user: &UserTags) -> Vec<(String, String)> {
    [
        (WORKSPACE, owner.workspace.as_str()),
        (STACK, owner.stack.as_str()),
        (RESOURCE, owner.resource.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(user.iter().map(|(k, v)| (k.clone(), v.clone())))
    .collect()
}

/// True when a found ownership matches a requested owner ([`Ownership::covers`]: `stack`
/// empty, any stack of the workspace; `resource` empty, any of the stack).
pub fn matches(found: Option<&Ownership>, wanted: &Ownership) -> bool {
    found.is_some_and(|f| wanted.covers(f))
}

/// An AWS client token (at most 64 ASCII characters) derived from an idempotency key.
pub fn client_token(idempotency_key: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, idempotency_key.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_stable_and_short() {
        let long = "x".repeat(500);
        assert_eq!(client_token(&long), client_token(&long));
        assert!(client_token(&long).len() <= 64);
        assert_ne!(client_token("a"), client_token("b"));
    }

    #[test]
    fn reserved_tags_are_refused() {
        let props = json!({"tags": {"terrace:stack": "x"}});
        assert!(user_tags(props.as_object().unwrap()).is_err());
        let props = json!({"tags": {"Name": 3}});
        assert!(user_tags(props.as_object().unwrap()).is_err());
    }

    #[test]
    fn ownership_round_trips_through_tags() {
        let owner = Ownership {
            workspace: "w".into(),
            stack: "s".into(),
            resource: "r".into(),
        };
        let mut user = UserTags::new();
        user.insert("Name".into(), "n".into());
        let (found, tags) = split_tags(&all_tags(&owner, &user));
        assert_eq!(found, Some(owner));
        assert_eq!(tags, user);
    }

    #[test]
    fn owner_filters_leave_an_empty_stack_or_resource_open() {
        let names = |o: &Ownership| -> Vec<String> {
            ec2_filters(o)
                .iter()
                .map(|f| format!("{}={}", f.name().unwrap(), f.values().join(",")))
                .collect()
        };
        let mut owner = Ownership::workspace_wide("w");
        assert_eq!(names(&owner), ["tag:terrace:workspace=w"]);
        owner.stack = "s".into();
        assert_eq!(
            names(&owner),
            ["tag:terrace:workspace=w", "tag:terrace:stack=s"]
        );
        let found = Ownership {
            workspace: "w".into(),
            stack: "t".into(),
            resource: "r".into(),
        };
        assert!(!matches(Some(&found), &owner), "another stack");
        assert!(matches(Some(&found), &Ownership::workspace_wide("w")));
        assert!(!matches(Some(&found), &Ownership::workspace_wide("v")));
    }
}
