//! One region of the reference platform, assembled the same way on any network.
//!
//! The simulated world (turmoil) and `camproof serve` (real sockets) build their
//! regions from these parts, each handed a [`Net`] and a [`Clock`]:
//! - [`region_services`]: a region's accounts, registry and signaling, with the relay
//!   grant key its gateways hand out and its relays check;
//! - [`ZoneHost`]: what one zone runs: its store replica, the writer that copies the
//!   region's records into the store, its relay (kept up by a [`RelaySupervisor`]) and
//!   its gateway. [`ZoneHost::start`] can be called again after a crash;
//! - [`standalone`]: a one-gateway region with its store on disk, as `camproof serve`
//!   runs it.
//!
//! Seeds are passed in, never drawn here, so the caller fixes the order of its draws.
//!
//! ```no_run
//! use camproof_net::{SimClock, SimNet};
//! use camproof_platform::region::ZoneHost;
//!
//! # fn zone() -> ZoneHost { unimplemented!() }
//! let mut sim = turmoil::Builder::new().build();
//! let host = zone(); // gateway, relay and store settings of `gw-eu-africa-1`
//! sim.host("gw-eu-africa-1", move || {
//!     let zone = host.start(SimNet, SimClock);
//!     async move { Ok(zone.await?) }
//! });
//! ```

pub mod standalone;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{AdmissionLimits, Clock, Net};
use camproof_protocol::cdp::{ServerConfig, ServerContext};

use crate::accounts::{self, Accounts, AccountsConfig, GeoPoint, Region};
use crate::gateway::{Gateway, GatewayConfig, GatewayStats};
use crate::registry::{self, Registry, RegistryConfig};
use crate::relay::RelayConfig;
use crate::relay_service::{RelayKey, RelayService, RelayServiceStats};
use crate::signaling::{store_writer, RegionServices, StoreStats};
use crate::store::{Replica, StoreClient, StoreError};
use crate::trace::Trace;

/// Why a region could not be assembled or stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// The accounts service refused its configuration.
    #[error("accounts: {0}")]
    Accounts(#[from] accounts::ConfigError),
    /// The device registry refused its configuration.
    #[error("registry: {0}")]
    Registry(#[from] registry::ConfigError),
    /// An address could not be bound.
    #[error("binding the {what} on {addr}: {source}")]
    Bind {
        /// What was being bound (`gateway`, `relay`).
        what: &'static str,
        /// The address asked for.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The store's data directory could not be created.
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The gateway stopped accepting connections.
    #[error("gateway stopped: {0}")]
    Gateway(std::io::Error),
    /// The store's replicas on disk cannot be started safely.
    #[error("store refused to start: {0}")]
    StoreRefused(String),
    /// Fewer than a majority of the store's replicas still run: nothing can be recorded.
    #[error(
        "store lost its quorum: {running} replica(s) still running, a majority is needed; \
         {pending} record(s) not stored"
    )]
    StoreLost {
        /// Replicas still running.
        running: u16,
        /// Writes the services had queued for the store, not stored.
        pending: usize,
    },
}

/// Accounts, registry and signaling of `region`: sign-ins come from the region's
/// main city ([`region_location`]), relay grants are made with `relay_key`, and the
/// services' own draws are seeded with `seed`. Computes one Argon2 hash.
pub fn region_services(
    region: Region,
    accounts: AccountsConfig,
    relay_key: RelayKey,
    seed: u64,
) -> Result<Rc<RefCell<RegionServices>>, RegionError> {
    let accounts = Accounts::new(region, accounts)?;
    let registry = Registry::new(region, RegistryConfig::default())?;
    let services =
        RegionServices::new(accounts, registry, relay_key, region_location(region), seed);
    Ok(Rc::new(RefCell::new(services)))
}

/// Where logins through a region's edge appear to come from (its main city).
pub fn region_location(region: Region) -> GeoPoint {
    match region {
        Region::Cn => GeoPoint::new(31.23, 121.47),
        Region::Americas => GeoPoint::new(39.04, -77.49),
        Region::EuAfrica => GeoPoint::new(50.11, 8.68),
        Region::Apac => GeoPoint::new(1.35, 103.82),
    }
}

/// Listeners bound before a zone starts (to learn the port of a `:0` address); the zone
/// binds what is missing itself, from its configuration.
pub struct Bound<L> {
    /// The gateway's listener.
    pub gateway: Option<L>,
    /// The relay's listener (used by its first start; a restarted relay binds again).
    pub relay: Option<L>,
}

impl<L> Default for Bound<L> {
    fn default() -> Self {
        Bound {
            gateway: None,
            relay: None,
        }
    }
}

/// Called with the error a zone's store replica stopped on.
pub type ReplicaStopped = Rc<dyn Fn(&StoreError)>;

/// What one zone runs: its store replica and the writer of its region's records, its
/// relay and its gateway. Kept to start the zone again after a crash: counters, the
/// replica's data and the relay switch live on across starts.
pub struct ZoneHost {
    /// The gateway's settings (`name` also names the relay process).
    pub gateway: GatewayConfig,
    /// The gateway's CDP/1 identity and session settings.
    pub server_config: Arc<ServerConfig>,
    /// CDP/1 endpoint state shared with the region's other zones (nonces, tickets).
    pub context: Rc<RefCell<ServerContext>>,
    /// The region's services.
    pub services: Rc<RefCell<RegionServices>>,
    /// The region's relay grant key.
    pub relay_key: RelayKey,
    /// Where the relay listens.
    pub relay_listen: String,
    /// The gateway's counters.
    pub gateway_stats: Rc<RefCell<GatewayStats>>,
    /// The relay's counters.
    pub relay_stats: Rc<RefCell<RelayServiceStats>>,
    /// Whether the relay process is down (a relay crash); the supervisor follows it.
    pub relay_down: Rc<Cell<bool>>,
    /// The run's trace.
    pub trace: Trace,
    /// Seeds the gateway's draws.
    pub seed: u64,
    /// The zone's store replica.
    pub replica: Replica,
    /// Every replica of the region's store, as clients dial them.
    pub store_members: Vec<String>,
    /// The region whose records the writer stores (with home residency).
    pub store_region: Region,
    /// The store writers' counters (shareable between zones and regions).
    pub store_stats: Rc<RefCell<StoreStats>>,
    /// Store client ids handed out so far; each start takes the next one.
    pub store_clients: Rc<Cell<u64>>,
    /// Told when the replica stops (`None`: only the store's history knows).
    pub replica_stopped: Option<ReplicaStopped>,
}

impl ZoneHost {
    /// Starts the zone's software on `net`: the store replica and its writer at once,
    /// the relay process and the gateway (binding their configured addresses) when the
    /// returned future, the gateway's serving, is first polled. It ends only if the
    /// gateway's listener fails.
    pub fn start<N: Net, C: Clock>(
        &self,
        net: N,
        clock: C,
    ) -> impl Future<Output = std::io::Result<()>> + 'static {
        self.start_on(net, clock, Bound::default())
    }

    /// [`ZoneHost::start`] on listeners already bound (the others are bound as
    /// configured).
    pub fn start_on<N: Net, C: Clock>(
        &self,
        net: N,
        clock: C,
        bound: Bound<N::Listener>,
    ) -> impl Future<Output = std::io::Result<()>> + 'static {
        let replica = self.replica.clone();
        let (replica_net, replica_clock) = (net.clone(), clock.clone());
        let stopped = self.replica_stopped.clone();
        tokio::task::spawn_local(async move {
            if let (Err(e), Some(stopped)) =
                (replica.run(replica_net, replica_clock).await, stopped)
            {
                stopped(&e);
            }
        });
        // The zone's store writer: the region's services' records, written with home
        // residency; a write counts once a majority of zones holds it.
        let client_id = self.store_clients.get() + 1;
        self.store_clients.set(client_id);
        let writer = store_writer(
            StoreClient::new(
                net.clone(),
                self.store_region,
                self.store_members.clone(),
                client_id,
            ),
            self.services.clone(),
            self.store_region,
            self.store_stats.clone(),
        );
        tokio::task::spawn_local(writer);
        let gateway = Gateway::with_services(
            self.gateway.clone(),
            self.server_config.clone(),
            self.context.clone(),
            Some(self.services.clone()),
            self.seed,
            self.gateway_stats.clone(),
            self.trace.clone(),
        );
        // The zone's relay runs beside its gateway as a process of its own: a host crash
        // takes both, a relay crash only the relay and its connections.
        let relay = RelaySupervisor {
            net: net.clone(),
            clock: clock.clone(),
            name: format!("relay@{}", self.gateway.name),
            key: self.relay_key.clone(),
            listen: self.relay_listen.clone(),
            stats: self.relay_stats.clone(),
            trace: self.trace.clone(),
            down: self.relay_down.clone(),
            bound: bound.relay,
            admission: self.gateway.admission,
        };
        async move {
            tokio::task::spawn_local(relay.run());
            match bound.gateway {
                Some(listener) => gateway.serve_on(listener, clock).await,
                None => gateway.serve(net, clock).await,
            }
        }
    }
}

/// Runs a zone's relay as its own process: up until its `down` switch is set (a relay
/// crash), when the relay and every connection it holds go at once, and up again when
/// the switch is cleared.
pub struct RelaySupervisor<N: Net, C: Clock> {
    /// The network the relay listens on.
    pub net: N,
    /// The relay's clock (grant expiry, frame ages).
    pub clock: C,
    /// The relay's name in the trace.
    pub name: String,
    /// The grant key it checks.
    pub key: RelayKey,
    /// Where it listens.
    pub listen: String,
    /// Its counters, kept across restarts.
    pub stats: Rc<RefCell<RelayServiceStats>>,
    /// The run's trace.
    pub trace: Trace,
    /// The crash switch.
    pub down: Rc<Cell<bool>>,
    /// A listener bound beforehand, for the first start.
    pub bound: Option<N::Listener>,
    /// The relay's admission limits.
    pub admission: AdmissionLimits,
}

impl<N: Net, C: Clock> RelaySupervisor<N, C> {
    /// How often the supervisor looks whether its process should change state.
    const POLL: Duration = Duration::from_millis(100);

    /// Keeps the relay up, or down, as its switch says; never returns.
    pub async fn run(mut self) {
        loop {
            while self.down.get() {
                tokio::time::sleep(Self::POLL).await;
            }
            let relay = RelayService::with_admission(
                self.name.clone(),
                self.key.clone(),
                RelayConfig::default(),
                self.stats.clone(),
                self.trace.clone(),
                self.clock.clone(),
                self.admission,
            );
            // The relay's tasks live in a set of their own, so dropping the set kills
            // the process: its listener and every viewer and camera connection.
            let process = tokio::task::LocalSet::new();
            let down = self.down.clone();
            let crashed = async move {
                while !down.get() {
                    tokio::time::sleep(Self::POLL).await;
                }
            };
            let (net, listen, bound) = (self.net.clone(), self.listen.clone(), self.bound.take());
            let name = self.name.clone();
            tokio::select! {
                biased;
                _ = crashed => {}
                _ = process.run_until(async move {
                    let served = match bound {
                        Some(listener) => relay.serve_on(listener).await,
                        None => relay.serve(net, &listen).await,
                    };
                    if let Err(e) = served {
                        tracing::warn!(relay = %name, %listen, error = %e, "relay stopped; restarting in 1 s");
                    }
                }) => {
                    // The relay stopped on its own (it could not bind): try again later.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            drop(process);
        }
    }
}
