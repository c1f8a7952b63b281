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

    /// 429 `rateLimitExceeded` (injected fault).
    pub fn rate_limited() -> Self {
        let mut e = Self::new(429, "rateLimitExceeded", "Rate Limit Exceeded");
        e.domain = "usageLimits";
        e
    }

    /// 503 `backendError` (injected fault).
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
