//! A moto server from the project venv (`TERRACE_VENV`, else the `.venv` at the repository
//! root; `scripts/ensure-venv.sh` makes it) on a free loopback port, stopped (SIGTERM, then
//! SIGKILL) when dropped; it is checked to be the process listening on its port
//! ([`crate::ports`]). Every test suite that needs moto — terrace-aws, terrace-s3, the CLI —
//! uses it through this crate.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project's virtualenv with moto and boto3.
pub fn venv() -> PathBuf {
    match std::env::var_os("TERRACE_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join(".venv"))
            .find(|dir| dir.join("bin/moto_server").exists())
            .unwrap_or_else(|| PathBuf::from(".venv")),
    }
}

/// The same program and arguments without the port arguments of an earlier try.
fn rebuilt(command: &Command) -> Command {
    let mut again = Command::new(command.get_program());
    let args: Vec<&std::ffi::OsStr> = command.get_args().collect();
    let cut = args.iter().position(|a| *a == "-H").unwrap_or(args.len());
    again.args(&args[..cut]);
    again
}

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto and waits until it listens.
    pub fn start() -> Moto {
        Moto::start_with(Vec::new())
    }

    /// Starts moto with extra environment variables (e.g. its request recorder).
    pub fn start_with(env: Vec<(&str, OsString)>) -> Moto {
        Moto::launch(Command::new(venv().join("bin/moto_server")), env)
    }

    /// Starts moto through `tests/support/moto_server.py`, which hands moto each request's
    /// query string as sent (getmoto/moto#5948): with IAM enforcement on, plain moto refuses
    /// the signature of every S3 listing whose prefix has a `/`.
    pub fn start_for_iam() -> Moto {
        let mut command = Command::new(venv().join("bin/python"));
        command.arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|d| d.join("tests/support/moto_server.py"))
                .find(|p| p.exists())
                .expect("tests/support/moto_server.py"),
        );
        Moto::launch(command, Vec::new())
    }

    fn launch(mut command: Command, env: Vec<(&str, OsString)>) -> Moto {
        let bin = venv().join("bin/moto_server");
        assert!(
            bin.exists(),
            "moto is not installed at {}: run scripts/ensure-venv.sh first",
            bin.display()
        );
        // A port found free can be taken by another test's server before moto binds it:
        // then this moto exits, and another one answers. Each try waits until *this* process
        // listens on the port, and picks another port when it has exited.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if crate::ports::listens(moto.child.id(), port) {
                    return moto;
                }
                if moto.child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken: try another
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            command = rebuilt(&command);
        }
        panic!("moto_server could not bind a free port in five tries")
    }

    /// An `s3://` state backend URL on this server (bucket, prefix, extra query parameters).
    pub fn url(&self, bucket: &str, prefix: &str, extra: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?region=us-east-1&lock_table=terrace-locks&endpoint={}{extra}",
            self.endpoint
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Dummy credentials for moto, set once per process (before any SDK client is made).
pub fn credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
    });
}
