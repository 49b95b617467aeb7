//! Regenerates the fixture PDFs: `cargo run -p ragops-test-support --example make_fixture_pdfs`.
//! Writes three multi-page manuals into fixtures/corpus/manuals/ and fixtures/bad/truncated.pdf.

// A command-line tool: printing is its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use ragops_test_support::pdf::text_pdf;

fn page(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

fn hardware() -> Vec<Vec<String>> {
    vec![
        page(&[
            "Lumen Search Hardware Maintenance Manual",
            "Chapter 1. Indexing node hardware",
            "Every indexing node (lumen-idx-01 to lumen-idx-12) is a 2U server with",
            "two 32-core processors, 512 GB of RAM and eight 3.84 TB NVMe drives.",
            "The NVMe drives are striped as RAID 10; a single failed drive is replaced",
            "without downtime, but two failures in the same mirror require a drain.",
        ]),
        page(&[
            "Chapter 2. Replacing an NVMe drive",
            "1. Drain the node with: lumenctl node drain lumen-idx-07 --wait",
            "2. Locate the drive by its amber LED; bay numbers start at zero on the left.",
            "3. The replacement drive must be firmware version 2.1.4 or newer.",
            "4. Rebuild of the mirror takes about 95 minutes per terabyte in use.",
            "5. Undrain the node only after the controller reports OPTIMAL.",
        ]),
        page(&[
            "Chapter 3. Power and cooling",
            "Racks R14 and R15 in the Frankfurt hall are limited to 11 kW each.",
            "Never place more than nine indexing nodes in one rack: at full merge",
            "load a node draws 1.1 kW. Inlet temperature alarms fire at 27 degrees C.",
            "Fan module replacements are hot-swappable and need no drain.",
        ]),
    ]
}

fn query_language() -> Vec<Vec<String>> {
    vec![
        page(&[
            "Lumen Search Query Language Reference",
            "Section 1. Basic syntax",
            "Terms are combined with AND by default. Use OR between alternatives and",
            "a leading minus to exclude a term, for example: invoice -draft.",
            "Phrases are written in double quotes and match words in order.",
        ]),
        page(&[
            "Section 2. Field filters",
            "A filter has the form field:value, for example lang:de or status:open.",
            "Range filters use brackets: price:[10 TO 250] includes both bounds.",
            "Date filters accept relative forms such as updated:>now-7d.",
            "At most 64 filters may appear in one query; more are rejected with QL-413.",
        ]),
        page(&[
            "Section 3. Proximity and boosting",
            "The tilde operator sets phrase slop: \"rollback index\"~3 allows three",
            "intervening words. A caret boosts a clause: title:outage^2.5.",
            "Boost values above 10 are clamped to 10 and logged as warning QL-207.",
        ]),
        page(&[
            "Section 4. Wildcards",
            "Trailing wildcards (shard*) are allowed on terms of three or more letters.",
            "Leading wildcards are disabled on shared clusters because they scan the",
            "whole term dictionary; dedicated clusters can enable them per index.",
        ]),
    ]
}

fn audit() -> Vec<Vec<String>> {
    vec![
        page(&[
            "Lumen Search Audit Log Guide",
            "Part 1. What is recorded",
            "Every administrative API call writes one audit event: who, what, when,",
            "from which IP address, and the request id. Search queries are not audited.",
            "Audit events are kept for 400 days in the lumen-audit-eu bucket.",
        ]),
        page(&[
            "Part 2. Reading the log",
            "Use: lumenctl audit tail --since 2h --actor alice@example.com",
            "Each event is one JSON object with the fields ts, actor, action, target,",
            "ip and request_id. The action names are stable and documented in Part 3.",
        ]),
        page(&[
            "Part 3. Action names",
            "index.create, index.delete, index.rollback, key.issue, key.revoke,",
            "tenant.suspend and settings.update. A key.revoke event always names the",
            "key prefix, never the full secret. Exports to the SIEM run every 5 minutes.",
        ]),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let manuals = root.join("corpus/manuals");
    std::fs::create_dir_all(&manuals)?;
    std::fs::create_dir_all(root.join("bad"))?;

    let (hardware, query_language, audit) = (hardware(), query_language(), audit());
    for (name, title, pages) in [
        (
            "hardware-maintenance.pdf",
            "Lumen Search Hardware Maintenance Manual",
            &hardware,
        ),
        (
            "query-language.pdf",
            "Lumen Search Query Language Reference",
            &query_language,
        ),
        (
            "audit-log-guide.pdf",
            "Lumen Search Audit Log Guide",
            &audit,
        ),
    ] {
        let bytes = text_pdf(title, pages)?;
        std::fs::write(manuals.join(name), &bytes)?;
        if name == "hardware-maintenance.pdf" {
            // A PDF cut off mid-file, as an interrupted download leaves it.
            std::fs::write(
                root.join("bad/truncated.pdf"),
                &bytes[..bytes.len() * 2 / 5],
            )?;
        }
        println!(
            "wrote {name} ({} pages, {} bytes)",
            pages.len(),
            bytes.len()
        );
    }
    Ok(())
}
