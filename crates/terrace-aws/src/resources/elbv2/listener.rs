//! `aws:elbv2:Listener`: a listener of a load balancer forwarding to one target group. Port,
//! protocol, target group, certificate and SSL policy are updated in place (ModifyListener);
//! the load balancer forces a replacement. Reads by ARN take one call per 20 listeners; reads by
//! owner list the region's load balancers and their listeners (one call per load balancer:
//! ELBv2 cannot list listeners across load balancers).

use super::{
    after_create, candidates, create_once, create_tags, delete_when_free, no_retry, observed, put,
    read_back, sync_tags, tags_of, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::props::{check_known, int_opt, str_opt, str_req};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener, ProtocolEnum,
};
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed, Properties,
    ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:elbv2:Listener";

crate::resources::resource_type!(ListenerDef: elbv2, normalize: super::normalize);
const FIELDS: &[&str] = &[
    "load_balancer_arn",
    "port",
    "protocol",
    "target_group_arn",
    "certificate_arn",
    "ssl_policy",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("load_balancer_arn", String)
                .required()
                .force_new(),
            // One listener per port of a load balancer (`DuplicateListener`).
            FieldSchema::input("port", Number)
                .required()
                .unique_within(&["load_balancer_arn"]),
            FieldSchema::input("protocol", String).required(),
            FieldSchema::input("target_group_arn", String).required(),
            FieldSchema::input("certificate_arn", String),
            FieldSchema::input("ssl_policy", String),
        ],
    )
}

fn properties(listener: &Listener) -> Properties {
    let mut props = Properties::new();
    put(
        &mut props,
        "load_balancer_arn",
        listener.load_balancer_arn(),
    );
    put(&mut props, "port", listener.port());
    put(
        &mut props,
        "protocol",
        listener.protocol().map(|p| p.as_str()),
    );
    put(
        &mut props,
        "target_group_arn",
        listener
            .default_actions()
            .iter()
            .find_map(|a| a.target_group_arn()),
    );
    put(
        &mut props,
        "certificate_arn",
        listener
            .certificates()
            .first()
            .and_then(|c| c.certificate_arn()),
    );
    put(&mut props, "ssl_policy", listener.ssl_policy());
    props
}

async fn by_arns(ctx: &Ctx<'_>, arns: &[String]) -> Result<Vec<Listener>, ProviderError> {
    let mut found = Vec::new();
    for chunk in arns.chunks(20) {
        let page = ctx
            .elb
            .describe_listeners()
            .set_listener_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(page.listeners().iter().cloned());
    }
    Ok(found)
}

/// Every listener of the region: the load balancers, then their listeners.
async fn all(ctx: &Ctx<'_>) -> Result<Vec<Listener>, ProviderError> {
    let mut found = Vec::new();
    for lb in super::load_balancer::list(ctx).await? {
        let Some(arn) = lb.load_balancer_arn() else {
            continue;
        };
        let mut marker = None;
        loop {
            let page = ctx
                .elb
                .describe_listeners()
                .load_balancer_arn(arn)
                .set_marker(marker)
                .send()
                .await
                .map_err(from_sdk)?;
            found.extend(page.listeners().iter().cloned());
            marker = page.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let listeners = if request.owner.is_some() {
        all(ctx).await?
    } else {
        // EC2-style "missing ids are absent": one missing ARN fails the call, so fall back.
        match by_arns(ctx, &request.ids).await {
            Err(e) if e.kind == ErrorKind::NotFound => all(ctx).await?,
            other => other?,
        }
    };
    let arns = candidates(
        request,
        listeners
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string)),
    );
    let tags = tags_of(ctx, &arns).await?;
    Ok(listeners
        .iter()
        .filter_map(|l| {
            let arn = l.listener_arn()?;
            observed(
                request,
                arn,
                properties(l),
                Properties::new(),
                tags.get(arn).map(Vec::as_slice).unwrap_or_default(),
            )
        })
        .collect())
}

fn forward(p: &Properties) -> Result<Action, ProviderError> {
    Ok(Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(str_req(p, "target_group_arn")?)
        .build())
}

fn certificates(p: &Properties) -> Result<Option<Vec<Certificate>>, ProviderError> {
    Ok(str_opt(p, "certificate_arn")?
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]))
}

fn port(p: &Properties) -> Result<i32, ProviderError> {
    int_opt(p, "port")?.ok_or_else(|| invalid("`port` is required"))
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let answer = create_once(ctx.settings, || async {
        ctx.elb
            .create_listener()
            .load_balancer_arn(str_req(p, "load_balancer_arn")?)
            .port(port(p)?)
            .protocol(ProtocolEnum::from(str_req(p, "protocol")?))
            .default_actions(forward(p)?)
            .set_certificates(certificates(p)?)
            .set_ssl_policy(str_opt(p, "ssl_policy")?.map(str::to_string))
            .set_tags(Some(create_tags(&request.ownership, p)?))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let arn = answer
        .listeners()
        .first()
        .and_then(Listener::listener_arn)
        .ok_or_else(|| invalid("CreateListener answered no listener"))?
        .to_string();
    after_create(
        &arn,
        read_back(
            ctx.settings,
            TYPE,
            &arn,
            |r| async move { read(ctx, &r).await },
        ),
    )
    .await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let new = &request.new;
    check_known(new, FIELDS, TYPE)?;
    ctx.elb
        .modify_listener()
        .listener_arn(&request.id)
        .port(port(new)?)
        .protocol(ProtocolEnum::from(str_req(new, "protocol")?))
        .default_actions(forward(new)?)
        .set_certificates(certificates(new)?)
        .set_ssl_policy(str_opt(new, "ssl_policy")?.map(str::to_string))
        .send()
        .await
        .map_err(from_sdk)?;
    sync_tags(ctx, &request.id, &request.old, new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.elb
            .delete_listener()
            .listener_arn(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
