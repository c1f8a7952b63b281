//! Why one resource operation (a step of the executor) did not succeed, typed: the executor
//! decides on the kind (a cloud refusal, a value still unknown, a state write that failed, an
//! unsettled lost answer, a panic), and a person reads the message. Messages are redacted of
//! secrets where they are made.

use crate::provider::ErrorKind;

/// An operation's failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The cloud refused or failed the call; nothing was carried out (the journal records the
    /// operation as failed).
    #[error("{message}")]
    Cloud {
        /// How it failed ([`ErrorKind`]).
        kind: ErrorKind,
        /// The cloud's error code.
        code: String,
        /// For a person: what failed, with the cloud's message.
        message: String,
    },
    /// A property could not be resolved at apply time (a value still unknown, a reference
    /// that does not resolve).
    #[error("{0}")]
    Unresolved(String),
    /// A secret in the properties could not be opened (wrong or missing key).
    #[error("{0}")]
    Secret(String),
    /// No provider serves the resource's type.
    #[error("no provider for type `{0}`")]
    NoProvider(String),
    /// The operation could not be recorded in state (the journal).
    #[error("{0}")]
    State(String),
    /// A create's answer was lost and looking the resource up failed too: the next apply
    /// looks for it again.
    #[error("{0}")]
    Unsettled(String),
    /// The operation panicked (a bug in Terrace or a provider).
    #[error("the operation panicked (a bug, please report it): {0}")]
    Panicked(String),
}

impl StepError {
    /// A failed state write.
    pub(super) fn state(err: impl std::fmt::Display) -> StepError {
        StepError::State(err.to_string())
    }
}

/// A step's result: the cloud id, or why it failed.
pub(super) type StepResult = Result<String, StepError>;
