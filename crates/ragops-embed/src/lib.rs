//! Embed stage: BERT-family sentence encoders run with candle. Finding model files is
//! `ragops-hub`'s job; this crate loads a directory and turns texts into vectors.
//!
//! * [`bert`]: the encoder (embeddings, self-attention layers) on candle tensors.
//! * [`attention`], [`kernels`]: the fused self-attention and the fused in-place kernels.
//! * [`Embedder`]: tokenizer + encoder + pooling as the model's sentence-transformers config says
//!   (mean or CLS, L2 normalisation, `max_seq_length`), batches sorted by length and padded to the
//!   longest text of each batch.

pub mod attention;
pub mod bert;
mod embedder;
pub mod kernels;
pub mod linear;

pub use embedder::{plan_batches, EmbedOutput, Embedder, ModelInfo, DEFAULT_MAX_BATCH_TOKENS};
pub use ragops_core::Pooling;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Encode(String),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
}

pub(crate) fn io_err(path: &std::path::Path, source: std::io::Error) -> EmbedError {
    EmbedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Threads the encoder's matrix products use (`RAYON_NUM_THREADS`, else physical cores).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}
