//! Failpoints: named places in the publication protocol where a test can stop a writer.
//!
//! Compiled in only with the `failpoints` cargo feature (the test suite's builds); without it
//! [`failpoint`] is an empty inline function. With it, when `RAGOPS_FAILPOINT` names the point,
//! the process prints `RAGOPS_FAILPOINT <name>` on stderr and waits there: until killed, or,
//! when `RAGOPS_FAILPOINT_RESUME` names a file, until that file exists (then it goes on). Tests
//! SIGKILL builds at exact points this way, or make something happen in the middle of one.
//!
//! Points: `after-reuse`, `after-load`, `after-embed`, `before-cache-commit`,
//! `before-compaction`, `during-copy`, `after-parquet`, `after-fragment`, `before-manifest`,
//! `before-rename`, `before-publish` (build), `gc-after-trash`, `gc-after-fragment-trash` and
//! `gc-after-rewrite` (gc), `serve-search` (every search request of `ragops serve`, on the
//! blocking pool).

/// Stops here when the test configuration names this point (see the module docs).
#[cfg(feature = "failpoints")]
#[allow(clippy::print_stderr)] // the marker tests wait for; test builds only
pub fn failpoint(name: &str) {
    if std::env::var("RAGOPS_FAILPOINT").as_deref() != Ok(name) {
        return;
    }
    eprintln!("RAGOPS_FAILPOINT {name}");
    let resume = std::env::var_os("RAGOPS_FAILPOINT_RESUME");
    loop {
        if let Some(f) = &resume {
            if std::path::Path::new(f).exists() {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Stops here when the test configuration names this point (see the module docs).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn failpoint(_name: &str) {}
