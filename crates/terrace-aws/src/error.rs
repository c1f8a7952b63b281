//! Errors: AWS SDK errors mapped to the engine's kinds, keeping AWS's own code and message.

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::fmt::Debug;
use terrace_provider::{ErrorKind, ProviderError};

/// Bad input (properties, settings).
pub fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "InvalidInput", message)
}

/// A resource that does not exist.
pub fn not_found(what: &str, id: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::NotFound,
        "NotFound",
        format!("{what} {id} does not exist"),
    )
}

/// Maps an SDK error. Timeouts and lost answers are ambiguous: the request may have been done.
pub fn from_sdk<E, R>(err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    let detail = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) => ProviderError::new(ErrorKind::Ambiguous, "Timeout", detail),
        SdkError::ResponseError(_) => {
            ProviderError::new(ErrorKind::Ambiguous, "ResponseError", detail)
        }
        // Connection errors may come after the request was sent (a closed connection, a
        // reset): only a request the client itself refused is known not to have been sent.
        SdkError::DispatchFailure(failure) if !failure.is_user() => {
            ProviderError::new(ErrorKind::Ambiguous, "DispatchFailure", detail)
        }
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("Unknown").to_string();
            let message = err.message().unwrap_or(&detail).to_string();
            ProviderError::new(kind_of_error(&code, &message), code, message)
        }
        _ => ProviderError::new(ErrorKind::Other, "SdkError", detail),
    }
}

/// Maps the error of a request sent without SDK retries (a create without client token):
/// besides timeouts and lost answers, a 5xx answer is ambiguous too (the request may have
/// been carried out). Throttling stays `Throttled`: a throttled request was not carried out.
pub fn from_sdk_unretried<E>(err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let server_error = err
        .raw_response()
        .is_some_and(|r| r.status().is_server_error());
    let mut mapped = from_sdk(err);
    if server_error && mapped.kind != ErrorKind::Throttled {
        mapped.kind = ErrorKind::Ambiguous;
    }
    mapped
}

/// The engine's kind for an AWS error: its code, refined by the message where a service uses
/// one generic code for several cases (Auto Scaling and ELBv2 answer `ValidationError` for a
/// launch template, subnet or target group they cannot find).
pub fn kind_of_error(code: &str, message: &str) -> ErrorKind {
    let missing = ["does not exist", "not found", "may not be valid"]
        .iter()
        .any(|m| message.contains(m));
    match kind_of(code) {
        ErrorKind::Invalid if code == "ValidationError" && missing => ErrorKind::NotFound,
        kind => kind,
    }
}

/// Codes of a call the credentials may not make ("Common client error codes" of the EC2 API
/// reference; `AccessDenied` of the Query services; `AccessDeniedException` of JSON ones).
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "OptInRequired",
];

/// The engine's kind for an AWS error code.
pub fn kind_of(code: &str) -> ErrorKind {
    if DENIED.contains(&code) {
        return ErrorKind::Denied;
    }
    const THROTTLED: &[&str] = &[
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    ];
    if THROTTLED.contains(&code) {
        ErrorKind::Throttled
    } else if code.contains("NotFound") {
        ErrorKind::NotFound
    } else if code == "DependencyViolation"
        || code.ends_with(".Duplicate")
        || code.contains("InUse")
        || code.contains("AlreadyExists")
        || code.starts_with("Duplicate")
        || code.starts_with("IncorrectState")
        || code.starts_with("IncorrectInstanceState")
        || code.contains("AlreadyAssociated")
    {
        ErrorKind::Conflict
    } else if code.starts_with("Invalid")
        || code.starts_with("MissingParameter")
        || code.starts_with("UnknownParameter")
        || code == "ValidationError"
    {
        ErrorKind::Invalid
    } else {
        ErrorKind::Other
    }
}

/// True for errors meaning "something still depends on this resource; try again later".
pub fn is_dependency(err: &ProviderError) -> bool {
    matches!(
        err.code.as_str(),
        "DependencyViolation"
            | "InvalidGroup.InUse"
            | "InvalidIPAddress.InUse"
            | "ResourceInUse"
            | "ResourceInUseFault"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(kind_of("InvalidVpcID.NotFound"), ErrorKind::NotFound);
        assert_eq!(
            kind_of("InvalidLaunchTemplateName.NotFoundException"),
            ErrorKind::NotFound
        );
        assert_eq!(kind_of("RequestLimitExceeded"), ErrorKind::Throttled);
        assert_eq!(kind_of("DependencyViolation"), ErrorKind::Conflict);
        assert_eq!(kind_of("InvalidPermission.Duplicate"), ErrorKind::Conflict);
        assert_eq!(kind_of("InvalidParameterValue"), ErrorKind::Invalid);
        assert_eq!(kind_of("InternalError"), ErrorKind::Other);
        assert_eq!(kind_of("UnauthorizedOperation"), ErrorKind::Denied);
        assert_eq!(kind_of("AccessDenied"), ErrorKind::Denied);
        assert_eq!(
            kind_of_error(
                "ValidationError",
                "You must use a valid fully-formed launch template. The specified launch template, with template ID lt-1, does not exist."
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of_error("ValidationError", "Max size must be set"),
            ErrorKind::Invalid
        );
    }
}
