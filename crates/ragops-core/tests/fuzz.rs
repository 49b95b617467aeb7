//! Property tests of the pipeline-file parser: arbitrary text and mutations of valid pipeline
//! files are parsed or refused with an error naming the file, never a panic.
//!
//! `RAGOPS_FUZZ_CASES` sets the cases per target (default 1024); `benches/fuzz.sh` runs it long.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use ragops_core::PipelineConfig;

fn config() -> Config {
    Config {
        cases: std::env::var("RAGOPS_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1024),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

const VALID: &str = include_str!("../../../pipelines/default.toml");

fn parse(text: &str) {
    match PipelineConfig::from_toml(text, Path::new("fuzz.toml")) {
        Ok(c) => {
            // A parsed pipeline hashes and serialises.
            let model = ragops_core::ModelIdentity {
                id: "m".into(),
                revision: "main".into(),
                weights_sha256: ragops_core::Sha256::of(b"weights"),
                dim: 384,
                max_tokens: 256,
                pooling: ragops_core::Pooling::Mean,
                normalize: true,
                precision: ragops_core::Precision::F32,
            };
            let _ = (c.content_hash(), c.chunking_hash(), c.reuse_key(&model));
            assert!(c.chunking.overlap < c.chunking.size);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_is_parsed_or_refused(text in "\\PC{0,400}") {
        parse(&text);
    }

    #[test]
    fn mutated_pipelines_are_parsed_or_refused(
        edits in prop::collection::vec((0.0f64..1.0, "[\\[\\]=\"#\\n a-z0-9._-]{0,4}", any::<bool>()), 1..12),
    ) {
        let mut text = VALID.to_string();
        for (at, s, delete) in edits {
            let mut i = (text.len() as f64 * at) as usize;
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            if delete {
                let mut j = (i + s.len()).min(text.len());
                while !text.is_char_boundary(j) {
                    j += 1;
                }
                text.replace_range(i..j, "");
            } else {
                text.insert_str(i, &s);
            }
        }
        parse(&text);
    }

    #[test]
    fn any_numbers_in_known_keys_are_validated(
        size in any::<i64>(), overlap in any::<i64>(), batch in any::<i64>(), pages in any::<i64>(),
    ) {
        parse(&format!(
            "[sources]\npaths=[\"d\"]\nmax_pages = {pages}\n[chunking]\nsize = {size}\noverlap = {overlap}\n[embedding]\nbatch_size = {batch}\n"
        ));
    }
}
