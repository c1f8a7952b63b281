//! The workspace model: `terrace.yaml`, `groups/*.yaml` (or the directory `groups:` names),
//! `stacks/<layer>/layer.yaml` and `templates/<layer>/*.yaml.tera`, loaded and validated.
//! Every problem becomes a [`Diagnostic`] naming file, line and column; loading never writes
//! anything.

pub mod group;
pub mod layer;
pub mod settings;
pub mod stacks;
pub mod yaml;

use crate::diagnostics::{relative, suggest, Diagnostic, Diagnostics, Location};
use group::Group;
use layer::{Layer, LayerFile, Template};
use settings::Settings;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use yaml::Seg;

pub use stacks::StackInstance;

/// The workspace settings file name.
pub const SETTINGS_FILE: &str = "terrace.yaml";

/// A loaded, validated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace directory.
    pub root: PathBuf,
    /// Workspace name: `name` in terrace.yaml, else the directory name.
    pub name: String,
    /// The parsed terrace.yaml.
    pub settings: Settings,
    /// Groups sorted by name.
    pub groups: Vec<Group>,
    /// Layers in dependency order (a layer after every layer it depends on).
    pub layers: Vec<Layer>,
    /// Every other `*.tera` file under `templates/` (one directory deep): pieces that stack
    /// templates import or include by path, e.g. `templates/shared/cloud-init.tera`.
    pub partials: Vec<Template>,
}

impl Workspace {
    /// The layer of that name.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The group of that name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Every stack, in layer order.
    pub fn stacks(&self) -> Vec<StackInstance> {
        stacks::expand(self)
    }

    /// Layers `layer` depends on, directly or not.
    pub fn upstream_layers(&self, layer: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![layer.to_string()];
        while let Some(current) = todo.pop() {
            if let Some(l) = self.layer(&current) {
                for dep in &l.spec.depends_on {
                    if seen.insert(dep.clone()) {
                        todo.push(dep.clone());
                    }
                }
            }
        }
        seen
    }
}

/// Loads and validates the workspace at `root`.
pub fn load(root: &Path) -> Result<Workspace, Diagnostics> {
    let settings_path = root.join(SETTINGS_FILE);
    let settings_text = fs::read_to_string(&settings_path).map_err(|err| {
        one(Diagnostic::new(
            Location::file(&settings_path),
            format!("not a Terrace workspace: cannot read {SETTINGS_FILE} ({err})"),
        )
        .help(format!(
            "run the command inside a workspace, pass -C DIR, or create {SETTINGS_FILE}"
        )))
    })?;
    let settings: Settings = yaml::parse(Path::new(SETTINGS_FILE), &settings_text).map_err(one)?;
    let mut problems = Vec::new();
    let groups_dir = settings.groups.as_deref().unwrap_or("groups");
    let groups = load_groups(root, groups_dir, &mut problems);
    let layers = load_layers(root, &mut problems);
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    let layers = order_layers(root, layers).map_err(Diagnostics)?;
    let partials = load_partials(root, &layers).map_err(Diagnostics)?;
    let name = settings.name.clone().unwrap_or_else(|| default_name(root));
    Ok(Workspace {
        root: root.to_path_buf(),
        name,
        settings,
        groups,
        layers,
        partials,
    })
}

/// `*.tera` files under `templates/` and its subdirectories (one level) that no layer renders.
fn load_partials(root: &Path, layers: &[Layer]) -> Result<Vec<Template>, Vec<Diagnostic>> {
    let used: BTreeSet<&Path> = layers
        .iter()
        .flat_map(|l| l.templates.iter().map(|t| t.path.as_path()))
        .collect();
    let templates = root.join("templates");
    let mut dirs = vec![templates.clone()];
    dirs.extend(
        fs::read_dir(&templates)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    let mut partials = Vec::new();
    let mut problems = Vec::new();
    for dir in dirs {
        for path in files_with_suffix(&dir, ".tera") {
            let rel = relative(root, &path);
            if used.contains(rel.as_path()) {
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(text) => partials.push(Template { path: rel, text }),
                Err(err) => problems.push(Diagnostic::new(
                    Location::file(&rel),
                    format!("cannot read template: {err}"),
                )),
            }
        }
    }
    partials.sort_by(|a, b| a.path.cmp(&b.path));
    if problems.is_empty() {
        Ok(partials)
    } else {
        Err(problems)
    }
}

fn one(diagnostic: Diagnostic) -> Diagnostics {
    Diagnostics(vec![diagnostic])
}

fn default_name(root: &Path) -> String {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "workspace".to_string())
}

/// Files in `dir` whose names end with `suffix`, sorted.
fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

const NAME_HELP: &str = "use lowercase letters, digits and `-`, starting with a letter or digit";

fn load_groups(root: &Path, dir: &str, problems: &mut Vec<Diagnostic>) -> Vec<Group> {
    let mut groups = Vec::new();
    for path in files_with_suffix(&root.join(dir), ".yaml") {
        match load_group(root, &relative(root, &path), true) {
            Ok(group) => groups.push(group),
            Err(mut found) => problems.append(&mut found),
        }
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    groups
}

/// Reads and checks one group file (`file` relative to `root`). In the groups directory
/// (`named_by_file`) the group is named by its file; elsewhere (a fixture of a test) `name:`
/// may differ from the file name, which is only its default.
pub fn load_group(root: &Path, file: &Path, named_by_file: bool) -> Result<Group, Vec<Diagnostic>> {
    let text = fs::read_to_string(root.join(file)).map_err(|err| {
        vec![Diagnostic::new(
            Location::file(file),
            format!("cannot read: {err}"),
        )]
    })?;
    let stem = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let mut group = yaml::parse::<Group>(file, &text).map_err(|d| vec![d])?;
    group.file = file.to_path_buf();
    if group.name.is_empty() {
        group.name = stem.clone();
    }
    let problems = check_group(&group, &text, named_by_file.then_some(stem.as_str()));
    if problems.is_empty() {
        Ok(group)
    } else {
        Err(problems)
    }
}

/// Problems of a parsed group: its name (equal to `stem`, its file name, when given), its
/// replica names (valid, unique) and that it has replicas. `text` is the text of the group's
/// file; locations follow [`Group::locate`].
pub fn check_group(group: &Group, text: &str, stem: Option<&str>) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let at = |path: &[Seg]| group.locate(text, path);
    if let Some(stem) = stem.filter(|s| *s != group.name) {
        problems.push(
            Diagnostic::new(
                at(&[Seg::Key("name")]),
                format!(
                    "group name `{}` differs from its file name `{stem}`",
                    group.name
                ),
            )
            .help(format!(
                "rename the file to {}.yaml or set `name: {stem}`",
                group.name
            )),
        );
    }
    if !is_valid_name(&group.name) {
        problems.push(
            Diagnostic::new(
                at(&[Seg::Key("name")]),
                format!("invalid group name `{}`", group.name),
            )
            .help(NAME_HELP),
        );
    }
    if group.replicas.is_empty() {
        problems.push(
            Diagnostic::new(
                at(&[Seg::Key("replicas")]),
                "a group needs at least one replica",
            )
            .help("add an entry under `replicas:` with name, cloud, region and zones"),
        );
    }
    let mut seen = BTreeMap::new();
    for (i, replica) in group.replicas.iter().enumerate() {
        let at = at(&[Seg::Key("replicas"), Seg::Index(i), Seg::Key("name")]);
        if !is_valid_name(&replica.name) {
            problems.push(
                Diagnostic::new(
                    at.clone(),
                    format!("invalid replica name `{}`", replica.name),
                )
                .help(NAME_HELP),
            );
        }
        if let Some(old) = &replica.renamed_from {
            problems.extend(check_renamed_from(group, i, old, text));
        }
        if let Some(first) = seen.insert(replica.name.clone(), at.line) {
            problems.push(
                Diagnostic::new(at, format!("duplicate replica name `{}`", replica.name)).help(
                    format!(
                        "replica names must be unique in a group; the first is on line {}",
                        first.unwrap_or(0)
                    ),
                ),
            );
        }
    }
    problems
}

/// `renamed_from` of replica `i`: a valid name, not its own, not another replica's.
fn check_renamed_from(group: &Group, i: usize, old: &str, text: &str) -> Option<Diagnostic> {
    let at = group.locate(
        text,
        &[
            Seg::Key("replicas"),
            Seg::Index(i),
            Seg::Key("renamed_from"),
        ],
    );
    let replica = &group.replicas[i];
    let (message, help) = if !is_valid_name(old) {
        (
            format!("invalid `renamed_from` `{old}`"),
            NAME_HELP.to_string(),
        )
    } else if old == replica.name {
        (
            format!("replica `{old}` is `renamed_from` itself"),
            "remove `renamed_from`, or set it to the replica's previous name".to_string(),
        )
    } else if group.replicas.iter().any(|r| r.name == old) {
        (
            format!("`renamed_from: {old}` names a replica the group still has"),
            "a renamed replica's old name must be gone from the group".to_string(),
        )
    } else if group
        .replicas
        .iter()
        .enumerate()
        .any(|(j, r)| j < i && r.renamed_from.as_deref() == Some(old))
    {
        (
            format!("two replicas are `renamed_from: {old}`"),
            "one replica takes over the old one's state; keep one".to_string(),
        )
    } else {
        return None;
    };
    Some(Diagnostic::new(at, message).help(help))
}

fn load_layers(root: &Path, problems: &mut Vec<Diagnostic>) -> Vec<Layer> {
    let mut layers = Vec::new();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("stacks"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        problems.push(
            Diagnostic::new(Location::file("stacks/"), "the workspace has no layers")
                .help("create stacks/<layer>/layer.yaml for each layer"),
        );
    }
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let path = dir.join("layer.yaml");
        let file = relative(root, &path);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                problems.push(
                    Diagnostic::new(
                        Location::file(&file),
                        format!("cannot read layer file: {err}"),
                    )
                    .help(format!(
                        "create {} with at least `per: group|cloud|replica`",
                        file.display()
                    )),
                );
                continue;
            }
        };
        let spec = match yaml::parse::<LayerFile>(&file, &text) {
            Ok(spec) => spec,
            Err(diagnostic) => {
                problems.push(diagnostic);
                continue;
            }
        };
        if !is_valid_name(&name) {
            problems.push(
                Diagnostic::new(
                    Location::file(&file),
                    format!("invalid layer name `{name}`"),
                )
                .help(NAME_HELP),
            );
        }
        let templates = load_templates(root, &name, &spec, &file, &text, problems);
        layers.push(Layer {
            name,
            file,
            spec,
            templates,
        });
    }
    layers
}

fn load_templates(
    root: &Path,
    layer: &str,
    spec: &LayerFile,
    layer_file: &Path,
    layer_text: &str,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Template> {
    let dir = root.join("templates").join(layer);
    let paths: Vec<PathBuf> = match &spec.templates {
        Some(names) => names.iter().map(|n| dir.join(n)).collect(),
        None => files_with_suffix(&dir, ".yaml.tera"),
    };
    if paths.is_empty() {
        problems.push(
            Diagnostic::new(
                Location::file(layer_file),
                format!("layer `{layer}` has no templates"),
            )
            .help(format!("add templates/{layer}/<name>.yaml.tera")),
        );
    }
    let mut templates = Vec::new();
    for (i, path) in paths.into_iter().enumerate() {
        let rel = relative(root, &path);
        match fs::read_to_string(&path) {
            Ok(text) => templates.push(Template { path: rel, text }),
            Err(err) => problems.push(
                Diagnostic::new(
                    yaml::location_of(
                        layer_file,
                        layer_text,
                        &[Seg::Key("templates"), Seg::Index(i)],
                    ),
                    format!("cannot read template {}: {err}", rel.display()),
                )
                .help("fix the name in `templates:` or create the file"),
            ),
        }
    }
    templates
}

/// Checks `depends_on` names and orders layers so that each follows its dependencies.
fn order_layers(root: &Path, layers: Vec<Layer>) -> Result<Vec<Layer>, Vec<Diagnostic>> {
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let mut problems = Vec::new();
    for layer in &layers {
        for (i, dep) in layer.spec.depends_on.iter().enumerate() {
            if !names.contains(&dep.as_str()) {
                let text = fs::read_to_string(root.join(&layer.file)).unwrap_or_default();
                problems.push(
                    Diagnostic::new(
                        yaml::location_of(
                            &layer.file,
                            &text,
                            &[Seg::Key("depends_on"), Seg::Index(i)],
                        ),
                        format!("layer `{}` depends on unknown layer `{dep}`", layer.name),
                    )
                    .help(suggest(dep, names.iter().copied())),
                );
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let edges: Vec<(usize, usize)> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.spec
                .depends_on
                .iter()
                .map(move |d| (i, d))
                .collect::<Vec<_>>()
        })
        .map(|(i, d)| (names.iter().position(|n| n == d).unwrap_or(i), i))
        .collect();
    match crate::graph::topo_order(layers.len(), &edges) {
        Ok(order) => {
            let mut slots: Vec<Option<Layer>> = layers.into_iter().map(Some).collect();
            Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
        }
        Err(cycle) => {
            let path: Vec<&str> = cycle.iter().map(|&i| names[i]).collect();
            let first = &layers[cycle[0]];
            Err(vec![Diagnostic::new(
                Location::file(&first.file),
                format!(
                    "layers depend on each other in a cycle: {}",
                    path.join(" -> ")
                ),
            )
            .help("remove one of these `depends_on` entries")])
        }
    }
}
