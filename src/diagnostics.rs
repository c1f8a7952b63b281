//! Diagnostics: errors about the user's input that name a file, a line and a column, say what
//! is wrong and what would fix it. Every validation step reports through [`Diagnostic`].

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where in the workspace a problem is. Line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, relative to the workspace root where possible.
    pub file: PathBuf,
    /// Line, 1-based.
    pub line: Option<usize>,
    /// Column, 1-based.
    pub column: Option<usize>,
    /// Extra context, e.g. "rendered for stack networks/eu/aws-eu-west-1".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The text of the line, when the file is generated (a rendered template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

impl Location {
    /// A whole file.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
            context: None,
            snippet: None,
        }
    }

    /// A line and column (1-based) in a file.
    pub fn at(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
            context: None,
            snippet: None,
        }
    }

    /// Adds context, e.g. the stack a template was rendered for.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(context) = &self.context {
            write!(f, " ({context})")?;
        }
        Ok(())
    }
}

/// One problem with the user's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Box<Location>,
    /// What is wrong.
    pub message: String,
    /// What would fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at a location.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            location: Box::new(location),
            message: message.into(),
            help: None,
        }
    }

    /// Adds what would fix it.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds what would fix it, if known.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if let Some(snippet) = &self.location.snippet {
            write!(f, "\n   | {}", snippet.trim_end())?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A non-empty list of diagnostics, reported together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Merges diagnostics of one mistake: a template line rendered for many stacks (or many times
/// in a loop) is one error, reported once with the number of other stacks that share it.
/// Two diagnostics are the same mistake when they are at the same file, line and column and
/// their messages differ only by the stack's name and the values rendered into them (quoted
/// names, numbers, addresses).
pub fn merge_per_template(
    diagnostics: Vec<Diagnostic>,
    stack_of: impl Fn(&Diagnostic) -> Option<String>,
) -> Vec<Diagnostic> {
    let mut merged: Vec<(Diagnostic, String, Vec<String>)> = Vec::new();
    for diagnostic in diagnostics {
        let stack = stack_of(&diagnostic);
        let message = match &stack {
            Some(stack) => diagnostic.message.replace(stack, "\u{0}"),
            None => diagnostic.message.clone(),
        };
        let key = format!(
            "{}|{:?}|{:?}|{}",
            diagnostic.location.file.display(),
            diagnostic.location.line,
            diagnostic.location.column,
            shape_of(&message)
        );
        match merged.iter_mut().find(|(_, k, _)| *k == key) {
            Some((_, _, stacks)) => stacks.extend(stack),
            None => merged.push((diagnostic, key, stack.into_iter().collect())),
        }
    }
    merged
        .into_iter()
        .map(|(mut diagnostic, _, stacks)| {
            let first = stacks.first();
            let more = stacks
                .iter()
                .filter(|s| Some(*s) != first)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            if more > 0 {
                let context = diagnostic.location.context.take().unwrap_or_default();
                diagnostic.location.context = Some(format!("{context}, and {more} more stack(s)"));
            }
            diagnostic
        })
        .collect()
}

/// [`merge_per_template`] for diagnostics whose context names the stack a template was
/// rendered for ("rendered for stack networks/eu/a …").
pub fn merge_rendered(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    merge_per_template(diagnostics, |d| {
        let context = d.location.context.as_deref()?;
        let stack = context.strip_prefix("rendered for stack ")?;
        Some(stack.split([' ', ',']).next().unwrap_or(stack).to_string())
    })
}

/// A message with what varies between renderings masked: `quoted` text and runs of digits,
/// dots, slashes and colons (numbers, addresses, ranges).
fn shape_of(message: &str) -> String {
    let mut shape = String::with_capacity(message.len());
    let mut quoted = false;
    let mut in_value = false;
    for c in message.chars() {
        if c == '`' {
            quoted = !quoted;
            shape.push(c);
            continue;
        }
        if quoted {
            continue;
        }
        let value = c.is_ascii_digit() || (in_value && matches!(c, '.' | '/' | ':'));
        if value && !in_value {
            shape.push('#');
        }
        in_value = value;
        if !value {
            shape.push(c);
        }
    }
    shape
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let max_edits = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| {
            let edits = strsim::damerau_levenshtein(name, candidate);
            (edits, strsim::jaro_winkler(name, candidate), candidate)
        })
        .filter(|(edits, score, _)| *score >= 0.8 || *edits <= max_edits)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, candidate)| candidate)
}

/// "did you mean `x`?" when a close candidate exists, else the list of valid names.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match closest(name, candidates.clone()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => {
            let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            if all.is_empty() {
                "there are no valid names here".to_string()
            } else {
                format!("valid names: {}", all.join(", "))
            }
        }
    }
}

/// A path relative to `root` when possible, for shorter messages.
pub fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_ignores_strangers() {
        let names = ["cidr_block", "enable_dns", "tags"];
        assert_eq!(closest("cidr_blok", names), Some("cidr_block"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(
            closest("ue", ["eu", "global"]),
            Some("eu"),
            "a transposition in a short name"
        );
        assert_eq!(suggest("tag", names), "did you mean `tags`?");
        assert!(suggest("qqq", names).contains("`enable_dns`"));
    }

    #[test]
    fn display_names_file_line_and_help() {
        let d = Diagnostic::new(
            Location::at("groups/eu.yaml", 3, 5),
            "unknown field `regoin`",
        )
        .help("did you mean `region`?");
        assert_eq!(
            d.to_string(),
            "groups/eu.yaml:3:5: unknown field `regoin`\n  help: did you mean `region`?"
        );
    }
}
