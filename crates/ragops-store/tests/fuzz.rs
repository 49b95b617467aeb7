//! Property tests of the store's parsers: manifests, refs and embedding-cache segments. Damaged
//! or hostile bytes are refused or read as misses, never a panic and never a large allocation.
//!
//! `RAGOPS_FUZZ_CASES` sets the cases per target (default 256); `benches/fuzz.sh` runs it long.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use ragops_core::{is_snapshot_id, ModelIdentity, Pooling, Sha256, SnapshotId};
use ragops_store::{cache_key, gc_cache, parse_ref, EmbeddingCache, Manifest, Store};

fn config() -> Config {
    Config {
        cases: std::env::var("RAGOPS_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

const MANIFEST: &str = r#"{"format_version":1,"id":"20260101T000000000Z-00000000","parent":null,
"created_at":"2026-01-01T00:00:00Z","created_unix":0,"tool_version":"t","pipeline":"p.toml",
"config":{},"config_hash":"c","chunking_hash":"h","model":{"id":"m","revision":"r",
"weights_sha256":"w","dim":3,"max_tokens":8,"pooling":"mean","normalize":true},"sources":[],
"source_files":[],"reuse_key":"","skipped":[],"counts":{"documents":0,"chunks":0,"tokens":0,
"skipped":0,"truncated":0},"timings":{},"files":{}}"#;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn manifests_parse_or_are_refused(
        edits in prop::collection::vec((0.0f64..1.0, any::<u8>(), any::<bool>()), 0..12),
    ) {
        let mut bytes = MANIFEST.as_bytes().to_vec();
        for (at, b, insert) in edits {
            let i = (bytes.len() as f64 * at) as usize;
            if insert || i >= bytes.len() {
                bytes.insert(i.min(bytes.len()), b);
            } else {
                bytes[i] = b;
            }
        }
        if let Ok(m) = Manifest::parse(&bytes, Path::new("manifest.json")) {
            // An accepted manifest that claims another id is refused by the identity check.
            let dir = SnapshotId::parse("20260101T000000000Z-00000000").expect("id");
            if m.id != dir {
                prop_assert!(m.check_identity(&dir).is_err());
            }
        }
    }

    #[test]
    fn refs_hold_snapshot_ids_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(Some(id)) = parse_ref(&bytes, "current") {
            prop_assert!(is_snapshot_id(id.as_str()));
            prop_assert!(!id.as_str().contains('/') && !id.as_str().contains(".."));
        }
    }

    #[test]
    fn id_shaped_refs_round_trip(digits in "[0-9]{8}", time in "[0-9]{9}", hex in "[0-9a-f]{8}") {
        let id = format!("{digits}T{time}Z-{hex}");
        let parsed = parse_ref(format!("{id}\n").as_bytes(), "x").ok().flatten();
        prop_assert_eq!(parsed.map(String::from), Some(id));
    }

    #[test]
    fn damaged_cache_segments_are_misses(
        header_dim in any::<u32>(),
        body in prop::collection::vec(any::<u8>(), 0..4096),
        magic_ok in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::create(tmp.path()).expect("store");
        let lock = store.lock("fuzz").expect("lock");
        let model = ModelIdentity {
            id: "m".into(),
            revision: "r".into(),
            weights_sha256: Sha256::of(b"w"),
            dim: 3,
            max_tokens: 8,
            pooling: Pooling::Mean,
            normalize: true,
            precision: ragops_core::Precision::F32,
        };
        let dir = EmbeddingCache::open(&store, &lock, &model).expect("open").dir().to_path_buf();
        let mut seg = if magic_ok { b"RGEMB001".to_vec() } else { b"RGEMBxxx".to_vec() };
        seg.extend_from_slice(&header_dim.to_le_bytes());
        seg.extend_from_slice(&[0; 4]);
        seg.extend_from_slice(&body);
        std::fs::write(dir.join("f.seg"), &seg).expect("write");
        let cache = EmbeddingCache::open(&store, &lock, &model).expect("open");
        // A key read from the damaged bytes, and one that is not there: both are misses or
        // verified entries, never garbage.
        let mut k = [0u8; 32];
        k.copy_from_slice(&seg[16.min(seg.len())..].iter().chain([0u8; 32].iter()).copied().take(32).collect::<Vec<_>>());
        for key in [k, cache_key("absent")] {
            if let Some(e) = cache.get(&key) {
                prop_assert_eq!(e.vector.len(), 3);
            }
        }
        gc_cache(&store, None, &BTreeMap::new()).expect("dry gc");
        gc_cache(&store, Some(&lock), &BTreeMap::new()).expect("gc");
    }
}
