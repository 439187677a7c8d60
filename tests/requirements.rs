//! Every requirement ID in `docs/protocol.md` is cited by at least one test.

use std::fs;
use std::path::{Path, PathBuf};

use camproof_conformance::requirements::{parse_requirements, uncited};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | "fuzz") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_requirement_is_cited_by_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = fs::read_to_string(root.join("docs/protocol.md")).expect("docs/protocol.md");
    let reqs = parse_requirements(&spec).expect("docs/protocol.md has a valid requirement list");
    assert!(
        reqs.len() > 50,
        "only {} requirements found: is the spec complete?",
        reqs.len()
    );
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned();
            (rel, fs::read_to_string(p).unwrap_or_default())
        })
        .collect();
    let missing = uncited(&reqs, &sources);
    assert!(
        missing.is_empty(),
        "requirements without a test citing them:\n{}",
        missing
            .iter()
            .map(|r| format!("  docs/protocol.md:{} {} {}", r.line, r.id, r.summary))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
