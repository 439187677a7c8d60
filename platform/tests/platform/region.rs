//! One region assembly, two networks: the same three zones (`region::ZoneHost`) run
//! under turmoil and on tokio loopback, and the same device probe sees the same thing
//! on both: a handshake at a gateway, a relay assignment, a relay that admits a grant,
//! refuses nothing while it is up and is gone while its crash switch is set (the
//! planted fault), and the device's record in the region's replicated store. The
//! standalone region of `camproof serve` is driven by the probe on loopback too.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use camproof_net::{Clock, Net, SimClock, SimNet, SystemClock, TokioNet};
use camproof_platform::accounts::{AccountsConfig, Region};
use camproof_platform::gateway::GatewayConfig;
use camproof_platform::region::standalone::{self, StandaloneConfig, StandaloneEvent};
use camproof_platform::region::{region_services, Bound, ZoneHost};
use camproof_platform::relay_service::RelayKey;
use camproof_platform::store::{
    DiskFault, History, MemBackend, NodeId, Replica, ReplicaConfig, StoreClient,
};
use camproof_platform::trace::Trace;
use camproof_protocol::cdp::{
    AppMessage, ClientConfig, ClientConnection, Event, ServerConfig, ServerContext,
    APP_IDLE_TIMEOUT,
};
use camproof_protocol::pki::{PkiOptions, TestPki};
use camproof_protocol::relay::{RelayHello, RelayRole};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REGION: Region = Region::EuAfrica;
const STREAM: u32 = 0x8000_0001;

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(5, &PkiOptions::fast_for_tests()))
}

/// One zone's addresses: where it listens, and where others reach it.
struct ZoneAddrs {
    gateway: String,
    relay_listen: String,
    relay: String,
    store_listen: String,
    store: String,
}

/// A region of one zone per entry of `addrs`, in-memory replicas, one relay key.
struct TestRegion {
    zones: Vec<ZoneHost>,
    key: RelayKey,
    members: Vec<String>,
}

fn region(addrs: &[ZoneAddrs]) -> TestRegion {
    let key = RelayKey::from_bytes([9; 32]);
    let services =
        region_services(REGION, AccountsConfig::for_tests(), key.clone(), 3).expect("services");
    let context = Rc::new(RefCell::new(ServerContext::new(pki().trust_store())));
    let members: BTreeMap<NodeId, String> = (1..)
        .zip(addrs)
        .map(|(node, a)| (node, a.store.clone()))
        .collect();
    let (stats, clients) = (Rc::default(), Rc::new(Cell::new(0)));
    let history = History::new();
    let zones = (1..)
        .zip(addrs)
        .map(|(node, a)| {
            let name = format!("zone-{node}");
            let mut cfg = ReplicaConfig::new(REGION, node, a.store_listen.clone(), members.clone());
            cfg.seed = node;
            let backend = MemBackend::new(DiskFault::new());
            ZoneHost {
                gateway: GatewayConfig {
                    name: name.clone(),
                    listen: a.gateway.clone(),
                    relay: a.relay.clone(),
                    fallbacks: Vec::new(),
                    idle_timeout: Duration::from_secs(30),
                    app_idle_timeout: APP_IDLE_TIMEOUT,
                    admission: Default::default(),
                },
                server_config: Arc::new(ServerConfig::new(pki().server(&name, node))),
                context: context.clone(),
                services: services.clone(),
                relay_key: key.clone(),
                relay_listen: a.relay_listen.clone(),
                gateway_stats: Rc::default(),
                relay_stats: Rc::default(),
                relay_down: Rc::default(),
                trace: Trace::new(0),
                seed: node,
                replica: Replica::in_memory(cfg, backend, history.clone()),
                store_members: members.values().cloned().collect(),
                store_region: REGION,
                store_stats: Rc::clone(&stats),
                store_clients: clients.clone(),
                replica_stopped: None,
            }
        })
        .collect();
    TestRegion {
        zones,
        key,
        members: members.into_values().collect(),
    }
}

/// What the probe saw.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// The relay the gateway assigned.
    relay: String,
    /// The relay's verdict on a camera grant (0: admitted), before, while and after
    /// its crash (`None`: no relay answered).
    verdicts: [Option<u8>; 3],
    /// Device records the region's store held.
    device_records: usize,
}

/// Completes a device handshake at `gateway` and returns the relay it is assigned.
async fn device_session<N: Net, C: Clock>(net: &N, clock: &C, gateway: &str) -> io::Result<String> {
    let mut stream = net.connect(gateway).await?;
    let config = Arc::new(ClientConfig::new(pki().trust_store()));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let device = Arc::new(pki().device(1));
    let mut conn = ClientConnection::connect(config, device, clock.now(), &mut rng);
    let (mut buf, mut out) = (vec![0u8; 16 * 1024], Vec::new());
    loop {
        out.clear();
        conn.poll_transmit(&mut out);
        stream.write_all(&out).await?;
        while let Some(event) = conn.poll_event() {
            if let Event::Data(bytes) = event {
                if let Ok(AppMessage::Assign { relay, .. }) = AppMessage::decode(&bytes) {
                    return Ok(relay);
                }
            }
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        conn.handle_bytes(clock.now(), &buf[..n])
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
}

/// A camera's relay hello with a grant of `key`; the relay's one-byte verdict.
async fn relay_verdict<N: Net, C: Clock>(
    net: &N,
    clock: &C,
    relay: &str,
    key: &RelayKey,
) -> Option<u8> {
    let mut s = net.connect(relay).await.ok()?;
    let token = key.grant(RelayRole::Camera, STREAM, clock.now());
    let hello = RelayHello {
        role: RelayRole::Camera,
        stream_id: STREAM,
        token: &token,
    };
    s.write_all(&hello.encode()).await.ok()?;
    let mut verdict = [0u8; 1];
    s.read_exact(&mut verdict).await.ok()?;
    Some(verdict[0])
}

/// Device records in the store, once it answers (within 20 s).
async fn device_records<N: Net>(net: &N, members: Vec<String>) -> usize {
    let mut client = StoreClient::new(net.clone(), REGION, members, 99);
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(records) = client.scan_prefix("devices/").await {
            if !records.is_empty() {
                return records.len();
            }
        }
    }
    0
}

/// The probe: a device at `gateway`, the relay it is given before, during and after a
/// crash of that relay (`relay_down`), then the store.
async fn probe<N: Net, C: Clock>(
    net: N,
    clock: C,
    gateway: &str,
    key: &RelayKey,
    relay_down: Rc<Cell<bool>>,
    members: Vec<String>,
) -> io::Result<Seen> {
    // Give the zones a moment to bind.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let relay = device_session(&net, &clock, gateway).await?;
    let settle = Duration::from_millis(400);
    let before = relay_verdict(&net, &clock, &relay, key).await;
    relay_down.set(true);
    tokio::time::sleep(settle).await;
    let during = relay_verdict(&net, &clock, &relay, key).await;
    relay_down.set(false);
    tokio::time::sleep(settle).await;
    let after = relay_verdict(&net, &clock, &relay, key).await;
    Ok(Seen {
        relay,
        verdicts: [before, during, after],
        device_records: device_records(&net, members).await,
    })
}

fn expected(relay: &str) -> Seen {
    Seen {
        relay: relay.into(),
        verdicts: [Some(0), None, Some(0)],
        device_records: 1,
    }
}

/// Runs the three zones of `region` under turmoil (after `plant` had its way with
/// them) and the probe against zone 1.
fn under_turmoil(plant: impl FnOnce(&mut [ZoneHost])) -> (Option<Seen>, u64) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(1)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(Duration::from_secs(60))
        .build();
    let addrs: Vec<ZoneAddrs> = (1..=3)
        .map(|z| ZoneAddrs {
            gateway: "0.0.0.0:7443".into(),
            relay_listen: "0.0.0.0:7444".into(),
            relay: format!("zone-{z}:7444"),
            store_listen: "0.0.0.0:7500".into(),
            store: format!("zone-{z}:7500"),
        })
        .collect();
    let TestRegion {
        mut zones,
        key,
        members,
    } = region(&addrs);
    plant(&mut zones);
    let down = zones[0].relay_down.clone();
    let handshakes = zones[0].gateway_stats.clone();
    for (z, host) in (1..).zip(zones) {
        sim.host(format!("zone-{z}"), move || {
            let zone = host.start(SimNet, SimClock);
            async move { Ok(zone.await?) }
        });
    }
    let seen = Rc::new(RefCell::new(None));
    let out = seen.clone();
    sim.client("device", async move {
        let s = probe(SimNet, SimClock, "zone-1:7443", &key, down, members).await?;
        *out.borrow_mut() = Some(s);
        Ok(())
    });
    sim.run().expect("simulation");
    let seen = seen.borrow_mut().take();
    let handshakes = handshakes.borrow().handshakes;
    (seen, handshakes)
}

#[test]
fn a_region_runs_under_turmoil() {
    let (seen, handshakes) = under_turmoil(|_| {});
    assert_eq!(seen, Some(expected("zone-1:7444")));
    assert_eq!(handshakes, 1);
}

/// Planted: zone 1's relay checks grants with another key than its region's services
/// sign them with; the probe sees every grant refused.
#[test]
fn a_zone_assembled_with_the_wrong_relay_key_is_caught() {
    let (seen, _) = under_turmoil(|zones| zones[0].relay_key = RelayKey::from_bytes([1; 32]));
    let seen = seen.expect("the probe ran");
    assert_eq!(seen.verdicts, [Some(1), None, Some(1)]);
    assert_ne!(seen, expected("zone-1:7444"));
}

/// A free loopback port (bound and released: another process could take it, which
/// only makes the test fail).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn local<F: std::future::Future>(fut: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&rt, fut)
}

#[test]
fn the_same_region_runs_on_tokio_loopback() {
    local(async {
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..3 {
            let gateway = TokioNet.bind("127.0.0.1:0").await.expect("gateway");
            let relay = TokioNet.bind("127.0.0.1:0").await.expect("relay");
            let store = format!("127.0.0.1:{}", free_port());
            let (g, r) = (gateway.local_addr().unwrap(), relay.local_addr().unwrap());
            addrs.push(ZoneAddrs {
                gateway: g.to_string(),
                relay_listen: r.to_string(),
                relay: r.to_string(),
                store_listen: store.clone(),
                store,
            });
            listeners.push((gateway, relay));
        }
        let TestRegion {
            zones,
            key,
            members,
        } = region(&addrs);
        for (zone, (gateway, relay)) in zones.iter().zip(listeners) {
            let bound = Bound {
                gateway: Some(gateway),
                relay: Some(relay),
            };
            tokio::task::spawn_local(zone.start_on(TokioNet, SystemClock, bound));
        }
        let down = zones[0].relay_down.clone();
        let seen = probe(
            TokioNet,
            SystemClock,
            &addrs[0].gateway,
            &key,
            down,
            members,
        )
        .await
        .expect("probe");
        assert_eq!(seen, expected(&addrs[0].relay));
        assert_eq!(zones[0].gateway_stats.borrow().handshakes, 1);
    });
}

/// `camproof serve`'s region: the probe's device is served, its record stored on disk,
/// and a second run on the same directory finds it there.
#[test]
fn the_standalone_region_serves_and_keeps_its_store() {
    let data = tempfile::tempdir().expect("tempdir");
    let store_port = loop {
        let p = free_port();
        let free = |q: u16| std::net::TcpListener::bind(("127.0.0.1", q)).is_ok();
        if p < 65000 && free(p + 1) && free(p + 2) {
            break p;
        }
    };
    let run = |duration: u64| {
        let config = StandaloneConfig {
            listen: "127.0.0.1:0".into(),
            data: data.path().to_owned(),
            store_port,
            seed: 5,
            duration: Some(Duration::from_secs(duration)),
            rebuild: Vec::new(),
            admission: Default::default(),
        };
        let events = Rc::new(RefCell::new(Vec::new()));
        let seen = events.clone();
        let report = local(async move {
            let serving = standalone::serve(TokioNet, SystemClock, pki(), config, move |e| {
                seen.borrow_mut().push(e)
            });
            let device = async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let gateway = match events.borrow().first() {
                    Some(StandaloneEvent::Listening { gateway, .. }) => gateway.to_string(),
                    other => panic!("first event {other:?}"),
                };
                device_session(&TokioNet, &SystemClock, &gateway).await
            };
            let (report, relay) = tokio::join!(serving, device);
            relay.expect("device session");
            (report.expect("serve"), events)
        });
        let (report, events) = report;
        let records: Vec<usize> = events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                StandaloneEvent::DeviceRecords(n) => Some(*n),
                _ => None,
            })
            .collect();
        (report, records)
    };
    let (first, records) = run(4);
    assert_eq!(first.gateway.handshakes, 1, "{first}");
    assert_eq!(first.store.writes_acked, 1, "{first}");
    assert_eq!(records.len(), 1, "the store was looked at once");
    let (_, records) = run(4);
    assert_eq!(records, [1], "the record survived the restart");
}
