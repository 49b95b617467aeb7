//! The ragops application: what each command does, over the stage crates (load, chunk, enrich,
//! embed, store, search, eval). The CLI parses arguments, calls one function here and renders
//! what it returns; this crate never prints and knows no command-line flag. Progress and
//! events go to a [`Reporter`] the caller provides.
//!
//! * [`build`]: plan → stream (load, chunk, enrich, embed, persist) → finish → publish.
//! * [`ops`]: check, diff, gc, rollback/tag/untag, search, eval, store resolution.
//! * [`experiment`]: a grid of pipeline variants → snapshots → metrics → ranked report.
//! * [`embed_file`]: embed a JSONL file of texts (`ragops embed`).

pub mod build;
pub mod embed_file;
mod error;
pub mod experiment;
mod model;
pub mod ops;
pub mod remote;
mod reporter;

pub use build::{
    build, build_pipeline, build_shard, commit, plan_build, shard_status, BuildOptions,
    BuildReport, CommitOptions, CommitReport, IncrementalReport, NoReuse, ShardAssign,
    ShardOptions, ShardReport, ShardStatus,
};
pub use embed_file::{bert_flops, embed_file, read_texts, EmbedFileOptions, EmbedFileReport};
pub use error::EngineError;
pub use experiment::{experiment, ExperimentOptions, ExperimentRun};
pub use model::{load_for_snapshot, load_for_snapshot_at, load_model, LoadedModel};
pub use ragops_enrich::dedup::DedupTally;
pub use ragops_enrich::pii::PiiTally;
pub use ragops_search::Filter;
pub use reporter::{Event, Progress, Reporter, Silent};
