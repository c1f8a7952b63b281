//! EC2 resource types and what they share: the request context, batched-read queries (ids or
//! ownership tags, one Describe call per page), tag updates, waiters and read-back.

pub mod eip;
pub mod instance;
pub mod internet_gateway;
pub mod launch_template;
pub mod nat_gateway;
pub mod route;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;
pub mod vpc_peering;
pub mod vpc_route;
pub mod vpn;
pub mod vpn_connection;

use crate::client::Settings;
use crate::error::from_sdk;
use crate::ownership::{self, user_tags};
use aws_sdk_ec2::types::{Filter, Tag};
use serde_json::json;
use terrace_provider::{
    ApiClasses, FieldKind, FieldSchema, Observed, Properties, ProviderError, ReadRequest,
    ResourceSchema, UpdateRequest,
};

pub use super::common::{
    after_create, create_once, dedup, delete_and_wait, delete_when_free, existing, put, read_back,
    settle, wait_for,
};

/// A per-request configuration without SDK retries (see [`create_once`]).
pub fn no_retry() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::new().retry_config(aws_config::retry::RetryConfig::disabled())
}

/// What an EC2 operation needs: the region's client and the provider settings.
pub struct Ctx<'a> {
    pub ec2: aws_sdk_ec2::Client,
    pub settings: &'a Settings,
}

/// The schema of an EC2 type (regional, `ec2:describe`/`ec2:mutate` classes, `tags` field).
pub fn schema(type_name: &str, mut fields: Vec<FieldSchema>) -> ResourceSchema {
    fields.push(FieldSchema::input("tags", FieldKind::StringMap));
    ResourceSchema {
        type_name: type_name.to_string(),
        fields,
        api: ApiClasses {
            read: "ec2:describe".into(),
            mutate: "ec2:mutate".into(),
        },
        regional: true,
    }
}

/// Maximum values of one EC2 filter.
const FILTER_VALUES: usize = 200;

/// The filter sets of a batched read: ids (chunks of 200) and the owner's tags.
pub fn queries(id_filter: &str, request: &ReadRequest) -> Vec<Vec<Filter>> {
    let mut out: Vec<Vec<Filter>> = request
        .ids
        .chunks(FILTER_VALUES)
        .map(|chunk| {
            vec![Filter::builder()
                .name(id_filter)
                .set_values(Some(chunk.to_vec()))
                .build()]
        })
        .collect();
    if let Some(owner) = &request.owner {
        out.push(ownership::ec2_filters(owner));
    }
    out
}

/// An observation: user tags go into `properties.tags`, ownership tags into `ownership`.
pub fn observed(
    id: &str,
    mut properties: Properties,
    attributes: Properties,
    tags: &[Tag],
) -> Observed {
    let (owner, user) = ownership::split_tags(tags);
    properties.insert("tags".into(), json!(user));
    Observed {
        id: id.to_string(),
        properties,
        attributes,
        ownership: owner,
    }
}

/// The update of a type whose only field changed in place is `tags`: checks the fields,
/// applies the tag change and reads the resource back with `read`.
pub async fn update_tags_only<F, Fut>(
    ctx: &Ctx<'_>,
    request: &UpdateRequest,
    fields: &[&str],
    type_name: &str,
    read: F,
) -> Result<Observed, ProviderError>
where
    F: Fn(ReadRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Observed>, ProviderError>>,
{
    crate::props::check_known(&request.new, fields, type_name)?;
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, type_name, &request.id, read).await
}

/// Applies a change of the `tags` property (ownership tags are never touched).
pub async fn sync_tags(
    ctx: &Ctx<'_>,
    id: &str,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let before = user_tags(old).unwrap_or_default();
    let after = user_tags(new)?;
    let removed: Vec<Tag> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    let set: Vec<Tag> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !removed.is_empty() {
        ctx.ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    if !set.is_empty() {
        ctx.ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

/// How many per-resource detail calls a read keeps in flight.
const DETAILS_IN_FLIGHT: usize = 8;

/// Completes each listed resource with the fields its Describe call does not return, read by
/// `details` (one or more calls per resource, for APIs without a batch form: DNS attributes of
/// a VPC, the default version of a launch template, an instance's user data), a few at a time.
/// `details` answers `None` for a resource deleted since it was listed; it is dropped.
pub async fn with_details<F, Fut>(
    found: Vec<Observed>,
    details: F,
) -> Result<Vec<Observed>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Properties>, ProviderError>>,
{
    use futures::stream::{self, StreamExt, TryStreamExt};
    let completed: Vec<Option<Observed>> = stream::iter(found.into_iter().map(|mut observed| {
        let read = details(observed.id.clone());
        async move {
            Ok::<_, ProviderError>(read.await?.map(|extra| {
                observed.properties.extend(extra);
                observed
            }))
        }
    }))
    .buffered(DETAILS_IN_FLIGHT)
    .try_collect()
    .await?;
    Ok(completed.into_iter().flatten().collect())
}
