//! Reports of runs and sweeps: the simulator's summary turned into the reports crate's
//! model (which does not know the simulator), the report files written, captured
//! segments written as pcap, and `camproof report render`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use camproof_conformance::capture::{Capture, Dir, MAX_FLOWS};
use camproof_reports as reports;
use camproof_scenarios::scenario::Scenario;
use camproof_scenarios::summary::{self, CheckOutcome};
use camproof_scenarios::tap::SegmentKind;
use camproof_scenarios::world::{self, RunSummary};

fn us(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_micros() as u64)
}

/// Every check of the run: made (pass or fail) or not made, with why not.
fn checks(s: &RunSummary, failures: &[world::Failure]) -> Vec<reports::CheckResult> {
    summary::check_outcomes(s, failures)
        .into_iter()
        .map(|(name, outcome)| {
            let (status, note) = match outcome {
                CheckOutcome::Fail => (reports::CheckStatus::Fail, String::new()),
                CheckOutcome::NotMade(why) => (reports::CheckStatus::NotMade, why),
                CheckOutcome::Pass => (reports::CheckStatus::Pass, String::new()),
            };
            reports::CheckResult { name, status, note }
        })
        .collect()
}

/// The report of one run, from the simulator's summary.
pub fn run_report(
    scenario: &Scenario,
    file: &Path,
    s: &RunSummary,
    wall: Duration,
    verdict: &str,
    reproduce: String,
) -> reports::RunReport {
    let failures = s.failures();
    let a = &s.attacks;
    reports::RunReport {
        schema: reports::RUN_SCHEMA.into(),
        scenario: scenario.name.clone(),
        file: file.display().to_string(),
        seed: s.seed,
        verdict: verdict.into(),
        checks: checks(s, &failures),
        failures: failures
            .iter()
            .map(|f| reports::CheckFailure {
                check: f.check.to_string(),
                at_seconds: Some(f.at.as_secs_f64()),
                detail: f.detail.clone(),
            })
            .collect(),
        reproduce,
        cameras: s.cameras,
        cameras_online: s.cameras_online,
        online_by_region: s
            .online_by_region
            .iter()
            .map(|(r, (online, cameras))| {
                (
                    r.clone(),
                    reports::RegionOnline {
                        online: *online,
                        cameras: *cameras,
                    },
                )
            })
            .collect(),
        epoch_seconds: world::EPOCH_SECS,
        simulated_seconds: s.simulated.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        handshakes: s.gateways.handshakes,
        resumptions: s.gateways.resumptions,
        connect_attempts: s.fleet.connect_attempts,
        heartbeats_acked: s.fleet.heartbeats_acked,
        frames_sent: s.fleet.frames_sent,
        frames_delivered: s.gateways.video_frames,
        video_bytes_delivered: s.gateways.video_bytes,
        frame_latency_p50_us: us(s.latency_p50),
        frame_latency_p99_us: us(s.latency_p99),
        gateway_failures: s.gateways.failures.clone().into_iter().collect(),
        viewers: reports::ViewerCounts {
            logins: s.viewers.logins,
            second_factor_prompts: s.viewers.second_factor_prompts,
            login_refusals: s.viewers.login_refusals.clone().into_iter().collect(),
            commands_ok: s.viewers.commands_ok,
            commands_failed: s.viewers.commands_failed,
            live_views: s.viewers.live_views,
            live_view_failures: s.viewers.live_view_failures,
            frames_verified: s.viewers.frames_verified,
            frames_rejected: s.viewers.frames_rejected.clone().into_iter().collect(),
            frames_lost: s.viewers.frames_lost,
            live_latency_p50_us: us(s.live_latency_p50),
            live_latency_p99_us: us(s.live_latency_p99),
        },
        signaling: reports::SignalingCounts {
            logins: s.signaling.logins,
            logins_refused: s.signaling.logins_refused,
            codes_issued: s.signaling.codes_issued,
            unauthorized: s.signaling.unauthorized,
            not_found: s.signaling.not_found,
            commands_forwarded: s.signaling.forwarded,
            commands_answered: s.signaling.answered,
            command_timeouts: s.signaling.timeouts,
            live_views: s.signaling.live_views,
        },
        ota: s.ota.as_ref().map(|o| reports::OtaCounts {
            offered: o.offered,
            installed: o.installed,
            refused: o.refused,
            failed: o.failed,
            interrupted: s.fleet.ota_interrupted,
            firmware: s
                .fleet
                .firmware
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }),
        store: reports::StoreCounts {
            writes_acked: s.store.writes_acked,
            batches_acked: s.store.batches_acked,
            writes_failed: s.store.writes_failed,
            accounts_erased: s.signaling.erasures,
            leaders: s.store.leaders,
            violations: s.store.violations.iter().map(|v| v.to_string()).collect(),
        },
        relay: reports::RelayCounts {
            admitted_cameras: s.relay.admitted_cameras,
            admitted_viewers: s.relay.admitted_viewers,
            refused: s.relay.refused,
            frames_in: s.relay.core.frames_in,
            frames_out: s.relay.core.frames_out,
            bytes_out: s.relay.core.bytes_out,
            dropped_overflow: s.relay.core.dropped_overflow,
            dropped_expired: s.relay.core.dropped_expired,
            max_held_us: s.relay.max_held_us,
        },
        faults: s
            .faults
            .iter()
            .map(|(at, f)| reports::FaultEntry {
                at_seconds: at.as_secs_f64(),
                action: format!("{f:?}"),
            })
            .collect(),
        alerts: s
            .alerts
            .iter()
            .map(|a| reports::AlertEntry {
                kind: a.kind.to_string(),
                host: a.host.clone(),
                service: a.service.clone(),
                began_us: a.began.as_micros(),
                fired_us: a.fired.as_micros(),
                resolved_us: a.resolved.map(|r| r.as_micros()),
                detail: a.detail.clone(),
            })
            .collect(),
        timeline: s
            .timeline
            .iter()
            .map(|p| reports::TimelineSample {
                at_seconds: p.at.as_secs_f64(),
                cameras_online: p.cameras_online,
                frames: p.frames,
                latency_p50_us: us(p.latency_p50),
                latency_p99_us: us(p.latency_p99),
                live_frames: p.live_frames,
                logins: p.logins,
                login_refusals: p.login_refusals,
            })
            .collect(),
        wire: reports::WireReport {
            scanned: s.wire.scanned,
            secrets: s.wire.secrets,
            segments: s.wire.segments,
            bytes: s.wire.bytes,
            leaks: s
                .wire
                .leaks
                .iter()
                .map(|l| reports::LeakEntry {
                    at_seconds: l.at.as_secs_f64(),
                    secret: l.secret.clone(),
                    from: l.from.clone(),
                    to: l.to.clone(),
                })
                .collect(),
        },
        attacks: reports::AttackCounts {
            hosts: a.hosts,
            stuffing: reports::StuffingCounts {
                attempts: a.stuffing.attempts,
                outcomes: a.stuffing.outcomes.clone(),
                breaches: a.stuffing.breaches.clone(),
            },
            botnet: reports::BotnetCounts {
                attempts: a.botnet.attempts.clone(),
                refused: a.botnet.refused.clone(),
                accepted: a.botnet.accepted.clone(),
                unanswered: a.botnet.unanswered.clone(),
            },
            probing: reports::ProbeCounts {
                sign_ins: a.probing.sign_ins,
                probes: a.probing.probes.clone(),
                refused: a.probing.refused.clone(),
                own_admitted: a.probing.own_admitted,
                breaches: a.probing.breaches.clone(),
            },
            replay: reports::ReplayCounts {
                flows: a.replay.flows.clone(),
                flows_after_rekey: a.replay.flows_after_rekey,
                flows_failed_over: a.replay.flows_failed_over,
                replays: a.replay.replays.clone(),
                outcomes: a.replay.outcomes.clone(),
                by_target: a.replay.by_target.clone(),
                accepted: a.replay.accepted,
                findings: a.replay.findings.clone(),
                cameras: reports::OnPathCounts {
                    tampered: a.replay.cameras.tampered.clone(),
                    outcomes: a.replay.cameras.outcomes.clone(),
                    after_rekey: a.replay.cameras.after_rekey,
                    failed_over: a.replay.cameras.failed_over,
                    accepted: a.replay.cameras.accepted,
                    findings: a.replay.cameras.findings.clone(),
                },
            },
            rogue: reports::RogueCounts {
                redirected: a.rogue.redirected,
                sessions: a.rogue.sessions,
                offered: a.rogue.offered.clone(),
                refused: a.rogue.refused.clone(),
                installed: a.rogue.installed.clone(),
                running: a.rogue.running.clone(),
            },
            legit: reports::LegitCounts {
                ok: a.legit.ok,
                refused: a.legit.refused.clone(),
            },
        },
        latency_histogram: reports::LatencyHistogram::from_samples(
            &s.gateways.frame_latency_us,
            &s.viewers.latency_us,
        ),
        capture: None,
        trace_events: s.trace_events,
        trace_sha256: s.trace_hash.clone(),
    }
}

/// Writes `files` into `dir` (created if needed) and prints each path.
pub fn write_files(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// What [`capture_of`] made of the captured segments.
pub struct CaptureOut {
    /// The flows, ready for `to_pcap`.
    pub capture: Capture,
    /// Segments written (SYN, data, FIN and RST alike).
    pub segments: u64,
    /// Segments left out: not IPv4, or of flows beyond [`MAX_FLOWS`].
    pub skipped: u64,
}

/// Turns the tap's segments into flows: a SYN opens a flow (client = sender), data
/// goes the flow's way; data of a connection whose SYN was not seen opens a flow with
/// its sender as the client. Timestamps: the simulated epoch plus the segment's time.
pub fn capture_of(s: &RunSummary) -> CaptureOut {
    let mut capture = Capture::default();
    let mut open: BTreeMap<(SocketAddr, SocketAddr), usize> = BTreeMap::new();
    let (mut segments, mut skipped) = (0u64, 0u64);
    let epoch_us = world::EPOCH_SECS * 1_000_000;
    for seg in &s.captured {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (seg.src, seg.dst) else {
            skipped += 1;
            continue;
        };
        let at = epoch_us + seg.at.as_micros() as u64;
        let known = open
            .get(&(seg.src, seg.dst))
            .map(|f| (*f, Dir::ClientToServer))
            .or_else(|| {
                open.get(&(seg.dst, seg.src))
                    .map(|f| (*f, Dir::ServerToClient))
            });
        let flow = match (seg.kind, known) {
            (SegmentKind::Syn, _) | (_, None) => {
                if capture.flows.len() >= MAX_FLOWS {
                    skipped += 1;
                    continue;
                }
                let f = capture.open(src, dst, at);
                open.insert((seg.src, seg.dst), f);
                open.remove(&(seg.dst, seg.src));
                Some((f, Dir::ClientToServer))
            }
            (_, known) => known,
        };
        segments += 1;
        if let (SegmentKind::Data, Some((f, dir))) = (seg.kind, flow) {
            capture.record(f, dir, at, &seg.payload);
        }
    }
    CaptureOut {
        capture,
        segments,
        skipped,
    }
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
    println!(
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
    );
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
