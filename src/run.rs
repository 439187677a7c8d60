//! `camproof run`: arguments, then the scenario engine ([`RunOptions`]), the summary and
//! the reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use camproof_protocol::pki::KeyCache;
use camproof_scenarios::overrides;
use camproof_scenarios::run::RunOptions;
use camproof_scenarios::summary;

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

/// Runs one scenario; exit code 0 pass, 1 liveness failure.
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
    let pki = crate::keycache::platform_pki(args.pki_seed, cache.as_mut())?;
    let (summary, wall) = options.run(&scenario, &pki, cache.as_mut())?;
    print!("{}", summary::summary_text(&scenario, &summary, wall));
    let failures = summary.failures();
    let verdict = summary::verdict(&failures);
    let again = options.reproduce();
    if let Some(out) = &args.out {
        let mut report = crate::report_cmd::run_report(
            &scenario,
            &args.scenario,
            &summary,
            wall,
            &verdict,
            again.clone(),
        );
        if !args.pcap.is_empty() {
            report.capture = Some(crate::report_cmd::write_capture(out, &summary, &args.pcap)?);
        }
        let files = camproof_reports::run_files(&report).context("rendering the reports")?;
        crate::report_cmd::write_files(out, &files)?;
    }
    println!("result: {verdict}");
    println!("reproduce: {again}");
    Ok(ExitCode::from(u8::from(!failures.is_empty())))
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
}

impl Overrides {
    /// The scenario engine's overrides.
    pub fn to_lib(&self) -> overrides::Overrides {
        overrides::Overrides {
            cameras: self.cameras,
            sites: self.sites,
            duration: self.duration.clone(),
        }
    }
}
