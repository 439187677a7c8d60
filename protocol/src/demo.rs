//! The protocol core end to end, in memory, from one seed (`camproof demo`).
//!
//! A camera and a platform gateway run the real CDP/1 state machines; the camera streams
//! end-to-end sealed video that the gateway relays by reading only the authenticated
//! header; a viewer holding the pairing secret opens it. Then a tap on the wire replays
//! and tampers with traffic, and each attack is refused. Every line [`run`] emits is a
//! pure function of the seed, ending with a hash of all bytes that crossed the wire.
//!
//! ```no_run
//! use camproof_protocol::{demo, pki::NoCache};
//! let outcome = demo::run(1, 30, &mut NoCache, &mut |line| println!("{line}")).unwrap();
//! assert_eq!(outcome.verified, 30);
//! ```

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::cdp::{
    CdpError, ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection, ServerContext,
};
use crate::pki::{KeyCache, PkiError, PkiOptions, TestPki};
use crate::video::{Codec, FrameOpener, FrameSealer, PairingSecret, VideoError, VideoHeader};
use crate::Timestamp;

/// The simulated wall clock: 2027-01-15 08:00:00 UTC.
const EPOCH_SECS: u64 = 1_799_913_600;
/// Frames per group of pictures: one keyframe, then P-frames.
const GOP: u32 = 10;

/// Why the demonstration stopped: its input was refused, or a step did not behave as it
/// must (each of these is a bug in the protocol core).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Fewer than two frames were asked for (a replay needs one frame before it).
    #[error("--frames must be at least 2 (got {0})")]
    TooFewFrames(u32),
    /// The test PKI could not be generated.
    #[error("generating the test PKI")]
    Pki(#[source] PkiError),
    /// The gateway refused bytes an honest camera sent.
    #[error("gateway refused the camera's bytes")]
    GatewayRefused(#[source] CdpError),
    /// The camera refused bytes the gateway sent.
    #[error("camera refused the gateway's bytes")]
    CameraRefused(#[source] CdpError),
    /// The two sides kept sending to each other.
    #[error("the link did not go idle")]
    NotIdle,
    /// The gateway never reported the camera connected.
    #[error("the handshake did not complete")]
    NoHandshake,
    /// A frame could not be sealed.
    #[error("sealing a video frame")]
    Seal(#[source] VideoError),
    /// The camera's connection refused a frame to send.
    #[error("sending a video frame")]
    Send(#[source] CdpError),
    /// The relay could not read a frame's authenticated header.
    #[error("relay parse")]
    RelayParse(#[source] VideoError),
    /// The viewer refused a frame nobody tampered with.
    #[error("the viewer refused an honest frame")]
    HonestFrameRefused(#[source] VideoError),
    /// The viewer verified fewer frames than the camera sent.
    #[error("viewer verified {verified} of {frames} frames")]
    Lost {
        /// Frames verified.
        verified: u32,
        /// Frames sent.
        frames: u32,
    },
    /// No frame reached the relay.
    #[error("no frame relayed")]
    NoFrame,
    /// An attack went through: `who` accepted `what`.
    #[error("the {who} accepted a {what}")]
    Accepted {
        /// `viewer` or `gateway`.
        who: &'static str,
        /// What it should have refused.
        what: &'static str,
    },
    /// The camera got no resumption ticket.
    #[error("no resumption ticket")]
    NoTicket,
    /// The camera could not resume with its ticket.
    #[error("resumption failed")]
    NoResumption,
}

/// What a demonstration measured, besides the lines it emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOutcome {
    /// Frames the viewer verified (all of them, or [`run`] fails).
    pub verified: u32,
    /// Keyframes the relay saw in the headers it read.
    pub keyframes: u32,
    /// Attacks refused: replayed and tampered frames, a replayed record and resumption.
    pub refused: u32,
    /// SHA-256 of every byte that crossed the wire, lowercase hex.
    pub trace: String,
}

/// One camera, one gateway, the bytes between them, and a hash of everything sent.
struct Link {
    camera: ClientConnection,
    gateway: ServerConnection,
    ctx: ServerContext,
    now: Timestamp,
    wire: Sha256,
    /// Camera-to-gateway chunks as a tap sees them.
    tap: Vec<Vec<u8>>,
}

impl Link {
    /// Moves bytes both ways until both sides are idle; fails on any protocol error.
    fn pump(&mut self) -> Result<(), DemoError> {
        for _ in 0..64 {
            let mut up = Vec::new();
            self.camera.poll_transmit(&mut up);
            if !up.is_empty() {
                self.wire.update(&up);
                self.tap.push(up.clone());
                self.gateway
                    .handle_bytes(self.now, &up, &mut self.ctx)
                    .map_err(DemoError::GatewayRefused)?;
            }
            let mut down = Vec::new();
            self.gateway.poll_transmit(&mut down);
            if !down.is_empty() {
                self.wire.update(&down);
                self.camera
                    .handle_bytes(self.now, &down)
                    .map_err(DemoError::CameraRefused)?;
            }
            if up.is_empty() && down.is_empty() {
                return Ok(());
            }
        }
        Err(DemoError::NotIdle)
    }
}

fn tick(now: &mut Timestamp, millis: u64) {
    *now = now.saturating_add(std::time::Duration::from_millis(millis));
}

/// `Ok` if `result` is the refusal of an attack (its message for people), else the
/// error saying that `who` accepted `what`.
fn refused<T, E: std::fmt::Display>(
    result: Result<T, E>,
    who: &'static str,
    what: &'static str,
) -> Result<String, DemoError> {
    match result {
        Err(e) => Ok(e.to_string()),
        Ok(_) => Err(DemoError::Accepted { who, what }),
    }
}

/// Runs the demonstration for `seed` with `frames` video frames (at least 2), keys of
/// the test PKI from `cache`, and hands each line of the report to `out` as it goes.
/// Fails if any step does not behave as it must. Costs a small test PKI (a few RSA-2048
/// keys, unless cached) and `frames` frame seals and opens.
pub fn run(
    seed: u64,
    frames: u32,
    cache: &mut dyn KeyCache,
    out: &mut dyn FnMut(&str),
) -> Result<DemoOutcome, DemoError> {
    if frames < 2 {
        return Err(DemoError::TooFewFrames(frames));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut now = Timestamp::from_secs(EPOCH_SECS);
    out(&format!("camproof protocol demo (seed {seed})"));

    let pki = TestPki::try_generate(seed, &PkiOptions::fast_for_tests(), cache)
        .map_err(DemoError::Pki)?;
    let device = Arc::new(pki.device(1));
    let device_name = device.chain()[0].subject.clone();
    out(&format!(
        "  pki      root + {} vendor CAs (RSA-2048, PSS/SHA-256); camera {device_name}; gateway gw-eu-1 (Ed25519)",
        pki.vendor_count()
    ));

    let client_cfg = Arc::new(ClientConfig::new(pki.trust_store()));
    let server_cfg = Arc::new(ServerConfig::new(pki.server("gw-eu-1", 0)));
    let mut link = Link {
        camera: ClientConnection::connect(client_cfg.clone(), device.clone(), now, &mut rng),
        gateway: ServerConnection::new(server_cfg.clone(), &mut rng),
        ctx: ServerContext::new(pki.trust_store()),
        now,
        wire: Sha256::new(),
        tap: Vec::new(),
    };
    link.pump()?;
    let mut connected = None;
    while let Some(ev) = link.gateway.poll_event() {
        if let Event::Connected { peer, resumed } = ev {
            connected = Some((peer, resumed));
        }
    }
    let Some((peer, _)) = connected else {
        return Err(DemoError::NoHandshake);
    };
    let sizes: Vec<String> = link.tap.iter().map(|c| c.len().to_string()).collect();
    out(&format!(
        "  cdp/1    handshake done: gateway authenticated {} (issued by {}); camera sent {} bytes",
        peer.subject,
        peer.issuer,
        sizes.join(" + ")
    ));

    // End-to-end video: the pairing secret exists only in the camera and the viewer.
    let pairing = PairingSecret::generate(&mut rng);
    let stream_id = 7;
    let key_epoch = 1;
    let mut sealer = FrameSealer::new(&pairing, stream_id, key_epoch);
    let mut viewer = FrameOpener::new(&pairing, stream_id, key_epoch);
    let mut relayed = Vec::new();
    let mut keyframes = 0;
    for i in 0..frames {
        tick(&mut now, 40);
        link.now = now;
        let keyframe = i % GOP == 0;
        let payload = synthetic_frame(seed, i, keyframe);
        let frame = sealer
            .seal(now, keyframe, Codec::H264, &payload)
            .map_err(DemoError::Seal)?;
        link.camera.send(&frame).map_err(DemoError::Send)?;
        link.pump()?;
        while let Some(ev) = link.gateway.poll_event() {
            if let Event::Data(bytes) = ev {
                // The relay reads the authenticated header, never the payload.
                let (header, _ciphertext) =
                    VideoHeader::parse(&bytes).map_err(DemoError::RelayParse)?;
                keyframes += u32::from(header.keyframe);
                relayed.push(bytes);
            }
        }
    }
    let mut verified = 0;
    for frame in &relayed {
        viewer.open(frame).map_err(DemoError::HonestFrameRefused)?;
        verified += 1;
    }
    if verified != frames {
        return Err(DemoError::Lost { verified, frames });
    }
    out(&format!(
        "  video    {frames} frames sealed end to end ({keyframes} keyframes); relay read headers only; viewer verified {verified}, lost {}",
        viewer.stats().lost
    ));

    // The relay cannot forge, replay or reorder frames.
    let replay = relayed.last().ok_or(DemoError::NoFrame)?.clone();
    let replayed_frame = refused(viewer.open(&replay), "viewer", "replayed frame")?;
    let mut tampered = replay.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x20;
    let tampered_frame = refused(viewer.open(&tampered), "viewer", "tampered frame")?;
    out(&format!(
        "  viewer   refused replayed frame: {replayed_frame}"
    ));
    out(&format!(
        "  viewer   refused tampered frame: {tampered_frame}"
    ));

    // A tap on the camera's link replays a captured record to the gateway.
    let captured = link.tap[link.tap.len() / 2].clone();
    let replayed = link.gateway.handle_bytes(now, &captured, &mut link.ctx);
    let e = refused(replayed, "gateway", "replayed record")?;
    out(&format!("  gateway  refused a replayed CDP record: {e}"));

    // The camera reconnects with its ticket: no certificates, no RSA, fresh keys.
    let ticket = link.camera.take_ticket().ok_or(DemoError::NoTicket)?;
    tick(&mut now, 5_000);
    let mut link2 = Link {
        camera: ClientConnection::resume(client_cfg.clone(), device.clone(), ticket, now, &mut rng),
        gateway: ServerConnection::new(server_cfg.clone(), &mut rng),
        ctx: link.ctx,
        now,
        wire: link.wire,
        tap: Vec::new(),
    };
    link2.pump()?;
    let resumed = std::iter::from_fn(|| link2.gateway.poll_event())
        .any(|e| matches!(e, Event::Connected { resumed: true, .. }));
    if !resumed {
        return Err(DemoError::NoResumption);
    }
    out(&format!(
        "  cdp/1    camera resumed with its ticket ({} bytes up, no RSA)",
        link2.tap.iter().map(Vec::len).sum::<usize>()
    ));
    // Replaying that resumption is refused.
    let hello = link2.tap[0].clone();
    let mut replay_gw = ServerConnection::new(server_cfg, &mut rng);
    let replayed = replay_gw.handle_bytes(now, &hello, &mut link2.ctx);
    let e = refused(replayed, "gateway", "replayed resumption")?;
    out(&format!("  gateway  refused a replayed resumption: {e}"));

    let trace = hex::encode(link2.wire.finalize());
    out(&format!("  trace    {trace}"));
    out(&format!(
        "result: pass (every attack refused; rerun with `camproof demo --seed {seed}`)"
    ));
    Ok(DemoOutcome {
        verified,
        keyframes,
        refused: 4,
        trace,
    })
}

/// A deterministic stand-in for an encoded frame: keyframes are larger.
fn synthetic_frame(seed: u64, index: u32, keyframe: bool) -> Vec<u8> {
    let len = if keyframe { 24_000 } else { 3_000 };
    let mut h = Sha256::new();
    h.update(seed.to_be_bytes());
    h.update(index.to_be_bytes());
    let block = h.finalize();
    block.iter().copied().cycle().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::NoCache;

    fn demo(seed: u64, frames: u32) -> (DemoOutcome, Vec<String>) {
        let mut lines = Vec::new();
        let outcome = run(seed, frames, &mut NoCache, &mut |l| {
            lines.push(l.to_string())
        })
        .expect("the demo passes");
        (outcome, lines)
    }

    /// Every frame is verified, every attack refused, and the report ends with the trace
    /// hash and the command that repeats it.
    #[test]
    fn the_demo_passes_and_reports_each_step() {
        let (outcome, lines) = demo(3, 12);
        assert_eq!(outcome.verified, 12);
        assert_eq!(outcome.keyframes, 2, "frames 0 and 10 start a GOP");
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert_eq!(lines[0], "camproof protocol demo (seed 3)");
        let refusals = lines.iter().filter(|l| l.contains(" refused ")).count();
        assert_eq!(refusals as u32, outcome.refused);
        assert_eq!(lines[9], format!("  trace    {}", outcome.trace));
        assert!(
            lines[10].ends_with("`camproof demo --seed 3`)"),
            "{}",
            lines[10]
        );
    }

    /// Same seed, same lines and trace; another seed, another trace.
    #[test]
    fn the_trace_is_a_function_of_the_seed() {
        let (a, a_lines) = demo(5, 2);
        let (b, b_lines) = demo(5, 2);
        let (c, _) = demo(6, 2);
        assert_eq!(a_lines, b_lines);
        assert_eq!(a.trace, b.trace);
        assert_ne!(a.trace, c.trace);
    }

    /// Too few frames are refused before anything is generated or emitted.
    #[test]
    fn fewer_than_two_frames_are_refused() {
        let mut lines = 0;
        let err = run(1, 1, &mut NoCache, &mut |_| lines += 1).unwrap_err();
        assert_eq!(err, DemoError::TooFewFrames(1));
        assert_eq!(err.to_string(), "--frames must be at least 2 (got 1)");
        assert_eq!(lines, 0);
    }
}
