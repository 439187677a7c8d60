//! Reading `result.json` of any schema this version knows: the current one as it is,
//! `camproof.run/2` (whose counters were copies, partly flattened into the top level)
//! by moving each value to where its component keeps it now.

use serde_json::{Map, Value};

use crate::report::{RunReport, RUN_SCHEMA};

/// The schema of `result.json` written before 2026-12-07, which this version still reads.
pub const RUN_SCHEMA_V2: &str = "camproof.run/2";

/// Why a `result.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not JSON, or not a run report of its schema.
    #[error("not a run report: {0}")]
    Json(#[from] serde_json::Error),
    /// A schema this version does not read.
    #[error("schema `{found}` is not one this version reads ({RUN_SCHEMA} or {RUN_SCHEMA_V2}); render it with the camproof that wrote it")]
    Schema {
        /// The schema the file names.
        found: String,
    },
}

/// Where each `camproof.run/2` value lives in `camproof.run/3`: (old path, new path).
const MOVES_V2: &[(&[&str], &[&str])] = &[
    (&["handshakes"], &["gateways", "handshakes"]),
    (&["resumptions"], &["gateways", "resumptions"]),
    (&["frames_delivered"], &["gateways", "video_frames"]),
    (&["video_bytes_delivered"], &["gateways", "video_bytes"]),
    (&["gateway_failures"], &["gateways", "failures"]),
    (&["connect_attempts"], &["fleet", "connect_attempts"]),
    (&["heartbeats_acked"], &["fleet", "heartbeats_acked"]),
    (&["frames_sent"], &["fleet", "frames_sent"]),
    (
        &["viewers", "live_latency_p50_us"],
        &["live_latency_p50_us"],
    ),
    (
        &["viewers", "live_latency_p99_us"],
        &["live_latency_p99_us"],
    ),
    (
        &["signaling", "commands_forwarded"],
        &["signaling", "forwarded"],
    ),
    (
        &["signaling", "commands_answered"],
        &["signaling", "answered"],
    ),
    (
        &["signaling", "command_timeouts"],
        &["signaling", "timeouts"],
    ),
    (&["ota", "interrupted"], &["fleet", "ota_interrupted"]),
    (&["ota", "firmware"], &["fleet", "firmware"]),
    (&["store", "accounts_erased"], &["signaling", "erasures"]),
    (&["relay", "frames_in"], &["relay", "core", "frames_in"]),
    (&["relay", "frames_out"], &["relay", "core", "frames_out"]),
    (&["relay", "bytes_out"], &["relay", "core", "bytes_out"]),
    (
        &["relay", "dropped_overflow"],
        &["relay", "core", "dropped_overflow"],
    ),
    (
        &["relay", "dropped_expired"],
        &["relay", "core", "dropped_expired"],
    ),
];

impl RunReport {
    /// Reads a `result.json` of the current schema or of `camproof.run/2`.
    pub fn from_json(text: &str) -> Result<RunReport, ReadError> {
        let mut doc: Value = serde_json::from_str(text)?;
        let schema = doc.get("schema").and_then(Value::as_str).unwrap_or("");
        match schema {
            RUN_SCHEMA => {}
            RUN_SCHEMA_V2 => {
                for (from, to) in MOVES_V2 {
                    if let Some(v) = take(&mut doc, from) {
                        put(&mut doc, to, v);
                    }
                }
                doc["schema"] = Value::from(RUN_SCHEMA);
            }
            other => {
                return Err(ReadError::Schema {
                    found: other.to_string(),
                })
            }
        }
        Ok(serde_json::from_value(doc)?)
    }
}

/// Removes the value at `path`, if there is one.
fn take(doc: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut at = doc;
    for key in parents {
        at = at.get_mut(*key)?;
    }
    at.as_object_mut()?.remove(*last)
}

/// Sets the value at `path`, making the objects on the way (over a `null` one too).
fn put(doc: &mut Value, path: &[&str], v: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = doc;
    for key in parents {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(o) = at else {
            return;
        };
        at = o.entry(*key).or_insert(Value::Null);
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    if let Value::Object(o) = at {
        o.insert((*last).to_string(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_makes_objects_on_the_way_and_take_leaves_others() {
        let mut doc = serde_json::json!({"a": 1, "ota": null, "relay": {"frames_in": 3}});
        let v = take(&mut doc, &["relay", "frames_in"]);
        assert_eq!(v, Some(Value::from(3)));
        put(&mut doc, &["relay", "core", "frames_in"], Value::from(3));
        assert_eq!(take(&mut doc, &["ota", "interrupted"]), None);
        put(&mut doc, &["fleet", "ota_interrupted"], Value::from(2));
        assert_eq!(
            doc,
            serde_json::json!({"a": 1, "ota": null, "relay": {"core": {"frames_in": 3}},
                               "fleet": {"ota_interrupted": 2}})
        );
    }

    #[test]
    fn an_unknown_schema_is_named_in_the_error() {
        let e = RunReport::from_json(r#"{"schema": "camproof.run/9"}"#).unwrap_err();
        assert!(e.to_string().contains("camproof.run/9"), "{e}");
        assert!(RunReport::from_json("{").is_err());
    }
}
