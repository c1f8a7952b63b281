//! `cargo bench --bench workspace_test`: `terrace test` on the reference workspace (its
//! `workspace-tests/` and `policies/*_test.rego`), through the library with the real AWS and
//! GCP providers' schemas, as the CLI runs it. Reports each test's time (minimum, median and
//! maximum over several runs) and the HTTP requests the AWS provider sent (none: the mocks
//! answer). Target: each test well under a second.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use terrace::provider::Registry;

const RUNS: usize = 5;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no unit tests here
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let none = serde_json::Map::new();
    let aws = Arc::new(terrace_aws::AwsProvider::from_settings(&none).expect("aws"));
    let gcp = Arc::new(terrace_gcp::GcpProvider::from_settings(&none).expect("gcp"));
    let mut schemas = Registry::new();
    schemas.register(aws.clone());
    schemas.register(gcp);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "terrace test on the reference workspace ({RUNS} runs after a warm-up; machine: {} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let mut per_test: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut runs = Vec::new();
    for run in 0..=RUNS {
        let started = Instant::now();
        let report = runtime
            .block_on(terrace::workspace_test::run(root, &schemas, &[], |_, _| {}))
            .expect("the reference tests load");
        let elapsed = started.elapsed();
        assert_eq!(report.failed, 0, "the reference tests pass");
        if run == 0 {
            continue; // warm-up
        }
        runs.push(elapsed);
        for suite in &report.suites {
            for test in &suite.tests {
                let name = format!("{} › {}", suite.file.display(), test.name);
                per_test.entry(name).or_default().push(test.duration);
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let stats = |mut all: Vec<Duration>| {
        all.sort();
        (all[0], all[all.len() / 2], all[all.len() - 1])
    };
    println!("{:>9} {:>9} {:>9}  test", "min ms", "median", "max");
    let mut slowest = Duration::ZERO;
    for (name, times) in per_test {
        let (min, median, max) = stats(times);
        slowest = slowest.max(median);
        println!(
            "{:>9.1} {:>9.1} {:>9.1}  {name}",
            ms(min),
            ms(median),
            ms(max)
        );
    }
    let (min, median, max) = stats(runs);
    println!(
        "\nwhole run (load, check and run every file): min {:.0} ms, median {:.0} ms, max {:.0} ms",
        ms(min),
        ms(median),
        ms(max)
    );
    println!(
        "slowest test (median): {:.0} ms; target: well under 1,000 ms",
        ms(slowest)
    );
    println!(
        "HTTP requests sent by the AWS provider: {}",
        aws.requests_sent()
    );
}
