//! Editing `terrace.yaml` as text, so that its comments and layout survive: a value under
//! `config:` (plain, or a secret sealed with the workspace's key) and the `secrets:` block that
//! holds the key's material. The entry of the key is replaced (or appended to the `config:`
//! block); each result is parsed again and checked to say exactly what was asked before it is
//! returned. What `terrace config set [--secret]` and `config init-secrets` do, for a program
//! that keeps terrace.yaml in memory ([`crate::config::Sources`]) or on disk.
//!
//! ```
//! use terrace::edit;
//! use terrace::secrets::Secrets;
//! let (key, material) = Secrets::new_passphrase_with("a passphrase").unwrap();
//! let text = edit::set_secrets_key("name: qa\n", &material).unwrap();
//! let text = edit::set_config_secret(&text, "db_password", "hunter2", &key).unwrap();
//! assert!(!text.contains("hunter2"));
//! ```

use crate::config::settings::Settings;
use crate::config::SETTINGS_FILE;
use crate::diagnostics::Diagnostics;
use crate::secrets::{Secrets, SecretsSettings, SECURE_KEY};
use crate::Error;
use serde_json::Value as Json;
use std::path::Path;

/// `text` with `config.<key>` set to `value` (written as flow YAML).
pub fn set_config_value(text: &str, key: &str, value: &Json) -> Result<String, Error> {
    check_key(key)?;
    let settings = parse_settings(text)?;
    let new_text = set_config_entry(text, &settings, key, &value.to_string())?;
    verify(&new_text, key, value)?;
    Ok(new_text)
}

/// `text` with `config.<key>` set to `plaintext` sealed with `secrets` (`{secure: ...}`): the
/// plaintext is never written.
pub fn set_config_secret(
    text: &str,
    key: &str,
    plaintext: &str,
    secrets: &Secrets,
) -> Result<String, Error> {
    check_key(key)?;
    let settings = parse_settings(text)?;
    let ciphertext = secrets.encrypt(plaintext);
    let written = format!("{{secure: {}}}", Json::String(ciphertext.clone()));
    let new_text = set_config_entry(text, &settings, key, &written)?;
    verify(
        &new_text,
        key,
        &serde_json::json!({ SECURE_KEY: ciphertext }),
    )?;
    Ok(new_text)
}

/// `text` with the `secrets:` block replaced by (or appended as) the key material `settings`
/// (see [`Secrets::new_passphrase`]).
pub fn set_secrets_key(text: &str, settings: &SecretsSettings) -> Result<String, Error> {
    let new_text = set_top_level_block(text, "secrets", &secrets_block(settings));
    if parse_settings(&new_text)?.secrets.as_ref() != Some(settings) {
        return Err(Error::usage(format!(
            "could not edit {SETTINGS_FILE} safely; add the `secrets:` block by hand"
        )));
    }
    Ok(new_text)
}

/// A value as `config set` reads it: YAML (`5432` is a number, `[a, b]` a list), else text.
pub fn parse_value(value: &str) -> Json {
    let parsed: Json = crate::config::yaml::parse(Path::new("VALUE"), value)
        .unwrap_or_else(|_| Json::String(value.to_string()));
    match parsed {
        Json::Null if !value.trim().is_empty() && value.trim() != "null" => {
            Json::String(value.to_string())
        }
        other => other,
    }
}

/// A config key: letters, digits, `_` and `-`, starting with a letter or `_`.
pub fn check_key(key: &str) -> Result<(), Error> {
    let mut chars = key.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "`{key}` is not a config key: use letters, digits, `_` and `-`, starting with a letter"
        )))
    }
}

fn parse_settings(text: &str) -> Result<Settings, Error> {
    crate::config::yaml::parse(Path::new(SETTINGS_FILE), text)
        .map_err(|d| Error::Invalid(Diagnostics(vec![d])))
}

/// The edit says exactly `config.<key>: expected`.
fn verify(new_text: &str, key: &str, expected: &Json) -> Result<(), Error> {
    if parse_settings(new_text)?.config.get(key) == Some(expected) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "could not edit {SETTINGS_FILE} safely (unusual layout of `config:`); write `{key}: {expected}` under `config:` by hand"
    )))
}

fn secrets_block(settings: &SecretsSettings) -> String {
    let mut block = String::from("secrets:\n");
    block.push_str(&format!(
        "  provider: {}\n",
        Json::String(settings.provider.clone())
    ));
    let fields = [
        ("salt", &settings.salt),
        ("encrypted_key", &settings.encrypted_key),
        ("check", &settings.check),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            block.push_str(&format!("  {name}: {}\n", Json::String(value.clone())));
        }
    }
    block
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// The line of a top-level key (`key:` at column 0).
fn top_level_line(lines: &[&str], key: &str) -> Option<usize> {
    lines.iter().position(|line| {
        line.strip_prefix(key)
            .is_some_and(|rest| rest.starts_with(':'))
    })
}

/// The end (exclusive) of the top-level block starting at `start`: the next line at column 0
/// that is not blank and not a comment, with trailing blank and comment lines left outside.
fn block_end(lines: &[&str], start: usize) -> usize {
    let mut end = lines[start + 1..]
        .iter()
        .position(|l| !is_blank_or_comment(l) && indent_of(l) == 0)
        .map(|i| start + 1 + i)
        .unwrap_or(lines.len());
    while end > start + 1 && is_blank_or_comment(lines[end - 1]) {
        end -= 1;
    }
    end
}

fn with_newline(line: &str) -> String {
    if line.ends_with('\n') {
        line.to_string()
    } else {
        format!("{line}\n")
    }
}

/// `text` with `key: value` set under the top-level `config:` mapping.
fn set_config_entry(
    text: &str,
    settings: &Settings,
    key: &str,
    value: &str,
) -> Result<String, Error> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = top_level_line(&lines, "config") else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("config:\n  {key}: {value}\n"));
        return Ok(out);
    };
    let rest = lines[start]["config:".len()..].trim();
    let rest = rest.split(" #").next().unwrap_or("").trim();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if !rest.is_empty() && !rest.starts_with('#') {
        // Flow style on one line (`config: {a: 1}`): rewritten as a block.
        if !(rest.starts_with('{') && rest.ends_with('}')) {
            return Err(Error::usage(format!(
                "cannot edit `config:` written as `{rest}`: write it as a block mapping (one `key: value` per line) or edit it by hand"
            )));
        }
        let mut block = String::from("config:\n");
        for (k, v) in settings.config.iter().filter(|(k, _)| k.as_str() != key) {
            block.push_str(&format!("  {k}: {v}\n"));
        }
        block.push_str(&format!("  {key}: {value}\n"));
        out[start] = block;
        return Ok(out.concat());
    }
    let end = block_end(&lines, start);
    let entries: Vec<usize> = (start + 1..end)
        .filter(|&i| !is_blank_or_comment(lines[i]))
        .collect();
    let indent = entries.first().map(|&i| indent_of(lines[i])).unwrap_or(2);
    let prefix = " ".repeat(indent);
    let new_line = format!("{prefix}{key}: {value}\n");
    let existing = entries.iter().copied().find(|&i| {
        indent_of(lines[i]) == indent
            && lines[i][indent..]
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
    });
    match existing {
        Some(i) => {
            // The entry and its continuation lines (more indented), not trailing blanks.
            let mut stop = (i + 1..end)
                .find(|&j| !lines[j].trim().is_empty() && indent_of(lines[j]) <= indent)
                .unwrap_or(end);
            while stop > i + 1 && is_blank_or_comment(lines[stop - 1]) {
                stop -= 1;
            }
            out.splice(i..stop, [new_line]);
        }
        None => {
            let after = entries.last().copied().unwrap_or(start);
            out[after] = with_newline(&out[after]);
            out.insert(after + 1, new_line);
        }
    }
    Ok(out.concat())
}

/// `text` with the top-level block `key:` replaced by `block` (or appended).
fn set_top_level_block(text: &str, key: &str, block: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    match top_level_line(&lines, key) {
        Some(start) => {
            let end = block_end(&lines, start);
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out.splice(start..end, [block.to_string()]);
            out.concat()
        }
        None => {
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(block);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, key: &str, value: &str) -> String {
        let settings = parse_settings(text).unwrap();
        set_config_entry(text, &settings, key, value).unwrap()
    }

    #[test]
    fn replaces_an_entry_and_keeps_comments_and_layout() {
        let text = "# workspace\nname: w\nconfig:\n  # the port\n  db_port: 5432   # default\n  image: db-16\n\n# budgets\nbudgets: {max_deletes: 1}\n";
        let out = edit(text, "db_port", "6432");
        assert_eq!(out, "# workspace\nname: w\nconfig:\n  # the port\n  db_port: 6432\n  image: db-16\n\n# budgets\nbudgets: {max_deletes: 1}\n");
        let out = edit(text, "db_password", "{secure: \"v1:abc\"}");
        assert!(
            out.contains("  image: db-16\n  db_password: {secure: \"v1:abc\"}\n\n# budgets\n"),
            "{out}"
        );
        let settings = parse_settings(&out).unwrap();
        assert_eq!(settings.config["db_password"]["secure"], "v1:abc");
    }

    #[test]
    fn multi_line_entries_flow_mappings_and_missing_blocks() {
        let text = "config:\n    tags:\n      a: 1\n      b: 2\n    x: 1\n";
        assert_eq!(
            edit(text, "tags", "[]"),
            "config:\n    tags: []\n    x: 1\n"
        );
        let flow = "name: w\nconfig: {a: 1}\n";
        assert_eq!(edit(flow, "b", "2"), "name: w\nconfig:\n  a: 1\n  b: 2\n");
        assert_eq!(edit("name: w", "b", "2"), "name: w\nconfig:\n  b: 2\n");
        assert_eq!(
            edit("config:\nname: w\n", "b", "2"),
            "config:\n  b: 2\nname: w\n"
        );
    }

    #[test]
    fn the_secrets_block_is_replaced_or_appended() {
        let settings = SecretsSettings {
            provider: "passphrase".into(),
            salt: Some("c2FsdA==".into()),
            encrypted_key: None,
            check: Some("v1:x".into()),
        };
        let block = secrets_block(&settings);
        let text = "name: w\nsecrets:\n  provider: passphrase\nconfig: {}\n";
        let out = set_top_level_block(text, "secrets", &block);
        assert_eq!(
            parse_settings(&out).unwrap().secrets,
            Some(settings.clone())
        );
        assert!(out.ends_with("config: {}\n"));
        let out = set_top_level_block("name: w\n", "secrets", &block);
        assert_eq!(parse_settings(&out).unwrap().secrets, Some(settings));
    }
}
