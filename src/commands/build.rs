//! `ragops build` (one shard of a sharded build with `--shard`).

use std::process::ExitCode;

use anyhow::Result;
use ragops_engine::{BuildOptions, ShardOptions};

use crate::cli::BuildArgs;
use crate::render;
use crate::reporter::Stderr;

pub(super) fn run(a: BuildArgs) -> Result<ExitCode> {
    let shard = match (a.shard, a.build_id) {
        (Some((index, count)), Some(build)) => Some(ShardOptions {
            build,
            index,
            count,
            plan: a.shard_plan,
        }),
        _ => None,
    };
    let opts = BuildOptions {
        pipeline: a.store.pipeline_file()?,
        store: a.store.store.clone(),
        strict: a.strict,
        publish: !a.no_publish,
        full: a.full,
        force: a.force,
        wait: a.wait.unwrap_or_default(),
        shard,
    };
    let reporter = Stderr::new(a.quiet);
    if opts.shard.is_some() {
        let report = ragops_engine::build_shard(&opts, &reporter)?;
        render::emit(a.json, &report, render::build::shard)?;
    } else {
        let report = ragops_engine::build(&opts, &reporter)?;
        render::emit(a.json, &report, render::build::build)?;
    }
    Ok(ExitCode::SUCCESS)
}
