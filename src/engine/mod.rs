//! The public entry point: open a workspace, list stacks, draw the graph, plan with options,
//! apply a plan with an event stream, read outputs and state. The CLI is a thin layer over
//! this module; everything it does, a library user can do.

mod access;
mod drift;
mod import;
mod locks;
mod moves;
mod part;
mod planner;
mod providers;
mod removed;
pub use crate::select;
mod selection;
mod target;
pub mod validate;

use crate::apply::{self, ApplyContext, ApplySummary};
use crate::config::{self, StackInstance, Workspace};
use crate::diagnostics::Diagnostics;
use crate::events::{Event, EventSink};
use crate::graph::export::{GraphView, NodeView};
use crate::plan::{Plan, PLAN_FORMAT_VERSION};
use crate::provider::limits::Limits;
use crate::provider::Registry;
use crate::render::{Rendered, Renderer};
use crate::secrets::Secrets;
use crate::state::{open_backend, Backend, StackState};
use crate::Error;
use rayon::prelude::*;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

pub use crate::apply::ApplyOptions;
pub use drift::{Drift, Misplaced, RefreshReport};
pub use locks::Unlocked;
pub use moves::Moved;
pub use select::Selector;
pub use validate::StackLinks;

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Which stacks and resources to plan.
    pub selector: Selector,
    /// Read the cloud before diffing (batched); off = diff against state only.
    pub refresh: bool,
    /// Plan the removal of every selected stack's resources.
    pub destroy: bool,
    /// Protected resources (`STACK:RESOURCE`) this plan may delete or replace.
    pub allow_destroy: Vec<String>,
    /// Budgets raised for this run (unset fields keep terrace.yaml's).
    pub raise_budgets: crate::policy::budgets::Budgets,
    /// Where planning reports its progress (`PlanStarted`, `StackRefreshed`, `StackPlanned`,
    /// `PlanFinished`); none by default. Read a bounded sink while the plan runs, or use
    /// [`crate::events::EventSink::collector`] to read the events afterwards.
    pub events: crate::events::EventSink,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            selector: Selector::default(),
            refresh: true,
            destroy: false,
            allow_destroy: Vec::new(),
            raise_budgets: Default::default(),
            events: crate::events::EventSink::none(),
        }
    }
}

/// An opened, validated workspace with its providers and state backend.
pub struct Terrace {
    workspace: Workspace,
    registry: Registry,
    backend: Arc<dyn Backend>,
    limits: Limits,
    /// Rendered stacks in dependency order.
    stacks: Vec<Rendered>,
    /// Stack name → its index in `stacks` (the first of the name).
    stack_index: HashMap<String, usize>,
    policies: crate::policy::rego::Policies,
    links: StackLinks,
    secrets: Option<Arc<Secrets>>,
    /// Why the secrets could not be opened, when the workspace was opened without them
    /// ([`TerraceBuilder::secrets_optional`]).
    secrets_unopened: Option<crate::secrets::SecretError>,
}

/// An apply in progress: its events, and its result.
pub struct ApplyRun {
    /// The events of the apply, in order, through a bounded channel
    /// ([`crate::events::EventSink`]): read them as they come — a receiver kept but not read
    /// holds the apply back once [`crate::events::CHANNEL_CAPACITY`] events wait.
    pub events: Receiver<Event>,
    handle: JoinHandle<Result<ApplySummary, Error>>,
}

impl ApplyRun {
    /// Waits for the apply to end: its summary, or [`Error::StalePlan`] when the plan was
    /// refused before anything ran.
    /// The events not read yet are dropped (so an apply is never held back by them).
    pub async fn finish(self) -> Result<ApplySummary, Error> {
        drop(self.events);
        self.handle
            .await
            .map_err(|e| Error::Apply(format!("apply task failed: {e}")))?
    }
}

/// Opens a workspace from [`config::Sources`] ([`Terrace::builder`]): the library writes
/// nothing into the sources' directory; state goes to the backend given, or to the one
/// `terrace.yaml` names (a relative `file://` path, the default, needs a writable workspace
/// directory and is refused otherwise).
pub struct TerraceBuilder<'a, P> {
    sources: config::Sources,
    providers: P,
    secrets: Option<SecretsOpener<'a>>,
    secrets_optional: bool,
    backend: Option<Arc<dyn Backend>>,
}

type SecretsOpener<'a> = Box<dyn FnOnce(&Workspace) -> Result<Option<Arc<Secrets>>, Error> + 'a>;

impl<'a, P> TerraceBuilder<'a, P>
where
    P: FnOnce(&Workspace) -> Result<Registry, Error>,
{
    /// The workspace's secrets, opened from the loaded settings (e.g.
    /// `terrace_providers::open_secrets`). Default: the passphrase provider
    /// ([`crate::secrets::open_workspace`], `TERRACE_PASSPHRASE`).
    pub fn secrets_with(
        mut self,
        secrets: impl FnOnce(&Workspace) -> Result<Option<Arc<Secrets>>, Error> + 'a,
    ) -> Self {
        self.secrets = Some(Box::new(secrets));
        self
    }

    /// These secrets (a key the caller holds), whatever `secrets:` says.
    pub fn secrets(self, secrets: Option<Arc<Secrets>>) -> Self {
        self.secrets_with(move |_| Ok(secrets))
    }

    /// Opens the workspace even when its secrets cannot be opened (no `TERRACE_PASSPHRASE`, a
    /// KMS key out of reach): encrypted `config:` values stay sealed, and what needs them —
    /// plan, apply, refresh, drift, import, part of a plan — refuses with the reason the
    /// secrets could not be opened ([`Error::Secrets`]). For work that reads no secret value:
    /// listing stacks, the graph, state and outputs (Pulumi's `stack ls` needs no passphrase
    /// either). Default: opening fails without the secrets.
    pub fn secrets_optional(mut self) -> Self {
        self.secrets_optional = true;
        self
    }

    /// Keeps state in this backend instead of the one `terrace.yaml` names.
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Loads, renders and validates the workspace. Groups with input errors are left out
    /// (their errors come back when a selection reaches them, see [`Terrace::stacks`]); any
    /// other input error is [`Error::Invalid`] naming file, line and column.
    pub fn open(self) -> Result<Terrace, Error> {
        let mut workspace = config::load_sources(self.sources).map_err(Error::Invalid)?;
        let registry = (self.providers)(&workspace)?;
        for (group, problems) in validate::check_groups(&workspace, &registry) {
            workspace.broken.entry(group).or_default().extend(problems);
        }
        let broken = workspace.broken.clone();
        workspace.groups.retain(|g| !broken.contains_key(&g.name));
        let opened = match self.secrets {
            Some(open) => open(&workspace),
            None => crate::secrets::open_workspace(&workspace)
                .map(|s| s.map(Arc::new))
                .map_err(Error::from),
        };
        match opened {
            Ok(secrets) => Terrace::from_workspace(workspace, registry, secrets, self.backend),
            Err(Error::Secrets(why)) if self.secrets_optional => {
                crate::secrets::seal_config_unopened(&mut workspace.settings.config);
                let mut terrace = Terrace::from_workspace(workspace, registry, None, self.backend)?;
                terrace.secrets_unopened = Some(why);
                Ok(terrace)
            }
            Err(err) => Err(err),
        }
    }
}

/// The backend `terrace.yaml` names; a relative `file://` one (the default) only for a
/// workspace directory the library may write into.
fn default_backend(workspace: &Workspace, registry: &Registry) -> Result<Arc<dyn Backend>, Error> {
    let url = workspace.settings.backend.as_deref();
    let relative_file = url
        .unwrap_or("file://.terrace/state")
        .strip_prefix("file://")
        .is_some_and(|p| !Path::new(p).is_absolute());
    if relative_file && !workspace.writable {
        return Err(Error::usage(format!(
            "the workspace is given in memory or as a read-only directory, so its state cannot \
             be kept in `{}`: give a backend (`Terrace::builder(..).backend(..)`) or name an \
             s3:// or absolute file:// backend in terrace.yaml",
            url.unwrap_or("file://.terrace/state")
        )));
    }
    Ok(open_backend(url, &workspace.root, registry)?)
}

impl Terrace {
    /// Loads, renders and validates the workspace at `root` with the given providers.
    pub fn open(root: &Path, registry: Registry) -> Result<Terrace, Error> {
        Terrace::open_with(root, |_| Ok(registry))
    }

    /// Like [`Terrace::open`], with providers built from the loaded workspace's settings.
    /// Secrets come from the passphrase provider ([`crate::secrets::open_workspace`]).
    pub fn open_with(
        root: &Path,
        providers: impl FnOnce(&Workspace) -> Result<Registry, Error>,
    ) -> Result<Terrace, Error> {
        Terrace::open_with_secrets(root, providers, |workspace| {
            Ok(crate::secrets::open_workspace(workspace)?.map(Arc::new))
        })
    }

    /// Like [`Terrace::open_with`], with the workspace's secrets opened by `secrets` (e.g. a
    /// key decrypted by a KMS); `None` for a workspace without secrets.
    pub fn open_with_secrets(
        root: &Path,
        providers: impl FnOnce(&Workspace) -> Result<Registry, Error>,
        secrets: impl FnOnce(&Workspace) -> Result<Option<Arc<Secrets>>, Error>,
    ) -> Result<Terrace, Error> {
        Terrace::builder(config::Sources::workspace(root), providers)
            .secrets_with(secrets)
            .open()
    }

    /// Opens a workspace from its [`config::Sources`] — files in memory, a read-only directory,
    /// or both — with providers built from the loaded settings. See [`TerraceBuilder`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), terrace::Error> {
    /// use terrace::config::Sources;
    /// use terrace::engine::Terrace;
    /// let sources = Sources::read_only("/opt/reference")
    ///     .group_yaml("qa-7", "residency: EU\nreplicas:\n  - {name: a, cloud: aws, region: eu-west-1}\n");
    /// let backend = std::sync::Arc::new(terrace::state::memory::MemoryBackend::new());
    /// let terrace = Terrace::builder(sources, |_| Ok(terrace::provider::Registry::new()))
    ///     .backend(backend)
    ///     .open()?;
    /// # Ok(()) }
    /// ```
    pub fn builder<'a, P>(sources: config::Sources, providers: P) -> TerraceBuilder<'a, P>
    where
        P: FnOnce(&Workspace) -> Result<Registry, Error>,
    {
        TerraceBuilder {
            sources,
            providers,
            secrets: None,
            secrets_optional: false,
            backend: None,
        }
    }

    /// Renders and validates an already loaded workspace (which the caller may have changed:
    /// other groups, other config values), with these providers and secrets. `backend: None`
    /// opens the state backend `terrace.yaml` names; a backend given is used instead (e.g. an
    /// in-memory one for `terrace test`).
    pub fn from_workspace(
        mut workspace: Workspace,
        registry: Registry,
        secrets: Option<Arc<Secrets>>,
        backend: Option<Arc<dyn Backend>>,
    ) -> Result<Terrace, Error> {
        crate::secrets::seal_config(&mut workspace.settings.config, secrets.as_deref())?;
        // Groups the caller put in (a workspace test's) get the checks a group file gets.
        let group_problems: Vec<_> = validate::check_groups(&workspace, &registry)
            .into_values()
            .flatten()
            .collect();
        if !group_problems.is_empty() {
            return Err(Error::Invalid(Diagnostics(group_problems)));
        }
        let renderer = Renderer::new(&workspace).map_err(|d| Error::Invalid(Diagnostics(d)))?;
        // Stacks render independently: on all cores, results kept in the workspace's order.
        let outcomes: Vec<_> = workspace
            .stacks()
            .par_iter()
            .map(|stack| renderer.render(&workspace, stack))
            .collect();
        let mut rendered = Vec::new();
        let mut problems = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(r) => rendered.push(r),
                Err(mut d) => problems.append(&mut d),
            }
        }
        if !problems.is_empty() {
            let merged = crate::diagnostics::merge_rendered(problems);
            return Err(Error::Invalid(Diagnostics(merged)));
        }
        let links = validate::validate(&workspace, &registry, &rendered)
            .map_err(|d| Error::Invalid(Diagnostics(d)))?;
        let instances: Vec<StackInstance> =
            rendered.iter().map(|r| r.spec.instance.clone()).collect();
        let problems = crate::access::validate(&workspace, &instances);
        if !problems.is_empty() {
            return Err(Error::Invalid(Diagnostics(problems)));
        }
        rendered.par_iter_mut().for_each(|stack| {
            // Not yet shared: `make_mut` changes the spec in place.
            let spec = Arc::make_mut(&mut stack.spec);
            default_regions(spec, &registry);
            crate::render::keep_used_providers(spec);
        });
        let mut by_name: BTreeMap<String, Rendered> = rendered
            .into_iter()
            .map(|r| (r.spec.instance.name.clone(), r))
            .collect();
        let stacks: Vec<Rendered> = links
            .order
            .iter()
            .filter_map(|n| by_name.remove(n))
            .collect();
        let policies = crate::policy::rego::Policies::from_files(workspace.policy_files())
            .map_err(|d| Error::Invalid(Diagnostics(d)))?
            .with_groups(&workspace.groups);
        let backend = match backend {
            Some(backend) => backend,
            None => default_backend(&workspace, &registry)?,
        };
        let limits = Limits::new(&registry, &workspace.settings);
        let mut stack_index = HashMap::new();
        for (index, stack) in stacks.iter().enumerate() {
            stack_index
                .entry(stack.spec.instance.name.clone())
                .or_insert(index);
        }
        Ok(Terrace {
            workspace,
            registry,
            backend,
            limits,
            stacks,
            stack_index,
            policies,
            links,
            secrets,
            secrets_unopened: None,
        })
    }

    /// Refuses work that needs the workspace's secrets when it was opened without them.
    pub(crate) fn needs_secrets(&self) -> Result<(), Error> {
        match &self.secrets_unopened {
            Some(why) => Err(Error::Secrets(why.clone())),
            None => Ok(()),
        }
    }

    /// The loaded workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The workspace's Rego policies (`policies/*.rego`).
    pub fn policies(&self) -> &crate::policy::rego::Policies {
        &self.policies
    }

    /// The providers.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The workspace's secrets, if it has any.
    pub fn secrets(&self) -> Option<&Arc<Secrets>> {
        self.secrets.as_ref()
    }

    /// The state backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Uses another state backend than the one `terrace.yaml` names (a control plane's own
    /// store, or an instrumented one).
    pub fn set_backend(&mut self, backend: Arc<dyn Backend>) {
        self.backend = backend;
    }

    /// The validated stack graph.
    pub fn links(&self) -> &StackLinks {
        &self.links
    }

    /// Selected configured stacks, in dependency order. The selector is checked against the
    /// configured stacks only: [`Terrace::select`] also knows the stacks left in state after
    /// their configuration was removed.
    pub fn stacks(&self, selector: &Selector) -> Result<Vec<&StackInstance>, Error> {
        self.check_broken(selector)?;
        selector.check(&self.workspace, &self.known(&[], &BTreeMap::new()))?;
        Ok(self
            .stacks
            .iter()
            .map(|r| &r.spec.instance)
            .filter(|s| selector.selects(s))
            .collect())
    }

    /// The rendered desired content of a stack.
    pub fn rendered(&self, stack: &str) -> Option<&Rendered> {
        self.stack_index
            .get(stack)
            .map(|&index| &self.stacks[index])
    }

    /// The stack graph of the selected stacks, coloured by a plan's actions if given. A stack
    /// whose `links` output is a list of `{from, to, kind}` (two stack names and what joins
    /// them, as the mesh layer declares its private paths) adds those links between selected
    /// stacks; items whose ends are not both selected, or not plain strings, are left out.
    pub fn graph(&self, selector: &Selector, plan: Option<&Plan>) -> Result<GraphView, Error> {
        let selected = self.stacks(selector)?;
        let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        let nodes = selected
            .iter()
            .map(|s| NodeView {
                id: s.name.clone(),
                cluster: s.layer.clone(),
                action: plan
                    .and_then(|p| p.stack(&s.name))
                    .map(planner::stack_action),
            })
            .collect();
        let edges = names
            .iter()
            .flat_map(|n| {
                self.links
                    .depends_on
                    .get(*n)
                    .into_iter()
                    .flatten()
                    .filter(|d| names.contains(&d.as_str()))
                    .map(move |d| (d.clone(), n.to_string()))
            })
            .collect();
        let links = names
            .iter()
            .filter_map(|n| Some((n, self.rendered(n)?.spec.outputs.get("links")?)))
            .flat_map(|(n, links)| declared_links(n, links))
            .filter(|l| names.contains(&l.from.as_str()) && names.contains(&l.to.as_str()))
            .collect();
        Ok(GraphView {
            nodes,
            edges,
            links,
        })
    }

    /// The resource graph inside each selected stack: nodes `stack:resource`, clustered by
    /// stack, edges from references and `depends_on`; coloured by a plan's actions if given.
    pub fn resource_graph(
        &self,
        selector: &Selector,
        plan: Option<&Plan>,
    ) -> Result<GraphView, Error> {
        let is_layer = |name: &str| self.workspace.layer(name).is_some();
        let mut view = GraphView {
            nodes: Vec::new(),
            edges: Vec::new(),
            links: Vec::new(),
        };
        for stack in self.stacks(selector)? {
            let Some(rendered) = self.rendered(&stack.name) else {
                continue;
            };
            let (order, deps) = rendered.resource_order(&is_layer)?;
            let planned = plan.and_then(|p| p.stack(&stack.name));
            for resource in order {
                let action = planned
                    .and_then(|p| p.changes.iter().find(|c| &c.name == resource))
                    .map(|c| c.action.as_str().to_string());
                let id = format!("{}:{resource}", stack.name);
                for dep in deps.get(resource).into_iter().flatten() {
                    view.edges
                        .push((format!("{}:{dep}", stack.name), id.clone()));
                }
                view.nodes.push(NodeView {
                    id,
                    cluster: stack.name.clone(),
                    action,
                });
            }
        }
        Ok(view)
    }

    /// Plans the selected stacks. Performs no cloud writes. A plan that policy refuses is
    /// [`Error::Refused`] (see [`Terrace::plan_outcome`] for the plan with its refusals).
    pub async fn plan(&self, options: &PlanOptions) -> Result<Plan, Error> {
        self.plan_outcome(options).await?.into_result()
    }

    /// Plans like [`Terrace::plan`], returning a plan that policy refuses too, with the
    /// refusals beside it (to show what was refused). Every read (states, refresh, removed
    /// stacks) happens first; planning itself is synchronous and changes nothing.
    pub async fn plan_outcome(
        &self,
        options: &PlanOptions,
    ) -> Result<crate::plan::PlanOutcome, Error> {
        self.needs_secrets()?;
        planner::plan(self, options).await
    }

    /// Checks that every stack's state is still the one the plan saw: [`Error::StalePlan`]
    /// naming the first stack whose serial moved (a stack locked right now is skipped: its run
    /// waits for the lock, then checks under it). [`Terrace::apply`] and
    /// [`Terrace::apply_with`] make this check themselves before anything runs; call it to
    /// refuse a stale saved plan earlier, e.g. before showing it.
    pub async fn check_fresh(&self, plan: &Plan) -> Result<(), Error> {
        self.check_plan(plan)?;
        check_serials(self.backend.as_ref(), plan).await
    }

    /// The apply options this workspace asks for: the defaults with its `concurrency:` and
    /// `consistency:`.
    pub fn apply_options(&self) -> ApplyOptions {
        let settings = &self.workspace.settings;
        ApplyOptions {
            consistency_window: settings.consistency.window(),
            ..ApplyOptions::with_concurrency(&settings.concurrency)
        }
    }

    /// Applies a plan (from [`Terrace::plan`] or a saved file), streaming events. Before
    /// anything runs — no move, no lock, no provider call — the plan is checked as
    /// [`Terrace::check_fresh`] does: a stale plan ends the run with [`Error::StalePlan`]
    /// from [`ApplyRun::finish`], with no events. A plan of another workspace or format
    /// version is refused here.
    pub fn apply(&self, plan: Plan, options: ApplyOptions) -> Result<ApplyRun, Error> {
        let context = self.apply_context(&plan, options)?;
        let (sink, events) = EventSink::channel();
        let removed = self.removed_in(&plan);
        let backend = self.backend.clone();
        let handle = tokio::spawn(async move {
            check_serials(backend.as_ref(), &plan).await?;
            let summary = apply::execute(context, plan, sink).await;
            removed::retire(&backend, &removed, &summary).await;
            Ok(summary)
        });
        Ok(ApplyRun { events, handle })
    }

    /// Applies a plan and waits for it, sending events to `sink`. A stale plan is refused
    /// with [`Error::StalePlan`] before anything runs, as in [`Terrace::apply`]. The apply
    /// waits for room in a bounded sink: read it from another task while this runs, or pass
    /// an [`crate::events::EventSink::collector`] to read the events afterwards.
    pub async fn apply_with(
        &self,
        plan: Plan,
        options: ApplyOptions,
        sink: EventSink,
    ) -> Result<ApplySummary, Error> {
        let context = self.apply_context(&plan, options)?;
        check_serials(self.backend.as_ref(), &plan).await?;
        let removed = self.removed_in(&plan);
        let summary = apply::execute(context, plan, sink).await;
        removed::retire(&self.backend, &removed, &summary).await;
        Ok(summary)
    }

    /// The stacks of a plan that the configuration no longer has.
    fn removed_in(&self, plan: &Plan) -> Vec<String> {
        plan.stacks
            .iter()
            .map(|s| s.stack.name.clone())
            .filter(|name| self.rendered(name).is_none())
            .collect()
    }

    fn apply_context(&self, plan: &Plan, options: ApplyOptions) -> Result<ApplyContext, Error> {
        self.needs_secrets()?;
        self.check_plan(plan)?;
        Ok(ApplyContext {
            workdir: self.workspace.writable.then(|| self.workspace.root.clone()),
            workspace: self.workspace.name.clone(),
            registry: self.registry.clone(),
            backend: self.backend.clone(),
            limits: self.limits.clone(),
            options,
            secrets: self.secrets.clone(),
        })
    }

    fn check_plan(&self, plan: &Plan) -> Result<(), Error> {
        if !plan.refusals.is_empty() {
            // A refused plan is returned to be shown (`plan_outcome`), never applied.
            return Err(Error::Refused {
                reasons: plan.refusals.clone(),
            });
        }
        if plan.format_version != PLAN_FORMAT_VERSION {
            return Err(Error::usage(format!(
                "the plan has format version {}, this terrace reads version {PLAN_FORMAT_VERSION}; plan again",
                plan.format_version
            )));
        }
        if plan.workspace != self.workspace.name {
            return Err(Error::usage(format!(
                "the plan was made for workspace `{}`, not `{}`",
                plan.workspace, self.workspace.name
            )));
        }
        Ok(())
    }

    /// A stack's state, if it has one.
    pub async fn state(&self, stack: &str) -> Result<Option<StackState>, Error> {
        Ok(self.backend.load(stack).await?)
    }

    /// The outputs of a stack as last applied.
    pub async fn outputs(&self, stack: &str) -> Result<BTreeMap<String, Json>, Error> {
        let state = self.backend.load(stack).await?;
        if state.is_none() && self.rendered(stack).is_none() {
            let names = self.stacks.iter().map(|r| r.spec.instance.name.as_str());
            return Err(Error::usage(format!(
                "no stack {stack}; {}",
                crate::diagnostics::suggest(stack, names)
            )));
        }
        Ok(state.map(|s| s.outputs).unwrap_or_default())
    }
}

/// A resource of a regional type without `region:` lives in its stack's replica region;
/// resources of global types (a GCP network, an AWS account) live in none.
fn default_regions(spec: &mut crate::spec::StackSpec, registry: &Registry) {
    let default = &spec.instance.region;
    for resource in spec.resources.values_mut() {
        if resource.region.is_none()
            && registry
                .schema(&resource.type_name)
                .is_some_and(|s| s.regional)
        {
            resource.region = default.clone();
        }
    }
}

/// The links a stack's `links` output declares: items `{from, to, kind}` of plain strings.
fn declared_links(stack: &str, links: &serde_json::Value) -> Vec<crate::graph::export::LinkView> {
    let text = |item: &serde_json::Value, key: &str| item.get(key)?.as_str().map(str::to_string);
    links
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            Some(crate::graph::export::LinkView {
                from: text(item, "from")?,
                to: text(item, "to")?,
                kind: text(item, "kind")?,
                by: stack.to_string(),
            })
        })
        .collect()
}

/// The freshness check of [`Terrace::check_fresh`], on a backend: each stack's stored serial
/// is the one the plan was made from.
async fn check_serials(backend: &dyn Backend, plan: &Plan) -> Result<(), Error> {
    for stack in &plan.stacks {
        if backend.lock_info(&stack.stack.name).await?.is_some() {
            continue; // being changed right now: the run waits for the lock, then checks
        }
        let current = backend.load(&stack.stack.name).await?.map(|s| s.serial);
        if current != stack.serial {
            let show = |s: Option<u64>| s.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
            return Err(Error::StalePlan {
                stack: stack.stack.name.clone(),
                reason: format!(
                    "its state moved since the plan (serial {} → {})",
                    show(stack.serial),
                    show(current)
                ),
            });
        }
    }
    Ok(())
}

/// Defined here, above the plan data, because it speaks the library's [`Error`].
impl crate::plan::PlanOutcome {
    /// The plan when nothing refuses it, else [`Error::Refused`] with the reasons.
    pub fn into_result(self) -> Result<Plan, Error> {
        if self.refusals.is_empty() {
            Ok(self.plan)
        } else {
            Err(Error::Refused {
                reasons: self.refusals,
            })
        }
    }
}
