//! What CI tools read in a JUnit file, checked in tests: the rules of
//! `tests/data/junit.xsd` that matter to them (the interop script validates the
//! files of real runs against the schema itself), and the counts the schema cannot
//! check.

use quick_xml::events::{BytesStart, Event};

/// Counts read from a JUnit document: (tests, failures, errors, skipped), summed from
/// the `<testsuite>` attributes after they were checked against the cases.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Test suites.
    pub suites: usize,
    /// `tests`.
    pub tests: usize,
    /// `failures`.
    pub failures: usize,
    /// `errors`.
    pub errors: usize,
    /// `skipped`.
    pub skipped: usize,
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

fn count(e: &BytesStart, name: &str) -> Result<usize, String> {
    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    attr(e, name)
        .ok_or_else(|| format!("<{tag}> without {name}"))?
        .parse()
        .map_err(|err| format!("<{tag}> {name}: {err}"))
}

/// Checks `xml` the way CI tools read it: every `<testsuite>` has `tests`, `failures`,
/// `errors`, `skipped` and `time`, and they match its cases; nothing says `disabled`;
/// every `<testcase>` has a `time`; every `<failure>` and `<error>` has a `type` and a
/// `message`; `<testsuites>` totals match. Returns the totals, or what is wrong.
pub fn check(xml: &str) -> Result<Totals, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut totals = Totals::default();
    let mut root: Option<[usize; 3]> = None;
    // The current suite's attributes and what its cases add up to.
    let mut suite: Option<([usize; 4], [usize; 4])> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("not XML: {e}"))?;
        match event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                if attr(&e, "disabled").is_some() {
                    return Err("a `disabled` attribute: CI tools count skips in `skipped`".into());
                }
                match e.name().as_ref() {
                    b"testsuites" => {
                        root = Some([
                            count(&e, "tests")?,
                            count(&e, "failures")?,
                            count(&e, "errors")?,
                        ]);
                        attr(&e, "time").ok_or("<testsuites> without time")?;
                    }
                    b"testsuite" => {
                        let said = [
                            count(&e, "tests")?,
                            count(&e, "failures")?,
                            count(&e, "errors")?,
                            count(&e, "skipped")?,
                        ];
                        attr(&e, "time").ok_or("<testsuite> without time")?;
                        suite = Some((said, [0; 4]));
                        totals.suites += 1;
                    }
                    b"testcase" => {
                        let name = attr(&e, "name").ok_or("<testcase> without name")?;
                        attr(&e, "time").ok_or(format!("<testcase name={name:?}> without time"))?;
                        suite.as_mut().ok_or("<testcase> outside a suite")?.1[0] += 1;
                    }
                    tag @ (b"failure" | b"error" | b"skipped") => {
                        let tag = String::from_utf8_lossy(tag).into_owned();
                        if tag != "skipped" {
                            attr(&e, "type").ok_or(format!("<{tag}> without type"))?;
                        }
                        attr(&e, "message").ok_or(format!("<{tag}> without message"))?;
                        let i = match tag.as_str() {
                            "failure" => 1,
                            "error" => 2,
                            _ => 3,
                        };
                        suite.as_mut().ok_or("an outcome outside a suite")?.1[i] += 1;
                    }
                    _ => {}
                }
            }
            Event::End(e) if e.name().as_ref() == b"testsuite" => {
                let (said, seen) = suite.take().ok_or("</testsuite> without a start")?;
                if said != seen {
                    return Err(format!(
                        "a suite says tests/failures/errors/skipped {said:?}, its cases {seen:?}"
                    ));
                }
                totals.tests += said[0];
                totals.failures += said[1];
                totals.errors += said[2];
                totals.skipped += said[3];
            }
            _ => {}
        }
    }
    let root = root.ok_or("no <testsuites>")?;
    if root != [totals.tests, totals.failures, totals.errors] {
        return Err(format!("<testsuites> says {root:?}, its suites {totals:?}"));
    }
    Ok(totals)
}

/// The run JUnit written before 2026-12-07 (quick-junit 0.5): `disabled` for skips, no
/// `time` on a case. [`check`] must refuse it, and each of its faults alone.
pub const OLD_RUN_JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="camproof run zone-split" tests="2" failures="1" errors="0">
    <testsuite name="run.zone-split seed 7" tests="2" disabled="1" errors="0" failures="1" time="1.250">
        <testcase name="no-acked-write-lost" classname="camproof.run.zone-split">
            <failure message="lost">lost</failure>
        </testcase>
        <testcase name="no-credential-breach" classname="camproof.run.zone-split">
            <skipped message="no attack"/>
        </testcase>
    </testsuite>
</testsuites>
"#;

/// `doc` with the first line that starts (indentation aside) with `start` edited by
/// `edit`.
fn edit_line(doc: &str, start: &str, edit: impl Fn(&str) -> String) -> String {
    let mut done = false;
    doc.lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(start) {
                done = true;
                edit(l)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `line` without its attribute `name` (and its value).
fn drop_attr(line: &str, name: &str) -> String {
    let key = format!(" {name}=\"");
    let Some(at) = line.find(&key) else {
        return line.to_string();
    };
    let value = at + key.len();
    let end = line[value..]
        .find('"')
        .map_or(line.len(), |e| value + e + 1);
    format!("{}{}", &line[..at], &line[end..])
}

/// `good` passes [`check`]; the old output and `good` with any one fault planted fail
/// it: the checker can fail.
pub fn planted_faults_are_refused(good: &str) {
    assert!(check(good).is_ok(), "{:?}\n{good}", check(good));
    assert!(check(OLD_RUN_JUNIT).is_err());
    let faults: [(&str, String); 7] = [
        (
            "a failure without type",
            edit_line(good, "<failure", |l| drop_attr(l, "type")),
        ),
        (
            "a failure without message",
            edit_line(good, "<failure", |l| drop_attr(l, "message")),
        ),
        (
            "a case without time",
            edit_line(good, "<testcase", |l| drop_attr(l, "time")),
        ),
        (
            "a suite without time",
            edit_line(good, "<testsuite ", |l| drop_attr(l, "time")),
        ),
        (
            "skips counted as disabled",
            edit_line(good, "<testsuite ", |l| {
                l.replace(" skipped=", " disabled=")
            }),
        ),
        (
            "a suite miscounting its cases",
            edit_line(good, "<testsuite ", |l| {
                l.replace(" tests=\"", " tests=\"1")
            }),
        ),
        (
            "totals that do not add up",
            edit_line(good, "<testsuites", |l| {
                l.replace(" tests=\"", " tests=\"1")
            }),
        ),
    ];
    for (what, bad) in faults {
        assert_ne!(bad, good.trim_end(), "{what}: nothing planted in\n{good}");
        assert!(check(&bad).is_err(), "{what} was accepted:\n{bad}");
    }
}
