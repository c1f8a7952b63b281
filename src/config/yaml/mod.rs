//! YAML reading with located errors: syntax errors, unknown fields (with the closest valid
//! name) and type errors come back as [`Diagnostic`]s naming file, line and column. Also finds
//! the line of a key path in a block-style YAML text, for errors found after parsing.

mod unique;

use crate::diagnostics::{closest, Diagnostic, Location};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses `text` (the contents of `file`) into `T`, turning any error into a diagnostic. A key
/// written twice in one mapping is refused naming both lines: deserialized into a map (the
/// resources of a template, properties, `config:`), the second would silently replace the
/// first.
///
/// The text is scanned once on the way that succeeds: straight into `T`, with every mapping's
/// keys compared as a YAML value compares them ([`unique`]). Only when that fails (an error,
/// a duplicate key, a node it cannot judge) is the text parsed the reference way: into a YAML
/// value (which refuses duplicate keys) and `T` read from that value, or, when that fails, the
/// text parsed straight into `T` again for the error's line and column (a value keeps no
/// positions). Results are those of the reference way — keys reach `T` as a value hands them,
/// the rest as a direct parse does, which makes the same visitor calls as reading the value
/// (scalars resolved as `deserialize_any` does; a scalar that only a typed field would take,
/// such as `type: 123` for a text, fails from the value and is read again from the text) — and
/// so are errors.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostic> {
    if let Some(parsed) = unique::parse(text) {
        return Ok(parsed);
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(value) => {
            if let Ok(parsed) = T::deserialize(value) {
                return Ok(parsed);
            }
        }
        Err(err) => {
            if let Some(duplicate) = duplicate_key(file, text, &err) {
                return Err(duplicate);
            }
        }
    }
    serde_yaml_ng::from_str(text).map_err(|err| diagnostic_from(file, &err))
}

/// serde_yaml_ng reports a duplicate key at the start of its mapping, as
/// `PATH: duplicate entry with key "KEY"`; finds both lines of the key.
fn duplicate_key(file: &Path, text: &str, err: &serde_yaml_ng::Error) -> Option<Diagnostic> {
    let message = err.to_string();
    let quoted = message.split("duplicate entry with key ").nth(1)?;
    let quoted = quoted.split(" at line ").next().unwrap_or(quoted);
    let key: String =
        serde_json::from_str(quoted).unwrap_or_else(|_| quoted.trim_matches('`').to_string());
    let path = message
        .split_once(": duplicate entry")
        .map(|(p, _)| p)
        .filter(|p| !p.contains(' '));
    let mapping = err.location()?;
    let level = mapping.column() - 1;
    let lines = scan(text);
    let inside = lines
        .iter()
        .skip_while(|l| l.number < mapping.line())
        .take_while(|l| l.number == mapping.line() || l.content_col >= level);
    let found: Vec<&Line> = inside
        .filter(|l| l.content_col == level && l.key == Some(key.as_str()))
        .collect();
    let (first, second) = match found[..] {
        [first, second, ..] => (first.number, second),
        _ => {
            // A flow mapping (`{a: 1, a: 2}`): both on one line.
            let at = Location::at(file, mapping.line(), mapping.column());
            return Some(
                Diagnostic::new(at, format!("duplicate key `{key}` in this mapping"))
                    .help("write each key once: the second would silently replace the first"),
            );
        }
    };
    let within = path.map(|p| format!(" in `{p}`")).unwrap_or_default();
    Some(
        Diagnostic::new(
            Location::at(file, second.number, second.content_col + 1),
            format!("duplicate key `{key}`{within}: the first is at line {first}"),
        )
        .help("rename one of the two or remove one: the second would silently replace the first"),
    )
}

/// A diagnostic for a serde_yaml_ng error: location, cleaned message and a fix.
pub fn diagnostic_from(file: &Path, err: &serde_yaml_ng::Error) -> Diagnostic {
    let location = match err.location() {
        Some(at) => Location::at(file, at.line(), at.column()),
        None => Location::file(file),
    };
    let raw = err.to_string();
    let message = strip_position(&raw);
    let help = help_for(&message);
    Diagnostic::new(location, in_words(&message)).maybe_help(help)
}

/// serde's account of a wrong value (`invalid type: string "two", expected u32`, `expected
/// struct Budgets`) in words a person reads: what was expected, what was found.
pub fn in_words(message: &str) -> String {
    let (path, rest) = match message.split_once(": invalid ") {
        Some((path, rest)) if !path.contains(' ') => (format!("{path}: "), rest),
        _ => match message.strip_prefix("invalid ") {
            Some(rest) => (String::new(), rest),
            None => return message.to_string(),
        },
    };
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return message.to_string();
    };
    let found = found
        .trim_start_matches("type: ")
        .trim_start_matches("value: ");
    let found = match found {
        "sequence" => "a list".to_string(),
        "map" => "a mapping".to_string(),
        "unit value" => "nothing (null)".to_string(),
        other => {
            let words = [
                ("string ", "the text "),
                ("integer ", "the number "),
                ("floating point ", "the number "),
                ("boolean ", ""),
            ];
            words
                .iter()
                .find_map(|(from, to)| other.strip_prefix(from).map(|v| format!("{to}{v}")))
                .unwrap_or_else(|| other.to_string())
        }
    };
    format!(
        "{path}expected {}, found {found}",
        expected_in_words(expected)
    )
}

fn expected_in_words(expected: &str) -> String {
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "a mapping (`key: value`)",
        "a string" | "a borrowed string" => "text",
        "char" | "a character" => "one character",
        other if other.starts_with("struct ") => "a mapping of fields (`key: value` lines)",
        other if other.starts_with("a sequence of") => "a list",
        other => other,
    };
    words.to_string()
}

/// serde_yaml_ng appends " at line N column M"; the location already says it. Context such as
/// "while parsing a flow sequence at line 11 column 12" is kept.
fn strip_position(message: &str) -> String {
    let Some(start) = message.find(" at line ") else {
        return message.to_string();
    };
    let rest = &message[start + " at line ".len()..];
    let after_numbers = rest
        .split_once(" column ")
        .map(|(_, tail)| tail.trim_start_matches(|c: char| c.is_ascii_digit()))
        .unwrap_or("");
    format!("{}{after_numbers}", &message[..start])
}

fn help_for(message: &str) -> Option<String> {
    if message.contains("unknown field") || message.contains("unknown variant") {
        let quoted = backticked(message);
        let (unknown, expected) = quoted.split_first()?;
        return Some(
            match closest(unknown, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None if expected.is_empty() => "remove it: nothing is expected here".to_string(),
                None => format!("expected one of: {}", expected.join(", ")),
            },
        );
    }
    if message.contains("missing field") {
        let quoted = backticked(message);
        return quoted.first().map(|f| format!("add `{f}:` here"));
    }
    if message.contains("did not find expected") || message.contains("mapping values are not") {
        return Some("check the indentation and the `key: value` syntax on this line".to_string());
    }
    None
}

fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// A step in a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// The n-th item of a sequence.
    Index(usize),
}

/// An owned [`Seg`], for key paths kept in data (e.g. where an inline group sits in a test
/// file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegBuf {
    /// A mapping key.
    Key(String),
    /// The n-th item of a sequence.
    Index(usize),
}

impl SegBuf {
    /// The borrowed form.
    pub fn as_seg(&self) -> Seg<'_> {
        match self {
            SegBuf::Key(key) => Seg::Key(key),
            SegBuf::Index(i) => Seg::Index(*i),
        }
    }
}

struct Line<'a> {
    number: usize,
    /// Column (0-based) of the key or item content on this line.
    content_col: usize,
    /// Column of the `- ` marker if the line starts a sequence item.
    dash_col: Option<usize>,
    key: Option<&'a str>,
}

fn scan(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let indent = raw.len() - raw.trim_start().len();
            let mut rest = raw.trim_start();
            if rest.is_empty() || rest.starts_with('#') {
                return None;
            }
            let mut content_col = indent;
            let mut dash_col = None;
            if rest == "-" || rest.starts_with("- ") {
                dash_col = Some(indent);
                let after = rest[1..].trim_start();
                content_col = indent + (rest.len() - after.len());
                rest = after;
            }
            let key = mapping_key(rest);
            Some(Line {
                number: i + 1,
                content_col,
                dash_col,
                key,
            })
        })
        .collect()
}

/// The key of a `key: value` line: the text before the first `:` that ends the line or is
/// followed by a space (so `networks/eu/*:vpc: create` has the key `networks/eu/*:vpc`), with
/// quotes removed (`"*": no-op`).
fn mapping_key(rest: &str) -> Option<&str> {
    if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let inner = &rest[1..];
        let end = inner.find(quote)?;
        let followed = inner[end + 1..].trim_start().starts_with(':');
        return (followed && end > 0).then_some(&inner[..end]);
    }
    let colon = rest.match_indices(':').map(|(i, _)| i).find(|&i| {
        let after = &rest[i + 1..];
        after.is_empty() || after.starts_with(' ')
    })?;
    let candidate = rest[..colon].trim();
    let plain = !candidate.is_empty() && !candidate.contains(['{', '[', ' ']);
    plain.then_some(candidate)
}

/// True when `other` (a line after a node found at `level`) is no longer inside that node.
/// Sequence items written at a key's own column are still that key's children.
fn ends_node(seg: &Seg, level: usize, other: &Line) -> bool {
    match (seg, other.dash_col) {
        (Seg::Key(_), Some(dash)) => dash < level,
        (Seg::Index(_), Some(dash)) => dash <= level,
        (_, None) => other.content_col <= level,
    }
}

/// Best-effort line and column (1-based) of a key path in block-style YAML. Returns the deepest
/// part of the path that was found, or `None` if not even the first key was.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let lines = scan(text);
    let mut range = 0..lines.len();
    let mut parent_col: isize = -1;
    let mut found = None;
    for seg in path {
        let level = range
            .clone()
            .map(|i| &lines[i])
            .map(|l| match seg {
                Seg::Index(_) => l.dash_col.unwrap_or(l.content_col),
                Seg::Key(_) => l.content_col,
            })
            .find(|col| *col as isize > parent_col);
        let Some(level) = level else { break };
        let hit = match seg {
            Seg::Key(key) => range
                .clone()
                .find(|&i| lines[i].content_col == level && lines[i].key == Some(*key)),
            Seg::Index(n) => range
                .clone()
                .filter(|&i| lines[i].dash_col == Some(level))
                .nth(*n),
        };
        let Some(hit) = hit else { break };
        let line = &lines[hit];
        found = Some((line.number, line.content_col + 1));
        let end = (hit + 1..range.end)
            .find(|&i| ends_node(seg, level, &lines[i]))
            .unwrap_or(range.end);
        range = match seg {
            Seg::Key(_) => hit + 1..end,
            Seg::Index(_) => hit..end,
        };
        parent_col = level as isize;
    }
    found
}

/// A location for a key path in a file, falling back to the file alone.
pub fn location_of(file: &Path, text: &str, path: &[Seg]) -> Location {
    match locate(text, path) {
        Some((line, column)) => Location::at(file, line, column),
        None => Location::file(file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const DOC: &str = "\
name: eu
replicas:
  - name: a
    cloud: aws
  - name: b
    cloud: gcp
    zones: [x, y]
resources:
  vpc:
    type: test:Network
    properties:
      cidr: 10.0.0.0/16
  subnet:
    type: test:Subnet
";

    #[test]
    fn locates_keys_and_list_items() {
        assert_eq!(locate(DOC, &[Seg::Key("name")]), Some((1, 1)));
        assert_eq!(
            locate(DOC, &[Seg::Key("replicas"), Seg::Index(1)]),
            Some((5, 5))
        );
        assert_eq!(
            locate(
                DOC,
                &[Seg::Key("replicas"), Seg::Index(1), Seg::Key("cloud")]
            ),
            Some((6, 5))
        );
        assert_eq!(
            locate(
                DOC,
                &[
                    Seg::Key("resources"),
                    Seg::Key("vpc"),
                    Seg::Key("properties"),
                    Seg::Key("cidr")
                ]
            ),
            Some((12, 7))
        );
        assert_eq!(
            locate(
                DOC,
                &[Seg::Key("resources"), Seg::Key("subnet"), Seg::Key("type")]
            ),
            Some((14, 5))
        );
        // A missing tail falls back to the deepest part found.
        assert_eq!(
            locate(DOC, &[Seg::Key("resources"), Seg::Key("nope")]),
            Some((8, 1))
        );
        assert_eq!(locate(DOC, &[Seg::Key("nope")]), None);
    }

    #[test]
    fn keys_may_hold_colons_and_quotes() {
        let doc = "actions:\n  networks/eu/*:vpc: create\n  \"*\": no-op\n  url: http://x\n";
        assert_eq!(
            locate(doc, &[Seg::Key("actions"), Seg::Key("networks/eu/*:vpc")]),
            Some((2, 3))
        );
        assert_eq!(
            locate(doc, &[Seg::Key("actions"), Seg::Key("*")]),
            Some((3, 3))
        );
        assert_eq!(
            locate(doc, &[Seg::Key("actions"), Seg::Key("url")]),
            Some((4, 3))
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        region: String,
        zones: Vec<String>,
    }

    #[test]
    fn unknown_field_names_line_and_closest_name() {
        let err = parse::<Small>(Path::new("g.yaml"), "region: x\nzonse: [a]\n").unwrap_err();
        assert_eq!(err.location.line, Some(2));
        assert!(
            err.message.starts_with("unknown field `zonse`"),
            "{}",
            err.message
        );
        assert_eq!(err.help.as_deref(), Some("did you mean `zones`?"));
    }

    #[test]
    fn a_duplicate_key_names_both_lines() {
        let text = "resources:\n  database:\n    type: a\n  firewall:\n    type: b\n  database:\n    type: c\n";
        let err = parse::<serde_json::Value>(Path::new("t.yaml"), text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml:6:3: duplicate key `database` in `resources`: the first is at line 2\n  help: rename one of the two or remove one: the second would silently replace the first"
        );
        let nested = "a:\n  - x: 1\n    y: 2\n    x: 3\n";
        let err = parse::<serde_json::Value>(Path::new("t.yaml"), nested).unwrap_err();
        assert_eq!(err.location.line, Some(4));
        assert!(err.message.ends_with("the first is at line 2"), "{err}");
        let flow =
            parse::<serde_json::Value>(Path::new("t.yaml"), "a: {x: 1, x: 2}\n").unwrap_err();
        assert_eq!(flow.message, "duplicate key `x` in this mapping");
    }

    #[test]
    fn serde_types_are_put_in_words() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Budgets {
            max_deletes: u32,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Settings {
            budgets: Budgets,
        }
        let err = parse::<Settings>(Path::new("t.yaml"), "budgets: 3\n").unwrap_err();
        assert_eq!(
            err.message,
            "budgets: expected a mapping of fields (`key: value` lines), found the number `3`"
        );
        let err =
            parse::<Settings>(Path::new("t.yaml"), "budgets: {max_deletes: two}\n").unwrap_err();
        assert_eq!(
            err.message,
            "budgets.max_deletes: expected a whole number, 0 or more, found the text \"two\""
        );
        let err =
            parse::<Settings>(Path::new("t.yaml"), "budgets: {max_deletes: -1}\n").unwrap_err();
        assert!(!err.message.contains("u32"), "{}", err.message);
    }

    #[test]
    fn syntax_error_has_a_location() {
        let err = parse::<Small>(Path::new("g.yaml"), "region: x\nzones: [a\n\n").unwrap_err();
        assert!(err.location.line.is_some(), "{err}");
        assert!(
            err.message
                .contains("while parsing a flow sequence at line 2 column 8"),
            "{}",
            err.message
        );
    }
}
