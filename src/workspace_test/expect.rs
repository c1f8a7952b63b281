//! The assertion language of test files, parsed and evaluated without I/O:
//!
//! - expected actions: `create`, `update, replace` (the resources that change do one of
//!   these), `create only` (every resource does), `no-op` (nothing changes);
//! - targets: `STACK` or `STACK:RESOURCE`, each part a glob (`networks/eu/*:subnet-*`);
//! - planned values: `ADDRESS OP VALUE`, where the address is `STACK:RESOURCE.FIELD…` (a
//!   resource's planned inputs, or its `id`) or `STACK:outputs.KEY…`, followed by `.key`,
//!   `[0]` or `["key.with.dots"]` steps; `OP` is one of `==`, `!=`, `<`, `<=`, `>`, `>=`,
//!   `contains`; `VALUE` is YAML (`2`, `[a, b]`, `"text"`), or `unknown` for a value known
//!   only after apply.

use crate::plan::Action;
use crate::value::Value;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::fmt;

/// The words an action expectation may use.
pub const ACTION_WORDS: &str = "create, update, replace, delete, no-op, and `only`";

/// What a stack or resource is expected to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// The allowed actions.
    pub actions: BTreeSet<Action>,
    /// Every resource takes one of the actions (none is left unchanged).
    pub only: bool,
}

impl ActionSpec {
    /// Parses words such as `create`, `create only`, `update, replace` or `no-op`.
    pub fn parse(words: &[String]) -> Result<ActionSpec, String> {
        let mut actions = BTreeSet::new();
        let mut only = false;
        let tokens = words
            .iter()
            .flat_map(|w| w.split([',', ' ']))
            .filter(|t| !t.is_empty());
        for token in tokens {
            let action = match token {
                "create" => Action::Create,
                "update" => Action::Update,
                "replace" => Action::Replace,
                "delete" => Action::Delete,
                "no-op" | "noop" | "unchanged" => Action::NoOp,
                "only" => {
                    only = true;
                    continue;
                }
                other => {
                    let words = ["create", "update", "replace", "delete", "no-op", "only"];
                    return Err(format!(
                        "unknown action `{other}`; {}",
                        crate::diagnostics::suggest(other, words)
                    ));
                }
            };
            actions.insert(action);
        }
        if actions.is_empty() {
            return Err("no action given".to_string());
        }
        Ok(ActionSpec { actions, only })
    }

    /// True for `no-op` alone: nothing may change.
    pub fn unchanged(&self) -> bool {
        self.actions.len() == 1 && self.actions.contains(&Action::NoOp)
    }

    /// True when a stack whose resources take `actions` (and whose outputs change or not, as
    /// `changes` says) meets the expectation.
    pub fn holds_for_stack(&self, actions: &[Action], changes: bool) -> bool {
        if self.unchanged() {
            return !changes;
        }
        if self.only || self.actions.contains(&Action::NoOp) {
            return !actions.is_empty() && actions.iter().all(|a| self.actions.contains(a));
        }
        let changed: Vec<&Action> = actions.iter().filter(|a| a.is_change()).collect();
        !changed.is_empty() && changed.iter().all(|a| self.actions.contains(a))
    }

    /// True when a resource taking `action` meets the expectation.
    pub fn holds_for_resource(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

impl fmt::Display for ActionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        write!(f, "{}", names.join(" or "))?;
        if self.only {
            write!(f, " only")?;
        }
        Ok(())
    }
}

/// A stack (glob), optionally narrowed to resources (glob): `proxies/eu`,
/// `networks/eu/*:subnet-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Stack name or glob.
    pub stack: String,
    /// Resource name or glob.
    pub resource: Option<String>,
}

impl Target {
    /// Parses `STACK` or `STACK:RESOURCE`.
    pub fn parse(text: &str) -> Result<Target, String> {
        if let Some((stack, resource)) = crate::address::ResourceAddress::split(text) {
            return Ok(Target {
                stack: stack.to_string(),
                resource: Some(resource.to_string()),
            });
        }
        if text.is_empty() || text.contains(':') {
            return Err(format!(
                "`{text}` is not a stack or a resource; write STACK or STACK:RESOURCE (globs allowed)"
            ));
        }
        Ok(Target {
            stack: text.to_string(),
            resource: None,
        })
    }
}

/// Which value of a stack an address reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// A planned input of a resource (its `after`; its `before` when deleted), or its `id`.
    Resource {
        /// Resource name or glob.
        resource: String,
        /// Keys and list indexes inside the resource's properties (empty: all of them).
        path: Vec<String>,
    },
    /// A planned output.
    Output {
        /// Output name.
        key: String,
        /// Keys and list indexes inside it.
        path: Vec<String>,
    },
}

/// A value of the plan: `STACK:RESOURCE.FIELD…` or `STACK:outputs.KEY…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Stack name or glob.
    pub stack: String,
    /// What in the stack.
    pub field: Field,
}

/// Splits `name.a[0]["b.c"]` into `name` and the path `a`, `0`, `b.c`.
fn split_path(text: &str) -> Result<(String, Vec<String>), String> {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    let name = text[..end].to_string();
    if name.is_empty() {
        return Err(format!("`{text}` has no name before its path"));
    }
    let mut path = Vec::new();
    let mut rest = &text[end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return Err(format!("empty key in `{text}`"));
            }
            path.push(after[..end].to_string());
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| format!("unclosed `[` in `{text}`"))?;
            let inside = after[..close].trim();
            let key = inside
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .or_else(|| inside.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')));
            match key {
                Some(key) => path.push(key.to_string()),
                None if inside.parse::<usize>().is_ok() => path.push(inside.to_string()),
                None => {
                    return Err(format!(
                        "`[{inside}]` in `{text}`: write a list index `[0]` or a quoted key `[\"a.b\"]`"
                    ))
                }
            }
            rest = &after[close + 1..];
        } else {
            return Err(format!("unexpected `{rest}` in `{text}`"));
        }
    }
    Ok((name, path))
}

impl Address {
    /// Parses `STACK:RESOURCE.FIELD…` or `STACK:outputs.KEY…`.
    pub fn parse(text: &str) -> Result<Address, String> {
        let (stack, rest) = crate::address::ResourceAddress::split(text).ok_or_else(|| {
            format!("`{text}` is not an address; write STACK:RESOURCE.FIELD or STACK:outputs.KEY")
        })?;
        let (name, path) = split_path(rest)?;
        let field = if name == "outputs" {
            let (key, path) = path
                .split_first()
                .ok_or_else(|| format!("`{text}` names no output; write STACK:outputs.KEY"))?;
            Field::Output {
                key: key.clone(),
                path: path.to_vec(),
            }
        } else {
            Field::Resource {
                resource: name,
                path,
            }
        };
        Ok(Address {
            stack: stack.to_string(),
            field,
        })
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`: a list element, a substring, or a map key.
    Contains,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "contains" => Op::Contains,
            _ => return None,
        })
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A known value.
    Value(Json),
    /// Known only after apply (`unknown`).
    Unknown,
}

/// `ADDRESS OP VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueCheck {
    /// The expression as written.
    pub text: String,
    /// What it reads.
    pub address: Address,
    /// How it compares.
    pub op: Op,
    /// What to.
    pub expected: Expected,
}

impl ValueCheck {
    /// Parses `ADDRESS OP VALUE` (spaces around the operator).
    pub fn parse(text: &str) -> Result<ValueCheck, String> {
        let trimmed = text.trim();
        let mut parts = trimmed.splitn(3, char::is_whitespace);
        let (Some(address), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "`{trimmed}`: write ADDRESS OP VALUE with spaces around the operator, e.g. `replicas/eu/*:nodes.min_size == 2`"
            ));
        };
        let op = Op::parse(op).ok_or_else(|| {
            format!("unknown operator `{op}`; use one of ==, !=, <, <=, >, >=, contains")
        })?;
        let value = value.trim();
        let expected = if value == "unknown" {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err("`unknown` compares only with == or !=".to_string());
            }
            Expected::Unknown
        } else {
            Expected::Value(
                serde_yaml_ng::from_str(value)
                    .map_err(|e| format!("the value `{value}` is not YAML: {e}"))?,
            )
        };
        Ok(ValueCheck {
            text: trimmed.to_string(),
            address: Address::parse(address)?,
            op,
            expected,
        })
    }

    /// Whether `actual` satisfies the comparison. A value known only after apply satisfies
    /// only `== unknown`: any other comparison cannot be decided by a plan.
    pub fn holds(&self, actual: &Value) -> bool {
        let unknown = actual.first_unknown().is_some();
        let expected = match (&self.expected, self.op) {
            (Expected::Unknown, Op::Eq) => return unknown,
            (Expected::Unknown, _) => return !unknown,
            (Expected::Value(_), _) if unknown => return false,
            (Expected::Value(v), _) => v,
        };
        let actual = actual.to_json();
        match self.op {
            Op::Eq => same(&actual, expected),
            Op::Ne => !same(&actual, expected),
            Op::Contains => contains(&actual, expected),
            op => order(&actual, expected).is_some_and(|o| match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                _ => o.is_ge(),
            }),
        }
    }

    /// The expected side, for messages.
    pub fn expected_text(&self) -> String {
        let value = match &self.expected {
            Expected::Unknown => "unknown (known after apply)".to_string(),
            Expected::Value(v) => v.to_string(),
        };
        match self.op {
            Op::Eq => value,
            Op::Ne => format!("not {value}"),
            Op::Lt => format!("< {value}"),
            Op::Le => format!("<= {value}"),
            Op::Gt => format!("> {value}"),
            Op::Ge => format!(">= {value}"),
            Op::Contains => format!("contains {value}"),
        }
    }
}

/// JSON equality with numbers compared by value (`2` equals `2.0`).
pub fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| same(v, other)))
        }
        _ => a == b,
    }
}

fn contains(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Array(items), _) => items.iter().any(|i| same(i, expected)),
        (Json::String(s), Json::String(part)) => s.contains(part.as_str()),
        (Json::Object(map), Json::String(key)) => map.contains_key(key),
        _ => false,
    }
}

fn order(a: &Json, b: &Json) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Json::String(x), Json::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// A value for people: JSON, unknowns as `(known after apply)`, secrets as `[secret]`, long
/// texts cut.
pub fn show(value: &Value) -> String {
    let text = match value {
        Value::Unknown(origin) => format!("(known after apply: {origin})"),
        other => shown_json(other).to_string(),
    };
    const MAX: usize = 240;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}… ({} characters)", text.chars().count())
    } else {
        text
    }
}

fn shown_json(value: &Value) -> Json {
    match value {
        Value::Unknown(_) => Json::String("(known after apply)".into()),
        Value::Secret(_) => Json::String("[secret]".into()),
        Value::List(items) => Json::Array(items.iter().map(shown_json).collect()),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shown_json(v)))
                .collect(),
        ),
        other => other.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(text: &str) -> Vec<String> {
        vec![text.to_string()]
    }

    #[test]
    fn action_specs_parse_and_judge_stacks() {
        let create_only = ActionSpec::parse(&words("create only")).unwrap();
        assert!(create_only.holds_for_stack(&[Action::Create, Action::Create], true));
        assert!(!create_only.holds_for_stack(&[Action::Create, Action::NoOp], true));
        let update = ActionSpec::parse(&words("update")).unwrap();
        assert!(update.holds_for_stack(&[Action::Update, Action::NoOp], true));
        assert!(
            !update.holds_for_stack(&[Action::NoOp], true),
            "nothing updated"
        );
        assert!(!update.holds_for_stack(&[Action::Update, Action::Replace], true));
        let either = ActionSpec::parse(&["update".into(), "replace".into()]).unwrap();
        assert!(either.holds_for_stack(&[Action::Update, Action::Replace], true));
        let none = ActionSpec::parse(&words("no-op")).unwrap();
        assert!(none.holds_for_stack(&[Action::NoOp], false));
        assert!(
            !none.holds_for_stack(&[Action::NoOp], true),
            "an output change is a change"
        );
        assert_eq!(create_only.to_string(), "create only");
        assert_eq!(either.to_string(), "update or replace");
        let err = ActionSpec::parse(&words("crate")).unwrap_err();
        assert_eq!(err, "unknown action `crate`; did you mean `create`?");
    }

    #[test]
    fn addresses_name_resources_outputs_and_paths() {
        let a = Address::parse("replicas/eu/*:nodes.min_size").unwrap();
        assert_eq!(a.stack, "replicas/eu/*");
        assert_eq!(
            a.field,
            Field::Resource {
                resource: "nodes".into(),
                path: vec!["min_size".into()]
            }
        );
        let b = Address::parse(r#"networks/eu/a:db.ingress[0].tags["k.io/x"]"#).unwrap();
        assert_eq!(
            b.field,
            Field::Resource {
                resource: "db".into(),
                path: vec!["ingress".into(), "0".into(), "tags".into(), "k.io/x".into()]
            }
        );
        let c = Address::parse("proxies/eu:outputs.endpoints.aws").unwrap();
        assert_eq!(
            c.field,
            Field::Output {
                key: "endpoints".into(),
                path: vec!["aws".into()]
            }
        );
        assert!(Address::parse("proxies/eu").is_err());
        assert!(Address::parse("proxies/eu:outputs").is_err());
        assert!(Address::parse("s:r.a[x]").is_err());
    }

    #[test]
    fn comparisons() {
        let check = |text: &str, actual: Value| ValueCheck::parse(text).unwrap().holds(&actual);
        let two = Value::from_json(&json!(2));
        assert!(check("s:r.n == 2", two.clone()));
        assert!(check("s:r.n == 2.0", two.clone()));
        assert!(check("s:r.n >= 2", two.clone()));
        assert!(!check("s:r.n > 2", two.clone()));
        assert!(check("s:r.n != 3", two));
        let list = Value::from_json(&json!(["10.16.0.0/12"]));
        assert!(check("s:r.c == [10.16.0.0/12]", list.clone()));
        assert!(check("s:r.c contains 10.16.0.0/12", list.clone()));
        assert!(!check("s:r.c contains 0.0.0.0/0", list));
        let unknown = Value::Unknown("s: r.id".into());
        assert!(check("s:r.id == unknown", unknown.clone()));
        assert!(!check("s:r.id != 3", unknown.clone()), "undecidable");
        assert!(!check("s:r.id != unknown", unknown));
        assert!(ValueCheck::parse("s:r.n==2").is_err());
        assert!(ValueCheck::parse("s:r.n ~= 2").is_err());
        assert!(ValueCheck::parse("s:r.n < unknown").is_err());
    }

    #[test]
    fn long_values_are_cut_and_unknowns_named() {
        assert_eq!(
            show(&Value::Unknown("s: r.id".into())),
            "(known after apply: s: r.id)"
        );
        let long = Value::String("x".repeat(500));
        assert!(show(&long).ends_with("… (502 characters)"));
    }
}
