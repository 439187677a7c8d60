//! Durations and histogram buckets written for people, shared by the Markdown and HTML
//! renderers.

/// Milliseconds of an optional µs latency, for people (`12.34 ms`, or `n/a`).
pub(crate) fn ms(us: Option<u64>) -> String {
    us.map(|us| format!("{:.2} ms", us as f64 / 1000.0))
        .unwrap_or_else(|| "n/a".into())
}

/// Seconds for people: `12 s`, `1.5 s`.
pub(crate) fn secs(s: f64) -> String {
    if (s - s.round()).abs() < 1e-6 {
        format!("{} s", s.round() as i64)
    } else {
        format!("{s:.1} s")
    }
}

/// The label of a histogram bucket by its upper bound: `≤100 µs`, `≤2 ms`, `>10 s`.
pub(crate) fn bucket_label(le_us: Option<u64>, last: u64) -> String {
    let unit = |us: u64| {
        if us >= 1_000_000 {
            format!("{} s", us / 1_000_000)
        } else if us >= 1_000 {
            format!("{} ms", us / 1_000)
        } else {
            format!("{us} µs")
        }
    };
    match le_us {
        Some(b) => format!("≤{}", unit(b)),
        None => format!(">{}", unit(last)),
    }
}
