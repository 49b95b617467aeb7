//! Documents, chunks and skip records: the data that flows between stages.

use serde::{Deserialize, Serialize};

/// Source formats ragops can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Markdown,
    Text,
    Html,
    Pdf,
    Jsonl,
}

impl Format {
    /// Format for a file extension (case-insensitive), if supported.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "md" | "markdown" | "mdx" => Some(Format::Markdown),
            "txt" | "text" => Some(Format::Text),
            "html" | "htm" | "xhtml" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Jsonl => "jsonl",
        }
    }

    /// Whether the document text carries Markdown structure (ATX headings, lists, fences).
    /// HTML is rendered to Markdown-like text by the loader, so it counts.
    pub fn is_markdown_like(self) -> bool {
        matches!(self, Format::Markdown | Format::Html)
    }
}

/// A heading inside a document's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Byte offset of the heading line in [`Document::text`].
    pub byte_start: usize,
    /// 1 for `#`/`<h1>`, up to 6.
    pub level: u8,
    pub title: String,
}

/// Where a page starts in a paginated document's text (PDF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSpan {
    pub byte_start: usize,
    /// 1-based page number as in the source file.
    pub page: u32,
}

/// One loaded document: normalised UTF-8 text plus the structure the loader found.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Stable id: path relative to its source root (`/` separated), plus `#<id>` for JSONL records.
    pub id: String,
    /// Path of the source file as configured (for reports and metadata).
    pub source_path: String,
    pub format: Format,
    pub title: String,
    pub text: String,
    /// Headings in order of `byte_start`.
    pub sections: Vec<Section>,
    /// Page starts in order of `byte_start`; empty for unpaginated formats.
    pub pages: Vec<PageSpan>,
    /// SHA-256 of the source bytes (of the record's line, for JSONL).
    pub content_hash: String,
    /// Size in bytes of the source (record line for JSONL).
    pub size: u64,
    /// Source file modification time, seconds since the Unix epoch.
    pub mtime: Option<i64>,
}

/// A chunk of a document, as cut by the chunker and completed by the enrich stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Deterministic id: hash(document id, chunk config, position, text).
    pub id: String,
    pub doc_id: String,
    /// Position of the chunk within its document, from 0.
    pub ordinal: u32,
    /// The stored chunk text (exactly `document.text[start_byte..end_byte]`).
    pub text: String,
    pub start_byte: u64,
    pub end_byte: u64,
    /// Offsets in Unicode code points into the document text.
    pub start_char: u64,
    pub end_char: u64,
    /// Headings enclosing the chunk start, outermost first.
    pub heading_path: Vec<String>,
    /// 1-based page of the chunk start, for paginated sources.
    pub page: Option<u32>,
    // ---- filled by the enrich stage ----
    pub title: String,
    pub source_path: String,
    pub format: Format,
    pub mtime: Option<i64>,
    /// Text given to the embedding model: the chunk text, optionally preceded by a contextual
    /// header. Never stored in the chunk table.
    #[serde(skip)]
    pub embed_text: String,
    /// Embedding-cache key: SHA-256 of `embed_text` (set by the embed stage).
    #[serde(skip)]
    pub embed_key: Option<[u8; 32]>,
    // ---- filled by the embed stage ----
    /// Number of model tokens of `embed_text` (special tokens included, after truncation).
    pub token_count: u32,
}

/// A source that was not indexed, with the reason. Listed in the build report and manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

impl Skipped {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_extension("MD"), Some(Format::Markdown));
        assert_eq!(Format::from_extension("htm"), Some(Format::Html));
        assert_eq!(Format::from_extension("ndjson"), Some(Format::Jsonl));
        assert_eq!(Format::from_extension("docx"), None);
        assert!(Format::Html.is_markdown_like());
        assert!(!Format::Pdf.is_markdown_like());
    }
}
