//! Progress for long stages: a bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, log lines otherwise.
    Auto,
    /// Log lines on stderr.
    Log,
    /// Nothing.
    Quiet,
}

pub struct Progress {
    tty: bool,
    mode: ProgressMode,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        Self {
            tty: mode == ProgressMode::Auto && std::io::stderr().is_terminal(),
            mode,
        }
    }

    /// A status line (always a plain line, never a bar).
    pub fn info(&self, msg: &str) {
        if self.mode != ProgressMode::Quiet {
            eprintln!("[ragops] {msg}");
        }
    }

    pub fn stage(&self, name: &str, total: u64, unit: &str) -> Stage {
        let bar = if self.tty {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = format!(
                "{{prefix:>8}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(name.to_string());
            Some(b)
        } else {
            None
        };
        Stage {
            name: name.to_string(),
            unit: unit.to_string(),
            total,
            start: Instant::now(),
            last_log: Mutex::new(Instant::now()),
            bar,
            log: self.mode != ProgressMode::Quiet && !self.tty,
        }
    }
}

pub struct Stage {
    name: String,
    unit: String,
    total: u64,
    start: Instant,
    last_log: Mutex<Instant>,
    bar: Option<ProgressBar>,
    log: bool,
}

impl Stage {
    pub fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            return;
        }
        if !self.log {
            return;
        }
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.elapsed() >= Duration::from_secs(5) && done < self.total {
            *last = Instant::now();
            let secs = self.start.elapsed().as_secs_f64();
            let rate = done as f64 / secs.max(1e-9);
            let eta = (self.total.saturating_sub(done)) as f64 / rate.max(1e-9);
            eprintln!(
                "[ragops] {}: {done}/{} {} ({rate:.1}/s, eta {eta:.0}s)",
                self.name, self.total, self.unit
            );
        }
    }

    /// Ends the stage; returns its duration in seconds.
    pub fn finish(&self, done: u64) -> f64 {
        let secs = self.start.elapsed().as_secs_f64();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if self.log || self.bar.is_some() {
            eprintln!(
                "[ragops] {}: {done} {} in {secs:.1}s ({:.1}/s)",
                self.name,
                self.unit,
                done as f64 / secs.max(1e-9)
            );
        }
        secs
    }
}
