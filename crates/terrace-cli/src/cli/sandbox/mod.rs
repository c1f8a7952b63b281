//! `terrace sandbox start|stop|status|env`: the offline sandbox. `start` runs the Compute
//! Engine emulator (in a background `terrace sandbox serve-gce` process), moto (from the
//! project's `.venv`) and, in front of moto, the AWS behaviour layer (`terrace sandbox
//! serve-aws`, crate `aws-sandbox`) on free loopback ports, and records them in
//! `.terrace/sandbox.json`; while they run, every command in that workspace points the AWS
//! provider at the layer and the GCP provider at the emulator. The profile (`cloud`, the
//! default, or `fast`) decides how strict both are. `stop` ends only the processes the record
//! names.

#[cfg_attr(feature = "sandbox", path = "serve.rs")]
#[cfg_attr(not(feature = "sandbox"), path = "not_built.rs")]
mod serve;

use serde::{Deserialize, Serialize};
pub use serve::{serve_aws, serve_gce};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use terrace::Error;

/// One background service of the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub pid: u32,
    pub url: String,
    /// A word of its command line, to recognise the process before signalling it.
    pub marker: String,
}

/// `.terrace/sandbox.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sandbox {
    pub gce: Service,
    /// moto itself (tests list it directly, past the behaviour layer).
    pub moto: Service,
    /// The AWS behaviour layer in front of moto: the endpoint the providers use.
    pub aws: Service,
    /// `cloud` or `fast`.
    pub profile: String,
    /// Seed of the random faults.
    pub seed: u64,
}

/// moto's server with one defect mended (see the file): the sandbox runs moto through it.
const MOTO_LAUNCHER: &str = include_str!("moto_sandbox.py");

/// True while a process exists and has not exited (a zombie has exited).
fn exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|status| {
            !status
                .lines()
                .any(|l| l.starts_with("State:") && (l.contains('Z') || l.contains('X')))
        })
        .unwrap_or(false)
}

fn record_path(root: &Path) -> PathBuf {
    root.join(".terrace/sandbox.json")
}

fn logs(root: &Path) -> PathBuf {
    root.join(".terrace/sandbox")
}

/// Where the Compute emulator keeps its resources across restarts (moto keeps none).
pub fn gce_state(root: &Path) -> PathBuf {
    logs(root).join("gce-state.json")
}

impl Service {
    /// True when the process runs and is the one recorded.
    pub fn alive(&self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|cmd| String::from_utf8_lossy(&cmd).contains(&self.marker))
            .unwrap_or(false)
    }
}

/// The running sandbox of a workspace, if any.
pub fn running(root: &Path) -> Option<Sandbox> {
    let bytes = std::fs::read(record_path(root)).ok()?;
    let sandbox: Sandbox = serde_json::from_slice(&bytes).ok()?;
    (sandbox.gce.alive() && sandbox.moto.alive() && sandbox.aws.alive()).then_some(sandbox)
}

/// Refuses to reach the clouds when this workspace records a sandbox whose processes have
/// ended (the machine restarted, or they were killed) and the providers are not pointed
/// elsewhere: the commands would otherwise talk to no cloud at all and fail on what that
/// lacks ("no GCP project"), not on the cause.
pub fn check_running(root: &Path) -> Result<(), Error> {
    let Ok(bytes) = std::fs::read(record_path(root)) else {
        return Ok(());
    };
    let Ok(sandbox) = serde_json::from_slice::<Sandbox>(&bytes) else {
        return Ok(());
    };
    let own_endpoints = ["AWS_ENDPOINT_URL", "TERRACE_GCP_ENDPOINT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let ended: Vec<String> = [&sandbox.gce, &sandbox.aws, &sandbox.moto]
        .into_iter()
        .filter(|s| !s.alive())
        .map(|s| format!("{} (pid {})", s.marker, s.pid))
        .collect();
    if ended.is_empty() || own_endpoints {
        return Ok(());
    }
    Err(Error::usage(format!(
        "the sandbox is not running (start it with `terrace -C {dir} sandbox start`): {record} records {}, which ended; to use real clouds instead, remove the record with `terrace -C {dir} sandbox stop`",
        ended.join(", "),
        dir = root.display(),
        record = record_path(root).display(),
    )))
}

/// Environment for the providers: the sandbox endpoints and test credentials.
pub fn environment(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", sandbox.aws.url.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        // boto3 / the AWS CLI read AWS_DEFAULT_REGION (botocore), the Rust SDK AWS_REGION.
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("TERRACE_GCP_ENDPOINT", sandbox.gce.url.clone()),
        ("GOOGLE_CLOUD_PROJECT", "terrace-sandbox".into()),
    ]
}

/// Points this process at the sandbox, for variables the user has not set. Called before any
/// thread starts.
pub fn apply_environment(root: &Path) {
    if let Some(sandbox) = running(root) {
        for (key, value) in environment(&sandbox) {
            if std::env::var_os(key).is_none() {
                std::env::set_var(key, value);
            }
        }
    }
}

/// The `.venv` holding moto and Compute's discovery document: `$TERRACE_VENV`, the
/// workspace's, or the Terrace checkout's.
#[cfg(feature = "sandbox")]
fn find_venv(root: &Path) -> Result<PathBuf, Error> {
    find_moto(root).map(|moto| {
        moto.parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    })
}

/// moto's server in the `.venv` (see [`find_venv`]).
fn find_moto(root: &Path) -> Result<PathBuf, Error> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("TERRACE_VENV") {
        candidates.push(PathBuf::from(venv));
    }
    candidates.push(root.join(".venv"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    candidates
        .into_iter()
        .map(|venv| venv.join("bin/moto_server"))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Error::usage(
                "moto is not installed: run scripts/ensure-venv.sh in the Terrace checkout (it installs moto[server] into .venv), \
                 or point TERRACE_VENV at a virtualenv that has it",
            )
        })
}

fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::usage(format!("no free port: {e}")))?;
    Ok(listener
        .local_addr()
        .map_err(|e| Error::usage(e.to_string()))?
        .port())
}

fn spawn(program: &Path, args: &[String], log: &Path) -> Result<u32, Error> {
    use std::os::unix::process::CommandExt;
    let out =
        std::fs::File::create(log).map_err(|e| Error::usage(format!("{}: {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| Error::usage(e.to_string()))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::usage(format!("could not start {}: {e}", program.display())))?;
    Ok(child.id())
}

/// Waits until the service's own process listens on its URL's port (http://127.0.0.1:PORT):
/// a port found free can be taken by another program before the service binds it, and then
/// the sandbox must not talk to that program.
fn wait_listening(service: &Service, log: &Path, what: &str) -> Result<(), Error> {
    let port: u16 = service
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if serve::listens(service.pid, port) {
            return Ok(());
        }
        if !exists(service.pid) {
            return Err(Error::usage(format!(
                "{what} ended before listening on {} (was the port taken by another program?); see {} and run `terrace sandbox start` again",
                service.url,
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::usage(format!(
        "{what} did not start listening on {}; see {}",
        service.url,
        log.display()
    )))
}

/// Starts the sandbox with a profile (`cloud` or `fast`), or reports the one already running.
pub fn start(root: &Path, profile: &str, seed: Option<u64>) -> Result<Sandbox, Error> {
    serve::check_profile(profile)?;
    if let Some(sandbox) = running(root) {
        if sandbox.profile != profile {
            return Err(Error::usage(format!(
                "a sandbox with the {} profile is running here; run `terrace sandbox stop` first",
                sandbox.profile
            )));
        }
        return Ok(sandbox);
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let moto = find_moto(root)?;
    std::fs::create_dir_all(logs(root)).map_err(|e| Error::usage(e.to_string()))?;
    let gce_port = free_port()?;
    let moto_port = free_port()?;
    let aws_port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| Error::usage(e.to_string()))?;
    let gce_log = logs(root).join("gce.log");
    let gce_state = gce_state(root);
    let gce_args = vec![
        "sandbox".to_string(),
        "serve-gce".into(),
        "--listen".into(),
        format!("127.0.0.1:{gce_port}"),
        "--state-file".into(),
        gce_state.display().to_string(),
        "--profile".into(),
        profile.to_string(),
        "--seed".into(),
        seed.to_string(),
    ];
    let gce = Service {
        pid: spawn(&exe, &gce_args, &gce_log)?,
        url: format!("http://127.0.0.1:{gce_port}"),
        marker: "serve-gce".into(),
    };
    let moto_log = logs(root).join("moto.log");
    let launcher = logs(root).join("moto_sandbox.py");
    std::fs::write(&launcher, MOTO_LAUNCHER).map_err(|e| Error::usage(e.to_string()))?;
    let python = moto.with_file_name("python");
    let moto_args = vec![
        launcher.display().to_string(),
        "-H".to_string(),
        "127.0.0.1".into(),
        "-p".into(),
        moto_port.to_string(),
    ];
    let moto = Service {
        pid: spawn(&python, &moto_args, &moto_log)?,
        url: format!("http://127.0.0.1:{moto_port}"),
        marker: "moto_sandbox".into(),
    };
    let aws_log = logs(root).join("aws.log");
    let aws_args = vec![
        "sandbox".to_string(),
        "serve-aws".into(),
        "--listen".into(),
        format!("127.0.0.1:{aws_port}"),
        "--upstream".into(),
        moto.url.clone(),
        "--profile".into(),
        profile.to_string(),
        "--seed".into(),
        seed.to_string(),
    ];
    let aws = Service {
        pid: spawn(&exe, &aws_args, &aws_log)?,
        url: format!("http://127.0.0.1:{aws_port}"),
        marker: "serve-aws".into(),
    };
    let sandbox = Sandbox {
        gce,
        moto,
        aws,
        profile: profile.to_string(),
        seed,
    };
    let bytes = serde_json::to_vec_pretty(&sandbox).expect("sandbox record serializes");
    terrace::state::file::write_atomic(&record_path(root), &bytes).map_err(Error::State)?;
    let ready = wait_listening(&sandbox.gce, &gce_log, "the GCE emulator")
        .and_then(|()| wait_listening(&sandbox.moto, &moto_log, "moto"))
        .and_then(|()| wait_listening(&sandbox.aws, &aws_log, "the AWS behaviour layer"))
        .and_then(|()| create_organization(&sandbox.moto.url));
    if let Err(err) = ready {
        let _ = stop(root);
        return Err(err);
    }
    Ok(sandbox)
}

/// Makes the sandbox's AWS account an Organizations management account, as a real one must be
/// before the accounts layer can create member accounts (`CreateOrganization`, JSON protocol).
fn create_organization(url: &str) -> Result<(), Error> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let body = r#"{"FeatureSet":"ALL"}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: AWSOrganizationsV20161128.CreateOrganization\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/organizations/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let failed = |e: std::io::Error| Error::usage(format!("moto: CreateOrganization failed: {e}"));
    let mut stream = std::net::TcpStream::connect(address).map_err(failed)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(failed)?;
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(failed)?;
    let status = answer.lines().next().unwrap_or_default();
    if status.contains(" 200 ") {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "moto: CreateOrganization answered `{status}`"
        )))
    }
}

/// Stops the recorded processes (TERM, then KILL after 5 s) and removes the record.
pub fn stop(root: &Path) -> Result<Vec<String>, Error> {
    let Ok(bytes) = std::fs::read(record_path(root)) else {
        return Ok(Vec::new());
    };
    let sandbox: Sandbox = serde_json::from_slice(&bytes)
        .map_err(|e| Error::usage(format!("{}: {e}", record_path(root).display())))?;
    let mut stopped = Vec::new();
    for service in [&sandbox.gce, &sandbox.aws, &sandbox.moto] {
        if service.alive() {
            signal(service.pid, "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while exists(service.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if exists(service.pid) {
                signal(service.pid, "KILL");
                let deadline = Instant::now() + Duration::from_secs(5);
                while exists(service.pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            stopped.push(format!("{} (pid {})", service.marker, service.pid));
        }
    }
    let _ = std::fs::remove_file(record_path(root));
    Ok(stopped)
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// `export` lines for a shell.
pub fn env_lines(sandbox: &Sandbox) -> String {
    environment(sandbox)
        .into_iter()
        .map(|(k, v)| format!("export {k}={v}\n"))
        .collect()
}
