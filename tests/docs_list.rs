//! The docs list everything a user can name: every check in `docs/reports.md` and every
//! planted bug in `docs/scenarios.md`. A check or plant added in code without its line
//! in the docs fails here.

use std::fs;

use camproof_scenarios::checks::CheckId;
use camproof_scenarios::plants::Plant;

fn doc(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/").to_string() + name;
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Names of `all` that `text` has no table row for (a line starting "| `name` |").
fn missing<'a>(text: &str, all: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    all.into_iter()
        .filter(|name| {
            let row = format!("| `{name}` |");
            !text.lines().any(|l| l.starts_with(&row))
        })
        .collect()
}

#[test]
fn every_check_has_a_row_in_the_reports_doc() {
    let names = CheckId::ALL.map(CheckId::name);
    let gone = missing(&doc("reports.md"), names);
    assert!(gone.is_empty(), "docs/reports.md lists no check {gone:?}");
    // The finder itself: a name with no row is reported.
    assert_eq!(
        missing("| `liveness` | x |", ["liveness", "erasure"]),
        ["erasure"]
    );
}

#[test]
fn every_plant_has_a_row_in_the_scenarios_doc() {
    let flags = Plant::ALL.map(Plant::flag);
    let gone = missing(&doc("scenarios.md"), flags);
    assert!(gone.is_empty(), "docs/scenarios.md lists no plant {gone:?}");
}

#[test]
fn every_fault_action_has_a_row_in_the_scenarios_doc() {
    let keys = camproof_scenarios::scenario::FAULT_ACTIONS.map(|(key, _)| key);
    let gone = missing(&doc("scenarios.md"), keys);
    assert!(
        gone.is_empty(),
        "docs/scenarios.md lists no fault action {gone:?}"
    );
}

#[test]
fn every_exit_code_has_a_row_in_the_readme() {
    let readme =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let gone = missing(&readme, ["0", "1", "2", "3"]);
    assert!(gone.is_empty(), "README.md documents no exit code {gone:?}");
}
