//! `camproof relay`: the video relay on real sockets.
//!
//! A current-thread runtime runs [`RelayNode`] (one core, no locks between tasks). It
//! prints the address it listens on, and on stopping one JSON line of counters.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use camproof_net::{Net, SystemClock, TokioNet};
use camproof_platform::relay::RelayConfig;
use camproof_platform::relay_net::RelayNode;

/// What `camproof relay` was asked to do.
#[derive(Debug)]
pub struct RelayArgs {
    /// Address to listen on.
    pub listen: String,
    /// The relay's limits.
    pub config: RelayConfig,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when standard input closes (how `bench relay` stops its child).
    pub exit_on_stdin_eof: bool,
}

/// Runs the relay until its duration ends, stdin closes (if asked) or it is killed.
pub fn run(args: RelayArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TokioNet
            .bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let mut out = std::io::stdout();
        writeln!(out, "camproof relay listening on {addr}")?;
        out.flush()?;
        let node = RelayNode::new(args.config, SystemClock);
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
        let duration = args.duration;
        let stop = async move {
            match duration {
                Some(d) => {
                    tokio::select! {
                        biased;
                        _ = rx => {}
                        () = tokio::time::sleep(d) => {}
                    }
                }
                None => {
                    let _ = rx.await;
                }
            }
        };
        tokio::select! {
            biased;
            r = node.serve(listener) => r.context("accepting connections")?,
            () = stop => {}
        }
        let s = node.stats();
        let d = node.driver_stats();
        let line = serde_json::json!({
            "frames_in": s.frames_in,
            "bytes_in": s.bytes_in,
            "frames_out": s.frames_out,
            "bytes_out": s.bytes_out,
            "dropped_overflow": s.dropped_overflow,
            "dropped_expired": s.dropped_expired,
            "skipped_to_keyframe": s.skipped_to_keyframe,
            "peak_queued_bytes": s.peak_queued_bytes,
            "cameras": d.cameras,
            "viewers": d.viewers,
            "refused": d.refused,
            "viewers_timed_out": d.viewers_timed_out,
            "reads": d.reads,
            "writes": d.writes,
        });
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
