//! Cross-stack read batching. A refresh of several stacks first gathers every stack's reads,
//! then groups them by [`ReadKey`] — the configuration of the type's provider that the
//! stack's resources were recorded with (account, project, assumed role, endpoint), the type
//! and the region — and sends ONE `read` per group with the union of the ids (the provider
//! pages). Two stacks with equal recorded configuration share a read; different accounts never
//! do. What comes back is routed to its stack by id, and, for pending creates, by the ownership
//! tags (workspace + stack + resource), so that a resource created before a crash is adopted by
//! its own stack only.
//!
//! A resource created moments ago (its state's `created_at` within the consistency window) that
//! a read does not show is read again, with backoff, until it shows or its window ends: AWS may
//! leave a new resource out of Describe answers for a while ("Eventual consistency in the
//! Amazon EC2 API"), and a plan right after an apply must not take it for deleted and create it
//! a second time. Only when its window has ended is it gone.

use super::{RefreshError, Refreshed};
use crate::plan::stack::Observations;
use crate::provider::limits::{backoff, Limits};
use crate::provider::registry::provider_prefix;
use crate::provider::{ErrorKind, Observed, Ownership, ProviderError, ReadRequest, Registry};
use crate::state::{OperationKind, StackState};
use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// One stack of a refresh.
pub struct StackRead<'a> {
    /// Its state: the resources to read, their ids, the pending creates, and the provider
    /// configuration they were recorded with ([`StackState::providers`]).
    pub state: &'a StackState,
    /// A registry configured with that recorded configuration
    /// ([`crate::plan::providers::registry_for`]): the group's read goes through the registry
    /// of one of its stacks, all of which record the same configuration of its provider.
    pub registry: &'a Registry,
}

/// What one read covers: stacks whose states record the same configuration of the type's
/// provider (canonical JSON, keys sorted; `None` for the workspace's own), one type, one
/// region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ReadKey {
    provider_config: Option<String>,
    type_name: String,
    region: Option<String>,
}

/// One read and where its answers go.
#[derive(Default)]
struct Group {
    /// The union of the ids asked for, in first-seen order, without repeats.
    ids: Vec<String>,
    /// Stacks (indexes into the refresh's stacks) that hold a resource of the group or a
    /// pending create of its type and region.
    members: BTreeSet<usize>,
    /// Id → the (stack, resource name) pairs that recorded it.
    by_id: HashMap<String, Vec<(usize, String)>>,
    /// Stack name → index, of the member stacks with a pending create in this group.
    pending: HashMap<String, usize>,
    /// Ids created less than the consistency window ago, with the instant their window ends.
    young: Vec<(String, Instant)>,
}

impl Group {
    fn add_resource(&mut self, stack: usize, name: &str, id: &str, young_until: Option<Instant>) {
        self.members.insert(stack);
        let routes = self.by_id.entry(id.to_string()).or_default();
        if routes.is_empty() {
            self.ids.push(id.to_string());
            if let Some(until) = young_until {
                self.young.push((id.to_string(), until));
            }
        }
        routes.push((stack, name.to_string()));
    }

    /// The young ids not in `observed` whose window has not ended, and the latest end.
    fn unseen_young(&self, observed: &[Observed]) -> (Vec<String>, Option<Instant>) {
        let seen: HashSet<&str> = observed.iter().map(|o| o.id.as_str()).collect();
        let now = Instant::now();
        let unseen: Vec<&(String, Instant)> = self
            .young
            .iter()
            .filter(|(id, until)| *until > now && !seen.contains(id.as_str()))
            .collect();
        let last = unseen.iter().map(|(_, until)| *until).max();
        (unseen.into_iter().map(|(id, _)| id.clone()).collect(), last)
    }

    fn add_pending(&mut self, stack: usize, stack_name: &str) {
        self.members.insert(stack);
        self.pending.insert(stack_name.to_string(), stack);
    }

    /// The ownership to look for: the one stack's, or any stack of the workspace when
    /// several stacks of the group have a pending create (answers are sorted by stack).
    fn owner(&self, workspace: &str) -> Option<Ownership> {
        let mut stacks = self.pending.keys();
        let first = stacks.next()?;
        let mut owner = Ownership::workspace_wide(workspace);
        if stacks.next().is_none() {
            owner.stack = first.clone();
        }
        Some(owner)
    }
}

/// Reads every resource of the `stacks` (and every pending create) from the cloud with one
/// provider `read` per (recorded provider configuration, type, region) across all of them;
/// each read takes a token of the provider's read class in its region (`limits`). Returns one
/// [`Refreshed`] per stack, in the order given; `done(index, refreshed)` is called for each
/// stack as soon as all the reads it takes part in have answered (also for a stack with
/// nothing to read, first), and the event it returns is sent to `events` (waiting for room).
/// With the workspace's secrets, what the cloud says is scrubbed
/// ([`crate::secrets::scrub_observed`]). A resource created less than `window` ago that a read
/// does not show is read again until it shows or its window ends, with a `resource_waiting`
/// event each time (see the module doc).
///
/// Errors: the first read that fails, naming its type, region and the stacks it covers; the
/// reads still in flight are dropped.
pub async fn refresh_stacks(
    stacks: &[StackRead<'_>],
    limits: &Limits,
    workspace: &str,
    secrets: Option<&crate::secrets::Secrets>,
    window: Duration,
    events: &crate::events::EventSink,
    mut done: impl FnMut(usize, &Refreshed) -> Option<crate::events::Event>,
) -> Result<Vec<Refreshed>, RefreshError> {
    if let Some(secrets) = secrets {
        learn_secrets(stacks, secrets);
    }
    let groups = gather(stacks, window);
    let mut refreshed: Vec<Refreshed> = stacks.iter().map(|_| empty()).collect();
    let mut remaining = vec![0usize; stacks.len()];
    for group in groups.values() {
        for &member in &group.members {
            remaining[member] += 1;
        }
    }
    for (index, left) in remaining.iter().enumerate() {
        if *left == 0 {
            if let Some(event) = done(index, &refreshed[index]) {
                events.send(event).await;
            }
        }
    }
    let reader = Reader {
        stacks,
        limits,
        workspace,
        secrets,
        events,
    };
    let reader = &reader;
    let mut reads: FuturesUnordered<_> = groups
        .iter()
        .map(|(key, group)| async move { (key, group, reader.read_group(key, group).await) })
        .collect();
    while let Some((key, group, answer)) = reads.next().await {
        let observed = answer.map_err(|source| RefreshError {
            type_name: key.type_name.clone(),
            region: key.region.clone().unwrap_or_else(|| "global".into()),
            stacks: group
                .members
                .iter()
                .map(|&i| stacks[i].state.stack.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            source,
        })?;
        route(
            stacks,
            workspace,
            &key.type_name,
            group,
            observed,
            &mut refreshed,
        );
        for &member in &group.members {
            remaining[member] -= 1;
            if remaining[member] == 0 {
                if let Some(event) = done(member, &refreshed[member]) {
                    events.send(event).await;
                }
            }
        }
    }
    Ok(refreshed)
}

fn empty() -> Refreshed {
    Refreshed {
        observations: Observations {
            refreshed: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Teaches the secrets what the states hold, so that the cloud's echo of them is sealed.
fn learn_secrets(stacks: &[StackRead<'_>], secrets: &crate::secrets::Secrets) {
    for resource in stacks.iter().flat_map(|s| s.state.resources.values()) {
        secrets.learn(&Json::Object(resource.inputs.clone()));
        secrets.learn(&Json::Object(resource.attributes.clone()));
    }
}

/// Every stack's reads, grouped by [`ReadKey`]; resources created less than `window` ago are
/// young.
fn gather(stacks: &[StackRead<'_>], window: Duration) -> BTreeMap<ReadKey, Group> {
    let mut groups: BTreeMap<ReadKey, Group> = BTreeMap::new();
    let now = (Utc::now(), Instant::now());
    for (index, stack) in stacks.iter().enumerate() {
        let state = stack.state;
        for (name, resource) in &state.resources {
            let key = read_key(state, &resource.type_name, &resource.region);
            let young_until = young_until(resource.age(now.0), window, now.1);
            groups
                .entry(key)
                .or_default()
                .add_resource(index, name, &resource.id, young_until);
        }
        for pending in state
            .pending
            .iter()
            .filter(|p| p.kind == OperationKind::Create)
        {
            let key = read_key(state, &pending.type_name, &pending.region);
            groups
                .entry(key)
                .or_default()
                .add_pending(index, &state.stack);
        }
    }
    groups
}

/// When the consistency window of a resource of this `age` at `now` ends, if it has not ended
/// yet (a wait is at most a day, whatever the window).
fn young_until(age: Option<Duration>, window: Duration, now: Instant) -> Option<Instant> {
    const LONGEST: Duration = Duration::from_secs(86_400);
    let left = window.checked_sub(age?).filter(|left| !left.is_zero())?;
    Some(now + left.min(LONGEST))
}

fn read_key(state: &StackState, type_name: &str, region: &Option<String>) -> ReadKey {
    let config = state.providers.get(provider_prefix(type_name));
    ReadKey {
        provider_config: config.map(|c| canonical(&Json::Object(c.clone())).to_string()),
        type_name: type_name.to_string(),
        region: region.clone(),
    }
}

/// `value` with every object's keys sorted: equal configurations written in another key order
/// share a read.
fn canonical(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// What one group's read needs besides the group.
struct Reader<'a> {
    stacks: &'a [StackRead<'a>],
    limits: &'a Limits,
    workspace: &'a str,
    secrets: Option<&'a crate::secrets::Secrets>,
    events: &'a crate::events::EventSink,
}

impl Reader<'_> {
    /// The group's `read`, then reads again, with backoff, of its young ids the answers do not
    /// show yet, until they show or their window ends.
    async fn read_group(
        &self,
        key: &ReadKey,
        group: &Group,
    ) -> Result<Vec<Observed>, ProviderError> {
        let registry = self.stacks[*group.members.first().expect("a group has a member")].registry;
        let owner = group.owner(self.workspace);
        let mut observed = self.read(registry, key, group.ids.clone(), owner).await?;
        let mut attempt = 0;
        loop {
            let (unseen, Some(last)) = group.unseen_young(&observed) else {
                return Ok(observed);
            };
            attempt += 1;
            let after = backoff(attempt).min(last.saturating_duration_since(Instant::now()));
            self.report_waiting(group, &unseen, after).await;
            tokio::time::sleep(after).await;
            observed.extend(self.read(registry, key, unseen, None).await?);
        }
    }

    /// One `read`, paced by the limits of its provider, region and read class.
    async fn read(
        &self,
        registry: &Registry,
        key: &ReadKey,
        ids: Vec<String>,
        owner: Option<Ownership>,
    ) -> Result<Vec<Observed>, ProviderError> {
        let provider = registry.provider_for_type(&key.type_name).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "NoProvider",
                "no provider for this type",
            )
        })?;
        let schema = registry.schema(&key.type_name);
        let class = schema.map(|s| s.api.read.clone()).unwrap_or_default();
        let _permit = self
            .limits
            .acquire(provider.name(), key.region.as_deref(), &class)
            .await;
        let request = ReadRequest {
            type_name: key.type_name.clone(),
            region: key.region.clone(),
            ids,
            owner,
        };
        Ok(provider
            .read(request)
            .await?
            .into_iter()
            .map(|o| crate::secrets::scrub_observed(self.secrets, schema.map(|s| &**s), o))
            .collect())
    }

    /// A `resource_waiting` event for each resource of the `unseen` ids.
    async fn report_waiting(&self, group: &Group, unseen: &[String], after: Duration) {
        for id in unseen {
            for (stack, name) in group.by_id.get(id).into_iter().flatten() {
                let event = crate::events::Event::ResourceWaiting {
                    stack: self.stacks[*stack].state.stack.clone(),
                    resource: name.clone(),
                    reason: format!(
                        "{id} was created moments ago and reads do not show it yet (eventual \
                         consistency); reading it again before taking it for deleted"
                    ),
                    retry_in_ms: Some(after.as_millis() as u64),
                };
                self.events.send(event).await;
            }
        }
    }
}

/// Sends each observation of a group's read to the stacks that recorded its id, or, found by
/// its ownership tags, to the one stack of the group with a pending create of that resource
/// (in this workspace, of this type, not yet in the stack's state).
fn route(
    stacks: &[StackRead<'_>],
    workspace: &str,
    type_name: &str,
    group: &Group,
    observed: Vec<Observed>,
    refreshed: &mut [Refreshed],
) {
    for observed in observed {
        if let Some(routes) = group.by_id.get(&observed.id) {
            for (stack, name) in routes {
                refreshed[*stack]
                    .observations
                    .found
                    .insert(name.clone(), observed.clone());
            }
            continue;
        }
        let Some(owner) = observed.ownership.clone() else {
            continue;
        };
        let Some(&stack) = group.pending.get(&owner.stack) else {
            continue;
        };
        let state = stacks[stack].state;
        let pending = state.pending.iter().any(|p| {
            p.kind == OperationKind::Create
                && p.resource == owner.resource
                && p.type_name == type_name
        });
        if owner.workspace == workspace && pending && !state.resources.contains_key(&owner.resource)
        {
            refreshed[stack].adoptable.insert(owner.resource, observed);
        }
    }
}
