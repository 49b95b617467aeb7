//! Which store a command works on.

use std::path::{Path, PathBuf};

use ragops_core::LoadedPipeline;

use crate::EngineError;

/// Pipeline used when none is named (relative to the working directory).
pub const DEFAULT_PIPELINE: &str = "pipelines/default.toml";

/// The pipeline a command reads settings from: the one named, else `pipelines/default.toml`
/// when it exists in the working directory, else none (the defaults apply).
pub(crate) fn pipeline_or_default(
    pipeline: Option<&Path>,
) -> Result<Option<LoadedPipeline>, EngineError> {
    let file = pipeline.or_else(|| Some(Path::new(DEFAULT_PIPELINE)).filter(|p| p.is_file()));
    Ok(file.map(LoadedPipeline::load).transpose()?)
}

/// The store directory: `store` when given, else the pipeline's `[store] dir` (the given
/// pipeline file, or `pipelines/default.toml` when it exists), else `.ragops`.
/// The `[serve]` settings of the pipeline the store flags name (explicit `-p`, else
/// `pipelines/default.toml` when present), or the defaults.
pub fn resolve_serve_settings(
    pipeline: Option<&Path>,
) -> Result<ragops_core::ServeSettings, EngineError> {
    if let Some(p) = pipeline {
        return Ok(LoadedPipeline::load(p)?.config.serve);
    }
    let default = Path::new(DEFAULT_PIPELINE);
    if default.is_file() {
        return Ok(LoadedPipeline::load(default)?.config.serve);
    }
    Ok(ragops_core::ServeSettings::default())
}

pub fn resolve_store(
    pipeline: Option<&Path>,
    store: Option<&Path>,
) -> Result<PathBuf, EngineError> {
    if let Some(s) = store {
        return Ok(s.to_path_buf());
    }
    if let Some(p) = pipeline {
        return Ok(LoadedPipeline::load(p)?.store_dir());
    }
    let default = Path::new(DEFAULT_PIPELINE);
    if default.is_file() {
        return Ok(LoadedPipeline::load(default)?.store_dir());
    }
    Ok(PathBuf::from(".ragops"))
}
