//! Tera's errors as diagnostics a person can act on. A syntax error keeps tera's own account
//! (the line, the caret, what was expected) as message, location and snippet instead of one
//! squashed line. A rendering error is blamed on the template where it happened — an imported
//! file, not the importing one — at the line of the name it is about, with the innermost
//! cause as message ("unknown variable `replica.regoin`") and the closest valid name.

use crate::diagnostics::{suggest, Diagnostic, Location};
use serde_json::Value as Json;

/// Template file → its text, to locate names in it.
pub type Sources<'a> = &'a dyn Fn(&str) -> Option<&'a str>;

/// A template that does not compile.
pub fn syntax(template: &str, err: &tera::Error) -> Diagnostic {
    let chain = chain(err);
    // Tera's parser writes "  --> L:C", the line with a caret, then "  = expected …".
    let report = chain.iter().find(|m| m.contains("-->")).cloned();
    let Some(report) = report else {
        let message = chain.last().cloned().unwrap_or_default();
        return Diagnostic::new(
            Location::file(template),
            format!("template syntax: {message}"),
        )
        .help("fix the tera syntax here");
    };
    let position = report.split("-->").nth(1).and_then(|rest| {
        let mut numbers = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty());
        Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
    });
    let expected = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .unwrap_or("unexpected text")
        .to_string();
    let mut location = match position {
        Some((line, column)) => Location::at(template, line, column),
        None => Location::file(template),
    };
    location.snippet = report
        .lines()
        .find_map(|l| {
            let (number, text) = l.split_once(" | ")?;
            number
                .trim()
                .parse::<usize>()
                .ok()
                .map(|_| text.to_string())
        })
        .map(|text| text.trim().to_string());
    Diagnostic::new(location, format!("template syntax: {expected}"))
        .help("fix the tera syntax at this place (see https://keats.github.io/tera/docs/)")
}

/// A template that fails to render for `stack`: blamed on the innermost template named, at
/// the name the innermost cause is about.
pub fn rendering(
    template: &str,
    stack: &str,
    err: &tera::Error,
    sources: Sources,
    context: &Json,
) -> Diagnostic {
    let chain = chain(err);
    let cause = chain.last().cloned().unwrap_or_default();
    let inner = chain
        .iter()
        .rev()
        .find_map(|m| quoted_after(m, "while rendering '"))
        .or_else(|| {
            chain
                .iter()
                .rev()
                .find_map(|m| quoted_after(m, "in template '"))
        })
        .unwrap_or_else(|| template.to_string());
    let subject = between(&cause, '`');
    let variable = cause
        .starts_with("Variable `")
        .then(|| subject.clone())
        .flatten();
    let message = match &variable {
        Some(name) => format!("unknown variable `{name}`"),
        None => cause
            .split(" while rendering '")
            .next()
            .unwrap_or(&cause)
            .to_string(),
    };
    let mut location = subject
        .as_deref()
        .and_then(|name| find_name(sources(&inner)?, name))
        .map(|(line, column, text)| {
            let mut location = Location::at(&inner, line, column);
            location.snippet = Some(text.trim().to_string());
            location
        })
        .unwrap_or_else(|| Location::file(&inner));
    let through = if inner == template {
        String::new()
    } else {
        format!(" through {template}")
    };
    location.context = Some(format!("rendered for stack {stack}{through}"));
    let help = match &variable {
        Some(name) => format!(
            "{} (templates see: workspace, stack, group, replica, replicas, cloud, region, zones, config)",
            closest_variable(name, context)
        ),
        None => "fix the template at this place".to_string(),
    };
    Diagnostic::new(location, message).help(help)
}

/// The error and its causes, outermost first.
fn chain(err: &tera::Error) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        messages.push(inner.to_string());
        source = inner.source();
    }
    messages
}

/// The text between the first pair of `mark`s.
fn between(text: &str, mark: char) -> Option<String> {
    let mut parts = text.split(mark);
    parts.next()?;
    let inside = parts.next()?;
    parts.next().map(|_| inside.to_string())
}

/// The quoted name after `prefix` (`while rendering 'templates/x.tera'`).
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let end = start + text[start..].find('\'')?;
    Some(text[start..end].to_string())
}

/// Line, column (1-based) and text of the first line where `name` appears inside a tag.
fn find_name(source: &str, name: &str) -> Option<(usize, usize, String)> {
    for (index, line) in source.lines().enumerate() {
        let mut from = 0;
        while let Some(found) = line[from..].find(name) {
            let at = from + found;
            let before = line[..at].chars().next_back();
            let after = line[at + name.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            let inside_tag = line[..at].contains("{{") || line[..at].contains("{%");
            if !word(before) && before != Some('.') && !word(after) && inside_tag {
                return Some((index + 1, at + 1, line.to_string()));
            }
            from = at + name.len();
        }
    }
    None
}

/// "did you mean `replica.region`?" from the names the stack's context has at that path.
fn closest_variable(name: &str, context: &Json) -> String {
    let segments: Vec<&str> = name.split('.').collect();
    let mut at = context;
    for (i, segment) in segments.iter().enumerate() {
        let Some(map) = at.as_object() else {
            return format!("`{}` is not a map", segments[..i].join("."));
        };
        match map.get(*segment) {
            Some(next) => at = next,
            None => {
                let prefix = segments[..i].join(".");
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                let hint = suggest(segment, keys);
                return match hint.strip_prefix("did you mean `") {
                    Some(rest) if !prefix.is_empty() => format!("did you mean `{prefix}.{rest}"),
                    _ => hint,
                };
            }
        }
    }
    "check the name".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_syntax_error_keeps_its_line_caret_and_expectation() {
        let mut tera = tera::Tera::default();
        let err = tera
            .add_raw_template("t.tera", "a: 1\nb: {{ zone \nc: 2\n")
            .unwrap_err();
        let d = syntax("t.tera", &err);
        assert_eq!(
            (d.location.line, d.location.column),
            (Some(3), Some(1)),
            "where tera saw it: {d}"
        );
        assert_eq!(d.location.snippet.as_deref(), Some("c: 2"));
        assert!(
            d.message
                .starts_with("template syntax: expected `or`, `and`, `not`, `<=`"),
            "{d}"
        );
        assert!(
            !d.message.contains("-->") && !d.message.contains('\n'),
            "{d}"
        );
    }

    #[test]
    fn an_unknown_variable_in_an_imported_file_is_blamed_on_that_file() {
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(vec![
            (
                "shared.tera",
                "{% macro m(replica) -%}\nregion={{ replica.regoin }}\n{%- endmacro m %}",
            ),
            (
                "main.tera",
                "{% import \"shared.tera\" as s %}\nx: {{ s::m(replica=replica) }}\n",
            ),
        ])
        .unwrap();
        let context = json!({"replica": {"name": "a", "region": "eu-1"}});
        let err = tera
            .render(
                "main.tera",
                &tera::Context::from_value(context.clone()).unwrap(),
            )
            .unwrap_err();
        let sources = |name: &str| match name {
            "shared.tera" => Some("{% macro m(replica) -%}\nregion={{ replica.regoin }}\n"),
            _ => None,
        };
        let d = rendering("main.tera", "s/1", &err, &sources, &context);
        assert_eq!(
            d.to_string(),
            "shared.tera:2:11 (rendered for stack s/1 through main.tera): unknown variable `replica.regoin`\n   | region={{ replica.regoin }}\n  help: did you mean `replica.region`? (templates see: workspace, stack, group, replica, replicas, cloud, region, zones, config)"
        );
    }
}
