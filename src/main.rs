//! `ragops`: parse the command line, run one command, map the outcome to an exit code.
//! What a command does lives in `ragops-engine`; how its reports and listings look, in `render`.

mod alloc;
mod cli;
mod commands;
mod diagnostics;
mod render;
mod reporter;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Behave like other Unix tools when stdout is a closed pipe (`ragops search ... | head`):
    // end quietly instead of panicking in `println!`. A build ended this way is like a kill,
    // which never touches the live snapshot.
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::Cli::parse();
    // One query embedded then the snapshot opened: glibc's defaults hand the model's memory
    // back before the snapshot's pages come in, so the two peaks do not add up.
    if !matches!(cli.command, cli::Command::Search(_)) {
        alloc::tune();
    }
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            diagnostics::print(&e);
            ExitCode::FAILURE
        }
    }
}
