//! End-to-end tests of `camproof certify` and `camproof verify-report` on the real
//! binary: every simulated profile against the table in docs/certification.md, captures
//! the harness recorded checked offline, a camera on loopback (mode 2), reports signed
//! and tamper-evident, re-run commands, bad input.
#![allow(clippy::disallowed_methods)] // Wall-clock bounds on real processes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use camproof_conformance::catalog::CATALOG;
use camproof_conformance::outcome::Verdict;
use camproof_reports::{verify_report, Report};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn camproof(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camproof"));
    cmd.args(args)
        .env("CAMPROOF_KEY_CACHE", format!("{TMP}/keys"))
        .env("CAMPROOF_SIGNING_KEY", format!("{TMP}/report-signing.key"))
        .env_remove("CAMPROOF_DUT_PASSWORD");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // Bounded: a certification that hangs is killed, and the test fails.
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the camproof binary runs");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut b);
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(240) {
            let _ = child.kill();
            panic!("camproof {args:?} did not finish within 240 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn load(dir: &Path) -> Report {
    let bytes = std::fs::read(dir.join("report.json")).expect("report.json written");
    verify_report(&bytes, None)
        .expect("the report verifies")
        .report
}

fn ids(r: &Report, v: Verdict) -> BTreeSet<String> {
    r.cases
        .iter()
        .filter(|c| c.verdict == v)
        .map(|c| c.id.clone())
        .collect()
}

/// One row of the table in docs/certification.md.
#[derive(Debug)]
struct Row {
    profile: String,
    fails: BTreeSet<String>,
    blocked: BTreeSet<String>,
}

fn table() -> Vec<Row> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/certification.md"
    ))
    .expect("docs/certification.md");
    let start = doc
        .find("<!-- profile-table:start -->")
        .expect("table start marker");
    let end = doc
        .find("<!-- profile-table:end -->")
        .expect("table end marker");
    let set = |s: &str| -> BTreeSet<String> {
        if s.trim() == "none" {
            BTreeSet::new()
        } else {
            s.split(',').map(|x| x.trim().to_string()).collect()
        }
    };
    doc[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Row {
                profile: cells[1].trim_matches('`').to_string(),
                fails: set(cells[3]),
                blocked: set(cells[4]),
            }
        })
        .collect()
}

/// Certifies `profile` once (memoised across tests) into TMP/cert/<profile>.
fn certified(profile: &str) -> (PathBuf, String) {
    static RUNS: OnceLock<std::sync::Mutex<BTreeMap<String, (PathBuf, String)>>> = OnceLock::new();
    let runs = RUNS.get_or_init(Default::default);
    if let Some(r) = runs.lock().unwrap().get(profile) {
        return r.clone();
    }
    let dir = PathBuf::from(format!("{TMP}/cert/{profile}"));
    let out = camproof(
        &[
            "certify",
            "--profile",
            profile,
            "--seed",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    let code = out.status.code();
    let t = text(&out);
    assert!(
        code == Some(0) || code == Some(1),
        "certify --profile {profile} exited {code:?}:\n{t}"
    );
    runs.lock()
        .unwrap()
        .insert(profile.to_string(), (dir.clone(), t.clone()));
    (dir, t)
}

/// The reference passes every case; each flawed profile fails exactly the cases the
/// table in docs/certification.md lists (and blocks exactly the listed dependents);
/// every case is failed by at least one profile. Then each profile's recorded capture
/// is certified offline (mode 4): every case a capture can decide agrees with the live
/// verdict.
#[test]
fn every_profile_fails_exactly_its_cases_live_and_from_its_capture() {
    let rows = table();
    let names: BTreeSet<String> = camproof_conformance::profiles::names()
        .into_iter()
        .map(String::from)
        .collect();
    let listed: BTreeSet<String> = rows.iter().map(|r| r.profile.clone()).collect();
    assert_eq!(
        names, listed,
        "the table must list every profile exactly once"
    );
    let mut failed_somewhere = BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        let (dir, out) = certified(&row.profile);
        let report = load(&dir);
        let fails = ids(&report, Verdict::Fail);
        let blocked = ids(&report, Verdict::Blocked);
        assert!(
            ids(&report, Verdict::Error).is_empty(),
            "{}: errors\n{out}",
            row.profile
        );
        assert!(
            ids(&report, Verdict::Skip).is_empty(),
            "{}: skips\n{out}",
            row.profile
        );
        assert_eq!(fails, row.fails, "{}: failing cases\n{out}", row.profile);
        assert_eq!(
            blocked, row.blocked,
            "{}: blocked cases\n{out}",
            row.profile
        );
        if row.profile == "reference" {
            assert_eq!(report.summary.result, "certified");
            assert_eq!(ids(&report, Verdict::Pass).len(), CATALOG.len());
        }
        failed_somewhere.extend(fails.iter().cloned());

        // Mode 4 on the capture the harness recorded (pcap and pcapng alternately).
        let capture = dir.join(if i % 2 == 0 {
            "capture.pcap"
        } else {
            "capture.pcapng"
        });
        let off_dir = dir.join("offline");
        let off = camproof(
            &[
                "certify",
                "--pcap",
                capture.to_str().unwrap(),
                "--out",
                off_dir.to_str().unwrap(),
            ],
            &[],
        );
        assert!(
            matches!(off.status.code(), Some(0) | Some(1)),
            "{}",
            text(&off)
        );
        let offline = load(&off_dir);
        for case in CATALOG.iter().filter(|c| c.offline) {
            let live = report.cases.iter().find(|c| c.id == case.id).unwrap();
            let got = offline.cases.iter().find(|c| c.id == case.id).unwrap();
            match live.verdict {
                Verdict::Fail => assert_eq!(
                    got.verdict,
                    Verdict::Fail,
                    "{}: {} failed live but not from the capture: {}",
                    row.profile,
                    case.id,
                    got.summary
                ),
                Verdict::Pass => assert!(
                    matches!(got.verdict, Verdict::Pass | Verdict::Skip),
                    "{}: {} passed live but {:?} from the capture: {}",
                    row.profile,
                    case.id,
                    got.verdict,
                    got.summary
                ),
                _ => {}
            }
        }
    }
    let all: BTreeSet<String> = CATALOG.iter().map(|c| c.id.to_string()).collect();
    let never: Vec<_> = all.difference(&failed_somewhere).collect();
    assert!(never.is_empty(), "cases no profile fails: {never:?}");
}

/// A failing case prints the one command that re-runs just it, and that command does.
#[test]
fn a_failure_prints_the_command_that_reruns_just_that_case() {
    let (_, out) = certified("no-lockout");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("re-run:"))
        .expect("a re-run line");
    let cmd = line.trim_start().trim_start_matches("re-run:").trim();
    assert_eq!(
        cmd,
        "camproof certify --profile no-lockout --seed 1 --test NETIP-LOCK-01"
    );
    let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    let dir = format!("{TMP}/rerun");
    let mut args = args.clone();
    args.extend(["--out", &dir]);
    let rerun = camproof(&args, &[]);
    assert_eq!(rerun.status.code(), Some(1), "{}", text(&rerun));
    let report = load(Path::new(&dir));
    assert_eq!(report.cases.len(), 1);
    assert_eq!(report.cases[0].id, "NETIP-LOCK-01");
    assert_eq!(report.cases[0].verdict, Verdict::Fail);
}

/// `verify-report` accepts the signed report and refuses it after any one-byte change.
#[test]
fn verify_report_refuses_a_one_byte_change() {
    let (dir, _) = certified("reference");
    let file = dir.join("report.json");
    let ok = camproof(&["verify-report", file.to_str().unwrap()], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("signature valid"), "{}", text(&ok));
    let bytes = std::fs::read(&file).unwrap();
    let verdict_at = String::from_utf8_lossy(&bytes).find("\"pass\"").unwrap() + 1;
    for (at, what) in [
        (verdict_at, "a verdict"),
        (bytes.len() / 2, "the middle"),
        (bytes.len() - 10, "the signature"),
        (bytes.len() - 1, "the final newline"),
        (0, "the first byte"),
    ] {
        let mut t = bytes.clone();
        t[at] ^= 0x01;
        let path = format!("{TMP}/tampered.json");
        std::fs::write(&path, &t).unwrap();
        let out = camproof(&["verify-report", &path], &[]);
        assert_eq!(out.status.code(), Some(1), "changing {what} went unnoticed");
        assert!(text(&out).contains("FAILED"), "{}", text(&out));
    }
}

/// Same seed, same outcomes and the same capture, byte for byte.
#[test]
fn a_simulated_certification_is_deterministic() {
    let (dir, _) = certified("reference");
    let again = format!("{TMP}/cert-again");
    let out = camproof(
        &[
            "certify",
            "--profile",
            "reference",
            "--seed",
            "1",
            "--out",
            &again,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let a = load(&dir);
    let b = load(Path::new(&again));
    assert_eq!(a.cases, b.cases);
    assert_eq!(
        std::fs::read(dir.join("capture.pcap")).unwrap(),
        std::fs::read(Path::new(&again).join("capture.pcap")).unwrap()
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Mode 2: `camproof camera` on loopback connects to the harness, which tests its cloud
/// side and its NETIP port; the reference camera is certified. The capture of that run
/// then certifies offline (mode 4) with the same verdicts.
#[test]
fn mode_2_certifies_a_camera_on_loopback() {
    let platform = loop {
        let p = free_port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let password = "Loopback-Cert-9d1";
    let mut cam = Child(
        Command::new(env!("CARGO_BIN_EXE_camproof"))
            .args([
                "camera",
                "--netip",
                "127.0.0.1:0",
                "--platform",
                &format!("127.0.0.1:{platform}"),
                "--profile",
                "reference",
                "--duration",
                "200s",
            ])
            .env("CAMPROOF_KEY_CACHE", format!("{TMP}/keys"))
            .env("CAMPROOF_NETIP_PASSWORD", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("camera starts"),
    );
    let mut first = String::new();
    BufReader::new(cam.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let netip = first
        .split("NETIP on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("the camera prints its NETIP address")
        .to_string();
    let dir = format!("{TMP}/mode2");
    let out = camproof(
        &[
            "certify",
            "--listen",
            &format!("127.0.0.1:{platform}"),
            "--dut",
            &netip,
            "--description",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/conformance/duts/camproof-camera.toml"
            ),
            "--out",
            &dir,
        ],
        &[("CAMPROOF_DUT_PASSWORD", password)],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains(password), "the password leaked into the output");
    let report = load(Path::new(&dir));
    assert_eq!(report.summary.result, "certified", "{t}");
    assert_eq!(ids(&report, Verdict::Pass).len(), CATALOG.len(), "{t}");
    let json = std::fs::read_to_string(Path::new(&dir).join("report.json")).unwrap();
    assert!(
        !json.contains(password),
        "the password leaked into the report"
    );

    let off = format!("{TMP}/mode2-offline");
    let out = camproof(
        &[
            "certify",
            "--pcap",
            &format!("{dir}/capture.pcapng"),
            "--out",
            &off,
        ],
        &[("CAMPROOF_DUT_PASSWORD", password)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let offline = load(Path::new(&off));
    let decided: Vec<_> = offline
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Pass)
        .map(|c| c.id.as_str())
        .collect();
    assert!(
        decided.contains(&"CLOUD-NONCE-01") && decided.contains(&"NETIP-AUTH-01"),
        "{decided:?}"
    );
}

/// A DUT description skips what the DUT does not do, and says why.
#[test]
fn a_description_skips_undeclared_features_with_the_reason() {
    let (dir, _) = certified("reference");
    let out_dir = format!("{TMP}/lan-only");
    let out = camproof(
        &[
            "certify",
            "--pcap",
            dir.join("capture.pcap").to_str().unwrap(),
            "--description",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/conformance/duts/netip-only-camera.toml"
            ),
            "--out",
            &out_dir,
        ],
        &[],
    );
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        text(&out)
    );
    let r = load(Path::new(&out_dir));
    let skip = r.cases.iter().find(|c| c.id == "CLOUD-HS-01").unwrap();
    assert_eq!(skip.verdict, Verdict::Skip);
    assert!(!skip.summary.is_empty());
}

/// Bad input gets a clear error and exit code 2, never a panic.
#[test]
fn bad_input_gets_a_clear_error() {
    let junk = format!("{TMP}/junk.pcap");
    std::fs::write(&junk, b"\xd4\xc3\xb2\xa1 certainly not a capture").unwrap();
    let out = camproof(
        &["certify", "--pcap", &junk, "--out", &format!("{TMP}/junk")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("junk.pcap"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"));

    let out = camproof(&["certify", "--profile", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unknown profile \"nope\"; profiles: reference"),
        "{}",
        text(&out)
    );

    let desc = format!("{TMP}/bad-dut.toml");
    std::fs::write(&desc, "[dut]\nname = \"x\"\nvendor = \"v\"\nmodel = \"m\"\nfirmware_version = \"1\"\n[cloud]\nkeyframe_interval = 0\n").unwrap();
    let out = camproof(&["certify", "--pcap", &junk, "--description", &desc], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cloud.keyframe_interval"),
        "{}",
        text(&out)
    );

    let out = camproof(
        &["certify", "--profile", "reference", "--test", "NOPE-01"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no such case"), "{}", text(&out));
}

/// Every failure of the table reproduces on its own with `--test ID` (what the printed
/// re-run command does), and every case passes on its own against the reference.
#[test]
fn every_failure_reproduces_alone_and_every_case_passes_alone_on_the_reference() {
    let mut runs: Vec<(String, String, Verdict)> = Vec::new();
    for row in table() {
        for case in &row.fails {
            runs.push((row.profile.clone(), case.clone(), Verdict::Fail));
        }
    }
    for case in CATALOG {
        runs.push(("reference".into(), case.id.to_string(), Verdict::Pass));
    }
    for (i, (profile, case, want)) in runs.iter().enumerate() {
        let dir = format!("{TMP}/alone/{i}");
        let out = camproof(
            &[
                "certify",
                "--profile",
                profile,
                "--seed",
                "1",
                "--test",
                case,
                "--out",
                &dir,
            ],
            &[],
        );
        let report = load(Path::new(&dir));
        assert_eq!(report.cases.len(), 1, "{}", text(&out));
        assert_eq!(
            report.cases[0].verdict, *want,
            "{profile} --test {case}: {}",
            report.cases[0].summary
        );
    }
}
