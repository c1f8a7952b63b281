//! Test files: their YAML format, and loading them into checked tests. Everything that can be
//! checked before planning is checked here — unknown fields, groups, config keys, mocked types
//! and fields, the assertion syntax, Rego that does not parse — and reported at its file, line
//! and column, so a broken test file is one clear error and nothing runs.

use super::expect::{ActionSpec, Target, ValueCheck, ACTION_WORDS};
use super::mock::Mocks;
use super::rego::Assertions;
use crate::config::group::Group;
use crate::config::yaml::{self, Seg, SegBuf};
use crate::config::Workspace;
use crate::diagnostics::{suggest, Diagnostic, Location};
use crate::policy::budgets::Budgets;
use crate::policy::rego::Policies;
use crate::provider::Registry;
use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The top level of a test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// What the file covers, for readers.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    tests: Vec<RawStep>,
}

/// A test (its first step) or one of its later steps (`then:`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    groups: Option<Vec<GroupEntry>>,
    #[serde(default)]
    config: IndexMap<String, Json>,
    #[serde(default)]
    state: Option<StateKind>,
    #[serde(default)]
    mocks: IndexMap<String, IndexMap<String, Json>>,
    #[serde(default)]
    budgets: Option<Budgets>,
    #[serde(default)]
    allow_destroy: Vec<String>,
    #[serde(default)]
    destroy: bool,
    #[serde(default)]
    expect: RawExpect,
    #[serde(default)]
    then: Vec<RawStep>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    actions: IndexMap<String, Words>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    changed_stacks: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<RawSummary>,
    #[serde(default)]
    refused: Option<Words>,
    #[serde(default)]
    invalid: Option<RawInvalid>,
    #[serde(default)]
    rego: Option<String>,
}

/// Expected counts of the plan's summary; unset ones are not checked.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SummaryCheck {
    /// Resources created.
    pub create: Option<usize>,
    /// Resources updated in place.
    pub update: Option<usize>,
    /// Resources replaced.
    pub replace: Option<usize>,
    /// Resources deleted.
    pub delete: Option<usize>,
    /// Resources unchanged.
    pub no_op: Option<usize>,
    /// Stacks in the plan.
    pub stacks: Option<usize>,
    /// Stacks with a change.
    pub stacks_changed: Option<usize>,
}

type RawSummary = SummaryCheck;

/// The state a step plans against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    /// Nothing exists yet (the first step's default).
    None,
    /// As if this step's own configuration had been applied: every resource exists, with
    /// mocked ids and attributes.
    Applied,
    /// The state after the previous step: its plan applied on the mock clouds if it was
    /// accepted, unchanged if it was refused or invalid (later steps' default).
    Previous,
}

/// A group of a step: a group of the workspace by name, a group file by path, or a group
/// written inline.
#[derive(Debug)]
enum GroupEntry {
    Name(String),
    Inline(Box<Group>),
}

impl<'de> Deserialize<'de> for GroupEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = GroupEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a group name, a group file, or a group (name, residency, replicas)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GroupEntry, E> {
                Ok(GroupEntry::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<GroupEntry, A::Error> {
                Group::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|g| GroupEntry::Inline(Box::new(g)))
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

/// One text or a list of texts.
#[derive(Debug, Clone)]
struct Words(Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Texts;
        impl<'de> Visitor<'de> for Texts {
            type Value = Words;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text or a list of texts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Words, E> {
                Ok(Words(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Words, A::Error> {
                let mut all = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    all.push(item);
                }
                Ok(Words(all))
            }
        }
        deserializer.deserialize_any(Texts)
    }
}

/// `invalid: TEXT` or `invalid: {message: TEXT, at: FILE:LINE}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidFields {
    message: String,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Debug, Clone)]
struct RawInvalid(InvalidFields);

impl<'de> Deserialize<'de> for RawInvalid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Invalid;
        impl<'de> Visitor<'de> for Invalid {
            type Value = RawInvalid;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message, or a mapping with `message` and `at: FILE:LINE`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawInvalid, E> {
                Ok(RawInvalid(InvalidFields {
                    message: v.to_string(),
                    at: None,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawInvalid, A::Error> {
                InvalidFields::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawInvalid)
            }
        }
        deserializer.deserialize_any(Invalid)
    }
}

/// An expectation and where the test file states it.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// Where in the test file.
    pub at: Location,
    /// The expectation.
    pub item: T,
}

/// `actions:` entry: a target and what it does.
#[derive(Debug, Clone)]
pub struct ActionRule {
    /// The key as written.
    pub key: String,
    /// The stacks (and resources) it covers.
    pub target: Target,
    /// What they must do.
    pub spec: ActionSpec,
}

/// `invalid:`: the workspace must fail to load, with this message (at this place).
#[derive(Debug, Clone)]
pub struct InvalidCheck {
    /// A part of the error message.
    pub message: String,
    /// `FILE:LINE` (or `FILE`, `FILE:LINE:COLUMN`) the error must name.
    pub at: Option<String>,
}

/// What a step's plan must show.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Actions per stack or resource; the first rule matching a stack (resource) applies.
    pub actions: Vec<Located<ActionRule>>,
    /// Planned values.
    pub values: Vec<Located<ValueCheck>>,
    /// Exactly the stacks that change (globs).
    pub changed_stacks: Option<Located<Vec<String>>>,
    /// Counts of the plan's summary.
    pub summary: Option<Located<SummaryCheck>>,
    /// The plan must be refused, each text being part of a refusal.
    pub refused: Option<Located<Vec<String>>>,
    /// The workspace must fail to load or plan.
    pub invalid: Option<Located<InvalidCheck>>,
    /// Rego `assert` rules, evaluated on the plan JSON.
    pub rego: Option<Located<Assertions>>,
}

impl Expect {
    fn checks_the_plan(&self) -> bool {
        !self.actions.is_empty()
            || !self.values.is_empty()
            || self.changed_stacks.is_some()
            || self.summary.is_some()
            || self.rego.is_some()
    }
}

/// One plan of a test: a configuration, a prior state, expectations.
#[derive(Debug, Clone)]
pub struct Step {
    /// `step N` or `step N (name)`.
    pub label: String,
    /// Where the step starts in the test file.
    pub at: Location,
    /// The groups (sorted by name).
    pub groups: Vec<Group>,
    /// Config values overridden so far (by this step and the ones before it).
    pub config: BTreeMap<String, Json>,
    /// Mocked attribute values so far.
    pub mocks: Mocks,
    /// The state planned against.
    pub state: StateKind,
    /// Budgets raised for this plan.
    pub budgets: Budgets,
    /// Protected resources this plan may delete or replace.
    pub allow_destroy: Vec<String>,
    /// Plan the destruction of every stack.
    pub destroy: bool,
    /// What the plan must show.
    pub expect: Expect,
}

/// A test: one or more steps.
#[derive(Debug, Clone)]
pub struct Test {
    /// Its name.
    pub name: String,
    /// Where it starts in its file.
    pub at: Location,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

/// A loaded test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The file, relative to the workspace root where possible.
    pub path: PathBuf,
    /// Its tests.
    pub tests: Vec<Test>,
}

/// What loading a test file checks against.
pub struct Checks<'a> {
    /// The workspace as loaded (its root, groups and config).
    pub workspace: &'a Workspace,
    /// The providers' schemas.
    pub schemas: &'a Registry,
    /// The workspace's policies (Rego assertions are compiled with them).
    pub policies: &'a Policies,
}

/// Loads and checks one test file; every problem found, located.
pub fn load(checks: &Checks, path: &Path) -> Result<TestFile, Vec<Diagnostic>> {
    let root = &checks.workspace.root;
    let file = crate::diagnostics::relative(root, path);
    let text = std::fs::read_to_string(root.join(&file)).map_err(|e| {
        vec![Diagnostic::new(
            Location::file(&file),
            format!("cannot read the test file: {e}"),
        )]
    })?;
    let raw: RawFile = yaml::parse(&file, &text).map_err(|d| vec![d])?;
    let mut loader = Loader {
        checks,
        file: file.clone(),
        text: &text,
        problems: Vec::new(),
    };
    if raw.tests.is_empty() {
        loader.problem(
            &[SegBuf::Key("tests".into())],
            "the file has no tests",
            "add an entry under `tests:` with a name and an `expect:`",
        );
    }
    let mut names = BTreeMap::new();
    let tests: Vec<Test> = raw
        .tests
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let path = vec![SegBuf::Key("tests".into()), SegBuf::Index(i)];
            let test = loader.test(raw, path.clone());
            if let Some(first) = names.insert(test.name.clone(), test.at.line) {
                loader.problem(
                    &[path, vec![SegBuf::Key("name".into())]].concat(),
                    &format!("duplicate test name `{}`", test.name),
                    &format!("the first is on line {}", first.unwrap_or(0)),
                );
            }
            test
        })
        .collect();
    if loader.problems.is_empty() {
        Ok(TestFile { path: file, tests })
    } else {
        Err(loader.problems)
    }
}

struct Loader<'a> {
    checks: &'a Checks<'a>,
    file: PathBuf,
    text: &'a str,
    problems: Vec<Diagnostic>,
}

fn key(path: &[SegBuf], key: &str) -> Vec<SegBuf> {
    let mut path = path.to_vec();
    path.push(SegBuf::Key(key.to_string()));
    path
}

fn index(path: &[SegBuf], i: usize) -> Vec<SegBuf> {
    let mut path = path.to_vec();
    path.push(SegBuf::Index(i));
    path
}

impl Loader<'_> {
    fn at(&self, path: &[SegBuf]) -> Location {
        let segs: Vec<Seg> = path.iter().map(SegBuf::as_seg).collect();
        yaml::location_of(&self.file, self.text, &segs)
    }

    fn problem(&mut self, path: &[SegBuf], message: &str, help: &str) {
        let diagnostic = Diagnostic::new(self.at(path), message).help(help);
        self.problems.push(diagnostic);
    }

    fn test(&mut self, mut raw: RawStep, path: Vec<SegBuf>) -> Test {
        let name = raw.name.clone().unwrap_or_default();
        if name.trim().is_empty() {
            self.problem(
                &path,
                "a test needs a `name:`",
                "add `name:` saying what it proves",
            );
        }
        let later = std::mem::take(&mut raw.then);
        let mut previous = Step {
            label: String::new(),
            at: self.at(&path),
            groups: self.checks.workspace.groups.clone(),
            config: BTreeMap::new(),
            mocks: Mocks::new(),
            state: StateKind::None,
            budgets: Budgets::default(),
            allow_destroy: Vec::new(),
            destroy: false,
            expect: Expect::default(),
        };
        let mut steps = Vec::new();
        let first = self.step(raw, &path, &previous, 1);
        previous = first.clone();
        steps.push(first);
        for (j, raw) in later.into_iter().enumerate() {
            let step_path = index(&key(&path, "then"), j);
            if !raw.then.is_empty() {
                self.problem(
                    &key(&step_path, "then"),
                    "steps do not nest",
                    "list every later step under the test's own `then:`",
                );
            }
            let step = self.step(raw, &step_path, &previous, j + 2);
            previous = step.clone();
            steps.push(step);
        }
        Test {
            name,
            at: self.at(&key(&path, "name")),
            steps,
        }
    }

    fn step(&mut self, raw: RawStep, path: &[SegBuf], previous: &Step, number: usize) -> Step {
        let label = match (&raw.name, number) {
            (Some(name), n) if n > 1 => format!("step {n} ({name})"),
            _ => format!("step {number}"),
        };
        let state = raw.state.unwrap_or(if number == 1 {
            StateKind::None
        } else {
            StateKind::Previous
        });
        if number == 1 && state == StateKind::Previous {
            self.problem(
                &key(path, "state"),
                "the first step has no previous step to continue from",
                "use `state: none` (nothing exists) or `state: applied` (this configuration, as if applied)",
            );
        }
        let groups = match raw.groups {
            Some(entries) => self.groups(entries, &key(path, "groups")),
            None => previous.groups.clone(),
        };
        let mut config = previous.config.clone();
        config.extend(self.config(raw.config, &key(path, "config")));
        let mut mocks = previous.mocks.clone();
        for (type_name, fields) in self.mocks(raw.mocks, &key(path, "mocks")) {
            mocks.entry(type_name).or_default().extend(fields);
        }
        for (i, address) in raw.allow_destroy.iter().enumerate() {
            if crate::address::ResourceAddress::split(address).is_some() {
                continue;
            }
            self.problem(
                &index(&key(path, "allow_destroy"), i),
                &format!("`{address}` is not STACK:RESOURCE"),
                "write the protected resource as STACK:RESOURCE, e.g. accounts/eu/aws:account",
            );
        }
        let expect = self.expect(raw.expect, &key(path, "expect"));
        Step {
            label,
            at: self.at(path),
            groups,
            config,
            mocks,
            state,
            budgets: raw.budgets.unwrap_or_default(),
            allow_destroy: raw.allow_destroy,
            destroy: raw.destroy,
            expect,
        }
    }

    fn groups(&mut self, entries: Vec<GroupEntry>, path: &[SegBuf]) -> Vec<Group> {
        let workspace = self.checks.workspace;
        let mut groups: Vec<Group> = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let at = index(path, i);
            let group = match entry {
                GroupEntry::Name(name) if name.ends_with(".yaml") || name.ends_with(".yml") => {
                    match crate::config::load_group_file(
                        &workspace.root,
                        Path::new(&name),
                        &workspace.settings,
                    ) {
                        Ok(group) => group,
                        Err(mut found) => {
                            self.problems.append(&mut found);
                            continue;
                        }
                    }
                }
                GroupEntry::Name(name) => match workspace.group(&name) {
                    Some(group) => group.clone(),
                    None => {
                        let names = workspace.groups.iter().map(|g| g.name.as_str());
                        let help = format!(
                            "{} (or give a group file ending in .yaml, or a group inline)",
                            suggest(&name, names)
                        );
                        self.problem(&at, &format!("no group `{name}` in the workspace"), &help);
                        continue;
                    }
                },
                GroupEntry::Inline(group) => {
                    let mut group = *group;
                    group.file = self.file.clone();
                    group.key_path = at.clone();
                    if group.name.is_empty() {
                        self.problem(
                            &at,
                            "an inline group needs a `name:`",
                            "add `name:` (the group's name in stack names)",
                        );
                        continue;
                    }
                    let mut found =
                        crate::config::check_group(&group, self.text, None, &workspace.settings);
                    self.problems.append(&mut found);
                    group
                }
            };
            if groups.iter().any(|g| g.name == group.name) {
                self.problem(
                    &at,
                    &format!("group `{}` is given twice", group.name),
                    "give each group once",
                );
                continue;
            }
            groups.push(group);
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        groups
    }

    fn config(&mut self, raw: IndexMap<String, Json>, path: &[SegBuf]) -> Vec<(String, Json)> {
        let known = &self.checks.workspace.settings.config;
        let mut values = Vec::new();
        for (name, value) in raw {
            if known.contains_key(&name) {
                values.push((name, value));
            } else {
                let help = suggest(&name, known.keys().map(String::as_str));
                self.problem(
                    &key(path, &name),
                    &format!("`{name}` is not a config key of terrace.yaml"),
                    &help,
                );
            }
        }
        values
    }

    fn mocks(
        &mut self,
        raw: IndexMap<String, IndexMap<String, Json>>,
        path: &[SegBuf],
    ) -> Vec<(String, crate::provider::Properties)> {
        let schemas = self.checks.schemas;
        let mut mocks = Vec::new();
        for (type_name, fields) in raw {
            let type_path = key(path, &type_name);
            let Some(schema) = schemas.schema(&type_name) else {
                let help = suggest(&type_name, schemas.type_names());
                self.problem(
                    &type_path,
                    &format!("unknown resource type `{type_name}`"),
                    &help,
                );
                continue;
            };
            let mut values = crate::provider::Properties::new();
            for (field, value) in fields {
                if schema.field(&field).is_some() {
                    values.insert(field, value);
                } else {
                    let names = schema.fields.iter().map(|f| f.name.as_str());
                    let help = suggest(&field, names);
                    self.problem(
                        &key(&type_path, &field),
                        &format!("{type_name} has no field `{field}`"),
                        &help,
                    );
                }
            }
            mocks.push((type_name, values));
        }
        mocks
    }

    fn expect(&mut self, raw: RawExpect, path: &[SegBuf]) -> Expect {
        let mut expect = Expect::default();
        let actions_path = key(path, "actions");
        for (target, words) in raw.actions {
            let at = key(&actions_path, &target);
            let parsed = Target::parse(&target)
                .and_then(|t| ActionSpec::parse(&words.0).map(|spec| (t, spec)));
            match parsed {
                Ok((parsed_target, spec)) => expect.actions.push(Located {
                    at: self.at(&at),
                    item: ActionRule {
                        key: target,
                        target: parsed_target,
                        spec,
                    },
                }),
                Err(message) => self.problem(&at, &message, &format!("actions are {ACTION_WORDS}")),
            }
        }
        for (i, text) in raw.values.iter().enumerate() {
            let at = index(&key(path, "values"), i);
            match ValueCheck::parse(text) {
                Ok(check) => expect.values.push(Located {
                    at: self.at(&at),
                    item: check,
                }),
                Err(message) => self.problem(
                    &at,
                    &message,
                    "e.g. `replicas/eu/*:nodes.min_size == 2` or `proxies/eu:outputs.port == 5432` (quote the line if it holds `: ` or ` #`)",
                ),
            }
        }
        let locate = |this: &Self, name: &str| this.at(&key(path, name));
        expect.changed_stacks = raw.changed_stacks.map(|item| Located {
            at: locate(self, "changed_stacks"),
            item,
        });
        expect.summary = raw.summary.map(|item| Located {
            at: locate(self, "summary"),
            item,
        });
        expect.refused = raw.refused.map(|w| Located {
            at: locate(self, "refused"),
            item: w.0,
        });
        expect.invalid = raw.invalid.map(|RawInvalid(i)| Located {
            at: locate(self, "invalid"),
            item: InvalidCheck {
                message: i.message,
                at: i.at,
            },
        });
        if let Some(text) = raw.rego {
            let at = locate(self, "rego");
            let name = format!("{}:{}", self.file.display(), at.line.unwrap_or(0));
            match Assertions::compile(self.checks.policies, &name, &text) {
                Ok(item) => expect.rego = Some(Located { at, item }),
                Err(message) => self.problems.push(
                    Diagnostic::new(at, message).help(
                        "write Rego v1 rules named `assert` or `assert_…` that hold on the plan (`input`)",
                    ),
                ),
            }
        }
        let decided = expect.refused.is_some() || expect.invalid.is_some();
        if decided && expect.checks_the_plan() {
            self.problem(
                path,
                "a refused or invalid plan has no actions or values to check",
                "keep `refused:` or `invalid:` alone, or move the other expectations to a step of their own",
            );
        }
        expect
    }
}
