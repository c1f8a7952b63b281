//! Test support: a moto server on a free loopback port (stopped on drop), a provider pointed at
//! it, a direct EC2 client for checks that do not go through the provider, and the requests
//! moto recorded (its own recorder), to count HTTP requests and inspect what was sent.
#![allow(dead_code)]

pub mod faults;

use base64::Engine as _;
use serde_json::{json, Value as Json};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use terrace::provider::{
    CreateRequest, DeleteRequest, Observed, Ownership, Properties, Provider, ReadRequest,
    UpdateRequest,
};
use terrace_aws::AwsProvider;

pub const REGION: &str = "us-east-1";

fn venv() -> PathBuf {
    match std::env::var_os("TERRACE_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
    }
}

/// A moto server, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    recording: tempfile::TempPath,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = venv().join("bin/moto_server");
        assert!(
            bin.exists(),
            "moto is not installed at {}: run scripts/ensure-venv.sh first",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let recording = tempfile::NamedTempFile::new()
            .expect("temp file")
            .into_temp_path();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            recording,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The provider, pointed at this server, with few retries and short waits.
    pub fn provider(&self) -> AwsProvider {
        credentials();
        let settings = json!({
            "endpoint": self.endpoint,
            "region": REGION,
            "max_attempts": 2,
            "initial_backoff_ms": 10,
            "wait_timeout_secs": 20,
            "poll_interval_ms": 50,
        });
        AwsProvider::from_settings(settings.as_object().unwrap()).expect("settings")
    }

    /// A plain EC2 client for checks that bypass the provider.
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    /// A plain ELBv2 client for checks that bypass the provider.
    pub fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        use aws_sdk_elasticloadbalancingv2::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_elasticloadbalancingv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(config)
    }

    /// A plain Auto Scaling client for checks that bypass the provider.
    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        use aws_sdk_autoscaling::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_autoscaling::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_autoscaling::Client::from_conf(config)
    }

    /// A plain Organizations client for checks that bypass the provider.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        use aws_sdk_organizations::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_organizations::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_organizations::Client::from_conf(config)
    }

    /// Request bodies moto received so far (EC2 query strings), in order.
    pub fn requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Json>(line).ok())
            .map(|entry| {
                let body = entry["body"].as_str().unwrap_or_default().to_string();
                if entry["body_encoded"].as_bool() == Some(true) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    body
                }
            })
            .collect()
    }

    /// Requests of one EC2 action moto received so far.
    pub fn count(&self, action: &str) -> usize {
        let needle = format!("Action={action}&");
        self.requests()
            .iter()
            .filter(|b| b.starts_with(&needle) || b.contains(&format!("&{needle}")))
            .count()
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

/// Dummy credentials for moto, the same for every test (set once per process).
fn credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
    });
}

pub fn owner(stack: &str, resource: &str) -> Ownership {
    Ownership {
        workspace: "ws".into(),
        stack: stack.into(),
        resource: resource.into(),
    }
}

pub fn props(value: Json) -> Properties {
    value.as_object().cloned().expect("an object")
}

pub async fn create(
    p: &AwsProvider,
    type_name: &str,
    resource: &str,
    properties: Json,
) -> Observed {
    create_in(p, type_name, "networks/eu/a", resource, properties).await
}

pub async fn create_in(
    p: &AwsProvider,
    type_name: &str,
    stack: &str,
    resource: &str,
    properties: Json,
) -> Observed {
    p.create(CreateRequest {
        type_name: type_name.into(),
        region: None,
        properties: props(properties),
        ownership: owner(stack, resource),
        idempotency_key: format!("{stack}/{resource}/create"),
    })
    .await
    .unwrap_or_else(|e| panic!("create {type_name} {resource}: {e:?}"))
}

pub async fn update(p: &AwsProvider, type_name: &str, id: &str, old: Json, new: Json) -> Observed {
    p.update(UpdateRequest {
        type_name: type_name.into(),
        region: None,
        id: id.into(),
        old: props(old),
        new: props(new),
        ownership: owner("networks/eu/a", "x"),
        idempotency_key: format!("{id}/update"),
    })
    .await
    .unwrap_or_else(|e| panic!("update {type_name} {id}: {e:?}"))
}

pub async fn delete(p: &AwsProvider, type_name: &str, id: &str) {
    p.delete(DeleteRequest {
        type_name: type_name.into(),
        region: None,
        id: id.into(),
        properties: Properties::new(),
        idempotency_key: format!("{id}/delete"),
    })
    .await
    .unwrap_or_else(|e| panic!("delete {type_name} {id}: {e:?}"))
}

pub async fn read_ids(p: &AwsProvider, type_name: &str, ids: &[&str]) -> Vec<Observed> {
    p.read(ReadRequest {
        type_name: type_name.into(),
        region: None,
        ids: ids.iter().map(|s| s.to_string()).collect(),
        owner: None,
    })
    .await
    .unwrap_or_else(|e| panic!("read {type_name}: {e:?}"))
}
