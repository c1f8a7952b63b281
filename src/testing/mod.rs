//! Test support: an in-process provider for engine tests (like Pulumi's `deploytest`). It
//! keeps a fake cloud in memory or in a directory (so that several `terrace` processes share
//! it), honours idempotency keys, checks references between its resources, refuses to delete a
//! network that still has subnets, updates only the fields that differ between the request's
//! old and new values (as real providers do), counts calls, and can inject latency, failures,
//! lost answers, eventual consistency after creates and refused reads.
//!
//! It never stands in for a cloud in an end-to-end test. The CLI offers it only when
//! `TERRACE_TEST_PROVIDER=1` is set.

mod cloud;

pub use cloud::{FakeCloud, StoredResource};

use crate::provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Properties, Provider, ProviderError, RateLimit, ReadRequest, ResourceSchema, UpdateRequest,
};
use async_trait::async_trait;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Knobs of the test provider.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Added to every call.
    pub latency: Duration,
    /// Resource names (as in the ownership) whose create or update fails.
    pub fail_resources: BTreeSet<String>,
    /// Resource names whose create succeeds in the cloud but whose answer is lost (the
    /// provider reports an ambiguous outcome, as after a timeout or a crash).
    pub lose_answer: BTreeSet<String>,
    /// Requests per second per region for the `test:mutate` class (0 = unlimited).
    pub mutate_rate: f64,
    /// Reads by owner fail (as when the lookup after a lost answer cannot reach the cloud):
    /// an ambiguous create then stays pending for the next apply.
    pub fail_owner_reads: bool,
    /// For this long after its create, a new resource is not listed and a create or update
    /// naming it answers not-found (eventual consistency).
    pub lag_after_create: Duration,
    /// Resource names whose reads are refused (403 in a cloud): `Denied`.
    pub deny_reads: BTreeSet<String>,
    /// Every read is throttled once: reported as a wait ([`crate::provider::progress`]),
    /// then retried after 10 ms.
    pub throttle_reads: bool,
    /// Resource names whose create panics (a provider bug): the engine must fail that
    /// operation only.
    pub panic_resources: BTreeSet<String>,
}

impl TestOptions {
    /// Reads knobs from `providers.test.settings` in `terrace.yaml`.
    pub fn from_settings(settings: &serde_json::Map<String, Json>) -> TestOptions {
        let names = |key: &str| -> BTreeSet<String> {
            settings
                .get(key)
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Json::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        TestOptions {
            latency: Duration::from_millis(
                settings
                    .get("latency_ms")
                    .and_then(Json::as_u64)
                    .unwrap_or(0),
            ),
            fail_resources: names("fail_resources"),
            panic_resources: names("panic_resources"),
            lose_answer: names("lose_answer"),
            mutate_rate: settings
                .get("mutate_rate")
                .and_then(Json::as_f64)
                .unwrap_or(0.0),
            fail_owner_reads: settings
                .get("fail_owner_reads")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            lag_after_create: Duration::from_millis(
                settings
                    .get("lag_after_create_ms")
                    .and_then(Json::as_u64)
                    .unwrap_or(0),
            ),
            deny_reads: names("deny_reads"),
            throttle_reads: settings
                .get("throttle_reads")
                .and_then(Json::as_bool)
                .unwrap_or(false),
        }
    }
}

/// One `read` call the test provider answered: what it was asked, and in which account.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadCall {
    /// The account of the configured provider that was called (none: the default one).
    pub account: Option<String>,
    /// Resource type read.
    pub type_name: String,
    /// Region read.
    pub region: Option<String>,
    /// Ids asked for.
    pub ids: Vec<String>,
    /// Ownership looked for.
    pub owner: Option<crate::provider::Ownership>,
}

/// The test provider; its type names start with `test:`. A stack may configure it with
/// `providers: {test: {account: NAME}}`: resources created through that configuration live in
/// account NAME, and its reads see that account only. Every configuration shares the cloud
/// and the call counts.
pub struct TestProvider {
    cloud: Arc<FakeCloud>,
    options: TestOptions,
    account: Option<String>,
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
    reads: Arc<Mutex<Vec<ReadCall>>>,
    /// When each id was created (for `lag_after_create`).
    created_at: Arc<Mutex<BTreeMap<String, std::time::Instant>>>,
}

impl TestProvider {
    /// A test provider with a fake cloud in memory.
    pub fn in_memory(options: TestOptions) -> TestProvider {
        TestProvider::with_cloud(FakeCloud::in_memory(), options)
    }

    /// A test provider whose fake cloud lives in `dir`.
    pub fn in_dir(dir: PathBuf, options: TestOptions) -> TestProvider {
        TestProvider::with_cloud(FakeCloud::in_dir(dir), options)
    }

    fn with_cloud(cloud: FakeCloud, options: TestOptions) -> TestProvider {
        TestProvider {
            cloud: Arc::new(cloud),
            options,
            account: None,
            calls: Arc::default(),
            reads: Arc::default(),
            created_at: Arc::default(),
        }
    }

    /// The fake cloud, to check what exists independently of the engine.
    pub fn cloud(&self) -> &FakeCloud {
        &self.cloud
    }

    /// Calls made so far (through any configuration), by `operation:type`.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// Every `read` answered so far (through any configuration), in order.
    pub fn reads(&self) -> Vec<ReadCall> {
        self.reads.lock().expect("reads lock").clone()
    }

    /// A resource of another account is, to this one, not there.
    fn in_my_account(&self, resource: &StoredResource) -> bool {
        resource.account == self.account
    }

    fn count(&self, operation: &str, type_name: &str) {
        *self
            .calls
            .lock()
            .expect("calls lock")
            .entry(format!("{operation}:{type_name}"))
            .or_default() += 1;
    }

    async fn delay(&self) {
        if !self.options.latency.is_zero() {
            tokio::time::sleep(self.options.latency).await;
        }
    }

    /// True while a resource created moments ago is not visible yet.
    fn lagging(&self, id: &str) -> bool {
        self.created_at
            .lock()
            .expect("created lock")
            .get(id)
            .is_some_and(|at| at.elapsed() < self.options.lag_after_create)
    }

    /// Refuses a call naming a resource that does not exist (or is not visible yet).
    fn check_references(
        &self,
        type_name: &str,
        properties: &serde_json::Map<String, Json>,
    ) -> Result<(), ProviderError> {
        for field in references(type_name) {
            if let Some(id) = properties.get(*field).and_then(Json::as_str) {
                if self.cloud.get(id)?.is_none() || self.lagging(id) {
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        "InvalidReference.NotFound",
                        format!("{field} {id} does not exist"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_failure(&self, resource: &str) -> Result<(), ProviderError> {
        if self.options.fail_resources.contains(resource) {
            return Err(ProviderError::new(
                ErrorKind::Other,
                "InjectedFailure",
                format!("injected failure for {resource}"),
            ));
        }
        Ok(())
    }
}

fn schema(type_name: &str, regional: bool, fields: Vec<FieldSchema>) -> ResourceSchema {
    let mut fields = fields;
    fields.push(FieldSchema::computed("arn", FieldKind::String));
    ResourceSchema {
        type_name: type_name.to_string(),
        fields,
        api: ApiClasses {
            read: "test:read".into(),
            mutate: "test:mutate".into(),
        },
        regional,
    }
}

/// The schemas of the test provider's types.
pub fn schemas() -> Vec<ResourceSchema> {
    use FieldKind::*;
    vec![
        schema(
            "test:Network",
            true,
            vec![
                FieldSchema::input("cidr", Cidr).required().force_new(),
                FieldSchema::input("name", String),
                FieldSchema::input("labels", StringMap),
            ],
        ),
        schema(
            "test:Subnet",
            true,
            vec![
                FieldSchema::input("network_id", String)
                    .required()
                    .force_new(),
                FieldSchema::input("cidr", Cidr).required().force_new(),
                FieldSchema::input("zone", String).force_new(),
                FieldSchema::input("labels", StringMap),
            ],
        ),
        schema(
            "test:Instance",
            true,
            vec![
                FieldSchema::input("subnet_id", String)
                    .required()
                    .force_new(),
                FieldSchema::input("image", String).required().force_new(),
                FieldSchema::input("size", String),
                FieldSchema::input("count", Number),
                FieldSchema::input("user_data", String),
                FieldSchema::computed("private_ip", String),
            ],
        ),
        schema(
            "test:LoadBalancer",
            true,
            vec![
                FieldSchema::input("targets", List),
                FieldSchema::input("port", Number),
                FieldSchema::input("public", Bool).force_new(),
                FieldSchema::computed("endpoint", String),
            ],
        ),
        // A credential whose token the cloud generates (like a VPN connection's pre-shared
        // keys) and whose `passphrase` a template may set: both secrets (`sensitive`).
        schema(
            "test:Credential",
            false,
            vec![
                FieldSchema::input("name", String).force_new(),
                FieldSchema::input("passphrase", String).sensitive(),
                FieldSchema::computed("token", String).sensitive(),
            ],
        ),
        schema(
            "test:Thing",
            false,
            vec![
                FieldSchema::input("value", Any),
                FieldSchema::input("replace_on", Any).force_new(),
                FieldSchema::input("parent", String),
                FieldSchema::input("tags", Map),
            ],
        ),
    ]
}

/// Attributes the fake cloud computes for a new resource.
fn computed(type_name: &str, id: &str) -> serde_json::Map<String, Json> {
    let mut attrs = serde_json::Map::new();
    attrs.insert("arn".into(), json!(format!("arn:test:{type_name}:{id}")));
    match type_name {
        "test:Instance" => {
            let n = id
                .bytes()
                .fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(b as u32));
            attrs.insert(
                "private_ip".into(),
                json!(format!(
                    "10.{}.{}.{}",
                    n % 250,
                    (n / 250) % 250,
                    (n / 62500) % 250 + 1
                )),
            );
        }
        "test:LoadBalancer" => {
            attrs.insert("endpoint".into(), json!(format!("{id}.lb.test.invalid")));
        }
        "test:Credential" => {
            attrs.insert("token".into(), json!(format!("generated-token-{id}")));
        }
        _ => {}
    }
    attrs
}

/// Fields holding ids of other resources, which must exist.
fn references(type_name: &str) -> &'static [&'static str] {
    match type_name {
        "test:Subnet" => &["network_id"],
        "test:Instance" => &["subnet_id"],
        _ => &[],
    }
}

#[async_trait]
impl Provider for TestProvider {
    fn name(&self) -> &str {
        "test"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        schemas()
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        if self.options.mutate_rate > 0.0 {
            vec![RateLimit {
                class: "test:mutate".into(),
                per_second: self.options.mutate_rate,
                burst: 1,
            }]
        } else {
            Vec::new()
        }
    }

    /// `{account: NAME}`: the same cloud, seen from account NAME.
    fn configure(&self, config: &Properties) -> Result<Arc<dyn Provider>, ProviderError> {
        let invalid = |message: String| {
            ProviderError::new(ErrorKind::Invalid, "InvalidConfiguration", message)
        };
        if let Some(key) = config.keys().find(|k| *k != "account") {
            return Err(invalid(format!(
                "the test provider takes `account` only (got `{key}`)"
            )));
        }
        let account = config
            .get("account")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("`providers.test.account` must be a string".into()))?;
        Ok(Arc::new(TestProvider {
            cloud: self.cloud.clone(),
            options: self.options.clone(),
            account: Some(account.to_string()),
            calls: self.calls.clone(),
            reads: self.reads.clone(),
            created_at: self.created_at.clone(),
        }))
    }

    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        self.count("read", &request.type_name);
        self.reads.lock().expect("reads lock").push(ReadCall {
            account: self.account.clone(),
            type_name: request.type_name.clone(),
            region: request.region.clone(),
            ids: request.ids.clone(),
            owner: request.owner.clone(),
        });
        self.delay().await;
        if self.options.throttle_reads {
            let wait = Duration::from_millis(10);
            crate::provider::progress::report(
                format!("test read of {} throttled; retrying", request.type_name),
                Some(wait),
            );
            tokio::time::sleep(wait).await;
        }
        if self.options.fail_owner_reads && request.owner.is_some() {
            return Err(ProviderError::new(
                ErrorKind::Other,
                "InjectedFailure",
                "injected failure of a read by owner",
            ));
        }
        let ids: BTreeSet<&String> = request.ids.iter().collect();
        if let Some(denied) = self.cloud.list()?.iter().find(|r| {
            ids.contains(&r.id) && self.options.deny_reads.contains(&r.ownership.resource)
        }) {
            return Err(ProviderError::new(
                ErrorKind::Denied,
                "AccessDenied",
                format!(
                    "not allowed to read {} (credentials: test-principal)",
                    denied.id
                ),
            ));
        }
        Ok(self
            .cloud
            .read(&request, self.account.as_deref())?
            .into_iter()
            .filter(|o| !self.lagging(&o.id))
            .collect())
    }

    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError> {
        self.count("create", &request.type_name);
        self.delay().await;
        if let Some(existing) = self.cloud.by_token(&request.idempotency_key)? {
            return Ok(existing.observed());
        }
        self.check_failure(&request.ownership.resource)?;
        if self
            .options
            .panic_resources
            .contains(&request.ownership.resource)
        {
            panic!(
                "test provider: create of `{}` panics",
                request.ownership.resource
            );
        }
        self.check_references(&request.type_name, &request.properties)?;
        let id = self.cloud.new_id(&request.type_name);
        self.created_at
            .lock()
            .expect("created lock")
            .insert(id.clone(), std::time::Instant::now());
        let stored = StoredResource {
            id: id.clone(),
            type_name: request.type_name.clone(),
            region: request.region.clone(),
            properties: request.properties,
            attributes: computed(&request.type_name, &id),
            ownership: request.ownership,
            account: self.account.clone(),
        };
        self.cloud.insert(&stored, Some(&request.idempotency_key))?;
        if self
            .options
            .lose_answer
            .contains(&stored.ownership.resource)
        {
            return Err(ProviderError::new(
                ErrorKind::Ambiguous,
                "Timeout",
                "the answer to the create was lost",
            ));
        }
        Ok(stored.observed())
    }

    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError> {
        self.count("update", &request.type_name);
        self.delay().await;
        self.check_failure(&request.ownership.resource)?;
        self.check_references(&request.type_name, &request.new)?;
        let mut stored = self
            .cloud
            .get(&request.id)?
            .filter(|r| self.in_my_account(r))
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    "NotFound",
                    format!("{} {} does not exist", request.type_name, request.id),
                )
            })?;
        // Like a real provider: only the fields that differ between old and new are sent.
        for (field, value) in &request.new {
            if request.old.get(field) != Some(value) {
                stored.properties.insert(field.clone(), value.clone());
            }
        }
        for field in request.old.keys() {
            if !request.new.contains_key(field) {
                stored.properties.remove(field);
            }
        }
        self.cloud.insert(&stored, None)?;
        Ok(stored.observed())
    }

    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError> {
        self.count("delete", &request.type_name);
        self.delay().await;
        let all = self.cloud.list()?;
        if all
            .iter()
            .any(|r| r.id == request.id && !self.in_my_account(r))
        {
            return Ok(()); // not in this account: as good as gone
        }
        let users: Vec<&StoredResource> = all
            .iter()
            .filter(|r| {
                references(&r.type_name)
                    .iter()
                    .any(|f| r.properties.get(*f).and_then(Json::as_str) == Some(&request.id))
            })
            .collect();
        if let Some(user) = users.first() {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                "DependencyViolation",
                format!(
                    "{} is still used by {} {}",
                    request.id, user.type_name, user.id
                ),
            ));
        }
        self.cloud.remove(&request.id)
    }
}
