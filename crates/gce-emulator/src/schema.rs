//! Validation of JSON bodies against the schemas of a Google discovery document (for
//! Compute v1: `compute.v1.json` as shipped in `google-api-python-client`). Every property
//! must be declared (following `$ref`, array `items` and map `additionalProperties`), and
//! types, int64-as-string formats and enums must match. The contract tests use it on every
//! body sent and received; the emulator itself never embeds the document.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A loaded discovery document.
pub struct Discovery {
    doc: Value,
}

/// Where `google-api-python-client` keeps the Compute document inside a virtualenv.
const DOC_IN_SITE_PACKAGES: &str =
    "site-packages/googleapiclient/discovery_cache/documents/compute.v1.json";

impl Discovery {
    /// Finds `compute.v1.json` under `$TERRACE_VENV` or `<workspace_root>/.venv`.
    pub fn locate(workspace_root: &Path) -> Result<PathBuf, String> {
        let venv = std::env::var_os("TERRACE_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root.join(".venv"));
        Self::locate_in_venv(&venv)
    }

    /// Finds `compute.v1.json` in the virtualenv at `venv`.
    pub fn locate_in_venv(venv: &Path) -> Result<PathBuf, String> {
        let lib = venv.join("lib");
        let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
                .map(|e| e.path().join(DOC_IN_SITE_PACKAGES))
                .find(|p| p.is_file())
        });
        found.ok_or_else(|| {
            format!(
                "Compute discovery document not found under {}/python*/{DOC_IN_SITE_PACKAGES}; \
                 run `bash scripts/ensure-venv.sh` (or set TERRACE_VENV) to install it",
                lib.display()
            )
        })
    }

    pub fn load(path: &Path) -> Result<Discovery, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Discovery { doc })
    }

    fn schemas(&self) -> Option<&Map<String, Value>> {
        self.doc.get("schemas").and_then(Value::as_object)
    }

    /// The discovery description of `resources.<resource>.methods.<method>`.
    pub fn method(&self, resource: &str, method: &str) -> Option<&Value> {
        self.doc
            .get("resources")?
            .get(resource)?
            .get("methods")?
            .get(method)
    }

    /// Name of a method's request body schema.
    pub fn request_schema(&self, resource: &str, method: &str) -> Option<&str> {
        self.method(resource, method)?
            .get("request")?
            .get("$ref")?
            .as_str()
    }

    /// Name of a method's response schema.
    pub fn response_schema(&self, resource: &str, method: &str) -> Option<&str> {
        self.method(resource, method)?
            .get("response")?
            .get("$ref")?
            .as_str()
    }

    /// Validates `value` against the named schema strictly (as tests check what the
    /// emulator emits); returns every violation found.
    pub fn validate(&self, schema: &str, value: &Value) -> Result<(), Vec<String>> {
        self.validate_with(schema, value, schema, false)
    }

    /// Validates with paths reported below `root` (e.g. `resource`). With `lenient`, integers
    /// may also be given as numeric strings and int64 strings as numbers, as Google's JSON
    /// parser accepts in requests.
    pub fn validate_with(
        &self,
        schema: &str,
        value: &Value,
        root: &str,
        lenient: bool,
    ) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let mut walk = Walk {
            doc: self,
            lenient,
            errors: &mut errors,
        };
        match self.schemas().and_then(|s| s.get(schema)) {
            Some(node) => walk.check(node, value, root),
            None => walk.errors.push(format!("no schema named {schema}")),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One validation pass.
struct Walk<'a> {
    doc: &'a Discovery,
    lenient: bool,
    errors: &'a mut Vec<String>,
}

impl Walk<'_> {
    fn check(&mut self, node: &Value, value: &Value, path: &str) {
        if let Some(name) = node.get("$ref").and_then(Value::as_str) {
            match self.doc.schemas().and_then(|s| s.get(name)) {
                Some(target) => self.check(target, value, path),
                None => self.errors.push(format!("{path}: unknown $ref {name}")),
            }
            return;
        }
        let ty = node.get("type").and_then(Value::as_str).unwrap_or("any");
        match (ty, value) {
            ("any", _) => {}
            (_, Value::Null) => self
                .errors
                .push(format!("Invalid value at '{path}' ({ty}), null")),
            ("object", Value::Object(map)) => self.check_object(node, map, path),
            ("array", Value::Array(items)) => {
                let item_node = node.get("items").cloned().unwrap_or(Value::Null);
                for (i, item) in items.iter().enumerate() {
                    self.check(&item_node, item, &format!("{path}[{i}]"));
                }
            }
            ("string", Value::String(s)) => self.errors.extend(check_string(node, s, path)),
            ("integer", Value::Number(n)) => self.errors.extend(check_integer(node, n, path)),
            ("integer", Value::String(s)) if self.lenient && s.parse::<i64>().is_ok() => {}
            ("string", Value::Number(_)) if self.lenient && node.get("format").is_some() => {}
            ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => {}
            _ => self
                .errors
                .push(format!("Invalid value at '{path}' ({ty}), {value}")),
        }
    }

    fn check_object(&mut self, node: &Value, map: &Map<String, Value>, path: &str) {
        let props = node.get("properties").and_then(Value::as_object);
        let extra = node.get("additionalProperties");
        for (k, v) in map {
            let child = format!("{path}.{k}");
            match (props.and_then(|p| p.get(k)), extra) {
                (Some(schema), _) | (None, Some(schema)) => self.check(schema, v, &child),
                (None, None) => self.errors.push(format!(
                    "Unknown name \"{k}\" at '{path}': Cannot find field."
                )),
            }
        }
    }
}

fn check_string(node: &Value, s: &str, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let format_ok = match node.get("format").and_then(Value::as_str) {
        Some("int64") => s.parse::<i64>().is_ok(),
        Some("uint64") => s.parse::<u64>().is_ok(),
        Some("int32") => s.parse::<i32>().is_ok(),
        Some("uint32") => s.parse::<u32>().is_ok(),
        _ => true,
    };
    if !format_ok {
        errors.push(format!(
            "Invalid value at '{path}' ({}), \"{s}\"",
            node["format"]
        ));
    }
    if let Some(allowed) = node.get("enum").and_then(Value::as_array) {
        if !allowed.iter().any(|a| a.as_str() == Some(s)) {
            errors.push(format!("Invalid value at '{path}' (enum), \"{s}\""));
        }
    }
    errors
}

fn check_integer(node: &Value, n: &serde_json::Number, path: &str) -> Vec<String> {
    let ok = match node.get("format").and_then(Value::as_str) {
        Some("int32") => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        Some("uint32") => n.as_u64().is_some_and(|v| u32::try_from(v).is_ok()),
        _ => n.as_i64().is_some() || n.as_u64().is_some(),
    };
    if ok {
        Vec::new()
    } else {
        let format = node.get("format").unwrap_or(&Value::Null);
        vec![format!("Invalid value at '{path}' ({format}), {n}")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Discovery {
        Discovery {
            doc: json!({"schemas": {
                "Thing": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uint64"},
                    "size": {"type": "integer", "format": "int32"},
                    "state": {"type": "string", "enum": ["UP", "DOWN"]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "parts": {"type": "array", "items": {"$ref": "Part"}}
                }},
                "Part": {"type": "object", "properties": {"on": {"type": "boolean"}}}
            }}),
        }
    }

    #[test]
    fn a_missing_document_says_how_to_install_it() {
        let err = Discovery::locate_in_venv(Path::new("/nonexistent/venv")).unwrap_err();
        assert!(err.contains("scripts/ensure-venv.sh"), "{err}");
    }

    #[test]
    fn accepts_valid_and_reports_each_violation() {
        let d = doc();
        let good = json!({"id": "123", "size": 4, "state": "UP", "labels": {"a": "b"}, "parts": [{"on": true}]});
        assert!(d.validate("Thing", &good).is_ok());
        let bad = json!({"id": 123, "size": "4", "state": "SIDEWAYS", "labels": {"a": 1},
                         "parts": [{"on": "yes", "extra": 1}], "nope": true});
        let errors = d.validate("Thing", &bad).unwrap_err();
        assert_eq!(errors.len(), 7, "{errors:#?}");
        let lenient = json!({"id": 123, "size": "4"});
        assert!(d.validate_with("Thing", &lenient, "resource", true).is_ok());
        let unknown = d
            .validate_with("Thing", &json!({"nope": 1}), "resource", true)
            .unwrap_err();
        assert_eq!(
            unknown,
            ["Unknown name \"nope\" at 'resource': Cannot find field."]
        );
    }
}
