//! Test support: moto, backends on it (bucket and lock table made by `bootstrap`), plain S3
//! and DynamoDB clients for checks that bypass the backend, and state fixtures.
#![allow(dead_code)]

pub use terrace_test_support::moto;

use chrono::Utc;
pub use moto::{credentials, Moto};
use terrace::state::{JournalEntry, OperationKind, PendingOperation, ResourceState};
use terrace_s3::S3Backend;

pub const REGION: &str = "us-east-1";

/// A backend on `moto` under `prefix` of `bucket`, its bucket and table made.
pub async fn backend(moto: &Moto, bucket: &str, prefix: &str, extra: &str) -> S3Backend {
    credentials();
    let url = moto.url(bucket, prefix, extra);
    terrace_s3::bootstrap(&url).await.expect("bootstrap");
    S3Backend::new(&url).expect("a valid URL")
}

/// A plain S3 client on moto.
pub fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A plain DynamoDB client on moto.
pub fn dynamodb(moto: &Moto) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

pub fn resource(id: &str) -> ResourceState {
    ResourceState::new("test:Network", id)
}

pub fn begin(op: &str, resource: &str) -> JournalEntry {
    JournalEntry::Begin {
        operation: PendingOperation {
            id: op.into(),
            resource: resource.into(),
            kind: OperationKind::Create,
            type_name: "test:Network".into(),
            region: None,
            idempotency_key: format!("key-{op}"),
            target_id: None,
            started_at: Utc::now(),
            inputs: None,
        },
    }
}

pub fn done(op: &str, resource_name: &str, id: &str) -> JournalEntry {
    JournalEntry::Done {
        operation: op.into(),
        resource: resource_name.into(),
        state: Some(Box::new(resource(id))),
    }
}

pub fn failed(op: &str, resource: &str) -> JournalEntry {
    JournalEntry::Failed {
        operation: op.into(),
        resource: resource.into(),
        error: "refused".into(),
    }
}
