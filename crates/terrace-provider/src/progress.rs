//! Progress from inside a provider call. A provider that waits — a retry after throttling, an
//! id the cloud does not show yet, a long-running operation — says so with [`report`]; the
//! engine turns the notice into an event of the resource whose operation is running
//! (the engine's `Event::ResourceWaiting`), so a person watching a long retry sees what is
//! being waited for. Notices travel through a task-local scope that the engine sets around each
//! provider call ([`scoped`]), so providers need no handle to the engine; outside a scope a
//! notice is dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Something a provider call waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What is waited for, for a person (e.g. `ec2 CreateSubnet throttled (RequestLimitExceeded); retrying`).
    pub message: String,
    /// How long until the next attempt, when known.
    pub retry_in: Option<Duration>,
}

type Sink = Arc<dyn Fn(Notice) + Send + Sync>;

tokio::task_local! {
    static SINK: Sink;
}

/// Reports a wait to the operation running in this task, if any.
pub fn report(message: impl Into<String>, retry_in: Option<Duration>) {
    let notice = Notice {
        message: message.into(),
        retry_in,
    };
    let _ = SINK.try_with(|sink| sink(notice));
}

/// Runs `future` with notices going to `sink`.
pub async fn scoped<F: Future>(
    sink: impl Fn(Notice) + Send + Sync + 'static,
    future: F,
) -> F::Output {
    SINK.scope(Arc::new(sink), future).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn notices_reach_the_scope_of_their_task_only() {
        report("nobody listens", None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        scoped(
            move |n: Notice| into.lock().unwrap().push(n.message),
            async {
                report("throttled; retrying", Some(Duration::from_millis(5)));
            },
        )
        .await;
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["throttled; retrying".to_string()]
        );
    }
}
