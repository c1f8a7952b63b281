//! Probing the current credentials on a stack's state with the real calls, made so that they
//! cannot change anything. The cloud authorizes a request before it evaluates its conditions,
//! so a write whose condition never holds answers "denied" or "condition failed", and writes
//! nothing either way:
//!
//! | probe | calls |
//! | --- | --- |
//! | read | `GetObject` of the snapshot (absent is fine), `ListObjectsV2` of its journal folder |
//! | write | `PutObject` of the snapshot and of a journal object with `If-Match` on an ETag no object has; `PutItem` of the lock item with the condition `attribute_exists(LockID) AND attribute_not_exists(LockID)`; `DeleteItem` of it with the same condition |
//! | unlock | that `DeleteItem` |
//! | any other (a newer engine's) | read, then write |

use crate::lock::LockTable;
use crate::objects::Bucket;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use terrace::state::{Probe, StateError};

/// An ETag no object can have (real ones are hex digests).
const NO_ETAG: &str = "\"terrace-access-probe\"";
/// A condition that never holds.
const NEVER: &str = "attribute_exists(#key) AND attribute_not_exists(#key)";

/// The keys of one stack that the probes touch.
pub(crate) struct Keys {
    pub stack: String,
    pub snapshot: String,
    pub journal_prefix: String,
    pub lock_id: String,
}

/// Runs `probe` for one stack.
pub(crate) async fn run(
    bucket: &Bucket,
    locks: &LockTable,
    keys: &Keys,
    probe: Probe,
) -> Result<(), StateError> {
    match probe {
        Probe::Read => {
            read_snapshot(bucket, keys).await?;
            list_journal(bucket, keys).await
        }
        Probe::Write => {
            put_never(bucket, keys, &keys.snapshot).await?;
            let journal = format!("{}probe.json", keys.journal_prefix);
            put_never(bucket, keys, &journal).await?;
            lock_never(locks, keys).await?;
            delete_lock_never(locks, keys).await
        }
        Probe::Unlock => delete_lock_never(locks, keys).await,
        // A probe this backend does not know yet: everything it can check (read and write),
        // so that a refusal is still found before anything is written.
        _ => {
            Box::pin(run(bucket, locks, keys, Probe::Read)).await?;
            Box::pin(run(bucket, locks, keys, Probe::Write)).await
        }
    }
}

/// An answer that says the credentials may not make the call (S3's 403, DynamoDB's and
/// KMS's `AccessDeniedException`, an unknown key or a bad signature).
fn denied(status: Option<u16>, code: Option<&str>) -> bool {
    status == Some(403)
        || matches!(
            code,
            Some(
                "AccessDenied"
                    | "AccessDeniedException"
                    | "UnrecognizedClientException"
                    | "InvalidClientTokenId"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
            )
        )
}

fn refusal(
    keys: &Keys,
    call: &str,
    target: String,
    code: Option<&str>,
    message: Option<&str>,
) -> StateError {
    StateError::Denied {
        stack: keys.stack.clone(),
        call: call.to_string(),
        target,
        message: match (code, message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => "403 Forbidden".to_string(),
        },
    }
}

/// `Ok` when `call` was authorized (whatever else it answered), the refusal otherwise; other
/// failures (network, throttling) are I/O errors of the target.
fn judge<T, E>(
    keys: &Keys,
    call: &str,
    target: String,
    result: &Result<T, SdkError<E, HttpResponse>>,
) -> Result<(), StateError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let Err(err) = result else {
        return Ok(());
    };
    let status = err.raw_response().map(|r| r.status().as_u16());
    if denied(status, err.code()) {
        return Err(refusal(keys, call, target, err.code(), err.message()));
    }
    if status.is_some() {
        return Ok(()); // authorized; the condition or the key said no
    }
    Err(StateError::Io {
        path: target.into(),
        source: std::io::Error::other(format!("{call}: {}", crate::error::sdk_message(err))),
    })
}

async fn read_snapshot(bucket: &Bucket, keys: &Keys) -> Result<(), StateError> {
    let result = bucket
        .client
        .get_object()
        .bucket(&bucket.name)
        .key(&keys.snapshot)
        .send()
        .await;
    judge(keys, "s3:GetObject", bucket.target(&keys.snapshot), &result)
}

async fn list_journal(bucket: &Bucket, keys: &Keys) -> Result<(), StateError> {
    let result = bucket
        .client
        .list_objects_v2()
        .bucket(&bucket.name)
        .prefix(&keys.journal_prefix)
        .max_keys(1)
        .send()
        .await;
    let target = bucket.target(&keys.journal_prefix);
    judge(keys, "s3:ListBucket", target, &result)
}

async fn put_never(bucket: &Bucket, keys: &Keys, key: &str) -> Result<(), StateError> {
    let result = bucket
        .client
        .put_object()
        .bucket(&bucket.name)
        .key(key)
        .if_match(NO_ETAG)
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await;
    if result.is_ok() {
        // Only a store that ignores If-Match gets here; say so rather than pass silently.
        return Err(StateError::Io {
            path: bucket.target(key).into(),
            source: std::io::Error::other(
                "the store ignored If-Match on a probe write; it cannot hold Terrace state safely",
            ),
        });
    }
    judge(keys, "s3:PutObject", bucket.target(key), &result)
}

fn lock_target(locks: &LockTable, keys: &Keys) -> String {
    format!("dynamodb://{}/{}", locks.table, keys.lock_id)
}

async fn lock_never(locks: &LockTable, keys: &Keys) -> Result<(), StateError> {
    let result = locks
        .client
        .put_item()
        .table_name(&locks.table)
        .item("LockID", AttributeValue::S(keys.lock_id.clone()))
        .condition_expression(NEVER)
        .expression_attribute_names("#key", "LockID")
        .send()
        .await;
    let target = lock_target(locks, keys);
    judge(keys, "dynamodb:PutItem", target, &result)
}

async fn delete_lock_never(locks: &LockTable, keys: &Keys) -> Result<(), StateError> {
    let result = locks
        .client
        .delete_item()
        .table_name(&locks.table)
        .key("LockID", AttributeValue::S(keys.lock_id.clone()))
        .condition_expression(NEVER)
        .expression_attribute_names("#key", "LockID")
        .send()
        .await;
    let target = lock_target(locks, keys);
    judge(keys, "dynamodb:DeleteItem", target, &result)
}
