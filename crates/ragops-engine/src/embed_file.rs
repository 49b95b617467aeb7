//! `ragops embed`: embed the strings of a JSONL file with the configured model and report
//! throughput. Useful on its own, and the candle side of the benchmarks in `benches/`.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ragops_core::{Chunk, ChunkId, ChunkRow, DocId, Format, Precision};
use ragops_embed::{Embedder, ModelInfo};
use ragops_store::ChunkTableWriter;
use serde::{Deserialize, Serialize};

use crate::error::io;
use crate::{EngineError, Event, Reporter};

#[derive(Debug, Clone)]
pub struct EmbedFileOptions {
    pub input: PathBuf,
    /// `.parquet` writes the chunk-table schema (text + embedding); anything else writes JSONL.
    pub output: PathBuf,
    /// Hub id or model directory.
    pub model: String,
    pub revision: String,
    pub batch_size: usize,
    pub max_batch_tokens: usize,
    pub max_tokens: Option<usize>,
    /// Precision of the encoder's linear layers.
    pub precision: Precision,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedFileReport {
    pub texts: usize,
    pub tokens: u64,
    pub truncated: usize,
    /// Time spent embedding (model load and I/O excluded).
    pub seconds: f64,
    pub texts_per_sec: f64,
    pub tokens_per_sec: f64,
    /// Useful model FLOPs (padding excluded) per second.
    pub gflops_per_sec: f64,
    pub threads: usize,
    /// Precision of the encoder's linear layers (also in `model`, where it is left out when
    /// `f32`).
    #[serde(default)]
    pub precision: Precision,
    /// The linear layers' kernel (precision and instruction set, e.g. `int8 avx512-vnni`).
    #[serde(default)]
    pub kernel: String,
    pub model: ModelInfo,
    pub output: PathBuf,
}

/// Reads a JSONL file whose lines are JSON strings or objects with a string `text` field.
pub fn read_texts(path: &Path) -> Result<Vec<String>, EngineError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut texts = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let bad = |why: &str| EngineError::BadInputLine {
            path: path.to_path_buf(),
            line: i + 1,
            message: why.to_string(),
        };
        let line = line.map_err(|e| bad(&e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(&format!("invalid JSON: {e}")))?;
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => o
                .get("text")
                .and_then(|t| t.as_str())
                .ok_or_else(|| bad("object without a string `text` field"))?
                .to_string(),
            _ => {
                return Err(bad(
                    "expected a JSON string or an object with a `text` field",
                ))
            }
        };
        texts.push(text);
    }
    Ok(texts)
}

/// Forward-pass FLOPs of a BERT encoder for one sequence of `len` tokens (matrix products only).
pub fn bert_flops(len: usize, hidden: usize, intermediate: usize, layers: usize) -> f64 {
    let (l, h, i) = (len as f64, hidden as f64, intermediate as f64);
    layers as f64 * (8.0 * l * h * h + 4.0 * l * h * i + 4.0 * l * l * h)
}

pub fn embed_file(
    opts: &EmbedFileOptions,
    reporter: &dyn Reporter,
) -> Result<EmbedFileReport, EngineError> {
    let texts = read_texts(&opts.input)?;
    let source = ragops_hub::resolve(&opts.model, &opts.revision, &ragops_hub::cache_root())?;
    let embedder = Embedder::load(&source, opts.max_tokens, opts.precision)?
        .with_max_batch_tokens(opts.max_batch_tokens);
    let info = embedder.info().clone();
    let kernel = embedder.kernel();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = reporter.progress("embed", texts.len() as u64, "texts");
    let start = Instant::now();
    let out = embedder.embed(&refs, opts.batch_size, |d| bar.set(d as u64))?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish(texts.len() as u64);
    for (op, secs) in ragops_embed::bert::profile::report() {
        reporter.event(Event::Profile {
            op,
            seconds: secs,
            share: secs / seconds.max(1e-9),
        });
    }
    let tokens: u64 = out.token_counts.iter().map(|&n| n as u64).sum();
    let (h, inter, layers) = embedder.shape();
    let flops: f64 = out
        .token_counts
        .iter()
        .map(|&n| bert_flops(n as usize, h, inter, layers))
        .sum();

    let is_parquet = opts.output.extension().is_some_and(|e| e == "parquet");
    if is_parquet {
        let rows: Vec<ChunkRow> = texts
            .iter()
            .zip(&out.token_counts)
            .enumerate()
            .map(|(i, (t, &n))| text_row(i, t, n))
            .collect();
        let flat: Vec<f32> = out.vectors.iter().flatten().copied().collect();
        let mut w = ChunkTableWriter::create(&opts.output, info.dim)?;
        w.write(&rows, &flat)?;
        w.finish()?;
    } else {
        let path = &opts.output;
        let mut w = BufWriter::new(std::fs::File::create(path).map_err(io(path))?);
        for (i, (v, n)) in out.vectors.iter().zip(&out.token_counts).enumerate() {
            let line = serde_json::json!({"index": i, "n_tokens": n, "embedding": v});
            writeln!(w, "{line}").map_err(io(path))?;
        }
        w.flush().map_err(io(path))?;
    }
    Ok(EmbedFileReport {
        texts: texts.len(),
        tokens,
        truncated: out.truncated,
        seconds,
        texts_per_sec: texts.len() as f64 / seconds.max(1e-9),
        tokens_per_sec: tokens as f64 / seconds.max(1e-9),
        gflops_per_sec: flops / seconds.max(1e-9) / 1e9,
        threads: ragops_embed::threads(),
        precision: info.precision,
        kernel: kernel.map(|k| k.name().to_string()).unwrap_or_default(),
        model: info,
        output: opts.output.clone(),
    })
}

/// A row of the chunk-table schema for the `i`th text (id: `i` in 32 hex digits).
fn text_row(i: usize, text: &str, tokens: u32) -> ChunkRow {
    let chars = text.chars().count() as u64;
    let chunk = Chunk {
        id: ChunkId::from_parts(ragops_core::Sha256Hasher::new().part(i.to_le_bytes())),
        doc_id: DocId::file(&i.to_string()),
        ordinal: i as u32,
        text: text.to_string(),
        start_byte: 0,
        end_byte: text.len() as u64,
        start_char: 0,
        end_char: chars,
        heading_path: Vec::new(),
        page_start: None,
        page_end: None,
        title: String::new(),
        source_path: String::new(),
        format: Format::Text,
        mtime: None,
    };
    ChunkRow {
        chunk,
        embed_key: None,
        token_count: tokens,
        meta: ragops_core::ChunkMeta::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_and_objects_and_names_bad_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("in.jsonl");
        std::fs::write(&p, "\"plain\"\n{\"text\": \"obj\", \"id\": 3}\n\n").unwrap();
        assert_eq!(read_texts(&p).unwrap(), vec!["plain", "obj"]);
        std::fs::write(&p, "\"ok\"\n{\"txt\": 1}\n").unwrap();
        let err = read_texts(&p).unwrap_err().to_string();
        assert!(err.contains("in.jsonl:2"), "{err}");
    }

    #[test]
    fn flops_formula() {
        // One layer, L=1, H=1, I=1: 8 + 4 + 4.
        assert_eq!(bert_flops(1, 1, 1, 1), 16.0);
        // Quadratic attention term grows with L².
        assert!(bert_flops(256, 384, 1536, 6) > 2.0 * bert_flops(128, 384, 1536, 6));
    }
}
