//! End-to-end tests of the `camproof` binary.

use std::process::{Command, Output};

mod common;

fn camproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args(args)
        .env(
            "CAMPROOF_KEY_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/keys"),
        )
        .output()
        .expect("the camproof binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn trace(o: &Output) -> String {
    stdout(o)
        .lines()
        .find_map(|l| l.trim().strip_prefix("trace").map(|h| h.trim().to_string()))
        .expect("a trace line")
}

/// CDP-HS-03, CDP-REC-02, VID-E2E-01: the demo completes a real handshake, relays sealed
/// video, and shows each attack refused; its output is pinned.
#[test]
fn demo_output_is_pinned() {
    let out = camproof(&["demo", "--seed", "1"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(stdout(&out));
}

/// CDP-KEY-01: same seed, same trace hash, byte for byte; another seed, another hash.
#[test]
fn demo_is_deterministic_per_seed() {
    let a = camproof(&["demo", "--seed", "5", "--frames", "12"]);
    let b = camproof(&["demo", "--seed", "5", "--frames", "12"]);
    let c = camproof(&["demo", "--seed", "6", "--frames", "12"]);
    assert!(a.status.success() && b.status.success() && c.status.success());
    assert_eq!(stdout(&a), stdout(&b));
    assert_eq!(trace(&a), trace(&b));
    assert_ne!(trace(&a), trace(&c));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let out = camproof(&["demo", "--frames", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--frames must be at least 2"), "{err}");

    let out = camproof(&["demo", "--seed", "not-a-number"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"));

    let out = camproof(&["bench", "pki", "--keys", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

fn scenario(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/catalog/").to_string() + name
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{out}"))
}

/// The reproduce line repeats every option that changes the run (here the skipped scan
/// and another PKI seed), not only the seed.
#[test]
fn the_reproduce_line_keeps_the_options_that_change_the_run() {
    let smoke = scenario("smoke.toml");
    let o = camproof(&[
        "run",
        smoke.as_str(),
        "--cameras",
        "4",
        "--duration",
        "10s",
        "--seed",
        "5",
        "--pki-seed",
        "2",
        "--no-wire-scan",
    ]);
    let text = stdout(&o);
    assert_eq!(
        line(&text, "reproduce:"),
        format!(
            "reproduce: camproof run {smoke} --seed 5 --cameras 4 --duration 10s --pki-seed 2 \
             --no-wire-scan"
        ),
        "{text}"
    );
}

/// `camproof run` builds the world, runs it, reports, writes result.json, and two runs
/// with one seed agree on everything but wall-clock speed.
#[test]
fn run_reports_and_is_deterministic() {
    let out_dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/run-out");
    let smoke = scenario("smoke.toml");
    let args = [
        "run",
        smoke.as_str(),
        "--cameras",
        "12",
        "--duration",
        "20s",
        "--seed",
        "3",
    ];
    let a = camproof(&[&args[..], &["--out", out_dir]].concat());
    assert!(
        a.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&a.stderr)
    );
    let text = stdout(&a);
    assert!(
        line(&text, "cameras online").trim().starts_with(
            "cameras online   12/12 at the end (americas 3/3, apac 3/3, cn 3/3, eu-africa 3/3)"
        ),
        "{text}"
    );
    assert!(line(&text, "result:").ends_with("pass"));
    assert!(text.contains("reproduce: camproof run"), "{text}");
    let json = std::fs::read_to_string(format!("{out_dir}/result.json")).expect("result.json");
    assert!(json.contains("\"schema\": \"camproof.run/3\""), "{json}");
    assert!(json.contains("\"cameras_online\": 12"), "{json}");

    let b = camproof(&args);
    let c = camproof(&[
        "run",
        smoke.as_str(),
        "--cameras",
        "12",
        "--duration",
        "20s",
        "--seed",
        "4",
    ]);
    assert_eq!(line(&text, "trace"), line(&stdout(&b), "trace"));
    assert_eq!(line(&text, "video"), line(&stdout(&b), "video"));
    assert_ne!(line(&text, "trace"), line(&stdout(&c), "trace"));
}

#[test]
fn run_refuses_bad_scenarios_clearly() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/bad-scenarios");
    std::fs::create_dir_all(dir).expect("tmp dir");
    let bad = format!("{dir}/typo.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nduration = \"1m\"\n[world]\nsites = 1\ncameras_per_site = 1\ncamras = 3\n",
    )
    .expect("write");
    let out = camproof(&["run", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.toml"), "{err}");
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("unknown field `camras`"), "{err}");

    let out = camproof(&["run", "no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading scenario no/such/file.toml"));

    let smoke = scenario("smoke.toml");
    let out = camproof(&["run", smoke.as_str(), "--duration", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration \"soon\""));

    // At scale: more cameras than a site's account may hold names the --sites that fits;
    // a site count the world cannot hold, or one that loses a site a fault names, is
    // refused before anything runs.
    let herd = scenario("thundering-herd.toml");
    let out = camproof(&["run", herd.as_str(), "--cameras", "10000"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("625 cameras per site"), "{err}");
    assert!(err.contains("add --sites 40"), "{err}");
    let out = camproof(&["run", smoke.as_str(), "--sites", "300"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sites 300: between 1 and"), "{err}");
    let partition = scenario("partition-heal.toml");
    let out = camproof(&["run", partition.as_str(), "--sites", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("which this world no longer has"), "{err}");
    assert!(
        err.contains("partition-heal.toml:"),
        "the fault's line: {err}"
    );
    // A shorter run would drop the zone's restart: refused with its line and the
    // shortest duration that keeps it.
    let zone = scenario("zone-outage.toml");
    let out = camproof(&["run", zone.as_str(), "--duration", "60s"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zone-outage.toml:"), "{err}");
    assert!(err.contains("would be dropped"), "{err}");
    assert!(
        err.contains("the shortest --duration that keeps everything is"),
        "{err}"
    );
}

/// `serve` and `swarm` run the simulator's platform and camera code on real loopback
/// sockets: every camera authenticates and the gateway receives every frame sent. The
/// store keeps what it acknowledged across a restart.
#[test]
fn serve_and_swarm_stream_over_loopback() {
    let data = concat!(env!("CARGO_TARGET_TMPDIR"), "/serve-data");
    let _ = std::fs::remove_dir_all(data);
    let serve_args = |duration: &'static str| {
        [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            duration,
            "--data",
            data,
            "--store-port",
            "17610",
        ]
    };
    let common::Running {
        child: mut server,
        addr,
        mut lines,
    } = common::start(&serve_args("10s"));
    let addr = addr.to_string();

    let swarm = camproof(&[
        "swarm",
        "--platform",
        &addr,
        "--cameras",
        "5",
        "--duration",
        "3s",
        "--fps",
        "5",
    ]);
    let swarm_out = stdout(&swarm);
    assert!(
        swarm.status.success(),
        "{swarm_out}\n{}",
        String::from_utf8_lossy(&swarm.stderr)
    );
    assert_eq!(
        line(&swarm_out, "cameras online").trim(),
        "cameras online   5/5 at the end"
    );

    let status = server.wait().expect("serve exits after --duration");
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).expect("serve output");
    let served = line(&rest, "served:");
    assert!(served.contains("5 handshakes"), "{served}");
    let sent: u64 = line(&swarm_out, "video")
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("frames sent");
    let received: u64 = served
        .split(", ")
        .find_map(|p| {
            p.split_once(" video frames")
                .and_then(|(n, _)| n.parse().ok())
        })
        .expect("frames received");
    // Every frame written arrived; at shutdown each camera may still hold one queued frame.
    assert!(sent > 0);
    assert!(
        received <= sent && received + 5 >= sent,
        "{served} vs {sent} sent"
    );
    assert!(
        rest.lines()
            .any(|l| l.starts_with("store: 5 writes acknowledged")),
        "{rest}"
    );

    // Restarted on the same data directory, the store still holds every device record.
    let again = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args(serve_args("4s"))
        .env(
            "CAMPROOF_KEY_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/keys"),
        )
        .output()
        .expect("serve runs again");
    let out = stdout(&again);
    assert!(again.status.success(), "{out}");
    assert!(
        out.lines().any(|l| l == "store: 5 device records on disk"),
        "{out}"
    );
}

const ZONE_SPLIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zone-split.toml");

/// `sweep --shard` splits the seeds; `report merge` joins the shards into the report a
/// whole sweep gives.
#[test]
fn sweep_shards_and_merge() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/sweep-shards");
    let _ = std::fs::remove_dir_all(dir);
    for k in ["1/2", "2/2"] {
        let out = format!("{dir}/{}", k.replace('/', "of"));
        let o = camproof(&[
            "sweep", ZONE_SPLIT, "--seeds", "1..4", "--shard", k, "--out", &out,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            stdout(&o).contains("result: 2 passed, 0 failed of 2 seeds"),
            "{}",
            stdout(&o)
        );
    }
    let merged = format!("{dir}/merged.json");
    let o = camproof(&[
        "report",
        "merge",
        &format!("{dir}/1of2/sweep.json"),
        &format!("{dir}/2of2/sweep.json"),
        "--out",
        &merged,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).expect("merged")).expect("json");
    let seeds: Vec<u64> = json["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["seed"].as_u64())
        .collect();
    assert_eq!(seeds, vec![1, 2, 3, 4]);
    assert_eq!(json["passed"], 4);
    // One thread or two, whole or in shards: each seed gives the same trace.
    let whole = format!("{dir}/whole");
    let o = camproof(&[
        "sweep", ZONE_SPLIT, "--seeds", "1..4", "--jobs", "1", "--out", &whole,
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    let whole: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{whole}/sweep.json")).expect("whole sweep"),
    )
    .expect("json");
    let hashes = |v: &serde_json::Value| -> Vec<String> {
        v["runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .filter_map(|r| r["trace_hash"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(hashes(&whole), hashes(&json));
    let mut distinct = hashes(&json);
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "four seeds, four traces");
    assert_eq!(json["shards"], serde_json::json!(["1/2", "2/2"]));
    // A lost or doubled shard is not a smaller green: it is refused, or, when asked for,
    // merged with the missing seeds named.
    let one = format!("{dir}/1of2/sweep.json");
    let o = camproof(&["report", "merge", &one, &one, "--out", &merged]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shard 1/2 of seeds 1..4 is already in"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = camproof(&["report", "merge", &one, "--out", &merged]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("shards 2/2 of seeds 1..4 are missing (2 seeds not run: 2, 4)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let partial = format!("{dir}/partial.json");
    let o = camproof(&[
        "report",
        "merge",
        &one,
        "--allow-partial",
        "--out",
        &partial,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("PARTIAL: shards 2/2 missing"),
        "{}",
        stdout(&o)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&partial).expect("partial")).expect("json");
    assert_eq!(json["missing_seeds"], serde_json::json!([2, 4]));
    // A file that is not a sweep report is refused clearly.
    let o = camproof(&["report", "merge", ZONE_SPLIT, "--out", &merged]);
    assert_eq!(o.status.code(), Some(2), "an error, not a failed seed");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a sweep report"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = camproof(&["sweep", ZONE_SPLIT, "--shard", "3/2"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected K/N"));
}

/// A site that crashes and restarts brings its cameras back with fresh handshakes: a
/// rebooted camera draws new randomness, as real firmware does, so the gateways never
/// see the hellos of its last life again (they would refuse them as replays, rightly).
#[test]
fn a_restarted_site_is_not_refused_as_a_replay() {
    let out = concat!(env!("CARGO_TARGET_TMPDIR"), "/restarted-site");
    let _ = std::fs::remove_dir_all(out);
    let o = camproof(&["run", ZONE_SPLIT, "--out", out, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{out}/result.json")).expect("result.json"),
    )
    .expect("result.json is JSON");
    let failures = &result["gateways"]["failures"];
    assert!(failures.is_object(), "{result}");
    assert!(
        failures.get("ReplayedHandshake").is_none(),
        "a restarted camera was refused as a replay: {failures}"
    );
    assert!(
        result["gateways"]["handshakes"].as_u64() > Some(4),
        "the restarted site's cameras handshake again: {result}"
    );
}

/// `run --plant` plants a bug in one run: the check that catches it fails, exit code 1,
/// and the reproduce line keeps the plant.
#[test]
fn run_plants_a_bug_and_its_check_fails() {
    let smoke = scenario("smoke.toml");
    let o = camproof(&[
        "run",
        smoke.as_str(),
        "--cameras",
        "12",
        "--plant",
        "app-leaks-password",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        line(&out, "result:").contains("no-plaintext-secret"),
        "{out}"
    );
    assert!(
        line(&out, "reproduce:").ends_with("--cameras 12 --plant app-leaks-password"),
        "{out}"
    );
    let o = camproof(&[
        "run",
        smoke.as_str(),
        "--no-wire-scan",
        "--plant",
        "app-leaks-password",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no-plaintext-secret is not checked here"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// An output directory that cannot be written is an error before anything runs: a
/// whole run is not simulated only to lose its result.
#[test]
fn an_unwritable_output_is_refused_before_the_run() {
    let smoke = scenario("smoke.toml");
    for args in [
        vec!["run", smoke.as_str(), "--out", "/proc/camproof-nope"],
        vec![
            "sweep",
            smoke.as_str(),
            "--seeds",
            "1",
            "--out",
            "/proc/camproof-nope",
        ],
        vec![
            "certify",
            "--profile",
            "reference",
            "--out",
            "/proc/camproof-nope",
        ],
    ] {
        let o = camproof(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(
                "the output directory /proc/camproof-nope cannot be created (nothing was run)"
            ),
            "{args:?}: {err}"
        );
        assert!(stdout(&o).is_empty(), "{args:?} ran: {}", stdout(&o));
    }
}

/// A planted bug that no check of the scenario can catch would pass every seed: the
/// sweep refuses it and says which check is missing and why.
#[test]
fn a_plant_the_scenario_cannot_catch_is_refused() {
    let o = camproof(&[
        "sweep",
        &scenario("smoke.toml"),
        "--seeds",
        "1",
        "--plant",
        "skip-ownership-check",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot catch it: no-cross-tenant-access is not checked here"),
        "{err}"
    );
    assert!(
        !stdout(&o).contains("passed"),
        "nothing ran: {}",
        stdout(&o)
    );
}

/// With a bug planted in the store (a write acknowledged before replication) the sweep
/// fails the seed with the exact reproduction command, and shrinking writes a smaller
/// scenario that still fails, and passes without the bug.
#[test]
fn sweep_catches_a_planted_bug_and_shrinks_it() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/sweep-plant");
    let _ = std::fs::remove_dir_all(dir);
    let o = camproof(&[
        "sweep",
        ZONE_SPLIT,
        "--seeds",
        "1",
        "--plant",
        "ack-before-replication",
        "--shrink",
        "--out",
        dir,
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL seed 1: no-acked-write-lost: apac: acknowledged write"),
        "{text}"
    );
    // The lost write is told with its writer and the replica that acknowledged it, by
    // host name, and when.
    assert!(
        text.contains("(written by the store writer on gw-apac-")
            && text.contains(", acknowledged by gw-apac-")
            && text.contains(" s, was applied by no replica"),
        "{text}"
    );
    assert!(
        text.contains("reproduce: camproof sweep")
            && text.contains("--seeds 1 --plant ack-before-replication"),
        "{text}"
    );
    let shrunk = format!("{dir}/zone-split-shrunk-seed1.toml");
    let scenario = std::fs::read_to_string(&shrunk).expect("the shrunk scenario");
    assert_eq!(scenario.matches("[[fault]]").count(), 2, "{scenario}");
    assert!(scenario.contains("duration = \"20s\""), "{scenario}");
    let again = camproof(&[
        "sweep",
        &shrunk,
        "--seeds",
        "1",
        "--plant",
        "ack-before-replication",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    let healthy = camproof(&["run", &shrunk, "--seed", "1"]);
    assert!(healthy.status.success(), "{}", stdout(&healthy));
}

/// The test cases of a JUnit file, (name, failed), after checking it is well-formed XML.
fn junit_cases(path: &str) -> Vec<(String, bool)> {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut cases: Vec<(String, bool)> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return cases,
            Ok(Event::Start(e) | Event::Empty(e)) => match e.name().as_ref() {
                b"testcase" => {
                    let name = e
                        .try_get_attribute("name")
                        .ok()
                        .flatten()
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default();
                    cases.push((name, false));
                }
                b"failure" => cases.last_mut().expect("a failure inside a testcase").1 = true,
                _ => {}
            },
            Ok(_) => {}
            Err(e) => panic!("{path} is not well-formed XML: {e}"),
        }
    }
}

/// `run --out --pcap` writes result.json (camproof.run/3), report.md, report.html,
/// junit.xml (one case per check) and a pcap of the named host's connections that
/// tshark reads; `report render` renders the same files again from result.json.
#[test]
fn run_writes_reports_and_a_pcap() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/run-reports");
    let _ = std::fs::remove_dir_all(dir);
    let o = camproof(&[
        "run",
        ZONE_SPLIT,
        "--seed",
        "2",
        "--out",
        dir,
        "--pcap",
        "gw-eu-africa-1,site-apac-1",
    ]);
    let text = stdout(&o);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in [
        "result.json",
        "report.md",
        "report.html",
        "junit.xml",
        "capture.pcap",
        "capture.hosts",
    ] {
        assert!(
            std::path::Path::new(&format!("{dir}/{f}")).is_file(),
            "{f} missing:\n{text}"
        );
    }
    let capture = line(&text, "capture ");
    let words: Vec<&str> = capture.split_whitespace().collect();
    let (segments, flows): (u64, u64) = (
        words[1].parse().expect("segments"),
        words[4].parse().expect("flows"),
    );
    assert!(segments > 0 && flows > 0, "{capture}");
    assert!(capture.ends_with("capture.pcap"), "{capture}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/result.json")).unwrap())
            .expect("result.json is JSON");
    assert_eq!(json["schema"], "camproof.run/3");
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["capture"]["flows"], flows);
    assert!(
        json["timeline"].as_array().is_some_and(|t| t.len() >= 7),
        "a sample every 5 s"
    );
    assert_eq!(json["faults"].as_array().map(Vec::len), Some(4));

    let cases = junit_cases(&format!("{dir}/junit.xml"));
    let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "liveness",
            "one-leader-per-term",
            "no-acked-write-lost",
            "erasure",
            "residency",
            "alert-deadline",
            "relay-hold-limit",
            "no-plaintext-secret",
            "streams-resume",
            "no-credential-breach",
            "no-cross-tenant-access",
            "no-replay-accepted",
            "no-rogue-firmware",
            "ota-rollout-complete",
            "logins-during-attack",
            "fail-stop-storage",
            "no-unauthenticated-lockout"
        ]
    );
    assert!(cases.iter().all(|(_, failed)| !failed));
    let html = std::fs::read_to_string(format!("{dir}/report.html")).unwrap();
    assert!(html.contains("<svg ") && !html.contains("<script"));

    // Rendered again from result.json: the same files, byte for byte.
    let again = format!("{dir}/again");
    let o = camproof(&[
        "report",
        "render",
        &format!("{dir}/result.json"),
        "--out",
        &again,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["report.md", "report.html", "junit.xml"] {
        assert_eq!(
            std::fs::read(format!("{dir}/{f}")).unwrap(),
            std::fs::read(format!("{again}/{f}")).unwrap(),
            "{f}"
        );
    }
    let o = camproof(&["report", "render", ZONE_SPLIT]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a JSON report"));
    let o = camproof(&["run", ZONE_SPLIT, "--out", dir, "--pcap", "gw-mars-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--pcap \"gw-mars-1\": no such host"));

    // tshark, when installed, reads every connection of the capture.
    let pcap = format!("{dir}/capture.pcap");
    match Command::new("tshark")
        .args(["-r", &pcap, "-q", "-z", "conv,tcp"])
        .output()
    {
        Err(e) => eprintln!("skipping the tshark check: tshark is not installed ({e})"),
        Ok(t) => {
            let conv = String::from_utf8_lossy(&t.stdout);
            assert!(
                t.status.success(),
                "{conv}{}",
                String::from_utf8_lossy(&t.stderr)
            );
            assert!(conv.contains("TCP Conversations"), "{conv}");
            let rows = conv.lines().filter(|l| l.contains("<->")).count() as u64;
            assert_eq!(rows, flows, "{conv}");
            let list = Command::new("tshark")
                .args(["-r", &pcap, "-c", "5"])
                .output()
                .unwrap();
            let first = String::from_utf8_lossy(&list.stdout);
            assert!(list.status.success() && first.contains("TCP"), "{first}");
            println!("{conv}{first}");
        }
    }
}

/// A failing sweep (a planted store bug) writes a junit.xml with a suite per seed whose
/// failed check is a `<failure>` typed by the check's name, with the reproduce command,
/// and a report of it; a failing run does the same per check.
#[test]
fn failing_runs_and_sweeps_fail_in_junit() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/sweep-junit");
    let _ = std::fs::remove_dir_all(dir);
    let o = camproof(&[
        "sweep",
        ZONE_SPLIT,
        "--seeds",
        "1..2",
        "--plant",
        "ack-before-replication",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let cases = junit_cases(&format!("{dir}/junit.xml"));
    assert!(
        cases.contains(&("no-acked-write-lost".to_string(), true)),
        "{cases:?}"
    );
    let junit = std::fs::read_to_string(format!("{dir}/junit.xml")).unwrap();
    // One suite per seed, the failed check typed by its name.
    for seed in [1, 2] {
        let suite = format!("<testsuite name=\"zone-split seed {seed}\" ");
        assert!(junit.contains(&suite), "{junit}");
    }
    assert!(
        junit.contains("<failure type=\"no-acked-write-lost\" message=\""),
        "{junit}"
    );
    assert!(junit.contains("reproduce: camproof sweep"), "{junit}");
    let md = std::fs::read_to_string(format!("{dir}/report.md")).unwrap();
    assert!(
        md.contains("## Failures") && md.contains("### seed 1"),
        "{md}"
    );
    assert!(std::fs::read_to_string(format!("{dir}/report.html"))
        .unwrap()
        .contains("FAIL"));
    let merged = format!("{dir}/merged/merged.json");
    let o = camproof(&[
        "report",
        "merge",
        &format!("{dir}/sweep.json"),
        "--out",
        &merged,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(junit_cases(&format!("{dir}/merged/junit.xml")), cases);

    // A run whose cameras are still cut off at the end fails liveness, in junit too.
    let cut = format!("{dir}/site-cut-off.toml");
    std::fs::write(
        &cut,
        "name = \"site-cut-off\"\nduration = \"20s\"\n[world]\nregions = [\"eu-africa\"]\n\
         sites = 1\ncameras_per_site = 2\n[camera]\nheartbeat = \"5s\"\nfps = 0\n\
         [[fault]]\nat = \"2s\"\npartition = [\"site-eu-africa-0\", \"region:eu-africa\"]\n",
    )
    .expect("write the scenario");
    let run_dir = format!("{dir}/run");
    let o = camproof(&["run", &cut, "--out", &run_dir]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let cases = junit_cases(&format!("{run_dir}/junit.xml"));
    assert!(cases.contains(&("liveness".to_string(), true)), "{cases:?}");
    let junit = std::fs::read_to_string(format!("{run_dir}/junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `--duration` that ends before a fault is refused (exit 2, naming the line); with
/// `--allow-truncate` the run goes on, warns of each fault dropped and lists them in
/// result.json, and the reproduce line keeps the flag.
#[test]
fn a_truncating_override_is_refused_or_listed_never_silent() {
    let out = concat!(env!("CARGO_TARGET_TMPDIR"), "/truncate");
    let o = camproof(&["run", ZONE_SPLIT, "--duration", "10s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("zone-split.toml:37: the fault at 20s would be dropped")
            && stderr(&o).contains("the shortest --duration that keeps everything is 21s")
            && stderr(&o).contains("or pass --allow-truncate"),
        "{}",
        stderr(&o)
    );
    let o = camproof(&[
        "run",
        ZONE_SPLIT,
        "--duration",
        "10s",
        "--allow-truncate",
        "--out",
        out,
    ]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("warning: --allow-truncate dropped ")
            && stderr(&o).contains("zone-split.toml:37: the fault at 20s"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("--duration 10s --allow-truncate"),
        "{}",
        stdout(&o)
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{out}/result.json")).expect("result.json"),
    )
    .expect("json");
    let dropped = json["dropped"].as_array().expect("dropped listed");
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0]
        .as_str()
        .unwrap_or("")
        .contains(":37: the fault at 20s"));
}

/// `--format json` puts the result document on stdout and nothing else; `-q` keeps only
/// the result lines; a command with no result document refuses `--format json`.
#[test]
fn json_and_quiet_output_are_made_for_pipelines() {
    let o = camproof(&["run", ZONE_SPLIT, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(json["schema"], "camproof.run/3");
    assert_eq!(json["verdict"], "pass");
    let o = camproof(&["run", ZONE_SPLIT, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "result: pass");
    assert!(
        lines[1].starts_with("reproduce: camproof run "),
        "{lines:?}"
    );
    let o = camproof(&["sweep", ZONE_SPLIT, "--seeds", "1..2", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(json["passed"], 2);
    assert!(json["version"]
        .as_str()
        .unwrap_or("")
        .starts_with("camproof "));
    let o = camproof(&["demo", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("prints no result document"),
        "{}",
        stderr(&o)
    );
    for what in ["scenarios", "plants", "checks", "faults", "profiles"] {
        let o = camproof(&["list", what, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(&o.stdout).expect("a JSON array");
        assert!(items.len() > 1, "{what}");
        assert!(items
            .iter()
            .all(|i| i["name"].is_string() && i["description"].is_string()));
    }
    let o = camproof(&["list", "checks"]);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.starts_with("no-acked-write-lost ")),
        "{}",
        stdout(&o)
    );
}

/// A sweep prints a line per seed and keeps the reports of each failing seed (all of
/// them with --keep-all).
#[test]
fn a_sweep_keeps_the_reports_of_failing_seeds() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/sweep-seed-files");
    let _ = std::fs::remove_dir_all(dir);
    let o = camproof(&[
        "sweep",
        ZONE_SPLIT,
        "--seeds",
        "1..2",
        "--plant",
        "ack-before-replication",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("FAIL seed 1: no-acked-write-lost"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("pass seed 2 in "), "{}", stdout(&o));
    for f in ["result.json", "report.html", "report.md", "junit.xml"] {
        assert!(
            std::path::Path::new(&format!("{dir}/seed-1/{f}")).exists(),
            "{f}"
        );
    }
    assert!(
        !std::path::Path::new(&format!("{dir}/seed-2")).exists(),
        "a passing seed"
    );
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/seed-1/result.json")).expect("seed 1"),
    )
    .expect("json");
    assert_eq!(result["seed"], 1);
    assert_eq!(result["failures"][0]["check"], "no-acked-write-lost");
    let all = format!("{dir}/all");
    let o = camproof(&[
        "sweep",
        ZONE_SPLIT,
        "--seeds",
        "2",
        "--keep-all",
        "--out",
        &all,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::path::Path::new(&format!("{all}/seed-2/result.json")).exists());
}

/// Ctrl-C stops a sweep with exit code 3; the seeds that finished are written, the
/// report says it was interrupted and which seeds did not run, and a merge refuses it
/// unless partial.
#[cfg(unix)]
#[test]
fn an_interrupted_sweep_exits_3_and_keeps_what_finished() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/sweep-interrupted");
    let _ = std::fs::remove_dir_all(dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args([
            "sweep", ZONE_SPLIT, "--seeds", "1..400", "--jobs", "1", "--out", dir,
        ])
        .env(
            "CAMPROOF_KEY_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/keys"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sweep starts");
    // Interrupt once the first seed has finished (its line is printed).
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    while !seen.contains("pass seed 1 ") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut out, &mut line).expect("reads");
        assert!(n > 0, "the sweep ended before its first seed: {seen}");
        seen += &line;
    }
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sending SIGINT to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = child.wait().expect("the sweep stops");
    assert_eq!(status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/sweep.json")).expect("what finished is written"),
    )
    .expect("json");
    assert_eq!(report["interrupted"], true);
    let ran = report["runs"].as_array().expect("runs").len();
    let missing = report["missing_seeds"].as_array().expect("missing").len();
    assert!(ran >= 1 && ran + missing == 400, "{ran} + {missing}");
    let merged = format!("{dir}/merged.json");
    let o = camproof(&[
        "report",
        "merge",
        &format!("{dir}/sweep.json"),
        "--out",
        &merged,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it was interrupted"), "{}", stderr(&o));
}

/// Ctrl-C stops a run with exit code 3 and writes no result (its checks need the whole
/// run), saying so.
#[cfg(unix)]
#[test]
fn an_interrupted_run_exits_3_and_writes_no_result() {
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/run-interrupted");
    let _ = std::fs::remove_dir_all(dir);
    let child = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args([
            "run",
            &scenario("smoke.toml"),
            "--duration",
            "2h",
            "--out",
            dir,
        ])
        .env(
            "CAMPROOF_KEY_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/keys"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run starts");
    // The output directory is checked (and made) before the world runs.
    let probe = std::path::Path::new(dir);
    while !probe.exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sending SIGINT to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("the run stops");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("interrupted after"), "{err}");
    assert!(!probe.join("result.json").exists());
}
