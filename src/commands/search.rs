//! `ragops search`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::SearchArgs;
use crate::render;

pub(super) fn run(a: SearchArgs) -> Result<ExitCode> {
    let res = ragops_engine::ops::search(
        &a.store.read_dir(&a.snapshot)?,
        &a.snapshot,
        &a.query,
        a.mode,
        a.k.into(),
        a.exact,
        a.filter.as_ref(),
    )?;
    render::emit(a.json, &res, render::search::search)?;
    Ok(ExitCode::SUCCESS)
}
