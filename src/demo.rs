//! `camproof demo`: the protocol core end to end, in memory, from one seed.
//!
//! A camera and a platform gateway run the real CDP/1 state machines; the camera streams
//! end-to-end sealed video that the gateway relays by reading only the authenticated
//! header; a viewer holding the pairing secret opens it. Then a tap on the wire replays
//! and tampers with traffic, and each attack is refused. Every line of output is a pure
//! function of the seed, ending with a hash of all bytes that crossed the wire.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use camproof_protocol::cdp::{
    ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection, ServerContext,
};
use camproof_protocol::pki::{KeyCache, PkiOptions, TestPki};
use camproof_protocol::video::{Codec, FrameOpener, FrameSealer, PairingSecret, VideoHeader};
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

/// The simulated wall clock: 2027-01-15 08:00:00 UTC.
const EPOCH_SECS: u64 = 1_799_913_600;
/// Frames per group of pictures: one keyframe, then P-frames.
const GOP: u32 = 10;

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
    fn pump(&mut self) -> Result<()> {
        for _ in 0..64 {
            let mut up = Vec::new();
            self.camera.poll_transmit(&mut up);
            if !up.is_empty() {
                self.wire.update(&up);
                self.tap.push(up.clone());
                self.gateway
                    .handle_bytes(self.now, &up, &mut self.ctx)
                    .context("gateway refused the camera's bytes")?;
            }
            let mut down = Vec::new();
            self.gateway.poll_transmit(&mut down);
            if !down.is_empty() {
                self.wire.update(&down);
                self.camera
                    .handle_bytes(self.now, &down)
                    .context("camera refused the gateway's bytes")?;
            }
            if up.is_empty() && down.is_empty() {
                return Ok(());
            }
        }
        bail!("the link did not go idle")
    }
}

fn tick(now: &mut Timestamp, millis: u64) {
    *now = now.saturating_add(std::time::Duration::from_millis(millis));
}

/// Runs the demonstration; exits non-zero if any step does not behave as it must.
pub fn run(seed: u64, frames: u32, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    ensure!(frames >= 2, "--frames must be at least 2 (got {frames})");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut now = Timestamp::from_secs(EPOCH_SECS);
    println!("camproof protocol demo (seed {seed})");

    let pki = TestPki::try_generate(seed, &PkiOptions::fast_for_tests(), cache.as_mut())
        .context("generating the test PKI")?;
    let device = Arc::new(pki.device(1));
    let device_name = device.chain()[0].subject.clone();
    println!(
        "  pki      root + {} vendor CAs (RSA-2048, PSS/SHA-256); camera {device_name}; gateway gw-eu-1 (Ed25519)",
        pki.vendor_count()
    );

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
        bail!("the handshake did not complete");
    };
    let sizes: Vec<String> = link.tap.iter().map(|c| c.len().to_string()).collect();
    println!(
        "  cdp/1    handshake done: gateway authenticated {} (issued by {}); camera sent {} bytes",
        peer.subject,
        peer.issuer,
        sizes.join(" + ")
    );

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
            .context("sealing a video frame")?;
        link.camera.send(&frame).context("sending a video frame")?;
        link.pump()?;
        while let Some(ev) = link.gateway.poll_event() {
            if let Event::Data(bytes) = ev {
                // The relay reads the authenticated header, never the payload.
                let (header, _ciphertext) = VideoHeader::parse(&bytes).context("relay parse")?;
                keyframes += u32::from(header.keyframe);
                relayed.push(bytes);
            }
        }
    }
    let mut verified = 0;
    for frame in &relayed {
        viewer
            .open(frame)
            .context("the viewer refused an honest frame")?;
        verified += 1;
    }
    ensure!(
        verified == frames,
        "viewer verified {verified} of {frames} frames"
    );
    println!(
        "  video    {frames} frames sealed end to end ({keyframes} keyframes); relay read headers only; viewer verified {verified}, lost {}",
        viewer.stats().lost
    );

    // The relay cannot forge, replay or reorder frames.
    let mut refusals = Vec::new();
    let replay = relayed.last().context("no frame relayed")?.clone();
    match viewer.open(&replay) {
        Err(e) => refusals.push(format!("replayed frame: {e}")),
        Ok(_) => bail!("the viewer accepted a replayed frame"),
    }
    let mut tampered = replay.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x20;
    match viewer.open(&tampered) {
        Err(e) => refusals.push(format!("tampered frame: {e}")),
        Ok(_) => bail!("the viewer accepted a tampered frame"),
    }
    for r in &refusals {
        println!("  viewer   refused {r}");
    }

    // A tap on the camera's link replays a captured record to the gateway.
    let captured = link.tap[link.tap.len() / 2].clone();
    let replayed = link.gateway.handle_bytes(now, &captured, &mut link.ctx);
    match replayed {
        Err(e) => println!("  gateway  refused a replayed CDP record: {e}"),
        Ok(()) => bail!("the gateway accepted a replayed record"),
    }

    // The camera reconnects with its ticket: no certificates, no RSA, fresh keys.
    let ticket = link.camera.take_ticket().context("no resumption ticket")?;
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
    ensure!(resumed, "resumption failed");
    println!(
        "  cdp/1    camera resumed with its ticket ({} bytes up, no RSA)",
        link2.tap.iter().map(Vec::len).sum::<usize>()
    );
    // Replaying that resumption is refused.
    let hello = link2.tap[0].clone();
    let mut replay_gw = ServerConnection::new(server_cfg, &mut rng);
    match replay_gw.handle_bytes(now, &hello, &mut link2.ctx) {
        Err(e) => println!("  gateway  refused a replayed resumption: {e}"),
        Ok(()) => bail!("the gateway accepted a replayed resumption"),
    }

    let hash = link2.wire.finalize();
    println!("  trace    {}", hex::encode(hash));
    println!("result: pass (every attack refused; rerun with `camproof demo --seed {seed}`)");
    Ok(ExitCode::SUCCESS)
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
