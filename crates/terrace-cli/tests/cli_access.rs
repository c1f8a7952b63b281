//! Per-stack access control enforced by the cloud: moto with IAM enforcement on
//! (`INITIAL_NO_AUTH_ACTION_COUNT` = 0 after setup), one IAM user per role of `access:` with
//! the policy `terrace access policy ROLE` generates, and the `terrace` binary run with each
//! user's keys on a workspace whose state is on S3 + DynamoDB (resources on the test
//! provider: the cloud under test is the one holding state and locks).
//!
//! Also measured here: what moto's IAM enforcement covers for the calls Terrace makes
//! (`tests/support/moto_iam.py coverage`), so that the README's statement stays true.

mod support;

use terrace_test_support::moto;

use moto::Moto;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{runtime, stderr, stdout, workspace};
use terrace::state::Backend;
use terrace::testing::FakeCloud;

const ACCESS: &str = "
access:
  admin:
    description: platform team
    stacks: ['*']
    actions: [plan, apply, destroy, state]
  networks:
    description: network team
    stacks: ['networks/eu/*']
    actions: [plan, apply]
  viewers:
    stacks: ['*']
    actions: [plan]
";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/moto_iam.py")
}

fn python(args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new(moto::venv().join("bin/python"))
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    if let Some(input) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "moto_iam.py {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// An IAM user's keys.
#[derive(Clone)]
struct Keys {
    key: String,
    secret: String,
}

/// Runs `terrace` in `dir` with the test provider and `keys` as the AWS credentials.
fn terrace_as(keys: &Keys, dir: &Path, args: &[&str]) -> Output {
    support::command(dir, args)
        .env("AWS_ACCESS_KEY_ID", &keys.key)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("terrace runs")
}

fn root_keys() -> Keys {
    Keys {
        key: "testing".into(),
        secret: "testing".into(),
    }
}

/// moto checks DynamoDB and KMS calls against the action only, with `*` as the resource, so
/// an allow scoped to the lock table (or the key) never matches there, and it authorizes a
/// batch delete (DeleteObjects) against the bucket rather than each key (all measured below).
/// For moto alone, the DynamoDB and KMS statements get `Resource: *` and lose their
/// conditions, and the statement with `s3:DeleteObject` also names the bucket; everything
/// else is used exactly as generated.
fn for_moto(mut policy: Json) -> Json {
    for statement in policy["Statement"].as_array_mut().unwrap() {
        if statement["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("s3:DeleteObject"))
        {
            statement["Resource"]
                .as_array_mut()
                .unwrap()
                .push(json!("arn:aws:s3:::terrace-state"));
        }
        let dynamodb_or_kms = statement["Action"].as_array().unwrap().iter().any(|a| {
            a.as_str()
                .is_some_and(|a| a.starts_with("dynamodb:") || a.starts_with("kms:"))
        });
        if dynamodb_or_kms {
            statement["Resource"] = json!("*");
            statement.as_object_mut().unwrap().remove("Condition");
        }
    }
    policy
}

struct World {
    _moto: Moto,
    dir: tempfile::TempDir,
    url: String,
    users: BTreeMap<String, Keys>,
    auditor: Keys,
}

impl World {
    /// The workspace on S3, a policy per role made by the binary, a user per role, then IAM
    /// enforcement on.
    fn new() -> World {
        moto::credentials();
        let moto = Moto::start_for_iam();
        let url = moto.url("terrace-state", "ws", "");
        runtime()
            .block_on(terrace_s3::bootstrap(&url))
            .expect("bucket and lock table");
        let dir = workspace("basic");
        let config = dir.path().join("terrace.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("backend: '{url}'\n{text}{ACCESS}")).unwrap();
        let mut spec = serde_json::Map::new();
        for role in ["admin", "networks", "viewers"] {
            let output = terrace_as(&root_keys(), dir.path(), &["access", "policy", role]);
            assert!(output.status.success(), "{}", stderr(&output));
            let policy: Json = serde_json::from_str(&stdout(&output)).unwrap();
            spec.insert(role.to_string(), for_moto(policy));
        }
        spec.insert(
            "auditor".into(),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "dynamodb:*"], "Resource": "*"}]}),
        );
        let keys: Json = serde_json::from_str(&python(
            &["users", &moto.endpoint],
            Some(&Json::Object(spec).to_string()),
        ))
        .unwrap();
        let mut users: BTreeMap<String, Keys> = keys
            .as_object()
            .unwrap()
            .iter()
            .map(|(user, k)| {
                let keys = Keys {
                    key: k["key"].as_str().unwrap().into(),
                    secret: k["secret"].as_str().unwrap().into(),
                };
                (user.clone(), keys)
            })
            .collect();
        python(&["enforce", &moto.endpoint], None);
        let auditor = users.remove("auditor").unwrap();
        World {
            _moto: moto,
            dir,
            url,
            users,
            auditor,
        }
    }

    fn run(&self, user: &str, args: &[&str]) -> Output {
        terrace_as(&self.users[user], self.dir.path(), args)
    }

    /// Every key in the state bucket, read with the auditor's keys.
    fn keys(&self) -> Vec<String> {
        let backend = self.auditor_backend();
        runtime().block_on(backend.list()).unwrap()
    }

    fn auditor_backend(&self) -> terrace_s3::S3Backend {
        std::env::set_var("AWS_ACCESS_KEY_ID", &self.auditor.key);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", &self.auditor.secret);
        terrace_s3::S3Backend::new(&self.url).unwrap()
    }

    fn locked(&self, stack: &str) -> bool {
        let backend = self.auditor_backend();
        runtime()
            .block_on(backend.lock_info(stack))
            .unwrap()
            .is_some()
    }

    fn cloud(&self) -> Vec<String> {
        FakeCloud::in_dir(self.dir.path().join(".terrace/test-cloud"))
            .list()
            .unwrap()
            .iter()
            .map(|r| format!("{r:?}"))
            .collect()
    }
}

fn assert_denied(output: &Output, stack: &str, action: &str, call: &str) {
    let text = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(6),
        "exit 6 for a denied {action}: {text}"
    );
    assert!(
        text.contains(&format!(
            "access denied: {action} of stack {stack} needs {call}"
        )),
        "the error names the stack, the action and the call: {text}"
    );
    assert_eq!(
        text.matches("access denied").count(),
        1,
        "one error: {text}"
    );
}

#[test]
fn the_cloud_enforces_each_roles_stacks_and_a_refusal_writes_nothing() {
    let world = World::new();
    // The platform team creates the accounts stack the networks read.
    let admin = world.run("admin", &["apply", "--stack", "accounts/eu/test", "--yes"]);
    assert!(admin.status.success(), "{}", stderr(&admin));

    // The network team plans and applies its stacks.
    let plan = world.run("networks", &["plan", "--stack", "networks/eu/*"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let apply = world.run("networks", &["apply", "--stack", "networks/eu/*", "--yes"]);
    assert!(apply.status.success(), "{}", stderr(&apply));
    let stored = world.keys();
    assert_eq!(
        stored,
        ["accounts/eu/test", "networks/eu/a", "networks/eu/b"],
        "the network team's stacks are in state"
    );
    let cloud_before = world.cloud();

    // ... and is refused on the replicas: planning them, and applying them.
    let plan = world.run("networks", &["plan", "--stack", "replicas/eu/*"]);
    assert_denied(&plan, "replicas/eu/a", "plan", "s3:GetObject");
    let apply = world.run("networks", &["apply", "--stack", "replicas/eu/*", "--yes"]);
    assert_denied(&apply, "replicas/eu/a", "apply", "s3:GetObject");
    // Nothing written, no lock held, no resource created.
    assert_eq!(world.keys(), stored, "no state object was written");
    for stack in ["replicas/eu/a", "replicas/eu/b"] {
        assert!(!world.locked(stack), "no lock left on {stack}");
    }
    assert_eq!(world.cloud(), cloud_before, "no resource was created");

    // A plan-only role plans everything and cannot apply.
    let plan = world.run("viewers", &["plan"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let apply = world.run("viewers", &["apply", "--stack", "replicas/eu/a", "--yes"]);
    assert_denied(&apply, "replicas/eu/a", "apply", "s3:PutObject");
    assert_eq!(world.keys(), stored, "the viewer wrote nothing");
    assert!(!world.locked("replicas/eu/a"), "the viewer left no lock");
    assert_eq!(world.cloud(), cloud_before);

    // The viewer's saved plan, applied by the network team, is refused on the replicas'
    // part before anything runs; its own part applies.
    let saved = world.run("viewers", &["plan", "--out", "all.json"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    let part = world.run(
        "networks",
        &["apply", "all.json", "--stack", "replicas/eu/a"],
    );
    assert_denied(&part, "replicas/eu/a", "apply", "s3:GetObject");
    assert_eq!(world.keys(), stored);

    // Access check lists what each role may do.
    let check = world.run("admin", &["access", "check", "networks"]);
    let text = stdout(&check);
    assert!(
        text.contains("role networks (network team): 2 stack(s)"),
        "{text}"
    );
    assert!(text.contains("networks/eu/a  plan, apply"), "{text}");
    assert!(
        text.contains("reads the state of: accounts/eu/test"),
        "{text}"
    );
}

#[test]
fn moto_enforces_s3_and_sts_with_resources_and_dynamodb_and_kms_by_action_only() {
    moto::credentials();
    let moto = Moto::start();
    let measured: BTreeMap<String, String> =
        serde_json::from_str(&python(&["coverage", &moto.endpoint], None)).unwrap();
    let expected: BTreeMap<String, String> = [
        ("s3:GetObject on a granted key", "allowed"),
        ("s3:GetObject on another key", "denied"),
        ("s3:PutObject on another key", "denied"),
        ("s3:PutObject with If-Match on a granted key", "allowed"),
        ("s3:PutObject with If-Match on another key", "denied"),
        ("s3:DeleteObject on a granted key", "allowed"),
        ("s3:DeleteObjects (batch) of granted keys", "denied"),
        ("s3:ListBucket allowed on the bucket ARN", "allowed"),
        ("s3:ListBucket allowed on *", "allowed"),
        ("s3:ListBucket with a / in the prefix", "signature rejected"),
        ("s3:ListBucket inside the s3:prefix condition", "allowed"),
        ("s3:ListBucket outside the s3:prefix condition", "allowed"),
        ("dynamodb:PutItem allowed on the table ARN", "denied"),
        ("dynamodb:PutItem allowed on *", "allowed"),
        ("dynamodb:PutItem outside dynamodb:LeadingKeys", "allowed"),
        ("dynamodb:PutItem not allowed", "denied"),
        ("kms:Decrypt allowed on the key ARN", "denied"),
        ("kms:Decrypt allowed on *", "allowed"),
        ("kms:Decrypt not allowed", "denied"),
        ("sts:AssumeRole on the granted role", "allowed"),
        ("sts:AssumeRole on another role", "denied"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        measured, expected,
        "moto's IAM coverage changed: update the README"
    );
}
