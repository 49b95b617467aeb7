//! The sections of a pipeline file, with their defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Precision;

/// Default embedding model.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Files or directories, relative to the pipeline file.
    pub paths: Vec<String>,
    /// Glob patterns (relative to each source directory) a file must match. Default: everything.
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Glob patterns to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Files larger than this are skipped and reported (and never read or hashed).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Per-file budget: bytes a file's compressed streams (PDF) may inflate to, all together.
    #[serde(default = "default_max_inflated_bytes")]
    pub max_inflated_bytes: u64,
    /// Per-file budget: pages of a PDF.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Per-file budget: seconds one file may take to load.
    #[serde(default = "default_max_load_seconds")]
    pub max_load_seconds: u64,
    /// Follow symbolic links that lead out of a source directory (by default such a link is
    /// skipped with the reason; links that stay inside are always followed).
    #[serde(default)]
    pub follow_links: bool,
    #[serde(default)]
    pub jsonl: JsonlConfig,
}

fn default_include() -> Vec<String> {
    vec!["**/*".to_string()]
}

fn default_max_file_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_max_inflated_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_max_pages() -> u32 {
    20_000
}
fn default_max_load_seconds() -> u64 {
    120
}

/// How JSONL records map to documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    pub id_field: String,
    pub text_field: String,
    /// Optional field holding the record's title.
    pub title_field: Option<String>,
    /// Index "title text" as the document text (how BEIR and MTEB embed a corpus record).
    #[serde(default, skip_serializing_if = "is_false")]
    pub title_in_text: bool,
    /// Record fields kept as declared metadata (strings, numbers, booleans and lists of
    /// them), e.g. `["author", "tenant", "acl", "date"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata_fields: Vec<String>,
}

impl Default for JsonlConfig {
    fn default() -> Self {
        Self {
            id_field: "id".into(),
            text_field: "text".into(),
            title_field: Some("title".into()),
            title_in_text: false,
            metadata_fields: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkStrategy {
    /// Markdown-aware boundaries (headings, lists, code blocks) for Markdown and HTML sources;
    /// plain-text boundaries for the rest.
    Markdown,
    /// Plain-text boundaries (paragraphs, sentences, words) for every source.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkUnit {
    /// Tokens of the embedding model's tokenizer.
    Tokens,
    /// Unicode characters.
    Chars,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkingConfig {
    #[serde(default = "default_strategy")]
    pub strategy: ChunkStrategy,
    #[serde(default = "default_unit")]
    pub unit: ChunkUnit,
    /// Maximum chunk size in `unit`s.
    #[serde(default = "default_chunk_size")]
    pub size: usize,
    /// Overlap between consecutive chunks in `unit`s (must be smaller than `size`).
    #[serde(default = "default_overlap")]
    pub overlap: usize,
    /// Cap token-sized chunks so that every chunk fits the model (its maximum length less the
    /// special tokens and the contextual-header reserve). With `false`, chunks keep the
    /// configured size and their vectors cover only the first `max_tokens` tokens (the report
    /// counts them as truncated).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub fit_model: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_strategy() -> ChunkStrategy {
    ChunkStrategy::Markdown
}
fn default_unit() -> ChunkUnit {
    ChunkUnit::Tokens
}
/// all-MiniLM-L6-v2's 256-token window less [CLS]/[SEP] and 32 tokens for a typical contextual
/// header (a chunk with a longer header is made smaller still, so nothing is truncated).
fn default_chunk_size() -> usize {
    222
}
fn default_overlap() -> usize {
    32
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        Self {
            strategy: default_strategy(),
            unit: default_unit(),
            size: default_chunk_size(),
            overlap: default_overlap(),
            fit_model: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// Prepend "title > heading path" to the text that is embedded (not to the stored text).
    #[serde(default = "yes")]
    pub contextual_header: bool,
    /// The enrichment steps, in order. Empty (the default) means the contextual header alone,
    /// as `contextual_header` says; a list runs the steps it names, and the header only when
    /// it names `contextual_header` (and `contextual_header` is not false).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<EnrichStep>,
    /// Settings of the `pii` step.
    #[serde(default, skip_serializing_if = "PiiConfig::is_default")]
    pub pii: PiiConfig,
    /// Settings of the `metadata` step.
    #[serde(default, skip_serializing_if = "MetadataConfig::is_default")]
    pub metadata: MetadataConfig,
    /// Settings of the `keywords` step.
    #[serde(default, skip_serializing_if = "KeywordsConfig::is_default")]
    pub keywords: KeywordsConfig,
    /// Settings of the `dedup` step.
    #[serde(default, skip_serializing_if = "DedupConfig::is_default")]
    pub dedup: DedupConfig,
}

/// Which texts the `dedup` step compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupLevel {
    Document,
    Chunk,
    #[default]
    Both,
}

/// What the `dedup` step does with a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupAction {
    /// Leave it out of the snapshot.
    #[default]
    Drop,
    /// Keep it, with `duplicate_of` naming the original.
    Mark,
}

/// `[enrich.dedup]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    #[serde(default)]
    pub level: DedupLevel,
    #[serde(default)]
    pub action: DedupAction,
    /// Also near duplicates (MinHash with LSH banding), not only exact ones.
    #[serde(default)]
    pub near: bool,
    /// Estimated Jaccard similarity of word 3-shingles from which a text is a near duplicate.
    #[serde(default = "default_dedup_threshold")]
    pub threshold: f64,
}

// The threshold is validated to lie in (0, 1], so equality is reflexive.
impl Eq for DedupConfig {}

fn default_dedup_threshold() -> f64 {
    0.9
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            level: DedupLevel::default(),
            action: DedupAction::default(),
            near: false,
            threshold: default_dedup_threshold(),
        }
    }
}

impl DedupConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[enrich.keywords]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordsConfig {
    /// Key phrases kept per chunk.
    #[serde(default = "default_top_n")]
    pub top_n: usize,
    /// Most words in a key phrase.
    #[serde(default = "default_max_ngram")]
    pub max_ngram: usize,
}

fn default_top_n() -> usize {
    5
}

fn default_max_ngram() -> usize {
    3
}

impl Default for KeywordsConfig {
    fn default() -> Self {
        Self {
            top_n: default_top_n(),
            max_ngram: default_max_ngram(),
        }
    }
}

impl KeywordsConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[enrich.metadata]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    /// The declared field naming a document's tenant.
    #[serde(default = "tenant_field")]
    pub tenant_field: String,
    /// The declared field listing who may read a document (a list, or comma-separated).
    #[serde(default = "acl_field")]
    pub acl_field: String,
    /// Where the tenant is in a document's path when no field names it: `"{tenant}/**"`
    /// (segments match literally, `*` one segment, `**` the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_from_path: Option<String>,
    /// Declared fields kept in the `metadata` column (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

fn tenant_field() -> String {
    "tenant".into()
}

fn acl_field() -> String {
    "acl".into()
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            tenant_field: tenant_field(),
            acl_field: acl_field(),
            tenant_from_path: None,
            fields: Vec::new(),
        }
    }
}

impl MetadataConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl EnrichConfig {
    /// Whether the contextual header is prepended to embedded texts.
    pub fn header_on(&self) -> bool {
        self.contextual_header
            && (self.steps.is_empty() || self.steps.contains(&EnrichStep::ContextualHeader))
    }

    /// Whether the PII step runs.
    pub fn pii_on(&self) -> bool {
        self.steps.contains(&EnrichStep::Pii)
    }
}

/// One enrichment step of `[enrich] steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichStep {
    /// Declared metadata (front matter, JSONL fields), tenant, ACL and date
    /// (`[enrich.metadata]`).
    Metadata,
    /// Find PII and secrets; count, redact or drop (`[enrich.pii]`).
    Pii,
    /// The ISO 639-1 language and a confidence, per document and per chunk.
    Language,
    /// The top key phrases of each chunk (`[enrich.keywords]`).
    Keywords,
    /// Exact (and near) duplicate documents and chunks, corpus-wide (`[enrich.dedup]`).
    Dedup,
    /// Prepend title and heading path to the embedded text.
    ContextualHeader,
}

/// What the `pii` step does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiMode {
    /// Count findings per type (build report); the text is unchanged.
    #[default]
    Detect,
    /// Replace each value with `[TYPE]` in the document text before chunking, so stored text,
    /// embedded text, full-text index and offsets all see the placeholder.
    Redact,
    /// Leave out every chunk that holds a finding.
    Drop,
}

/// `[enrich.pii]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    #[serde(default)]
    pub mode: PiiMode,
    /// Types to look for (`EMAIL`, `PHONE`, `CREDIT_CARD`...); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Regular expressions of values never reported or redacted (matched against the whole
    /// value), e.g. `"noreply@example\\.com"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

impl PiiConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn yes() -> bool {
    true
}

impl Default for EnrichConfig {
    fn default() -> Self {
        Self {
            contextual_header: true,
            steps: Vec::new(),
            pii: PiiConfig::default(),
            metadata: MetadataConfig::default(),
            keywords: KeywordsConfig::default(),
            dedup: DedupConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Hugging Face model id (resolved in the hf-hub cache) or a path to a model directory.
    #[serde(default = "default_model")]
    pub model: String,
    /// Branch, tag or commit in the hf-hub cache.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Most texts per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Most padded tokens per batch: long texts run in small batches, short ones in large.
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: usize,
    /// Override of the model's maximum sequence length (default: the model's
    /// sentence-transformers `max_seq_length`).
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// Precision of the encoder's linear layers: `f32` (default), `bf16` or `int8`. Part of the
    /// model's identity (changing it re-embeds). Serialised only when not the default, so that
    /// adding the setting left the content hash of existing pipelines unchanged.
    #[serde(default, skip_serializing_if = "Precision::is_default")]
    pub precision: Precision,
}

fn default_model() -> String {
    DEFAULT_MODEL.to_string()
}
fn default_revision() -> String {
    "main".to_string()
}
fn default_batch_size() -> usize {
    64
}
fn default_max_batch_tokens() -> usize {
    2048
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            model: default_model(),
            revision: default_revision(),
            batch_size: default_batch_size(),
            max_batch_tokens: default_max_batch_tokens(),
            max_tokens: None,
            precision: Precision::F32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Build the tantivy full-text index (needed for bm25 and hybrid search).
    #[serde(default = "yes")]
    pub fulltext: bool,
    /// How vector queries find their neighbours: an HNSW graph, the exact scan, or the graph
    /// from `hnsw_min_rows` rows on. Serialised only when not the default, so that adding the
    /// setting left the content hash of existing pipelines unchanged.
    #[serde(default, skip_serializing_if = "is_default")]
    pub vector: VectorIndexKind,
    /// `auto` builds the graph for snapshots of at least this many rows (below it the exact
    /// scan is as fast).
    #[serde(
        default = "default_hnsw_min_rows",
        skip_serializing_if = "is_default_min_rows"
    )]
    pub hnsw_min_rows: usize,
    /// HNSW parameters: links per node (M), the candidate list while building
    /// (ef_construction) and while searching (ef_search), and how the graph stores its copy of
    /// the vectors (results are always re-scored with the exact f32 vectors).
    /// Left out of the serialized config only when it holds the defaults of before i8 became
    /// the default (f16), so that a manifest without it means an f16 graph and an unchanged
    /// pipeline kept its content hash until then.
    #[serde(default, skip_serializing_if = "HnswConfig::is_legacy_default")]
    pub hnsw: HnswConfig,
    /// When an incremental build rewrites the fragments it would reference into one.
    #[serde(default, skip_serializing_if = "is_default")]
    pub compaction: CompactionConfig,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            fulltext: true,
            vector: VectorIndexKind::default(),
            hnsw_min_rows: default_hnsw_min_rows(),
            hnsw: HnswConfig::default(),
            compaction: CompactionConfig::default(),
        }
    }
}

/// `[index.compaction]`: an incremental build references its parent's fragments and masks
/// the rows of changed and deleted documents; past either limit it rewrites every live row
/// into one new fragment instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactionConfig {
    /// Most masked rows, in percent of all rows the snapshot's fragments hold.
    #[serde(default = "default_max_deleted_percent")]
    pub max_deleted_percent: u32,
    /// Most fragments one snapshot reads (each adds a search per query).
    #[serde(default = "default_max_fragments")]
    pub max_fragments: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            max_deleted_percent: default_max_deleted_percent(),
            max_fragments: default_max_fragments(),
        }
    }
}

impl CompactionConfig {
    /// Whether a snapshot of `fragments` fragments holding `rows` rows, `deleted` of them
    /// masked, is past the limits.
    pub fn due(&self, fragments: usize, rows: u64, deleted: u64) -> bool {
        fragments > self.max_fragments.max(1)
            || deleted.saturating_mul(100)
                > rows.saturating_mul(u64::from(self.max_deleted_percent))
    }
}

fn default_max_deleted_percent() -> u32 {
    20
}
fn default_max_fragments() -> usize {
    8
}

impl IndexConfig {
    /// Whether a snapshot of `rows` rows gets an HNSW graph.
    pub fn builds_hnsw(&self, rows: usize) -> bool {
        match self.vector {
            VectorIndexKind::Flat => false,
            VectorIndexKind::Hnsw => rows > 0,
            VectorIndexKind::Auto => rows >= self.hnsw_min_rows,
        }
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Rows from which `vector = "auto"` builds an HNSW graph (see benches/README.md: below it the
/// exact scan answers in a few milliseconds on two cores).
pub const DEFAULT_HNSW_MIN_ROWS: usize = 50_000;

fn default_hnsw_min_rows() -> usize {
    DEFAULT_HNSW_MIN_ROWS
}
fn is_default_min_rows(v: &usize) -> bool {
    *v == DEFAULT_HNSW_MIN_ROWS
}

/// `[index] vector`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorIndexKind {
    #[default]
    Auto,
    Flat,
    Hnsw,
}

/// `[index.hnsw]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswConfig {
    #[serde(default = "default_m")]
    pub m: usize,
    #[serde(default = "default_ef_construction")]
    pub ef_construction: usize,
    #[serde(default = "default_ef_search")]
    pub ef_search: usize,
    #[serde(default)]
    pub quantization: HnswQuantization,
}

fn default_m() -> usize {
    16
}
fn default_ef_construction() -> usize {
    128
}
fn default_ef_search() -> usize {
    // 64 gave recall@10 0.89 on held-out real-model vectors, 128 gave 0.95 (benches/README.md).
    128
}

impl HnswConfig {
    /// The settings a config without `[index.hnsw]` was written with: the defaults, with the
    /// graph in f16 (the default until i8 replaced it).
    pub fn legacy_default() -> Self {
        Self {
            quantization: HnswQuantization::F16,
            ..Self::default()
        }
    }

    fn is_legacy_default(&self) -> bool {
        *self == Self::legacy_default()
    }
}

impl Default for HnswConfig {
    fn default() -> Self {
        Self {
            m: default_m(),
            ef_construction: default_ef_construction(),
            ef_search: default_ef_search(),
            quantization: HnswQuantization::default(),
        }
    }
}

/// How the HNSW graph stores its copy of the vectors (it walks the graph with them; the final
/// scores come from the f32 vectors).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HnswQuantization {
    F32,
    F16,
    /// The default since 2026-12-03 (f16 before): at 1M vectors a query walks the graph 5x
    /// faster at 0.2 points of recall on real-model vectors (benches/README.md).
    #[default]
    I8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Store directory, relative to the pipeline file.
    #[serde(default = "default_store_dir")]
    pub dir: String,
    /// Which snapshots `ragops snapshots gc` keeps (besides `current` and tagged ones).
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Make the store directory private to its owner (mode 0700): snapshots hold the full
    /// text of every document.
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
}

/// Retention policy: a snapshot is kept when it is among the `keep_last` newest, younger than
/// `keep_within`, named by `current` or by a tag. Everything else is deleted by gc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default = "default_keep_last")]
    pub keep_last: usize,
    /// A duration such as "7d" or "12h"; none by default.
    #[serde(default, with = "humantime_opt")]
    pub keep_within: Option<Duration>,
}

fn default_keep_last() -> usize {
    5
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            keep_last: default_keep_last(),
            keep_within: None,
        }
    }
}

fn default_store_dir() -> String {
    ".ragops".to_string()
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            dir: default_store_dir(),
            retention: RetentionConfig::default(),
            private: false,
        }
    }
}

/// `Option<Duration>` as a human-readable duration ("7d", "12h").
mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => humantime::parse_duration(&text)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}"))),
            None => Ok(None),
        }
    }
}

impl std::fmt::Display for ChunkStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkStrategy::Markdown => "markdown",
            ChunkStrategy::Text => "text",
        })
    }
}

impl std::fmt::Display for ChunkUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkUnit::Tokens => "tokens",
            ChunkUnit::Chars => "chars",
        })
    }
}

/// `[serve]`: settings of `ragops serve` when it is given this pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// Every search request must name a tenant (`"tenant": "..."`), and sees only that
    /// tenant's chunks.
    #[serde(default)]
    pub require_tenant: bool,
}

impl ServeSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
