//! Logs: the `tracing` events of camproof's crates, written to standard error.
//!
//! `RUST_LOG` picks what is logged (`RUST_LOG=info`, `RUST_LOG=camproof_platform=debug`,
//! any `tracing_subscriber` filter). Without it, camproof's own crates log at the
//! default level and the dependencies not at all, so a run without `RUST_LOG` prints
//! what it always printed. Inside a simulation a line carries simulated time
//! (`sim+12.500000s`), never the host's clock.

use std::fmt;

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing_subscriber::filter::{dynamic_filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The default level when `RUST_LOG` is not set.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::WARN;

/// Installs the standard-error logger: the `RUST_LOG` filter when set, else
/// `default_level` for camproof's crates.
///
/// Without `RUST_LOG` and below `INFO`, events from inside a simulated world are not
/// logged: a simulation's refusals and faults are its results, told in its report, and
/// thousands of them must not flood a terminal. An unreadable `RUST_LOG` is reported
/// once and the default used.
pub fn init(default_level: LevelFilter) {
    let rust_log = match std::env::var("RUST_LOG") {
        Ok(spec) => Some(spec),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("camproof: warning: RUST_LOG is not UTF-8; using the default");
            None
        }
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_timer(SimOrWallTime)
        .with_filter(filter(rust_log.as_deref(), default_level));
    // `try_init` fails only if a logger is already installed: keep that one.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// What is logged: `rust_log` when set and readable, else `default_level` for
/// camproof's crates (outside simulations below `INFO`).
fn filter(
    rust_log: Option<&str>,
    default_level: LevelFilter,
) -> Box<dyn Filter<Registry> + Send + Sync> {
    if let Some(spec) = rust_log.filter(|s| !s.trim().is_empty()) {
        match EnvFilter::builder().parse(spec) {
            Ok(filter) => return Box::new(filter),
            Err(e) => eprintln!(
                "camproof: warning: RUST_LOG={spec:?} is not a log filter ({e}); using the default"
            ),
        }
    }
    let ours = default_filter(default_level);
    if default_level < LevelFilter::INFO {
        // Asked at every event, not once per call site: one call site logs both inside
        // and outside simulations.
        let outside = dynamic_filter_fn(|_, _| !in_simulation())
            .with_callsite_filter(|_| Interest::sometimes())
            .with_max_level_hint(default_level);
        Box::new(ours.and(outside))
    } else {
        Box::new(ours)
    }
}

/// `level` for every target of camproof's crates (their names all start with
/// `camproof`), nothing for the dependencies.
fn default_filter(level: LevelFilter) -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::OFF.into())
        .parse_lossy(format!("camproof={level}"))
}

/// Whether the event being filtered happens inside a simulation on this thread.
fn in_simulation() -> bool {
    camproof_net::log_time::sim_elapsed().is_some()
}

/// A log line's time: simulated time inside a simulation, else the wall clock (UTC).
#[derive(Debug, Clone, Copy)]
struct SimOrWallTime;

impl FormatTime for SimOrWallTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match camproof_net::log_time::sim_elapsed() {
            Some(t) => write!(w, "sim+{}.{:06}s", t.as_secs(), t.subsec_micros()),
            None => SystemTime.format_time(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn formatted(time: impl FormatTime) -> String {
        let mut s = String::new();
        time.format_time(&mut Writer::new(&mut s)).expect("formats");
        s
    }

    #[test]
    fn a_simulated_event_is_stamped_with_simulated_time_and_others_with_the_date() {
        let inside = camproof_net::log_time::in_world(Duration::from_millis(12_500), || {
            formatted(SimOrWallTime)
        });
        assert_eq!(inside, "sim+12.500000s");
        let outside = formatted(SimOrWallTime);
        assert!(
            outside.starts_with("20") && outside.ends_with('Z'),
            "{outside}"
        );
    }

    /// Which of camproof's WARN and INFO events, a dependency's ERROR event and a
    /// camproof WARN event inside a simulation `filter` lets through to the log.
    fn passed(filter: Box<dyn Filter<Registry> + Send + Sync>) -> [bool; 4] {
        use std::sync::{Arc, Mutex};
        let log = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = log.clone();
        let writer = move || SharedBuf(sink.clone());
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_filter(filter);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "camproof_platform::gateway", "ours-warn");
            tracing::info!(target: "camproof_platform::gateway", "ours-info");
            tracing::error!(target: "openraft::core", "theirs-error");
            camproof_net::log_time::in_world(Duration::from_secs(1), || {
                tracing::warn!(target: "camproof_platform::gateway", "sim-warn");
            });
        });
        let text = String::from_utf8(log.lock().map(|l| l.clone()).unwrap_or_default())
            .unwrap_or_default();
        ["ours-warn", "ours-info", "theirs-error", "sim-warn"].map(|m| text.contains(m))
    }

    /// A writer into a shared buffer.
    struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn without_rust_log_camproof_logs_at_the_default_level_and_simulations_are_quiet() {
        // [camproof warn, camproof info, dependency error, camproof warn in a simulation]
        assert_eq!(
            passed(filter(None, LevelFilter::WARN)),
            [true, false, false, false]
        );
        assert_eq!(
            passed(filter(Some(" "), LevelFilter::WARN)),
            [true, false, false, false]
        );
        // A more verbose default shows simulations too.
        assert_eq!(
            passed(filter(None, LevelFilter::INFO)),
            [true, true, false, true]
        );
        // Unreadable: the default.
        let bad = filter(Some("camproof=loud"), LevelFilter::WARN);
        assert_eq!(passed(bad), [true, false, false, false]);
    }

    #[test]
    fn rust_log_decides_everything_when_set() {
        assert_eq!(
            passed(filter(Some("info"), LevelFilter::WARN)),
            [true, true, true, true]
        );
        let platform_only = filter(
            Some("openraft=off,camproof_platform=warn"),
            LevelFilter::WARN,
        );
        assert_eq!(passed(platform_only), [true, false, false, true]);
    }
}
