//! The filter language of `search --filter`, `eval --filter` and `ragops serve`:
//!
//! ```text
//! lang = "en" AND tenant = "acme" AND modified >= 2026-01-01
//! format IN ("pdf", "html") AND NOT path = "drafts/old.md"
//! (lang = "de" OR lang = "fr") AND keywords = "billing"
//! ```
//!
//! - fields: `lang`, `tenant`, `format`, `path` (source path), `doc` (document id), `title`,
//!   `modified` (source mtime), `created` (a declared date), `keywords` and `acl` (true when
//!   any element matches), and `meta.<name>` (declared metadata);
//! - comparisons: `=`, `!=`, `<`, `<=`, `>`, `>=`, `IN (v, ...)`; values are double-quoted
//!   strings, dates (`2026-01-01`, `2026-01-01T12:00:00Z`) or integers;
//! - `AND`, `OR`, `NOT` (case-insensitive) and parentheses; `AND` binds tighter than `OR`.
//!
//! A field a chunk does not have (no language detected, no tenant) matches no comparison but
//! `!=`. The parser is bounded: at most [`MAX_TERMS`] comparisons and [`MAX_DEPTH`] nested
//! parentheses, so a hostile filter cannot exhaust the stack or the CPU.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most comparisons in one filter.
pub const MAX_TERMS: usize = 64;
/// Deepest nesting of parentheses and `NOT`.
pub const MAX_DEPTH: usize = 16;
/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 4096;

/// A field a filter can test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    Lang,
    Tenant,
    Format,
    Path,
    Doc,
    Title,
    Modified,
    Created,
    Keywords,
    Acl,
    /// `meta.<name>`: a declared metadata field.
    Meta(String),
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "lang" | "language" => Field::Lang,
            "tenant" => Field::Tenant,
            "format" => Field::Format,
            "path" | "source_path" => Field::Path,
            "doc" | "doc_id" => Field::Doc,
            "title" => Field::Title,
            "modified" | "mtime" => Field::Modified,
            "created" | "date" => Field::Created,
            "keywords" | "keyword" => Field::Keywords,
            "acl" => Field::Acl,
            _ => {
                let key = name.strip_prefix("meta.")?;
                if key.is_empty() {
                    return None;
                }
                Field::Meta(key.to_string())
            }
        })
    }

    /// Whether values of the field are times (compared as Unix seconds).
    pub fn is_time(&self) -> bool {
        matches!(self, Field::Modified | Field::Created)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Lang => f.write_str("lang"),
            Field::Tenant => f.write_str("tenant"),
            Field::Format => f.write_str("format"),
            Field::Path => f.write_str("path"),
            Field::Doc => f.write_str("doc"),
            Field::Title => f.write_str("title"),
            Field::Modified => f.write_str("modified"),
            Field::Created => f.write_str("created"),
            Field::Keywords => f.write_str("keywords"),
            Field::Acl => f.write_str("acl"),
            Field::Meta(k) => write!(f, "meta.{k}"),
        }
    }
}

/// A literal of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Text(String),
    /// An integer, or a date or time as Unix seconds (UTC).
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Filter {
    Cmp { field: Field, op: Op, value: Value },
    In { field: Field, values: Vec<Value> },
    Not(Box<Filter>),
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// Why a filter did not parse: what, and where (byte offset into the filter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: {message} at position {at}")]
pub struct FilterError {
    pub message: String,
    pub at: usize,
}

impl Filter {
    /// Parses a filter expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_LEN {
            return Err(FilterError {
                message: format!("longer than {MAX_LEN} bytes"),
                at: MAX_LEN,
            });
        }
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            terms: 0,
            end: text.len(),
        };
        let f = p.or(0)?;
        if let Some((t, at)) = p.tokens.get(p.pos) {
            return Err(FilterError {
                message: format!("unexpected {t}"),
                at: *at,
            });
        }
        Ok(f)
    }

    /// `self AND other`.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut v) => {
                v.push(other);
                Filter::And(v)
            }
            f => Filter::And(vec![f, other]),
        }
    }

    /// Every field the filter reads.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        self.walk(&mut |f| {
            if !out.contains(f) {
                out.push(f.clone());
            }
        });
        out
    }

    fn walk(&self, visit: &mut dyn FnMut(&Field)) {
        match self {
            Filter::Cmp { field, .. } | Filter::In { field, .. } => visit(field),
            Filter::Not(f) => f.walk(visit),
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|f| f.walk(visit)),
        }
    }

    /// Evaluates the filter against a chunk's fields, given as a lookup: `get(field)` returns
    /// the field's values (none when the chunk lacks it; several for `keywords` and `acl`).
    pub fn matches<'v>(&self, get: &dyn Fn(&Field) -> Vec<FieldValue<'v>>) -> bool {
        match self {
            Filter::Cmp { field, op, value } => {
                let have = get(field);
                if *op == Op::Ne {
                    return !have
                        .iter()
                        .any(|h| h.compare(value) == Some(std::cmp::Ordering::Equal));
                }
                have.iter().any(|h| match h.compare(value) {
                    Some(o) => match op {
                        Op::Eq => o.is_eq(),
                        Op::Lt => o.is_lt(),
                        Op::Le => o.is_le(),
                        Op::Gt => o.is_gt(),
                        Op::Ge => o.is_ge(),
                        Op::Ne => o.is_ne(),
                    },
                    None => false,
                })
            }
            Filter::In { field, values } => {
                let have = get(field);
                have.iter().any(|h| {
                    values
                        .iter()
                        .any(|v| h.compare(v) == Some(std::cmp::Ordering::Equal))
                })
            }
            Filter::Not(f) => !f.matches(get),
            Filter::And(v) => v.iter().all(|f| f.matches(get)),
            Filter::Or(v) => v.iter().any(|f| f.matches(get)),
        }
    }

    /// The tenants an `AND` chain pins: `Some(set)` when every match must have a tenant in the
    /// set (a top-level `tenant = "x"` or `tenant IN (...)` conjunct), `None` otherwise.
    pub fn pinned_tenants(&self) -> Option<Vec<String>> {
        let text = |v: &Value| match v {
            Value::Text(t) => Some(t.clone()),
            Value::Int(_) => None,
        };
        match self {
            Filter::Cmp {
                field: Field::Tenant,
                op: Op::Eq,
                value,
            } => text(value).map(|t| vec![t]),
            Filter::In {
                field: Field::Tenant,
                values,
            } => values.iter().map(text).collect(),
            Filter::And(v) => v.iter().find_map(Filter::pinned_tenants),
            _ => None,
        }
    }
}

/// A chunk's value of a field, as the evaluator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Int(i64),
}

impl FieldValue<'_> {
    fn compare(&self, v: &Value) -> Option<std::cmp::Ordering> {
        match (self, v) {
            (FieldValue::Text(a), Value::Text(b)) => Some((*a).cmp(b.as_str())),
            (FieldValue::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            // a number written as text in metadata compares as a number
            (FieldValue::Text(a), Value::Int(b)) => a.parse::<i64>().ok().map(|a| a.cmp(b)),
            (FieldValue::Int(a), Value::Text(b)) => b.parse::<i64>().ok().map(|b| a.cmp(&b)),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |v: &Value| match v {
            Value::Text(t) => format!("{t:?}"),
            Value::Int(i) => i.to_string(),
        };
        match self {
            Filter::Cmp { field, op, value } => {
                let op = match op {
                    Op::Eq => "=",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                };
                write!(f, "{field} {op} {}", v(value))
            }
            Filter::In { field, values } => {
                let vs: Vec<String> = values.iter().map(v).collect();
                write!(f, "{field} IN ({})", vs.join(", "))
            }
            Filter::Not(x) => write!(f, "NOT ({x})"),
            Filter::And(xs) | Filter::Or(xs) => {
                let sep = if matches!(self, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = xs.iter().map(|x| format!("({x})")).collect();
                f.write_str(&parts.join(sep))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Date(i64),
    Op(Op),
    In,
    And,
    Or,
    Not,
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::Int(i) | Tok::Date(i) => write!(f, "{i}"),
            Tok::Op(_) => f.write_str("an operator"),
            Tok::In => f.write_str("IN"),
            Tok::And => f.write_str("AND"),
            Tok::Or => f.write_str("OR"),
            Tok::Not => f.write_str("NOT"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::Comma => f.write_str("`,`"),
        }
    }
}

fn err<T>(message: impl Into<String>, at: usize) -> Result<T, FilterError> {
    Err(FilterError {
        message: message.into(),
        at,
    })
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[Z]` as Unix seconds (UTC).
pub fn parse_date(s: &str) -> Option<i64> {
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t.trim_end_matches('Z'))),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let mut hms = t.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let mi: i64 = hms.next().unwrap_or("0").parse().ok()?;
        let sec: f64 = hms.next().unwrap_or("0").parse().ok()?;
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0.0..61.0).contains(&sec) {
            return None;
        }
        secs += h * 3600 + mi * 60 + sec as i64;
    }
    Some(secs)
}

/// The string literal starting at byte `start` (its quote): its value and the byte after its
/// closing quote. `\"`, `\'` and `\\` are the escapes.
fn lex_string(text: &str, start: usize) -> Result<(String, usize), FilterError> {
    let b = text.as_bytes();
    let quote = b[start];
    let mut i = start + 1;
    let mut s = String::new();
    loop {
        let Some(&ch) = b.get(i) else {
            return err("unterminated string", start);
        };
        if ch == quote {
            return Ok((s, i + 1));
        }
        if ch == b'\\' {
            match b.get(i + 1) {
                Some(&e) if e == b'"' || e == b'\'' || e == b'\\' => {
                    s.push(char::from(e));
                    i += 2;
                    continue;
                }
                _ => return err("unknown escape in string", i),
            }
        }
        // one UTF-8 character
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        s.push_str(&text[i..i + len]);
        i += len;
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, i));
                i += 1;
            }
            b'=' => {
                out.push((Tok::Op(Op::Eq), i));
                i += if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Op(Op::Ne), i));
                i += 2;
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                let op = match (c, eq) {
                    (b'<', false) => Op::Lt,
                    (b'<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    (_, true) => Op::Ge,
                };
                out.push((Tok::Op(op), i));
                i += if eq { 2 } else { 1 };
            }
            b'"' | b'\'' => {
                let (value, next) = lex_string(text, i)?;
                out.push((Tok::Str(value), start));
                i = next;
            }
            b'0'..=b'9' | b'-' => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b':' | b'.' | b'+'))
                {
                    i += 1;
                }
                let word = &text[start..i];
                if let Ok(n) = word.parse::<i64>() {
                    out.push((Tok::Int(n), start));
                } else if let Some(t) = parse_date(word) {
                    out.push((Tok::Date(t), start));
                } else {
                    return err(
                        format!("`{word}` is neither an integer nor a date (YYYY-MM-DD)"),
                        start,
                    );
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-'))
                {
                    i += 1;
                }
                let word = &text[start..i];
                let tok = match word.to_ascii_uppercase().as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "IN" => Tok::In,
                    _ => Tok::Ident(word.to_string()),
                };
                out.push((tok, start));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return err(format!("unexpected character {ch:?}"), i);
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    terms: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.1)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut parts = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut parts = vec![self.unary(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return err(format!("nested deeper than {MAX_DEPTH}"), self.at());
        }
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let f = self.or(depth + 1)?;
                let at = self.at();
                match self.next() {
                    Some(Tok::RParen) => Ok(f),
                    _ => err("expected `)`", at),
                }
            }
            _ => self.comparison(),
        }
    }

    fn value(&mut self, field: &Field) -> Result<Value, FilterError> {
        let at = self.at();
        let v = match self.next() {
            Some(Tok::Str(s)) => {
                if field.is_time() {
                    match parse_date(&s) {
                        Some(t) => Value::Int(t),
                        None => return err(format!("`{field}` takes a date (YYYY-MM-DD)"), at),
                    }
                } else {
                    Value::Text(s)
                }
            }
            Some(Tok::Int(n)) | Some(Tok::Date(n)) => Value::Int(n),
            Some(Tok::Ident(w)) => {
                return err(
                    format!("expected a value, found `{w}` (quote strings: \"{w}\")"),
                    at,
                )
            }
            Some(t) => return err(format!("expected a value, found {t}"), at),
            None => return err("expected a value", at),
        };
        Ok(v)
    }

    /// `(v, ...)` after IN.
    fn in_list(&mut self, field: &Field) -> Result<Vec<Value>, FilterError> {
        let at = self.at();
        if self.next() != Some(Tok::LParen) {
            return err("expected `(` after IN", at);
        }
        let mut values = vec![self.value(field)?];
        loop {
            let at = self.at();
            match self.next() {
                Some(Tok::Comma) => values.push(self.value(field)?),
                Some(Tok::RParen) => return Ok(values),
                _ => return err("expected `,` or `)`", at),
            }
        }
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let at = self.at();
        let field = match self.next() {
            Some(Tok::Ident(name)) => Field::parse(&name).ok_or_else(|| FilterError {
                message: format!(
                    "unknown field `{name}` (fields: lang, tenant, format, path, doc, title, \
                     modified, created, keywords, acl, meta.<name>)"
                ),
                at,
            })?,
            Some(t) => return err(format!("expected a field, found {t}"), at),
            None => return err("expected a field", at),
        };
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return err(format!("more than {MAX_TERMS} comparisons"), at);
        }
        let op_at = self.at();
        match self.next() {
            Some(Tok::Op(op)) => {
                let value = self.value(&field)?;
                Ok(Filter::Cmp { field, op, value })
            }
            Some(Tok::In) => {
                let values = self.in_list(&field)?;
                Ok(Filter::In { field, values })
            }
            // `field NOT IN (...)` is `NOT (field IN (...))`
            Some(Tok::Not) if self.peek() == Some(&Tok::In) => {
                self.pos += 1;
                let values = self.in_list(&field)?;
                Ok(Filter::Not(Box::new(Filter::In { field, values })))
            }
            _ => err(
                format!("expected =, !=, <, <=, >, >= or IN after `{field}`"),
                op_at,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        lang: Option<&'a str>,
        tenant: Option<&'a str>,
        modified: Option<i64>,
        keywords: &'a [&'a str],
    ) -> impl Fn(&Field) -> Vec<FieldValue<'a>> + 'a {
        move |f: &Field| match f {
            Field::Lang => lang.map(FieldValue::Text).into_iter().collect(),
            Field::Tenant => tenant.map(FieldValue::Text).into_iter().collect(),
            Field::Modified => modified.map(FieldValue::Int).into_iter().collect(),
            Field::Keywords => keywords.iter().map(|k| FieldValue::Text(k)).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn the_issue_example_parses_and_evaluates() {
        let f =
            Filter::parse(r#"lang = "en" AND tenant = "acme" AND modified >= 2026-01-01"#).unwrap();
        let jan = parse_date("2026-01-01").unwrap();
        assert_eq!(jan, 1_767_225_600);
        assert!(f.matches(&row(Some("en"), Some("acme"), Some(jan), &[])));
        assert!(!f.matches(&row(Some("en"), Some("acme"), Some(jan - 1), &[])));
        assert!(!f.matches(&row(Some("de"), Some("acme"), Some(jan), &[])));
        assert!(!f.matches(&row(Some("en"), None, Some(jan), &[])));
        assert_eq!(f.pinned_tenants(), Some(vec!["acme".to_string()]));
    }

    #[test]
    fn in_not_or_and_precedence() {
        let f = Filter::parse(r#"lang IN ("de", "fr") OR NOT tenant = "a" AND keywords = "x""#)
            .unwrap();
        // AND binds tighter: lang IN (...) OR (NOT tenant = a AND keywords = x)
        assert!(f.matches(&row(Some("de"), Some("a"), None, &[])));
        assert!(f.matches(&row(Some("en"), Some("b"), None, &["y", "x"])));
        assert!(!f.matches(&row(Some("en"), Some("a"), None, &["x"])));
        assert!(!f.matches(&row(Some("en"), Some("b"), None, &["y"])));
        let f = Filter::parse(r#"(lang = "de" OR lang = "fr") and format not in ("pdf")"#).unwrap();
        assert_eq!(f.fields(), vec![Field::Lang, Field::Format]);
        assert!(f.pinned_tenants().is_none());
    }

    #[test]
    fn a_missing_field_matches_only_not_equal() {
        let ne = Filter::parse(r#"lang != "en""#).unwrap();
        assert!(ne.matches(&row(None, None, None, &[])));
        assert!(!Filter::parse(r#"lang = "en""#)
            .unwrap()
            .matches(&row(None, None, None, &[])));
    }

    #[test]
    fn errors_name_the_problem_and_where() {
        for (text, want, at) in [
            ("lang = en", "quote strings", 7),
            ("colour = \"red\"", "unknown field `colour`", 0),
            ("lang = \"en", "unterminated string", 7),
            ("lang \"en\"", "expected =", 5),
            ("lang = \"en\" AND", "expected a field", 15),
            ("(lang = \"en\"", "expected `)`", 12),
            ("modified > \"yesterday\"", "takes a date", 11),
            ("modified > 2026-13-01", "neither an integer nor a date", 11),
            ("lang = \"en\" lang", "unexpected `lang`", 12),
            ("lang ~ \"en\"", "unexpected character '~'", 5),
        ] {
            let e = Filter::parse(text).unwrap_err();
            assert!(e.message.contains(want), "{text}: {e}");
            assert_eq!(e.at, at, "{text}: {e}");
        }
    }

    #[test]
    fn hostile_filters_are_bounded() {
        let deep = format!("{}lang = \"en\"{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested"));
        let nots = format!("{}lang = \"en\"", "NOT ".repeat(100));
        assert!(Filter::parse(&nots).unwrap_err().message.contains("nested"));
        let wide = vec!["lang = \"en\""; 100].join(" OR ");
        assert!(Filter::parse(&wide)
            .unwrap_err()
            .message
            .contains("comparisons"));
        assert!(Filter::parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            r#"lang = "en" AND tenant = "acme" AND modified >= 2026-01-01"#,
            r#"NOT (format IN ("pdf", "html")) OR meta.author = "Jane \"J\" Doe""#,
        ] {
            let f = Filter::parse(text).unwrap();
            assert_eq!(Filter::parse(&f.to_string()).unwrap(), f, "{f}");
        }
    }
}
