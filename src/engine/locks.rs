//! `terrace state unlock`: removing a stack's lock by hand. A lock whose holder still runs on
//! this host is in use, not stale: removing it lets two processes change one stack at once
//! (one of their state writes is then rejected), so it is refused unless forced.

use super::Terrace;
use crate::state::LockInfo;
use crate::Error;

/// What [`Terrace::unlock`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unlocked {
    /// The stack had no lock.
    NotLocked,
    /// The lock was removed.
    Removed {
        /// Who held it.
        holder: Box<LockInfo>,
        /// The holder still ran on this host (the unlock was forced).
        running: bool,
    },
}

impl Terrace {
    /// Removes the lock of `stack`. A usage error when no stack has that name (configured,
    /// with state, or locked); [`Error::HolderRunning`] (exit code 4) when the holder is a
    /// process still running on this host, unless `force`.
    pub async fn unlock(&self, stack: &str, force: bool) -> Result<Unlocked, Error> {
        let holder = self.backend.lock_info(stack).await?;
        if holder.is_none() && self.rendered(stack).is_none() {
            let with_state = self.backend.list().await?;
            if !with_state.iter().any(|s| s == stack) {
                let names = self
                    .stacks
                    .iter()
                    .map(|r| r.spec.instance.name.as_str())
                    .chain(with_state.iter().map(String::as_str));
                return Err(Error::usage(format!(
                    "no stack {stack}; {}",
                    crate::diagnostics::suggest(stack, names)
                )));
            }
        }
        let Some(holder) = holder else {
            return Ok(Unlocked::NotLocked);
        };
        let running = holder.holder_is_running_here();
        if running && !force {
            return Err(Error::HolderRunning {
                stack: stack.to_string(),
                holder: Box::new(holder),
            });
        }
        Ok(match self.backend.force_unlock(stack).await? {
            Some(removed) => Unlocked::Removed {
                running: removed.holder_is_running_here(),
                holder: Box::new(removed),
            },
            None => Unlocked::NotLocked,
        })
    }
}
