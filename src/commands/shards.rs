//! `ragops shards plan|status` and `ragops commit`.

use std::process::ExitCode;

use anyhow::Result;
use ragops_engine::CommitOptions;

use crate::cli::{CommitArgs, ShardsCommand};
use crate::render;
use crate::reporter::Stderr;

pub(super) fn run(command: ShardsCommand) -> Result<ExitCode> {
    match command {
        ShardsCommand::Plan(a) => {
            let plan = ragops_engine::plan_build(&a.store.dir()?, &a.build_id, a.shards)?;
            render::emit(a.json, &plan, render::build::plan)?;
        }
        ShardsCommand::Status(a) => {
            let status = ragops_engine::shard_status(&a.store.dir()?, &a.build_id)?;
            render::emit(a.json, &status, render::build::status)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn commit(a: CommitArgs) -> Result<ExitCode> {
    let opts = CommitOptions {
        store: a.store.dir()?,
        build: a.build_id,
        force: a.force,
        wait: a.wait.unwrap_or_default(),
    };
    let report = ragops_engine::commit(&opts, &Stderr::new(a.json))?;
    render::emit(a.json, &report, render::build::commit)?;
    Ok(ExitCode::SUCCESS)
}
