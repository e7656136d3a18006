//! Human units for reports: nanoseconds as `1.23 µs`, ratios as `+12.3%`.

/// A duration in ns, in the largest unit that keeps it above 1.
pub fn format_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".to_string();
    }
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if value >= 100.0 {
        1
    } else if value >= 10.0 {
        2
    } else {
        3
    };
    format!("{value:.digits$} {unit}")
}

/// A ratio as a signed percentage change.
pub fn format_change(ratio: f64) -> String {
    format!("{:+.1}%", (ratio - 1.0) * 100.0)
}
