//! The engine and this provider together, on moto: a create whose answer is lost after the VPC
//! was made (as when the process dies between "pending recorded" and "result recorded") leaves
//! a pending record; the next apply finds the VPC by its ownership tags and adopts it. moto
//! ignores ClientToken, so only that path prevents a duplicate — checked by listing moto.

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
async fn a_vpc_whose_create_answer_was_lost_is_adopted_by_the_next_apply() {
    let moto = Moto::start();
    let dir = workspace();
    let lossy = Arc::new(LosesAnswer {
        inner: moto.provider(),
        resource: "vpc",
    });
    let first = apply(dir.path(), lossy).await;
    assert_eq!(first.stacks[0].status, StackStatus::Failed);
    let vpcs = owned_vpcs(&moto).await;
    assert_eq!(vpcs.len(), 1, "the VPC exists in the cloud");

    let mut registry = Registry::new();
    registry.register(Arc::new(moto.provider()));
    let terrace = Terrace::open(dir.path(), registry).unwrap();
    let stack = "networks/eu/a";
    let state = terrace
        .state(stack)
        .await
        .unwrap()
        .expect("state after the first apply");
    assert_eq!(state.pending.len(), 1, "the create is recorded as pending");
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let vpc = plan.stacks[0]
        .changes
        .iter()
        .find(|c| c.name == "vpc")
        .unwrap();
    assert_eq!(
        vpc.action,
        Action::NoOp,
        "found by its ownership tags: {vpc:?}"
    );
    let second = terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap();
    assert!(second.succeeded(), "{second:#?}");
    assert_eq!(owned_vpcs(&moto).await, vpcs, "adopted, not created again");
    let state = terrace.state(stack).await.unwrap().unwrap();
    assert_eq!(state.resources["vpc"].id, vpcs[0]);
    assert!(state.pending.is_empty());
    assert!(state.resources.contains_key("subnet"));
}
