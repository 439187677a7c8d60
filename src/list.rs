//! `camproof list`: what a user can name on the command line or in a scenario file, each
//! with a one-line description.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use camproof_scenarios::checks::CheckId;
use camproof_scenarios::plants::Plant;
use camproof_scenarios::scenario::{Scenario, FAULT_ACTIONS};

/// What `camproof list` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// The scenario files of a catalog directory.
    Scenarios,
    /// The bugs `--plant` can plant, and the checks that catch each.
    Plants,
    /// The checks a run can make.
    Checks,
    /// The actions a `[[fault]]` can take.
    Faults,
    /// The simulated firmware profiles `certify --profile` can test.
    Profiles,
}

/// One listed item: its name and what it is.
type Row = (String, String);

/// Prints the rows of `what` (scenarios from `dir`), a name and its description per
/// line, or as one JSON array of `{name, description}` with `json`.
pub fn list(what: What, dir: &Path, json: bool) -> Result<ExitCode> {
    let rows = rows(what, dir)?;
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(
                |(name, description)| serde_json::json!({"name": name, "description": description}),
            )
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, description) in rows {
        println!("{name:width$}  {description}");
    }
    Ok(ExitCode::SUCCESS)
}

fn rows(what: What, dir: &Path) -> Result<Vec<Row>> {
    Ok(match what {
        What::Scenarios => scenarios(dir)?,
        What::Plants => Plant::ALL
            .map(|p| {
                let checks: Vec<&str> = p.checks().iter().map(|c| c.name()).collect();
                let help = format!("{} (caught by {})", p.help(), checks.join(", "));
                (p.flag().to_string(), help)
            })
            .to_vec(),
        What::Checks => CheckId::ALL
            .map(|c| (c.name().to_string(), c.description().to_string()))
            .to_vec(),
        What::Faults => FAULT_ACTIONS
            .map(|(key, what)| (key.to_string(), what.to_string()))
            .to_vec(),
        What::Profiles => camproof_conformance::profiles::all()
            .into_iter()
            .map(|p| {
                let flaw = if p.flaw.is_empty() {
                    "the reference firmware: no known flaw"
                } else {
                    p.flaw
                };
                (p.name.to_string(), flaw.to_string())
            })
            .collect(),
    })
}

/// Every `*.toml` scenario of `dir`, by file path, with its description; a file that is
/// not a valid scenario is an error naming it.
fn scenarios(dir: &Path) -> Result<Vec<Row>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "reading the catalog directory {} (run from the repository, or pass --dir)",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let file = path.display().to_string();
            let scenario = Scenario::parse(&file, &text)?;
            Ok((file, scenario.description))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind lists something, each name once, each with a description.
    #[test]
    fn every_list_names_each_item_once_with_a_description() {
        let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalog");
        for what in [
            What::Scenarios,
            What::Plants,
            What::Checks,
            What::Faults,
            What::Profiles,
        ] {
            let rows = rows(what, &catalog).expect("lists");
            assert!(!rows.is_empty(), "{what:?}");
            let mut names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), rows.len(), "{what:?}: a name twice");
            assert!(rows.iter().all(|(_, d)| !d.trim().is_empty()), "{what:?}");
        }
        let e = rows(What::Scenarios, Path::new("/no/such/dir")).unwrap_err();
        assert!(format!("{e:#}").contains("pass --dir"), "{e:#}");
    }
}
