//! `ragops check`.

use std::time::Duration;

use ragops_engine::ops::CheckReport;

use super::line;

pub(crate) fn check(report: &CheckReport) -> String {
    let mut s = String::new();
    let age = humantime::format_duration(Duration::from_secs(report.age_seconds));
    line(
        &mut s,
        format_args!(
            "{}: snapshot {} (built {}, {age} ago)",
            if report.fresh { "fresh" } else { "STALE" },
            report.snapshot,
            report.created_at
        ),
    );
    for r in &report.reasons {
        line(&mut s, format_args!("  - {r}"));
    }
    for (what, list) in [
        ("added", &report.sources.added),
        ("changed", &report.sources.changed),
        ("deleted", &report.sources.deleted),
    ] {
        for p in list.iter().take(20) {
            line(&mut s, format_args!("    {what:<8} {p}"));
        }
        if list.len() > 20 {
            line(
                &mut s,
                format_args!("    ... and {} more {what}", list.len() - 20),
            );
        }
    }
    for c in &report.config_changes {
        line(
            &mut s,
            format_args!("    config   {}: {} -> {}", c.key, c.old, c.new),
        );
    }
    s
}
