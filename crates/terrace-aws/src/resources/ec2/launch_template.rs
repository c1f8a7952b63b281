//! `aws:ec2:LaunchTemplate`: a launch template. A change of its data is an update in place: a
//! new version (with a client token) that becomes the default. The name forces a replacement.
//! The version numbers are recomputed by every update (`changes_on_update`), so an Auto
//! Scaling group whose `launch_template_version` references one is updated, and its instances
//! replaced, in the same apply. Reads return the name, tags and version numbers, and the data
//! of the default version (DescribeLaunchTemplateVersions, one call per template, as
//! terraform-provider-aws's read does): an import reads every field, and a default version
//! someone changed is drift that the next apply repairs with a new version. `user_data` is
//! plain text; the provider encodes it in base64 and decodes it when reading.

use super::{after_create, dedup, delete_when_free, observed, put, read_back, sync_tags, Ctx};
use crate::error::{from_sdk, invalid};
use crate::ownership::{self, client_token, tag_spec, user_tags};
use crate::props::{changed, check_known, str_opt, str_req, strings};
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplate, RequestLaunchTemplateData, ResourceType,
    ResponseLaunchTemplateData,
};
use base64::Engine as _;
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed, Properties,
    ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:LaunchTemplate";

crate::resources::resource_type!(LaunchTemplateDef: ec2);
const DATA: &[&str] = &[
    "image_id",
    "instance_type",
    "key_name",
    "user_data",
    "security_group_ids",
];
const FIELDS: &[&str] = &[
    "name",
    "image_id",
    "instance_type",
    "key_name",
    "user_data",
    "security_group_ids",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            // Launch template names are unique in a region (`InvalidLaunchTemplateName.AlreadyExistsException`).
            FieldSchema::input("name", String)
                .required()
                .force_new()
                .unique_within(&[]),
            FieldSchema::input("image_id", String).required(),
            FieldSchema::input("instance_type", String),
            FieldSchema::input("key_name", String),
            FieldSchema::input("user_data", String),
            FieldSchema::input("security_group_ids", List).unordered(),
            // A change of the template data makes a new version, the new default: references
            // to these (an Auto Scaling group's `launch_template_version`) see the change in
            // the plan and follow it in the same apply.
            FieldSchema::computed("default_version_number", Number).changes_on_update(),
            FieldSchema::computed("latest_version_number", Number).changes_on_update(),
        ],
    )
}

fn data(p: &Properties) -> Result<RequestLaunchTemplateData, ProviderError> {
    let groups = strings(p, "security_group_ids")?;
    Ok(RequestLaunchTemplateData::builder()
        .image_id(str_req(p, "image_id")?)
        .set_instance_type(str_opt(p, "instance_type")?.map(InstanceType::from))
        .set_key_name(str_opt(p, "key_name")?.map(str::to_string))
        .set_user_data(str_opt(p, "user_data")?.map(encode))
        .set_security_group_ids((!groups.is_empty()).then_some(groups))
        .build())
}

/// Base64 of plain-text user data.
pub fn encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Plain text of base64 user data (as it was given, when it is not valid base64 of UTF-8).
pub fn decode(encoded: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| encoded.to_string())
}

/// The template data fields of a version, as the template sets them.
fn data_properties(data: &ResponseLaunchTemplateData) -> Properties {
    let mut props = Properties::new();
    put(&mut props, "image_id", data.image_id());
    put(
        &mut props,
        "instance_type",
        data.instance_type().map(|t| t.as_str()),
    );
    put(&mut props, "key_name", data.key_name());
    put(&mut props, "user_data", data.user_data().map(decode));
    let mut groups: Vec<&str> = data
        .security_group_ids()
        .iter()
        .map(String::as_str)
        .collect();
    groups.sort();
    if !groups.is_empty() {
        props.insert("security_group_ids".into(), serde_json::json!(groups));
    }
    props
}

/// The data of a template's default version; `None` when the template is gone.
async fn default_data(ctx: &Ctx<'_>, id: &str) -> Result<Option<Properties>, ProviderError> {
    let answer = ctx
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(id)
        .versions("$Default")
        .send()
        .await
        .map_err(from_sdk);
    match answer {
        Ok(answer) => Ok(answer
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .map(data_properties)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn observe(template: &LaunchTemplate) -> Observed {
    let mut props = Properties::new();
    put(&mut props, "name", template.launch_template_name());
    let mut attrs = Properties::new();
    put(
        &mut attrs,
        "default_version_number",
        template.default_version_number(),
    );
    put(
        &mut attrs,
        "latest_version_number",
        template.latest_version_number(),
    );
    observed(
        template.launch_template_id().unwrap_or_default(),
        props,
        attrs,
        template.tags(),
    )
}

/// One page loop of DescribeLaunchTemplates, by ids or by filters.
async fn describe(
    ctx: &Ctx<'_>,
    ids: Option<Vec<String>>,
    filters: Option<Vec<aws_sdk_ec2::types::Filter>>,
) -> Result<Vec<LaunchTemplate>, ProviderError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = ctx
            .ec2
            .describe_launch_templates()
            .set_launch_template_ids(ids.clone())
            .set_filters(filters.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(page.launch_templates().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for chunk in request.ids.chunks(200) {
        // DescribeLaunchTemplates has no id filter, and EC2 fails the whole call when one id is
        // missing: then list the region's templates (one call per page) and keep the ids.
        match describe(ctx, Some(chunk.to_vec()), None).await {
            Ok(templates) => found.extend(templates),
            Err(e) if e.kind == ErrorKind::NotFound => {
                found.extend(describe(ctx, None, None).await?.into_iter().filter(|t| {
                    t.launch_template_id()
                        .is_some_and(|id| chunk.iter().any(|c| c == id))
                }))
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(owner) = &request.owner {
        found.extend(describe(ctx, None, Some(ownership::ec2_filters(owner))).await?);
    }
    super::with_details(
        dedup(found.iter().map(observe).collect()),
        |id| async move { default_data(ctx, &id).await },
    )
    .await
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    let answer = ctx
        .ec2
        .create_launch_template()
        .launch_template_name(str_req(p, "name")?)
        .client_token(client_token(&request.idempotency_key))
        .launch_template_data(data(p)?)
        .tag_specifications(tag_spec(
            ResourceType::LaunchTemplate,
            &request.ownership,
            &tags,
        ))
        .send()
        .await
        .map_err(from_sdk)?;
    let id = answer
        .launch_template()
        .and_then(LaunchTemplate::launch_template_id)
        .ok_or_else(|| invalid("CreateLaunchTemplate answered no id"))?
        .to_string();
    after_create(
        &id,
        read_back(
            ctx.settings,
            TYPE,
            &id,
            |r| async move { read(ctx, &r).await },
        ),
    )
    .await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    if DATA.iter().any(|f| changed(old, new, f)) {
        let version = ctx
            .ec2
            .create_launch_template_version()
            .launch_template_id(&request.id)
            .client_token(client_token(&request.idempotency_key))
            .launch_template_data(data(new)?)
            .send()
            .await
            .map_err(from_sdk)?;
        let number = version
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| invalid("CreateLaunchTemplateVersion answered no version"))?;
        ctx.ec2
            .modify_launch_template()
            .launch_template_id(&request.id)
            .default_version(number.to_string())
            .send()
            .await
            .map_err(from_sdk)?;
    }
    sync_tags(ctx, &request.id, old, new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_launch_template()
            .launch_template_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
