//! One module per command: take the parsed flags, call the engine, render the result.

mod build;
mod check;
mod embed;
mod eval;
mod experiment;
mod extract;
mod model;
mod questions;
mod search;
mod serve;
mod shards;
mod snapshots;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::Command;

/// Runs a command; its exit code, or the error to report.
pub(crate) fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Build(a) => build::run(a),
        Command::Commit(a) => shards::commit(a),
        Command::Shards { command } => shards::run(command),
        Command::Search(a) => search::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Check(a) => Ok(check::run(a)),
        Command::Eval(a) => eval::run(a),
        Command::Experiment(a) => experiment::run(a),
        Command::Questions { command } => questions::run(command),
        Command::Extract(a) => extract::run(a),
        Command::Embed(a) => embed::run(a),
        Command::Snapshots { command } => snapshots::run(command),
        Command::Model { command } => model::run(command),
    }
}
