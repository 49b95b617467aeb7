//! The experiment file and its grid of pipeline variants.
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
use std::path::Path;

use ragops_core::{Mode, PipelineConfig};
use ragops_eval::Metric;
use serde::Deserialize;

use crate::EngineError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub name: String,
    pub base: String,
    pub questions: String,
    #[serde(default = "default_metric")]
    pub metric: Metric,
    #[serde(default = "default_modes")]
    pub modes: Vec<Mode>,
    #[serde(default = "default_k")]
    pub k: Vec<usize>,
    #[serde(default)]
    pub store: Option<String>,
    pub grid: Vec<BTreeMap<String, Vec<toml::Value>>>,
}

fn default_metric() -> Metric {
    Metric::Recall
}
fn default_modes() -> Vec<Mode> {
    vec![Mode::Vector]
}
fn default_k() -> Vec<usize> {
    vec![5]
}

impl ExperimentFile {
    /// Reads and checks an experiment file.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| invalid(path, e))?;
        let file: ExperimentFile = toml::from_str(&text).map_err(|e| invalid(path, e))?;
        if file.modes.is_empty() || file.k.is_empty() || file.k.contains(&0) {
            return Err(invalid(path, "modes and k must be non-empty (k ≥ 1)"));
        }
        if file.name.is_empty() || file.name.contains(['/', ' ']) {
            return Err(invalid(
                path,
                "name must be non-empty, without '/' or spaces",
            ));
        }
        Ok(file)
    }
}

/// One point of the grid.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub settings: BTreeMap<String, serde_json::Value>,
    pub config: PipelineConfig,
}

fn invalid(path: &Path, msg: impl std::fmt::Display) -> EngineError {
    EngineError::Experiment {
        path: path.to_path_buf(),
        message: msg.to_string().trim_end().to_string(),
    }
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
        c.strategy,
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
) -> Result<Vec<Variant>, EngineError> {
    let mut out: Vec<Variant> = Vec::new();
    for grid in &file.grid {
        let keys: Vec<&String> = grid.keys().collect();
        if keys.iter().any(|k| grid[*k].is_empty()) {
            return Err(invalid(path, "a grid key has no values"));
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
                            invalid(path, format!("chunking.overlap = {v}: not a percentage"))
                        })?);
                        continue;
                    }
                }
                if !set_key(&mut json, k, v.clone()) {
                    return Err(invalid(path, format!("unknown pipeline key `{k}`")));
                }
            }
            if let Some(p) = pct {
                let size = json["chunking"]["size"].as_u64().unwrap_or(0) as f64;
                json["chunking"]["overlap"] = serde_json::json!((size * p / 100.0).floor() as u64);
            }
            let config: PipelineConfig = serde_json::from_value(json)
                .map_err(|e| invalid(path, format!("variant {settings:?}: {e}")))?;
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
    fn precision_is_a_grid_axis() {
        let f = file("[[grid]]\n\"embedding.precision\" = [\"f32\", \"int8\", \"bf16\"]\n");
        let v = expand(&f, &base(), Path::new("e.toml")).unwrap();
        let got: Vec<(&str, ragops_core::Precision)> = v
            .iter()
            .map(|v| (v.name.as_str(), v.config.embedding.precision))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "markdown-tok222-ov32-hdr-precisionf32",
                    ragops_core::Precision::F32
                ),
                (
                    "markdown-tok222-ov32-hdr-precisionint8",
                    ragops_core::Precision::Int8
                ),
                (
                    "markdown-tok222-ov32-hdr-precisionbf16",
                    ragops_core::Precision::Bf16
                ),
            ]
        );
        // Each precision is its own content (its own snapshot and results).
        assert_ne!(v[0].config.content_hash(), v[1].config.content_hash());
        assert_eq!(v[0].config.content_hash(), base().content_hash());
        let f = file("[[grid]]\n\"embedding.precision\" = [\"fp16\"]\n");
        let err = expand(&f, &base(), Path::new("e.toml")).unwrap_err();
        assert!(err.to_string().contains("int8"), "{err}");
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
