//! Results kept in `<store>/experiments/<name>.json`, so that a rerun skips finished variants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ragops_core::Mode;
use ragops_eval::VariantResult;
use serde::{Deserialize, Serialize};

use crate::error::io;
use crate::EngineError;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct ResultCache {
    /// Hash of the question set file(s), modes and k values the results were computed with.
    pub questions_key: String,
    pub variants: BTreeMap<String, VariantResult>,
}

impl ResultCache {
    /// The results recorded for these questions, modes and k values (empty otherwise).
    pub(super) fn load(path: &Path, key: &str) -> ResultCache {
        let mut cache: ResultCache = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|c: &ResultCache| c.questions_key == key)
            .unwrap_or_default();
        cache.questions_key = key.to_string();
        cache
    }

    /// Writes the file (temporary file, then rename).
    pub(super) fn save(&self, path: &Path) -> Result<(), EngineError> {
        write_json(path, self)
    }
}

/// Hash of the question set's files, the modes and the k values.
pub(super) fn questions_key(path: &Path, modes: &[Mode], ks: &[usize]) -> String {
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
    let modes: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
    h.part(modes.join(","))
        .part(serde_json::to_string(ks).unwrap_or_default())
        .hex()
}

/// Writes JSON to `path` through a temporary file and a rename.
pub(super) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), EngineError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let json = serde_json::to_vec_pretty(value).map_err(|e| io(path)(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}
