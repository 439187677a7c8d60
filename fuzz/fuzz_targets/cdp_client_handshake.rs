//! The device's CDP/1 state machine against a real platform whose bytes the fuzzer
//! mutates on the wire (structure-aware), or replaces outright.
//!
//! Oracle beyond "no panic": the device never reports a connection to anyone but the
//! real platform, and delivers only data the platform really sent, in order, at most once.
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
    /// Deliver the platform's pending bytes unchanged.
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
    /// The platform sends application data (if it can).
    Send(Vec<u8>),
    /// Resume with the ticket from the last session, if any.
    Resume,
    /// Let the device's bytes reach the platform.
    Answer,
}

#[derive(Debug, Arbitrary)]
struct Input {
    seed: u8,
    steps: Vec<Step>,
}

fuzz_target!(|input: Input| {
    let w = common::world(2, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(input.seed));
    let now = Timestamp::from_secs(1_800_000_000);
    let creds = w.devices[usize::from(input.seed % 4)].clone();
    let mut client = ClientConnection::connect(w.client_cfg.clone(), creds.clone(), now, &mut rng);
    let mut server = ServerConnection::new(w.server_cfg.clone(), &mut rng);
    let mut ctx = ServerContext::new(w.pki.trust_store());
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut delivered: Vec<Vec<u8>> = Vec::new();

    for step in input.steps.into_iter().take(64) {
        let mut pending = Vec::new();
        server.poll_transmit(&mut pending);
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
                if server.send(&data).is_ok() {
                    sent.push(data);
                }
                vec![pending]
            }
            Step::Resume => {
                if let Some(ticket) = client.take_ticket() {
                    client = ClientConnection::resume(
                        w.client_cfg.clone(),
                        creds.clone(),
                        ticket,
                        now,
                        &mut rng,
                    );
                    server = ServerConnection::new(w.server_cfg.clone(), &mut rng);
                    sent.clear();
                    delivered.clear();
                }
                vec![]
            }
            Step::Answer => {
                let mut up = Vec::new();
                client.poll_transmit(&mut up);
                let _ = server.handle_bytes(now, &up, &mut ctx);
                vec![pending]
            }
        };
        for chunk in wire {
            let _ = client.handle_bytes(now, &chunk);
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                Event::Connected { peer, .. } => assert_eq!(peer.subject, "gw"),
                Event::Data(d) => delivered.push(d),
                _ => {}
            }
        }
    }
    let mut it = sent.iter();
    for d in &delivered {
        assert!(
            it.any(|s| s == d),
            "device delivered data the platform did not send, or out of order"
        );
    }
});
