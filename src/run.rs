//! `camproof run`: arguments, then the scenario engine ([`RunOptions`]), the summary and
//! the reports.

use std::path::PathBuf;
use std::process::ExitCode;

use std::ops::ControlFlow;

use anyhow::{Context, Result};
use camproof_protocol::pki::KeyCache;
use camproof_scenarios::overrides;
use camproof_scenarios::run::RunOptions;
use camproof_scenarios::summary;
use camproof_scenarios::world::Progress;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;

/// What `camproof run` was asked to do.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (see scenarios/catalog/).
    pub scenario: PathBuf,
    /// Seed of the run; same seed, same trace hash.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The world's size and length, overriding the file.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Directory for the reports: result.json, report.md, report.html, junit.xml.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep every TCP segment to or from these hosts (comma-separated host names, or
    /// `region:<name>`) and write them to OUT/capture.pcap; needs --out.
    #[arg(long, value_delimiter = ',', requires = "out", value_name = "HOSTS")]
    pub pcap: Vec<String>,
    /// Seed of the test PKI; kept apart from --seed so sweeps reuse cached keys.
    #[arg(long, default_value_t = 1)]
    pub pki_seed: u64,
    /// Do not scan the simulated wire for the run's secrets (faster for big video runs;
    /// the no-plaintext-secret check is then not made).
    #[arg(long)]
    pub no_wire_scan: bool,
    /// Plant a bug in the platform or the cameras, to see the checks catch it.
    #[arg(long, value_parser = crate::plant_arg::plants())]
    pub plant: Option<camproof_scenarios::plants::Plant>,
}

/// Runs one scenario; exit code 0 pass, 1 a check failed, 3 interrupted.
pub fn run(args: RunArgs, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    if let Some(out) = &args.out {
        crate::report_cmd::ensure_writable(out)?;
    }
    let options = RunOptions {
        file: args.scenario.clone(),
        seed: args.seed,
        overrides: args.overrides.to_lib(),
        capture: args.pcap.clone(),
        pki_seed: args.pki_seed,
        wire_scan: !args.no_wire_scan,
        plant: args.plant,
    };
    let scenario = options.scenario()?;
    output::warn_dropped(&scenario.dropped);
    let pki = crate::keycache::platform_pki(args.pki_seed, cache.as_mut())?;
    let bar = progress_bar();
    let mut watch = |at: &Progress| {
        if bar.length().is_none() {
            bar.set_length(at.duration.as_secs());
        }
        bar.set_position(at.elapsed.as_secs());
        bar.set_message(format!(
            "{}/{} cameras online",
            at.cameras_online, at.cameras
        ));
        if output::interrupted() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let (summary, wall) = options.run(&scenario, &pki, cache.as_mut(), &mut watch)?;
    bar.finish_and_clear();
    let Some(summary) = summary else {
        eprintln!(
            "camproof: interrupted after {} of {} simulated ({:.1} s wall): a run's checks \
             need its whole length, so no result was written",
            humantime::format_duration(std::time::Duration::from_secs(bar.position())),
            humantime::format_duration(scenario.world.duration),
            wall.as_secs_f64()
        );
        return Ok(ExitCode::from(output::EXIT_INTERRUPTED));
    };
    output::say_lines(&summary::summary_text(&scenario, &summary, wall));
    let failures = summary.failures();
    let verdict = summary::verdict(&failures);
    let again = options.reproduce();
    let mut report = crate::report_cmd::run_report(
        &scenario,
        &args.scenario,
        &summary,
        wall,
        &verdict,
        again.clone(),
    );
    if let Some(out) = &args.out {
        if !args.pcap.is_empty() {
            report.capture = Some(crate::report_cmd::write_capture(out, &summary, &args.pcap)?);
        }
        let files = camproof_reports::run_files(&report).context("rendering the reports")?;
        crate::report_cmd::write_files(out, &files)?;
    }
    if output::json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding the result")?
        );
    }
    output::result(&format!("result: {verdict}"));
    output::result(&format!("reproduce: {again}"));
    Ok(ExitCode::from(u8::from(!failures.is_empty())))
}

/// The progress line of a run: simulated time of the whole, speed, cameras online
/// (hidden unless stderr is a terminal and not `-q`).
fn progress_bar() -> ProgressBar {
    if !output::progress() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::no_length();
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} s simulated, {per_sec} sim-s/s, {msg} [{elapsed}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Options that override a scenario file's world, for runs at scale.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Total cameras, spread over the scenario's sites (overrides the file).
    #[arg(long)]
    pub cameras: Option<u64>,
    /// Customer sites, spread over the scenario's regions (overrides the file). Each
    /// site's account holds at most 256 cameras: 10,000 cameras need 40 sites.
    #[arg(long)]
    pub sites: Option<u32>,
    /// Simulated duration such as 90s or 10m (overrides the file).
    #[arg(long)]
    pub duration: Option<String>,
    /// Drop the faults and attacks the overridden world no longer fits (a --duration
    /// that ends before them, fewer --sites) and list each, instead of refusing.
    #[arg(long)]
    pub allow_truncate: bool,
}

impl Overrides {
    /// The scenario engine's overrides.
    pub fn to_lib(&self) -> overrides::Overrides {
        overrides::Overrides {
            cameras: self.cameras,
            sites: self.sites,
            duration: self.duration.clone(),
            allow_truncate: self.allow_truncate,
        }
    }
}
