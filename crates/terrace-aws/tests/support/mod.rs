//! Test support: a moto server on a free loopback port (stopped on drop), a provider pointed at
//! it (or at the sandbox's behaviour layer in front of it), plain SDK clients for checks that do
//! not go through the provider, and the requests moto recorded (its own recorder), to count
//! HTTP requests and inspect what was sent.
#![allow(dead_code)]

use terrace_test_support::moto;

use base64::Engine as _;
use serde_json::{json, Value as Json};
use terrace::provider::{
    CreateRequest, DeleteRequest, Observed, Ownership, Properties, Provider, ReadRequest,
    UpdateRequest,
};
use terrace_aws::AwsProvider;

pub const REGION: &str = "us-east-1";

/// A moto server with its request recorder on, stopped when dropped.
pub struct Moto {
    server: moto::Moto,
    pub endpoint: String,
    recording: tempfile::TempPath,
}

impl Moto {
    pub fn start() -> Moto {
        let recording = tempfile::NamedTempFile::new()
            .expect("temp file")
            .into_temp_path();
        let server = moto::Moto::start_with(vec![
            ("MOTO_ENABLE_RECORDING", "True".into()),
            ("MOTO_RECORDER_FILEPATH", recording.as_os_str().to_owned()),
        ]);
        Moto {
            endpoint: server.endpoint.clone(),
            server,
            recording,
        }
    }

    /// The provider, pointed at this server, with few retries and short waits.
    pub fn provider(&self) -> AwsProvider {
        moto::credentials();
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
        ec2_at(&self.endpoint, true)
    }

    /// A plain ELBv2 client for checks that bypass the provider.
    pub fn elbv2(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        elbv2_at(&self.endpoint, true)
    }

    /// A plain Auto Scaling client for checks that bypass the provider.
    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        autoscaling_at(&self.endpoint, true)
    }

    /// A plain Organizations client for checks that bypass the provider.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        organizations_at(&self.endpoint, true)
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

/// A workspace named `name` of one layer, `networks` (a stack per replica, from `template`),
/// and one group per name in `groups`, each of one replica `a` in [`REGION`].
pub fn networks_workspace(name: &str, groups: &[&str], template: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, text: &str| {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("terrace.yaml", &format!("name: {name}\n"));
    for group in groups {
        write(
            &format!("groups/{group}.yaml"),
            &format!("replicas:\n  - name: a\n    cloud: aws\n    region: {REGION}\n    zones: [{REGION}a]\n"),
        );
    }
    write("stacks/networks/layer.yaml", "per: replica\n");
    write("templates/networks/network.yaml.tera", template);
    dir
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

/// `pub fn $name(endpoint, retries) -> $sdk::Client`: a plain client of one SDK at `endpoint`
/// (moto, or the behaviour layer), with the SDK's retries or without them (to see each answer
/// as it is).
macro_rules! client_at {
    ($name:ident, $sdk:ident) => {
        pub fn $name(endpoint: &str, retries: bool) -> $sdk::Client {
            use $sdk::config::{BehaviorVersion, Credentials, Region};
            let retry = if retries {
                aws_config::retry::RetryConfig::standard()
            } else {
                aws_config::retry::RetryConfig::disabled()
            };
            let config = $sdk::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
                .retry_config(retry)
                .build();
            $sdk::Client::from_conf(config)
        }
    };
}

client_at!(ec2_at, aws_sdk_ec2);
client_at!(elbv2_at, aws_sdk_elasticloadbalancingv2);
client_at!(autoscaling_at, aws_sdk_autoscaling);
client_at!(organizations_at, aws_sdk_organizations);
client_at!(sts_at, aws_sdk_sts);

/// The sandbox's AWS behaviour layer in front of `moto` (stopped when dropped).
pub async fn layer(moto: &Moto, behaviour: aws_sandbox::Behaviour) -> aws_sandbox::RunningLayer {
    aws_sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        &moto.endpoint,
        behaviour,
        false,
    )
    .await
    .expect("the behaviour layer starts")
}

/// A layer with the `fast` profile (nothing random: only client tokens and closed accounts, as
/// AWS always does), to switch the other behaviours on one at a time.
pub fn lenient(seed: u64) -> aws_sandbox::Behaviour {
    aws_sandbox::Behaviour::of(aws_sandbox::Profile::Fast, seed)
}

/// The provider at `endpoint`, with `attempts` per request and short waits.
pub fn provider_at(endpoint: &str, attempts: u32) -> AwsProvider {
    moto::credentials();
    let settings = json!({
        "endpoint": endpoint,
        "region": REGION,
        "max_attempts": attempts,
        "initial_backoff_ms": 5,
        "wait_timeout_secs": 30,
        "poll_interval_ms": 20,
        "consistency_timeout_secs": 10,
    });
    AwsProvider::from_settings(settings.as_object().unwrap()).expect("settings")
}
