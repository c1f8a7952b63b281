//! Which template line each rendered line came from, so that an error found in the rendered
//! YAML (a bad reference, a wrong type, a YAML syntax error) is reported at the template's
//! line, not the rendered text's. Tera keeps no source positions, so the template is rendered
//! a second time with a marker at the start of every line that begins in plain text; the last
//! of the markers a rendered line starts with names the template line that produced it (a
//! line produced by an expression alone belongs to the marked line before it). Markers never change where lines
//! break: lines whose first content is a whitespace-trimming tag (`{%-`, `{{-`, `{#-`) and
//! blank lines are left unmarked, as a marker there would stop the trimming.

/// Start of a marker (a private-use character no template contains).
const OPEN: char = '\u{F8F0}';
/// End of a marker.
const CLOSE: char = '\u{F8F1}';

/// The template text with markers; render it exactly like the template itself.
pub fn mark(source: &str) -> String {
    let mut out = String::with_capacity(source.len() * 2);
    let mut scanner = Scanner::default();
    for (index, line) in source.split_inclusive('\n').enumerate() {
        if scanner.in_text() && should_mark(line) {
            out.push(OPEN);
            out.push_str(&(index + 1).to_string());
            out.push(CLOSE);
        }
        scanner.feed(line);
        out.push_str(line);
    }
    out
}

/// Template line (1-based) of each line of the normal rendering, from the marked rendering;
/// `None` when the two do not have the same lines (then nothing is mapped).
pub fn map(rendered: &str, marked: &str) -> Option<Vec<Option<usize>>> {
    if rendered.lines().count() != marked.lines().count() {
        return None;
    }
    let mut last = None;
    let lines = marked
        .lines()
        .map(|line| {
            if let Some(number) = leading_marker(line) {
                last = Some(number);
            }
            last
        })
        .collect();
    Some(lines)
}

/// The last marker of those (and whitespace) a line starts with: a line that starts with a
/// tag producing nothing carries that tag's marker before the one of the text that follows.
fn leading_marker(line: &str) -> Option<usize> {
    let mut found = None;
    let mut rest = line.trim_start();
    while let Some(after) = rest.strip_prefix(OPEN) {
        let end = after.find(CLOSE)?;
        found = after[..end].parse().ok().or(found);
        rest = after[end + CLOSE.len_utf8()..].trim_start();
    }
    found
}

fn should_mark(line: &str) -> bool {
    let content = line.trim_start();
    !content.trim().is_empty()
        && !["{%-", "{{-", "{#-"]
            .iter()
            .any(|trim| content.starts_with(trim))
}

/// Where a scan of tera source stands: in plain text, inside a tag, or inside `{% raw %}`.
#[derive(Default)]
struct Scanner {
    /// The closing delimiter of the tag being read (`}}`, `%}`, `#}`).
    tag: Option<&'static str>,
    /// The quote of a string literal being read inside a tag.
    quote: Option<char>,
    /// Inside `{% raw %}`…`{% endraw %}`: text, whatever it contains.
    raw: bool,
    /// The text of the `{% … %}` tag being read, to see `raw` and `endraw`.
    statement: String,
}

impl Scanner {
    fn in_text(&self) -> bool {
        self.tag.is_none()
    }

    fn feed(&mut self, text: &str) {
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let rest = &text[i..];
            match self.tag {
                None => {
                    let opening = [("{{", "}}"), ("{%", "%}"), ("{#", "#}")]
                        .into_iter()
                        .find(|(open, _)| rest.starts_with(open));
                    if let Some((_, close)) = opening {
                        if !self.raw || close == "%}" {
                            self.tag = Some(close);
                            self.statement.clear();
                            chars.next();
                        }
                    }
                }
                Some(close) => {
                    if let Some(q) = self.quote {
                        if c == q {
                            self.quote = None;
                        }
                    } else if close != "#}" && matches!(c, '"' | '\'' | '`') {
                        self.quote = Some(c);
                    } else if rest.starts_with(close) {
                        chars.next();
                        self.tag = None;
                        self.end_statement(close);
                    } else if close == "%}" {
                        self.statement.push(c);
                    }
                }
            }
        }
    }

    /// After a `{% … %}` tag: enter or leave `raw`. Inside `raw`, any other tag was text.
    fn end_statement(&mut self, close: &str) {
        if close != "%}" {
            return;
        }
        let word = self.statement.trim().trim_matches('-').trim();
        match word {
            "raw" => self.raw = true,
            "endraw" => self.raw = false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> String {
        let mut tera = tera::Tera::default();
        tera.add_raw_template("t", template).unwrap();
        let mut context = tera::Context::new();
        context.insert("zones", &["a", "b"]);
        context.insert("x", &true);
        tera.render("t", &context).unwrap()
    }

    fn lines_of(template: &str) -> Vec<Option<usize>> {
        let rendered = render(template);
        let marked = render(&mark(template));
        map(&rendered, &marked).expect("same lines")
    }

    #[test]
    fn rendered_lines_map_to_their_template_lines() {
        let template = "\
{#- a comment
    over two lines -#}
resources:
{% for zone in zones %}
  subnet-{{ zone }}:
    zone: {{ zone }}
{% endfor %}
{%- if x %}
  vpc:
    id: ${vcp.id}
{%- endif %}
outputs: {}
";
        let rendered = render(template);
        let lines = lines_of(template);
        let find = |text: &str| {
            let at = rendered.lines().position(|l| l.contains(text)).unwrap();
            lines[at]
        };
        assert_eq!(find("resources:"), Some(3));
        assert_eq!(find("subnet-b:"), Some(5), "a loop's lines map to its body");
        assert_eq!(find("zone: b"), Some(6));
        assert_eq!(find("vpc:"), Some(9));
        assert_eq!(find("${vcp.id}"), Some(10));
        assert_eq!(find("outputs:"), Some(12));
    }

    #[test]
    fn trimming_tags_and_raw_blocks_keep_the_lines_the_same() {
        let template =
            "a: 1\n{% if x -%}\n\n   b: 2\n{%- endif %}\n{% raw %}c: {{ d }}\n{% endraw %}e: 3\n";
        let lines = lines_of(template);
        let rendered = render(template);
        let at = |text: &str| lines[rendered.lines().position(|l| l.contains(text)).unwrap()];
        assert_eq!(at("a: 1"), Some(1));
        assert_eq!(
            at("b: 2"),
            Some(4),
            "not the `if` line whose newline was trimmed"
        );
        assert_eq!(at("c: {{ d }}"), Some(6));
        assert_eq!(at("e: 3"), Some(7));
    }
}
