//! The reference platform as a component of the world: per region its services
//! (accounts, registry, signaling, OTA), CDP/1 endpoint state and relay grant key; per
//! zone a turmoil host running the platform's [`ZoneHost`] (gateway, relay and store
//! replica, assembled by `camproof_platform::region` exactly as `camproof serve`
//! assembles its zone on real sockets). What stays here is the simulation's own: host
//! names and ports, seeds drawn in the world's order, in-memory disks, the faults the
//! platform takes (disk full, relay crash, erasure) and the platform's checks.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{AdmissionLimits, SimClock, SimNet};
use camproof_platform::accounts::{AccountsConfig, Region, UserId};
use camproof_platform::gateway::{GatewayConfig, GatewayStats};
use camproof_platform::ota::{OtaBugs, OtaConfig, OtaService, RolloutCounts};
use camproof_platform::region::{self, ZoneHost};
use camproof_platform::relay::RelayConfig;
use camproof_platform::relay_service::{RelayKey, RelayServiceStats};
use camproof_platform::signaling::{RegionServices, SignalingStats, StoreStats};
use camproof_platform::store::{
    check_erased, check_fail_stop_storage, check_no_acked_write_lost, check_one_leader_per_term,
    check_residency, CorruptRecord, DataViolation, DiskFault, History, Keyspace, MemBackend,
    Replica, ReplicaConfig, StoreNames,
};
use camproof_platform::trace::Trace;
use camproof_protocol::cdp::{NonceCache, ServerConfig, ServerContext, APP_IDLE_TIMEOUT};
use camproof_protocol::ota::{FirmwareVersion, Manifest, SignedManifest};
use camproof_protocol::pki::TestPki;
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use crate::checks::{self, CheckId, Checks};
use crate::error::WorldError;
use crate::spec::{
    FaultAction, WorldSpec, CAMERA_MODEL, EPOCH_SECS, GATEWAY_PORT, RELAY_PORT, STORE_PORT,
};
use crate::tap::KnownSecret;
use crate::users::UserDirectory;

/// One zone host: its name, region, counters and the switches its faults turn.
pub(crate) struct Zone {
    /// The region's name.
    pub region: String,
    /// The host's name (`gw-<region>-<zone>`).
    pub name: String,
    /// The gateway's counters.
    pub gateway: Rc<RefCell<GatewayStats>>,
    /// The relay's counters.
    pub relay: Rc<RefCell<RelayServiceStats>>,
    /// Whether the relay process is down (a `relay_crash` fault).
    pub relay_down: Rc<Cell<bool>>,
    /// The zone's store replica and its disk.
    pub store: ZoneStore,
}

/// One zone's store replica, its region and its disk.
pub(crate) struct ZoneStore {
    pub replica: Replica,
    pub region: Region,
    pub disk: MemBackend,
}

/// The platform of a world.
pub(crate) struct Platform {
    /// Each region's services.
    pub services: BTreeMap<String, Rc<RefCell<RegionServices>>>,
    /// Each region's CDP/1 endpoint state, shared by its zones.
    pub contexts: BTreeMap<String, Rc<RefCell<ServerContext>>>,
    /// The zone hosts, region by region.
    pub zones: Vec<Zone>,
    /// Each region's store history, for the store's checkers.
    histories: BTreeMap<String, History>,
    /// The store writers' counters, all regions together.
    store_stats: Rc<RefCell<StoreStats>>,
    /// Rollouts waiting for their start, by region.
    rollouts: Vec<(String, FirmwareVersion)>,
    /// Users whose account was erased, with when (simulated time since the start).
    erased: Vec<(UserId, Duration)>,
    /// Who writes with each store client id: the zone host whose start took it.
    store_writers: Rc<RefCell<BTreeMap<u64, String>>>,
}

/// What a world's platform is built with.
pub(crate) struct Setup<'a> {
    pub spec: &'a WorldSpec,
    pub pki: &'a TestPki,
    pub trace: &'a Trace,
    /// Seeds of the hosts' own random streams, drawn in build order.
    pub seeds: &'a mut ChaCha8Rng,
    /// Randomness of everything made before the run starts (keys, accounts, pairing).
    pub setup_rng: &'a mut ChaCha8Rng,
    /// Everything that must never cross the wire in clear, for the tap's scan.
    pub secrets: &'a mut Vec<KnownSecret>,
}

impl Platform {
    /// Builds every region's services and adds a host per zone to `sim`.
    pub fn build(sim: &mut turmoil::Sim<'static>, s: &mut Setup<'_>) -> Result<Self, WorldError> {
        let spec = s.spec;
        let contexts = spec
            .regions
            .iter()
            .map(|r| {
                let mut context = ServerContext::new(s.pki.trust_store());
                if let Some(n) = spec.platform.nonce_cache {
                    context.nonces = NonceCache::new(n as usize);
                }
                (r.clone(), Rc::new(RefCell::new(context)))
            })
            .collect();
        let mut relay_keys = BTreeMap::new();
        let mut services = BTreeMap::new();
        for region in &spec.regions {
            let (svc, key) = region_services(region, s)?;
            services.insert(region.clone(), svc);
            relay_keys.insert(region.clone(), key);
        }
        let rollouts = publish_release(spec, s, &services)?;
        let (stores, histories) = build_stores(spec, s)?;
        let mut platform = Platform {
            services,
            contexts,
            zones: Vec::new(),
            histories,
            store_stats: Rc::default(),
            rollouts,
            erased: Vec::new(),
            store_writers: Rc::default(),
        };
        platform.add_zone_hosts(sim, s, stores, &relay_keys)?;
        Ok(platform)
    }

    /// Adds one host per zone: its gateway, relay and store replica with its writer (the
    /// platform's [`ZoneHost`], on the simulated network).
    fn add_zone_hosts(
        &mut self,
        sim: &mut turmoil::Sim<'static>,
        s: &mut Setup<'_>,
        mut stores: BTreeMap<String, ZoneStore>,
        relay_keys: &BTreeMap<String, RelayKey>,
    ) -> Result<(), WorldError> {
        let spec = s.spec;
        let names: Vec<(String, String)> = spec
            .regions
            .iter()
            .flat_map(|r| {
                (1..=spec.zones_per_region).map(move |z| (r.clone(), format!("gw-{r}-{z}")))
            })
            .collect();
        let store_clients = Rc::new(Cell::new(0u64));
        for (g, (region, name)) in names.iter().enumerate() {
            let store = stores
                .remove(name)
                .ok_or_else(|| WorldError::Invalid(format!("no store replica for {name}")))?;
            let zone = Zone {
                region: region.clone(),
                name: name.clone(),
                gateway: Rc::default(),
                relay: Rc::default(),
                relay_down: Rc::default(),
                store,
            };
            let host = ZoneHost {
                gateway: self.gateway_config(spec, &names, region, name),
                server_config: server_config(spec, s.pki, name, g),
                context: self.contexts[region].clone(),
                services: self.services[region].clone(),
                relay_key: relay_keys[region].clone(),
                relay_listen: format!("0.0.0.0:{RELAY_PORT}"),
                gateway_stats: zone.gateway.clone(),
                relay_stats: zone.relay.clone(),
                relay_down: zone.relay_down.clone(),
                trace: s.trace.clone(),
                seed: s.seeds.next_u64(),
                replica: zone.store.replica.clone(),
                store_members: (1..=spec.zones_per_region)
                    .map(|z| format!("gw-{region}-{z}:{STORE_PORT}"))
                    .collect(),
                store_region: zone.store.region,
                store_stats: self.store_stats.clone(),
                store_clients: store_clients.clone(),
                // A stopped replica shows in the store's history and checkers.
                replica_stopped: None,
            };
            let writers = self.store_writers.clone();
            let host_name = name.clone();
            sim.host(name.as_str(), move || {
                let zone = host.start(SimNet, SimClock);
                // Each start takes the next store client id for the zone's writer
                // (`ZoneHost::store_clients`): remember whose it is, for violations.
                writers
                    .borrow_mut()
                    .insert(host.store_clients.get(), host_name.clone());
                let host_name = host_name.clone();
                async move {
                    if let Err(e) = zone.await {
                        // The gateway's accept loop ended (only a planted bug does that):
                        // the host's store and relay run on, and its cameras find no
                        // gateway, which the liveness check sees. Failing the whole
                        // simulation instead would hide which check the bug breaks.
                        tracing::warn!(host = %host_name, error = %e, "gateway stopped accepting");
                        std::future::pending::<()>().await;
                    }
                    Ok(())
                }
            });
            self.zones.push(zone);
        }
        Ok(())
    }

    /// The gateway settings of zone host `name`.
    fn gateway_config(
        &self,
        spec: &WorldSpec,
        names: &[(String, String)],
        region: &str,
        name: &str,
    ) -> GatewayConfig {
        // Fallbacks a gateway hands out: the other zones of its region.
        let fallbacks = names
            .iter()
            .filter(|(r, n)| r == region && n != name)
            .map(|(_, n)| format!("{n}:{GATEWAY_PORT}"))
            .collect();
        GatewayConfig {
            name: name.to_owned(),
            listen: format!("0.0.0.0:{GATEWAY_PORT}"),
            relay: format!("{name}:{RELAY_PORT}"),
            fallbacks,
            idle_timeout: spec.camera.heartbeat * 3,
            app_idle_timeout: APP_IDLE_TIMEOUT,
            admission: AdmissionLimits {
                // A site is a NAT'd network: all its cameras and apps share one address.
                max_per_source: usize::MAX,
                stop_on_accept_error: spec.world_bugs.accept_error_stops,
                ..AdmissionLimits::default()
            },
        }
    }

    /// Applies a fault that acts on the platform's software or data; `false` if `action`
    /// is not one.
    pub fn apply(
        &mut self,
        action: &FaultAction,
        hosts: &[String],
        now: Timestamp,
        trace: &Trace,
    ) -> bool {
        match action {
            FaultAction::DiskFull(_) | FaultAction::DiskFree(_) => {
                let full = matches!(action, FaultAction::DiskFull(_));
                for zone in self.zones.iter().filter(|z| hosts.contains(&z.name)) {
                    zone.store.disk.fault().set_full(full);
                    if !full {
                        zone.store.disk.fault().set_read_only(false);
                    }
                }
            }
            FaultAction::DiskReadOnly(_) => {
                for zone in self.zones.iter().filter(|z| hosts.contains(&z.name)) {
                    zone.store.disk.fault().set_read_only(true);
                }
            }
            FaultAction::Corrupt(_, at, record) => {
                for zone in self.zones.iter().filter(|z| hosts.contains(&z.name)) {
                    let done = zone.store.disk.corrupt(*at, *record);
                    trace.record(
                        now,
                        format!(
                            "{}: store log {}{} bit flipped{}",
                            zone.name,
                            match record {
                                CorruptRecord::First => String::new(),
                                other => format!("{} record ", other.name()),
                            },
                            at.name(),
                            if done {
                                ""
                            } else {
                                " (log empty: nothing to flip)"
                            }
                        ),
                    );
                }
            }
            FaultAction::RelayCrash(_) | FaultAction::RelayRestart(_) => {
                let down = matches!(action, FaultAction::RelayCrash(_));
                for zone in self.zones.iter().filter(|z| hosts.contains(&z.name)) {
                    zone.relay_down.set(down);
                }
            }
            FaultAction::EraseAccount(username) => self.erase_account(username, now, trace),
            _ => return false,
        }
        true
    }

    /// A user deletes their account: their home region erases it, and the others drop
    /// what they learnt of it.
    fn erase_account(&mut self, username: &str, now: Timestamp, trace: &Trace) {
        let mut records = Vec::new();
        for (region, svc) in &self.services {
            let mut svc = svc.borrow_mut();
            let Some(id) = svc.accounts.find(username).cloned() else {
                continue;
            };
            match svc.delete_account(&id, now) {
                Ok(record) => {
                    let at = now.saturating_since(Timestamp::from_secs(EPOCH_SECS));
                    self.erased.push((id, at));
                    records.push((region, record));
                }
                Err(e) => trace.record(now, format!("erasure refused: {e}")),
            }
        }
        // Other regions drop the account's directory entry and any share or code it
        // held there.
        for (home, record) in &records {
            for (_, svc) in self.services.iter().filter(|(r, _)| r != home) {
                let mut svc = svc.borrow_mut();
                svc.accounts.apply_erasure(record);
                svc.registry.erase_user(&record.user_id, now);
            }
        }
    }

    /// Starts the scenario's rollout in every region once its start time has come.
    pub fn start_rollouts(
        &mut self,
        spec: &WorldSpec,
        elapsed: Duration,
        now: Timestamp,
        trace: &Trace,
    ) {
        let Some(ota) = spec.ota.as_ref().filter(|o| elapsed >= o.start) else {
            return;
        };
        for (region, version) in std::mem::take(&mut self.rollouts) {
            if let Some(service) = self.services[&region].borrow_mut().ota.as_mut() {
                match service.start_rollout(CAMERA_MODEL, version, ota.percent, now) {
                    Ok(_) => trace.record(
                        now,
                        format!("ota rollout {version} {}% in {region}", ota.percent),
                    ),
                    Err(e) => trace.record(now, format!("ota rollout refused in {region}: {e}")),
                }
            }
        }
    }

    /// The platform's checks that hold at every instant, made at `at`.
    pub fn check_now(&self, at: Duration, users: &UserDirectory, checks: &mut Checks) {
        for (region, history) in &self.histories {
            if let Err(v) = check_one_leader_per_term(history) {
                // The history dates the violation more precisely than the sample.
                let when = self.since_start(v.at()).map_or(at, |t| t.min(at));
                let detail = format!("{region}: {}", v.describe(&self.store_names(region)));
                checks.seen(CheckId::OneLeaderPerTerm, when, Err(detail));
            }
            if let Err(v) = check_fail_stop_storage(history) {
                let when = self.since_start(v.at()).map_or(at, |t| t.min(at));
                let detail = format!("{region}: {}", v.describe(&self.store_names(region)));
                checks.seen(CheckId::FailStopStorage, when, Err(detail));
            }
        }
        let keyspaces = self.keyspaces();
        let residency =
            check_residency(keyspaces.iter().map(|(n, r, k)| (*n, *r, k)), &users.homes);
        let residency = residency.map_err(|v| users.name_users_in(&v.to_string()));
        checks.seen(CheckId::Residency, at, residency);
        checks.seen(CheckId::RelayHoldLimit, at, self.check_relay_hold());
    }

    /// The store's and personal data's checks at the end of the run: store safety per
    /// region, then erasure and residency.
    pub fn check_store_at_end(&self, end: Duration, users: &UserDirectory, checks: &mut Checks) {
        for (region, history) in &self.histories {
            let names = self.store_names(region);
            let results = [
                (
                    CheckId::OneLeaderPerTerm,
                    check_one_leader_per_term(history),
                ),
                (
                    CheckId::NoAckedWriteLost,
                    check_no_acked_write_lost(history),
                ),
                (CheckId::FailStopStorage, check_fail_stop_storage(history)),
            ];
            for (check, result) in results {
                if let Err(v) = result {
                    let at = self.since_start(v.at()).unwrap_or(end).min(end);
                    checks.fail_at(check, at, format!("{region}: {}", v.describe(&names)));
                }
            }
        }
        let keyspaces = self.keyspaces();
        let ids: Vec<UserId> = self.erased.iter().map(|(id, _)| id.clone()).collect();
        let erased = check_erased(keyspaces.iter().map(|(n, _, k)| (*n, k)), &ids);
        let erased = erased.map_err(|v| {
            let when = match &v {
                DataViolation::NotErased { user, .. } => self
                    .erased
                    .iter()
                    .find(|(id, _)| id == user)
                    .map(|(_, at)| {
                        format!("; the account was erased at {:.3} s", at.as_secs_f64())
                    }),
                _ => None,
            };
            format!(
                "{}{}",
                users.name_users_in(&v.to_string()),
                when.unwrap_or_default()
            )
        });
        checks.finish(CheckId::Erasure, end, erased);
        let residency =
            check_residency(keyspaces.iter().map(|(n, r, k)| (*n, *r, k)), &users.homes);
        let residency = residency.map_err(|v| users.name_users_in(&v.to_string()));
        checks.finish(CheckId::Residency, end, residency);
    }

    /// What the store's violations in `region` are told with: its replicas' hosts (node
    /// `z` is zone host `gw-<region>-<z>`) and the zone host behind each writer.
    fn store_names(&self, region: &str) -> StoreNames {
        let writers = self.store_writers.borrow();
        let mut starts: BTreeMap<&str, u32> = BTreeMap::new();
        let clients = writers
            .iter()
            .map(|(id, host)| {
                let n = starts.entry(host.as_str()).or_default();
                *n += 1;
                // A restarted host's writer has a new id: say which start it was.
                let which = if *n > 1 {
                    format!(" (started again, start {n})")
                } else {
                    String::new()
                };
                (*id, format!("the store writer on {host}{which}"))
            })
            .collect();
        StoreNames {
            epoch: Timestamp::from_secs(EPOCH_SECS),
            nodes: (1u64..)
                .zip(self.zones.iter().filter(|z| z.region == region))
                .map(|(node, z)| (node, z.name.clone()))
                .collect(),
            clients,
        }
    }

    /// Simulated time since the start of a time on the simulated clock.
    fn since_start(&self, t: Option<Timestamp>) -> Option<Duration> {
        t.map(|t| t.saturating_since(Timestamp::from_secs(EPOCH_SECS)))
    }

    /// `relay-hold-limit`: no frame waited at a relay beyond the platform's limit.
    pub fn check_relay_hold(&self) -> Result<(), String> {
        // The relay that held a frame longest (the first such zone on a tie).
        let (relay, held) = self
            .zones
            .iter()
            .map(|z| (z, z.relay.borrow().max_held_us))
            .fold(("", 0), |best, (z, held)| {
                if held > best.1 {
                    (z.name.as_str(), held)
                } else {
                    best
                }
            });
        checks::check_relay_hold(
            &format!("relay@{relay}"),
            Duration::from_micros(held),
            RelayConfig::default().max_age,
        )
    }

    /// Every replica's keyspace with its host and region.
    fn keyspaces(&self) -> Vec<(&str, Region, Keyspace)> {
        self.zones
            .iter()
            .map(|z| (z.name.as_str(), z.store.region, z.store.replica.keyspace()))
            .collect()
    }

    /// Gateway counters, summed over the zones.
    pub fn gateway_totals(&self) -> GatewayStats {
        let mut total = GatewayStats::default();
        for zone in &self.zones {
            let s = zone.gateway.borrow();
            total.connections += s.connections;
            total.handshakes += s.handshakes;
            total.resumptions += s.resumptions;
            total.heartbeats += s.heartbeats;
            total.video_frames += s.video_frames;
            total.video_bytes += s.video_bytes;
            total.frame_latency_us.merge(&s.frame_latency_us);
            for (k, v) in &s.failures {
                *total.failures.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &s.online {
                *total.online.entry(k.clone()).or_default() += v;
            }
        }
        total
    }

    /// Relay counters, summed over the zones.
    pub fn relay_totals(&self) -> RelayServiceStats {
        let mut total = RelayServiceStats::default();
        for zone in &self.zones {
            total.add(&zone.relay.borrow());
        }
        total
    }

    /// Signaling counters, summed over the regions.
    pub fn signaling_totals(&self) -> SignalingStats {
        let mut total = SignalingStats::default();
        for s in self.services.values() {
            total.add(s.borrow().stats());
        }
        total
    }

    /// The store writers' counters with the leaders every region elected.
    pub fn store_totals(&self) -> StoreStats {
        let mut store = self.store_stats.borrow().clone();
        for history in self.histories.values() {
            store.leaders += history.leaders().len() as u64;
        }
        store
    }

    /// Rollout counts, summed over the regions (`None` without a rollout).
    pub fn rollout_totals(&self) -> Option<RolloutCounts> {
        let mut ota: Option<RolloutCounts> = None;
        for s in self.services.values() {
            let Some(service) = &s.borrow().ota else {
                continue;
            };
            for status in service.rollouts() {
                let total = ota.get_or_insert_with(RolloutCounts::default);
                let c = &status.counts;
                total.eligible += c.eligible;
                total.offered += c.offered;
                total.installed += c.installed;
                total.refused += c.refused;
                total.failed += c.failed;
                for (code, n) in &c.refusals {
                    *total.refusals.entry(*code).or_default() += n;
                }
            }
        }
        ota
    }
}

/// Accounts, registry and signaling of `region`, with its relay grant key (drawn from
/// the setup randomness, and known to the tap as a secret).
fn region_services(
    region: &str,
    s: &mut Setup<'_>,
) -> Result<(Rc<RefCell<RegionServices>>, RelayKey), WorldError> {
    let r: Region = region
        .parse()
        .map_err(|e: camproof_platform::accounts::UnknownRegion| {
            WorldError::Invalid(e.to_string())
        })?;
    let mut key = [0u8; 32];
    s.setup_rng.fill_bytes(&mut key);
    s.secrets.push(KnownSecret {
        label: format!("relay grant key of {region}"),
        value: key.to_vec(),
    });
    let relay_key = RelayKey::from_bytes(key);
    let services = region::region_services(
        r,
        AccountsConfig::for_tests(),
        relay_key.clone(),
        s.seeds.next_u64(),
    )
    .map_err(|e| WorldError::Invalid(e.to_string()))?;
    Ok((services, relay_key))
}

/// Signs the scenario's release as the vendor (offline) and publishes it in every
/// region's OTA service; returns the rollouts to start.
fn publish_release(
    spec: &WorldSpec,
    s: &mut Setup<'_>,
    services: &BTreeMap<String, Rc<RefCell<RegionServices>>>,
) -> Result<Vec<(String, FirmwareVersion)>, WorldError> {
    let Some(ota) = &spec.ota else {
        return Ok(Vec::new());
    };
    let invalid =
        |what: &str, e: &dyn std::fmt::Display| WorldError::Invalid(format!("{what}: {e}"));
    let vendor_cert = s
        .pki
        .vendor_certificate(0)
        .ok_or_else(|| WorldError::Invalid("the PKI has no vendor".into()))?
        .clone();
    let version: FirmwareVersion = ota
        .version
        .parse()
        .map_err(|_| WorldError::Invalid(format!("OTA version {:?}", ota.version)))?;
    let image: Vec<u8> = (0..ota.image_bytes).map(|i| (i * 31 % 251) as u8).collect();
    let manifest =
        Manifest::for_image(CAMERA_MODEL, version, FirmwareVersion::new(1, 0, 0), &image)
            .map_err(|e| invalid("OTA manifest", &e))?;
    let key = s
        .pki
        .vendor_key(0)
        .ok_or_else(|| WorldError::Invalid("the PKI has no vendor key".into()))?;
    let signed = SignedManifest::sign(manifest, key, s.setup_rng)
        .map_err(|e| invalid("OTA signature", &e))?;
    let start = Timestamp::from_secs(EPOCH_SECS);
    let mut rollouts = Vec::new();
    for (region, svc) in services {
        let mut service = OtaService::new(OtaConfig::default()).map_err(|e| invalid("OTA", &e))?;
        service
            .trust_vendor(CAMERA_MODEL, vendor_cert.clone())
            .map_err(|e| invalid("OTA", &e))?;
        service.plant_bugs(OtaBugs {
            chunk_off_by_one: spec.world_bugs.ota_chunk_off_by_one,
        });
        service
            .publish(signed.clone(), image.clone(), start)
            .map_err(|e| invalid("OTA", &e))?;
        svc.borrow_mut().ota = Some(service);
        rollouts.push((region.clone(), version));
    }
    Ok(rollouts)
}

/// One store replica per zone, on the zone's host, and one history per region.
#[allow(clippy::type_complexity)]
fn build_stores(
    spec: &WorldSpec,
    s: &mut Setup<'_>,
) -> Result<(BTreeMap<String, ZoneStore>, BTreeMap<String, History>), WorldError> {
    let mut histories = BTreeMap::new();
    let mut stores = BTreeMap::new();
    for region in &spec.regions {
        let r: Region =
            region
                .parse()
                .map_err(|e: camproof_platform::accounts::UnknownRegion| {
                    WorldError::Invalid(e.to_string())
                })?;
        let members: BTreeMap<u64, String> = (1..=u64::from(spec.zones_per_region))
            .map(|z| (z, format!("gw-{region}-{z}:{STORE_PORT}")))
            .collect();
        let history = History::with_trace(s.trace.clone());
        for z in 1..=u64::from(spec.zones_per_region) {
            let mut cfg =
                ReplicaConfig::new(r, z, format!("0.0.0.0:{STORE_PORT}"), members.clone());
            cfg.seed = s.seeds.next_u64();
            cfg.bugs = spec.store_bugs;
            cfg.admission.stop_on_accept_error = spec.world_bugs.accept_error_stops;
            let backend = MemBackend::new(DiskFault::new());
            let replica = Replica::in_memory(cfg, backend.clone(), history.clone());
            let store = ZoneStore {
                replica,
                region: r,
                disk: backend,
            };
            stores.insert(format!("gw-{region}-{z}"), store);
        }
        histories.insert(region.clone(), history);
    }
    Ok((stores, histories))
}

/// The CDP/1 server settings of zone host `name` (the `index`th zone of the world).
fn server_config(spec: &WorldSpec, pki: &TestPki, name: &str, index: usize) -> Arc<ServerConfig> {
    let mut config = ServerConfig::new(pki.server(name, index as u64));
    // Both ends of a session rekey on the same schedule (`camera.rekey_after`).
    if let Some(n) = spec.camera.rekey_after {
        config.rekey_after = n.max(1);
    }
    Arc::new(config)
}
