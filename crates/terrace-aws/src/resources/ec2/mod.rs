//! EC2 resource types and what they share: the request context, batched-read queries (ids or
//! ownership tags, one Describe call per page), tag updates, waiters and read-back.

pub mod instance;
pub mod internet_gateway;
pub mod launch_template;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;

use crate::client::Settings;
use crate::error::{from_sdk, is_dependency};
use crate::ownership::{self, user_tags};
use aws_sdk_ec2::types::{Filter, Tag};
use serde_json::json;
use std::future::Future;
use std::time::Duration;
use terrace::provider::{
    ApiClasses, ErrorKind, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema,
};
use tokio::time::Instant;

/// What an EC2 operation needs: the region's client and the provider settings.
pub struct Ctx<'a> {
    pub ec2: aws_sdk_ec2::Client,
    pub settings: &'a Settings,
}

/// The schema of an EC2 type (regional, `ec2:describe`/`ec2:mutate` classes, `tags` field).
pub fn schema(type_name: &str, mut fields: Vec<FieldSchema>) -> ResourceSchema {
    fields.push(FieldSchema::input("tags", FieldKind::Map));
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

/// Keeps the first of each id, in order.
pub fn dedup(found: Vec<Observed>) -> Vec<Observed> {
    let mut seen = std::collections::BTreeSet::new();
    found
        .into_iter()
        .filter(|o| seen.insert(o.id.clone()))
        .collect()
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

fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(Duration::from_secs(30))
}

/// Runs a delete until nothing depends on the resource any more (DependencyViolation is
/// retried with backoff until the wait timeout); a resource already gone is success.
pub async fn delete_when_free<F, Fut>(settings: &Settings, mut op: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    let deadline = Instant::now() + settings.wait_timeout;
    let mut delay = settings.poll_interval;
    loop {
        match op().await {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) if is_dependency(&e) && Instant::now() + delay < deadline => {
                tokio::time::sleep(delay).await;
                delay = next_delay(delay);
            }
            other => return other,
        }
    }
}

/// Polls until `probe` answers `Some` (waiters, read-back after a create).
pub async fn wait_for<T, F, Fut>(
    settings: &Settings,
    what: &str,
    mut probe: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let deadline = Instant::now() + settings.wait_timeout;
    let mut delay = settings.poll_interval.min(Duration::from_millis(250));
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if Instant::now() + delay >= deadline {
            return Err(ProviderError::new(
                ErrorKind::Other,
                "WaitTimeout",
                format!(
                    "gave up waiting for {what} after {:?}",
                    settings.wait_timeout
                ),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = next_delay(delay).min(settings.poll_interval.max(delay));
    }
}

/// Reads one resource back by id, waiting for it to become visible (eventual consistency).
pub async fn read_back<F, Fut>(
    settings: &Settings,
    type_name: &str,
    id: &str,
    read: F,
) -> Result<Observed, ProviderError>
where
    F: Fn(ReadRequest) -> Fut,
    Fut: Future<Output = Result<Vec<Observed>, ProviderError>>,
{
    let what = format!("{type_name} {id}");
    wait_for(settings, &what, || {
        let request = ReadRequest {
            type_name: type_name.to_string(),
            region: None,
            ids: vec![id.to_string()],
            owner: None,
        };
        let fut = read(request);
        async move { Ok(fut.await?.into_iter().find(|o| o.id == id)) }
    })
    .await
}

/// `Some(value)` as JSON, skipping absent values.
pub fn put<T: Into<serde_json::Value>>(map: &mut Properties, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}
