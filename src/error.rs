//! The library's error type. Each kind maps to a documented CLI exit code
//! ([`Error::exit_code`]) so that pipelines can tell bad input from a refused plan from a
//! held lock.

use crate::diagnostics::Diagnostics;
use crate::plan::stack::StackPlanError;
use crate::state::{LockInfo, StateError};

/// Exit code: success, or no changes.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error (bad input, failed apply, I/O).
pub const EXIT_ERROR: i32 = 1;
/// Exit code with `--detailed-exitcode`: the plan has changes.
pub const EXIT_CHANGES: i32 = 2;
/// Exit code: refused by policy (protected resources, budgets, residency, policies).
pub const EXIT_POLICY: i32 = 3;
/// Exit code: a stack's lock is held by someone else (after `--lock-timeout`).
pub const EXIT_LOCKED: i32 = 4;
/// Exit code: the saved plan no longer holds (state moved, or the re-plan exceeds it).
pub const EXIT_STALE_PLAN: i32 = 5;
/// Exit code: the current credentials may not take the action on a stack (found before
/// anything was written).
pub const EXIT_DENIED: i32 = 6;
/// Exit code: the command line cannot be parsed (an unknown command or flag, a missing or
/// malformed argument). 64 is `EX_USAGE` of sysexits.h; it stays clear of 2, which
/// `--detailed-exitcode` uses for "changes present".
pub const EXIT_USAGE: i32 = 64;

/// Everything that can go wrong, by kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The workspace's files are invalid.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// A stack could not be planned.
    #[error(transparent)]
    StackPlan(#[from] StackPlanError),
    /// Refused by policy (protected resources, budgets, residency, policies).
    #[error("plan refused:\n{}", .reasons.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"))]
    Refused {
        /// Why, one sentence per refusal.
        reasons: Vec<String>,
    },
    /// A stack's lock is held by someone else.
    #[error("stack {stack} is locked by {holder}\n  help: wait for it to finish; if its holder is gone, run `terrace state unlock {stack}`")]
    Locked {
        /// Stack name.
        stack: String,
        /// The lock holder.
        holder: Box<LockInfo>,
    },
    /// `state unlock` of a lock whose holder is a process still running on this host.
    #[error("stack {stack} is locked by {holder}, a process still running on this host\n  help: wait for it to finish, or stop it; `terrace state unlock --force {stack}` removes the lock anyway, after which two processes may change the stack at once")]
    HolderRunning {
        /// Stack name.
        stack: String,
        /// The lock holder.
        holder: Box<LockInfo>,
    },
    /// A saved plan no longer holds.
    #[error("the plan no longer holds for stack {stack}: {reason}\n  help: run `terrace plan` again and review the new plan")]
    StalePlan {
        /// The first stack found stale.
        stack: String,
        /// What moved.
        reason: String,
    },
    /// The current credentials may not take an action on a stack; found by probing before
    /// anything was written.
    #[error("access denied: {action} of stack {stack} needs {call} on {target}, which the current credentials may not call ({message})\n  help: run with the credentials of a role that may {action} this stack (`terrace access check ROLE` lists them), or select fewer stacks")]
    AccessDenied {
        /// The stack.
        stack: String,
        /// What was attempted: `plan`, `apply`, `destroy` or `state`, or `read outputs`.
        action: String,
        /// The denied call (`s3:PutObject`, `dynamodb:PutItem`).
        call: String,
        /// What it was called on.
        target: String,
        /// The cloud's answer.
        message: String,
    },
    /// A state backend failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Bad arguments.
    #[error("{message}")]
    Usage {
        /// What is wrong with the arguments.
        message: String,
    },
    /// A plan file could not be read or written.
    #[error("{path}: {message}")]
    PlanFile {
        /// The plan file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The apply could not run.
    #[error("{0}")]
    Apply(String),
    /// Secrets cannot be opened (no passphrase, a wrong key, a damaged value).
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretError),
}

impl Error {
    /// The documented CLI exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Refused { .. } => EXIT_POLICY,
            Error::Locked { .. } | Error::HolderRunning { .. } => EXIT_LOCKED,
            Error::State(StateError::Locked { .. }) => EXIT_LOCKED,
            Error::StalePlan { .. } => EXIT_STALE_PLAN,
            Error::AccessDenied { .. } => EXIT_DENIED,
            Error::State(StateError::Denied { .. }) => EXIT_DENIED,
            _ => EXIT_ERROR,
        }
    }

    /// A usage error (bad arguments).
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
        }
    }
}
