//! `camproof`: the command-line entry point. Parses arguments and dispatches; the work
//! lives in the workspace's library crates and in the command modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod demo;
mod keycache;
mod live;
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
    /// Run the platform on real sockets (loopback by default).
    Serve {
        /// Address to listen on (port 0 picks a free port; the real one is printed).
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: String,
        /// Stop after this long (e.g. 30s); runs until killed otherwise.
        #[arg(long)]
        duration: Option<String>,
        /// Seed of the test PKI; `swarm` must use the same.
        #[arg(long, default_value_t = 1)]
        pki_seed: u64,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
    /// Run simulated cameras on real sockets against a platform endpoint.
    Swarm {
        /// The gateway's address (host:port).
        #[arg(long)]
        platform: String,
        /// Number of cameras.
        #[arg(long, default_value_t = 10)]
        cameras: u64,
        /// How long to run (e.g. 30s).
        #[arg(long, default_value = "30s")]
        duration: String,
        /// Video frames per second per camera (0: heartbeats only).
        #[arg(long, default_value_t = 10)]
        fps: u32,
        /// Video bitrate per camera in kbit/s.
        #[arg(long, default_value_t = 256)]
        bitrate_kbps: u64,
        /// Seed of the cameras' random draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seed of the test PKI; must match the platform's.
        #[arg(long, default_value_t = 1)]
        pki_seed: u64,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
    /// Run one simulated camera whose NETIP/DVRIP port third-party tools can talk to.
    Camera {
        /// Address of the NETIP port.
        #[arg(long, default_value = "127.0.0.1:34567")]
        netip: String,
        /// The camera's serial number.
        #[arg(long, default_value = "CAMPROOF0000001")]
        serial: String,
        /// The admin password (required unless --flaw empty-admin-password).
        #[arg(
            long,
            env = "CAMPROOF_NETIP_PASSWORD",
            hide_env_values = true,
            default_value = ""
        )]
        admin_password: String,
        /// Behave like vulnerable firmware (repeatable).
        #[arg(long = "flaw", value_enum)]
        flaws: Vec<live::NetipFlaw>,
        /// Stop after this long (e.g. 60s); runs until killed otherwise.
        #[arg(long)]
        duration: Option<String>,
        /// Seed of the test PKI whose vendor-0 key signs accepted firmware.
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
    /// Simulation speed: simulated seconds per wall second for a world of cameras.
    World {
        /// Total cameras (spread evenly over the sites).
        #[arg(long, default_value_t = 10_000)]
        cameras: u64,
        /// Camera sites (simulated hosts).
        #[arg(long, default_value_t = 40)]
        sites: u32,
        /// Regions (1 to 4: cn, americas, eu-africa, apac).
        #[arg(long, default_value_t = 4)]
        regions: u32,
        /// Availability zones per region (one gateway each).
        #[arg(long, default_value_t = 3)]
        zones_per_region: u32,
        /// Simulated duration.
        #[arg(long, default_value = "10m")]
        duration: String,
        /// Video frames per second per camera (0: heartbeats only).
        #[arg(long, default_value_t = 0)]
        fps: u32,
        /// Video bitrate per camera in kbit/s.
        #[arg(long, default_value_t = 512)]
        bitrate_kbps: u64,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulator step in milliseconds (coarser is faster, resolves latency less).
        #[arg(long, default_value_t = 1)]
        tick_ms: u64,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
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

/// Parses an optional `--duration`-style value such as `30s` or `10m`.
fn parse_opt_duration(text: Option<&str>) -> anyhow::Result<Option<std::time::Duration>> {
    text.map(|t| {
        humantime::parse_duration(t)
            .map_err(|e| anyhow::anyhow!("--duration {t:?}: {e} (expected e.g. 30s or 10m)"))
    })
    .transpose()
}

fn main() -> ExitCode {
    restore_sigpipe();
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
        Command::Serve {
            listen,
            duration,
            pki_seed,
            keys,
        } => parse_opt_duration(duration.as_deref()).and_then(|duration| {
            live::serve(
                listen,
                duration,
                pki_seed,
                keycache::open(keys.key_cache, keys.no_key_cache),
            )
        }),
        Command::Swarm {
            platform,
            cameras,
            duration,
            fps,
            bitrate_kbps,
            seed,
            pki_seed,
            keys,
        } => parse_opt_duration(Some(&duration)).and_then(|d| {
            live::swarm(
                live::SwarmArgs {
                    platform,
                    cameras,
                    duration: d.unwrap_or_default(),
                    fps,
                    bitrate_kbps,
                    seed,
                    pki_seed,
                },
                keycache::open(keys.key_cache, keys.no_key_cache),
            )
        }),
        Command::Camera {
            netip,
            serial,
            admin_password,
            flaws,
            duration,
            pki_seed,
            keys,
        } => parse_opt_duration(duration.as_deref()).and_then(|duration| {
            live::camera(
                netip,
                serial,
                admin_password,
                flaws,
                duration,
                pki_seed,
                keycache::open(keys.key_cache, keys.no_key_cache),
            )
        }),
        Command::Bench {
            what: BenchCommand::Pki { keys, iterations },
        } => bench::pki(keys, iterations),
        Command::Bench {
            what:
                BenchCommand::World {
                    cameras,
                    sites,
                    regions,
                    zones_per_region,
                    duration,
                    fps,
                    bitrate_kbps,
                    seed,
                    tick_ms,
                    keys,
                },
        } => parse_opt_duration(Some(&duration)).and_then(|d| {
            bench::world(
                bench::WorldBenchArgs {
                    cameras,
                    sites,
                    regions,
                    zones_per_region,
                    duration: d.unwrap_or_default(),
                    fps,
                    bitrate_kbps,
                    seed,
                    tick: std::time::Duration::from_millis(tick_ms.clamp(1, 1000)),
                },
                keycache::open(keys.key_cache, keys.no_key_cache),
            )
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("camproof: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Lets a closed pipe end the process quietly (`camproof run ... | head`), as other Unix
/// tools do, instead of the Rust default of panicking on the next write.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting SIGPIPE to its default disposition at start-up, before any thread
    // exists, has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
