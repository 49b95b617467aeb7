//! `ragops model pull | import | show | list`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ModelCommand;
use crate::render;

pub(super) fn run(command: ModelCommand) -> Result<ExitCode> {
    let cache = ragops_hub::cache_root();
    match command {
        ModelCommand::Pull(a) => {
            let m = ragops_hub::pull(&a.name, &a.revision, &cache)?;
            print!("{}", render::misc::model_pulled(&m));
        }
        ModelCommand::Import(a) => {
            anyhow::ensure!(a.dir.is_dir(), "{} is not a directory", a.dir.display());
            let m = ragops_hub::import(&a.dir, &a.name, &cache)
                .with_context(|| format!("importing {} as {}", a.dir.display(), a.name))?;
            print!("{}", render::misc::model_imported(&m));
        }
        ModelCommand::Show(a) => {
            let source = ragops_hub::resolve(&a.name, &a.revision, &cache)?;
            let e = ragops_embed::Embedder::load(&source, None, ragops_core::Precision::F32)?;
            print!("{}", render::misc::model_show(&source, e.info()));
        }
        ModelCommand::List(a) => {
            let models = ragops_hub::list(&cache)?;
            render::emit(a.json, &models, |m| render::misc::model_list(m, &cache))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
