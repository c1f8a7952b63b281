//! A Terrace state backend on S3, with DynamoDB locks: `s3://BUCKET/PREFIX?region=R&
//! lock_table=TABLE` as `backend:` in `terrace.yaml`.
//!
//! The contract is the one of the `file://` backend ([`terrace::state::file`]), object for
//! file. Under `PREFIX/`:
//!
//! | key | what |
//! | --- | --- |
//! | `<stack>.json` | the snapshot; replaced only with `If-Match: <its ETag>` (compare-and-swap), created only with `If-None-Match: *` |
//! | `<stack>.journal/<base serial, 20 digits>/header.json` | the journal's header (base serial, lineage) |
//! | `<stack>.journal/<base serial>/<sequence, 10 digits>.json` | one journal entry per object (S3 has no append), each created with `If-None-Match: *` |
//! | `.history/<stack>/<serial>.json` | the 20 previous snapshots |
//!
//! A journal only counts over the snapshot whose serial names its folder, so a journal left by
//! a crash after an older snapshot is ignored, as with `file://`; a replayed journal counts as
//! one more serial. Locks are items of a DynamoDB table ([`lock`]).
//!
//! Register it on the provider registry so that `Terrace::open` opens `s3://` URLs:
//!
//! ```no_run
//! let mut registry = terrace::provider::Registry::new();
//! terrace_s3::register(&mut registry);
//! ```

mod error;
pub mod iam;
pub mod location;
pub mod lock;
mod objects;
mod probe;

pub use error::{S3Error, EXAMPLE};
pub use location::{S3Location, DEFAULT_LOCK_TTL};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use futures::{StreamExt, TryStreamExt};
use lock::LockTable;
use objects::{Bucket, Condition, Written};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use terrace::state::file::HISTORY_KEEP;
use terrace::state::{Backend, JournalEntry, LockInfo, Probe, StackState, StateError};
use tokio::sync::OnceCell;
use tokio::task::AbortHandle;

/// Registers the `s3://` opener on a registry.
pub fn register(registry: &mut terrace::provider::Registry) {
    registry.register_backend("s3", |url: &str, _root: &Path| {
        Ok(Arc::new(S3Backend::new(url)?) as Arc<dyn Backend>)
    });
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalHeader {
    base_serial: u64,
    lineage: String,
}

struct Clients {
    bucket: Bucket,
    locks: LockTable,
}

/// Where the next journal entry of a stack goes.
struct Cursor {
    base: u64,
    next: u64,
}

/// Stack states in an S3 bucket, locks in a DynamoDB table.
pub struct S3Backend {
    location: S3Location,
    clients: OnceCell<Clients>,
    cursors: tokio::sync::Mutex<HashMap<String, Cursor>>,
    /// The expiry refreshers of the locks this backend holds, by stack, with the lock id.
    refreshers: Mutex<HashMap<String, (String, AbortHandle)>>,
}

impl Drop for S3Backend {
    fn drop(&mut self) {
        if let Ok(refreshers) = self.refreshers.get_mut() {
            for (_, (_, task)) in refreshers.drain() {
                task.abort();
            }
        }
    }
}

fn corrupt(target: String, err: serde_json::Error) -> S3Error {
    S3Error::Corrupt {
        target,
        message: err.to_string(),
    }
}

impl S3Backend {
    /// A backend for a URL (see [`S3Location`]); connects on first use.
    pub fn new(url: &str) -> Result<S3Backend, S3Error> {
        Ok(S3Backend::at(S3Location::parse(url)?))
    }

    /// A backend for a parsed location; connects on first use.
    pub fn at(location: S3Location) -> S3Backend {
        S3Backend {
            location,
            clients: OnceCell::new(),
            cursors: tokio::sync::Mutex::new(HashMap::new()),
            refreshers: Mutex::new(HashMap::new()),
        }
    }

    /// Where states and locks live.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    async fn clients(&self) -> Result<&Clients, S3Error> {
        self.clients
            .get_or_try_init(|| async {
                let (s3, dynamodb) = connect(&self.location).await?;
                Ok(Clients {
                    bucket: Bucket {
                        client: s3,
                        name: self.location.bucket.clone(),
                    },
                    locks: LockTable {
                        client: dynamodb,
                        table: self.location.lock_table.clone(),
                        ttl: self.location.lock_ttl,
                    },
                })
            })
            .await
    }

    pub(crate) fn key(&self, rest: &str) -> String {
        if self.location.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.location.prefix)
        }
    }

    /// Key of a stack's snapshot.
    pub fn snapshot_key(&self, stack: &str) -> String {
        self.key(&format!("{stack}.json"))
    }

    /// Prefix of every journal object of a stack.
    pub fn journal_prefix(&self, stack: &str) -> String {
        self.key(&format!("{stack}.journal/"))
    }

    fn journal_base_prefix(&self, stack: &str, base: u64) -> String {
        format!("{}{base:020}/", self.journal_prefix(stack))
    }

    /// Prefix of the kept previous snapshots of a stack (`<serial>.json` under it).
    pub fn history_prefix(&self, stack: &str) -> String {
        self.key(&format!(".history/{stack}/"))
    }

    /// The DynamoDB `LockID` of a stack: `<prefix>/<stack>`.
    pub fn lock_id(&self, stack: &str) -> String {
        self.key(stack)
    }

    async fn read_snapshot(
        &self,
        stack: &str,
    ) -> Result<Option<(StackState, Vec<u8>, String)>, S3Error> {
        let bucket = &self.clients().await?.bucket;
        let key = self.snapshot_key(stack);
        match bucket.get(&key).await? {
            Some((bytes, etag)) => {
                let state =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(bucket.target(&key), e))?;
                Ok(Some((state, bytes, etag)))
            }
            None => Ok(None),
        }
    }

    /// Replays the journal of the snapshot's serial over it (file semantics: no header, no
    /// journal; entries in sequence order up to the first that does not parse).
    async fn replay(
        &self,
        stack: &str,
        snapshot: Option<StackState>,
    ) -> Result<Option<StackState>, S3Error> {
        let bucket = &self.clients().await?.bucket;
        let base = snapshot.as_ref().map(|s| s.serial).unwrap_or(0);
        let prefix = self.journal_base_prefix(stack, base);
        let keys = bucket.list(&prefix).await?;
        let header_key = format!("{prefix}header.json");
        if !keys.contains(&header_key) {
            return Ok(snapshot);
        }
        let header: JournalHeader = match bucket.get(&header_key).await? {
            Some((bytes, _)) => match serde_json::from_slice(&bytes) {
                Ok(header) => header,
                Err(_) => return Ok(snapshot),
            },
            None => return Ok(snapshot),
        };
        let entry_keys: Vec<String> = keys
            .into_iter()
            .filter(|k| sequence(k.strip_prefix(&prefix).unwrap_or_default()).is_some())
            .collect();
        let bodies: Vec<Option<(Vec<u8>, String)>> = futures::stream::iter(entry_keys)
            .map(|key: String| async move { bucket.get(&key).await })
            .buffered(16)
            .try_collect()
            .await?;
        let entries = bodies.iter().flatten().map(|(bytes, _)| bytes.as_slice());
        let state = StackState::replayed(stack, snapshot, &header.lineage, entries);
        Ok(Some(state))
    }

    /// Starts (or continues) the journal after the snapshot of `base`: journals of older
    /// bases are stale and removed (never newer ones: a writer that lost its lock must not
    /// erase its successor's journal); entries already there (a crashed run on the same
    /// snapshot) are kept and followed.
    async fn open_journal(&self, stack: &str, base: u64) -> Result<Cursor, S3Error> {
        let bucket = &self.clients().await?.bucket;
        let prefix = self.journal_base_prefix(stack, base);
        let root = self.journal_prefix(stack);
        let mut current = Vec::new();
        let mut stale = Vec::new();
        for key in bucket.list(&root).await? {
            let folder = key.strip_prefix(&root).and_then(|rest| rest.get(..20));
            match folder.and_then(|digits| digits.parse::<u64>().ok()) {
                Some(b) if b == base => current.push(key),
                Some(b) if b < base => stale.push(key),
                _ => {}
            }
        }
        bucket.delete(&stale).await?;
        let header_key = format!("{prefix}header.json");
        if !current.contains(&header_key) {
            let lineage = self
                .read_snapshot(stack)
                .await?
                .map(|(s, _, _)| s.lineage)
                .unwrap_or_default();
            let header = serde_json::to_vec(&JournalHeader {
                base_serial: base,
                lineage,
            })
            .expect("header serializes");
            // Absent: a racer's identical header is as good as ours.
            bucket.put(&header_key, header, Condition::Absent).await?;
        }
        let next = current
            .iter()
            .filter_map(|k| sequence(k.strip_prefix(&prefix).unwrap_or_default()))
            .max()
            .map_or(0, |last| last + 1);
        Ok(Cursor { base, next })
    }

    fn stop_refresher(&self, stack: &str, lock_id: Option<&str>) {
        let mut refreshers = self.refreshers.lock().expect("refreshers lock");
        let matches = refreshers
            .get(stack)
            .is_some_and(|(id, _)| lock_id.is_none_or(|l| l == id));
        if matches {
            if let Some((_, task)) = refreshers.remove(stack) {
                task.abort();
            }
        }
    }
}

/// `0000000042.json` → 42.
fn sequence(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// S3 and DynamoDB clients for a location: region and endpoint from the URL when given, else
/// the SDK's default chain (which reads `AWS_REGION` and `AWS_ENDPOINT_URL`). With any
/// explicit endpoint, S3 uses path-style addressing (moto, MinIO). No region at all is an
/// error that says where to give one.
async fn connect(
    location: &S3Location,
) -> Result<(aws_sdk_s3::Client, aws_sdk_dynamodb::Client), S3Error> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &location.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &location.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(S3Error::InvalidUrl {
            url: location.url.clone(),
            message: "no AWS region: add `region=...` to the URL or set AWS_REGION".into(),
        });
    }
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    Ok((
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_dynamodb::Client::new(&config),
    ))
}

#[async_trait]
impl Backend for S3Backend {
    async fn load(&self, stack: &str) -> Result<Option<StackState>, StateError> {
        let snapshot = self.read_snapshot(stack).await?.map(|(s, _, _)| s);
        let snapshot_serial = snapshot.as_ref().map(|s| s.serial);
        Ok(self.replay(stack, snapshot).await?.map(|mut state| {
            state.snapshot_serial = snapshot_serial;
            state
        }))
    }

    async fn append(
        &self,
        stack: &str,
        base_serial: u64,
        entry: &JournalEntry,
    ) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(entry).expect("journal entries serialize");
        // The sequence number is taken in call order; the writes themselves run in parallel
        // (an entry's write returned before any entry that depends on it is made).
        let sequence = {
            let mut cursors = self.cursors.lock().await;
            let usable = cursors.get(stack).is_some_and(|c| c.base == base_serial);
            if !usable {
                let cursor = self.open_journal(stack, base_serial).await?;
                cursors.insert(stack.to_string(), cursor);
            }
            let cursor = cursors.get_mut(stack).expect("just inserted");
            cursor.next += 1;
            cursor.next - 1
        };
        let bucket = &self.clients().await?.bucket;
        let key = format!(
            "{}{sequence:010}.json",
            self.journal_base_prefix(stack, base_serial)
        );
        match bucket.put(&key, bytes, Condition::Absent).await? {
            Written::Done => Ok(()),
            Written::PreconditionFailed => {
                self.cursors.lock().await.remove(stack);
                Err(S3Error::JournalRace {
                    target: bucket.target(&key),
                }
                .into())
            }
        }
    }

    async fn save(&self, state: &StackState, expected: Option<u64>) -> Result<(), StateError> {
        let stack = &state.stack;
        let bucket = &self.clients().await?.bucket;
        let current = self.read_snapshot(stack).await?;
        let found = current.as_ref().map(|(s, _, _)| s.serial);
        if found != expected {
            return Err(StateError::SerialConflict {
                stack: stack.clone(),
                expected,
                found,
            });
        }
        let condition = match &current {
            Some((current, bytes, etag)) => {
                if current.lineage != state.lineage {
                    return Err(StateError::LineageMismatch {
                        stack: stack.clone(),
                        expected: state.lineage.clone(),
                        found: current.lineage.clone(),
                    });
                }
                // Kept before the swap, so that a crash never loses a version.
                let history = self.history_prefix(stack);
                let key = format!("{history}{}.json", current.serial);
                bucket.put(&key, bytes.clone(), Condition::Always).await?;
                let mut serials = history_serials(&bucket.list(&history).await?, &history);
                let mut old = Vec::new();
                while serials.len() > HISTORY_KEEP {
                    old.push(format!("{history}{}.json", serials.remove(0)));
                }
                bucket.delete(&old).await?;
                Condition::Matches(etag.clone())
            }
            None => Condition::Absent,
        };
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        let key = self.snapshot_key(stack);
        if bucket.put(&key, bytes, condition).await? == Written::PreconditionFailed {
            let found = self.read_snapshot(stack).await?.map(|(s, _, _)| s.serial);
            return Err(StateError::SerialConflict {
                stack: stack.clone(),
                expected,
                found,
            });
        }
        self.cursors.lock().await.remove(stack);
        let journal = bucket.list(&self.journal_prefix(stack)).await?;
        bucket.delete(&journal).await?;
        Ok(())
    }

    async fn lock(&self, stack: &str, info: &LockInfo) -> Result<(), StateError> {
        let locks = self.clients().await?.locks.clone();
        let id = self.lock_id(stack);
        locks.lock(stack, &id, info).await?;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Ok(()); // not on tokio: the lock simply lives for its TTL
        };
        let every = (locks.ttl / 3).max(Duration::from_secs(1));
        let owner = info.id.clone();
        let task = runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match locks.refresh(&id, &owner).await {
                    Ok(true) => {}
                    Ok(false) => return, // released or taken over: nothing left to refresh
                    Err(_) => {}         // try again; the lock lives until its expiry
                }
            }
        });
        let previous = self
            .refreshers
            .lock()
            .expect("refreshers lock")
            .insert(stack.to_string(), (info.id.clone(), task.abort_handle()));
        if let Some((_, previous)) = previous {
            previous.abort();
        }
        Ok(())
    }

    async fn unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        self.stop_refresher(stack, Some(lock_id));
        let locks = &self.clients().await?.locks;
        Ok(locks.unlock(&self.lock_id(stack), lock_id).await?)
    }

    async fn force_unlock(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        self.stop_refresher(stack, None);
        let locks = &self.clients().await?.locks;
        Ok(locks.force_unlock(&self.lock_id(stack)).await?)
    }

    async fn lock_info(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        let locks = &self.clients().await?.locks;
        Ok(locks.holder(&self.lock_id(stack)).await?)
    }

    async fn list(&self) -> Result<Vec<String>, StateError> {
        let bucket = &self.clients().await?.bucket;
        let root = self.key("");
        let mut stacks = Vec::new();
        for key in bucket.list(&root).await? {
            let rel = key.strip_prefix(&root).unwrap_or(&key);
            if rel.split('/').any(|part| part.starts_with('.')) {
                continue;
            }
            if let Some((stack, _)) = rel.split_once(".journal/") {
                stacks.push(stack.to_string());
            } else if let Some(stack) = rel.strip_suffix(".json") {
                stacks.push(stack.to_string());
            }
        }
        stacks.sort();
        stacks.dedup();
        Ok(stacks)
    }

    async fn history(&self, stack: &str) -> Result<Vec<u64>, StateError> {
        let bucket = &self.clients().await?.bucket;
        let prefix = self.history_prefix(stack);
        Ok(history_serials(&bucket.list(&prefix).await?, &prefix))
    }

    async fn probe(&self, stack: &str, probe: Probe) -> Result<(), StateError> {
        let clients = self.clients().await?;
        let keys = probe::Keys {
            stack: stack.to_string(),
            snapshot: self.snapshot_key(stack),
            journal_prefix: self.journal_prefix(stack),
            lock_id: self.lock_id(stack),
        };
        probe::run(&clients.bucket, &clients.locks, &keys, probe).await
    }
}

fn history_serials(keys: &[String], prefix: &str) -> Vec<u64> {
    let mut serials: Vec<u64> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix)?.strip_suffix(".json")?.parse().ok())
        .collect();
    serials.sort_unstable();
    serials
}

/// Creates the bucket (with versioning on, so S3 keeps every version too) and the lock table
/// (hash key `LockID`, on-demand) of a backend URL when they do not exist. For first setup
/// and tests; production buckets and tables are usually made by their own tooling.
pub async fn bootstrap(url: &str) -> Result<(), StateError> {
    let backend = S3Backend::new(url)?;
    let clients = backend.clients().await?;
    let bucket = &clients.bucket;
    let exists = bucket
        .client
        .head_bucket()
        .bucket(&bucket.name)
        .send()
        .await
        .is_ok();
    if !exists {
        let mut create = bucket.client.create_bucket().bucket(&bucket.name);
        let region = bucket.client.config().region().map(|r| r.to_string());
        if let Some(region) = region.filter(|r| r != "us-east-1") {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(region.as_str().into())
                    .build(),
            );
        }
        create.send().await.map_err(|e| S3Error::Service {
            operation: "CreateBucket",
            target: bucket.target(""),
            message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })?;
    }
    bucket
        .client
        .put_bucket_versioning()
        .bucket(&bucket.name)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| S3Error::Service {
            operation: "PutBucketVersioning",
            target: bucket.target(""),
            message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })?;
    let locks = &clients.locks;
    let exists = locks
        .client
        .describe_table()
        .table_name(&locks.table)
        .send()
        .await
        .is_ok();
    if !exists {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| S3Error::Service {
            operation: "CreateTable",
            target: format!("dynamodb://{}", locks.table),
            message: e.to_string(),
        };
        locks
            .client
            .create_table()
            .table_name(&locks.table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("LockID")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("LockID")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| S3Error::Service {
                operation: "CreateTable",
                target: format!("dynamodb://{}", locks.table),
                message: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            })?;
    }
    Ok(())
}
