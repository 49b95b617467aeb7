//! Crash safety without failpoints: 50 SIGKILLs at random times over full builds never damage
//! the live snapshot, and the next build cleans up. `failpoints.rs` kills at named steps.

use std::process::Stdio;
use std::time::Duration;

use ragops_engine::ops::{SearchResult, SearchResults};

use crate::common::*;

/// The search whose results must survive every kill.
pub(crate) fn query(st: &str) -> [&str; 9] {
    [
        "search",
        "restore a backup",
        "--store",
        st,
        "--mode",
        "hybrid",
        "--json",
        "-k",
        "3",
    ]
}

/// The results of the query every kill must leave unchanged.
pub(crate) fn results(st: &str) -> Vec<SearchResult> {
    json::<SearchResults>(&query(st)).results
}

/// A small xorshift generator: the kill times of a run come from its printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        Duration::from_nanos(self.next() % (max.as_nanos() as u64).max(1))
    }
}

/// 50 SIGKILLs at uniformly random times over a full build of the fixtures. After each, the
/// snapshot `current` names (the old one, or the new one if the build got there first)
/// verifies and answers a search; the next build cleans up whatever the kill left.
#[test]
fn sigkill_at_random_times_never_damages_the_live_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let store = tmp.path().join("store");
    let st = s(&store);
    // How long a full build takes here: kills land anywhere in it, and a little after.
    let t = std::time::Instant::now();
    ok(&["build", "-p", s(&p), "-q", "--full", "--force"]);
    let span = t.elapsed().mul_f64(1.2);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("random kills: seed {seed}, over {span:?}");
    let mut rng = Rng(seed);
    let mut published = 0;
    for i in 0..50 {
        let before = current(st);
        let mut child = ragops(&["build", "-p", s(&p), "-q", "--full", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let at = rng.below(span);
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().expect("reaped");
        let now = current(st);
        if now != before {
            published += 1;
        }
        let v = show_verified(st, "current").verify.expect("verify report");
        assert!(
            v.ok,
            "kill {i} at {at:?} (seed {seed}): live snapshot damaged: {v:?}"
        );
        assert!(
            !results(st).is_empty(),
            "kill {i} at {at:?} (seed {seed}): no results"
        );
    }
    eprintln!("random kills: {published} of 50 builds published before their kill");
    // What the kills left behind is cleaned by the next build.
    ok(&["build", "-p", s(&p), "-q", "--full", "--force"]);
    let staging = std::fs::read_dir(store.join("staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staging, 0, "staging cleaned");
}
