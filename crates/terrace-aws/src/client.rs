//! Configuration and clients: provider settings, the shared AWS configuration (loaded lazily,
//! the way the AWS CLI finds credentials and region), one client per service and region
//! (created on first use), retries with backoff and jitter (throttling codes and 5xx, as the
//! SDK's standard strategy classifies them, without the SDK's retry quota: Terrace's own token
//! buckets pace the calls), each retry reported as progress, the caller's identity for error
//! messages, and a request counter.

use crate::error::invalid;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use terrace_provider::ProviderError;
use tokio::sync::OnceCell;

/// Provider settings (`providers.aws.settings` in `terrace.yaml`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Endpoint override for every service (emulators); `AWS_ENDPOINT_URL` also works.
    pub endpoint: Option<String>,
    /// Region used when a resource names none; otherwise the AWS CLI's default region.
    pub region: Option<String>,
    /// Named profile; otherwise `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Attempts per request, first one included (throttling, 5xx, timeouts are retried).
    pub max_attempts: u32,
    /// First backoff delay; later delays grow exponentially, with full jitter.
    pub initial_backoff: Duration,
    /// Limit for one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Limit for waiters (instance state, dependent resources gone before a delete).
    pub wait_timeout: Duration,
    /// Delay between two polls of a waiter.
    pub poll_interval: Duration,
    /// How long a resource this provider just created may answer not-found to the calls that
    /// configure it (AWS: eventual consistency, "up to a few minutes").
    pub consistency_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            endpoint: None,
            region: None,
            profile: None,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            attempt_timeout: Duration::from_secs(60),
            wait_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
            consistency_timeout: Duration::from_secs(120),
        }
    }
}

impl Settings {
    /// Reads settings; unknown keys and values of the wrong shape are errors.
    pub fn from_map(map: &serde_json::Map<String, Json>) -> Result<Settings, ProviderError> {
        let mut settings = Settings::default();
        for (key, value) in map {
            match key.as_str() {
                "endpoint" => settings.endpoint = Some(string(key, value)?),
                "region" => settings.region = Some(string(key, value)?),
                "profile" => settings.profile = Some(string(key, value)?),
                "max_attempts" => settings.max_attempts = number(key, value)?.max(1) as u32,
                "initial_backoff_ms" => {
                    settings.initial_backoff = Duration::from_millis(number(key, value)?)
                }
                "attempt_timeout_secs" => {
                    settings.attempt_timeout = Duration::from_secs(number(key, value)?.max(1))
                }
                "wait_timeout_secs" => {
                    settings.wait_timeout = Duration::from_secs(number(key, value)?)
                }
                "poll_interval_ms" => {
                    settings.poll_interval = Duration::from_millis(number(key, value)?.max(1))
                }
                "consistency_timeout_secs" => {
                    settings.consistency_timeout = Duration::from_secs(number(key, value)?)
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown aws provider setting `{key}` (known: endpoint, region, profile, \
                         max_attempts, initial_backoff_ms, attempt_timeout_secs, \
                         wait_timeout_secs, poll_interval_ms, consistency_timeout_secs)"
                    )))
                }
            }
        }
        Ok(settings)
    }
}

fn string(key: &str, value: &Json) -> Result<String, ProviderError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("aws provider setting `{key}` must be a string")))
}

fn number(key: &str, value: &Json) -> Result<u64, ProviderError> {
    value.as_u64().ok_or_else(|| {
        invalid(format!(
            "aws provider setting `{key}` must be a non-negative integer"
        ))
    })
}

/// Counts HTTP requests sent (every attempt, retries included).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "TerraceRequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Reports each retry of a call as progress (`terrace_provider::progress`), with the HTTP
/// status of the attempt that failed, so a long wait on a throttled API is visible.
#[derive(Debug, Clone, Default)]
pub struct RetryReporter;

/// The HTTP status of the last failed attempt of a call.
#[derive(Debug, Clone)]
struct LastFailure(u16);

impl aws_smithy_types::config_bag::Storable for LastFailure {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for RetryReporter {
    fn name(&self) -> &'static str {
        "TerraceRetryReporter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(response) = context.response() {
            if !response.status().is_success() {
                cfg.interceptor_state()
                    .store_put(LastFailure(response.status().as_u16()));
            }
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg
            .load::<RequestAttempts>()
            .map(RequestAttempts::attempts)
            .unwrap_or(1);
        if attempt > 1 {
            let operation = cfg
                .load::<Metadata>()
                .map(|m| format!("{} {}", m.service(), m.name()))
                .unwrap_or_else(|| "an AWS call".into());
            let why = cfg
                .load::<LastFailure>()
                .map(|f| format!("HTTP {} (throttled or a server error)", f.0))
                .unwrap_or_else(|| "a lost connection".into());
            terrace_provider::progress::report(
                format!("{operation}: attempt {attempt} after {why}"),
                None,
            );
        }
        Ok(())
    }
}

/// One retry partition for every client, with no retry quota: the SDK's default token bucket
/// stops retrying after a burst of throttling, which is exactly when retries are needed.
fn retry_partition() -> RetryPartition {
    RetryPartition::custom("terrace")
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// `root` with the credentials of `role`: STS `AssumeRole` with `root`'s credentials, cached
/// by the SDK's lazy identity cache until [`CREDENTIALS_REFRESH_BUFFER`] before they expire.
async fn assumed(root: &SdkConfig, role: &AssumeRole, region: Option<&str>) -> SdkConfig {
    use aws_config::identity::IdentityCache;
    use aws_config::sts::AssumeRoleProvider;
    use aws_sdk_sts::config::SharedCredentialsProvider;
    // STS is global, but the SDK needs a region for its endpoint.
    let region = root
        .region()
        .cloned()
        .or_else(|| region.map(|r| Region::new(r.to_string())))
        .unwrap_or_else(|| Region::new("us-east-1"));
    let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
        .session_name(role.session_name.clone())
        .region(region)
        .configure(root);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id.clone());
    }
    if let Some(duration) = role.duration {
        builder = builder.session_length(duration);
    }
    let provider = builder.build().await;
    root.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .identity_cache(
            IdentityCache::lazy()
                .buffer_time(CREDENTIALS_REFRESH_BUFFER)
                .build(),
        )
        .build()
}

/// Clients of one service, by region.
struct PerRegion<T>(Mutex<HashMap<String, T>>);

impl<T: Clone> PerRegion<T> {
    fn new() -> Self {
        PerRegion(Mutex::default())
    }

    fn get_or(&self, region: &str, make: impl FnOnce() -> T) -> T {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(region.to_string())
            .or_insert_with(make)
            .clone()
    }
}

/// A role the provider's calls assume (a stack's `providers.aws.assume_role`), through STS
/// `AssumeRole` from the workspace's base credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssumeRole {
    /// The role's ARN.
    pub role_arn: String,
    /// `RoleSessionName`, shown in CloudTrail.
    pub session_name: String,
    /// `ExternalId`, when the role's trust policy requires one.
    pub external_id: Option<String>,
    /// Session length (STS allows 900 s up to the role's maximum, at most 12 h).
    pub duration: Option<Duration>,
}

/// Credentials an assumed role's calls get are cached until this long before they expire
/// (less the SDK's random jitter of up to half of it: between 2.5 and 5 minutes), then fetched
/// again by the SDK's lazy identity cache, so that no call starts with credentials about to
/// lapse.
pub const CREDENTIALS_REFRESH_BUFFER: Duration = Duration::from_secs(300);

/// The shared configuration and the clients per service and region.
pub struct Clients {
    pub settings: Settings,
    /// The workspace's configuration (base credentials), shared with every configured copy.
    root: Arc<OnceCell<SdkConfig>>,
    /// A clock for the SDK (credential expiry, signing); the system clock by default.
    clock: Option<aws_smithy_async::time::SharedTimeSource>,
    /// The role this copy assumes, if any.
    role: Option<AssumeRole>,
    /// `root`, or `root` with the role's credentials.
    base: OnceCell<SdkConfig>,
    ec2: PerRegion<aws_sdk_ec2::Client>,
    elbv2: PerRegion<aws_sdk_elasticloadbalancingv2::Client>,
    autoscaling: PerRegion<aws_sdk_autoscaling::Client>,
    organizations: PerRegion<aws_sdk_organizations::Client>,
    identity: OnceCell<String>,
    counter: RequestCounter,
}

impl Clients {
    pub fn new(settings: Settings) -> Clients {
        Clients {
            settings,
            root: Arc::new(OnceCell::new()),
            clock: None,
            role: None,
            base: OnceCell::new(),
            ec2: PerRegion::new(),
            elbv2: PerRegion::new(),
            autoscaling: PerRegion::new(),
            organizations: PerRegion::new(),
            identity: OnceCell::new(),
            counter: RequestCounter::default(),
        }
    }

    /// Clients that assume `role` from this one's base credentials (and share its request
    /// counter and clock); nothing is called until first use.
    pub fn assuming(&self, role: AssumeRole) -> Clients {
        Clients {
            settings: self.settings.clone(),
            root: self.root.clone(),
            clock: self.clock.clone(),
            role: Some(role),
            base: OnceCell::new(),
            ec2: PerRegion::new(),
            elbv2: PerRegion::new(),
            autoscaling: PerRegion::new(),
            organizations: PerRegion::new(),
            identity: OnceCell::new(),
            counter: self.counter.clone(),
        }
    }

    /// The same clients on another clock (tests of credential expiry); before first use.
    pub fn with_clock(mut self, clock: aws_smithy_async::time::SharedTimeSource) -> Clients {
        self.clock = Some(clock);
        self
    }

    pub fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    async fn base(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| async {
                let root = self.root().await;
                match &self.role {
                    None => root.clone(),
                    Some(role) => assumed(root, role, self.settings.region.as_deref()).await,
                }
            })
            .await
    }

    async fn root(&self) -> &SdkConfig {
        self.root
            .get_or_init(|| async {
                let s = &self.settings;
                let retry = RetryConfig::standard()
                    .with_max_attempts(s.max_attempts)
                    .with_initial_backoff(s.initial_backoff);
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(s.attempt_timeout)
                    .build();
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .retry_config(retry)
                    .timeout_config(timeouts);
                if let Some(endpoint) = &s.endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
                if let Some(profile) = &s.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(clock) = &self.clock {
                    loader = loader.time_source(clock.clone());
                }
                loader.load().await
            })
            .await
    }

    /// The region of a request: its own, the `region` setting, or the AWS CLI's default.
    pub async fn region(&self, requested: Option<&str>) -> Result<String, ProviderError> {
        if let Some(region) = requested.or(self.settings.region.as_deref()) {
            return Ok(region.to_string());
        }
        self.base()
            .await
            .region()
            .map(|r| r.as_ref().to_string())
            .ok_or_else(|| {
                invalid(
                    "no AWS region: set the resource's region, the provider setting `region`, \
                     AWS_REGION or a profile region",
                )
            })
    }

    /// The EC2 client of a region (created on first use).
    pub async fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let base = self.base().await;
        self.ec2.get_or(region, || {
            let config = aws_sdk_ec2::config::Builder::from(base)
                .region(Region::new(region.to_string()))
                .interceptor(self.counter.clone())
                .interceptor(RetryReporter)
                .retry_partition(retry_partition())
                .build();
            aws_sdk_ec2::Client::from_conf(config)
        })
    }

    /// The Elastic Load Balancing v2 client of a region (created on first use).
    pub async fn elbv2(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        let base = self.base().await;
        self.elbv2.get_or(region, || {
            let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(base)
                .region(Region::new(region.to_string()))
                .interceptor(self.counter.clone())
                .interceptor(RetryReporter)
                .retry_partition(retry_partition())
                .build();
            aws_sdk_elasticloadbalancingv2::Client::from_conf(config)
        })
    }

    /// The Auto Scaling client of a region (created on first use).
    pub async fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        let base = self.base().await;
        self.autoscaling.get_or(region, || {
            let config = aws_sdk_autoscaling::config::Builder::from(base)
                .region(Region::new(region.to_string()))
                .interceptor(self.counter.clone())
                .interceptor(RetryReporter)
                .retry_partition(retry_partition())
                .build();
            aws_sdk_autoscaling::Client::from_conf(config)
        })
    }

    /// Who the credentials are (`GetCallerIdentity`'s ARN), for messages about refused calls;
    /// asked once.
    pub async fn identity(&self) -> String {
        let base = self.base().await;
        self.identity
            .get_or_init(|| async {
                let config = aws_sdk_sts::config::Builder::from(base)
                    .region(base.region().cloned().or(Some(Region::new("us-east-1"))))
                    .build();
                match aws_sdk_sts::Client::from_conf(config)
                    .get_caller_identity()
                    .send()
                    .await
                {
                    Ok(me) => me.arn().unwrap_or("an unknown principal").to_string(),
                    Err(e) => format!(
                        "unknown credentials (GetCallerIdentity failed: {})",
                        aws_sdk_sts::error::DisplayErrorContext(&e)
                    ),
                }
            })
            .await
            .clone()
    }

    /// The Organizations client (of the endpoint's region; created on first use).
    pub async fn organizations(&self, region: &str) -> aws_sdk_organizations::Client {
        let base = self.base().await;
        self.organizations.get_or(region, || {
            let config = aws_sdk_organizations::config::Builder::from(base)
                .region(Region::new(region.to_string()))
                .interceptor(self.counter.clone())
                .interceptor(RetryReporter)
                .retry_partition(retry_partition())
                .build();
            aws_sdk_organizations::Client::from_conf(config)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Json) -> Result<Settings, ProviderError> {
        Settings::from_map(value.as_object().unwrap())
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = parse(json!({"endpoint": "http://127.0.0.1:5000", "region": "eu-west-1", "max_attempts": 3, "wait_timeout_secs": 30})).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.max_attempts, 3);
        assert_eq!(s.wait_timeout, Duration::from_secs(30));
        assert_eq!(parse(json!({})).unwrap().max_attempts, 8);
        for bad in [
            json!({"endpoint": 1}),
            json!({"max_attempts": -1}),
            json!({"colour": "red"}),
        ] {
            let err = parse(bad).expect_err("refused");
            assert_eq!(err.kind, terrace_provider::ErrorKind::Invalid);
        }
    }
}
