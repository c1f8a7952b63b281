//! What every service's types share: waiters, retries of deletes blocked by dependents,
//! read-back after a write, and small helpers to build observations.

use crate::client::Settings;
use crate::error::is_dependency;
use serde_json::Value as Json;
use std::future::Future;
use std::time::Duration;
use terrace_provider::{ErrorKind, Observed, Properties, ProviderError, ReadRequest};
use tokio::time::Instant;

/// Runs the steps of a create that follow its first mutating call (which made `id`): once the
/// resource exists, any failure leaves it behind, so the outcome is ambiguous, never a plain
/// failure. The engine then finds it by its ownership tags, adopts it and finishes the job.
pub async fn after_create<T>(
    id: &str,
    steps: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    steps.await.map_err(|e| {
        ProviderError::new(
            ErrorKind::Ambiguous,
            e.code,
            format!("{id} was created, then: {}", e.message),
        )
    })
}

/// Runs a call that configures a resource created moments ago, trying a not-found answer
/// again with backoff for up to the consistency timeout: the new id has not propagated yet
/// ("Eventual consistency in the Amazon EC2 API": "you will get an error responding that the
/// resource does not exist"; hashicorp/terraform#2174).
pub async fn settle<T, F, Fut>(
    settings: &Settings,
    what: &str,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let deadline = Instant::now() + settings.consistency_timeout;
    let mut delay = settings.poll_interval.min(Duration::from_millis(250));
    loop {
        match call().await {
            Err(e) if e.kind == ErrorKind::NotFound && Instant::now() + delay < deadline => {
                terrace_provider::progress::report(
                    format!(
                        "{what}: {} ({}), not visible yet; trying again",
                        e.code, e.message
                    ),
                    Some(delay),
                );
                tokio::time::sleep(delay).await;
                delay = next_delay(delay).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// The cloud's current object for a resource about to be updated: the engine knows it exists
/// (it is in state, or was just adopted after an interrupted create), so "not found" within the
/// consistency timeout means "not visible yet" and is waited out like any other call naming a
/// new id ([`settle`]).
pub async fn existing<T, F, Fut>(
    settings: &Settings,
    type_name: &str,
    id: &str,
    mut find: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    settle(settings, id, || {
        let found = find();
        async move {
            found
                .await?
                .ok_or_else(|| crate::error::not_found(type_name, id))
        }
    })
    .await
}

/// Keeps the first of each id, in order.
pub fn dedup(found: Vec<Observed>) -> Vec<Observed> {
    let mut seen = std::collections::BTreeSet::new();
    found
        .into_iter()
        .filter(|o| seen.insert(o.id.clone()))
        .collect()
}

fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(Duration::from_secs(30))
}

/// Runs a delete until nothing depends on the resource any more (DependencyViolation is
/// retried with backoff until the wait timeout); a resource already gone is success.
pub async fn delete_when_free<F, Fut>(settings: &Settings, mut op: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    let deadline = Instant::now() + settings.wait_timeout;
    let mut delay = settings.poll_interval;
    loop {
        match op().await {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) if is_dependency(&e) && Instant::now() + delay < deadline => {
                terrace_provider::progress::report(
                    format!(
                        "still in use ({}: {}); waiting for its dependents to go",
                        e.code, e.message
                    ),
                    Some(delay),
                );
                tokio::time::sleep(delay).await;
                delay = next_delay(delay);
            }
            other => return other,
        }
    }
}

/// Deletes a resource that passes through a `deleting` state and waits until it is `deleted`
/// or no longer listed: nothing is sent for one already gone, and a not-found answer to the
/// delete is success. `current` reads the resource (whatever its state), `deleted` tells its
/// final state, `send` sends the delete once.
pub async fn delete_and_wait<T, F, Fut, S, SFut>(
    settings: &Settings,
    what: &str,
    current: F,
    deleted: impl Fn(&T) -> bool,
    send: S,
) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
    S: FnOnce() -> SFut,
    SFut: Future<Output = Result<(), ProviderError>>,
{
    if current().await?.as_ref().is_none_or(&deleted) {
        return Ok(());
    }
    match send().await {
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    wait_for(settings, &format!("{what} deleted"), || async {
        Ok(current().await?.as_ref().is_none_or(&deleted).then_some(()))
    })
    .await
}

/// Polls until `probe` answers `Some` (waiters, read-back after a create).
pub async fn wait_for<T, F, Fut>(
    settings: &Settings,
    what: &str,
    mut probe: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let deadline = Instant::now() + settings.wait_timeout;
    let mut delay = settings.poll_interval.min(Duration::from_millis(250));
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if Instant::now() + delay >= deadline {
            return Err(ProviderError::new(
                ErrorKind::Other,
                "WaitTimeout",
                format!(
                    "gave up waiting for {what} after {:?}",
                    settings.wait_timeout
                ),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = next_delay(delay).min(settings.poll_interval.max(delay));
    }
}

/// Reads one resource back by id, waiting for it to become visible (eventual consistency).
pub async fn read_back<F, Fut>(
    settings: &Settings,
    type_name: &str,
    id: &str,
    read: F,
) -> Result<Observed, ProviderError>
where
    F: Fn(ReadRequest) -> Fut,
    Fut: Future<Output = Result<Vec<Observed>, ProviderError>>,
{
    let what = format!("{type_name} {id}");
    wait_for(settings, &what, || {
        let fut = read(by_id(type_name, id));
        async move { Ok(fut.await?.into_iter().find(|o| o.id == id)) }
    })
    .await
}

/// Sends a create that has no client token, built with SDK retries off: a retry after a lost
/// answer could create twice. Throttling (the request was refused, not carried out) is retried
/// here with exponential backoff and full jitter, up to `max_attempts`; anything ambiguous is
/// returned as such, and the engine then finds the resource by its ownership tags.
pub async fn create_once<T, F, Fut>(settings: &Settings, mut send: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    let mut delay = settings.initial_backoff;
    loop {
        match send().await {
            Err(e) if e.kind == ErrorKind::Throttled && attempt < settings.max_attempts => {
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(20));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A random duration in `[0, limit]` (full jitter).
fn jitter(limit: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    limit.mul_f64((random % 10_001) as f64 / 10_000.0)
}

/// `Some(value)` as JSON, skipping absent values.
pub fn put<T: Into<Json>>(map: &mut Properties, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}

/// A read of one resource by its id (the client's region is implied).
pub fn by_id(type_name: &str, id: &str) -> ReadRequest {
    ReadRequest {
        type_name: type_name.to_string(),
        region: None,
        ids: vec![id.to_string()],
        owner: None,
    }
}
