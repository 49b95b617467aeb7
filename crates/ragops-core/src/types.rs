//! Documents and chunks: the data that flows between stages.

use serde::{Deserialize, Serialize};

use crate::{ChunkId, DocId, Sha256};

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

    /// The format named by its `as_str` name.
    pub fn from_name(name: &str) -> Option<Format> {
        [
            Format::Markdown,
            Format::Text,
            Format::Html,
            Format::Pdf,
            Format::Jsonl,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
    }

    /// Whether the document text carries Markdown structure (ATX headings, lists, fences).
    /// HTML is rendered to Markdown-like text by the loader, so it counts.
    pub fn is_markdown_like(self) -> bool {
        matches!(self, Format::Markdown | Format::Html)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a query is matched: BM25 over the full-text index, cosine over the vectors, or both
/// fused by reciprocal rank fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Vector,
    Bm25,
}

impl Mode {
    /// Every mode, in the order reports list them.
    pub const ALL: [Mode; 3] = [Mode::Vector, Mode::Bm25, Mode::Hybrid];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Vector => "vector",
            Mode::Bm25 => "bm25",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "vector" => Ok(Mode::Vector),
            "bm25" => Ok(Mode::Bm25),
            other => Err(format!("unknown mode `{other}` (hybrid, vector or bm25)")),
        }
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
    pub id: DocId,
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
    pub content_hash: Sha256,
    /// Size in bytes of the source (record line for JSONL).
    pub size: u64,
    /// Source file modification time, seconds since the Unix epoch.
    pub mtime: Option<i64>,
    /// Metadata the source declares (the JSONL fields named in `[sources.jsonl]
    /// metadata_fields`), by name; front matter is read by the `metadata` step.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A chunk of a document, as the chunker cut it. Immutable after that: the enrich stage
/// derives the text to embed from it, the embed stage a [`ChunkRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Deterministic id: hash(document id, chunk config, position, text).
    pub id: ChunkId,
    pub doc_id: DocId,
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
    /// 1-based page of the chunk's first character, for paginated sources.
    pub page_start: Option<u32>,
    /// 1-based page of the chunk's last character (equal to `page_start` for a chunk on one
    /// page).
    pub page_end: Option<u32>,
    // ---- the document's metadata, copied onto each of its chunks ----
    pub title: String,
    pub source_path: String,
    pub format: Format,
    pub mtime: Option<i64>,
}

/// Key of an embedding-cache entry: SHA-256 of the exact text embedded.
pub type EmbedKey = [u8; 32];

/// A chunk as the chunk table stores it: the chunk, the key of the text that was embedded for
/// it and that text's token count. Its vector travels beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRow {
    pub chunk: Chunk,
    /// `None` in tables written before the embedding cache existed.
    pub embed_key: Option<EmbedKey>,
    /// Model tokens of the embedded text (special tokens included, after truncation).
    pub token_count: u32,
    /// What the enrichment steps added (empty where they did not run, and in older tables).
    pub meta: ChunkMeta,
}

/// What enrichment added to a chunk: typed columns of the chunk table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// ISO 639-1 code of the chunk's language (`language` step): its own, or its document's
    /// when the chunk is too short to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The detector's confidence in `lang`, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang_confidence: Option<f32>,
    /// The chunk's dedup signature (`dedup` step): 8 bytes of exact hash, then the MinHash
    /// when near duplicates are looked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Vec<u8>>,
    /// The document's signature, on its first kept chunk only (`dedup` step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_signature: Option<Vec<u8>>,
    /// The chunk or document this one duplicates (`dedup` step, action `mark`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The chunk's key phrases, best first (`keywords` step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The document's tenant (`metadata` step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Who may read the document (`metadata` step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<String>,
    /// A date the document declares, Unix seconds (`metadata` step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// The document's declared metadata fields (`metadata` step).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
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
