//! `ragops snapshots list | show | tag | untag | diff | gc | rollback`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{SnapshotsCommand, SnapshotsGcArgs, SnapshotsShowArgs};
use crate::render;
use crate::render::snapshots::Shown;

pub(super) fn run(command: SnapshotsCommand) -> Result<ExitCode> {
    match command {
        SnapshotsCommand::List(a) => {
            let dir = a.store.dir()?;
            let list = ragops_engine::ops::list(&dir)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&render::snapshots::list_rows(&list))?
                );
            } else {
                print!("{}", render::snapshots::list(&list, &dir));
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Show(a) => show(a),
        SnapshotsCommand::Tag(a) => {
            let id = ragops_engine::ops::tag(&a.store.dir()?, &a.snapshot, &a.name)?;
            println!("tagged {id} as {}", a.name);
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Untag(a) => {
            let id = ragops_engine::ops::untag(&a.store.dir()?, &a.name)?;
            println!("removed tag {} (was {id})", a.name);
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Diff(a) => {
            let d = ragops_engine::ops::diff(&a.store.dir()?, &a.a, &a.b)?;
            render::emit(a.json, &d, render::snapshots::diff)?;
            Ok(ExitCode::SUCCESS)
        }
        SnapshotsCommand::Gc(a) => gc(a),
        SnapshotsCommand::Rollback(a) => {
            let (prev, to) = ragops_engine::ops::rollback(&a.store.dir()?, a.snapshot.as_deref())?;
            println!(
                "current: {} -> {to}",
                prev.as_ref().map_or("-", |p| p.as_str())
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `show`: the manifest summary; with `--verify`, exit 1 when anything fails (including a
/// manifest that cannot be read, which the verify report then explains).
fn show(a: SnapshotsShowArgs) -> Result<ExitCode> {
    let shown = ragops_engine::ops::show(&a.store.dir()?, &a.snapshot, a.verify)?;
    render::emit(a.json, &Shown::of(&shown), render::snapshots::shown)?;
    Ok(if shown.failed() || shown.manifest.is_none() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `gc`: the policy of `-p` (or the default pipeline here), with `--keep` on top.
fn gc(a: SnapshotsGcArgs) -> Result<ExitCode> {
    let policy = ragops_engine::ops::retention(a.store.pipeline.as_deref(), a.keep)?;
    let r = ragops_engine::ops::gc(&a.store.dir()?, &policy, a.dry_run)?;
    render::emit(a.json, &r, render::snapshots::gc)?;
    Ok(ExitCode::SUCCESS)
}
