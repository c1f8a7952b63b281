//! `groups/<name>.yaml`: one region group — its jurisdiction and its replicas (cloud, region,
//! zones, size) — and its checks: names, regions and zones of each cloud, node counts and
//! address ranges.

use super::locations::Locations;
use super::yaml::{self, Seg, SegBuf};
use super::{is_valid_name, NAME_HELP};
use crate::diagnostics::{Diagnostic, Location};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A region group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Defaults to the file name; if given it must equal it.
    #[serde(default)]
    pub name: String,
    /// Jurisdiction, e.g. `EU`, `US`, `global`.
    #[serde(default)]
    pub residency: Option<String>,
    /// The replicas of the group.
    pub replicas: Vec<Replica>,
    /// Free-form values for templates.
    #[serde(default)]
    pub vars: BTreeMap<String, Json>,
    /// Staged rollout of this group's stacks (overrides terrace.yaml's).
    #[serde(default)]
    pub rollout: Option<crate::config::sections::RolloutSettings>,
    /// The group file, relative to the workspace root.
    #[serde(skip)]
    pub file: PathBuf,
    /// Where the group's mapping sits in its file: empty for a group file; the key path of a
    /// group written inline in another file (e.g. a test of `terrace test`).
    #[serde(skip)]
    pub key_path: Vec<SegBuf>,
}

/// One database replica of a group, in one cloud region.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Name, unique in its scope (lowercase letters, digits, `-`).
    pub name: String,
    /// The provider that hosts it (`aws`, `gcp`, ...).
    pub cloud: String,
    /// Cloud region, e.g. `eu-west-1` or `europe-west3`.
    pub region: String,
    /// Availability zones.
    #[serde(default)]
    pub zones: Vec<String>,
    /// Nodes.
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    /// Machine type or instance size, cloud-specific.
    #[serde(default)]
    pub machine: Option<String>,
    /// Free-form values for templates.
    #[serde(default)]
    pub vars: BTreeMap<String, Json>,
    /// The replica's previous name, when it was renamed: the state of each of its stacks moves
    /// from the old stack name to the new one, so the cloud objects are kept. Templates see it
    /// as `replica.renamed_from` and keep the cloud names made from the old name while it is
    /// set (names such as an auto-scaling group's cannot change in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

fn default_nodes() -> u32 {
    1
}

impl Group {
    /// The location of a key path inside the group (`text` is the text of its file), falling
    /// back to the deepest part found.
    pub fn locate(&self, text: &str, path: &[Seg]) -> Location {
        let mut full: Vec<Seg> = self.key_path.iter().map(SegBuf::as_seg).collect();
        full.extend_from_slice(path);
        yaml::location_of(&self.file, text, &full)
    }

    /// The distinct clouds of the group's replicas, in order of first appearance.
    pub fn clouds(&self) -> Vec<String> {
        let mut clouds: Vec<String> = Vec::new();
        for replica in &self.replicas {
            if !clouds.contains(&replica.cloud) {
                clouds.push(replica.cloud.clone());
            }
        }
        clouds
    }
}

/// Checks a parsed group file (`text`, named `stem`): its name, its replicas' names, regions
/// and zones against the cloud's (see [`Locations`]), node counts, and the address ranges
/// `vars.cidr` of the group and of each replica. Every problem is a diagnostic at its line.
pub(super) fn check(
    group: &Group,
    stem: Option<&str>,
    text: &str,
    locations: &Locations,
    problems: &mut Vec<Diagnostic>,
) {
    let at = |path: &[Seg]| group.locate(text, path);
    if let Some(stem) = stem.filter(|stem| *stem != group.name) {
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
                Location::file(&group.file),
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
        let at_first =
            |first: usize| at(&[Seg::Key("replicas"), Seg::Index(first), Seg::Key("name")]);
        let at = |key: &str| at(&[Seg::Key("replicas"), Seg::Index(i), Seg::Key(key)]);
        if !is_valid_name(&replica.name) {
            problems.push(
                Diagnostic::new(
                    at("name"),
                    format!("invalid replica name `{}`", replica.name),
                )
                .help(NAME_HELP),
            );
        }
        // Located only when there is a problem to report: locating scans the file.
        if let Some(first) = seen.insert(replica.name.clone(), i) {
            let first_line = at_first(first);
            problems.push(
                Diagnostic::new(
                    at("name"),
                    format!("duplicate replica name `{}`", replica.name),
                )
                .help(format!(
                    "replica names must be unique in a group; the first is on line {}",
                    first_line.line.unwrap_or(0)
                )),
            );
        }
        if let Some(old) = &replica.renamed_from {
            problems.extend(check_renamed_from(group, i, old, text));
        }
        check_place(replica, &at, locations, problems);
        if replica.nodes == 0 {
            problems.push(
                Diagnostic::new(
                    at("nodes"),
                    format!("replica `{}` has no nodes", replica.name),
                )
                .help("a replica needs at least one node; to take it out of the group, remove its entry (its stacks are then planned for deletion)"),
            );
        }
    }
    check_ranges(group, text, problems);
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

/// A replica's region and zones must be its cloud's, and it needs at least one zone.
fn check_place(
    replica: &Replica,
    at: &dyn Fn(&str) -> Location,
    locations: &Locations,
    problems: &mut Vec<Diagnostic>,
) {
    if let Err(unknown) = locations.check_region(&replica.cloud, &replica.region) {
        problems.push(Diagnostic::new(at("region"), unknown.message).help(unknown.help));
        return;
    }
    if replica.zones.is_empty() {
        problems.push(
            Diagnostic::new(
                at("zones"),
                format!("replica `{}` has no zones", replica.name),
            )
            .help(
                match locations.some_zones(&replica.cloud, &replica.region)[..] {
                    [] => format!("list the zones of {} its nodes spread over", replica.region),
                    ref some => format!(
                        "list the zones of {} its nodes spread over, e.g. `zones: [{}]`",
                        replica.region,
                        some.join(", ")
                    ),
                },
            ),
        );
    }
    let mut listed = BTreeSet::new();
    for zone in &replica.zones {
        if !listed.insert(zone) {
            problems.push(
                Diagnostic::new(at("zones"), format!("zone `{zone}` is listed twice"))
                    .help("list each zone once"),
            );
        } else if let Err(unknown) = locations.check_zone(&replica.cloud, &replica.region, zone) {
            problems.push(Diagnostic::new(at("zones"), unknown.message).help(unknown.help));
        }
    }
}

/// The address ranges of a group: `vars.cidr` of the group and of each replica must be CIDR
/// blocks (network addresses), each replica's inside the group's, and no two replicas'
/// overlapping (their networks would collide where they meet).
fn check_ranges(group: &Group, text: &str, problems: &mut Vec<Diagnostic>) {
    let at = |path: &[Seg]| group.locate(text, path);
    let group_path = [Seg::Key("vars"), Seg::Key("cidr")];
    let group_range = group
        .vars
        .get("cidr")
        .and_then(|v| parse_range(v, || at(&group_path), problems));
    let mut ranges: Vec<(&str, IpNet)> = Vec::new();
    for (i, replica) in group.replicas.iter().enumerate() {
        let path = [
            Seg::Key("replicas"),
            Seg::Index(i),
            Seg::Key("vars"),
            Seg::Key("cidr"),
        ];
        let Some(range) = replica
            .vars
            .get("cidr")
            .and_then(|v| parse_range(v, || at(&path), problems))
        else {
            continue;
        };
        if let Some(outer) = group_range.filter(|outer| !outer.contains(&range)) {
            problems.push(
                Diagnostic::new(
                    at(&path),
                    format!(
                        "the range {range} of replica `{}` lies outside the group's range {outer}",
                        replica.name
                    ),
                )
                .help(format!(
                    "choose a range inside {outer} (the database port is open to the group's range only)"
                )),
            );
        }
        for (other, taken) in &ranges {
            if taken.contains(&range.network()) || range.contains(&taken.network()) {
                problems.push(
                    Diagnostic::new(
                        at(&path),
                        format!(
                            "the range {range} of replica `{}` overlaps {taken} of replica `{other}`",
                            replica.name
                        ),
                    )
                    .help("give each replica a range of its own"),
                );
            }
        }
        ranges.push((&replica.name, range));
    }
}

/// A `cidr` value as a network, or a diagnostic saying what is wrong with it.
fn parse_range(
    value: &Json,
    at: impl FnOnce() -> Location,
    problems: &mut Vec<Diagnostic>,
) -> Option<IpNet> {
    let Some(text) = value.as_str() else {
        problems.push(
            Diagnostic::new(at(), format!("`cidr` must be a CIDR block, not {value}"))
                .help("write the range as text, e.g. `cidr: 10.16.0.0/12`"),
        );
        return None;
    };
    match crate::value::cidr::parse(text) {
        Ok(range) => Some(range),
        Err(problem) => {
            problems.push(Diagnostic::new(at(), problem.message).help(problem.help));
            None
        }
    }
}
