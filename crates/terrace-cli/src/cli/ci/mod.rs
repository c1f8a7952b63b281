//! `terrace ci github`: a CI pipeline that fans the stack graph out over runners. One plan job
//! saves the plan (and the `terrace` binary) as an artifact; then one apply job per stack runs
//! `terrace apply PLAN --stack STACK`, needing the jobs of the stacks it depends on and, in a
//! staged rollout, those of the previous wave (through a gate job when the rollout has a
//! gate). Jobs of a group share its deployment environment; each stack is its own concurrency
//! group. Each job assumes the AWS role of the first `access:` role that may apply its stack.
//!
//! The pipeline is a model ([`Pipeline`]) rendered per CI system (`github`).

mod github;

use super::args::{CiArgs, CiCommand};
use crate::cli::output::{eoutln, out};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use terrace::access::Action;
use terrace::config::StackInstance;
use terrace::engine::Terrace;
use terrace::error::EXIT_OK;
use terrace::rollout::RolloutPlan;
use terrace::Error;

/// The CI variable holding the AWS role to assume when no `access:` role fits.
const DEFAULT_ROLE_VARIABLE: &str = "TERRACE_AWS_ROLE";

/// A pipeline, independent of the CI system.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The workspace name.
    pub workspace: String,
    /// `TERRACE_BACKEND` for the runners, when terrace.yaml names no S3 backend.
    pub backend: Option<String>,
    /// `AWS_REGION` for the runners: the backend's region, if its URL names one.
    pub region: Option<String>,
    /// Command that installs `terrace` in the plan job.
    pub install: String,
    /// Branch whose pushes apply.
    pub branch: String,
    /// Whether any stack is on GCP (jobs then authenticate to Google Cloud too).
    pub gcp: bool,
    /// CI variable with the AWS role the plan job assumes.
    pub plan_role: String,
    /// Every stack of the workspace, for the job that applies removed stacks.
    pub stacks: Vec<String>,
    /// Apply and gate jobs, in dependency order.
    pub jobs: Vec<Job>,
}

/// One job after the plan job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Job id (`apply-networks-eu-a`).
    pub id: String,
    /// Ids of the jobs it needs (the plan job is implied).
    pub needs: Vec<String>,
    /// What it does.
    pub kind: Kind,
}

/// What a job does.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `terrace apply PLAN --stack STACK`.
    Apply {
        /// The stack.
        stack: StackInstance,
        /// CI variable with the AWS role to assume.
        role: String,
    },
    /// A rollout's gate command after one of its waves.
    Gate {
        /// The rollout (`layer` or `layer/group`).
        rollout: String,
        /// The wave it follows, 1-based.
        wave: usize,
        /// The stacks of that wave.
        stacks: Vec<String>,
        /// The gate command.
        command: String,
    },
    /// Applies the stacks of the plan that no other job applies: stacks removed from the
    /// configuration, whose deletion the plan holds.
    Removed,
}

/// Runs a `ci` command.
pub fn run(terrace: &Terrace, dir: &Path, command: &CiCommand) -> Result<i32, Error> {
    let CiCommand::Github(args) = command;
    let pipeline = pipeline(terrace, args)?;
    let text = github::render(&pipeline);
    write(dir, args, &text)
}

fn write(dir: &Path, args: &CiArgs, text: &str) -> Result<i32, Error> {
    match &args.out {
        None => out!("{text}"),
        Some(out) => {
            let path = dir.join(out);
            let fail = |e: String| Error::PlanFile {
                path: path.display().to_string(),
                message: format!("cannot write the pipeline: {e}"),
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
            }
            terrace::state::file::write_atomic(&path, text.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
            eoutln!(
                "Wrote {}; regenerate it when stacks are added or removed.",
                out.display()
            );
        }
    }
    Ok(EXIT_OK)
}

/// The pipeline of a workspace.
pub fn pipeline(terrace: &Terrace, args: &CiArgs) -> Result<Pipeline, Error> {
    let workspace = terrace.workspace();
    let backend = match &args.backend {
        Some(url) => Some(url.clone()),
        None => std::env::var(super::BACKEND_VARIABLE)
            .ok()
            .filter(|v| !v.is_empty()),
    };
    let url = backend
        .clone()
        .unwrap_or_else(|| super::backend_url(workspace));
    if !url.starts_with("s3://") {
        return Err(Error::usage(format!(
            "CI runners share no disk, and this workspace keeps its state at `{url}`: set `backend: s3://BUCKET/PREFIX?region=R&lock_table=T` in terrace.yaml, or pass --backend s3://…"
        )));
    }
    let location = terrace_s3::S3Location::parse(&url).map_err(|e| Error::State(e.into()))?;
    let stacks: Vec<StackInstance> = terrace
        .stacks(&Default::default())?
        .into_iter()
        .cloned()
        .collect();
    let roles = Roles::of(terrace)?;
    let mut ids = JobIds::default();
    for stack in &stacks {
        ids.stack(&stack.name)?;
    }
    let rollouts = terrace::rollout::rollouts(workspace, stacks.iter());
    let (rollout_needs, gates) = rollout_edges(&rollouts, &mut ids)?;
    let mut jobs = Vec::new();
    for stack in &stacks {
        let mut needs: Vec<String> = terrace
            .links()
            .depends_on
            .get(&stack.name)
            .into_iter()
            .flatten()
            .map(|d| ids.of(d))
            .collect();
        needs.extend(rollout_needs.get(&stack.name).cloned().unwrap_or_default());
        jobs.push(Job {
            id: ids.of(&stack.name),
            needs: dedup(needs),
            kind: Kind::Apply {
                stack: stack.clone(),
                role: roles.applier(&stack.name),
            },
        });
        for gate in gates.iter().filter(|g| g.after_stack == stack.name) {
            jobs.push(gate.job.clone());
        }
    }
    jobs.push(Job {
        id: ids.unique("apply-removed-stacks")?,
        needs: stacks.iter().map(|s| ids.of(&s.name)).collect(),
        kind: Kind::Removed,
    });
    Ok(Pipeline {
        workspace: workspace.name.clone(),
        backend,
        region: location.region,
        install: args.install.clone(),
        branch: args.branch.clone(),
        gcp: stacks.iter().any(|s| s.cloud.as_deref() == Some("gcp")),
        plan_role: roles.planner(&stacks),
        stacks: stacks.iter().map(|s| s.name.clone()).collect(),
        jobs,
    })
}

/// A gate job, placed after the last stack of its wave.
struct Gate {
    after_stack: String,
    job: Job,
}

/// Stack → the job ids the rollout order makes it need.
type RolloutNeeds = BTreeMap<String, Vec<String>>;

/// The rollout order: stack → job ids it needs (the previous wave's stacks, or the gate after
/// it), and the gate jobs.
fn rollout_edges(
    rollouts: &[RolloutPlan],
    ids: &mut JobIds,
) -> Result<(RolloutNeeds, Vec<Gate>), Error> {
    let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut gates = Vec::new();
    for rollout in rollouts {
        for (w, pair) in rollout.waves.windows(2).enumerate() {
            let (previous, next) = (&pair[0], &pair[1]);
            let before: Vec<String> = match &rollout.gate {
                Some(command) => {
                    let id = ids.unique(&format!("gate-{}-wave-{}", rollout.name, w + 1))?;
                    gates.push(Gate {
                        after_stack: previous.last().cloned().unwrap_or_default(),
                        job: Job {
                            id: id.clone(),
                            needs: previous.iter().map(|s| ids.of(s)).collect(),
                            kind: Kind::Gate {
                                rollout: rollout.name.clone(),
                                wave: w + 1,
                                stacks: previous.clone(),
                                command: command.clone(),
                            },
                        },
                    });
                    vec![id]
                }
                None => previous.iter().map(|s| ids.of(s)).collect(),
            };
            for stack in next {
                needs
                    .entry(stack.clone())
                    .or_default()
                    .extend(before.clone());
            }
        }
    }
    Ok((needs, gates))
}

fn dedup(values: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// Job ids: `apply-` and the stack name with every other character than letters, digits and
/// `-` made `-`; two names that come out the same are an error rather than a silent merge.
#[derive(Default)]
struct JobIds {
    by_stack: BTreeMap<String, String>,
    taken: BTreeMap<String, String>,
}

impl JobIds {
    fn clean(text: &str) -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }

    fn stack(&mut self, stack: &str) -> Result<(), Error> {
        let id = self.unique(&format!("apply-{stack}"))?;
        self.by_stack.insert(stack.to_string(), id);
        Ok(())
    }

    fn unique(&mut self, name: &str) -> Result<String, Error> {
        let id = Self::clean(name);
        if let Some(other) = self.taken.insert(id.clone(), name.to_string()) {
            return Err(Error::usage(format!(
                "`{name}` and `{other}` both make the CI job id `{id}`; rename one of them"
            )));
        }
        Ok(id)
    }

    fn of(&self, stack: &str) -> String {
        self.by_stack
            .get(stack)
            .cloned()
            .unwrap_or_else(|| Self::clean(&format!("apply-{stack}")))
    }
}

/// The `access:` roles, for choosing the AWS role of each job.
struct Roles {
    resolved: Vec<terrace::access::RoleAccess>,
}

impl Roles {
    fn of(terrace: &Terrace) -> Result<Roles, Error> {
        let resolved = terrace
            .workspace()
            .settings
            .access
            .keys()
            .map(|role| terrace.access(role))
            .collect::<Result<_, _>>()?;
        Ok(Roles { resolved })
    }

    fn variable(role: &str) -> String {
        let suffix: String = role
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("{DEFAULT_ROLE_VARIABLE}_{suffix}")
    }

    /// The first role that may apply the stack.
    fn applier(&self, stack: &str) -> String {
        self.resolved
            .iter()
            .find(|r| r.stacks_with(Action::Apply).any(|g| g.stack.name == stack))
            .map(|r| Self::variable(&r.role))
            .unwrap_or_else(|| DEFAULT_ROLE_VARIABLE.to_string())
    }

    /// The first role that may plan every stack.
    fn planner(&self, stacks: &[StackInstance]) -> String {
        self.resolved
            .iter()
            .find(|r| {
                let names: BTreeSet<&str> = r
                    .stacks_with(Action::Plan)
                    .map(|g| g.stack.name.as_str())
                    .collect();
                stacks.iter().all(|s| names.contains(s.name.as_str()))
            })
            .map(|r| Self::variable(&r.role))
            .unwrap_or_else(|| DEFAULT_ROLE_VARIABLE.to_string())
    }
}
