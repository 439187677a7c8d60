//! The relay service on turmoil: grants admit, forgeries and foreign streams do not, and
//! what a viewer receives opens end to end.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use camproof_net::{Clock, Net, SimClock, SimNet};
use camproof_platform::relay::RelayConfig;
use camproof_platform::relay_service::{RelayKey, RelayService, RelayServiceStats};
use camproof_platform::trace::Trace;
use camproof_protocol::relay::{RelayHello, RelayReady, RelayRole};
use camproof_protocol::video::{
    Codec, FrameOpener, FrameSealer, PairingSecret, VideoHeader, HEADER_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: [u8; 32] = [3; 32];
const STREAM: u32 = 0x8000_0001;

fn sim() -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(Duration::from_secs(30))
        .build()
}

async fn admit(
    role: RelayRole,
    stream: u32,
    token: &[u8],
) -> std::io::Result<(<SimNet as Net>::Stream, u8)> {
    let mut s = SimNet.connect("relay:7444").await?;
    s.write_all(
        &RelayHello {
            role,
            stream_id: stream,
            token,
        }
        .encode(),
    )
    .await?;
    let mut verdict = [9u8; 1];
    s.read_exact(&mut verdict).await?;
    Ok((s, verdict[0]))
}

#[test]
fn relay_admits_grants_and_refuses_forgeries() {
    let mut sim = sim();
    let stats = Rc::new(RefCell::new(RelayServiceStats::default()));
    let host_stats = stats.clone();
    sim.host("relay", move || {
        let relay = RelayService::new(
            "relay",
            RelayKey::from_bytes(KEY),
            RelayConfig::default(),
            host_stats.clone(),
            Trace::new(8),
            SimClock,
        );
        async move {
            relay.serve(SimNet, "0.0.0.0:7444").await?;
            Ok(())
        }
    });
    let pairing = PairingSecret::from_bytes([5; 32]);
    let received = Rc::new(RefCell::new((0u64, 0u64)));
    let got = received.clone();
    let viewer_pairing = pairing.clone();
    sim.client("viewer", async move {
        let key = RelayKey::from_bytes(KEY);
        let now = SimClock.now();
        let (mut s, verdict) = admit(
            RelayRole::Viewer,
            STREAM,
            &key.grant(RelayRole::Viewer, STREAM, now),
        )
        .await?;
        assert_eq!(verdict, 0, "a valid viewer grant is admitted");
        // The node's ready message, then frames as they are.
        let mut ready = [0u8; RelayReady::LEN];
        s.read_exact(&mut ready).await?;
        assert_eq!(
            RelayReady::decode(&ready),
            Ok(RelayReady {
                role: RelayRole::Viewer,
                stream_id: STREAM
            })
        );
        let mut opener = FrameOpener::new(&viewer_pairing, STREAM, 1);
        for _ in 0..20 {
            let mut head = [0u8; HEADER_LEN];
            s.read_exact(&mut head).await?;
            let (_, len) = VideoHeader::peek(&head)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .ok_or_else(|| std::io::Error::other("short header"))?;
            let mut frame = head.to_vec();
            frame.resize(len, 0);
            s.read_exact(&mut frame[HEADER_LEN..]).await?;
            let mut g = got.borrow_mut();
            match opener.open(&frame) {
                Ok(_) => g.0 += 1,
                Err(_) => g.1 += 1,
            }
        }
        Ok(())
    });
    sim.client("camera", async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let key = RelayKey::from_bytes(KEY);
        let now = SimClock.now();
        let (mut s, verdict) = admit(
            RelayRole::Camera,
            STREAM,
            &key.grant(RelayRole::Camera, STREAM, now),
        )
        .await?;
        assert_eq!(verdict, 0);
        let mut sealer = FrameSealer::new(&pairing, STREAM, 1);
        for n in 0..25u64 {
            let frame = sealer
                .seal(SimClock.now(), n % 5 == 0, Codec::H264, &[n as u8; 500])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            s.write_all(&frame).await?;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        Ok(())
    });
    sim.client("forger", async move {
        let key = RelayKey::from_bytes(KEY);
        let other = RelayKey::from_bytes([4; 32]);
        let now = SimClock.now();
        // A token made with another key, a camera token used to watch, and a viewer
        // token for another stream are all refused.
        for (role, stream, token) in [
            (
                RelayRole::Viewer,
                STREAM,
                other.grant(RelayRole::Viewer, STREAM, now),
            ),
            (
                RelayRole::Viewer,
                STREAM,
                key.grant(RelayRole::Camera, STREAM, now),
            ),
            (
                RelayRole::Viewer,
                STREAM,
                key.grant(RelayRole::Viewer, STREAM + 1, now),
            ),
        ] {
            let (_, verdict) = admit(role, stream, &token).await?;
            assert_eq!(verdict, 1, "{role:?} {stream} admitted with a bad token");
        }
        // A camera admitted to one stream cannot inject frames into another.
        let (mut s, verdict) = admit(
            RelayRole::Camera,
            STREAM + 1,
            &key.grant(RelayRole::Camera, STREAM + 1, now),
        )
        .await?;
        assert_eq!(verdict, 0);
        let mut sealer = FrameSealer::new(&PairingSecret::from_bytes([6; 32]), STREAM, 1);
        let frame = sealer
            .seal(now, true, Codec::H264, b"injected")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        s.write_all(&frame).await?;
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        Ok(())
    });
    sim.run().expect("simulation");
    let (ok, bad) = *received.borrow();
    assert_eq!((ok, bad), (20, 0), "the viewer opened every frame it got");
    let stats = stats.borrow();
    assert_eq!(stats.admitted_viewers, 1);
    assert_eq!(stats.admitted_cameras, 2);
    assert_eq!(stats.refused, 4, "{stats:?}");
}
