//! The platform's CDP/1 state machine against a real device whose bytes the fuzzer
//! mutates on the wire (structure-aware), or replaces outright.
//!
//! Oracle beyond "no panic": whatever the mutations, the platform delivers only data the
//! device really sent, in order, each record at most once.
#![no_main]

use arbitrary::Arbitrary;
use camproof_protocol::cdp::{ClientConnection, Event, ServerConnection, ServerContext};
use camproof_protocol::Timestamp;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

#[path = "common.rs"]
mod common;

#[derive(Debug, Arbitrary)]
enum Step {
    /// Deliver the device's pending bytes unchanged.
    Deliver,
    /// Deliver them with one bit flipped.
    Flip { at: u16, bit: u8 },
    /// Deliver only a prefix.
    Truncate { keep: u16 },
    /// Deliver them twice.
    Duplicate,
    /// Lose them.
    Drop,
    /// Deliver fuzzer bytes instead.
    Raw(Vec<u8>),
    /// The device sends application data (if it can).
    Send(Vec<u8>),
    /// Time passes (seconds).
    Wait(u8),
    /// Replay an earlier chunk of device bytes.
    Replay(u8),
    /// Let the platform's bytes reach the device.
    Answer,
}

#[derive(Debug, Arbitrary)]
struct Input {
    seed: u8,
    steps: Vec<Step>,
}

fuzz_target!(|input: Input| {
    let w = common::world(3, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(input.seed));
    let mut now = Timestamp::from_secs(1_800_000_000);
    let creds = w.devices[usize::from(input.seed % 4)].clone();
    let mut client = ClientConnection::connect(w.client_cfg.clone(), creds, now, &mut rng);
    let mut server = ServerConnection::new(w.server_cfg.clone(), &mut rng);
    let mut ctx = ServerContext::new(w.pki.trust_store());
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut delivered: Vec<Vec<u8>> = Vec::new();
    let mut history: Vec<Vec<u8>> = Vec::new();

    for step in input.steps.into_iter().take(64) {
        let mut pending = Vec::new();
        client.poll_transmit(&mut pending);
        if !pending.is_empty() {
            history.push(pending.clone());
        }
        let wire: Vec<Vec<u8>> = match step {
            Step::Deliver => vec![pending],
            Step::Flip { at, bit } => {
                if !pending.is_empty() {
                    let i = usize::from(at) % pending.len();
                    pending[i] ^= 1 << (bit % 8);
                }
                vec![pending]
            }
            Step::Truncate { keep } => {
                pending.truncate(usize::from(keep));
                vec![pending]
            }
            Step::Duplicate => vec![pending.clone(), pending],
            Step::Drop => vec![],
            Step::Raw(bytes) => vec![bytes],
            Step::Send(data) => {
                if client.send(&data).is_ok() {
                    sent.push(data);
                }
                vec![pending]
            }
            Step::Wait(secs) => {
                now = now.saturating_add(std::time::Duration::from_secs(u64::from(secs)));
                vec![pending]
            }
            Step::Replay(i) => {
                let old = if history.is_empty() {
                    Vec::new()
                } else {
                    history[usize::from(i) % history.len()].clone()
                };
                vec![old, pending]
            }
            Step::Answer => {
                let mut back = Vec::new();
                server.poll_transmit(&mut back);
                let _ = client.handle_bytes(now, &back);
                vec![pending]
            }
        };
        for chunk in wire {
            let _ = server.handle_bytes(now, &chunk, &mut ctx);
        }
        while let Some(ev) = server.poll_event() {
            if let Event::Data(d) = ev {
                delivered.push(d);
            }
        }
    }
    // Delivered data is a prefix-ordered subsequence of what was sent, never more.
    let mut it = sent.iter();
    for d in &delivered {
        assert!(
            it.any(|s| s == d),
            "platform delivered data the device did not send, or out of order"
        );
    }
});
