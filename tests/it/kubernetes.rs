//! The Kubernetes example (`examples/kubernetes/`) is valid, and the validator refuses a broken
//! manifest. `scripts/validate-k8s.sh` checks every manifest offline and strictly (unknown
//! fields are errors) against the Kubernetes schemas bundled in the PyPI package
//! `kubernetes-validate`, which it installs into `.cache/k8s-venv` on first use.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/validate-k8s.sh` on `paths` (none: `examples/kubernetes`).
fn validate(paths: &[&Path]) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/validate-k8s.sh"))
        .args(paths)
        .current_dir(repo())
        .output()
        .expect("bash runs scripts/validate-k8s.sh")
}

fn shown(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn kubernetes_manifests_validate() {
    let out = validate(&[]);
    assert!(
        out.status.success(),
        "scripts/validate-k8s.sh failed: {}",
        shown(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for resource in [
        "job/ragops-shards",
        "job/ragops-commit",
        "role/ragops-job-reader",
    ] {
        assert!(
            stdout.contains(resource),
            "{resource} was not validated: {}",
            shown(&out)
        );
    }
}

#[test]
fn broken_manifest_is_refused() {
    let good = fs::read_to_string(repo().join("examples/kubernetes/shards-job.yaml"))
        .expect("examples/kubernetes/shards-job.yaml is readable");
    let field = "\n  completionMode: Indexed";
    assert!(
        good.contains(field),
        "shards-job.yaml no longer sets `completionMode: Indexed`"
    );

    // The copy as it is passes where it is put, so a failure below is the misspelling's.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shards-job.yaml");
    fs::write(&path, &good).expect("write the copy");
    let out = validate(&[dir.path()]);
    assert!(
        out.status.success(),
        "the unchanged copy failed: {}",
        shown(&out)
    );

    fs::write(&path, good.replacen(field, "\n  completionMod: Indexed", 1))
        .expect("write the broken copy");
    let out = validate(&[dir.path()]);
    assert!(
        !out.status.success(),
        "a misspelt field was accepted: {}",
        shown(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("'completionMod' was unexpected"),
        "the error does not name the misspelt field: {}",
        shown(&out)
    );
}
