//! Typed access to resource properties: every wrong shape is an `Invalid` error naming the
//! field, never a panic.

use crate::error::invalid;
use serde_json::Value as Json;
use terrace_provider::{Properties, ProviderError};

fn present<'a>(p: &'a Properties, key: &str) -> Option<&'a Json> {
    p.get(key).filter(|v| !v.is_null())
}

pub fn str_req<'a>(p: &'a Properties, key: &str) -> Result<&'a str, ProviderError> {
    str_opt(p, key)?.ok_or_else(|| invalid(format!("`{key}` is required")))
}

pub fn str_opt<'a>(p: &'a Properties, key: &str) -> Result<Option<&'a str>, ProviderError> {
    match present(p, key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be a string"))),
    }
}

pub fn bool_opt(p: &Properties, key: &str) -> Result<Option<bool>, ProviderError> {
    match present(p, key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be true or false"))),
    }
}

pub fn int_opt(p: &Properties, key: &str) -> Result<Option<i32>, ProviderError> {
    match present(p, key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be an integer"))),
    }
}

/// A list of strings (absent = empty).
pub fn strings(p: &Properties, key: &str) -> Result<Vec<String>, ProviderError> {
    match present(p, key) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("`{key}` must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(invalid(format!("`{key}` must be a list of strings"))),
    }
}

/// A list of objects (absent = empty).
pub fn objects<'a>(p: &'a Properties, key: &str) -> Result<Vec<&'a Properties>, ProviderError> {
    match present(p, key) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_object()
                    .ok_or_else(|| invalid(format!("`{key}` must be a list of maps")))
            })
            .collect(),
        Some(_) => Err(invalid(format!("`{key}` must be a list of maps"))),
    }
}

/// True when a field differs between two property sets (absent = null).
pub fn changed(old: &Properties, new: &Properties, key: &str) -> bool {
    present(old, key) != present(new, key)
}

/// Refuses fields a type does not know.
pub fn check_known(p: &Properties, known: &[&str], type_name: &str) -> Result<(), ProviderError> {
    match p.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(invalid(format!("{type_name} has no field `{key}`"))),
        None => Ok(()),
    }
}
