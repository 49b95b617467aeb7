//! Fixtures for ragops' tests and benches (`publish = false`; no production crate depends on
//! it): the tiny random BERT, PDF writers, the hostile corpus of the hardening tests, and the
//! `TestContext` the end-to-end tests run the binary in.

pub mod context;
pub mod hostile;
pub mod pdf;
pub mod rng;
pub mod s3;
pub mod tiny_model;
pub mod venv;
