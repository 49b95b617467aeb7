//! Writes the hostile corpus into a directory: `cargo run -p ragops-test-support --example
//! hostile_corpus -- DIR` (used by benches/hostile.sh).

// A command-line tool: printing is its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "hostile".into());
    for f in ragops_test_support::hostile::write_corpus(&dir)? {
        println!("{}\t{}", f.name, f.what);
    }
    println!("normal.md\tan ordinary page");
    Ok(())
}
