//! Sealed values: a secret as Terrace carries it everywhere — in values, plans, state and
//! events — ciphertext and keyed fingerprint, never plaintext; written as the marker
//! `{"$secret": "v1:…", "$hash": "…"}`. Sealing and opening need the workspace's key, which
//! lives in [`crate::secrets`]; resolving references asks for it through [`Keyring`].

use serde_json::Value as Json;

/// The JSON key of a sealed value's ciphertext: `{"$secret": "v1:…", "$hash": "…"}`.
pub const SECRET_KEY: &str = "$secret";
/// The JSON key of a sealed value's keyed fingerprint.
pub const HASH_KEY: &str = "$hash";
/// The key of an encrypted value in `terrace.yaml`'s `config:` (`db_password: {secure: v1:…}`).
pub const SECURE_KEY: &str = "secure";
/// How secrets are shown to people.
pub const REDACTED: &str = "[secret]";

/// A sealed secret: ciphertext and keyed fingerprint. Two sealed values are equal when their
/// plaintexts are (their fingerprints match), whatever their nonces.
#[derive(Debug, Clone, Eq)]
pub struct Sealed {
    /// `v1:<base64(nonce ‖ ciphertext ‖ tag)>`.
    pub ciphertext: String,
    /// Keyed fingerprint of the plaintext (HMAC-SHA256, base64url).
    pub hash: String,
}

impl PartialEq for Sealed {
    fn eq(&self, other: &Sealed) -> bool {
        self.hash == other.hash
    }
}

impl Sealed {
    /// The value marker `{"$secret": …, "$hash": …}`.
    pub fn to_json(&self) -> Json {
        let mut object = serde_json::Map::new();
        object.insert(SECRET_KEY.into(), Json::String(self.ciphertext.clone()));
        object.insert(HASH_KEY.into(), Json::String(self.hash.clone()));
        Json::Object(object)
    }

    /// Reads the value marker.
    pub fn from_json(json: &Json) -> Option<Sealed> {
        let object = json.as_object()?;
        if object.len() != 2 {
            return None;
        }
        Some(Sealed {
            ciphertext: object.get(SECRET_KEY)?.as_str()?.to_string(),
            hash: object.get(HASH_KEY)?.as_str()?.to_string(),
        })
    }
}

/// True when a JSON value is a sealed secret marker.
pub fn is_sealed(json: &Json) -> bool {
    Sealed::from_json(json).is_some()
}

/// True when a JSON value holds a sealed secret anywhere inside.
pub fn contains_sealed(json: &Json) -> bool {
    match json {
        Json::Object(map) => is_sealed(json) || map.values().any(contains_sealed),
        Json::Array(items) => items.iter().any(contains_sealed),
        _ => false,
    }
}

/// The ciphertext of a `config:` entry written as `{secure: "v1:…"}`.
pub fn secure_config(json: &Json) -> Option<&str> {
    let object = json.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get(SECURE_KEY)?.as_str()
}

/// What resolving references needs of the workspace's secrets: seal a text that interpolates
/// a secret, open a sealed part of it. [`crate::secrets::Secrets`] is the keyring.
pub trait Keyring {
    /// Seals a plaintext.
    fn seal(&self, plaintext: &str) -> Sealed;
    /// Opens a sealed value; `what` names it in the error, which says what is wrong.
    fn unseal(&self, what: &str, sealed: &Sealed) -> Result<String, String>;
}
