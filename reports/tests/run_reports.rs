//! Run and sweep reports rendered from fixed synthetic data are pinned, well-formed and
//! escape what they show.

use std::collections::BTreeMap;

use std::time::Duration;

use camproof_reports::{
    render_run_html, render_run_junit, render_run_markdown, render_sweep_html, render_sweep_junit,
    render_sweep_markdown, run_files, AlertEntry, CaptureInfo, CheckFailure, CheckResult,
    CheckStatus, FaultEntry, LatencyHistogram, RegionOnline, RunReport, SavedReport, SeedRun,
    SweepReport, TimelineSample, RUN_SCHEMA, SWEEP_SCHEMA,
};
use camproof_results::{
    AttackSummary, Counters, FleetStats, GatewayStats, Leak, OfflineCamera, OnPathStats,
    ReplayStats, RogueStats, StuffingStats, WireStats,
};

mod junit_shape;

const EPOCH: u64 = 1_799_913_600;

fn check(name: &str, status: CheckStatus, note: &str) -> CheckResult {
    CheckResult {
        name: name.into(),
        status,
        note: note.into(),
    }
}

/// A failing run with faults, alerts, a leak, attacks and text that needs escaping.
fn run_report() -> RunReport {
    let timeline = (1..=8)
        .map(|i| TimelineSample {
            at: Duration::from_secs(5 * i),
            cameras_online: if (2..5).contains(&i) { 2 } else { 4 },
            frames: 40 * i,
            latency_p50: (i != 3).then_some(Duration::from_micros(20_000 + 1_000 * i)),
            latency_p99: (i != 3).then_some(Duration::from_micros(60_000 + 15_000 * i)),
            live_frames: 10,
            logins: i % 2,
            login_refusals: u64::from(i == 4),
        })
        .collect();
    let camera: camproof_results::Latencies = (0..200).map(|i| 15_000 + i * 700).collect();
    let live: camproof_results::Latencies = (0..50).map(|i| 40_000 + i * 3_000).collect();
    RunReport {
        schema: RUN_SCHEMA.into(),
        scenario: "zone-split".into(),
        file: "tests/data/zone-split.toml".into(),
        seed: 7,
        verdict: "fail (no-acked-write-lost)".into(),
        failures: vec![CheckFailure {
            check: "no-acked-write-lost".into(),
            detail: "apac: acknowledged write <user0@site1.example> & \"friends\" lost".into(),
            at_seconds: Some(41.5),
        }],
        checks: vec![
            check("liveness", CheckStatus::Pass, ""),
            check("one-leader-per-term", CheckStatus::Pass, ""),
            check("no-acked-write-lost", CheckStatus::Fail, ""),
            check("erasure", CheckStatus::Pass, ""),
            check("residency", CheckStatus::Pass, ""),
            check("no-plaintext-secret", CheckStatus::Pass, ""),
            check(
                "no-credential-breach",
                CheckStatus::NotMade,
                "no credential-stuffing attack in this scenario",
            ),
        ],
        reproduce:
            "camproof sweep tests/data/zone-split.toml --seeds 7 --plant ack-before-replication"
                .into(),
        cameras: 4,
        cameras_online: 4,
        online_by_region: BTreeMap::from([
            (
                "apac".into(),
                RegionOnline {
                    online: 2,
                    cameras: 2,
                },
            ),
            (
                "eu-africa".into(),
                RegionOnline {
                    online: 2,
                    cameras: 2,
                },
            ),
        ]),
        offline_cameras: Vec::new(),
        epoch_seconds: EPOCH,
        simulated_seconds: 40.0,
        wall_seconds: 1.25,
        frame_latency_p50_us: Some(24_000),
        frame_latency_p99_us: Some(131_000),
        live_latency_p50_us: None,
        live_latency_p99_us: None,
        counters: Counters {
            fleet: FleetStats {
                connect_attempts: 9,
                heartbeats_acked: 16,
                frames_sent: 1_500,
                ..Default::default()
            },
            gateways: GatewayStats {
                handshakes: 6,
                resumptions: 2,
                video_frames: 1_440,
                video_bytes: 5_898_240,
                failures: BTreeMap::from([("handshake-timeout".into(), 1)]),
                ..Default::default()
            },
            viewers: Default::default(),
            signaling: Default::default(),
            ota: None,
            store: Default::default(),
            relay: Default::default(),
            wire: WireStats {
                scanned: true,
                secrets: 12,
                segments: 3_456,
                bytes: 6_000_000,
                leaks: vec![Leak {
                    at: Duration::from_millis(12_500),
                    secret: "password of user0@site1.example".into(),
                    from: "site-apac-1".into(),
                    to: "gw-apac-1".into(),
                }],
            },
            attacks: AttackSummary {
                hosts: 2,
                stuffing: StuffingStats {
                    attempts: 40,
                    outcomes: BTreeMap::from([
                        ("account-locked".into(), 10),
                        ("wrong-credentials".into(), 30),
                    ]),
                    breaches: vec![],
                },
                replay: ReplayStats {
                    flows: BTreeMap::from([("device-hello".into(), 3), ("app-hello".into(), 2)]),
                    flows_after_rekey: 1,
                    replays: BTreeMap::from([("as-is".into(), 5), ("bit-flipped".into(), 5)]),
                    outcomes: BTreeMap::from([("refused-hello".into(), 10)]),
                    cameras: OnPathStats {
                        tampered: BTreeMap::from([("replayed".into(), 2)]),
                        outcomes: BTreeMap::from([
                            ("replayed accepted".into(), 1),
                            ("replayed refused".into(), 1),
                        ]),
                        accepted: 1,
                        findings: vec![
                            "a camera at site-apac-0 took an altered record (replayed) from <gw-apac-1:7443>, 31.0 s into the run".into(),
                        ],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                rogue: RogueStats {
                    redirected: 4,
                    sessions: 4,
                    offered: BTreeMap::from([("unsigned".into(), 4)]),
                    refused: BTreeMap::from([("unsigned: bad_signature".into(), 4)]),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        faults: vec![
            FaultEntry {
                at_seconds: 1.0,
                action: "Partition(\"gw-apac-1\", \"gw-apac-2\")".into(),
            },
            FaultEntry {
                at_seconds: 1.0,
                action: "Partition(\"gw-apac-1\", \"gw-apac-3\")".into(),
            },
            FaultEntry {
                at_seconds: 5.0,
                action: "Crash(\"site-eu-africa-0\")".into(),
            },
            FaultEntry {
                at_seconds: 20.0,
                action: "Restart(\"site-eu-africa-0\")".into(),
            },
        ],
        alerts: vec![AlertEntry {
            kind: "ServiceNotRunning".into(),
            host: "site-eu-africa-0".into(),
            service: "cameras".into(),
            began_us: (EPOCH + 5) * 1_000_000,
            fired_us: (EPOCH + 10) * 1_000_000,
            resolved_us: Some((EPOCH + 25) * 1_000_000),
            detail: "no heartbeat for 5 s <script>alert(1)</script>".into(),
        }],
        timeline,
        latency_histogram: LatencyHistogram::from_samples(&camera, &live),
        capture: Some(CaptureInfo {
            file: "capture.pcap".into(),
            hosts: vec!["gw-apac-1".into()],
            segments: 321,
            flows: 6,
        }),
        trace_events: 9_876,
        trace_sha256: "ab".repeat(32),
        dropped: Vec::new(),
    }
}

fn sweep_report() -> SweepReport {
    let run = |seed: u64, fail: bool| {
        SeedRun {
        seed,
        verdict: if fail { "fail" } else { "pass" }.into(),
        failures: if fail {
            vec![
                "no-acked-write-lost: apac: acknowledged write 17 lost".into(),
                "liveness: 3/4 cameras online at the end".into(),
            ]
        } else {
            vec![]
        },
        trace_hash: format!("{seed:02x}").repeat(32),
        wall_seconds: 0.5 + seed as f64 / 10.0,
        reproduce: format!(
            "camproof sweep tests/data/zone-split.toml --seeds {seed} --plant ack-before-replication"
        ),
    }
    };
    let mut s = SweepReport {
        schema: SWEEP_SCHEMA.into(),
        scenario: "zone-split".into(),
        file: "tests/data/zone-split.toml".into(),
        plant: Some("ack-before-replication".into()),
        shards: vec!["1/2".into(), "2/2".into()],
        runs: vec![run(3, false), run(1, true), run(2, false), run(4, false)],
        passed: 0,
        failed: 0,
        wall_seconds: 3.5,
        shrunk: BTreeMap::from([(1, "out/zone-split-shrunk-seed1.toml".into())]),
        seed_range: Some([1, 4]),
        missing_shards: Vec::new(),
        missing_seeds: Vec::new(),
        overrides: String::new(),
        version: "camproof 0.1.0 (0123456789ab)".into(),
        interrupted: false,
    };
    s.tally();
    s
}

/// Every element closes and every name matches: a browser and a CI parser read it.
fn well_formed(xml: &str) -> usize {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return elements,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!(
                "not well-formed at {}: {e}\n{xml}",
                reader.buffer_position()
            ),
        }
    }
}

fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg ")
        .map(|(at, _)| {
            let end = html[at..].find("</svg>").expect("a closed svg") + at + "</svg>".len();
            &html[at..end]
        })
        .collect()
}

#[test]
fn run_markdown_is_pinned() {
    insta::assert_snapshot!(render_run_markdown(&run_report()));
}

#[test]
fn run_junit_is_pinned_and_has_one_case_per_check() {
    let xml = render_run_junit(&run_report());
    well_formed(&xml);
    let totals = junit_shape::check(&xml).unwrap();
    assert_eq!((totals.tests, totals.failures, totals.skipped), (7, 1, 1));
    assert!(xml.contains("<failure type=\"no-acked-write-lost\" message=\"apac: "));
    assert!(xml.contains("\n\nreproduce: camproof sweep tests/data/zone-split.toml --seeds 7 "));
    junit_shape::planted_faults_are_refused(&xml);
    insta::assert_snapshot!(xml);
}

#[test]
fn run_html_is_pinned_self_contained_and_escaped() {
    let html = render_run_html(&run_report());
    for banned in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let charts = svgs(&html);
    assert_eq!(charts.len(), 3, "timeline, latency, histogram");
    for svg in charts {
        assert!(well_formed(svg) > 10);
    }
    // Fault markers, two at the same time, and the alert.
    for label in [">F1<", ">F2<", ">F4<", ">A1<"] {
        assert!(html.contains(label), "{label}");
    }
    insta::assert_snapshot!(html);
}

/// The run's first violation by time is V1 on the timeline: a solid line labelled with
/// its check, told in words above the chart and in the Markdown; the cameras offline at
/// the end are listed site by site and kept through JSON.
#[test]
fn the_first_violation_is_marked_and_the_offline_cameras_listed() {
    let mut r = run_report();
    r.verdict = "fail (no-acked-write-lost, liveness, one-leader-per-term)".into();
    r.cameras_online = 3;
    r.failures.push(CheckFailure {
        check: "liveness".into(),
        detail: "3/4 cameras online at the end; offline: site-apac-1 (apac): CAM-00000003 \
                 offline since 15s"
            .into(),
        at_seconds: Some(40.0),
    });
    r.failures.push(CheckFailure {
        check: "one-leader-per-term".into(),
        detail: "apac: two leaders in term 3: gw-apac-1 from 11.000 s and gw-apac-2 from \
                 12.000 s"
            .into(),
        at_seconds: Some(12.0),
    });
    r.offline_cameras = vec![OfflineCamera {
        camera: "CAM-00000003".into(),
        site: "site-apac-1".into(),
        region: "apac".into(),
        since_seconds: Some(15.0),
    }];
    let first = r.first_violation().expect("a violation");
    assert_eq!(first.check, "one-leader-per-term");

    let html = render_run_html(&r);
    let timeline = svgs(&html)[0];
    // V1 is the earliest (12 s), drawn solid and thick; the later ones stay dashed.
    let v1 = timeline
        .split("<g>")
        .find(|g| g.contains(">V1 first violation: one-leader-per-term</text>"))
        .expect("the first violation's marker");
    assert!(
        v1.contains("stroke-width=\"3\"/>") && !v1.contains("dasharray"),
        "{v1}"
    );
    assert!(
        v1.contains(
            "<title>V1 at 12 s: one-leader-per-term, the run&#39;s first violation</title>"
        ),
        "{v1}"
    );
    for later in [">V2<", ">V3<"] {
        assert!(timeline.contains(later), "{later}");
    }
    assert_eq!(timeline.matches("stroke-width=\"3\"").count(), 1);
    assert!(
        html.contains(
            "<p><strong>First violation</strong> (V1): <code>one-leader-per-term</code> at 12 s \
             &mdash; apac: two leaders in term 3: gw-apac-1 from 11.000 s"
        ),
        "{html}"
    );
    assert!(html.contains(
        "<tr><td><code>site-apac-1</code></td><td>apac</td><td><code>CAM-00000003</code></td>\
         <td class=\"n\">15 s</td></tr>"
    ));

    let md = render_run_markdown(&r);
    assert!(
        md.contains(
            "- **First violation:** `one-leader-per-term` at 12 s: apac: two leaders in term 3"
        ),
        "{md}"
    );

    // Kept through JSON; a report without them (older, or every camera online) reads.
    let json = &run_files(&r).unwrap()[0].1;
    assert!(json.contains("\"offline_cameras\""));
    assert_eq!(
        SavedReport::parse(json).unwrap(),
        SavedReport::Run(Box::new(r))
    );
    let all_online = &run_files(&run_report()).unwrap()[0].1;
    assert!(!all_online.contains("offline_cameras"));
}

#[test]
fn run_report_round_trips_through_json() {
    let r = run_report();
    let files = run_files(&r).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["result.json", "report.md", "report.html", "junit.xml"]
    );
    let json = &files[0].1;
    assert!(json.contains("\"schema\": \"camproof.run/3\""));
    let back = SavedReport::parse(json).unwrap();
    assert_eq!(back, SavedReport::Run(Box::new(r.clone())));
    assert_eq!(back.files().unwrap().len(), 3);
    let old = SavedReport::parse("{\"schema\": \"camproof.run/1\"}").unwrap_err();
    assert!(old.to_string().contains("camproof.run/1"), "{old}");
    assert!(SavedReport::parse("[1, 2]").is_err());
    assert!(SavedReport::parse("{\"schema\": \"camproof.run/3\"}").is_err());
    // A file written before the replay and rogue counters still reads, with zeros.
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    let attacks = value["attacks"].as_object_mut().unwrap();
    assert!(attacks.remove("replay").is_some() && attacks.remove("rogue").is_some());
    let SavedReport::Run(earlier) = SavedReport::parse(&value.to_string()).unwrap() else {
        panic!("a run report");
    };
    assert_eq!(earlier.counters.attacks.replay, ReplayStats::default());
    assert_eq!(earlier.counters.attacks.rogue, RogueStats::default());
    assert_eq!(
        earlier.counters.attacks.stuffing,
        r.counters.attacks.stuffing
    );
}

#[test]
fn sweep_reports_are_pinned() {
    let s = sweep_report();
    assert_eq!((s.passed, s.failed), (3, 1));
    let xml = render_sweep_junit(&s);
    well_formed(&xml);
    // A suite per seed: seed 1's two failed checks and the rest of it, and one case
    // for each passing seed.
    let totals = junit_shape::check(&xml).unwrap();
    assert_eq!((totals.suites, totals.tests, totals.failures), (4, 6, 2));
    assert!(xml.contains("<testsuite name=\"zone-split seed 1\" tests=\"3\" failures=\"2\""));
    assert!(xml.contains("<failure type=\"liveness\" message=\"3/4 cameras online at the end\">"));
    junit_shape::planted_faults_are_refused(&xml);
    insta::assert_snapshot!("sweep_junit", xml);
    insta::assert_snapshot!("sweep_markdown", render_sweep_markdown(&s));
    let html = render_sweep_html(&s);
    for svg in svgs(&html) {
        well_formed(svg);
    }
    insta::assert_snapshot!("sweep_html", html);
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(
        SavedReport::parse(&json).unwrap(),
        SavedReport::Sweep(Box::new(s))
    );
}
