//! Rendering: each stack's templates go through tera with the stack's static data (workspace,
//! group, replica, cloud, region, zones, config) and must produce a YAML document of
//! `resources:` and `outputs:`. Errors name the template file, the stack and, where the YAML
//! parser can tell, the line in the rendered text.

use crate::config::{yaml, StackInstance, Workspace};
use crate::diagnostics::{Diagnostic, Location};
use crate::spec::{ResourceSpec, StackSpec};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// What one rendered template must contain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    resources: IndexMap<String, ResourceDecl>,
    #[serde(default)]
    outputs: IndexMap<String, Json>,
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
}

/// A rendered stack and the texts it came from.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The desired content.
    pub spec: StackSpec,
    /// Rendered texts, to locate later errors.
    pub sources: Vec<RenderedSource>,
}

impl Rendered {
    /// The location of a key path inside the template a resource (or output) came from.
    pub fn locate(&self, template: &str, path: &[yaml::Seg]) -> Location {
        let context = format!("rendered for stack {}", self.spec.instance.name);
        match self.sources.iter().find(|s| s.template == template) {
            Some(source) => {
                let mut location = yaml::location_of(template.as_ref(), &source.text, path);
                location.snippet = location
                    .line
                    .and_then(|l| source.text.lines().nth(l - 1))
                    .map(|l| l.trim().to_string());
                location
            }
            None => Location::file(template),
        }
        .with_context(context)
    }
}

/// Compiled templates of a workspace.
pub struct Renderer {
    tera: tera::Tera,
    /// Secret config key → the placeholder templates see instead of its value.
    placeholders: Vec<(String, String)>,
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
        if let Err(err) = tera.add_raw_templates(partials) {
            problems.push(tera_diagnostic("templates/", None, &err));
        }
        for layer in &workspace.layers {
            for template in &layer.templates {
                let name = template.path.to_string_lossy().to_string();
                if let Err(err) = tera.add_raw_template(&name, &template.text) {
                    problems.push(tera_diagnostic(&name, None, &err));
                }
            }
        }
        if problems.is_empty() {
            Ok(Renderer {
                tera,
                placeholders: secret_placeholders(workspace),
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
        let context = context_for(workspace, stack, &self.placeholders);
        let layer = workspace
            .layer(&stack.layer)
            .expect("stack of a loaded layer");
        let mut spec = StackSpec {
            instance: stack.clone(),
            resources: IndexMap::new(),
            outputs: IndexMap::new(),
            only: None,
        };
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        for template in &layer.templates {
            let name = template.path.to_string_lossy().to_string();
            let text = match self.tera.render(&name, &context) {
                Ok(text) => text,
                Err(err) => {
                    problems.push(tera_diagnostic(&name, Some(&stack.name), &err));
                    continue;
                }
            };
            match parse_document(&name, &stack.name, &text) {
                Ok(document) => merge(
                    &mut spec,
                    document,
                    &name,
                    &text,
                    &sources,
                    stack,
                    &mut problems,
                ),
                Err(diagnostic) => problems.push(diagnostic),
            }
            sources.push(RenderedSource {
                template: name,
                text,
            });
        }
        if problems.is_empty() {
            self.restore_secret_references(&mut spec);
            Ok(Rendered { spec, sources })
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
        });
    }
    yaml::parse::<Document>(std::path::Path::new(template), text).map_err(|mut d| {
        d.location.context = Some(format!("rendered for stack {stack}"));
        d
    })
}

fn merge(
    spec: &mut StackSpec,
    document: Document,
    template: &str,
    text: &str,
    earlier: &[RenderedSource],
    stack: &StackInstance,
    problems: &mut Vec<Diagnostic>,
) {
    let context = format!("rendered for stack {}", stack.name);
    for (name, decl) in document.resources {
        let at = yaml::location_of(
            template.as_ref(),
            text,
            &[yaml::Seg::Key("resources"), yaml::Seg::Key(&name)],
        )
        .with_context(context.clone());
        if let Some(first) = spec.resources.get(&name) {
            let first_at = earlier
                .iter()
                .find(|s| s.template == first.template)
                .map(|s| {
                    yaml::location_of(
                        s.template.as_ref(),
                        &s.text,
                        &[yaml::Seg::Key("resources"), yaml::Seg::Key(&name)],
                    )
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
            let at = yaml::location_of(
                template.as_ref(),
                text,
                &[yaml::Seg::Key("outputs"), yaml::Seg::Key(&name)],
            )
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

/// The tera context of one stack.
fn context_for(
    workspace: &Workspace,
    stack: &StackInstance,
    placeholders: &[(String, String)],
) -> tera::Context {
    let group = workspace
        .group(&stack.group)
        .expect("stack of a loaded group");
    let replica = stack
        .replica
        .as_ref()
        .and_then(|name| group.replicas.iter().find(|r| &r.name == name));
    let replicas: Vec<_> = group
        .replicas
        .iter()
        .filter(|r| match (&stack.replica, &stack.cloud) {
            (Some(name), _) => &r.name == name,
            (None, Some(cloud)) => &r.cloud == cloud,
            (None, None) => true,
        })
        .collect();
    let mut config: BTreeMap<&String, Json> = workspace
        .settings
        .config
        .iter()
        .map(|(k, v)| (k, v.clone()))
        .collect();
    for (key, placeholder) in placeholders {
        if let Some(value) = config.get_mut(key) {
            *value = Json::String(placeholder.clone());
        }
    }
    let mut context = tera::Context::new();
    context.insert("workspace", &json!({ "name": workspace.name }));
    context.insert("stack", stack);
    context.insert("group", group);
    context.insert("replica", &replica);
    context.insert("replicas", &replicas);
    context.insert("cloud", &stack.cloud);
    context.insert("region", &stack.region);
    context.insert("zones", &stack.zones);
    context.insert("config", &config);
    context
}

fn tera_diagnostic(template: &str, stack: Option<&str>, err: &tera::Error) -> Diagnostic {
    let mut messages = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        messages.push(inner.to_string());
        source = inner.source();
    }
    let message = messages.join(": ");
    let line_col = message.split("-->").nth(1).and_then(|rest| {
        let mut parts = rest
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty());
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    });
    let mut location = match line_col {
        Some((line, column)) => Location::at(template, line, column),
        None => Location::file(template),
    };
    if let Some(stack) = stack {
        location = location.with_context(format!("rendering stack {stack}"));
    }
    let help = if message.contains("not found in context") {
        "templates see: workspace, stack, group, replica, replicas, cloud, region, zones, config"
    } else {
        "fix the tera syntax at this place"
    };
    Diagnostic::new(
        location,
        format!("template error: {}", message.replace('\n', " ")),
    )
    .help(help)
}
