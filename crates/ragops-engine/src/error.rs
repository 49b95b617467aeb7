//! The engine's error: one variant per way a command can fail, each carrying its source.
//! Hints for users ("run `ragops build` first") are the CLI's business, chosen from these.

use std::path::PathBuf;

use ragops_core::{BuildId, ModelIdentity, Skipped, SnapshotId};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Config(#[from] ragops_core::ConfigError),
    #[error(transparent)]
    Store(#[from] ragops_store::StoreError),
    #[error(transparent)]
    Hub(#[from] ragops_hub::HubError),
    #[error(transparent)]
    Embed(#[from] ragops_embed::EmbedError),
    #[error(transparent)]
    Chunk(#[from] ragops_chunk::ChunkError),
    #[error(transparent)]
    Search(#[from] ragops_search::SearchError),
    #[error(transparent)]
    Questions(#[from] ragops_eval::EvalError),
    #[error("invalid [enrich.pii] settings")]
    Pii(#[from] ragops_enrich::pii::PiiError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the {0} thread panicked")]
    WorkerPanicked(&'static str),
    #[error("{} source(s) could not be loaded in strict mode; nothing was published:\n{}", .0.len(), format_skipped(.0))]
    Strict(Vec<Skipped>),
    #[error("no documents were loaded from the sources ({skipped} skipped); check [sources] paths in {}", pipeline.display())]
    NoDocuments { pipeline: PathBuf, skipped: usize },
    #[error(
        "the model `{}` in the cache is not the one snapshot {snapshot} was built with ({} \
         differ; built with {}, found {})",
        expected.id, differs.join(", "), expected.label(), found.label()
    )]
    ModelMismatch {
        snapshot: SnapshotId,
        expected: Box<ModelIdentity>,
        found: Box<ModelIdentity>,
        differs: Vec<&'static str>,
    },
    #[error("snapshot {id} is damaged: {}", problems.join("; "))]
    Damaged {
        id: SnapshotId,
        problems: Vec<String>,
    },
    #[error("snapshot {current} has no parent to roll back to")]
    NoParent { current: SnapshotId },
    #[error("experiment file {}: {message}", path.display())]
    Experiment { path: PathBuf, message: String },
    #[error(transparent)]
    Remote(Box<ragops_remote::RemoteError>),
    #[error("{0} is not supported on object storage")]
    RemoteUnsupported(&'static str),
    #[error("{key}: {message}")]
    RemoteRecord { key: String, message: String },
    #[error(
        "`{name}`: on object storage, --snapshot takes `current` or a full snapshot id (tags \
         are read from local stores only)"
    )]
    RemoteSnapshotName { name: String },
    #[error("shard plan {}: {message}", path.display())]
    BadShardPlan { path: PathBuf, message: String },
    #[error("no build `{0}` in the store (never planned, or already committed)")]
    UnknownBuild(BuildId),
    #[error(
        "build {build}: {} of {shards} shard(s) have not finished (missing: {}); nothing was \
         published",
        missing.len(),
        missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    ShardsMissing {
        build: BuildId,
        shards: u32,
        missing: Vec<u32>,
    },
    #[error("build {build}: shard {shard} is damaged ({}); nothing was published", problems.join("; "))]
    ShardDamaged {
        build: BuildId,
        shard: u32,
        problems: Vec<String>,
    },
    #[error("build {build}: shard {shard} {why}; nothing was published")]
    ShardsDisagree {
        build: BuildId,
        shard: u32,
        why: &'static str,
    },
    #[error(
        "build {build}: `current` moved since the build was planned (it named {}, now {}); \
         nothing was published",
        expected.as_ref().map_or("nothing", |i| i.as_str()),
        found.as_ref().map_or("nothing", |i| i.as_str())
    )]
    CommitCurrentMoved {
        build: BuildId,
        expected: Option<SnapshotId>,
        found: Option<SnapshotId>,
    },
    #[error(
        "shard options reached the wrong entry point (build_shard builds shards, build the rest)"
    )]
    ShardOptionsOnBuild,
    #[error("{}:{line}: {message}", path.display())]
    BadInputLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn format_skipped(s: &[Skipped]) -> String {
    s.iter()
        .map(|s| format!("  {}: {}", s.path, s.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An I/O error on `path`.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}
