//! A stack's lock as a value: [`StackLock`] is taken with [`StackLock::acquire`] (waiting while
//! another holder has it) and released with [`StackLock::release`], which reports errors. If
//! its holder never gets there — it returned early with `?`, panicked, or its future was
//! dropped (a `select!` that chose another branch, an aborted task, a timeout) — dropping the
//! guard releases the lock.
//!
//! `Drop` cannot await, so the release on drop is spawned as a task on the tokio runtime the
//! guard is dropped on ([`tokio::runtime::Handle::try_current`]); it runs shortly after, and
//! its error, if any, is lost (the lock then stays until `terrace state unlock`, or on S3
//! until its TTL passes: nothing refreshes it any more). Where no runtime is current, or the
//! runtime is shutting down, nothing can run the release: a `file://` lock is broken by the
//! next locker once this process has exited (its pid is gone), an S3 lock expires with its
//! TTL. Every backend's unlock is conditional on the lock id, so a release on drop never
//! removes a lock someone else took meanwhile.

use super::backend::{Backend, LockInfo, StateError};
use std::sync::Arc;
use std::time::Duration;

/// A held stack lock; releases itself when dropped (see the module documentation).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct StackLock {
    backend: Arc<dyn Backend>,
    stack: String,
    info: LockInfo,
    /// Whether dropping the guard must release: true from the first lock attempt on (an
    /// attempt cut short may have taken it), false once released or when never taken.
    armed: bool,
}

impl StackLock {
    /// Takes `stack`'s lock for `operation` (`apply`, `refresh`, ...), waiting up to `timeout`
    /// while someone else holds it. A lock whose holder process is dead (same host, pid gone)
    /// is broken at once. `on_wait` is called once, with the holder, when waiting starts.
    ///
    /// Errors: [`StateError::Locked`] naming the holder when the wait ran out; any backend
    /// error.
    pub async fn acquire(
        backend: &Arc<dyn Backend>,
        stack: &str,
        operation: &str,
        timeout: Duration,
        on_wait: impl Fn(&LockInfo),
    ) -> Result<StackLock, StateError> {
        let mut guard = StackLock {
            backend: backend.clone(),
            stack: stack.to_string(),
            info: LockInfo::for_operation(operation),
            armed: true,
        };
        match guard.wait_for_lock(timeout, on_wait).await {
            Ok(()) => Ok(guard),
            Err(err) => {
                // Refused: never taken. Any other error may hide a lock taken all the same
                // (an answer lost on the way back): the release on drop, conditional on our
                // id, clears it then.
                guard.armed = !matches!(err, StateError::Locked { .. });
                Err(err)
            }
        }
    }

    /// A wait callback for work that sends no events (import, `state mv`, `state rm`): the
    /// wait goes to the task's progress scope ([`terrace_provider::progress::report`]; the CLI
    /// prints `waiting: the lock of STACK, held by …`), so a long `--lock-timeout` never looks
    /// like a hang.
    pub fn report_wait(stack: &str) -> impl Fn(&LockInfo) + '_ {
        move |holder| {
            let message = format!("the lock of {stack}, held by {holder}");
            terrace_provider::progress::report(message, None)
        }
    }

    /// Takes `stack`'s lock for `operation` in one attempt: [`StateError::Locked`] naming the
    /// holder when someone has it.
    pub async fn try_acquire(
        backend: &Arc<dyn Backend>,
        stack: &str,
        operation: &str,
    ) -> Result<StackLock, StateError> {
        StackLock::acquire(backend, stack, operation, Duration::ZERO, |_| {}).await
    }

    async fn wait_for_lock(
        &self,
        timeout: Duration,
        on_wait: impl Fn(&LockInfo),
    ) -> Result<(), StateError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut announced = false;
        loop {
            match self.backend.lock(&self.stack, &self.info).await {
                Err(StateError::Locked { holder, .. }) if holder.holder_is_dead() => {
                    self.backend.unlock(&self.stack, &holder.id).await?;
                }
                Err(StateError::Locked { holder, .. })
                    if tokio::time::Instant::now() < deadline =>
                {
                    if !announced {
                        on_wait(&holder);
                        announced = true;
                    }
                    let left = deadline - tokio::time::Instant::now();
                    tokio::time::sleep(left.min(Duration::from_millis(100))).await;
                }
                other => return other,
            }
        }
    }

    /// The stack locked.
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Who holds the lock: this process, for the operation given.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Releases the lock, reporting a backend error (the lock may then still be held: `terrace
    /// state unlock` removes it).
    pub async fn release(mut self) -> Result<(), StateError> {
        self.armed = false;
        self.backend.unlock(&self.stack, &self.info.id).await
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime to release on: see the module documentation
        };
        let backend = self.backend.clone();
        let stack = std::mem::take(&mut self.stack);
        let id = self.info.id.clone();
        runtime.spawn(async move {
            let _ = backend.unlock(&stack, &id).await;
        });
    }
}

impl std::fmt::Debug for StackLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackLock")
            .field("stack", &self.stack)
            .field("info", &self.info)
            .field("armed", &self.armed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::file::FileBackend;
    use crate::state::memory::MemoryBackend;

    const HOUR: Duration = Duration::from_secs(3600);

    fn backends(dir: &std::path::Path) -> Vec<Arc<dyn Backend>> {
        vec![
            Arc::new(MemoryBackend::new()),
            Arc::new(FileBackend::new(dir.to_path_buf())),
        ]
    }

    /// The lock's holder once it has settled: polls for up to five seconds while `stack` is
    /// still locked by `id`.
    async fn holder_after_release(
        backend: &Arc<dyn Backend>,
        stack: &str,
        id: &str,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let holder = backend.lock_info(stack).await.unwrap().map(|h| h.id);
            if holder.as_deref() != Some(id) || tokio::time::Instant::now() >= deadline {
                return holder;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn locked_by(backend: &Arc<dyn Backend>, stack: &str) -> String {
        for _ in 0..500 {
            if let Some(holder) = backend.lock_info(stack).await.unwrap() {
                return holder.id;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{stack} was never locked");
    }

    #[tokio::test]
    async fn an_aborted_holder_leaves_the_stack_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(dir.path()) {
            let holder = backend.clone();
            let task = tokio::spawn(async move {
                let _lock = StackLock::acquire(&holder, "s", "apply", HOUR, |_| {}).await;
                tokio::time::sleep(HOUR).await;
            });
            let id = locked_by(&backend, "s").await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            assert_eq!(holder_after_release(&backend, "s", &id).await, None);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_holder_cut_short_by_select_leaves_the_stack_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(dir.path()) {
            let work = async {
                let lock = StackLock::acquire(&backend, "s", "refresh", HOUR, |_| {}).await;
                tokio::time::sleep(HOUR).await;
                lock
            };
            // The other branch sees the lock taken; `select!` then drops the work holding it.
            let id = tokio::select! {
                _ = work => panic!("the work never finishes"),
                id = locked_by(&backend, "s") => id,
            };
            assert_eq!(holder_after_release(&backend, "s", &id).await, None);
        }
    }

    #[tokio::test]
    async fn a_holder_that_panics_leaves_the_stack_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(dir.path()) {
            let holder = backend.clone();
            let task = tokio::spawn(async move {
                let lock = StackLock::acquire(&holder, "s", "apply", HOUR, |_| {}).await;
                let id = lock.as_ref().unwrap().info().id.clone();
                panic!("failed while holding {id}");
            });
            let panic = task.await.unwrap_err().into_panic();
            let message = panic.downcast_ref::<String>().unwrap();
            let id = message.rsplit(' ').next().unwrap();
            assert_eq!(holder_after_release(&backend, "s", id).await, None);
        }
    }

    #[tokio::test]
    async fn release_unlocks_and_a_late_drop_never_frees_a_lock_taken_since() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(dir.path()) {
            let first = StackLock::try_acquire(&backend, "s", "apply")
                .await
                .unwrap();
            assert_eq!(first.stack(), "s");
            let refused = StackLock::try_acquire(&backend, "s", "plan").await;
            match refused {
                Err(StateError::Locked { holder, .. }) => assert_eq!(holder.id, first.info().id),
                other => panic!("expected Locked, got {other:?}"),
            }
            // The refused attempt's guard was never armed: the first lock is still there.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(locked_by(&backend, "s").await, first.info().id);
            first.release().await.unwrap();
            assert!(backend.lock_info("s").await.unwrap().is_none());

            // A guard whose lock was broken (`state unlock`) and taken by someone else: its
            // release on drop leaves the new holder's lock alone.
            let stale = StackLock::try_acquire(&backend, "s", "apply")
                .await
                .unwrap();
            backend.force_unlock("s").await.unwrap();
            let current = StackLock::try_acquire(&backend, "s", "apply")
                .await
                .unwrap();
            drop(stale);
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(locked_by(&backend, "s").await, current.info().id);
            current.release().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_waiter_announces_the_holder_once_and_gives_up_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(dir.path()) {
            let held = StackLock::try_acquire(&backend, "s", "apply")
                .await
                .unwrap();
            let seen = std::sync::Mutex::new(Vec::new());
            let waited =
                StackLock::acquire(&backend, "s", "plan", Duration::from_millis(250), |h| {
                    seen.lock().unwrap().push(h.id.clone())
                })
                .await;
            assert!(
                matches!(waited, Err(StateError::Locked { .. })),
                "{waited:?}"
            );
            assert_eq!(*seen.lock().unwrap(), vec![held.info().id.clone()]);
            held.release().await.unwrap();
        }
    }
}
