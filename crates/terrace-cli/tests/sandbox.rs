//! `terrace sandbox`: starts the Compute Engine emulator and moto in the background, reports
//! them, exports their endpoints, and stops exactly them. Needs the project's .venv
//! (scripts/ensure-venv.sh; CI runs it first).

mod support;

use std::process::Command;
use support::{stderr, stdout, terrace};

fn moto_installed() -> bool {
    let venv = std::env::var_os("TERRACE_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    venv.join("bin/moto_server").is_file()
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains("Z"))
        })
        .unwrap_or(false)
}

/// The HTTP status of a GET, asked again (as any client does) while the `cloud` profile
/// throttles or has a blip: Compute's 403 `rateLimitExceeded` / `userRateLimitExceeded`, 429, 503.
fn http_status(url: &str) -> String {
    let mut status = String::new();
    for _ in 0..20 {
        let output = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        status = code.to_string();
        let throttled = (status == "403" && body.to_lowercase().contains("ratelimitexceeded"))
            || status == "429"
            || status == "503";
        if !throttled {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    status
}

#[test]
fn start_status_env_and_stop() {
    assert!(
        moto_installed(),
        "moto is missing: run scripts/ensure-venv.sh (the test command does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let start = terrace(dir.path(), &["--json", "sandbox", "start"]);
    assert_eq!(start.status.code(), Some(0), "{}", stderr(&start));
    let record: serde_json::Value = serde_json::from_slice(&start.stdout).unwrap();
    let gce = record["gce"]["url"].as_str().unwrap().to_string();
    let moto = record["moto"]["url"].as_str().unwrap().to_string();
    // The providers talk to the AWS behaviour layer in front of moto.
    let aws = record["aws"]["url"].as_str().unwrap().to_string();
    assert_eq!(
        record["profile"], "cloud",
        "as strict as the clouds by default"
    );
    let pids = [
        record["gce"]["pid"].as_u64().unwrap(),
        record["moto"]["pid"].as_u64().unwrap(),
        record["aws"]["pid"].as_u64().unwrap(),
    ];
    // Both answer, independently of Terrace.
    assert_eq!(
        http_status(&format!("{gce}/compute/v1/projects/p/global/networks")),
        "200"
    );
    assert_eq!(http_status(&format!("{moto}/moto-api/")), "200");
    // The AWS behaviour layer in front of moto answers its counters.
    assert_eq!(http_status(&format!("{aws}/__sandbox/stats")), "200");
    // A second start reports the running sandbox instead of starting another.
    let again = terrace(dir.path(), &["--json", "sandbox", "start"]);
    let second: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(second["gce"]["pid"], record["gce"]["pid"]);
    // Another profile needs a stop first; an unknown one is a usage error.
    let other = terrace(dir.path(), &["sandbox", "start", "--profile", "fast"]);
    assert_ne!(other.status.code(), Some(0));
    assert!(
        stderr(&other).contains("cloud profile is running"),
        "{}",
        stderr(&other)
    );
    let unknown = terrace(dir.path(), &["sandbox", "start", "--profile", "kind"]);
    assert!(
        stderr(&unknown).contains("unknown sandbox profile"),
        "{}",
        stderr(&unknown)
    );
    let env = stdout(&terrace(dir.path(), &["sandbox", "env"]));
    assert!(
        env.contains(&format!("export AWS_ENDPOINT_URL={aws}")),
        "{env}"
    );
    assert!(
        env.contains(&format!("export TERRACE_GCP_ENDPOINT={gce}")),
        "{env}"
    );
    assert!(env.contains("export AWS_ACCESS_KEY_ID=testing"));
    // boto3 reads AWS_DEFAULT_REGION, the Rust SDK AWS_REGION.
    assert!(env.contains("export AWS_DEFAULT_REGION=us-east-1"), "{env}");
    assert_eq!(
        terrace(dir.path(), &["sandbox", "status"]).status.code(),
        Some(0)
    );
    let stop = terrace(dir.path(), &["sandbox", "stop"]);
    assert!(
        stdout(&stop).contains("Stopped serve-gce")
            && stdout(&stop).contains("moto keeps no state: its AWS resources are gone"),
        "{}",
        stdout(&stop)
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} still runs");
    }
    assert_eq!(
        terrace(dir.path(), &["sandbox", "status"]).status.code(),
        Some(1)
    );
    assert!(!dir.path().join(".terrace/sandbox.json").exists());
}
