//! Enrich stage. Metadata (title, heading path, page, source path, mtime) is carried on each
//! chunk by the chunker; this stage decides the text that is embedded: optionally a contextual
//! header (`title > heading > subheading`) followed by the chunk text. The stored chunk text is
//! never changed. (The steps of the enrichment issue — PII, language, keywords, dedup — grow
//! here.)

pub mod dedup;
pub mod keywords;
pub mod language;
pub mod metadata;
pub mod pii;

use ragops_core::{Chunk, EnrichConfig};

/// Longest contextual header kept, in characters (it shares the model's token budget).
pub const MAX_HEADER_CHARS: usize = 200;
/// Most words of a contextual header: a title of many short words would otherwise take half
/// the model's window from every chunk of its document.
pub const MAX_HEADER_WORDS: usize = 32;

/// The contextual header of a chunk: document title then the heading path, without repeating a
/// first heading equal to the title. The chunker sizes token chunks with this same function
/// (`ragops_chunk::HeaderFn`), so header and chunk fit the model together.
pub fn contextual_header(chunk: &Chunk) -> String {
    header(&chunk.title, &chunk.heading_path)
}

/// The contextual header for a document title and a heading path, at most
/// [`MAX_HEADER_CHARS`] characters and [`MAX_HEADER_WORDS`] words (an ellipsis marks a cut).
/// Its output is versioned by `ragops_core::CONTEXTUAL_HEADER`: bump that when it changes, so
/// snapshots embedded with other headers are not reused.
pub fn header(title: &str, heading_path: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !title.trim().is_empty() {
        parts.push(title.trim());
    }
    for h in heading_path {
        if parts.last().map(|p| p.eq_ignore_ascii_case(h.trim())) != Some(true) {
            parts.push(h.trim());
        }
    }
    let header = parts.join(" > ");
    let by_chars = header.char_indices().nth(MAX_HEADER_CHARS).map(|(i, _)| i);
    let by_words = header
        .split_whitespace()
        .nth(MAX_HEADER_WORDS)
        .map(|w| w.as_ptr() as usize - header.as_ptr() as usize);
    match [by_chars, by_words].into_iter().flatten().min() {
        Some(cut) => format!("{}…", header[..cut].trim_end()),
        None => header,
    }
}

/// The text embedded for a chunk: its contextual header (when configured), a blank line and
/// its text.
pub fn embed_text(chunk: &Chunk, config: &EnrichConfig) -> String {
    if !config.header_on() {
        return chunk.text.clone();
    }
    let header = contextual_header(chunk);
    if header.is_empty() {
        chunk.text.clone()
    } else {
        format!("{header}\n\n{}", chunk.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_core::Format;

    fn chunk(title: &str, path: &[&str]) -> Chunk {
        Chunk {
            id: ragops_core::ChunkId::parse(&"c".repeat(32)).unwrap(),
            doc_id: "d".into(),
            ordinal: 0,
            text: "body text".into(),
            start_byte: 0,
            end_byte: 9,
            start_char: 0,
            end_char: 9,
            heading_path: path.iter().map(|s| s.to_string()).collect(),
            page_start: None,
            page_end: None,
            title: title.into(),
            source_path: "d.md".into(),
            format: Format::Markdown,
            mtime: None,
        }
    }

    #[test]
    fn header_dedupes_title_and_is_not_stored() {
        let cs = [
            chunk("Backups", &["Backups", "Restore", "Checks"]),
            chunk("", &[]),
        ];
        let on = EnrichConfig::default();
        assert_eq!(
            embed_text(&cs[0], &on),
            "Backups > Restore > Checks\n\nbody text"
        );
        assert_eq!(cs[0].text, "body text");
        assert_eq!(embed_text(&cs[1], &on), "body text");
        let off = EnrichConfig {
            contextual_header: false,
            ..EnrichConfig::default()
        };
        assert_eq!(embed_text(&cs[0], &off), "body text");
        // a steps list without the header step turns it off too
        let steps = EnrichConfig {
            steps: vec![ragops_core::EnrichStep::Pii],
            ..EnrichConfig::default()
        };
        assert_eq!(embed_text(&cs[0], &steps), "body text");
    }

    #[test]
    fn long_headers_are_capped_on_a_char_boundary() {
        let long = "é".repeat(500);
        let h = contextual_header(&chunk(&long, &[]));
        assert_eq!(h.chars().count(), MAX_HEADER_CHARS + 1);
    }

    #[test]
    fn headers_of_many_short_words_are_capped_by_words() {
        let title = "w ".repeat(1000);
        let h = contextual_header(&chunk(&title, &["Sub"]));
        assert_eq!(h, format!("{}…", ["w"; MAX_HEADER_WORDS].join(" ")));
        let normal = contextual_header(&chunk("Backups", &["Restore a snapshot"]));
        assert_eq!(normal, "Backups > Restore a snapshot");
    }
}
