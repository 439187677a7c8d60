//! Customer sites as a component of the world: one host per site running its cameras
//! as tasks and its users' viewer apps, with the accounts and pairings the product
//! would have left them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, SimClock, SimNet};
use camproof_platform::registry::{Action, Caller};
use camproof_platform::signaling::RegionServices;
use camproof_protocol::cdp::{ClientConfig, SecretText};
use camproof_protocol::pki::{DeviceCredentials, KeyCache, PeerIdentity};
use camproof_protocol::video::PairingSecret;
use camproof_protocol::Timestamp;
use camproof_simulated_devices::camera::{Camera, CameraConfig, FleetStats};
use camproof_simulated_devices::viewer::{Viewer, ViewerConfig, ViewerStats};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::checks::{CheckId, Checks};
use crate::error::WorldError;
use crate::router::{RoutedNet, SiteRouter};
use crate::spec::{FaultAction, WorldSpec, CAMERA_MODEL, EPOCH_SECS, GATEWAY_PORT, STREAMS_WINDOW};
use crate::tap::KnownSecret;
use crate::users::{register_user, UserDirectory};
use crate::world::platform::Setup;
use crate::world::TimelineSample;
use camproof_results::OfflineCamera;

/// The clock of one site's cameras: simulated time, plus the skew a fault sets.
#[derive(Debug, Clone, Default)]
pub struct SkewedClock {
    skew_ms: Rc<Cell<i64>>,
}

impl Clock for SkewedClock {
    fn now(&self) -> Timestamp {
        let now = SimClock.now();
        let skew = self.skew_ms.get();
        let micros = now.as_micros() as i128 + i128::from(skew) * 1000;
        Timestamp::from_micros(u64::try_from(micros.max(0)).unwrap_or(u64::MAX))
    }
}

/// The sites of a world.
pub(crate) struct Sites {
    /// The sites' hosts, in order, with their regions.
    pub names: Vec<(String, String)>,
    /// The cameras' counters, all sites together.
    pub fleet: Rc<RefCell<FleetStats>>,
    /// The viewers' counters, all sites together.
    pub viewers: Rc<RefCell<ViewerStats>>,
    /// The viewer app's client configuration.
    pub app_config: Arc<ClientConfig>,
    /// Every user's home region and username, by account id.
    pub users: UserDirectory,
    /// Every camera's home region, by camera index.
    homes: BTreeMap<u64, String>,
    /// Each site's camera clock, for clock-skew faults.
    clocks: BTreeMap<String, SkewedClock>,
    /// Every camera's name (its certificate's subject), by camera index.
    camera_names: Vec<String>,
    /// Every camera's presence as the sampling instants saw it, by camera index.
    presence: Vec<Presence>,
    /// Cameras per site: camera `i` belongs to site `i / cameras_per_site`.
    cameras_per_site: u64,
}

/// One camera's presence at the sampling instants: O(1) per camera, updated only when
/// the world samples, so that a liveness failure can say since when each offline
/// camera has been offline without any per-frame bookkeeping.
#[derive(Debug, Clone, Copy, Default)]
struct Presence {
    /// Whether a sample ever saw it online.
    seen_online: bool,
    /// The first sampling instant that saw it offline since it was last seen online.
    offline_since: Option<Duration>,
}

/// One camera before its site starts: index, settings, identity and seed.
type Device = (u64, Rc<CameraConfig>, Arc<DeviceCredentials>, u64);

/// A registered user: the caller, their password and their authenticator's secret.
type User = (String, (Caller, SecretText, SecretText));

impl Sites {
    /// Registers every site's users, provisions and pairs its cameras, and adds a host
    /// per site to `sim`; cameras of a site in `routers` connect through its router.
    pub fn build(
        sim: &mut turmoil::Sim<'static>,
        s: &mut Setup<'_>,
        cache: &mut dyn KeyCache,
        services: &BTreeMap<String, Rc<RefCell<RegionServices>>>,
        routers: &BTreeMap<String, Rc<SiteRouter>>,
    ) -> Result<Self, WorldError> {
        let spec = s.spec;
        let mut client_config = ClientConfig::new(s.pki.trust_store());
        client_config.flaws = spec.camera.flaws.device;
        let client_config = Arc::new(client_config);
        let mut sites = Sites {
            names: Vec::new(),
            fleet: Rc::default(),
            viewers: Rc::default(),
            app_config: Arc::new(ClientConfig::new(s.pki.trust_store())),
            users: UserDirectory::default(),
            homes: BTreeMap::new(),
            clocks: BTreeMap::new(),
            camera_names: Vec::with_capacity(spec.cameras() as usize),
            presence: vec![Presence::default(); spec.cameras() as usize],
            cameras_per_site: u64::from(spec.cameras_per_site),
        };
        let vendor_key = match s.pki.vendor_certificate(0).map(|c| &c.key) {
            Some(camproof_protocol::pki::PublicKey::Rsa(k)) => Some(k.clone()),
            _ => None,
        };
        for site in 0..spec.sites {
            let region = spec.site_region(site).to_string();
            let svc = &services[&region];
            let users = sites.register_users(s, site, svc)?;
            let owner = users[0].1 .0.clone();
            let mut pairings = BTreeMap::new();
            let mut devices = Vec::with_capacity(spec.cameras_per_site as usize);
            for c in 0..spec.cameras_per_site {
                let index = u64::from(site) * u64::from(spec.cameras_per_site) + u64::from(c);
                let config = Rc::new(CameraConfig {
                    gateways: camera_gateways(spec, &region, index),
                    // A live view lasts as long as its viewer watches, and a little more.
                    live_view_max: spec.viewers.watch + Duration::from_secs(2),
                    model: CAMERA_MODEL.to_owned(),
                    vendor_key: vendor_key.clone(),
                    ..spec.camera.clone()
                });
                sites.homes.insert(index, region.clone());
                let creds = Arc::new(s.pki.device_cached(index, cache));
                sites.camera_names.push(
                    creds
                        .chain()
                        .first()
                        .map_or_else(|| format!("camera {index}"), |c| c.subject.clone()),
                );
                let seed = s.seeds.next_u64();
                pair_camera(s, svc, &owner, &users, index, &creds, seed, &mut pairings)?;
                devices.push((index, config, creds, seed));
            }
            let viewers = viewer_configs(spec, s, &region, users, &pairings);
            let name = spec.site_names()[site as usize].clone();
            sites.names.push((region, name.clone()));
            let clock = SkewedClock::default();
            sites.clocks.insert(name.clone(), clock.clone());
            let host = SiteHost {
                devices,
                viewers,
                client_config: client_config.clone(),
                app_config: sites.app_config.clone(),
                fleet: sites.fleet.clone(),
                viewer_stats: sites.viewers.clone(),
                clock,
                router: routers.get(&name).cloned(),
                boots: std::cell::Cell::new(0),
            };
            sim.host(name.as_str(), move || host.start());
        }
        Ok(sites)
    }

    /// The site's owner and the family members the owner shares the cameras with, each
    /// with an account of their own (one-time codes are single-use).
    fn register_users(
        &mut self,
        s: &mut Setup<'_>,
        site: u32,
        svc: &Rc<RefCell<RegionServices>>,
    ) -> Result<Vec<User>, WorldError> {
        let mut users = Vec::new();
        for u in 0..s.spec.viewers.per_site.max(1) {
            let username = format!("user{u}@site{site}.example");
            // Accounts were made before the run starts (a code used at enrolment is
            // spent, so enrolling at the first instant would refuse the first sign-in).
            let made = Timestamp::from_secs(EPOCH_SECS - 3600);
            let user = register_user(&mut svc.borrow_mut(), &username, made, s.setup_rng)?;
            users.push((username, user));
        }
        for (username, (caller, password, totp)) in &users {
            self.users.add(caller.user.as_str(), username, caller.home);
            s.secrets.push(KnownSecret {
                label: format!("password of {username}"),
                value: password.expose().as_bytes().to_vec(),
            });
            s.secrets.push(KnownSecret {
                label: format!("TOTP secret of {username}"),
                value: totp.expose().as_bytes().to_vec(),
            });
        }
        Ok(users)
    }

    /// Applies a fault that acts on the sites' devices; `false` if `action` is not one.
    pub fn apply(&self, action: &FaultAction, hosts: &[String]) -> bool {
        let FaultAction::ClockSkew(_, ms) = action else {
            return false;
        };
        for site in hosts {
            if let Some(clock) = self.clocks.get(site) {
                clock.skew_ms.set(*ms);
            }
        }
        true
    }

    /// Cameras with an established session now.
    pub fn cameras_online(&self) -> u64 {
        self.fleet.borrow().online.len() as u64
    }

    /// Notes which cameras the sampling instant `at` sees online and which offline.
    /// O(cameras): one walk over the cameras beside the sorted set of those online.
    pub fn sample_presence(&mut self, at: Duration) {
        let fleet = self.fleet.borrow();
        let mut online = fleet.online.iter().peekable();
        for (index, p) in (0u64..).zip(self.presence.iter_mut()) {
            while online.next_if(|i| **i < index).is_some() {}
            if online.next_if(|i| **i == index).is_some() {
                p.seen_online = true;
                p.offline_since = None;
            } else if p.offline_since.is_none() {
                p.offline_since = Some(at);
            }
        }
    }

    /// Every camera as the last sampling instant saw it, in camera order (a camera
    /// online now counts as online).
    pub fn presence_now(&self) -> Vec<crate::flood::CameraPresence<'_>> {
        let fleet = self.fleet.borrow();
        (0u64..)
            .zip(&self.presence)
            .map(|(index, p)| {
                let site = usize::try_from(index / self.cameras_per_site.max(1)).unwrap_or(0);
                let (region, name) = self
                    .names
                    .get(site)
                    .map_or(("", ""), |(r, n)| (r.as_str(), n.as_str()));
                crate::flood::CameraPresence {
                    name: self
                        .camera_names
                        .get(index as usize)
                        .map_or("", String::as_str),
                    region,
                    site: name,
                    online: fleet.online.contains(&index),
                    offline_since: p.offline_since,
                }
            })
            .collect()
    }

    /// The cameras without a session now, site by site in camera order, each with the
    /// time it went offline as the samples saw it (`end` if it dropped after the last
    /// sample; `None` if no sample saw it online).
    pub fn offline_cameras(&self, end: Duration) -> Vec<OfflineCamera> {
        let fleet = self.fleet.borrow();
        (0u64..)
            .zip(&self.presence)
            .filter(|(index, _)| !fleet.online.contains(index))
            .map(|(index, p)| {
                let site = usize::try_from(index / self.cameras_per_site.max(1)).unwrap_or(0);
                let (region, name) = self.names.get(site).cloned().unwrap_or_default();
                OfflineCamera {
                    camera: self
                        .camera_names
                        .get(index as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("camera {index}")),
                    site: name,
                    region,
                    since_seconds: p
                        .seen_online
                        .then(|| p.offline_since.unwrap_or(end).as_secs_f64()),
                }
            })
            .collect()
    }

    /// The names of the cameras not running `version` now, in camera order.
    pub fn cameras_not_running(&self, version: &str) -> Vec<String> {
        let fleet = self.fleet.borrow();
        (0u64..)
            .zip(&self.camera_names)
            .filter(|(index, _)| fleet.running.get(index).map(String::as_str) != Some(version))
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Per region: (cameras online, cameras homed there).
    pub fn online_by_region(&self) -> BTreeMap<String, (u64, u64)> {
        let fleet = self.fleet.borrow();
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (index, region) in &self.homes {
            let entry = out.entry(region.clone()).or_default();
            entry.1 += 1;
            if fleet.online.contains(index) {
                entry.0 += 1;
            }
        }
        out
    }

    /// Whether the run can see live video resume: people watch, and the run is long
    /// enough to have a window of [`STREAMS_WINDOW`] after a start.
    pub fn checks_streams(spec: &WorldSpec) -> bool {
        spec.viewers.live_view
            && spec.viewers.per_site > 0
            && spec.duration >= STREAMS_WINDOW * 3 / 2
    }

    /// `streams-resume`: with people watching, viewers verified live frames in the last
    /// [`STREAMS_WINDOW`] of the run.
    pub fn check_streams_at_end(
        spec: &WorldSpec,
        timeline: &[TimelineSample],
        checks: &mut Checks,
    ) {
        if !Self::checks_streams(spec) {
            return;
        }
        let from = spec.duration.saturating_sub(STREAMS_WINDOW);
        let recent: u64 = timeline
            .iter()
            .filter(|p| p.at > from)
            .map(|p| p.live_frames)
            .sum();
        if recent == 0 {
            // When live video was last seen tells a stream that stopped from one that
            // never started.
            let last = timeline.iter().rev().find(|p| p.live_frames > 0).map_or(
                "no live frame was verified in the whole run".to_string(),
                |p| {
                    format!(
                        "the last were verified in the {} before {}",
                        humantime::format_duration(crate::spec::MONITOR_INTERVAL),
                        humantime::format_duration(p.at)
                    )
                },
            );
            checks.fail(
                CheckId::StreamsResume,
                spec.duration,
                format!(
                    "no viewer verified a live frame in the last {} of the run (from {}); {last}",
                    humantime::format_duration(STREAMS_WINDOW),
                    humantime::format_duration(from)
                ),
            );
        }
    }
}

/// Cameras a liveness failure names per site, and sites it names, before "and N more".
const LISTED_PER_SITE: usize = 10;
const LISTED_SITES: usize = 10;

/// The detail of a `liveness` failure: how many cameras were online at the end of
/// `cameras`, then the `offline` ones site by site, those that went offline at the same
/// time together (at most [`LISTED_PER_SITE`] named per site and [`LISTED_SITES`]
/// sites; `result.json` keeps them all).
pub(crate) fn liveness_detail(online: u64, cameras: u64, offline: &[OfflineCamera]) -> String {
    // `offline` is in camera order, so a site's cameras are next to each other.
    let by_site: Vec<&[OfflineCamera]> = offline.chunk_by(|a, b| a.site == b.site).collect();
    let mut parts = Vec::new();
    for cams in by_site.iter().take(LISTED_SITES) {
        let (site, region) = (&cams[0].site, &cams[0].region);
        // Never seen online first, then by the time each went offline (ms: sample times
        // are exact multiples of the tick, so equal times compare equal).
        let mut groups: BTreeMap<Option<u64>, Vec<&str>> = BTreeMap::new();
        for c in cams.iter().take(LISTED_PER_SITE) {
            let ms = c.since_seconds.map(|s| (s * 1000.0).round() as u64);
            groups.entry(ms).or_default().push(&c.camera);
        }
        let mut listed: Vec<String> = groups
            .iter()
            .map(|(ms, names)| match ms {
                None => format!("{} never seen online", names.join(", ")),
                Some(ms) => format!(
                    "{} offline since {}",
                    names.join(", "),
                    humantime::format_duration(Duration::from_millis(*ms))
                ),
            })
            .collect();
        if cams.len() > LISTED_PER_SITE {
            listed.push(format!("and {} more", cams.len() - LISTED_PER_SITE));
        }
        parts.push(format!("{site} ({region}): {}", listed.join("; ")));
    }
    if by_site.len() > LISTED_SITES {
        let more: usize = by_site.iter().skip(LISTED_SITES).map(|c| c.len()).sum();
        parts.push(format!(
            "and {more} more cameras at {} more sites",
            by_site.len() - LISTED_SITES
        ));
    }
    let mut detail = format!("{online}/{cameras} cameras online at the end");
    if !parts.is_empty() {
        detail.push_str(&format!("; offline: {}", parts.join(" | ")));
    }
    detail
}

/// The gateways camera `index` of a site in `region` knows: its home region's zones
/// first, spread over the zones, then the other regions'.
fn camera_gateways(spec: &WorldSpec, region: &str, index: u64) -> Vec<String> {
    let endpoint = |host: &String| format!("{host}:{GATEWAY_PORT}");
    let names = spec.gateway_names();
    let in_region = |n: &String| n.starts_with(&format!("gw-{region}-"));
    let mut gateways: Vec<String> = names
        .iter()
        .filter(|n| in_region(n))
        .map(endpoint)
        .collect();
    let home = gateways.len() as u64;
    gateways.rotate_left((index % home) as usize);
    gateways.extend(names.iter().filter(|n| !in_region(n)).map(endpoint));
    gateways
}

/// Manufacture and pairing: camera `index` is provisioned, claimed by the site's owner
/// with the token it shows and shared with the family; the pairing secret stays between
/// the camera and the users' apps.
#[allow(clippy::too_many_arguments)]
fn pair_camera(
    s: &mut Setup<'_>,
    svc: &Rc<RefCell<RegionServices>>,
    owner: &Caller,
    users: &[User],
    index: u64,
    creds: &DeviceCredentials,
    camera_seed: u64,
    pairings: &mut BTreeMap<String, PairingSecret>,
) -> Result<(), WorldError> {
    let Some(leaf) = creds.chain().first() else {
        return Ok(());
    };
    let start = Timestamp::from_secs(EPOCH_SECS);
    let peer = PeerIdentity {
        subject: leaf.subject.clone(),
        serial: leaf.serial,
        issuer: leaf.issuer.clone(),
    };
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        WorldError::Invalid(format!("{what} camera {index}: {e}"))
    };
    let mut svc = svc.borrow_mut();
    let rng = &mut *s.setup_rng;
    let id = svc
        .registry
        .provision(&peer, CAMERA_MODEL, start, rng)
        .map_err(|e| fail("provisioning", &e))?;
    let token = svc
        .registry
        .begin_pairing(&peer, start, rng)
        .map_err(|e| fail("pairing", &e))?;
    svc.registry
        .claim(owner, token.expose(), start)
        .map_err(|e| fail("claiming", &e))?;
    for (_, (family, _, _)) in users.iter().skip(1) {
        let code = svc
            .registry
            .issue_code(owner, &id, Action::Share, start, rng)
            .map_err(|e| fail("sharing", &e))?;
        svc.registry
            .share(owner, &id, family, code.expose(), start)
            .map_err(|e| fail("sharing", &e))?;
    }
    let pairing = Camera::pairing_secret(&mut ChaCha8Rng::seed_from_u64(camera_seed));
    s.secrets.push(KnownSecret {
        label: format!("pairing secret of camera {index}"),
        value: pairing.expose_secret().to_vec(),
    });
    pairings.insert(id.as_str().to_owned(), pairing);
    Ok(())
}

/// The viewer apps of a site's first `viewers.per_site` users, each with its seed.
fn viewer_configs(
    spec: &WorldSpec,
    s: &mut Setup<'_>,
    region: &str,
    users: Vec<User>,
    pairings: &BTreeMap<String, PairingSecret>,
) -> Vec<(Rc<ViewerConfig>, u64)> {
    let home: Vec<String> = spec
        .gateway_names()
        .into_iter()
        .filter(|n| n.starts_with(&format!("gw-{region}-")))
        .map(|n| format!("{n}:{GATEWAY_PORT}"))
        .collect();
    users
        .into_iter()
        .take(spec.viewers.per_site as usize)
        .enumerate()
        .map(|(u, (username, (_, password, totp_secret)))| {
            let config = Rc::new(ViewerConfig {
                gateways: home.clone(),
                username,
                password,
                totp_secret: Some(totp_secret),
                pairings: pairings.clone(),
                // Only the owner may steer the cameras; family members watch.
                send_commands: u == 0,
                live_view: spec.viewers.live_view,
                watch: spec.viewers.watch,
                pause: spec.viewers.pause,
                start_window: Duration::from_secs(20),
                timeout: Duration::from_secs(15),
                leaks_password: spec.world_bugs.app_leaks_password,
            });
            (config, s.seeds.next_u64())
        })
        .collect()
}

/// What a site host runs, kept to start it again after a restart.
struct SiteHost {
    devices: Vec<Device>,
    viewers: Vec<(Rc<ViewerConfig>, u64)>,
    client_config: Arc<ClientConfig>,
    app_config: Arc<ClientConfig>,
    fleet: Rc<RefCell<FleetStats>>,
    viewer_stats: Rc<RefCell<ViewerStats>>,
    clock: SkewedClock,
    router: Option<Rc<SiteRouter>>,
    /// How many times the host has started: a restarted camera draws new randomness, as
    /// real firmware seeds its generator from hardware at every boot, instead of sending
    /// the hellos of its last life again (which the platform rightly refuses as replays).
    boots: std::cell::Cell<u64>,
}

/// The seed of a device or viewer in its host's `boot`th life: the first life keeps the
/// world's seed, later ones mix the boot count in.
fn boot_seed(seed: u64, boot: u64) -> u64 {
    if boot == 0 {
        return seed;
    }
    // splitmix64 of the pair: distinct boots give unrelated streams.
    let mut z = seed ^ boot.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SiteHost {
    /// Starts the site's router (if an attacker took it), its viewers and its cameras,
    /// whose tasks are the host's main task.
    fn start(&self) -> impl std::future::Future<Output = turmoil::Result> + 'static {
        let boot = self.boots.get();
        self.boots.set(boot + 1);
        if let Some(router) = &self.router {
            tokio::task::spawn_local(router.clone().run());
        }
        for (viewer_config, seed) in &self.viewers {
            let viewer = Viewer::new(
                viewer_config.clone(),
                self.app_config.clone(),
                ChaCha8Rng::seed_from_u64(boot_seed(*seed, boot)),
                self.viewer_stats.clone(),
            );
            tokio::task::spawn_local(viewer.run(SimNet, SimClock));
        }
        let devices = self.devices.clone();
        let client_config = self.client_config.clone();
        let fleet = self.fleet.clone();
        let clock = self.clock.clone();
        let router = self.router.clone();
        async move {
            let tasks: Vec<_> = devices
                .into_iter()
                .map(|(index, config, creds, seed)| {
                    let camera = Camera::new(
                        index,
                        config,
                        client_config.clone(),
                        creds,
                        ChaCha8Rng::seed_from_u64(boot_seed(seed, boot)),
                        fleet.clone(),
                    );
                    match &router {
                        // Only the cameras sit behind the site's router.
                        Some(router) => tokio::task::spawn_local(
                            camera.run(RoutedNet::new(router.clone()), clock.clone()),
                        ),
                        None => tokio::task::spawn_local(camera.run(SimNet, clock.clone())),
                    }
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline(site: usize, camera: usize, since: Option<f64>) -> OfflineCamera {
        OfflineCamera {
            camera: format!("CAM-{camera:08}"),
            site: format!("site-apac-{site}"),
            region: "apac".into(),
            since_seconds: since,
        }
    }

    #[test]
    fn liveness_names_offline_cameras_by_site_with_their_times() {
        let cams = [
            offline(1, 4, Some(65.0)),
            offline(1, 5, Some(65.0)),
            offline(1, 6, None),
            offline(3, 12, Some(120.0)),
        ];
        assert_eq!(
            liveness_detail(8, 12, &cams),
            "8/12 cameras online at the end; offline: site-apac-1 (apac): CAM-00000006 never \
             seen online; CAM-00000004, CAM-00000005 offline since 1m 5s | site-apac-3 \
             (apac): CAM-00000012 offline since 2m"
        );
        assert_eq!(liveness_detail(4, 4, &[]), "4/4 cameras online at the end");
    }

    #[test]
    fn liveness_caps_the_cameras_and_sites_it_names() {
        // 12 sites of 12 offline cameras: 10 named per site, 10 sites.
        let cams: Vec<OfflineCamera> = (0..12)
            .flat_map(|site| (0..12).map(move |c| offline(site, site * 12 + c, Some(30.0))))
            .collect();
        let d = liveness_detail(0, 144, &cams);
        assert!(
            d.contains("CAM-00000009 offline since 30s; and 2 more |"),
            "{d}"
        );
        assert!(!d.contains("CAM-00000010"), "{d}");
        assert!(d.ends_with("| and 24 more cameras at 2 more sites"), "{d}");
        assert!(!d.contains("site-apac-10 "), "{d}");
    }
}
