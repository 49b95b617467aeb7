//! PII and secret detection: patterns find candidates, [`validate`] keeps those that pass a
//! check (Luhn, mod-97, issued ranges, numbering plans, address syntax, entropy), overlaps are
//! settled by specificity, and [`redact`] replaces what was found with `[KIND]` placeholders.
//!
//! A finding is a kind and a byte range: the matched value itself is never stored, logged or
//! returned anywhere but by slicing the caller's own text.
//!
//! Presidio's pattern recognizers work the same way (regex, then a validation function, then a
//! score); here every kept finding has passed its check, and the secrets that Presidio does not
//! cover (cloud and SaaS token formats, private-key blocks, JWTs, high-entropy values assigned
//! to secret-like names) are recognised too.

mod document;
pub mod validate;

pub use document::{apply, overlaps_pii, Applied, PiiTally};

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a finding is. The order is the order of specificity: when two findings overlap, the
/// earlier kind wins (a private-key block over the secrets inside it, a token format over the
/// generic high-entropy secret, a card number over a phone number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PiiKind {
    PrivateKey,
    Jwt,
    AwsKey,
    GcpKey,
    GithubToken,
    SlackToken,
    StripeKey,
    Email,
    Iban,
    CreditCard,
    UsSsn,
    IpAddress,
    Phone,
    Secret,
}

impl PiiKind {
    /// Every kind, in order of specificity.
    pub const ALL: [PiiKind; 14] = [
        PiiKind::PrivateKey,
        PiiKind::Jwt,
        PiiKind::AwsKey,
        PiiKind::GcpKey,
        PiiKind::GithubToken,
        PiiKind::SlackToken,
        PiiKind::StripeKey,
        PiiKind::Email,
        PiiKind::Iban,
        PiiKind::CreditCard,
        PiiKind::UsSsn,
        PiiKind::IpAddress,
        PiiKind::Phone,
        PiiKind::Secret,
    ];

    /// The upper-case label (`EMAIL`, `CREDIT_CARD`...), as in configs, reports and placeholders.
    pub fn label(self) -> &'static str {
        match self {
            PiiKind::PrivateKey => "PRIVATE_KEY",
            PiiKind::Jwt => "JWT",
            PiiKind::AwsKey => "AWS_KEY",
            PiiKind::GcpKey => "GCP_KEY",
            PiiKind::GithubToken => "GITHUB_TOKEN",
            PiiKind::SlackToken => "SLACK_TOKEN",
            PiiKind::StripeKey => "STRIPE_KEY",
            PiiKind::Email => "EMAIL",
            PiiKind::Iban => "IBAN",
            PiiKind::CreditCard => "CREDIT_CARD",
            PiiKind::UsSsn => "US_SSN",
            PiiKind::IpAddress => "IP_ADDRESS",
            PiiKind::Phone => "PHONE",
            PiiKind::Secret => "SECRET",
        }
    }

    /// Whether the kind is a credential rather than personal data.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            PiiKind::PrivateKey
                | PiiKind::Jwt
                | PiiKind::AwsKey
                | PiiKind::GcpKey
                | PiiKind::GithubToken
                | PiiKind::SlackToken
                | PiiKind::StripeKey
                | PiiKind::Secret
        )
    }

    /// The text that replaces a redacted value: `[EMAIL]`, `[PHONE]`...
    pub fn placeholder(self) -> String {
        format!("[{}]", self.label())
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for PiiKind {
    type Err = PiiError;
    fn from_str(s: &str) -> Result<Self, PiiError> {
        PiiKind::ALL
            .into_iter()
            .find(|k| k.label().eq_ignore_ascii_case(s))
            .ok_or_else(|| PiiError::UnknownKind(s.to_string()))
    }
}

/// A detected value: its kind and byte range in the text that was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("unknown PII type {0:?} (known: {known})", known = PiiKind::ALL.map(PiiKind::label).join(", "))]
    UnknownKind(String),
    #[error("allow pattern {pattern:?} is not a valid regular expression")]
    BadAllowPattern {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
}

/// One recogniser: a pattern, the capture group holding the value (0 = the whole match) and
/// the check a candidate must pass. The check sees the whole text and the candidate's byte
/// range, and returns the finding's end (a phone number may lose a trailing group, a key block
/// runs to its END line) or `None`.
struct Recogniser {
    kind: PiiKind,
    pattern: Regex,
    group: usize,
    check: fn(&str, usize, usize) -> Option<usize>,
}

/// Compiled recognisers for a set of kinds, with the allow list.
pub struct Detector {
    recognisers: Vec<Recogniser>,
    allow: Vec<Regex>,
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detector")
            .field(
                "kinds",
                &self.recognisers.iter().map(|r| r.kind).collect::<Vec<_>>(),
            )
            .field("allow", &self.allow.len())
            .finish()
    }
}

fn re(p: &str) -> Regex {
    // The patterns are constants of this file, compiled by every unit test.
    #[allow(clippy::expect_used)]
    Regex::new(p).expect("built-in PII pattern compiles")
}

/// Whether the range stands alone: no letter or digit on either side, no `joiners` character
/// before it, and none after it that continues into a letter or digit ("1.2.3.4.5", "555-12-x").
/// (The regex crate has no look-around, so these boundaries are checked here.)
fn isolated(text: &str, at: usize, end: usize, joiners: &str) -> bool {
    let before = text[..at].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || joiners.contains(c)) {
        return false;
    }
    let mut after = text[end..].chars();
    match after.next() {
        Some(c) if c.is_alphanumeric() => false,
        Some(c) if joiners.contains(c) => !after.next().is_some_and(char::is_alphanumeric),
        _ => true,
    }
}

/// The word (letters and `#`/`.` marks) just before `at`, lower-cased, skipping spaces.
fn word_before(text: &str, at: usize) -> String {
    let head = text[..at].trim_end_matches(|c: char| c.is_whitespace() || c == ':');
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '#' || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    head[start..].to_lowercase()
}

/// Tokens in a fixed format: nothing word-like glued to either side.
fn check_token(text: &str, at: usize, end: usize) -> Option<usize> {
    isolated(text, at, end, "_-").then_some(end)
}

/// A private-key header runs to its END line (within 64 KiB), or over the base64 lines that
/// follow it when the END line is missing (a truncated paste).
fn check_private_key(text: &str, _at: usize, end: usize) -> Option<usize> {
    let window_end = text.len().min(end + 65_536);
    let mut window_end = window_end;
    while !text.is_char_boundary(window_end) {
        window_end -= 1;
    }
    let tail = &text[end..window_end];
    if let Some(i) = tail.find("-----END ") {
        let rest = &tail[i + 9..];
        if let Some(j) = rest.find("-----") {
            if rest[..j].ends_with("PRIVATE KEY") || rest[..j].ends_with("PRIVATE KEY BLOCK") {
                return Some(end + i + 9 + j + 5);
            }
        }
    }
    let mut stop = end;
    for line in tail.split_inclusive('\n').skip(1) {
        let body = line.trim_end();
        let base64 = body.len() >= 8
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        if !base64 {
            break;
        }
        stop = end + (line.as_ptr() as usize - tail.as_ptr() as usize) + body.len();
    }
    Some(stop)
}

fn check_email(text: &str, at: usize, end: usize) -> Option<usize> {
    let before = text[..at].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || "._%+-'".contains(c)) {
        return None;
    }
    // "user:pass@db.internal" in a URL is a password and a host, not an address
    let token_start = text[..at]
        .rfind(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .map_or(0, |i| i + 1);
    (!text[token_start..at].contains("://")).then_some(end)
}

fn check_iban(text: &str, at: usize, end: usize) -> Option<usize> {
    // The country fixes the length: take exactly that many characters, spaces skipped, so
    // that an upper-case word after the IBAN is not read as part of it.
    let want = validate::iban_len_for(text.get(at..at + 2)?)?;
    let mut compact = String::with_capacity(want);
    let mut stop = at;
    for (i, c) in text[at..end].char_indices() {
        if c == ' ' {
            continue;
        }
        compact.push(c);
        stop = at + i + c.len_utf8();
        if compact.len() == want {
            break;
        }
    }
    (compact.len() == want && validate::iban(&compact) && isolated(text, at, stop, ""))
        .then_some(stop)
}

fn check_card(text: &str, at: usize, end: usize) -> Option<usize> {
    let v = &text[at..end];
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    // one separator style throughout, in groups of 4 (or Amex's 4-6-5)
    let seps: Vec<char> = v.chars().filter(|c| !c.is_ascii_digit()).collect();
    let groups: Vec<usize> = v.split([' ', '-']).map(str::len).collect();
    let grouped = seps.is_empty()
        || groups.iter().rev().skip(1).all(|&g| g == 4)
        || groups == [4, 6, 5]
        || groups == [4, 6, 4];
    (seps.windows(2).all(|w| w[0] == w[1])
        && grouped
        && validate::card_prefix(&digits)
        && validate::luhn(&digits)
        && isolated(text, at, end, "-./"))
    .then_some(end)
}

fn check_ssn(text: &str, at: usize, end: usize) -> Option<usize> {
    if !validate::ssn(&text[at..end]) || !isolated(text, at, end, "-./") {
        return None;
    }
    // "123-45-6789" is an SSN's own shape; "211 91 5003" is as often three numbers of a log
    // line, so it needs the word nearby, as Presidio's context words do.
    if text[at..end].contains(' ') {
        let mut from = at.saturating_sub(48);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let before = text[from..at].to_lowercase();
        if !["ssn", "social security", "ss#", "ss #"]
            .iter()
            .any(|w| before.contains(w))
        {
            return None;
        }
    }
    Some(end)
}

fn check_ipv4(text: &str, at: usize, end: usize) -> Option<usize> {
    if !validate::ipv4(&text[at..end]) || !isolated(text, at, end, ".-") {
        return None;
    }
    // "v1.2.3.4", "version 1.2.3.4" and "build 10.0.1.5" are versions
    let glued_v = text[..at].ends_with('v') || text[..at].ends_with('V');
    let w = word_before(text, at);
    (!glued_v && !matches!(w.as_str(), "version" | "ver." | "release" | "build")).then_some(end)
}

fn check_ipv6(text: &str, at: usize, end: usize) -> Option<usize> {
    (validate::ipv6(&text[at..end]) && isolated(text, at, end, ":")).then_some(end)
}

/// Dates and times written with digits: `2024-03-15`, `15/03/2024`, `15.03.2024`.
fn looks_like_date(v: &str) -> bool {
    let groups: Vec<&str> = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let seps: Vec<char> = v.chars().filter(|c| !c.is_ascii_digit()).collect();
    groups.len() == 3
        && seps.len() == 2
        && seps[0] == seps[1]
        && matches!(seps[0], '-' | '/' | '.')
        && ((groups[0].len() == 4 && groups[1].len() <= 2 && groups[2].len() <= 2)
            || (groups[0].len() <= 2 && groups[1].len() <= 2 && matches!(groups[2].len(), 2 | 4)))
}

/// The 3-2-4 digit shape of a US Social Security number (never a phone number's).
fn looks_like_ssn(v: &str) -> bool {
    let groups: Vec<usize> = v.split(['-', ' ']).map(str::len).collect();
    groups == [3, 2, 4] && v.bytes().filter(u8::is_ascii_digit).count() == 9
}

fn check_phone(text: &str, at: usize, end: usize) -> Option<usize> {
    let before = text[..at].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || "-./_".contains(c)) {
        return None;
    }
    if matches!(
        word_before(text, at).as_str(),
        "isbn"
            | "sku"
            | "order"
            | "#"
            | "no."
            | "invoice"
            | "ticket"
            | "build"
            | "ref"
            | "ref."
            | "version"
            | "v"
            | "id"
            | "account"
            | "acct"
            | "acct."
            | "iban"
            | "bic"
    ) {
        return None;
    }
    // The pattern is greedy: a number followed by another (a count, a year) is tried without
    // its last groups, up to two.
    let mut stop = end;
    for _ in 0..3 {
        let v = &text[at..stop];
        if !looks_like_date(v)
            && !looks_like_ssn(v)
            && isolated(text, at, stop, "-./_")
            && validate::phone(v)
        {
            return Some(stop);
        }
        let cut = v.trim_end().rfind([' ', '-', '.'])?;
        stop = at + cut;
        if stop <= at {
            return None;
        }
    }
    None
}

fn check_secret(text: &str, at: usize, end: usize) -> Option<usize> {
    let v = &text[at..end];
    // a URL after `token_uri:` is an address, not a secret
    (!v.contains("://") && validate::secret_value(v)).then_some(end)
}

/// Any password in a connection URL is one, whatever its entropy, unless it is a
/// placeholder (`${DB_PASSWORD}`, `<password>`, `****`).
fn check_url_password(text: &str, at: usize, end: usize) -> Option<usize> {
    let v = text[at..end].to_ascii_lowercase();
    let placeholder = [
        "${", "{{", "<", "***", "xxx", "password", "redacted", "changeme",
    ]
    .iter()
    .any(|p| v.contains(p));
    (!placeholder).then_some(end)
}

/// Every recogniser, in the order of [`PiiKind`].
fn recognisers() -> Vec<Recogniser> {
    let r = |kind, pattern: &str, group, check| Recogniser {
        kind,
        pattern: re(pattern),
        group,
        check,
    };
    vec![
        r(
            PiiKind::PrivateKey,
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            0,
            check_private_key,
        ),
        r(
            PiiKind::Jwt,
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            0,
            check_token,
        ),
        r(
            PiiKind::AwsKey,
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z2-7]{16}\b",
            0,
            check_token,
        ),
        r(PiiKind::GcpKey, r"\bAIza[0-9A-Za-z_-]{35}", 0, check_token),
        r(
            PiiKind::GithubToken,
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
            0,
            check_token,
        ),
        r(
            PiiKind::SlackToken,
            r"\bxox[abposr]-[A-Za-z0-9-]{10,255}|https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}",
            0,
            check_token,
        ),
        r(
            PiiKind::StripeKey,
            r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}",
            0,
            check_token,
        ),
        r(
            PiiKind::Email,
            r"(?i)[a-z0-9][a-z0-9._%+'-]{0,63}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b",
            0,
            check_email,
        ),
        r(
            PiiKind::Iban,
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,8}(?: ?[A-Z0-9]{1,3})?\b",
            0,
            check_iban,
        ),
        r(
            PiiKind::CreditCard,
            r"\b\d(?:[ -]?\d){12,18}\b",
            0,
            check_card,
        ),
        r(
            PiiKind::UsSsn,
            r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b",
            0,
            check_ssn,
        ),
        r(
            PiiKind::IpAddress,
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
            0,
            check_ipv4,
        ),
        r(
            PiiKind::IpAddress,
            r"(?i)(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?|::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})",
            0,
            check_ipv6,
        ),
        r(
            PiiKind::Phone,
            r"(?:\+|\b00)?\d{1,4}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6}|\(\d{2,5}\)[ .-]?\d{2,5}(?:[ .-]?\d{2,5}){1,3}",
            0,
            check_phone,
        ),
        r(
            PiiKind::Secret,
            r#"(?i)\b[a-z0-9_.-]*(?:password|passwd|passphrase|passcode|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth[_-]?key)[a-z0-9_.-]*["']?(?:\s*(?:[:=]|=>)|(?:\s+[a-z]+){0,3}?\s+(?:is|to)\b)\s*["']?([^\s"',;]{8,256})"#,
            1,
            check_secret,
        ),
        // the password of a connection URL: scheme://user:PASSWORD@host
        r(
            PiiKind::Secret,
            r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]*:([^\s@/]{3,128})@[a-z0-9\[]",
            1,
            check_url_password,
        ),
    ]
}

impl Detector {
    /// A detector for `kinds` (all when empty). A value that fully matches one of the `allow`
    /// regular expressions is never reported.
    pub fn new(kinds: &[PiiKind], allow: &[String]) -> Result<Self, PiiError> {
        let wanted = |k: PiiKind| kinds.is_empty() || kinds.contains(&k);
        let all = recognisers();
        let recognisers = all.into_iter().filter(|r| wanted(r.kind)).collect();
        let allow = allow
            .iter()
            .map(|p| {
                Regex::new(&format!("^(?:{p})$")).map_err(|e| PiiError::BadAllowPattern {
                    pattern: p.clone(),
                    source: Box::new(e),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { recognisers, allow })
    }

    /// The findings in `text`, in order, none overlapping another. Where candidates overlap,
    /// the more specific kind wins ([`PiiKind`]'s order), then the longer match.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut candidates: Vec<Finding> = Vec::new();
        for r in &self.recognisers {
            for caps in r.pattern.captures_iter(text) {
                let Some(m) = caps.get(r.group) else { continue };
                // a sentence's full stop or comma is not part of an address or token (a
                // trailing "::" is part of an IPv6 prefix)
                let v = m.as_str();
                let trimmed = if v.ends_with("::") {
                    v
                } else {
                    v.trim_end_matches(['.', '-', ',', ':'])
                };
                let (start, end) = (m.start(), m.start() + trimmed.len());
                if end <= start {
                    continue;
                }
                let Some(end) = (r.check)(text, start, end) else {
                    continue;
                };
                if self.allow.iter().any(|a| a.is_match(&text[start..end])) {
                    continue;
                }
                candidates.push(Finding {
                    kind: r.kind,
                    start,
                    end,
                });
            }
        }
        candidates.sort_by(|a, b| {
            a.kind
                .cmp(&b.kind)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
                .then(a.start.cmp(&b.start))
        });
        // Accepted findings by start; as they never overlap, the last one starting before a
        // candidate's end is the only one that can overlap it.
        let mut kept: BTreeMap<usize, Finding> = BTreeMap::new();
        for f in candidates {
            let before = kept.range(..f.end).next_back().map(|(_, k)| *k);
            if before.is_some_and(|k| k.end > f.start) {
                continue;
            }
            kept.insert(f.start, f);
        }
        kept.into_values().collect()
    }
}

/// `text` with every finding replaced by its placeholder (`[EMAIL]`...). `findings` must be in
/// order and must not overlap, as [`Detector::find`] returns them.
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > text.len() {
            continue;
        }
        out.push_str(&text[at..f.start]);
        out.push_str(&f.kind.placeholder());
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Counts per kind, for reports and metadata (never the values).
pub fn counts(findings: &[Finding]) -> BTreeMap<PiiKind, u32> {
    let mut m = BTreeMap::new();
    for f in findings {
        *m.entry(f.kind).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests;
