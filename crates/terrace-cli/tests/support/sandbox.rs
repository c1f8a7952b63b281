//! The sandbox for end-to-end tests: the `terrace` binary with the real providers, a guard that
//! stops the emulators whatever happens, and an inventory of what a workspace owns in them,
//! listed directly (`inventory.py`: boto3 against moto, REST against the Compute emulator).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project's virtualenv with moto and boto3.
pub fn venv() -> PathBuf {
    std::env::var_os("TERRACE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"))
}

/// The passphrase of the workspaces the e2e tests apply: the replica mesh's VPN keys are
/// secrets, so the workspace needs a secrets key (`terrace config init-secrets`, made by
/// [`Sandbox::start`]).
pub const SANDBOX_PASSPHRASE: &str = "sandbox passphrase of the e2e tests";

/// The binary without the test provider: real providers, the sandbox's endpoints (from its
/// record, not from this process's environment).
pub fn terrace_real_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terrace"));
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TERRACE_PASSPHRASE", SANDBOX_PASSPHRASE)
        .env_remove("TERRACE_TEST_PROVIDER")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("TERRACE_GCP_ENDPOINT");
    command
}

/// Runs the binary without the test provider, to the end.
pub fn terrace_real(dir: &Path, args: &[&str]) -> Output {
    terrace_real_command(dir, args)
        .output()
        .expect("terrace runs")
}

/// Rows of `terrace state list --json`: `{stack, serial, resources, pending, locked_by}`.
pub fn state_rows(dir: &Path) -> Vec<Value> {
    let list = terrace_real(dir, &["--json", "state", "list"]);
    assert_eq!(
        list.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    serde_json::from_slice(&list.stdout).expect("state list JSON")
}

/// A running sandbox of a workspace; stopped on drop, even when an assertion fails.
pub struct Sandbox {
    dir: PathBuf,
    /// The Compute Engine emulator's URL.
    pub gce: String,
    /// moto's URL.
    pub moto: String,
    /// The AWS behaviour layer's URL (in front of moto): what the SDK sees, e.g. a VPN
    /// connection's tunnel options, which moto does not keep.
    pub aws: String,
}

impl Sandbox {
    /// Starts the sandbox in `dir`.
    pub fn start(dir: &Path) -> Sandbox {
        assert!(
            venv().join("bin/moto_server").is_file(),
            "moto is missing: run scripts/ensure-venv.sh"
        );
        let init = terrace_real(dir, &["config", "init-secrets"]);
        assert_eq!(
            init.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let start = terrace_real(dir, &["sandbox", "start"]);
        assert_eq!(
            start.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&start.stderr)
        );
        let status = terrace_real(dir, &["--json", "sandbox", "status"]);
        let record: Value = serde_json::from_slice(&status.stdout).expect("sandbox status JSON");
        Sandbox {
            dir: dir.to_path_buf(),
            gce: record["gce"]["url"].as_str().unwrap().into(),
            moto: record["moto"]["url"].as_str().unwrap().into(),
            aws: record["aws"]["url"].as_str().unwrap().into(),
        }
    }

    /// Every resource `workspace` owns in the given regions (`aws:eu-west-1`,
    /// `gcp:europe-west3`), listed directly in the emulators: `{cloud, kind, id, stack}`.
    pub fn inventory(&self, workspace: &str, regions: &[&str]) -> Vec<Value> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/inventory.py");
        let output = Command::new(venv().join("bin/python"))
            .arg(script)
            .args([workspace, &self.moto, &self.gce])
            .args(regions)
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "inventory: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("inventory JSON")
    }
}

impl Sandbox {
    /// The last lines of moto's log with a Python traceback, for failure messages: an emulator
    /// error (a 500) is otherwise invisible once the temporary workspace is gone.
    pub fn moto_errors(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.join(".terrace/sandbox/moto.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        match lines.iter().rposition(|l| l.starts_with("Traceback")) {
            Some(start) => lines[start..(start + 40).min(lines.len())].join("\n"),
            None => "(no traceback in moto's log)".into(),
        }
    }
}

impl Sandbox {
    /// Runs a Python snippet against moto in `region`, with `ec2` a boto3 EC2 client there;
    /// returns what it printed, trimmed. For checks and changes that bypass Terrace.
    pub fn boto3_ec2(&self, region: &str, body: &str) -> String {
        let script = format!(
            "import boto3, json\n\
             ec2 = boto3.client('ec2', region_name='{region}', endpoint_url='{}', \
             aws_access_key_id='t', aws_secret_access_key='t')\n{body}",
            self.moto
        );
        let output = Command::new(venv().join("bin/python"))
            .args(["-c", &script])
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Sandbox {
    /// The VMs of Auto Scaling groups (`aws:REGION:GROUP`) and regional managed instance groups
    /// (`gcp:REGION:BASE_INSTANCE_NAME`), listed directly in the emulators (`vms.py`): for
    /// each spec `{"vms": [{"id", "boot"}], "stable", "reached"}`, where `boot` is the boot
    /// document the VM was launched with (an instance's own user data; the `user-data` of the
    /// instance template `listManagedInstances` names for the VM).
    pub fn vms(&self, specs: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/vms.py");
        let output = Command::new(venv().join("bin/python"))
            .arg(script)
            .args([&self.moto, &self.gce])
            .args(specs)
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "vms: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("vms JSON")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = terrace_real(&self.dir, &["sandbox", "stop"]);
    }
}

/// The cloud ids state records, by stack (`terrace --json state show` of every stack).
pub fn state_ids(
    dir: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeMap::new();
    for row in state_rows(dir) {
        let stack = row["stack"].as_str().expect("stack name").to_string();
        let shown = terrace_real(dir, &["--json", "state", "show", &stack]);
        assert_eq!(
            shown.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let state: Value = serde_json::from_slice(&shown.stdout).expect("state JSON");
        let ids: std::collections::BTreeSet<String> = state["resources"]
            .as_object()
            .map(|r| {
                r.values()
                    .filter_map(|v| v["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !ids.is_empty() {
            out.insert(stack, ids);
        }
    }
    out
}

impl Sandbox {
    /// Lists the emulators directly and checks them against state: no (stack, resource) is
    /// owned twice, everything owned is recorded by its stack's state, and everything state
    /// records exists. (Instances belong to their groups, which state records.)
    pub fn assert_matches_state(&self, dir: &Path, workspace: &str, regions: &[&str]) {
        let owned: Vec<Value> = self
            .inventory(workspace, regions)
            .into_iter()
            .filter(|i| !matches!(i["kind"].as_str(), Some("instance") | Some("instances")))
            .collect();
        let mut pairs = std::collections::BTreeMap::new();
        for item in &owned {
            let key = (item["stack"].to_string(), item["resource"].to_string());
            *pairs.entry(key).or_insert(0) += 1;
        }
        let twice: Vec<_> = pairs.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "owned twice: {twice:?}\n{owned:#?}");
        let mut cloud: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for item in &owned {
            cloud
                .entry(item["stack"].as_str().unwrap_or("?").to_string())
                .or_default()
                .insert(item["id"].as_str().unwrap_or("?").to_string());
        }
        assert_eq!(
            cloud,
            state_ids(dir),
            "the clouds hold exactly what state records"
        );
    }
}

/// GET on the Compute emulator, with the retries any Compute client needs: the cloud profile
/// throttles (403 `rateLimitExceeded`) and answers 503 now and then, as Compute does.
pub fn gce_get(url: &str) -> Value {
    for attempt in 0..20 {
        let output = Command::new("curl")
            .args(["-s", url])
            .output()
            .expect("curl runs");
        let answer: Value = serde_json::from_slice(&output.stdout).expect("Compute answers JSON");
        let code = answer["error"]["code"].as_u64();
        let reason = answer["error"]["errors"][0]["reason"]
            .as_str()
            .unwrap_or_default();
        let retry = matches!(code, Some(429 | 500 | 503))
            || (code == Some(403) && reason.to_ascii_lowercase().contains("ratelimitexceeded"));
        if !retry {
            return answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(50 << attempt.min(5)));
    }
    panic!("{url}: still throttled after 20 attempts");
}

/// Stack → the actions of its changes, for the stacks a `--json plan` output changes.
pub fn changed_actions(
    plan_json: &[u8],
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let plan: Value = serde_json::from_slice(plan_json).expect("plan JSON");
    plan["stacks"]
        .as_array()
        .expect("stacks")
        .iter()
        .map(|s| {
            let actions = s["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .map(|c| c["action"].as_str().expect("action").to_string())
                .filter(|a| a != "no-op")
                .collect();
            (s["name"].as_str().expect("name").to_string(), actions)
        })
        .filter(|(_, actions): &(String, std::collections::BTreeSet<String>)| !actions.is_empty())
        .collect()
}
