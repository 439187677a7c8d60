//! Mode 4: what a capture can decide. CDP/1 flows are checked for repeated record
//! nonces; NETIP flows are replayed as transactions (request, reply) to find logins
//! answered with an empty, default or backdoor password, logins accepted with the
//! password in clear, commands answered before login, a missing lockout and unsigned
//! firmware installed; every byte the device sent is scanned for credentials and keys.
//! Cases a capture cannot decide are skipped, and say so.

use std::collections::BTreeMap;

use camproof_protocol::cdp::frame::{FrameDecoder, FrameType, MAX_FRAME_LEN};
use camproof_protocol::netip::{decode_json, sofia_hash, Packet, PacketDecoder};
use camproof_protocol::ota::SignedManifest;
use serde_json::Value;

use crate::capture::{Capture, Dir, Flow};
use crate::catalog::CATALOG;
use crate::checks::{check_record_nonces, find_leaks};
use crate::dut::DutDescription;
use crate::harness::netip::{ret_of, DEFAULT_PASSWORDS, HIDDEN_ACCOUNTS};
use crate::outcome::{Finding, Outcome, Verdicted};

/// What a flow carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// CDP/1: the DUT is the client.
    Cdp,
    /// NETIP: the DUT is the server.
    Netip,
    /// Something else.
    Other,
}

/// Classifies a flow by the first bytes its client sent.
pub fn classify(flow: &Flow) -> FlowKind {
    let c = flow.stream(Dir::ClientToServer);
    if c.first() == Some(&0xFF) && c.len() >= 20 {
        return FlowKind::Netip;
    }
    if c.len() >= 5 && c[0] == 0 && matches!(c[4], 0x01 | 0x04) {
        return FlowKind::Cdp;
    }
    FlowKind::Other
}

fn flow_name(i: usize, f: &Flow) -> String {
    format!("flow {} ({} -> {})", i + 1, f.client, f.server)
}

/// One NETIP request and its reply.
struct Transaction {
    flow: usize,
    at_us: u64,
    request: Packet,
    reply: Option<Packet>,
}

fn packets(data: &[u8]) -> Vec<Packet> {
    let mut d = PacketDecoder::new(1 << 20);
    d.handle_bytes(data);
    let mut out = Vec::new();
    while let Some(Ok(p)) = d.poll_packet() {
        out.push(p);
    }
    out
}

fn transactions(capture: &Capture) -> Vec<Transaction> {
    let mut out = Vec::new();
    for (i, flow) in capture.flows.iter().enumerate() {
        if classify(flow) != FlowKind::Netip {
            continue;
        }
        let requests = packets(&flow.stream(Dir::ClientToServer));
        let mut replies: Vec<Option<Packet>> = packets(&flow.stream(Dir::ServerToClient))
            .into_iter()
            .filter(|p| p.message_id().0 != 1412)
            .map(Some)
            .collect();
        let t0 = flow.opened_us;
        for (n, req) in requests.into_iter().enumerate() {
            let want = req.message_id().0.wrapping_add(1);
            let reply = replies
                .iter_mut()
                .find(|r| {
                    r.as_ref().is_some_and(|r| {
                        r.header().sequence == req.header().sequence && r.message_id().0 == want
                    })
                })
                .and_then(Option::take);
            out.push(Transaction {
                flow: i,
                at_us: t0 + n as u64,
                request: req,
                reply,
            });
        }
    }
    out.sort_by_key(|t| (t.at_us, t.flow));
    out
}

fn json(p: &Packet) -> Option<Value> {
    decode_json::<Value>(p.message_id(), p.payload()).ok()
}

/// (user, password hash) of a login request.
fn login_of(p: &Packet) -> Option<(String, String)> {
    if p.message_id().0 != 1000 {
        return None;
    }
    let v = json(p)?;
    Some((
        v.get("UserName")?.as_str()?.to_owned(),
        v.get("PassWord")?.as_str()?.to_owned(),
    ))
}

/// Evaluates every case against a capture. `password` (if known) sharpens the secret
/// scan; it never appears in the result.
pub fn certify_capture(
    capture: &Capture,
    description: &DutDescription,
    password: Option<&str>,
    only: Option<&str>,
) -> Vec<Outcome> {
    let tx = transactions(capture);
    let mut out = Vec::new();
    for case in CATALOG {
        if only.is_some_and(|o| !case.id.eq_ignore_ascii_case(o)) {
            continue;
        }
        let f = Finding::new();
        let v = if !case.offline {
            f.skip("needs a live device: a capture cannot show how the DUT reacts to this test's traffic")
        } else {
            match case.id {
                "CLOUD-NONCE-01" => nonce(capture, f),
                "NETIP-AUTH-01" => default_logins(&tx, capture, description, f),
                "NETIP-AUTH-02" => hidden_logins(&tx, capture, f),
                "NETIP-PLAIN-01" => plaintext_logins(&tx, capture, f),
                "NETIP-PRE-01" => before_login(&tx, capture, f),
                "NETIP-LOCK-01" => lockout(&tx, f),
                "OTA-UNSIGNED-01" => unsigned_upload(&tx, capture, f),
                "HYG-WIRE-01" => secrets(capture, password, f),
                other => f.skip(format!("{other} has no capture check")),
            }
        };
        out.push(v.into_outcome(case.id, 0));
    }
    out
}

fn nonce(capture: &Capture, mut f: Finding) -> Verdicted {
    let mut total = 0;
    for (i, flow) in capture.flows.iter().enumerate() {
        if classify(flow) != FlowKind::Cdp {
            continue;
        }
        let mut d = FrameDecoder::new(MAX_FRAME_LEN);
        d.push(&flow.stream(Dir::ClientToServer));
        let mut bodies = Vec::new();
        while let Ok(Some(fr)) = d.next_frame() {
            if fr.kind == FrameType::Record {
                bodies.push(fr.body);
            }
        }
        let report = check_record_nonces(bodies.iter().map(|b| b.as_slice()));
        total += report.records;
        if report.duplicate.is_some() {
            f.note("flow", flow_name(i, flow));
            return crate::harness::cloud::nonce_verdict(report, f);
        }
    }
    if total == 0 {
        return f.skip("the capture holds no CDP/1 record sent by the DUT");
    }
    f.note("records examined", total.to_string());
    f.pass(format!("{total} device records, no nonce repeated"))
}

fn default_logins(
    tx: &[Transaction],
    capture: &Capture,
    d: &DutDescription,
    mut f: Finding,
) -> Verdicted {
    let hashes: BTreeMap<String, &str> = DEFAULT_PASSWORDS
        .iter()
        .map(|p| (sofia_hash(p), *p))
        .collect();
    let mut tried = 0;
    for t in tx {
        let Some((user, hash)) = login_of(&t.request) else {
            continue;
        };
        let Some(pw) = hashes.get(&hash) else {
            continue;
        };
        if user != d.admin_user {
            continue;
        }
        tried += 1;
        let ret = t.reply.as_ref().and_then(ret_of);
        if ret == Some(100) {
            let shown = if pw.is_empty() {
                "the empty password".to_string()
            } else {
                format!("{pw:?}")
            };
            f.note(
                "login",
                format!("{user} with {shown} (hash {hash}) answered Ret 100"),
            );
            f.note("where", flow_name(t.flow, &capture.flows[t.flow]));
            return f.fail(
                format!("{user} logged in with {shown}"),
                "remove the default/empty password (NETIP-SRV-06, SEC Consult 2018)",
            );
        }
    }
    if tried == 0 {
        return f.skip("the capture holds no login with an empty or default password");
    }
    f.pass(format!(
        "{tried} logins with empty or default passwords, all refused"
    ))
}

fn hidden_logins(tx: &[Transaction], capture: &Capture, mut f: Finding) -> Verdicted {
    let mut tried = 0;
    for t in tx {
        let Some((user, hash)) = login_of(&t.request) else {
            continue;
        };
        if !HIDDEN_ACCOUNTS
            .iter()
            .any(|(u, p)| *u == user && sofia_hash(p) == hash)
        {
            continue;
        }
        tried += 1;
        if t.reply.as_ref().and_then(ret_of) == Some(100) {
            f.note(
                "login",
                format!("{user} with its backdoor password answered Ret 100"),
            );
            f.note("where", flow_name(t.flow, &capture.flows[t.flow]));
            return f.fail(
                format!("the hidden account {user:?} logged in"),
                "remove hidden accounts (CVE-2018-17919, NETIP-SRV-06)",
            );
        }
    }
    if tried == 0 {
        return f.skip("the capture holds no login to a known backdoor account");
    }
    f.pass(format!("{tried} backdoor logins, all refused"))
}

/// Logins whose `EncryptType` is present and not `MD5` (the password in clear, or
/// another form the reference refuses): any answered Ret 100 fails. A login without
/// `EncryptType` is not counted (its `PassWord` may well be the hash). The password is
/// never shown.
fn plaintext_logins(tx: &[Transaction], capture: &Capture, mut f: Finding) -> Verdicted {
    let mut tried = 0;
    for t in tx {
        if t.request.message_id().0 != 1000 {
            continue;
        }
        let Some(v) = json(&t.request) else {
            continue;
        };
        let Some(encrypt_type) = v.get("EncryptType").and_then(Value::as_str) else {
            continue;
        };
        if encrypt_type == "MD5" || v.get("PassWord").is_none() {
            continue;
        }
        tried += 1;
        if t.reply.as_ref().and_then(ret_of) == Some(100) {
            let user = v.get("UserName").and_then(Value::as_str).unwrap_or("");
            let shown: String = encrypt_type.chars().take(16).collect();
            f.note(
                "login",
                format!("{user} with EncryptType {shown:?} (password not shown) answered Ret 100"),
            );
            f.note("where", flow_name(t.flow, &capture.flows[t.flow]));
            return f.fail(
                format!("camera accepted a login with EncryptType {shown:?}: the password travels unencrypted on the LAN"),
                "accept only the MD5/Sofia form (EncryptType MD5); refuse any other like a \
                 wrong password (CERT-NETIP-02)",
            );
        }
    }
    if tried == 0 {
        return f.skip(
            "the capture holds no login with the password in clear (EncryptType other than MD5)",
        );
    }
    f.pass(format!(
        "{tried} logins with the password in clear (EncryptType other than MD5), all refused"
    ))
}

fn before_login(tx: &[Transaction], capture: &Capture, mut f: Finding) -> Verdicted {
    let mut logged: BTreeMap<usize, bool> = BTreeMap::new();
    let mut probes = 0;
    for t in tx {
        let id = t.request.message_id().0;
        let ret = t.reply.as_ref().and_then(ret_of);
        if id == 1000 {
            if ret == Some(100) {
                logged.insert(t.flow, true);
            }
            continue;
        }
        if id == 1413 || logged.get(&t.flow).copied().unwrap_or(false) {
            continue;
        }
        probes += 1;
        if ret == Some(100) {
            f.note(
                "request",
                format!(
                    "message {id} with session {} on a connection that never logged in",
                    t.request.header().session_id
                ),
            );
            if let Some(r) = &t.reply {
                let text = String::from_utf8_lossy(r.payload())
                    .chars()
                    .take(160)
                    .collect::<String>();
                f.note("reply", text);
            }
            f.note("where", flow_name(t.flow, &capture.flows[t.flow]));
            return f.fail(
                format!("message {id} was executed before login"),
                "answer everything but login with Ret 105 before login (NETIP-SRV-07, CVE-2024-3765)",
            );
        }
    }
    if probes == 0 {
        return f.skip("the capture holds no request sent before login");
    }
    f.pass(format!("{probes} requests before login, none executed"))
}

fn lockout(tx: &[Transaction], mut f: Finding) -> Verdicted {
    let mut runs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut decided = false;
    for t in tx {
        let Some((user, _)) = login_of(&t.request) else {
            continue;
        };
        let Some(ret) = t.reply.as_ref().and_then(ret_of) else {
            continue;
        };
        let run = runs.entry(user.clone()).or_default();
        if run.len() >= 5 && run.iter().all(|r| *r == 203) {
            decided = true;
            f.note(
                format!("{user}: reply after 5 failed logins"),
                format!("Ret {ret}"),
            );
            if ret == 205 || ret == 206 {
                run.clear();
                continue;
            }
            return f.fail(
                format!("after 5 failed logins for {user} the next one was answered Ret {ret}"),
                "lock the account after 5 consecutive failures (NETIP-SRV-04)",
            );
        }
        match ret {
            203 => run.push(203),
            205 | 206 => run.clear(),
            _ => run.clear(),
        }
    }
    if !decided {
        return f.skip("the capture holds no run of 5 failed logins followed by another attempt");
    }
    f.pass("the account locked after 5 failed logins")
}

fn unsigned_upload(tx: &[Transaction], capture: &Capture, mut f: Finding) -> Verdicted {
    let mut uploads: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut seen = 0;
    for t in tx {
        match t.request.message_id().0 {
            1520 => {
                uploads.insert(t.flow, Vec::new());
            }
            1522 => {
                if let Some(u) = uploads.get_mut(&t.flow) {
                    if u.len() < 8192 {
                        u.extend_from_slice(t.request.payload());
                    }
                }
            }
            1524 => {
                let Some(upload) = uploads.remove(&t.flow) else {
                    continue;
                };
                let n = upload
                    .first_chunk::<4>()
                    .map(|b| u32::from_le_bytes(*b) as usize)
                    .unwrap_or(0);
                let unsigned = match upload.get(4..4 + n).map(SignedManifest::decode) {
                    Some(Ok(m)) => m.signature().is_empty(),
                    _ => true,
                };
                if !unsigned {
                    continue;
                }
                seen += 1;
                let ret = t.reply.as_ref().and_then(ret_of);
                if ret == Some(515) {
                    f.note("upload", "manifest without a signature (or no manifest)");
                    f.note("progress reply", "Ret 515 (upgrade succeeded)");
                    f.note("where", flow_name(t.flow, &capture.flows[t.flow]));
                    return f.fail(
                        "the DUT installed an unsigned firmware upload",
                        "verify the vendor signature before accepting any image byte (OTA-SIG-02, NETIP-SRV-19)",
                    );
                }
            }
            _ => {}
        }
    }
    if seen == 0 {
        return f.skip("the capture holds no unsigned firmware upload");
    }
    f.pass(format!("{seen} unsigned uploads, all refused"))
}

fn secrets(capture: &Capture, password: Option<&str>, mut f: Finding) -> Verdicted {
    let mut bytes = 0;
    let mut leaks = Vec::new();
    for (i, flow) in capture.flows.iter().enumerate() {
        let dir = match classify(flow) {
            FlowKind::Cdp => Dir::ClientToServer,
            FlowKind::Netip => Dir::ServerToClient,
            FlowKind::Other => continue,
        };
        let data = flow.stream(dir);
        bytes += data.len();
        leaks.extend(find_leaks(&data, password, &flow_name(i, flow)));
    }
    if bytes == 0 {
        return f.skip("the capture holds no CDP/1 or NETIP bytes sent by the DUT");
    }
    f.note("examined", format!("{bytes} bytes sent by the DUT"));
    if let Some(first) = leaks.first() {
        for l in leaks.iter().take(5) {
            f.note(l.what.clone(), format!("{}: {}", l.at, l.context));
        }
        return f.fail(
            format!("the DUT sent {} on the wire", first.what),
            "never send passwords, password hashes or keys (NETIP-SRV-05)",
        );
    }
    f.pass("no password, password hash or private key in what the DUT sent")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Flow, Segment};
    use crate::outcome::Verdict;
    use camproof_protocol::netip::{LoginReply, LoginRequest, Reply, Request, Ret, SessionId};
    use std::net::{Ipv4Addr, SocketAddrV4};

    const SECRET: &str = "Plain-Secret-31";

    /// One NETIP flow: a login with `encrypt_type` and the password in clear, answered
    /// with `ret`.
    fn login_capture(encrypt_type: &str, ret: Ret) -> Capture {
        let mut req = LoginRequest::new("admin", "");
        req.encrypt_type = encrypt_type.to_owned();
        req.password_hash = SECRET.to_owned();
        let request = Request::Login(req).to_packet(0, 1).unwrap();
        let reply = match ret {
            Ret::Ok => LoginReply::success(SessionId(1)),
            other => LoginReply::failure(other),
        };
        let sid = if ret == Ret::Ok { 1 } else { 0 };
        let reply = Reply::Login(reply)
            .to_packet(request.header(), sid)
            .unwrap();
        let seg = |at_us, dir, data: Vec<u8>| Segment { at_us, dir, data };
        Capture::from_flows(vec![Flow {
            client: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40001),
            server: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 34567),
            opened_us: 1,
            segments: vec![
                seg(2, Dir::ClientToServer, request.encode()),
                seg(3, Dir::ServerToClient, reply.encode()),
            ],
            dropped: 0,
        }])
    }

    fn plain(capture: &Capture) -> Outcome {
        let d = DutDescription::simulated();
        let mut out = certify_capture(capture, &d, None, Some("NETIP-PLAIN-01"));
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    /// CERT-NETIP-02 from a capture: a login in clear answered Ret 100 fails, one
    /// answered 203 passes, and a capture with only MD5 logins cannot decide. The
    /// password never appears in the outcome.
    #[test]
    fn cert_netip_02_plaintext_login_from_a_capture() {
        let accepted = plain(&login_capture("NONE", Ret::Ok));
        assert_eq!(accepted.verdict, Verdict::Fail, "{}", accepted.summary);
        assert!(!format!("{accepted:?}").contains(SECRET));
        let refused = plain(&login_capture("NONE", Ret::WrongPassword));
        assert_eq!(refused.verdict, Verdict::Pass, "{}", refused.summary);
        let md5 = plain(&login_capture("MD5", Ret::Ok));
        assert_eq!(md5.verdict, Verdict::Skip, "{}", md5.summary);
    }
}
