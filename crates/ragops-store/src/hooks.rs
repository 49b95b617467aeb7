//! Test hook: stop a writer at a named point of the publication protocol.
//!
//! When `RAGOPS_TEST_PAUSE_AT` names the point, the process prints `RAGOPS_PAUSED_AT <point>`
//! on stderr and waits there: until killed, or, when `RAGOPS_TEST_RESUME_FILE` is set, until
//! that file exists (then it goes on). Lets tests SIGKILL a build at exact points, or make
//! something happen in the middle of one.

use std::time::Duration;

pub fn pause_point(name: &str) {
    if std::env::var("RAGOPS_TEST_PAUSE_AT").as_deref() != Ok(name) {
        return;
    }
    eprintln!("RAGOPS_PAUSED_AT {name}");
    let resume = std::env::var_os("RAGOPS_TEST_RESUME_FILE");
    loop {
        if let Some(f) = &resume {
            if std::path::Path::new(f).exists() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
