//! Python peers of the benches (Presidio, lingua...): a virtual environment under the
//! repository's `.cache/`, made once from PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python to run a peer with: `RAGOPS_BENCH_PYTHON` when set, else
/// `<repo>/.cache/<name>/bin/python`, created with `packages` installed if it is missing.
/// `None` (after saying why on stderr) when it cannot be made, so the bench prints its own
/// column and marks the peer's "not run".
// Benches report their set-up on stderr: this crate serves only tests and benches.
#[allow(clippy::print_stderr)]
pub fn python(repo: &Path, name: &str, packages: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RAGOPS_BENCH_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = repo.join(".cache").join(name);
    let py = venv.join("bin/python");
    if !py.is_file() {
        eprintln!(
            "setting up {} ({} from PyPI)",
            venv.display(),
            packages.join(", ")
        );
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        let installed = made
            && Command::new(&py)
                .args(["-m", "pip", "install", "--quiet"])
                .args(packages)
                .status()
                .is_ok_and(|s| s.success());
        if !installed {
            eprintln!(
                "could not install {}: the peer is left out",
                packages.join(", ")
            );
            return None;
        }
    }
    Some(py)
}
