//! `ragops experiment FILE`: a grid of pipeline variants → snapshots → metrics → leaderboard.
//!
//! ```toml
//! name = "chunking-eval"
//! base = "../chunking-eval.toml"     # pipeline the variants start from
//! questions = "chunking-eval.questions.jsonl"   # span JSONL or a BEIR directory
//! metric = "span_iou"                # ranking metric (see ragops_eval::report::METRICS)
//! modes = ["vector"]                 # the first one ranks
//! k = [5]                            # the first one ranks
//! # store = "../.ragops-eval"        # default: the base pipeline's store
//!
//! [[grid]]                           # a cross product; several [[grid]] tables are unioned
//! "chunking.size" = [200, 400]
//! "chunking.overlap" = ["0%", "50%"] # percentages of the size, or absolute values
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ragops_core::{LoadedPipeline, PipelineConfig};
use ragops_eval::report::{ExperimentReport, VariantResult, METRICS};
use ragops_search::{Mode, SnapshotSearcher};
use ragops_store::Store;
use serde::{Deserialize, Serialize};

use crate::eval::{evaluate, load_questions, query_vectors};
use crate::{build_pipeline, load_embedder, BuildOptions, PipelineError, Progress};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub name: String,
    pub base: String,
    pub questions: String,
    #[serde(default = "default_metric")]
    pub metric: String,
    #[serde(default = "default_modes")]
    pub modes: Vec<String>,
    #[serde(default = "default_k")]
    pub k: Vec<usize>,
    #[serde(default)]
    pub store: Option<String>,
    pub grid: Vec<BTreeMap<String, Vec<toml::Value>>>,
}

fn default_metric() -> String {
    "recall".into()
}
fn default_modes() -> Vec<String> {
    vec!["vector".into()]
}
fn default_k() -> Vec<usize> {
    vec![5]
}

#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    pub file: PathBuf,
    /// Where report.json and report.html go (default `<store>/reports/<name>/`).
    pub report_dir: Option<PathBuf>,
    /// Point `current` at the winner.
    pub promote: bool,
    /// Rebuild and re-evaluate every variant.
    pub rerun: bool,
}

/// One point of the grid.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub settings: BTreeMap<String, serde_json::Value>,
    pub config: PipelineConfig,
}

fn usage(path: &Path, msg: impl std::fmt::Display) -> PipelineError {
    PipelineError::Usage(format!("{}: {msg}", path.display()))
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Sets a dotted key (`chunking.size`) in a JSON object tree.
fn set_key(root: &mut serde_json::Value, key: &str, value: serde_json::Value) -> bool {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        match node.get_mut(*p) {
            Some(n) if n.is_object() => node = n,
            _ => return false,
        }
    }
    match node.as_object_mut() {
        Some(map) if map.contains_key(parts[parts.len() - 1]) || parts.len() > 1 => {
            map.insert(parts[parts.len() - 1].to_string(), value);
            true
        }
        _ => false,
    }
}

/// A short, stable name from the effective settings, e.g. `markdown-tok250-ov50pct-hdr`.
fn variant_name(cfg: &PipelineConfig, settings: &BTreeMap<String, serde_json::Value>) -> String {
    let c = &cfg.chunking;
    let unit = match c.unit {
        ragops_core::ChunkUnit::Tokens => "tok",
        ragops_core::ChunkUnit::Chars => "chr",
    };
    let overlap = match settings.get("chunking.overlap").and_then(|v| v.as_str()) {
        Some(p) => format!("{}pct", p.trim_end_matches('%')),
        None => c.overlap.to_string(),
    };
    let mut name = format!(
        "{}-{unit}{}-ov{overlap}-{}",
        format!("{:?}", c.strategy).to_lowercase(),
        c.size,
        if cfg.enrich.contextual_header {
            "hdr"
        } else {
            "nohdr"
        }
    );
    for (k, v) in settings {
        if ![
            "chunking.strategy",
            "chunking.unit",
            "chunking.size",
            "chunking.overlap",
            "enrich.contextual_header",
        ]
        .contains(&k.as_str())
        {
            let last = k.rsplit('.').next().unwrap_or(k);
            let v: String = v
                .to_string()
                .chars()
                .filter(|c| !"\"[] ".contains(*c))
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            name.push_str(&format!("-{last}{v}"));
        }
    }
    name
}

/// Expands the grids over the base configuration. Overlaps given as "N%" are taken of the
/// variant's size. Variants with the same name (same effective settings) are kept once.
pub fn expand(
    file: &ExperimentFile,
    base: &PipelineConfig,
    path: &Path,
) -> Result<Vec<Variant>, PipelineError> {
    let mut out: Vec<Variant> = Vec::new();
    for grid in &file.grid {
        let keys: Vec<&String> = grid.keys().collect();
        if keys.iter().any(|k| grid[*k].is_empty()) {
            return Err(usage(path, "a grid key has no values"));
        }
        let total: usize = keys.iter().map(|k| grid[*k].len()).product();
        for n in 0..total {
            let mut rest = n;
            let mut settings = BTreeMap::new();
            for k in &keys {
                let vals = &grid[*k];
                settings.insert((*k).clone(), toml_to_json(&vals[rest % vals.len()]));
                rest /= vals.len();
            }
            let mut json = base.normalized_json();
            let mut pct = None;
            for (k, v) in &settings {
                if k == "chunking.overlap" {
                    if let Some(p) = v.as_str().and_then(|s| s.strip_suffix('%')) {
                        pct = Some(p.trim().parse::<f64>().map_err(|_| {
                            usage(path, format!("chunking.overlap = {v}: not a percentage"))
                        })?);
                        continue;
                    }
                }
                if !set_key(&mut json, k, v.clone()) {
                    return Err(usage(path, format!("unknown pipeline key `{k}`")));
                }
            }
            if let Some(p) = pct {
                let size = json["chunking"]["size"].as_u64().unwrap_or(0) as f64;
                json["chunking"]["overlap"] = serde_json::json!((size * p / 100.0).floor() as u64);
            }
            let config: PipelineConfig = serde_json::from_value(json)
                .map_err(|e| usage(path, format!("variant {settings:?}: {e}")))?;
            config.validate(path)?;
            let name = variant_name(&config, &settings);
            if !out.iter().any(|v| v.name == name) {
                out.push(Variant {
                    name,
                    settings,
                    config,
                });
            }
        }
    }
    Ok(out)
}

/// Results kept in `<store>/experiments/<name>.json` so that a rerun skips finished variants.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ResultCache {
    /// Hash of the question set file(s), modes and k values the results were computed with.
    questions_key: String,
    variants: BTreeMap<String, VariantResult>,
}

fn questions_key(path: &Path, modes: &[String], ks: &[usize]) -> String {
    let mut h = ragops_core::Sha256Hasher::new();
    let files: Vec<PathBuf> = if path.is_dir() {
        vec![
            path.join("queries.jsonl"),
            path.join("qrels").join("test.tsv"),
        ]
    } else {
        vec![path.to_path_buf()]
    };
    for f in files {
        h = h.part(std::fs::read(&f).unwrap_or_default());
    }
    h.part(modes.join(",")).part(format!("{ks:?}")).hex()
}

pub fn experiment(
    opts: &ExperimentOptions,
    progress: &Progress,
) -> Result<ExperimentReport, PipelineError> {
    let path = &opts.file;
    let text = std::fs::read_to_string(path).map_err(|e| usage(path, e))?;
    let file: ExperimentFile = toml::from_str(&text).map_err(|e| usage(path, e))?;
    if !METRICS.contains(&file.metric.as_str()) {
        return Err(usage(
            path,
            format!(
                "metric `{}`: use one of {}",
                file.metric,
                METRICS.join(", ")
            ),
        ));
    }
    let modes: Vec<Mode> = file
        .modes
        .iter()
        .map(|m| m.parse().map_err(|e: String| usage(path, e)))
        .collect::<Result<_, _>>()?;
    if modes.is_empty() || file.k.is_empty() || file.k.contains(&0) {
        return Err(usage(path, "modes and k must be non-empty (k ≥ 1)"));
    }
    if file.name.is_empty() || file.name.contains(['/', ' ']) {
        return Err(usage(path, "name must be non-empty, without '/' or spaces"));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let base_path = ragops_core::normalize_path(&dir.join(&file.base));
    let base = LoadedPipeline::load(&base_path)?;
    let store_dir = match &file.store {
        Some(s) => ragops_core::normalize_path(&dir.join(s)),
        None => base.store_dir(),
    };
    let questions_path = ragops_core::normalize_path(&dir.join(&file.questions));
    let set = load_questions(&questions_path)?;
    let variants = expand(&file, &base.config, path)?;
    progress.info(&format!(
        "experiment {}: {} variant(s), {} question(s), store {}",
        file.name,
        variants.len(),
        set.questions.len(),
        store_dir.display()
    ));

    let qkey = questions_key(&questions_path, &file.modes, &file.k);
    let cache_path = store_dir
        .join("experiments")
        .join(format!("{}.json", file.name));
    let mut cache: ResultCache = std::fs::read(&cache_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|c: &ResultCache| c.questions_key == qkey && !opts.rerun)
        .unwrap_or_default();
    cache.questions_key = qkey;

    let mut vectors: Option<(String, Vec<Vec<f32>>)> = None;
    let mut results = Vec::new();
    let (mode0, k0) = (format!("{:?}", modes[0]).to_lowercase(), file.k[0]);
    for (i, v) in variants.iter().enumerate() {
        let tag = format!("exp/{}/{}", file.name, v.name);
        let label = format!("[{}/{}] {}", i + 1, variants.len(), v.name);
        // Done before: same tag, same content config, results for these questions.
        if let Some(done) = cache.variants.get(&v.name) {
            let same = Store::open(&store_dir)
                .and_then(|s| {
                    let id = s.resolve(&tag)?;
                    Ok(id == done.snapshot
                        && s.manifest(&id)?.config_hash == v.config.content_hash())
                })
                .unwrap_or(false);
            if same {
                progress.info(&format!("{label}: done before, skipped"));
                results.push(done.clone());
                continue;
            }
        }
        let pipeline = LoadedPipeline {
            path: path.clone(),
            base_dir: base.base_dir.clone(),
            config: v.config.clone(),
        };
        let quiet = Progress::new(crate::ProgressMode::Quiet);
        let report = build_pipeline(
            &pipeline,
            &BuildOptions {
                pipeline: path.clone(),
                store: Some(store_dir.clone()),
                strict: false,
                publish: false,
                full: false,
                force: true,
                wait: Duration::ZERO,
            },
            &quiet,
        )?;
        crate::tag(&store_dir, &report.snapshot, &tag)?;
        let store = Store::open(&store_dir)?;
        let searcher = SnapshotSearcher::open(&store, &report.snapshot)?;
        let identity = crate::build::model_identity(&searcher.manifest.model);
        let needs_vectors = modes.iter().any(|m| SnapshotSearcher::needs_vector(*m));
        if needs_vectors && vectors.as_ref().map(|(id, _)| id) != Some(&identity) {
            let embedder = load_embedder(&searcher.manifest)?;
            vectors = Some((identity.clone(), query_vectors(&embedder, &set)?));
        }
        let empty = Vec::new();
        let qv = vectors.as_ref().map(|(_, v)| v).unwrap_or(&empty);
        let metrics = evaluate(&searcher, &set, qv, &modes, &file.k)?;
        let m = &searcher.manifest;
        let score = metrics
            .iter()
            .find(|x| x.mode == mode0 && x.k == k0)
            .and_then(|x| x.get(&file.metric))
            .ok_or_else(|| {
                usage(
                    path,
                    format!(
                        "metric `{}` is not defined for this question set",
                        file.metric
                    ),
                )
            })?;
        let r = VariantResult {
            name: v.name.clone(),
            settings: v.settings.clone(),
            snapshot: report.snapshot.clone(),
            chunk_size: v.config.chunking.size,
            unit: format!("{:?}", v.config.chunking.unit).to_lowercase(),
            chunks: m.counts.chunks,
            index_bytes: m.files.values().map(|f| f.bytes).sum(),
            build_seconds: report.timings.get("total").copied().unwrap_or(0.0),
            embed_seconds: report.timings.get("embed").copied().unwrap_or(0.0),
            embeddings_computed: report.incremental.embeddings_computed,
            embeddings_cached: report.incremental.embeddings_cached,
            truncated: m.counts.truncated,
            metrics,
            score,
        };
        progress.info(&format!(
            "{label}: {} chunks, built in {:.1}s ({} embedded, {} cached); {}@{} = {:.4}",
            r.chunks,
            r.build_seconds,
            r.embeddings_computed,
            r.embeddings_cached,
            file.metric,
            k0,
            score
        ));
        cache.variants.insert(v.name.clone(), r.clone());
        write_json(&cache_path, &cache)?;
        results.push(r);
    }
    let model = Store::open(&store_dir)
        .ok()
        .and_then(|s| {
            let id = s
                .resolve(&format!("exp/{}/{}", file.name, results.first()?.name))
                .ok()?;
            s.manifest(&id).ok()
        })
        .map(|m| m.model.id)
        .unwrap_or_default();
    let mut report = ExperimentReport {
        name: file.name.clone(),
        questions: questions_path.display().to_string(),
        question_count: set.questions.len(),
        metric: file.metric.clone(),
        mode: mode0,
        k: k0,
        model,
        variants: results,
        winner: None,
    };
    report.rank();
    let out_dir = opts
        .report_dir
        .clone()
        .unwrap_or_else(|| store_dir.join("reports").join(&file.name));
    write_json(&out_dir.join("report.json"), &report)?;
    let html = out_dir.join("report.html");
    std::fs::write(&html, report.html()).map_err(|e| usage(&html, e))?;
    let md = out_dir.join("report.md");
    std::fs::write(&md, report.markdown()).map_err(|e| usage(&md, e))?;
    progress.info(&format!("report: {}", html.display()));
    if opts.promote {
        if let Some(w) = report.variants.first() {
            let store = Store::open(&store_dir)?;
            crate::ops::verified(&store, &w.snapshot)?;
            let refs = store.refs_lock("ragops experiment --promote")?;
            store.publish(&refs, &w.snapshot, "promote", &ragops_store::Expect::Any)?;
            progress.info(&format!("current -> {} ({})", w.snapshot, w.name));
        }
    }
    Ok(report)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), PipelineError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| usage(d, e))?;
    }
    let json = serde_json::to_vec_pretty(value).map_err(|e| usage(path, e))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| usage(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| usage(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PipelineConfig {
        PipelineConfig::from_toml("[sources]\npaths = [\"d\"]\n", Path::new("p.toml")).unwrap()
    }

    fn file(text: &str) -> ExperimentFile {
        toml::from_str(&format!(
            "name = \"e\"\nbase = \"p.toml\"\nquestions = \"q.jsonl\"\n{text}"
        ))
        .unwrap()
    }

    #[test]
    fn grid_expands_with_percent_overlap_and_dedups() {
        let f = file(
            "[[grid]]\n\"chunking.size\" = [200, 400]\n\"chunking.overlap\" = [\"0%\", \"50%\"]\n\
             [[grid]]\n\"chunking.size\" = [200]\n\"chunking.overlap\" = [\"0%\"]\n\"enrich.contextual_header\" = [false, true]\n",
        );
        let v = expand(&f, &base(), Path::new("e.toml")).unwrap();
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "markdown-tok200-ov0pct-hdr",
                "markdown-tok200-ov50pct-hdr",
                "markdown-tok400-ov0pct-hdr",
                "markdown-tok400-ov50pct-hdr",
                "markdown-tok200-ov0pct-nohdr",
            ],
            "the first key varies fastest; the second grid's header=true variant duplicates \
             the first grid's"
        );
        assert_eq!(v[3].config.chunking.overlap, 200);
        assert_eq!(v[1].config.chunking.overlap, 100);
        assert_eq!(v[2].config.chunking.overlap, 0);
        assert!(!v[4].config.enrich.contextual_header);
    }

    #[test]
    fn bad_keys_and_values_are_errors() {
        let f = file("[[grid]]\n\"chunking.sise\" = [200]\n");
        let err = expand(&f, &base(), Path::new("e.toml")).unwrap_err();
        assert!(err.to_string().contains("chunking.sise"), "{err}");
        let f = file("[[grid]]\n\"chunking.overlap\" = [300]\n");
        let err = expand(&f, &base(), Path::new("e.toml")).unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
    }
}
