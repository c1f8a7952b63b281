//! Moving a resource's state entry to another name or another stack, without touching the
//! cloud: renaming a resource key, renaming a replica (its stacks change names) or moving a
//! resource to another stack keeps the cloud object, as Terraform's `moved` blocks and `state
//! mv` and Pulumi's aliases do. Used by `terrace state mv` and by the executor for the
//! `moved:` entries of templates, before any stack runs.
//!
//! Both stacks are locked (in name order, so two movers never wait for each other); the entry
//! is written to the target first and removed from the source second, so a crash in between
//! leaves it in both (the move is repeated, idempotently) and never in neither (an untracked
//! resource).

use super::backend::{Backend, StateError};
use super::lock::StackLock;
use super::StackState;
use std::sync::Arc;
use std::time::Duration;

pub use crate::address::ResourceAddress;

/// Why a move cannot be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// The source has no such entry (and the target does not have it either).
    #[error("{0} is not in state")]
    Missing(ResourceAddress),
    /// The target name is taken by another resource.
    #[error("{0} is already in state (id {1}); choose another name or remove it first")]
    Taken(ResourceAddress, String),
    /// An operation on the resource is still pending.
    #[error(
        "{0} has an operation pending from an interrupted apply; run an apply first to settle it"
    )]
    Pending(ResourceAddress),
    /// The two stacks reach their resources with different provider configurations (other
    /// accounts or projects): the entry would name an object the target cannot reach.
    #[error("{0}")]
    OtherPlace(String),
    /// The state backend failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// A target stack takes over the source's provider configuration with its first entry; a
/// target holding resources elsewhere refuses the entry.
pub fn carry_providers(
    source: &StackState,
    target: &mut StackState,
    from: &ResourceAddress,
) -> Result<(), MoveError> {
    if source.providers == target.providers {
        return Ok(());
    }
    if target.resources.is_empty() && target.pending.is_empty() {
        target.providers = source.providers.clone();
        return Ok(());
    }
    let show = |s: &StackState| serde_json::to_string(&s.providers).unwrap_or_default();
    Err(MoveError::OtherPlace(format!(
        "{from} lives where stack {}'s provider configuration points ({}), and stack {}'s \
         points elsewhere ({}): Terrace does not move resources between accounts or projects",
        source.stack,
        show(source),
        target.stack,
        show(target)
    )))
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The cloud id of the moved resource (unchanged).
    pub id: String,
    /// Stacks whose state was saved (each one serial further); none when it had happened.
    pub saved: Vec<String>,
}

/// Moves `from` to `to`. With the `expected` id (a move recorded in a plan), a move that
/// already happened — `to` holds that id and `from` is gone — is a no-op.
pub async fn move_entry(
    backend: &Arc<dyn Backend>,
    from: &ResourceAddress,
    to: &ResourceAddress,
    expected: Option<&str>,
    lock_timeout: Duration,
) -> Result<Done, MoveError> {
    let mut stacks = vec![from.stack.clone(), to.stack.clone()];
    stacks.sort();
    stacks.dedup();
    let mut held = Vec::new();
    let mut result = Ok(Done {
        id: String::new(),
        saved: Vec::new(),
    });
    for stack in &stacks {
        match StackLock::acquire(
            backend,
            stack,
            "state mv",
            lock_timeout,
            StackLock::report_wait(stack),
        )
        .await
        {
            Ok(lock) => held.push(lock),
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    if result.is_ok() {
        result = move_locked(backend.as_ref(), from, to, expected).await;
    }
    for lock in held {
        let unlocked = lock.release().await;
        if let (Ok(_), Err(e)) = (&result, unlocked) {
            result = Err(e.into());
        }
    }
    result
}

async fn move_locked(
    backend: &dyn Backend,
    from: &ResourceAddress,
    to: &ResourceAddress,
    expected: Option<&str>,
) -> Result<Done, MoveError> {
    let load = |stack: String| async move {
        backend
            .load(&stack)
            .await
            .map(|s| s.unwrap_or_else(|| StackState::new(&stack)))
    };
    let mut source = load(from.stack.clone()).await?;
    if source.pending.iter().any(|p| p.resource == from.resource) {
        return Err(MoveError::Pending(from.clone()));
    }
    let same_stack = from.stack == to.stack;
    let mut target = if same_stack {
        source.clone()
    } else {
        load(to.stack.clone()).await?
    };
    let Some(entry) = source.resources.get(&from.resource).cloned() else {
        return match (target.resources.get(&to.resource), expected) {
            (Some(done), Some(id)) if done.id == id => Ok(Done {
                id: done.id.clone(),
                saved: Vec::new(),
            }),
            _ => Err(MoveError::Missing(from.clone())),
        };
    };
    if let Some(taken) = target.resources.get(&to.resource) {
        if taken.id != entry.id {
            return Err(MoveError::Taken(to.clone(), taken.id.clone()));
        }
    }
    let id = entry.id.clone();
    if same_stack {
        target.resources.remove(&from.resource);
    } else {
        carry_providers(&source, &mut target, from)?;
    }
    target.resources.insert(to.resource.clone(), entry);
    save(backend, &mut target).await?;
    let mut saved = vec![to.stack.clone()];
    if !same_stack {
        source.resources.remove(&from.resource);
        save(backend, &mut source).await?;
        saved.push(from.stack.clone());
    }
    Ok(Done { id, saved })
}

async fn save(backend: &dyn Backend, state: &mut StackState) -> Result<(), StateError> {
    let expected = state.snapshot_serial;
    state.serial += 1;
    state.updated_at = Some(chrono::Utc::now());
    backend.save(state, expected).await
}

/// Forgets `at`: its entry leaves state, the cloud object stays (returns it).
pub async fn remove_entry(
    backend: &Arc<dyn Backend>,
    at: &ResourceAddress,
    lock_timeout: Duration,
) -> Result<super::ResourceState, MoveError> {
    let lock = StackLock::acquire(
        backend,
        &at.stack,
        "state rm",
        lock_timeout,
        StackLock::report_wait(&at.stack),
    )
    .await?;
    let result = async {
        let mut state = backend
            .load(&at.stack)
            .await?
            .ok_or_else(|| MoveError::Missing(at.clone()))?;
        if state.pending.iter().any(|p| p.resource == at.resource) {
            return Err(MoveError::Pending(at.clone()));
        }
        let removed = state
            .resources
            .remove(&at.resource)
            .ok_or_else(|| MoveError::Missing(at.clone()))?;
        save(backend.as_ref(), &mut state).await?;
        Ok(removed)
    }
    .await;
    let unlocked = lock.release().await;
    let removed = result?;
    unlocked?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryBackend;
    use crate::state::ResourceState;

    fn entry(id: &str) -> ResourceState {
        ResourceState::new("test:Thing", id)
    }

    fn at(text: &str) -> ResourceAddress {
        ResourceAddress::parse(text).unwrap()
    }

    #[tokio::test]
    async fn entries_move_between_names_and_stacks_idempotently() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::default());
        let mut a = StackState::new("networks/eu/a");
        a.resources.insert("vpc".into(), entry("vpc-1"));
        a.resources.insert("net".into(), entry("net-1"));
        backend.save(&a, None).await.unwrap();
        let wait = Duration::from_millis(10);
        // A rename within the stack.
        let renamed = move_entry(
            &backend,
            &at("networks/eu/a:net"),
            &at("networks/eu/a:network"),
            None,
            wait,
        )
        .await
        .unwrap();
        assert_eq!((renamed.id.as_str(), renamed.saved.len()), ("net-1", 1));
        // A move to another stack (a renamed replica), then the same recorded move again.
        let (from, to) = (at("networks/eu/a:vpc"), at("networks/eu/b:vpc"));
        let first = move_entry(&backend, &from, &to, Some("vpc-1"), wait)
            .await
            .unwrap();
        assert_eq!((first.id.as_str(), first.saved.len()), ("vpc-1", 2));
        let again = move_entry(&backend, &from, &to, Some("vpc-1"), wait)
            .await
            .unwrap();
        assert_eq!(
            (again.id.as_str(), again.saved.len()),
            ("vpc-1", 0),
            "already done"
        );
        assert!(matches!(
            move_entry(&backend, &from, &to, None, wait).await,
            Err(MoveError::Missing(_))
        ));
        let a = backend.load("networks/eu/a").await.unwrap().unwrap();
        let b = backend.load("networks/eu/b").await.unwrap().unwrap();
        assert_eq!(a.resources.keys().collect::<Vec<_>>(), vec!["network"]);
        assert_eq!(b.resources["vpc"].id, "vpc-1");
        // A taken name and a missing entry are refused; no lock is left behind.
        let mut c = StackState::new("networks/eu/c");
        c.resources.insert("vpc".into(), entry("vpc-9"));
        backend.save(&c, None).await.unwrap();
        assert!(matches!(
            move_entry(&backend, &to, &at("networks/eu/c:vpc"), None, wait).await,
            Err(MoveError::Taken(..))
        ));
        assert!(matches!(
            move_entry(&backend, &at("networks/eu/a:nope"), &to, None, wait).await,
            Err(MoveError::Missing(_))
        ));
        assert!(backend.lock_info("networks/eu/c").await.unwrap().is_none());
        let gone = remove_entry(&backend, &at("networks/eu/c:vpc"), wait)
            .await
            .unwrap();
        assert_eq!(gone.id, "vpc-9");
        assert!(backend
            .load("networks/eu/c")
            .await
            .unwrap()
            .unwrap()
            .resources
            .is_empty());
        assert!(ResourceAddress::parse("no-colon").is_err());
    }

    #[tokio::test]
    async fn an_entry_keeps_the_provider_configuration_it_lives_under() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::default());
        let account = |id: &str| {
            let mut config = crate::provider::Properties::new();
            config.insert("assume_role".into(), serde_json::json!({"account_id": id}));
            std::collections::BTreeMap::from([("aws".to_string(), config)])
        };
        let mut a = StackState::new("networks/eu/a");
        a.providers = account("111111111111");
        a.resources.insert("vpc".into(), entry("vpc-1"));
        a.resources.insert("igw".into(), entry("igw-1"));
        backend.save(&a, None).await.unwrap();
        let mut c = StackState::new("networks/eu/c");
        c.providers = account("222222222222");
        c.resources.insert("vpc".into(), entry("vpc-9"));
        backend.save(&c, None).await.unwrap();
        let wait = Duration::from_millis(10);
        move_entry(
            &backend,
            &at("networks/eu/a:vpc"),
            &at("networks/eu/b:vpc"),
            None,
            wait,
        )
        .await
        .unwrap();
        let b = backend.load("networks/eu/b").await.unwrap().unwrap();
        assert_eq!(
            b.providers,
            account("111111111111"),
            "a new stack takes it over"
        );
        let refused = move_entry(
            &backend,
            &at("networks/eu/a:igw"),
            &at("networks/eu/c:igw"),
            None,
            wait,
        )
        .await;
        assert!(
            matches!(refused, Err(MoveError::OtherPlace(_))),
            "{refused:?}"
        );
        let a = backend.load("networks/eu/a").await.unwrap().unwrap();
        assert!(a.resources.contains_key("igw"), "nothing moved");
    }
}
