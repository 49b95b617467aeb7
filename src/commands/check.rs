//! `ragops check`: exit 0 fresh, 1 stale, 2 error (any failure to run the check).

use std::process::ExitCode;

use anyhow::Result;
use ragops_engine::ops::{CheckOptions, CheckReport};

use crate::cli::CheckArgs;
use crate::{diagnostics, render};

/// Exit status when the snapshot is fresh.
const FRESH: u8 = 0;
/// Exit status when it is stale (sources, config, model or age).
const STALE: u8 = 1;
/// Exit status when the check itself could not run (no store, bad pipeline file, no model).
const ERROR: u8 = 2;

pub(super) fn run(a: CheckArgs) -> ExitCode {
    let report = || -> Result<CheckReport> {
        Ok(ragops_engine::ops::check(&CheckOptions {
            pipeline: a.store.pipeline_file()?,
            store: a.store.store.clone(),
            snapshot: a.snapshot.clone(),
            max_age: a.max_age,
        })?)
    };
    let result = report().and_then(|r| {
        render::emit(a.json, &r, render::check::check)?;
        Ok(r.fresh)
    });
    match result {
        Ok(true) => ExitCode::from(FRESH),
        Ok(false) => ExitCode::from(STALE),
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"fresh": false, "error": format!("{e:#}")})
                );
            }
            diagnostics::print(&e);
            ExitCode::from(ERROR)
        }
    }
}
