//! NETIP / DVRIP / "Sofia" LAN protocol codec.

mod codes;
mod error;
mod header;
mod packet;
mod payload;
mod sofia;
mod types;

pub use codes::{MessageId, Ret};
pub use error::NetipError;
pub use header::{Header, HEADER_LEN, MAGIC, REPLY_VERSION};
pub use packet::{Packet, PacketDecoder, CAMERA_SEND_LIMIT, MAX_PAYLOAD};
pub use payload::{decode_json, encode_json, trim_payload, JSON_TRAILER};
pub use sofia::{sofia_hash, sofia_hash_matches, verify_password};
pub use types::{HexU32, NetipTime, SessionId};
mod message;
pub use message::*;
