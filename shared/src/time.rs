//! Time as this service stores and exchanges it: Unix seconds and milliseconds,
//! and RFC 3339 text (OFAuth's `expiresAt`, webhook timestamps, the table's own
//! times), on the `time` crate.
//!
//! Stored times are whole-second UTC RFC 3339 (`2026-11-23T10:00:00Z`): fixed
//! width, so they also sort correctly as DynamoDB sort keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch (0 before it).
pub fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A whole-second UTC RFC 3339 timestamp, as the table stores times.
pub fn rfc3339(t: SystemTime) -> String {
    format(epoch(t), 0, false)
}

/// A UTC RFC 3339 timestamp with milliseconds (`2023-10-27T10:00:00.123Z`), as
/// OFAuth writes `expiresAt` and event timestamps.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let ms = epoch_ms(t);
    format(ms.div_euclid(1000), ms.rem_euclid(1000) as u32, true)
}

fn format(secs: i64, millis: u32, with_millis: bool) -> String {
    let Ok(dt) = OffsetDateTime::from_unix_timestamp(secs) else {
        return "1970-01-01T00:00:00Z".into();
    };
    let dt = dt + Duration::from_millis(u64::from(millis));
    let fmt = if with_millis {
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        )
    } else {
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")
    };
    dt.format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Parses SigV4's `X-Amz-Date` (`20261130T010203Z`).
#[cfg_attr(not(feature = "dev-identity"), allow(dead_code))]
pub(crate) fn parse_amz_date(v: &str) -> Option<SystemTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let dt = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let secs = u64::try_from(dt.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses an RFC 3339 timestamp (any offset, any fraction) to Unix milliseconds.
pub fn parse_rfc3339_ms(v: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(v.trim(), &Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses an RFC 3339 timestamp (OFAuth's `expiresAt`) to Unix seconds.
pub(crate) fn parse_rfc3339(v: &str) -> Option<i64> {
    parse_rfc3339_ms(v).map(|ms| ms.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(
            rfc3339(t + Duration::from_millis(999)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-10-27T10:00:00.000Z"),
            Some(1_698_400_800)
        );
        assert_eq!(
            parse_rfc3339("2023-10-27T12:00:00+02:00"),
            Some(1_698_400_800)
        );
        assert_eq!(parse_rfc3339("tomorrow"), None);
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_698_400_800_123)),
            "2023-10-27T10:00:00.123Z"
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-23T10:00:00.250Z"),
            Some(1_795_428_000_250)
        );
    }
}
