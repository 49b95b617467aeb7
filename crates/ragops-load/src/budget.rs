//! The work one file may cost.

use std::time::{Duration, Instant};

use ragops_core::{SkipReason, SourcesConfig};

/// The work one file may cost: bytes its compressed streams inflate to, pages, and time.
#[derive(Debug, Clone)]
pub struct Budget {
    pub max_inflated_bytes: u64,
    pub max_pages: u32,
    timeout: Duration,
    deadline: Instant,
}

impl Budget {
    /// A budget whose clock starts now.
    pub fn new(max_inflated_bytes: u64, max_pages: u32, timeout: Duration) -> Self {
        Self {
            max_inflated_bytes,
            max_pages,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    /// The budget of one file under `[sources]`, starting now.
    pub fn for_sources(s: &SourcesConfig) -> Self {
        Self::new(
            s.max_inflated_bytes,
            s.max_pages,
            Duration::from_secs(s.max_load_seconds),
        )
    }

    /// An error once the time is up.
    pub fn check_time(&self) -> Result<(), SkipReason> {
        if Instant::now() > self.deadline {
            Err(SkipReason::Timeout {
                seconds: self.timeout.as_secs(),
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn inflated(&self) -> SkipReason {
        SkipReason::Inflated {
            limit: self.max_inflated_bytes,
        }
    }
}
