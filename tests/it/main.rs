//! End-to-end tests: they drive the built `ragops` binary (or `RAGOPS_TEST_BIN`) and read its
//! `--json` output into the library's own types. One test binary, one module per area.

// Helpers are shared between modules of this one binary.
#![allow(unreachable_pub)]

mod common;

mod crash_order;
mod enrich;
mod eval;
#[cfg(feature = "failpoints")]
mod failpoints;
mod filters;
mod fragments;
mod hardening;
mod human;
mod incremental;
mod kill;
mod kubernetes;
mod object_store;
mod pdf;
mod query_path;
mod ray;
mod real_model;
mod serve;
mod sharded;
mod store;
