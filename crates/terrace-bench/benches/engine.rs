//! `cargo bench`: the engine at scale, on the in-process test provider.
//!
//! 1. Plan without refresh (open = load + render + validate, then plan, then the plan's JSON as
//!    `plan --json` prints it) at 1k, 10k and 100k resources (groups of 9 replicas, four
//!    layers, ≈ 400 resources and 20 stacks per group) and for one group of 1, 100 and 2,000
//!    replicas. Each scale runs in a child process of its own, so that its peak memory
//!    (VmHWM) is its own. Targets: 100k resources / 5k stacks under 2 s and 500 MB; the cost
//!    per resource within 1.5× from 1k to 100k; 2,000 replicas in one group under 1 s.
//! 2. Apply against the critical path: 5 groups × 4 replicas, 200 ms per provider call,
//!    with the defaults (no stack cap: the providers' rate limits pace the calls) and with an
//!    opt-in cap of 4 stacks (`--parallel-stacks 4`). Target: ≤ 1.2× with the defaults.
//! 3. Checkpoint cost of applying 2,000 resources in one stack: time spent writing state
//!    (journal appends and the final snapshot) against the apply's wall time, next to the
//!    cost of rewriting the whole stack state after every operation (what per-step full
//!    checkpoints cost). Target: checkpoints < 5 % of the apply.
//! 4. Refresh of 1,000 stacks (50 groups × 9 replicas, ≈ 2,000 resources, one account): the
//!    provider `read` calls it makes, next to what batching per stack would make (the sum over
//!    stacks of their types × regions), and its time (locks, reads, state writes). Target:
//!    one read per (type, region) of the workspace, whatever the number of stacks.
//!
//! `cargo bench -p terrace-bench -- refresh` runs only part 4 (quick in a debug build too:
//! `cargo bench -p terrace-bench --profile dev -- refresh`).

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

const BIG_STACK: usize = 2_000;

/// A generated workspace: `groups` groups of `replicas` replicas (regions cycle over 9), each
/// replica with a network of `subnets` subnets and `things` extra resources in its replicas
/// stack, a proxies stack per group with `proxy_things` extra resources.
#[derive(Clone, Copy)]
struct Shape {
    groups: usize,
    replicas: usize,
    subnets: usize,
    things: usize,
    proxy_things: usize,
}

impl Shape {
    /// The shape of the scaling runs: ≈ 400 resources and 20 stacks per group of 9 replicas.
    const fn scaled(groups: usize, replicas: usize) -> Shape {
        Shape {
            groups,
            replicas,
            subnets: 10,
            things: 31,
            proxy_things: 11,
        }
    }
}

/// The scales of the plan benchmark: (label, shape).
const SCALES: [(&str, Shape); 6] = [
    ("1k resources", Shape::scaled(3, 9)),
    ("10k resources", Shape::scaled(25, 9)),
    ("100k resources", Shape::scaled(250, 9)),
    ("1 replica in a group", Shape::scaled(1, 1)),
    ("100 replicas in a group", Shape::scaled(1, 100)),
    ("2,000 replicas in a group", Shape::scaled(1, 2_000)),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no unit tests here
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if let Some(at) = args.iter().position(|a| a == "--scale") {
        let index: usize = args[at + 1].parse().expect("scale index");
        runtime.block_on(plan_once(SCALES[index].1));
        return;
    }
    if args.iter().skip(1).any(|a| a == "refresh") {
        runtime.block_on(refresh_of_many_stacks());
        return;
    }
    println!(
        "terrace engine benchmark (one run; machine: {} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if args.iter().any(|a| a == "--apply-only") {
        runtime.block_on(apply_against_critical_path());
        return;
    }
    plan_at_scales();
    runtime.block_on(apply_against_critical_path());
    runtime.block_on(checkpoint_cost());
    runtime.block_on(refresh_of_many_stacks());
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

fn generate_workspace(root: &Path, shape: Shape) {
    let region_count = shape.replicas.clamp(1, 9);
    let regions: Vec<String> = (0..region_count).map(|r| format!("region-{r}")).collect();
    let settings = format!(
        "name: bench\njurisdictions:\n  EU:\n    test: [{}]\nconfig:\n  image: db-16\n",
        regions.join(", ")
    );
    write(root, "terrace.yaml", &settings);
    for g in 0..shape.groups {
        let mut group = String::from("residency: EU\nreplicas:\n");
        for r in 0..shape.replicas {
            let region = format!("region-{}", r % region_count);
            let zones: Vec<String> = (0..shape.subnets)
                .map(|z| format!("{region}-z{z}"))
                .collect();
            let _ = writeln!(
                group,
                "  - name: r{r}\n    cloud: test\n    region: {region}\n    zones: [{}]",
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
{{% for i in range(end={}) %}}  part-{{{{ i }}}}:\n    type: test:Thing\n    properties:\n      value: \"{{{{ replica.name }}}}-{{{{ i }}}}\"\n      parent: ${{db.id}}\n{{% endfor %}}\
outputs:\n  endpoint: ${{db.private_ip}}\n",
            shape.things
        ),
    );
    write(
        root,
        "templates/proxies/proxy.yaml.tera",
        &format!(
            "resources:\n  lb:\n    type: test:LoadBalancer\n    region: region-0\n    properties:\n      targets:\n{{% for r in group.replicas %}}        - ${{stack(\"replicas/{{{{ group.name }}}}/{{{{ r.name }}}}\").outputs.endpoint}}\n{{% endfor %}}\
{{% for i in range(end={}) %}}  rule-{{{{ i }}}}:\n    type: test:Thing\n    properties:\n      parent: ${{lb.id}}\n{{% endfor %}}",
            shape.proxy_things
        ),
    );
}

/// Runs every scale in a child process (`--scale N`) and prints a table of their lines.
fn plan_at_scales() {
    let me = std::env::current_exe().expect("the benchmark's own path");
    println!("plan without refresh, each scale in its own process:");
    println!(
        "  {:<26} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9}",
        "scale",
        "resources",
        "stacks",
        "open ms",
        "plan ms",
        "json ms",
        "total ms",
        "µs/resource",
        "peak MiB"
    );
    for (index, (label, _)) in SCALES.iter().enumerate() {
        let output = std::process::Command::new(&me)
            .args(["--scale", &index.to_string()])
            .output()
            .expect("run a scale");
        assert!(
            output.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!(
            "  {label:<26} {}",
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    println!("  targets: 100k resources under 2,000 ms and 500 MiB; µs/resource within 1.5× from 1k to 100k; 2,000 replicas under 1,000 ms\n");
}

/// One scale: generate, open, plan, serialise; one line of figures on stdout.
async fn plan_once(shape: Shape) {
    let dir = tempfile::tempdir().unwrap();
    generate_workspace(dir.path(), shape);
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
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
    let json_at = Instant::now();
    let json = terrace::plan::json::to_string_pretty(&plan).expect("plan JSON");
    let serialised = json_at.elapsed();
    let resources: usize = plan.stacks.iter().map(|s| s.changes.len()).sum();
    let total = opened + planned + serialised;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{resources:>9} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.2} {:>9.1}",
        plan.stacks.len(),
        ms(opened),
        ms(planned),
        ms(serialised),
        ms(total),
        total.as_secs_f64() * 1e6 / resources.max(1) as f64,
        peak_rss_mib().unwrap_or(0.0),
    );
    std::hint::black_box(json);
}

/// 5 groups × 4 replicas, 200 ms per provider call. The longest chain of dependent calls is
/// 7: account → vpc → subnet → db → part (the replicas stack ends) → lb → rule.
async fn apply_against_critical_path() {
    const LATENCY: Duration = Duration::from_millis(200);
    const CHAIN: u32 = 7;
    let shape = Shape {
        groups: 5,
        replicas: 4,
        subnets: 2,
        things: 2,
        proxy_things: 2,
    };
    let critical = LATENCY * CHAIN;
    println!("apply of 5 groups × 4 replicas, {} ms per provider call; critical path {CHAIN} calls = {:.0} ms:", LATENCY.as_millis(), critical.as_secs_f64() * 1e3);
    for (label, cap) in [
        ("the defaults (no stack cap)", None),
        ("an opt-in cap of 4 stacks", Some(4)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        generate_workspace(dir.path(), shape);
        let provider = Arc::new(TestProvider::in_memory(TestOptions {
            latency: LATENCY,
            ..Default::default()
        }));
        let mut terrace = Terrace::open(dir.path(), registry(provider)).expect("valid");
        if std::env::var_os("BENCH_MEMORY").is_some() {
            terrace.set_backend(Arc::new(terrace::state::memory::MemoryBackend::new()));
        }
        let plan = terrace
            .plan(&PlanOptions {
                refresh: false,
                ..Default::default()
            })
            .await
            .expect("plan");
        let mut options = ApplyOptions {
            refresh: false,
            ..terrace.apply_options()
        };
        if let Some(cap) = cap {
            options.stacks_in_parallel = cap;
        }
        let started = Instant::now();
        let summary = terrace
            .apply_with(plan, options, EventSink::none())
            .await
            .expect("apply");
        let wall = started.elapsed();
        assert!(summary.succeeded());
        println!(
            "  {label:<42} {:>8.0} ms = {:.2}× the critical path{}",
            wall.as_secs_f64() * 1e3,
            wall.as_secs_f64() / critical.as_secs_f64(),
            if cap.is_none() {
                "   (target ≤ 1.2×)"
            } else {
                ""
            }
        );
    }
    println!();
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
        "replicas:\n  - name: r\n    cloud: test\n    region: region-1\n    zones: [region-1a]\n",
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

/// 1,000 stacks applied, then refreshed: provider reads and time.
async fn refresh_of_many_stacks() {
    let shape = Shape {
        groups: 50,
        replicas: 9,
        subnets: 1,
        things: 1,
        proxy_things: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    generate_workspace(dir.path(), shape);
    let provider = Arc::new(TestProvider::in_memory(TestOptions::default()));
    let terrace = Terrace::open(dir.path(), registry(provider.clone())).expect("valid");
    let plan = terrace
        .plan(&PlanOptions {
            refresh: false,
            ..Default::default()
        })
        .await
        .expect("plan");
    let options = ApplyOptions {
        refresh: false,
        ..terrace.apply_options()
    };
    let summary = terrace
        .apply_with(plan, options, EventSink::none())
        .await
        .expect("apply");
    assert!(summary.succeeded());
    let mut stacks = 0;
    let mut resources = 0;
    let mut per_stack_reads = 0;
    let mut keys = std::collections::BTreeSet::new();
    for name in terrace.backend().list().await.expect("stacks") {
        let Some(state) = terrace.state(&name).await.expect("state") else {
            continue;
        };
        stacks += 1;
        resources += state.resources.len();
        let mine: std::collections::BTreeSet<_> = state
            .resources
            .values()
            .map(|r| (r.type_name.clone(), r.region.clone()))
            .collect();
        per_stack_reads += mine.len();
        keys.extend(mine);
    }
    let reads_before = provider.reads().len();
    let started = Instant::now();
    let report = terrace
        .refresh(&Default::default(), Duration::from_secs(60))
        .await
        .expect("refresh");
    let elapsed = started.elapsed();
    let reads = provider.reads().len() - reads_before;
    assert_eq!(report.stacks, stacks);
    assert!(
        report.drift.is_empty(),
        "nothing changed behind Terrace's back"
    );
    println!(
        "refresh of {stacks} stacks ({resources} resources, one account, {} types × regions):",
        keys.len()
    );
    println!("  provider read calls:          {reads:>8}   (batching per stack would make {per_stack_reads}; target {})", keys.len());
    println!(
        "  refresh time:                 {:>8.0} ms ({:.1} µs/resource; locks, reads and state writes)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / resources.max(1) as f64
    );
    println!();
}
