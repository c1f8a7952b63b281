//! A stack's `providers.aws.assume_role` against moto, which keeps each account's resources
//! apart by the credentials a request is signed with (an assumed role's keys name its
//! account): resources created through the configured provider are in the member account and
//! not in the management account; the assumed credentials are fetched once, cached, and fetched
//! again before they expire — on an injected clock that runs ahead during the "long apply".

mod support;

use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use support::*;
use terrace::provider::{CreateRequest, Provider, ReadRequest};

/// The system clock plus an offset the test moves forward.
#[derive(Debug, Clone, Default)]
struct AheadClock(Arc<Mutex<Duration>>);

impl AheadClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl TimeSource for AheadClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + *self.0.lock().unwrap()
    }
}

/// A member account created in moto's organization, by id.
async fn member_account(moto: &Moto) -> String {
    let org = moto.organizations();
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let created = org
        .create_account()
        .email("db-eu@example.com")
        .account_name("db-eu")
        .send()
        .await
        .unwrap();
    let request = created.create_account_status().unwrap().id().unwrap();
    let status = org
        .describe_create_account_status()
        .create_account_request_id(request)
        .send()
        .await
        .unwrap();
    status
        .create_account_status()
        .unwrap()
        .account_id()
        .unwrap()
        .to_string()
}

/// VPC ids an EC2 client signed with the member account's role sees.
async fn member_vpcs(moto: &Moto, account: &str) -> Vec<String> {
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    );
    let assumed = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("check")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "assumed",
            ))
            .build(),
    );
    vpc_ids(&ec2).await
}

async fn vpc_ids(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    ec2.describe_vpcs()
        .send()
        .await
        .unwrap()
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_configured_provider_works_in_the_member_account_and_refreshes_its_credentials() {
    let moto = Moto::start();
    let clock = AheadClock::default();
    let base = moto
        .provider()
        .with_clock(SharedTimeSource::new(clock.clone()));
    let account = member_account(&moto).await;
    let config = json!({"assume_role": {"account_id": account, "duration_seconds": 900}});
    let member = base.configure(config.as_object().unwrap()).unwrap();
    let again = base.configure(config.as_object().unwrap()).unwrap();
    assert!(Arc::ptr_eq(&member, &again), "one provider per role");

    let vpc = member
        .create(CreateRequest {
            type_name: "aws:ec2:Vpc".into(),
            region: None,
            properties: props(json!({"cidr_block": "10.1.0.0/16"})),
            ownership: owner("networks/eu/a", "vpc"),
            idempotency_key: "networks/eu/a/vpc/create".into(),
        })
        .await
        .unwrap();
    assert!(member_vpcs(&moto, &account).await.contains(&vpc.id));
    assert!(
        !vpc_ids(&moto.ec2()).await.contains(&vpc.id),
        "the management account holds none of it"
    );
    let assumed = moto.count("AssumeRole");
    assert!(assumed >= 1, "the provider assumed the role");

    let read = |p: Arc<dyn Provider>, id: String| async move {
        p.read(ReadRequest {
            type_name: "aws:ec2:Vpc".into(),
            region: None,
            ids: vec![id],
            owner: None,
        })
        .await
        .unwrap()
    };
    assert_eq!(read(member.clone(), vpc.id.clone()).await.len(), 1);
    assert_eq!(moto.count("AssumeRole"), assumed, "credentials are cached");
    // Thirteen minutes on, the 15-minute credentials are inside the refresh buffer (5 minutes,
    // less the SDK's jitter of up to half of it): fetched again before the next call, which
    // succeeds. (moto dates the new credentials by the real clock, which is behind this one,
    // so they too look close to expiry and each call may fetch again: only "at least once" is
    // asserted.)
    clock.advance(Duration::from_secs(780));
    assert_eq!(read(member.clone(), vpc.id.clone()).await.len(), 1);
    assert!(
        moto.count("AssumeRole") > assumed,
        "refreshed before expiry"
    );
    // The base provider still works in the management account.
    assert!(read(Arc::new(base), vpc.id).await.is_empty());
}
