//! `ragops`: the command-line interface. Parses arguments, calls the library crates, prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ragops_pipeline::{BuildOptions, Progress, ProgressMode};
use ragops_search::Mode;
use ragops_store::Store;

#[derive(Parser)]
#[command(
    name = "ragops",
    version,
    about = "Turn documents into versioned, searchable snapshots (load → chunk → enrich → embed → persist)",
    after_help = "Quick start:\n  ragops build                      # builds pipelines/default.toml, publishes `current`\n  ragops search \"how do I roll back an index?\"\n  ragops snapshots list\n  ragops snapshots rollback         # back to the previous snapshot"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// Pipeline file whose [store] dir is used (default: pipelines/default.toml if present)
    #[arg(short = 'p', long = "pipeline", global = true)]
    pipeline: Option<PathBuf>,
    /// Store directory (overrides the pipeline's [store] dir)
    #[arg(long, global = true, env = "RAGOPS_STORE")]
    store: Option<PathBuf>,
}

impl StoreArgs {
    fn dir(&self) -> Result<PathBuf> {
        Ok(ragops_pipeline::resolve_store(
            self.pipeline.as_deref(),
            self.store.as_deref(),
        )?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Build a snapshot from the pipeline's sources and publish it as `current`
    #[command(
        after_help = "Examples:\n  ragops build\n  ragops build -p pipelines/default.toml --strict\n  ragops build --no-publish --json > report.json\n  ragops build --wait 10m            # nightly cron: wait for a running build\n\nBuilds are incremental: files whose bytes are unchanged since `current` (same chunking,\nenrichment and model) reuse its chunks and vectors; changed and new files are processed;\ndeleted ones disappear. Texts embedded before come from the store's embedding cache.\nWhen nothing changed, no snapshot is written (use --force to write one anyway).\n\nBad sources (corrupt PDF, binary, invalid UTF-8, empty, too large) are listed with their\nreason and skipped; with --strict they fail the build before anything is written.\nThe previous snapshot stays live until the new one is complete. One writer at a time:\na second build fails at once naming the holder of the lock, or waits with --wait."
    )]
    Build {
        #[command(flatten)]
        store: StoreArgs,
        /// Fail when any source cannot be loaded
        #[arg(long)]
        strict: bool,
        /// Reprocess every document (no reuse from the parent, no embedding-cache reads)
        #[arg(long)]
        full: bool,
        /// Write a new snapshot even when nothing changed
        #[arg(long)]
        force: bool,
        /// Wait this long for another writer to release the store (e.g. 30s, 10m)
        #[arg(long, value_name = "DURATION")]
        wait: Option<String>,
        /// Write the snapshot but do not point `current` at it
        #[arg(long)]
        no_publish: bool,
        /// Print the build report as JSON on stdout
        #[arg(long)]
        json: bool,
        /// No progress output on stderr
        #[arg(short, long)]
        quiet: bool,
    },
    /// Search a snapshot (hybrid: BM25 + vectors fused with reciprocal rank fusion)
    #[command(
        after_help = "Examples:\n  ragops search \"rotate an API key\"\n  ragops search \"shard size\" --mode bm25 -k 3\n  ragops search \"restore from backup\" --snapshot stable --json"
    )]
    Search {
        /// The query text
        query: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Snapshot id (or unique prefix), tag, or `current`
        #[arg(long, default_value = "current")]
        snapshot: String,
        /// hybrid, vector or bm25
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// Number of results (1 to 10000)
        #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10_000))]
        k: u16,
        /// Print results as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check that a snapshot is fresh against its sources, config and model (CI gate)
    #[command(
        after_help = "Exit status (stable):\n  0  fresh: same source files (bytes), same content config, same model, not too old\n  1  stale: the report names added/changed/deleted sources, changed config keys,\n     model drift, or age beyond --max-age\n  2  error: no store or snapshot, invalid pipeline file, model not in the local cache\n\nExamples:\n  ragops check\n  ragops check -p pipelines/default.toml --max-age 24h --json > freshness.json"
    )]
    Check {
        #[command(flatten)]
        store: StoreArgs,
        /// Snapshot id, tag or `current`
        #[arg(long, default_value = "current")]
        snapshot: String,
        /// Stale when the snapshot is older than this (e.g. 24h, 7d)
        #[arg(long, value_name = "DURATION")]
        max_age: Option<String>,
        /// Print the report as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Score a snapshot on a question set (recall, precision, MRR, nDCG; span recall/precision/IoU)
    #[command(
        after_help = "Question sets:\n  span JSONL   {\"query\": ..., \"relevant\": [{\"doc_id\": ..., \"start\": .., \"end\": ..}]} per line;\n               offsets are characters of the document text (doc ids as in the snapshot)\n  BEIR dir     corpus.jsonl (index it as a JSONL source with id_field = \"_id\" and\n               title_in_text = true), queries.jsonl, qrels/test.tsv (graded)\n\nExamples:\n  ragops eval --queries fixtures/queries.jsonl\n  ragops eval --queries fixtures/beir-mini --mode all -k 1,5,10 --json"
    )]
    Eval {
        /// Question set: span-level JSONL file or BEIR directory
        #[arg(long)]
        queries: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Snapshot id (or prefix), tag, or `current`
        #[arg(long, default_value = "current")]
        snapshot: String,
        /// vector, bm25, hybrid, or all (comma-separated list allowed)
        #[arg(long, default_value = "vector")]
        mode: String,
        /// Cut-offs, comma-separated
        #[arg(short, long, default_value = "5", value_delimiter = ',')]
        k: Vec<usize>,
        /// Print the result as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Build a grid of pipeline variants into snapshots, score them, and rank them
    #[command(
        after_help = "Each variant is built into its own snapshot, tagged exp/<name>/<variant>, sharing the\nstore's embedding cache; variants already built and scored for the same questions are\nskipped on a rerun. Prints a leaderboard (quality next to chunks, index bytes and build\nseconds) and writes report.json and a self-contained report.html with charts.\n\nExamples:\n  ragops experiment pipelines/experiments/chunking-eval.toml\n  ragops experiment my-grid.toml --report reports/ --json\n  ragops experiment my-grid.toml --promote     # point current at the winner"
    )]
    Experiment {
        /// Experiment file (TOML)
        file: PathBuf,
        /// Directory for report.json and report.html (default: <store>/reports/<name>)
        #[arg(long)]
        report: Option<PathBuf>,
        /// Point `current` at the winning variant's snapshot
        #[arg(long)]
        promote: bool,
        /// Rebuild and re-score variants done before
        #[arg(long)]
        rerun: bool,
        /// Print the experiment report as JSON on stdout
        #[arg(long)]
        json: bool,
        /// No progress output on stderr
        #[arg(short, long)]
        quiet: bool,
    },
    /// Convert question sets into ragops' span-level JSONL
    #[command(
        after_help = "Example:\n  ragops questions convert ../shared/data/chunking-eval --output questions.jsonl\n\nchunking-eval layout: questions_df.csv (question, references, corpus_id) with references\nas character offsets into corpora/<corpus_id>.md; document ids become <corpus_id>.md.\nEvery excerpt is checked against the corpus text."
    )]
    Questions {
        #[command(subcommand)]
        command: QuestionsCommand,
    },
    /// Embed the texts of a JSONL file and report throughput
    #[command(
        after_help = "Input: one JSON string per line, or objects with a \"text\" field.\nOutput: JSONL ({\"index\", \"n_tokens\", \"embedding\"} per line) or, for a .parquet path,\nthe chunk-table schema (text, token_count, embedding).\n\nExamples:\n  ragops embed --input texts.jsonl --output vectors.jsonl\n  ragops embed --input chunks.jsonl --output chunks.parquet --threads 2 --batch-size 64 --json"
    )]
    Embed {
        /// JSONL file of texts
        #[arg(long)]
        input: PathBuf,
        /// Output file (.jsonl or .parquet)
        #[arg(long)]
        output: PathBuf,
        /// Model id (hf-hub cache) or model directory
        #[arg(long, default_value = ragops_core::config::DEFAULT_MODEL)]
        model: String,
        /// Hub revision: a branch, tag or commit
        #[arg(long, default_value = "main")]
        revision: String,
        /// Worker threads (default: the number of physical cores)
        #[arg(long)]
        threads: Option<usize>,
        /// Most texts per batch
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Most padded tokens per batch
        #[arg(long, default_value_t = ragops_embed::DEFAULT_MAX_BATCH_TOKENS)]
        max_batch_tokens: usize,
        /// Override the model's maximum sequence length
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// No progress output on stderr
        #[arg(short, long)]
        quiet: bool,
    },
    /// List, inspect, compare, tag, roll back and garbage-collect snapshots
    #[command(
        after_help = "Examples:\n  ragops snapshots list\n  ragops snapshots show current --verify\n  ragops snapshots diff stable current\n  ragops snapshots tag current stable\n  ragops snapshots rollback\n  ragops snapshots gc --keep 3 --dry-run"
    )]
    Snapshots {
        #[command(subcommand)]
        command: SnapshotsCommand,
    },
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
enum SnapshotsCommand {
    /// List snapshots, oldest first (* marks `current`)
    #[command(after_help = "Example:\n  ragops snapshots list --json")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Print the result as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Show a snapshot's manifest summary
    #[command(
        after_help = "Examples:\n  ragops snapshots show current\n  ragops snapshots show 20261122T0412 --verify\n  ragops snapshots show current --json   # the whole manifest"
    )]
    Show {
        /// Snapshot id (or unique prefix), tag, or `current`
        #[arg(default_value = "current")]
        snapshot: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Recompute the checksums of the data files
        #[arg(long)]
        verify: bool,
        /// Print the result as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Point a tag at a snapshot
    #[command(after_help = "Example:\n  ragops snapshots tag current stable")]
    Tag {
        snapshot: String,
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a tag (the snapshot stays until gc deletes it)
    #[command(after_help = "Example:\n  ragops snapshots untag stable")]
    Untag {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Compare two snapshots: documents added/removed/changed, chunk counts, config, model
    #[command(
        after_help = "Examples:\n  ragops snapshots diff stable current\n  ragops snapshots diff 20261121T0200 20261122T0200 --json"
    )]
    Diff {
        a: String,
        b: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print the result as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Delete snapshots outside the retention policy and unused embedding-cache entries
    #[command(
        after_help = "Keeps `current`, every tagged snapshot, the newest N ([store.retention] keep_last,\ndefault 5, or --keep N) and those younger than [store.retention] keep_within.\nCache entries are deleted only when no kept snapshot uses them.\n\nExamples:\n  ragops snapshots gc --dry-run\n  ragops snapshots gc --keep 3 --json"
    )]
    Gc {
        /// Keep the N newest snapshots (overrides the pipeline's retention policy)
        #[arg(long)]
        keep: Option<usize>,
        /// Report what would be deleted without deleting anything
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
        /// Print the result as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Point `current` back at an earlier snapshot (default: the parent of `current`)
    #[command(
        after_help = "Examples:\n  ragops snapshots rollback            # to the snapshot current was built on\n  ragops snapshots rollback stable     # to a tag or id"
    )]
    Rollback {
        snapshot: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum QuestionsCommand {
    /// Convert the chunking-evaluation CSV (questions_df.csv + corpora/) to span JSONL
    Convert {
        /// Directory holding questions_df.csv and corpora/
        dir: PathBuf,
        /// Output span JSONL file
        #[arg(long, short)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Download a model from the Hugging Face hub into the cache
    #[command(
        after_help = "Example:\n  ragops model pull sentence-transformers/all-MiniLM-L6-v2\n\nThe cache is HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."
    )]
    Pull {
        /// Model id on the hub, e.g. sentence-transformers/all-MiniLM-L6-v2
        name: String,
        /// Hub revision: a branch, tag or commit
        #[arg(long, default_value = "main")]
        revision: String,
    },
    /// Import a model directory (config.json, tokenizer.json, model.safetensors) into the cache
    #[command(
        after_help = "Example (air-gapped machine):\n  ragops model import ./all-MiniLM-L6-v2 --as sentence-transformers/all-MiniLM-L6-v2"
    )]
    Import {
        /// Model directory holding config.json, tokenizer.json and model.safetensors
        dir: PathBuf,
        /// Model id to file it under in the cache (e.g. sentence-transformers/all-MiniLM-L6-v2)
        #[arg(long = "as")]
        name: String,
    },
    /// Show where a model resolves (exit 1 when it is not in the cache)
    #[command(after_help = "Example:\n  ragops model show sentence-transformers/all-MiniLM-L6-v2")]
    Show {
        /// Model id (hf-hub cache) or model directory
        name: String,
        /// Hub revision: a branch, tag or commit
        #[arg(long, default_value = "main")]
        revision: String,
    },
    /// List models in the cache
    List {
        /// Print the result as JSON on stdout
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // Behave like other Unix tools when stdout is a closed pipe (`ragops search ... | head`):
    // end quietly instead of panicking in `println!`. A build ended this way is like a kill,
    // which never touches the live snapshot.
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    ragops_embed::tune_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build {
            store,
            strict,
            full,
            force,
            wait,
            no_publish,
            json,
            quiet,
        } => {
            let pipeline = pipeline_file(&store)?;
            let wait = match wait {
                Some(w) => ragops_pipeline::parse_duration(&w)?,
                None => std::time::Duration::ZERO,
            };
            let progress = Progress::new(if quiet {
                ProgressMode::Quiet
            } else {
                ProgressMode::Auto
            });
            let report = ragops_pipeline::build(
                &BuildOptions {
                    pipeline,
                    store: store.store.clone(),
                    strict,
                    publish: !no_publish,
                    full,
                    force,
                    wait,
                },
                &progress,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.up_to_date {
                println!(
                    "up to date: snapshot {} matches the sources, config and model (nothing written)",
                    report.snapshot
                );
            } else {
                let c = &report.counts;
                println!(
                    "snapshot {} {}",
                    report.snapshot,
                    if report.published {
                        "published as current"
                    } else {
                        "written (not published)"
                    }
                );
                println!("  store      {}", report.store.display());
                println!(
                    "  documents  {}   chunks {}   tokens {}   skipped {}",
                    c.documents, c.chunks, c.tokens, c.skipped
                );
                if c.truncated > 0 {
                    println!(
                        "  truncated  {} embedded texts exceeded {} tokens",
                        c.truncated, report.model.max_tokens
                    );
                }
                println!(
                    "  model      {} @ {}",
                    report.model.id,
                    short(&report.model.revision)
                );
                println!(
                    "  time       {:.1}s total, embed {:.1}s ({:.1} chunks/s)",
                    report.timings.get("total").copied().unwrap_or(0.0),
                    report.timings.get("embed").copied().unwrap_or(0.0),
                    report.embeddings_per_sec
                );
                if let Some(p) = &report.parent {
                    let i = &report.incremental;
                    println!("  parent     {p}");
                    println!(
                        "  changes    {} added, {} changed, {} deleted, {} unchanged document(s)",
                        i.documents_added,
                        i.documents_changed,
                        i.documents_deleted,
                        i.documents_unchanged
                    );
                    match &i.no_reuse_reason {
                        Some(r) => println!("  reuse      none ({r})"),
                        None => println!(
                            "  reuse      {} document(s), {} chunk(s) copied from the parent",
                            i.documents_reused, i.chunks_reused
                        ),
                    }
                }
                println!(
                    "  vectors    {} computed, {} from the embedding cache{}",
                    report.incremental.embeddings_computed,
                    report.incremental.embeddings_cached,
                    if report.incremental.cache_entries_torn > 0 {
                        format!(
                            " ({} torn cache entries recomputed)",
                            report.incremental.cache_entries_torn
                        )
                    } else {
                        String::new()
                    }
                );
                for s in &report.skipped {
                    println!("  skipped    {}: {}", s.path, s.reason);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            query,
            store,
            snapshot,
            mode,
            k,
            json,
        } => {
            let res = ragops_pipeline::search(&store.dir()?, &snapshot, &query, mode, k.into())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&res)?);
            } else {
                println!(
                    "{} result(s) from snapshot {} ({:?})",
                    res.results.len(),
                    res.snapshot,
                    res.mode
                );
                for r in &res.results {
                    let mut loc = r.doc_id.clone();
                    if !r.heading_path.is_empty() {
                        loc.push_str(&format!(" › {}", r.heading_path.join(" › ")));
                    }
                    if let Some(p) = r.page {
                        loc.push_str(&format!(" (page {p})"));
                    }
                    println!("\n{:>2}. {loc}  [score {:.4}]", r.rank, r.score);
                    println!("    {}", preview(&r.text, 240));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed {
            input,
            output,
            model,
            revision,
            threads,
            batch_size,
            max_batch_tokens,
            max_tokens,
            json,
            quiet,
        } => {
            anyhow::ensure!(
                batch_size > 0 && max_batch_tokens > 0,
                "--batch-size and --max-batch-tokens must be at least 1"
            );
            if let Some(n) = threads {
                anyhow::ensure!(n > 0, "--threads must be at least 1");
                // Read by rayon and candle when their pools start (nothing has started yet).
                std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            }
            let progress = Progress::new(if quiet {
                ProgressMode::Quiet
            } else {
                ProgressMode::Auto
            });
            let opts = ragops_pipeline::EmbedFileOptions {
                input,
                output,
                model,
                revision,
                batch_size,
                max_batch_tokens,
                max_tokens,
            };
            let r = ragops_pipeline::embed_file(&opts, &progress)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "embedded {} texts ({} tokens, {} truncated) in {:.2}s with {} thread{}",
                    r.texts,
                    r.tokens,
                    r.truncated,
                    r.seconds,
                    r.threads,
                    if r.threads == 1 { "" } else { "s" }
                );
                println!(
                    "  {:.1} texts/s, {:.0} tokens/s, {:.1} GFLOP/s",
                    r.texts_per_sec, r.tokens_per_sec, r.gflops_per_sec
                );
                println!("  wrote {}", r.output.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            store,
            snapshot,
            max_age,
            json,
        } => Ok(check(store, snapshot, max_age, json)),
        Command::Eval {
            queries,
            store,
            snapshot,
            mode,
            k,
            json,
        } => {
            let modes: Vec<Mode> = if mode == "all" {
                vec![Mode::Vector, Mode::Bm25, Mode::Hybrid]
            } else {
                mode.split(',')
                    .map(|m| m.trim().parse().map_err(anyhow::Error::msg))
                    .collect::<Result<_>>()?
            };
            anyhow::ensure!(
                !k.is_empty() && k.iter().all(|k| (1..=10_000).contains(k)),
                "-k values must be between 1 and 10000"
            );
            let r = ragops_pipeline::eval(&ragops_pipeline::EvalOptions {
                store: store.dir()?,
                snapshot,
                questions: queries,
                modes,
                ks: k,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "snapshot {}: {} questions ({:?}) from {}",
                r.snapshot,
                r.question_count,
                r.kind,
                r.questions.display()
            );
            println!(
                "  {:<7} {:>3} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8}",
                "mode", "k", "recall", "prec", "MRR", "nDCG", "sp.rec", "sp.prec", "sp.IoU"
            );
            let f = |x: Option<f64>| x.map(|v| format!("{:.4}", v)).unwrap_or("-".into());
            for m in &r.metrics {
                println!(
                    "  {:<7} {:>3} {:>7.4} {:>7.4} {:>7.4} {:>7.4} {:>8} {:>8} {:>8}",
                    m.mode,
                    m.k,
                    m.recall,
                    m.precision,
                    m.mrr,
                    m.ndcg,
                    f(m.span_recall),
                    f(m.span_precision),
                    f(m.span_iou)
                );
            }
            if let Some(m) = r.metrics.first().filter(|m| m.skipped > 0) {
                println!(
                    "  ({} question(s) without relevant documents left out)",
                    m.skipped
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Experiment {
            file,
            report,
            promote,
            rerun,
            json,
            quiet,
        } => {
            let progress = Progress::new(if quiet {
                ProgressMode::Quiet
            } else {
                ProgressMode::Auto
            });
            let r = ragops_pipeline::experiment(
                &ragops_pipeline::ExperimentOptions {
                    file,
                    report_dir: report,
                    promote,
                    rerun,
                },
                &progress,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", r.table());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Questions {
            command: QuestionsCommand::Convert { dir, output },
        } => {
            let c = ragops_eval::convert_chunking_eval(&dir)?;
            std::fs::write(&output, &c.jsonl)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "wrote {} questions ({} reference excerpts) to {}",
                c.questions,
                c.references,
                output.display()
            );
            for m in &c.mismatched {
                eprintln!("warning: excerpt text differs from the corpus at {m}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshots { command } => snapshots(command),
        Command::Model { command } => model(command),
    }
}

/// The `-p` pipeline file, or pipelines/default.toml when it exists here.
fn pipeline_file(store: &StoreArgs) -> Result<PathBuf> {
    match store.pipeline.clone() {
        Some(p) => Ok(p),
        None => {
            let p = PathBuf::from(ragops_pipeline::DEFAULT_PIPELINE);
            anyhow::ensure!(
                p.is_file(),
                "no pipeline file given and {} does not exist here; pass -p FILE",
                p.display()
            );
            Ok(p)
        }
    }
}

/// `ragops check`: exit 0 fresh, 1 stale, 2 error (any failure to run the check).
fn check(store: StoreArgs, snapshot: String, max_age: Option<String>, json: bool) -> ExitCode {
    let run = || -> Result<ragops_pipeline::CheckReport> {
        let max_age = max_age
            .as_deref()
            .map(ragops_pipeline::parse_duration)
            .transpose()?;
        Ok(ragops_pipeline::check(&ragops_pipeline::CheckOptions {
            pipeline: pipeline_file(&store)?,
            store: store.store.clone(),
            snapshot,
            max_age,
        })?)
    };
    let report = match run() {
        Ok(r) => r,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"fresh": false, "error": format!("{e:#}")})
                );
            }
            eprintln!("error: {e:#}");
            return ExitCode::from(ragops_pipeline::CHECK_ERROR);
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(ragops_pipeline::CHECK_ERROR);
            }
        }
    } else {
        let age = humantime::format_duration(std::time::Duration::from_secs(report.age_seconds));
        println!(
            "{}: snapshot {} (built {}, {age} ago)",
            if report.fresh { "fresh" } else { "STALE" },
            report.snapshot,
            report.created_at
        );
        for r in &report.reasons {
            println!("  - {r}");
        }
        for (what, list) in [
            ("added", &report.sources.added),
            ("changed", &report.sources.changed),
            ("deleted", &report.sources.deleted),
        ] {
            for p in list.iter().take(20) {
                println!("    {what:<8} {p}");
            }
            if list.len() > 20 {
                println!("    ... and {} more {what}", list.len() - 20);
            }
        }
        for c in &report.config_changes {
            println!("    config   {}: {} -> {}", c.key, c.old, c.new);
        }
    }
    ExitCode::from(if report.fresh {
        ragops_pipeline::CHECK_FRESH
    } else {
        ragops_pipeline::CHECK_STALE
    })
}

fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

fn preview(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

fn snapshots(cmd: SnapshotsCommand) -> Result<ExitCode> {
    match cmd {
        SnapshotsCommand::List { store, json } => {
            let dir = store.dir()?;
            let list = Store::open(&dir)?.list()?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|s| match &s.manifest {
                        Ok(m) => serde_json::json!({
                            "id": s.id, "current": s.current, "tags": s.tags,
                            "created_at": m.created_at, "parent": m.parent,
                            "counts": m.counts, "config_hash": m.config_hash,
                            "model": m.model.id,
                        }),
                        Err(e) => serde_json::json!({
                            "id": s.id, "current": s.current, "tags": s.tags, "damaged": e,
                        }),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if list.is_empty() {
                println!("no snapshots in {}", dir.display());
            } else {
                println!(
                    "  {:<26} {:<21} {:>6} {:>7}  {:<12} tags",
                    "id", "created", "docs", "chunks", "config"
                );
                for s in &list {
                    let mark = if s.current { "*" } else { " " };
                    match &s.manifest {
                        Ok(m) => println!(
                            "{mark} {:<26} {:<21} {:>6} {:>7}  {:<12} {}",
                            m.id,
                            m.created_at,
                            m.counts.documents,
                            m.counts.chunks,
                            short(&m.config_hash),
                            s.tags.join(",")
                        ),
                        Err(e) => println!("{mark} {:<26} DAMAGED: {e}", s.id),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Show {
            snapshot,
            store,
            verify,
            json,
        } => {
            let st = Store::open(&store.dir()?)?;
            let id = st.resolve(&snapshot)?;
            let report = if verify { Some(st.verify(&id)?) } else { None };
            let m = match (st.manifest(&id), &report) {
                (Ok(m), _) => m,
                // The manifest itself is damaged: the verify report says how.
                (Err(_), Some(r)) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(
                                &serde_json::json!({"id": id, "verify": r})
                            )?
                        );
                    } else {
                        println!("snapshot   {id}");
                        println!("verify     FAILED: {}", r.problems().join("; "));
                    }
                    return Ok(ExitCode::FAILURE);
                }
                (Err(e), None) => return Err(e.into()),
            };
            if json {
                let mut v = serde_json::to_value(&m)?;
                if let Some(r) = &report {
                    v["verify"] = serde_json::to_value(r)?;
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("snapshot   {}", m.id);
                println!("created    {} by ragops {}", m.created_at, m.tool_version);
                println!("parent     {}", m.parent.as_deref().unwrap_or("-"));
                println!(
                    "pipeline   {} (config {})",
                    m.pipeline,
                    short(&m.config_hash)
                );
                println!(
                    "model      {} @ {} (dim {}, max {} tokens, {} pooling)",
                    m.model.id,
                    short(&m.model.revision),
                    m.model.dim,
                    m.model.max_tokens,
                    m.model.pooling
                );
                println!(
                    "counts     {} documents, {} chunks, {} tokens, {} skipped",
                    m.counts.documents, m.counts.chunks, m.counts.tokens, m.counts.skipped
                );
                let timings: Vec<String> = m
                    .timings
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.1}s"))
                    .collect();
                println!("timings    {}", timings.join(", "));
                let bytes: u64 = m.files.values().map(|f| f.bytes).sum();
                println!("files      {} files, {} bytes", m.files.len(), bytes);
                for s in &m.skipped {
                    println!("skipped    {}: {}", s.path, s.reason);
                }
                if let Some(r) = &report {
                    if r.ok {
                        println!("verify     ok: every checksum matches");
                    } else {
                        println!("verify     FAILED: {}", r.problems().join("; "));
                    }
                }
            }
            Ok(if report.is_some_and(|r| !r.ok) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        SnapshotsCommand::Tag {
            snapshot,
            name,
            store,
        } => {
            let id = ragops_pipeline::tag(&store.dir()?, &snapshot, &name)?;
            println!("tagged {id} as {name}");
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Untag { name, store } => {
            let id = ragops_pipeline::untag(&store.dir()?, &name)?;
            println!("removed tag {name} (was {id})");
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Diff { a, b, store, json } => {
            let d = ragops_pipeline::diff(&store.dir()?, &a, &b)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{} -> {}", d.a, d.b);
            println!(
                "  documents  +{} -{} ~{} changed, {} re-chunked, {} unchanged",
                d.documents_added.len(),
                d.documents_removed.len(),
                d.documents_changed.len(),
                d.documents_rechunked.len(),
                d.documents_unchanged
            );
            println!("  chunks     {} -> {}", d.chunks_a, d.chunks_b);
            for id in &d.documents_added {
                println!("  added      {id}");
            }
            for id in &d.documents_removed {
                println!("  removed    {id}");
            }
            for c in &d.documents_changed {
                println!(
                    "  changed    {} ({} -> {} chunks)",
                    c.id, c.chunks_a, c.chunks_b
                );
            }
            for c in &d.documents_rechunked {
                println!(
                    "  rechunked  {} ({} -> {} chunks)",
                    c.id, c.chunks_a, c.chunks_b
                );
            }
            for c in &d.config_changes {
                println!("  config     {}: {} -> {}", c.key, c.old, c.new);
            }
            if let Some((x, y)) = &d.model_change {
                println!("  model      {x} -> {y}");
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Gc {
            keep,
            dry_run,
            store,
            json,
        } => {
            let base = match &store.pipeline {
                Some(p) => ragops_core::LoadedPipeline::load(p)?.config.store.retention,
                None if Path::new(ragops_pipeline::DEFAULT_PIPELINE).is_file() => {
                    ragops_core::LoadedPipeline::load(Path::new(ragops_pipeline::DEFAULT_PIPELINE))?
                        .config
                        .store
                        .retention
                }
                None => ragops_core::RetentionConfig::default(),
            };
            let policy = ragops_pipeline::retention_with(base, keep);
            let r = ragops_pipeline::gc(&store.dir()?, &policy, dry_run)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(ExitCode::SUCCESS);
            }
            let verb = if dry_run { "would delete" } else { "deleted" };
            for k in &r.kept {
                println!("  keep    {} ({})", k.id, k.reasons.join(", "));
            }
            for id in &r.deleted {
                println!("  {verb:<7} {id}");
            }
            println!(
                "{verb} {} snapshot(s) ({} bytes) and {} cache entr(ies) in {} segment(s) ({} bytes); {} bytes in total",
                r.deleted.len(),
                r.snapshot_bytes,
                r.cache.entries_dropped,
                r.cache.segments_deleted + r.cache.segments_rewritten,
                r.cache.bytes_reclaimed,
                r.bytes_reclaimed
            );
            if let Some(n) = &r.cache_note {
                println!("  note: {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Rollback { snapshot, store } => {
            let (prev, to) = ragops_pipeline::rollback(&store.dir()?, snapshot.as_deref())?;
            println!("current: {} -> {to}", prev.as_deref().unwrap_or("-"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn model(cmd: ModelCommand) -> Result<ExitCode> {
    let cache = ragops_embed::cache_root();
    match cmd {
        ModelCommand::Pull { name, revision } => {
            let m = ragops_embed::hub::pull(&name, &revision, &cache)?;
            println!("{} @ {} in {}", m.id, m.revision, m.dir.display());
        }
        ModelCommand::Import { dir, name } => {
            check_dir(&dir)?;
            let m = ragops_embed::hub::import(&dir, &name, &cache)
                .with_context(|| format!("importing {} as {name}", dir.display()))?;
            println!(
                "imported {} @ {} into {}",
                m.id,
                m.revision,
                m.dir.display()
            );
        }
        ModelCommand::Show { name, revision } => {
            let files = ragops_embed::hub::resolve(&name, &revision, &cache)?;
            let e = ragops_embed::Embedder::load(&files, None)?;
            let i = e.info();
            println!("{} @ {}", files.id, files.revision);
            println!("  dir      {}", files.dir.display());
            println!(
                "  dim {}, max {} tokens, {:?} pooling, normalize {}",
                i.dim, i.max_tokens, i.pooling, i.normalize
            );
        }
        ModelCommand::List { json } => {
            let models = ragops_embed::hub::list(&cache)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else if models.is_empty() {
                println!("no models in {}", cache.display());
            } else {
                println!("cache {}", cache.display());
                for m in models {
                    let refs: Vec<String> = m
                        .refs
                        .iter()
                        .map(|(r, c)| format!("{r}={}", short(c)))
                        .collect();
                    let complete = m.snapshots.iter().filter(|(_, ok)| *ok).count();
                    println!(
                        "  {:<45} {}  ({} snapshot(s), {complete} complete)",
                        m.id,
                        refs.join(" "),
                        m.snapshots.len()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_dir(dir: &Path) -> Result<()> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    Ok(())
}
