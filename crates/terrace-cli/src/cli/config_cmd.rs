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
use terrace::secrets::{self, REDACTED};
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

fn set(dir: &Path, args: &SetArgs) -> Result<i32, Error> {
    edit::check_key(&args.key)?;
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
    let new_text = if args.secret {
        let (key, created) = terrace_providers::key_for_writing(&settings)?;
        let text = match &created {
            Some(material) => edit::set_secrets_key(&text, material)?,
            None => text,
        };
        edit::set_config_secret(&text, &args.key, &value, &key)?
    } else {
        edit::set_config_value(&text, &args.key, &edit::parse_value(&value))?
    };
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
    let (_, created) = terrace_providers::key_for_writing(&settings)?;
    let Some(material) = created else {
        eoutln!("The workspace already has a secrets key.");
        return Ok(EXIT_OK);
    };
    let new_text = edit::set_secrets_key(&text, &material)?;
    terrace::state::file::write_atomic(&dir.join(SETTINGS_FILE), new_text.as_bytes())?;
    eoutln!("Created the workspace's secrets key (`secrets:` in {SETTINGS_FILE}).");
    Ok(EXIT_OK)
}

/// The workspace's secrets for `Terrace::open_with_secrets` (terrace-providers).
pub use terrace_providers::open_secrets;

use terrace::edit;
