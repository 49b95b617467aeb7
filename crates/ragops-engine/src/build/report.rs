//! After the stream: the counts, the manifest, `finish`, publication and the build report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use ragops_core::{ModelIdentity, Skipped, SnapshotId, SourceDiff, TOOL_VERSION};
use ragops_enrich::pii::PiiTally;
use ragops_store::{
    failpoint, Catalog, Counts, Expect, Manifest, SnapshotWriter, SourceFileRecord, SourceRecord,
    Timings, FORMAT_VERSION,
};
use serde::{Deserialize, Serialize};

use super::plan::{Session, Walk, Work};
use super::stream::Streamed;
use super::BuildOptions;
use crate::{EngineError, Reporter};

/// Why a build reused nothing from its parent snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoReuse {
    /// No snapshot was current when the build started.
    NoParent,
    /// The caller asked for a full rebuild.
    FullRebuild,
    /// Another model, revision, weights or precision.
    ModelChanged,
    /// The chunking, enrichment, JSONL or source-limit settings (or the chunker) changed.
    SettingsChanged,
    /// The parent's chunk table fails its checksum.
    ParentDamaged,
}

impl std::fmt::Display for NoReuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoReuse::NoParent => "no parent snapshot",
            NoReuse::FullRebuild => "a full rebuild was asked for",
            NoReuse::ModelChanged => "the embedding model or its precision changed",
            NoReuse::SettingsChanged => {
                "the chunking, enrichment, JSONL or source-limit settings changed"
            }
            NoReuse::ParentDamaged => "the parent's chunk table is damaged",
        })
    }
}

/// How much of the parent snapshot an incremental build reused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncrementalReport {
    /// Why nothing was reused from the parent (no parent, config or model changed, `--full`).
    pub no_reuse_reason: Option<NoReuse>,
    /// Documents compared with the parent snapshot.
    pub documents_added: u64,
    pub documents_changed: u64,
    pub documents_deleted: u64,
    pub documents_unchanged: u64,
    /// Documents whose chunks and vectors came from the parent: kept in its fragments by
    /// reference, or their rows copied (moved files, format-1 parents, compaction).
    pub documents_reused: u64,
    /// Documents loaded, chunked and embedded in this build.
    pub documents_processed: u64,
    pub chunks_reused: u64,
    pub chunks_new: u64,
    pub embeddings_cached: u64,
    pub embeddings_computed: u64,
    pub cache_entries_torn: u64,
    /// Entries this build added to the embedding cache.
    pub cache_entries_added: u64,
    /// Whether the parent's fragments were rewritten into the new snapshot's one fragment
    /// (past the `[index.compaction]` limits, or their indexes no longer matched `[index]`).
    #[serde(default)]
    pub compacted: bool,
}

/// What a build did; rendered by the CLI (`--json` prints this structure).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildReport {
    pub snapshot: SnapshotId,
    pub published: bool,
    /// True when nothing changed since the parent: no snapshot was written.
    pub up_to_date: bool,
    pub parent: Option<SnapshotId>,
    pub store: PathBuf,
    pub model: ModelIdentity,
    pub counts: Counts,
    pub incremental: IncrementalReport,
    pub skipped: Vec<Skipped>,
    /// Seconds per stage.
    pub timings: Timings,
    pub embeddings_per_sec: f64,
    /// What the `pii` enrichment step found in the documents this build processed, and what
    /// it redacted or dropped; absent when the step is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<PiiTally>,
    /// What the `dedup` step found and dropped; absent when the step is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<ragops_enrich::dedup::DedupTally>,
}

/// The report of a build that found nothing to do.
pub(super) fn up_to_date(
    session: &Session<'_>,
    parent: &Manifest,
    _reporter: &dyn Reporter,
) -> BuildReport {
    BuildReport {
        snapshot: parent.id.clone(),
        published: false,
        up_to_date: true,
        parent: Some(parent.id.clone()),
        store: session.store_dir.clone(),
        model: session.model.identity.clone(),
        counts: parent.counts.clone(),
        incremental: IncrementalReport {
            documents_unchanged: parent.counts.documents,
            ..Default::default()
        },
        skipped: session
            .parent_catalog
            .as_ref()
            .map(|c| c.skipped.clone())
            .unwrap_or_default(),
        timings: session.timings,
        embeddings_per_sec: 0.0,
        pii: None,
        dedup: None,
    }
}

/// Records of every file the walk found, with how many documents each produced.
fn source_file_records(walk: &Walk, sources: &[SourceRecord]) -> Vec<SourceFileRecord> {
    let mut docs: BTreeMap<&str, u32> = BTreeMap::new();
    for s in sources {
        *docs.entry(s.id.file_id()).or_default() += 1;
    }
    walk.files
        .iter()
        .zip(&walk.hashes)
        .map(|(f, h)| SourceFileRecord {
            id: f.id.clone(),
            path: f.display_path.clone(),
            size: f.size,
            mtime: f.mtime,
            sha256: h.clone(),
            documents: docs.get(f.id.as_str()).copied().unwrap_or(0),
        })
        .collect()
}

/// What this build did against its parent.
fn incremental(parent: Option<&Catalog>, s: &Streamed, work: &Work) -> IncrementalReport {
    let mut inc = IncrementalReport {
        no_reuse_reason: work.no_reuse_reason,
        documents_reused: s.reused_documents,
        documents_processed: s.sources.len() as u64 - s.reused_documents,
        chunks_reused: s.reused_chunks,
        chunks_new: s.chunks - s.reused_chunks,
        embeddings_cached: s.embed.cached,
        embeddings_computed: s.embed.computed,
        cache_entries_torn: s.cache_torn,
        cache_entries_added: s.cache_added,
        compacted: s.compacted,
        ..Default::default()
    };
    let now = s.sources.iter().map(|d| (d.id.as_str(), &d.content_hash));
    match parent {
        Some(pm) => {
            let before = pm.sources.iter().map(|d| (d.id.as_str(), &d.content_hash));
            let d = SourceDiff::between(before, now);
            inc.documents_added = d.added.len() as u64;
            inc.documents_changed = d.changed.len() as u64;
            inc.documents_deleted = d.deleted.len() as u64;
            inc.documents_unchanged = d.unchanged.len() as u64;
        }
        None => inc.documents_added = s.sources.len() as u64,
    }
    inc
}

fn display(p: &Path) -> String {
    ragops_load::normalize_path(p)
        .to_string_lossy()
        .into_owned()
}

/// The manifest (its id a placeholder until written), catalog, counts and incremental report
/// of a build's output; `parent_catalog` is what the incremental counts compare with.
pub(super) struct Assembled {
    pub manifest: Manifest,
    pub catalog: Catalog,
    pub counts: Counts,
    pub incremental: IncrementalReport,
    pub skipped: Vec<Skipped>,
}

pub(super) fn assemble(
    session: &Session<'_>,
    work: &Work,
    streamed: &Streamed,
    parent_catalog: Option<&Catalog>,
    opts: &BuildOptions,
    started: Instant,
) -> Assembled {
    let mut skipped = session.walk.skipped.clone();
    skipped.extend(streamed.skipped.iter().cloned());
    skipped.extend(work.carried_skips.iter().cloned());
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let incremental = incremental(parent_catalog, streamed, work);
    let counts = Counts {
        documents: streamed.sources.len() as u64,
        chunks: streamed.chunks,
        tokens: streamed.tokens,
        skipped: skipped.len() as u64,
        truncated: streamed.truncated,
        reused_documents: incremental.documents_reused,
        reused_chunks: incremental.chunks_reused,
        embeddings_cached: incremental.embeddings_cached,
        embeddings_computed: incremental.embeddings_computed,
        cache_entries_torn: incremental.cache_entries_torn,
    };
    let timings = Timings {
        reuse: streamed.reuse_secs,
        load_chunk: streamed.load_secs,
        embed: streamed.embed.secs,
        persist: streamed.persist_secs,
        vector_index: streamed.vector_index_secs,
        total: started.elapsed().as_secs_f64(),
        ..session.timings
    };
    let cfg = &session.pipeline.config;
    let parent = session.parent.as_ref().map(|m| m.id.clone());
    let now = SystemTime::now();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        id: parent.clone().unwrap_or_else(placeholder_id),
        parent,
        created_at: humantime::format_rfc3339_seconds(now).to_string(),
        created_unix: ragops_core::unix_now(),
        tool_version: TOOL_VERSION.to_string(),
        pipeline: display(&opts.pipeline),
        config: cfg.normalized_json(),
        config_hash: cfg.content_hash(),
        chunking_hash: cfg.chunking_hash(),
        model: session.model.identity.clone(),
        reuse_key: session.reuse_key.clone(),
        counts: counts.clone(),
        timings,
        files: BTreeMap::new(),
        fragments: Vec::new(),
        enrichment: (streamed.pii.is_some() || streamed.dedup.is_some()).then(|| {
            serde_json::json!({
                "pii": streamed.pii,
                "dedup": streamed.dedup,
            })
        }),
    };
    let catalog = Catalog {
        source_files: source_file_records(&session.walk, &streamed.sources),
        sources: streamed.sources.clone(),
        skipped: skipped.clone(),
    };
    Assembled {
        manifest,
        catalog,
        counts,
        incremental,
        skipped,
    }
}

/// An id for a manifest being assembled (the writer sets the real one).
pub(super) fn placeholder_id() -> SnapshotId {
    SnapshotId::parse("19700101T000000000Z-00000000").expect("a constant of the id's form")
}

/// Counts the stream's output, writes the manifest, finishes the snapshot and publishes it
/// (compare-and-swap on `current` unless `--force`).
pub(super) fn finish(
    session: Session<'_>,
    work: Work,
    writer: SnapshotWriter,
    streamed: Streamed,
    opts: &BuildOptions,
    started: Instant,
) -> Result<BuildReport, EngineError> {
    if streamed.sources.is_empty() {
        let skipped =
            session.walk.skipped.len() + streamed.skipped.len() + work.carried_skips.len();
        writer.abandon();
        return Err(EngineError::NoDocuments {
            pipeline: opts.pipeline.clone(),
            skipped,
        });
    }
    let parent_catalog = match &session.parent {
        Some(_) => session.parent_catalog.as_ref(),
        None => None,
    };
    let Assembled {
        manifest,
        catalog,
        counts,
        incremental,
        skipped,
    } = assemble(&session, &work, &streamed, parent_catalog, opts, started);
    let timings = manifest.timings;
    let parent = manifest.parent.clone();
    let id = writer.finish(manifest, &catalog, streamed.carried, streamed.new_rows)?;
    failpoint("before-publish");
    if opts.publish {
        // Publish only if `current` still names the parent this build started from (a
        // rollback during the build wins), unless --force.
        let expect = if opts.force {
            Expect::Any
        } else {
            Expect::Current(parent.clone())
        };
        let refs = session.store.refs_lock("ragops build")?;
        session.store.publish(&refs, &id, "build", &expect)?;
    }
    Ok(BuildReport {
        snapshot: id,
        published: opts.publish,
        up_to_date: false,
        parent,
        store: session.store_dir.clone(),
        model: session.model.identity.clone(),
        counts,
        incremental,
        skipped,
        timings,
        embeddings_per_sec: streamed.embed.computed as f64 / streamed.embed.secs.max(1e-9),
        pii: streamed.pii,
        dedup: streamed.dedup,
    })
}
