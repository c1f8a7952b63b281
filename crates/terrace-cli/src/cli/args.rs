//! Command-line arguments (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// A duration as `30s`, `5m`, `1h30m`.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|_| format!("expected a duration such as 30s, 5m or 1h30m, not `{text}`"))
}

#[derive(Debug, Parser)]
#[command(
    name = "terrace",
    version,
    about = "Plan and apply multi-cloud region groups, stack by stack."
)]
pub struct Cli {
    /// Workspace directory (default: the current directory).
    #[arg(short = 'C', long = "dir", global = true, default_value = ".")]
    pub dir: PathBuf,
    /// Machine-readable output: JSON documents, NDJSON events while applying.
    #[arg(long, global = true)]
    pub json: bool,
    /// No colours.
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the stacks of the workspace.
    Stacks(SelectArgs),
    /// Draw the stack graph.
    Graph(GraphArgs),
    /// Show what would change.
    Plan(PlanArgs),
    /// Apply changes: a saved plan, or a fresh one after confirmation.
    Apply(ApplyArgs),
    /// Delete every resource of the selected stacks.
    Destroy(DestroyArgs),
    /// Read the cloud and update state; report drift and vanished resources.
    Refresh(RefreshArgs),
    /// Report drift and vanished resources without writing state; exit 2 when there is drift.
    Drift(SelectArgs),
    /// Take an existing cloud resource under management as a declared resource of a stack.
    Import(ImportArgs),
    /// Print stack outputs.
    Output(OutputArgs),
    /// Run the workspace's tests offline: test files and policy tests.
    Test(TestArgs),
    /// Configuration values in terrace.yaml, plain or encrypted (`--secret`).
    #[command(subcommand)]
    Config(super::config_cmd::ConfigCommand),
    /// Inspect and repair state.
    #[command(subcommand)]
    State(StateCommand),
    /// Per-stack access control: the roles of `access:` and the cloud policies that enforce them.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Generate a CI pipeline that fans the stack graph out over runners.
    #[command(subcommand)]
    Ci(CiCommand),
    /// The offline sandbox: local emulators of AWS (moto) and Compute Engine.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Create a new workspace from the reference architecture (terrace.yaml, stacks,
    /// templates, policies, one example group) in an empty or new directory.
    Init {
        /// Where (default: the workspace directory, `-C`, which must then be empty).
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Print the least-privilege cloud policy of a role (for the S3 backend).
    Policy {
        /// A role of `access:` in terrace.yaml.
        role: String,
        /// `aws-iam`: the IAM policy document; `json`: the role's stacks, deploy roles and the
        /// policy.
        #[arg(long, value_enum, default_value = "aws-iam")]
        format: PolicyFormat,
    },
    /// List, per stack, what a role (or every role) may do.
    Check {
        /// A role of `access:`; every role when left out.
        role: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyFormat {
    AwsIam,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// A GitHub Actions workflow: a plan job, then one apply job per stack.
    Github(CiArgs),
}

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Write the pipeline to FILE (relative to the workspace) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// State backend URL for the runners (`s3://…`) when terrace.yaml names another one; set as
    /// TERRACE_BACKEND in the pipeline.
    #[arg(long)]
    pub backend: Option<String>,
    /// Command that installs `terrace` on a runner.
    #[arg(long, default_value = "cargo install --locked terrace-cli")]
    pub install: String,
    /// Branch whose pushes apply (pull requests only plan).
    #[arg(long, default_value = "main")]
    pub branch: String,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start the emulators in the background (or show the running ones).
    Start {
        /// `cloud`: as strict as AWS and Compute (eventual consistency, throttling, lost
        /// answers, in-use refusals; see the README); `fast`: the emulators as they are.
        #[arg(long, default_value = "cloud")]
        profile: String,
        /// Seed of the sandbox's random faults (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Stop the emulators this workspace started.
    Stop,
    /// Whether the emulators run, and where.
    Status,
    /// Shell `export` lines pointing AWS and GCP clients at the emulators.
    Env,
    /// Run the Compute Engine emulator in the foreground (used by `start`).
    #[command(hide = true)]
    ServeGce {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        state_file: Option<PathBuf>,
        #[arg(long, default_value = "cloud")]
        profile: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run the AWS behaviour layer in front of moto in the foreground (used by `start`).
    #[command(hide = true)]
    ServeAws {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        upstream: String,
        #[arg(long, default_value = "cloud")]
        profile: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Debug, Clone, Args, Default)]
pub struct SelectArgs {
    /// Only stacks of this group (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Only stacks of this layer (repeatable).
    #[arg(long = "layer")]
    pub layers: Vec<String>,
    /// Only this stack; globs allowed, e.g. 'networks/eu/*' (repeatable).
    #[arg(long = "stack")]
    pub stacks: Vec<String>,
    /// Only stacks on this cloud (repeatable).
    #[arg(long = "cloud")]
    pub clouds: Vec<String>,
    /// Only stacks in this region (repeatable).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Only this resource and what it depends on: STACK:RESOURCE (repeatable).
    #[arg(long = "target")]
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
    /// Colour nodes by the action a fresh plan would take.
    #[arg(long)]
    pub plan: bool,
    /// Draw the resources inside each stack instead of the stacks.
    #[arg(long)]
    pub resources: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PlanFlags {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Do not read the cloud first; diff against state only.
    #[arg(long)]
    pub no_refresh: bool,
    /// Allow deleting or replacing this protected resource: STACK:RESOURCE (repeatable).
    #[arg(long = "allow-destroy")]
    pub allow_destroy: Vec<String>,
    /// Raise the delete budget (budgets.max_deletes) for this run.
    #[arg(long)]
    pub max_deletes: Option<usize>,
    /// Raise the replace budget (budgets.max_replaces) for this run.
    #[arg(long)]
    pub max_replaces: Option<usize>,
    /// Raise the changed-stacks budget (budgets.max_stacks) for this run.
    #[arg(long)]
    pub max_stacks: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Save the plan to FILE, to apply exactly it later.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Plan the destruction of the selected stacks.
    #[arg(long)]
    pub destroy: bool,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Write a Markdown summary of the plan to FILE (default: $GITHUB_STEP_SUMMARY when set).
    #[arg(long)]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunFlags {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How long to wait for a stack's lock held by someone else (e.g. 30s, 5m).
    #[arg(long, value_parser = duration, default_value = "0s")]
    pub lock_timeout: Duration,
    /// A cap on independent stacks applied at once (default: `concurrency.stacks` of
    /// terrace.yaml, else none: the providers' rate limits pace the calls).
    #[arg(long)]
    pub parallel_stacks: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `terrace plan --out FILE`; with selectors (`--stack`, `--group`, …)
    /// only those stacks' part of it is applied.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub flags: PlanFlags,
    #[command(flatten)]
    pub run: RunFlags,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub flags: PlanFlags,
    #[command(flatten)]
    pub run: RunFlags,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// How long to wait for a stack's lock held by someone else.
    #[arg(long, value_parser = duration, default_value = "0s")]
    pub lock_timeout: Duration,
    /// Exit 2 when drift was found.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The stack, e.g. networks/eu/aws-eu-west-1.
    pub stack: String,
    /// The resource's name in the stack's template.
    pub resource: String,
    /// The cloud id (vpc-…, an ARN, a Compute selfLink, …).
    pub id: String,
    /// How long to wait for the stack's lock held by someone else.
    #[arg(long, value_parser = duration, default_value = "0s")]
    pub lock_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The stack (default: every selected stack).
    pub stack: Option<String>,
    /// One output of the stack.
    pub key: Option<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Stacks that have state, with serial and resource count.
    List,
    /// One stack's state.
    Show { stack: String },
    /// Remove a stale lock (its holder is gone). Refused while the holder is a process still
    /// running on this host.
    Unlock {
        stack: String,
        /// Remove the lock even though its holder still runs: two processes may then change
        /// the stack at once.
        #[arg(long)]
        force: bool,
    },
    /// Move a resource's state entry to another name or stack (STACK:RESOURCE); the cloud
    /// object is kept, so renames and moves do not destroy anything.
    Mv {
        from: String,
        to: String,
        /// How long to wait for the stacks' locks.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lock_timeout: std::time::Duration,
    },
    /// Forget a resource (STACK:RESOURCE): its entry leaves state, the cloud object stays
    /// and is no longer managed.
    Rm {
        at: String,
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lock_timeout: std::time::Duration,
    },
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files (*.yaml), policy tests (*_test.rego) or directories (default: the tests
    /// directory, `tests:` in terrace.yaml, and policies/*_test.rego).
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to FILE (for CI).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}
