//! `cargo bench`: the engine at scale, on the in-process test provider.
//!
//! 1. Plan without refresh of a generated workspace of 1,000 stacks and 20,000 resources
//!    (50 groups × 9 replicas; four layers): time to open (load, render, validate) and to plan,
//!    and the peak memory of the process. Targets: plan < 1 s, < 300 MB.
//! 2. Checkpoint cost of applying 2,000 resources in one stack: time spent writing state
//!    (journal appends and the final snapshot) against the apply's wall time, next to the
//!    cost of rewriting the whole stack state after every operation (what per-step full
//!    checkpoints cost). Target: checkpoints < 5 % of the apply.

use async_trait::async_trait;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::events::EventSink;
use terrace::provider::Registry;
use terrace::state::file::{write_atomic, FileBackend};
use terrace::state::{Backend, JournalEntry, LockInfo, StackState, StateError};
use terrace::testing::{TestOptions, TestProvider};

const GROUPS: usize = 50;
const REPLICAS: usize = 9;
const SUBNETS: usize = 10;
const THINGS_PER_REPLICA: usize = 31;
const THINGS_PER_PROXY: usize = 11;
const BIG_STACK: usize = 2_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no unit tests here
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "terrace engine benchmark (one run; machine: {} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    runtime.block_on(plan_at_scale());
    runtime.block_on(checkpoint_cost());
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn registry(provider: Arc<TestProvider>) -> Registry {
    let mut registry = Registry::new();
    registry.register(provider);
    registry
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn generate_workspace(root: &Path) {
    let regions: Vec<String> = (0..REPLICAS).map(|r| format!("region-{r}")).collect();
    let settings = format!(
        "name: bench\njurisdictions:\n  EU:\n    test: [{}]\nconfig:\n  image: db-16\n",
        regions.join(", ")
    );
    write(root, "terrace.yaml", &settings);
    for g in 0..GROUPS {
        let mut group = String::from("residency: EU\nreplicas:\n");
        for r in 0..REPLICAS {
            let zones: Vec<String> = (0..SUBNETS).map(|z| format!("region-{r}-z{z}")).collect();
            let _ = writeln!(
                group,
                "  - name: r{r}\n    cloud: test\n    region: region-{r}\n    zones: [{}]",
                zones.join(", ")
            );
        }
        write(root, &format!("groups/g{g:03}.yaml"), &group);
    }
    write(root, "stacks/accounts/layer.yaml", "per: cloud\n");
    write(
        root,
        "stacks/networks/layer.yaml",
        "depends_on: [accounts]\nper: replica\n",
    );
    write(
        root,
        "stacks/replicas/layer.yaml",
        "depends_on: [networks]\nper: replica\n",
    );
    write(
        root,
        "stacks/proxies/layer.yaml",
        "depends_on: [replicas]\nper: group\n",
    );
    write(root, "templates/accounts/account.yaml.tera", "resources:\n  account:\n    type: test:Thing\n    properties:\n      value: \"{{ group.name }}\"\noutputs:\n  id: ${account.id}\n");
    write(
        root,
        "templates/networks/network.yaml.tera",
        "resources:\n  vpc:\n    type: test:Network\n    properties:\n      cidr: 10.0.0.0/16\n      labels: {account: \"${accounts.outputs.id}\"}\n\
{% for zone in zones %}  subnet-{{ zone }}:\n    type: test:Subnet\n    properties:\n      network_id: ${vpc.id}\n      cidr: 10.0.{{ loop.index }}.0/24\n      zone: {{ zone }}\n{% endfor %}\
outputs:\n  subnet: ${subnet-{{ zones[0] }}.id}\n",
    );
    write(
        root,
        "templates/replicas/replica.yaml.tera",
        &format!(
            "resources:\n  db:\n    type: test:Instance\n    properties:\n      subnet_id: ${{networks.outputs.subnet}}\n      image: ${{config.image}}\n\
{{% for i in range(end={THINGS_PER_REPLICA}) %}}  part-{{{{ i }}}}:\n    type: test:Thing\n    properties:\n      value: \"{{{{ replica.name }}}}-{{{{ i }}}}\"\n      parent: ${{db.id}}\n{{% endfor %}}\
outputs:\n  endpoint: ${{db.private_ip}}\n"
        ),
    );
    write(
        root,
        "templates/proxies/proxy.yaml.tera",
        &format!(
            "resources:\n  lb:\n    type: test:LoadBalancer\n    region: region-0\n    properties:\n      targets:\n{{% for r in group.replicas %}}        - ${{stack(\"replicas/{{{{ group.name }}}}/{{{{ r.name }}}}\").outputs.endpoint}}\n{{% endfor %}}\
{{% for i in range(end={THINGS_PER_PROXY}) %}}  rule-{{{{ i }}}}:\n    type: test:Thing\n    properties:\n      parent: ${{lb.id}}\n{{% endfor %}}"
        ),
    );
}

async fn plan_at_scale() {
    let dir = tempfile::tempdir().unwrap();
    generate_workspace(dir.path());
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let before = peak_rss_mib().unwrap_or(0.0);
    let started = Instant::now();
    let terrace =
        Terrace::open(dir.path(), registry(provider)).expect("generated workspace is valid");
    let opened = started.elapsed();
    let planned_at = Instant::now();
    let plan = terrace
        .plan(&PlanOptions {
            refresh: false,
            ..Default::default()
        })
        .await
        .expect("plan");
    let planned = planned_at.elapsed();
    let resources: usize = plan.stacks.iter().map(|s| s.changes.len()).sum();
    let peak = peak_rss_mib().unwrap_or(0.0);
    println!(
        "plan without refresh: {} stacks, {resources} resources",
        plan.stacks.len()
    );
    println!(
        "  open (load + render + validate): {:>8.1} ms",
        opened.as_secs_f64() * 1e3
    );
    println!(
        "  plan:                            {:>8.1} ms   (target < 1000 ms)",
        planned.as_secs_f64() * 1e3
    );
    println!(
        "  open + plan:                     {:>8.1} ms",
        (opened + planned).as_secs_f64() * 1e3
    );
    println!("  peak memory (VmHWM):             {peak:>8.1} MiB (target < 300 MiB; {before:.1} MiB before)\n");
    assert_eq!(plan.stacks.len(), 1_000);
}

/// How the benchmark's backend checkpoints each operation.
#[derive(Clone, Copy, PartialEq)]
enum Checkpoint {
    /// Terrace's journal: one appended line per operation.
    Journal,
    /// The whole stack state rewritten after every operation (per-step full checkpoints).
    FullRewrite,
    /// Nothing written per operation: the engine alone, the zero-cost baseline.
    Discard,
}

/// A file backend that measures the time spent writing state.
struct TimedBackend {
    inner: FileBackend,
    spent: AtomicU64,
    spent_saving: AtomicU64,
    appends: AtomicU64,
    mode: Checkpoint,
    shadow: std::sync::Mutex<Option<StackState>>,
}

impl TimedBackend {
    fn new(dir: &Path, mode: Checkpoint) -> TimedBackend {
        TimedBackend {
            inner: FileBackend::new(dir.to_path_buf()),
            spent: AtomicU64::new(0),
            spent_saving: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            mode,
            shadow: std::sync::Mutex::new(None),
        }
    }

    fn spent(&self) -> Duration {
        Duration::from_nanos(self.spent.load(Ordering::Relaxed))
    }

    fn add(&self, started: Instant) {
        self.spent
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

#[async_trait]
impl Backend for TimedBackend {
    async fn load(&self, stack: &str) -> Result<Option<StackState>, StateError> {
        let state = self.inner.load(stack).await?;
        *self.shadow.lock().unwrap() =
            Some(state.clone().unwrap_or_else(|| StackState::new(stack)));
        Ok(state)
    }

    async fn append(&self, stack: &str, base: u64, entry: &JournalEntry) -> Result<(), StateError> {
        let started = Instant::now();
        self.appends.fetch_add(1, Ordering::Relaxed);
        if self.mode == Checkpoint::Discard {
            return Ok(());
        }
        if self.mode == Checkpoint::FullRewrite {
            let mut shadow = self.shadow.lock().unwrap();
            let state = shadow.get_or_insert_with(|| StackState::new(stack));
            state.apply_entry(entry);
            let bytes = serde_json::to_vec(state).unwrap();
            write_atomic(&self.inner.dir().join("full-rewrite.json"), &bytes)?;
        } else {
            self.inner.append(stack, base, entry).await?;
        }
        self.add(started);
        Ok(())
    }

    async fn save(&self, state: &StackState, expected: Option<u64>) -> Result<(), StateError> {
        let started = Instant::now();
        let result = self.inner.save(state, expected).await;
        self.add(started);
        self.spent_saving
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    async fn lock(&self, stack: &str, info: &LockInfo) -> Result<(), StateError> {
        self.inner.lock(stack, info).await
    }
    async fn unlock(&self, stack: &str, id: &str) -> Result<(), StateError> {
        self.inner.unlock(stack, id).await
    }
    async fn force_unlock(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        self.inner.force_unlock(stack).await
    }
    async fn lock_info(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        self.inner.lock_info(stack).await
    }
    async fn list(&self) -> Result<Vec<String>, StateError> {
        self.inner.list().await
    }
    async fn history(&self, stack: &str) -> Result<Vec<u64>, StateError> {
        self.inner.history(stack).await
    }
}

fn big_stack_workspace(root: &Path) {
    write(root, "terrace.yaml", "name: bench-big\n");
    write(
        root,
        "groups/big.yaml",
        "replicas:\n  - name: r\n    cloud: test\n    region: region-1\n",
    );
    write(root, "stacks/big/layer.yaml", "per: replica\n");
    write(
        root,
        "templates/big/things.yaml.tera",
        &format!(
            "resources:\n{{% for i in range(end={BIG_STACK}) %}}  thing-{{{{ i }}}}:\n    type: test:Thing\n    properties:\n      value: \"value {{{{ i }}}} of a stack of {BIG_STACK}\"\n      tags: {{owner: bench, index: \"{{{{ i }}}}\"}}\n{{% if i % 10 != 0 %}}      parent: ${{thing-{{{{ i - i % 10 }}}}.id}}\n{{% endif %}}{{% endfor %}}"
        ),
    );
}

async fn apply_big(mode: Checkpoint) -> (Duration, Duration, u64, Duration) {
    apply_big_with_latency(mode, Duration::ZERO).await
}

async fn apply_big_with_latency(
    mode: Checkpoint,
    latency: Duration,
) -> (Duration, Duration, u64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    big_stack_workspace(dir.path());
    let provider = Arc::new(TestProvider::in_memory(TestOptions {
        latency,
        ..Default::default()
    }));
    let mut terrace = Terrace::open(dir.path(), registry(provider)).expect("valid");
    let backend = Arc::new(TimedBackend::new(&dir.path().join(".terrace/state"), mode));
    terrace.set_backend(backend.clone());
    let plan = terrace.plan(&PlanOptions::default()).await.expect("plan");
    let started = Instant::now();
    let summary = terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .expect("apply");
    let wall = started.elapsed();
    assert!(summary.succeeded());
    let saving = Duration::from_nanos(backend.spent_saving.load(Ordering::Relaxed));
    (
        wall,
        backend.spent(),
        backend.appends.load(Ordering::Relaxed),
        saving,
    )
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

async fn checkpoint_cost() {
    const RUNS: usize = 5;
    let (mut memory, mut walls, mut spents, mut savings) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut appends = 0;
    for _ in 0..RUNS {
        memory.push(apply_big(Checkpoint::Discard).await.0);
        let (wall, spent, count, saving) = apply_big(Checkpoint::Journal).await;
        walls.push(wall);
        spents.push(spent);
        savings.push(saving);
        appends = count;
    }
    let (baseline, wall, spent, saving) = (
        median(memory),
        median(walls),
        median(spents),
        median(savings),
    );
    println!("checkpoint cost: apply of {BIG_STACK} resources in one stack (medians of {RUNS} alternating runs)");
    println!("  journal (append per operation) + final snapshot, zero provider latency:");
    println!(
        "    apply wall time:              {:>8.1} ms",
        wall.as_secs_f64() * 1e3
    );
    println!(
        "    same apply, no journal:       {:>8.1} ms",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "    checkpoint overhead:          {:>8.1} %   (target < 5 %)",
        100.0 * (wall.as_secs_f64() - baseline.as_secs_f64()).max(0.0) / wall.as_secs_f64()
    );
    println!("    time inside state writes:     {:>8.1} ms over {appends} journal entries + 1 snapshot ({:.1} ms), {:.1} % of the apply",
        spent.as_secs_f64() * 1e3, saving.as_secs_f64() * 1e3, 100.0 * spent.as_secs_f64() / wall.as_secs_f64());
    let latency = Duration::from_millis(10);
    let (mut slow_base, mut slow_walls) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        slow_base.push(apply_big_with_latency(Checkpoint::Discard, latency).await.0);
        slow_walls.push(apply_big_with_latency(Checkpoint::Journal, latency).await.0);
    }
    let (slow_base, slow_wall) = (median(slow_base), median(slow_walls));
    println!("  with 10 ms per provider call (faster than any real cloud mutation; medians of 3):");
    println!(
        "    apply wall time:              {:>8.1} ms (no journal: {:.1} ms)",
        slow_wall.as_secs_f64() * 1e3,
        slow_base.as_secs_f64() * 1e3
    );
    println!(
        "    checkpoint overhead:          {:>8.1} %   (target < 5 %)",
        100.0 * (slow_wall.as_secs_f64() - slow_base.as_secs_f64()).max(0.0)
            / slow_wall.as_secs_f64()
    );
    let (wall_full, spent_full, _, _) = apply_big(Checkpoint::FullRewrite).await;
    println!("  for comparison, rewriting the whole stack state after every operation:");
    println!(
        "    apply wall time:              {:>8.1} ms",
        wall_full.as_secs_f64() * 1e3
    );
    println!(
        "    time inside state writes:     {:>8.1} ms",
        spent_full.as_secs_f64() * 1e3
    );
    println!(
        "    share of the apply:           {:>8.1} %",
        100.0 * spent_full.as_secs_f64() / wall_full.as_secs_f64()
    );
}
