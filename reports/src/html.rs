//! The HTML report: one self-contained page, no scripts.

use std::fmt::Write as _;

use camproof_conformance::outcome::Verdict;

use crate::model::Report;

/// Escapes `s` for HTML and SVG text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(v: Verdict) -> String {
    format!("<span class=\"v {0}\">{0}</span>", v.as_str())
}

/// Renders `report` as a standalone HTML page; `signed_by` is the signing key's
/// fingerprint, shown so a reader can check it against the published one.
pub fn render_html(report: &Report, signed_by: &str) -> String {
    let mut h = String::new();
    let d = &report.dut;
    let r = &report.run;
    let s = &report.summary;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>camproof certification: {name}</title>\n<style>\
body{{font-family:system-ui,sans-serif;margin:2em;max-width:75em}}\
table{{border-collapse:collapse;width:100%;margin:1em 0}}\
td,th{{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}}\
.v{{padding:0 .4em;border-radius:.3em;font-weight:bold}}\
.pass{{background:#c8f0c8}}.fail{{background:#f6b8b8}}.skip{{background:#e4e4e4}}\
.blocked{{background:#f3ddb0}}.error{{background:#f0c0f0}}\
code{{font-size:.9em;word-break:break-all}}\
</style></head><body>\n<h1>Certification report: {name}</h1>\n",
        name = esc(&d.name)
    );
    let _ = writeln!(
        h,
        "<p><b>Result: {result}</b> &mdash; {pass} passed, {fail} failed, {blocked} blocked, {error} errors, {skip} skipped.</p>",
        result = esc(&s.result),
        pass = s.pass,
        fail = s.fail,
        blocked = s.blocked,
        error = s.error,
        skip = s.skip
    );
    h.push_str("<table>\n");
    for (k, v) in [
        ("Vendor", d.vendor.as_str()),
        ("Model", d.model.as_str()),
        ("Firmware version", d.firmware_version.as_str()),
        ("Firmware image SHA-256", d.firmware_image_sha256.as_str()),
        ("DUT", d.target.as_str()),
        ("Mode", r.mode.as_str()),
        ("Harness", r.harness.as_str()),
        ("Reproduce", r.command.as_str()),
        ("Signed by key", signed_by),
    ] {
        let _ = writeln!(h, "<tr><th>{k}</th><td><code>{}</code></td></tr>", esc(v));
    }
    let _ = writeln!(
        h,
        "<tr><th>Seed</th><td>{}</td></tr><tr><th>Duration</th><td>{} ms wall clock, {} ms simulated</td></tr>",
        r.seed, r.wall_ms, r.simulated_ms
    );
    h.push_str("</table>\n<h2>Cases</h2>\n<table><tr><th>Case</th><th>Verdict</th><th>Requirements</th><th>Purpose and result</th><th>ms</th></tr>\n");
    for c in &report.cases {
        let _ = write!(
            h,
            "<tr id=\"{id}\"><td><code>{id}</code></td><td>{v}</td><td>{reqs}</td><td>{purpose}<br><i>{summary}</i>",
            id = esc(&c.id),
            v = badge(c.verdict),
            reqs = esc(&c.requirements.join(", ")),
            purpose = esc(&c.purpose),
            summary = esc(&c.summary)
        );
        if !c.explanation.is_empty() {
            let _ = write!(h, "<p><b>Fix:</b> {}</p>", esc(&c.explanation));
        }
        if !c.evidence.is_empty() {
            h.push_str("<ul>");
            for e in &c.evidence {
                let _ = write!(
                    h,
                    "<li>{}: <code>{}</code></li>",
                    esc(&e.label),
                    esc(&e.value)
                );
            }
            h.push_str("</ul>");
        }
        if !c.rerun.is_empty() {
            let _ = write!(h, "<p>Re-run: <code>{}</code></p>", esc(&c.rerun));
        }
        let _ = writeln!(h, "</td><td>{}</td></tr>", c.duration_us / 1000);
    }
    h.push_str("</table>\n<h2>Requirements</h2>\n<table><tr><th>Requirement</th><th>Verdict</th><th>Cases</th></tr>\n");
    for q in &report.requirements {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&q.id),
            badge(q.verdict),
            q.cases
                .iter()
                .map(|c| format!("<a href=\"#{0}\">{0}</a>", esc(c)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
