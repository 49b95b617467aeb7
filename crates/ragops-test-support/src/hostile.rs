//! The hostile corpus: one small file per way a build used to die, plus one normal file.

use std::path::Path;

/// A file of the hostile corpus and what a build must do with it.
#[derive(Debug, Clone)]
pub struct HostileFile {
    pub name: &'static str,
    pub what: &'static str,
}

/// Text of the normal file; its last word is unique to it.
pub const NORMAL_TEXT: &str =
    "# Rotation\n\nKeys are rotated every ninety days by the zanzibarite job.\n";
/// A word only the normal file holds.
pub const NORMAL_WORD: &str = "zanzibarite";

/// Writes the hostile corpus into `dir` (created if missing):
///
/// * `deep.html`: `<div>` nested 200,000 deep (1 MB);
/// * `bomb.pdf`: one page whose Flate content stream inflates to 240 MB of path operators;
/// * `many-pages.pdf`: 60,000 empty pages;
/// * `huge.txt`: a 6 GB sparse file (no disk used);
/// * `long-heading.md`: its first heading is 4 MB long;
/// * `normal.md`: an ordinary page.
pub fn write_corpus(dir: &Path) -> std::io::Result<Vec<HostileFile>> {
    std::fs::create_dir_all(dir)?;
    let depth = 200_000;
    std::fs::write(
        dir.join("deep.html"),
        format!("{}x{}", "<div>".repeat(depth), "</div>".repeat(depth)),
    )?;
    std::fs::write(
        dir.join("bomb.pdf"),
        crate::pdf::content_bomb_pdf(b"0 0 m\n", 40_000_000)?,
    )?;
    std::fs::write(
        dir.join("many-pages.pdf"),
        crate::pdf::empty_pages_pdf(60_000),
    )?;
    let huge = std::fs::File::create(dir.join("huge.txt"))?;
    huge.set_len(6 << 30)?;
    std::fs::write(
        dir.join("long-heading.md"),
        format!(
            "# {}\n\n{}",
            "w ".repeat(2_000_000),
            "p.\n\n".repeat(50_000)
        ),
    )?;
    std::fs::write(dir.join("normal.md"), NORMAL_TEXT)?;
    Ok(vec![
        HostileFile {
            name: "deep.html",
            what: "HTML nested 200,000 deep",
        },
        HostileFile {
            name: "bomb.pdf",
            what: "Flate content stream inflating to 240 MB",
        },
        HostileFile {
            name: "many-pages.pdf",
            what: "60,000 empty pages",
        },
        HostileFile {
            name: "huge.txt",
            what: "6 GB sparse text file",
        },
        HostileFile {
            name: "long-heading.md",
            what: "first heading 4 MB long",
        },
    ])
}
