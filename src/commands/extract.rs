//! `ragops extract FILE...`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ExtractArgs;
use crate::render;

pub(super) fn run(a: ExtractArgs) -> Result<ExitCode> {
    let out = ragops_engine::ops::extract(&a.files, a.pipeline.as_deref())?;
    render::emit(a.json, &out, |e| render::misc::extracted(e))?;
    // Like a build under --strict: a file that would be skipped is a failure.
    Ok(if out.iter().any(|f| f.skipped.is_some()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
