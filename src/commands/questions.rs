//! `ragops questions convert`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::QuestionsCommand;
use crate::render;

pub(super) fn run(command: QuestionsCommand) -> Result<ExitCode> {
    let QuestionsCommand::Convert(a) = command;
    let c = ragops_eval::convert_chunking_eval(&a.dir)?;
    std::fs::write(&a.output, &c.jsonl)
        .with_context(|| format!("writing {}", a.output.display()))?;
    print!("{}", render::misc::converted(&c, &a.output));
    for m in &c.mismatched {
        eprintln!("warning: excerpt text differs from the corpus at {m}");
    }
    Ok(ExitCode::SUCCESS)
}
