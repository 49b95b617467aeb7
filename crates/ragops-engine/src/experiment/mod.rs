//! `ragops experiment FILE`: a grid of pipeline variants → snapshots → metrics → ranked report.
//!
//! ```toml
//! name = "chunking-eval"
//! base = "../chunking-eval.toml"     # pipeline the variants start from
//! questions = "chunking-eval.questions.jsonl"   # span JSONL or a BEIR directory
//! metric = "span_iou"                # ranking metric (see ragops_eval::Metric)
//! modes = ["vector"]                 # the first one ranks
//! k = [5]                            # the first one ranks
//! # store = "../.ragops-eval"        # default: the base pipeline's store
//!
//! [[grid]]                           # a cross product; several [[grid]] tables are unioned
//! "chunking.size" = [200, 400]
//! "chunking.overlap" = ["0%", "50%"] # percentages of the size, or absolute values
//! ```

mod grid;
mod results;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ragops_core::{LoadedPipeline, ModelIdentity, SnapshotId};
use ragops_eval::{ExperimentReport, QuestionSet, VariantResult};
use ragops_search::Searcher;
use ragops_store::{Expect, Store};

pub use grid::{expand, ExperimentFile, Variant};

use crate::model::load_for_snapshot;
use crate::ops::{evaluate, load_questions, query_vectors, verified};
use crate::{build_pipeline, BuildOptions, EngineError, Event, Reporter, Silent};
use results::{questions_key, ResultCache};

#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    pub file: PathBuf,
    /// Where the report goes (default `<store>/reports/<name>/`).
    pub report_dir: Option<PathBuf>,
    /// Point `current` at the winner.
    pub promote: bool,
    /// Rebuild and re-evaluate every variant.
    pub rerun: bool,
}

/// An experiment's ranked report and where to write it.
#[derive(Debug, Clone)]
pub struct ExperimentRun {
    pub report: ExperimentReport,
    pub report_dir: PathBuf,
}

/// What every variant of one experiment shares.
struct Plan {
    file: ExperimentFile,
    path: PathBuf,
    base: LoadedPipeline,
    store_dir: PathBuf,
    questions_path: PathBuf,
    set: QuestionSet,
}

impl Plan {
    fn load(path: &Path) -> Result<Self, EngineError> {
        let file = ExperimentFile::load(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let base = LoadedPipeline::load(&ragops_core::normalize_path(&dir.join(&file.base)))?;
        let store_dir = match &file.store {
            Some(s) => ragops_core::normalize_path(&dir.join(s)),
            None => base.store_dir(),
        };
        let questions_path = ragops_core::normalize_path(&dir.join(&file.questions));
        let set = load_questions(&questions_path)?;
        Ok(Plan {
            file,
            path: path.to_path_buf(),
            base,
            store_dir,
            questions_path,
            set,
        })
    }

    fn tag(&self, variant: &str) -> String {
        format!("exp/{}/{variant}", self.file.name)
    }
}

/// Builds, tags and scores every variant (reusing those done before), ranks them, and
/// promotes the winner when asked.
pub fn experiment(
    opts: &ExperimentOptions,
    reporter: &dyn Reporter,
) -> Result<ExperimentRun, EngineError> {
    let plan = Plan::load(&opts.file)?;
    let variants = expand(&plan.file, &plan.base.config, &plan.path)?;
    reporter.event(Event::ExperimentStarted {
        name: &plan.file.name,
        variants: variants.len(),
        questions: plan.set.questions.len(),
        store: &plan.store_dir,
    });
    let key = questions_key(&plan.questions_path, &plan.file.modes, &plan.file.k);
    let cache_path = plan
        .store_dir
        .join("experiments")
        .join(format!("{}.json", plan.file.name));
    let mut cache = if opts.rerun {
        ResultCache {
            questions_key: key,
            ..Default::default()
        }
    } else {
        ResultCache::load(&cache_path, &key)
    };
    let mut vectors: Option<(ModelIdentity, Vec<Vec<f32>>)> = None;
    let mut results = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        if let Some(done) = done_before(&plan, &cache, v) {
            reporter.event(Event::VariantReused {
                index: i + 1,
                total: variants.len(),
                name: &v.name,
            });
            results.push(done);
            continue;
        }
        let r = run_variant(&plan, v, &mut vectors)?;
        reporter.event(Event::VariantScored {
            index: i + 1,
            total: variants.len(),
            name: &r.name,
            chunks: r.chunks,
            build_seconds: r.build_seconds,
            embedded: r.embeddings_computed,
            cached: r.embeddings_cached,
            metric: plan.file.metric,
            k: plan.file.k[0],
            score: r.score,
        });
        cache.variants.insert(v.name.clone(), r.clone());
        cache.save(&cache_path)?;
        results.push(r);
    }
    let report = ranked(&plan, results)?;
    if opts.promote {
        if let Some(w) = report.variants.first() {
            promote(&plan.store_dir, &w.snapshot)?;
            reporter.event(Event::Promoted {
                snapshot: &w.snapshot,
                variant: &w.name,
            });
        }
    }
    let report_dir = opts
        .report_dir
        .clone()
        .unwrap_or_else(|| plan.store_dir.join("reports").join(&plan.file.name));
    Ok(ExperimentRun { report, report_dir })
}

/// The recorded result of a variant, if its tag still names the recorded snapshot and that
/// snapshot was built with the variant's content config.
fn done_before(plan: &Plan, cache: &ResultCache, v: &Variant) -> Option<VariantResult> {
    let done = cache.variants.get(&v.name)?;
    let store = Store::open(&plan.store_dir).ok()?;
    let id = store.resolve(&plan.tag(&v.name)).ok()?;
    let same =
        id == done.snapshot && store.manifest(&id).ok()?.config_hash == v.config.content_hash();
    same.then(|| done.clone())
}

/// Builds a variant into a snapshot (not published), tags it and scores it. Query vectors are
/// computed once per model.
fn run_variant(
    plan: &Plan,
    v: &Variant,
    vectors: &mut Option<(ModelIdentity, Vec<Vec<f32>>)>,
) -> Result<VariantResult, EngineError> {
    let pipeline = LoadedPipeline {
        path: plan.path.clone(),
        base_dir: plan.base.base_dir.clone(),
        config: v.config.clone(),
    };
    let built = build_pipeline(
        &pipeline,
        &BuildOptions {
            pipeline: plan.path.clone(),
            store: Some(plan.store_dir.clone()),
            strict: false,
            publish: false,
            full: false,
            force: true,
            wait: Duration::ZERO,
            shard: None,
        },
        &Silent,
    )?;
    let store = Store::open(&plan.store_dir)?;
    let refs = store.refs_lock("ragops experiment")?;
    store.set_tag(&refs, &plan.tag(&v.name), &built.snapshot)?;
    drop(refs);
    let searcher = Searcher::open(&store, &built.snapshot)?;
    let modes = &plan.file.modes;
    let model = &searcher.manifest().model;
    if modes.iter().any(|m| Searcher::needs_vector(*m))
        && vectors.as_ref().map(|(m, _)| m) != Some(model)
    {
        let embedder = load_for_snapshot(searcher.manifest())?;
        *vectors = Some((model.clone(), query_vectors(&embedder, &plan.set)?));
    }
    let qv = vectors.as_ref().map(|(_, v)| v.as_slice()).unwrap_or(&[]);
    let metrics = evaluate(&searcher, &plan.set, qv, modes, &plan.file.k)?;
    let score = metrics
        .iter()
        .find(|x| x.mode == modes[0] && x.k == plan.file.k[0])
        .and_then(|x| x.get(plan.file.metric))
        .ok_or_else(|| EngineError::Experiment {
            path: plan.path.clone(),
            message: format!(
                "metric `{}` is not defined for this question set",
                plan.file.metric
            ),
        })?;
    let m = searcher.manifest();
    Ok(VariantResult {
        name: v.name.clone(),
        settings: v.settings.clone(),
        snapshot: built.snapshot.clone(),
        chunk_size: v.config.chunking.size,
        unit: v.config.chunking.unit,
        chunks: m.counts.chunks,
        index_bytes: m.files.values().map(|f| f.bytes).sum::<u64>()
            + m.fragments.iter().map(|f| f.bytes()).sum::<u64>(),
        build_seconds: built.timings.total,
        embed_seconds: built.timings.embed,
        embeddings_computed: built.incremental.embeddings_computed,
        embeddings_cached: built.incremental.embeddings_cached,
        truncated: m.counts.truncated,
        metrics,
        score,
    })
}

/// The report, variants best first.
fn ranked(plan: &Plan, results: Vec<VariantResult>) -> Result<ExperimentReport, EngineError> {
    let model = match results.first() {
        Some(r) => {
            Store::open(&plan.store_dir)?
                .manifest(&r.snapshot)?
                .model
                .id
        }
        None => String::new(),
    };
    let mut report = ExperimentReport {
        name: plan.file.name.clone(),
        questions: plan.questions_path.display().to_string(),
        question_count: plan.set.questions.len(),
        metric: plan.file.metric,
        mode: plan.file.modes[0],
        k: plan.file.k[0],
        model,
        variants: results,
        winner: None,
    };
    report.rank();
    Ok(report)
}

/// Verifies the winner, then points `current` at it.
fn promote(store_dir: &Path, winner: &SnapshotId) -> Result<(), EngineError> {
    let store = Store::open(store_dir)?;
    verified(&store, winner)?;
    let refs = store.refs_lock("ragops experiment --promote")?;
    store.publish(&refs, winner, "promote", &Expect::Any)?;
    Ok(())
}
