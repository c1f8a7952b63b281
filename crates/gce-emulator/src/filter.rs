//! The `filter` parameter of list methods: Compute's expression syntax
//! (`name = "x"`, `labels.env = prod`, `status != RUNNING`, `labels.owner:*`, `NOT`/`-`,
//! `AND`, `OR`, implicit AND between terms, parentheses) and the older `field eq regex` /
//! `field ne regex` form, evaluated against a resource's JSON.

use crate::errors::{ApiError, ApiResult};
use serde_json::Value;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: Op,
        value: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Has,
    Lt,
    Le,
    Gt,
    Ge,
    RegexEq,
    RegexNe,
}

/// Parses a filter; an empty or blank filter is `None` (matches everything).
pub fn parse(input: &str) -> ApiResult<Option<Expr>> {
    let mut p = Parser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Ok(None);
    }
    let e = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error());
    }
    Ok(Some(e))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn error(&self) -> ApiError {
        let text = String::from_utf8_lossy(self.s);
        ApiError::invalid(format!(
            "Invalid value for field 'filter': '{text}'. Invalid list filter expression."
        ))
    }

    /// Consumes `kw` if it is the next whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let end = self.i + kw.len();
        let matches = self.s.get(self.i..end) == Some(kw.as_bytes())
            && self
                .s
                .get(end)
                .is_none_or(|c| c.is_ascii_whitespace() || *c == b'(');
        if matches {
            self.i = end;
        }
        matches
    }

    fn or(&mut self) -> ApiResult<Expr> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> ApiResult<Expr> {
        let mut left = self.unary()?;
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(b')') {
                return Ok(left);
            }
            let save = self.i;
            if self.keyword("OR") {
                self.i = save;
                return Ok(left);
            }
            self.keyword("AND");
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> ApiResult<Expr> {
        self.skip_ws();
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(b'-') {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(b'(') {
            self.i += 1;
            let e = self.or()?;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err(self.error());
            }
            self.i += 1;
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> ApiResult<Expr> {
        let field = self.word(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if field.is_empty() {
            return Err(self.error());
        }
        let op = self.op()?;
        self.skip_ws();
        let value = self.value()?;
        Ok(Expr::Cmp { field, op, value })
    }

    fn word(&mut self, ok: impl Fn(u8) -> bool) -> String {
        self.skip_ws();
        let start = self.i;
        while self.peek().is_some_and(&ok) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn op(&mut self) -> ApiResult<Op> {
        self.skip_ws();
        for (tok, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            (":", Op::Has),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.s[self.i..].starts_with(tok.as_bytes()) {
                self.i += tok.len();
                return Ok(op);
            }
        }
        if self.keyword("eq") {
            return Ok(Op::RegexEq);
        }
        if self.keyword("ne") {
            return Ok(Op::RegexNe);
        }
        Err(self.error())
    }

    fn value(&mut self) -> ApiResult<String> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != q) {
                    self.i += 1;
                }
                if self.at_end() {
                    return Err(self.error());
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(v)
            }
            Some(_) => {
                let v = self.word(|c| !c.is_ascii_whitespace() && c != b')');
                if v.is_empty() {
                    Err(self.error())
                } else {
                    Ok(v)
                }
            }
            None => Err(self.error()),
        }
    }
}

/// Every scalar found at a dotted path, descending into arrays.
fn leaves<'a>(value: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|v| leaves(v, path, out)),
        (_, None) => out.push(value),
        (Value::Object(map), Some((head, rest))) => {
            if let Some(v) = map.get(*head) {
                leaves(v, rest, out);
            }
        }
        _ => {}
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ordered(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn compare(op: Op, actual: &str, want: &str) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq | Op::Ne => glob(want, actual),
        Op::Has => want == "*" || actual.contains(want),
        Op::Lt => ordered(actual, want) == Less,
        Op::Le => ordered(actual, want) != Greater,
        Op::Gt => ordered(actual, want) == Greater,
        Op::Ge => ordered(actual, want) != Less,
        Op::RegexEq | Op::RegexNe => regex_full_match(want, actual),
    }
}

/// Evaluates an expression against a resource.
pub fn matches(expr: &Expr, resource: &Value) -> bool {
    match expr {
        Expr::And(a, b) => matches(a, resource) && matches(b, resource),
        Expr::Or(a, b) => matches(a, resource) || matches(b, resource),
        Expr::Not(e) => !matches(e, resource),
        Expr::Cmp { field, op, value } => {
            let path: Vec<&str> = field.split('.').collect();
            let mut found = Vec::new();
            leaves(resource, &path, &mut found);
            let texts: Vec<String> = found.into_iter().filter_map(scalar_text).collect();
            let any = texts.iter().any(|t| compare(*op, t, value));
            match op {
                Op::Ne | Op::RegexNe => !any,
                _ => any,
            }
        }
    }
}

/// `*` wildcards in an `=` value.
fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let escaped: String = pattern
        .chars()
        .map(|c| match c {
            '*' => ".*".to_string(),
            c if "\\.+?[]()|^$".contains(c) => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect();
    regex_full_match(&escaped, text)
}

/// One element of the small regular-expression subset used by `eq`/`ne`.
#[derive(Debug, Clone)]
enum Atom {
    Any,
    Char(char),
    Class(Vec<(char, char)>, bool),
}

impl Atom {
    fn accepts(&self, c: char) -> bool {
        match self {
            Atom::Any => true,
            Atom::Char(x) => *x == c,
            Atom::Class(ranges, negated) => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
        }
    }
}

/// A compiled piece: an atom with its repetition bounds (min, max).
type Piece = (Atom, usize, usize);

fn compile(pattern: &str) -> Vec<Piece> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let atom = match chars[i] {
            '.' => Atom::Any,
            '\\' if i + 1 < chars.len() => {
                i += 1;
                Atom::Char(chars[i])
            }
            '[' => {
                let (class, next) = compile_class(&chars, i + 1);
                i = next;
                class
            }
            '^' if i == 0 => {
                i += 1;
                continue;
            }
            '$' if i + 1 == chars.len() => break,
            c => Atom::Char(c),
        };
        i += 1;
        let (min, max) = match chars.get(i) {
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('?') => (0, 1),
            _ => (1, 1),
        };
        if (min, max) != (1, 1) {
            i += 1;
        }
        out.push((atom, min, max));
    }
    out
}

/// Parses `[...]` starting after the `[`; returns the class and the index of the `]`.
fn compile_class(chars: &[char], mut i: usize) -> (Atom, usize) {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    while i < chars.len() && chars[i] != ']' {
        let lo = chars[i];
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|c| *c != ']') {
            ranges.push((lo, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((lo, lo));
            i += 1;
        }
    }
    (Atom::Class(ranges, negated), i)
}

fn match_here(pieces: &[Piece], text: &[char]) -> bool {
    let Some(((atom, min, max), rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    let mut n = 0;
    while n < *min {
        if !text.get(n).is_some_and(|c| atom.accepts(*c)) {
            return false;
        }
        n += 1;
    }
    loop {
        if match_here(rest, &text[n..]) {
            return true;
        }
        if n >= *max || !text.get(n).is_some_and(|c| atom.accepts(*c)) {
            return false;
        }
        n += 1;
    }
}

/// Full match of RE2-style `pattern` (literals, `.`, classes, `* + ?`, top-level `|`).
pub fn regex_full_match(pattern: &str, text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    split_alternatives(pattern)
        .iter()
        .any(|alt| match_here(&compile(alt), &chars))
}

fn split_alternatives(pattern: &str) -> Vec<String> {
    let mut alts = vec![String::new()];
    let mut escaped = false;
    for c in pattern.chars() {
        if c == '|' && !escaped {
            alts.push(String::new());
        } else if let Some(last) = alts.last_mut() {
            last.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    alts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: &str, v: &Value) -> bool {
        parse(filter).unwrap().is_none_or(|e| matches(&e, v))
    }

    #[test]
    fn evaluates_common_forms() {
        let v = json!({"name": "web-1", "status": "RUNNING", "labels": {"env": "prod"},
                       "tags": {"items": ["a", "b"]}, "canIpForward": false});
        assert!(check("", &v));
        assert!(check("name = web-1", &v));
        assert!(check("name=\"web-1\"", &v));
        assert!(check("labels.env=prod", &v));
        assert!(check("labels.env = \"prod\" AND name = web-1", &v));
        assert!(check("labels.env = prod name = web-1", &v));
        assert!(!check("labels.env = dev", &v));
        assert!(check("(labels.env = dev) OR (name = web-1)", &v));
        assert!(check("labels.env:*", &v));
        assert!(!check("labels.owner:*", &v));
        assert!(check("-labels.owner:*", &v));
        assert!(check("NOT labels.owner:*", &v));
        assert!(check("name != web-2", &v));
        assert!(check("tags.items = b", &v));
        assert!(check("canIpForward = false", &v));
        assert!(check("name eq web-.*", &v));
        assert!(check("name eq 'web-[0-9]+'", &v));
        assert!(!check("name eq web", &v));
        assert!(check("name ne web", &v));
        assert!(check("name eq 'db|web-1'", &v));
        assert!(check("name = web-*", &v));
        assert!(parse("name =").is_err());
        assert!(parse("(name = a").is_err());
    }
}
