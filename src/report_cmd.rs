//! Reports of runs and sweeps: the report files written, captured segments written as
//! pcap, and `camproof report render`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use camproof_conformance::capture::{Capture, SegmentRole, WireCapture, WireSegment, MAX_FLOWS};
use camproof_reports as reports;
use camproof_scenarios::report::{self, RunIdentity};
use camproof_scenarios::scenario::Scenario;
use camproof_scenarios::tap::SegmentKind;
use camproof_scenarios::world::{self, RunSummary};

/// The report of one run, from the simulator's summary.
pub fn run_report(
    scenario: &Scenario,
    file: &Path,
    s: &RunSummary,
    wall: Duration,
    verdict: &str,
    reproduce: String,
) -> reports::RunReport {
    let id = RunIdentity {
        scenario: &scenario.name,
        file,
        verdict,
        reproduce,
    };
    let mut report = report::run_report(id, s, wall);
    report.dropped = scenario.dropped.clone();
    report
}

/// Creates `dir` if needed and checks that a file can be written in it, so a run whose
/// reports could not be kept is refused before it starts, not after.
pub fn ensure_writable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "the output directory {} cannot be created (nothing was run)",
            dir.display()
        )
    })?;
    let probe = dir.join(".camproof-write-check");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "the output directory {} is not writable (nothing was run)",
            dir.display()
        )
    })?;
    // The probe is empty and ours; failing to remove it loses nothing.
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes `files` into `dir` (created if needed) and prints each path.
pub fn write_files(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        crate::output::say(&format!("wrote {}", path.display()));
    }
    Ok(())
}

/// The tap's segments as flows; timestamps are the simulated epoch plus the segment's time.
fn capture_of(s: &RunSummary) -> WireCapture {
    let epoch_us = world::EPOCH_SECS * 1_000_000;
    Capture::from_segments(s.captured.iter().map(|seg| WireSegment {
        at_us: epoch_us + u64::try_from(seg.at.as_micros()).unwrap_or(u64::MAX - epoch_us),
        src: seg.src,
        dst: seg.dst,
        role: match seg.kind {
            SegmentKind::Syn => SegmentRole::Open,
            SegmentKind::Data => SegmentRole::Data,
            SegmentKind::Fin | SegmentKind::Rst => SegmentRole::Close,
        },
        payload: &seg.payload,
    }))
}

/// Writes `capture.pcap` (and `capture.hosts`, the simulated hosts' names in
/// `/etc/hosts` form for `tshark -H`) into `dir`; returns what the report says of it.
pub fn write_capture(dir: &Path, s: &RunSummary, hosts: &[String]) -> Result<reports::CaptureInfo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = capture_of(s);
    let path = dir.join("capture.pcap");
    std::fs::write(&path, out.capture.to_pcap())
        .with_context(|| format!("writing {}", path.display()))?;
    let names: String = s
        .hosts
        .iter()
        .map(|(ip, name)| format!("{ip} {name}\n"))
        .collect();
    let hosts_path = dir.join("capture.hosts");
    std::fs::write(&hosts_path, names)
        .with_context(|| format!("writing {}", hosts_path.display()))?;
    crate::output::say(&format!(
        "  capture          {} segments of {} flows -> {}{}",
        out.segments,
        out.capture.flows.len(),
        path.display(),
        if out.skipped > 0 {
            format!(
                " ({} segments left out: over {MAX_FLOWS} flows)",
                out.skipped
            )
        } else {
            String::new()
        }
    ));
    Ok(reports::CaptureInfo {
        file: "capture.pcap".into(),
        hosts: hosts.to_vec(),
        segments: out.segments,
        flows: out.capture.flows.len() as u64,
    })
}

/// `camproof report render`: the Markdown, HTML and JUnit files of a saved
/// `result.json` or `sweep.json`, written into `out` (default: the file's directory).
pub fn render(file: &Path, out: Option<PathBuf>) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let saved = match reports::SavedReport::parse(&text) {
        Ok(s) => s,
        Err(e) => bail!("{}: {e}", file.display()),
    };
    let dir = out.unwrap_or_else(|| {
        file.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let files = saved
        .files()
        .with_context(|| format!("rendering {}", file.display()))?;
    write_files(&dir, &files)?;
    Ok(ExitCode::SUCCESS)
}
