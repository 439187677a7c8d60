//! JSON payloads and their `0x0A 0x00` trailer.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codes::MessageId;
use super::error::NetipError;

/// The two bytes a camera appends to every JSON payload (clients cut exactly two).
pub const JSON_TRAILER: [u8; 2] = [0x0A, 0x00];

/// Serialises `value` as a NETIP JSON payload, with the trailer appended.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, NetipError> {
    let mut out = serde_json::to_vec(value).map_err(|e| NetipError::InvalidField {
        field: "JSON payload",
        reason: e.to_string(),
    })?;
    out.extend_from_slice(&JSON_TRAILER);
    Ok(out)
}

/// The JSON text of a payload: trailing NUL bytes and whitespace removed, so requests
/// with the trailer, without it, or with other padding all parse.
pub fn trim_payload(payload: &[u8]) -> &[u8] {
    let end = payload
        .iter()
        .rposition(|&b| !matches!(b, 0 | b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i.saturating_add(1));
    payload.get(..end).unwrap_or_default()
}

/// Parses a JSON payload of message `message_id` into `T`, tolerating the trailer.
pub fn decode_json<T: DeserializeOwned>(
    message_id: MessageId,
    payload: &[u8],
) -> Result<T, NetipError> {
    serde_json::from_slice(trim_payload(payload)).map_err(|e| NetipError::BadJson {
        message_id,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// NETIP-PAY-01: every encoded JSON payload ends with 0x0A 0x00, counted in it.
    #[test]
    fn encoder_appends_trailer() {
        let p = encode_json(&json!({"Ret": 100})).unwrap();
        assert_eq!(p, b"{\"Ret\":100}\n\0");
        assert_eq!(&p[p.len() - 2..], &JSON_TRAILER);
    }

    /// NETIP-PAY-02: the decoder accepts requests with the trailer, without it, and with
    /// extra trailing NULs or whitespace.
    #[test]
    fn decoder_tolerates_trailers() {
        for raw in [
            &b"{\"Name\":\"x\"}"[..],
            b"{\"Name\":\"x\"}\n\0",
            b"{\"Name\":\"x\"}\0\0\0",
            b"{\"Name\":\"x\"} \r\n\t\0 ",
        ] {
            let v: Value = decode_json(MessageId::INFO, raw).unwrap();
            assert_eq!(v, json!({"Name": "x"}));
        }
        assert_eq!(trim_payload(b"\0\n "), b"");
    }

    #[test]
    fn bad_json_is_reported_with_message_id() {
        let err = decode_json::<Value>(MessageId::LOGIN, b"{\"Name\":").unwrap_err();
        assert!(
            matches!(err, NetipError::BadJson { message_id, .. } if message_id == MessageId::LOGIN)
        );
        assert!(err
            .to_string()
            .starts_with("message 1000 (login): bad JSON"));
        assert!(decode_json::<Value>(MessageId::LOGIN, &[0xFF, 0xFE]).is_err());
        assert!(decode_json::<Value>(MessageId::LOGIN, b"").is_err());
    }

    proptest! {
        /// NETIP-PAY-01: JSON payloads round-trip through the trailer.
        #[test]
        fn json_round_trip(m in proptest::collection::btree_map("[ -~]{0,8}", any::<i64>(), 0..6), s in "\\PC{0,20}") {
            let v = json!({"map": m, "s": s});
            let p = encode_json(&v).unwrap();
            prop_assert!(p.ends_with(&JSON_TRAILER));
            prop_assert_eq!(decode_json::<Value>(MessageId(0), &p).unwrap(), v);
        }
    }
}
