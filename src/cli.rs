//! The command line: every flag, typed and parsed once by clap.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use ragops_core::Mode;

/// A list of retrieval modes: `all`, or names separated by commas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Modes(pub(crate) Vec<Mode>);

fn modes(s: &str) -> Result<Modes, String> {
    if s == "all" {
        return Ok(Modes(Mode::ALL.to_vec()));
    }
    s.split(',')
        .map(|m| m.trim().parse())
        .collect::<Result<Vec<Mode>, String>>()
        .map(Modes)
}

/// `f32`, `bf16` or `int8` (listed as possible values in `--help`).
fn precision() -> impl clap::builder::TypedValueParser<Value = ragops_core::Precision> {
    use clap::builder::TypedValueParser;
    let names = ragops_core::Precision::ALL.map(|p| p.as_str());
    clap::builder::PossibleValuesParser::new(names).map(|s| {
        s.parse::<ragops_core::Precision>()
            .expect("a possible value")
    })
}

/// A filter expression (`lang = "en" AND tenant = "acme"`), with the place of a mistake.
fn filter_expr(s: &str) -> Result<ragops_engine::Filter, String> {
    ragops_engine::Filter::parse(s).map_err(|e| {
        format!(
            "{}
  {s}
  {}^",
            e,
            " ".repeat(s[..e.at.min(s.len())].chars().count())
        )
    })
}

/// A duration such as `30s`, `10m`, `24h` or `7d`.
/// A `--store` value: a path, `file:///path` (the same local store), or an object-store URL
/// (kept as it is; the engine tells it from a path).
fn store_location(s: &str) -> Result<PathBuf, String> {
    match s.strip_prefix("file://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        Some(_) => Err(format!(
            "`{s}`: a file URL names an absolute path (file:///var/lib/ragops)"
        )),
        None => Ok(PathBuf::from(s)),
    }
}

/// `I/N`: shard I (0-based) of N.
fn shard_spec(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a shard: use I/N with 0 <= I < N <= 4096 (e.g. 0/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || n > 4096 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn build_id(s: &str) -> Result<ragops_core::BuildId, String> {
    ragops_core::BuildId::parse(s).map_err(|e| e.to_string())
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration (e.g. 30s, 10m, 24h, 7d): {e}"))
}

#[derive(Parser)]
#[command(
    name = "ragops",
    version,
    about = "Turn documents into versioned, searchable snapshots (load → chunk → enrich → embed → persist)",
    after_help = "Quick start:\n  ragops build                      # builds pipelines/default.toml, publishes `current`\n  ragops search \"how do I roll back an index?\"\n  ragops snapshots list\n  ragops snapshots rollback         # back to the previous snapshot"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(clap::Args, Clone)]
pub(crate) struct StoreArgs {
    /// Pipeline file whose [store] dir is used (default: pipelines/default.toml if present)
    #[arg(short = 'p', long = "pipeline", global = true)]
    pub(crate) pipeline: Option<PathBuf>,
    /// Store directory (or file:///path), or object-store URL (s3://bucket/prefix, gs://...,
    /// az://...; for build, commit, shards, search, eval, serve and snapshots rollback);
    /// overrides the pipeline's [store] dir
    #[arg(long, global = true, env = "RAGOPS_STORE", value_parser = store_location)]
    pub(crate) store: Option<PathBuf>,
}

impl StoreArgs {
    /// The store directory these flags name.
    pub(crate) fn dir(&self) -> Result<PathBuf> {
        Ok(ragops_engine::ops::resolve_store(
            self.pipeline.as_deref(),
            self.store.as_deref(),
        )?)
    }

    /// The directory to read `snapshot` from: the store's, or for a store on object storage
    /// (`s3://...`) its local mirror with that snapshot pulled into it.
    pub(crate) fn read_dir(&self, snapshot: &str) -> Result<PathBuf> {
        match &self.store {
            Some(s) if ragops_engine::remote::is_remote(s) => Ok(
                ragops_engine::remote::local_view(&s.to_string_lossy(), snapshot)?,
            ),
            _ => self.dir(),
        }
    }

    /// The `-p` pipeline file, or pipelines/default.toml when it exists here.
    pub(crate) fn pipeline_file(&self) -> Result<PathBuf> {
        match &self.pipeline {
            Some(p) => Ok(p.clone()),
            None => {
                let p = PathBuf::from(ragops_engine::ops::DEFAULT_PIPELINE);
                anyhow::ensure!(
                    p.is_file(),
                    "no pipeline file given and {} does not exist here; pass -p FILE",
                    p.display()
                );
                Ok(p)
            }
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Build a snapshot from the pipeline's sources and publish it as `current`
    #[command(
        after_help = "Examples:\n  ragops build\n  ragops build -p pipelines/default.toml --strict\n  ragops build --no-publish --json > report.json\n  ragops build --wait 10m            # nightly cron: wait for a running build\n  ragops build --shard 2/4 --build-id nightly-1   # one shard of a sharded build\n\nBuilds are incremental: files whose bytes are unchanged since `current` (same chunking,\nenrichment and model) reuse its chunks and vectors; changed and new files are processed;\ndeleted ones disappear. Texts embedded before come from the store's embedding cache.\nWhen nothing changed, no snapshot is written (use --force to write one anyway).\n\nBad sources (corrupt PDF, binary, invalid UTF-8, empty, too large) are listed with their\nreason and skipped; with --strict they fail the build before anything is written.\nThe previous snapshot stays live until the new one is complete. One writer at a time:\na second build fails at once naming the holder of the lock, or waits with --wait.\nA rollback during the build wins: the build then writes its snapshot without publishing\nit (--force publishes anyway)."
    )]
    Build(BuildArgs),
    /// Publish a sharded build: check that every shard finished, write one snapshot, and move
    /// `current` to it (compare-and-swap)
    #[command(
        after_help = "Examples:\n  ragops shards plan --build-id nightly-1 --shards 4\n  ragops build --shard 0/4 --build-id nightly-1      # one per shard, on any machine\n  ragops build --shard 1/4 --build-id nightly-1\n  ...\n  ragops commit nightly-1 --json\n\nThe commit fails, and publishes nothing, when a shard is missing or damaged, when the\nshards disagree (settings, model, parent), or when `current` moved since the plan\n(--force publishes anyway). Of two coordinators committing the same build, one wins;\nthe other finds the store locked or the build already committed."
    )]
    Commit(CommitArgs),
    /// Plan sharded builds and watch their shards
    #[command(
        after_help = "Examples:\n  ragops shards plan --build-id nightly-1 --shards 4\n  ragops shards status nightly-1"
    )]
    Shards {
        #[command(subcommand)]
        command: ShardsCommand,
    },
    /// Search a snapshot (hybrid: BM25 + vectors fused with reciprocal rank fusion)
    #[command(
        after_help = "Examples:\n  ragops search \"rotate an API key\"\n  ragops search \"shard size\" --mode bm25 -k 3\n  ragops search \"restore from backup\" --snapshot stable --json\n  ragops search \"shard size\" --mode vector --exact   # scan every vector, skip the HNSW graph\n  ragops search \"refund policy\" --filter 'lang = \"de\" AND modified >= 2026-01-01'"
    )]
    Search(SearchArgs),
    /// Check that a snapshot is fresh against its sources, config and model (CI gate)
    #[command(
        after_help = "Exit status (stable):\n  0  fresh: same source files (bytes), same content config, same model, not too old\n  1  stale: the report names added/changed/deleted sources, changed config keys,\n     model drift, or age beyond --max-age\n  2  error: no store or snapshot, invalid pipeline file, model not in the local cache\n\nExamples:\n  ragops check\n  ragops check -p pipelines/default.toml --max-age 24h --json > freshness.json"
    )]
    Check(CheckArgs),
    /// Score a snapshot on a question set (recall, precision, MRR, nDCG; span recall/precision/IoU)
    #[command(
        after_help = "Question sets:\n  span JSONL   {\"query\": ..., \"relevant\": [{\"doc_id\": ..., \"start\": .., \"end\": ..}]} per line;\n               offsets are characters of the document text (doc ids as in the snapshot)\n  BEIR dir     corpus.jsonl (index it as a JSONL source with id_field = \"_id\" and\n               title_in_text = true), queries.jsonl, qrels/test.tsv (graded)\n\nExamples:\n  ragops eval --queries fixtures/queries.jsonl\n  ragops eval --queries fixtures/beir-mini --mode all -k 1,5,10 --json\n  ragops eval --queries fixtures/queries.jsonl --hits 3   # 3 best chunks per question\n  ragops eval --queries fixtures/queries.jsonl --exact    # exact vector scan (HNSW recall check)\n  ragops eval --queries fixtures/queries.jsonl --query-precision int8   # int8 questions' cost"
    )]
    Eval(EvalArgs),
    /// Build a grid of pipeline variants into snapshots, score them, and rank them
    #[command(
        after_help = "Each variant is built into its own snapshot, tagged exp/<name>/<variant>, sharing the\nstore's embedding cache; variants already built and scored for the same questions are\nskipped on a rerun. Prints a leaderboard (quality next to chunks, index bytes and build\nseconds) and writes report.json and a self-contained report.html with charts.\n\nExamples:\n  ragops experiment pipelines/experiments/chunking-eval.toml\n  ragops experiment my-grid.toml --report reports/ --json\n  ragops experiment my-grid.toml --promote     # point current at the winner"
    )]
    Experiment(ExperimentArgs),
    /// Convert question sets into ragops' span-level JSONL
    #[command(
        after_help = "Example:\n  ragops questions convert ../shared/data/chunking-eval --output questions.jsonl\n\nchunking-eval layout: questions_df.csv (question, references, corpus_id) with references\nas character offsets into corpora/<corpus_id>.md; document ids become <corpus_id>.md.\nEvery excerpt is checked against the corpus text."
    )]
    Questions {
        #[command(subcommand)]
        command: QuestionsCommand,
    },
    /// Show the text ragops extracts from files (PDF, HTML, Markdown, text, JSONL)
    #[command(
        after_help = "Loads each file as a build would (same loaders, limits and budgets) and prints its\ntext, page by page for PDFs, or the reason a build would skip it. Exits 1 when a file\nwould be skipped.\n\nExamples:\n  ragops extract manual.pdf\n  ragops extract docs/*.pdf --json > text.json\n  ragops extract kb.jsonl -p pipelines/default.toml   # the pipeline's JSONL mapping"
    )]
    Extract(ExtractArgs),
    /// Embed the texts of a JSONL file and report throughput
    #[command(
        after_help = "Input: one JSON string per line, or objects with a \"text\" field.\nOutput: JSONL ({\"index\", \"n_tokens\", \"embedding\"} per line) or, for a .parquet path,\nthe chunk-table schema (text, token_count, embedding).\n\nExamples:\n  ragops embed --input texts.jsonl --output vectors.jsonl\n  ragops embed --input chunks.jsonl --output chunks.parquet --threads 2 --batch-size 64 --json\n  ragops embed --input texts.jsonl --output vectors.jsonl --precision int8   # int8 linear layers\n  RAGOPS_ISA=avx2 ragops embed --input t.jsonl --output v.jsonl --precision int8   # a fallback\n\nThe report names the linear layers' kernel (e.g. \"int8 amx\", \"int8 avx512-vnni\", \"f32 avx2-fma\"),\nchosen from the CPU's features; RAGOPS_ISA=avx512|avx2|scalar caps it."
    )]
    Embed(EmbedArgs),
    /// List, inspect, compare, tag, roll back and garbage-collect snapshots
    #[command(
        after_help = "Examples:\n  ragops snapshots list\n  ragops snapshots show current --verify\n  ragops snapshots diff stable current\n  ragops snapshots tag current stable\n  ragops snapshots rollback\n  ragops snapshots gc --keep 3 --dry-run"
    )]
    Snapshots {
        #[command(subcommand)]
        command: SnapshotsCommand,
    },
    /// Serve a store over HTTP, following `current` blue/green (search API, metrics, OpenAPI)
    #[command(
        after_help = "The server follows the ref --snapshot names (current by default): a publish or rollback is\nopened and warmed beside the live snapshot, then swapped in; in-flight requests finish on\nthe snapshot they started on. gc never deletes a snapshot a running server holds.\n\nRoutes: POST /v1/search, GET /v1/snapshots, GET /v1/snapshots/{id}, GET /healthz,\nGET /readyz, GET /metrics (Prometheus), GET /openapi.json.\n\nExamples:\n  ragops serve\n  ragops serve --store /var/lib/ragops --addr 127.0.0.1:8080\n  RAGOPS_SERVE_TOKEN=s3cret ragops serve          # /v1/ routes need the bearer token\n  ragops serve --query-precision int8             # queries through the int8 kernels\n  curl -s localhost:8080/v1/search -d '{\"query\": \"rotate an API key\", \"k\": 3}'"
    )]
    Serve(ServeArgs),
    /// Provision embedding models in the Hugging Face cache
    #[command(
        after_help = "Examples:\n  ragops model list\n  ragops model pull sentence-transformers/all-MiniLM-L6-v2\n  ragops model import ./all-MiniLM-L6-v2 --as sentence-transformers/all-MiniLM-L6-v2"
    )]
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Subcommand)]
pub(crate) enum SnapshotsCommand {
    /// List snapshots, oldest first (* marks `current`)
    #[command(after_help = "Example:\n  ragops snapshots list --json")]
    List(SnapshotsListArgs),
    /// Show a snapshot's manifest summary
    #[command(
        after_help = "Examples:\n  ragops snapshots show current\n  ragops snapshots show 20261122T0412 --verify\n  ragops snapshots show current --json   # the whole manifest"
    )]
    Show(SnapshotsShowArgs),
    /// Point a tag at a snapshot
    #[command(after_help = "Example:\n  ragops snapshots tag current stable")]
    Tag(SnapshotsTagArgs),
    /// Remove a tag (the snapshot stays until gc deletes it)
    #[command(after_help = "Example:\n  ragops snapshots untag stable")]
    Untag(SnapshotsUntagArgs),
    /// Compare two snapshots: documents added/removed/changed, chunk counts, config, model
    #[command(
        after_help = "Examples:\n  ragops snapshots diff stable current\n  ragops snapshots diff 20261121T0200 20261122T0200 --json"
    )]
    Diff(SnapshotsDiffArgs),
    /// Delete snapshots outside the retention policy and unused embedding-cache entries
    #[command(
        after_help = "Keeps `current`, every tagged snapshot, the newest N ([store.retention] keep_last,\ndefault 5, or --keep N) and those younger than [store.retention] keep_within.\nCache entries are deleted only when no kept snapshot uses them.\n\nExamples:\n  ragops snapshots gc --dry-run\n  ragops snapshots gc --keep 3 --json"
    )]
    Gc(SnapshotsGcArgs),
    /// Point `current` back at an earlier snapshot (default: the parent of `current`)
    #[command(
        after_help = "Examples:\n  ragops snapshots rollback            # to the snapshot current was built on\n  ragops snapshots rollback stable     # to a tag or id"
    )]
    Rollback(SnapshotsRollbackArgs),
}

#[derive(Subcommand)]
pub(crate) enum QuestionsCommand {
    /// Convert the chunking-evaluation CSV (questions_df.csv + corpora/) to span JSONL
    Convert(QuestionsConvertArgs),
}

#[derive(Subcommand)]
pub(crate) enum ModelCommand {
    /// Download a model from the Hugging Face hub into the cache
    #[command(
        after_help = "Example:\n  ragops model pull sentence-transformers/all-MiniLM-L6-v2\n\nThe cache is HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."
    )]
    Pull(ModelPullArgs),
    /// Import a model directory (config.json, tokenizer.json, model.safetensors) into the cache
    #[command(
        after_help = "Example (air-gapped machine):\n  ragops model import ./all-MiniLM-L6-v2 --as sentence-transformers/all-MiniLM-L6-v2"
    )]
    Import(ModelImportArgs),
    /// Show where a model resolves (exit 1 when it is not in the cache)
    #[command(after_help = "Example:\n  ragops model show sentence-transformers/all-MiniLM-L6-v2")]
    Show(ModelShowArgs),
    /// List models in the cache
    List(ModelListArgs),
}

#[derive(clap::Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Fail when any source cannot be loaded
    #[arg(long)]
    pub(crate) strict: bool,
    /// Reprocess every document (no reuse from the parent, no embedding-cache reads)
    #[arg(long)]
    pub(crate) full: bool,
    /// Write a new snapshot even when nothing changed, and publish it even if `current` moved
    /// while it was built
    #[arg(long)]
    pub(crate) force: bool,
    /// Wait this long for another writer to release the store (e.g. 30s, 10m)
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(crate) wait: Option<Duration>,
    /// Write the snapshot but do not point `current` at it
    #[arg(long)]
    pub(crate) no_publish: bool,
    /// Build only shard I of N (0-based) of a sharded build: the source files whose stable id
    /// hashes to I; staged under the build id, published by `ragops commit`
    #[arg(long, value_name = "I/N", value_parser = shard_spec, requires = "build_id",
          conflicts_with_all = ["no_publish", "force", "wait"])]
    pub(crate) shard: Option<(u32, u32)>,
    /// The sharded build this shard belongs to (letters, digits, '.', '_', '-')
    #[arg(long, value_name = "ID", value_parser = build_id, requires = "shard")]
    pub(crate) build_id: Option<ragops_core::BuildId>,
    /// JSON file {"shards": [[path, ...], ...]} assigning source files (as reported by
    /// builds) to shards; files it does not list go to the shard their id hashes to
    #[arg(long = "plan", value_name = "FILE", requires = "shard")]
    pub(crate) shard_plan: Option<PathBuf>,
    /// Print the build report as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress output on stderr
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

#[derive(clap::Args)]
pub(crate) struct CommitArgs {
    /// The build id the shards were built with
    #[arg(value_parser = build_id)]
    pub(crate) build_id: ragops_core::BuildId,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Publish even if `current` moved since the build was planned
    #[arg(long)]
    pub(crate) force: bool,
    /// Wait this long for another writer to release the store (e.g. 30s, 10m)
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(crate) wait: Option<Duration>,
    /// Print the commit report as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum ShardsCommand {
    /// Record a sharded build's plan: its shard count, and `current` as the parent every
    /// shard reuses from (idempotent; the first shard records it when no one did)
    #[command(
        after_help = "Example:\n  ragops shards plan --build-id nightly-20261203 --shards 4 --json"
    )]
    Plan(ShardsPlanArgs),
    /// Show which shards of a build have finished
    #[command(after_help = "Example:\n  ragops shards status nightly-20261203 --json")]
    Status(ShardsStatusArgs),
}

#[derive(clap::Args)]
pub(crate) struct ShardsPlanArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// The build id the shards and the commit will use
    #[arg(long, value_name = "ID", value_parser = build_id)]
    pub(crate) build_id: ragops_core::BuildId,
    /// Number of shards (1 to 4096)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) shards: u32,
    /// Print the plan as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ShardsStatusArgs {
    /// The build id
    #[arg(value_parser = build_id)]
    pub(crate) build_id: ragops_core::BuildId,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print the status as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct SearchArgs {
    /// The query text
    pub(crate) query: String,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Snapshot id (or unique prefix), tag, or `current`
    #[arg(long, default_value = "current")]
    pub(crate) snapshot: String,
    /// hybrid, vector or bm25
    #[arg(long, default_value = "hybrid")]
    pub(crate) mode: Mode,
    /// Number of results (1 to 10000)
    #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub(crate) k: u16,
    /// Scan every vector instead of walking the snapshot's HNSW graph (exact results)
    #[arg(long)]
    pub(crate) exact: bool,
    /// Search only chunks matching EXPR, e.g. 'lang = "en" AND modified >= 2026-01-01'
    /// (fields: lang, tenant, format, path, doc, title, modified, created, keywords, acl,
    /// meta.NAME; =, !=, <, <=, >, >=, IN (...), NOT, AND, OR)
    #[arg(long, value_name = "EXPR", value_parser = filter_expr)]
    pub(crate) filter: Option<ragops_engine::Filter>,
    /// Print results as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address to listen on (port 0: any free port, printed at start)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: std::net::SocketAddr,
    /// The ref to follow (current, a tag) or a snapshot id to pin
    #[arg(long, default_value = "current")]
    pub(crate) snapshot: String,
    /// A file holding the bearer token /v1/ requests must carry (else RAGOPS_SERVE_TOKEN)
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Most queries embedded in one batch
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) batch_max: u16,
    /// Most milliseconds the embedding thread waits for more queries to batch
    #[arg(long, default_value_t = 1)]
    pub(crate) batch_wait_ms: u64,
    /// Most search requests in flight; more are answered 503 with Retry-After
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) queue: u32,
    /// Most time a request may take (e.g. 10s, 500ms)
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) timeout: Duration,
    /// Most time in-flight requests get to finish after SIGTERM or SIGINT
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) drain: Duration,
    /// Largest k a request may ask for
    #[arg(long, default_value_t = 1000)]
    pub(crate) max_k: usize,
    /// Worker threads of the HTTP runtime
    #[arg(long, default_value_t = 2)]
    pub(crate) http_threads: usize,
    /// Every search must name a tenant ("tenant": "...") and sees only that tenant's chunks
    /// (also `[serve] require_tenant = true` in the pipeline)
    #[arg(long)]
    pub(crate) require_tenant: bool,
    /// Embed queries at this precision (f32, bf16 or int8) instead of each snapshot's own:
    /// the same model, so the same vector space, with the arithmetic's rounding (bf16: cosine
    /// 0.9999+ to f32; int8: 0.993+); int8 is 2-3x faster per query
    #[arg(long, value_name = "PRECISION", value_parser = precision())]
    pub(crate) query_precision: Option<ragops_core::Precision>,
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Snapshot id, tag or `current`
    #[arg(long, default_value = "current")]
    pub(crate) snapshot: String,
    /// Stale when the snapshot is older than this (e.g. 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(crate) max_age: Option<Duration>,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct EvalArgs {
    /// Question set: span-level JSONL file or BEIR directory
    #[arg(long)]
    pub(crate) queries: PathBuf,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Snapshot id (or prefix), tag, or `current`
    #[arg(long, default_value = "current")]
    pub(crate) snapshot: String,
    /// vector, bm25, hybrid, or all (comma-separated list allowed)
    #[arg(long, default_value = "vector", value_parser = modes)]
    pub(crate) mode: Modes,
    /// Cut-offs, comma-separated (1 to 10000)
    #[arg(short, long, default_value = "5", value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub(crate) k: Vec<u16>,
    /// Also list each question's N best chunks (document, pages, characters, relevance)
    #[arg(long, value_name = "N", default_value = "0", value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub(crate) hits: u16,
    /// Scan every vector instead of walking the snapshot's HNSW graph (exact results)
    #[arg(long)]
    pub(crate) exact: bool,
    /// Search only chunks matching EXPR (the language of `ragops search --filter`)
    #[arg(long, value_name = "EXPR", value_parser = filter_expr)]
    pub(crate) filter: Option<ragops_engine::Filter>,
    /// Embed the questions at this precision (f32, bf16, int8) instead of the snapshot's own,
    /// to see what `ragops serve --query-precision` costs in retrieval
    #[arg(long, value_name = "PRECISION", value_parser = precision())]
    pub(crate) query_precision: Option<ragops_core::Precision>,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ExperimentArgs {
    /// Experiment file (TOML)
    pub(crate) file: PathBuf,
    /// Directory for report.json and report.html (default: <store>/reports/<name>)
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Point `current` at the winning variant's snapshot
    #[arg(long)]
    pub(crate) promote: bool,
    /// Rebuild and re-score variants done before
    #[arg(long)]
    pub(crate) rerun: bool,
    /// Print the experiment report as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress output on stderr
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

#[derive(clap::Args)]
pub(crate) struct ExtractArgs {
    /// Files to load
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Pipeline whose [sources] settings apply (default: pipelines/default.toml if present)
    #[arg(short = 'p', long = "pipeline")]
    pub(crate) pipeline: Option<PathBuf>,
    /// Print the documents as JSON (text, pages with byte offsets, skip reasons)
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct EmbedArgs {
    /// JSONL file of texts
    #[arg(long)]
    pub(crate) input: PathBuf,
    /// Output file (.jsonl or .parquet)
    #[arg(long)]
    pub(crate) output: PathBuf,
    /// Model id (hf-hub cache) or model directory
    #[arg(long, default_value = ragops_core::DEFAULT_MODEL)]
    pub(crate) model: String,
    /// Hub revision: a branch, tag or commit
    #[arg(long, default_value = "main")]
    pub(crate) revision: String,
    /// Worker threads (default: the number of physical cores)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Most texts per batch
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch_size: u32,
    /// Most padded tokens per batch
    #[arg(long, default_value_t = ragops_embed::DEFAULT_MAX_BATCH_TOKENS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_batch_tokens: u32,
    /// Override the model's maximum sequence length
    #[arg(long)]
    pub(crate) max_tokens: Option<usize>,
    /// Precision of the encoder's linear layers (as [embedding] precision in a pipeline)
    #[arg(long, default_value = "f32", value_parser = precision())]
    pub(crate) precision: ragops_core::Precision,
    /// Print the report as JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress output on stderr
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsListArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsShowArgs {
    /// Snapshot id (or unique prefix), tag, or `current`
    #[arg(default_value = "current")]
    pub(crate) snapshot: String,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Recompute the checksums of the data files
    #[arg(long)]
    pub(crate) verify: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsTagArgs {
    /// Snapshot id (or unique prefix), tag, or `current`
    pub(crate) snapshot: String,
    /// Tag name: letters, digits, '.', '_', '-' and '/'
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsUntagArgs {
    /// Tag name
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsDiffArgs {
    /// The older snapshot: id (or prefix), tag, or `current`
    pub(crate) a: String,
    /// The newer snapshot
    pub(crate) b: String,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsGcArgs {
    /// Keep the N newest snapshots (overrides the pipeline's retention policy)
    #[arg(long)]
    pub(crate) keep: Option<usize>,
    /// Report what would be deleted without deleting anything
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub(crate) struct SnapshotsRollbackArgs {
    /// Snapshot id (or prefix) or tag (default: the parent of `current`)
    pub(crate) snapshot: Option<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(clap::Args)]
pub(crate) struct QuestionsConvertArgs {
    /// Directory holding questions_df.csv and corpora/
    pub(crate) dir: PathBuf,
    /// Output span JSONL file
    #[arg(long, short)]
    pub(crate) output: PathBuf,
}

#[derive(clap::Args)]
pub(crate) struct ModelPullArgs {
    /// Model id on the hub, e.g. sentence-transformers/all-MiniLM-L6-v2
    pub(crate) name: String,
    /// Hub revision: a branch, tag or commit
    #[arg(long, default_value = "main")]
    pub(crate) revision: String,
}

#[derive(clap::Args)]
pub(crate) struct ModelImportArgs {
    /// Model directory holding config.json, tokenizer.json and model.safetensors
    pub(crate) dir: PathBuf,
    /// Model id to file it under in the cache (e.g. sentence-transformers/all-MiniLM-L6-v2)
    #[arg(long = "as")]
    pub(crate) name: String,
}

#[derive(clap::Args)]
pub(crate) struct ModelShowArgs {
    /// Model id (hf-hub cache) or model directory
    pub(crate) name: String,
    /// Hub revision: a branch, tag or commit
    #[arg(long, default_value = "main")]
    pub(crate) revision: String,
}

#[derive(clap::Args)]
pub(crate) struct ModelListArgs {
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_flags_parse_once() {
        assert_eq!(modes("all").unwrap(), Modes(Mode::ALL.to_vec()));
        assert_eq!(
            modes("bm25, hybrid").unwrap(),
            Modes(vec![Mode::Bm25, Mode::Hybrid])
        );
        assert!(modes("dense").is_err());
        assert_eq!(duration("24h").unwrap(), Duration::from_secs(86_400));
        assert!(duration("soon").is_err());
        let cli = Cli::try_parse_from(["ragops", "search", "q", "-k", "0"]);
        assert!(cli.is_err(), "k starts at 1");
        let cli = Cli::try_parse_from(["ragops", "eval", "--queries", "q.jsonl", "-k", "1,10001"]);
        assert!(cli.is_err(), "k ends at 10000");
        let cli = Cli::try_parse_from(["ragops", "build", "--wait", "10m"]).unwrap();
        assert!(
            matches!(cli.command, Command::Build(BuildArgs { wait: Some(w), .. }) if w.as_secs() == 600)
        );
    }

    #[test]
    fn shard_and_store_flags_parse_once() {
        assert_eq!(shard_spec("2/4").unwrap(), (2, 4));
        for bad in ["4/4", "1/0", "x/2", "3", "1/5000"] {
            assert!(shard_spec(bad).is_err(), "{bad}");
        }
        assert!(build_id("nightly-1.a_b").is_ok());
        for bad in ["", ".hidden", "a/b", "../x"] {
            assert!(build_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            store_location("file:///var/lib/ragops").unwrap(),
            PathBuf::from("/var/lib/ragops")
        );
        assert!(store_location("file://relative").is_err());
        assert_eq!(
            store_location("s3://b/p").unwrap(),
            PathBuf::from("s3://b/p")
        );
        let cli = Cli::try_parse_from(["ragops", "build", "--shard", "0/2"]);
        assert!(cli.is_err(), "--shard needs --build-id");
        let cli = Cli::try_parse_from(["ragops", "build", "--build-id", "x"]);
        assert!(cli.is_err(), "--build-id needs --shard");
        let cli = Cli::try_parse_from([
            "ragops",
            "build",
            "--shard",
            "0/2",
            "--build-id",
            "x",
            "--no-publish",
        ]);
        assert!(cli.is_err(), "a shard never publishes");
    }

    #[test]
    fn every_flag_has_help() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        for sub in Cli::command().get_subcommands() {
            for arg in sub.get_arguments() {
                assert!(
                    arg.get_help().is_some() || arg.is_positional(),
                    "{} --{} has no help",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
