//! Markdown for run and sweep reports, and the set of files a report directory gets
//! (the JUnit XML is `run_junit`'s).

use std::fmt::Write as _;
use thiserror::Error;

use crate::units::{bucket_label, ms, secs};
use camproof_results::{seeds_not_run, CheckStatus, RunReport, SweepReport};

/// Why a run or sweep report could not be rendered.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The JSON could not be written.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A saved report could not be read back.
    #[error("{0}")]
    Unreadable(String),
}

/// Markdown text that stays text: HTML special characters escaped, one line.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// A Markdown table cell: [`text`] with pipes escaped.
fn cell(s: &str) -> String {
    text(s).replace('\\', "\\\\").replace('|', "\\|")
}

/// Inline code that survives backticks in `s`.
fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {} ``", s.replace('\n', " "))
    } else {
        format!("`{}`", s.replace('\n', " "))
    }
}

fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "**FAIL**",
        CheckStatus::NotMade => "not made",
    }
}

fn join_counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The run report as Markdown (GitHub-flavoured tables), for a CI summary or a PR.
pub fn render_run_markdown(r: &RunReport) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# camproof run: {} (seed {}): {}\n",
        r.scenario,
        r.seed,
        if r.passed() { "PASS" } else { "FAIL" }
    );
    let _ = writeln!(m, "- **Verdict:** {}", r.verdict);
    if let Some(f) = r.first_violation() {
        let when = f.at_seconds.map_or("at an unknown time".to_string(), |at| {
            format!("at {}", secs(at))
        });
        let _ = writeln!(
            m,
            "- **First violation:** {} {when}: {}",
            code(&f.check),
            text(&f.detail)
        );
    }
    let _ = writeln!(m, "- **Reproduce:** {}", code(&r.reproduce));
    let _ = writeln!(m, "- **Scenario file:** {}", code(&r.file));
    let _ = writeln!(
        m,
        "- **Trace:** {} events, sha256 {}\n",
        r.trace_events,
        code(&r.trace_sha256)
    );
    m.push_str("| measure | value |\n|---|---|\n");
    let regions: Vec<String> = r
        .online_by_region
        .iter()
        .map(|(k, v)| format!("{k} {}/{}", v.online, v.cameras))
        .collect();
    let mut row = |k: &str, v: String| {
        let _ = writeln!(m, "| {} | {} |", cell(k), cell(&v));
    };
    row(
        "cameras online at the end",
        format!(
            "{}/{} ({})",
            r.cameras_online,
            r.cameras,
            regions.join(", ")
        ),
    );
    row(
        "simulated time",
        format!(
            "{} ({} wall)",
            secs(r.simulated_seconds),
            secs(r.wall_seconds)
        ),
    );
    row(
        "sessions",
        format!(
            "{} full handshakes, {} resumed, {} connect attempts",
            r.counters.gateways.handshakes,
            r.counters.gateways.resumptions,
            r.counters.fleet.connect_attempts
        ),
    );
    row(
        "video",
        format!(
            "{} of {} frames reached a gateway; latency p50 {}, p99 {}",
            r.counters.gateways.video_frames,
            r.counters.fleet.frames_sent,
            ms(r.frame_latency_p50_us),
            ms(r.frame_latency_p99_us)
        ),
    );
    let v = &r.counters.viewers;
    row(
        "viewers",
        format!(
            "{} sign-ins, {} refused; {} live views, {} frames verified, {} lost; latency p50 {}, p99 {}",
            v.logins,
            v.login_refusals.values().sum::<u64>(),
            v.live_views,
            v.frames_verified,
            v.frames_lost,
            ms(r.live_latency_p50_us),
            ms(r.live_latency_p99_us)
        ),
    );
    row(
        "store",
        format!(
            "{} records acknowledged in {} batches, {} retried; {} leaders; {} accounts erased",
            r.counters.store.writes_acked,
            r.counters.store.batches_acked,
            r.counters.store.writes_failed,
            r.counters.store.leaders,
            r.counters.signaling.erasures
        ),
    );
    let w = &r.counters.wire;
    row(
        "wire",
        if w.scanned {
            format!(
                "{} segments, {} bytes; scanned for {} secrets, {} found in clear",
                w.segments,
                w.bytes,
                w.secrets,
                w.leaks.len()
            )
        } else {
            format!("{} segments, {} bytes; not scanned", w.segments, w.bytes)
        },
    );
    if let Some(c) = &r.capture {
        row(
            "capture",
            format!(
                "{} segments of {} flows of {} in {}",
                c.segments,
                c.flows,
                c.hosts.join(", "),
                c.file
            ),
        );
    }

    m.push_str("\n## Checks\n\n| check | result | detail |\n|---|---|---|\n");
    for c in &r.checks {
        let details: Vec<String> = r
            .failures
            .iter()
            .filter(|f| f.check == c.name)
            .map(|f| match f.at_seconds {
                Some(at) => format!("{} (first seen at {})", f.detail, secs(at)),
                None => f.detail.clone(),
            })
            .collect();
        let detail = if details.is_empty() {
            c.note.clone()
        } else {
            details.join("; ")
        };
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            cell(&c.name),
            status_word(c.status),
            cell(&detail)
        );
    }

    m.push_str("\n## Faults\n\n");
    if r.faults.is_empty() {
        m.push_str("None.\n");
    } else {
        m.push_str("| # | at | action |\n|---|---|---|\n");
        for (i, f) in r.faults.iter().enumerate() {
            let _ = writeln!(
                m,
                "| F{} | {} | {} |",
                i + 1,
                secs(f.at_seconds),
                cell(&f.action)
            );
        }
    }

    m.push_str("\n## Alerts\n\n");
    if r.alerts.is_empty() {
        m.push_str("None.\n");
    } else {
        m.push_str(
            "| # | alert | host | service | cause began | fired | resolved | detail |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for (i, a) in r.alerts.iter().enumerate() {
            let _ = writeln!(
                m,
                "| A{} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                cell(&a.kind),
                cell(&a.host),
                cell(&a.service),
                secs(r.since_start(a.began_us)),
                secs(r.since_start(a.fired_us)),
                a.resolved_us
                    .map(|t| secs(r.since_start(t)))
                    .unwrap_or_else(|| "no".into()),
                cell(&a.detail)
            );
        }
    }

    if !r.latency_histogram.is_empty() {
        m.push_str("\n## Frame latency\n\n| latency | camera → gateway | capture → viewer |\n|---|---|---|\n");
        let last =
            camproof_results::LATENCY_BUCKETS_US[camproof_results::LATENCY_BUCKETS_US.len() - 1];
        for b in &r.latency_histogram.buckets {
            if b.camera + b.live > 0 {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} |",
                    bucket_label(b.le_us, last),
                    b.camera,
                    b.live
                );
            }
        }
    }

    let a = &r.counters.attacks;
    if a.hosts > 0 {
        let _ = writeln!(m, "\n## Attacks\n\n{} attacker hosts.\n", a.hosts);
        m.push_str("| attack | counters |\n|---|---|\n");
        let _ = writeln!(
            m,
            "| credential stuffing | {} pairs tried: {}; {} breaches |",
            a.stuffing.attempts,
            cell(&join_counts(&a.stuffing.outcomes)),
            a.stuffing.breaches.len()
        );
        let _ = writeln!(
            m,
            "| botnet | {} connections; refused: {}; went along: {}; unanswered {} |",
            a.botnet.attempts.values().sum::<u64>(),
            cell(&join_counts(&a.botnet.refused)),
            cell(&join_counts(&a.botnet.accepted)),
            a.botnet.unanswered.values().sum::<u64>()
        );
        let _ = writeln!(
            m,
            "| cross-tenant probing | {} probes; refused: {}; own stream admitted {} times; {} breaches |",
            a.probing.probes.values().sum::<u64>(),
            cell(&join_counts(&a.probing.refused)),
            a.probing.own_admitted,
            a.probing.breaches.len()
        );
        let r = &a.replay;
        if !r.replays.is_empty() {
            let _ = writeln!(
                m,
                "| replay at the platform | {} recorded connections ({} after a rekey, {} failed over); {} replays: {}; {} accepted |",
                r.flows.values().sum::<u64>(),
                r.flows_after_rekey,
                r.flows_failed_over,
                r.replays.values().sum::<u64>(),
                cell(&join_counts(&r.outcomes)),
                r.accepted
            );
        }
        let c = &r.cameras;
        if !c.tampered.is_empty() {
            let _ = writeln!(
                m,
                "| replay at cameras | {} sessions altered ({} after a rekey, {} failed over): {}; cameras: {}; {} accepted |",
                c.tampered.values().sum::<u64>(),
                c.after_rekey,
                c.failed_over,
                cell(&join_counts(&c.tampered)),
                cell(&join_counts(&c.outcomes)),
                c.accepted
            );
        }
        let g = &a.rogue;
        if g.redirected > 0 {
            let _ = writeln!(
                m,
                "| rogue firmware | {} connections redirected, {} camera sessions; offered: {}; refused: {}; installed {}; on rogue firmware at the end {} |",
                g.redirected,
                g.sessions,
                cell(&join_counts(&g.offered)),
                cell(&join_counts(&g.refused)),
                g.installed.values().sum::<u64>(),
                g.running.values().sum::<u64>()
            );
        }
        for f in r.findings.iter().chain(&c.findings) {
            let _ = writeln!(m, "| finding | {} |", cell(f));
        }
        let _ = writeln!(
            m,
            "| real users during attacks | {} sign-ins, refused: {} |",
            a.legit.ok,
            cell(&join_counts(&a.legit.refused))
        );
    }
    if !w.leaks.is_empty() {
        m.push_str("\n## Secrets in clear\n\n| at | secret | from | to |\n|---|---|---|---|\n");
        for l in &w.leaks {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                secs(l.at.as_secs_f64()),
                cell(&l.secret),
                cell(&l.from),
                cell(&l.to)
            );
        }
    }
    m.push_str("\n## Every counter\n\n| component | counter | value |\n|---|---|---|\n");
    for c in crate::counters::counter_rows(r) {
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            c.component,
            code(&c.counter),
            cell(&c.value)
        );
    }
    m
}

/// The sweep report as Markdown: totals and a table of seeds, failures first.
pub fn render_sweep_markdown(s: &SweepReport) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# camproof sweep: {}: {}\n",
        s.scenario,
        if s.failed == 0 { "PASS" } else { "FAIL" }
    );
    let _ = writeln!(
        m,
        "- **Seeds:** {} passed, {} failed of {}",
        s.passed,
        s.failed,
        s.runs.len()
    );
    let _ = writeln!(m, "- **Scenario file:** {}", code(&s.file));
    if let Some(p) = &s.plant {
        let _ = writeln!(m, "- **Planted bug:** {}", code(p));
    }
    let _ = writeln!(m, "- **Shards:** {}", s.shards.join(", "));
    if !s.missing_shards.is_empty() {
        let _ = writeln!(
            m,
            "- **PARTIAL, missing:** shards {} ({})",
            s.missing_shards.join(", "),
            seeds_not_run(&s.missing_seeds)
        );
    } else if !s.missing_seeds.is_empty() {
        let why = if s.interrupted {
            "INTERRUPTED"
        } else {
            "PARTIAL"
        };
        let _ = writeln!(m, "- **{why}:** {}", seeds_not_run(&s.missing_seeds));
    }
    if !s.overrides.is_empty() {
        let _ = writeln!(m, "- **Overrides:** {}", code(s.overrides.trim()));
    }
    if !s.version.is_empty() {
        let _ = writeln!(m, "- **Build:** {}", code(&s.version));
    }
    let _ = writeln!(m, "- **Wall time:** {}", secs(s.wall_seconds));
    for (seed, path) in &s.shrunk {
        let _ = writeln!(m, "- **Shrunk seed {seed}:** {}", code(path));
    }
    let failing: Vec<_> = s.runs.iter().filter(|r| r.verdict != "pass").collect();
    if !failing.is_empty() {
        m.push_str("\n## Failures\n\n");
        for r in failing {
            let _ = writeln!(m, "### seed {}\n", r.seed);
            for f in &r.failures {
                let _ = writeln!(m, "- {}", text(f));
            }
            let _ = writeln!(m, "\nReproduce: {}\n", code(&r.reproduce));
        }
    }
    m.push_str("\n## Seeds\n\n| seed | verdict | failed checks | trace sha256 | wall |\n|---|---|---|---|---|\n");
    for r in &s.runs {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {:.2} s |",
            r.seed,
            if r.verdict == "pass" {
                "pass"
            } else {
                "**FAIL**"
            },
            cell(&r.checks().join(", ")),
            code(&r.trace_hash),
            r.wall_seconds
        );
    }
    m
}

/// The files of a run's report directory, as (file name, contents): `result.json`,
/// `report.md`, `report.html`, `junit.xml`.
pub fn run_files(r: &RunReport) -> Result<Vec<(&'static str, String)>, RenderError> {
    Ok(vec![
        ("result.json", serde_json::to_string_pretty(r)? + "\n"),
        ("report.md", render_run_markdown(r)),
        ("report.html", crate::run_html::render_run_html(r)),
        ("junit.xml", crate::run_junit::render_run_junit(r)),
    ])
}

/// The report files of a sweep, as (file name, contents): `report.md`, `report.html`,
/// `junit.xml` (the caller writes `sweep.json` where it was asked to).
pub fn sweep_files(s: &SweepReport) -> Result<Vec<(&'static str, String)>, RenderError> {
    Ok(vec![
        ("report.md", render_sweep_markdown(s)),
        ("report.html", crate::run_html::render_sweep_html(s)),
        ("junit.xml", crate::run_junit::render_sweep_junit(s)),
    ])
}

/// A saved `result.json` or `sweep.json`, told apart by its `schema`.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedReport {
    /// A run (`camproof.run/3`, or `camproof.run/2` read into it).
    Run(Box<RunReport>),
    /// A sweep or merged sweep (`camproof.sweep/1`).
    Sweep(Box<SweepReport>),
}

impl SavedReport {
    /// Reads a saved report from its JSON text; an unknown or old schema is an error
    /// that names it.
    pub fn parse(text: &str) -> Result<Self, RenderError> {
        #[derive(serde::Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        let head: Head = serde_json::from_str(text)
            .map_err(|e| RenderError::Unreadable(format!("not a JSON report: {e}")))?;
        match head.schema.as_deref() {
            Some(camproof_results::RUN_SCHEMA | camproof_results::RUN_SCHEMA_V2) => {
                RunReport::from_json(text)
                    .map(|r| SavedReport::Run(Box::new(r)))
                    .map_err(|e| RenderError::Unreadable(format!("a damaged run report: {e}")))
            }
            Some(camproof_results::SWEEP_SCHEMA) => serde_json::from_str(text)
                .map(|s| SavedReport::Sweep(Box::new(s)))
                .map_err(|e| RenderError::Unreadable(format!("a damaged sweep report: {e}"))),
            Some("camproof.run/1") => Err(RenderError::Unreadable(
                "schema camproof.run/1 has no checks or timeline to render: run the scenario \
                 again with this version of camproof"
                    .into(),
            )),
            Some(other) => Err(RenderError::Unreadable(format!(
                "unknown schema {other:?} (expected {}, {} or {})",
                camproof_results::RUN_SCHEMA,
                camproof_results::RUN_SCHEMA_V2,
                camproof_results::SWEEP_SCHEMA
            ))),
            None => Err(RenderError::Unreadable(
                "no \"schema\" field: not a camproof run or sweep report".into(),
            )),
        }
    }

    /// The Markdown, HTML and JUnit files of the report (see [`run_files`]).
    pub fn files(&self) -> Result<Vec<(&'static str, String)>, RenderError> {
        match self {
            SavedReport::Run(r) => Ok(run_files(r)?
                .into_iter()
                .filter(|(name, _)| *name != "result.json")
                .collect()),
            SavedReport::Sweep(s) => sweep_files(s),
        }
    }
}
