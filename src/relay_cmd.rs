//! `camproof relay`: the video relay on real sockets
//! ([`camproof_platform::relay_net::run_standalone`]); this prints the address it listens
//! on, and on stopping one JSON line of counters.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use camproof_platform::relay::RelayConfig;
use camproof_platform::relay_net::run_standalone;

/// Runs the relay until its duration ends, stdin closes (if asked) or it is killed.
pub fn run(args: crate::RelayArgs) -> Result<ExitCode> {
    let duration = crate::parse_opt_duration(args.duration.as_deref())?;
    let max_age = humantime::parse_duration(&args.max_age)
        .map_err(|e| anyhow::anyhow!("--max-age {:?}: {e}", args.max_age))?;
    let config = RelayConfig {
        max_age,
        max_queue_frames: args.max_queue_frames,
        max_queue_bytes: args.max_queue_bytes,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // Without --exit-on-stdin-eof the sender is kept, so `rx` never resolves.
    let _keep_open = if args.exit_on_stdin_eof {
        // Blocking stdin on its own thread: this command never runs in the simulator.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            let _ = tx.send(());
        });
        None
    } else {
        Some(tx)
    };
    let stop = async move {
        let _ = rx.await;
    };
    let mut out = std::io::stdout();
    let admission = args.admission.limits()?;
    let stats = run_standalone(&args.listen, config, admission, duration, stop, |addr| {
        writeln!(std::io::stdout(), "camproof relay listening on {addr}")?;
        std::io::stdout().flush()
    })?;
    writeln!(out, "{stats}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
