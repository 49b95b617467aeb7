//! `ragops build`.

use std::process::ExitCode;

use anyhow::Result;
use ragops_engine::BuildOptions;

use crate::cli::BuildArgs;
use crate::render;
use crate::reporter::Stderr;

pub(super) fn run(a: BuildArgs) -> Result<ExitCode> {
    let opts = BuildOptions {
        pipeline: a.store.pipeline_file()?,
        store: a.store.store.clone(),
        strict: a.strict,
        publish: !a.no_publish,
        full: a.full,
        force: a.force,
        wait: a.wait.unwrap_or_default(),
    };
    let report = ragops_engine::build(&opts, &Stderr::new(a.quiet))?;
    render::emit(a.json, &report, render::build::build)?;
    Ok(ExitCode::SUCCESS)
}
