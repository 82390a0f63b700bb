//! Times as an operator reads them: ISO 8601 in UTC, and how long ago.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix seconds as ISO 8601 / RFC 3339 in UTC (`2023-11-14T22:13:20Z`).
pub fn iso8601(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix} s after 1970"))
}

/// `then` relative to `now`, both Unix seconds: "just now", "42 s ago", "3 min ago", "5 h ago",
/// "2 d ago", or "in 10 s" for a clock ahead of ours.
pub fn relative(then: u64, now: u64) -> String {
    let (delta, future) = if then > now {
        (then - now, true)
    } else {
        (now - then, false)
    };
    let amount = match delta {
        0..=4 => return "just now".into(),
        5..=59 => format!("{delta} s"),
        60..=3599 => format!("{} min", delta / 60),
        3600..=86_399 => format!("{} h", delta / 3600),
        _ => format!("{} d", delta / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn relative_times() {
        let now = 1_000_000;
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - 42, now), "42 s ago");
        assert_eq!(relative(now - 185, now), "3 min ago");
        assert_eq!(relative(now - 5 * 3600, now), "5 h ago");
        assert_eq!(relative(now - 2 * 86_400, now), "2 d ago");
        assert_eq!(relative(now + 10, now), "in 10 s");
    }
}
