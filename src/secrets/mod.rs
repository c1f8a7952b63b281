//! Encrypted secrets: configuration values that are stored, planned, journalled and shown only
//! sealed, and opened for the provider at the moment of its call.
//!
//! A workspace has one 256-bit key, from its secrets provider (`secrets:` in `terrace.yaml`):
//!
//! - `passphrase` (the default): Argon2id of `TERRACE_PASSPHRASE` with the salt stored in
//!   `terrace.yaml`;
//! - `awskms://KEY`: a data key made once by KMS `GenerateDataKey`, stored encrypted in
//!   `terrace.yaml` and decrypted by KMS once per run (the CLI does that part and hands the
//!   plaintext key to [`Secrets::from_key`]).
//!
//! Each value is encrypted with ChaCha20-Poly1305 under a fresh random nonce
//! (`v1:<base64(nonce ‖ ciphertext ‖ tag)>`). Beside the ciphertext travels a keyed fingerprint
//! of the plaintext (HMAC-SHA256 under a subkey), so that two seals of the same value compare
//! equal without being decrypted: diffs never show a perpetual change because of the nonces,
//! and planning needs no decryption. In values (specs, plans, state) a secret is the typed
//! marker `{"$secret": "v1:…", "$hash": "…"}` ([`crate::value::Value::Secret`]); people see
//! `[secret]`.
//!
//! A [`Secrets`] remembers every plaintext it has sealed or opened in this process, to
//! [`Secrets::scrub`] what providers read back (a value equal to or containing a secret is
//! sealed again before it reaches state, plans or events) and to [`Secrets::redact`] error
//! messages.

pub use crate::config::sections::SecretsSettings;
pub use crate::value::sealed::{
    contains_sealed, is_sealed, secure_config, Sealed, HASH_KEY, REDACTED, SECRET_KEY, SECURE_KEY,
};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The environment variable holding the passphrase of the `passphrase` provider.
pub const PASSPHRASE_ENV: &str = "TERRACE_PASSPHRASE";
const VERSION_PREFIX: &str = "v1:";
const CHECK_TEXT: &str = "terrace secrets check v1";
const NONCE_LEN: usize = 12;
/// Secrets shorter than this are recognised in provider answers only as whole values.
const MIN_SUBSTRING: usize = 4;

/// What can go wrong with secrets; every message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The passphrase is needed and not set.
    #[error("{PASSPHRASE_ENV} is not set: it encrypts and decrypts this workspace's secrets\n  help: export {PASSPHRASE_ENV} with the workspace's passphrase (read it without echo: `read -rs {PASSPHRASE_ENV} && export {PASSPHRASE_ENV}`)")]
    MissingPassphrase,
    /// The key does not open this workspace's secrets.
    #[error("{what} cannot be decrypted: {why}\n  help: {help}")]
    WrongKey {
        /// Which value.
        what: String,
        /// Why (a wrong passphrase or key, or a damaged value).
        why: String,
        /// How to fix it.
        help: String,
    },
    /// A value is not a sealed secret.
    #[error("{what} is not an encrypted value: {why}")]
    Malformed {
        /// Which value.
        what: String,
        /// What is wrong.
        why: String,
    },
    /// The provider in `secrets:` is unknown or misconfigured.
    #[error("secrets.provider in terrace.yaml: {0}")]
    Provider(String),
}

impl crate::value::sealed::Keyring for Secrets {
    fn seal(&self, plaintext: &str) -> Sealed {
        Secrets::seal(self, plaintext)
    }

    fn unseal(&self, what: &str, sealed: &Sealed) -> Result<String, String> {
        Secrets::unseal(self, what, sealed).map_err(|e| e.to_string())
    }
}

/// The workspace key, its two subkeys, and the plaintexts seen in this process.
pub struct Secrets {
    cipher: ChaCha20Poly1305,
    mac_key: [u8; 32],
    known: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

fn subkey(master: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Fresh random bytes (salts, data keys).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

impl Secrets {
    /// Secrets under a 256-bit workspace key.
    pub fn from_key(master: &[u8; 32]) -> Secrets {
        let enc = subkey(master, "terrace/v1/encrypt");
        Secrets {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&enc)),
            mac_key: subkey(master, "terrace/v1/fingerprint"),
            known: Mutex::new(BTreeSet::new()),
        }
    }

    /// The workspace key derived from a passphrase (Argon2id, default parameters: 19 MiB,
    /// 2 passes) and a salt of at least 8 bytes.
    pub fn from_passphrase(passphrase: &str, salt: &[u8]) -> Result<Secrets, SecretError> {
        let mut key = [0u8; 32];
        Argon2::default()
            .hash_password_into(passphrase.as_bytes(), salt, &mut key)
            .map_err(|e| SecretError::Provider(format!("cannot derive the key: {e}")))?;
        Ok(Secrets::from_key(&key))
    }

    /// Opens the passphrase provider of `settings` with `TERRACE_PASSPHRASE`, and checks the
    /// passphrase against `settings.check`.
    pub fn open_passphrase(settings: &SecretsSettings) -> Result<Secrets, SecretError> {
        let passphrase =
            std::env::var(PASSPHRASE_ENV).map_err(|_| SecretError::MissingPassphrase)?;
        let salt = settings.salt.as_deref().ok_or_else(|| {
            SecretError::Provider(
                "the passphrase provider needs `salt:`; restore it from version control (a new salt cannot open existing secrets)".into(),
            )
        })?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|e| SecretError::Provider(format!("secrets.salt is not base64: {e}")))?;
        let secrets = Secrets::from_passphrase(&passphrase, &salt)?;
        secrets.verify(settings, &format!("wrong {PASSPHRASE_ENV}"))?;
        Ok(secrets)
    }

    /// New key material for the passphrase provider: a random salt and the check value.
    pub fn new_passphrase() -> Result<(Secrets, SecretsSettings), SecretError> {
        let passphrase =
            std::env::var(PASSPHRASE_ENV).map_err(|_| SecretError::MissingPassphrase)?;
        Secrets::new_passphrase_with(&passphrase)
    }

    /// Like [`Secrets::new_passphrase`], with the passphrase given (a program that holds it).
    pub fn new_passphrase_with(
        passphrase: &str,
    ) -> Result<(Secrets, SecretsSettings), SecretError> {
        let salt = random_bytes::<16>();
        let secrets = Secrets::from_passphrase(passphrase, &salt)?;
        let settings = SecretsSettings {
            provider: crate::config::sections::PASSPHRASE_PROVIDER.to_string(),
            salt: Some(STANDARD.encode(salt)),
            encrypted_key: None,
            check: Some(secrets.encrypt(CHECK_TEXT)),
        };
        Ok((secrets, settings))
    }

    /// The check value of a new key (for `secrets.check`).
    pub fn check_value(&self) -> String {
        self.encrypt(CHECK_TEXT)
    }

    /// Fails when the key does not open `settings.check` (`why` names the likely cause).
    pub fn verify(&self, settings: &SecretsSettings, why: &str) -> Result<(), SecretError> {
        let Some(check) = &settings.check else {
            return Ok(());
        };
        match self.open_text(check) {
            Ok(text) if text == CHECK_TEXT => Ok(()),
            _ => Err(SecretError::WrongKey {
                what: "this workspace's secrets".into(),
                why: why.into(),
                help: match settings.kms_key() {
                    Some(_) => "the KMS key decrypted a data key that does not open secrets.check: restore secrets.encrypted_key".into(),
                    None => format!("export the passphrase the secrets were set with in {PASSPHRASE_ENV}"),
                },
            }),
        }
    }

    /// Encrypts under a fresh random nonce: `v1:<base64(nonce ‖ ciphertext ‖ tag)>`.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("ChaCha20-Poly1305 encryption of a small value cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{VERSION_PREFIX}{}", STANDARD.encode(bytes))
    }

    fn open_text(&self, ciphertext: &str) -> Result<String, String> {
        let body = ciphertext
            .strip_prefix(VERSION_PREFIX)
            .ok_or("it does not start with `v1:`")?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|e| format!("it is not base64 ({e})"))?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err("it is too short".into());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| "authentication failed".to_string())?;
        String::from_utf8(plain).map_err(|_| "it is not UTF-8 text".to_string())
    }

    /// Decrypts one value; `what` names it in errors. The plaintext is remembered for
    /// [`Secrets::scrub`] and [`Secrets::redact`].
    pub fn decrypt(&self, what: &str, ciphertext: &str) -> Result<String, SecretError> {
        match self.open_text(ciphertext) {
            Ok(plain) => {
                self.remember(&plain);
                Ok(plain)
            }
            Err(why) if why == "authentication failed" => Err(SecretError::WrongKey {
                what: what.to_string(),
                why: "wrong key or damaged value (authentication failed)".into(),
                help: format!(
                    "use the passphrase or KMS key the value was set with ({PASSPHRASE_ENV}), or set it again with `terrace config set --secret`"
                ),
            }),
            Err(why) => Err(SecretError::Malformed {
                what: what.to_string(),
                why,
            }),
        }
    }

    /// The keyed fingerprint of a plaintext.
    pub fn fingerprint(&self, plaintext: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key).expect("any key");
        mac.update(plaintext.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Seals a plaintext (and remembers it).
    pub fn seal(&self, plaintext: &str) -> Sealed {
        self.remember(plaintext);
        Sealed {
            ciphertext: self.encrypt(plaintext),
            hash: self.fingerprint(plaintext),
        }
    }

    /// Opens a sealed value (and remembers its plaintext).
    pub fn unseal(&self, what: &str, sealed: &Sealed) -> Result<String, SecretError> {
        self.decrypt(what, &sealed.ciphertext)
    }

    /// A `{secure: …}` config value as a sealed value (decrypted once, to fingerprint it).
    pub fn seal_config(&self, key: &str, ciphertext: &str) -> Result<Sealed, SecretError> {
        let plain = self.decrypt(&format!("config.{key}"), ciphertext)?;
        Ok(Sealed {
            ciphertext: ciphertext.to_string(),
            hash: self.fingerprint(&plain),
        })
    }

    fn remember(&self, plaintext: &str) {
        if !plaintext.is_empty() {
            self.known
                .lock()
                .expect("secrets lock")
                .insert(plaintext.to_string());
        }
    }

    /// Remembers the plaintext of every sealed value inside `json` (e.g. a stack's state), so
    /// that provider answers echoing them are sealed again.
    pub fn learn(&self, json: &Json) {
        match json {
            Json::Object(map) => match Sealed::from_json(json) {
                Some(sealed) => {
                    let _ = self.unseal("a secret in state", &sealed);
                }
                None => map.values().for_each(|v| self.learn(v)),
            },
            Json::Array(items) => items.iter().for_each(|v| self.learn(v)),
            _ => {}
        }
    }

    fn contains_known(&self, text: &str) -> bool {
        let known = self.known.lock().expect("secrets lock");
        known.contains(text)
            || known
                .iter()
                .any(|k| k.len() >= MIN_SUBSTRING && text.contains(k.as_str()))
    }

    /// A provider's answer with every string that is or contains a known secret sealed.
    pub fn scrub(&self, json: &Json) -> Json {
        match json {
            Json::String(s) if self.contains_known(s) => self.seal(s).to_json(),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.scrub(v)).collect()),
            Json::Object(map) if !is_sealed(json) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.scrub(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Every property of a provider answer scrubbed.
    pub fn scrub_map(&self, map: &serde_json::Map<String, Json>) -> serde_json::Map<String, Json> {
        map.iter()
            .map(|(k, v)| (k.clone(), self.scrub(v)))
            .collect()
    }

    /// A message with every known secret replaced by `[secret]`.
    pub fn redact(&self, text: &str) -> String {
        let known = self.known.lock().expect("secrets lock");
        let mut out = text.to_string();
        // Longest first, so that a secret containing another is replaced whole.
        let mut by_length: Vec<&String> = known.iter().collect();
        by_length.sort_by_key(|k| std::cmp::Reverse(k.len()));
        for secret in by_length {
            if secret.len() >= MIN_SUBSTRING || out == *secret {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// JSON with every sealed value replaced by its plaintext (for a provider call).
    pub fn open_json(&self, what: &str, json: &Json) -> Result<Json, SecretError> {
        Ok(match json {
            Json::Object(map) => match Sealed::from_json(json) {
                Some(sealed) => Json::String(self.unseal(what, &sealed)?),
                None => Json::Object(
                    map.iter()
                        .map(|(k, v)| Ok((k.clone(), self.open_json(what, v)?)))
                        .collect::<Result<_, SecretError>>()?,
                ),
            },
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|v| self.open_json(what, v))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// The secrets of a workspace with the passphrase provider; `None` when it has no key yet
/// (no `secrets:`, or one without key material) and no encrypted config value. The KMS
/// provider is opened by the CLI (it needs the AWS SDK), which hands the data key to
/// [`Secrets::from_key`] via `Terrace::open_with_secrets`.
pub fn open_workspace(
    workspace: &crate::config::Workspace,
) -> Result<Option<Secrets>, SecretError> {
    open_settings(&workspace.settings)
}

/// Like [`open_workspace`], from the settings alone.
pub fn open_settings(
    settings: &crate::config::settings::Settings,
) -> Result<Option<Secrets>, SecretError> {
    let encrypted = settings.config.values().any(|v| secure_config(v).is_some());
    let no_key = |what: &str| {
        if encrypted {
            Err(SecretError::Provider(format!(
                "config has encrypted values but {what}; restore it from version control"
            )))
        } else {
            Ok(None)
        }
    };
    match &settings.secrets {
        None => no_key("terrace.yaml has no `secrets:`"),
        Some(s) if s.is_passphrase() && s.salt.is_none() => no_key("`secrets:` has no `salt:`"),
        Some(s) if s.is_passphrase() => Secrets::open_passphrase(s).map(Some),
        Some(s) if s.kms_key().is_some() => Err(SecretError::Provider(format!(
            "`{}` needs the terrace CLI (or `Terrace::open_with_secrets` with the data key KMS decrypts)",
            s.provider
        ))),
        Some(s) => Err(SecretError::Provider(format!(
            "unknown provider `{}`: use `passphrase` or `awskms://KEY`",
            s.provider
        ))),
    }
}

/// Replaces each `{secure: "v1:…"}` config value by its sealed form (decrypting it once, to
/// fingerprint it and to check the key).
pub fn seal_config(
    config: &mut std::collections::BTreeMap<String, Json>,
    secrets: Option<&Secrets>,
) -> Result<(), SecretError> {
    for (key, value) in config.iter_mut() {
        let Some(ciphertext) = secure_config(value) else {
            continue;
        };
        let secrets = secrets.ok_or_else(|| {
            SecretError::Provider(format!(
                "config.{key} is encrypted but the workspace has no secrets provider"
            ))
        })?;
        *value = secrets.seal_config(key, ciphertext)?.to_json();
    }
    Ok(())
}

/// Each `{secure: "v1:…"}` config value as a sealed value that was never opened, for a
/// workspace opened without its secrets (`TerraceBuilder::secrets_optional`): it renders and
/// shows as a secret, and its fingerprint matches no real one (nothing that compares secrets
/// runs without them).
pub fn seal_config_unopened(config: &mut std::collections::BTreeMap<String, Json>) {
    for value in config.values_mut() {
        if let Some(ciphertext) = secure_config(value) {
            let sealed = Sealed {
                ciphertext: ciphertext.to_string(),
                hash: format!("unopened:{ciphertext}"),
            };
            *value = sealed.to_json();
        }
    }
}

/// JSON with every sealed value shown as `[secret]` (for people and scripts reading outputs).
pub fn redacted(json: &Json) -> Json {
    match json {
        Json::Object(_) if is_sealed(json) => Json::String(REDACTED.into()),
        Json::Object(map) => {
            Json::Object(map.iter().map(|(k, v)| (k.clone(), redacted(v))).collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// Every sealed value of a property map opened, for a provider call. Without a key, a map
/// holding secrets is an error saying how to provide one.
pub fn open_properties(
    secrets: Option<&Secrets>,
    what: &str,
    map: &serde_json::Map<String, Json>,
) -> Result<serde_json::Map<String, Json>, SecretError> {
    map.iter()
        .map(|(k, v)| {
            let opened = match secrets {
                Some(s) => s.open_json(&format!("{what}.{k}"), v)?,
                None if contains_sealed(v) => {
                    return Err(SecretError::Provider(format!(
                        "{what}.{k} is an encrypted secret, but this workspace has no `secrets:` provider to open it"
                    )))
                }
                None => v.clone(),
            };
            Ok((k.clone(), opened))
        })
        .collect()
}

/// A provider answer scrubbed when there is a key (unchanged otherwise).
pub fn scrub_properties(
    secrets: Option<&Secrets>,
    map: serde_json::Map<String, Json>,
) -> serde_json::Map<String, Json> {
    match secrets {
        Some(s) => s.scrub_map(&map),
        None => map,
    }
}

/// A provider's view of a resource, its properties and attributes scrubbed when there is a key,
/// and the fields its type's schema marks [`sensitive`](crate::provider::FieldSchema::sensitive)
/// sealed whatever their value ([`seal_sensitive`]).
pub fn scrub_observed(
    secrets: Option<&Secrets>,
    schema: Option<&crate::provider::ResourceSchema>,
    mut observed: crate::provider::Observed,
) -> crate::provider::Observed {
    observed.properties = seal_sensitive(secrets, schema, observed.properties);
    observed.attributes = seal_sensitive(secrets, schema, observed.attributes);
    observed
}

/// A provider answer scrubbed ([`scrub_properties`]), with every string inside a field the
/// schema marks sensitive sealed (a secret the cloud generated, which no scrub could
/// recognise). Without a key such a value is dropped rather than kept in clear; planning
/// refuses a stack holding a sensitive type in a workspace without a key
/// ([`sensitive_fields`]), so that happens only to a read outside a plan.
pub fn seal_sensitive(
    secrets: Option<&Secrets>,
    schema: Option<&crate::provider::ResourceSchema>,
    map: serde_json::Map<String, Json>,
) -> serde_json::Map<String, Json> {
    let sensitive = |name: &str| {
        schema
            .and_then(|s| s.field(name))
            .is_some_and(|f| f.sensitive)
    };
    scrub_properties(secrets, map)
        .into_iter()
        .map(|(k, v)| {
            let v = match (sensitive(&k), secrets) {
                (false, _) => v,
                (true, Some(s)) => seal_strings(s, &v),
                (true, None) => Json::Null,
            };
            (k, v)
        })
        .collect()
}

fn seal_strings(secrets: &Secrets, json: &Json) -> Json {
    match json {
        Json::String(s) => secrets.seal(s).to_json(),
        Json::Array(items) => Json::Array(items.iter().map(|v| seal_strings(secrets, v)).collect()),
        Json::Object(map) if !is_sealed(json) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), seal_strings(secrets, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The fields of a type that hold secrets ([`crate::provider::FieldSchema::sensitive`]).
pub fn sensitive_fields(schema: &crate::provider::ResourceSchema) -> Vec<&str> {
    schema
        .fields
        .iter()
        .filter(|f| f.sensitive)
        .map(|f| f.name.as_str())
        .collect()
}

/// A message with known secrets redacted when there is a key.
pub fn redact(secrets: Option<&Secrets>, text: String) -> String {
    match secrets {
        Some(s) => s.redact(&text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::from_key(&[7u8; 32])
    }

    #[test]
    fn sensitive_fields_are_sealed_whatever_their_value_and_dropped_without_a_key() {
        use crate::provider::{ApiClasses, FieldKind, FieldSchema, ResourceSchema};
        let schema = ResourceSchema {
            type_name: "test:Vpn".into(),
            fields: vec![
                FieldSchema::computed("psk", FieldKind::String).sensitive(),
                FieldSchema::computed("address", FieldKind::String),
            ],
            api: ApiClasses {
                read: "read".into(),
                mutate: "mutate".into(),
            },
            regional: true,
        };
        let answer = serde_json::json!({"psk": "Generated.By_The_Cloud1", "address": "52.1.2.3"});
        let answer = answer.as_object().unwrap().clone();
        let s = secrets();
        let sealed = seal_sensitive(Some(&s), Some(&schema), answer.clone());
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains("Generated.By_The_Cloud1"), "{text}");
        assert_eq!(sealed["address"], "52.1.2.3");
        let psk = Sealed::from_json(&sealed["psk"]).expect("sealed");
        assert_eq!(s.unseal("psk", &psk).unwrap(), "Generated.By_The_Cloud1");
        // Remembered: an echo of the generated key elsewhere is sealed too.
        let echo = s.scrub(&Json::String("key=Generated.By_The_Cloud1".into()));
        assert!(is_sealed(&echo));
        let dropped = seal_sensitive(None, Some(&schema), answer);
        assert_eq!(dropped["psk"], Json::Null);
        assert_eq!(sensitive_fields(&schema), vec!["psk"]);
    }

    #[test]
    fn round_trip_with_fresh_nonces_and_equal_fingerprints() {
        let s = secrets();
        let a = s.seal("hunter2-password");
        let b = s.seal("hunter2-password");
        assert_ne!(a.ciphertext, b.ciphertext, "a fresh nonce per value");
        assert_eq!(a, b, "equal plaintexts compare equal");
        assert!(!a.ciphertext.contains("hunter2"));
        assert_eq!(s.unseal("x", &a).unwrap(), "hunter2-password");
        assert_ne!(a, s.seal("other"));
        assert_eq!(Sealed::from_json(&a.to_json()), Some(a.clone()));
    }

    #[test]
    fn a_wrong_key_or_passphrase_is_a_clear_error() {
        let sealed = secrets().encrypt("value");
        let other = Secrets::from_key(&[8u8; 32]);
        let err = other.decrypt("config.db_password", &sealed).unwrap_err();
        assert!(matches!(err, SecretError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("config.db_password"));
        let salt = [1u8; 16];
        let right = Secrets::from_passphrase("correct horse", &salt).unwrap();
        let settings = SecretsSettings {
            provider: "passphrase".into(),
            salt: Some(STANDARD.encode(salt)),
            encrypted_key: None,
            check: Some(right.check_value()),
        };
        let wrong = Secrets::from_passphrase("wrong horse", &salt).unwrap();
        let err = wrong
            .verify(&settings, "wrong TERRACE_PASSPHRASE")
            .unwrap_err();
        assert!(
            err.to_string().contains("wrong TERRACE_PASSPHRASE"),
            "{err}"
        );
        right.verify(&settings, "x").unwrap();
    }

    #[test]
    fn tampered_and_malformed_ciphertexts_are_refused() {
        let s = secrets();
        let sealed = s.encrypt("value");
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(bytes));
        assert!(matches!(
            s.decrypt("x", &tampered),
            Err(SecretError::WrongKey { .. })
        ));
        assert!(matches!(
            s.decrypt("x", "v2:abc"),
            Err(SecretError::Malformed { .. })
        ));
        assert!(matches!(
            s.decrypt("x", "v1:!!"),
            Err(SecretError::Malformed { .. })
        ));
    }

    #[test]
    fn scrub_seals_echoed_secrets_and_redact_hides_them() {
        let s = secrets();
        let known = s.seal("s3cr3t-pw");
        let answer =
            serde_json::json!({"password": "s3cr3t-pw", "url": "db://u:s3cr3t-pw@h", "name": "db"});
        let scrubbed = s.scrub(&answer);
        assert_eq!(Sealed::from_json(&scrubbed["password"]), Some(known));
        assert!(is_sealed(&scrubbed["url"]));
        assert_eq!(scrubbed["name"], "db");
        assert!(!scrubbed.to_string().contains("s3cr3t"));
        assert_eq!(s.redact("bad password s3cr3t-pw"), "bad password [secret]");
        let opened = s.open_json("x", &scrubbed).unwrap();
        assert_eq!(opened, answer);
    }

    #[test]
    fn config_values_are_recognised() {
        let json = serde_json::json!({"secure": "v1:abc"});
        assert_eq!(secure_config(&json), Some("v1:abc"));
        assert_eq!(secure_config(&serde_json::json!({"secure": 1})), None);
        assert_eq!(secure_config(&serde_json::json!("v1:abc")), None);
    }
}
