//! `ragops extract`: the text ragops sees in files, as the build would load them.

use std::path::{Path, PathBuf};

use ragops_core::{Format, PipelineConfig, SourcesConfig};
use serde::{Deserialize, Serialize};

use super::store::pipeline_or_default;
use crate::EngineError;

/// One page of an extracted document: its number and where it starts and ends in the text
/// (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractedPage {
    pub page: u32,
    pub start: usize,
    pub end: usize,
}

/// A document loaded from a file (a JSONL file gives several).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractedDocument {
    pub id: String,
    pub title: String,
    pub format: Format,
    pub pages: Vec<ExtractedPage>,
    pub text: String,
}

/// What loading one file gave: documents, or the reason it would be skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extracted {
    pub path: PathBuf,
    pub documents: Vec<ExtractedDocument>,
    pub skipped: Option<String>,
}

/// The source settings of `pipeline` (or `pipelines/default.toml` when it exists here, else
/// the defaults): JSONL mapping and per-file limits.
fn sources(pipeline: Option<&Path>) -> Result<SourcesConfig, EngineError> {
    Ok(match pipeline_or_default(pipeline)? {
        Some(p) => p.config.sources,
        None => {
            PipelineConfig::from_toml("[sources]\npaths = [\".\"]\n", Path::new("(defaults)"))?
                .sources
        }
    })
}

/// Loads each file as a build would (same loaders, limits and budgets) and returns its text.
pub fn extract(paths: &[PathBuf], pipeline: Option<&Path>) -> Result<Vec<Extracted>, EngineError> {
    let sources = sources(pipeline)?;
    Ok(paths
        .iter()
        .map(|path| match ragops_load::load_path(path, &sources) {
            Ok(docs) => Extracted {
                path: path.clone(),
                documents: docs.into_iter().map(document).collect(),
                skipped: None,
            },
            Err(reason) => Extracted {
                path: path.clone(),
                documents: Vec::new(),
                skipped: Some(reason.to_string()),
            },
        })
        .collect())
}

fn document(d: ragops_core::Document) -> ExtractedDocument {
    let ends = d
        .pages
        .iter()
        .skip(1)
        .map(|p| p.byte_start)
        .chain(std::iter::once(d.text.len()));
    let pages = d
        .pages
        .iter()
        .zip(ends)
        .map(|(p, end)| ExtractedPage {
            page: p.page,
            start: p.byte_start,
            end,
        })
        .collect();
    ExtractedDocument {
        id: d.id.to_string(),
        title: d.title,
        format: d.format,
        pages,
        text: d.text,
    }
}
