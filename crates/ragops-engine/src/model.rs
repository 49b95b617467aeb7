//! Loading embedding models: the one a pipeline names (builds), and the one a snapshot was
//! built with, checked against its manifest (queries).

use ragops_core::{ModelIdentity, Precision};
use ragops_embed::Embedder;
use ragops_store::Manifest;

use crate::EngineError;

/// An embedder with the identity of its model.
pub struct LoadedModel {
    pub embedder: Embedder,
    pub identity: ModelIdentity,
}

/// Resolves a model reference (hub id or local directory) in the hub cache and loads it with
/// its linear layers in `precision`; its weights are hashed by their bytes (remembered by the
/// hub crate's memo).
pub fn load_model(
    model_ref: &str,
    revision: &str,
    max_tokens: Option<usize>,
    precision: Precision,
) -> Result<LoadedModel, EngineError> {
    let source = ragops_hub::resolve(model_ref, revision, &ragops_hub::cache_root())?;
    let embedder = Embedder::load(&source, max_tokens, precision)?;
    let info = embedder.info();
    let identity = ModelIdentity {
        id: info.id.clone(),
        revision: info.revision.clone(),
        weights_sha256: ragops_hub::file_sha256(embedder.weights_path())?,
        dim: info.dim,
        max_tokens: info.max_tokens,
        pooling: info.pooling,
        normalize: info.normalize,
        precision,
    };
    Ok(LoadedModel { embedder, identity })
}

/// Loads the model a snapshot was built with (its id and revision, at its precision) and
/// checks that it is the same model: its weights' bytes, dimension, pooling and normalisation
/// must equal the manifest's. Queries are then embedded in the same space as the chunks.
pub fn load_for_snapshot(manifest: &Manifest) -> Result<Embedder, EngineError> {
    load_for_snapshot_at(manifest, None)
}

/// Like [`load_for_snapshot`], with the query side computed at `precision` when given
/// instead of the snapshot's own (the same weights, so the same space: the vectors differ by
/// the arithmetic's rounding, cosine 0.99+ to f32's; see `Precision`).
pub fn load_for_snapshot_at(
    manifest: &Manifest,
    precision: Option<Precision>,
) -> Result<Embedder, EngineError> {
    let mut want = manifest.model.clone();
    if let Some(p) = precision {
        want.precision = p;
    }
    let loaded = load_model(
        &want.id,
        &want.revision,
        Some(want.max_tokens),
        want.precision,
    )?;
    let differs = want.differences(&loaded.identity);
    if !differs.is_empty() {
        return Err(EngineError::ModelMismatch {
            snapshot: manifest.id.clone(),
            expected: Box::new(want),
            found: Box::new(loaded.identity),
            differs,
        });
    }
    Ok(loaded.embedder)
}
