//! The engine and this provider together, on moto: a create whose answer is lost after the VPC
//! was made is ambiguous; the same apply finds the VPC by its ownership tags, adopts it and
//! carries on (the subnet lands in it). CreateVpc has no client token, so only that path
//! prevents a duplicate — checked by listing moto.

mod support;

use async_trait::async_trait;
use std::sync::Arc;
use support::Moto;
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::events::{EventSink, StackStatus};
use terrace::plan::Action;
use terrace::provider::{
    CreateRequest, DeleteRequest, ErrorKind, Observed, Provider, ProviderError, RateLimit,
    ReadRequest, Registry, ResourceSchema, UpdateRequest,
};
use terrace_aws::AwsProvider;

/// Delegates to AWS, but loses the answer to creates of one resource. With `first_call_only`,
/// the create stops after its first call (the gateway is made, its attach never runs), as when
/// the answer to CreateInternetGateway / CreateVpnGateway is lost.
struct LosesAnswer {
    inner: AwsProvider,
    resource: &'static str,
    first_call_only: bool,
}

#[async_trait]
impl Provider for LosesAnswer {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn schemas(&self) -> Vec<ResourceSchema> {
        self.inner.schemas()
    }
    fn rate_limits(&self) -> Vec<RateLimit> {
        self.inner.rate_limits()
    }
    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        self.inner.read(request).await
    }
    async fn create(&self, mut request: CreateRequest) -> Result<Observed, ProviderError> {
        let lose = request.ownership.resource == self.resource;
        if lose && self.first_call_only {
            request.properties.remove("vpc_id");
        }
        let answer = self.inner.create(request).await?;
        if lose {
            return Err(ProviderError::new(
                ErrorKind::Ambiguous,
                "Timeout",
                "the answer was lost",
            ));
        }
        Ok(answer)
    }
    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError> {
        self.inner.update(request).await
    }
    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError> {
        self.inner.delete(request).await
    }
}

fn workspace() -> tempfile::TempDir {
    workspace_with("")
}

/// The workspace, with `extra` resources after the VPC and its subnet.
fn workspace_with(extra: &str) -> tempfile::TempDir {
    support::networks_workspace(
        "adopt",
        &["eu"],
        &format!("resources:\n  vpc:\n    type: aws:ec2:Vpc\n    properties:\n      cidr_block: 10.30.0.0/16\n\
         \x20 subnet:\n    type: aws:ec2:Subnet\n    properties:\n      vpc_id: ${{vpc.id}}\n      cidr_block: 10.30.1.0/24\n{extra}"),
    )
}

async fn owned_vpcs(moto: &Moto) -> Vec<String> {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("tag:terrace:workspace")
        .values("adopt")
        .build();
    let answer = moto
        .ec2()
        .describe_vpcs()
        .filters(filter)
        .send()
        .await
        .unwrap();
    answer
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect()
}

async fn apply(dir: &std::path::Path, provider: Arc<dyn Provider>) -> terrace::apply::ApplySummary {
    let mut registry = Registry::new();
    registry.register(provider);
    let terrace = Terrace::open(dir, registry).expect("workspace opens");
    let plan = terrace.plan(&PlanOptions::default()).await.expect("plan");
    terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vpc_whose_create_answer_was_lost_is_adopted_in_the_same_apply() {
    let moto = Moto::start();
    let dir = workspace();
    let lossy = Arc::new(LosesAnswer {
        inner: moto.provider(),
        resource: "vpc",
        first_call_only: false,
    });
    let first = apply(dir.path(), lossy).await;
    assert_eq!(first.stacks[0].status, StackStatus::Succeeded, "{first:#?}");
    let vpcs = owned_vpcs(&moto).await;
    assert_eq!(vpcs.len(), 1, "one VPC in the cloud, not two");

    let mut registry = Registry::new();
    registry.register(Arc::new(moto.provider()));
    let terrace = Terrace::open(dir.path(), registry).unwrap();
    let state = terrace
        .state("networks/eu/a")
        .await
        .unwrap()
        .expect("state after the apply");
    assert!(state.pending.is_empty(), "{:?}", state.pending);
    assert_eq!(
        state.resources["vpc"].id, vpcs[0],
        "the VPC in state is the one in the cloud"
    );
    assert!(
        state.resources.contains_key("subnet"),
        "the apply carried on"
    );
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    assert!(
        plan.stacks[0]
            .changes
            .iter()
            .all(|c| c.action == Action::NoOp),
        "{:#?}",
        plan.stacks[0].changes
    );
}

/// A gateway whose create answer was lost after its first call (made, never attached) is
/// adopted and attached in the same apply, for both gateways that attach after their create:
/// the read reports a detached gateway's `vpc_id` as null, so adoption sees the difference
/// (before, the value the create meant to send stood in for it, and the gateway stayed
/// detached until the next apply).
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_adopted_before_its_attach_is_attached_in_the_same_apply() {
    let moto = Moto::start();
    for (resource, type_name) in [
        ("gateway", "aws:ec2:InternetGateway"),
        ("vgw", "aws:ec2:VpnGateway"),
    ] {
        let dir = workspace_with(&format!(
            "  {resource}:\n    type: {type_name}\n    properties:\n      vpc_id: ${{vpc.id}}\n"
        ));
        let lossy = Arc::new(LosesAnswer {
            inner: moto.provider(),
            resource,
            first_call_only: true,
        });
        let first = apply(dir.path(), lossy).await;
        assert_eq!(first.stacks[0].status, StackStatus::Succeeded, "{first:#?}");
        let mut registry = Registry::new();
        registry.register(Arc::new(moto.provider()));
        let terrace = Terrace::open(dir.path(), registry).unwrap();
        let state = terrace.state("networks/eu/a").await.unwrap().unwrap();
        let vpc = state.resources["vpc"].id.clone();
        let id = state.resources[resource].id.clone();
        // Listed in moto directly: attached to the VPC.
        let attached = match type_name {
            "aws:ec2:InternetGateway" => moto
                .ec2()
                .describe_internet_gateways()
                .internet_gateway_ids(&id)
                .send()
                .await
                .unwrap()
                .internet_gateways()[0]
                .attachments()
                .iter()
                .filter_map(|a| a.vpc_id().map(str::to_string))
                .collect::<Vec<_>>(),
            _ => moto
                .ec2()
                .describe_vpn_gateways()
                .vpn_gateway_ids(&id)
                .send()
                .await
                .unwrap()
                .vpn_gateways()[0]
                .vpc_attachments()
                .iter()
                .filter(|a| a.state().is_some_and(|s| s.as_str() == "attached"))
                .filter_map(|a| a.vpc_id().map(str::to_string))
                .collect::<Vec<_>>(),
        };
        assert_eq!(
            attached,
            vec![vpc],
            "{type_name} attached in the same apply"
        );
        let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
        assert!(
            plan.stacks[0]
                .changes
                .iter()
                .all(|c| c.action == Action::NoOp),
            "{:#?}",
            plan.stacks[0].changes
        );
    }
}
