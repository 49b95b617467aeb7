//! Pipeline configuration (`pipelines/*.toml`).
//!
//! Every section has defaults, unknown keys are rejected (the error names the key and the file),
//! and the effective configuration is serialised, normalised, into each snapshot's manifest.

mod diff;
mod sections;

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hash::Sha256Hasher;
use crate::model::{ModelIdentity, Precision};

pub use diff::{config_diff, ConfigChange};
pub use sections::{
    ChunkStrategy, ChunkUnit, ChunkingConfig, CompactionConfig, DedupAction, DedupConfig,
    DedupLevel, EmbeddingConfig, EnrichConfig, EnrichStep, HnswConfig, HnswQuantization,
    IndexConfig, JsonlConfig, KeywordsConfig, MetadataConfig, PiiConfig, PiiMode, RetentionConfig,
    ServeSettings, SourcesConfig, StoreConfig, VectorIndexKind, DEFAULT_HNSW_MIN_ROWS,
    DEFAULT_MODEL,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid pipeline file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid pipeline file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub sources: SourcesConfig,
    #[serde(default)]
    pub chunking: ChunkingConfig,
    #[serde(default)]
    pub enrich: EnrichConfig,
    #[serde(default)]
    pub embedding: EmbeddingConfig,
    #[serde(default)]
    pub index: IndexConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default, skip_serializing_if = "ServeSettings::is_default")]
    pub serve: ServeSettings,
}

/// Removes `.` and resolvable `..` components without touching the file system.
pub fn normalize_path(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// A parsed pipeline together with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedPipeline {
    pub path: PathBuf,
    /// Directory relative paths in the file are resolved against.
    pub base_dir: PathBuf,
    pub config: PipelineConfig,
}

impl PipelineConfig {
    /// Parses TOML text; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: PipelineConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks the settings serde cannot (sizes, overlap, durations, globs).
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if self.sources.paths.is_empty() {
            return Err(invalid("[sources] paths is empty".into()));
        }
        if self.sources.max_pages == 0 || self.sources.max_load_seconds == 0 {
            return Err(invalid(
                "[sources] max_pages and max_load_seconds must be at least 1".into(),
            ));
        }
        if self.chunking.size == 0 {
            return Err(invalid("[chunking] size must be at least 1".into()));
        }
        if self.chunking.overlap >= self.chunking.size {
            return Err(invalid(format!(
                "[chunking] overlap ({}) must be smaller than size ({})",
                self.chunking.overlap, self.chunking.size
            )));
        }
        if self.embedding.batch_size == 0 || self.embedding.max_batch_tokens == 0 {
            return Err(invalid(
                "[embedding] batch_size and max_batch_tokens must be at least 1".into(),
            ));
        }
        let t = self.enrich.dedup.threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(format!(
                "[enrich.dedup] threshold must be above 0 and at most 1 (is {t})"
            )));
        }
        let h = &self.index.hnsw;
        if !(2..=256).contains(&h.m) || h.ef_construction == 0 || h.ef_search == 0 {
            return Err(invalid(format!(
                "[index.hnsw] m must be 2 to 256 (is {}) and ef_construction, ef_search at \
                 least 1 (are {}, {})",
                h.m, h.ef_construction, h.ef_search
            )));
        }
        for pattern in self.sources.include.iter().chain(&self.sources.exclude) {
            if pattern.trim().is_empty() {
                return Err(invalid("[sources] empty glob pattern".into()));
            }
        }
        Ok(())
    }

    /// Canonical JSON of the effective configuration (defaults filled in).
    pub fn normalized_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The settings that determine a snapshot's content: the configuration without the store
    /// section and the batching knobs (which change speed, not vectors).
    pub fn content_json(&self) -> serde_json::Value {
        let e = &self.embedding;
        serde_json::to_value(ContentConfig {
            sources: &self.sources,
            chunking: &self.chunking,
            enrich: &self.enrich,
            embedding: EmbeddingContent {
                model: &e.model,
                revision: &e.revision,
                max_tokens: e.max_tokens,
                precision: e.precision,
            },
            index: &self.index,
        })
        .unwrap_or(serde_json::Value::Null)
    }

    /// Hash of [`PipelineConfig::content_json`].
    pub fn content_hash(&self) -> String {
        Sha256Hasher::new()
            .part(self.content_json().to_string())
            .hex()
    }

    /// Hash of the settings that shape each document's chunks and embedded texts, given the
    /// model identity: chunking, enrichment, the JSONL mapping, the per-file limits (which
    /// decide whether a file loads at all), the loaders' version ([`LOADERS`]), `max_tokens`
    /// and the embedding model. A document with the same bytes and the same reuse key gets the
    /// same chunks and vectors.
    pub fn reuse_key(&self, model: &ModelIdentity) -> String {
        let s = &self.sources;
        let limits = serde_json::json!({
            "max_file_bytes": s.max_file_bytes,
            "max_inflated_bytes": s.max_inflated_bytes,
            "max_pages": s.max_pages,
            "max_load_seconds": s.max_load_seconds,
            "follow_links": s.follow_links,
        });
        Sha256Hasher::new()
            .part(self.chunking_hash())
            .part(serde_json::to_string(&self.enrich).unwrap_or_default())
            .part(if self.enrich.header_on() {
                CONTEXTUAL_HEADER
            } else {
                ""
            })
            .part(if self.enrich.pii_on() { PII_RULES } else { "" })
            .part(
                if self.enrich.steps.contains(&crate::EnrichStep::Language) {
                    LANGUAGE_MODEL
                } else {
                    ""
                },
            )
            .part(
                if self.enrich.steps.contains(&crate::EnrichStep::Keywords) {
                    KEYWORDS_RULES
                } else {
                    ""
                },
            )
            .part(if self.enrich.steps.contains(&crate::EnrichStep::Dedup) {
                DEDUP_RULES
            } else {
                ""
            })
            .part(serde_json::to_string(&s.jsonl).unwrap_or_default())
            .part(limits.to_string())
            .part(LOADERS)
            .part(serde_json::to_string(&self.embedding.max_tokens).unwrap_or_default())
            .part(model.reuse_part())
            .hex()
    }

    /// Hash of the settings that determine chunk boundaries; part of every chunk id.
    pub fn chunking_hash(&self) -> String {
        let mut h =
            Sha256Hasher::new().part(serde_json::to_string(&self.chunking).unwrap_or_default());
        h = match self.chunking.unit {
            // Token chunks leave room for their contextual header when they must fit the model.
            ChunkUnit::Tokens => h
                .part(self.embedding.model.as_str())
                .part(TOKEN_SPLITTER)
                .part(if self.chunking.fit_model && self.enrich.header_on() {
                    CONTEXTUAL_HEADER
                } else {
                    ""
                }),
            ChunkUnit::Chars => h.part(""),
        };
        h.hex()
    }
}

/// Names the token-sized chunking algorithm (ragops-chunk's splitter). It is part of the chunking
/// hash of token-sized configurations, so a new algorithm changes chunk ids and the reuse key:
/// chunks cut by an older algorithm are never mixed with new ones.
pub const TOKEN_SPLITTER: &str = "ragops-split/1";

/// Names the loaders' output (the text and pages they extract from a file's bytes). It is part of
/// the reuse key, so a ragops whose loaders extract differently (PDF fonts and layout in
/// `ragops-load/2`; declared metadata of HTML and PDF in `ragops-load/3`) loads every file again
/// instead of reusing chunks of the old text. Bump it whenever a loader's output changes for
/// some input.
pub const LOADERS: &str = "ragops-load/3";

/// Names the contextual header (`ragops_enrich::header`: title and heading path, capped at 200
/// characters and 32 words). It is part of the reuse key when headers are on, and of the
/// chunking hash when token chunks leave room for their header: snapshots embedded with other
/// headers are never reused.
pub const CONTEXTUAL_HEADER: &str = "ragops-header/2";
/// Version of the PII recognisers (`ragops_enrich::pii`), part of the reuse key of a pipeline
/// with the `pii` step: bump it when what they find changes, so redacted or dropped text is
/// recomputed.
pub const PII_RULES: &str = "ragops-pii/1";
/// Version of the language detector (`ragops_enrich::language`: whatlang's models), part of
/// the reuse key of a pipeline with the `language` step.
pub const LANGUAGE_MODEL: &str = "ragops-lang/1 whatlang-0.18";
/// Version of the key-phrase scoring (`ragops_enrich::keywords`), part of the reuse key of a
/// pipeline with the `keywords` step.
pub const KEYWORDS_RULES: &str = "ragops-keywords/1 stop-words-0.10";
/// Version of the dedup signatures (`ragops_enrich::dedup`: normalisation, shingles, MinHash
/// permutations), part of the reuse key of a pipeline with the `dedup` step.
pub const DEDUP_RULES: &str = "ragops-dedup/1";

/// What of a configuration shapes a snapshot's content (see [`PipelineConfig::content_json`]).
/// Serialised to a JSON value, whose keys are sorted, and hashed.
#[derive(Serialize)]
struct ContentConfig<'a> {
    sources: &'a SourcesConfig,
    chunking: &'a ChunkingConfig,
    enrich: &'a EnrichConfig,
    embedding: EmbeddingContent<'a>,
    index: &'a IndexConfig,
}

#[derive(Serialize)]
struct EmbeddingContent<'a> {
    model: &'a str,
    revision: &'a str,
    max_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Precision::is_default")]
    precision: Precision,
}

/// Drops what does not shape a snapshot's content from a normalised configuration as a
/// manifest stores it (for comparing a stored configuration with a live one).
pub fn content_part(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.remove("store");
        if let Some(e) = map.get_mut("embedding").and_then(|e| e.as_object_mut()) {
            e.remove("batch_size");
            e.remove("max_batch_tokens");
        }
    }
    value
}

impl LoadedPipeline {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = PipelineConfig::from_toml(&text, path)?;
        let base_dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Self {
            path: path.to_path_buf(),
            base_dir,
            config,
        })
    }

    /// Resolves a path from the pipeline file against its directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            normalize_path(p)
        } else {
            normalize_path(&self.base_dir.join(p))
        }
    }

    pub fn store_dir(&self) -> PathBuf {
        self.resolve(&self.config.store.dir)
    }

    /// The embedding model reference: an absolute directory path (resolved against the
    /// pipeline file, `~` against `$HOME`) when the configured value is a local reference
    /// (see [`is_local_model_ref`]), else the hub id as written. A directory that happens to
    /// be named like a hub id is never used in its place.
    pub fn model_ref(&self) -> String {
        let m = &self.config.embedding.model;
        if !is_local_model_ref(m) {
            return m.clone();
        }
        let resolved = match (m.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => normalize_path(&PathBuf::from(home).join(rest)),
            _ => self.resolve(m),
        };
        std::path::absolute(&resolved)
            .unwrap_or(resolved)
            .to_string_lossy()
            .into_owned()
    }
}

/// Whether a model reference names a local directory rather than a hub id: an absolute path,
/// one that starts with `.` or `~`, or one with more than one `/` (a hub id is `name` or
/// `org/name`).
pub fn is_local_model_ref(m: &str) -> bool {
    m.starts_with('/')
        || m.starts_with('.')
        || m.starts_with('~')
        || m.contains('\\')
        || m.matches('/').count() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelIdentity {
        ModelIdentity {
            id: "m".into(),
            revision: "r".into(),
            weights_sha256: crate::Sha256::of(b"w"),
            dim: 3,
            max_tokens: 8,
            pooling: crate::Pooling::Mean,
            normalize: true,
            precision: crate::Precision::F32,
        }
    }

    fn other_model() -> ModelIdentity {
        ModelIdentity {
            weights_sha256: crate::Sha256::of(b"other"),
            ..model()
        }
    }

    fn parse(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::from_toml(text, Path::new("pipelines/test.toml"))
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize_path(Path::new("pipelines/../fixtures/./corpus")),
            PathBuf::from("fixtures/corpus")
        );
        assert_eq!(normalize_path(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(normalize_path(Path::new("/a/../../b")), PathBuf::from("/b"));
    }

    #[test]
    fn defaults_fill_in() {
        let c = parse("[sources]\npaths = [\"docs\"]\n").expect("valid");
        assert_eq!(c.chunking.size, 222);
        assert_eq!(c.chunking.unit, ChunkUnit::Tokens);
        assert_eq!(c.embedding.model, DEFAULT_MODEL);
        assert_eq!(c.sources.include, vec!["**/*".to_string()]);
        assert!(c.enrich.contextual_header);
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = parse("[sources]\npaths = [\"docs\"]\n[chunking]\nsizee = 3\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sizee"), "{msg}");
        assert!(msg.contains("pipelines/test.toml"), "{msg}");
    }

    #[test]
    fn overlap_must_be_smaller_than_size() {
        let err =
            parse("[sources]\npaths = [\"d\"]\n[chunking]\nsize = 10\noverlap = 10\n").unwrap_err();
        assert!(err.to_string().contains("overlap"));
    }

    #[test]
    fn hashes_track_relevant_changes_only() {
        let a = parse("[sources]\npaths = [\"d\"]\n").unwrap();
        let mut b = a.clone();
        b.store.dir = "elsewhere".into();
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(a.chunking_hash(), b.chunking_hash());
        b.chunking.size = 128;
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(a.chunking_hash(), b.chunking_hash());
        let mut d = a.clone();
        d.embedding.batch_size = 7;
        d.embedding.max_batch_tokens = 99;
        assert_eq!(
            a.content_hash(),
            d.content_hash(),
            "batching is not content"
        );
        let mut c = a.clone();
        c.enrich.contextual_header = false;
        assert_ne!(a.content_hash(), c.content_hash());
        // Token chunks leave room for the header; character chunks do not depend on it.
        assert_ne!(a.chunking_hash(), c.chunking_hash());
        let (mut chars_on, mut chars_off) = (a.clone(), c.clone());
        chars_on.chunking.unit = ChunkUnit::Chars;
        chars_off.chunking.unit = ChunkUnit::Chars;
        assert_eq!(chars_on.chunking_hash(), chars_off.chunking_hash());
        assert_ne!(a.reuse_key(&model()), c.reuse_key(&model()));
        assert_ne!(a.reuse_key(&model()), a.reuse_key(&other_model()));
        let mut l = a.clone();
        l.sources.max_file_bytes = 16;
        assert_ne!(
            a.reuse_key(&model()),
            l.reuse_key(&model()),
            "limits decide what loads"
        );
        let mut e = a.clone();
        e.sources.paths.push("more".into());
        assert_eq!(
            a.reuse_key(&model()),
            e.reuse_key(&model()),
            "sources are not per-document"
        );
    }

    #[test]
    fn the_typed_content_projection_equals_the_stored_one() {
        let a = parse("[sources]\npaths = [\"d\"]\n[embedding]\nmax_tokens = 128\nbatch_size = 3\n[store]\ndir = \"x\"\n").unwrap();
        assert_eq!(a.content_json(), content_part(a.normalized_json()));
        assert!(a.content_json().get("store").is_none());
        assert!(a.content_json()["embedding"].get("batch_size").is_none());
    }

    #[test]
    fn precision_is_content_only_when_not_f32() {
        let a = parse("[sources]\npaths = [\"d\"]\n").unwrap();
        assert_eq!(a.embedding.precision, crate::Precision::F32);
        // The default is left out: pipelines written before precisions keep their hash.
        assert!(a.normalized_json()["embedding"].get("precision").is_none());
        assert!(a.content_json()["embedding"].get("precision").is_none());
        let explicit =
            parse("[sources]\npaths = [\"d\"]\n[embedding]\nprecision = \"f32\"\n").unwrap();
        assert_eq!(a.content_hash(), explicit.content_hash());
        for (text, want) in [
            ("bf16", crate::Precision::Bf16),
            ("int8", crate::Precision::Int8),
        ] {
            let b = parse(&format!(
                "[sources]\npaths = [\"d\"]\n[embedding]\nprecision = \"{text}\"\n"
            ))
            .unwrap();
            assert_eq!(b.embedding.precision, want);
            assert_eq!(b.content_json()["embedding"]["precision"], text);
            assert_eq!(b.content_json(), content_part(b.normalized_json()));
            assert_ne!(a.content_hash(), b.content_hash());
            assert_eq!(a.chunking_hash(), b.chunking_hash(), "chunks do not change");
            let keys: Vec<String> = config_diff(&a.content_json(), &b.content_json())
                .into_iter()
                .map(|c| c.key)
                .collect();
            assert_eq!(keys, vec!["embedding.precision"]);
            // Round trip through the manifest's normalised JSON.
            let back: PipelineConfig = serde_json::from_value(b.normalized_json()).unwrap();
            assert_eq!(back, b);
        }
        // The reuse key follows the model identity's precision.
        let int8 = ModelIdentity {
            precision: crate::Precision::Int8,
            ..model()
        };
        assert_ne!(a.reuse_key(&model()), a.reuse_key(&int8));
    }

    #[test]
    fn unknown_precision_names_the_allowed_values() {
        let err = parse("[sources]\npaths = [\"d\"]\n[embedding]\nprecision = \"fp16\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pipelines/test.toml"), "{err}");
        assert!(err.contains("fp16"), "{err}");
        for allowed in ["f32", "bf16", "int8"] {
            assert!(err.contains(allowed), "{err}");
        }
    }

    #[test]
    fn config_diff_names_dotted_keys() {
        let a = parse("[sources]\npaths = [\"d\"]\n").unwrap();
        let mut b = a.clone();
        b.chunking.size = 128;
        b.enrich.contextual_header = false;
        b.store.dir = "x".into();
        let d = config_diff(&a.content_json(), &b.content_json());
        let keys: Vec<&str> = d.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec!["chunking.size", "enrich.contextual_header"]);
        assert_eq!(d[0].old, serde_json::json!(222));
        assert_eq!(d[0].new, serde_json::json!(128));
        assert!(config_diff(&a.content_json(), &a.content_json()).is_empty());
    }

    #[test]
    fn model_refs_are_local_only_when_written_as_paths() {
        for local in ["/m", "./m", "../m", "~/m", "a/b/c"] {
            assert!(is_local_model_ref(local), "{local}");
        }
        for hub in ["org/name", "bert-base-uncased"] {
            assert!(!is_local_model_ref(hub), "{hub}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("org/name")).unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(
            &p,
            "[sources]\npaths=[\"d\"]\n[embedding]\nmodel=\"org/name\"\n",
        )
        .unwrap();
        let lp = LoadedPipeline::load(&p).unwrap();
        assert_eq!(
            lp.model_ref(),
            "org/name",
            "a directory does not shadow the id"
        );
        std::fs::write(
            &p,
            "[sources]\npaths=[\"d\"]\n[embedding]\nmodel=\"./org/name\"\n",
        )
        .unwrap();
        let lp = LoadedPipeline::load(&p).unwrap();
        assert_eq!(
            PathBuf::from(lp.model_ref()),
            std::path::absolute(dir.path().join("org/name")).unwrap()
        );
    }

    #[test]
    fn retention_duration_is_validated() {
        let ok = parse(
            "[sources]\npaths = [\"d\"]\n[store.retention]\nkeep_last = 2\nkeep_within = \"7d\"\n",
        )
        .unwrap();
        assert_eq!(ok.store.retention.keep_last, 2);
        let err = parse("[sources]\npaths = [\"d\"]\n[store.retention]\nkeep_within = \"soon\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("keep_within"), "{err}");
    }
}
