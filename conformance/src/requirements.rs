//! The requirement index: normative statements with IDs, and which tests cite them.

use std::collections::BTreeMap;

use thiserror::Error;

/// One normative statement of the specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Its ID, e.g. `CDP-HS-03`.
    pub id: String,
    /// 1-based line of the specification where it is stated.
    pub line: usize,
    /// The statement's first line, for reports.
    pub summary: String,
}

/// Why a specification's requirement list is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequirementError {
    /// The same ID is defined twice.
    #[error("requirement {id} is defined twice (lines {first} and {second})")]
    Duplicate {
        /// The ID.
        id: String,
        /// Line of the first definition.
        first: usize,
        /// Line of the second definition.
        second: usize,
    },
    /// A definition's ID does not have the form `AREA-TOPIC-NN`.
    #[error("line {line}: '{id}' is not a requirement ID of the form AREA-TOPIC-NN")]
    BadId {
        /// The malformed ID.
        id: String,
        /// Where it is.
        line: usize,
    },
}

/// Whether `id` has the form `LETTERS(-LETTERS_OR_DIGITS)*-DD`.
pub fn is_requirement_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let Some((last, rest)) = parts.split_last() else {
        return false;
    };
    rest.len() >= 2
        && last.len() == 2
        && last.bytes().all(|b| b.is_ascii_digit())
        && rest[0].bytes().all(|b| b.is_ascii_uppercase())
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

/// Reads every definition `- **ID** statement` from a Markdown specification.
pub fn parse_requirements(spec: &str) -> Result<Vec<Requirement>, RequirementError> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, line) in spec.lines().enumerate() {
        let line_no = i + 1;
        let Some(rest) = line.trim_start().strip_prefix("- **") else {
            continue;
        };
        let Some((id, statement)) = rest.split_once("**") else {
            continue;
        };
        if !is_requirement_id(id) {
            return Err(RequirementError::BadId {
                id: id.to_string(),
                line: line_no,
            });
        }
        if let Some(first) = seen.insert(id.to_string(), line_no) {
            return Err(RequirementError::Duplicate {
                id: id.to_string(),
                first,
                second: line_no,
            });
        }
        out.push(Requirement {
            id: id.to_string(),
            line: line_no,
            summary: statement.trim().to_string(),
        });
    }
    Ok(out)
}

/// The part of a Rust source file that is test code: everything from the first
/// `#[cfg(test)]` on, or the whole file for files under a `tests/` directory and for
/// out-of-line test modules (`tests.rs`, included by `#[cfg(test)] mod tests;`).
pub fn test_code<'a>(path: &str, source: &'a str) -> &'a str {
    let normalized = path.replace('\\', "/");
    if normalized.starts_with("tests/")
        || normalized.contains("/tests/")
        || normalized == "tests.rs"
        || normalized.ends_with("/tests.rs")
    {
        return source;
    }
    match source.find("#[cfg(test)]") {
        Some(at) => &source[at..],
        None => "",
    }
}

/// Whether `text` cites `id`, either literally (`CDP-HS-03`) or as part of a test name
/// (`cdp_hs_03_...`).
fn cites(text: &str, id: &str) -> bool {
    let snake = id.to_ascii_lowercase().replace('-', "_");
    contains_token(text, id) || contains_token(text, &snake)
}

/// Whether `needle` occurs in `text` not followed by another digit (so `X-01` is not
/// found inside `X-010`).
fn contains_token(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit())
    })
}

/// The requirements that no test cites; `sources` are `(path, contents)` of Rust files.
pub fn uncited<'a>(
    requirements: &'a [Requirement],
    sources: &[(String, String)],
) -> Vec<&'a Requirement> {
    let tests: Vec<&str> = sources
        .iter()
        .map(|(path, src)| test_code(path, src))
        .collect();
    requirements
        .iter()
        .filter(|r| !tests.iter().any(|t| cites(t, &r.id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(path: &str, text: &str) -> (String, String) {
        (path.to_string(), text.to_string())
    }

    #[test]
    fn parses_definitions_and_ignores_mentions() {
        let spec = "# Spec\n- **NETIP-LEN-01** A length over the limit is refused.\nSee NETIP-LEN-01 above.\n  - **CDP-HS-10** Nested.\n";
        let reqs = parse_requirements(spec).unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].id, "NETIP-LEN-01");
        assert_eq!(reqs[0].line, 2);
        assert_eq!(reqs[0].summary, "A length over the limit is refused.");
        assert_eq!(reqs[1].id, "CDP-HS-10");
    }

    #[test]
    fn duplicate_and_malformed_ids_are_errors() {
        let dup = "- **A-B-01** x\n- **A-B-01** y\n";
        assert_eq!(
            parse_requirements(dup),
            Err(RequirementError::Duplicate {
                id: "A-B-01".into(),
                first: 1,
                second: 2
            })
        );
        assert!(matches!(
            parse_requirements("- **not an id** x\n"),
            Err(RequirementError::BadId { line: 1, .. })
        ));
        assert!(is_requirement_id("VID-E2E-02"));
        assert!(!is_requirement_id("CDP-01"));
        assert!(!is_requirement_id("cdp-hs-01"));
        assert!(!is_requirement_id("CDP-HS-1"));
    }

    /// The checker's negative case: an uncited requirement is reported.
    #[test]
    fn uncited_requirement_is_reported() {
        let reqs = parse_requirements("- **CDP-HS-01** a\n- **CDP-HS-02** b\n- **CDP-HS-03** c\n")
            .unwrap();
        let sources = [
            // Cited by test name.
            src(
                "protocol/src/a.rs",
                "fn x() {}\n#[cfg(test)]\nmod tests { fn cdp_hs_01_works() {} }",
            ),
            // Mentioned only in non-test code: does not count.
            src(
                "protocol/src/b.rs",
                "/// Implements CDP-HS-02.\nfn y() {}\n#[cfg(test)]\nmod tests {}",
            ),
            // Cited in an integration test's doc comment.
            src(
                "tests/e2e.rs",
                "/// CDP-HS-03: end to end\n#[test] fn t() {}",
            ),
        ];
        let missing: Vec<_> = uncited(&reqs, &sources)
            .into_iter()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(missing, ["CDP-HS-02"]);
    }

    #[test]
    fn out_of_line_test_modules_count_as_tests() {
        assert_eq!(
            test_code("protocol/src/cdp/tests.rs", "fn cdp_hs_04() {}"),
            "fn cdp_hs_04() {}"
        );
        assert_eq!(
            test_code("protocol/src/cdp/contests.rs", "fn cdp_hs_04() {}"),
            ""
        );
        assert_eq!(
            test_code("src/lib.rs", "x\n#[cfg(test)]\ny"),
            "#[cfg(test)]\ny"
        );
    }

    #[test]
    fn a_longer_id_does_not_cite_a_prefix() {
        let reqs = parse_requirements("- **CDP-HS-01** a\n").unwrap();
        let sources = [src("tests/x.rs", "/// CDP-HS-010\nfn cdp_hs_011() {}")];
        assert_eq!(uncited(&reqs, &sources).len(), 1);
    }
}
