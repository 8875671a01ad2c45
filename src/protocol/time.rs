//! Timestamps: UTC nanoseconds since the Unix epoch in memory and in the store; RFC 3339 with
//! microseconds and `Z` on the wire (spec §5 [REC]); `0` is Go's zero time
//! `0001-01-01T00:00:00Z`.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (UTC); 0 means "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Go's zero time as emitted.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(now_ns())
    }
    /// Whether this is the zero time.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// RFC 3339 in UTC with microsecond precision.
    pub fn to_rfc3339(self) -> String {
        if self.0 == 0 {
            return ZERO_TIME.to_string();
        }
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            sod / 3600,
            (sod % 3600) / 60,
            sod % 60
        )
    }
}

/// Wall-clock nanoseconds since the epoch (saturating; 1 if the clock is before 1970).
pub fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 1,
    }
}

/// Howard Hinnant's days → (year, month, day) for the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_rfc3339())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// On the wire, times in requests are ignored (the server sets every timestamp itself), so
    /// any JSON value is accepted and read as zero.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        if d.is_human_readable() {
            serde::de::IgnoredAny::deserialize(d)?;
            Ok(Timestamp(0))
        } else {
            i64::deserialize(d).map(Timestamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_utc() {
        assert_eq!(Timestamp(0).to_rfc3339(), ZERO_TIME);
        assert_eq!(Timestamp(1).to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2026-02-12T14:10:23.123456Z
        assert_eq!(
            Timestamp(1_770_905_423_123_456_789).to_rfc3339(),
            "2026-02-12T14:10:23.123456Z"
        );
        assert_eq!(
            Timestamp(951_782_400_000_000_000).to_rfc3339(),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
