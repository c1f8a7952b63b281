//! `aws:ec2:Instance`: one EC2 instance. RunInstances carries a client token and the ownership
//! tags; create waits until the instance runs, delete until it is terminated. Security groups
//! are updated in place; a new instance type stops the instance, changes it and starts it
//! again. Image, subnet, key and user data force a replacement. Terminated instances are
//! never returned by reads. DescribeInstances does not return user data, so a read asks
//! DescribeInstanceAttribute (`userData`) for each instance, as terraform-provider-aws's read
//! does: an import reads it, and a change made outside Terrace shows as drift.

use super::launch_template::{decode, encode};
use super::{after_create, dedup, observed, put, queries, wait_for, Ctx};
use crate::error::{from_sdk, invalid, not_found};
use crate::ownership::{client_token, tag_spec, user_tags};
use crate::props::{changed, check_known, str_opt, str_req, strings};
use aws_sdk_ec2::types::{
    Filter, Instance, InstanceAttributeName, InstanceStateName, InstanceType, ResourceType,
};
use serde_json::json;
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed, Properties,
    ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:Instance";

crate::resources::resource_type!(InstanceDef: ec2);
const FIELDS: &[&str] = &[
    "image_id",
    "instance_type",
    "subnet_id",
    "security_group_ids",
    "key_name",
    "user_data",
    "tags",
];
/// States of an instance that still exists.
const LIVE: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("image_id", String)
                .required()
                .force_new(),
            FieldSchema::input("instance_type", String).required(),
            FieldSchema::input("subnet_id", String).force_new(),
            FieldSchema::input("security_group_ids", List).unordered(),
            FieldSchema::input("key_name", String).force_new(),
            FieldSchema::input("user_data", String).force_new(),
            FieldSchema::computed("state", String),
            FieldSchema::computed("private_ip_address", String),
            FieldSchema::computed("public_ip_address", String),
            FieldSchema::computed("private_dns_name", String),
            FieldSchema::computed("availability_zone", String),
            FieldSchema::computed("vpc_id", String),
        ],
    )
}

fn state(instance: &Instance) -> Option<&InstanceStateName> {
    instance.state().and_then(|s| s.name())
}

fn observe(instance: &Instance) -> Observed {
    let mut groups: Vec<&str> = instance
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    groups.sort();
    let mut props = Properties::new();
    put(&mut props, "image_id", instance.image_id());
    put(
        &mut props,
        "instance_type",
        instance.instance_type().map(|t| t.as_str()),
    );
    put(&mut props, "subnet_id", instance.subnet_id());
    props.insert("security_group_ids".into(), json!(groups));
    put(&mut props, "key_name", instance.key_name());
    let mut attrs = Properties::new();
    put(&mut attrs, "state", state(instance).map(|s| s.as_str()));
    put(
        &mut attrs,
        "private_ip_address",
        instance.private_ip_address(),
    );
    put(
        &mut attrs,
        "public_ip_address",
        instance.public_ip_address(),
    );
    put(&mut attrs, "private_dns_name", instance.private_dns_name());
    put(
        &mut attrs,
        "availability_zone",
        instance.placement().and_then(|p| p.availability_zone()),
    );
    put(&mut attrs, "vpc_id", instance.vpc_id());
    observed(
        instance.instance_id().unwrap_or_default(),
        props,
        attrs,
        instance.tags(),
    )
}

async fn describe(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
    live_only: bool,
) -> Result<Vec<Instance>, ProviderError> {
    let mut found = Vec::new();
    for mut filters in queries("instance-id", request) {
        if live_only {
            let live = LIVE.iter().map(|s| s.to_string()).collect();
            filters.push(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(live))
                    .build(),
            );
        }
        let mut token = None;
        loop {
            let page = ctx
                .ec2
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .set_next_token(token)
                .send()
                .await
                .map_err(from_sdk)?;
            for reservation in page.reservations() {
                found.extend(reservation.instances().iter().cloned());
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let found = dedup(
        describe(ctx, request, true)
            .await?
            .iter()
            .map(observe)
            .collect(),
    );
    super::with_details(found, |id| async move {
        match user_data(ctx, &id).await {
            Ok(text) => {
                let mut extra = Properties::new();
                put(&mut extra, "user_data", text);
                Ok(Some(extra))
            }
            // Terminated and forgotten since it was listed: it is gone.
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

/// The instance's user data as plain text (`None` when it has none).
async fn user_data(ctx: &Ctx<'_>, id: &str) -> Result<Option<String>, ProviderError> {
    let answer = ctx
        .ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(answer
        .user_data()
        .and_then(|v| v.value())
        .filter(|v| !v.is_empty())
        .map(decode))
}

/// The instance, whatever its state (`None` once EC2 forgot it).
async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<Instance>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request, false).await?.into_iter().next())
}

/// Waits until the instance is in `target` (or, for `terminated`, gone).
async fn wait_state(
    ctx: &Ctx<'_>,
    id: &str,
    target: InstanceStateName,
) -> Result<Observed, ProviderError> {
    let what = format!("instance {id} to be {}", target.as_str());
    wait_for(ctx.settings, &what, || async {
        match current(ctx, id).await? {
            None if target == InstanceStateName::Terminated => Ok(Some(gone(id))),
            None => Ok(None),
            Some(i) if state(&i) == Some(&target) => Ok(Some(observe(&i))),
            Some(i)
                if target == InstanceStateName::Running
                    && state(&i) == Some(&InstanceStateName::Terminated) =>
            {
                Err(ProviderError::new(
                    ErrorKind::Other,
                    "InstanceTerminated",
                    format!("instance {id} terminated while starting"),
                ))
            }
            Some(_) => Ok(None),
        }
    })
    .await
}

fn gone(id: &str) -> Observed {
    Observed {
        id: id.to_string(),
        properties: Properties::new(),
        attributes: Properties::new(),
        ownership: None,
    }
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    let groups = strings(p, "security_group_ids")?;
    // moto 5.1 ignores ClientToken here (real EC2 honours it); adoption by ownership tags
    // covers the gap.
    let answer = ctx
        .ec2
        .run_instances()
        .image_id(str_req(p, "image_id")?)
        .instance_type(InstanceType::from(str_req(p, "instance_type")?))
        .min_count(1)
        .max_count(1)
        .set_subnet_id(str_opt(p, "subnet_id")?.map(str::to_string))
        .set_security_group_ids((!groups.is_empty()).then_some(groups))
        .set_key_name(str_opt(p, "key_name")?.map(str::to_string))
        .set_user_data(str_opt(p, "user_data")?.map(encode))
        .client_token(client_token(&request.idempotency_key))
        .tag_specifications(tag_spec(ResourceType::Instance, &request.ownership, &tags))
        .send()
        .await
        .map_err(from_sdk)?;
    let id = answer
        .instances()
        .first()
        .and_then(Instance::instance_id)
        .ok_or_else(|| invalid("RunInstances answered no instance"))?
        .to_string();
    after_create(&id, wait_state(ctx, &id, InstanceStateName::Running)).await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    let id = request.id.as_str();
    if current(ctx, id).await?.is_none() {
        return Err(not_found(TYPE, id));
    }
    if changed(old, new, "security_group_ids") {
        let groups = strings(new, "security_group_ids")?;
        if !groups.is_empty() {
            ctx.ec2
                .modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(groups))
                .send()
                .await
                .map_err(from_sdk)?;
        }
    }
    if changed(old, new, "instance_type") {
        resize(ctx, id, str_req(new, "instance_type")?).await?;
    }
    super::sync_tags(ctx, id, old, new).await?;
    wait_state(ctx, id, InstanceStateName::Running).await
}

/// Stop, change the type, start (EC2 changes the type of stopped instances only).
async fn resize(ctx: &Ctx<'_>, id: &str, instance_type: &str) -> Result<(), ProviderError> {
    ctx.ec2
        .stop_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(from_sdk)?;
    wait_state(ctx, id, InstanceStateName::Stopped).await?;
    let value = aws_sdk_ec2::types::AttributeValue::builder()
        .value(instance_type)
        .build();
    ctx.ec2
        .modify_instance_attribute()
        .instance_id(id)
        .instance_type(value)
        .send()
        .await
        .map_err(from_sdk)?;
    ctx.ec2
        .start_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(())
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    match ctx
        .ec2
        .terminate_instances()
        .instance_ids(&request.id)
        .send()
        .await
        .map_err(from_sdk)
    {
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    wait_state(ctx, &request.id, InstanceStateName::Terminated).await?;
    Ok(())
}
