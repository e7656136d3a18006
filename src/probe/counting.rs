//! Reading statement counts that an application reports itself: a count header
//! (`count = "header:X-Query-Count"`), `Server-Timing` entries
//! (`db;desc="6 queries"` or `db;count=6`), and the optional per-statement
//! header `X-Query-Statement: <count> <sql>` from which perfguard builds the
//! same fingerprints it builds on the wire.

/// The header an application may repeat once per distinct statement:
/// `X-Query-Statement: 48 SELECT name FROM products WHERE id = $1`.
pub const STATEMENT_HEADER: &str = "x-query-statement";

/// Parse a count header's value.
pub fn parse_count_header(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// Total database statements from `Server-Timing` header values: entries named
/// `db` (or starting with `db`) with `count=N`, or `desc="N queries"`.
pub fn parse_server_timing<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    let mut total = None;
    for value in values {
        for entry in value.split(',') {
            let mut parts = entry.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            if !name.eq_ignore_ascii_case("db") && !name.to_ascii_lowercase().starts_with("db") {
                continue;
            }
            for parameter in parts {
                let Some((key, raw)) = parameter.split_once('=') else {
                    continue;
                };
                let raw = raw.trim().trim_matches('"');
                let count = match key.trim().to_ascii_lowercase().as_str() {
                    "count" => raw.parse::<u64>().ok(),
                    "desc" => raw
                        .split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<u64>().ok()),
                    _ => None,
                };
                if let Some(count) = count {
                    *total.get_or_insert(0) += count;
                }
            }
        }
    }
    total
}

/// One `X-Query-Statement` value: its count and SQL.
pub fn parse_statement_header(value: &str) -> Option<(u64, &str)> {
    let (count, sql) = value.trim().split_once(' ')?;
    Some((count.parse().ok()?, sql.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_forms() {
        assert_eq!(parse_server_timing(["db;desc=\"6 queries\""]), Some(6));
        assert_eq!(parse_server_timing(["db;count=6;dur=1.2"]), Some(6));
        assert_eq!(
            parse_server_timing(["cache;dur=2, db;count=3", "db;count=1"]),
            Some(4)
        );
        assert_eq!(parse_server_timing(["app;dur=5"]), None);
    }

    #[test]
    fn statement_header() {
        assert_eq!(
            parse_statement_header("48 SELECT 1 FROM t WHERE id = $1"),
            Some((48, "SELECT 1 FROM t WHERE id = $1"))
        );
        assert_eq!(parse_statement_header("x SELECT"), None);
    }
}
