//! The `awskms://` secrets provider on moto: the first `config set --secret` makes the
//! workspace's data key with KMS GenerateDataKey and stores it only encrypted; every later run
//! decrypts it with KMS. No passphrase is involved, the provider receives the plaintext, and
//! nothing printed or written outside the test provider's cloud holds it. Needs moto from the
//! project venv (`scripts/ensure-venv.sh`).

use terrace_test_support::moto;
mod support;

use moto::Moto;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::{edit, workspace};

const SECRET: &str = "kms-Sealed-Value-7731";
const REGION: &str = "us-east-1";

/// A KMS key with the alias `alias/terrace-test`, made directly on moto.
fn kms_key(endpoint: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build();
        let client = aws_sdk_kms::Client::from_conf(config);
        let key = client.create_key().send().await.expect("CreateKey");
        let id = key.key_metadata().unwrap().key_id().to_string();
        client
            .create_alias()
            .alias_name("alias/terrace-test")
            .target_key_id(id)
            .send()
            .await
            .expect("CreateAlias");
    });
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_terrace"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("TERRACE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("TERRACE_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("terrace runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("terrace ends")
}

fn count(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

fn occurrences(dir: &Path, skip: &Path, needle: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == skip {
            continue;
        }
        n += if path.is_dir() {
            occurrences(&path, skip, needle)
        } else {
            count(&std::fs::read(&path).unwrap(), needle)
        };
    }
    n
}

#[test]
fn a_kms_data_key_seals_secrets_without_a_passphrase() {
    let moto = Moto::start();
    kms_key(&moto.endpoint);
    let dir = workspace("basic");
    let root = dir.path();
    edit(
        root,
        "terrace.yaml",
        "providers:\n",
        &format!(
            "secrets:\n  provider: awskms://alias/terrace-test\nproviders:\n  aws:\n    settings: {{endpoint: \"{}\", region: {REGION}}}\n",
            moto.endpoint
        ),
    );
    edit(
        root,
        "templates/replicas/replica.yaml.tera",
        "      size: small\n",
        "      size: small\n      user_data: \"password={{ config.db_password }}\"\n",
    );
    let mut printed = Vec::new();
    let mut ok = |args: &[&str], stdin: &str| {
        let output = run(root, args, stdin);
        printed.extend_from_slice(&output.stdout);
        printed.extend_from_slice(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(0),
            "terrace {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    ok(&["config", "set", "--secret", "db_password", "-"], SECRET);
    let yaml = std::fs::read_to_string(root.join("terrace.yaml")).unwrap();
    assert!(
        yaml.contains("secrets:\n  provider: \"awskms://alias/terrace-test\"\n  encrypted_key: "),
        "{yaml}"
    );
    assert!(!yaml.contains("salt"), "{yaml}");
    let plan = ok(&["plan"], "");
    assert!(plan.contains("user_data: [secret]"), "{plan}");
    ok(&["apply", "--yes", "--json"], "");
    let again = run(root, &["plan", "--detailed-exitcode"], "");
    assert_eq!(again.status.code(), Some(0));
    ok(&["state", "show", "replicas/eu/a"], "");
    let cloud = root.join(".terrace/test-cloud");
    assert_eq!(occurrences(&cloud, Path::new("/none"), SECRET), 2);
    assert_eq!(count(&printed, SECRET), 0);
    assert_eq!(occurrences(root, &cloud, SECRET), 0);
    let shown = run(
        root,
        &["config", "get", "db_password", "--show-secrets"],
        "",
    );
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), SECRET);

    // A data key KMS cannot decrypt is one clear error.
    let text = std::fs::read_to_string(root.join("terrace.yaml")).unwrap();
    let start = text.find("encrypted_key: \"").unwrap() + "encrypted_key: \"".len();
    let mut broken = text.clone();
    broken.replace_range(start..start + 8, "AAAAAAAA");
    std::fs::write(root.join("terrace.yaml"), broken).unwrap();
    let failed = run(root, &["plan"], "");
    assert_eq!(failed.status.code(), Some(1));
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(message.contains("awskms://alias/terrace-test"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
}
