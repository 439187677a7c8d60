"""Checks a camproof junit.xml against tests/data/junit.xsd (xmlschema) and as two
third-party JUnit readers see it (junitparser, and junit2html's parser): the counts they
read must be the ones camproof reported in its JSON.

usage: junit_check.py XSD KIND JUNIT [JSON]
  KIND run      JSON is the run's result.json
       sweep    JSON is the sweep's sweep.json
       certify  JSON is the certification's report.json (signed envelope)
       invalid  no JSON: the file must be REJECTED by the schema
Exit 0 when every check holds, 1 with the reason otherwise.
"""

import json
import sys

import xmlschema
from junit2htmlreport import parser as j2h
from junitparser import JUnitXml


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def expected_run(report):
    """(suites, tests, failures, errors, skipped) of a run: one case per check."""
    checks = report["checks"]
    status = [c["status"] for c in checks]
    return (1, len(checks), status.count("fail"), 0, status.count("not-made"))


def expected_sweep(report):
    """One suite per seed; a case per failed check plus one for the rest of the seed."""
    tests = failures = 0
    for run in report["runs"]:
        failed = {f.split(":", 1)[0] for f in run["failures"]}
        tests += len(failed) + 1
        failures += len(failed)
    return (len(report["runs"]), tests, failures, 0, 0)


def expected_certify(envelope):
    """One suite per area, one case per certification case."""
    report = envelope.get("report", envelope)
    cases = report["cases"]
    verdicts = [c["verdict"] for c in cases]
    areas = {c["area"] for c in cases}
    skipped = verdicts.count("skip") + verdicts.count("blocked")
    return (len(areas), len(cases), verdicts.count("fail"), verdicts.count("error"), skipped)


def junitparser_counts(path):
    """What junitparser reads: the suites' own attributes, and its count of the cases."""
    xml = JUnitXml.fromfile(path)
    suites = list(xml)
    said = [0, 0, 0, 0]
    seen = [0, 0, 0, 0]
    for s in suites:
        attrs = (s.tests, s.failures, s.errors, s.skipped)
        if None in attrs:
            fail(f"junitparser: suite {s.name!r} lacks a count: {attrs}")
        for i, v in enumerate(attrs):
            said[i] += v
        for case in s:
            seen[0] += 1
            if case.is_failure:
                seen[1] += 1
            elif case.is_error:
                seen[2] += 1
            elif case.is_skipped:
                seen[3] += 1
            if case.time is None:
                fail(f"junitparser: case {case.name!r} has no time")
    if said != seen:
        fail(f"junitparser: the suites say {said}, their cases are {seen}")
    if (xml.tests, xml.failures, xml.errors) != tuple(said[:3]):
        fail(f"junitparser: <testsuites> says {(xml.tests, xml.failures, xml.errors)}, suites {said[:3]}")
    return (len(suites), *said)


def junit2html_counts(path):
    """What junit2html reads (it counts errors as failures)."""
    report = j2h.Junit(filename=path)
    tests = sum(len(s.all()) for s in report.suites)
    failed = sum(len(s.failed()) for s in report.suites)
    skipped = sum(len(s.skipped()) for s in report.suites)
    return (len(report.suites), tests, failed, skipped)


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    xsd, kind, path = sys.argv[1:4]
    schema = xmlschema.XMLSchema(xsd)
    errors = list(schema.iter_errors(path))
    if kind == "invalid":
        if not errors:
            fail(f"{path}: a planted invalid document was ACCEPTED by the schema")
        print(f"ok   {path}: rejected by the schema as it must be: {errors[0].reason}")
        return
    if errors:
        fail(f"{path}: not valid against {xsd}: {errors[0]}")
    with open(sys.argv[4], encoding="utf-8") as f:
        report = json.load(f)
    want = {"run": expected_run, "sweep": expected_sweep, "certify": expected_certify}[kind](report)
    got = junitparser_counts(path)
    if got != want:
        fail(f"{path}: junitparser reads (suites, tests, failures, errors, skipped) {got}, camproof reported {want}")
    suites, tests, failures, errs, skipped = want
    h = junit2html_counts(path)
    if h != (suites, tests, failures + errs, skipped):
        fail(f"{path}: junit2html reads (suites, tests, failed, skipped) {h}, camproof reported {want}")
    print(
        f"ok   {path}: valid; junitparser and junit2html read {suites} suites, {tests} tests, "
        f"{failures} failures, {errs} errors, {skipped} skipped, as camproof reported"
    )


if __name__ == "__main__":
    main()
