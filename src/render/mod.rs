//! Rendering: each stack's templates go through tera with the stack's static data (workspace,
//! group, replica, cloud, region, zones, config) and must produce a YAML document of
//! `resources:` and `outputs:`. Errors name the template file, the stack and the template's
//! line (see [`lines`]), with the rendered line shown.

mod errors;
pub mod lines;
mod reads;

use crate::config::{yaml, StackInstance, Workspace};
use crate::diagnostics::{Diagnostic, Location};
use crate::plan::stack::{ResourceOrder, StackPlanError};
use crate::spec::{ResourceSpec, StackSpec};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What one rendered template must contain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    resources: IndexMap<String, ResourceDecl>,
    #[serde(default)]
    outputs: IndexMap<String, Json>,
    /// `- {from: OLD, to: NEW}`; `from` may name another stack: `STACK:RESOURCE`.
    #[serde(default)]
    moved: Vec<MovedDecl>,
    /// The stack's provider configuration, over the layer's (see [`StackSpec::providers`]).
    #[serde(default)]
    providers: BTreeMap<String, serde_json::Map<String, Json>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MovedDecl {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceDecl {
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    properties: serde_json::Map<String, Json>,
    #[serde(default)]
    options: Options,
}

/// Per-resource options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    protect: bool,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    create_before_destroy: bool,
}

/// The rendered text of one template for one stack, kept to locate later errors.
#[derive(Debug, Clone)]
pub struct RenderedSource {
    /// Template file the text came from.
    pub template: String,
    /// The rendered YAML.
    pub text: String,
    /// The template's own text.
    pub source: Arc<str>,
    /// The template line (1-based) each rendered line came from, when known: mapped on first
    /// use (see [`RenderedSource::lines`]).
    lines: std::sync::OnceLock<Option<Vec<Option<usize>>>>,
    /// How to render the template's line-marked copy for this stack; `None` when there is
    /// none (the lines then stay unmapped).
    marking: Option<Arc<Marking>>,
}

/// What rendering a stack's line-marked copies takes: the compiled templates and the stack's
/// context. Kept instead of the marked renderings themselves, which only an error needs: most
/// stacks never render them.
pub(crate) struct Marking {
    tera: Arc<tera::Tera>,
    /// The stack's tera context, as JSON text (one allocation per stack, where the context
    /// itself is a tree of them).
    context: String,
}

impl std::fmt::Debug for Marking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marking").finish_non_exhaustive()
    }
}

impl Marking {
    /// The template line of each line of `text`, the template's rendering for this stack.
    fn lines(&self, template: &str, text: &str) -> Option<Vec<Option<usize>>> {
        let context = tera::Context::from_value(serde_json::from_str(&self.context).ok()?).ok()?;
        let marked = self.tera.render(&marked_name(template), &context).ok()?;
        lines::map(text, &marked)
    }
}

impl RenderedSource {
    /// The template line (1-based) each rendered line came from, when known; `None` when the
    /// template's marked copy did not render to the same lines (see [`lines`]). The marked copy
    /// is rendered on the first call, so that stacks without errors never pay for it.
    pub fn lines(&self) -> Option<&[Option<usize>]> {
        self.lines
            .get_or_init(|| {
                self.marking
                    .as_ref()
                    .and_then(|m| m.lines(&self.template, &self.text))
            })
            .as_deref()
    }

    /// The place in the template of a line (and column) of the rendered text, with the
    /// rendered line as snippet. Falls back to the rendered line when the template line is
    /// not known.
    pub fn place(&self, line: usize, column: Option<usize>) -> Location {
        let rendered = self.text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let mapped = self
            .lines()
            .and_then(|lines| lines.get(line.saturating_sub(1)).copied().flatten());
        let mut location = match mapped {
            Some(at) => {
                let text = self.source.lines().nth(at - 1).unwrap_or("");
                let column = template_column(text, rendered, column);
                Location {
                    column,
                    ..Location::at(&self.template, at, 1)
                }
            }
            None => Location {
                column,
                ..Location::at(&self.template, line, 1)
            },
        };
        location.snippet = Some(rendered.trim().to_string());
        location
    }

    /// A YAML error's location in the rendered text, and the "at line N column M" its message
    /// quotes, as template places.
    fn place_yaml_error(&self, mut diagnostic: Diagnostic) -> Diagnostic {
        if let Some(line) = diagnostic.location.line {
            let context = diagnostic.location.context.take();
            diagnostic.location = Box::new(self.place(line, diagnostic.location.column));
            diagnostic.location.context = context;
        }
        diagnostic.message = self.map_quoted_lines(&diagnostic.message);
        diagnostic
    }

    /// "… at line 4 column 3" of a rendered text → "… at line L" of the template.
    fn map_quoted_lines(&self, message: &str) -> String {
        let Some(start) = message.find(" at line ") else {
            return message.to_string();
        };
        let rest = &message[start + " at line ".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(line) = digits.parse::<usize>() else {
            return message.to_string();
        };
        let tail = rest[digits.len()..]
            .strip_prefix(" column ")
            .map(|t| t.trim_start_matches(|c: char| c.is_ascii_digit()))
            .unwrap_or(&rest[digits.len()..]);
        let at = self.place(line, None).line.unwrap_or(line);
        format!("{} on line {at}{tail}", &message[..start])
    }
}

/// The column in a template line of what a rendered line shows at `column`: the word there
/// (a key, a value) where the template has it verbatim, else the line's first character.
fn template_column(template: &str, rendered: &str, column: Option<usize>) -> Option<usize> {
    let first = template.len() - template.trim_start().len() + 1;
    let Some(column) = column else {
        return Some(first);
    };
    let word: String = rendered
        .chars()
        .skip(column.saturating_sub(1))
        .take_while(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if word.is_empty() {
        return Some(first);
    }
    Some(template.find(&word).map_or(first, |at| at + 1))
}

/// A rendered stack and the texts it came from.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The desired content, shared with the plans made from it (a plan's
    /// [`StackPlan::desired`](crate::plan::StackPlan::desired)).
    pub spec: Arc<StackSpec>,
    /// Rendered texts, to locate later errors.
    pub sources: Vec<RenderedSource>,
    /// The spec's resources in dependency order, once computed (validation computes it, and
    /// planning the unchanged spec reuses it).
    order: std::sync::OnceLock<ResourceOrder>,
}

impl Rendered {
    /// The spec's resource names in dependency order and each resource's dependencies (see
    /// [`resource_order`](crate::plan::stack::resource_order)), computed on the first call and
    /// kept. `is_layer` tells the workspace's layer names; the layers of a workspace do not
    /// change, nor do the references and `depends_on` of a rendered spec.
    pub fn resource_order(
        &self,
        is_layer: &dyn Fn(&str) -> bool,
    ) -> Result<&ResourceOrder, StackPlanError> {
        if let Some(order) = self.order.get() {
            return Ok(order);
        }
        let order = crate::plan::stack::resource_order(&self.spec, is_layer)?;
        Ok(self.order.get_or_init(|| order))
    }

    /// The location of a key path inside the template a resource (or output) came from.
    pub fn locate(&self, template: &str, path: &[yaml::Seg]) -> Location {
        let context = format!("rendered for stack {}", self.spec.instance.name);
        match self.sources.iter().find(|s| s.template == template) {
            Some(source) => match yaml::locate(&source.text, path) {
                Some((line, column)) => source.place(line, Some(column)),
                None => Location::file(template),
            },
            None => Location::file(template),
        }
        .with_context(context)
    }
}

/// Compiled templates of a workspace.
pub struct Renderer {
    /// The templates and their line-marked copies (shared with each stack's [`Marking`]).
    tera: Arc<tera::Tera>,
    /// Template file → its text (layer templates and partials), to locate errors.
    texts: BTreeMap<String, Arc<str>>,
    /// Secret config key → the placeholder templates see instead of its value.
    placeholders: Vec<(String, String)>,
    /// Layers whose templates (or the partials they may import) can read `group.replicas`
    /// (see [`reads`]); the others get the group without its replica list.
    reading_replicas: std::collections::BTreeSet<String>,
    /// What every stack's context shares, made once (see [`Shared`]).
    shared: Shared,
}

/// The parts of the stacks' contexts that do not depend on the stack, made once per workspace
/// instead of once per stack: the config templates see, the jurisdictions' regions, and where
/// each group and replica is (a scan of the replicas per stack made rendering a group of R
/// replicas cost O(R²)).
struct Shared {
    /// `config` as templates see it (secrets as their placeholders).
    config: Json,
    /// The built-in and declared jurisdictions.
    jurisdictions: crate::policy::residency::Jurisdictions,
    /// Group name → its index in the workspace's groups, and replica name → the indexes of the
    /// replicas of that name in the group.
    groups:
        std::collections::HashMap<String, (usize, std::collections::HashMap<String, Vec<usize>>)>,
}

impl Shared {
    fn new(workspace: &Workspace, placeholders: &[(String, String)]) -> Shared {
        let mut config: serde_json::Map<String, Json> = workspace
            .settings
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, placeholder) in placeholders {
            if let Some(value) = config.get_mut(key) {
                *value = Json::String(placeholder.clone());
            }
        }
        let mut groups = std::collections::HashMap::new();
        for (g, group) in workspace.groups.iter().enumerate() {
            let mut replicas: std::collections::HashMap<String, Vec<usize>> = Default::default();
            for (r, replica) in group.replicas.iter().enumerate() {
                replicas.entry(replica.name.clone()).or_default().push(r);
            }
            // The first group of a name, as `Workspace::group` finds it.
            groups.entry(group.name.clone()).or_insert((g, replicas));
        }
        Shared {
            config: Json::Object(config),
            jurisdictions: crate::policy::residency::Jurisdictions::load(
                &workspace.settings.jurisdictions,
            ),
            groups,
        }
    }
}

impl Renderer {
    /// Compiles every template; syntax errors name the template.
    pub fn new(workspace: &Workspace) -> Result<Renderer, Vec<Diagnostic>> {
        let mut tera = tera::Tera::default();
        let mut problems = Vec::new();
        let partials = workspace
            .partials
            .iter()
            .map(|p| (p.path.to_string_lossy().to_string(), p.text.as_str()));
        let mut texts = BTreeMap::new();
        for (name, text) in partials.clone() {
            texts.insert(name, Arc::from(text));
        }
        if let Err(err) = tera.add_raw_templates(partials.clone()) {
            // Tera names only "one of the templates": find it by compiling each alone.
            let mut single = tera::Tera::default();
            for (name, text) in partials {
                if let Err(err) = single.add_raw_template(&name, text) {
                    problems.push(errors::syntax(&name, &err));
                }
            }
            if problems.is_empty() {
                problems.push(errors::syntax("templates/", &err));
            }
        }
        let broken_partials = !problems.is_empty();
        for layer in &workspace.layers {
            for template in &layer.templates {
                let name = template.path.to_string_lossy().to_string();
                texts.insert(name.clone(), Arc::from(template.text.as_str()));
                if let Err(err) = tera.add_raw_template(&name, &template.text) {
                    // A template importing a partial that did not compile adds nothing new.
                    if !(broken_partials && err.to_string().contains("isn't present in Tera")) {
                        problems.push(errors::syntax(&name, &err));
                    }
                    continue;
                }
                // The marked copy only maps lines: if it does not compile, lines stay unmapped.
                let _ = tera.add_raw_template(&marked_name(&name), &lines::mark(&template.text));
            }
        }
        if problems.is_empty() {
            let placeholders = secret_placeholders(workspace);
            Ok(Renderer {
                tera: Arc::new(tera),
                texts,
                shared: Shared::new(workspace, &placeholders),
                placeholders,
                reading_replicas: layers_reading_replicas(workspace),
            })
        } else {
            Err(problems)
        }
    }

    /// Renders one stack.
    pub fn render(
        &self,
        workspace: &Workspace,
        stack: &StackInstance,
    ) -> Result<Rendered, Vec<Diagnostic>> {
        let with_replicas = self.reading_replicas.contains(&stack.layer);
        let data = context_for(workspace, stack, &self.shared, with_replicas);
        let marking = Arc::new(Marking {
            tera: Arc::clone(&self.tera),
            context: data.to_string(),
        });
        let context = tera::Context::from_value(data).expect("a context is a mapping");
        let layer = workspace
            .layer(&stack.layer)
            .expect("stack of a loaded layer");
        let mut spec = StackSpec {
            instance: stack.clone(),
            resources: IndexMap::new(),
            outputs: IndexMap::new(),
            moved: Vec::new(),
            only: None,
            providers: Default::default(),
        };
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        let mut moved_at = Vec::new();
        for template in &layer.templates {
            let name = template.path.to_string_lossy().to_string();
            let text = match self.tera.render(&name, &context) {
                Ok(text) => text,
                Err(err) => {
                    let sources = |file: &str| self.texts.get(file).map(|t| &**t);
                    let data = context.clone().into_json();
                    problems.push(errors::rendering(&name, &stack.name, &err, &sources, &data));
                    continue;
                }
            };
            let source = RenderedSource {
                lines: std::sync::OnceLock::new(),
                marking: Some(Arc::clone(&marking)),
                source: self.texts.get(&name).cloned().unwrap_or_else(|| "".into()),
                template: name.clone(),
                text,
            };
            let text = &source.text;
            match parse_document(&name, &stack.name, text).map_err(|d| source.place_yaml_error(d)) {
                Ok(document) => moved_at.extend(merge(
                    &mut spec,
                    document,
                    &source,
                    &sources,
                    stack,
                    &mut problems,
                )),
                Err(diagnostic) => problems.push(diagnostic),
            }
            sources.push(source);
        }
        check_moved(&spec, &moved_at, &mut problems);
        add_renamed_stack_moves(&mut spec);
        let templates = std::mem::take(&mut spec.providers);
        spec.providers = stack_providers(&layer.spec.providers, templates);
        if problems.is_empty() {
            self.restore_secret_references(&mut spec);
            Ok(Rendered {
                spec: Arc::new(spec),
                sources,
                order: std::sync::OnceLock::new(),
            })
        } else {
            Err(problems)
        }
    }
}

fn parse_document(template: &str, stack: &str, text: &str) -> Result<Document, Diagnostic> {
    if text.trim().is_empty() {
        return Ok(Document {
            resources: IndexMap::new(),
            outputs: IndexMap::new(),
            moved: Vec::new(),
            providers: BTreeMap::new(),
        });
    }
    yaml::parse::<Document>(std::path::Path::new(template), text).map_err(|mut d| {
        d.location.context = Some(format!("rendered for stack {stack}"));
        misindented(d, text)
    })
}

/// The fields of a resource declaration.
const RESOURCE_FIELDS: [&str; 4] = ["type", "region", "properties", "options"];

/// A key at the wrong depth reads as something else — `properties:` dedented to the level of
/// the resources is a resource named `properties`; a property dedented to the resource's own
/// fields is an unknown field — and serde reports what it then lacks. Says what happened.
fn misindented(mut d: Diagnostic, text: &str) -> Diagnostic {
    let Some((path, _)) = d.message.split_once(": ") else {
        return d;
    };
    let segments: Vec<&str> = path.split('.').collect();
    match segments[..] {
        ["resources", key] if RESOURCE_FIELDS.contains(&key) || key == "outputs" => {
            if let Some((line, column)) =
                yaml::locate(text, &[yaml::Seg::Key("resources"), yaml::Seg::Key(key)])
            {
                d.location.line = Some(line);
                d.location.column = Some(column);
            }
            let (message, help) = if key == "outputs" {
                (
                    "`outputs` is indented under `resources:`, so it is read as a resource"
                        .to_string(),
                    "write `outputs:` at the start of its line".to_string(),
                )
            } else {
                (
                    format!(
                        "`{key}` is indented like a resource's name, so it is read as a resource of its own"
                    ),
                    format!(
                        "indent `{key}:` like the fields (`type:`, `properties:`) of the resource above it"
                    ),
                )
            };
            d.message = message;
            d.help = Some(help);
        }
        ["resources", _] if d.message.contains("unknown field") => {
            let field = d.message.split('`').nth(1).unwrap_or_default().to_string();
            d.help = Some(format!(
                "a resource has the fields {}; if `{field}` is a property, indent it under `properties:`",
                RESOURCE_FIELDS.join(", ")
            ));
        }
        _ => {}
    }
    d
}

/// A stack's provider configuration: the layer's, each key overridden by the templates'.
/// Validation checks the names; [`keep_used_providers`] then drops the providers the stack's
/// resources do not use (a layer of AWS and GCP stacks configures both).
fn stack_providers(
    layer: &BTreeMap<String, serde_json::Map<String, Json>>,
    templates: BTreeMap<String, serde_json::Map<String, Json>>,
) -> BTreeMap<String, serde_json::Map<String, Json>> {
    let mut merged = layer.clone();
    for (provider, config) in templates {
        merged.entry(provider).or_default().extend(config);
    }
    merged
}

/// The providers a stack's resources use (prefixes of their types).
pub fn used_providers(spec: &StackSpec) -> std::collections::BTreeSet<&str> {
    spec.resources
        .values()
        .map(|r| crate::provider::registry::provider_prefix(&r.type_name))
        .collect()
}

/// Keeps the configuration of the providers the stack's resources use.
pub fn keep_used_providers(spec: &mut StackSpec) {
    let used: std::collections::BTreeSet<String> = used_providers(spec)
        .into_iter()
        .map(str::to_string)
        .collect();
    spec.providers.retain(|provider, _| used.contains(provider));
}

/// Adds a template's resources, outputs and `moved:` entries to the stack's spec (duplicates
/// become problems); returns where each `moved:` entry is, for [`check_moved`].
fn merge(
    spec: &mut StackSpec,
    document: Document,
    source: &RenderedSource,
    earlier: &[RenderedSource],
    stack: &StackInstance,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Location> {
    let mut moved_at = Vec::new();
    for (provider, config) in document.providers {
        spec.providers.entry(provider).or_default().extend(config);
    }
    let template = source.template.as_str();
    let context = format!("rendered for stack {}", stack.name);
    let place = |source: &RenderedSource, path: &[yaml::Seg]| match yaml::locate(&source.text, path)
    {
        Some((line, column)) => source.place(line, Some(column)),
        None => Location::file(&source.template),
    };
    for (name, decl) in document.resources {
        let path = [yaml::Seg::Key("resources"), yaml::Seg::Key(&name)];
        if let Some(first) = spec.resources.get(&name) {
            let at = place(source, &path).with_context(context.clone());
            let first_at = earlier
                .iter()
                .find(|s| s.template == first.template)
                .map(|s| {
                    let mut at = place(s, &path);
                    at.snippet = None;
                    at
                })
                .unwrap_or_else(|| Location::file(&first.template));
            problems.push(
                Diagnostic::new(
                    at,
                    format!("duplicate resource name `{name}` in stack {}", stack.name),
                )
                .help(format!(
                    "resource names must be unique in a stack; the first is at {first_at}"
                )),
            );
            continue;
        }
        // Only an explicit region here; the stack's default is filled in after validation,
        // for regional types only.
        let region = decl.region;
        spec.resources.insert(
            name,
            ResourceSpec {
                type_name: decl.type_name,
                region,
                properties: decl.properties,
                protect: decl.options.protect,
                depends_on: decl.options.depends_on,
                create_before_destroy: decl.options.create_before_destroy,
                template: template.to_string(),
            },
        );
    }
    for (name, value) in document.outputs {
        if spec.outputs.contains_key(&name) {
            let at = place(source, &[yaml::Seg::Key("outputs"), yaml::Seg::Key(&name)])
                .with_context(context.clone());
            problems.push(
                Diagnostic::new(
                    at,
                    format!("duplicate output `{name}` in stack {}", stack.name),
                )
                .help("output names must be unique in a stack"),
            );
            continue;
        }
        spec.outputs.insert(name, value);
    }
    for (index, moved) in document.moved.into_iter().enumerate() {
        moved_at.push(
            place(source, &[yaml::Seg::Key("moved"), yaml::Seg::Index(index)])
                .with_context(context.clone()),
        );
        let from = match crate::address::ResourceAddress::split(&moved.from) {
            Some((stack_name, resource)) => {
                crate::address::ResourceAddress::new(stack_name, resource)
            }
            None => crate::state::moves::ResourceAddress {
                stack: stack.name.clone(),
                resource: moved.from,
            },
        };
        spec.moved
            .push(crate::spec::MovedSpec { from, to: moved.to });
    }
    moved_at
}

/// A stack whose replica was renamed takes over every resource of the old stack that it still
/// declares under the same name (unless a `moved:` entry says where it came from).
fn add_renamed_stack_moves(spec: &mut StackSpec) {
    let Some(old) = spec.instance.renamed_from.clone() else {
        return;
    };
    let explicit: std::collections::BTreeSet<String> =
        spec.moved.iter().map(|m| m.to.clone()).collect();
    let implied: Vec<_> = spec
        .resources
        .keys()
        .filter(|name| !explicit.contains(*name))
        .map(|name| crate::spec::MovedSpec {
            from: crate::state::moves::ResourceAddress {
                stack: old.clone(),
                resource: name.clone(),
            },
            to: name.clone(),
        })
        .collect();
    spec.moved.extend(implied);
}

/// Each `moved:` entry names a resource the stack declares, moves it once, and moves something
/// else than itself.
fn check_moved(spec: &StackSpec, moved_at: &[Location], problems: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::BTreeSet::new();
    for (moved, at) in spec.moved.iter().zip(moved_at) {
        let problem = if !spec.resources.contains_key(&moved.to) {
            Some((
                format!(
                    "`moved:` names `{}`, which stack {} does not declare",
                    moved.to, spec.instance.name
                ),
                "`to` is the resource's new name in this stack; declare it under `resources:`"
                    .to_string(),
            ))
        } else if moved.from.stack == spec.instance.name && moved.from.resource == moved.to {
            Some((
                format!("`moved:` moves `{}` onto itself", moved.to),
                "remove the entry, or name the resource's old name in `from`".to_string(),
            ))
        } else if moved.from.resource.is_empty() || moved.from.stack.is_empty() {
            Some((
                format!("`moved:` has an empty `from` (`{}`)", moved.from),
                "write `from: OLD_NAME`, or `from: STACK:OLD_NAME` for another stack".to_string(),
            ))
        } else if !seen.insert(moved.to.clone()) {
            Some((
                format!("`moved:` moves two entries to `{}`", moved.to),
                "a resource has one old address; keep one entry".to_string(),
            ))
        } else {
            None
        };
        if let Some((message, help)) = problem {
            problems.push(Diagnostic::new(at.clone(), message).help(help));
        }
    }
}

/// Secrets never reach tera: each secret config key is given to templates as a random
/// placeholder, which rendering turns back into the reference `${config.KEY}` wherever it
/// lands in a property or an output. The reference then resolves to the sealed secret (or, in
/// mixed text, to a new secret of the whole text), so specs, plans and rendered texts never
/// hold a plaintext. A template that transforms a secret (a filter, a comparison) works on the
/// placeholder, not on the value.
fn secret_placeholders(workspace: &Workspace) -> Vec<(String, String)> {
    let run: [u8; 8] = crate::secrets::random_bytes();
    let run: String = run.iter().map(|b| format!("{b:02x}")).collect();
    workspace
        .settings
        .config
        .iter()
        .filter(|(_, v)| crate::secrets::is_sealed(v) || crate::secrets::secure_config(v).is_some())
        .enumerate()
        // A number and a terminator: no placeholder is a prefix of another.
        .map(|(i, (key, _))| (key.clone(), format!("terrace-secret-{run}-{i}z")))
        .collect()
}

impl Renderer {
    /// Turns placeholders left in properties and outputs back into `${config.KEY}`.
    fn restore_secret_references(&self, spec: &mut StackSpec) {
        if self.placeholders.is_empty() {
            return;
        }
        for resource in spec.resources.values_mut() {
            for value in resource.properties.values_mut() {
                self.restore(value);
            }
        }
        for value in spec.outputs.values_mut() {
            self.restore(value);
        }
        for value in spec.providers.values_mut().flat_map(|c| c.values_mut()) {
            self.restore(value);
        }
    }

    fn restore(&self, value: &mut Json) {
        match value {
            Json::String(text) => {
                for (key, placeholder) in &self.placeholders {
                    if text.contains(placeholder.as_str()) {
                        *text = text.replace(placeholder.as_str(), &format!("${{config.{key}}}"));
                    }
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|v| self.restore(v)),
            Json::Object(map) => map.values_mut().for_each(|v| self.restore(v)),
            _ => {}
        }
    }
}

/// The layers whose templates, or any partial, may read `group.replicas`.
fn layers_reading_replicas(workspace: &Workspace) -> std::collections::BTreeSet<String> {
    let partials = workspace.partials.iter().map(|p| p.text.as_str());
    workspace
        .layers
        .iter()
        .filter(|layer| {
            let own = layer.templates.iter().map(|t| t.text.as_str());
            reads::may_read_group_replicas(own.chain(partials.clone()))
        })
        .map(|layer| layer.name.clone())
        .collect()
}

/// The group as templates see it; without its replica list for layers that cannot read it
/// (the list makes each stack's context grow with the group, see [`reads`]).
#[derive(serde::Serialize)]
struct GroupView<'a> {
    name: &'a str,
    residency: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<&'a [crate::config::group::Replica]>,
    vars: &'a BTreeMap<String, Json>,
    rollout: &'a Option<crate::rollout::RolloutSettings>,
}

impl<'a> GroupView<'a> {
    fn of(group: &'a crate::config::group::Group, with_replicas: bool) -> GroupView<'a> {
        GroupView {
            name: &group.name,
            residency: &group.residency,
            replicas: with_replicas.then_some(group.replicas.as_slice()),
            vars: &group.vars,
            rollout: &group.rollout,
        }
    }
}

/// The tera context of one stack, as a JSON mapping of its variables.
fn context_for(
    workspace: &Workspace,
    stack: &StackInstance,
    shared: &Shared,
    with_replicas: bool,
) -> Json {
    // The index is of the workspace the renderer was made for; another is scanned.
    let indexed = shared.groups.get(&stack.group).filter(|(index, _)| {
        workspace
            .groups
            .get(*index)
            .is_some_and(|g| g.name == stack.group)
    });
    let (group, named) = match indexed {
        Some((index, named)) => (&workspace.groups[*index], Some(named)),
        None => (
            workspace
                .group(&stack.group)
                .expect("stack of a loaded group"),
            None,
        ),
    };
    let of_name = |name: &String| -> Vec<&crate::config::group::Replica> {
        match named {
            Some(named) => named
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|&r| group.replicas.get(r).filter(|r| &r.name == name))
                .collect(),
            None => group.replicas.iter().filter(|r| &r.name == name).collect(),
        }
    };
    let replica = stack
        .replica
        .as_ref()
        .and_then(|name| of_name(name).into_iter().next());
    let replicas: Vec<_> = match (&stack.replica, &stack.cloud) {
        (Some(name), _) => of_name(name),
        (None, Some(cloud)) => group
            .replicas
            .iter()
            .filter(|r| &r.cloud == cloud)
            .collect(),
        (None, None) => group.replicas.iter().collect(),
    };
    let mut context = serde_json::Map::new();
    let mut insert = |key: &str, value: Json| {
        context.insert(key.to_string(), value);
    };
    insert("workspace", json!({ "name": workspace.name }));
    insert("stack", to_json(stack));
    insert("group", to_json(GroupView::of(group, with_replicas)));
    insert("replica", to_json(replica));
    insert("replicas", to_json(&replicas));
    insert("cloud", to_json(&stack.cloud));
    insert("region", to_json(&stack.region));
    insert("zones", to_json(&stack.zones));
    insert("config", shared.config.clone());
    // The regions of the group's jurisdiction per cloud (`jurisdictions.yaml` plus
    // terrace.yaml's `jurisdictions:`); empty for `global` or no residency.
    let residency = group
        .residency
        .as_deref()
        .unwrap_or(crate::policy::residency::GLOBAL);
    let jurisdiction: BTreeMap<&str, Vec<String>> = ["aws", "gcp"]
        .into_iter()
        .map(|cloud| (cloud, shared.jurisdictions.regions_of(residency, cloud)))
        .collect();
    insert("jurisdiction", to_json(jurisdiction));
    Json::Object(context)
}

/// A context variable's value (as `tera::Context::insert` makes it, which panics too: the
/// types put in a context always serialise).
fn to_json(value: impl serde::Serialize) -> Json {
    serde_json::to_value(value).expect("context values serialise")
}

/// The name under which a template's line-marked copy is compiled (see [`lines`]).
fn marked_name(template: &str) -> String {
    format!("{template}#lines")
}

#[cfg(test)]
mod tests {
    use super::{lines, marked_name, GroupView, Marking, RenderedSource};
    use crate::config::group::Group;
    use std::sync::Arc;

    /// A rendered text's lines are mapped to the template's when first asked for, from the
    /// marked copy rendered then with the stack's context.
    #[test]
    fn lines_are_mapped_on_first_use() {
        let template = "a: {{ x }}\n{% if y %}\nb: 2\n{% endif %}\nc: 3\n";
        let mut tera = tera::Tera::default();
        tera.add_raw_template("t", template).unwrap();
        tera.add_raw_template(&marked_name("t"), &lines::mark(template))
            .unwrap();
        let context = serde_json::json!({"x": 1, "y": false});
        let text = tera
            .render("t", &tera::Context::from_value(context.clone()).unwrap())
            .unwrap();
        let source = RenderedSource {
            template: "t".into(),
            text,
            source: template.into(),
            lines: std::sync::OnceLock::new(),
            marking: Some(Arc::new(Marking {
                tera: Arc::new(tera),
                context: context.to_string(),
            })),
        };
        assert!(source.lines.get().is_none(), "nothing is rendered before");
        assert_eq!(source.lines(), Some(&[Some(1), Some(2), Some(5)][..]));
        let at = source.place(3, None);
        assert_eq!((at.line, at.snippet.as_deref()), (Some(5), Some("c: 3")));
    }

    /// The view is the group as serde writes it (so a field added to `Group` must be added to
    /// the view), less the replica list when asked.
    #[test]
    fn the_group_view_is_the_group() {
        let group: Group = serde_yaml_ng::from_str(
            "name: eu\nresidency: EU\nvars: {cidr: 10.16.0.0/12}\nreplicas:\n  - {name: a, cloud: aws, region: eu-west-1, zones: [eu-west-1a]}\n",
        )
        .unwrap();
        let whole = serde_json::to_value(&group).unwrap();
        assert_eq!(
            serde_json::to_value(GroupView::of(&group, true)).unwrap(),
            whole
        );
        let mut without = whole.clone();
        without.as_object_mut().unwrap().remove("replicas");
        assert_eq!(
            serde_json::to_value(GroupView::of(&group, false)).unwrap(),
            without
        );
    }
}
