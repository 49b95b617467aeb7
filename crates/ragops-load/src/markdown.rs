//! Heading structure of Markdown text (ATX headings outside fenced code blocks).

use ragops_core::Section;

/// ATX headings (`# Title` .. `###### Title`) with their byte offsets, skipping fenced code.
pub fn markdown_sections(text: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        if indent > 3 {
            continue;
        }
        let body = trimmed.trim_end();
        if let Some(marker) = fence_marker(body) {
            match fence {
                None => fence = Some(marker),
                Some((c, n)) if c == marker.0 && marker.1 >= n && body.len() == marker.1 => {
                    fence = None
                }
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        let level = body.bytes().take_while(|&b| b == b'#').count();
        if !(1..=6).contains(&level) {
            continue;
        }
        let rest = &body[level..];
        if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
            continue;
        }
        let title = rest.trim().trim_end_matches('#').trim();
        if title.is_empty() {
            continue;
        }
        sections.push(Section {
            byte_start: start + indent,
            level: level as u8,
            title: crate::cap_title(title),
        });
    }
    sections
}

/// A code fence line: three or more backticks or tildes. Returns (char, run length).
fn fence_marker(line: &str) -> Option<(u8, usize)> {
    let first = *line.as_bytes().first()?;
    if first != b'`' && first != b'~' {
        return None;
    }
    let n = line.bytes().take_while(|&b| b == first).count();
    (n >= 3).then_some((first, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_levels_and_fences() {
        let t = "# A\n\n#NoSpace\n  ## B ##\n~~~\n## in code\n~~~\n####### seven\n### C\n";
        let s = markdown_sections(t);
        let got: Vec<_> = s.iter().map(|s| (s.level, s.title.as_str())).collect();
        assert_eq!(got, vec![(1, "A"), (2, "B"), (3, "C")]);
        assert_eq!(&t[s[1].byte_start..s[1].byte_start + 2], "##");
    }

    #[test]
    fn multibyte_offsets() {
        let t = "é\n# Zoë\n";
        let s = markdown_sections(t);
        assert_eq!(s[0].byte_start, 3);
        assert_eq!(s[0].title, "Zoë");
    }
}
