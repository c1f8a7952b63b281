//! The workspace model: `terrace.yaml`, `groups/*.yaml` (or the directory `groups:` names),
//! `stacks/<layer>/layer.yaml` and `templates/<layer>/*.yaml.tera`, loaded and validated.
//! Every problem becomes a [`Diagnostic`] naming file, line and column; loading never writes
//! anything.

pub mod group;
pub mod layer;
pub mod locations;
pub mod sections;
pub mod settings;
pub mod sources;
pub mod stacks;
pub mod yaml;

use crate::diagnostics::{suggest, Diagnostic, Diagnostics, Location};
use group::Group;
use layer::{Layer, LayerFile, Template};
use settings::Settings;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use yaml::Seg;

pub use sources::{SourceError, Sources};
pub use stacks::StackInstance;

/// The workspace settings file name.
pub const SETTINGS_FILE: &str = "terrace.yaml";

/// A loaded, validated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace directory (files given in memory are placed as if under it); empty for a
    /// workspace given wholly in memory.
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
    /// The text of every file loaded (settings, groups, layers, templates, policies), by path
    /// relative to the root: later checks place their errors in these, never reading again.
    pub files: std::sync::Arc<BTreeMap<PathBuf, String>>,
    /// True when `root` is the workspace's own directory, where the library may keep its
    /// default state (`file://.terrace/state`); false for a workspace from memory or a
    /// read-only directory ([`Sources`]).
    pub writable: bool,
}

impl Workspace {
    /// The text of a loaded file (`file` relative to the root; empty when it was not loaded).
    pub fn text(&self, file: &Path) -> &str {
        self.files.get(file).map_or("", String::as_str)
    }

    /// The loaded policy files (`policies/*.rego`, tests aside), by path.
    pub fn policy_files(&self) -> Vec<(PathBuf, String)> {
        self.files
            .iter()
            .filter(|(p, _)| {
                p.starts_with("policies") && p.extension().is_some_and(|e| e == "rego")
            })
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect()
    }

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

/// Loads and validates the workspace at `root` (its directory; see [`load_sources`]).
pub fn load(root: &Path) -> Result<Workspace, Diagnostics> {
    load_sources(Sources::workspace(root))
}

/// Loads and validates a workspace from its [`Sources`]: files in memory, a directory, or
/// both. Nothing is written anywhere; every text read is kept in the [`Workspace`].
pub fn load_sources(mut sources: Sources) -> Result<Workspace, Diagnostics> {
    let settings_path = Path::new(SETTINGS_FILE);
    let settings_text = sources.read(settings_path).map_err(one)?.ok_or_else(|| {
        let place = sources.dir().map_or_else(
            || "the files given".to_string(),
            |d| d.join(SETTINGS_FILE).display().to_string(),
        );
        one(Diagnostic::new(
            Location::file(settings_path),
            format!("not a Terrace workspace: no {SETTINGS_FILE} in {place}"),
        )
        .help(format!(
            "run the command inside a workspace, pass -C DIR, or create {SETTINGS_FILE}"
        )))
    })?;
    let settings: Settings = yaml::parse(settings_path, &settings_text).map_err(one)?;
    sources.place_groups(Path::new(settings.groups.as_deref().unwrap_or("groups")));
    let mut reader = Reader::new(&sources);
    reader.keep(settings_path, &settings_text);
    let mut problems = Vec::new();
    let (groups, broken) = load_groups(&mut reader, &settings);
    let layers = load_layers(&mut reader, &mut problems);
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    let layers = order_layers(&reader, layers).map_err(Diagnostics)?;
    let partials = load_partials(&mut reader, &layers).map_err(Diagnostics)?;
    load_policies(&mut reader).map_err(Diagnostics)?;
    let root = sources.dir().map_or_else(PathBuf::new, Path::to_path_buf);
    let name = settings.name.clone().unwrap_or_else(|| default_name(&root));
    Ok(Workspace {
        root,
        name,
        settings,
        groups,
        layers,
        partials,
        broken,
        files: std::sync::Arc::new(reader.texts),
        writable: sources.is_writable(),
    })
}

/// Reads through [`Sources`], keeping each text read.
struct Reader<'a> {
    sources: &'a Sources,
    texts: BTreeMap<PathBuf, String>,
}

impl<'a> Reader<'a> {
    fn new(sources: &'a Sources) -> Self {
        Reader {
            sources,
            texts: BTreeMap::new(),
        }
    }

    fn keep(&mut self, file: &Path, text: &str) {
        self.texts.insert(file.to_path_buf(), text.to_string());
    }

    /// The text of `file`: `None` when it does not exist.
    fn read(&mut self, file: &Path) -> Result<Option<String>, Diagnostic> {
        let text = self.sources.read(file)?;
        if let Some(text) = &text {
            self.keep(file, text);
        }
        Ok(text)
    }

    /// A text read before.
    fn text(&self, file: &Path) -> &str {
        self.texts.get(file).map_or("", String::as_str)
    }
}

/// `*.tera` files under `templates/` and its subdirectories (one level) that no layer renders.
fn load_partials(reader: &mut Reader, layers: &[Layer]) -> Result<Vec<Template>, Vec<Diagnostic>> {
    let used: BTreeSet<&Path> = layers
        .iter()
        .flat_map(|l| l.templates.iter().map(|t| t.path.as_path()))
        .collect();
    let templates = PathBuf::from("templates");
    let mut dirs = vec![templates.clone()];
    dirs.extend(reader.sources.dirs_in(&templates));
    let mut partials = Vec::new();
    let mut problems = Vec::new();
    for dir in dirs {
        for path in reader.sources.files_in(&dir, ".tera") {
            if used.contains(path.as_path()) {
                continue;
            }
            match reader.read(&path) {
                Ok(Some(text)) => partials.push(Template { path, text }),
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

/// `policies/*.rego` (tests aside): read here, parsed by [`crate::policy::rego::Policies`].
fn load_policies(reader: &mut Reader) -> Result<(), Vec<Diagnostic>> {
    let problems: Vec<Diagnostic> = reader
        .sources
        .files_in(Path::new("policies"), ".rego")
        .into_iter()
        .filter(|p| !sources::is_policy_test(p))
        .filter_map(|path| reader.read(&path).err())
        .collect();
    if problems.is_empty() {
        Ok(())
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

fn load_groups(reader: &mut Reader, settings: &Settings) -> LoadedGroups {
    let dir = PathBuf::from(settings.groups.as_deref().unwrap_or("groups"));
    let locations = locations::Locations::load(&settings.regions);
    let mut paths = reader.sources.files_in(&dir, ".yaml");
    paths.extend(reader.sources.files_in(&dir, ".yml"));
    let mut groups: Vec<Group> = Vec::new();
    let mut broken: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    for file in paths {
        let stem = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut problems = Vec::new();
        if let Some(group) = load_group(reader, &file, &stem, &locations, &mut problems) {
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
    reader: &mut Reader,
    file: &Path,
    stem: &str,
    locations: &locations::Locations,
    problems: &mut Vec<Diagnostic>,
) -> Option<Group> {
    let text = match reader.read(file) {
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
    let text = Sources::workspace(root)
        .read(file)
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

fn load_layers(reader: &mut Reader, problems: &mut Vec<Diagnostic>) -> Vec<Layer> {
    let mut layers = Vec::new();
    let dirs = reader.sources.dirs_in(Path::new("stacks"));
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
        let file = dir.join("layer.yaml");
        let text = match reader.read(&file) {
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
        let templates = load_templates(reader, &name, &spec, &file, &text, problems);
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
    reader: &mut Reader,
    layer: &str,
    spec: &LayerFile,
    layer_file: &Path,
    layer_text: &str,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Template> {
    let dir = Path::new("templates").join(layer);
    let paths: Vec<PathBuf> = match &spec.templates {
        Some(names) => names.iter().map(|n| dir.join(n)).collect(),
        None => reader.sources.files_in(&dir, ".yaml.tera"),
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
        match reader.read(&path) {
            Ok(Some(text)) => templates.push(Template { path, text }),
            Err(diagnostic) => problems.push(diagnostic),
            Ok(None) => problems.push(
                Diagnostic::new(
                    yaml::location_of(
                        layer_file,
                        layer_text,
                        &[Seg::Key("templates"), Seg::Index(i)],
                    ),
                    format!("template {} does not exist", path.display()),
                )
                .help("fix the name in `templates:` or create the file"),
            ),
        }
    }
    templates
}

/// Checks `depends_on` names and orders layers so that each follows its dependencies.
fn order_layers(reader: &Reader, layers: Vec<Layer>) -> Result<Vec<Layer>, Vec<Diagnostic>> {
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let mut problems = Vec::new();
    for layer in &layers {
        for (i, dep) in layer.spec.depends_on.iter().enumerate() {
            if !names.contains(&dep.as_str()) {
                let text = reader.text(&layer.file);
                problems.push(
                    Diagnostic::new(
                        yaml::location_of(
                            &layer.file,
                            text,
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
