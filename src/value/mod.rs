//! Values as the planner sees them: JSON plus a typed *known after apply* marker.
//!
//! A [`Value::Unknown`] stands for a value that only the cloud can tell (an id of a resource not
//! yet created, an output of a stack not yet applied). It is never a placeholder string: it
//! propagates through interpolation, lists and maps, and through every downstream stack, until
//! apply time resolves it. In JSON (plan files) it is written as `{"$unknown": "<origin>"}`.
//!
//! A [`Value::Secret`] is an encrypted value (see [`crate::secrets`]): written as
//! `{"$secret": "v1:…", "$hash": "…"}`, shown as `[secret]`, equal to another secret when their
//! plaintexts are.

/// CIDR blocks, parsed as the provider contract parses them.
pub use terrace_provider::cidr;
pub mod refs;
pub mod sealed;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

/// The JSON key that marks an unknown value in plan files.
pub const UNKNOWN_KEY: &str = "$unknown";

/// A JSON-like value that may contain unknowns.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Null (also: unset).
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// A list.
    List(Vec<Value>),
    /// A map.
    Map(BTreeMap<String, Value>),
    /// Known only after apply; the string says what it waits for (e.g. `vpc.id`).
    Unknown(String),
    /// An encrypted value; opened only for the provider's call.
    Secret(sealed::Sealed),
}

impl Value {
    /// Converts plain JSON; objects of the form `{"$unknown": origin}` become unknowns.
    pub fn from_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            Json::Object(map) => {
                if let Some(sealed) = sealed::Sealed::from_json(json) {
                    return Value::Secret(sealed);
                }
                if map.len() == 1 {
                    if let Some(Json::String(origin)) = map.get(UNKNOWN_KEY) {
                        return Value::Unknown(origin.clone());
                    }
                }
                Value::Map(
                    map.iter()
                        .map(|(k, v)| (k.clone(), Value::from_json(v)))
                        .collect(),
                )
            }
        }
    }

    /// JSON with unknowns written as `{"$unknown": origin}`.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(s.clone()),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => {
                Json::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Unknown(origin) => {
                let mut object = serde_json::Map::new();
                object.insert(UNKNOWN_KEY.to_string(), Json::String(origin.clone()));
                Json::Object(object)
            }
            Value::Secret(sealed) => sealed.to_json(),
        }
    }

    /// True when any part is a secret.
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(items) => items.iter().any(Value::contains_secret),
            Value::Map(map) => map.values().any(Value::contains_secret),
            _ => false,
        }
    }

    /// Plain JSON if every part is known, else the origin of the first unknown.
    pub fn to_known_json(&self) -> Result<Json, String> {
        match self.first_unknown() {
            Some(origin) => Err(origin.to_string()),
            None => Ok(self.to_json()),
        }
    }

    /// The origin of the first unknown inside this value, if any.
    pub fn first_unknown(&self) -> Option<&str> {
        match self {
            Value::Unknown(origin) => Some(origin),
            Value::List(items) => items.iter().find_map(Value::first_unknown),
            Value::Map(map) => map.values().find_map(Value::first_unknown),
            _ => None,
        }
    }

    /// True when no part is unknown.
    pub fn is_known(&self) -> bool {
        self.first_unknown().is_none()
    }

    /// A short type name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Unknown(_) => "unknown",
            Value::Secret(_) => "secret",
        }
    }

    /// Follows a path of map keys and list indexes.
    pub fn get_path(&self, path: &[String]) -> Option<&Value> {
        let mut current = self;
        for segment in path {
            current = match current {
                Value::Map(map) => map.get(segment)?,
                Value::List(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// The text a value contributes when interpolated into a string.
    pub fn interpolated_text(&self) -> String {
        match self {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_json().to_string(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unknown(_) => write!(f, "(known after apply)"),
            Value::Secret(_) => write!(f, "{}", sealed::REDACTED),
            Value::String(s) => write!(f, "{}", Json::String(s.clone())),
            other if other.is_known() && !other.contains_secret() => {
                write!(f, "{}", other.to_json())
            }
            Value::List(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Value::Map(map) => {
                write!(f, "{{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                write!(f, "}}")
            }
            _ => unreachable!("scalars and secrets are always known"),
        }
    }
}

/// Writes what [`Value::to_json`] would give, without building it (plans hold many values).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::List(items) => serializer.collect_seq(items),
            Value::Map(map) => serializer.collect_map(map),
            Value::Unknown(origin) => {
                let mut object = serializer.serialize_map(Some(1))?;
                object.serialize_entry(UNKNOWN_KEY, origin)?;
                object.end()
            }
            Value::Secret(sealed) => sealed.to_json().serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Json::deserialize(deserializer).map(|json| Value::from_json(&json))
    }
}

impl From<Json> for Value {
    fn from(json: Json) -> Self {
        Value::from_json(&json)
    }
}

/// A map of property or output names to values.
pub type ValueMap = BTreeMap<String, Value>;

/// Converts a JSON object into a value map.
pub fn map_from_json(map: &serde_json::Map<String, Json>) -> ValueMap {
    map.iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Serialising a value writes exactly its JSON form (plans are compared and stored as text).
    #[test]
    fn serialising_writes_the_json_form() {
        let value = Value::from_json(&json!({
            "z": [1, -2, 2.5, true, null, "text \"quoted\""],
            "a": {"$unknown": "vpc.id"},
            "m": {"b": {"$unknown": "x"}, "a": {}, "c": []}
        }));
        let json = value.to_json();
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string(&json).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&value).unwrap(),
            serde_json::to_string_pretty(&json).unwrap()
        );
    }

    #[test]
    fn unknown_round_trips_through_json() {
        let value = Value::List(vec![
            Value::Unknown("vpc.id".into()),
            Value::String("a".into()),
        ]);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"[{"$unknown":"vpc.id"},"a"]"#);
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, value);
        assert_eq!(back.first_unknown(), Some("vpc.id"));
        assert!(back.to_known_json().is_err());
    }

    #[test]
    fn known_values_convert_to_plain_json() {
        let value = Value::from_json(&json!({"a": [1, true, null], "b": "x"}));
        assert!(value.is_known());
        assert_eq!(
            value.to_known_json().unwrap(),
            json!({"a": [1, true, null], "b": "x"})
        );
        assert_eq!(
            value.get_path(&["a".into(), "0".into()]),
            Some(&Value::from_json(&json!(1)))
        );
    }

    #[test]
    fn secrets_show_as_redacted_and_compare_by_fingerprint() {
        let secrets = crate::secrets::Secrets::from_key(&[3u8; 32]);
        let a = Value::Secret(secrets.seal("pw-123456"));
        let b = Value::from_json(&Value::Secret(secrets.seal("pw-123456")).to_json());
        assert_eq!(a, b);
        let shown = Value::Map([("p".to_string(), Value::List(vec![a.clone()]))].into());
        assert_eq!(shown.to_string(), r#"{"p": [[secret]]}"#);
        assert!(shown.contains_secret());
        assert!(!shown.to_string().contains("v1:"));
    }

    #[test]
    fn display_marks_unknowns() {
        let value = Value::Map([("id".to_string(), Value::Unknown("x".into()))].into());
        assert_eq!(value.to_string(), r#"{"id": (known after apply)}"#);
    }
}
