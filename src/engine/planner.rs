//! Step generation across stacks, in two phases (the shape of omicron's reconfigurator):
//! `gather` does every read — states, the refresh of the selected stacks (batched reads, in
//! parallel), removed-stack discovery — and `plan_gathered` is synchronous: it plans each
//! stack in dependency order, feeding each the planned outputs of the stacks above it —
//! unknown where an upstream value waits for apply; stacks whose upstream stacks are planned
//! are planned together on all cores (`StackPlanner`) — and returns the plan with the policy's
//! refusals ([`PlanOutcome`]), a refused plan included. Destroy plans run in reverse order.
//! Stacks left in state but removed from the configuration are planned for deletion (see
//! `removed`).

use super::{removed, target, PlanOptions, Terrace};
use crate::events::{Event, EventSink};
use crate::plan::blast::blast_radius;
use crate::plan::stack::{plan_stack, planned_outputs, Observations, StackInputs};
use crate::plan::{Action, Plan, PlanOutcome, StackPlan, Summary, PLAN_FORMAT_VERSION};
use crate::render::Rendered;
use crate::spec::StackSpec;
use crate::state::StackState;
use crate::value::{Value, ValueMap};
use crate::Error;
use futures::stream::{self, StreamExt, TryStreamExt};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Stack → the stacks that read its outputs, with the output keys each reads, over the whole
/// workspace.
pub(super) fn readers(terrace: &Terrace) -> crate::plan::blast::Readers {
    let mut readers = crate::plan::blast::Readers::new();
    for (reader, sources) in &terrace.links.read_keys {
        for (source, keys) in sources {
            readers
                .entry(source.clone())
                .or_default()
                .entry(reader.clone())
                .or_default()
                .extend(keys.iter().cloned());
        }
    }
    readers
}

/// The most telling action of a stack, for graphs.
pub fn stack_action(plan: &StackPlan) -> String {
    let order = [
        Action::Delete,
        Action::Replace,
        Action::Create,
        Action::Update,
    ];
    order
        .iter()
        .find(|a| plan.changes.iter().any(|c| c.action == **a))
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| {
            if plan.has_changes() {
                "update".into()
            } else {
                "no-op".into()
            }
        })
}

/// Everything a plan is made from, gathered first — every read of state and of the clouds
/// happens here, so that planning itself ([`plan_gathered`]) is synchronous.
struct Gathered<'t> {
    /// The selected stacks, in plan order (reversed for a destroy).
    selected: Vec<&'t Rendered>,
    /// States of the selected stacks and of the stacks they read, with the `moved:` entries
    /// already moved (a planning copy: nothing is written).
    states: States,
    /// Selected stacks with no stored state.
    unstated: BTreeSet<String>,
    /// The moves still to make.
    moves: Vec<crate::plan::PlannedMove>,
    /// What the refresh found, by stack (empty without refresh).
    observations: HashMap<String, Observations>,
    /// Stacks in state that the configuration no longer has, with their states.
    removed: Vec<(StackSpec, StackState)>,
}

/// Plans: gathers the inputs (state loads, refresh reads, removed-stack discovery), then plans
/// them synchronously; reports `PlanStarted`, `StackRefreshed`, `StackPlanned` and
/// `PlanFinished`. A plan refused by policy comes back with its refusals.
pub(super) async fn plan(terrace: &Terrace, options: &PlanOptions) -> Result<PlanOutcome, Error> {
    let gathered = gather(terrace, options).await?;
    let outcome = plan_gathered(terrace, &gathered, options)?;
    // The first stack plan of each name, as a search from the front finds it.
    let mut by_name: HashMap<&str, &StackPlan> = HashMap::new();
    for stack in &outcome.plan.stacks {
        by_name.entry(stack.stack.name.as_str()).or_insert(stack);
    }
    for rendered in &gathered.selected {
        let name = &rendered.spec.instance.name;
        let Some(stack) = by_name.get(name.as_str()) else {
            continue;
        };
        let changes = stack
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .count();
        options
            .events
            .send(Event::StackPlanned {
                stack: name.clone(),
                changes,
            })
            .await;
    }
    let summary = &outcome.plan.summary;
    options
        .events
        .send(Event::PlanFinished {
            create: summary.create,
            update: summary.update,
            replace: summary.replace,
            delete: summary.delete,
        })
        .await;
    Ok(outcome)
}

/// Every input of a plan: the selection checked, states loaded (moves applied to the
/// planning copy), the selected stacks refreshed, removed stacks found.
async fn gather<'t>(terrace: &'t Terrace, options: &PlanOptions) -> Result<Gathered<'t>, Error> {
    let selector = &options.selector;
    let removed = removed::removed_stacks(terrace).await?;
    terrace
        .check_selection(selector, &removed, &options.allow_destroy)
        .await?;
    let mut selected: Vec<&Rendered> = terrace
        .stacks
        .iter()
        .filter(|r| selector.selects(&r.spec.instance))
        .collect();
    if options.destroy {
        selected.reverse();
    }
    options
        .events
        .send(Event::PlanStarted {
            stacks: selected.len(),
            refresh: options.refresh,
        })
        .await;
    let mut states = load_states(terrace, &selected).await?;
    if options.destroy {
        // A stack that was never applied has nothing to destroy (and no outputs to give).
        selected.retain(|r| matches!(states.get(&r.spec.instance.name), Some(Some(_))));
    }
    let unstated: BTreeSet<String> = states
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(n, _)| n.clone())
        .collect();
    let moves = if options.destroy {
        Vec::new()
    } else {
        plan_moves(terrace, &selected, &mut states).await?
    };
    let observations = if options.refresh {
        refresh_all(terrace, &selected, &states, &options.events).await?
    } else {
        HashMap::new()
    };
    let mut removed = removed::selected(&removed, selector);
    for (spec, state) in &mut removed {
        for moved in moves.iter().filter(|m| m.from.stack == spec.instance.name) {
            state.resources.remove(&moved.from.resource);
        }
    }
    Ok(Gathered {
        selected,
        states,
        unstated,
        moves,
        observations,
        removed,
    })
}

/// The plan of gathered inputs: each selected stack planned in order, fed the planned outputs
/// of the stacks above it, then the removed stacks' deletions, the blast radius, the rollout
/// waves and the policy verdict. Synchronous and without I/O; the inputs are not changed
/// (resources found for interrupted creates are adopted in this function's own copy of the
/// stacks concerned).
fn plan_gathered(
    terrace: &Terrace,
    gathered: &Gathered,
    options: &PlanOptions,
) -> Result<PlanOutcome, Error> {
    let Gathered {
        selected,
        states,
        unstated,
        moves,
        observations,
        removed,
    } = gathered;
    let (adopted_states, adopted) = adoptions(terrace, states, observations);
    let layers: Vec<String> = terrace
        .workspace
        .layers
        .iter()
        .map(|l| l.name.clone())
        .collect();
    let planner = StackPlanner {
        terrace,
        options,
        states,
        adopted_states: &adopted_states,
        adopted: &adopted,
        unstated,
        moves,
        observations,
        layers: &layers,
    };
    let mut stacks = planner.plan_in_waves(selected)?;
    link_order(terrace, &mut stacks, options.destroy);
    let removed_names: BTreeSet<String> = removed
        .iter()
        .map(|(s, _)| s.instance.name.clone())
        .collect();
    let no_observations = Observations::default();
    for (spec, state) in removed {
        let spec = Arc::new(spec.clone());
        let inputs = StackInputs {
            spec: &spec,
            order: None,
            state: Some(state),
            observations: &no_observations,
            upstream: &BTreeMap::new(),
            layer_links: &BTreeMap::new(),
            config: &terrace.workspace.settings.config,
            layers: &layers,
            registry: &terrace.registry,
            secrets: terrace.secrets.as_deref(),
            destroy: true,
        };
        stacks.push(plan_stack(&inputs)?);
    }
    removed::order_removed(&mut stacks, &removed_names, &layers);
    let mut plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        terrace_version: env!("CARGO_PKG_VERSION").to_string(),
        workspace: terrace.workspace.name.clone(),
        created_at: chrono::Utc::now(),
        destroy: options.destroy && options.selector.targets.is_empty(),
        layers,
        config: terrace.workspace.settings.config.clone(),
        stacks,
        summary: Summary::default(),
        blast_radius: Default::default(),
        rollouts: Vec::new(),
        moves: moves.clone(),
        refusals: Vec::new(),
    };
    plan.summarize();
    plan.blast_radius = blast_radius(&plan, &readers(terrace));
    plan.rollouts = crate::rollout::plan_rollouts(&plan, &terrace.workspace);
    let allowances = crate::policy::Allowances {
        destroy: options.allow_destroy.clone(),
        budgets: options.raise_budgets.clone(),
    };
    let refusals =
        crate::policy::refusals(&plan, &terrace.workspace, &terrace.policies, &allowances);
    plan.refusals = refusals.clone();
    Ok(PlanOutcome { plan, refusals })
}

/// What planning one stack reads besides the stack itself: the gathered inputs of the whole
/// plan, shared by every stack.
struct StackPlanner<'a> {
    terrace: &'a Terrace,
    options: &'a PlanOptions,
    states: &'a States,
    /// States with the resources adopted after an interrupted create.
    adopted_states: &'a HashMap<String, StackState>,
    /// (stack, resource) pairs adopted.
    adopted: &'a BTreeSet<(String, String)>,
    unstated: &'a BTreeSet<String>,
    moves: &'a [crate::plan::PlannedMove],
    observations: &'a HashMap<String, Observations>,
    layers: &'a [String],
}

impl StackPlanner<'_> {
    /// Plans the selected stacks, in their order. A stack needs only the planned outputs of
    /// the stacks it reads, so the stacks are planned in waves — each wave the stacks whose
    /// read stacks are all planned in earlier waves — and a wave's stacks on all cores. The
    /// error returned is that of the first failing stack in plan order, as planning them one
    /// by one would return: every stack before it has the same inputs either way. Once a
    /// stack fails, later waves plan only the stacks before it.
    fn plan_in_waves(&self, selected: &[&Rendered]) -> Result<Vec<StackPlan>, Error> {
        let mut planned = Planned::new();
        let mut results: Vec<Option<Result<StackPlan, Error>>> =
            (0..selected.len()).map(|_| None).collect();
        let mut first_failure = selected.len();
        for wave in self.waves(selected) {
            let outcomes: Vec<(usize, Result<StackPlan, Error>)> = wave
                .into_par_iter()
                .filter(|&at| at < first_failure)
                .map(|at| (at, self.plan_one(selected[at], at, &planned)))
                .collect();
            for (at, outcome) in outcomes {
                match &outcome {
                    Ok(stack) => {
                        planned.insert(stack.stack.name.clone(), (at, planned_outputs(stack)));
                    }
                    Err(_) => first_failure = first_failure.min(at),
                }
                results[at] = Some(outcome);
            }
        }
        // Every stack before the first failure was planned; none after it is needed.
        results
            .into_iter()
            .take(first_failure.saturating_add(1))
            .map(|result| result.expect("every stack up to the first failure is planned"))
            .collect()
    }

    /// The indexes of `selected` in waves (see [`crate::graph::waves`]): a stack goes in the
    /// wave after the last of the stacks it reads that come before it in `selected`. In a
    /// destroy (stacks in reverse order) the stacks a stack reads come after it, so nothing
    /// planned is visible to it: one wave.
    fn waves(&self, selected: &[&Rendered]) -> Vec<Vec<usize>> {
        if self.options.destroy {
            return crate::graph::waves(selected.len(), &[]);
        }
        let mut at_of: HashMap<&str, usize> = HashMap::new();
        let mut edges = Vec::new();
        for (at, rendered) in selected.iter().enumerate() {
            let name = rendered.spec.instance.name.as_str();
            let reads = self.terrace.links.reads.get(name).into_iter().flatten();
            edges.extend(reads.filter_map(|read| at_of.get(read.as_str()).map(|&r| (r, at))));
            at_of.entry(name).or_insert(at);
        }
        crate::graph::waves(selected.len(), &edges)
    }

    /// Plans one stack, the `at`-th selected, given the planned outputs of the stacks before
    /// it.
    fn plan_one(
        &self,
        rendered: &Rendered,
        at: usize,
        planned: &Planned,
    ) -> Result<StackPlan, Error> {
        let (terrace, options) = (self.terrace, self.options);
        let is_layer = |name: &str| self.layers.iter().any(|l| l == name);
        let name = &rendered.spec.instance.name;
        let state = self
            .adopted_states
            .get(name)
            .or_else(|| self.states.get(name).and_then(Option::as_ref));
        let spec = scoped_spec(rendered, state, options, &is_layer);
        // A targeted destroy is planned as the removal of its resources from the stack.
        let destroy = options.destroy && spec.only.is_none();
        let upstream = if destroy {
            BTreeMap::new() // a destroy reads nothing from above
        } else {
            upstream_outputs(terrace, name, planned, at, self.states)
        };
        let links = terrace
            .links
            .layer_links
            .get(name)
            .cloned()
            .unwrap_or_default();
        let resolved = if destroy {
            None
        } else {
            Some(resolve_providers(
                terrace,
                &spec,
                &upstream,
                &links,
                self.layers,
            )?)
        };
        // Desired values are put in the form the cloud reads back by the provider the stack's
        // calls go through (a GCP link completed with the stack's project).
        let configs = match resolved.as_ref().map(|r| r.clone().all_known()) {
            Some(Ok(desired)) => desired,
            _ => crate::plan::providers::recorded(state),
        };
        let registry = terrace.registry_for(&configs)?;
        // Validation ordered the rendered spec; a targeted spec has resources of its own.
        let order = if Arc::ptr_eq(&spec, &rendered.spec) {
            Some(rendered.resource_order(&is_layer)?)
        } else {
            None
        };
        let no_observations = Observations::default();
        let inputs = StackInputs {
            spec: &spec,
            order,
            state,
            observations: self.observations.get(name).unwrap_or(&no_observations),
            upstream: &upstream,
            layer_links: &links,
            config: &terrace.workspace.settings.config,
            layers: self.layers,
            registry: &registry,
            destroy,
            secrets: terrace.secrets.as_deref(),
        };
        let mut stack = plan_stack(&inputs)?;
        if let Some(resolved) = resolved {
            check_providers(&spec, state, resolved, &mut stack)?;
        }
        if self.unstated.contains(name) {
            // A state made up for the plan to hold moved entries: none is stored yet.
            stack.serial = None;
            stack.lineage = None;
        }
        annotate(&mut stack, name, self.adopted, self.moves);
        stack.upstream = if destroy {
            Vec::new()
        } else {
            terrace
                .links
                .reads
                .get(name)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        };
        Ok(stack)
    }
}

/// Notes on a stack's changes: resources adopted after an interrupted create, and resources
/// moved here.
fn annotate(
    stack: &mut StackPlan,
    name: &str,
    adopted: &BTreeSet<(String, String)>,
    moves: &[crate::plan::PlannedMove],
) {
    for change in stack
        .changes
        .iter_mut()
        .filter(|c| adopted.contains(&(name.to_string(), c.name.clone())))
    {
        change.notes.push(
            "created by an interrupted apply; found by its ownership tags and adopted".into(),
        );
    }
    for moved in moves.iter().filter(|m| m.to.stack == name) {
        if let Some(change) = stack
            .changes
            .iter_mut()
            .find(|c| c.name == moved.to.resource)
        {
            change.notes.push(format!(
                "moved from {} (the cloud object is kept)",
                moved.from
            ));
        }
    }
}

/// The spec a stack is planned with: as configured, or restricted to the resources a
/// `--target` reaches (see [`super::target`]).
fn scoped_spec(
    rendered: &Rendered,
    state: Option<&StackState>,
    options: &PlanOptions,
    is_layer: &dyn Fn(&str) -> bool,
) -> Arc<StackSpec> {
    let spec = &rendered.spec;
    let Some(targets) = options.selector.targets_in(&spec.instance.name) else {
        return Arc::clone(spec);
    };
    let deps = target::dependencies(spec, state, is_layer);
    if options.destroy {
        let empty = StackState::new(&spec.instance.name);
        let doomed = target::needing(&targets, &deps, state.unwrap_or(&empty));
        return Arc::new(target::without(spec, doomed, is_layer));
    }
    let mut scoped = StackSpec::clone(spec);
    scoped.only = Some(target::needed(&targets, &deps));
    Arc::new(scoped)
}

type States = HashMap<String, Option<StackState>>;

/// Planned stack → (its place among the selected stacks, its planned outputs).
type Planned = BTreeMap<String, (usize, ValueMap)>;

/// The `moved:` entries of the selected stacks that still have to happen: their entries move in
/// the planning copy of state (loading the source stacks' states as needed), so each stack is
/// planned as it will be once the executor has made the moves.
async fn plan_moves(
    terrace: &Terrace,
    selected: &[&Rendered],
    states: &mut States,
) -> Result<Vec<crate::plan::PlannedMove>, Error> {
    let mut moves = Vec::new();
    for rendered in selected {
        let target = &rendered.spec.instance.name;
        for moved in &rendered.spec.moved {
            let taken = states
                .get(target)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.resources.contains_key(&moved.to));
            if taken {
                continue;
            }
            if !states.contains_key(&moved.from.stack) {
                let loaded = terrace.backend.load(&moved.from.stack).await?;
                states.insert(moved.from.stack.clone(), loaded);
            }
            let Some(Some(source)) = states.get_mut(&moved.from.stack) else {
                continue;
            };
            if source
                .pending
                .iter()
                .any(|p| p.resource == moved.from.resource)
            {
                continue;
            }
            let declared = rendered.spec.resources.get(&moved.to).map(|r| &r.type_name);
            match source.resources.get(&moved.from.resource) {
                None => continue,
                Some(entry) if Some(&entry.type_name) != declared => {
                    return Err(Error::usage(format!(
                        "`moved:` of stack {target} moves {} (a {}) to `{}`, declared as a {}: \
                         a move keeps the cloud object, so the types must match; declare `{}` \
                         with type {} or remove the entry",
                        moved.from,
                        entry.type_name,
                        moved.to,
                        declared.map_or("nothing", String::as_str),
                        moved.to,
                        entry.type_name
                    )));
                }
                Some(_) => {}
            }
            let Some(entry) = source.resources.remove(&moved.from.resource) else {
                continue;
            };
            let id = entry.id.clone();
            let recorded = source.providers.clone();
            let target_state = states
                .entry(target.clone())
                .or_insert(None)
                .get_or_insert_with(|| StackState::new(target));
            if target_state.resources.is_empty() && target_state.pending.is_empty() {
                // The entry keeps reaching its object where it was created.
                target_state.providers = recorded;
            }
            target_state.resources.insert(moved.to.clone(), entry);
            moves.push(crate::plan::PlannedMove {
                from: moved.from.clone(),
                to: crate::state::moves::ResourceAddress {
                    stack: target.clone(),
                    resource: moved.to.clone(),
                },
                id,
            });
        }
    }
    Ok(moves)
}

/// States of the selected stacks and of every stack they read.
async fn load_states(terrace: &Terrace, selected: &[&Rendered]) -> Result<States, Error> {
    let mut names: BTreeSet<String> = selected
        .iter()
        .map(|r| r.spec.instance.name.clone())
        .collect();
    for r in selected {
        names.extend(
            terrace
                .links
                .reads
                .get(&r.spec.instance.name)
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    let backend = terrace.backend.clone();
    stream::iter(names)
        .map(|name| {
            let backend = backend.clone();
            async move { Ok::<_, Error>((name.clone(), backend.load(&name).await?)) }
        })
        .buffer_unordered(16)
        .try_collect()
        .await
}

/// The states of the stacks where the refresh found resources of pending creates, with those
/// resources adopted (copies: the gathered states are left as loaded; apply records the
/// adoption), and the (stack, resource) pairs adopted.
fn adoptions(
    terrace: &Terrace,
    states: &States,
    observations: &HashMap<String, Observations>,
) -> (HashMap<String, StackState>, BTreeSet<(String, String)>) {
    let mut copies: HashMap<String, StackState> = HashMap::new();
    let mut adopted = BTreeSet::new();
    for (stack, found) in observations {
        let Some(Some(state)) = states.get(stack) else {
            continue;
        };
        for pending in &state.pending {
            let Some(observed) = found.found.get(&pending.resource) else {
                continue;
            };
            if state.resources.contains_key(&pending.resource) {
                continue;
            }
            let spec = terrace
                .rendered(stack)
                .and_then(|r| r.spec.resources.get(&pending.resource));
            let schema = terrace.registry.schema(&pending.type_name).map(|s| &**s);
            let adopted_state =
                crate::refresh::adopted_state(pending, observed, spec, schema, Vec::new());
            copies
                .entry(stack.clone())
                .or_insert_with(|| state.clone())
                .resources
                .insert(pending.resource.clone(), adopted_state);
            adopted.insert((stack.clone(), pending.resource.clone()));
        }
    }
    (copies, adopted)
}

/// Refreshes the selected stacks that have state, with one read per (recorded provider
/// configuration, type, region) across all of them ([`crate::refresh::refresh_stacks`]); a
/// `StackRefreshed` event per stack as soon as its reads have answered.
async fn refresh_all(
    terrace: &Terrace,
    selected: &[&Rendered],
    states: &States,
    events: &EventSink,
) -> Result<HashMap<String, Observations>, Error> {
    let with_state: Vec<&StackState> = selected
        .iter()
        .filter_map(|r| states.get(&r.spec.instance.name).and_then(Option::as_ref))
        .collect();
    let refreshed = terrace.refresh_states(&with_state, events).await?;
    Ok(with_state
        .iter()
        .zip(refreshed)
        .map(|(state, refreshed)| {
            let mut observations = refreshed.observations;
            // A resource created before an interruption counts as existing: it will be adopted.
            observations.found.extend(refreshed.adoptable);
            (state.stack.clone(), observations)
        })
        .collect())
}

/// The stack's provider configuration, resolved against the planned upstream outputs.
fn resolve_providers(
    terrace: &Terrace,
    spec: &StackSpec,
    upstream: &BTreeMap<String, ValueMap>,
    links: &BTreeMap<String, String>,
    layers: &[String],
) -> Result<crate::plan::providers::Resolved, Error> {
    let inputs = crate::plan::providers::ProviderInputs {
        upstream,
        layer_links: links,
        config: &terrace.workspace.settings.config,
        layers,
    };
    Ok(crate::plan::providers::resolve(spec, &inputs)?)
}

/// A known provider configuration must be where the stack's resources are; an unknown one (an
/// account this apply creates) leaves the stack's changes known after apply, which the plan
/// says on each change of that provider.
fn check_providers(
    spec: &StackSpec,
    state: Option<&StackState>,
    resolved: crate::plan::providers::Resolved,
    stack: &mut StackPlan,
) -> Result<(), Error> {
    stack.unknown_providers = resolved.unknown.clone();
    for change in &mut stack.changes {
        let provider = crate::provider::registry::provider_prefix(&change.type_name);
        if let Some(origin) = resolved.unknown.get(provider) {
            change.notes.push(format!(
                "the stack's {provider} provider configuration is known after apply \
                 (it reads {origin})"
            ));
        }
    }
    match resolved.all_known() {
        Ok(desired) => crate::plan::providers::check_unmoved(&spec.instance.name, state, &desired)
            .map_err(Error::usage),
        Err(_) => Ok(()),
    }
}

/// Outputs of the stacks `stack` reads: planned in this run by a stack before `before` in plan
/// order, else from state, else unknown.
fn upstream_outputs(
    terrace: &Terrace,
    stack: &str,
    planned: &Planned,
    before: usize,
    states: &States,
) -> BTreeMap<String, ValueMap> {
    let mut upstream = BTreeMap::new();
    for name in terrace.links.reads.get(stack).into_iter().flatten() {
        let earlier = planned
            .get(name)
            .filter(|(at, _)| *at < before)
            .map(|(_, outputs)| outputs);
        let outputs = match (earlier, states.get(name).and_then(Option::as_ref)) {
            (Some(outputs), _) => outputs.clone(),
            (None, Some(state)) => state
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
            (None, None) => {
                let declared = terrace
                    .rendered(name)
                    .map(|r| r.spec.outputs.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                declared
                    .into_iter()
                    .map(|k| (k, Value::Unknown(format!("stack {name} (not applied yet)"))))
                    .collect()
            }
        };
        upstream.insert(name.clone(), outputs);
    }
    upstream
}

/// Sets each stack's `after`: the stacks of this plan that must finish first.
fn link_order(terrace: &Terrace, stacks: &mut [StackPlan], destroy: bool) {
    let in_plan: BTreeSet<String> = stacks.iter().map(|s| s.stack.name.clone()).collect();
    let deps = &terrace.links.depends_on;
    for stack in stacks.iter_mut() {
        let name = &stack.stack.name;
        stack.after = if destroy {
            deps.iter()
                .filter(|(_, d)| d.contains(name))
                .map(|(dependent, _)| dependent.clone())
                .filter(|d| in_plan.contains(d))
                .collect()
        } else {
            deps.get(name)
                .into_iter()
                .flatten()
                .filter(|d| in_plan.contains(*d))
                .cloned()
                .collect()
        };
    }
}
