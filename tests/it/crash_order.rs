//! Crash ordering, traced rather than assumed: a build run under `strace` must make its data
//! durable before the manifest names it, the manifest durable before the snapshot is renamed
//! into `snapshots/`, and the snapshot durable before `refs/current` names it:
//!
//! data fsync → manifest rename → staging directory fsync → rename into `snapshots/` →
//! `snapshots/` fsync → ref rename → `refs/` fsync.
//!
//! SIGKILL tests cannot show this (the page cache survives a killed process); the order of
//! system calls is what survives a power loss. `scripts/test.sh` installs strace.

use std::process::Command;

use crate::common::*;

/// One traced system call: its name, the paths of its file descriptors (as `strace -y`
/// prints them, between angle brackets) and its string arguments (the paths it was given).
#[derive(Debug)]
struct Call {
    name: String,
    fds: Vec<String>,
    strings: Vec<String>,
}

impl Call {
    fn is_fsync_of(&self, path: &str) -> bool {
        (self.name == "fsync" || self.name == "fdatasync")
            && self.fds.first().is_some_and(|p| p == path)
    }

    /// A rename from `from` (any path when `None`) to `to`.
    fn is_rename(&self, from: Option<&str>, to: &str) -> bool {
        self.name.starts_with("rename")
            && self.strings.len() == 2
            && self.strings[1] == to
            && from.is_none_or(|f| self.strings[0] == f)
    }
}

fn parse(line: &str) -> Option<Call> {
    // "1234  fsync(5</tmp/x/chunks.parquet>) = 0" or "1234  rename("/a", "/b") = 0"
    let rest = line
        .split_once(' ')
        .map(|(_, r)| r.trim_start())
        .unwrap_or(line);
    let (name, args) = rest.split_once('(')?;
    if !line.trim_end().ends_with("= 0") {
        return None; // failed or unfinished calls do not count
    }
    let (mut fds, mut strings) = (Vec::new(), Vec::new());
    let chars: Vec<char> = args.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let close = match chars[i] {
            '"' => '"',
            '<' => '>',
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 1;
        let mut j = start;
        while j < chars.len() && chars[j] != close {
            j += 1;
        }
        let text: String = chars[start..j.min(chars.len())].iter().collect();
        if close == '"' {
            strings.push(text);
        } else {
            fds.push(text);
        }
        i = j + 1;
    }
    Some(Call {
        name: name.to_string(),
        fds,
        strings,
    })
}

#[test]
fn a_build_makes_data_durable_before_the_manifest_and_the_manifest_before_the_ref() {
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|o| o.status.success()),
        "strace is required (scripts/test.sh installs it)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    // strace prints descriptors' real paths: work under the canonical temporary directory.
    let dir = std::fs::canonicalize(tmp.path()).expect("canonical");
    let model = tiny_model(&dir);
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(&dir, "p.toml", &[docs], s(&model), 64, "");
    let trace = dir.join("trace.txt");
    let out = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
            "--",
        ])
        .arg(bin())
        .args(["build", "-p", s(&p), "-q", "--json"])
        .output()
        .expect("strace runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: ragops_engine::BuildReport = serde_json::from_slice(&out.stdout).expect("report");
    let id = report.snapshot.as_str();
    let store = dir.join("store");
    let store = store.to_string_lossy();
    let staging = format!("{store}/staging/{id}");
    let published = format!("{store}/snapshots/{id}");

    let calls: Vec<Call> = std::fs::read_to_string(&trace)
        .expect("trace")
        .lines()
        .filter_map(parse)
        .collect();
    let first = |from: usize, what: &dyn Fn(&Call) -> bool| -> usize {
        calls[from..]
            .iter()
            .position(what)
            .map(|i| i + from)
            .unwrap_or_else(|| panic!("not traced after call {from}: {calls:#?}"))
    };

    // Every data file of the snapshot is fsynced, all before the manifest is renamed in.
    let manifest_rename = first(0, &|c| {
        c.is_rename(None, &format!("{staging}/manifest.json"))
    });
    let manifest: ragops_store::Manifest = serde_json::from_slice(
        &std::fs::read(format!("{published}/manifest.json")).expect("manifest"),
    )
    .expect("json");
    for file in manifest.files.keys() {
        let path = format!("{staging}/{file}");
        let synced = calls[..manifest_rename]
            .iter()
            .any(|c| c.is_fsync_of(&path));
        assert!(synced, "{file} was not fsynced before the manifest rename");
    }
    // The staging directory is fsynced after the manifest rename, before the snapshot rename.
    let dir_sync = first(manifest_rename, &|c| c.is_fsync_of(&staging));
    let snapshot_rename = first(dir_sync, &|c| c.is_rename(Some(&staging), &published));
    let snapshots_sync = first(snapshot_rename, &|c| {
        c.is_fsync_of(&format!("{store}/snapshots"))
    });
    let ref_rename = first(snapshots_sync, &|c| {
        c.is_rename(None, &format!("{store}/refs/current"))
    });
    let refs_sync = first(ref_rename, &|c| c.is_fsync_of(&format!("{store}/refs")));
    assert!(
        manifest_rename < dir_sync
            && dir_sync < snapshot_rename
            && snapshot_rename < snapshots_sync
            && snapshots_sync < ref_rename
            && ref_rename < refs_sync
    );
}

#[test]
fn trace_lines_parse() {
    let c = parse("123  fsync(5</tmp/a b/x.parquet>) = 0").expect("fsync");
    assert!(c.is_fsync_of("/tmp/a b/x.parquet"));
    let c = parse("123  renameat2(AT_FDCWD</w>, \"/s/a\", AT_FDCWD</w>, \"/s/b\", 0) = 0")
        .expect("rename");
    assert!(c.is_rename(Some("/s/a"), "/s/b"));
    assert_eq!(c.fds, vec!["/w", "/w"]);
    assert!(parse("123  rename(\"/a\", \"/b\") = -1 ENOENT (No such file)").is_none());
}
