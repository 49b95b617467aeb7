//! `ragops experiment`: run the grid, then write report.json, report.html and report.md.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ragops_engine::ExperimentOptions;
use ragops_eval::ExperimentReport;

use crate::cli::ExperimentArgs;
use crate::render;
use crate::reporter::Stderr;

pub(super) fn run(a: ExperimentArgs) -> Result<ExitCode> {
    let reporter = Stderr::new(a.quiet);
    let run = ragops_engine::experiment(
        &ExperimentOptions {
            file: a.file,
            report_dir: a.report,
            promote: a.promote,
            rerun: a.rerun,
        },
        &reporter,
    )?;
    write_reports(&run.report, &run.report_dir)?;
    reporter.info(&format!(
        "report: {}",
        run.report_dir.join("report.html").display()
    ));
    render::emit(a.json, &run.report, render::experiment::table)?;
    Ok(ExitCode::SUCCESS)
}

/// The report as JSON, a self-contained HTML page and Markdown.
fn write_reports(report: &ExperimentReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = [
        ("report.json", serde_json::to_string_pretty(report)?),
        ("report.html", render::experiment::html(report)),
        ("report.md", render::experiment::markdown(report)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
