//! One shard of a sharded build: which source files it owns, whether it copies the rows it
//! reuses, and how it ends (its fragment and records staged under `builds/<id>/shard-<i>/`,
//! nothing published).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use ragops_core::{BuildId, DocId, IndexConfig, ModelIdentity, Skipped, SnapshotId};
use ragops_enrich::pii::PiiTally;
use ragops_load::SourceFile;
use ragops_store::{Counts, ShardParts, SnapshotWriter, Timings};
use serde::{Deserialize, Serialize};

use super::plan::{ReusePlan, Session, Work};
use super::report::{self, IncrementalReport};
use super::stream::Streamed;
use super::BuildOptions;
use crate::EngineError;

/// Which shard a build is (`--shard I/N --build-id ID`, optionally `--plan FILE`).
#[derive(Debug, Clone)]
pub struct ShardOptions {
    pub build: BuildId,
    /// 0-based.
    pub index: u32,
    pub count: u32,
    /// A JSON file `{"shards": [[path, ...], ...]}` listing source files (as the build reports
    /// their paths) per shard; files it does not list are assigned by hash.
    pub plan: Option<PathBuf>,
}

/// The plan file's form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    shards: Vec<Vec<String>>,
}

/// Which shard owns a source file: the one the plan file lists it under, else the one its
/// stable id hashes to (SHA-256 of the id, first 8 bytes, modulo the shard count). A file's
/// documents (every record of a JSONL file) stay together in one shard.
#[derive(Debug, Clone)]
pub struct ShardAssign {
    index: u32,
    count: u32,
    listed: HashMap<String, u32>,
    plan: Option<PathBuf>,
}

impl ShardAssign {
    pub(super) fn new(opts: &ShardOptions) -> Result<Self, EngineError> {
        let mut listed = HashMap::new();
        if let Some(path) = &opts.plan {
            let bad = |message: String| EngineError::BadShardPlan {
                path: path.clone(),
                message,
            };
            let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let plan: PlanFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
            if plan.shards.len() != opts.count as usize {
                return Err(bad(format!(
                    "it lists {} shard(s), the build has {}",
                    plan.shards.len(),
                    opts.count
                )));
            }
            for (i, paths) in plan.shards.iter().enumerate() {
                for p in paths {
                    let p = p.strip_prefix("./").unwrap_or(p).to_string();
                    if let Some(j) = listed.insert(p.clone(), i as u32) {
                        if j != i as u32 {
                            return Err(bad(format!("{p} is listed in shards {j} and {i}")));
                        }
                    }
                }
            }
        }
        Ok(Self {
            index: opts.index,
            count: opts.count,
            listed,
            plan: opts.plan.clone(),
        })
    }

    /// The shard owning the file with stable id `id` at `path`.
    pub fn owner(&self, id: &str, path: &str) -> u32 {
        if let Some(i) = self.listed.get(path) {
            return *i;
        }
        let digest = ragops_core::Sha256Hasher::new().part(id).hex();
        let n = u64::from_str_radix(&digest[..16], 16).unwrap_or(0);
        (n % u64::from(self.count.max(1))) as u32
    }

    pub(super) fn owns(&self, id: &str, path: &str) -> bool {
        self.owner(id, path) == self.index
    }

    /// Refuses a plan file that names a path the walk did not find (a typo would otherwise
    /// silently move a file to its hashed shard).
    pub(super) fn check_listed(&self, files: &[SourceFile]) -> Result<(), EngineError> {
        let Some(plan) = &self.plan else {
            return Ok(());
        };
        let found: std::collections::HashSet<&str> =
            files.iter().map(|f| f.display_path.as_str()).collect();
        let mut unknown: Vec<&str> = self
            .listed
            .keys()
            .map(String::as_str)
            .filter(|p| !found.contains(p))
            .collect();
        unknown.sort_unstable();
        match unknown.first() {
            None => Ok(()),
            Some(first) => Err(EngineError::BadShardPlan {
                path: plan.clone(),
                message: format!(
                    "{} listed path(s) are not among the pipeline's source files (first: {first})",
                    unknown.len()
                ),
            }),
        }
    }
}

/// Whether the shards of a build copy the rows they reuse into their own fragments rather
/// than keeping them in the parent's: decided from the parent alone, so every shard decides
/// the same. The commit adds one fragment per shard to the parent's, so it compacts when that
/// would pass `[index.compaction] max_fragments`, when the parent already masks more than
/// `max_deleted_percent` of its rows, or when the parent's indexes no longer match `[index]`.
pub(super) fn compacts(plan: &ReusePlan, index: &IndexConfig, shards: u32) -> bool {
    let entries = &plan.parent.manifest().fragments;
    let rows: u64 = entries.iter().map(|e| e.rows).sum();
    let deleted: u64 = entries.iter().map(|e| e.deleted).sum();
    let stale = plan.fragments.iter().zip(entries).any(|(f, e)| {
        f.has_graph() != index.builds_hnsw(e.rows as usize)
            || (f.has_graph() && super::stream::graph_settings_changed(plan, index))
            || f.has_fulltext() != index.fulltext
    });
    stale
        || index
            .compaction
            .due(entries.len() + shards as usize, rows, deleted)
}

/// What one shard did; rendered by the CLI (`--json` prints this structure). The commit's
/// report sums them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardReport {
    pub build_id: BuildId,
    pub shard: u32,
    pub shards: u32,
    /// The parent every shard of the build reuses from (fixed by the build's plan).
    pub parent: Option<SnapshotId>,
    pub store: PathBuf,
    pub model: ModelIdentity,
    /// Counts of this shard's documents (kept rows of the parent are counted by the commit).
    pub counts: Counts,
    pub incremental: IncrementalReport,
    pub skipped: Vec<Skipped>,
    pub timings: Timings,
    pub embeddings_per_sec: f64,
    /// Rows of the shard's new fragment.
    pub fragment_rows: u64,
    /// Documents of the parent this shard keeps in the parent's fragments.
    pub kept_documents: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<PiiTally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<ragops_enrich::dedup::DedupTally>,
}

/// Ends a shard: its manifest part, catalog and kept list are written beside its fragment and
/// the staging directory becomes `builds/<id>/shard-<i>/`.
pub(super) fn finish(
    session: Session<'_>,
    work: Work,
    writer: SnapshotWriter,
    streamed: Streamed,
    opts: &BuildOptions,
    started: Instant,
) -> Result<ShardReport, EngineError> {
    let Some((lock, plan, assign)) = session.shard() else {
        return Err(EngineError::ShardOptionsOnBuild);
    };
    // The parent's documents this shard answers for: its incremental counts compare with
    // those only.
    let parent_catalog = session.parent_catalog.clone().map(|mut c| {
        c.sources.retain(|s| {
            assign.owns(s.id.file_id(), &s.path) || streamed.by_ref.contains_key(&s.id)
        });
        c
    });
    let parts = report::assemble(
        &session,
        &work,
        &streamed,
        parent_catalog.as_ref(),
        opts,
        started,
    );
    let kept: Vec<DocId> = if streamed.compacted {
        Vec::new()
    } else {
        let mut k: Vec<DocId> = streamed.by_ref.keys().cloned().collect();
        k.sort();
        k
    };
    let shard_report = ShardReport {
        build_id: plan.build_id.clone(),
        shard: lock.shard(),
        shards: plan.shards,
        parent: plan.parent.clone(),
        store: session.store_dir.clone(),
        model: session.model.identity.clone(),
        counts: parts.counts.clone(),
        incremental: parts.incremental.clone(),
        skipped: parts.skipped.clone(),
        timings: parts.manifest.timings,
        embeddings_per_sec: streamed.embed.computed as f64 / streamed.embed.secs.max(1e-9),
        fragment_rows: streamed.new_rows,
        kept_documents: kept.len() as u64,
        pii: streamed.pii.clone(),
        dedup: streamed.dedup.clone(),
    };
    writer.finish_shard(
        lock,
        ShardParts {
            manifest: parts.manifest,
            catalog: &parts.catalog,
            kept,
            new_rows: streamed.new_rows,
            compacted: streamed.compacted,
            parent: plan.parent.clone(),
            shards: plan.shards,
            report: serde_json::to_value(&shard_report).unwrap_or_default(),
        },
    )?;
    Ok(shard_report)
}
