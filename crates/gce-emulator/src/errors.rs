//! Google's JSON error shape and the typed error every handler returns.
//!
//! Compute answers failures as `{"error": {"code", "message", "errors": [{message, domain,
//! reason}], "status"}}`; the same value is embedded (as `code`/`message`) in a failed
//! operation's `error.errors`. [`ApiError`] carries everything needed for both.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One failure, as Compute reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Compute's `errors[].reason`, e.g. `notFound`.
    pub reason: &'static str,
    /// Compute's `errors[].domain`, usually `global`.
    pub domain: &'static str,
    /// Human-readable message, worded like Compute's.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            reason,
            domain: "global",
            message: message.into(),
        }
    }

    /// 404 for a resource path such as `projects/p/global/networks/n`.
    pub fn not_found(path: &str) -> Self {
        Self::new(
            404,
            "notFound",
            format!("The resource '{path}' was not found"),
        )
    }

    /// 409 for an insert whose name is taken.
    pub fn already_exists(path: &str) -> Self {
        Self::new(
            409,
            "alreadyExists",
            format!("The resource '{path}' already exists"),
        )
    }

    /// 400 `invalid` for a bad field value.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid", message)
    }

    /// 400 `invalid` worded as Compute words a bad field: `Invalid value for field 'f': 'v'. why`.
    pub fn invalid_field(field: &str, value: &str, why: &str) -> Self {
        Self::invalid(format!(
            "Invalid value for field '{field}': '{value}'. {why}"
        ))
    }

    /// 400 `required` for a missing field.
    pub fn required(field: &str) -> Self {
        Self::new(
            400,
            "required",
            format!("Required field '{field}' not specified"),
        )
    }

    /// 400 `badRequest`, e.g. for a body that is not JSON.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "badRequest", message)
    }

    /// 400 `parseError` for a body that is not valid JSON.
    pub fn parse_error(detail: &str) -> Self {
        Self::new(
            400,
            "parseError",
            format!("Invalid JSON payload received. {detail}"),
        )
    }

    /// 400 `resourceInUseByAnotherResource` when a delete would orphan a referrer.
    pub fn in_use(singular: &str, path: &str, user: &str) -> Self {
        Self::new(
            400,
            "resourceInUseByAnotherResource",
            format!("The {singular} resource '{path}' is already being used by '{user}'"),
        )
    }

    /// 412 `conditionNotMet` for a stale or missing fingerprint.
    pub fn condition_not_met(message: impl Into<String>) -> Self {
        Self::new(412, "conditionNotMet", message)
    }

    /// 403 throttling, as Compute answers an exceeded rate quota: "If your project exceeds a
    /// rate quota, you receive a 403 error with the reason rateLimitExceeded"
    /// (<https://cloud.google.com/compute/api-quota>), body as shown in
    /// <https://cloud.google.com/compute/docs/troubleshooting/troubleshoot-operation-limits>
    /// (`{"code": 403, "message": "Rate Limit Exceeded", "errors": [{"reason":
    /// "rateLimitExceeded", "domain": "usageLimits"}]}`). `per_user` gives the per-user
    /// variant `userRateLimitExceeded` ("User Rate Limit Exceeded"), a 403 of Google's global
    /// error domain (<https://developers.google.com/search/apis/indexing-api/v3/core-errors>).
    pub fn throttled(per_user: bool) -> Self {
        let (reason, message) = if per_user {
            ("userRateLimitExceeded", "User Rate Limit Exceeded")
        } else {
            ("rateLimitExceeded", "Rate Limit Exceeded")
        };
        let mut e = Self::new(403, reason, message);
        e.domain = "usageLimits";
        e
    }

    /// 429 `RESOURCE_EXHAUSTED`: the throttling answer of the newer Cloud APIs (Resource
    /// Manager v3), whose canonical code maps to HTTP 429
    /// (<https://cloud.google.com/apis/design/errors>). Compute itself answers 403.
    pub fn rate_limited() -> Self {
        let mut e = Self::new(429, "rateLimitExceeded", "Rate Limit Exceeded");
        e.domain = "usageLimits";
        e
    }

    /// 400 `resourceNotReady`: an insert names a network or subnetwork that still has an
    /// operation running. Compute's words: "The resource 'projects/p/regions/r/subnetworks/s'
    /// is not ready" (seen in GoogleCloudPlatform/gke-migration-to-containers#63;
    /// terraform-provider-google retries it, `isSubnetworkUnreadyError` /
    /// `isNetworkUnreadyError` in transport/error_retry_predicates.go).
    pub fn not_ready(path: &str) -> Self {
        Self::new(
            400,
            "resourceNotReady",
            format!("The resource '{path}' is not ready"),
        )
    }

    /// 400 `invalid` for a PATCH of a field the method does not update, in Compute's words:
    /// "Invalid value for field 'resource.description': 'Bar'. Updating this field is not
    /// supported." (hashicorp/terraform-provider-google#847).
    pub fn not_updatable(field: &str, value: &str) -> Self {
        Self::invalid_field(field, value, "Updating this field is not supported.")
    }

    /// 403 `forbidden` for credentials without the permission, in Compute's words: "Google
    /// Compute Engine: Required 'compute.networks.get' permission for
    /// 'projects/p/global/networks/default'." (hashicorp/terraform-provider-google#8262).
    pub fn forbidden(permission: &str, path: &str) -> Self {
        Self::new(
            403,
            "forbidden",
            format!("Google Compute Engine: Required '{permission}' permission for '{path}'."),
        )
    }

    /// 503 `backendError` (injected fault), a 503 of Google's global error domain
    /// (<https://developers.google.com/search/apis/indexing-api/v3/core-errors>), retried by
    /// terraform-provider-google (`isCommonRetryableErrorCode`).
    pub fn backend_error() -> Self {
        Self::new(503, "backendError", "Internal error. Please try again.")
    }

    /// 405 for a method the collection does not support.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "httpMethodNotAllowed",
            format!("HTTP method {method} is not supported by this URL: {path}"),
        )
    }

    /// The canonical gRPC-style status name Google adds next to the code.
    pub fn status_name(&self) -> &'static str {
        match self.status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            405 => "INVALID_ARGUMENT",
            409 => "ALREADY_EXISTS",
            412 => "FAILED_PRECONDITION",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }

    /// The operation-level error code Compute uses in `Operation.error.errors[].code`.
    pub fn operation_code(&self) -> &'static str {
        match self.reason {
            "notFound" => "RESOURCE_NOT_FOUND",
            "alreadyExists" => "RESOURCE_ALREADY_EXISTS",
            "resourceInUseByAnotherResource" => "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
            "conditionNotMet" => "CONDITION_NOT_MET",
            _ => "INVALID_FIELD_VALUE",
        }
    }

    /// The body Google sends for this error.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{
                    "message": self.message,
                    "domain": self.domain,
                    "reason": self.reason,
                }],
                "status": self.status_name(),
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.body())).into_response()
    }
}

/// Result alias used across the crate.
pub type ApiResult<T> = Result<T, ApiError>;
