//! Chunk stage: cut documents into chunks.
//!
//! * `markdown` strategy: Markdown headings are the strongest boundaries for Markdown and HTML
//!   sources (the HTML loader renders headings as `#` lines); other formats get plain-text
//!   boundaries.
//! * `text` strategy: plain-text boundaries (paragraphs, lines, sentences, words) everywhere.
//! * Token sizes count tokens of the embedding model's tokenizer (special tokens excluded, and the
//!   limit is capped at the model's maximum length minus `[CLS]`/`[SEP]`). Each document is
//!   tokenised once ([`TokenSpans`], a fast exact WordPiece for BERT tokenizers) and cut by the
//!   splitter in `split.rs` (its doc comment lists the boundary ranks and the overlap rule).
//! * Character sizes count Unicode characters and use text-splitter.
//!
//! Every chunk keeps byte and character offsets into its document's text, the heading path
//! enclosing its start and its page. Chunk ids are deterministic:
//! `sha256(document id, chunking config hash, ordinal, start offset, text)`.

mod split;
mod wordpiece;

pub use ragops_core::TOKEN_SPLITTER;
pub use wordpiece::TokenSpans;

use ragops_core::{
    Chunk, ChunkId, ChunkStrategy, ChunkUnit, ChunkingConfig, Document, Section, Sha256Hasher,
};
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunking config: {0}")]
    Config(String),
    #[error("token-sized chunking needs the embedding model's tokenizer")]
    NoTokenizer,
}

/// The text the enrich stage puts before a chunk, from the document title and the chunk's
/// heading path (`ragops_enrich::header`); the embedded text is `header + "\n\n" + chunk`.
pub type HeaderFn = fn(title: &str, heading_path: &[String]) -> String;

/// Cuts documents into chunks according to a [`ChunkingConfig`].
pub struct Chunker {
    config: ChunkingConfig,
    chunking_hash: String,
    tokens: Option<TokenSpans>,
    capacity: usize,
    /// Model tokens available to the chunk and its header together (the model's maximum less
    /// `[CLS]`/`[SEP]`), when token chunks must fit the model.
    window: Option<usize>,
    header: Option<HeaderFn>,
}

impl Chunker {
    /// `tokenizer` is required for token units; `model_max_tokens` (including special tokens)
    /// caps the chunk size so that every chunk fits the model. With `header` (the contextual
    /// header the enrich stage will put before each chunk), a token chunk is sized so that
    /// header and chunk fit the model together: its capacity is the model's window less the
    /// header's tokens at the chunk's start (never less than half the window).
    pub fn new(
        config: &ChunkingConfig,
        chunking_hash: &str,
        tokenizer: Option<Tokenizer>,
        model_max_tokens: Option<usize>,
        header: Option<HeaderFn>,
    ) -> Result<Self, ChunkError> {
        if config.size == 0 || config.overlap >= config.size {
            return Err(ChunkError::Config(format!(
                "size {} / overlap {}: overlap must be smaller than size",
                config.size, config.overlap
            )));
        }
        let mut capacity = config.size;
        let mut window = None;
        let tokens = match config.unit {
            ChunkUnit::Tokens => {
                let t = tokenizer.ok_or(ChunkError::NoTokenizer)?;
                if let Some(max) = model_max_tokens {
                    let w = max.saturating_sub(2).max(1);
                    window = Some(w);
                    capacity = capacity.min(w);
                }
                Some(TokenSpans::new(&t))
            }
            ChunkUnit::Chars => None,
        };
        if config.overlap >= capacity {
            return Err(ChunkError::Config(format!(
                "overlap {} must be smaller than the effective size {capacity}",
                config.overlap
            )));
        }
        Ok(Self {
            config: config.clone(),
            chunking_hash: chunking_hash.to_string(),
            tokens,
            capacity,
            window,
            header,
        })
    }

    /// Capacity of a token chunk that starts in `section` of `doc` (0: before the first
    /// heading); `cache` holds the header token counts already computed, by section.
    fn capacity_at(
        &self,
        t: &TokenSpans,
        doc: &Document,
        headings: &HeadingIndex,
        section: usize,
        cache: &mut [Option<usize>],
    ) -> usize {
        let (Some(window), Some(header)) = (self.window, self.header) else {
            return self.capacity;
        };
        let header_tokens = *cache[section].get_or_insert_with(|| {
            let h = header(&doc.title, headings.path_of(section));
            if h.is_empty() {
                0
            } else {
                t.count(&h)
            }
        });
        let fits = window.saturating_sub(header_tokens).max(window / 2).max(1);
        self.capacity.min(fits)
    }

    /// The maximum chunk size in the configured unit (before any header is taken off).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Cuts one document. Enrichment fields (title, source, mtime) are filled from the document;
    pub fn chunk(&self, doc: &Document) -> Result<Vec<Chunk>, ChunkError> {
        let markdown =
            self.config.strategy == ChunkStrategy::Markdown && doc.format.is_markdown_like();
        let text = doc.text.as_str();
        let headings = HeadingIndex::new(&doc.sections);
        let ranges = match &self.tokens {
            Some(t) => {
                let cuts: Vec<(usize, u8)> = if markdown {
                    doc.sections
                        .iter()
                        .map(|s| (s.byte_start, s.level))
                        .collect()
                } else {
                    Vec::new()
                };
                let spans = t.spans(text);
                let mut cache = vec![None; headings.paths.len() + 1];
                split::split_tokens(
                    text,
                    &spans,
                    &cuts,
                    |start| {
                        let section = headings.section_at(spans[start].0);
                        self.capacity_at(t, doc, &headings, section, &mut cache)
                    },
                    self.config.overlap,
                    |s| t.count(s),
                )
            }
            None => split_chars(&self.config, self.capacity, markdown, text)?,
        };
        // Chunk starts only move forward, so character offsets are counted incrementally.
        let (mut at_byte, mut at_char) = (0, 0);
        Ok(ranges
            .into_iter()
            .enumerate()
            .map(|(i, (start_byte, end_byte))| {
                let chunk_text = &text[start_byte..end_byte];
                if start_byte < at_byte {
                    (at_byte, at_char) = (0, 0);
                }
                at_char += text[at_byte..start_byte].chars().count();
                at_byte = start_byte;
                let start_char = at_char;
                let end_char = start_char + chunk_text.chars().count();
                let id = ChunkId::from_parts(
                    Sha256Hasher::new()
                        .part(doc.id.as_str())
                        .part(&self.chunking_hash)
                        .part((self.capacity as u64).to_le_bytes())
                        .part((i as u64).to_le_bytes())
                        .part((start_char as u64).to_le_bytes())
                        .part(chunk_text),
                );
                let page_at = |byte: usize| {
                    doc.pages
                        .partition_point(|s| s.byte_start <= byte)
                        .checked_sub(1)
                        .map(|i| doc.pages[i].page)
                };
                // The last character's page: a chunk that ends right where a page starts
                // holds nothing of that page.
                let last_byte = end_byte.saturating_sub(1).max(start_byte);
                Chunk {
                    id,
                    doc_id: doc.id.clone(),
                    ordinal: i as u32,
                    text: chunk_text.to_string(),
                    start_byte: start_byte as u64,
                    end_byte: end_byte as u64,
                    start_char: start_char as u64,
                    end_char: end_char as u64,
                    heading_path: headings.path_at(start_byte),
                    page_start: page_at(start_byte),
                    page_end: page_at(last_byte),
                    title: doc.title.clone(),
                    source_path: doc.source_path.clone(),
                    format: doc.format,
                    mtime: doc.mtime,
                }
            })
            .collect())
    }
}

/// Character-sized chunks with text-splitter; byte ranges.
fn split_chars(
    config: &ChunkingConfig,
    capacity: usize,
    markdown: bool,
    text: &str,
) -> Result<Vec<(usize, usize)>, ChunkError> {
    let cfg = ChunkConfig::new(capacity)
        .with_sizer(text_splitter::Characters)
        .with_overlap(config.overlap)
        .map_err(|e| ChunkError::Config(e.to_string()))?;
    let range = |(start, chunk): (usize, &str)| (start, start + chunk.len());
    Ok(if markdown {
        MarkdownSplitter::new(cfg)
            .chunk_indices(text)
            .map(range)
            .collect()
    } else {
        TextSplitter::new(cfg)
            .chunk_indices(text)
            .map(range)
            .collect()
    })
}

/// Heading path lookup by byte offset.
struct HeadingIndex {
    /// (byte_start, path) for each section, in order.
    paths: Vec<(usize, Vec<String>)>,
}

impl HeadingIndex {
    fn new(sections: &[Section]) -> Self {
        let mut stack: Vec<&Section> = Vec::new();
        let mut paths = Vec::with_capacity(sections.len());
        for s in sections {
            while stack.last().is_some_and(|top| top.level >= s.level) {
                stack.pop();
            }
            stack.push(s);
            paths.push((
                s.byte_start,
                stack.iter().map(|s| s.title.clone()).collect(),
            ));
        }
        Self { paths }
    }

    /// The section a byte offset is in: 0 before the first heading, else 1 + its index.
    fn section_at(&self, byte: usize) -> usize {
        self.paths.partition_point(|(start, _)| *start <= byte)
    }

    /// The heading path of a section numbered as by [`Self::section_at`].
    fn path_of(&self, section: usize) -> &[String] {
        match section.checked_sub(1) {
            Some(i) => &self.paths[i].1,
            None => &[],
        }
    }

    fn path_at(&self, byte: usize) -> Vec<String> {
        self.path_of(self.section_at(byte)).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_core::{Format, PageSpan, Sha256};

    fn doc(text: &str, format: Format, sections: Vec<Section>) -> Document {
        Document {
            id: "d.md".into(),
            source_path: "x/d.md".into(),
            format,
            title: "Doc".into(),
            text: text.into(),
            sections,
            pages: vec![],
            content_hash: Sha256::of(text.as_bytes()),
            size: text.len() as u64,
            mtime: None,
            metadata: Default::default(),
        }
    }

    fn chars_cfg(size: usize, overlap: usize, strategy: ChunkStrategy) -> ChunkingConfig {
        ChunkingConfig {
            strategy,
            unit: ChunkUnit::Chars,
            size,
            overlap,
            fit_model: true,
        }
    }

    /// A character-sized chunker (no tokenizer, model or header).
    fn chars_chunker(size: usize, overlap: usize, strategy: ChunkStrategy, hash: &str) -> Chunker {
        Chunker::new(&chars_cfg(size, overlap, strategy), hash, None, None, None).unwrap()
    }

    #[test]
    fn offsets_slice_the_document_including_multibyte() {
        let text = "# Zoë's guide\n\nCafé prices are in €. ".repeat(20)
            + "\n## Ünïcode section\n\nMore text — here.";
        let sections = ragops_load::markdown_sections(&text);
        let d = doc(&text, Format::Markdown, sections);
        let c = chars_chunker(60, 10, ChunkStrategy::Markdown, "h");
        let chunks = c.chunk(&d).unwrap();
        assert!(chunks.len() > 5);
        let chars: Vec<char> = text.chars().collect();
        for ch in &chunks {
            assert_eq!(&text[ch.start_byte as usize..ch.end_byte as usize], ch.text);
            let by_chars: String = chars[ch.start_char as usize..ch.end_char as usize]
                .iter()
                .collect();
            assert_eq!(by_chars, ch.text);
            assert!(ch.text.chars().count() <= 60);
        }
        let last = chunks.last().unwrap();
        assert_eq!(
            last.heading_path.last().map(String::as_str),
            Some("Ünïcode section")
        );
    }

    #[test]
    fn ids_are_deterministic_and_config_dependent() {
        let text = "Alpha beta gamma. ".repeat(30);
        let d = doc(&text, Format::Text, vec![]);
        let a = chars_chunker(50, 0, ChunkStrategy::Text, "h1");
        let b = chars_chunker(50, 0, ChunkStrategy::Text, "h2");
        let ids1: Vec<_> = a.chunk(&d).unwrap().into_iter().map(|c| c.id).collect();
        let ids2: Vec<_> = a.chunk(&d).unwrap().into_iter().map(|c| c.id).collect();
        let ids3: Vec<_> = b.chunk(&d).unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids1, ids2);
        assert_ne!(ids1, ids3);
        let unique: std::collections::HashSet<_> = ids1.iter().collect();
        assert_eq!(
            unique.len(),
            ids1.len(),
            "identical texts at different positions differ"
        );
    }

    #[test]
    fn heading_paths_nest_and_pop() {
        let secs = vec![
            Section {
                byte_start: 0,
                level: 1,
                title: "A".into(),
            },
            Section {
                byte_start: 10,
                level: 2,
                title: "B".into(),
            },
            Section {
                byte_start: 20,
                level: 3,
                title: "C".into(),
            },
            Section {
                byte_start: 30,
                level: 2,
                title: "D".into(),
            },
        ];
        let h = HeadingIndex::new(&secs);
        assert!(h.path_at(0) == vec!["A"]);
        assert_eq!(h.path_at(25), vec!["A", "B", "C"]);
        assert_eq!(h.path_at(35), vec!["A", "D"]);
        let empty = HeadingIndex::new(&[]);
        assert!(empty.path_at(5).is_empty());
    }

    #[test]
    fn pages_follow_offsets() {
        let text = "page one text\n\npage two text\n\npage three text";
        let mut d = doc(text, Format::Pdf, vec![]);
        d.pages = vec![
            PageSpan {
                byte_start: 0,
                page: 1,
            },
            PageSpan {
                byte_start: 15,
                page: 2,
            },
            PageSpan {
                byte_start: 30,
                page: 3,
            },
        ];
        let c = chars_chunker(15, 0, ChunkStrategy::Text, "h");
        let pages: Vec<_> = c
            .chunk(&d)
            .unwrap()
            .iter()
            .map(|c| (c.page_start, c.page_end))
            .collect();
        let one = |p| (Some(p), Some(p));
        assert_eq!(pages, vec![one(1), one(2), one(3)]);
        // A chunk across pages records both ends, and its offsets still index the text.
        let c = chars_chunker(30, 0, ChunkStrategy::Text, "h");
        let chunks = c.chunk(&d).unwrap();
        let first = &chunks[0];
        assert_eq!((first.page_start, first.page_end), (Some(1), Some(2)));
        assert_eq!(
            &text[first.start_byte as usize..first.end_byte as usize],
            first.text
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.page_end, Some(3));
    }

    fn tiny_tokenizer() -> (tempfile::TempDir, Tokenizer) {
        let dir = tempfile::tempdir().unwrap();
        ragops_test_support::tiny_model::write_tiny_tokenizer(dir.path()).unwrap();
        let t = Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
        (dir, t)
    }

    fn real_count(t: &Tokenizer, s: &str) -> usize {
        t.encode(s, false).unwrap().get_ids().len()
    }

    #[test]
    fn token_chunks_fit_the_limit_when_tokenised_alone() {
        let (_d, t) = tiny_tokenizer();
        let text = "# Guide\n\nShard sizing and latency alerts for the index. ".repeat(200)
            + &"x".repeat(500)
            + "\n\n## Tail\n\nThe end.";
        let d = doc(
            &text,
            Format::Markdown,
            ragops_load::markdown_sections(&text),
        );
        let cfg = ChunkingConfig {
            strategy: ChunkStrategy::Markdown,
            unit: ChunkUnit::Tokens,
            size: 40,
            overlap: 5,
            fit_model: true,
        };
        let c = Chunker::new(&cfg, "h", Some(t.clone()), Some(512), None).unwrap();
        let chunks = c.chunk(&d).unwrap();
        assert!(chunks.len() > 20);
        for ch in &chunks {
            assert!(
                real_count(&t, &ch.text) <= 40,
                "{} tokens: {:?}",
                real_count(&t, &ch.text),
                ch.text
            );
            assert_eq!(&text[ch.start_byte as usize..ch.end_byte as usize], ch.text);
        }
        // Nothing is lost: every word of the document is in some chunk.
        let covered: usize = chunks
            .iter()
            .map(|c| c.text.split_whitespace().count())
            .sum();
        assert!(covered >= text.split_whitespace().count());
    }

    /// A stand-in for the enrich stage's header: title and heading path joined.
    fn test_header(title: &str, path: &[String]) -> String {
        std::iter::once(title)
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" > ")
    }

    #[test]
    fn header_and_chunk_fit_the_model_together() {
        let (_d, t) = tiny_tokenizer();
        // Words of the tiny vocabulary: one token each; a sentence is 10 tokens.
        let body = "The index rebuild is a snapshot of the shard. ".repeat(30);
        let long =
            "Restore the shard index and rollback the search model for the api key alert page";
        let text = format!("# Backup\n\n{body}\n\n## {long}\n\n{body}");
        let d = doc(
            &text,
            Format::Markdown,
            ragops_load::markdown_sections(&text),
        );
        let cfg = ChunkingConfig {
            strategy: ChunkStrategy::Markdown,
            unit: ChunkUnit::Tokens,
            size: 256,
            overlap: 0,
            fit_model: true,
        };
        // A 66-token model: 64 tokens for header and chunk together.
        let window = 64;
        let c = Chunker::new(&cfg, "h", Some(t.clone()), Some(66), Some(test_header)).unwrap();
        let chunks = c.chunk(&d).unwrap();
        let mut largest = [0usize; 2];
        for ch in &chunks {
            let header = test_header(&ch.title, &ch.heading_path);
            let embedded = real_count(&t, &format!("{header}\n\n{}", ch.text));
            assert!(
                embedded <= window,
                "{embedded} tokens: {header:?} + {:?}",
                ch.text
            );
            let section = usize::from(ch.heading_path.len() == 2);
            largest[section] = largest[section].max(real_count(&t, &ch.text));
        }
        let room = |path: &[&str]| {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            window - real_count(&t, &test_header("Doc", &path))
        };
        let (short_room, long_room) = (room(&["Backup"]), room(&["Backup", long]));
        assert!(long_room + 15 < short_room && long_room > window / 2);
        // Each section's chunks fill what its own header leaves (to within a sentence), not
        // what a fixed reserve for the longest header would leave.
        assert!(largest[0] > short_room - 10, "{largest:?} {short_room}");
        assert!(largest[1] <= long_room, "{largest:?} {long_room}");
        assert!(largest[1] > long_room - 10, "{largest:?} {long_room}");
        // Without a header the whole window is the chunk's.
        let bare = Chunker::new(&cfg, "h", Some(t.clone()), Some(66), None).unwrap();
        let bare_largest = bare
            .chunk(&d)
            .unwrap()
            .iter()
            .map(|c| real_count(&t, &c.text))
            .max();
        assert!(bare_largest > Some(short_room), "{bare_largest:?}");
    }

    #[test]
    fn token_unit_requires_tokenizer() {
        let cfg = ChunkingConfig {
            unit: ChunkUnit::Tokens,
            ..chars_cfg(10, 0, ChunkStrategy::Text)
        };
        assert!(matches!(
            Chunker::new(&cfg, "h", None, None, None),
            Err(ChunkError::NoTokenizer)
        ));
    }
}
