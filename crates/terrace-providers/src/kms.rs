//! The `awskms://KEY` secrets provider: one 256-bit data key per workspace, made by KMS
//! `GenerateDataKey` when the first secret is set, stored in terrace.yaml only as KMS encrypted
//! it (`secrets.encrypted_key`), and decrypted by KMS once per run. Values are then sealed with
//! that key exactly as with a passphrase (see `terrace::secrets`).
//!
//! The client takes its region, endpoint and profile from `providers.aws.settings` in
//! terrace.yaml, else from the usual AWS environment (a running sandbox sets it).

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value as Json;
use std::future::Future;
use terrace::secrets::{SecretError, Secrets, SecretsSettings};
use terrace::Error;

type AwsSettings = serde_json::Map<String, Json>;

/// Runs a KMS call to completion from synchronous code (the workspace is opened outside any
/// async context of its own), on a thread with a runtime of its own.
fn blocking<T: Send + 'static>(call: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(call)
    })
    .join()
    .expect("the KMS thread does not panic")
}

async fn client(settings: AwsSettings) -> aws_sdk_kms::Client {
    let text = |key: &str| settings.get(key).and_then(Json::as_str).map(str::to_string);
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = text("region") {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = text("endpoint") {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(profile) = text("profile") {
        loader = loader.profile_name(profile);
    }
    aws_sdk_kms::Client::new(&loader.load().await)
}

fn failed(what: &str, key: &str, err: impl std::fmt::Display) -> Error {
    SecretError::Provider(format!(
        "awskms://{key}: {what} failed: {err}; check the key, the AWS credentials and region (providers.aws.settings or AWS_REGION)"
    ))
    .into()
}

fn key_of(bytes: &[u8], key: &str) -> Result<[u8; 32], Error> {
    bytes.try_into().map_err(|_| {
        failed(
            "reading the data key",
            key,
            format!("KMS returned {} bytes, not 32", bytes.len()),
        )
    })
}

/// A new data key under `key`: the keeper and the `secrets:` settings to store.
pub fn create(key: &str, aws: &AwsSettings) -> Result<(Secrets, SecretsSettings), Error> {
    let (key_id, settings) = (key.to_string(), aws.clone());
    let answer = blocking(async move {
        client(settings)
            .await
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .map_err(|e| aws_sdk_kms::error::DisplayErrorContext(e).to_string())
    })
    .map_err(|e| failed("GenerateDataKey", key, e))?;
    let plain = answer
        .plaintext()
        .ok_or_else(|| failed("GenerateDataKey", key, "no plaintext key in the answer"))?;
    let sealed = answer
        .ciphertext_blob()
        .ok_or_else(|| failed("GenerateDataKey", key, "no encrypted key in the answer"))?;
    let keeper = Secrets::from_key(&key_of(plain.as_ref(), key)?);
    let settings = SecretsSettings {
        provider: format!("awskms://{key}"),
        salt: None,
        encrypted_key: Some(STANDARD.encode(sealed.as_ref())),
        check: Some(keeper.check_value()),
    };
    Ok((keeper, settings))
}

/// The workspace's data key, decrypted by KMS, checked against `secrets.check`.
pub fn open(settings: &SecretsSettings, aws: &AwsSettings) -> Result<Secrets, Error> {
    let key = settings.kms_key().unwrap_or_default().to_string();
    let encrypted = settings
        .encrypted_key
        .as_deref()
        .ok_or_else(|| failed("opening", &key, "secrets.encrypted_key is missing"))?;
    let blob = STANDARD
        .decode(encrypted)
        .map_err(|e| failed("reading secrets.encrypted_key", &key, e))?;
    let (key_id, aws) = (key.clone(), aws.clone());
    let answer = blocking(async move {
        client(aws)
            .await
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(blob))
            .send()
            .await
            .map_err(|e| aws_sdk_kms::error::DisplayErrorContext(e).to_string())
    })
    .map_err(|e| failed("Decrypt", &key, e))?;
    let plain = answer
        .plaintext()
        .ok_or_else(|| failed("Decrypt", &key, "no plaintext in the answer"))?;
    let keeper = Secrets::from_key(&key_of(plain.as_ref(), &key)?);
    keeper.verify(settings, "the data key KMS returned does not match")?;
    Ok(keeper)
}
