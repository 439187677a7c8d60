//! The JUnit XML writer shared by run, sweep and certification reports: test suites of
//! test cases, each passed, failed, errored or skipped, written in the dialect the Jenkins
//! (junit and xUnit plugins), Ant and Maven Surefire readers agree on
//! (`tests/data/junit.xsd` in the repository describes it).
//!
//! Written here rather than with `quick-junit`: its 0.5 series counts skipped tests in a
//! `disabled` attribute that CI tools do not read as skips, and its 0.7 series adds a
//! `skipped` attribute to `<testsuites>`, which the Jenkins xUnit plugin's schema
//! refuses (it validates every file it reads).

use std::fmt::Write as _;

use quick_xml::escape::escape;

/// How a test case ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// It held.
    Passed,
    /// It was made and broken: `kind` (the `type` attribute) names what broke,
    /// `message` says it in one line, `body` gives the details and how to reproduce.
    Failed {
        kind: String,
        message: String,
        body: String,
    },
    /// It could not be completed (the harness, not the product, went wrong).
    Errored {
        kind: String,
        message: String,
        body: String,
    },
    /// It was not made; `message` says why.
    Skipped { message: String },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    /// The `name` attribute.
    pub name: String,
    /// The `classname` attribute: CI tools group cases by it.
    pub classname: String,
    /// Seconds (the `time` attribute, always written).
    pub seconds: f64,
    /// How it ended.
    pub outcome: Outcome,
}

/// One `<testsuite>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suite {
    /// The `name` attribute.
    pub name: String,
    /// Seconds (the `time` attribute, always written).
    pub seconds: f64,
    /// `<property>` name/value pairs, in order.
    pub properties: Vec<(String, String)>,
    /// The test cases, in order.
    pub cases: Vec<Case>,
}

/// Counts of a set of cases, as the `tests`, `failures`, `errors` and `skipped`
/// attributes give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Every case.
    pub tests: usize,
    /// Failed cases.
    pub failures: usize,
    /// Errored cases.
    pub errors: usize,
    /// Skipped cases.
    pub skipped: usize,
}

impl Suite {
    /// The suite's counts, from its cases.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            tests: self.cases.len(),
            ..Counts::default()
        };
        for case in &self.cases {
            match case.outcome {
                Outcome::Passed => {}
                Outcome::Failed { .. } => c.failures += 1,
                Outcome::Errored { .. } => c.errors += 1,
                Outcome::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }
}

/// Text that XML 1.0 can carry: characters it forbids (NUL and other C0 controls but
/// tab, newline and carriage return; U+FFFE, U+FFFF) become U+FFFD, so a detail
/// holding a stray terminal escape still yields a well-formed file.
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// An attribute value: [`xml_chars`], one line (a parser would fold a newline in an
/// attribute into a space anyway), escaped.
fn attr(s: &str) -> String {
    escape(xml_chars(s).replace(['\r', '\n'], " ").as_str()).into_owned()
}

/// Element text: [`xml_chars`], escaped.
fn text(s: &str) -> String {
    escape(xml_chars(s).as_str()).into_owned()
}

/// Seconds as JUnit writes them: three decimals, never negative or NaN.
fn time(s: f64) -> String {
    // A NaN or a negative share would not parse as a duration in every reader.
    let s = if s.is_finite() && s > 0.0 { s } else { 0.0 };
    format!("{s:.3}")
}

/// A `<failure>`, `<error>` or `<skipped>` element with its attributes and body.
fn outcome_element(out: &mut String, tag: &str, kind: &str, message: &str, body: &str) {
    let _ = write!(
        out,
        "            <{tag} type=\"{}\" message=\"{}\"",
        attr(kind),
        attr(message)
    );
    if body.is_empty() {
        out.push_str("/>\n");
    } else {
        let _ = writeln!(out, ">{}</{tag}>", text(body));
    }
}

fn write_case(out: &mut String, c: &Case) {
    let _ = write!(
        out,
        "        <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        attr(&c.name),
        attr(&c.classname),
        time(c.seconds)
    );
    match &c.outcome {
        Outcome::Passed => out.push_str("/>\n"),
        Outcome::Failed {
            kind,
            message,
            body,
        } => {
            out.push_str(">\n");
            outcome_element(out, "failure", kind, message, body);
            out.push_str("        </testcase>\n");
        }
        Outcome::Errored {
            kind,
            message,
            body,
        } => {
            out.push_str(">\n");
            outcome_element(out, "error", kind, message, body);
            out.push_str("        </testcase>\n");
        }
        Outcome::Skipped { message } => {
            let _ = writeln!(
                out,
                ">\n            <skipped message=\"{}\"/>\n        </testcase>",
                attr(message)
            );
        }
    }
}

/// The JUnit XML document of `suites` under a `<testsuites>` named `name` that took
/// `seconds`: every count is computed from the cases, every element has its `time`.
pub(crate) fn render(name: &str, seconds: f64, suites: &[Suite]) -> String {
    let mut total = Counts::default();
    for s in suites {
        let c = s.counts();
        total.tests += c.tests;
        total.failures += c.failures;
        total.errors += c.errors;
        total.skipped += c.skipped;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // No `skipped` on <testsuites>: the Jenkins xUnit plugin's schema has none there
    // (each <testsuite> carries its own).
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        attr(name),
        total.tests,
        total.failures,
        total.errors,
        time(seconds)
    );
    for s in suites {
        let c = s.counts();
        let _ = writeln!(
            out,
            "    <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            attr(&s.name),
            c.tests,
            c.failures,
            c.errors,
            c.skipped,
            time(s.seconds)
        );
        if !s.properties.is_empty() {
            out.push_str("        <properties>\n");
            for (k, v) in &s.properties {
                let _ = writeln!(
                    out,
                    "            <property name=\"{}\" value=\"{}\"/>",
                    attr(k),
                    attr(v)
                );
            }
            out.push_str("        </properties>\n");
        }
        for case in &s.cases {
            write_case(&mut out, case);
        }
        out.push_str("    </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, outcome: Outcome) -> Case {
        Case {
            name: name.into(),
            classname: "c".into(),
            seconds: 0.5,
            outcome,
        }
    }

    fn failed(kind: &str) -> Outcome {
        Outcome::Failed {
            kind: kind.into(),
            message: "broke".into(),
            body: "details".into(),
        }
    }

    #[test]
    fn counts_come_from_the_cases_and_every_element_has_a_time() {
        let suite = Suite {
            name: "s".into(),
            seconds: 2.0,
            properties: vec![("seed".into(), "7".into())],
            cases: vec![
                case("a", Outcome::Passed),
                case("b", failed("b")),
                case(
                    "c",
                    Outcome::Errored {
                        kind: "c".into(),
                        message: "crashed".into(),
                        body: String::new(),
                    },
                ),
                case(
                    "d",
                    Outcome::Skipped {
                        message: "not made".into(),
                    },
                ),
            ],
        };
        let xml = render("all", 2.0, std::slice::from_ref(&suite));
        assert!(xml.contains(
            "<testsuites name=\"all\" tests=\"4\" failures=\"1\" errors=\"1\" time=\"2.000\">"
        ));
        assert!(xml.contains(
            "<testsuite name=\"s\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"2.000\">"
        ));
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert_eq!(xml.matches(" time=\"0.500\"").count(), 4, "{xml}");
        assert!(xml.contains("<failure type=\"b\" message=\"broke\">details</failure>"));
        assert!(xml.contains("<error type=\"c\" message=\"crashed\"/>"));
        assert!(xml.contains("<skipped message=\"not made\"/>"));
        assert!(!xml.contains("disabled"), "{xml}");
        // The same suite with a case that fails instead of passing counts it.
        let mut worse = suite;
        worse.cases[0].outcome = failed("a");
        assert_eq!(worse.counts().failures, 2);
    }

    #[test]
    fn text_is_escaped_and_kept_to_what_xml_can_carry() {
        let suite = Suite {
            name: "<s> & \"q\"".into(),
            seconds: f64::NAN,
            properties: vec![],
            cases: vec![case(
                "x",
                Outcome::Failed {
                    kind: "k".into(),
                    message: "line one\nline two \u{1b}[31m".into(),
                    body: "a < b && c\n\0end".into(),
                },
            )],
        };
        let xml = render("r", -1.0, &[suite]);
        assert!(
            xml.contains("name=\"&lt;s&gt; &amp; &quot;q&quot;\""),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"line one line two \u{FFFD}[31m\""),
            "{xml}"
        );
        assert!(
            xml.contains(">a &lt; b &amp;&amp; c\n\u{FFFD}end</failure>"),
            "{xml}"
        );
        assert!(xml.contains("time=\"0.000\""), "{xml}");
        assert!(!xml.contains("NaN") && !xml.contains("-1"), "{xml}");
    }
}
