//! Embed stage: BERT-family sentence encoders run with candle, and model provisioning through the
//! Hugging Face hub cache layout (`models--org--name/{blobs,snapshots/<rev>,refs}`).
//!
//! * [`hub`]: find a model in the cache, `pull` it with hf-hub, or `import` a local directory
//!   (air-gapped machines) into the same layout.
//! * [`bert`]: the encoder (embeddings, self-attention layers) on candle tensors.
//! * [`Embedder`]: tokenizer + encoder + pooling as the model's sentence-transformers config says
//!   (mean or CLS, L2 normalisation, `max_seq_length`), batches sorted by length and padded to the
//!   longest text of each batch.
//! * [`tiny`]: writes a tiny, randomly initialised BERT for fast tests of the real code path.

pub mod attention;
pub mod bert;
mod embedder;
pub mod hub;
pub mod kernels;
pub mod tiny;

pub use embedder::{
    plan_batches, EmbedOutput, Embedder, ModelInfo, Pooling, DEFAULT_MAX_BATCH_TOKENS,
};
pub use hub::{cache_root, ModelFiles};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "model `{id}` (revision `{revision}`) is not in the model cache at {cache}.{}\n\
         Fetch it with `ragops model pull {id}` (needs access to huggingface.co), or on an \
         air-gapped machine import a downloaded copy with `ragops model import DIR --as {id}` \
         (scripts/setup.sh does this for the default model)",
        local_dir_note(.local_dir)
    )]
    ModelNotFound {
        id: String,
        revision: String,
        cache: PathBuf,
        /// A directory named like the id exists here: it is not used in place of the hub id.
        local_dir: Option<PathBuf>,
    },
    #[error("model directory {0} does not exist")]
    LocalModelMissing(PathBuf),
    #[error("invalid model revision `{0}`: expected a 40-hex commit or a branch/tag name")]
    BadRevision(String),
    #[error("model cache ref {path} does not hold a commit hash (it holds {contents:?})")]
    BadCacheRef { path: PathBuf, contents: String },
    #[error("model directory {dir} is incomplete: missing {missing}")]
    ModelIncomplete { dir: PathBuf, missing: String },
    #[error("invalid model id `{0}`: expected `name` or `org/name`")]
    BadModelId(String),
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("invalid model config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("download from the Hugging Face hub failed: {0}")]
    Hub(String),
}

fn local_dir_note(dir: &Option<PathBuf>) -> String {
    match dir {
        Some(d) => format!(
            " A directory {0} exists here, but a hub id never resolves to a directory: \
             name it as {0} to use it.",
            d.display()
        ),
        None => String::new(),
    }
}

pub(crate) fn io_err(path: &std::path::Path, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Threads the encoder's matrix products use (`RAYON_NUM_THREADS`, else physical cores).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Tunes glibc's allocator for the encoder's allocation pattern: large tensors of the same sizes
/// are freed and allocated again for every layer. By default glibc serves blocks over its mmap
/// threshold with fresh `mmap`s and trims the heap top eagerly, so every batch pays page faults
/// again (a third of the CPU time on 256-token chunks). Raising the mmap threshold to its maximum
/// (32 MiB), never trimming and padding heap growth keeps those pages mapped; peak memory is
/// unchanged (it is bounded by the batch size).
///
/// One arena for all threads: with glibc's default of one arena per thread (up to 8 per core),
/// memory a loader thread frees (the DOM of a large HTML page) stays in that thread's arena and
/// the embedding thread grows its own, so the peaks add up. Sharing one arena lets the encoder
/// reuse what loading freed: on the two largest python3.11-doc pages peak RSS drops from 272 to
/// 211 MiB at the same speed (the threads allocate rarely; the hot loops work in place).
/// Call once at process start; no-op elsewhere.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
