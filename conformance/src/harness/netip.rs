//! LAN-side cases: the harness is a NETIP/DVRIP client of the DUT (logins, requests
//! before login, oversized lengths, lockout, firmware uploads, debug ports).

use std::time::Duration;

use camproof_net::{Clock, Net};
use camproof_protocol::netip::{
    decode_json, LoginRequest, MessageId, NamedRequest, Packet, PacketDecoder, Request, SessionId,
    UpgradeChunk, UpgradeStartRequest,
};
use camproof_protocol::ota::{FirmwareVersion, Manifest, SignedManifest};
use camproof_simulated_devices::netip_server::encode_upgrade_upload;
use rand_core::SeedableRng;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Harness, REACT_TIMEOUT};
use crate::checks::find_leaks;
use crate::outcome::{hex_prefix, Finding, Verdicted};

/// A firmware image the DUT must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadImage {
    Unsigned,
    Tampered,
    WrongModel,
    Downgrade,
}

/// Passwords that ship as defaults on deployed cameras of this family.
pub(crate) const DEFAULT_PASSWORDS: [&str; 12] = [
    "", "admin", "123456", "12345", "password", "888888", "666666", "1234", "54321", "111111",
    "xc3511", "vizxv",
];

/// Hidden or backdoor accounts of this family: (user, password).
pub(crate) const HIDDEN_ACCOUNTS: [(&str, &str); 6] = [
    ("default", "tluafed"),
    ("root", "xc3511"),
    ("root", "vizxv"),
    ("guest", ""),
    ("888888", "888888"),
    ("666666", "666666"),
];

/// `EncryptType` of a login that carries the password in clear.
pub(crate) const PLAINTEXT_ENCRYPT_TYPE: &str = "NONE";

/// What precedes a login's password in its JSON, as the harness encodes it.
const PASSWORD_KEY: &[u8] = br#""PassWord":""#;

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const OK: u64 = 100;
const NOT_LOGGED_IN: u64 = 105;

/// One NETIP connection to the DUT.
pub(super) struct NetipConn<S> {
    s: S,
    dec: PacketDecoder,
    seq: u32,
    /// Session id of the last successful login (0 before).
    pub sid: u32,
    closed: bool,
}

/// `Ret` of a JSON reply.
pub(crate) fn ret_of(p: &Packet) -> Option<u64> {
    decode_json::<Value>(p.message_id(), p.payload())
        .ok()
        .and_then(|v| v.get("Ret").and_then(Value::as_u64))
}

/// A reply's JSON, printable and cut.
fn json_text(p: &Packet) -> String {
    let text = String::from_utf8_lossy(p.payload());
    let t = text.trim_end_matches(['\0', '\n']);
    if t.chars().count() > 200 {
        format!("{}…", t.chars().take(200).collect::<String>())
    } else {
        t.to_string()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> NetipConn<S> {
    fn new(s: S) -> Self {
        NetipConn {
            s,
            dec: PacketDecoder::new(1 << 20),
            seq: 0,
            sid: 0,
            closed: false,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> bool {
        self.s.write_all(bytes).await.is_ok()
    }

    /// The next packet (at most `wait`), skipping media.
    async fn next_packet(&mut self, wait: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(p) = self.dec.poll_packet() {
                match p {
                    Ok(p) if p.message_id().0 == 1412 => continue,
                    Ok(p) => return Some(p),
                    Err(_) => {
                        self.closed = true;
                        return None;
                    }
                }
            }
            if self.closed {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.s.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    return None;
                }
                Ok(Ok(n)) => self.dec.handle_bytes(&buf[..n]),
            }
        }
    }

    /// Sends `req` with header session `sid`; the reply with the same sequence.
    async fn request_as(&mut self, sid: u32, req: &Request) -> Option<Packet> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let packet = req.to_packet(sid, seq).ok()?;
        if !self.write(&packet.encode()).await {
            self.closed = true;
            return None;
        }
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let p = self.next_packet(left).await?;
            if p.header().sequence == seq {
                return Some(p);
            }
        }
    }

    async fn request(&mut self, req: &Request) -> Option<Packet> {
        let sid = self.sid;
        self.request_as(sid, req).await
    }

    fn named(&self, name: &str) -> NamedRequest {
        NamedRequest::new(name, SessionId(self.sid))
    }

    /// Logs in; the reply's `Ret` (None: no reply).
    async fn login(&mut self, user: &str, password: &str) -> Option<u64> {
        let p = self
            .request_as(0, &Request::Login(LoginRequest::new(user, password)))
            .await?;
        let ret = ret_of(&p);
        if ret == Some(OK) {
            self.sid = p.header().session_id;
        }
        ret
    }

    /// Logs in with `password` in clear (`EncryptType` `NONE`); the reply's `Ret`
    /// (None: no reply).
    async fn login_plaintext(&mut self, user: &str, password: &str) -> Option<u64> {
        let req = LoginRequest {
            encrypt_type: PLAINTEXT_ENCRYPT_TYPE.to_owned(),
            login_type: "DVRIP-Web".to_owned(),
            password_hash: password.to_owned(),
            user_name: user.to_owned(),
        };
        let p = self.request_as(0, &Request::Login(req)).await?;
        let ret = ret_of(&p);
        if ret == Some(OK) {
            self.sid = p.header().session_id;
        }
        ret
    }

    /// Whether the DUT closes the connection within `wait` without replying.
    async fn closes_silently(&mut self, wait: Duration) -> (bool, Option<Packet>) {
        let reply = self.next_packet(wait).await;
        (self.closed && reply.is_none(), reply)
    }

    /// `SoftWareVersion` from `SystemInfo`.
    async fn version(&mut self) -> Option<String> {
        let req = Request::Info(self.named("SystemInfo"));
        let p = self.request(&req).await?;
        let v: Value = decode_json(p.message_id(), p.payload()).ok()?;
        v.get("SystemInfo")?
            .get("SoftWareVersion")?
            .as_str()
            .map(str::to_owned)
    }

    /// Uploads `bytes` through 1520/1522/1524; `cut` stops after that many bytes and
    /// returns without finishing. The progress `Ret` (None when cut or unanswered).
    async fn upload(&mut self, bytes: &[u8], cut: Option<usize>) -> Result<Option<u64>, String> {
        let start = Request::UpgradeStart(UpgradeStartRequest::new(SessionId(self.sid)));
        let p = self
            .request(&start)
            .await
            .ok_or("no reply to the upgrade start (1520)")?;
        if ret_of(&p) != Some(OK) {
            return Err(format!("upgrade start refused: {}", json_text(&p)));
        }
        let limit = cut.unwrap_or(bytes.len()).min(bytes.len());
        for chunk in bytes[..limit].chunks(8 * 1024) {
            let req = Request::UpgradeData(UpgradeChunk {
                data: chunk.to_vec(),
                end: false,
            });
            if self.request(&req).await.is_none() {
                return Err("a firmware chunk (1522) was not acknowledged".into());
            }
        }
        if cut.is_some() {
            return Ok(None);
        }
        let end = Request::UpgradeData(UpgradeChunk {
            data: Vec::new(),
            end: true,
        });
        let _ = self.request(&end).await;
        let progress = Request::UpgradeProgress(self.named(""));
        Ok(self.request(&progress).await.and_then(|p| ret_of(&p)))
    }
}

/// Parses `V1.2.3` or `1.2.3` (the first three numbers).
fn parse_version(text: &str) -> Option<FirmwareVersion> {
    let t = text.trim().trim_start_matches(['V', 'v']);
    let mut parts = t.split('.').map(|p| p.parse::<u32>().ok());
    Some(FirmwareVersion::new(
        parts.next()??,
        parts.next()??,
        parts.next()??,
    ))
}

impl<N: Net, C: Clock + Unpin> Harness<N, C> {
    async fn netip(&mut self) -> Result<NetipConn<crate::capture::Recorded<N::Stream, C>>, String> {
        let port = self.setup.description.netip_port;
        self.connect_dut(port).await.map(NetipConn::new)
    }

    fn user(&self) -> String {
        self.setup.description.admin_user.clone()
    }

    /// A logged-in connection, or why not (no password known, login refused).
    async fn logged_in(
        &mut self,
    ) -> Result<NetipConn<crate::capture::Recorded<N::Stream, C>>, Result<String, String>> {
        let Some(password) = self.setup.password.clone() else {
            return Err(Ok(
                "no admin password given (set CAMPROOF_DUT_PASSWORD): cannot log in".into(),
            ));
        };
        let user = self.user();
        let mut c = self.netip().await.map_err(Err)?;
        match c.login(&user, &password).await {
            Some(OK) => Ok(c),
            Some(r) => Err(Err(format!(
                "login with the declared password refused (Ret {r})"
            ))),
            None => Err(Err("no reply to the login".into())),
        }
    }

    pub(super) async fn netip_default_passwords(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let user = self.user();
        if let Some(p) = &self.setup.password {
            if DEFAULT_PASSWORDS.contains(&p.as_str()) {
                return f.fail(
                    "the declared admin password is a well-known default",
                    "ship without a usable default password; force a strong one at first setup \
                     (NETIP-SRV-06)",
                );
            }
        }
        let mut c = match self.netip().await {
            Ok(c) => c,
            Err(e) => return f.error(e),
        };
        // Four tries: one fewer than the lockout threshold.
        for pw in &DEFAULT_PASSWORDS[..4] {
            let shown = if pw.is_empty() {
                "the empty password".to_string()
            } else {
                format!("{pw:?}")
            };
            let ret = c.login(&user, pw).await;
            f.note(
                format!("login {user} with {shown}"),
                ret.map(|r| format!("Ret {r}"))
                    .unwrap_or_else(|| "no reply".into()),
            );
            if ret == Some(OK) {
                return f.fail(
                    format!("{user} logs in with {shown}"),
                    "remove the default/empty password: the reference firmware refuses to \
                     start with one (NETIP-SRV-06, SEC Consult 2018); require the owner to set \
                     one",
                );
            }
            if ret.is_none() {
                return f.error("the DUT stopped answering logins");
            }
        }
        // Reset the failure count so later cases start clean.
        let _ = self.logged_in().await;
        f.pass(format!(
            "{user} refuses the empty password and the common defaults"
        ))
    }

    pub(super) async fn netip_plaintext_login(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let Some(password) = self.setup.password.clone() else {
            return f.skip(
                "no admin password given (set CAMPROOF_DUT_PASSWORD): cannot try it in clear",
            );
        };
        let user = self.user();
        let mut c = match self.netip().await {
            Ok(c) => c,
            Err(e) => return f.error(e),
        };
        let ret = c.login_plaintext(&user, &password).await;
        // The password had to go in clear to the DUT; keep it out of the capture files.
        let escaped = serde_json::to_string(&password).unwrap_or_default();
        let inner = escaped
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or_default();
        if c.s.mask_written_after(PASSWORD_KEY, inner.as_bytes()) > 0 {
            f.note(
                "capture",
                "the password sent in clear is masked with '*' in the recorded capture",
            );
        }
        drop(c);
        f.note(
            format!("login {user} with the admin password in clear (EncryptType NONE)"),
            ret.map(|r| format!("Ret {r}"))
                .unwrap_or_else(|| "no reply".into()),
        );
        if ret == Some(OK) {
            return f.fail(
                "camera accepted a login with the password in clear (EncryptType NONE)",
                "the password travels unencrypted on the LAN: accept only the MD5/Sofia form \
                 (EncryptType MD5) and refuse any other like a wrong password, Ret 203 with the \
                 same key set (CERT-NETIP-02)",
            );
        }
        if let Some(r @ (205 | 206)) = ret {
            return f.error(format!(
                "the account is locked or blacklisted (Ret {r}): cannot tell whether the \
                 password in clear would be accepted; re-run after the lockout period"
            ));
        }
        // A refused login counts as a failure: reset the count so later cases start
        // clean, and make sure the service still answers.
        match self.logged_in().await {
            Ok(_) => f.note(
                "login with the declared password (MD5) afterwards",
                "Ret 100",
            ),
            Err(Ok(why)) | Err(Err(why)) => {
                if ret.is_none() {
                    return f.error(format!("no reply to the login in clear, and then: {why}"));
                }
                f.note("login with the declared password (MD5) afterwards", why);
            }
        }
        match ret {
            Some(r) => f.pass(format!(
                "the login with the password in clear was refused (Ret {r})"
            )),
            None => f.pass("the login with the password in clear was refused (connection closed)"),
        }
    }

    pub(super) async fn netip_hidden_accounts(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let mut c = match self.netip().await {
            Ok(c) => c,
            Err(e) => return f.error(e),
        };
        for (user, pw) in HIDDEN_ACCOUNTS {
            let ret = c.login(user, pw).await;
            f.note(
                format!("login {user}/{pw}"),
                ret.map(|r| format!("Ret {r}"))
                    .unwrap_or_else(|| "no reply".into()),
            );
            if ret == Some(OK) {
                return f.fail(
                    format!("the hidden account {user:?} logs in with its fixed password"),
                    "remove accounts the owner cannot see or change (CVE-2018-17919, \
                     NETIP-SRV-06): only configured accounts may exist",
                );
            }
            if ret.is_none() {
                return f.error("the DUT stopped answering logins");
            }
        }
        f.pass("no hidden or backdoor account logs in")
    }

    pub(super) async fn netip_before_login(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let mut c = match self.netip().await {
            Ok(c) => c,
            Err(e) => return f.error(e),
        };
        let probes = [
            (
                "keepalive (1006)",
                Request::KeepAlive(NamedRequest::new("KeepAlive", SessionId(0))),
            ),
            (
                "SystemInfo (1020)",
                Request::Info(NamedRequest::new("SystemInfo", SessionId(0))),
            ),
            (
                "config get NetWork.NetCommon (1042)",
                Request::ConfigGet(NamedRequest::new("NetWork.NetCommon", SessionId(0))),
            ),
            (
                "time query (1452)",
                Request::TimeQuery(NamedRequest::new("OPTimeQuery", SessionId(0))),
            ),
        ];
        for (name, req) in &probes {
            let Some(p) = c.request_as(0, req).await else {
                f.note(name.to_string(), "no reply (connection closed)");
                // Closing on an unauthenticated command is a refusal too; reconnect.
                c = match self.netip().await {
                    Ok(c) => c,
                    Err(e) => return f.error(e),
                };
                continue;
            };
            let ret = ret_of(&p);
            f.note(
                format!("{name}, session 0"),
                format!("Ret {}", ret.unwrap_or(0)),
            );
            if ret == Some(OK) {
                f.note(
                    "request",
                    hex_prefix(
                        &req.to_packet(0, 1).map(|p| p.encode()).unwrap_or_default(),
                        40,
                    ),
                );
                f.note("reply", json_text(&p));
                return f.fail(
                    format!("{name} was executed before login"),
                    "before login answer everything but login (and a valid media claim) with \
                     Ret 105 and do not execute it (NETIP-SRV-07, CVE-2024-3765)",
                );
            }
        }
        // Another connection's session id must not work either.
        match self.logged_in().await {
            Ok(owner) => {
                let sid = owner.sid;
                let mut other = match self.netip().await {
                    Ok(c) => c,
                    Err(e) => return f.error(e),
                };
                let req = Request::Info(NamedRequest::new("SystemInfo", SessionId(sid)));
                let p = other.request_as(sid, &req).await;
                let ret = p.as_ref().and_then(ret_of);
                f.note(
                    format!("SystemInfo on a fresh connection with session {sid} of another"),
                    format!("Ret {}", ret.unwrap_or(0)),
                );
                if ret == Some(OK) {
                    if let Some(p) = &p {
                        f.note("reply", json_text(p));
                    }
                    return f.fail(
                        "a command with another connection's session id was executed",
                        "bind a session to the connection that logged in; refuse other \
                         connections' ids with Ret 105 (NETIP-SRV-08)",
                    );
                }
            }
            Err(Ok(why)) => f.note("session-theft probe", format!("skipped: {why}")),
            Err(Err(e)) => return f.error(e),
        }
        f.pass(format!(
            "every request before login was refused (Ret {NOT_LOGGED_IN})"
        ))
    }

    pub(super) async fn hygiene(&mut self) -> Verdicted {
        let mut f = Finding::new();
        if self.setup.description.has(crate::dut::Feature::Netip) {
            match self.logged_in().await {
                Ok(mut c) => {
                    for section in [
                        "NetWork.NetCommon",
                        "System.ExUserMap",
                        "NetWork.NetEmail",
                        "NetWork.PPPoE",
                        "NetWork.NetDDNS",
                    ] {
                        let req = Request::ConfigGet(c.named(section));
                        let _ = c.request(&req).await;
                    }
                    let _ = c.version().await;
                    f.note("probed", "config sections NetWork.NetCommon, System.ExUserMap, NetWork.NetEmail, NetWork.PPPoE, NetWork.NetDDNS; SystemInfo");
                }
                Err(Ok(why)) => f.note("NETIP probe", format!("skipped: {why}")),
                Err(Err(e)) => f.note("NETIP probe", format!("failed: {e}")),
            }
        }
        let capture = self.setup.capture.borrow().clone();
        let cloud_ports = [
            self.listen_port(super::Gateway::Primary),
            self.listen_port(super::Gateway::Fallback),
        ];
        let mut bytes = 0usize;
        let mut leaks = Vec::new();
        for (i, flow) in capture.flows.iter().enumerate() {
            let dir = if cloud_ports.contains(&flow.server.port()) {
                crate::capture::Dir::ClientToServer
            } else {
                crate::capture::Dir::ServerToClient
            };
            let data = flow.stream(dir);
            bytes += data.len();
            let name = format!("flow {} ({} -> {})", i + 1, flow.client, flow.server);
            leaks.extend(find_leaks(&data, self.setup.password.as_deref(), &name));
        }
        f.note(
            "examined",
            format!(
                "{} flows, {bytes} bytes sent by the DUT",
                capture.flows.len()
            ),
        );
        if let Some(first) = leaks.first() {
            for l in leaks.iter().take(5) {
                f.note(l.what.clone(), format!("{}: {}", l.at, l.context));
            }
            return f.fail(
                format!("the DUT sent {} on the wire", first.what),
                "never send passwords, password hashes or keys: NETIP accepts the 8-character \
                 hash as the password, so a hash is a credential; report secrets as set/unset",
            );
        }
        f.pass("no password, password hash or private key in anything the DUT sent")
    }

    pub(super) async fn netip_lockout(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let user = self.user();
        let mut c = match self.netip().await {
            Ok(c) => c,
            Err(e) => return f.error(e),
        };
        let mut rets = Vec::new();
        for i in 0..5 {
            let ret = c.login(&user, &format!("wrong-{i}-Xq")).await;
            rets.push(ret);
        }
        let right = self.setup.password.clone();
        let last = c
            .login(&user, right.as_deref().unwrap_or("wrong-5-Xq"))
            .await;
        rets.push(last);
        f.note(
            "replies to 5 wrong passwords, then the right one",
            rets.iter()
                .map(|r| r.map(|r| r.to_string()).unwrap_or_else(|| "none".into()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if rets.iter().any(|r| matches!(r, Some(205) | Some(206))) && last != Some(OK) {
            f.pass("the account locked after repeated wrong passwords (Ret 205)")
        } else if last == Some(OK) {
            f.fail(
                "after 5 wrong passwords the right one was still accepted at once",
                "lock the account for a period after 5 consecutive failures, answering Ret 205 \
                 even to the right password (NETIP-SRV-04): without it the 8-character hash is \
                 brute-forced online",
            )
        } else if rets.iter().any(Option::is_none) {
            f.error("the DUT stopped answering logins")
        } else {
            f.fail(
                "6 wrong-password logins in a row were all answered 'wrong password'",
                "lock the account after 5 consecutive failures and answer Ret 205 (NETIP-SRV-04)",
            )
        }
    }

    pub(super) async fn netip_length(&mut self) -> Verdicted {
        let mut f = Finding::new();
        for (len, what) in [(0x0100_0000u32, "16 MiB"), (32 * 1024 + 1, "32 KiB + 1")] {
            let mut c = match self.netip().await {
                Ok(c) => c,
                Err(e) => {
                    f.note("connect", e.clone());
                    return f.fail(
                        "the NETIP service stopped after an oversized length field",
                        "check the length field against the 32 KiB limit as soon as the 20 \
                         header bytes are in, close that connection and keep serving others \
                         (NETIP-LEN-01, NETIP-SRV-21, CVE-2019-11878)",
                    );
                }
            };
            let mut header = vec![0xFF, 0, 0, 0];
            header.extend_from_slice(&0u32.to_le_bytes());
            header.extend_from_slice(&1u32.to_le_bytes());
            header.extend_from_slice(&[0, 0]);
            header.extend_from_slice(&MessageId::INFO.0.to_le_bytes());
            header.extend_from_slice(&len.to_le_bytes());
            let _ = c.write(&header).await;
            let (closed, reply) = c.closes_silently(REACT_TIMEOUT).await;
            f.note(
                format!("header with length {what}"),
                if closed {
                    "connection closed, no reply".to_string()
                } else if let Some(p) = &reply {
                    format!("reply {}", json_text(p))
                } else {
                    "connection left open".to_string()
                },
            );
            f.note("header sent", hex_prefix(&header, 20));
            if !closed {
                return f.fail(
                    format!("a {what} length field did not close the connection at once"),
                    "refuse a length over 32 KiB from the header alone, before reading or \
                     allocating the payload, and close the connection (NETIP-LEN-01)",
                );
            }
        }
        let mut c = match self.netip().await {
            Ok(c) => c,
            Err(e) => {
                f.note("connect after the oversized headers", e);
                return f.fail(
                    "the NETIP service died after an oversized length field",
                    "an oversized length must close only that connection; the service must \
                     survive (NETIP-SRV-21, CVE-2019-11878)",
                );
            }
        };
        let user = self.user();
        match c.login(&user, "liveness-probe-Xq").await {
            Some(r) => {
                f.note("login on a new connection", format!("Ret {r}"));
                f.pass(
                    "oversized length fields closed their connections; the service still answers",
                )
            }
            None => f.fail(
                "the NETIP service no longer answers after an oversized length field",
                "an oversized length must close only that connection (NETIP-SRV-21)",
            ),
        }
    }

    pub(super) async fn debug_ports(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let mut open = Vec::new();
        for port in crate::profiles::DEBUG_PORTS {
            match self.connect_dut(port).await {
                Ok(mut s) => {
                    let mut buf = vec![0u8; 256];
                    let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(0);
                    let banner: String = buf[..n]
                        .iter()
                        .map(|&c| {
                            if (0x20..0x7f).contains(&c) {
                                c as char
                            } else {
                                '.'
                            }
                        })
                        .collect();
                    f.note(format!("TCP {port}"), format!("open; banner {banner:?}"));
                    open.push(port);
                }
                Err(e) => f.note(format!("TCP {port}"), format!("closed ({e})")),
            }
        }
        if open.is_empty() {
            f.pass("TCP 9527 and 9530 are closed")
        } else {
            f.fail(
                format!("debug service open on TCP {open:?}"),
                "remove the debug/telnet shells from production firmware: they give a root \
                 shell with a fixed password to anyone on the LAN",
            )
        }
    }

    fn image(&self) -> Vec<u8> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.setup.seed ^ 0x0FA);
        let mut img = vec![0u8; 48 * 1024];
        rand_core::RngCore::fill_bytes(&mut rng, &mut img);
        img
    }

    fn sign(
        &mut self,
        model: &str,
        version: FirmwareVersion,
        floor: FirmwareVersion,
        image: &[u8],
    ) -> Result<SignedManifest, String> {
        let m = Manifest::for_image(model, version, floor, image).map_err(|e| e.to_string())?;
        let key = self
            .setup
            .pki
            .vendor_key(0)
            .ok_or("the certification PKI has no vendor key")?;
        SignedManifest::sign(m, key, &mut self.rng).map_err(|e| e.to_string())
    }

    pub(super) async fn ota(&mut self, kind: BadImage) -> Verdicted {
        let mut f = Finding::new();
        let mut c = match self.logged_in().await {
            Ok(c) => c,
            Err(Ok(why)) => return f.skip(why),
            Err(Err(e)) => return f.error(e),
        };
        let Some(before) = c.version().await else {
            return f.error("SystemInfo carries no SoftWareVersion");
        };
        let Some(v0) = parse_version(&before) else {
            return f.error(format!(
                "cannot read a version from SoftWareVersion {before:?}"
            ));
        };
        let model = self.setup.description.model.clone();
        let next = FirmwareVersion::new(v0.major, v0.minor, v0.patch.saturating_add(1));
        let mut image = self.image();
        let signed = match kind {
            BadImage::Unsigned => Manifest::for_image(model.as_str(), next, v0, &image)
                .and_then(SignedManifest::unsigned)
                .map_err(|e| e.to_string()),
            BadImage::Tampered => self.sign(&model, next, v0, &image),
            BadImage::WrongModel => self.sign("CAMPROOF-OTHER-MODEL", next, v0, &image),
            BadImage::Downgrade => {
                let old = FirmwareVersion::new(0, 0, 1);
                self.sign(&model, old, old, &image)
            }
        };
        let signed = match signed {
            Ok(s) => s,
            Err(e) => return f.error(format!("building the test image: {e}")),
        };
        if kind == BadImage::Tampered {
            image[1000] ^= 0x80;
        }
        let m = signed.manifest();
        f.note(
            "image sent",
            format!(
                "model {}, version {}, {} bytes, signature {} bytes{}",
                m.model,
                m.version,
                image.len(),
                signed.signature().len(),
                if kind == BadImage::Tampered {
                    ", image byte 1000 changed after signing"
                } else {
                    ""
                }
            ),
        );
        f.note("version before", before.clone());
        let progress = match c
            .upload(&encode_upgrade_upload(&signed, &image), None)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                // Refusing at the start or on a chunk is a refusal too.
                f.note("upload", e);
                None
            }
        };
        let after = match self.logged_in().await {
            Ok(mut c2) => c2.version().await.unwrap_or_default(),
            Err(_) => c.version().await.unwrap_or_default(),
        };
        f.note(
            "progress reply",
            progress
                .map(|r| format!("Ret {r}"))
                .unwrap_or_else(|| "none".into()),
        );
        f.note("version after", after.clone());
        let (what, fix) = match kind {
            BadImage::Unsigned => ("an unsigned image", "verify the vendor's RSA-PSS signature over the manifest before accepting any image byte (OTA-SIG-02, NETIP-SRV-19)"),
            BadImage::Tampered => ("a tampered image", "hash the image as it arrives and compare with the signed manifest's SHA-256 before installing (OTA-IMG-02/03)"),
            BadImage::WrongModel => ("an image for another model", "compare the signed manifest's model with the device's, byte for byte (OTA-MODEL-01)"),
            BadImage::Downgrade => ("an older image", "refuse versions below the rollback floor and not newer than the current one (OTA-ROLLBACK-01/02)"),
        };
        if progress == Some(515) || after != before {
            f.fail(format!("the DUT installed {what}"), fix)
        } else {
            f.pass(format!("refused {what}; still running {before}"))
        }
    }

    pub(super) async fn ota_interrupted(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let mut c = match self.logged_in().await {
            Ok(c) => c,
            Err(Ok(why)) => return f.skip(why),
            Err(Err(e)) => return f.error(e),
        };
        let Some(before) = c.version().await else {
            return f.error("SystemInfo carries no SoftWareVersion");
        };
        let Some(v0) = parse_version(&before) else {
            return f.error(format!(
                "cannot read a version from SoftWareVersion {before:?}"
            ));
        };
        let model = self.setup.description.model.clone();
        let next = FirmwareVersion::new(v0.major, v0.minor, v0.patch.saturating_add(1));
        let image = self.image();
        let signed = match self.sign(&model, next, v0, &image) {
            Ok(s) => s,
            Err(e) => return f.error(e),
        };
        let upload = encode_upgrade_upload(&signed, &image);
        let cut = upload.len() / 2;
        if let Err(e) = c.upload(&upload, Some(cut)).await {
            return f.error(format!("the valid upload was refused before the cut: {e}"));
        }
        drop(c);
        f.note(
            "interrupted upload",
            format!(
                "connection closed after {cut} of {} bytes of a valid {next} image",
                upload.len()
            ),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut c =
            match self.logged_in().await {
                Ok(c) => c,
                Err(Ok(e)) | Err(Err(e)) => return f.fail(
                    format!("the DUT no longer accepts logins after an interrupted upload: {e}"),
                    "write updates to the inactive slot and boot the old one until a complete, \
                     verified image is in (OTA-IMG-03)",
                ),
            };
        let after = c.version().await.unwrap_or_default();
        f.note(
            "version before / after the interruption",
            format!("{before} / {after}"),
        );
        if after != before {
            return f.fail(
                format!("after an interrupted upload the DUT runs {after:?}, not {before:?}"),
                "write the image to the inactive slot and switch only after the whole image \
                 verified (A/B update); a cut-off download must leave the old slot booting",
            );
        }
        let progress = c.upload(&upload, None).await.ok().flatten();
        let installed = c.version().await.unwrap_or_default();
        f.note(
            "full upload afterwards",
            format!(
                "progress Ret {}, version {installed}",
                progress.unwrap_or(0)
            ),
        );
        if progress != Some(515) {
            return f.fail(
                "after an interrupted upload the DUT refused the complete valid image",
                "release the upgrade slot when a connection drops mid-upload (NETIP-SRV-18)",
            );
        }
        f.pass(format!("the old firmware kept running after the cut; the full image then installed ({installed})"))
    }
}
