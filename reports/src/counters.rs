//! Every counter of a run, read from the components' own types through serde: the
//! table the Markdown and HTML reports end with. A counter added to a component's type
//! appears here with no change to any renderer.

use std::collections::BTreeMap;

use camproof_results::RunReport;
use serde::Serialize;
use serde_json::Value;

/// One counter: the component that keeps it, its dotted path in the component's type
/// (as in `result.json`), and its value for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    /// The component, e.g. `gateways`.
    pub component: &'static str,
    /// The counter, e.g. `handshakes` or `core.frames_in`.
    pub counter: String,
    /// Its value: a number, `yes`/`no`, `3 a, 1 b` for counts by key, `none` if empty.
    pub value: String,
}

/// Every counter of every component of the run: components in a fixed order, counters
/// sorted by path. The attackers' counters are left out of runs without attackers.
pub fn counter_rows(r: &RunReport) -> Vec<CounterRow> {
    let mut rows = Vec::new();
    add(&mut rows, "cameras", &r.counters.fleet);
    add(&mut rows, "gateways", &r.counters.gateways);
    add(&mut rows, "viewers", &r.counters.viewers);
    add(&mut rows, "signaling", &r.counters.signaling);
    add(&mut rows, "store", &r.counters.store);
    add(&mut rows, "relay", &r.counters.relay);
    if let Some(ota) = &r.counters.ota {
        add(&mut rows, "ota", ota);
    }
    add(&mut rows, "wire", &r.counters.wire);
    if r.counters.attacks.hosts > 0 {
        add(&mut rows, "attacks", &r.counters.attacks);
    }
    rows
}

/// Adds the rows of one component. Its default value tells a nested struct (an object
/// that has keys even when empty) from counts by key (a map, empty by default).
fn add<T: Serialize + Default>(rows: &mut Vec<CounterRow>, component: &'static str, counters: &T) {
    // Serializing plain counter types cannot fail; a type that ever could shows as such.
    let json = |c: &T| {
        serde_json::to_value(c)
            .unwrap_or_else(|e| Value::String(format!("(not serializable: {e})")))
    };
    flatten(
        rows,
        component,
        String::new(),
        &json(counters),
        Some(&json(&T::default())),
    );
}

fn flatten(
    rows: &mut Vec<CounterRow>,
    component: &'static str,
    path: String,
    v: &Value,
    shape: Option<&Value>,
) {
    match (v, shape) {
        (Value::Object(o), Some(Value::Object(fields))) if !fields.is_empty() => {
            for (k, child) in o {
                let path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(rows, component, path, child, fields.get(k));
            }
        }
        _ => rows.push(CounterRow {
            component,
            counter: if path.is_empty() { "-".into() } else { path },
            value: show(v),
        }),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Object(o) if o.is_empty() => "none".into(),
        Value::Object(o) => {
            let counts: BTreeMap<&String, String> = o.iter().map(|(k, v)| (k, show(v))).collect();
            counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        Value::Array(a) if a.len() == 1 => "1 entry".into(),
        Value::Array(a) => format!("{} entries", a.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_structs_get_dotted_paths_and_counts_by_key_one_line() {
        let shape = serde_json::json!({
            "a": 0, "core": {"frames_in": 0}, "by": {}, "empty": {}, "notes": [], "leaks": [],
            "on": false,
        });
        let v = serde_json::json!({
            "a": 1,
            "core": {"frames_in": 4},
            "by": {"x": 2, "y": 3},
            "empty": {},
            "notes": ["p", "q"],
            "leaks": [{"at": 1}],
            "on": true,
        });
        let mut rows = Vec::new();
        flatten(&mut rows, "c", String::new(), &v, Some(&shape));
        let got: Vec<(String, String)> = rows.into_iter().map(|r| (r.counter, r.value)).collect();
        let want: Vec<(String, String)> = [
            ("a", "1"),
            ("by", "2 x, 3 y"),
            ("core.frames_in", "4"),
            ("empty", "none"),
            ("leaks", "1 entry"),
            ("notes", "p; q"),
            ("on", "yes"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
