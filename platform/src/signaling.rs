//! Signaling: one region's app-facing services behind its gateways.
//!
//! [`RegionServices`] holds the region's accounts and device registry, the directory of
//! device sessions (which gateway connection each camera is on), and the commands in
//! flight. A gateway hands it every app request ([`RegionServices::handle_app`]) and
//! every command result from a device ([`RegionServices::complete`]); it answers apps at
//! once or routes a command to the device's session inbox. Commands are relayed, never
//! stored: a command whose device does not answer within [`COMMAND_TIMEOUT`] is
//! answered `Timeout` and forgotten.
//!
//! Live view: the service picks the relay beside the camera's gateway, issues two relay
//! grants (camera and viewer) for a fresh stream id, sends the camera its grant, and
//! when the camera confirms (with the key epoch it seals with) hands the app its grant.
//!
//! In a real deployment the session directory is a regional service; here the zones of
//! a region share it in memory (as they share the CDP/1 nonce cache).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use camproof_protocol::cdp::{
    AppMessage, AppStatus, CommandKind, DeviceEntry, LiveViewGrant, SecretText,
};
use camproof_protocol::pki::PeerIdentity;
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::sync::mpsc::UnboundedSender;

use crate::accounts::{
    user_key_prefix, AccountError, Accounts, ErasureRecord, GeoPoint, LoginAttempt, LoginError,
    LoginSource, Region, UserId,
};
use crate::ota::{InstallResult, OtaService};
use crate::registry::{Action, Caller, DeviceId, Registry};
use crate::relay_service::RelayKey;
use crate::store::Command;
use camproof_protocol::ota::FirmwareVersion;
use camproof_protocol::ota::RefusalCode;
use camproof_protocol::relay::RelayRole;
pub use camproof_results::{SignalingStats, StoreStats};

/// How long a device has to answer a command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A device's current session: where to send it commands.
#[derive(Debug, Clone)]
struct DeviceSession {
    connection: u64,
    relay: String,
    inbox: UnboundedSender<AppMessage>,
}

/// A command sent to a device, waiting for its result.
#[derive(Debug)]
struct Pending {
    app: UnboundedSender<AppMessage>,
    app_id: u32,
    kind: CommandKind,
    viewer_grant: Option<LiveViewGrant>,
    deadline: Timestamp,
}

/// One app connection's state, kept by the gateway beside its CDP/1 connection.
#[derive(Debug)]
pub struct AppSession {
    caller: Option<Caller>,
    source: IpAddr,
    inbox: UnboundedSender<AppMessage>,
}

impl AppSession {
    /// A fresh, signed-out app connection from `source` whose asynchronous answers go to
    /// `inbox`.
    pub fn new(source: IpAddr, inbox: UnboundedSender<AppMessage>) -> Self {
        AppSession {
            caller: None,
            source,
            inbox,
        }
    }

    /// Whether a user signed in on this connection.
    pub fn signed_in(&self) -> bool {
        self.caller.is_some()
    }
}

/// One region's accounts, registry, session directory and commands in flight.
pub struct RegionServices {
    /// The region.
    pub region: Region,
    /// Accounts homed here.
    pub accounts: Accounts,
    /// Devices homed here.
    pub registry: Registry,
    /// Firmware catalog and rollouts for the region's devices (`None`: no OTA).
    pub ota: Option<OtaService>,
    relay_key: RelayKey,
    location: GeoPoint,
    sessions: BTreeMap<String, DeviceSession>,
    pending: BTreeMap<u32, Pending>,
    outbox: std::collections::VecDeque<Command>,
    /// Fingerprint of each account record last queued for the store.
    persisted: BTreeMap<String, u64>,
    next_command: u32,
    next_stream: u32,
    rng: ChaCha8Rng,
    stats: SignalingStats,
}

impl std::fmt::Debug for RegionServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionServices")
            .field("region", &self.region)
            .field("sessions", &self.sessions.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl RegionServices {
    /// The services of `region`, with its accounts and registry, the key its relays
    /// check grants with, the place logins through its edge appear to come from, and an
    /// RNG seed for codes and stream ids.
    pub fn new(
        accounts: Accounts,
        registry: Registry,
        relay_key: RelayKey,
        location: GeoPoint,
        seed: u64,
    ) -> Self {
        RegionServices {
            region: accounts.region(),
            accounts,
            registry,
            ota: None,
            relay_key,
            location,
            sessions: BTreeMap::new(),
            pending: BTreeMap::new(),
            outbox: std::collections::VecDeque::new(),
            persisted: BTreeMap::new(),
            next_command: 1,
            // Stream ids from the platform sit above any id a camera picks for itself.
            next_stream: 1 << 31,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: SignalingStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &SignalingStats {
        &self.stats
    }

    /// Takes up to `max` writes waiting for the region's replicated store (audit of
    /// sign-ins and commands, OTA results, erasures), oldest first. Every record is user
    /// or device data of this region: it is written with home residency here.
    pub fn drain_outbox(&mut self, max: usize) -> Vec<Command> {
        let n = self.outbox.len().min(max);
        self.outbox.drain(..n).collect()
    }

    /// Puts writes the store did not take back at the head of the outbox, in order.
    pub fn requeue(&mut self, writes: Vec<Command>) {
        for w in writes.into_iter().rev() {
            self.outbox.push_front(w);
        }
    }

    /// Writes waiting for the store.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Queues the account's current records (profile, password hash, second factor,
    /// known places, sessions, history) for the store.
    ///
    /// Only what changed since the last time is written, and records that are gone
    /// (expired sessions) are deleted.
    pub fn persist_account(&mut self, user: &UserId) {
        let Ok(records) = self.accounts.user_records(user) else {
            return;
        };
        let prefix = user_key_prefix(user);
        let gone: Vec<String> = self
            .persisted
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !records.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            self.persisted.remove(&key);
            self.push_write(Command::Delete { key });
        }
        for (key, value) in records {
            let hash = crate::store::value_hash(&value);
            if self.persisted.get(&key) != Some(&hash) {
                self.persisted.insert(key.clone(), hash);
                self.push_write(Command::Put { key, value });
            }
        }
    }

    /// Erases the account here and, through the store, on every replica of the region:
    /// its records, audit trail and directory entry; its devices are released. Writes
    /// queued before stay ordered before the erasure.
    pub fn delete_account(
        &mut self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<ErasureRecord, AccountError> {
        let record = self.accounts.delete_account(user, now)?;
        self.registry.erase_user(user, now);
        self.persisted
            .retain(|k, _| !k.starts_with(record.key_prefix.as_str()));
        self.push_write(Command::DeletePrefix {
            prefix: record.key_prefix.clone(),
        });
        self.push_write(Command::Delete {
            key: record.directory_key.clone(),
        });
        self.stats.erasures += 1;
        Ok(record)
    }

    /// Queues one write for the store. Past [`OUTBOX_LIMIT`] the oldest is dropped, and
    /// counted (`writes_dropped`) and logged: memory stays bounded when the store is
    /// down for long, and the loss is never silent.
    fn push_write(&mut self, cmd: Command) {
        if self.outbox.len() >= OUTBOX_LIMIT {
            self.outbox.pop_front();
            self.stats.writes_dropped += 1;
            // At the first drop and then ever more rarely: a store down for long must not
            // bury the log.
            if self.stats.writes_dropped.is_power_of_two() {
                tracing::error!(
                    dropped = self.stats.writes_dropped,
                    queued = OUTBOX_LIMIT,
                    "store write queue full: the oldest write was dropped unwritten"
                );
            }
        }
        self.outbox.push_back(cmd);
    }

    /// Queues one audit record for the store.
    fn audit(&mut self, key: String, value: String) {
        self.push_write(Command::Put {
            key,
            value: value.into_bytes(),
        });
    }

    /// Records that `device` is now on gateway connection `connection`, with the relay
    /// beside that gateway; its commands go to `inbox`. A newer session replaces an
    /// older one.
    pub fn attach(
        &mut self,
        device: &PeerIdentity,
        connection: u64,
        relay: &str,
        inbox: UnboundedSender<AppMessage>,
    ) {
        self.audit(
            format!("devices/{}/seen", device.subject),
            format!("connected via {relay}"),
        );
        self.sessions.insert(
            device.subject.clone(),
            DeviceSession {
                connection,
                relay: relay.to_owned(),
                inbox,
            },
        );
    }

    /// Forgets `device`'s session if it is still connection `connection`.
    pub fn detach(&mut self, device: &PeerIdentity, connection: u64) {
        if self
            .sessions
            .get(&device.subject)
            .is_some_and(|s| s.connection == connection)
        {
            self.sessions.remove(&device.subject);
        }
    }

    /// Devices with a session now.
    pub fn online(&self) -> usize {
        self.sessions.len()
    }

    /// Handles one request from an app; returns the immediate answer, or `None` when
    /// the answer will arrive in the app's inbox (a command relayed to its device).
    pub fn handle_app(
        &mut self,
        app: &mut AppSession,
        request: AppMessage,
        now: Timestamp,
    ) -> Option<AppMessage> {
        // An erased account's open sessions end with it.
        if app
            .caller
            .as_ref()
            .is_some_and(|c| !self.accounts.contains(&c.user))
        {
            app.caller = None;
        }
        match request {
            AppMessage::Login {
                username,
                password,
                totp,
            } => Some(self.login(app, &username, &password, &totp, now)),
            AppMessage::ListDevices => Some(self.list(app)),
            AppMessage::Authorize { device, kind } => Some(self.authorize(app, &device, kind, now)),
            AppMessage::Signal {
                id,
                device,
                code,
                kind,
                body,
            } => self
                .signal(app, id, &device, &code, kind, body, now)
                .err()
                .map(|status| AppMessage::SignalResult {
                    id,
                    status,
                    device_status: 0,
                    body: Vec::new(),
                }),
            // Device-side messages have no meaning from an app.
            _ => Some(AppMessage::LoginResult {
                status: AppStatus::Refused,
                message: "not an app request".into(),
            }),
        }
    }

    fn login(
        &mut self,
        app: &mut AppSession,
        username: &str,
        password: &SecretText,
        totp: &SecretText,
        now: Timestamp,
    ) -> AppMessage {
        let source = LoginSource {
            address: app.source,
            region: self.region,
            location: self.location,
        };
        let code = (!totp.expose().is_empty()).then_some(totp.expose());
        let attempt = LoginAttempt::new(username, password.expose(), code, source);
        let (status, message) = match self.accounts.login(&attempt, now, &mut self.rng) {
            Ok(session) => {
                self.stats.logins += 1;
                self.audit(
                    format!(
                        "{}audit/login/{}",
                        user_key_prefix(&session.user_id),
                        now.as_micros()
                    ),
                    format!("signed in from {}", app.source),
                );
                self.persist_account(&session.user_id);
                app.caller = Some(Caller::new(session.user_id, self.region));
                (AppStatus::Ok, "signed in".to_owned())
            }
            Err(e) => {
                let status = match &e {
                    LoginError::SecondFactorRequired { .. } => {
                        self.stats.second_factor_asked += 1;
                        AppStatus::SecondFactorRequired
                    }
                    LoginError::Locked { .. } | LoginError::AddressBlocked { .. } => {
                        self.stats.logins_refused += 1;
                        AppStatus::Locked
                    }
                    _ => {
                        self.stats.logins_refused += 1;
                        AppStatus::Refused
                    }
                };
                (status, e.to_string())
            }
        };
        AppMessage::LoginResult { status, message }
    }

    fn list(&mut self, app: &AppSession) -> AppMessage {
        let Some(caller) = &app.caller else {
            return AppMessage::DeviceList {
                status: AppStatus::NotSignedIn,
                devices: Vec::new(),
            };
        };
        match self.registry.list_devices(caller) {
            Ok(list) => AppMessage::DeviceList {
                status: AppStatus::Ok,
                devices: list
                    .into_iter()
                    .map(|d| {
                        let online = self
                            .registry
                            .subject_of(&d.id)
                            .is_some_and(|s| self.sessions.contains_key(s));
                        DeviceEntry {
                            id: d.id.as_str().to_owned(),
                            label: d.masked_serial,
                            online,
                        }
                    })
                    .collect(),
            },
            Err(_) => AppMessage::DeviceList {
                status: AppStatus::NotFound,
                devices: Vec::new(),
            },
        }
    }

    fn authorize(
        &mut self,
        app: &AppSession,
        device: &str,
        kind: CommandKind,
        now: Timestamp,
    ) -> AppMessage {
        let refused = |status| AppMessage::Authorized {
            status,
            code: SecretText::default(),
        };
        let Some(caller) = &app.caller else {
            return refused(AppStatus::NotSignedIn);
        };
        let device = DeviceId::new(device);
        match self
            .registry
            .issue_code(caller, &device, action_of(kind), now, &mut self.rng)
        {
            Ok(code) => {
                self.stats.codes_issued += 1;
                AppMessage::Authorized {
                    status: AppStatus::Ok,
                    code: SecretText::new(code.expose()),
                }
            }
            Err(_) => {
                // Another tenant's device and a device that does not exist look alike.
                self.stats.not_found += 1;
                refused(AppStatus::NotFound)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn signal(
        &mut self,
        app: &AppSession,
        app_id: u32,
        device: &str,
        code: &SecretText,
        kind: CommandKind,
        body: Vec<u8>,
        now: Timestamp,
    ) -> Result<(), AppStatus> {
        let caller = app.caller.as_ref().ok_or(AppStatus::NotSignedIn)?;
        let device = DeviceId::new(device);
        if let Err(e) = self
            .registry
            .redeem(code.expose(), caller, &device, action_of(kind), now)
        {
            let _ = e;
            self.stats.unauthorized += 1;
            return Err(AppStatus::Unauthorized);
        }
        let subject = self
            .registry
            .subject_of(&device)
            .ok_or(AppStatus::NotFound)?
            .to_owned();
        let session = self
            .sessions
            .get(&subject)
            .ok_or(AppStatus::Offline)?
            .clone();
        let id = self.next_command;
        self.next_command = self.next_command.wrapping_add(1).max(1);
        let (body, viewer_grant) = if kind == CommandKind::LiveView {
            let stream_id = self.next_stream;
            self.next_stream = self.next_stream.wrapping_add(1) | (1 << 31);
            let camera = LiveViewGrant {
                relay: session.relay.clone(),
                stream_id,
                epoch: 0,
                token: self.relay_key.grant(RelayRole::Camera, stream_id, now),
            };
            let viewer = LiveViewGrant {
                token: self.relay_key.grant(RelayRole::Viewer, stream_id, now),
                ..camera.clone()
            };
            (camera.encode(), Some(viewer))
        } else {
            (body, None)
        };
        if session
            .inbox
            .send(AppMessage::Command { id, kind, body })
            .is_err()
        {
            return Err(AppStatus::Offline);
        }
        self.stats.forwarded += 1;
        self.audit(
            format!(
                "{}audit/command/{}",
                user_key_prefix(&caller.user),
                now.as_micros()
            ),
            format!("{kind:?} on {}", device.as_str()),
        );
        self.pending.insert(
            id,
            Pending {
                app: app.inbox.clone(),
                app_id,
                kind,
                viewer_grant,
                deadline: now.saturating_add(COMMAND_TIMEOUT),
            },
        );
        Ok(())
    }

    /// A device answered command `id`: passes the result to the app that asked.
    pub fn complete(&mut self, id: u32, device_status: u8, body: Vec<u8>) {
        let Some(p) = self.pending.remove(&id) else {
            // Late (timed out) or never asked: nothing waits for it.
            return;
        };
        self.stats.answered += 1;
        let body = match (p.kind, p.viewer_grant, device_status) {
            (CommandKind::LiveView, Some(mut grant), 0) => {
                grant.epoch = match <[u8; 4]>::try_from(body.as_slice()) {
                    Ok(b) => u32::from_be_bytes(b),
                    Err(_) => 0,
                };
                self.stats.live_views += 1;
                grant.encode()
            }
            _ => body,
        };
        let _ = p.app.send(AppMessage::SignalResult {
            id: p.app_id,
            status: AppStatus::Ok,
            device_status,
            body,
        });
    }

    /// Answers `Timeout` to every command whose device did not answer by `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let late: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(p) = self.pending.remove(&id) {
                self.stats.timeouts += 1;
                let _ = p.app.send(AppMessage::SignalResult {
                    id: p.app_id,
                    status: AppStatus::Timeout,
                    device_status: 0,
                    body: Vec::new(),
                });
            }
        }
    }
}

impl RegionServices {
    /// A device said what it runs: the offer to send it, if a rollout has one for it.
    /// Returns the message and the offered version.
    pub fn ota_offer(
        &mut self,
        device: &str,
        model: &str,
        version: &str,
        now: Timestamp,
    ) -> Option<(AppMessage, FirmwareVersion)> {
        let current: FirmwareVersion = version.parse().ok()?;
        let offer = self.ota.as_mut()?.offer(device, model, current, now)?;
        Some((
            AppMessage::OtaOffer {
                manifest: offer.manifest.encode(),
                image_size: offer.image_size,
            },
            offer.version,
        ))
    }

    /// A part of the image of `model` at `version`, as the device asked.
    pub fn ota_chunk(
        &self,
        model: &str,
        version: FirmwareVersion,
        offset: u64,
        len: u32,
    ) -> Option<AppMessage> {
        let len = len.min(camproof_protocol::cdp::app::MAX_OTA_CHUNK as u32);
        let data = self
            .ota
            .as_ref()?
            .image_chunk(model, version, offset, len)
            .ok()?;
        Some(AppMessage::OtaChunk {
            offset,
            data: data.to_vec(),
        })
    }

    /// A device reported how an offered update ended.
    pub fn ota_report(
        &mut self,
        device: &str,
        version: &str,
        result: u8,
        reason: &str,
        now: Timestamp,
    ) {
        let (Some(ota), Ok(version)) = (self.ota.as_mut(), version.parse::<FirmwareVersion>())
        else {
            return;
        };
        let result = match result {
            0 => InstallResult::Installed,
            1 => InstallResult::Refused(RefusalCode::parse(reason).unwrap_or(RefusalCode::Other)),
            _ => InstallResult::Failed,
        };
        // A report for a version never offered to this device is ignored.
        if ota.report(device, version, result, now).is_ok() {
            self.audit(
                format!("ota/{device}/{version}"),
                format!("{result} at {}", now.as_micros()),
            );
        }
    }
}

/// Writes the services queue for the store at most; past it the oldest is dropped.
pub const OUTBOX_LIMIT: usize = 100_000;

/// The most writes one batch carries (one log entry, well under the store's frame
/// limit even with 4 KiB records).
pub const STORE_BATCH: usize = 512;

/// Moves the region's writes from the services' outbox into the replicated store every
/// half second, in order, as one batch per round (one log entry); a batch the store
/// did not acknowledge goes back to the head of the outbox and is retried whole
/// (puts and deletes are idempotent).
pub async fn store_writer<N: camproof_net::Net>(
    mut client: crate::store::StoreClient<N>,
    services: std::rc::Rc<std::cell::RefCell<RegionServices>>,
    home: Region,
    stats: std::rc::Rc<std::cell::RefCell<StoreStats>>,
) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let batch = services.borrow_mut().drain_outbox(STORE_BATCH);
        if batch.is_empty() {
            continue;
        }
        let n = batch.len() as u64;
        let cmd = Command::Batch { cmds: batch };
        stats.borrow_mut().in_flight = n;
        let written = client
            .write(cmd.clone(), crate::store::Residency::Home(home))
            .await;
        stats.borrow_mut().in_flight = 0;
        match written {
            Ok(_) => {
                let mut st = stats.borrow_mut();
                st.writes_acked += n;
                st.batches_acked += 1;
            }
            Err(_) => {
                stats.borrow_mut().writes_failed += 1;
                if let Command::Batch { cmds } = cmd {
                    services.borrow_mut().requeue(cmds);
                }
            }
        }
    }
}

/// The registry action a command kind needs.
pub fn action_of(kind: CommandKind) -> Action {
    match kind {
        CommandKind::Ptz => Action::Ptz,
        CommandKind::Snapshot => Action::Snapshot,
        CommandKind::Config => Action::Config,
        CommandKind::LiveView => Action::LiveView,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::AccountsConfig;
    use crate::registry::RegistryConfig;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    const T0: u64 = 1_800_000_000;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(T0 + s)
    }

    struct World {
        svc: RegionServices,
        device_a: DeviceId,
        camera_a: PeerIdentity,
        totp_a: Totp,
    }

    use crate::accounts::Totp;

    const PASSWORD: &str = "marble-otter-quantum-lantern";

    /// Alice owns camera A (with TOTP enrolled); Bob is another tenant of the region.
    fn world() -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let accounts = Accounts::new(Region::EuAfrica, AccountsConfig::for_tests()).unwrap();
        let registry = Registry::new(Region::EuAfrica, RegistryConfig::default()).unwrap();
        let mut svc = RegionServices::new(
            accounts,
            registry,
            RelayKey::from_bytes([9; 32]),
            GeoPoint::new(50.1, 8.7),
            1,
        );
        let made = Timestamp::from_secs(T0 - 3600);
        let alice = svc
            .accounts
            .register(
                "alice@example.com",
                PASSWORD,
                Region::EuAfrica,
                made,
                &mut rng,
            )
            .unwrap()
            .user_id;
        svc.accounts
            .register(
                "bob@example.com",
                PASSWORD,
                Region::EuAfrica,
                made,
                &mut rng,
            )
            .unwrap();
        let enrol = svc.accounts.begin_totp_enrolment(&alice, &mut rng).unwrap();
        let totp_a = Totp::from_base32(enrol.secret_base32(), 6).unwrap();
        svc.accounts
            .confirm_totp(&alice, &totp_a.code_at(made), made)
            .unwrap();
        let camera_a = PeerIdentity {
            subject: "CAM-00000001".into(),
            serial: 1,
            issuer: "Vendor CA".into(),
        };
        let device_a = svc
            .registry
            .provision(&camera_a, "bullet", made, &mut rng)
            .unwrap();
        let token = svc
            .registry
            .begin_pairing(&camera_a, made, &mut rng)
            .unwrap();
        svc.registry
            .claim(&Caller::new(alice, Region::EuAfrica), token.expose(), made)
            .unwrap();
        World {
            svc,
            device_a,
            camera_a,
            totp_a,
        }
    }

    fn app(last: u8) -> (AppSession, UnboundedReceiver<AppMessage>) {
        let (tx, rx) = unbounded_channel();
        (AppSession::new(IpAddr::from([10, 0, 0, last]), tx), rx)
    }

    fn login(
        w: &mut World,
        app: &mut AppSession,
        user: &str,
        password: &str,
        code: &str,
        now: Timestamp,
    ) -> AppStatus {
        let reply = w.svc.handle_app(
            app,
            AppMessage::Login {
                username: user.into(),
                password: SecretText::new(password),
                totp: SecretText::new(code),
            },
            now,
        );
        match reply {
            Some(AppMessage::LoginResult { status, .. }) => status,
            other => panic!("{other:?}"),
        }
    }

    fn alice_in(w: &mut World) -> (AppSession, UnboundedReceiver<AppMessage>) {
        let (mut a, rx) = app(1);
        assert_eq!(
            login(w, &mut a, "alice@example.com", PASSWORD, "", t(0)),
            AppStatus::SecondFactorRequired
        );
        let code = w.totp_a.code_at(t(0));
        assert_eq!(
            login(w, &mut a, "alice@example.com", PASSWORD, &code, t(0)),
            AppStatus::Ok
        );
        (a, rx)
    }

    fn authorize(
        w: &mut World,
        app: &mut AppSession,
        device: &str,
        kind: CommandKind,
    ) -> (AppStatus, SecretText) {
        match w.svc.handle_app(
            app,
            AppMessage::Authorize {
                device: device.into(),
                kind,
            },
            t(1),
        ) {
            Some(AppMessage::Authorized { status, code }) => (status, code),
            other => panic!("{other:?}"),
        }
    }

    fn signal(
        w: &mut World,
        app: &mut AppSession,
        device: &str,
        code: &SecretText,
        kind: CommandKind,
    ) -> Option<AppMessage> {
        w.svc.handle_app(
            app,
            AppMessage::Signal {
                id: 77,
                device: device.into(),
                code: code.clone(),
                kind,
                body: b"pan".to_vec(),
            },
            t(2),
        )
    }

    /// A full queue for the store drops its oldest writes and counts every one: memory
    /// stays bounded, and the loss is reported, never silent.
    #[test]
    fn a_full_store_queue_counts_what_it_drops() {
        let mut w = world();
        w.svc.drain_outbox(usize::MAX);
        for i in 0..OUTBOX_LIMIT + 3 {
            w.svc.audit(format!("k/{i}"), String::new());
        }
        assert_eq!(w.svc.stats().writes_dropped, 3);
        let queued = w.svc.drain_outbox(usize::MAX);
        assert_eq!(queued.len(), OUTBOX_LIMIT);
        assert!(
            matches!(&queued[0], Command::Put { key, .. } if key == "k/3"),
            "the three oldest went: {:?}",
            queued.first()
        );
    }

    /// Erasing an account ends its open app sessions, releases its devices and queues,
    /// after everything written before, the store erasure of its prefix.
    #[test]
    fn erasure_ends_sessions_releases_devices_and_reaches_the_store() {
        let mut w = world();
        let (mut a, _rx) = alice_in(&mut w);
        let alice = w.svc.accounts.find("alice@example.com").unwrap().clone();
        let prefix = user_key_prefix(&alice);
        let before = w.svc.drain_outbox(usize::MAX);
        assert!(
            before.iter().any(
                |c| matches!(c, Command::Put { key, .. } if key == &format!("{prefix}profile"))
            ),
            "the sign-in persisted the account: {before:?}"
        );
        assert!(before
            .iter()
            .any(|c| matches!(c, Command::Put { key, .. } if key.starts_with(&format!("{prefix}audit/login/")))));
        w.svc.requeue(before);
        let record = w.svc.delete_account(&alice, t(5)).unwrap();
        assert_eq!(record.key_prefix, prefix);
        let writes = w.svc.drain_outbox(usize::MAX);
        let erase_at = writes
            .iter()
            .position(|c| matches!(c, Command::DeletePrefix { prefix: p } if *p == prefix))
            .expect("the erasure is queued");
        assert!(
            writes[erase_at + 1..]
                .iter()
                .all(|c| c.targets().iter().all(|k| !k.starts_with(&prefix))),
            "nothing of the user is written after the erasure"
        );
        // The open app session is no longer signed in, and the device is free.
        let device = w.device_a.as_str().to_owned();
        let (status, _) = authorize(&mut w, &mut a, &device, CommandKind::Ptz);
        assert_eq!(status, AppStatus::NotSignedIn);
        assert_eq!(
            w.svc
                .registry
                .list_devices(&Caller::new(alice.clone(), Region::EuAfrica))
                .map(|d| d.len())
                .unwrap_or(0),
            0
        );
        // Deleting twice is an error, not a panic.
        assert!(w.svc.delete_account(&alice, t(6)).is_err());
    }

    /// Persisting an account again writes only the records that changed.
    #[test]
    fn persisting_writes_only_what_changed() {
        let mut w = world();
        let alice = w.svc.accounts.find("alice@example.com").unwrap().clone();
        w.svc.persist_account(&alice);
        let first = w.svc.drain_outbox(usize::MAX);
        assert!(first.len() >= 3, "{first:?}");
        w.svc.persist_account(&alice);
        assert!(w.svc.drain_outbox(usize::MAX).is_empty(), "nothing changed");
        let (_a, _rx) = alice_in(&mut w);
        let after = w.svc.drain_outbox(usize::MAX);
        let profile = format!("{}profile", user_key_prefix(&alice));
        assert!(
            !after
                .iter()
                .any(|c| matches!(c, Command::Put { key, .. } if *key == profile)),
            "the unchanged profile is not written again: {after:?}"
        );
        assert!(after
            .iter()
            .any(|c| matches!(c, Command::Put { key, .. } if key.contains("/login/"))));
    }

    /// Sign-in needs the password and the one-time code; nothing works before it.
    #[test]
    fn sign_in_needs_both_factors_and_gates_everything() {
        let mut w = world();
        let (mut anon, _rx) = app(2);
        assert!(matches!(
            w.svc.handle_app(&mut anon, AppMessage::ListDevices, t(0)),
            Some(AppMessage::DeviceList {
                status: AppStatus::NotSignedIn,
                ..
            })
        ));
        let device = w.device_a.as_str().to_owned();
        assert_eq!(
            authorize(&mut w, &mut anon, &device, CommandKind::Ptz).0,
            AppStatus::NotSignedIn
        );
        assert_eq!(
            login(
                &mut w,
                &mut anon,
                "alice@example.com",
                "wrong password entirely",
                "",
                t(0)
            ),
            AppStatus::Refused
        );
        assert_eq!(
            login(
                &mut w,
                &mut anon,
                "alice@example.com",
                PASSWORD,
                "000000",
                t(0)
            ),
            AppStatus::Refused,
            "a wrong one-time code is refused"
        );
        assert!(!anon.signed_in());
        let (mut alice, _rx) = alice_in(&mut w);
        assert!(alice.signed_in());
        match w.svc.handle_app(&mut alice, AppMessage::ListDevices, t(1)) {
            Some(AppMessage::DeviceList {
                status: AppStatus::Ok,
                devices,
            }) => {
                assert_eq!(devices.len(), 1);
                assert_eq!(devices[0].id, w.device_a.as_str());
                assert_eq!(devices[0].label, "CAM-****0001");
                assert!(!devices[0].online);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Credential stuffing against one account locks it.
    #[test]
    fn repeated_wrong_passwords_lock_the_account() {
        let mut w = world();
        let (mut attacker, _rx) = app(66);
        let mut last = AppStatus::Ok;
        for _ in 0..8 {
            last = login(
                &mut w,
                &mut attacker,
                "bob@example.com",
                "not-the-password-123",
                "",
                t(0),
            );
        }
        assert_eq!(last, AppStatus::Locked);
        assert_eq!(
            login(&mut w, &mut attacker, "bob@example.com", PASSWORD, "", t(1)),
            AppStatus::Locked,
            "even the right password is refused while locked"
        );
    }

    /// A command reaches the device's session, and its result reaches the app.
    #[test]
    fn command_is_relayed_and_answered() {
        let mut w = world();
        let (mut alice, mut alice_rx) = alice_in(&mut w);
        let (cam_tx, mut cam_rx) = unbounded_channel();
        w.svc.attach(&w.camera_a.clone(), 1, "gw-1:7444", cam_tx);
        let device = w.device_a.as_str().to_owned();
        let (status, code) = authorize(&mut w, &mut alice, &device, CommandKind::Ptz);
        assert_eq!(status, AppStatus::Ok);
        assert!(signal(&mut w, &mut alice, &device, &code, CommandKind::Ptz).is_none());
        let Ok(AppMessage::Command { id, kind, body }) = cam_rx.try_recv() else {
            panic!("no command reached the camera");
        };
        assert_eq!((kind, body.as_slice()), (CommandKind::Ptz, &b"pan"[..]));
        w.svc.complete(id, 0, b"ok".to_vec());
        assert_eq!(
            alice_rx.try_recv().ok(),
            Some(AppMessage::SignalResult {
                id: 77,
                status: AppStatus::Ok,
                device_status: 0,
                body: b"ok".to_vec()
            })
        );
        // A second result for the same command goes nowhere.
        w.svc.complete(id, 0, b"again".to_vec());
        assert!(alice_rx.try_recv().is_err());
    }

    /// A code works once, for its action only.
    #[test]
    fn codes_are_single_use_and_bound_to_the_action() {
        let mut w = world();
        let (mut alice, _rx) = alice_in(&mut w);
        let (cam_tx, _cam_rx) = unbounded_channel();
        w.svc.attach(&w.camera_a.clone(), 1, "gw-1:7444", cam_tx);
        let device = w.device_a.as_str().to_owned();
        let (_, ptz) = authorize(&mut w, &mut alice, &device, CommandKind::Ptz);
        let wrong_action = signal(&mut w, &mut alice, &device, &ptz, CommandKind::Config);
        assert!(matches!(
            wrong_action,
            Some(AppMessage::SignalResult {
                status: AppStatus::Unauthorized,
                ..
            })
        ));
        let (_, ptz) = authorize(&mut w, &mut alice, &device, CommandKind::Ptz);
        assert!(signal(&mut w, &mut alice, &device, &ptz, CommandKind::Ptz).is_none());
        let replay = signal(&mut w, &mut alice, &device, &ptz, CommandKind::Ptz);
        assert!(matches!(
            replay,
            Some(AppMessage::SignalResult {
                status: AppStatus::Unauthorized,
                ..
            })
        ));
        let forged = signal(
            &mut w,
            &mut alice,
            &device,
            &SecretText::new("00".repeat(32)),
            CommandKind::Ptz,
        );
        assert!(matches!(
            forged,
            Some(AppMessage::SignalResult {
                status: AppStatus::Unauthorized,
                ..
            })
        ));
        assert_eq!(w.svc.stats().forwarded, 1);
        assert_eq!(w.svc.stats().unauthorized, 3);
    }

    /// Another tenant can neither get a code for the device nor use its owner's code.
    #[test]
    fn other_tenants_cannot_reach_the_device() {
        let mut w = world();
        let (mut alice, _arx) = alice_in(&mut w);
        let (cam_tx, mut cam_rx) = unbounded_channel();
        w.svc.attach(&w.camera_a.clone(), 1, "gw-1:7444", cam_tx);
        let (mut bob, _brx) = app(3);
        assert_eq!(
            login(&mut w, &mut bob, "bob@example.com", PASSWORD, "", t(0)),
            AppStatus::Ok
        );
        let device = w.device_a.as_str().to_owned();
        assert!(matches!(
            w.svc.handle_app(&mut bob, AppMessage::ListDevices, t(1)),
            Some(AppMessage::DeviceList { status: AppStatus::Ok, devices }) if devices.is_empty()
        ));
        assert_eq!(
            authorize(&mut w, &mut bob, &device, CommandKind::LiveView).0,
            AppStatus::NotFound
        );
        // Alice's code, stolen by Bob, is bound to Alice.
        let (_, code) = authorize(&mut w, &mut alice, &device, CommandKind::LiveView);
        let stolen = signal(&mut w, &mut bob, &device, &code, CommandKind::LiveView);
        assert!(matches!(
            stolen,
            Some(AppMessage::SignalResult {
                status: AppStatus::Unauthorized,
                ..
            })
        ));
        assert!(cam_rx.try_recv().is_err(), "nothing reached the camera");
    }

    /// An offline device is reported at once; a silent one times out.
    #[test]
    fn offline_and_silent_devices() {
        let mut w = world();
        let (mut alice, mut rx) = alice_in(&mut w);
        let device = w.device_a.as_str().to_owned();
        let (_, code) = authorize(&mut w, &mut alice, &device, CommandKind::Snapshot);
        assert!(matches!(
            signal(&mut w, &mut alice, &device, &code, CommandKind::Snapshot),
            Some(AppMessage::SignalResult {
                status: AppStatus::Offline,
                ..
            })
        ));
        let (cam_tx, _cam_rx) = unbounded_channel();
        w.svc.attach(&w.camera_a.clone(), 4, "gw-1:7444", cam_tx);
        let (_, code) = authorize(&mut w, &mut alice, &device, CommandKind::Snapshot);
        assert!(signal(&mut w, &mut alice, &device, &code, CommandKind::Snapshot).is_none());
        w.svc.expire(t(5));
        assert!(rx.try_recv().is_err(), "not yet late");
        w.svc.expire(t(2).saturating_add(COMMAND_TIMEOUT));
        assert!(matches!(
            rx.try_recv(),
            Ok(AppMessage::SignalResult {
                status: AppStatus::Timeout,
                ..
            })
        ));
        // A stale session is not removed by an older connection's goodbye.
        w.svc.detach(&w.camera_a.clone(), 3);
        assert_eq!(w.svc.online(), 1);
        w.svc.detach(&w.camera_a.clone(), 4);
        assert_eq!(w.svc.online(), 0);
    }

    /// Live view: the camera gets a camera grant, the app a viewer grant for the same
    /// stream with the camera's epoch; neither grant works for the other role.
    #[test]
    fn live_view_grants() {
        let mut w = world();
        let (mut alice, mut rx) = alice_in(&mut w);
        let (cam_tx, mut cam_rx) = unbounded_channel();
        w.svc.attach(&w.camera_a.clone(), 1, "gw-1:7444", cam_tx);
        let device = w.device_a.as_str().to_owned();
        let (_, code) = authorize(&mut w, &mut alice, &device, CommandKind::LiveView);
        assert!(signal(&mut w, &mut alice, &device, &code, CommandKind::LiveView).is_none());
        let Ok(AppMessage::Command { id, body, .. }) = cam_rx.try_recv() else {
            panic!("no command");
        };
        let camera = LiveViewGrant::decode(&body).unwrap();
        assert_eq!(camera.relay, "gw-1:7444");
        w.svc.complete(id, 0, 9u32.to_be_bytes().to_vec());
        let Ok(AppMessage::SignalResult { body, .. }) = rx.try_recv() else {
            panic!("no result");
        };
        let viewer = LiveViewGrant::decode(&body).unwrap();
        assert_eq!((viewer.stream_id, viewer.epoch), (camera.stream_id, 9));
        let key = RelayKey::from_bytes([9; 32]);
        let now = t(3);
        assert!(key
            .check(RelayRole::Viewer, viewer.stream_id, &viewer.token, now)
            .is_ok());
        assert!(key
            .check(RelayRole::Camera, camera.stream_id, &camera.token, now)
            .is_ok());
        assert!(key
            .check(RelayRole::Camera, viewer.stream_id, &viewer.token, now)
            .is_err());
        assert!(key
            .check(RelayRole::Viewer, camera.stream_id, &camera.token, now)
            .is_err());
    }
}
