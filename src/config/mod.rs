//! The workspace model: `terrace.yaml`, `groups/*.yaml` (or the directory `groups:` names),
//! `stacks/<layer>/layer.yaml` and `templates/<layer>/*.yaml.tera`, loaded and validated.
//! Every problem becomes a [`Diagnostic`] naming file, line and column; loading never writes
//! anything.

pub mod group;
pub mod layer;
pub mod locations;
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
    /// Groups whose file has input errors, by name (the file's stem), with the errors. They
    /// have no stacks here: a command whose selection reaches such a group reports its errors
    /// (see [`crate::engine::Terrace::stacks`]); commands on the other groups run.
    pub broken: BTreeMap<String, Vec<Diagnostic>>,
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
    let (groups, broken) = load_groups(root, &settings);
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
        broken,
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
            match read_text(&path, &rel) {
                Ok(Some(text)) => partials.push(Template { path: rel, text }),
                Ok(None) => {}
                Err(diagnostic) => problems.push(diagnostic),
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

/// A workspace file's text: `None` when it does not exist, a diagnostic at the file itself when
/// it cannot be read or is not UTF-8 (naming the line and column of the first bad byte).
fn read_text(path: &Path, file: &Path) -> Result<Option<String>, Diagnostic> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(Diagnostic::new(
                Location::file(file),
                format!("cannot read: {err}"),
            ))
        }
    };
    String::from_utf8(bytes).map(Some).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        let byte = err.as_bytes()[valid.len()];
        Diagnostic::new(
            Location::at(file, line, column),
            format!("not UTF-8 text: byte 0x{byte:02x} cannot start a character"),
        )
        .help("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
    })
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

pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) const NAME_HELP: &str =
    "use lowercase letters, digits and `-`, starting with a letter or digit";

/// Group files: `*.yaml` and `*.yml` in the groups directory.
/// Groups without problems, and the problems of the others by group name.
type LoadedGroups = (Vec<Group>, BTreeMap<String, Vec<Diagnostic>>);

fn load_groups(root: &Path, settings: &Settings) -> LoadedGroups {
    let dir = root.join(settings.groups.as_deref().unwrap_or("groups"));
    let locations = locations::Locations::load(&settings.regions);
    let mut paths = files_with_suffix(&dir, ".yaml");
    paths.extend(files_with_suffix(&dir, ".yml"));
    let mut groups: Vec<Group> = Vec::new();
    let mut broken: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    for path in paths {
        let file = relative(root, &path);
        let stem = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut problems = Vec::new();
        if let Some(group) = load_group(&path, &file, &stem, &locations, &mut problems) {
            if let Some(first) = groups.iter().find(|g| g.name == group.name) {
                problems.push(
                    Diagnostic::new(
                        Location::file(&file),
                        format!(
                            "group `{}` is defined twice: here and in {}",
                            group.name,
                            first.file.display()
                        ),
                    )
                    .help("keep one of the two files"),
                );
            } else if problems.is_empty() {
                groups.push(group);
            }
        }
        if !problems.is_empty() {
            broken.entry(stem).or_default().extend(problems);
        }
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    (groups, broken)
}

/// One group file, parsed and checked; `None` when it cannot be read or parsed.
fn load_group(
    path: &Path,
    file: &Path,
    stem: &str,
    locations: &locations::Locations,
    problems: &mut Vec<Diagnostic>,
) -> Option<Group> {
    let text = match read_text(path, file) {
        Ok(text) => text?,
        Err(diagnostic) => {
            problems.push(diagnostic);
            return None;
        }
    };
    match yaml::parse::<Group>(file, &text) {
        Ok(mut group) => {
            group.file = file.to_path_buf();
            if group.name.is_empty() {
                group.name = stem.to_string();
            }
            group::check(&group, Some(stem), &text, locations, problems);
            Some(group)
        }
        Err(diagnostic) => {
            problems.push(diagnostic);
            None
        }
    }
}

/// Reads and checks one group file outside the groups directory (`file` relative to `root`,
/// e.g. a group of a workspace test): `name:` may differ from the file name, which is only its
/// default. Regions and zones are checked against the cloud's and `settings.regions`.
pub fn load_group_file(
    root: &Path,
    file: &Path,
    settings: &Settings,
) -> Result<Group, Vec<Diagnostic>> {
    let stem = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let text = read_text(&root.join(file), file)
        .map_err(|d| vec![d])?
        .unwrap_or_default();
    let mut group = yaml::parse::<Group>(file, &text).map_err(|d| vec![d])?;
    group.file = file.to_path_buf();
    if group.name.is_empty() {
        group.name = stem;
    }
    let problems = check_group(&group, &text, None, settings);
    if problems.is_empty() {
        Ok(group)
    } else {
        Err(problems)
    }
}

/// Problems of a parsed group (see [`group::check`]); `stem`, when given, is the name the
/// group must have (its file's). `text` is the text of the group's file.
pub fn check_group(
    group: &Group,
    text: &str,
    stem: Option<&str>,
    settings: &Settings,
) -> Vec<Diagnostic> {
    let locations = locations::Locations::load(&settings.regions);
    let mut problems = Vec::new();
    group::check(group, stem, text, &locations, &mut problems);
    problems
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
        let text = match read_text(&path, &file) {
            Ok(Some(text)) => text,
            Err(diagnostic) => {
                problems.push(diagnostic);
                continue;
            }
            Ok(None) => {
                problems.push(
                    Diagnostic::new(
                        Location::file(&file),
                        "the layer has no layer.yaml".to_string(),
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
        match read_text(&path, &rel) {
            Ok(Some(text)) => templates.push(Template { path: rel, text }),
            Err(diagnostic) => problems.push(diagnostic),
            Ok(None) => problems.push(
                Diagnostic::new(
                    yaml::location_of(
                        layer_file,
                        layer_text,
                        &[Seg::Key("templates"), Seg::Index(i)],
                    ),
                    format!("template {} does not exist", rel.display()),
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
