//! Errors of the S3 backend, and how they become [`StateError`]s: a malformed URL is
//! [`StateError::InvalidUrl`], a failed S3 or DynamoDB call is [`StateError::Io`] on the
//! object or lock it concerned, an unreadable object is [`StateError::Corrupt`].

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::path::PathBuf;
use terrace::state::StateError;

/// A correct backend URL, shown in every URL parse error.
pub const EXAMPLE: &str = "s3://my-bucket/terrace?region=eu-west-1&lock_table=terrace-locks";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The backend URL is malformed.
    #[error("invalid state backend URL `{url}`: {message}; a correct one looks like {EXAMPLE}")]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// An S3 or DynamoDB call failed.
    #[error("{operation} on {target}: {message}")]
    Service {
        /// The API operation (`PutObject`, `PutItem`, ...).
        operation: &'static str,
        /// `s3://bucket/key` or `dynamodb://table/LockID`.
        target: String,
        /// The SDK's error with its causes.
        message: String,
    },
    /// A stored object or lock item does not parse.
    #[error("{target} is corrupt: {message}")]
    Corrupt {
        /// `s3://bucket/key` or `dynamodb://table/LockID`.
        target: String,
        /// The parse error.
        message: String,
    },
    /// A journal entry key was already taken: someone writes this stack's journal without
    /// holding its lock.
    #[error(
        "journal entry {target} was written by someone else meanwhile (is the stack's lock held?)"
    )]
    JournalRace {
        /// `s3://bucket/key`.
        target: String,
    },
}

impl From<S3Error> for StateError {
    fn from(err: S3Error) -> StateError {
        match err {
            S3Error::InvalidUrl { url, message } => StateError::InvalidUrl {
                url,
                message: format!("{message}; a correct one looks like {EXAMPLE}"),
            },
            S3Error::Corrupt { target, message } => StateError::Corrupt {
                path: PathBuf::from(target),
                message,
            },
            S3Error::Service {
                operation,
                ref target,
                ref message,
            } => StateError::Io {
                path: PathBuf::from(target),
                source: std::io::Error::other(format!("{operation}: {message}")),
            },
            S3Error::JournalRace { ref target } => StateError::Io {
                path: PathBuf::from(target),
                source: std::io::Error::other(err.to_string()),
            },
        }
    }
}

/// The cloud's code and message of a failed S3 or DynamoDB call (both SDKs share the error
/// types), else the whole error chain.
pub(crate) fn sdk_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(text)) => format!("{code}: {text}"),
                (Some(code), None) => code.to_string(),
                _ => DisplayErrorContext(err).to_string(),
            }
        }
        _ => DisplayErrorContext(err).to_string(),
    }
}
