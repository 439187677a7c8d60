//! `camproof`: the command-line entry point. Parses arguments and dispatches; the work
//! lives in the workspace's library crates and in the command modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod demo;
mod keycache;
mod run;

/// Simulation and conformance test harness for video-surveillance clouds and IP cameras.
#[derive(Debug, Parser)]
#[command(name = "camproof", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Protocol demonstration: a real CDP/1 handshake, end-to-end sealed video through a
    /// relay that cannot read it, and replayed or tampered traffic being refused.
    Demo {
        /// Seed for the PKI, keys and every random draw; same seed, same output.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of video frames the camera streams.
        #[arg(long, default_value_t = 30)]
        frames: u32,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
    /// Run a scenario's world in the deterministic simulator and report what happened.
    Run {
        /// The scenario file (see scenarios/catalog/).
        scenario: PathBuf,
        /// Seed of the run; same seed, same trace hash.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Total cameras, spread over the scenario's sites (overrides the file).
        #[arg(long)]
        cameras: Option<u64>,
        /// Simulated duration such as 90s or 10m (overrides the file).
        #[arg(long)]
        duration: Option<String>,
        /// Directory to write result.json into.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the test PKI; kept apart from --seed so sweeps reuse cached keys.
        #[arg(long, default_value_t = 1)]
        pki_seed: u64,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
    /// Benchmarks that print figures (wall-clock, this machine).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Test-PKI throughput: key generation, certificate issue and verification, handshakes.
    Pki {
        /// RSA keys to generate for the key-generation figure.
        #[arg(long, default_value_t = 4)]
        keys: u32,
        /// Operations per measured figure (certificates, verifications, handshakes).
        #[arg(long, default_value_t = 200)]
        iterations: u32,
    },
}

/// Where generated RSA keys are cached between runs.
#[derive(Debug, clap::Args)]
struct KeyCacheArgs {
    /// Directory for cached test keys [default: $CAMPROOF_KEY_CACHE, else ~/.cache/camproof/keys].
    #[arg(long)]
    key_cache: Option<PathBuf>,
    /// Generate every key afresh and cache nothing.
    #[arg(long)]
    no_key_cache: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { seed, frames, keys } => demo::run(
            seed,
            frames,
            keycache::open(keys.key_cache, keys.no_key_cache),
        ),
        Command::Run {
            scenario,
            seed,
            cameras,
            duration,
            out,
            pki_seed,
            keys,
        } => run::run(
            run::RunArgs {
                scenario,
                seed,
                cameras,
                duration,
                out,
                pki_seed,
            },
            keycache::open(keys.key_cache, keys.no_key_cache),
        ),
        Command::Bench {
            what: BenchCommand::Pki { keys, iterations },
        } => bench::pki(keys, iterations),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("camproof: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
