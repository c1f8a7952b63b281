//! `terrace config set|get|list`: configuration values under `config:` in terrace.yaml, plain or
//! encrypted with the workspace's secrets provider; and the opening of that provider
//! (passphrase, or AWS KMS) for every command that opens the workspace.
//!
//! terrace.yaml is edited as text, so that its comments and layout survive: the entry of the
//! key is replaced (or appended to the `config:` block), and the `secrets:` block is written
//! when the first secret creates the key material. The result is parsed again before it is
//! written (atomically) to be sure the edit says exactly what was asked.

use super::output::{eoutln, outln};
use clap::{Args, Subcommand};
use serde_json::Value as Json;
use std::io::Read;
use std::path::Path;
use terrace::config::settings::Settings;
use terrace::config::SETTINGS_FILE;
use terrace::diagnostics::Diagnostics;
use terrace::error::EXIT_OK;
use terrace::secrets::{self, Secrets, SecretsSettings, REDACTED};
use terrace::Error;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set a value under `config:` in terrace.yaml (comments and layout are kept).
    Set(SetArgs),
    /// Print one value; a secret prints as [secret] unless --show-secrets.
    Get {
        key: String,
        /// Decrypt and print a secret value.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print every value; secrets as [secret] unless --show-secrets.
    List {
        /// Decrypt and print secret values.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Create the workspace's secrets key (the `secrets:` block) without setting a value:
    /// what a workspace needs before it holds secrets the clouds generate (VPN tunnel keys).
    /// Nothing changes when the key exists.
    InitSecrets,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Encrypt the value with the workspace's secrets provider (`secrets:` in terrace.yaml;
    /// default: a passphrase from TERRACE_PASSPHRASE).
    #[arg(long)]
    pub secret: bool,
    /// The key: letters, digits, `_` and `-`.
    pub key: String,
    /// The value, read as YAML (`5432` is a number; a secret is always text). `-` reads it
    /// from standard input, which keeps it out of the shell history.
    pub value: String,
}

pub async fn run(dir: &Path, json: bool, command: &ConfigCommand) -> Result<i32, Error> {
    match command {
        ConfigCommand::Set(args) => set(dir, args),
        ConfigCommand::InitSecrets => init_secrets(dir),
        ConfigCommand::Get { key, show_secrets } => {
            let settings = read_settings(dir)?.1;
            let value = settings.config.get(key).ok_or_else(|| {
                Error::usage(format!(
                    "config has no key `{key}`; {}",
                    terrace::diagnostics::suggest(key, settings.config.keys().map(String::as_str))
                ))
            })?;
            let shown = shown(&settings, key, value, *show_secrets)?;
            match (&shown, json) {
                (Json::String(text), false) => outln!("{text}"),
                _ => outln!("{shown}"),
            }
            Ok(EXIT_OK)
        }
        ConfigCommand::List { show_secrets } => {
            let settings = read_settings(dir)?.1;
            let mut all = serde_json::Map::new();
            for (key, value) in &settings.config {
                all.insert(key.clone(), shown(&settings, key, value, *show_secrets)?);
            }
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&all).expect("config serializes")
                );
            } else {
                for (key, value) in &all {
                    match value {
                        Json::String(text) => outln!("{key} = {text}"),
                        other => outln!("{key} = {other}"),
                    }
                }
            }
            Ok(EXIT_OK)
        }
    }
}

/// A config value as printed: secrets as `[secret]`, or opened with `--show-secrets`.
fn shown(settings: &Settings, key: &str, value: &Json, show: bool) -> Result<Json, Error> {
    match secrets::secure_config(value) {
        Some(ciphertext) if show => {
            let keeper = terrace_providers::open_key(settings)?.ok_or_else(|| {
                Error::from(secrets::SecretError::Provider(
                    "config has encrypted values but terrace.yaml has no `secrets:`".into(),
                ))
            })?;
            Ok(Json::String(
                keeper.decrypt(&format!("config.{key}"), ciphertext)?,
            ))
        }
        Some(_) => Ok(Json::String(REDACTED.into())),
        None => Ok(value.clone()),
    }
}

fn read_settings(dir: &Path) -> Result<(String, Settings), Error> {
    let path = dir.join(SETTINGS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::usage(format!(
            "not a Terrace workspace: cannot read {} ({e})",
            path.display()
        ))
    })?;
    let settings = parse_settings(&text)?;
    Ok((text, settings))
}

fn parse_settings(text: &str) -> Result<Settings, Error> {
    terrace::config::yaml::parse(Path::new(SETTINGS_FILE), text)
        .map_err(|d| Error::Invalid(Diagnostics(vec![d])))
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn set(dir: &Path, args: &SetArgs) -> Result<i32, Error> {
    if !valid_key(&args.key) {
        return Err(Error::usage(format!(
            "`{}` is not a config key: use letters, digits, `_` and `-`, starting with a letter",
            args.key
        )));
    }
    let value = if args.value == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::usage(format!("cannot read the value from standard input: {e}")))?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string()
    } else {
        args.value.clone()
    };
    let (text, settings) = read_settings(dir)?;
    let mut new_secrets = None;
    let (written, expected) = if args.secret {
        let (keeper, created) = keeper_for_set(&settings)?;
        new_secrets = created;
        let ciphertext = keeper.encrypt(&value);
        (
            format!("{{secure: {}}}", Json::String(ciphertext.clone())),
            serde_json::json!({ secrets::SECURE_KEY: ciphertext }),
        )
    } else {
        let parsed: Json = terrace::config::yaml::parse(Path::new("VALUE"), &value)
            .unwrap_or_else(|_| Json::String(value.clone()));
        let parsed = match parsed {
            Json::Null if !value.trim().is_empty() && value.trim() != "null" => {
                Json::String(value.clone())
            }
            other => other,
        };
        (parsed.to_string(), parsed)
    };
    let mut new_text = set_config_entry(&text, &settings, &args.key, &written)?;
    if let Some(block) = &new_secrets {
        new_text = set_top_level_block(&new_text, "secrets", &secrets_block(block));
    }
    let check = parse_settings(&new_text)?;
    if check.config.get(&args.key) != Some(&expected)
        || (new_secrets.is_some() && check.secrets != new_secrets)
    {
        return Err(Error::usage(format!(
            "could not edit {SETTINGS_FILE} safely (unusual layout of `config:`); write `{}: {written}` under `config:` by hand",
            args.key
        )));
    }
    terrace::state::file::write_atomic(&dir.join(SETTINGS_FILE), new_text.as_bytes())?;
    if args.secret {
        eoutln!("Set config.{} (encrypted).", args.key);
    } else {
        eoutln!("Set config.{}.", args.key);
    }
    Ok(EXIT_OK)
}

/// `config init-secrets`: the `secrets:` block written when the workspace has no key yet.
fn init_secrets(dir: &Path) -> Result<i32, Error> {
    let (text, settings) = read_settings(dir)?;
    let (_, created) = keeper_for_set(&settings)?;
    let Some(block) = created else {
        eoutln!("The workspace already has a secrets key.");
        return Ok(EXIT_OK);
    };
    let new_text = set_top_level_block(&text, "secrets", &secrets_block(&block));
    if parse_settings(&new_text)?.secrets.as_ref() != Some(&block) {
        return Err(Error::usage(format!(
            "could not edit {SETTINGS_FILE} safely; add the `secrets:` block by hand"
        )));
    }
    terrace::state::file::write_atomic(&dir.join(SETTINGS_FILE), new_text.as_bytes())?;
    eoutln!("Created the workspace's secrets key (`secrets:` in {SETTINGS_FILE}).");
    Ok(EXIT_OK)
}

/// The keeper a new secret is sealed with, and the `secrets:` settings to write when this is
/// the workspace's first key.
fn keeper_for_set(settings: &Settings) -> Result<(Secrets, Option<SecretsSettings>), Error> {
    match &settings.secrets {
        None => {
            let (keeper, created) = Secrets::new_passphrase()?;
            Ok((keeper, Some(created)))
        }
        Some(s) if s.is_passphrase() && s.salt.is_none() => {
            let (keeper, created) = Secrets::new_passphrase()?;
            Ok((keeper, Some(created)))
        }
        Some(s) if s.is_passphrase() => Ok((Secrets::open_passphrase(s)?, None)),
        Some(s) => match s.kms_key() {
            Some(key) if s.encrypted_key.is_none() => {
                let (keeper, created) =
                    terrace_providers::kms::create(key, &aws_settings(settings))?;
                Ok((keeper, Some(created)))
            }
            Some(_) => Ok((
                terrace_providers::kms::open(s, &aws_settings(settings))?,
                None,
            )),
            None => Err(secrets::SecretError::Provider(format!(
                "unknown provider `{}`: use `passphrase` or `awskms://KEY`",
                s.provider
            ))
            .into()),
        },
    }
}

use terrace_providers::aws_settings;

/// The workspace's secrets for `Terrace::open_with_secrets` (terrace-providers).
pub use terrace_providers::open_secrets;

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
