//! `ragops embed`.

use std::process::ExitCode;

use anyhow::Result;
use ragops_engine::EmbedFileOptions;

use crate::cli::EmbedArgs;
use crate::render;
use crate::reporter::Stderr;

pub(super) fn run(a: EmbedArgs) -> Result<ExitCode> {
    if let Some(n) = a.threads {
        // Read by rayon and candle when their pools start (nothing has started yet).
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    let opts = EmbedFileOptions {
        input: a.input,
        output: a.output,
        model: a.model,
        revision: a.revision,
        batch_size: a.batch_size as usize,
        max_batch_tokens: a.max_batch_tokens as usize,
        max_tokens: a.max_tokens,
        precision: a.precision,
    };
    let r = ragops_engine::embed_file(&opts, &Stderr::new(a.quiet))?;
    render::emit(a.json, &r, render::misc::embed)?;
    Ok(ExitCode::SUCCESS)
}
