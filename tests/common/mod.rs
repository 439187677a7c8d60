//! What the end-to-end tests share: starting a long-running `camproof` command (serve,
//! relay, camera) and learning the address it printed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The test PKI's key cache every end-to-end test shares (built once).
pub const KEYS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/keys");

/// A `camproof` command running in the background, and where it listens.
pub struct Running {
    /// The process.
    pub child: Child,
    /// The first 127.0.0.1 address its first line of output names.
    pub addr: SocketAddr,
    /// The rest of its standard output.
    pub lines: BufReader<ChildStdout>,
}

/// Starts `camproof ARGS` and waits for its first line, which must name the loopback
/// address it listens on (`serve`, `relay` and `camera` all print one first).
pub fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args(args)
        .env("CAMPROOF_KEY_CACHE", KEYS)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("camproof {args:?} starts: {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    lines
        .read_line(&mut first)
        .unwrap_or_else(|e| panic!("camproof {args:?} prints its address: {e}"));
    let addr = first
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .and_then(|w| w.trim_end_matches([',', ')']).parse().ok())
        .unwrap_or_else(|| panic!("camproof {args:?}: no address in {first:?}"));
    Running { child, addr, lines }
}
