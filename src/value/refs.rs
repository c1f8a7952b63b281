//! Apply-time references inside string values: `${vpc.id}` (a resource of the same stack),
//! `${networks.outputs.subnet_ids}` (the matching stack of an upstream layer),
//! `${stack("replicas/eu/aws-eu-west-1").outputs.endpoint}` (any stack) and `${config.key}`.
//!
//! A string that is exactly one reference takes the referenced value with its type (a list stays
//! a list); a string mixing text and references is interpolated. `$${` writes a literal `${`.
//! References are what build the resource and stack graphs.

use super::{Value, ValueMap};
use serde_json::Value as Json;
use std::fmt;

/// What a `${...}` expression points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    /// An attribute (or property) of a resource of the same stack: `${vpc.id}`.
    Resource {
        /// Resource name.
        name: String,
        /// Attribute, then a path inside it.
        path: Vec<String>,
    },
    /// An output of the same group/replica's stack in another layer: `${networks.outputs.id}`.
    LayerOutput {
        /// Layer name.
        layer: String,
        /// Output or config key.
        key: String,
        /// Path inside the value (map keys, list indexes).
        path: Vec<String>,
    },
    /// An output of a named stack: `${stack("proxies/eu").outputs.endpoint}`.
    StackOutput {
        /// Stack name.
        stack: String,
        /// Output or config key.
        key: String,
        /// Path inside the value (map keys, list indexes).
        path: Vec<String>,
    },
    /// A workspace configuration value: `${config.db_port}`.
    Config {
        /// Config key.
        key: String,
        /// Path inside the value.
        path: Vec<String>,
    },
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = |path: &[String]| -> String { path.iter().map(|p| format!(".{p}")).collect() };
        match self {
            Reference::Resource { name, path } => write!(f, "{name}{}", tail(path)),
            Reference::LayerOutput { layer, key, path } => {
                write!(f, "{layer}.outputs.{key}{}", tail(path))
            }
            Reference::StackOutput { stack, key, path } => {
                write!(f, "stack(\"{stack}\").outputs.{key}{}", tail(path))
            }
            Reference::Config { key, path } => write!(f, "config.{key}{}", tail(path)),
        }
    }
}

/// A piece of a string value: literal text or a reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A reference.
    Ref(Reference),
}

/// A malformed `${...}` expression; `offset` is the byte offset in the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} in `{text}`")]
pub struct ParseError {
    /// The whole string.
    pub text: String,
    /// Byte offset in the string.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// True when the string contains a reference (cheap pre-check; the provider contract's test).
pub use terrace_provider::has_reference;

/// Splits a string into text and references. `is_layer` tells which identifiers name layers.
pub fn parse(text: &str, is_layer: &dyn Fn(&str) -> bool) -> Result<Vec<Segment>, ParseError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            literal.push_str(&rest[..start - 1]);
            literal.push_str("${");
            consumed += start + 2;
            rest = &rest[start + 2..];
            continue;
        }
        literal.push_str(&rest[..start]);
        let body_start = start + 2;
        let Some(len) = rest[body_start..].find('}') else {
            return Err(error(
                text,
                consumed + start,
                "unclosed `${`: add the closing `}`",
            ));
        };
        let body = rest[body_start..body_start + len].trim();
        let reference = parse_expression(body, is_layer)
            .map_err(|message| error(text, consumed + body_start, &message))?;
        if !literal.is_empty() {
            segments.push(Segment::Text(std::mem::take(&mut literal)));
        }
        segments.push(Segment::Ref(reference));
        consumed += body_start + len + 1;
        rest = &rest[body_start + len + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() || segments.is_empty() {
        segments.push(Segment::Text(literal));
    }
    Ok(segments)
}

fn error(text: &str, offset: usize, message: &str) -> ParseError {
    ParseError {
        text: text.to_string(),
        offset,
        message: message.to_string(),
    }
}

fn parse_expression(body: &str, is_layer: &dyn Fn(&str) -> bool) -> Result<Reference, String> {
    if let Some(after) = body.strip_prefix("stack(") {
        return parse_stack_call(after);
    }
    let path = split_path(body)?;
    let (head, tail) = path.split_first().ok_or("empty reference `${}`")?;
    if head == "config" {
        let (key, rest) = tail
            .split_first()
            .ok_or("`config` needs a key: `${config.KEY}`")?;
        return Ok(Reference::Config {
            key: key.clone(),
            path: rest.to_vec(),
        });
    }
    if tail.first().map(String::as_str) == Some("outputs") && is_layer(head) {
        let key = tail
            .get(1)
            .ok_or("an output reference needs a key: `${LAYER.outputs.KEY}`")?;
        return Ok(Reference::LayerOutput {
            layer: head.clone(),
            key: key.clone(),
            path: tail[2..].to_vec(),
        });
    }
    if tail.is_empty() {
        return Err(format!(
            "`{head}` alone is not a value: name an attribute, e.g. `${{{head}.id}}`"
        ));
    }
    Ok(Reference::Resource {
        name: head.clone(),
        path: tail.to_vec(),
    })
}

fn parse_stack_call(after: &str) -> Result<Reference, String> {
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
    let quote = quote.ok_or("stack(...) takes a quoted stack name: `stack(\"layer/group\")`")?;
    let inner = &after[1..];
    let end = inner
        .find(quote)
        .ok_or("unterminated stack name in stack(...)")?;
    let stack = inner[..end].to_string();
    let rest = inner[end + 1..]
        .strip_prefix(')')
        .ok_or("missing `)` after stack name")?;
    let rest = rest
        .strip_prefix('.')
        .ok_or("stack(...) must be followed by `.outputs.KEY`")?;
    let path = split_path(rest)?;
    match path.as_slice() {
        [outputs, key, tail @ ..] if outputs == "outputs" => Ok(Reference::StackOutput {
            stack,
            key: key.clone(),
            path: tail.to_vec(),
        }),
        _ => Err("stack(...) must be followed by `.outputs.KEY`".to_string()),
    }
}

/// `a.b[0].c` → ["a", "b", "0", "c"].
fn split_path(text: &str) -> Result<Vec<String>, String> {
    let normalized = if text.contains(['[', ']']) {
        std::borrow::Cow::Owned(text.replace('[', ".").replace(']', ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    let parts: Vec<String> = normalized
        .split('.')
        .map(|p| p.trim().to_string())
        .collect();
    for part in &parts {
        let valid = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "`{text}` is not a reference: use names separated by dots, e.g. `${{vpc.id}}`"
            ));
        }
    }
    Ok(parts)
}

/// Every reference inside a JSON value (strings at any depth).
pub fn collect(
    json: &Json,
    is_layer: &dyn Fn(&str) -> bool,
    out: &mut Vec<Reference>,
) -> Result<(), ParseError> {
    match json {
        Json::String(s) if has_reference(s) => {
            for segment in parse(s, is_layer)? {
                if let Segment::Ref(r) = segment {
                    out.push(r);
                }
            }
            Ok(())
        }
        Json::Array(items) => items
            .iter()
            .try_for_each(|item| collect(item, is_layer, out)),
        Json::Object(map) => map.values().try_for_each(|v| collect(v, is_layer, out)),
        _ => Ok(()),
    }
}

/// Looks up the value a reference points at. `Err` is a message about a missing target.
pub trait Lookup {
    /// The value the reference points at.
    fn lookup(&self, reference: &Reference) -> Result<Value, String>;

    /// The workspace's secrets, to seal text that interpolates a secret (`"pw=${config.pw}"`).
    fn secrets(&self) -> Option<&dyn super::sealed::Keyring> {
        None
    }
}

/// A failed resolution: the reference and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The reference is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The reference points at nothing.
    #[error("`${{{reference}}}`: {message}")]
    Missing {
        /// The reference as written.
        reference: String,
        /// Why it points at nothing.
        message: String,
    },
}

/// Resolves every reference inside a JSON value.
pub fn resolve(
    json: &Json,
    lookup: &dyn Lookup,
    is_layer: &dyn Fn(&str) -> bool,
) -> Result<Value, ResolveError> {
    Ok(match json {
        Json::String(s) if has_reference(s) => resolve_string(s, lookup, is_layer)?,
        Json::Array(items) => Value::List(
            items
                .iter()
                .map(|i| resolve(i, lookup, is_layer))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(_) if super::sealed::is_sealed(json) => Value::from_json(json),
        Json::Object(map) => Value::Map(resolve_map(map, lookup, is_layer)?),
        other => Value::from_json(other),
    })
}

/// Resolves every value of a JSON object.
pub fn resolve_map(
    map: &serde_json::Map<String, Json>,
    lookup: &dyn Lookup,
    is_layer: &dyn Fn(&str) -> bool,
) -> Result<ValueMap, ResolveError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), resolve(v, lookup, is_layer)?)))
        .collect()
}

fn resolve_string(
    text: &str,
    lookup: &dyn Lookup,
    is_layer: &dyn Fn(&str) -> bool,
) -> Result<Value, ResolveError> {
    let segments = parse(text, is_layer)?;
    let mut resolved = Vec::with_capacity(segments.len());
    for segment in &segments {
        resolved.push(match segment {
            Segment::Text(t) => Value::String(t.clone()),
            Segment::Ref(r) => lookup.lookup(r).map_err(|message| ResolveError::Missing {
                reference: r.to_string(),
                message,
            })?,
        });
    }
    if let ([Segment::Ref(_)], [value]) = (segments.as_slice(), resolved.as_slice()) {
        return Ok(value.clone());
    }
    if let Some(origin) = resolved.iter().find_map(Value::first_unknown) {
        return Ok(Value::Unknown(origin.to_string()));
    }
    if resolved.iter().any(Value::contains_secret) {
        return seal_interpolation(text, &resolved, lookup);
    }
    Ok(Value::String(
        resolved.iter().map(Value::interpolated_text).collect(),
    ))
}

/// Text that interpolates a secret becomes one secret: the parts are opened, joined and
/// sealed again. Needs the workspace's secrets.
fn seal_interpolation(
    text: &str,
    resolved: &[Value],
    lookup: &dyn Lookup,
) -> Result<Value, ResolveError> {
    let missing = |message: String| ResolveError::Missing {
        reference: text
            .trim_start_matches("${")
            .trim_end_matches('}')
            .to_string(),
        message,
    };
    let secrets = lookup.secrets().ok_or_else(|| {
        missing("text that includes a secret needs the workspace's secrets provider".into())
    })?;
    let mut plain = String::new();
    for part in resolved {
        match part {
            Value::Secret(sealed) => plain.push_str(
                &secrets
                    .unseal("an interpolated secret", sealed)
                    .map_err(missing)?,
            ),
            Value::String(s) => plain.push_str(s),
            other if other.contains_secret() => {
                return Err(missing(
                    "a list or map holding a secret cannot be interpolated into text".into(),
                ))
            }
            other => plain.push_str(&other.interpolated_text()),
        }
    }
    Ok(Value::Secret(secrets.seal(&plain)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layers(name: &str) -> bool {
        matches!(name, "networks" | "accounts")
    }

    struct Fixed;
    impl Lookup for Fixed {
        fn lookup(&self, reference: &Reference) -> Result<Value, String> {
            match reference.to_string().as_str() {
                "vpc.id" => Ok(Value::String("vpc-1".into())),
                "vpc.cidrs" => Ok(Value::from_json(&json!(["10.0.0.0/16"]))),
                "networks.outputs.subnet" => {
                    Ok(Value::Unknown("networks/eu/a.outputs.subnet".into()))
                }
                other => Err(format!("no such thing `{other}`")),
            }
        }
    }

    #[test]
    fn parses_every_reference_form() {
        let segs = parse(
            "a-${vpc.id}-${networks.outputs.ids[0]}-${stack(\"proxies/eu\").outputs.ep}-${config.port}",
            &layers,
        )
        .unwrap();
        let refs: Vec<String> = segs
            .iter()
            .filter_map(|s| match s {
                Segment::Ref(r) => Some(r.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            refs,
            vec![
                "vpc.id",
                "networks.outputs.ids.0",
                "stack(\"proxies/eu\").outputs.ep",
                "config.port"
            ]
        );
        assert!(matches!(
            parse("${networks.id}", &layers).unwrap()[0],
            Segment::Ref(Reference::Resource { .. })
        ));
    }

    #[test]
    fn rejects_malformed_references_with_offsets() {
        let err = parse("abc ${vpc.id", &layers).unwrap_err();
        assert_eq!(err.offset, 4);
        assert!(err.message.contains("unclosed"));
        assert!(parse("${vpc}", &layers)
            .unwrap_err()
            .message
            .contains("alone is not a value"));
        assert!(parse("${stack(eu).outputs.x}", &layers).is_err());
        assert!(parse("${a b}", &layers).is_err());
    }

    #[test]
    fn escape_writes_a_literal() {
        let value = resolve(&json!("cost $${HOME}"), &Fixed, &layers).unwrap();
        assert_eq!(value, Value::String("cost ${HOME}".into()));
    }

    #[test]
    fn whole_reference_keeps_type_and_mixed_interpolates() {
        assert_eq!(
            resolve(&json!("${vpc.cidrs}"), &Fixed, &layers).unwrap(),
            Value::from_json(&json!(["10.0.0.0/16"]))
        );
        assert_eq!(
            resolve(&json!("id=${vpc.id}"), &Fixed, &layers).unwrap(),
            Value::String("id=vpc-1".into())
        );
    }

    #[test]
    fn unknown_spreads_to_the_whole_string() {
        let value = resolve(
            &json!({"a": ["x-${networks.outputs.subnet}"]}),
            &Fixed,
            &layers,
        )
        .unwrap();
        assert_eq!(
            value,
            Value::from_json(&json!({"a": [{"$unknown": "networks/eu/a.outputs.subnet"}]}))
        );
    }

    #[test]
    fn missing_target_names_the_reference() {
        let err = resolve(&json!("${vpc.nope}"), &Fixed, &layers).unwrap_err();
        assert_eq!(err.to_string(), "`${vpc.nope}`: no such thing `vpc.nope`");
    }
}
