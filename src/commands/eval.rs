//! `ragops eval`.

use std::process::ExitCode;

use anyhow::Result;
use ragops_engine::ops::EvalOptions;

use crate::cli::EvalArgs;
use crate::render;

pub(super) fn run(a: EvalArgs) -> Result<ExitCode> {
    let r = ragops_engine::ops::eval(&EvalOptions {
        store: a.store.read_dir(&a.snapshot)?,
        snapshot: a.snapshot,
        questions: a.queries,
        modes: a.mode.0,
        ks: a.k.iter().map(|&k| usize::from(k)).collect(),
        show_hits: usize::from(a.hits),
        exact: a.exact,
        filter: a.filter,
        query_precision: a.query_precision,
    })?;
    render::emit(a.json, &r, render::eval::eval)?;
    Ok(ExitCode::SUCCESS)
}
