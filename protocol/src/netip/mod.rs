//! NETIP / DVRIP / "Sofia": the LAN protocol of Xiongmai-family cameras (TCP 34567).
//!
//! Every message is a 20-byte little-endian [`Header`] followed by a payload, JSON with a
//! `0x0A 0x00` trailer for control messages, binary for media and firmware. This module
//! is sans-IO: bytes go in, typed values come out, and both sides are covered, so the
//! simulated camera (server) and a test client share one codec.
//!
//! - [`PacketDecoder`]: cuts a TCP byte stream into [`Packet`]s, refusing an oversized
//!   length field before allocating (CVE-2019-11878).
//! - [`Request`] / [`Reply`]: typed messages, decoded from a message id and payload and
//!   encoded back; [`Reply::to_packet`] applies the reply-header rules.
//! - [`sofia_hash`]: the 8-character password hash clients send.
//! - [`Ret`], [`MessageId`]: result codes and message ids.
//! - [`FragmentReassembler`]: joins a payload split over several packets.
//! - [`media`]: frame headers inside 1412 payloads, [`media::MediaReassembler`] and
//!   [`media::MediaPacketizer`].
//! - [`NetipError`]: the one error type.
//!
//! A camera answering a login:
//!
//! ```
//! use camproof_protocol::netip::*;
//!
//! // What a client sends.
//! let login = Request::Login(LoginRequest::new("admin", "admin"));
//! let wire = login.to_packet(0, 1)?.encode();
//!
//! // The camera's side: bytes in, packets and typed requests out.
//! let mut decoder = PacketDecoder::new(MAX_PAYLOAD);
//! decoder.handle_bytes(&wire);
//! let packet = decoder.poll_packet().expect("a whole packet")?;
//! let Request::Login(req) = Request::from_packet(&packet)? else { unreachable!() };
//! let reply = if req.hash_matches(&sofia_hash("admin")) {
//!     LoginReply::success(SessionId(1))
//! } else {
//!     LoginReply::failure(Ret::WrongPassword)
//! };
//! let answer = Reply::Login(reply).to_packet(packet.header(), 1)?;
//! assert_eq!(answer.header().message_id, MessageId::LOGIN_REPLY);
//! assert_eq!(answer.header().sequence, 1);
//! assert!(answer.payload().ends_with(&[0x0A, 0x00]));
//! # Ok::<(), NetipError>(())
//! ```

mod codes;
mod error;
mod fragment;
mod header;
pub mod media;
mod message;
mod packet;
mod payload;
mod sofia;
mod types;

pub use codes::{MessageId, Ret};
pub use error::NetipError;
pub use fragment::{split_into_fragments, FragmentReassembler, DEFAULT_MAX_REASSEMBLED};
pub use header::{Header, HEADER_LEN, MAGIC, REPLY_VERSION};
pub use media::{MediaFrame, MediaPacketizer, MediaReassembler};
pub use message::{
    FileInfo, FileQuery, FileSearchReply, FileSearchRequest, LogEntry, LogQuery, LogSearchReply,
    LogSearchRequest, LoginReply, LoginRequest, MachineOp, MachineRequest, MonitorAction,
    MonitorOp, MonitorParameter, MonitorRequest, NamedReply, NamedRequest, NamedValueReply,
    NamedValueRequest, Reply, Request, SystemInfo, SystemInfoReply, TimeQueryReply,
    TimeSettingRequest, UpgradeChunk, UpgradeOp, UpgradeStartRequest, DEFAULT_ALIVE_INTERVAL,
    FILE_SEARCH_MAX_RESULTS,
};
pub use packet::{Packet, PacketDecoder, CAMERA_SEND_LIMIT, MAX_PAYLOAD};
pub use payload::{decode_json, encode_json, trim_payload, JSON_TRAILER};
pub use sofia::{sofia_hash, sofia_hash_matches, verify_password};
pub use types::{HexU32, NetipTime, SessionId};

/// TCP port cameras serve NETIP on.
pub const PORT: u16 = 34567;

/// UDP port of discovery broadcasts (message 1530).
pub const DISCOVERY_PORT: u16 = 34569;

#[cfg(test)]
mod tests {
    use super::*;

    /// NETIP-PORT-01: NETIP listens on TCP 34567; discovery uses UDP 34569.
    #[test]
    fn ports() {
        assert_eq!(PORT, 34567);
        assert_eq!(DISCOVERY_PORT, 34569);
    }

    /// NETIP-HDR-03: a reply echoes the request's sequence, carries the session's id
    /// (not 0 after login) and the camera's version 1, end to end through the codec.
    #[test]
    fn keepalive_exchange_end_to_end() {
        let session = 0x0000_0042;
        let req = Request::KeepAlive(NamedRequest::new("KeepAlive", SessionId(session)));
        let wire = req.to_packet(session, 0x1235).unwrap().encode();
        let mut cam = PacketDecoder::default();
        cam.handle_bytes(&wire);
        let pkt = cam.poll_packet().unwrap().unwrap();
        assert_eq!(pkt.header().version, 0);
        let Request::KeepAlive(k) = Request::from_packet(&pkt).unwrap() else {
            panic!("not a keepalive");
        };
        let reply = Reply::KeepAlive(NamedReply::new(k.name, Ret::Ok, k.session_id));
        let out = reply.to_packet(pkt.header(), session).unwrap().encode();
        let mut client = PacketDecoder::default();
        client.handle_bytes(&out);
        let back = client.poll_packet().unwrap().unwrap();
        assert_eq!(back.header().version, 1);
        assert_eq!(back.header().sequence, 0x1235);
        assert_eq!(back.header().session_id, session);
        assert_eq!(
            Reply::decode(back.message_id(), back.payload()).unwrap(),
            reply
        );
    }
}
