//! Validation of rendered stacks against provider schemas and each other: resource types and
//! fields (with the closest valid name), required and computed fields, value shapes, regions,
//! `depends_on`, references (resource attributes, upstream layer and stack outputs, config),
//! resource cycles, and the stack graph. Every problem names file, line and column.

use crate::config::locations::Locations;
use crate::config::yaml::Seg;
use crate::config::{StackInstance, Workspace};
use crate::diagnostics::{suggest, Diagnostic, Location};
use crate::graph::topo_order;
use crate::plan::stack::StackPlanError;
use crate::provider::Registry;
use crate::render::Rendered;
use crate::value::refs::{self, Reference};
use rayon::prelude::*;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The validated stack graph: every stack's upstream stacks and layer links.
#[derive(Debug, Clone, Default)]
pub struct StackLinks {
    /// Stack → stacks it depends on (layer dependencies and references).
    pub depends_on: BTreeMap<String, BTreeSet<String>>,
    /// Stack → stacks whose outputs it reads.
    pub reads: BTreeMap<String, BTreeSet<String>>,
    /// Stack → (stack it reads → the output keys it reads there).
    pub read_keys: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Stack → (layer → the stack `${layer.outputs.*}` means).
    pub layer_links: BTreeMap<String, BTreeMap<String, String>>,
    /// Stacks in dependency order.
    pub order: Vec<String>,
}

impl StackLinks {
    /// Adds the links of other stacks.
    fn extend(&mut self, other: StackLinks) {
        for (stack, targets) in other.depends_on {
            self.depends_on.entry(stack).or_default().extend(targets);
        }
        for (stack, targets) in other.reads {
            self.reads.entry(stack).or_default().extend(targets);
        }
        for (stack, sources) in other.read_keys {
            let mine = self.read_keys.entry(stack).or_default();
            for (source, keys) in sources {
                mine.entry(source).or_default().extend(keys);
            }
        }
        for (stack, layers) in other.layer_links {
            self.layer_links.entry(stack).or_default().extend(layers);
        }
    }
}

struct Checker<'a> {
    workspace: &'a Workspace,
    registry: &'a Registry,
    stacks: &'a [Rendered],
    by_name: HashMap<&'a str, &'a Rendered>,
    index: StackIndex<'a>,
    locations: Locations,
}

/// Validates every rendered stack; returns the stack graph.
pub fn validate(
    workspace: &Workspace,
    registry: &Registry,
    stacks: &[Rendered],
) -> Result<StackLinks, Vec<Diagnostic>> {
    let by_name = stacks
        .iter()
        .map(|r| (r.spec.instance.name.as_str(), r))
        .collect();
    let checker = Checker {
        workspace,
        registry,
        stacks,
        by_name,
        index: StackIndex::new(stacks.iter().map(|r| &r.spec.instance)),
        locations: Locations::load(&workspace.settings.regions),
    };
    // Each stack is checked on its own (on all cores); its links are its own entries.
    let checked: Vec<(Vec<Diagnostic>, StackLinks)> = stacks
        .par_iter()
        .map(|rendered| checker.check_stack(rendered))
        .collect();
    let mut links = StackLinks::default();
    let mut problems = Vec::new();
    for (mut found, stack_links) in checked {
        problems.append(&mut found);
        links.extend(stack_links);
    }
    if !problems.is_empty() {
        return Err(merge(problems));
    }
    checker.link_layers(&mut links);
    checker.order(&mut links)?;
    Ok(links)
}

/// One diagnostic per template problem, however many stacks render that template.
fn merge(problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    crate::diagnostics::merge_rendered(problems)
}

fn cycle_diagnostic(rendered: &Rendered, err: StackPlanError) -> Diagnostic {
    let template = rendered
        .spec
        .resources
        .values()
        .next()
        .map(|r| r.template.clone())
        .unwrap_or_default();
    let location = rendered.locate(&template, &[Seg::Key("resources")]);
    Diagnostic::new(location, err.to_string())
        .help("remove one of these references or `depends_on` entries")
}

/// Checks of the group files that need the providers: each replica's cloud is a provider, and
/// its region lies in the group's jurisdiction. Returns the problems by group, so that a group
/// with errors blocks only the commands that reach it.
pub fn check_groups(
    workspace: &Workspace,
    registry: &Registry,
) -> BTreeMap<String, Vec<Diagnostic>> {
    let mut checker = GroupChecker {
        workspace,
        registry,
        problems: Vec::new(),
    };
    checker.check_clouds();
    checker.check_residency();
    let mut by_group: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    for (group, problem) in checker.problems {
        by_group.entry(group).or_default().push(problem);
    }
    by_group
}

struct GroupChecker<'a> {
    workspace: &'a Workspace,
    registry: &'a Registry,
    /// (group, problem)
    problems: Vec<(String, Diagnostic)>,
}

impl GroupChecker<'_> {
    fn check_clouds(&mut self) {
        let known: Vec<&str> = self.registry.provider_names().collect();
        for group in &self.workspace.groups {
            let text = self.workspace.text(&group.file);
            for (i, replica) in group.replicas.iter().enumerate() {
                if !known.contains(&replica.cloud.as_str()) {
                    let at = group.locate(
                        text,
                        &[Seg::Key("replicas"), Seg::Index(i), Seg::Key("cloud")],
                    );
                    self.problems.push((
                        group.name.clone(),
                        Diagnostic::new(
                            at,
                            format!("unknown cloud `{}`: no such provider", replica.cloud),
                        )
                        .help(suggest(&replica.cloud, known.iter().copied())),
                    ));
                }
            }
        }
    }

    /// A group's jurisdiction must be known, and its replicas' regions and zones inside it.
    fn check_residency(&mut self) {
        let data =
            crate::policy::residency::Jurisdictions::load(&self.workspace.settings.jurisdictions);
        for group in &self.workspace.groups {
            let Some(jurisdiction) = &group.residency else {
                continue;
            };
            let text = self.workspace.text(&group.file);
            let at = |path: &[Seg]| group.locate(text, path);
            if !data.knows(jurisdiction) {
                self.problems.push((
                    group.name.clone(),
                    Diagnostic::new(
                        at(&[Seg::Key("residency")]),
                        format!("unknown jurisdiction `{jurisdiction}`"),
                    )
                    .help(suggest(jurisdiction, data.names())),
                ));
                continue;
            }
            for (i, replica) in group.replicas.iter().enumerate() {
                let allowed = data.regions_of(jurisdiction, &replica.cloud).join(", ");
                if !data.allows_region(jurisdiction, &replica.cloud, &replica.region) {
                    self.problems.push((
                    group.name.clone(),
                        Diagnostic::new(
                            at(&[Seg::Key("replicas"), Seg::Index(i), Seg::Key("region")]),
                            format!(
                                "replica `{}` is in {} region {}, outside the group's jurisdiction {jurisdiction}",
                                replica.name, replica.cloud, replica.region
                            ),
                        )
                        .help(if allowed.is_empty() {
                            format!("no {} region is known in {jurisdiction}: add some under `jurisdictions:` in terrace.yaml", replica.cloud)
                        } else {
                            format!("use one of: {allowed}")
                        }),
                    ));
                    continue;
                }
                for zone in replica
                    .zones
                    .iter()
                    .filter(|z| !data.allows_zone(jurisdiction, &replica.cloud, z))
                {
                    self.problems.push((
                        group.name.clone(),
                        Diagnostic::new(
                            at(&[Seg::Key("replicas"), Seg::Index(i), Seg::Key("zones")]),
                            format!(
                                "zone {zone} of replica `{}` is not in region {}",
                                replica.name, replica.region
                            ),
                        )
                        .help(format!(
                            "zones of {} start with `{}`",
                            replica.region, replica.region
                        )),
                    ));
                }
            }
        }
    }
}

impl Checker<'_> {
    /// The problems of one stack, and its links (when it has none, also its resource order,
    /// for a cycle).
    fn check_stack(&self, rendered: &Rendered) -> (Vec<Diagnostic>, StackLinks) {
        let mut problems = Vec::new();
        let mut links = StackLinks::default();
        self.check_resources(rendered, &mut problems);
        self.check_references(rendered, &mut links, &mut problems);
        if problems.is_empty() {
            if let Err(err) = rendered.resource_order(&|n| self.workspace.layer(n).is_some()) {
                problems.push(cycle_diagnostic(rendered, err));
            }
        }
        (problems, links)
    }

    fn check_resources(&self, rendered: &Rendered, problems: &mut Vec<Diagnostic>) {
        for (name, resource) in &rendered.spec.resources {
            let at = |path: &[Seg]| {
                let mut full = vec![Seg::Key("resources"), Seg::Key(name)];
                full.extend_from_slice(path);
                rendered.locate(&resource.template, &full)
            };
            let Some(schema) = self.registry.schema(&resource.type_name) else {
                problems.push(
                    Diagnostic::new(
                        at(&[Seg::Key("type")]),
                        format!("unknown resource type `{}`", resource.type_name),
                    )
                    .help(suggest(&resource.type_name, self.registry.type_names())),
                );
                continue;
            };
            for (field, value) in &resource.properties {
                // Located only when there is a problem to report: locating scans the text.
                let location = || at(&[Seg::Key("properties"), Seg::Key(field)]);
                match schema.field(field) {
                    None => problems.push(
                        Diagnostic::new(
                            location(),
                            format!("`{}` has no field `{field}`", resource.type_name),
                        )
                        .help(suggest(field, schema.input_names())),
                    ),
                    Some(f) if f.computed => problems.push(
                        Diagnostic::new(
                            location(),
                            format!(
                                "`{field}` of `{}` is computed by the cloud and cannot be set",
                                resource.type_name
                            ),
                        )
                        .help(format!(
                            "remove it; read it elsewhere as `${{{name}.{field}}}`"
                        )),
                    ),
                    Some(f) => {
                        if let Some((problem, help)) = f.kind.problem(value) {
                            let gap = if problem.starts_with("must ") {
                                " "
                            } else {
                                ": "
                            };
                            problems.push(
                                Diagnostic::new(location(), format!("`{field}`{gap}{problem}"))
                                    .help(help),
                            );
                        }
                    }
                }
            }
            for field in schema
                .fields
                .iter()
                .filter(|f| f.required && !resource.properties.contains_key(&f.name))
            {
                problems.push(
                    Diagnostic::new(
                        at(&[Seg::Key("properties")]),
                        format!("`{}` requires field `{}`", resource.type_name, field.name),
                    )
                    .help(format!("add `{}:` under properties", field.name)),
                );
            }
            if let Some(region) = &resource.region {
                let cloud = resource.type_name.split(':').next().unwrap_or_default();
                if let Err(unknown) = self.locations.check_region(cloud, region) {
                    problems.push(
                        Diagnostic::new(at(&[Seg::Key("region")]), unknown.message)
                            .help(unknown.help),
                    );
                }
            }
            if !schema.regional && resource.region.is_some() {
                problems.push(
                    Diagnostic::new(
                        at(&[Seg::Key("region")]),
                        format!(
                            "`{}` is global: a `{name}` has no region",
                            resource.type_name
                        ),
                    )
                    .help("remove `region:` from this resource"),
                );
            }
            let stack_region = rendered.spec.instance.region.as_ref();
            if schema.regional && resource.region.is_none() && stack_region.is_none() {
                problems.push(
                    Diagnostic::new(
                        at(&[]),
                        format!(
                            "`{name}` ({}) lives in a region, but none is known",
                            resource.type_name
                        ),
                    )
                    .help("set `region:` on the resource, or declare it in a per-replica layer"),
                );
            }
            for (i, dep) in resource.depends_on.iter().enumerate() {
                if !rendered.spec.resources.contains_key(dep) {
                    problems.push(
                        Diagnostic::new(
                            at(&[Seg::Key("options"), Seg::Key("depends_on"), Seg::Index(i)]),
                            format!("`{name}` depends on unknown resource `{dep}`"),
                        )
                        .help(suggest(
                            dep,
                            rendered.spec.resources.keys().map(String::as_str),
                        )),
                    );
                }
            }
        }
    }

    /// Checks every reference of a stack and records the stacks it reads.
    fn check_references(
        &self,
        rendered: &Rendered,
        links: &mut StackLinks,
        problems: &mut Vec<Diagnostic>,
    ) {
        let stack = &rendered.spec.instance;
        let mut values: Vec<(Site, &Json)> = Vec::new();
        for (name, resource) in &rendered.spec.resources {
            for (field, value) in resource
                .properties
                .iter()
                .filter(|(_, v)| contains_reference(v))
            {
                values.push((
                    Site::Property {
                        template: &resource.template,
                        resource: name,
                        field,
                    },
                    value,
                ));
            }
        }
        for (name, value) in rendered
            .spec
            .outputs
            .iter()
            .filter(|(_, v)| contains_reference(v))
        {
            values.push((Site::Output { name }, value));
        }
        let used = crate::render::used_providers(&rendered.spec);
        for (provider, config) in &rendered.spec.providers {
            if self.registry.provider(provider).is_none() {
                let site = Site::Provider { provider, key: "" };
                problems.push(
                    Diagnostic::new(
                        site.locate(rendered),
                        format!("`providers:` names `{provider}`, which is not a provider"),
                    )
                    .help(suggest(provider, self.registry.provider_names())),
                );
                continue;
            }
            if !used.contains(provider.as_str()) {
                continue; // configures the layer's other stacks
            }
            for (key, value) in config.iter().filter(|(_, v)| contains_reference(v)) {
                values.push((Site::Provider { provider, key }, value));
            }
        }
        let is_layer = |n: &str| self.workspace.layer(n).is_some();
        for (site, value) in values {
            let mut found = Vec::new();
            if let Err(err) = refs::collect(value, &is_layer, &mut found) {
                problems.push(
                    Diagnostic::new(
                        site.locate(rendered),
                        format!("bad reference: {}", err.message),
                    )
                    .help(format!("in `{}`", err.text)),
                );
                continue;
            }
            for reference in found {
                match self.check_reference(rendered, &reference) {
                    Ok(Some(target)) => {
                        links
                            .reads
                            .entry(stack.name.clone())
                            .or_default()
                            .insert(target.clone());
                        links
                            .depends_on
                            .entry(stack.name.clone())
                            .or_default()
                            .insert(target.clone());
                        if let Reference::LayerOutput { key, .. }
                        | Reference::StackOutput { key, .. } = &reference
                        {
                            links
                                .read_keys
                                .entry(stack.name.clone())
                                .or_default()
                                .entry(target.clone())
                                .or_default()
                                .insert(key.clone());
                        }
                        if let Reference::LayerOutput { layer, .. } = &reference {
                            links
                                .layer_links
                                .entry(stack.name.clone())
                                .or_default()
                                .insert(layer.clone(), target);
                        }
                    }
                    Ok(None) => {}
                    Err((message, help)) => problems.push(
                        Diagnostic::new(
                            site.locate(rendered),
                            format!("bad reference `${{{reference}}}`: {message}"),
                        )
                        .help(help),
                    ),
                }
            }
        }
    }

    /// `Ok(Some(stack))` for a reference to another stack's output.
    fn check_reference(
        &self,
        rendered: &Rendered,
        reference: &Reference,
    ) -> Result<Option<String>, (String, String)> {
        let stack = &rendered.spec.instance;
        match reference {
            Reference::Resource { name, path } => {
                let Some(resource) = rendered.spec.resources.get(name) else {
                    let mut candidates: Vec<&str> =
                        rendered.spec.resources.keys().map(String::as_str).collect();
                    candidates.extend(self.workspace.layers.iter().map(|l| l.name.as_str()));
                    return Err((
                        format!("no resource `{name}` in stack {}", stack.name),
                        suggest(name, candidates),
                    ));
                };
                let attr = &path[0];
                if let Some(schema) = self.registry.schema(&resource.type_name) {
                    if !schema.attribute_names().any(|a| a == attr) {
                        return Err((
                            format!("`{}` has no attribute `{attr}`", resource.type_name),
                            suggest(attr, schema.attribute_names()),
                        ));
                    }
                }
                Ok(None)
            }
            Reference::LayerOutput { layer, key, .. } => {
                if !self.workspace.upstream_layers(&stack.layer).contains(layer) {
                    return Err((
                        format!("layer `{}` does not depend on layer `{layer}`", stack.layer),
                        format!(
                            "add `{layer}` to depends_on in stacks/{}/layer.yaml",
                            stack.layer
                        ),
                    ));
                }
                let matches: Vec<&Rendered> = self
                    .index
                    .candidates(layer, stack)
                    .into_iter()
                    .map(|i| &self.stacks[i])
                    .filter(|r| r.spec.instance.is_single_match_for(stack))
                    .collect();
                match matches.as_slice() {
                    [target] => self.check_output(target, key).map(Some),
                    [] => Err((
                        format!("no stack of layer `{layer}` matches stack {}", stack.name),
                        format!("name the stack: `${{stack(\"{layer}/...\").outputs.{key}}}`"),
                    )),
                    _ => Err((
                        format!(
                            "several stacks of layer `{layer}` match stack {}",
                            stack.name
                        ),
                        format!(
                            "name one: `${{stack(\"{}\").outputs.{key}}}`",
                            matches[0].spec.instance.name
                        ),
                    )),
                }
            }
            Reference::StackOutput {
                stack: target, key, ..
            } => {
                let Some(found) = self.by_name.get(target.as_str()) else {
                    return Err((
                        format!("no stack named {target}"),
                        suggest(target, self.by_name.keys().copied()),
                    ));
                };
                if target == &stack.name {
                    return Err((
                        "a stack cannot read its own outputs".into(),
                        "reference the resource directly".into(),
                    ));
                }
                self.check_output(found, key).map(Some)
            }
            Reference::Config { key, .. } => {
                if self.workspace.settings.config.contains_key(key) {
                    Ok(None)
                } else {
                    Err((
                        format!("no config key `{key}`"),
                        format!(
                            "add `{key}` under `config:` in terrace.yaml, or {}",
                            suggest(
                                key,
                                self.workspace.settings.config.keys().map(String::as_str)
                            )
                        ),
                    ))
                }
            }
        }
    }

    fn check_output(&self, target: &Rendered, key: &str) -> Result<String, (String, String)> {
        if target.spec.outputs.contains_key(key) {
            Ok(target.spec.instance.name.clone())
        } else {
            Err((
                format!("stack {} has no output `{key}`", target.spec.instance.name),
                suggest(key, target.spec.outputs.keys().map(String::as_str)),
            ))
        }
    }

    /// Adds layer-dependency edges: a stack depends on the matching stacks of its layer's
    /// dependencies.
    fn link_layers(&self, links: &mut StackLinks) {
        for stack in self.stacks.iter().map(|r| &r.spec.instance) {
            let layer = self.workspace.layer(&stack.layer).expect("loaded layer");
            for dep in &layer.spec.depends_on {
                for upstream in self
                    .index
                    .candidates(dep, stack)
                    .into_iter()
                    .map(|i| &self.stacks[i].spec.instance)
                    .filter(|u| stack.matches_upstream(u))
                {
                    links
                        .depends_on
                        .entry(stack.name.clone())
                        .or_default()
                        .insert(upstream.name.clone());
                }
            }
        }
    }

    fn order(&self, links: &mut StackLinks) -> Result<(), Vec<Diagnostic>> {
        let names: Vec<&str> = self
            .stacks
            .iter()
            .map(|r| r.spec.instance.name.as_str())
            .collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let index = &index;
        let edges: Vec<(usize, usize)> = links
            .depends_on
            .iter()
            .flat_map(|(stack, deps)| {
                deps.iter()
                    .map(move |d| (index[d.as_str()], index[stack.as_str()]))
            })
            .collect();
        match topo_order(names.len(), &edges) {
            Ok(order) => {
                links.order = order.into_iter().map(|i| names[i].to_string()).collect();
                Ok(())
            }
            Err(cycle) => {
                let path: Vec<&str> = cycle.iter().map(|&i| names[i]).collect();
                Err(vec![Diagnostic::new(
                    Location::file("stacks/"),
                    format!("stacks depend on each other in a cycle: {}", path.join(" -> ")),
                )
                .help("a stack may only read outputs of stacks that do not read its own; remove one of these references")])
            }
        }
    }
}

/// The stacks by layer and group, and by replica within those: the stacks of a layer that a
/// stack may build on ([`StackInstance::matches_upstream`]) or read as `${LAYER.outputs.*}`
/// ([`StackInstance::is_single_match_for`]) without a scan of every stack, which made
/// validation quadratic in the number of stacks (and in the replicas of a group).
struct StackIndex<'a> {
    /// (layer, group) → its stacks.
    buckets: HashMap<(&'a str, &'a str), Bucket<'a>>,
}

/// The stacks of one layer in one group, as indexes into the validated stacks (ascending).
#[derive(Default)]
struct Bucket<'a> {
    /// Per-replica stacks, by replica.
    by_replica: HashMap<&'a str, Vec<usize>>,
    /// The stacks without a replica (per group, per cloud).
    others: Vec<usize>,
    /// Every stack.
    all: Vec<usize>,
}

impl<'a> StackIndex<'a> {
    fn new(stacks: impl Iterator<Item = &'a StackInstance>) -> StackIndex<'a> {
        let mut buckets: HashMap<(&str, &str), Bucket> = HashMap::new();
        for (i, stack) in stacks.enumerate() {
            let bucket = buckets
                .entry((stack.layer.as_str(), stack.group.as_str()))
                .or_default();
            match &stack.replica {
                Some(replica) => bucket.by_replica.entry(replica).or_default().push(i),
                None => bucket.others.push(i),
            }
            bucket.all.push(i);
        }
        StackIndex { buckets }
    }

    /// The stacks of `layer` that may match `from` (a superset of the matches, in stack order):
    /// those of its group, and for a per-replica stack only those of its replica or of none.
    fn candidates(&self, layer: &str, from: &StackInstance) -> Vec<usize> {
        let Some(bucket) = self.buckets.get(&(layer, from.group.as_str())) else {
            return Vec::new();
        };
        let Some(replica) = &from.replica else {
            return bucket.all.clone();
        };
        let mine = bucket.by_replica.get(replica.as_str());
        let mut found: Vec<usize> = mine.into_iter().flatten().copied().collect();
        found.extend(&bucket.others);
        found.sort_unstable();
        found
    }
}

/// Where a value with references sits, located only when a problem is reported (locating
/// scans the rendered text).
enum Site<'a> {
    Property {
        template: &'a str,
        resource: &'a str,
        field: &'a str,
    },
    Output {
        name: &'a str,
    },
    /// A value of the stack's provider configuration (a template's or the layer's).
    Provider {
        provider: &'a str,
        key: &'a str,
    },
}

impl Site<'_> {
    fn locate(&self, rendered: &Rendered) -> Location {
        match self {
            Site::Property {
                template,
                resource,
                field,
            } => rendered.locate(
                template,
                &[
                    Seg::Key("resources"),
                    Seg::Key(resource),
                    Seg::Key("properties"),
                    Seg::Key(field),
                ],
            ),
            Site::Output { name } => {
                let template = rendered
                    .sources
                    .iter()
                    .find(|s| s.text.contains(&format!("{name}:")))
                    .map(|s| s.template.clone())
                    .unwrap_or_default();
                rendered.locate(&template, &[Seg::Key("outputs"), Seg::Key(name)])
            }
            Site::Provider { provider, key } => {
                let full = [Seg::Key("providers"), Seg::Key(provider), Seg::Key(key)];
                let path = if key.is_empty() {
                    &full[..2]
                } else {
                    &full[..]
                };
                match rendered
                    .sources
                    .iter()
                    .find(|s| crate::config::yaml::locate(&s.text, path).is_some())
                {
                    Some(source) => rendered.locate(&source.template, path),
                    None => Location::file(format!(
                        "stacks/{}/layer.yaml",
                        rendered.spec.instance.layer
                    )),
                }
            }
        }
    }
}

fn contains_reference(value: &Json) -> bool {
    match value {
        Json::String(s) => refs::has_reference(s),
        Json::Array(items) => items.iter().any(contains_reference),
        Json::Object(map) => map.values().any(contains_reference),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::StackIndex;
    use crate::config::StackInstance;

    fn stack(
        layer: &str,
        group: &str,
        cloud: Option<&str>,
        replica: Option<&str>,
    ) -> StackInstance {
        let mut name = format!("{layer}/{group}");
        for part in [cloud.filter(|_| replica.is_none()), replica]
            .into_iter()
            .flatten()
        {
            name = format!("{name}/{part}");
        }
        StackInstance {
            name,
            layer: layer.into(),
            group: group.into(),
            cloud: cloud.map(str::to_string),
            replica: replica.map(str::to_string),
            region: None,
            zones: Vec::new(),
            renamed_from: None,
        }
    }

    /// Two groups, each with accounts per cloud, networks per replica and proxies per group.
    fn workspace(replicas: usize) -> Vec<StackInstance> {
        let mut stacks = Vec::new();
        for group in ["eu", "us"] {
            let cloud = |r: usize| if r % 2 == 0 { "aws" } else { "gcp" };
            for c in ["aws", "gcp"] {
                stacks.push(stack("accounts", group, Some(c), None));
            }
            for r in 0..replicas {
                let name = format!("r{r}");
                stacks.push(stack("networks", group, Some(cloud(r)), Some(&name)));
            }
            stacks.push(stack("proxies", group, None, None));
        }
        stacks
    }

    /// The candidates hold every stack a scan of all stacks would match, in stack order.
    #[test]
    fn candidates_hold_every_match_in_order() {
        let stacks = workspace(6);
        let index = StackIndex::new(stacks.iter());
        for from in &stacks {
            for layer in ["accounts", "networks", "proxies"] {
                let candidates = index.candidates(layer, from);
                assert!(candidates.windows(2).all(|w| w[0] < w[1]));
                let scanned = |keep: &dyn Fn(&StackInstance) -> bool| -> Vec<usize> {
                    (0..stacks.len())
                        .filter(|&i| stacks[i].layer == layer && keep(&stacks[i]))
                        .collect()
                };
                let kept = |keep: &dyn Fn(&StackInstance) -> bool| -> Vec<usize> {
                    candidates
                        .iter()
                        .copied()
                        .filter(|&i| keep(&stacks[i]))
                        .collect()
                };
                let upstream = |u: &StackInstance| from.matches_upstream(u);
                let single = |u: &StackInstance| u.is_single_match_for(from);
                assert_eq!(
                    kept(&upstream),
                    scanned(&upstream),
                    "{} → {layer}",
                    from.name
                );
                assert_eq!(kept(&single), scanned(&single), "{} → {layer}", from.name);
            }
        }
    }

    /// The work of matching stacks to their upstream grows with the stacks, not with their
    /// square: a per-replica stack looks at its own replica's stack (and the group's stacks
    /// without a replica), however many replicas its group has.
    #[test]
    fn matching_work_is_linear_in_the_replicas() {
        for replicas in [10, 1_000] {
            let stacks = workspace(replicas);
            let index = StackIndex::new(stacks.iter());
            let examined: usize = stacks
                .iter()
                .filter(|s| s.replica.is_some())
                .map(|from| index.candidates("networks", from).len())
                .sum();
            assert_eq!(examined, 2 * replicas, "one candidate per replica stack");
            let proxies = stacks.iter().find(|s| s.layer == "proxies").unwrap();
            assert_eq!(index.candidates("networks", proxies).len(), replicas);
        }
    }
}
