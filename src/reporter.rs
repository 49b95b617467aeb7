//! The CLI's [`Reporter`]: engine events as `[ragops] ...` lines on stderr, progress as a bar on a
//! terminal or as a log line every 5 seconds otherwise; nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ragops_engine::{Event, Progress, Reporter};

use crate::render::short;

/// Reports to stderr.
pub(crate) struct Stderr {
    quiet: bool,
    tty: bool,
}

impl Stderr {
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            tty: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A status line (always a plain line, never a bar).
    pub(crate) fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("[ragops] {msg}");
        }
    }
}

/// The line an event prints.
pub(crate) fn describe(event: &Event<'_>) -> String {
    match *event {
        Event::WaitingForLock => "waiting for the store lock".into(),
        Event::CleanedUp { leftovers } => format!(
            "removed {leftovers} unfinished snapshot(s) left by an interrupted build or gc"
        ),
        Event::ModelLoaded(m) => format!(
            "model {} ({}), dim {}, max {} tokens{}",
            m.id,
            short(&m.revision),
            m.dim,
            m.max_tokens,
            if m.precision.is_default() {
                String::new()
            } else {
                format!(", {} linear layers", m.precision)
            }
        ),
        Event::Skipped(s) => format!("skipped {}: {}", s.path, s.reason),
        Event::UpToDate { snapshot } => format!(
            "up to date: sources, config and model match snapshot {snapshot} (use --force to rebuild)"
        ),
        Event::ParentDamaged { parent } => format!(
            "parent snapshot {parent}: its chunk table fails its checksum; rebuilding everything"
        ),
        Event::Incremental {
            parent,
            reused,
            processing,
            files,
        } => format!(
            "incremental: reusing {reused} document(s) of {parent}, processing {processing} file(s) of {files}"
        ),
        Event::ExperimentStarted {
            name,
            variants,
            questions,
            store,
        } => format!(
            "experiment {name}: {variants} variant(s), {questions} question(s), store {}",
            store.display()
        ),
        Event::VariantReused { index, total, name } => {
            format!("[{index}/{total}] {name}: done before, skipped")
        }
        Event::VariantScored {
            index,
            total,
            name,
            chunks,
            build_seconds,
            embedded,
            cached,
            metric,
            k,
            score,
        } => format!(
            "[{index}/{total}] {name}: {chunks} chunks, built in {build_seconds:.1}s ({embedded} embedded, {cached} cached); {metric}@{k} = {score:.4}"
        ),
        Event::Promoted { snapshot, variant } => format!("current -> {snapshot} ({variant})"),
        Event::Profile { op, seconds, share } => {
            format!("profile {op:<16} {seconds:>7.3}s {:>5.1}%", 100.0 * share)
        }
    }
}

impl Reporter for Stderr {
    fn event(&self, event: Event<'_>) {
        self.info(&describe(&event));
    }

    fn progress(
        &self,
        stage: &'static str,
        total: u64,
        unit: &'static str,
    ) -> Box<dyn Progress + '_> {
        let bar = self.tty.then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = format!(
                "{{prefix:>8}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(stage);
            b
        });
        Box::new(Stage {
            name: stage,
            unit,
            total,
            start: Instant::now(),
            last_log: Mutex::new(Instant::now()),
            bar,
            log: !self.quiet && !self.tty,
        })
    }
}

/// One stage's progress: a bar, or a log line every 5 seconds.
struct Stage {
    name: &'static str,
    unit: &'static str,
    total: u64,
    start: Instant,
    last_log: Mutex<Instant>,
    bar: Option<ProgressBar>,
    log: bool,
}

impl Progress for Stage {
    fn set(&self, done: u64) {
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

    fn finish(&self, done: u64) {
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
    }
}
