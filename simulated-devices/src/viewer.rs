//! The viewer app: a user on a phone who signs in, lists their cameras, sends
//! signaling commands and watches live video end to end.
//!
//! A [`Viewer`] is one task. Each round it opens an app session to a gateway of its home
//! region (`AppHello`: the platform is authenticated, the app is not), signs in with
//! password and, when asked, a one-time code from its authenticator, lists its devices,
//! gets an authorization code and sends a PTZ command, then asks for a live view. With
//! the grant it connects to the relay and opens every frame with the pairing secret it
//! shares with the camera, counting frames verified, lost, reordered, replayed and
//! tampered with, and the capture-to-screen latency.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Net};
use camproof_protocol::cdp::app::{TOTP_DIGITS, TOTP_STEP_SECS};
use camproof_protocol::cdp::APP_IDLE_TIMEOUT;
use camproof_protocol::cdp::{
    AppMessage, AppStatus, ClientConfig, ClientConnection, CommandKind, Event, LiveViewGrant,
    SecretText,
};
use camproof_protocol::relay::{RelayHello, RelayReady, RelayRole, MAX_RELAY_FRAME};
use camproof_protocol::video::{FrameOpener, PairingSecret, VideoError, VideoHeader, HEADER_LEN};
use camproof_protocol::Timestamp;
pub use camproof_results::{SignInRecord, ViewerStats};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use totp_rs::{Algorithm, TOTP};

/// A viewer's account and habits.
#[derive(Clone)]
pub struct ViewerConfig {
    /// Gateway endpoints of the user's home region, in order of preference.
    pub gateways: Vec<String>,
    /// Username.
    pub username: String,
    /// Password.
    pub password: SecretText,
    /// The authenticator's secret (base32), if the user enrolled one.
    pub totp_secret: Option<SecretText>,
    /// Pairing secrets of the user's cameras, by device id.
    pub pairings: BTreeMap<String, PairingSecret>,
    /// Whether the user steers cameras (PTZ) besides watching (owners do; people a
    /// camera is shared with may only watch).
    pub send_commands: bool,
    /// Whether the user opens live views (off: sign-in, listing and commands only, the
    /// signaling load without video).
    pub live_view: bool,
    /// How long one live view is watched.
    pub watch: Duration,
    /// Pause between rounds.
    pub pause: Duration,
    /// Users start at a random moment within this window.
    pub start_window: Duration,
    /// Give up on a connection attempt or an answer after this long.
    pub timeout: Duration,
    /// Flaw for negative tests: before each sign-in the app reports the username and
    /// password in clear to its gateway (a careless analytics call).
    pub leaks_password: bool,
}

impl std::fmt::Debug for ViewerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerConfig")
            .field("username", &self.username)
            .field("devices", &self.pairings.len())
            .finish_non_exhaustive()
    }
}

/// One simulated user with the viewer app.
pub struct Viewer {
    config: Rc<ViewerConfig>,
    client_config: Arc<ClientConfig>,
    rng: ChaCha8Rng,
    stats: Rc<RefCell<ViewerStats>>,
    sign_in: SignInState,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("username", &self.config.username)
            .finish_non_exhaustive()
    }
}

/// Why an app exchange with a gateway failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppError {
    /// The gateway could not be reached.
    Connect,
    /// The session failed (handshake refused, connection closed, malformed answer).
    Session,
    /// No answer in time.
    Timeout,
    /// The platform refused the sign-in with this status.
    Login(AppStatus),
}

impl AppError {
    /// A short name for counters: `Connect`, `Session`, `Timeout` or the refusal status.
    pub fn label(&self) -> String {
        match self {
            AppError::Connect => "Connect".into(),
            AppError::Session => "Session".into(),
            AppError::Timeout => "Timeout".into(),
            AppError::Login(status) => format!("{status:?}"),
        }
    }
}

type RoundError = AppError;

/// One app session over one gateway connection: the viewer's client, also used by the
/// simulated attackers (same handshake, same messages).
///
/// [`AppClient::open`] connects and completes the `AppHello` handshake; then
/// [`AppClient::ask`] sends one request and waits for the answer, and
/// [`AppClient::sign_in`] runs the password and one-time-code exchange.
pub struct AppClient<S> {
    conn: ClientConnection,
    stream: S,
    buf: Vec<u8>,
    out: Vec<u8>,
    timeout: Duration,
}

impl<S> std::fmt::Debug for AppClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient").finish_non_exhaustive()
    }
}

type AppChannel<S> = AppClient<S>;

/// How often an app sends a heartbeat on a session it keeps open without requests (while
/// its user watches a live view).
pub const APP_KEEPALIVE: Duration = Duration::from_secs(15);

// The platform closes an app session that is silent for longer than its idle limit: a
// keepalive must always come in time, with room for a late one.
const _: () = assert!(APP_KEEPALIVE.as_secs() * 2 < APP_IDLE_TIMEOUT.as_secs());

/// What an app remembers between sign-ins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInState {
    /// The 30-second step whose one-time code was last sent to the platform (a code
    /// works once).
    pub last_code_step: Option<u64>,
    /// How many times the platform asked for the one-time code.
    pub prompts: u64,
}

impl SignInState {
    /// How long from `now` until the authenticator shows a code not sent yet: zero
    /// unless the current step's code was already sent.
    pub fn wait_for_fresh_code(&self, now: Timestamp) -> Duration {
        let step_us = TOTP_STEP_SECS * 1_000_000;
        if self.last_code_step == Some(now.as_micros() / step_us) {
            Duration::from_micros(step_us - now.as_micros() % step_us)
        } else {
            Duration::ZERO
        }
    }

    /// Waits, like a person would, until the authenticator shows a code not sent yet.
    async fn wait_out_sent_code<C: Clock>(&self, clock: &C) {
        let wait = self.wait_for_fresh_code(clock.now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> AppClient<S> {
    /// Connects to `gateway` and completes the app handshake, giving up after `timeout`
    /// per step.
    pub async fn open<N, C>(
        net: &N,
        clock: &C,
        gateway: &str,
        config: Arc<ClientConfig>,
        rng: &mut ChaCha8Rng,
        timeout: Duration,
    ) -> Result<Self, AppError>
    where
        N: Net<Stream = S>,
        C: Clock,
    {
        let stream = tokio::time::timeout(timeout, net.connect(gateway))
            .await
            .map_err(|_| AppError::Connect)?
            .map_err(|_| AppError::Connect)?;
        let conn = ClientConnection::connect_app(config, clock.now(), rng);
        let mut app = AppClient {
            conn,
            stream,
            buf: vec![0u8; 16 * 1024],
            out: Vec::new(),
            timeout,
        };
        match app.next_event(clock).await? {
            Event::Connected { .. } => Ok(app),
            _ => Err(AppError::Session),
        }
    }

    async fn flush(&mut self) -> Result<(), RoundError> {
        self.out.clear();
        self.conn.poll_transmit(&mut self.out);
        if !self.out.is_empty() {
            self.stream
                .write_all(&self.out)
                .await
                .map_err(|_| RoundError::Session)?;
        }
        Ok(())
    }

    /// Reads until the next event, feeding the connection.
    async fn next_event<C: Clock>(&mut self, clock: &C) -> Result<Event, RoundError> {
        loop {
            if let Some(event) = self.conn.poll_event() {
                return Ok(event);
            }
            self.flush().await?;
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| RoundError::Timeout)?
                .map_err(|_| RoundError::Session)?;
            if n == 0 {
                return Err(RoundError::Session);
            }
            self.conn
                .handle_bytes(clock.now(), &self.buf[..n])
                .map_err(|_| RoundError::Session)?;
        }
    }

    /// Sends `request` and waits for the next application message.
    pub async fn ask<C: Clock>(
        &mut self,
        request: &AppMessage,
        clock: &C,
    ) -> Result<AppMessage, AppError> {
        self.send(request).await?;
        self.recv(clock).await
    }

    /// Sends `request` without waiting for an answer.
    async fn send(&mut self, request: &AppMessage) -> Result<(), AppError> {
        self.conn
            .send(&request.encode())
            .map_err(|_| RoundError::Session)?;
        self.flush().await
    }

    /// Waits for the next application message (an answer relayed later, say).
    pub async fn recv<C: Clock>(&mut self, clock: &C) -> Result<AppMessage, AppError> {
        loop {
            if let Event::Data(bytes) = self.next_event(clock).await? {
                return AppMessage::decode(&bytes).map_err(|_| RoundError::Session);
            }
        }
    }

    /// Signs in with `password` and, if asked, a code from the authenticator whose
    /// base32 secret is `totp_secret`. A code works once: if `state` says this step's
    /// code was sent already, waits for the next one with the session open (better
    /// done before [`AppClient::open`], see [`SignInState::wait_for_fresh_code`]).
    pub async fn sign_in<C: Clock>(
        &mut self,
        clock: &C,
        username: &str,
        password: &SecretText,
        totp_secret: Option<&SecretText>,
        state: &mut SignInState,
    ) -> Result<(), AppError> {
        let mut totp = SecretText::default();
        // The step of the code in `totp`, if there is one.
        let mut code_step = None;
        for _ in 0..2 {
            let request = AppMessage::Login {
                username: username.to_owned(),
                password: password.clone(),
                totp: totp.clone(),
            };
            self.send(&request).await?;
            // Sent, the code may be spent even if no answer comes; unsent, it is not, and
            // the next attempt need not wait for another.
            if code_step.is_some() {
                state.last_code_step = code_step;
            }
            let AppMessage::LoginResult { status, .. } = self.recv(clock).await? else {
                return Err(RoundError::Session);
            };
            match status {
                AppStatus::Ok => return Ok(()),
                AppStatus::SecondFactorRequired if totp.expose().is_empty() => {
                    state.prompts += 1;
                    let Some(secret) = totp_secret else {
                        return Err(RoundError::Login(status));
                    };
                    let Some(generator) = authenticator(secret.expose()) else {
                        return Err(RoundError::Login(status));
                    };
                    state.wait_out_sent_code(clock).await;
                    let now = clock.now();
                    code_step = Some(now.as_secs() / TOTP_STEP_SECS);
                    totp = SecretText::new(generator.generate(now.as_secs()));
                }
                other => return Err(RoundError::Login(other)),
            }
        }
        Err(RoundError::Login(AppStatus::Refused))
    }

    /// Says goodbye (a close record) without waiting for the platform's.
    pub async fn close(&mut self) {
        self.conn.close();
        let _ = self.flush().await;
    }
}

impl Viewer {
    /// A viewer with its account, the platform's trust anchors and a seeded RNG.
    pub fn new(
        config: Rc<ViewerConfig>,
        client_config: Arc<ClientConfig>,
        rng: ChaCha8Rng,
        stats: Rc<RefCell<ViewerStats>>,
    ) -> Self {
        Viewer {
            config,
            client_config,
            rng,
            stats,
            sign_in: SignInState::default(),
        }
    }

    /// Runs rounds until the task is dropped.
    pub async fn run<N: Net, C: Clock>(mut self, net: N, clock: C) {
        let window = u64::try_from(self.config.start_window.as_micros()).unwrap_or(u64::MAX);
        if window > 0 {
            tokio::time::sleep(Duration::from_micros(self.rng.next_u64() % window)).await;
        }
        let mut round: usize = 0;
        loop {
            let gateway = self.config.gateways[round % self.config.gateways.len().max(1)].clone();
            if let Err(e) = self.round(&net, &clock, &gateway, round).await {
                if let RoundError::Login(status) = e {
                    *self
                        .stats
                        .borrow_mut()
                        .login_refusals
                        .entry(format!("{status:?}"))
                        .or_default() += 1;
                }
                // Try the next gateway of the region next time.
                round += 1;
            }
            round += 1;
            tokio::time::sleep(self.config.pause).await;
        }
    }

    async fn round<N: Net, C: Clock>(
        &mut self,
        net: &N,
        clock: &C,
        gateway: &str,
        round: usize,
    ) -> Result<(), RoundError> {
        if self.config.gateways.is_empty() {
            return Err(RoundError::Connect);
        }
        // A person whose authenticator still shows the code they last used waits for the
        // next one before opening the app, not with a session open and silent: the
        // platform closes sessions that stay idle too long.
        if self.config.totp_secret.is_some() {
            self.sign_in.wait_out_sent_code(clock).await;
        }
        if self.config.leaks_password {
            if let Ok(mut stream) = net.connect(gateway).await {
                let report = format!(
                    "POST /analytics user={}&password={}\n",
                    self.config.username,
                    self.config.password.expose()
                );
                let _ = stream.write_all(report.as_bytes()).await;
            }
        }
        // Everything up to a session counts as one sign-in, logged with its outcome.
        let opened = AppClient::open(
            net,
            clock,
            gateway,
            self.client_config.clone(),
            &mut self.rng,
            self.config.timeout,
        )
        .await;
        let signed_in = match opened {
            Ok(mut app) => self.login(&mut app, clock).await.map(|()| app),
            Err(e) => Err(e),
        };
        self.stats.borrow_mut().sign_ins.push(SignInRecord {
            at: clock.now(),
            username: self.config.username.clone(),
            refused: signed_in.as_ref().err().map(AppError::label),
        });
        let mut app = signed_in?;

        let AppMessage::DeviceList { status, devices } =
            app.ask(&AppMessage::ListDevices, clock).await?
        else {
            return Err(RoundError::Session);
        };
        if status != AppStatus::Ok {
            return Err(RoundError::Session);
        }
        let online: Vec<_> = devices.iter().filter(|d| d.online).collect();
        let Some(device) = online
            .get(round % online.len().max(1))
            .map(|d| d.id.clone())
        else {
            return Ok(());
        };

        // A PTZ command through signaling.
        if self.config.send_commands {
            let ptz = self
                .command(
                    &mut app,
                    clock,
                    &device,
                    CommandKind::Ptz,
                    b"pan:+10".to_vec(),
                )
                .await?;
            let mut stats = self.stats.borrow_mut();
            if ptz.is_some() {
                stats.commands_ok += 1;
            } else {
                stats.commands_failed += 1;
            }
        }

        if !self.config.live_view {
            app.conn.close();
            let _ = app.flush().await;
            return Ok(());
        }
        // Live view.
        let grant = self
            .command(&mut app, clock, &device, CommandKind::LiveView, Vec::new())
            .await?
            .and_then(|body| LiveViewGrant::decode(&body).ok());
        let Some(grant) = grant else {
            self.stats.borrow_mut().live_view_failures += 1;
            return Ok(());
        };
        let Some(pairing) = self.config.pairings.get(&device).cloned() else {
            self.stats.borrow_mut().live_view_failures += 1;
            return Ok(());
        };
        // Keep the app session alive while watching.
        let watched = self.watch(net, clock, &grant, &pairing);
        let keepalive = async {
            let mut seq = 0u32;
            loop {
                tokio::time::sleep(APP_KEEPALIVE).await;
                let hb = AppMessage::Heartbeat {
                    seq,
                    uptime_secs: 0,
                };
                seq = seq.wrapping_add(1);
                if app.conn.send(&hb.encode()).is_err() || app.flush().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            biased;
            ok = watched => {
                if !ok {
                    self.stats.borrow_mut().live_view_failures += 1;
                }
            }
            _ = keepalive => {}
        }
        app.conn.close();
        let _ = app.flush().await;
        // Graceful shutdown: read what is still in flight until the platform closes too,
        // so the connection ends with both close records, not a reset.
        let _ = tokio::time::timeout(self.config.timeout, async {
            while let Ok(n) = app.stream.read(&mut app.buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        Ok(())
    }

    async fn login<S, C>(&mut self, app: &mut AppChannel<S>, clock: &C) -> Result<(), RoundError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let before = self.sign_in.prompts;
        let config = self.config.clone();
        let result = app
            .sign_in(
                clock,
                &config.username,
                &config.password,
                config.totp_secret.as_ref(),
                &mut self.sign_in,
            )
            .await;
        let mut stats = self.stats.borrow_mut();
        stats.second_factor_prompts += self.sign_in.prompts - before;
        if result.is_ok() {
            stats.logins += 1;
        }
        result
    }

    /// Authorizes and sends one command; the device's result body if it succeeded.
    async fn command<S, C>(
        &mut self,
        app: &mut AppChannel<S>,
        clock: &C,
        device: &str,
        kind: CommandKind,
        body: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, RoundError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let request = AppMessage::Authorize {
            device: device.to_owned(),
            kind,
        };
        let AppMessage::Authorized { status, code } = app.ask(&request, clock).await? else {
            return Err(RoundError::Session);
        };
        if status != AppStatus::Ok {
            return Ok(None);
        }
        let id = self.rng.next_u32();
        let signal = AppMessage::Signal {
            id,
            device: device.to_owned(),
            code,
            kind,
            body,
        };
        match app.ask(&signal, clock).await? {
            AppMessage::SignalResult {
                id: got,
                status: AppStatus::Ok,
                device_status: 0,
                body,
            } if got == id => Ok(Some(body)),
            AppMessage::SignalResult { .. } => Ok(None),
            _ => Err(RoundError::Session),
        }
    }

    /// Watches one live view for the configured time; `false` if the relay refused or
    /// could not be reached.
    async fn watch<N: Net, C: Clock>(
        &self,
        net: &N,
        clock: &C,
        grant: &LiveViewGrant,
        pairing: &PairingSecret,
    ) -> bool {
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(self.config.timeout, net.connect(&grant.relay)).await
        else {
            return false;
        };
        let hello = RelayHello {
            role: RelayRole::Viewer,
            stream_id: grant.stream_id,
            token: &grant.token,
        }
        .encode();
        if stream.write_all(&hello).await.is_err() {
            return false;
        }
        let mut admitted = [0u8; 1];
        if stream.read_exact(&mut admitted).await.is_err() || admitted[0] != 0 {
            return false;
        }
        // The relay's node then says it is ready (ten bytes) and sends sealed frames as
        // they are, each as long as its header says.
        let mut ready = [0u8; RelayReady::LEN];
        if stream.read_exact(&mut ready).await.is_err() {
            return false;
        }
        self.stats.borrow_mut().live_views += 1;
        let mut opener = FrameOpener::new(pairing, grant.stream_id, grant.epoch);
        let frames = async {
            loop {
                let mut head = [0u8; HEADER_LEN];
                if stream.read_exact(&mut head).await.is_err() {
                    return;
                }
                let len = match VideoHeader::peek(&head) {
                    Ok(Some((_, len))) if len <= MAX_RELAY_FRAME => len,
                    _ => return,
                };
                let mut frame = vec![0u8; len];
                frame[..HEADER_LEN].copy_from_slice(&head);
                if stream.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
                    return;
                }
                let now = clock.now();
                let mut stats = self.stats.borrow_mut();
                match opener.open(&frame) {
                    Ok(opened) => {
                        stats.frames_verified += 1;
                        let latency = now.saturating_since(opened.header.timestamp);
                        stats
                            .latency_us
                            .record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                    }
                    Err(e) => {
                        *stats.frames_rejected.entry(reason(&e)).or_default() += 1;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(self.config.watch, frames).await;
        let lost = opener.stats().lost;
        self.stats.borrow_mut().frames_lost += lost;
        true
    }
}

/// The user's authenticator app: RFC 6238 (HMAC-SHA-1, [`TOTP_DIGITS`] digits,
/// [`TOTP_STEP_SECS`] steps) over the base32 secret it was given at enrolment; `None` if
/// the secret is not valid base32 or shorter than 128 bits.
fn authenticator(secret_base32: &str) -> Option<TOTP> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_ascii_uppercase())
        .to_bytes()
        .ok()?;
    TOTP::new(Algorithm::SHA1, TOTP_DIGITS, 1, TOTP_STEP_SECS, secret).ok()
}

fn reason(e: &VideoError) -> String {
    let text = format!("{e:?}");
    text.split([' ', '(', '{'])
        .next()
        .unwrap_or("error")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_code_is_waited_for_only_when_this_steps_code_was_sent() {
        // 1_800_000_000 s is the start of a 30 s step.
        let at = |secs: u64, micros: u64| Timestamp::from_micros(secs * 1_000_000 + micros);
        let step = 1_800_000_000 / TOTP_STEP_SECS;
        let mut state = SignInState::default();
        assert_eq!(
            state.wait_for_fresh_code(at(1_800_000_012, 0)),
            Duration::ZERO
        );
        state.last_code_step = Some(step);
        assert_eq!(
            state.wait_for_fresh_code(at(1_800_000_012, 250_000)),
            Duration::from_micros(17_750_000)
        );
        assert_eq!(
            state.wait_for_fresh_code(at(1_800_000_000, 0)),
            Duration::from_secs(30)
        );
        // The next step's code is fresh; so is any code after an older step's.
        assert_eq!(
            state.wait_for_fresh_code(at(1_800_000_030, 0)),
            Duration::ZERO
        );
        state.last_code_step = Some(step - 1);
        assert_eq!(
            state.wait_for_fresh_code(at(1_800_000_012, 0)),
            Duration::ZERO
        );
    }
}
