//! The sans-IO state machine of one NETIP connection.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use camproof_protocol::netip::media::{FrameKind, VideoCodec};
use camproof_protocol::netip::{
    encode_json, FileSearchReply, Header, LogSearchReply, LoginReply, MediaFrame, MediaPacketizer,
    MessageId, MonitorAction, MonitorRequest, NamedReply, NamedValueReply, NetipTime, Packet,
    PacketDecoder, Reply, Request, Ret, SessionId, SystemInfoReply, TimeQueryReply,
    FILE_SEARCH_MAX_RESULTS, MAX_PAYLOAD,
};
use camproof_protocol::ota::FirmwareVersion;
use camproof_protocol::Timestamp;
use serde_json::json;

use super::camera::NetipCamera;
use super::event::{CloseReason, NetipEvent};
use super::upgrade::{Policy, UpgradeOutcome, UpgradeReceiver};
use super::NetipServerError;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// No session yet: only a login or a media claim is accepted.
    AwaitLogin,
    /// Logged in as `user` with `session`.
    LoggedIn { session: u32, user: String },
    /// Claimed for the media of `session`, opened on another connection.
    Media { session: u32 },
    /// Closed; nothing more is accepted.
    Closed,
}

/// The live stream this connection is sending.
#[derive(Debug)]
struct MediaStream {
    packetizer: MediaPacketizer,
    next_frame: Timestamp,
    frame_no: u64,
}

/// Most frames produced by one [`NetipSession::handle_timeout`] call; a driver that
/// fell further behind skips frames rather than bursting.
const MAX_FRAMES_PER_TICK: u32 = 4;

/// Keepalive intervals of silence after which a connection is closed.
const IDLE_INTERVALS: u32 = 3;

/// One TCP connection of a simulated NETIP camera, as a sans-IO state machine.
///
/// Call [`handle_bytes`](Self::handle_bytes) with what the socket delivered, then drain
/// [`poll_transmit`](Self::poll_transmit) (bytes to write) and
/// [`poll_event`](Self::poll_event); call [`handle_timeout`](Self::handle_timeout) when
/// [`poll_timeout`](Self::poll_timeout) is reached (media frames, idle timeout). When
/// [`is_closed`](Self::is_closed), flush the transmit bytes and drop the socket.
///
/// The camera-wide state is shared through `Rc<RefCell<_>>` and borrowed only inside
/// these calls.
pub struct NetipSession {
    camera: Rc<RefCell<NetipCamera>>,
    connection: u64,
    released: bool,
    state: State,
    decoder: PacketDecoder,
    transmit: Vec<u8>,
    events: VecDeque<NetipEvent>,
    /// Latest time passed in.
    now: Timestamp,
    last_rx: Timestamp,
    /// A monitor start was requested on this connection.
    local_monitor: bool,
    stream: Option<MediaStream>,
    upgrade: Option<UpgradeReceiver>,
    upgrade_result: Option<Ret>,
}

impl std::fmt::Debug for NetipSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetipSession")
            .field("connection", &self.connection)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl NetipSession {
    /// A new connection to `camera`, accepted at `now`.
    pub fn new(camera: Rc<RefCell<NetipCamera>>, now: Timestamp) -> Self {
        let connection = camera.borrow_mut().open_connection();
        NetipSession {
            camera,
            connection,
            released: false,
            state: State::AwaitLogin,
            decoder: PacketDecoder::new(MAX_PAYLOAD),
            transmit: Vec::new(),
            events: VecDeque::new(),
            now,
            last_rx: now,
            local_monitor: false,
            stream: None,
            upgrade: None,
            upgrade_result: None,
        }
    }

    /// The camera-wide number of this connection.
    pub fn connection(&self) -> u64 {
        self.connection
    }

    /// The session this connection belongs to, if logged in or claimed for media.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.state {
            State::LoggedIn { session, .. } | State::Media { session } => Some(SessionId(session)),
            _ => None,
        }
    }

    /// Whether the connection is closed (flush [`poll_transmit`](Self::poll_transmit),
    /// then drop the socket).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Feeds bytes received from the client; answers are queued for `poll_transmit`.
    ///
    /// Returns an error, and closes the connection, if the stream breaks NETIP framing;
    /// an oversized length field is refused before its payload is read or allocated.
    pub fn handle_bytes(&mut self, now: Timestamp, data: &[u8]) -> Result<(), NetipServerError> {
        if self.is_closed() {
            return Err(NetipServerError::Closed);
        }
        self.now = self.now.max(now);
        self.last_rx = self.now;
        self.decoder.handle_bytes(data);
        while let Some(next) = self.decoder.poll_packet() {
            match next {
                Ok(packet) => self.handle_packet(packet),
                Err(e) => {
                    self.close_with(CloseReason::Framing(e.clone()));
                    return Err(e.into());
                }
            }
            if self.is_closed() {
                break;
            }
        }
        Ok(())
    }

    /// Appends the bytes to send to `buf`; whether there were any.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.transmit.is_empty() {
            return false;
        }
        buf.append(&mut self.transmit);
        true
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<NetipEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.is_closed() {
            return None;
        }
        let idle = match self.state {
            State::Media { .. } => None,
            _ => Some(self.idle_deadline()),
        };
        let media_conn = matches!(self.state, State::Media { .. });
        let media = match (&self.stream, self.should_stream()) {
            (Some(s), true) => Some(s.next_frame),
            (None, true) => Some(self.now),
            // Watch for a start on the control connection, or the session's end.
            (_, false) if media_conn || self.local_monitor => {
                Some(self.now.saturating_add(self.frame_interval()))
            }
            _ => None,
        };
        match (idle, media) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on the time: closes an idle connection or an orphaned media connection, and
    /// queues the media frames that are due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.is_closed() {
            return;
        }
        self.now = self.now.max(now);
        match self.state {
            State::Media { session } => {
                if !self.camera.borrow().sessions.contains_key(&session) {
                    self.close_with(CloseReason::SessionEnded);
                    return;
                }
            }
            _ => {
                if self.now >= self.idle_deadline() {
                    self.close_with(CloseReason::IdleTimeout);
                    return;
                }
            }
        }
        if !self.should_stream() {
            self.stream = None;
            return;
        }
        let interval = self.frame_interval();
        let sid = self.current_sid();
        let now = self.now;
        let stream = self.stream.get_or_insert_with(|| MediaStream {
            packetizer: MediaPacketizer::new(sid, 0),
            next_frame: now,
            frame_no: 0,
        });
        let mut produced = 0;
        let mut due = Vec::new();
        while stream.next_frame <= now && produced < MAX_FRAMES_PER_TICK {
            due.push(stream.frame_no);
            stream.frame_no = stream.frame_no.wrapping_add(1);
            stream.next_frame = stream.next_frame.saturating_add(interval);
            produced += 1;
        }
        if stream.next_frame <= now {
            stream.next_frame = now.saturating_add(interval);
        }
        for frame_no in due {
            self.send_frame(frame_no);
        }
    }

    /// Closes the connection (the peer went away, or the driver gives up).
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.close_with(CloseReason::PeerClosed);
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.stream = None;
        if self.upgrade.take().is_some() {
            if let Ok(mut cam) = self.camera.try_borrow_mut() {
                if cam.config.flaws.single_slot_flash {
                    // The running slot was half overwritten: it boots as nothing known.
                    cam.firmware.current = FirmwareVersion::new(0, 0, 0);
                }
            }
        }
        self.release();
        self.events.push_back(NetipEvent::Closed { reason });
    }

    /// Gives back the camera-wide state of this connection (its session, media claim,
    /// upgrade slot), once.
    fn release(&mut self) {
        if self.released {
            return;
        }
        if let Ok(mut cam) = self.camera.try_borrow_mut() {
            cam.close_connection(self.connection);
            self.released = true;
        }
    }

    fn idle_deadline(&self) -> Timestamp {
        let alive = u64::from(self.camera.borrow().config.alive_interval.max(1));
        self.last_rx
            .saturating_add(Duration::from_secs(alive * u64::from(IDLE_INTERVALS)))
    }

    fn frame_interval(&self) -> Duration {
        let fps = u64::from(self.camera.borrow().config.media.fps.max(1));
        Duration::from_micros(1_000_000 / fps)
    }

    fn current_sid(&self) -> u32 {
        self.session_id().map_or(0, |s| s.0)
    }

    /// Whether this connection should be sending live media now.
    fn should_stream(&self) -> bool {
        let cam = self.camera.borrow();
        match self.state {
            State::Media { session } => cam.sessions.get(&session).is_some_and(|s| s.monitor_on),
            State::Closed => false,
            _ => {
                // Media goes to the claimed connection when there is one.
                self.local_monitor
                    && cam
                        .sessions
                        .get(&self.current_sid())
                        .is_none_or(|s| s.media.is_none())
            }
        }
    }

    fn send_frame(&mut self, frame_no: u64) {
        let frame = {
            let cam = self.camera.borrow();
            let media = &cam.config.media;
            let gop = u64::from(media.gop.max(1));
            if frame_no % gop == 0 {
                let time = cam.netip_time(self.now);
                let packable = (2000..=2063).contains(&time.year());
                let fallback = NetipTime::new(2000, 1, 1, 0, 0, 0).unwrap_or(time);
                MediaFrame {
                    kind: FrameKind::IFrame {
                        codec: VideoCodec::H264,
                        fps: media.fps,
                        width_div8: u8::try_from(media.width / 8).unwrap_or(u8::MAX),
                        height_div8: u8::try_from(media.height / 8).unwrap_or(u8::MAX),
                        time: if packable { time } else { fallback },
                    },
                    data: synthetic_video(true, media.i_frame_bytes, frame_no),
                }
            } else {
                MediaFrame {
                    kind: FrameKind::PFrame,
                    data: synthetic_video(false, media.p_frame_bytes, frame_no),
                }
            }
        };
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if let Ok(packets) = stream.packetizer.packetize(&frame) {
            for p in packets {
                p.encode_into(&mut self.transmit);
            }
        }
    }

    /// Whether a request with header session `sid` and message `id` may be executed.
    fn authorized(&self, id: MessageId, sid: u32) -> bool {
        if self.camera.borrow().config.flaws.commands_before_login {
            return true;
        }
        match &self.state {
            State::LoggedIn { session, .. } => sid == *session,
            // A media connection only keeps its stream going.
            State::Media { session } => {
                sid == *session
                    && matches!(
                        id,
                        MessageId::KEEPALIVE | MessageId::MONITOR | MessageId::MONITOR_CLAIM
                    )
            }
            State::AwaitLogin | State::Closed => false,
        }
    }

    fn handle_packet(&mut self, packet: Packet) {
        let header = *packet.header();
        let id = header.message_id;
        if id == MessageId::LOGIN {
            return self.on_login(&header, &packet);
        }
        let authorized = self.authorized(id, header.session_id);
        if id == MessageId::MONITOR_CLAIM && !authorized {
            // A second connection claims the media of a session opened elsewhere.
            return self.on_foreign_claim(&header, &packet);
        }
        if !authorized {
            return self.refuse(&header, Ret::NotLoggedIn);
        }
        let request = match Request::from_packet(&packet) {
            Ok(r) => r,
            Err(e) => {
                self.events.push_back(NetipEvent::BadRequest {
                    message_id: id,
                    reason: e.to_string(),
                });
                return self.status(&header, Ret::BadMessageFormat);
            }
        };
        let flawed = self.camera.borrow().config.flaws.commands_before_login;
        if let Some(json_sid) = json_session(&request) {
            if json_sid.0 != 0 && json_sid.0 != self.current_sid() && !flawed {
                return self.refuse(&header, Ret::NotLoggedIn);
            }
        }
        self.events
            .push_back(NetipEvent::CommandExecuted { message_id: id });
        self.execute(&header, request);
    }

    /// Answers with `ret` and records the refusal; nothing is executed.
    fn refuse(&mut self, header: &Header, ret: Ret) {
        self.events.push_back(NetipEvent::CommandRefused {
            message_id: header.message_id,
            ret,
        });
        self.status(header, ret);
    }

    /// Queues `{"Name":"","Ret":ret,"SessionID":…}` as the reply to `header`.
    fn status(&mut self, header: &Header, ret: Ret) {
        let sid = self.current_sid();
        let reply = NamedReply::new("", ret, SessionId(sid));
        if let Ok(payload) = encode_json(&reply) {
            if let Ok(p) = Packet::reply_to(header, sid, payload) {
                p.encode_into(&mut self.transmit);
            }
        }
    }

    fn reply(&mut self, header: &Header, reply: Reply) {
        if let Ok(p) = reply.to_packet(header, self.current_sid()) {
            p.encode_into(&mut self.transmit);
        }
    }

    fn on_login(&mut self, header: &Header, packet: &Packet) {
        let req = match Request::from_packet(packet) {
            Ok(Request::Login(r)) => r,
            Ok(_) | Err(_) => {
                return self.reply(
                    header,
                    Reply::Login(LoginReply::failure(Ret::BadMessageFormat)),
                );
            }
        };
        // A new login on this connection ends whatever it was doing.
        self.end_session();
        let now = self.now;
        let (result, alive) = {
            let mut cam = self.camera.borrow_mut();
            let alive = cam.config.alive_interval;
            let result = cam.login(
                &req.user_name,
                &req.encrypt_type,
                &req.password_hash,
                self.connection,
                now,
            );
            (result, alive)
        };
        match result {
            Ok(sid) => {
                self.state = State::LoggedIn {
                    session: sid.0,
                    user: req.user_name.clone(),
                };
                let mut reply = LoginReply::success(sid);
                reply.alive_interval = alive;
                self.reply(header, Reply::Login(reply));
                self.events.push_back(NetipEvent::LoggedIn {
                    user: req.user_name,
                    session_id: sid,
                });
            }
            Err(ret) => {
                let mut reply = LoginReply::failure(ret);
                reply.alive_interval = alive;
                self.reply(header, Reply::Login(reply));
                self.events.push_back(NetipEvent::LoginFailed {
                    user: req.user_name,
                    ret,
                });
            }
        }
    }

    /// Logs out the session this connection holds, if any, and drops its media state.
    fn end_session(&mut self) {
        let now = self.now;
        match std::mem::replace(&mut self.state, State::AwaitLogin) {
            State::LoggedIn { session, .. } => {
                self.camera.borrow_mut().logout(session, now);
            }
            State::Media { session } => {
                let mut cam = self.camera.borrow_mut();
                if let Some(s) = cam.sessions.get_mut(&session) {
                    if s.media == Some(self.connection) {
                        s.media = None;
                    }
                }
            }
            State::AwaitLogin => {}
            State::Closed => self.state = State::Closed,
        }
        self.local_monitor = false;
        self.stream = None;
    }

    fn on_foreign_claim(&mut self, header: &Header, packet: &Packet) {
        let Ok(Request::MonitorClaim(req)) = Request::from_packet(packet) else {
            return self.refuse(header, Ret::NotLoggedIn);
        };
        let sid = if header.session_id != 0 {
            header.session_id
        } else {
            req.session_id.0
        };
        let connection = self.connection;
        let claimed = {
            let mut cam = self.camera.borrow_mut();
            match cam.sessions.get_mut(&sid) {
                Some(s) if sid != 0 && matches!(self.state, State::AwaitLogin) => {
                    s.media = Some(connection);
                    if req.op.action == MonitorAction::Start {
                        s.monitor_on = true;
                    }
                    true
                }
                _ => false,
            }
        };
        if !claimed {
            return self.refuse(header, Ret::NotLoggedIn);
        }
        self.state = State::Media { session: sid };
        self.events.push_back(NetipEvent::MonitorClaimed {
            session_id: SessionId(sid),
        });
        self.events.push_back(NetipEvent::CommandExecuted {
            message_id: header.message_id,
        });
        if req.op.action == MonitorAction::Start {
            self.events.push_back(NetipEvent::MonitorStarted {
                session_id: SessionId(sid),
            });
        }
        self.reply(
            header,
            Reply::MonitorClaim(NamedReply::new(req.name, Ret::Ok, SessionId(sid))),
        );
    }

    fn execute(&mut self, header: &Header, request: Request) {
        let sid = SessionId(self.current_sid());
        let now = self.now;
        match request {
            Request::Login(_) => {} // handled before authorisation
            Request::Logout(r) => {
                self.reply(header, Reply::Logout(NamedReply::new(r.name, Ret::Ok, sid)));
                if matches!(self.state, State::LoggedIn { .. }) {
                    self.end_session();
                    self.events
                        .push_back(NetipEvent::LoggedOut { session_id: sid });
                }
            }
            Request::KeepAlive(r) => {
                self.reply(
                    header,
                    Reply::KeepAlive(NamedReply::new(r.name, Ret::Ok, sid)),
                );
            }
            Request::Info(r) => {
                let cam = self.camera.borrow();
                let reply = match r.name.as_str() {
                    "SystemInfo" => {
                        Reply::SystemInfo(SystemInfoReply::new(sid, cam.system_info(now)))
                    }
                    "StorageInfo" => Reply::Info(named_value(
                        r.name,
                        sid,
                        json!([{"PartNumber": 1, "PlysicalNo": 0, "Partition": [{
                            "DirverType": 0, "IsCurrent": true, "LogicSerialNo": 0,
                            "RemainSpace": "0x00007000", "Status": 0,
                            "TotalSpace": "0x0000EE6B"}]}]),
                    )),
                    "WorkState" => Reply::Info(named_value(
                        r.name,
                        sid,
                        json!({"AlarmState": {"AlarmState": 0, "VideoLossState": 0},
                               "ChannelState": [{"Bitrate": 300, "Record": true}]}),
                    )),
                    _ => Reply::Info(NamedValueReply {
                        name: r.name,
                        ret: Ret::NotSupported,
                        session_id: sid,
                        value: None,
                    }),
                };
                drop(cam);
                self.reply(header, reply);
            }
            Request::ConfigGet(r) | Request::ConfigGetDefault(r) => {
                let value = {
                    let cam = self.camera.borrow();
                    if r.name == "System.ExUserMap" && cam.config.flaws.secrets_in_config {
                        Some(cam.leaked_user_map())
                    } else {
                        cam.settings.get(&r.name).cloned()
                    }
                };
                let reply = NamedValueReply {
                    ret: if value.is_some() {
                        Ret::Ok
                    } else {
                        Ret::NotSupported
                    },
                    name: r.name,
                    session_id: sid,
                    value,
                };
                let reply = if header.message_id == MessageId::CONFIG_GET {
                    Reply::ConfigGet(reply)
                } else {
                    Reply::ConfigGetDefault(reply)
                };
                self.reply(header, reply);
            }
            Request::ConfigSet(r) => {
                let ret = {
                    let mut cam = self.camera.borrow_mut();
                    match (cam.settings.get_mut(&r.name), r.value) {
                        (Some(slot), Some(v)) if v.is_object() => {
                            *slot = v;
                            Ret::Ok
                        }
                        (Some(_), _) => Ret::BadMessageFormat,
                        (None, _) => Ret::NotSupported,
                    }
                };
                self.reply(header, Reply::ConfigSet(NamedReply::new(r.name, ret, sid)));
            }
            Request::Ability(r) => {
                let value = match r.name.as_str() {
                    "SystemFunction" => Some(json!({
                        "CommFunction": {"CommRS232": false, "CommRS485": false},
                        "EncodeFunction": {"DoubleStream": true, "SnapStream": true},
                        "NetServerFunction": {"NetDHCP": true, "NetNTP": true},
                        "OtherFunction": {"SupportOnvif": false, "SupportUpgrade": true},
                    })),
                    "EncodeCapability" => Some(json!({
                        "ChannelMaxSetSync": 0,
                        "Compression": "0x00000008",
                        "EncodeInfo": [{"CompressionMask": "0x00000080", "Enable": true,
                                        "HaveAudio": true, "ResolutionMask": "0x00000001",
                                        "StreamType": "MainStream"}],
                    })),
                    _ => None,
                };
                let reply = NamedValueReply {
                    ret: if value.is_some() {
                        Ret::Ok
                    } else {
                        Ret::NotSupported
                    },
                    name: r.name,
                    session_id: sid,
                    value,
                };
                self.reply(header, Reply::Ability(reply));
            }
            Request::Monitor(r) => self.on_monitor(header, r, false),
            Request::MonitorClaim(r) => self.on_monitor(header, r, true),
            Request::FileSearch(r) => {
                let q = &r.query;
                let files: Vec<_> = {
                    let cam = self.camera.borrow();
                    cam.config
                        .recordings
                        .iter()
                        .filter(|f| q.begin_time.is_none() || f.end_time >= q.begin_time)
                        .filter(|f| q.end_time.is_none() || f.begin_time <= q.end_time)
                        .filter(|_| q.channel == 0)
                        .filter(|f| {
                            matches!(q.file_type.as_str(), "" | "*")
                                || f.file_name.ends_with(&format!(".{}", q.file_type))
                        })
                        .take(FILE_SEARCH_MAX_RESULTS)
                        .cloned()
                        .collect()
                };
                let (ret, files) = if files.is_empty() {
                    (Ret::NoFiles, None)
                } else {
                    (Ret::Ok, Some(files))
                };
                self.reply(
                    header,
                    Reply::FileSearch(FileSearchReply {
                        name: "OPFileQuery".to_owned(),
                        files,
                        ret,
                        session_id: sid,
                    }),
                );
            }
            Request::LogSearch(r) => {
                let q = &r.query;
                let entries: Vec<_> = {
                    let cam = self.camera.borrow();
                    cam.log()
                        .filter(|e| e.position >= q.log_position)
                        .filter(|e| q.begin_time.is_none() || e.time >= q.begin_time)
                        .filter(|e| q.end_time.is_none() || e.time <= q.end_time)
                        .filter(|e| {
                            matches!(q.log_type.as_str(), "" | "LogAll") || e.log_type == q.log_type
                        })
                        .take(FILE_SEARCH_MAX_RESULTS)
                        .cloned()
                        .collect()
                };
                self.reply(
                    header,
                    Reply::LogSearch(LogSearchReply {
                        name: "OPLogQuery".to_owned(),
                        entries: (!entries.is_empty()).then_some(entries),
                        ret: Ret::Ok,
                        session_id: sid,
                    }),
                );
            }
            Request::Machine(r) => {
                let ret = if r.is_reboot() {
                    let user = match &self.state {
                        State::LoggedIn { user, .. } => user.clone(),
                        _ => String::new(),
                    };
                    self.camera.borrow_mut().reboot(&user, now);
                    self.events.push_back(NetipEvent::RebootRequested);
                    Ret::Ok
                } else {
                    Ret::NotSupported
                };
                self.reply(header, Reply::SysManager(NamedReply::new(r.name, ret, sid)));
            }
            Request::TimeSetting(r) => {
                let ret = self.camera.borrow_mut().set_time(r.time, now);
                if ret == Ret::Ok {
                    self.events.push_back(NetipEvent::TimeSet { time: r.time });
                }
                self.reply(header, Reply::SysManager(NamedReply::new(r.name, ret, sid)));
            }
            Request::TimeQuery(_) => {
                let time = self.camera.borrow().netip_time(now);
                self.reply(header, Reply::TimeQuery(TimeQueryReply::new(time, sid)));
            }
            Request::UpgradeStart(r) => {
                let ret = {
                    let mut cam = self.camera.borrow_mut();
                    match cam.upgrade_owner {
                        Some(_) => Ret::AlreadyUpgrading,
                        None => {
                            cam.upgrade_owner = Some(self.connection);
                            self.upgrade = Some(UpgradeReceiver::new(cam.config.max_upgrade_size));
                            self.upgrade_result = None;
                            Ret::Ok
                        }
                    }
                };
                self.reply(
                    header,
                    Reply::UpgradeStart(NamedReply::new(r.name, ret, sid)),
                );
            }
            Request::UpgradeData(chunk) => {
                let ret = self.on_upgrade_chunk(&chunk.data, chunk.end);
                self.reply(header, Reply::UpgradeData(NamedReply::new("", ret, sid)));
            }
            Request::UpgradeProgress(r) => {
                let ret = match (self.upgrade_result, &self.upgrade) {
                    (Some(ret), _) => ret,
                    (None, Some(_)) => Ret::Ok,
                    (None, None) => Ret::UpgradeNotStarted,
                };
                self.reply(
                    header,
                    Reply::UpgradeProgress(NamedReply::new(r.name, ret, sid)),
                );
            }
            _ => self.status(header, Ret::NotSupported),
        }
    }

    fn on_monitor(&mut self, header: &Header, r: MonitorRequest, claim: bool) {
        let sid = self.current_sid();
        let media_conn = matches!(self.state, State::Media { .. });
        let event = match r.op.action {
            MonitorAction::Start => {
                self.local_monitor = !media_conn;
                Some(NetipEvent::MonitorStarted {
                    session_id: SessionId(sid),
                })
            }
            MonitorAction::Stop => {
                self.local_monitor = false;
                self.stream = None;
                Some(NetipEvent::MonitorStopped {
                    session_id: SessionId(sid),
                })
            }
            MonitorAction::Claim => None,
        };
        if let Some(s) = self.camera.borrow_mut().sessions.get_mut(&sid) {
            match r.op.action {
                MonitorAction::Start => s.monitor_on = true,
                MonitorAction::Stop => s.monitor_on = false,
                MonitorAction::Claim => {}
            }
        }
        self.events.extend(event);
        let reply = NamedReply::new(r.name, Ret::Ok, SessionId(sid));
        self.reply(
            header,
            if claim {
                Reply::MonitorClaim(reply)
            } else {
                Reply::Monitor(reply)
            },
        );
    }

    fn on_upgrade_chunk(&mut self, data: &[u8], end: bool) -> Ret {
        let Some(receiver) = self.upgrade.as_mut() else {
            return Ret::UpgradeNotStarted;
        };
        let now = self.now;
        let was_failed = receiver.failed();
        let accepted = {
            let cam = self.camera.borrow();
            let policy = Policy {
                vendor_key: cam.config.vendor_key.as_ref(),
                firmware: &cam.firmware,
                flaws: cam.config.flaws.upgrade(),
            };
            receiver.chunk(data, &policy)
        };
        if let Err(reason) = &accepted {
            if !was_failed {
                self.camera.borrow_mut().upgrade_refused(reason, now);
                self.events.push_back(NetipEvent::UpgradeRefused {
                    reason: reason.clone(),
                });
            }
        }
        if end {
            let already_reported = accepted.is_err();
            if let Some(receiver) = self.upgrade.take() {
                self.finish_upgrade(receiver, already_reported);
            }
        }
        if accepted.is_ok() {
            Ret::Ok
        } else {
            Ret::BadUpgradeData
        }
    }

    fn finish_upgrade(&mut self, receiver: UpgradeReceiver, already_reported: bool) {
        let now = self.now;
        let mut cam = self.camera.borrow_mut();
        let mut firmware = cam.firmware.clone();
        let outcome = {
            let policy = Policy {
                vendor_key: cam.config.vendor_key.as_ref(),
                firmware: &cam.firmware,
                flaws: cam.config.flaws.upgrade(),
            };
            receiver.finish(&policy, &mut firmware)
        };
        if cam.upgrade_owner == Some(self.connection) {
            cam.upgrade_owner = None;
        }
        match outcome {
            UpgradeOutcome::Installed(version) => {
                cam.firmware = firmware;
                cam.installed(version, now);
                self.upgrade_result = Some(Ret::UpgradeSucceeded);
                self.events
                    .push_back(NetipEvent::UpgradeInstalled { version });
            }
            UpgradeOutcome::Refused(reason) => {
                self.upgrade_result = Some(Ret::UpgradeFailed);
                if !already_reported {
                    cam.upgrade_refused(&reason, now);
                    self.events.push_back(NetipEvent::UpgradeRefused { reason });
                }
            }
        }
    }
}

impl Drop for NetipSession {
    fn drop(&mut self) {
        self.release();
    }
}

/// The `SessionID` a request's JSON carries, if it has one.
fn json_session(request: &Request) -> Option<SessionId> {
    Some(match request {
        Request::Logout(r)
        | Request::KeepAlive(r)
        | Request::Info(r)
        | Request::ConfigGet(r)
        | Request::ConfigGetDefault(r)
        | Request::Ability(r)
        | Request::TimeQuery(r)
        | Request::UpgradeProgress(r) => r.session_id,
        Request::ConfigSet(r) => r.session_id,
        Request::Monitor(r) | Request::MonitorClaim(r) => r.session_id,
        Request::FileSearch(r) => r.session_id,
        Request::LogSearch(r) => r.session_id,
        Request::Machine(r) => r.session_id,
        Request::TimeSetting(r) => r.session_id,
        Request::UpgradeStart(r) => r.session_id,
        _ => return None,
    })
}

fn named_value(name: String, sid: SessionId, value: serde_json::Value) -> NamedValueReply {
    NamedValueReply {
        name,
        ret: Ret::Ok,
        session_id: sid,
        value: Some(value),
    }
}

/// Deterministic stand-in for an H.264 access unit: start codes and NAL headers of a
/// real stream (SPS, PPS, IDR for key frames; a non-IDR slice otherwise), then filler
/// without zero bytes, so no start code is emulated.
fn synthetic_video(key: bool, len: usize, frame_no: u64) -> Vec<u8> {
    let head: &[u8] = if key {
        &[
            0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xAC, // SPS
            0, 0, 0, 1, 0x68, 0xEE, 0x3C, 0x80, // PPS
            0, 0, 0, 1, 0x65, // IDR slice
        ]
    } else {
        &[0, 0, 0, 1, 0x41]
    };
    let mut out = Vec::with_capacity(len.max(head.len()));
    out.extend_from_slice(head);
    let fill = (frame_no as u8) | 0x80;
    out.resize(len.max(head.len()), fill);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netip_server::{
        encode_upgrade_upload, synthetic_recordings, NetipCameraConfig, NetipFlaws, StoredPassword,
    };
    use camproof_protocol::netip::NetipError;
    use camproof_protocol::netip::{
        decode_json, sofia_hash, FileQuery, FileSearchRequest, LogQuery, LogSearchRequest,
        LoginRequest, MachineRequest, MediaReassembler, NamedRequest, NamedValueRequest,
        SystemInfo, TimeSettingRequest, UpgradeChunk, UpgradeStartRequest, JSON_TRAILER,
    };
    use camproof_protocol::ota::{Manifest, SignedManifest};
    use camproof_protocol::pki::{PkiOptions, TestPki};
    use proptest::prelude::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use serde_json::Value;
    use std::sync::OnceLock;

    const PASSWORD: &str = "Str0ng-Pass";
    /// 2024-05-01 12:00:00 UTC.
    const T0: Timestamp = Timestamp::from_secs(1_714_564_800);
    const MODEL: &str = "CAMPROOF-IPC";

    fn pki() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| TestPki::generate(7, &PkiOptions::fast_for_tests()))
    }

    fn t(s: &str) -> NetipTime {
        s.parse().unwrap()
    }

    fn v(s: &str) -> FirmwareVersion {
        s.parse().unwrap()
    }

    fn config(flaws: NetipFlaws) -> NetipCameraConfig {
        let mut c = NetipCameraConfig::reference("SN0001", PASSWORD);
        c.flaws = flaws;
        c.vendor_key = Some(pki().vendor_key(0).unwrap().to_public_key());
        c.recordings = synthetic_recordings(t("2024-05-01 00:00:00"), 100, 10);
        c.max_upgrade_size = 256 * 1024;
        c
    }

    fn camera_with(config: NetipCameraConfig) -> Rc<RefCell<NetipCamera>> {
        Rc::new(RefCell::new(NetipCamera::new(config, T0).unwrap()))
    }

    fn camera(flaws: NetipFlaws) -> Rc<RefCell<NetipCamera>> {
        camera_with(config(flaws))
    }

    /// A test client: the protocol crate's client-side encoders on one session.
    struct Client {
        s: NetipSession,
        now: Timestamp,
        seq: u32,
        sid: u32,
    }

    impl Client {
        fn new(cam: &Rc<RefCell<NetipCamera>>) -> Self {
            Client {
                s: NetipSession::new(cam.clone(), T0),
                now: T0,
                seq: 0,
                sid: 0,
            }
        }

        fn logged_in(cam: &Rc<RefCell<NetipCamera>>) -> Self {
            let mut c = Client::new(cam);
            assert_eq!(c.login("admin", PASSWORD).1.ret, Ret::Ok);
            c
        }

        fn raw(&mut self, bytes: &[u8]) -> Vec<Packet> {
            let _ = self.s.handle_bytes(self.now, bytes);
            self.drain()
        }

        fn drain(&mut self) -> Vec<Packet> {
            let mut out = Vec::new();
            self.s.poll_transmit(&mut out);
            let mut d = PacketDecoder::new(1 << 20);
            d.handle_bytes(&out);
            std::iter::from_fn(|| d.poll_packet())
                .map(|r| r.unwrap())
                .collect()
        }

        /// Sends `req` in session `sid`; the one reply, checked against the header rules.
        fn send_as(&mut self, sid: u32, req: &Request) -> Packet {
            self.seq = self.seq.wrapping_add(7);
            let pk = req.to_packet(sid, self.seq).unwrap();
            let mut replies = self.raw(&pk.encode());
            assert_eq!(replies.len(), 1, "one reply to {}", req.message_id());
            let r = replies.remove(0);
            assert_eq!(r.header().version, 1);
            assert_eq!(r.header().sequence, self.seq);
            assert_eq!(r.message_id(), req.message_id().reply());
            assert!(r.payload().ends_with(&JSON_TRAILER));
            r
        }

        fn send(&mut self, req: &Request) -> Packet {
            self.send_as(self.sid, req)
        }

        fn ask(&mut self, req: &Request) -> Reply {
            let p = self.send(req);
            Reply::decode(p.message_id(), p.payload()).unwrap()
        }

        fn login(&mut self, user: &str, password: &str) -> (Packet, LoginReply) {
            let p = self.send(&Request::Login(LoginRequest::new(user, password)));
            let Reply::Login(r) = Reply::decode(p.message_id(), p.payload()).unwrap() else {
                panic!("not a login reply");
            };
            if r.ret == Ret::Ok {
                self.sid = p.header().session_id;
            }
            (p, r)
        }

        fn events(&mut self) -> Vec<NetipEvent> {
            std::iter::from_fn(|| self.s.poll_event()).collect()
        }

        fn advance(&mut self, d: Duration) {
            self.now = self.now.saturating_add(d);
            self.s.handle_timeout(self.now);
        }

        fn session(&self) -> SessionId {
            SessionId(self.sid)
        }

        fn named(&self, name: &str) -> NamedRequest {
            NamedRequest::new(name, self.session())
        }
    }

    fn ret(p: &Packet) -> Ret {
        let v: Value = decode_json(p.message_id(), p.payload()).unwrap();
        Ret::from_code(u32::try_from(v["Ret"].as_u64().unwrap()).unwrap())
    }

    fn keys(p: &Packet) -> Vec<String> {
        let v: serde_json::Map<String, Value> = decode_json(p.message_id(), p.payload()).unwrap();
        v.keys().cloned().collect()
    }

    fn reboot(sid: SessionId) -> Request {
        Request::Machine(MachineRequest::reboot(sid))
    }

    fn signed(version: &str, min: &str, model: &str, image: &[u8], key: usize) -> SignedManifest {
        let m = Manifest::for_image(model, v(version), v(min), image).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        SignedManifest::sign(m, pki().vendor_key(key).unwrap(), &mut rng).unwrap()
    }

    fn image(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Uploads `bytes` through 1520/1522/1524; the chunk acks and the final progress.
    fn upload(c: &mut Client, bytes: &[u8]) -> (Vec<Ret>, Ret) {
        let start = c.send(&Request::UpgradeStart(UpgradeStartRequest::new(
            c.session(),
        )));
        assert_eq!(ret(&start), Ret::Ok);
        let mut acks = Vec::new();
        for chunk in bytes.chunks(MAX_PAYLOAD) {
            let req = Request::UpgradeData(UpgradeChunk {
                data: chunk.to_vec(),
                end: false,
            });
            acks.push(ret(&c.send(&req)));
        }
        let end = Request::UpgradeData(UpgradeChunk {
            data: Vec::new(),
            end: true,
        });
        acks.push(ret(&c.send(&end)));
        let progress = c.send(&Request::UpgradeProgress(c.named("")));
        (acks, ret(&progress))
    }

    /// NETIP-SRV-01: replies carry version 1, the session's id, the echoed sequence and
    /// the request's id plus one, with a JSON payload ending in 0x0A 0x00.
    #[test]
    fn netip_srv_01_reply_header_rules() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::new(&cam);
        let before = c.send(&reboot(SessionId(0)));
        assert_eq!(before.header().session_id, 0);
        c.login("admin", PASSWORD);
        assert_eq!(c.sid, 1);
        for req in [
            Request::KeepAlive(c.named("KeepAlive")),
            Request::TimeQuery(c.named("OPTimeQuery")),
            Request::Info(c.named("SystemInfo")),
        ] {
            // Version 0 request, any sequence: the reply follows the rules (send_as).
            let p = c.send(&req);
            assert_eq!(p.header().session_id, 1);
            assert_eq!(p.header().payload_len as usize, p.payload().len());
        }
    }

    /// NETIP-SRV-02: the first login of a camera is answered, byte for byte, with the
    /// spec's success JSON for session 1, the header carrying session 1.
    #[test]
    fn netip_srv_02_login_success_exact_bytes() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::new(&cam);
        let (p, r) = c.login("admin", PASSWORD);
        let mut expected = br#"{"AliveInterval":20,"ChannelNum":1,"DeviceType ":"IPC","ExtraChannel":0,"Ret":100,"SessionID":"0x00000001"}"#.to_vec();
        expected.extend_from_slice(&JSON_TRAILER);
        assert_eq!(p.payload(), &expected[..]);
        assert_eq!(p.header().session_id, 1);
        assert_eq!(r.session_id, SessionId(1));
        assert_eq!(
            c.events(),
            [NetipEvent::LoggedIn {
                user: "admin".into(),
                session_id: SessionId(1)
            }]
        );
        // A second connection gets the next session.
        let mut c2 = Client::new(&cam);
        assert_eq!(c2.login("admin", PASSWORD).1.session_id, SessionId(2));
        assert_eq!(cam.borrow().active_sessions(), 2);
    }

    /// NETIP-SRV-03: a refused login has the success key set with Ret 203, session 0,
    /// for a wrong password and for an unknown user alike.
    #[test]
    fn netip_srv_03_login_failure_same_key_set() {
        let cam = camera(NetipFlaws::none());
        let mut ok = Client::new(&cam);
        let (ok_p, _) = ok.login("admin", PASSWORD);
        for (user, pw) in [("admin", "wrong"), ("nobody", PASSWORD)] {
            let mut c = Client::new(&cam);
            let (p, r) = c.login(user, pw);
            assert_eq!(keys(&p), keys(&ok_p));
            assert!(keys(&p).contains(&"DeviceType ".to_owned()));
            assert_eq!(r.ret, Ret::WrongPassword);
            assert_eq!(r.session_id, SessionId(0));
            assert_eq!(p.header().session_id, 0);
            assert_eq!(
                c.events(),
                [NetipEvent::LoginFailed {
                    user: user.into(),
                    ret: Ret::WrongPassword
                }]
            );
            assert_eq!(c.s.session_id(), None);
        }
    }

    /// NETIP-SRV-04: after N consecutive failures the account is locked (Ret 205, even
    /// with the right password) until the lockout period has passed; a success resets
    /// the count.
    #[test]
    fn netip_srv_04_lockout_and_recovery() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::new(&cam);
        // Four failures, a success, four more: the count restarted, no lock.
        for _ in 0..4 {
            assert_eq!(c.login("admin", "x").1.ret, Ret::WrongPassword);
        }
        assert_eq!(c.login("admin", PASSWORD).1.ret, Ret::Ok);
        for _ in 0..4 {
            assert_eq!(c.login("admin", "x").1.ret, Ret::WrongPassword);
        }
        // The fifth consecutive failure locks.
        assert_eq!(c.login("admin", "x").1.ret, Ret::WrongPassword);
        let (p, r) = c.login("admin", PASSWORD);
        assert_eq!(r.ret, Ret::Locked);
        assert_eq!(p.header().session_id, 0);
        let mut other = Client::new(&cam);
        assert_eq!(other.login("admin", PASSWORD).1.ret, Ret::Locked);
        // Still locked just before the end of the period, open after it.
        other.now = T0.saturating_add(Duration::from_secs(299));
        assert_eq!(other.login("admin", PASSWORD).1.ret, Ret::Locked);
        other.now = T0.saturating_add(Duration::from_secs(300));
        assert_eq!(other.login("admin", PASSWORD).1.ret, Ret::Ok);
    }

    /// NETIP-SRV-05: passwords are stored only as Sofia hashes and appear in no Debug
    /// output or event.
    #[test]
    fn netip_srv_05_no_secret_in_debug() {
        let cam = camera(NetipFlaws::all());
        let mut c = Client::new(&cam);
        c.login("admin", PASSWORD);
        c.login("admin", "");
        let events = c.events();
        let text = format!("{:?} {:?} {:?}", cam.borrow(), c.s, events);
        for secret in [
            PASSWORD.to_owned(),
            sofia_hash(PASSWORD),
            sofia_hash(""),
            "tluafed".to_owned(),
            sofia_hash("tluafed"),
        ] {
            assert!(!text.contains(&secret), "{secret} leaked");
        }
        assert_eq!(
            format!("{:?}", StoredPassword::from_password("x")),
            "StoredPassword(<redacted>)"
        );
    }

    /// NETIP-SRV-06: the reference profile refuses an empty admin password and has no
    /// hidden account.
    #[test]
    fn netip_srv_06_reference_accounts() {
        let cfg = NetipCameraConfig::reference("SN1", "");
        assert!(matches!(
            NetipCamera::new(cfg, T0),
            Err(NetipServerError::Config(_))
        ));
        let cam = camera(NetipFlaws::none());
        for (user, pw) in [("default", "tluafed"), ("admin", ""), ("", "")] {
            let mut c = Client::new(&cam);
            assert_eq!(c.login(user, pw).1.ret, Ret::WrongPassword, "{user}");
        }
    }

    /// Every command a client can send, in session `sid`.
    fn all_commands(sid: SessionId) -> Vec<Request> {
        let named = |n: &str| NamedRequest::new(n, sid);
        vec![
            Request::Logout(named("")),
            Request::KeepAlive(named("KeepAlive")),
            Request::Info(named("SystemInfo")),
            Request::ConfigSet(NamedValueRequest {
                name: "NetWork.NetCommon".into(),
                session_id: sid,
                value: Some(json!({"HostName": "pwned"})),
            }),
            Request::ConfigGet(named("NetWork.NetCommon")),
            Request::Ability(named("SystemFunction")),
            Request::Monitor(MonitorRequest::new(MonitorAction::Start, sid)),
            Request::FileSearch(file_query(
                sid,
                "2024-05-01 00:00:00",
                "2024-05-01 23:59:59",
            )),
            Request::LogSearch(log_query(sid, 0)),
            reboot(sid),
            Request::TimeSetting(TimeSettingRequest::new(t("2030-01-01 00:00:00"), sid)),
            Request::TimeQuery(named("OPTimeQuery")),
            Request::UpgradeStart(UpgradeStartRequest::new(sid)),
            Request::UpgradeData(UpgradeChunk {
                data: vec![1, 2, 3],
                end: true,
            }),
            Request::UpgradeProgress(named("")),
            Request::Other {
                message_id: MessageId(1009),
                payload: b"{}".to_vec(),
            },
        ]
    }

    fn file_query(sid: SessionId, begin: &str, end: &str) -> FileSearchRequest {
        FileSearchRequest {
            name: "OPFileQuery".into(),
            query: FileQuery {
                begin_time: t(begin),
                channel: 0,
                end_time: t(end),
                event: "*".into(),
                file_type: "h264".into(),
            },
            session_id: sid,
        }
    }

    fn log_query(sid: SessionId, position: u32) -> LogSearchRequest {
        LogSearchRequest {
            name: "OPLogQuery".into(),
            query: LogQuery {
                begin_time: NetipTime::NONE,
                end_time: NetipTime::NONE,
                log_position: position,
                log_type: "LogAll".into(),
            },
            session_id: sid,
        }
    }

    /// Whether the camera still looks untouched by commands.
    fn untouched(cam: &Rc<RefCell<NetipCamera>>) {
        let cam = cam.borrow();
        assert_eq!(cam.reboots(), 0);
        assert_eq!(cam.camera_time(T0), T0);
        assert_eq!(cam.firmware().current, v("1.0.0"));
        assert_eq!(cam.settings["NetWork.NetCommon"]["HostName"], "LocalHost");
        assert!(cam.upgrade_owner.is_none());
    }

    /// NETIP-SRV-07: before login every command other than login (and a media claim
    /// naming a live session) is answered with Ret 105 and never executed.
    #[test]
    fn netip_srv_07_commands_before_login_refused() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::new(&cam);
        for req in all_commands(SessionId(0)) {
            let p = c.send(&req);
            assert_eq!(ret(&p), Ret::NotLoggedIn, "{}", req.message_id());
            assert_eq!(p.header().session_id, 0);
            let ev = c.events();
            assert_eq!(
                ev,
                [NetipEvent::CommandRefused {
                    message_id: req.message_id(),
                    ret: Ret::NotLoggedIn
                }]
            );
        }
        // A claim naming no live session is refused too.
        let claim = Request::MonitorClaim(MonitorRequest::new(MonitorAction::Claim, SessionId(1)));
        assert_eq!(ret(&c.send_as(1, &claim)), Ret::NotLoggedIn);
        c.advance(Duration::from_secs(1));
        assert!(c.drain().is_empty(), "no media before login");
        untouched(&cam);
    }

    /// NETIP-SRV-08: after login, a request whose header session id (or non-zero JSON
    /// `SessionID`) is not the session's is answered with Ret 105 and not executed.
    #[test]
    fn netip_srv_08_wrong_session_refused() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let mut other = Client::logged_in(&cam);
        assert_eq!(other.sid, 2);
        c.events();
        for req in all_commands(SessionId(2)) {
            let p = c.send_as(2, &req);
            assert_eq!(ret(&p), Ret::NotLoggedIn, "{}", req.message_id());
            // The reply still carries this connection's own session.
            assert_eq!(p.header().session_id, 1);
        }
        for req in all_commands(SessionId(0)) {
            assert_eq!(ret(&c.send_as(0, &req)), Ret::NotLoggedIn);
        }
        // Right header, wrong JSON SessionID.
        assert_eq!(ret(&c.send_as(1, &reboot(SessionId(2)))), Ret::NotLoggedIn);
        assert!(c
            .events()
            .iter()
            .all(|e| matches!(e, NetipEvent::CommandRefused { .. })));
        untouched(&cam);
        assert_eq!(ret(&other.send(&reboot(other.session()))), Ret::Ok);
    }

    /// NETIP-SRV-09: keepalive is echoed with Ret 100; logout ends the session, after
    /// which its commands are refused.
    #[test]
    fn netip_srv_09_keepalive_and_logout() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let Reply::KeepAlive(k) = c.ask(&Request::KeepAlive(c.named("KeepAlive"))) else {
            panic!("not a keepalive reply");
        };
        assert_eq!(k, NamedReply::new("KeepAlive", Ret::Ok, SessionId(1)));
        let p = c.send(&Request::Logout(c.named("")));
        assert_eq!(ret(&p), Ret::Ok);
        assert_eq!(p.header().session_id, 1);
        assert!(c.events().contains(&NetipEvent::LoggedOut {
            session_id: SessionId(1)
        }));
        assert_eq!(cam.borrow().active_sessions(), 0);
        assert_eq!(ret(&c.send(&reboot(SessionId(1)))), Ret::NotLoggedIn);
        untouched(&cam);
        // The connection may log in again.
        assert_eq!(c.login("admin", PASSWORD).1.ret, Ret::Ok);
    }

    /// NETIP-SRV-10: SystemInfo has exactly the 19 keys, uptime in minutes since boot
    /// and the installed firmware version.
    #[test]
    fn netip_srv_10_system_info() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        c.now = T0.saturating_add(Duration::from_secs(2 * 3600 + 59));
        let p = c.send(&Request::Info(c.named("SystemInfo")));
        let v: Value = decode_json(p.message_id(), p.payload()).unwrap();
        let info = v["SystemInfo"].as_object().unwrap();
        let k: Vec<&str> = info.keys().map(String::as_str).collect();
        assert_eq!(k, SystemInfo::KEYS);
        assert_eq!(info["DeviceRunTime"], "0x00000078");
        assert_eq!(info["SerialNo"], "SN0001");
        assert_eq!(info["SoftWareVersion"], "V1.0.0");
        assert_eq!(v["Ret"], 100);
        assert_eq!(v["Name"], "SystemInfo");
        let unknown = c.send(&Request::Info(c.named("Bogus")));
        assert_eq!(ret(&unknown), Ret::NotSupported);
    }

    /// NETIP-SRV-11: the time query answers the camera's clock; `OPTimeSetting` sets it
    /// and the clock then runs on from the new time.
    #[test]
    fn netip_srv_11_time_query_and_set() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let Reply::TimeQuery(q) = c.ask(&Request::TimeQuery(c.named("OPTimeQuery"))) else {
            panic!("not a time reply");
        };
        assert_eq!(
            q,
            TimeQueryReply::new(t("2024-05-01 12:00:00"), SessionId(1))
        );
        let set = TimeSettingRequest::new(t("2030-01-02 03:04:05"), c.session());
        let p = c.send(&Request::TimeSetting(set));
        assert_eq!(ret(&p), Ret::Ok);
        assert!(c.events().contains(&NetipEvent::TimeSet {
            time: t("2030-01-02 03:04:05")
        }));
        c.now = c.now.saturating_add(Duration::from_secs(10));
        let Reply::TimeQuery(q) = c.ask(&Request::TimeQuery(c.named("OPTimeQuery"))) else {
            panic!("not a time reply");
        };
        assert_eq!(q.time, t("2030-01-02 03:04:15"));
        // An impossible time is a bad message, not a clock change.
        let bad = br#"{"Name":"OPTimeSetting","OPTimeSetting":"2024-02-30 12:00:00","SessionID":"0x00000001"}"#;
        let req = Request::Other {
            message_id: MessageId::SYS_MANAGER,
            payload: bad.to_vec(),
        };
        assert_eq!(ret(&c.send(&req)), Ret::BadMessageFormat);
    }

    /// NETIP-SRV-12: config get answers `NetWork.NetCommon` under its full dotted name;
    /// config set updates a known section; unknown sections get Ret 102.
    #[test]
    fn netip_srv_12_config_get_dotted_name() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let p = c.send(&Request::ConfigGet(c.named("NetWork.NetCommon")));
        assert_eq!(keys(&p), ["Name", "NetWork.NetCommon", "Ret", "SessionID"]);
        let Reply::ConfigGet(r) = Reply::decode(p.message_id(), p.payload()).unwrap() else {
            panic!("not a config reply");
        };
        assert_eq!(r.ret, Ret::Ok);
        assert_eq!(r.value.as_ref().unwrap()["TCPPort"], 34567);
        let set = NamedValueRequest {
            name: "NetWork.NetCommon".into(),
            session_id: c.session(),
            value: Some(json!({"HostName": "cam-7", "TCPPort": 34567})),
        };
        assert_eq!(ret(&c.send(&Request::ConfigSet(set))), Ret::Ok);
        let p = c.send(&Request::ConfigGetDefault(c.named("NetWork.NetCommon")));
        let Reply::ConfigGetDefault(r) = Reply::decode(p.message_id(), p.payload()).unwrap() else {
            panic!("not a config reply");
        };
        assert_eq!(r.value.unwrap()["HostName"], "cam-7");
        assert_eq!(
            ret(&c.send(&Request::ConfigGet(c.named("Nope.Nothing")))),
            Ret::NotSupported
        );
    }

    fn reassemble(packets: &[Packet], sid: u32) -> Vec<MediaFrame> {
        let mut r = MediaReassembler::default();
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(p.message_id(), MessageId::MONITOR_DATA);
            assert_eq!(p.header().version, 1);
            assert_eq!(p.header().session_id, sid);
            assert_eq!(p.header().channel(), 0);
            assert_eq!(p.header().sequence, i as u32 + 1);
            assert!(p.payload().len() <= 8192);
            r.handle_payload(p.payload());
        }
        std::iter::from_fn(|| r.poll_frame())
            .map(|f| f.unwrap())
            .collect()
    }

    /// NETIP-SRV-13: a second connection claims the session's media with 1413 (1414),
    /// 1410 Start on the control connection (1411) starts 1412 media on the claimed
    /// connection only: an I-frame first, then P-frames; Stop stops it.
    #[test]
    fn netip_srv_13_monitor_claim_and_media() {
        let cam = camera(NetipFlaws::none());
        let mut control = Client::logged_in(&cam);
        let mut media = Client::new(&cam);
        let claim = Request::MonitorClaim(MonitorRequest::new(MonitorAction::Claim, SessionId(1)));
        let p = media.send_as(1, &claim);
        assert_eq!(ret(&p), Ret::Ok);
        assert_eq!(p.header().session_id, 1);
        assert_eq!(media.s.session_id(), Some(SessionId(1)));
        media.advance(Duration::from_secs(1));
        assert!(media.drain().is_empty(), "no media before start");
        let start = Request::Monitor(MonitorRequest::new(MonitorAction::Start, SessionId(1)));
        assert_eq!(ret(&control.send(&start)), Ret::Ok);
        let mut packets = Vec::new();
        for _ in 0..20 {
            media.advance(Duration::from_millis(100));
            control.advance(Duration::from_millis(100));
            packets.extend(media.drain());
            assert!(
                control.drain().is_empty(),
                "media goes to the claimed connection"
            );
        }
        let frames = reassemble(&packets, 1);
        assert!(
            frames.len() >= 25,
            "{} frames in 2 s at 15 fps",
            frames.len()
        );
        let FrameKind::IFrame {
            codec,
            fps,
            width_div8,
            height_div8,
            time,
        } = frames[0].kind
        else {
            panic!("first frame is not an I-frame");
        };
        assert_eq!(
            (codec, fps, width_div8, height_div8),
            (VideoCodec::H264, 15, 240, 135)
        );
        assert_eq!(time.year(), 2024);
        assert_eq!(frames[0].data.len(), 12 * 1024);
        assert!(frames[1..].iter().all(|f| f.kind == FrameKind::PFrame));
        let stop = Request::Monitor(MonitorRequest::new(MonitorAction::Stop, SessionId(1)));
        assert_eq!(ret(&control.send(&stop)), Ret::Ok);
        media.advance(Duration::from_secs(1));
        assert!(media.drain().is_empty(), "no media after stop");
        // The media connection cannot run other commands.
        assert_eq!(
            ret(&media.send_as(1, &reboot(SessionId(1)))),
            Ret::NotLoggedIn
        );
        untouched(&cam);
    }

    /// NETIP-SRV-14: without a claimed connection, media flows on the control
    /// connection, sequence numbers from 1, chunks of at most 8192 bytes.
    #[test]
    fn netip_srv_14_media_on_control_connection() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let start = Request::Monitor(MonitorRequest::new(MonitorAction::Start, SessionId(1)));
        assert_eq!(ret(&c.send(&start)), Ret::Ok);
        assert!(c.events().contains(&NetipEvent::MonitorStarted {
            session_id: SessionId(1)
        }));
        // Due at once: a driver calls handle_timeout right away.
        assert_eq!(c.s.poll_timeout(), Some(T0));
        c.advance(Duration::ZERO);
        let mut packets = c.drain();
        for _ in 0..10 {
            c.advance(Duration::from_millis(100));
            packets.extend(c.drain());
        }
        let frames = reassemble(&packets, 1);
        assert_eq!(frames.len(), 16);
        assert!(matches!(frames[0].kind, FrameKind::IFrame { .. }));
    }

    /// NETIP-SRV-15: a file search lists the recordings overlapping the interval, at
    /// most 64 per reply; none found is Ret 119.
    #[test]
    fn netip_srv_15_file_search() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let req = file_query(c.session(), "2024-05-01 00:00:00", "2024-05-01 23:59:59");
        let Reply::FileSearch(r) = c.ask(&Request::FileSearch(req)) else {
            panic!("not a file search reply");
        };
        assert_eq!(r.ret, Ret::Ok);
        let files = r.files.unwrap();
        assert_eq!(files.len(), 64);
        assert_eq!(
            files[0].file_name,
            "/idea0/2024-05-01/001/00.00.00-00.10.00[R][@1][0].h264"
        );
        // The next page starts where the first ended.
        let req = file_query(c.session(), "2024-05-01 10:40:00", "2024-05-01 23:59:59");
        let Reply::FileSearch(r) = c.ask(&Request::FileSearch(req)) else {
            panic!("not a file search reply");
        };
        assert_eq!(r.files.unwrap().len(), 100 - 63);
        let req = file_query(c.session(), "2023-01-01 00:00:00", "2023-01-02 00:00:00");
        let Reply::FileSearch(r) = c.ask(&Request::FileSearch(req)) else {
            panic!("not a file search reply");
        };
        assert_eq!((r.ret, r.files), (Ret::NoFiles, None));
    }

    /// NETIP-SRV-16: the camera logs logins, failures, reboots, time changes and
    /// upgrades; a log search lists them from `LogPosition`, at most 64 per reply.
    #[test]
    fn netip_srv_16_log_search() {
        let cam = camera(NetipFlaws::none());
        let mut bad = Client::new(&cam);
        bad.login("admin", "nope");
        let mut c = Client::logged_in(&cam);
        c.send(&reboot(c.session()));
        let Reply::LogSearch(r) = c.ask(&Request::LogSearch(log_query(c.session(), 0))) else {
            panic!("not a log reply");
        };
        assert_eq!(r.ret, Ret::Ok);
        let entries = r.entries.unwrap();
        let kinds: Vec<&str> = entries.iter().map(|e| e.log_type.as_str()).collect();
        assert_eq!(kinds, ["LogInFailed", "LogIn", "Reboot"]);
        assert_eq!(entries[1].user, "admin");
        assert_eq!(entries[1].time, t("2024-05-01 12:00:00"));
        assert!(!entries.iter().any(|e| e.data.contains("nope")));
        let Reply::LogSearch(r) = c.ask(&Request::LogSearch(log_query(c.session(), 2))) else {
            panic!("not a log reply");
        };
        assert_eq!(r.entries.unwrap().len(), 1);
        for _ in 0..100 {
            c.send(&Request::TimeSetting(TimeSettingRequest::new(
                t("2024-05-01 12:00:00"),
                c.session(),
            )));
        }
        let Reply::LogSearch(r) = c.ask(&Request::LogSearch(log_query(c.session(), 0))) else {
            panic!("not a log reply");
        };
        assert_eq!(r.entries.unwrap().len(), 64);
    }

    /// NETIP-SRV-17: `OPMachine` `Reboot` is answered with Ret 100 and raises a reboot
    /// request; another action gets Ret 102.
    #[test]
    fn netip_srv_17_reboot() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        c.events();
        assert_eq!(ret(&c.send(&reboot(c.session()))), Ret::Ok);
        assert!(c.events().contains(&NetipEvent::RebootRequested));
        assert_eq!(cam.borrow().reboots(), 1);
        let mut other = MachineRequest::reboot(c.session());
        other.op.action = "Shutdown".into();
        assert_eq!(ret(&c.send(&Request::Machine(other))), Ret::NotSupported);
        assert_eq!(cam.borrow().reboots(), 1);
    }

    /// NETIP-SRV-18: a signed image for this model, newer than the installed one, is
    /// accepted chunk by chunk (1523 Ret 100), installed, the floor raised, and the
    /// progress reply is Ret 515.
    #[test]
    fn netip_srv_18_upgrade_valid_image_installed() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let img = image(100_000);
        let upload = encode_upgrade_upload(&signed("1.1.0", "1.0.5", MODEL, &img, 0), &img);
        let (acks, progress) = upload_checked(&mut c, &upload);
        assert!(acks.iter().all(|r| *r == Ret::Ok), "{acks:?}");
        assert_eq!(acks.len(), 5);
        assert_eq!(progress, Ret::UpgradeSucceeded);
        let fw = cam.borrow().firmware().clone();
        assert_eq!((fw.current, fw.floor), (v("1.1.0"), v("1.0.5")));
        assert!(c.events().contains(&NetipEvent::UpgradeInstalled {
            version: v("1.1.0")
        }));
        let p = c.send(&Request::Info(c.named("SystemInfo")));
        let info: Value = decode_json(p.message_id(), p.payload()).unwrap();
        assert_eq!(info["SystemInfo"]["SoftWareVersion"], "V1.1.0");
        assert_eq!(info["SystemInfo"]["UpdataTime"], "2024-05-01 12:00:00");
    }

    fn upload_checked(c: &mut Client, bytes: &[u8]) -> (Vec<Ret>, Ret) {
        upload(c, bytes)
    }

    /// NETIP-SRV-19: unsigned, badly signed, tampered, downgraded, not newer and
    /// wrong-model images, and truncated uploads, end with Ret 514 and nothing
    /// installed.
    #[test]
    fn netip_srv_19_upgrade_refusals() {
        let img = image(40_000);
        let unsigned = SignedManifest::unsigned(
            Manifest::for_image(MODEL, v("1.1.0"), v("1.0.0"), &img).unwrap(),
        )
        .unwrap();
        let mut tampered = img.clone();
        tampered[39_999] ^= 1;
        let good = signed("1.1.0", "1.0.0", MODEL, &img, 0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("unsigned", encode_upgrade_upload(&unsigned, &img)),
            (
                "other vendor's key",
                encode_upgrade_upload(&signed("1.1.0", "1.0.0", MODEL, &img, 1), &img),
            ),
            ("tampered image", encode_upgrade_upload(&good, &tampered)),
            (
                "truncated image",
                encode_upgrade_upload(&good, &img[..30_000]),
            ),
            (
                "downgrade",
                encode_upgrade_upload(&signed("0.9.0", "0.9.0", MODEL, &img, 0), &img),
            ),
            (
                "same version",
                encode_upgrade_upload(&signed("1.0.0", "1.0.0", MODEL, &img, 0), &img),
            ),
            (
                "wrong model",
                encode_upgrade_upload(&signed("1.1.0", "1.0.0", "OTHER-CAM", &img, 0), &img),
            ),
            ("raw image, no manifest", img.clone()),
            ("nothing", Vec::new()),
        ];
        for (what, bytes) in cases {
            let cam = camera(NetipFlaws::none());
            let mut c = Client::logged_in(&cam);
            c.events();
            let (_, progress) = upload(&mut c, &bytes);
            assert_eq!(progress, Ret::UpgradeFailed, "{what}");
            assert_eq!(cam.borrow().firmware().current, v("1.0.0"), "{what}");
            let refused = c
                .events()
                .iter()
                .filter(|e| matches!(e, NetipEvent::UpgradeRefused { .. }))
                .count();
            assert_eq!(refused, 1, "{what}");
        }
    }

    /// NETIP-SRV-20: chunks before 1520 get Ret 512, a second concurrent upgrade Ret 511,
    /// and an upload over the size bound Ret 513 then 514; chunks over 32 KiB close the
    /// connection.
    #[test]
    fn netip_srv_20_upgrade_bounds() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let chunk = |n: usize, end: bool| {
            Request::UpgradeData(UpgradeChunk {
                data: vec![0x55; n],
                end,
            })
        };
        assert_eq!(ret(&c.send(&chunk(10, false))), Ret::UpgradeNotStarted);
        assert_eq!(
            ret(&c.send(&Request::UpgradeProgress(c.named("")))),
            Ret::UpgradeNotStarted
        );
        let start = Request::UpgradeStart(UpgradeStartRequest::new(c.session()));
        assert_eq!(ret(&c.send(&start)), Ret::Ok);
        let mut d = Client::logged_in(&cam);
        let start_d = Request::UpgradeStart(UpgradeStartRequest::new(d.session()));
        assert_eq!(ret(&d.send(&start_d)), Ret::AlreadyUpgrading);
        // A valid manifest header, then more image than the 256 KiB bound allows.
        let img = image(300_000);
        let bytes = encode_upgrade_upload(&signed("1.1.0", "1.0.0", MODEL, &img, 0), &img);
        let acks: Vec<Ret> = bytes
            .chunks(MAX_PAYLOAD)
            .map(|ch| {
                ret(&c.send(&Request::UpgradeData(UpgradeChunk {
                    data: ch.to_vec(),
                    end: false,
                })))
            })
            .collect();
        assert_eq!(acks[0], Ret::Ok);
        assert!(acks.contains(&Ret::BadUpgradeData));
        assert_eq!(ret(&c.send(&chunk(0, true))), Ret::BadUpgradeData);
        assert_eq!(
            ret(&c.send(&Request::UpgradeProgress(c.named("")))),
            Ret::UpgradeFailed
        );
        assert_eq!(cam.borrow().firmware().current, v("1.0.0"));
        // The slot is free again.
        assert_eq!(ret(&d.send(&start_d)), Ret::Ok);
        // A 32 KiB + 1 chunk is refused at its header and the connection closed.
        let mut h = Header::request(MessageId::UPGRADE_DATA, d.sid, 99);
        h.payload_len = MAX_PAYLOAD as u32 + 1;
        let out = d.raw(&h.encode());
        assert!(out.is_empty());
        assert!(d.s.is_closed());
        assert!(cam.borrow().upgrade_owner.is_none());
    }

    /// NETIP-SRV-21: a length field over 32 KiB is refused before its payload arrives
    /// or is allocated: no reply, the connection closes with a framing error.
    #[test]
    fn netip_srv_21_oversized_length_closes() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let mut h = Header::request(MessageId::INFO, 1, 5);
        h.payload_len = u32::MAX;
        let err = c.s.handle_bytes(c.now, &h.encode()).unwrap_err();
        assert!(matches!(
            err,
            NetipServerError::Framing(NetipError::PayloadTooLarge { .. })
        ));
        assert!(c.drain().is_empty());
        assert!(c.s.is_closed());
        assert!(matches!(
            c.events().last(),
            Some(NetipEvent::Closed {
                reason: CloseReason::Framing(NetipError::PayloadTooLarge { .. })
            })
        ));
        assert_eq!(cam.borrow().active_sessions(), 0);
        assert_eq!(
            c.s.handle_bytes(c.now, &[0xFF]),
            Err(NetipServerError::Closed)
        );
    }

    /// NETIP-SRV-22: an authorised request with malformed JSON gets Ret 117 and the
    /// connection stays; an unknown message gets Ret 102.
    #[test]
    fn netip_srv_22_bad_json_and_unknown_messages() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let bad = Request::Other {
            message_id: MessageId::INFO,
            payload: b"{\"Name\":".to_vec(),
        };
        assert_eq!(ret(&c.send(&bad)), Ret::BadMessageFormat);
        assert!(matches!(
            c.events().last(),
            Some(NetipEvent::BadRequest { .. })
        ));
        let ptz = Request::Other {
            message_id: MessageId::PTZ,
            payload: b"{}".to_vec(),
        };
        assert_eq!(ret(&c.send(&ptz)), Ret::NotSupported);
        let bad_login = Request::Other {
            message_id: MessageId::LOGIN,
            payload: b"[1]".to_vec(),
        };
        let p = c.send(&bad_login);
        assert_eq!(ret(&p), Ret::BadMessageFormat);
        assert!(keys(&p).contains(&"DeviceType ".to_owned()));
        assert!(!c.s.is_closed());
    }

    /// NETIP-SRV-23: a connection silent for three keepalive intervals is closed; a
    /// media connection closes when its session ends.
    #[test]
    fn netip_srv_23_idle_timeout() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        let mut media = Client::new(&cam);
        let claim = Request::MonitorClaim(MonitorRequest::new(MonitorAction::Start, SessionId(1)));
        assert_eq!(ret(&media.send_as(1, &claim)), Ret::Ok);
        assert_eq!(
            c.s.poll_timeout(),
            Some(T0.saturating_add(Duration::from_secs(60)))
        );
        c.advance(Duration::from_secs(50));
        assert!(!c.s.is_closed());
        c.send(&Request::KeepAlive(c.named("KeepAlive")));
        c.advance(Duration::from_secs(59));
        assert!(!c.s.is_closed());
        // Media keeps flowing without traffic from the client.
        media.advance(Duration::from_secs(100));
        assert!(!media.s.is_closed());
        assert!(!media.drain().is_empty());
        c.advance(Duration::from_secs(1));
        assert!(c.s.is_closed());
        assert!(c.events().contains(&NetipEvent::Closed {
            reason: CloseReason::IdleTimeout
        }));
        assert_eq!(cam.borrow().active_sessions(), 0);
        media.advance(Duration::from_millis(10));
        assert!(media.s.is_closed());
        assert!(media.events().contains(&NetipEvent::Closed {
            reason: CloseReason::SessionEnded
        }));
        assert_eq!(cam.borrow().open_connections(), 0);
    }

    /// NETIP-SRV-24: flaw `empty_admin_password`: the reference refuses `admin` with
    /// the empty password, the flawed camera accepts it.
    #[test]
    fn netip_srv_24_flaw_empty_admin_password() {
        let mut c = Client::new(&camera(NetipFlaws::none()));
        assert_eq!(c.login("admin", "").1.ret, Ret::WrongPassword);
        let flaws = NetipFlaws {
            empty_admin_password: true,
            ..NetipFlaws::none()
        };
        let mut c = Client::new(&camera(flaws));
        assert_eq!(c.login("admin", "").1.ret, Ret::Ok);
    }

    /// NETIP-SRV-25: flaw `hidden_default_account`: `default`/`tluafed` logs in only on
    /// the flawed camera.
    #[test]
    fn netip_srv_25_flaw_hidden_default_account() {
        let mut c = Client::new(&camera(NetipFlaws::none()));
        assert_eq!(c.login("default", "tluafed").1.ret, Ret::WrongPassword);
        let flaws = NetipFlaws {
            hidden_default_account: true,
            ..NetipFlaws::none()
        };
        let mut c = Client::new(&camera(flaws));
        assert_eq!(c.login("default", "tluafed").1.ret, Ret::Ok);
    }

    /// NETIP-SRV-26: flaw `commands_before_login`: a reboot with session 0 before login
    /// is refused by the reference and executed by the flawed camera.
    #[test]
    fn netip_srv_26_flaw_commands_before_login() {
        let cam = camera(NetipFlaws::none());
        let mut c = Client::new(&cam);
        assert_eq!(ret(&c.send(&reboot(SessionId(0)))), Ret::NotLoggedIn);
        assert_eq!(cam.borrow().reboots(), 0);
        let flaws = NetipFlaws {
            commands_before_login: true,
            ..NetipFlaws::none()
        };
        let cam = camera(flaws);
        let mut c = Client::new(&cam);
        assert_eq!(ret(&c.send(&reboot(SessionId(0)))), Ret::Ok);
        assert_eq!(cam.borrow().reboots(), 1);
        assert!(c.events().contains(&NetipEvent::RebootRequested));
    }

    /// NETIP-SRV-27: flaw `accept_unsigned_upgrade`: an unsigned image (or raw bytes)
    /// is refused by the reference and installed by the flawed camera.
    #[test]
    fn netip_srv_27_flaw_accept_unsigned_upgrade() {
        let img = image(20_000);
        let unsigned = SignedManifest::unsigned(
            Manifest::for_image(MODEL, v("6.6.6"), v("1.0.0"), &img).unwrap(),
        )
        .unwrap();
        let bytes = encode_upgrade_upload(&unsigned, &img);
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        assert_eq!(upload(&mut c, &bytes).1, Ret::UpgradeFailed);
        assert_eq!(cam.borrow().firmware().current, v("1.0.0"));
        let flaws = NetipFlaws {
            accept_unsigned_upgrade: true,
            ..NetipFlaws::none()
        };
        let cam = camera(flaws);
        let mut c = Client::logged_in(&cam);
        assert_eq!(upload(&mut c, &bytes).1, Ret::UpgradeSucceeded);
        assert_eq!(cam.borrow().firmware().current, v("6.6.6"));
        assert_eq!(upload(&mut c, b"MZ raw implant").1, Ret::UpgradeSucceeded);
    }

    /// NETIP-SRV-28: flaw `no_lockout`: after ten failures the reference answers 205,
    /// the flawed camera still accepts the right password.
    #[test]
    fn netip_srv_28_flaw_no_lockout() {
        for (flaws, expected) in [
            (NetipFlaws::none(), Ret::Locked),
            (
                NetipFlaws {
                    no_lockout: true,
                    ..NetipFlaws::none()
                },
                Ret::Ok,
            ),
        ] {
            let mut c = Client::new(&camera(flaws));
            for _ in 0..10 {
                c.login("admin", "guess");
            }
            assert_eq!(c.login("admin", PASSWORD).1.ret, expected);
        }
    }

    /// NETIP-SRV-29: flaw `accept_downgrade`: a correctly signed image below the floor
    /// is refused by the reference and installed by the flawed camera.
    #[test]
    fn netip_srv_29_flaw_accept_downgrade() {
        let img = image(20_000);
        let bytes = encode_upgrade_upload(&signed("0.9.0", "0.9.0", MODEL, &img, 0), &img);
        let cam = camera(NetipFlaws::none());
        let mut c = Client::logged_in(&cam);
        assert_eq!(upload(&mut c, &bytes).1, Ret::UpgradeFailed);
        assert_eq!(cam.borrow().firmware().current, v("1.0.0"));
        let flaws = NetipFlaws {
            accept_downgrade: true,
            ..NetipFlaws::none()
        };
        let cam = camera(flaws);
        let mut c = Client::logged_in(&cam);
        assert_eq!(upload(&mut c, &bytes).1, Ret::UpgradeSucceeded);
        assert_eq!(cam.borrow().firmware().current, v("0.9.0"));
        // Signatures are still checked.
        let bad = encode_upgrade_upload(&signed("0.8.0", "0.8.0", MODEL, &img, 1), &img);
        assert_eq!(upload(&mut c, &bad).1, Ret::UpgradeFailed);
    }

    /// A login whose `PassWord` is sent as is, with `EncryptType` `encrypt_type`.
    fn login_as(user: &str, encrypt_type: &str, password: &str) -> Request {
        let mut r = LoginRequest::new(user, "");
        r.encrypt_type = encrypt_type.to_owned();
        r.password_hash = password.to_owned();
        Request::Login(r)
    }

    /// CERT-NETIP-02: the reference refuses the password in clear (`EncryptType`
    /// `NONE`), and any other form than `MD5`, exactly like a wrong password: Ret 203
    /// with the success key set, session 0, a failure that counts towards the lockout,
    /// and no trace of the password in the log, events or `Debug` output.
    #[test]
    fn cert_netip_02_reference_refuses_plaintext_login() {
        let cam = camera(NetipFlaws::none());
        let mut ok = Client::new(&cam);
        let (ok_p, _) = ok.login("admin", PASSWORD);
        for (encrypt_type, pw) in [
            ("NONE", PASSWORD.to_owned()),
            ("NONE", sofia_hash(PASSWORD)),
            ("", sofia_hash(PASSWORD)),
            ("md5", sofia_hash(PASSWORD)),
            ("AES", PASSWORD.to_owned()),
        ] {
            let mut c = Client::new(&cam);
            let p = c.send(&login_as("admin", encrypt_type, &pw));
            let Reply::Login(r) = Reply::decode(p.message_id(), p.payload()).unwrap() else {
                panic!("not a login reply");
            };
            assert_eq!(r.ret, Ret::WrongPassword, "EncryptType {encrypt_type:?}");
            assert_eq!(keys(&p), keys(&ok_p));
            assert_eq!(r.session_id, SessionId(0));
            assert_eq!(p.header().session_id, 0);
            assert_eq!(
                c.events(),
                [NetipEvent::LoginFailed {
                    user: "admin".into(),
                    ret: Ret::WrongPassword
                }]
            );
            assert_eq!(c.s.session_id(), None);
        }
        // A refused form is a failed attempt, like a wrong password: five lock.
        let cam = camera(NetipFlaws::none());
        let mut c = Client::new(&cam);
        for _ in 0..5 {
            let p = c.send(&login_as("admin", "NONE", PASSWORD));
            assert_eq!(ret(&p), Ret::WrongPassword);
        }
        assert_eq!(c.login("admin", PASSWORD).1.ret, Ret::Locked);
        let events = c.events();
        let text = format!("{:?} {:?} {:?}", cam.borrow(), c.s, events);
        assert!(!text.contains(PASSWORD), "the password leaked");
        assert!(cam
            .borrow()
            .log()
            .all(|e| !e.data.contains(PASSWORD) && !e.user.contains(PASSWORD)));
    }

    /// CERT-NETIP-02: flaw `accept_plaintext_password`: the password in clear with
    /// `EncryptType` `NONE` logs in; a wrong one, or the hash sent as if in clear, does
    /// not; the `MD5` form still works.
    #[test]
    fn cert_netip_02_flaw_accept_plaintext_password() {
        let flaws = NetipFlaws {
            accept_plaintext_password: true,
            ..NetipFlaws::none()
        };
        let cam = camera(flaws);
        let mut c = Client::new(&cam);
        let p = c.send(&login_as("admin", "NONE", "wrong"));
        assert_eq!(ret(&p), Ret::WrongPassword);
        let p = c.send(&login_as("admin", "NONE", &sofia_hash(PASSWORD)));
        assert_eq!(ret(&p), Ret::WrongPassword);
        let p = c.send(&login_as("admin", "NONE", PASSWORD));
        assert_eq!(ret(&p), Ret::Ok);
        assert_eq!(c.s.session_id(), Some(SessionId(p.header().session_id)));
        assert_eq!(Client::logged_in(&cam).s.session_id(), Some(SessionId(2)));
        assert!(cam.borrow().log().all(|e| !e.data.contains(PASSWORD)));
    }

    fn arb_request() -> impl Strategy<Value = (Request, u32)> {
        let sid = prop_oneof![Just(0u32), Just(1u32), any::<u32>()];
        let reqs = prop_oneof![
            "[a-z]{0,8}".prop_map(|p| vec![Request::Login(LoginRequest::new("admin", &p))]),
            "[a-z]{0,8}".prop_map(|u| vec![Request::Login(LoginRequest::new(&u, PASSWORD))]),
            any::<u32>().prop_map(|s| all_commands(SessionId(s))),
            prop_oneof![
                Just(MonitorAction::Claim),
                Just(MonitorAction::Start),
                Just(MonitorAction::Stop)
            ]
            .prop_map(|a| vec![
                Request::MonitorClaim(MonitorRequest::new(a, SessionId(1))),
                Request::Monitor(MonitorRequest::new(a, SessionId(1))),
            ]),
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
                |(m, payload)| vec![Request::Other {
                    message_id: MessageId(m),
                    payload
                }]
            ),
        ]
        .prop_flat_map(proptest::sample::select);
        (reqs, sid)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// NETIP-SRV-30: arbitrary bytes, cut anywhere, never panic the session.
        #[test]
        fn netip_srv_30_arbitrary_bytes_never_panic(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
            header in any::<[u8; 20]>(),
            ticks in proptest::collection::vec(0u64..100_000_000, 0..4),
        ) {
            let cam = camera(NetipFlaws::all());
            let mut c = Client::new(&cam);
            let mut h = header;
            h[0] = 0xFF;
            let _ = c.raw(&h);
            for ch in &chunks {
                let _ = c.raw(ch);
            }
            for t in ticks {
                c.advance(Duration::from_micros(t));
                let _ = c.drain();
            }
            let _ = c.events();
        }

        /// NETIP-SRV-30: no sequence of requests without the password executes a
        /// command: no command event, state untouched, every non-login reply Ret 105.
        #[test]
        fn netip_srv_30_nothing_executes_before_login(reqs in proptest::collection::vec(arb_request(), 1..25)) {
            let cam = camera(NetipFlaws::none());
            let mut c = Client::new(&cam);
            for (i, (req, sid)) in reqs.iter().enumerate() {
                let pk = req.to_packet(*sid, i as u32).unwrap();
                for p in c.raw(&pk.encode()) {
                    if p.message_id() != MessageId::LOGIN_REPLY {
                        prop_assert_eq!(ret(&p), Ret::NotLoggedIn);
                    } else {
                        prop_assert!(ret(&p) != Ret::Ok);
                    }
                }
                c.advance(Duration::from_millis(100));
                prop_assert!(c.drain().is_empty());
            }
            for e in c.events() {
                prop_assert!(
                    matches!(e, NetipEvent::CommandRefused { .. } | NetipEvent::LoginFailed { .. }),
                    "{:?}", e
                );
            }
            untouched(&cam);
            prop_assert_eq!(cam.borrow().active_sessions(), 0);
        }
    }
}
