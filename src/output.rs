//! What the commands print and where: human text on stdout unless `-q` or
//! `--format json` (then stdout holds the result document and nothing else), progress on
//! stderr only on a terminal, and the Ctrl-C that stops a run or sweep.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// How the result is printed on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    #[default]
    Text,
    /// The result document (as written to result.json, sweep.json) and nothing else.
    Json,
}

/// The output options of this invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// `-q`: only the result lines and errors.
    pub quiet: bool,
    /// `--format`.
    pub format: Format,
}

static MODE: OnceLock<Mode> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Sets this invocation's mode (once, at start-up).
pub fn init(mode: Mode) {
    let _ = MODE.set(mode);
}

fn mode() -> Mode {
    MODE.get().copied().unwrap_or_default()
}

/// Whether stdout holds the JSON result document.
pub fn json() -> bool {
    mode().format == Format::Json
}

/// Prints a line of detail for people (not with `-q` or `--format json`).
pub fn say(text: &str) {
    if !mode().quiet && !json() {
        println!("{text}");
    }
}

/// Prints text that already ends its lines, as [`say`] does.
pub fn say_lines(text: &str) {
    if !mode().quiet && !json() {
        print!("{text}");
    }
}

/// Prints a result line (kept with `-q`; not with `--format json`).
pub fn result(text: &str) {
    if !json() {
        println!("{text}");
    }
}

/// Whether a progress line may be drawn: stderr is a terminal and not `-q`.
pub fn progress() -> bool {
    !mode().quiet && std::io::stderr().is_terminal()
}

/// Makes Ctrl-C (and SIGTERM) ask the running command to stop, once; a second Ctrl-C
/// ends the process at once with exit code 3.
pub fn catch_interrupt() {
    let handler = || {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(3);
        }
        eprintln!("camproof: interrupted: stopping (Ctrl-C again to quit at once)");
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        eprintln!(
            "camproof: warning: Ctrl-C will end the process without writing what finished: {e}"
        );
    }
}

/// Whether Ctrl-C asked to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Exit code of a command Ctrl-C stopped.
pub const EXIT_INTERRUPTED: u8 = 3;

/// Warns on stderr (always: a warning is not detail) of each fault or attack
/// `--allow-truncate` dropped from the scenario file.
pub fn warn_dropped(dropped: &[String]) {
    for d in dropped {
        eprintln!("camproof: warning: --allow-truncate dropped {d}");
    }
}
