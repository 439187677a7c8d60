//! `camproof`: the command-line entry point. Parses arguments and dispatches; the work
//! lives in the workspace's library crates and in the command modules.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod admission_args;
mod allocator;
mod bench;
mod certify;
mod demo;
mod dut_camera;
mod keycache;
mod list;
mod live;
mod logging;
mod output;
mod plant_arg;
mod relay_cmd;
mod report_cmd;
mod run;
mod sweep;

/// Simulation and conformance test harness for video-surveillance clouds and IP cameras.
#[derive(Debug, Parser)]
#[command(name = "camproof", version = version_text(), about, long_about = None)]
struct Cli {
    /// Print only result lines and errors (no detail, no progress, logs at error level).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log more on stderr: -v info, -vv debug, -vvv trace (RUST_LOG, when set, decides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// How `run`, `sweep`, `report merge` and `list` print their result: `json` prints
    /// the result document on stdout and nothing else there.
    #[arg(long, global = true, value_enum, default_value_t = output::Format::Text)]
    format: output::Format,
    #[command(subcommand)]
    command: Command,
}

/// This build: the package version and the commit it was built from.
pub fn version() -> String {
    format!("camproof {}", version_text())
}

const fn version_text() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (",
        env!("CAMPROOF_COMMIT"),
        ")"
    )
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
        #[command(flatten)]
        args: run::RunArgs,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
    /// Run a scenario over many seeds (in parallel, or one shard of them) and shrink a
    /// failing run to a small scenario that still fails.
    Sweep(sweep::SweepArgs),
    /// Work with run and sweep results.
    Report {
        #[command(subcommand)]
        what: ReportCommand,
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
        /// Directory of the store's three on-disk replicas (kept across restarts).
        #[arg(long, default_value = "camproof-data")]
        data: std::path::PathBuf,
        /// First of the three loopback ports of the store's replicas.
        #[arg(long, default_value_t = 7500)]
        store_port: u16,
        /// Rebuild this store replica (1-3) from its peers: its directory is renamed
        /// aside (kept, never deleted) and it starts empty. Only with the two others intact.
        #[arg(long = "rebuild-replica", value_name = "N")]
        rebuild_replica: Vec<u64>,
        #[command(flatten)]
        admission: admission_args::AdmissionArgs,
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
        flaws: Vec<camproof_simulated_devices::netip_server::NetipFlaw>,
        /// Stop after this long (e.g. 60s); runs until killed otherwise.
        #[arg(long)]
        duration: Option<String>,
        /// Seed of the test PKI whose vendor-0 key signs accepted firmware.
        #[arg(long, default_value_t = 1)]
        pki_seed: u64,
        /// Also connect to this platform endpoint over CDP/1 (repeatable: fallbacks);
        /// `@gateway:PORT` means the default route's gateway (inside a container: the
        /// Docker host). Uses the certification test PKI and revocation list.
        #[arg(long)]
        platform: Vec<String>,
        /// Firmware profile (certification DUT profiles: reference or a flawed one).
        #[arg(long)]
        profile: Option<String>,
        /// Video frames per second sent to the platform.
        #[arg(long, default_value_t = 25)]
        fps: u32,
        /// Seed of the camera's random draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        keys: KeyCacheArgs,
        #[command(flatten)]
        admission: admission_args::AdmissionArgs,
    },
    /// Certify camera firmware: requirement-mapped tests against a simulated profile,
    /// a device on the network, a container image or a capture; signed report.
    Certify(CertifyArgs),
    /// Check a signed certification report: signature and integrity.
    VerifyReport {
        /// The report.json.
        file: PathBuf,
        /// Expected signer's public key (64 hex digits).
        #[arg(long)]
        key: Option<String>,
    },
    /// Run the end-to-end encrypted video relay on real sockets (see docs/relay.md).
    Relay(RelayArgs),
    /// List what can be named: catalog scenarios, plants, checks, fault actions or
    /// certification profiles, each with a one-line description.
    List {
        /// What to list.
        #[arg(value_enum)]
        what: list::What,
        /// The catalog directory (for `scenarios`).
        #[arg(long, default_value = "scenarios/catalog")]
        dir: PathBuf,
    },
    /// Benchmarks that print figures (wall-clock, this machine).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Join sweep reports of one scenario (shards of a sweep) into one.
    Merge {
        /// The sweep.json files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write the merged report; report.md, report.html and junit.xml go
        /// next to it.
        #[arg(long, default_value = "sweep.json")]
        out: PathBuf,
        /// Merge even when shards of a sweep are missing; the merged report lists the
        /// missing shards and seeds (without it, a missing shard is an error).
        #[arg(long)]
        allow_partial: bool,
    },
    /// Render report.md, report.html and junit.xml again from a saved result.json (of
    /// `run`) or sweep.json (of `sweep` or `report merge`).
    Render {
        /// The result.json or sweep.json.
        file: PathBuf,
        /// Directory to write into [default: the file's directory].
        #[arg(long)]
        out: Option<PathBuf>,
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
        /// Viewer apps per site: each signs in (password and TOTP), sends PTZ commands
        /// through signaling and watches live views through the relay.
        #[arg(long, default_value_t = 0)]
        viewers_per_site: u32,
        /// Viewers also open live views (real sealed video through the relays); without
        /// it they sign in, list devices and send commands.
        #[arg(long)]
        live_view: bool,
        #[command(flatten)]
        keys: KeyCacheArgs,
    },
    /// The video relay against a direct transfer, socat and srt-live-transmit (loopback).
    Relay {
        /// Concurrent streams (cameras) in every case.
        #[arg(long, default_value_t = 1)]
        streams: u32,
        /// Largest fan-out: viewers per stream (1 and 10 are measured too).
        #[arg(long, default_value_t = 100)]
        viewers: u32,
        /// Seconds each phase (unpaced, then paced) sends for.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Total delivered rate of the paced (latency) phase, in Gbit/s.
        #[arg(long, default_value_t = 1.0)]
        latency_gbps: f64,
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
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
pub struct KeyCacheArgs {
    /// Directory for cached test keys [default: $CAMPROOF_KEY_CACHE, else ~/.cache/camproof/keys].
    #[arg(long)]
    key_cache: Option<PathBuf>,
    /// Generate every key afresh and cache nothing.
    #[arg(long)]
    no_key_cache: bool,
}

impl KeyCacheArgs {
    /// The cache these options choose.
    pub fn open(&self) -> Box<dyn camproof_protocol::pki::KeyCache> {
        camproof_platform::key_cache::open(self.key_cache.clone(), self.no_key_cache)
    }
}

/// What `camproof relay` was asked to do.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Address to listen on (port 0 picks a free port; the real one is printed).
    #[arg(long, default_value = "127.0.0.1:7444")]
    listen: String,
    /// Longest a frame may wait for a viewer, e.g. 3s or 500ms.
    #[arg(long, default_value = "3s")]
    max_age: String,
    /// Most frames queued per viewer.
    #[arg(long, default_value_t = 256)]
    max_queue_frames: usize,
    /// Most bytes queued per viewer.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_queue_bytes: usize,
    /// Stop after this long (e.g. 60s); runs until killed otherwise.
    #[arg(long)]
    duration: Option<String>,
    /// Stop when standard input closes (used by `bench relay`).
    #[arg(long, hide = true)]
    exit_on_stdin_eof: bool,
    #[command(flatten)]
    admission: admission_args::AdmissionArgs,
}

/// What `camproof certify` was asked to do.
#[derive(Debug, clap::Args)]
pub struct CertifyArgs {
    /// Mode 1: a simulated profile, inside the deterministic simulator.
    #[arg(long, group = "dut_mode")]
    profile: Option<String>,
    /// Mode 2: act as the platform on this address (HOST:PORT; PORT+1 is the
    /// fallback endpoint); needs --dut.
    #[arg(long, group = "dut_mode", requires = "dut")]
    listen: Option<String>,
    /// Mode 2: the device's host, or HOST:NETIP_PORT.
    #[arg(long)]
    dut: Option<String>,
    /// Mode 2: the address the device reaches the harness at (default: the listen
    /// host, or 127.0.0.1 for 0.0.0.0).
    #[arg(long)]
    advertise: Option<String>,
    /// Mode 3: a local container image NAME:TAG whose entrypoint is `camproof camera`.
    #[arg(long, group = "dut_mode")]
    image: Option<String>,
    /// Mode 3: the port the harness's platform listens on.
    #[arg(long, default_value_t = 17443)]
    port: u16,
    /// Mode 3: extra argument for the image's entrypoint (repeatable).
    #[arg(long = "container-arg", allow_hyphen_values = true)]
    container_args: Vec<String>,
    /// Mode 4: a pcap or pcapng capture.
    #[arg(long, group = "dut_mode")]
    pcap: Option<PathBuf>,
    /// DUT description (TOML; see conformance/duts/). Default: the camproof camera.
    #[arg(long)]
    description: Option<PathBuf>,
    /// Seed of every random draw; same seed, same run (mode 1).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only this test case.
    #[arg(long)]
    test: Option<String>,
    /// Directory for report.json, report.html, junit.xml and the capture.
    #[arg(long, default_value = "certification")]
    out: PathBuf,
    /// Ed25519 report signing key (64 hex digits) [default: $CAMPROOF_SIGNING_KEY,
    /// else ~/.config/camproof/report-signing.key, created on first use].
    #[arg(long)]
    signing_key: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyCacheArgs,
}

/// Parses an optional `--duration`-style value such as `30s` or `10m`.
fn parse_opt_duration(text: Option<&str>) -> anyhow::Result<Option<std::time::Duration>> {
    text.map(|t| {
        humantime::parse_duration(t)
            .map_err(|e| anyhow::anyhow!("--duration {t:?}: {e} (expected e.g. 30s or 10m)"))
    })
    .transpose()
}

#[global_allocator]
static ALLOCATOR: allocator::Committing = allocator::Committing;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    logging::init(log_level(cli.quiet, cli.verbose));
    output::init(output::Mode {
        quiet: cli.quiet,
        format: cli.format,
    });
    if cli.format == output::Format::Json && !cli.command.prints_json() {
        eprintln!(
            "camproof: error: --format json: this command prints no result document (run, \
             sweep, report merge and list do)"
        );
        return ExitCode::from(2);
    }
    if cli.command.interruptible() {
        output::catch_interrupt();
    }
    let result = match cli.command {
        Command::List { what, dir } => list::list(what, &dir, output::json()),
        Command::Demo { seed, frames, keys } => demo::run(seed, frames, keys.open()),
        Command::Run { args, keys } => run::run(args, keys.open()),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Report {
            what:
                ReportCommand::Merge {
                    inputs,
                    out,
                    allow_partial,
                },
        } => sweep::merge(&inputs, &out, allow_partial),
        Command::Report {
            what: ReportCommand::Render { file, out },
        } => report_cmd::render(&file, out),
        Command::Serve {
            listen,
            duration,
            pki_seed,
            data,
            store_port,
            rebuild_replica,
            admission,
            keys,
        } => parse_opt_duration(duration.as_deref()).and_then(|duration| {
            let config = camproof_platform::region::standalone::StandaloneConfig {
                listen,
                data,
                store_port,
                seed: pki_seed,
                duration,
                rebuild: rebuild_replica,
                admission: admission.limits()?,
            };
            live::serve(config, keys.open())
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
            let config = camproof_simulated_devices::swarm::SwarmConfig {
                bitrate_bps: bitrate_kbps * 1000,
                fps,
                seed,
                ..camproof_simulated_devices::swarm::SwarmConfig::new(platform, cameras)
            };
            live::swarm(config, d.unwrap_or_default(), pki_seed, keys.open())
        }),
        Command::Camera {
            netip,
            serial: _,
            admin_password,
            flaws,
            duration,
            pki_seed: _,
            platform,
            profile,
            fps,
            seed,
            keys,
            admission,
        } if !platform.is_empty() || profile.is_some() => parse_opt_duration(duration.as_deref())
            .and_then(|duration| {
                // A firmware profile brings its own NETIP server; flags it would not
                // honour are refused rather than dropped.
                if admission.limits()? != camproof_net::AdmissionLimits::default() {
                    anyhow::bail!(
                        "the admission flags (--max-connections, --handshake-deadline, …) \
                         apply to the plain NETIP camera; with --platform or --profile the \
                         firmware profile's own limits are used: drop those flags"
                    );
                }
                let camera = camproof_conformance::dutsim::DutCamera {
                    netip,
                    platform,
                    profile: profile.unwrap_or_else(|| "reference".into()),
                    flaws,
                    admin_password,
                    seed,
                    fps,
                };
                dut_camera::run(camera, duration, keys.open())
            }),
        Command::Camera {
            netip,
            serial,
            admin_password,
            flaws,
            duration,
            pki_seed,
            keys,
            admission,
            ..
        } => parse_opt_duration(duration.as_deref()).and_then(|duration| {
            let camera = camproof_simulated_devices::netip_server::StandaloneCamera {
                listen: netip,
                serial,
                admin_password,
                flaws,
                duration,
                admission: admission.limits()?,
            };
            live::camera(camera, pki_seed, keys.open())
        }),
        Command::Certify(args) => certify::certify(args),
        Command::VerifyReport { file, key } => certify::verify(&file, key.as_deref()),
        Command::Relay(args) => relay_cmd::run(args),
        Command::Bench {
            what: BenchCommand::Pki { keys, iterations },
        } => bench::pki(keys, iterations),
        #[cfg(unix)]
        Command::Bench {
            what:
                BenchCommand::Relay {
                    streams,
                    viewers,
                    seconds,
                    latency_gbps,
                    json,
                },
        } => std::env::current_exe()
            .context("locating the camproof binary")
            .and_then(|camproof| {
                let args = camproof_bench::relay::RelayBenchArgs {
                    streams,
                    viewers,
                    seconds,
                    latency_gbps,
                    camproof,
                };
                bench::relay(args, json)
            }),
        #[cfg(not(unix))]
        Command::Bench {
            what: BenchCommand::Relay { .. },
        } => Err(anyhow::anyhow!(
            "bench relay needs a Unix host (it reads child rusage)"
        )),
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
                    viewers_per_site,
                    live_view,
                    keys,
                },
        } => parse_opt_duration(Some(&duration)).and_then(|d| {
            bench::world(
                camproof_bench::world::WorldBenchArgs {
                    cameras,
                    sites,
                    regions,
                    zones_per_region,
                    duration: d.unwrap_or_default(),
                    fps,
                    bitrate_kbps,
                    seed,
                    tick: std::time::Duration::from_millis(tick_ms.clamp(1, 1000)),
                    viewers_per_site,
                    live_view,
                },
                keys.open(),
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

/// The log level `-q` and `-v` ask for (`RUST_LOG`, when set, overrides it).
fn log_level(quiet: bool, verbose: u8) -> tracing::level_filters::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => logging::DEFAULT_LEVEL,
        (false, 1) => LevelFilter::INFO,
        (false, 2) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    }
}

impl Command {
    /// Whether `--format json` prints this command's result document.
    fn prints_json(&self) -> bool {
        matches!(
            self,
            Command::Run { .. }
                | Command::Sweep(_)
                | Command::List { .. }
                | Command::Report {
                    what: ReportCommand::Merge { .. }
                }
        )
    }

    /// Whether Ctrl-C stops this command in order (what finished is written, exit 3);
    /// the others end at once as usual.
    fn interruptible(&self) -> bool {
        matches!(self, Command::Run { .. } | Command::Sweep(_))
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
