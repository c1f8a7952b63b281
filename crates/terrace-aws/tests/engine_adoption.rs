//! The engine and this provider together, on moto: a create whose answer is lost after the VPC
//! was made is ambiguous; the same apply finds the VPC by its ownership tags, adopts it and
//! carries on (the subnet lands in it). CreateVpc has no client token, so only that path
//! prevents a duplicate — checked by listing moto.

mod support;

use async_trait::async_trait;
use std::sync::Arc;
use support::{Moto, REGION};
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::events::{EventSink, StackStatus};
use terrace::plan::Action;
use terrace::provider::{
    CreateRequest, DeleteRequest, ErrorKind, Observed, Provider, ProviderError, RateLimit,
    ReadRequest, Registry, ResourceSchema, UpdateRequest,
};
use terrace_aws::AwsProvider;

/// Delegates to AWS, but loses the answer to creates of one resource.
struct LosesAnswer {
    inner: AwsProvider,
    resource: &'static str,
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
    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError> {
        let lose = request.ownership.resource == self.resource;
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
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, text: &str| {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("terrace.yaml", "name: adopt\n");
    write(
        "groups/eu.yaml",
        &format!("replicas:\n  - name: a\n    cloud: aws\n    region: {REGION}\n    zones: [{REGION}a]\n"),
    );
    write("stacks/networks/layer.yaml", "per: replica\n");
    write(
        "templates/networks/network.yaml.tera",
        "resources:\n  vpc:\n    type: aws:ec2:Vpc\n    properties:\n      cidr_block: 10.30.0.0/16\n\
         \x20 subnet:\n    type: aws:ec2:Subnet\n    properties:\n      vpc_id: ${vpc.id}\n      cidr_block: 10.30.1.0/24\n",
    );
    dir
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
