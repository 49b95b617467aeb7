//! Fixtures for ragops' tests and benches (`publish = false`; no production crate depends on
//! it): PDF writers and the hostile corpus of the hardening tests.

pub mod hostile;
pub mod pdf;
