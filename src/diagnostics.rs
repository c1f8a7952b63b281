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

/// Merges diagnostics that differ only by the stack they were found in (one template error
/// rendered for many stacks is one error), noting how many stacks share it.
pub fn merge_per_template(
    diagnostics: Vec<Diagnostic>,
    stack_of: impl Fn(&Diagnostic) -> Option<String>,
) -> Vec<Diagnostic> {
    let mut merged: Vec<(Diagnostic, String, usize)> = Vec::new();
    for diagnostic in diagnostics {
        let key = match stack_of(&diagnostic) {
            Some(stack) => format!(
                "{}|{}",
                diagnostic.location.file.display(),
                diagnostic.message.replace(&stack, "\u{0}")
            ),
            None => format!(
                "{}|{}|{:?}",
                diagnostic.location.file.display(),
                diagnostic.message,
                diagnostic.location.line
            ),
        };
        match merged.iter_mut().find(|(_, k, _)| *k == key) {
            Some((_, _, more)) => *more += 1,
            None => merged.push((diagnostic, key, 0)),
        }
    }
    merged
        .into_iter()
        .map(|(mut diagnostic, _, more)| {
            if more > 0 {
                let context = diagnostic.location.context.take().unwrap_or_default();
                diagnostic.location.context = Some(format!("{context}, and {more} more stack(s)"));
            }
            diagnostic
        })
        .collect()
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
