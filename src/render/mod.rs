//! Every word ragops prints on stdout: the human form of each command's result (the JSON form
//! is the result's serde form). One function per result type; each returns the text, so that
//! tests can read it without running a command.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod eval;
pub(crate) mod experiment;
pub(crate) mod misc;
pub(crate) mod search;
pub(crate) mod snapshots;

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

/// Prints a result: pretty JSON with `json`, else the human text `human` builds.
pub(crate) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", human(value));
    }
    Ok(())
}

/// The first 12 characters of an id or hash.
pub(crate) fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

/// Text on one line, cut at `max` characters with an ellipsis.
pub(crate) fn preview(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// " (page 3)", " (pages 3–4)", or "" for unpaginated sources.
pub(crate) fn page_range(start: Option<u32>, end: Option<u32>) -> String {
    match (start, end) {
        (Some(a), Some(b)) if b > a => format!(" (pages {a}–{b})"),
        (Some(a), _) => format!(" (page {a})"),
        _ => String::new(),
    }
}

/// `writeln!` into a String (which cannot fail).
pub(crate) fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(args);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_flatten_and_cut_on_characters() {
        assert_eq!(preview("a\n b\tc", 10), "a b c");
        assert_eq!(preview("ééé", 2), "éé…");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn page_ranges() {
        assert_eq!(page_range(Some(3), Some(3)), " (page 3)");
        assert_eq!(page_range(Some(3), Some(4)), " (pages 3–4)");
        assert_eq!(page_range(Some(3), None), " (page 3)");
        assert_eq!(page_range(None, None), "");
    }
}
