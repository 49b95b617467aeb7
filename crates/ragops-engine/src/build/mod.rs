//! `ragops build`: plan → stream → finish → publish.
//!
//! * [`plan`]: open the store, load the model, walk and hash the sources, compare them with the
//!   parent snapshot: up to date, or which documents to reuse and which files to process.
//! * [`stream`]: the bounded three-stage pipeline (load/chunk/enrich, embed, persist).
//! * [`embed_stage`]: embedding-cache lookups and additions.
//! * [`report`]: counts, the manifest and the build report; then publication.

mod commit;
mod embed_stage;
mod plan;
mod report;
mod shard;
mod stream;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ragops_core::LoadedPipeline;

pub(crate) use commit::{check_agreement, merge, unchanged, up_to_date, Published};
pub use commit::{commit, plan_build, shard_status, CommitOptions, CommitReport, ShardStatus};
pub(crate) use plan::hash_files;
pub use report::{BuildReport, IncrementalReport, NoReuse};
pub use shard::{ShardAssign, ShardOptions, ShardReport};

use crate::{EngineError, Reporter};

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub pipeline: PathBuf,
    /// Overrides the pipeline's `[store] dir`.
    pub store: Option<PathBuf>,
    /// Fail (and write nothing) when any source is skipped.
    pub strict: bool,
    /// Point `current` at the new snapshot when it is complete.
    pub publish: bool,
    /// Reprocess every document: reuse nothing from the parent, read nothing from the
    /// embedding cache (new vectors are still added to it).
    pub full: bool,
    /// Build a new snapshot even when sources, config and model are unchanged, and publish it
    /// even if `current` moved while it was built.
    pub force: bool,
    /// How long to wait for another writer to release the store lock.
    pub wait: Duration,
    /// Build one shard of a sharded build instead ([`build_shard`]).
    pub shard: Option<ShardOptions>,
}

/// Builds the pipeline file `opts.pipeline`.
pub fn build(opts: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildReport, EngineError> {
    if let Some(url) = opts
        .store
        .as_deref()
        .filter(|s| crate::remote::is_remote(s))
    {
        return crate::remote::build(&url.to_string_lossy(), opts, reporter);
    }
    let pipeline = LoadedPipeline::load(&opts.pipeline)?;
    build_pipeline(&pipeline, opts, reporter)
}

/// Builds an already loaded (possibly generated) pipeline; `opts.pipeline` only names it.
pub fn build_pipeline(
    pipeline: &LoadedPipeline,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildReport, EngineError> {
    let started = Instant::now();
    let session = plan::Session::open(pipeline, opts, reporter)?;
    let plan = session.plan(opts, reporter)?;
    let work = match plan {
        plan::BuildPlan::UpToDate(parent) => {
            return Ok(report::up_to_date(&session, &parent, reporter))
        }
        plan::BuildPlan::Build(work) => work,
    };
    let plan::Writer::Store(lock) = &session.writer else {
        return Err(EngineError::ShardOptionsOnBuild);
    };
    let writer = session
        .store
        .begin_snapshot(lock, &pipeline.config.content_hash())?;
    let streamed = match stream::run(&session, &work, &writer, opts, reporter) {
        Ok(s) => s,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    report::finish(session, *work, writer, streamed, opts, started)
}

/// Builds shard `opts.shard` of a sharded build: only the source files the shard owns, its
/// new rows and embedding-cache segment staged under the store's `builds/<id>/shard-<i>/`.
/// Takes no writer lock (shards run side by side) and publishes nothing: `commit` does.
pub fn build_shard(
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<ShardReport, EngineError> {
    if opts.shard.is_none() {
        return Err(EngineError::ShardOptionsOnBuild);
    }
    if let Some(url) = opts
        .store
        .as_deref()
        .filter(|s| crate::remote::is_remote(s))
    {
        return crate::remote::build_shard(&url.to_string_lossy(), opts, reporter);
    }
    let pipeline = LoadedPipeline::load(&opts.pipeline)?;
    let started = Instant::now();
    let session = plan::Session::open(&pipeline, opts, reporter)?;
    let work = match session.plan(opts, reporter)? {
        plan::BuildPlan::Build(work) => work,
        plan::BuildPlan::UpToDate(_) => return Err(EngineError::ShardOptionsOnBuild),
    };
    let Some((lock, _, _)) = session.shard() else {
        return Err(EngineError::ShardOptionsOnBuild);
    };
    let writer = session
        .store
        .begin_shard(lock, &pipeline.config.content_hash())?;
    let streamed = match stream::run(&session, &work, &writer, opts, reporter) {
        Ok(s) => s,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    shard::finish(session, *work, writer, streamed, opts, started)
}
