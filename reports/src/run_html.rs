//! The HTML page of a run or a sweep: one self-contained file, inline CSS and SVG, no
//! scripts, fonts or other files.

use std::fmt::Write as _;

use crate::html::esc;
use crate::svg::{bar_chart, time_chart, Marker, Series};
use crate::units::{bucket_label, ms, secs};
use camproof_results::{CheckStatus, RunReport, SweepReport, LATENCY_BUCKETS_US};

const STYLE: &str =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;\
max-width:72em;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%;margin:.6em 0}\
td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.v{padding:0 .45em;border-radius:.3em;font-weight:bold;white-space:nowrap}\
.pass{background:#c8f0c8}.fail{background:#f6b8b8}.skip{background:#e4e4e4}\
code{font-size:.9em;word-break:break-all}\
.chart{width:100%;height:auto;border:1px solid #ddd;margin:.4em 0}\
.note{color:#666}";

fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title>\n<style>{STYLE}</style></head><body>\n",
        t = esc(title)
    );
}

fn badge(pass: bool) -> &'static str {
    if pass {
        "<span class=\"v pass\">pass</span>"
    } else {
        "<span class=\"v fail\">FAIL</span>"
    }
}

fn check_badge(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "<span class=\"v pass\">pass</span>",
        CheckStatus::Fail => "<span class=\"v fail\">FAIL</span>",
        CheckStatus::NotMade => "<span class=\"v skip\">not made</span>",
    }
}

fn kv(h: &mut String, k: &str, v: &str) {
    let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fault and alert markers of the timeline charts.
fn markers(r: &RunReport) -> Vec<Marker> {
    let mut out: Vec<Marker> = r
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| Marker {
            x: f.at_seconds,
            label: format!("F{}", i + 1),
            title: format!("F{} at {}: {}", i + 1, secs(f.at_seconds), f.action),
            color: "#c0392b",
            top: true,
            strong: false,
        })
        .collect();
    out.extend(r.alerts.iter().enumerate().map(|(i, a)| {
        let at = r.since_start(a.fired_us);
        Marker {
            x: at,
            label: format!("A{}", i + 1),
            title: format!(
                "A{} fired at {}: {} on {} ({})",
                i + 1,
                secs(at),
                a.kind,
                a.host,
                a.service
            ),
            color: "#d68910",
            top: false,
            strong: false,
        }
    }));
    // The first time each failed check was seen violated, numbered in time order: V1,
    // the run's first violation, drawn solid with its check's name.
    let mut first: Vec<(f64, &str)> = Vec::new();
    for f in &r.failures {
        if let Some(at) = f.at_seconds {
            if !first.iter().any(|(_, c)| *c == f.check) {
                first.push((at, &f.check));
            }
        }
    }
    first.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.extend(first.iter().enumerate().map(|(i, (at, check))| {
        let n = i + 1;
        Marker {
            x: *at,
            label: if n == 1 {
                format!("V1 first violation: {check}")
            } else {
                format!("V{n}")
            },
            title: if n == 1 {
                format!("V1 at {}: {check}, the run's first violation", secs(*at))
            } else {
                format!("V{n} at {}: {check} first seen violated", secs(*at))
            },
            color: "#7d3c98",
            top: n == 1,
            strong: n == 1,
        }
    }));
    out
}

/// Rows the table of cameras offline at the end shows; `result.json` has them all.
const OFFLINE_ROWS: usize = 500;

/// The cameras without a session at the end, site by site, with since when.
fn offline_cameras(h: &mut String, r: &RunReport) {
    let all = &r.offline_cameras;
    if all.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Cameras offline at the end</h2>\n<details><summary>{} cameras, site by site</summary>\n<table><tr><th>Site</th><th>Region</th><th>Camera</th><th>Offline since</th></tr>",
        all.len()
    );
    for c in all.iter().take(OFFLINE_ROWS) {
        let since = c
            .since_seconds
            .map_or("never seen online".to_string(), secs);
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
            esc(&c.site),
            esc(&c.region),
            esc(&c.camera),
            esc(&since)
        );
    }
    h.push_str("</table>");
    if all.len() > OFFLINE_ROWS {
        let _ = write!(
            h,
            "<p class=\"note\">The first {OFFLINE_ROWS}; <code>offline_cameras</code> in result.json lists all {}.</p>",
            all.len()
        );
    }
    h.push_str("</details>\n");
}

/// The run's first violation, in words, for the top of the timeline.
fn first_violation(r: &RunReport) -> Option<String> {
    let f = r.first_violation()?;
    let when = f.at_seconds.map_or("at an unknown time".to_string(), |at| {
        format!("at {}", secs(at))
    });
    Some(format!(
        "<p><strong>First violation</strong> (V1): <code>{}</code> {} &mdash; {}</p>\n",
        esc(&f.check),
        esc(&when),
        esc(&f.detail)
    ))
}

/// Renders a run report as one self-contained HTML page with SVG charts.
pub fn render_run_html(r: &RunReport) -> String {
    let mut h = String::new();
    head(
        &mut h,
        &format!("camproof run {} seed {}", r.scenario, r.seed),
    );
    let _ = writeln!(
        h,
        "<h1>camproof run: {} (seed {}) {}</h1>",
        esc(&r.scenario),
        r.seed,
        badge(r.passed())
    );
    h.push_str("<table>\n");
    kv(&mut h, "Verdict", &r.verdict);
    let _ = writeln!(
        h,
        "<tr><th>Reproduce</th><td><code>{}</code></td></tr>",
        esc(&r.reproduce)
    );
    kv(&mut h, "Scenario file", &r.file);
    let regions: Vec<String> = r
        .online_by_region
        .iter()
        .map(|(k, v)| format!("{k} {}/{}", v.online, v.cameras))
        .collect();
    kv(
        &mut h,
        "Cameras online at the end",
        &format!(
            "{}/{} ({})",
            r.cameras_online,
            r.cameras,
            regions.join(", ")
        ),
    );
    kv(
        &mut h,
        "Simulated time",
        &format!(
            "{} ({} wall clock)",
            secs(r.simulated_seconds),
            secs(r.wall_seconds)
        ),
    );
    kv(
        &mut h,
        "Sessions",
        &format!(
            "{} full handshakes, {} resumed; {} connect attempts; {} heartbeats acknowledged",
            r.counters.gateways.handshakes,
            r.counters.gateways.resumptions,
            r.counters.fleet.connect_attempts,
            r.counters.fleet.heartbeats_acked
        ),
    );
    kv(
        &mut h,
        "Video",
        &format!(
            "{} of {} frames reached a gateway ({} bytes); latency p50 {}, p99 {}",
            r.counters.gateways.video_frames,
            r.counters.fleet.frames_sent,
            r.counters.gateways.video_bytes,
            ms(r.frame_latency_p50_us),
            ms(r.frame_latency_p99_us)
        ),
    );
    let v = &r.counters.viewers;
    kv(
        &mut h,
        "Viewers",
        &format!(
            "{} sign-ins ({} refused); {} live views, {} frames verified end to end, {} rejected, {} lost; latency p50 {}, p99 {}",
            v.logins,
            v.login_refusals.values().sum::<u64>(),
            v.live_views,
            v.frames_verified,
            v.frames_rejected.values().sum::<u64>(),
            v.frames_lost,
            ms(r.live_latency_p50_us),
            ms(r.live_latency_p99_us)
        ),
    );
    kv(
        &mut h,
        "Relay",
        &format!(
            "{} frames in, {} out, {} dropped; longest held {}",
            r.counters.relay.core.frames_in,
            r.counters.relay.core.frames_out,
            r.counters.relay.core.dropped_overflow + r.counters.relay.core.dropped_expired,
            ms(Some(r.counters.relay.max_held_us))
        ),
    );
    kv(
        &mut h,
        "Store",
        &format!(
            "{} records acknowledged in {} batches, {} retried; {} leaders; {} accounts erased",
            r.counters.store.writes_acked,
            r.counters.store.batches_acked,
            r.counters.store.writes_failed,
            r.counters.store.leaders,
            r.counters.signaling.erasures
        ),
    );
    if let Some(o) = &r.counters.ota {
        kv(
            &mut h,
            "OTA",
            &format!(
                "{} offered, {} installed, {} refused, {} failed, {} interrupted; firmware: {}",
                o.offered,
                o.installed,
                o.refused,
                o.failed,
                r.counters.fleet.ota_interrupted,
                counts(&r.counters.fleet.firmware)
            ),
        );
    }
    let w = &r.counters.wire;
    kv(
        &mut h,
        "Wire",
        &if w.scanned {
            format!(
                "{} segments, {} bytes; scanned for {} secrets: {} found in clear",
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
        let _ = writeln!(
            h,
            "<tr><th>Capture</th><td>{} segments of {} TCP flows to and from {}: <a href=\"{f}\"><code>{f}</code></a> (open with Wireshark or <code>tshark -r {f}</code>)</td></tr>",
            c.segments,
            c.flows,
            esc(&c.hosts.join(", ")),
            f = esc(&c.file)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>Trace</th><td>{} events, sha256 <code>{}</code></td></tr>",
        r.trace_events,
        esc(&r.trace_sha256)
    );
    h.push_str("</table>\n");

    // Checks first: what a reader comes for.
    h.push_str("<h2>Checks</h2>\n<table><tr><th>Check</th><th>Result</th><th>Detail</th></tr>\n");
    for c in &r.checks {
        let details: Vec<String> = r
            .failures
            .iter()
            .filter(|f| f.check == c.name)
            .map(|f| esc(&f.detail))
            .collect();
        let detail = if details.is_empty() {
            format!("<span class=\"note\">{}</span>", esc(&c.note))
        } else {
            details.join("<br>")
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{detail}</td></tr>",
            esc(&c.name),
            check_badge(c.status)
        );
    }
    h.push_str("</table>\n");

    // Charts.
    let marks = markers(r);
    h.push_str("<h2>Timeline</h2>\n");
    h.push_str(&first_violation(r).unwrap_or_default());
    if r.timeline.is_empty() {
        h.push_str(
            "<p class=\"note\">No samples (the run was shorter than one sampling interval).</p>\n",
        );
    } else {
        h.push_str("<p class=\"note\">Dashed lines: faults (F, red, top), alerts firing (A, orange, bottom) and checks first seen violated (V, purple, in time order); the solid purple line is the first violation; hover for details.</p>\n");
        let online = Series {
            label: "cameras online",
            color: "#2471a3",
            points: r
                .timeline
                .iter()
                .map(|p| (p.at.as_secs_f64(), Some(p.cameras_online as f64)))
                .collect(),
        };
        h.push_str(&time_chart(
            "Cameras online, faults and alerts",
            r.simulated_seconds,
            "",
            &[online],
            &marks,
        ));
        h.push('\n');
        let lat =
            |f: fn(&camproof_results::TimelineSample) -> Option<std::time::Duration>| -> Vec<(f64, Option<f64>)> {
                r.timeline
                    .iter()
                    .map(|p| (p.at.as_secs_f64(), f(p).map(|d| d.as_micros() as f64 / 1000.0)))
                    .collect()
            };
        let p50 = Series {
            label: "frame latency p50",
            color: "#1e8449",
            points: lat(|p| p.latency_p50),
        };
        let p99 = Series {
            label: "frame latency p99",
            color: "#884ea0",
            points: lat(|p| p.latency_p99),
        };
        if p50.points.iter().any(|(_, y)| y.is_some()) {
            h.push_str(&time_chart(
                "Camera-to-gateway frame latency per 5 s (ms)",
                r.simulated_seconds,
                " ms",
                &[p50, p99],
                &marks,
            ));
            h.push('\n');
        } else {
            h.push_str("<p class=\"note\">No video frames: no latency to chart.</p>\n");
        }
    }
    h.push_str("<h2>Frame latency histogram</h2>\n");
    if r.latency_histogram.is_empty() {
        h.push_str("<p class=\"note\">No frame latencies were measured.</p>\n");
    } else {
        let last = LATENCY_BUCKETS_US[LATENCY_BUCKETS_US.len() - 1];
        let buckets = &r.latency_histogram.buckets;
        // Only the span that has samples, so the bars stay wide.
        let used = |b: &&camproof_results::LatencyBucket| b.camera + b.live > 0;
        let first = buckets.iter().position(|b| used(&b)).unwrap_or(0);
        let end = buckets.iter().rposition(|b| used(&b)).map_or(0, |i| i + 1);
        let shown = &buckets[first..end.max(first)];
        let cats: Vec<String> = shown.iter().map(|b| bucket_label(b.le_us, last)).collect();
        h.push_str(&bar_chart(
            "Frame latency histogram",
            "latency (upper bound of the bucket)",
            &cats,
            &[
                (
                    "camera → gateway",
                    "#2471a3",
                    shown.iter().map(|b| b.camera).collect(),
                ),
                (
                    "capture → viewer",
                    "#d68910",
                    shown.iter().map(|b| b.live).collect(),
                ),
            ],
            false,
        ));
        h.push('\n');
    }

    offline_cameras(&mut h, r);
    h.push_str("<h2>Faults</h2>\n");
    if r.faults.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<table><tr><th>#</th><th>At</th><th>Action</th></tr>\n");
        for (i, f) in r.faults.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td>F{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                i + 1,
                esc(&secs(f.at_seconds)),
                esc(&f.action)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Alerts</h2>\n");
    if r.alerts.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<table><tr><th>#</th><th>Alert</th><th>Host</th><th>Service</th><th>Cause began</th><th>Fired</th><th>Resolved</th><th>Detail</th></tr>\n");
        for (i, a) in r.alerts.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td>A{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                i + 1,
                esc(&a.kind),
                esc(&a.host),
                esc(&a.service),
                esc(&secs(r.since_start(a.began_us))),
                esc(&secs(r.since_start(a.fired_us))),
                esc(&a
                    .resolved_us
                    .map(|t| secs(r.since_start(t)))
                    .unwrap_or_else(|| "no".into())),
                esc(&a.detail)
            );
        }
        h.push_str("</table>\n");
    }
    let a = &r.counters.attacks;
    if a.hosts > 0 {
        let _ = writeln!(
            h,
            "<h2>Attacks</h2>\n<p>{} attacker hosts.</p>\n<table><tr><th>Attack</th><th>Counters</th></tr>",
            a.hosts
        );
        kv(
            &mut h,
            "Credential stuffing",
            &format!(
                "{} leaked pairs tried: {}; {} breaches",
                a.stuffing.attempts,
                counts(&a.stuffing.outcomes),
                a.stuffing.breaches.len()
            ),
        );
        kv(
            &mut h,
            "Botnet",
            &format!(
                "{} connections ({}); refused: {}; went along: {}; unanswered: {}",
                a.botnet.attempts.values().sum::<u64>(),
                counts(&a.botnet.attempts),
                counts(&a.botnet.refused),
                counts(&a.botnet.accepted),
                counts(&a.botnet.unanswered)
            ),
        );
        kv(
            &mut h,
            "Cross-tenant probing",
            &format!(
                "{} sign-ins; probes: {}; refused: {}; own stream admitted {} times; {} breaches",
                a.probing.sign_ins,
                counts(&a.probing.probes),
                counts(&a.probing.refused),
                a.probing.own_admitted,
                a.probing.breaches.len()
            ),
        );
        let r = &a.replay;
        if !r.replays.is_empty() {
            kv(
                &mut h,
                "Replay at the platform",
                &format!(
                    "{} recorded connections ({}; {} after a rekey, {} failed over); replays: {}; gateways: {}; {} accepted",
                    r.flows.values().sum::<u64>(),
                    counts(&r.flows),
                    r.flows_after_rekey,
                    r.flows_failed_over,
                    counts(&r.replays),
                    counts(&r.outcomes),
                    r.accepted
                ),
            );
        }
        let c = &r.cameras;
        if !c.tampered.is_empty() {
            kv(
                &mut h,
                "Replay at cameras",
                &format!(
                    "{} sessions altered ({} after a rekey, {} failed over): {}; cameras: {}; {} accepted",
                    c.tampered.values().sum::<u64>(),
                    c.after_rekey,
                    c.failed_over,
                    counts(&c.tampered),
                    counts(&c.outcomes),
                    c.accepted
                ),
            );
        }
        let g = &a.rogue;
        if g.redirected > 0 {
            kv(
                &mut h,
                "Rogue firmware",
                &format!(
                    "{} connections redirected, {} camera sessions; offered: {}; refused: {}; installed: {}; on rogue firmware at the end: {}",
                    g.redirected,
                    g.sessions,
                    counts(&g.offered),
                    counts(&g.refused),
                    counts(&g.installed),
                    counts(&g.running)
                ),
            );
        }
        for f in r.findings.iter().chain(&c.findings) {
            kv(&mut h, "Finding", f);
        }
        kv(
            &mut h,
            "Real users during attacks",
            &format!(
                "{} sign-ins; refused: {}",
                a.legit.ok,
                counts(&a.legit.refused)
            ),
        );
        h.push_str("</table>\n");
    }
    if !w.leaks.is_empty() {
        h.push_str("<h2>Secrets in clear on the wire</h2>\n<table><tr><th>At</th><th>Secret</th><th>From</th><th>To</th></tr>\n");
        for l in &w.leaks {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&secs(l.at.as_secs_f64())),
                esc(&l.secret),
                esc(&l.from),
                esc(&l.to)
            );
        }
        h.push_str("</table>\n");
    }
    if !r.timeline.is_empty() {
        h.push_str("<details><summary>Timeline samples</summary>\n<table><tr><th>At</th><th>Cameras online</th><th>Frames</th><th>Latency p50</th><th>p99</th><th>Live frames</th><th>Sign-ins</th><th>Refused</th></tr>\n");
        for p in &r.timeline {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&secs(p.at.as_secs_f64())),
                p.cameras_online,
                p.frames,
                esc(&ms(p.latency_p50.map(|d| d.as_micros() as u64))),
                esc(&ms(p.latency_p99.map(|d| d.as_micros() as u64))),
                p.live_frames,
                p.logins,
                p.login_refusals
            );
        }
        h.push_str("</table></details>\n");
    }
    h.push_str("<details><summary>Every counter</summary>\n<table><tr><th>Component</th><th>Counter</th><th>Value</th></tr>\n");
    for c in crate::counters::counter_rows(r) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            c.component,
            esc(&c.counter),
            esc(&c.value)
        );
    }
    h.push_str("</table></details>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">{} &middot; <code>camproof report render result.json</code> renders this page again.</p>",
        esc(&r.schema)
    );
    h.push_str("</body></html>\n");
    h
}

/// Renders a sweep report as one self-contained HTML page: totals, failures with their
/// reproduce commands, every seed, and a chart of wall time per seed.
pub fn render_sweep_html(s: &SweepReport) -> String {
    let mut h = String::new();
    head(&mut h, &format!("camproof sweep {}", s.scenario));
    let _ = writeln!(
        h,
        "<h1>camproof sweep: {} {}</h1>",
        esc(&s.scenario),
        badge(s.failed == 0)
    );
    h.push_str("<table>\n");
    kv(
        &mut h,
        "Seeds",
        &format!(
            "{} passed, {} failed of {}",
            s.passed,
            s.failed,
            s.runs.len()
        ),
    );
    kv(&mut h, "Scenario file", &s.file);
    if let Some(p) = &s.plant {
        kv(&mut h, "Planted bug", p);
    }
    kv(&mut h, "Shards", &s.shards.join(", "));
    kv(&mut h, "Wall time", &secs(s.wall_seconds));
    for (seed, path) in &s.shrunk {
        kv(&mut h, &format!("Shrunk seed {seed}"), path);
    }
    h.push_str("</table>\n");
    let failing: Vec<_> = s.runs.iter().filter(|r| r.verdict != "pass").collect();
    if !failing.is_empty() {
        h.push_str("<h2>Failures</h2>\n");
        for r in failing {
            let _ = write!(h, "<h3>seed {}</h3>\n<ul>", r.seed);
            for f in &r.failures {
                let _ = write!(h, "<li>{}</li>", esc(f));
            }
            let _ = writeln!(
                h,
                "</ul>\n<p>Reproduce: <code>{}</code></p>",
                esc(&r.reproduce)
            );
        }
    }
    if !s.runs.is_empty() && s.runs.len() <= 200 {
        h.push_str("<h2>Wall time per seed</h2>\n");
        let cats: Vec<String> = s.runs.iter().map(|r| r.seed.to_string()).collect();
        let wall_ms = |pass: bool| -> Vec<u64> {
            s.runs
                .iter()
                .map(|r| {
                    if (r.verdict == "pass") == pass {
                        (r.wall_seconds * 1000.0).round() as u64
                    } else {
                        0
                    }
                })
                .collect()
        };
        h.push_str(&bar_chart(
            "Wall time per seed (ms)",
            "seed",
            &cats,
            &[
                ("passed (ms)", "#27ae60", wall_ms(true)),
                ("failed (ms)", "#c0392b", wall_ms(false)),
            ],
            true,
        ));
        h.push('\n');
    }
    h.push_str("<h2>Seeds</h2>\n<table><tr><th>Seed</th><th>Verdict</th><th>Failed checks</th><th>Trace sha256</th><th>Wall</th><th>Reproduce</th></tr>\n");
    for r in &s.runs {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td><code title=\"{}\">{}</code></td><td class=\"n\">{:.2} s</td><td><code>{}</code></td></tr>",
            r.seed,
            badge(r.verdict == "pass"),
            esc(&r.checks().join(", ")),
            esc(&r.trace_hash),
            esc(&r.trace_hash.chars().take(16).collect::<String>()),
            r.wall_seconds,
            esc(&r.reproduce)
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">{} &middot; <code>camproof report render sweep.json</code> renders this page again.</p>",
        esc(&s.schema)
    );
    h.push_str("</body></html>\n");
    h
}
