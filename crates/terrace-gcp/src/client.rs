//! Configuration and calls: provider settings (project, endpoint, credentials, retry and
//! polling knobs), our own retry loop with backoff for every call (mutations too: each carries
//! a `requestId`, so a retry never applies twice), and the mapping of Google's errors (the
//! `reason` of the error body, the HTTP status) to [`ProviderError`].

use crate::waits::{RetryNote, Waits};
use serde_json::Value as Json;
use std::future::Future;
use std::time::Duration;
use terrace_provider::{ErrorKind, ProviderError};

/// Environment variable overriding the Compute endpoint (e.g. an emulator).
pub const ENDPOINT_ENV: &str = "TERRACE_GCP_ENDPOINT";

/// Which credentials the clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsMode {
    /// Application Default Credentials.
    Default,
    /// No credentials (emulators).
    Anonymous,
}

/// The provider's settings, from `providers.gcp.settings` in `terrace.yaml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub project: Option<String>,
    /// Parent (`organizations/N` or `folders/N`) of projects created and listed by the
    /// `gcp:resourcemanager:Project` type when the resource does not say.
    pub project_parent: Option<String>,
    pub endpoint: Option<String>,
    pub credentials: CredentialsMode,
    /// A service account (email) the calls impersonate with the Application Default
    /// Credentials as source (IAM Credentials `generateAccessToken`; the source needs
    /// `roles/iam.serviceAccountTokenCreator` on it).
    pub impersonate_service_account: Option<String>,
    /// First pause between polls of an operation.
    pub polling_interval: Duration,
    /// First pause before a retry; doubled each time up to `max_backoff`.
    pub retry_initial: Duration,
    pub max_backoff: Duration,
    /// Longest wait for one HTTP answer; a timeout is retried like a lost connection.
    pub attempt_timeout: Duration,
    /// Attempts per call, the first one included.
    pub max_attempts: u32,
    /// Longest wait for one Compute operation to finish, polls included (polls that are
    /// throttled or fail transiently are retried within it).
    pub operation_timeout: Duration,
    /// Zone suffixes tried when looking for instances of a region by owner.
    pub zone_suffixes: Vec<String>,
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "invalidSettings", message)
}

fn string(
    settings: &serde_json::Map<String, Json>,
    key: &str,
) -> Result<Option<String>, ProviderError> {
    match settings.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!(
            "gcp setting `{key}` must be a string, not {other}"
        ))),
    }
}

fn millis(
    settings: &serde_json::Map<String, Json>,
    key: &str,
    default: u64,
) -> Result<Duration, ProviderError> {
    match settings.get(key) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v.as_u64().map(Duration::from_millis).ok_or_else(|| {
            invalid(format!(
                "gcp setting `{key}` must be a number of milliseconds"
            ))
        }),
    }
}

const KNOWN: &[&str] = &[
    "project",
    "project_parent",
    "endpoint",
    "credentials",
    "impersonate_service_account",
    "polling_interval_ms",
    "retry_initial_ms",
    "max_backoff_ms",
    "max_attempts",
    "attempt_timeout_ms",
    "operation_timeout_ms",
    "zone_suffixes",
];

impl Settings {
    /// Parses settings; the endpoint falls back to `TERRACE_GCP_ENDPOINT`, the project to
    /// `GOOGLE_CLOUD_PROJECT`. An `http://` endpoint means an emulator: anonymous credentials
    /// unless `credentials` says otherwise.
    pub fn parse(settings: &serde_json::Map<String, Json>) -> Result<Settings, ProviderError> {
        if let Some(unknown) = settings.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown gcp setting `{unknown}` (known: {})",
                KNOWN.join(", ")
            )));
        }
        let endpoint = string(settings, "endpoint")?
            .or_else(|| std::env::var(ENDPOINT_ENV).ok().filter(|e| !e.is_empty()));
        let project = string(settings, "project")?.or_else(|| {
            std::env::var("GOOGLE_CLOUD_PROJECT")
                .ok()
                .filter(|p| !p.is_empty())
        });
        let credentials = match string(settings, "credentials")?.as_deref() {
            Some("anonymous") => CredentialsMode::Anonymous,
            Some("default") => CredentialsMode::Default,
            None if endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")) =>
            {
                CredentialsMode::Anonymous
            }
            None => CredentialsMode::Default,
            Some(other) => {
                return Err(invalid(format!(
                    "gcp setting `credentials` is `{other}`: expected `default` or `anonymous`"
                )))
            }
        };
        let max_attempts = match settings.get("max_attempts") {
            None => 8,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| invalid("gcp setting `max_attempts` must be 1..=100".into()))?
                as u32,
        };
        let zone_suffixes = match settings.get("zone_suffixes") {
            None => ["a", "b", "c", "d", "f"].map(String::from).to_vec(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    invalid("gcp setting `zone_suffixes` must be a list of strings".into())
                })?,
            Some(_) => {
                return Err(invalid(
                    "gcp setting `zone_suffixes` must be a list of strings".into(),
                ))
            }
        };
        Ok(Settings {
            project,
            project_parent: string(settings, "project_parent")?,
            endpoint,
            credentials,
            impersonate_service_account: string(settings, "impersonate_service_account")?,
            polling_interval: millis(settings, "polling_interval_ms", 1000)?,
            retry_initial: millis(settings, "retry_initial_ms", 250)?,
            max_backoff: millis(settings, "max_backoff_ms", 10_000)?,
            max_attempts,
            attempt_timeout: millis(settings, "attempt_timeout_ms", 60_000)?,
            operation_timeout: millis(settings, "operation_timeout_ms", 1_200_000)?,
            zone_suffixes,
        })
    }

    /// These settings for one stack's `providers.gcp`: `project` (the project its resources
    /// live in) and `impersonate_service_account`; other keys are errors.
    pub fn for_stack(
        &self,
        config: &serde_json::Map<String, Json>,
    ) -> Result<Settings, ProviderError> {
        const STACK_KEYS: &[&str] = &["project", "impersonate_service_account"];
        if let Some(key) = config.keys().find(|k| !STACK_KEYS.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown key `{key}` in providers.gcp of a stack (known: {})",
                STACK_KEYS.join(", ")
            )));
        }
        let mut settings = self.clone();
        if let Some(project) = string(config, "project")? {
            settings.project = Some(project);
        }
        if let Some(account) = string(config, "impersonate_service_account")? {
            settings.impersonate_service_account = Some(account);
        }
        Ok(settings)
    }

    /// The credentials the clients are built with: `None` for the client library's default
    /// (Application Default Credentials), anonymous ones for emulators, or ADC impersonating
    /// `impersonate_service_account`.
    pub fn client_credentials(
        &self,
    ) -> Result<Option<google_cloud_auth::credentials::Credentials>, CallError> {
        let configuration = |e: &dyn std::fmt::Display| CallError {
            http_status: None,
            reason: "clientConfiguration".into(),
            message: e.to_string(),
            maybe_sent: false,
        };
        match (&self.impersonate_service_account, self.credentials) {
            (_, CredentialsMode::Anonymous) => Ok(Some(
                google_cloud_auth::credentials::anonymous::Builder::new().build(),
            )),
            (None, CredentialsMode::Default) => Ok(None),
            (Some(account), CredentialsMode::Default) => {
                let source = google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| configuration(&e))?;
                google_cloud_auth::credentials::impersonated::Builder::from_source_credentials(
                    source,
                )
                .with_target_principal(account.clone())
                .build()
                .map(Some)
                .map_err(|e| configuration(&e))
            }
        }
    }

    /// The project, or an error saying how to set it.
    pub fn project(&self) -> Result<&str, ProviderError> {
        self.project.as_deref().ok_or_else(|| {
            invalid(
                "no GCP project: set `project` in providers.gcp.settings or GOOGLE_CLOUD_PROJECT"
                    .into(),
            )
        })
    }

    /// The credentials in use, for errors that say who was refused: anonymous, or
    /// Application Default Credentials (with the key file when
    /// `GOOGLE_APPLICATION_CREDENTIALS` names one).
    pub fn credentials_in_use(&self) -> String {
        if let (Some(account), CredentialsMode::Default) =
            (&self.impersonate_service_account, self.credentials)
        {
            return format!("Application Default Credentials impersonating {account}");
        }
        match self.credentials {
            CredentialsMode::Anonymous => "anonymous credentials".into(),
            CredentialsMode::Default => match std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
                Ok(path) if !path.is_empty() => {
                    format!("Application Default Credentials ({path})")
                }
                _ => "Application Default Credentials".into(),
            },
        }
    }
}

/// Google's reasons for a 403 that only means "too many requests": Compute answers an
/// exceeded rate quota with 403 `rateLimitExceeded` (<https://cloud.google.com/compute/api-quota>);
/// `userRateLimitExceeded` is the per-user variant of Google's global error domain
/// (<https://developers.google.com/search/apis/indexing-api/v3/core-errors>);
/// terraform-provider-google also retries 403 `CONCURRENT_OPERATIONS_QUOTA_EXCEEDED`
/// (transport/error_retry_predicates.go, `is403ConcurrentOperationsQuotaError`).
const THROTTLE_REASONS: &[&str] = &[
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
];

/// Google's answer to a failed call, reduced to what decides a retry and a [`ProviderError`].
#[derive(Debug, Clone)]
pub struct CallError {
    pub http_status: Option<u16>,
    /// Google's `reason` (`notFound`, `alreadyExists`, `rateLimitExceeded`, ...) or status.
    pub reason: String,
    pub message: String,
    /// The request may have reached the server (timeout, connection lost).
    pub maybe_sent: bool,
}

impl CallError {
    pub fn invalid(message: impl Into<String>) -> CallError {
        CallError {
            http_status: None,
            reason: "invalid".into(),
            message: message.into(),
            maybe_sent: false,
        }
    }

    /// Throttling (429, or Compute's 403 with a rate-limit reason), a server error (500, 502,
    /// 503, 504), a referent that is not ready yet (400 `resourceNotReady`, retried by
    /// terraform-provider-google's `isNetworkUnreadyError` / `isSubnetworkUnreadyError`) or
    /// a lost connection: worth another attempt.
    pub fn retryable(&self) -> bool {
        match self.http_status {
            Some(429) | Some(500) | Some(502) | Some(503) | Some(504) => true,
            Some(403) => self.is_throttled(),
            Some(400) => self.reason == "resourceNotReady",
            Some(_) => false,
            None => self.maybe_sent || self.reason == "transport",
        }
    }

    /// Too many requests: 429, or a 403 whose reason is a rate limit.
    pub fn is_throttled(&self) -> bool {
        self.http_status == Some(429)
            || (self.http_status == Some(403) && THROTTLE_REASONS.contains(&self.reason.as_str()))
    }

    /// A 403 that is not a rate limit (`forbidden`, `accessNotConfigured`, ...): the
    /// credentials may not do this. Never evidence that a resource is gone.
    pub fn is_forbidden(&self) -> bool {
        self.http_status == Some(403) && !self.is_throttled()
    }

    pub fn is_not_found(&self) -> bool {
        self.http_status == Some(404) || self.reason == "notFound"
    }

    /// The error of a refused call on `what` (a resource or a collection), naming the
    /// credentials when they were refused.
    pub fn about(self, what: &str, settings: &Settings, mutation: bool) -> ProviderError {
        if !self.is_forbidden() {
            return self.into_provider(mutation);
        }
        let message = format!(
            "{what}: access refused with {} in project {}: {} (HTTP 403); this is not \
             evidence that the resource is gone — grant the permission or use other credentials",
            settings.credentials_in_use(),
            settings.project.as_deref().unwrap_or("(unset)"),
            self.message
        );
        ProviderError::new(ErrorKind::Denied, self.reason, message)
    }

    /// The provider error, for a read (`mutation` false) or a mutation.
    pub fn into_provider(self, mutation: bool) -> ProviderError {
        let kind = match (self.http_status, self.reason.as_str()) {
            (_, "resourceInUseByAnotherResource") => ErrorKind::Conflict,
            (Some(404), _) | (_, "notFound") => ErrorKind::NotFound,
            (Some(409), _) | (Some(412), _) | (_, "alreadyExists") => ErrorKind::Conflict,
            _ if self.is_throttled() => ErrorKind::Throttled,
            (Some(400), _) => ErrorKind::Invalid,
            (Some(status), _) if mutation && status >= 500 => ErrorKind::Ambiguous,
            (None, _) if mutation && self.maybe_sent => ErrorKind::Ambiguous,
            (None, "invalid") => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        };
        let status = self
            .http_status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        ProviderError::new(kind, self.reason, format!("{}{status}", self.message))
    }
}

/// Reads Google's error body: `{"error": {"code", "message", "errors": [{"reason"}],
/// "status"}}`; the reason of the first error wins, then the status.
fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let json: Json = serde_json::from_slice(body).ok()?;
    let error = json.get("error")?;
    let message = error
        .get("message")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let reason = error
        .pointer("/errors/0/reason")
        .or_else(|| error.get("status"))
        .and_then(Json::as_str)?;
    Some((reason.to_string(), message.to_string()))
}

/// Google's reason for a status the client parsed: an `ErrorInfo` detail when present, else
/// Compute's reason for the status code. The client keeps no `errors[].reason`, so a resource
/// still in use (400) is recognised by Compute's message.
fn reason_of(status: &google_cloud_gax::error::rpc::Status, http: Option<u16>) -> String {
    use google_cloud_gax::error::rpc::{Code, StatusDetails};
    let info = status.details.iter().find_map(|d| match d {
        StatusDetails::ErrorInfo(info) if !info.reason.is_empty() => Some(info.reason.clone()),
        _ => None,
    });
    if let Some(reason) = info {
        return reason;
    }
    if status.message.contains("is already being used by") {
        return "resourceInUseByAnotherResource".into();
    }
    let reason = match (status.code, http) {
        (_, Some(429)) | (Code::ResourceExhausted, _) => "rateLimitExceeded",
        (_, Some(412)) => "conditionNotMet",
        (Code::NotFound, _) => "notFound",
        (Code::AlreadyExists, _) => "alreadyExists",
        (Code::InvalidArgument, _) => "invalid",
        (Code::FailedPrecondition, _) => "conditionNotMet",
        (Code::PermissionDenied, _) => "forbidden",
        (Code::Unauthenticated, _) => "required",
        (Code::Unavailable, _) => "backendError",
        (Code::Internal, _) => "internalError",
        (Code::DeadlineExceeded, _) => "deadlineExceeded",
        (code, _) => return format!("{code:?}"),
    };
    reason.to_string()
}

impl From<google_cloud_gax::error::Error> for CallError {
    fn from(error: google_cloud_gax::error::Error) -> CallError {
        let http_status = error.http_status_code();
        let parsed = error.http_payload().and_then(|b| parse_error_body(b));
        let (reason, message) = match (parsed, error.status()) {
            (Some(found), _) => found,
            (None, Some(status)) => (reason_of(status, http_status), status.message.clone()),
            (None, None) if error.is_timeout() => ("timeout".into(), error.to_string()),
            (None, None) if error.is_serialization() || error.is_binding() => {
                ("invalid".into(), error.to_string())
            }
            (None, None) if error.is_authentication() => {
                ("authentication".into(), error.to_string())
            }
            (None, None) => ("transport".into(), error.to_string()),
        };
        let maybe_sent = http_status.is_none()
            && (error.is_timeout() || error.is_io() || error.is_transport())
            && !error.is_transient_and_before_rpc();
        CallError {
            http_status,
            reason,
            message,
            maybe_sent,
        }
    }
}

/// The error of a finished operation (`operation.error`), if any.
pub fn operation_error(op: &google_cloud_compute_v1::model::Operation) -> Option<CallError> {
    let error = op.error.as_ref()?;
    let first = error.errors.first();
    let reason = first
        .and_then(|e| e.code.clone())
        .unwrap_or_else(|| "operationFailed".into());
    let message = first
        .and_then(|e| e.message.clone())
        .or_else(|| op.http_error_message.clone())
        .unwrap_or_else(|| "the operation failed".into());
    Some(CallError {
        http_status: op
            .http_error_status_code
            .and_then(|s| u16::try_from(s).ok()),
        reason,
        message,
        maybe_sent: false,
    })
}

/// Backoff and attempts of our retry loop; every pause is noted in [`Waits`].
#[derive(Debug, Clone)]
pub struct Retry {
    pub initial: Duration,
    pub max: Duration,
    pub attempts: u32,
    pub waits: Waits,
}

impl Retry {
    pub fn from_settings(settings: &Settings, waits: Waits) -> Retry {
        Retry {
            initial: settings.retry_initial,
            max: settings.max_backoff,
            attempts: settings.max_attempts,
            waits,
        }
    }

    /// Notes a pause before the next attempt of `call`.
    pub fn note(&self, call: &str, error: &CallError, attempt: u32, delay: Duration) {
        self.waits.note(RetryNote {
            call: call.to_string(),
            code: error.reason.clone(),
            http_status: error.http_status,
            attempt,
            delay,
        });
    }

    /// Runs `call` until it succeeds, fails for good, or attempts run out. Safe for
    /// mutations because every mutation carries the same `requestId` on each attempt.
    pub async fn run<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let mut delay = self.initial;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(e) if e.retryable() && attempt < self.attempts => {
                    self.note(what, &e, attempt, delay);
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2).min(self.max);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The `requestId` of a mutation: a UUID derived from the idempotency key (and the step of
/// an update that makes several calls), the same on every retry.
pub fn request_id(idempotency_key: &str, step: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2a55_9b1e_4d0a_a9f3_7e0c_51d2_8b44);
    let key = if step.is_empty() {
        idempotency_key.to_string()
    } else {
        format!("{idempotency_key}#{step}")
    };
    uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Json) -> serde_json::Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn settings_parse_and_refuse_unknown_keys() {
        let s = Settings::parse(&map(
            json!({"project": "p", "endpoint": "http://127.0.0.1:1"}),
        ))
        .unwrap();
        assert_eq!(s.project().unwrap(), "p");
        assert_eq!(s.credentials, CredentialsMode::Anonymous);
        let e = Settings::parse(&map(json!({"projcet": "p"}))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("projcet"));
        assert!(Settings::parse(&map(json!({"max_attempts": 0}))).is_err());
        assert!(Settings::parse(&map(json!({"credentials": "x"}))).is_err());
    }

    #[test]
    fn request_ids_are_stable_uuids() {
        let a = request_id("k", "");
        assert_eq!(a, request_id("k", ""));
        assert_ne!(a, request_id("k", "labels"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn errors_name_google_reasons() {
        let body = br#"{"error":{"code":404,"message":"gone","errors":[{"reason":"notFound"}]}}"#;
        assert_eq!(
            parse_error_body(body),
            Some(("notFound".into(), "gone".into()))
        );
        let e = CallError {
            http_status: Some(400),
            reason: "resourceInUseByAnotherResource".into(),
            message: "in use".into(),
            maybe_sent: false,
        };
        assert!(!e.retryable());
        assert_eq!(e.into_provider(true).kind, ErrorKind::Conflict);
        let throttled = CallError {
            http_status: Some(429),
            reason: "rateLimitExceeded".into(),
            message: "slow down".into(),
            maybe_sent: false,
        };
        assert!(throttled.retryable());
        let p = throttled.into_provider(true);
        assert_eq!(
            (p.kind, p.code.as_str()),
            (ErrorKind::Throttled, "rateLimitExceeded")
        );
    }
}
