//! The CLI edge: parse arguments, open the workspace through the library, print results,
//! map outcomes to the documented exit codes.

mod access_cmd;
mod args;
mod ci;
mod config_cmd;
mod init;
mod output;
mod planning;
mod progress;
mod render;
mod sandbox;
mod summary;

use args::{
    Cli, Command, GraphFormat, PlanFlags, RunFlags, SandboxCommand, SelectArgs, StateCommand,
};
use clap::Parser;
use output::{eout, eoutln, out, outln};
use render::Styles;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use terrace::access::Action;
use terrace::address::ResourceAddress;
use terrace::apply::ApplySummary;
use terrace::engine::{PlanOptions, Selector, Terrace, Unlocked};
use terrace::error::{EXIT_CHANGES, EXIT_ERROR, EXIT_LOCKED, EXIT_OK, EXIT_STALE_PLAN, EXIT_USAGE};
use terrace::events::StackStatus;
use terrace::graph::export::{self, Format};
use terrace::plan::Plan;
use terrace::provider::Registry;
use terrace::testing::{TestOptions, TestProvider};
use terrace::Error;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    // Before any thread starts: a running sandbox points the providers at the emulators.
    sandbox::apply_environment(&cli.dir);
    let colour = !cli.no_color
        && !cli.json
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let styles = Styles::new(colour);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Waits inside provider calls outside an apply's operations (the reads of a plan, a
    // refresh, a drift report) are said as they happen; an apply reports its own.
    let waits =
        |notice: terrace::provider::progress::Notice| eoutln!("{}", planning::wait_line(&notice));
    let work = terrace::provider::progress::scoped(waits, run(&cli, &styles));
    let code = match runtime.block_on(work) {
        Ok(code) => code,
        Err(err) => {
            if cli.json {
                let body = serde_json::json!({"error": {"message": err.to_string(), "exit_code": err.exit_code(), "diagnostics": diagnostics(&err)}});
                outln!("{body}");
            } else {
                eout!("{}", render::error(&err, &styles));
            }
            err.exit_code()
        }
    };
    ExitCode::from(code as u8)
}

/// `--help` and `--version` print and succeed; a command line that cannot be parsed is a
/// usage error (exit code 64, never 2: `--detailed-exitcode` means "changes present" by 2).
fn usage_error(err: &clap::Error) -> ExitCode {
    if !err.use_stderr() {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|a| a == "--json") {
        let message = err.render().to_string();
        let body = serde_json::json!({"error": {"message": message.trim_end(), "exit_code": EXIT_USAGE, "diagnostics": []}});
        outln!("{body}");
    } else {
        let _ = err.print();
    }
    ExitCode::from(EXIT_USAGE as u8)
}

fn diagnostics(err: &Error) -> serde_json::Value {
    match err {
        Error::Invalid(d) => serde_json::to_value(&d.0).unwrap_or_default(),
        _ => serde_json::Value::Array(vec![]),
    }
}

/// Providers for a workspace: AWS and GCP always (they touch the network only when used),
/// configured by `providers.<name>.settings` in terrace.yaml; the in-process test provider
/// only when `TERRACE_TEST_PROVIDER=1` (engine tests).
fn providers(workspace: &terrace::config::Workspace) -> Result<Registry, Error> {
    let mut registry = terrace_providers::registry(workspace)
        .map_err(|e| settings_error(workspace, &e.provider, &e.message))?;
    if std::env::var("TERRACE_TEST_PROVIDER").is_ok_and(|v| v == "1") {
        let dir = workspace.root.join(".terrace").join("test-cloud");
        let options = TestOptions::from_settings(&terrace_providers::settings(workspace, "test"));
        registry.register(Arc::new(TestProvider::in_dir(dir, options)));
    }
    Ok(registry)
}

/// A provider's refusal of its settings, at the setting's line in terrace.yaml: the setting is
/// the first `name` the provider's message quotes, and when it lists the settings it knows
/// (`(known: a, b, c)`), the closest one is suggested.
fn settings_error(workspace: &terrace::config::Workspace, provider: &str, message: &str) -> Error {
    use terrace::config::yaml::{self, Seg};
    use terrace::diagnostics::{suggest, Diagnostic, Diagnostics};
    let file = terrace::config::SETTINGS_FILE;
    let text = workspace.text(std::path::Path::new(file));
    let settings = workspace.settings.providers.get(provider);
    let key = message
        .split('`')
        .nth(1)
        .filter(|k| settings.is_some_and(|s| s.settings.contains_key(*k)));
    let mut path = vec![
        Seg::Key("providers"),
        Seg::Key(provider),
        Seg::Key("settings"),
    ];
    path.extend(key.map(Seg::Key));
    let (what, known) = match message.split_once(" (known: ") {
        Some((what, known)) => (what, Some(known.trim_end_matches(')'))),
        None => (message, None),
    };
    let help = match (key, known) {
        (Some(key), Some(known)) => suggest(key, known.split(", ")),
        _ => format!("see the {provider} provider's README for its settings"),
    };
    let diagnostic =
        Diagnostic::new(yaml::location_of(file.as_ref(), text, &path), what).help(help);
    Error::Invalid(Diagnostics(vec![diagnostic]))
}

/// Overrides `backend:` of terrace.yaml (a CI runner keeps state on S3 while a laptop uses
/// `file://`).
const BACKEND_VARIABLE: &str = "TERRACE_BACKEND";

/// The state backend URL in force: TERRACE_BACKEND, else `backend:`, else the default.
fn backend_url(workspace: &terrace::config::Workspace) -> String {
    std::env::var(BACKEND_VARIABLE)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| workspace.settings.backend.clone())
        .unwrap_or_else(|| "file://.terrace/state".to_string())
}

/// The providers `terrace test` mocks: their names and schemas only, built with default
/// settings (no endpoint, no credentials) and never called.
fn schema_providers() -> Result<Registry, Error> {
    let mut registry = terrace_providers::schema_registry()?;
    if std::env::var("TERRACE_TEST_PROVIDER").is_ok_and(|v| v == "1") {
        registry.register(Arc::new(TestProvider::in_memory(TestOptions::default())));
    }
    Ok(registry)
}

/// `terrace test`: a line per test as it ends, the failures, a summary line; JUnit XML with
/// `--junit`. Exit 1 when a test fails.
async fn test(cli: &Cli, args: &args::TestArgs, styles: &Styles) -> Result<i32, Error> {
    let schemas = schema_providers()?;
    let json = cli.json;
    let report = terrace::workspace_test::run(&cli.dir, &schemas, &args.paths, |file, test| {
        if !json {
            print!("{}", render::test_result(file, test, styles));
        }
    })
    .await?;
    if let Some(path) = &args.junit {
        let path = cli.dir.join(path);
        terrace::state::file::write_atomic(&path, report.junit_xml().as_bytes())
            .map_err(|e| Error::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        print!("{}", render::test_summary(&report, styles));
    }
    Ok(if report.failed == 0 {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// Opens the workspace for a command that reads or changes the clouds.
/// The workspace for a command that reads or changes the clouds: its secrets must open.
fn open_for_cloud(dir: &Path) -> Result<Terrace, Error> {
    sandbox::check_running(dir)?;
    open_workspace(dir, false)
}

/// The workspace for a command that reads no secret value (stacks, graph, state, outputs,
/// access, ci): it opens without `TERRACE_PASSPHRASE` too.
fn open(dir: &Path) -> Result<Terrace, Error> {
    open_workspace(dir, true)
}

fn open_workspace(dir: &Path, secrets_optional: bool) -> Result<Terrace, Error> {
    let builder = Terrace::builder(terrace::config::Sources::workspace(dir), providers)
        .secrets_with(config_cmd::open_secrets);
    let builder = if secrets_optional {
        builder.secrets_optional()
    } else {
        builder
    };
    let mut terrace = builder.open()?;
    if std::env::var(BACKEND_VARIABLE).is_ok_and(|v| !v.is_empty()) {
        let url = backend_url(terrace.workspace());
        let backend = terrace::state::open_backend(
            Some(&url),
            &terrace.workspace().root,
            terrace.registry(),
        )?;
        terrace.set_backend(backend);
    }
    Ok(terrace)
}

/// Checks that the current credentials may take `action` on the stacks, before anything is
/// written (exit code 6 otherwise).
async fn preflight(terrace: &Terrace, stacks: &[String], action: Action) -> Result<(), Error> {
    terrace.check_access(stacks, action).await
}

/// Names of the selected stacks, configured or left in state after their configuration was
/// removed; a selector that matches nothing is an error.
async fn selected_names(terrace: &Terrace, select: &SelectArgs) -> Result<Vec<String>, Error> {
    Ok(terrace
        .select(&selector(select))
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect())
}

fn selector(args: &SelectArgs) -> Selector {
    Selector {
        groups: args.groups.clone(),
        layers: args.layers.clone(),
        stacks: args.stacks.clone(),
        clouds: args.clouds.clone(),
        regions: args.regions.clone(),
        targets: args.targets.clone(),
    }
}

fn plan_options(flags: &PlanFlags, destroy: bool) -> PlanOptions {
    PlanOptions {
        selector: selector(&flags.select),
        refresh: !flags.no_refresh,
        destroy,
        allow_destroy: flags.allow_destroy.clone(),
        raise_budgets: terrace::policy::budgets::Budgets {
            max_deletes: flags.max_deletes,
            max_replaces: flags.max_replaces,
            max_stacks: flags.max_stacks,
        },
        ..PlanOptions::default()
    }
}

/// The progress display of a plan or refresh, and the sink that feeds it.
fn planning_progress(cli: &Cli) -> (terrace::events::EventSink, planning::Planning) {
    planning::Planning::start(cli.json, std::io::stderr().is_terminal())
}

/// `terrace.plan(options)` with its progress shown (see [`planning`]).
async fn plan_with_progress(
    cli: &Cli,
    terrace: &Terrace,
    options: PlanOptions,
) -> Result<Plan, Error> {
    let (events, planning) = planning_progress(cli);
    let options = PlanOptions { events, ..options };
    let plan = planning.around(terrace.plan(&options)).await;
    planning.finish().await;
    plan
}

/// Prints a refresh or drift report; true when it found drift or misplaced resources.
fn print_drift(cli: &Cli, report: &terrace::engine::RefreshReport, verb: &str) -> bool {
    if cli.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(report).expect("report serializes")
        );
    } else {
        for drift in &report.drift {
            if drift.vanished {
                outln!(
                    "{}:{}: vanished (deleted outside Terrace)",
                    drift.stack,
                    drift.resource
                );
            } else {
                outln!(
                    "{}:{}: changed outside Terrace",
                    drift.stack,
                    drift.resource
                );
                for change in &drift.changes {
                    outln!(
                        "    {}: {} → {} (applied → cloud)",
                        change.field,
                        change.applied,
                        change.cloud
                    );
                }
            }
        }
        for misplaced in &report.outside_jurisdiction {
            outln!(
                "{}:{}: lives in {}, outside jurisdiction {}",
                misplaced.stack,
                misplaced.resource,
                misplaced.region,
                misplaced.jurisdiction
            );
        }
        outln!(
            "{verb} {} resource(s) in {} stack(s); {} drifted.",
            report.resources,
            report.stacks,
            report.drift.len()
        );
    }
    !report.drift.is_empty() || !report.outside_jurisdiction.is_empty()
}

async fn run(cli: &Cli, styles: &Styles) -> Result<i32, Error> {
    match &cli.command {
        Command::Stacks(select) => stacks(cli, select).await,
        Command::Graph(args) => {
            let terrace = if args.plan {
                open_for_cloud(&cli.dir)?
            } else {
                open(&cli.dir)?
            };
            let select = selector(&args.select);
            let plan = if args.plan {
                Some(
                    terrace
                        .plan(&PlanOptions {
                            selector: select.clone(),
                            ..PlanOptions::default()
                        })
                        .await?,
                )
            } else {
                None
            };
            let view = if args.resources {
                terrace.resource_graph(&select, plan.as_ref())?
            } else {
                terrace.graph(&select, plan.as_ref())?
            };
            let format = match (cli.json, args.format) {
                (true, _) | (_, GraphFormat::Json) => Format::Json,
                (_, GraphFormat::Dot) => Format::Dot,
                (_, GraphFormat::Mermaid) => Format::Mermaid,
            };
            out!("{}", export::render(&view, format));
            Ok(EXIT_OK)
        }
        Command::Plan(args) => {
            let terrace = open_for_cloud(&cli.dir)?;
            let names = selected_names(&terrace, &args.flags.select).await?;
            preflight(&terrace, &names, Action::Plan).await?;
            let (events, planning) = planning_progress(cli);
            let options = PlanOptions {
                events,
                ..plan_options(&args.flags, args.destroy)
            };
            let outcome = planning.around(terrace.plan_outcome(&options)).await;
            planning.finish().await;
            let outcome = outcome?;
            write_summary(cli, &terrace, args, &options, &outcome).await?;
            if !outcome.refusals.is_empty() {
                // A refused plan is still shown: what it would do, then why it may not.
                if !cli.json {
                    out!("{}", render::plan(&outcome.plan, styles));
                }
                return Err(Error::Refused {
                    reasons: outcome.refusals,
                });
            }
            let plan = outcome.plan;
            let out = args.out.as_ref().map(|p| cli.dir.join(p));
            // One text for the plan file and `--json`.
            let text = (cli.json || out.is_some())
                .then(|| terrace::plan::json::to_string_pretty(&plan).expect("plan serializes"));
            if let (Some(out), Some(text)) = (&out, &text) {
                save_plan(out, text)?;
            }
            match &text {
                Some(text) if cli.json => outln!("{text}"),
                _ => {
                    out!("{}", render::plan(&plan, styles));
                    if let Some(out) = &args.out {
                        outln!(
                            "Saved the plan to {}; apply exactly it with `terrace apply {}`.",
                            out.display(),
                            out.display()
                        );
                    }
                }
            }
            let code = if args.detailed_exitcode && plan.has_changes() {
                EXIT_CHANGES
            } else {
                EXIT_OK
            };
            // The process ends next: the rendered workspace and the plan are left to the
            // operating system instead of being freed value by value, which takes a fifth of a
            // large plan's time (2,000 replicas: ≈ 0.2 s, profiled; see docs/decisions.md, "plan
            // on all cores"). Planning takes no locks; neither holds anything to release.
            std::mem::forget((terrace, plan));
            Ok(code)
        }
        Command::Apply(args) => {
            let terrace = open_for_cloud(&cli.dir)?;
            let plan = match &args.plan_file {
                Some(path) => {
                    let plan = load_plan(&cli.dir.join(path))?;
                    if args.flags.select.is_empty_selection() {
                        plan
                    } else {
                        terrace
                            .plan_part(&plan, &selector(&args.flags.select))
                            .await?
                    }
                }
                None => {
                    let names = selected_names(&terrace, &args.flags.select).await?;
                    preflight(&terrace, &names, Action::Apply).await?;
                    plan_with_progress(cli, &terrace, plan_options(&args.flags, false)).await?
                }
            };
            let confirm = args.plan_file.is_none();
            let action = if plan.destroy {
                Action::Destroy
            } else {
                Action::Apply
            };
            execute(cli, &terrace, plan, &args.run, confirm, action, styles).await
        }
        Command::Destroy(args) => {
            let terrace = open_for_cloud(&cli.dir)?;
            let names = selected_names(&terrace, &args.flags.select).await?;
            preflight(&terrace, &names, Action::Destroy).await?;
            let plan = plan_with_progress(cli, &terrace, plan_options(&args.flags, true)).await?;
            execute(
                cli,
                &terrace,
                plan,
                &args.run,
                true,
                Action::Destroy,
                styles,
            )
            .await
        }
        Command::Refresh(args) => {
            let terrace = open_for_cloud(&cli.dir)?;
            let names = selected_names(&terrace, &args.select).await?;
            preflight(&terrace, &names, Action::Apply).await?;
            let (events, planning) = planning_progress(cli);
            let select = selector(&args.select);
            let refresh = terrace.refresh_with(&select, args.lock_timeout, events);
            let report = planning.around(refresh).await;
            planning.finish().await;
            let found = print_drift(cli, &report?, "Refreshed");
            Ok(if args.detailed_exitcode && found {
                EXIT_CHANGES
            } else {
                EXIT_OK
            })
        }
        Command::Drift(select) => {
            let terrace = open_for_cloud(&cli.dir)?;
            let names = selected_names(&terrace, select).await?;
            preflight(&terrace, &names, Action::Plan).await?;
            let (events, planning) = planning_progress(cli);
            let report = planning
                .around(terrace.drift_with(&selector(select), events))
                .await;
            planning.finish().await;
            let report = report?;
            let found = print_drift(cli, &report, "Read");
            Ok(if found { EXIT_CHANGES } else { EXIT_OK })
        }
        Command::Import(args) => {
            let terrace = open_for_cloud(&cli.dir)?;
            preflight(&terrace, std::slice::from_ref(&args.stack), Action::Apply).await?;
            let state = terrace
                .import(&args.stack, &args.resource, &args.id, args.lock_timeout)
                .await?;
            if cli.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&state).expect("state serializes")
                );
            } else {
                outln!(
                    "Imported {} as {}:{} ({}). Run `terrace plan` to see how it differs from \
                     the configuration.",
                    state.id,
                    args.stack,
                    args.resource,
                    state.type_name
                );
            }
            Ok(EXIT_OK)
        }
        Command::Output(args) => output(cli, args).await,
        Command::Test(args) => test(cli, args, styles).await,
        Command::State(command) => state(cli, command).await,
        Command::Config(command) => config_cmd::run(&cli.dir, cli.json, command).await,
        Command::Sandbox(command) => sandbox_command(cli, command).await,
        Command::Init { dir } => init::run(dir.as_deref().unwrap_or(&cli.dir)),
        Command::Access(command) => access_cmd::run(&open(&cli.dir)?, cli.json, command).await,
        Command::Ci(command) => ci::run(&open(&cli.dir)?, &cli.dir, command),
    }
}

/// The Markdown summary of a plan, or of its refusal by policy.
async fn write_summary(
    cli: &Cli,
    terrace: &Terrace,
    args: &args::PlanArgs,
    options: &PlanOptions,
    outcome: &terrace::plan::PlanOutcome,
) -> Result<(), Error> {
    let plan = &outcome.plan;
    let groups: std::collections::BTreeSet<String> =
        plan.stacks.iter().map(|s| s.stack.group.clone()).collect();
    let workspace = terrace.workspace();
    let verdicts = summary::Verdicts::of(
        workspace,
        groups.into_iter(),
        &options.raise_budgets,
        &outcome.refusals,
    );
    summary::write(
        cli,
        args.summary.as_deref(),
        &workspace.name,
        plan,
        &verdicts,
    )
}

impl SelectArgs {
    fn is_empty_selection(&self) -> bool {
        selector(self).is_empty()
    }
}

/// `terrace stacks`: the selected stacks; those left in state after their configuration was
/// removed are marked (a plan deletes them).
async fn stacks(cli: &Cli, select: &SelectArgs) -> Result<i32, Error> {
    let terrace = open(&cli.dir)?;
    let stacks = terrace.select(&selector(select)).await?;
    let removed = |name: &str| terrace.rendered(name).is_none();
    if cli.json {
        let rows: Vec<serde_json::Value> = stacks
            .iter()
            .map(|s| {
                let mut row = serde_json::to_value(s).expect("stacks serialize");
                if removed(&s.name) {
                    row["removed"] = true.into();
                }
                row
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("stacks serialize")
        );
    } else {
        for s in &stacks {
            let mut place = [s.cloud.as_deref(), s.region.as_deref()]
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            if removed(&s.name) {
                place.push_str("  (removed from the configuration: a plan deletes it)");
            }
            outln!("{:<48} {:<10} {:<8} {place}", s.name, s.layer, s.group);
        }
    }
    Ok(EXIT_OK)
}

/// Writes a plan's JSON text (see `terrace::plan::json`) to its file, atomically.
fn save_plan(path: &Path, text: &str) -> Result<(), Error> {
    terrace::state::file::write_atomic(path, text.as_bytes()).map_err(|e| Error::PlanFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn load_plan(path: &Path) -> Result<Plan, Error> {
    let fail = |message: String| Error::PlanFile {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read the plan: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        fail(format!(
            "not a Terrace plan ({e}); save one with `terrace plan --out FILE`"
        ))
    })
}

async fn execute(
    cli: &Cli,
    terrace: &Terrace,
    plan: Plan,
    run: &RunFlags,
    confirm: bool,
    action: Action,
    styles: &Styles,
) -> Result<i32, Error> {
    if plan.has_changes() {
        // Access first (its refusal names the call), then a saved plan whose state moved is
        // refused — both before the plan's text is shown. (The apply below checks freshness
        // again itself, which covers the time spent at the confirmation prompt.)
        let names: Vec<String> = plan.stacks.iter().map(|s| s.stack.name.clone()).collect();
        preflight(terrace, &names, action).await?;
        terrace.check_fresh(&plan).await?;
    }
    if !cli.json {
        out!("{}", render::plan(&plan, styles));
    }
    if !plan.has_changes() {
        return Ok(EXIT_OK);
    }
    if confirm && !run.yes {
        ask(cli)?;
    }
    let mut options = terrace.apply_options();
    options.lock_timeout = run.lock_timeout;
    if let Some(cap) = run.parallel_stacks {
        options.stacks_in_parallel = cap.max(1);
    }
    watch_interrupts(options.interrupt.clone(), cli.json);
    let mut display = progress::Display::new(cli.json, std::io::stderr().is_terminal(), &plan);
    let mut apply = terrace.apply(plan, options)?;
    while let Some(event) = apply.events.recv().await {
        display.show(&event);
    }
    let summary = apply.finish().await?;
    if !cli.json {
        out!("{}", render::apply_summary(&summary, styles));
    }
    Ok(exit_code(&summary))
}

/// First Ctrl-C: stop gracefully (in-flight operations finish and are recorded, locks are
/// released). Second Ctrl-C: exit at once; the journal keeps state consistent and the next
/// run breaks this process's locks.
fn watch_interrupts(interrupt: terrace::apply::Interrupt, json: bool) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupt.trigger();
        if !json {
            eoutln!("\nInterrupted: finishing the operations in flight, then stopping. Press Ctrl-C again to exit at once.");
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

fn exit_code(summary: &ApplySummary) -> i32 {
    let has = |status| summary.stacks.iter().any(|s| s.status == status);
    if summary.succeeded() {
        EXIT_OK
    } else if has(StackStatus::Failed) {
        EXIT_ERROR
    } else if has(StackStatus::Locked) {
        EXIT_LOCKED
    } else if has(StackStatus::Refused) {
        EXIT_STALE_PLAN
    } else {
        EXIT_ERROR
    }
}

/// Asks for confirmation on a terminal; refuses to run unattended without `--yes`.
fn ask(cli: &Cli) -> Result<(), Error> {
    if cli.json || !std::io::stdin().is_terminal() {
        return Err(Error::usage("refusing to change infrastructure unattended: review the plan and pass --yes, or apply a saved plan file"));
    }
    out!("Apply these changes? Only 'yes' will be accepted: ");
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::usage("apply cancelled"))
    }
}

async fn output(cli: &Cli, args: &args::OutputArgs) -> Result<i32, Error> {
    let terrace = open(&cli.dir)?;
    let names: Vec<String> = match &args.stack {
        Some(stack) => vec![stack.clone()],
        None => selected_names(&terrace, &args.select).await?,
    };
    let mut all = serde_json::Map::new();
    for name in names {
        let outputs: std::collections::BTreeMap<String, serde_json::Value> = terrace
            .outputs(&name)
            .await?
            .into_iter()
            .map(|(k, v)| (k, terrace::secrets::redacted(&v)))
            .collect();
        if let Some(key) = &args.key {
            let value = outputs.get(key).ok_or_else(|| {
                Error::usage(format!(
                    "stack {name} has no output `{key}`; {}",
                    terrace::diagnostics::suggest(key, outputs.keys().map(String::as_str))
                ))
            })?;
            match (cli.json, value) {
                (false, serde_json::Value::String(s)) => outln!("{s}"),
                _ => outln!("{value}"),
            }
            return Ok(EXIT_OK);
        }
        all.insert(
            name,
            serde_json::Value::Object(outputs.into_iter().collect()),
        );
    }
    if cli.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&all).expect("outputs serialize")
        );
    } else {
        for (stack, outputs) in &all {
            outln!("{stack}");
            for (k, v) in outputs.as_object().into_iter().flatten() {
                outln!("  {k} = {v}");
            }
        }
    }
    Ok(EXIT_OK)
}

async fn state(cli: &Cli, command: &StateCommand) -> Result<i32, Error> {
    let terrace = open(&cli.dir)?;
    match command {
        StateCommand::Show { stack } | StateCommand::Unlock { stack, .. } => {
            preflight(&terrace, std::slice::from_ref(stack), Action::State).await?
        }
        StateCommand::Mv { from, to, .. } => {
            let stacks: Vec<String> = [from, to]
                .iter()
                .filter_map(|a| ResourceAddress::split(a).map(|(s, _)| s.to_string()))
                .collect();
            preflight(&terrace, &stacks, Action::State).await?
        }
        StateCommand::Rm { at, .. } => {
            let stacks: Vec<String> = ResourceAddress::split(at)
                .map(|(s, _)| s.to_string())
                .into_iter()
                .collect();
            preflight(&terrace, &stacks, Action::State).await?
        }
        StateCommand::List => {}
    }
    let backend = terrace.backend();
    match command {
        StateCommand::List => {
            let mut rows = Vec::new();
            for stack in backend.list().await? {
                let state = backend.load(&stack).await?;
                let lock = backend.lock_info(&stack).await?;
                rows.push(serde_json::json!({
                    "stack": stack,
                    "serial": state.as_ref().map(|s| s.serial),
                    "resources": state.as_ref().map(|s| s.resources.len()).unwrap_or(0),
                    "pending": state.as_ref().map(|s| s.pending.len()).unwrap_or(0),
                    "locked_by": lock.map(|l| l.to_string()),
                }));
            }
            if cli.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&rows).expect("rows serialize")
                );
            } else {
                for row in rows {
                    let lock = row["locked_by"]
                        .as_str()
                        .map(|l| format!("  locked by {l}"))
                        .unwrap_or_default();
                    outln!(
                        "{:<48} serial {:<4} {} resource(s){lock}",
                        row["stack"].as_str().unwrap_or(""),
                        row["serial"],
                        row["resources"]
                    );
                }
            }
        }
        StateCommand::Show { stack } => match backend.load(stack).await? {
            Some(state) => outln!(
                "{}",
                serde_json::to_string_pretty(&state).expect("state serializes")
            ),
            None => return Err(Error::usage(format!("stack {stack} has no state"))),
        },
        StateCommand::Unlock { stack, force } => match terrace.unlock(stack, *force).await? {
            Unlocked::Removed { holder, running } => {
                if running {
                    eoutln!(
                        "warning: {holder} still runs; it may go on changing {stack} beside the next apply, and one of their state writes will be rejected"
                    );
                }
                outln!("Removed the lock of {stack} held by {holder}.")
            }
            Unlocked::NotLocked => outln!("Stack {stack} was not locked."),
            other => outln!("Stack {stack}: {other:?}."),
        },
        StateCommand::Mv {
            from,
            to,
            lock_timeout,
        } => {
            let moved = terrace.state_move(from, to, *lock_timeout).await?;
            for warning in &moved.warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "Moved {from} to {to} ({}); the cloud was not touched.",
                moved.id
            );
        }
        StateCommand::Rm { at, lock_timeout } => {
            let removed = terrace.state_remove(at, *lock_timeout).await?;
            println!(
                "Removed {at} from state; {} ({}) still exists in the cloud and is no longer managed.",
                removed.id, removed.type_name
            );
        }
    }
    Ok(EXIT_OK)
}

async fn sandbox_command(cli: &Cli, command: &SandboxCommand) -> Result<i32, Error> {
    let root = &cli.dir;
    match command {
        SandboxCommand::Start { profile, seed } => {
            let restart = sandbox::running(root).is_none() && sandbox::gce_state(root).exists();
            let running = sandbox::start(root, profile, *seed)?;
            if restart && !cli.json {
                eoutln!(
                    "note: the Compute emulator's resources are restored from {}; moto starts empty, so the AWS resources state recorded in the previous sandbox are gone and the next plan creates them again",
                    sandbox::gce_state(root).display()
                );
            }
            if cli.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&running).expect("sandbox serializes")
                );
            } else {
                outln!(
                    "Sandbox running ({} profile): Compute Engine emulator at {}, AWS at {} (moto at {}).",
                    running.profile, running.gce.url, running.aws.url, running.moto.url
                );
                outln!("Commands in this workspace use it; for other tools: eval \"$(terrace -C {} sandbox env)\"", root.display());
            }
        }
        SandboxCommand::Stop => {
            let stopped = sandbox::stop(root)?;
            if stopped.is_empty() {
                outln!("No sandbox was running.");
            } else {
                outln!("Stopped {}.", stopped.join(" and "));
                outln!(
                    "moto keeps no state: its AWS resources are gone. The Compute emulator's are kept in {} and come back with `terrace sandbox start`.",
                    sandbox::gce_state(root).display()
                );
            }
        }
        SandboxCommand::Status => match sandbox::running(root) {
            Some(running) if cli.json => outln!(
                "{}",
                serde_json::to_string_pretty(&running).expect("sandbox serializes")
            ),
            Some(running) => outln!(
                "running ({} profile): Compute Engine emulator {} (pid {}), AWS layer {} (pid {}), moto {} (pid {})",
                running.profile,
                running.gce.url,
                running.gce.pid,
                running.aws.url,
                running.aws.pid,
                running.moto.url,
                running.moto.pid
            ),
            None => {
                outln!("not running");
                return Ok(EXIT_ERROR);
            }
        },
        SandboxCommand::Env => match sandbox::running(root) {
            Some(running) => out!("{}", sandbox::env_lines(&running)),
            None => {
                return Err(Error::usage(
                    "no sandbox is running here: start one with `terrace sandbox start`",
                ))
            }
        },
        SandboxCommand::ServeGce {
            listen,
            state_file,
            profile,
            seed,
        } => sandbox::serve_gce(root, listen, state_file.clone(), profile, *seed).await?,
        SandboxCommand::ServeAws {
            listen,
            upstream,
            profile,
            seed,
        } => sandbox::serve_aws(listen, upstream, profile, *seed).await?,
    }
    Ok(EXIT_OK)
}
