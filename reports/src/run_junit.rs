//! JUnit XML for run and sweep reports: a check is a test case, a broken check a
//! `<failure>` typed by the check's name, a check not made a `<skipped>` saying why.

use crate::junit_xml::{render, Case, Outcome, Suite};
use camproof_results::{CheckStatus, RunReport, SeedRun, SweepReport};

/// The body of a failure: what was found (each finding on its own line), and the
/// command that repeats it.
fn failure_body(details: &[String], reproduce: &str) -> String {
    format!("{}\n\nreproduce: {reproduce}\n", details.join("\n"))
}

/// Wall time shared out evenly over `n` test cases: checks are not timed one by one
/// (they watch the whole run), and a share keeps the cases' times adding up to the
/// run's.
fn share(wall_seconds: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        wall_seconds / n as f64
    }
}

/// The run report as JUnit XML: one `<testsuite>` with one `<testcase>` per check. A
/// broken check is a `<failure type="CHECK" message="FIRST FINDING">` whose body lists
/// every finding with the simulated time it was first seen, and the reproduce command;
/// a check not made is `<skipped>` with the reason. The checks made share the run's
/// wall time; a check not made takes none.
pub fn render_run_junit(r: &RunReport) -> String {
    let made = r
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::NotMade)
        .count();
    let each = share(r.wall_seconds, made);
    let classname = format!("camproof.run.{}", r.scenario);
    let cases = r
        .checks
        .iter()
        .map(|c| {
            let (outcome, seconds) = match c.status {
                CheckStatus::Pass => (Outcome::Passed, each),
                CheckStatus::NotMade => (
                    Outcome::Skipped {
                        message: if c.note.is_empty() {
                            "not made in this run".into()
                        } else {
                            c.note.clone()
                        },
                    },
                    0.0,
                ),
                CheckStatus::Fail => {
                    let found: Vec<_> = r.failures.iter().filter(|f| f.check == c.name).collect();
                    let details: Vec<String> = found
                        .iter()
                        .map(|f| match f.at_seconds {
                            Some(at) => {
                                format!("{} (first seen at {at:.3} s of simulated time)", f.detail)
                            }
                            None => f.detail.clone(),
                        })
                        .collect();
                    let message = found
                        .first()
                        .map(|f| f.detail.clone())
                        .unwrap_or_else(|| format!("{} failed", c.name));
                    let outcome = Outcome::Failed {
                        kind: c.name.clone(),
                        message,
                        body: failure_body(&details, &r.reproduce),
                    };
                    (outcome, each)
                }
            };
            Case {
                name: c.name.clone(),
                classname: classname.clone(),
                seconds,
                outcome,
            }
        })
        .collect();
    let suite = Suite {
        name: format!("run.{} seed {}", r.scenario, r.seed),
        seconds: r.wall_seconds,
        properties: vec![
            ("seed".into(), r.seed.to_string()),
            ("trace_sha256".into(), r.trace_sha256.clone()),
            ("reproduce".into(), r.reproduce.clone()),
            ("simulated_seconds".into(), r.simulated_seconds.to_string()),
        ],
        cases,
    };
    render(
        &format!("camproof run {}", r.scenario),
        r.wall_seconds,
        &[suite],
    )
}

/// The test suite of one seed of a sweep. A sweep keeps, per seed, only the checks
/// that failed (`check: detail`), so those are its test cases, each a `<failure>`; the
/// rest of the seed is one passing case, `no other check failed` (or `no check
/// failed`), which claims no more than the seed's verdict does: which checks were
/// made and held is not in `sweep.json`.
fn seed_suite(scenario: &str, plant: Option<&str>, run: &SeedRun) -> Suite {
    let classname = format!("camproof.sweep.{scenario}.seed-{}", run.seed);
    let checks = run.checks();
    let each = share(run.wall_seconds, checks.len() + 1);
    let mut cases: Vec<Case> = checks
        .iter()
        .map(|check| {
            let details: Vec<String> = run
                .failures
                .iter()
                .filter_map(|f| {
                    let (name, detail) = f.split_once(':').unwrap_or((f.as_str(), ""));
                    (name == check).then(|| detail.trim().to_string())
                })
                .collect();
            let message = details
                .iter()
                .find(|d| !d.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("{check} failed"));
            Case {
                name: check.clone(),
                classname: classname.clone(),
                seconds: each,
                outcome: Outcome::Failed {
                    kind: check.clone(),
                    message,
                    body: failure_body(&details, &run.reproduce),
                },
            }
        })
        .collect();
    cases.push(Case {
        name: if checks.is_empty() {
            "no check failed".into()
        } else {
            "no other check failed".into()
        },
        classname,
        seconds: each,
        outcome: Outcome::Passed,
    });
    let mut properties = vec![
        ("seed".into(), run.seed.to_string()),
        ("trace_sha256".into(), run.trace_hash.clone()),
        ("reproduce".into(), run.reproduce.clone()),
    ];
    if let Some(p) = plant {
        properties.push(("plant".into(), p.to_string()));
    }
    Suite {
        name: format!("{scenario} seed {}", run.seed),
        seconds: run.wall_seconds,
        properties,
        cases,
    }
}

/// The sweep report as JUnit XML: one `<testsuite>` per seed (`SCENARIO seed N`), in
/// seed order; in it each check that failed is a `<failure type="CHECK">` carrying
/// every finding and the command that reproduces that seed, and one more case stands
/// for the rest of the seed's checks (see `docs/reports.md`).
pub fn render_sweep_junit(s: &SweepReport) -> String {
    let suites: Vec<Suite> = s
        .runs
        .iter()
        .map(|r| seed_suite(&s.scenario, s.plant.as_deref(), r))
        .collect();
    let name = match &s.plant {
        Some(p) => format!("camproof sweep {} (planted {p})", s.scenario),
        None => format!("camproof sweep {}", s.scenario),
    };
    render(&name, s.wall_seconds, &suites)
}

#[cfg(test)]
mod tests {
    use super::*;
    use camproof_results::fixtures;

    #[test]
    fn a_failed_seed_has_a_case_per_failed_check_and_one_for_the_rest() {
        let failing = fixtures::seed(
            3,
            &["liveness: 3/4 online", "liveness: late", "erasure: kept"],
        );
        let suite = seed_suite("zone-split", Some("p"), &failing);
        let names: Vec<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["erasure", "liveness", "no other check failed"]);
        let c = suite.counts();
        assert_eq!((c.tests, c.failures, c.skipped), (3, 2, 0));
        match &suite.cases[1].outcome {
            Outcome::Failed {
                kind,
                message,
                body,
            } => {
                assert_eq!(kind, "liveness");
                assert_eq!(message, "3/4 online");
                assert!(body.starts_with("3/4 online\nlate\n"), "{body}");
                assert!(body.ends_with("reproduce: camproof run z.toml --seed 3\n"));
            }
            other => panic!("{other:?}"),
        }
        let total: f64 = suite.cases.iter().map(|c| c.seconds).sum();
        assert!((total - failing.wall_seconds).abs() < 1e-9);

        let passing = seed_suite("zone-split", None, &fixtures::seed(4, &[]));
        assert_eq!(passing.cases.len(), 1);
        assert_eq!(passing.cases[0].name, "no check failed");
        assert_eq!(passing.counts().failures, 0);
    }
}
