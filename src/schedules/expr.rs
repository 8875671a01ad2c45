//! When a cron runs next (upstream `CalcNextRun`, `pkg/cron`).
//!
//! * `interval > 0`: every `interval` seconds, counted from the run (upstream's `random` flag
//!   selects a branch its code never reaches, so it has no effect there; here neither).
//! * otherwise the six-field expression `sec min hour dom month dow` (robfig/cron as upstream
//!   vendors it: exactly six fields, `*`, `?`, ranges, lists, steps, `N/step`, month and
//!   weekday names, `@yearly` … `@hourly`, `@every <duration>`), evaluated in the server's
//!   time zone unless it starts with `TZ=<zone>` or `CRON_TZ=<zone>` (zones from the system's
//!   zoneinfo). Parsing is croner's, configured to upstream's field rules.

use crate::protocol::ApiError;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;

const NS: i64 = 1_000_000_000;

/// A parsed schedule.
#[derive(Debug)]
pub enum Schedule {
    /// Every so many seconds after the last run (`interval > 0`).
    Interval(i64),
    /// `@every <duration>`: whole seconds after the last run, aligned to the second.
    Every(i64),
    /// A calendar expression in a time zone.
    Calendar(Box<croner::Cron>, TimeZone),
}

fn bad(expr: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "Failed to add cron, invalid cronexpression {expr:?}: {why}"
    ))
}

impl Schedule {
    /// The schedule of a cron with this `interval` and `cronexpression` (400 naming the field
    /// when neither gives one).
    pub fn of(interval: i64, expr: &str) -> Result<Schedule, ApiError> {
        if interval > 0 {
            return Ok(Schedule::Interval(interval));
        }
        if interval == 0 {
            return Err(ApiError::bad_request(
                "Cron interval must be -1 (disabled) or larger than 0",
            ));
        }
        Schedule::parse(expr)
    }

    /// Parses a cron expression.
    pub fn parse(expr: &str) -> Result<Schedule, ApiError> {
        let text = expr.trim();
        if text.is_empty() {
            return Err(bad(expr, "empty cron expression string"));
        }
        let (tz, rest) = match text.split_once(char::is_whitespace) {
            Some((first, rest)) if first.starts_with("TZ=") || first.starts_with("CRON_TZ=") => {
                let name = first.split_once('=').map_or("", |(_, n)| n);
                // UTC needs no zoneinfo (minimal images may lack the tz database)
                let tz = if name.eq_ignore_ascii_case("UTC") || name.eq_ignore_ascii_case("Etc/UTC")
                {
                    TimeZone::UTC
                } else {
                    TimeZone::get(name)
                        .map_err(|e| bad(expr, format!("unknown time zone {name:?}: {e}")))?
                };
                (tz, rest.trim())
            }
            _ => (TimeZone::system(), text),
        };
        if let Some(d) = rest.strip_prefix("@every") {
            let secs = go_duration_secs(d.trim()).map_err(|e| bad(expr, e))?;
            return Ok(Schedule::Every(secs.max(1)));
        }
        if !rest.starts_with('@') {
            let n = rest.split_whitespace().count();
            if n != 6 {
                return Err(bad(
                    expr,
                    format!("expected exactly 6 fields (sec min hour dom month dow), found {n}"),
                ));
            }
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .sloppy_ranges(true)
            .build()
            .parse(rest)
            .map_err(|e| bad(expr, e))?;
        Ok(Schedule::Calendar(Box::new(cron), tz))
    }

    /// The first run strictly after `now_ns` (nanoseconds since the epoch); None when the
    /// expression never matches again.
    pub fn next_after(&self, now_ns: i64) -> Option<i64> {
        match self {
            Schedule::Interval(s) => now_ns.checked_add(s.checked_mul(NS)?),
            Schedule::Every(s) => (now_ns - now_ns.rem_euclid(NS)).checked_add(s.checked_mul(NS)?),
            Schedule::Calendar(cron, tz) => {
                let now = jiff::Timestamp::from_nanosecond(i128::from(now_ns))
                    .ok()?
                    .to_zoned(tz.clone());
                let next = cron.find_next_occurrence(&now, false).ok()?;
                i64::try_from(next.timestamp().as_nanosecond()).ok()
            }
        }
    }
}

/// Whole seconds of a Go duration (`1h30m`, `90s`, `1.5h`, `500ms`), truncated, as robfig's
/// `@every` takes it.
fn go_duration_secs(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err("@every needs a duration, e.g. @every 1h30m".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += n * scale;
        rest = next;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(format!("invalid duration {s:?}: too large"));
    }
    // truncation to whole seconds is robfig's rule
    #[allow(clippy::cast_possible_truncation)]
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        let t: jiff::Timestamp = s.parse().unwrap();
        i64::try_from(t.as_nanosecond()).unwrap()
    }

    fn next(expr: &str, from: &str) -> String {
        let s = Schedule::parse(&format!("TZ=UTC {expr}")).unwrap();
        let n = s.next_after(at(from)).unwrap();
        jiff::Timestamp::from_nanosecond(i128::from(n))
            .unwrap()
            .to_string()
    }

    #[test]
    fn six_fields_with_seconds_as_upstream() {
        assert_eq!(
            next("0/1 * * * * *", "2026-01-01T00:00:00.5Z"),
            "2026-01-01T00:00:01Z"
        );
        assert_eq!(
            next("*/10 * * * * *", "2026-01-01T00:00:01Z"),
            "2026-01-01T00:00:10Z"
        );
        assert_eq!(
            next("0 30 3 * * *", "2026-01-01T04:00:00Z"),
            "2026-01-02T03:30:00Z"
        );
        // dom `*` with a weekday: Mondays only (2026-01-05 is a Monday)
        assert_eq!(
            next("0 0 0 * * 1", "2026-01-01T00:00:00Z"),
            "2026-01-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 0 ? * MON", "2026-01-01T00:00:00Z"),
            "2026-01-05T00:00:00Z"
        );
        assert_eq!(
            next("@daily", "2026-01-01T10:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@every 1m30s", "2026-01-01T00:00:00.7Z"),
            "2026-01-01T00:01:30Z"
        );
        assert_eq!(
            next("0 0 12 1 jan *", "2026-02-01T00:00:00Z"),
            "2027-01-01T12:00:00Z"
        );
    }

    #[test]
    fn time_zone_prefix() {
        let e = Schedule::parse("TZ=Nowhere/Atlantis 0 * * * * *").unwrap_err();
        assert!(e.message.contains("unknown time zone"), "{e}");
        if !std::path::Path::new("/usr/share/zoneinfo/Etc/GMT-2").exists() {
            eprintln!("no system tz database: named zones other than UTC not checked");
            return;
        }
        let s = Schedule::parse("TZ=Etc/GMT-2 0 0 12 * * *").unwrap();
        let n = s.next_after(at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(n, at("2026-01-01T10:00:00Z"));
    }

    #[test]
    fn refusals_name_the_field() {
        for bad in [
            "",
            "0 * * * *",
            "0 0 * * * * 2026",
            "61 * * * * *",
            "x * * * * *",
            "@every",
            "@every 5 parsecs",
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.message.contains("cronexpression"), "{bad}: {e}");
        }
        let e = Schedule::of(0, "").unwrap_err();
        assert!(e.message.contains("interval"), "{e}");
        assert!(matches!(
            Schedule::of(5, "garbage"),
            Ok(Schedule::Interval(5))
        ));
    }

    #[test]
    fn intervals_count_from_now() {
        assert_eq!(Schedule::Interval(2).next_after(10), Some(10 + 2 * NS));
        assert_eq!(Schedule::Every(1).next_after(NS + 5), Some(2 * NS));
    }
}
