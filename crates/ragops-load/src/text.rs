//! Plain text and Markdown: decoded as they are (offsets into the text are offsets into the
//! file), titled by their first H1 or first line.

use ragops_core::{Section, SkipReason};

use crate::markdown::markdown_sections;

/// Checks for binary content and decodes UTF-8. The text is kept byte-for-byte (offsets into it
/// are offsets into the file), except for a leading byte-order mark.
pub(crate) fn decode_text(bytes: &[u8], kind: &str) -> Result<String, SkipReason> {
    let probe = &bytes[..bytes.len().min(8192)];
    if probe.contains(&0) {
        return Err(SkipReason::Binary {
            format: kind.to_string(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| SkipReason::InvalidUtf8 {
        at: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(SkipReason::NoText);
    }
    Ok(text.to_string())
}

/// A Markdown file: its text, its headings and its title (the first H1, else the first heading).
pub(crate) fn markdown(bytes: &[u8]) -> Result<(String, Vec<Section>, Option<String>), SkipReason> {
    let text = decode_text(bytes, "Markdown")?;
    let sections = markdown_sections(&text);
    let title = sections
        .iter()
        .find(|s| s.level == 1)
        .or(sections.first())
        .map(|s| s.title.clone());
    Ok((text, sections, title))
}

/// A text file: its text and its title (the first non-blank line, if short).
pub(crate) fn plain(bytes: &[u8]) -> Result<(String, Option<String>), SkipReason> {
    let text = decode_text(bytes, "text")?;
    let title = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .filter(|l| l.chars().count() <= 120)
        .map(str::to_string);
    Ok((text, title))
}
