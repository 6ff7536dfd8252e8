//! The `Retry-After` header, in both of its forms.

use std::time::{Duration, SystemTime};

use ::http::HeaderMap;
use ::http::header::RETRY_AFTER;

/// The longest hint [`retry_after`] reports: one day. A longer hint reads as one day.
///
/// This bound only keeps the hint representable; the layers apply their own, shorter cap as
/// they always do (`retry_after_cap`, default 20 s): a retry returns an answer whose hint is
/// beyond its cap at once, and a failover skips the endpoint for at most its cap. One day stays
/// beyond any sensible cap, so a clamped hint is still "too long" for them.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The server's `Retry-After` hint in `headers`, relative to now.
///
/// Reads the first `Retry-After` header, in either form:
///
/// - delta-seconds (`Retry-After: 120`): that many seconds from the instant the response
///   arrived, which for the layers is the instant they classify it;
/// - an HTTP-date (`Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`): the time from the system
///   clock ([`SystemTime::now`], read only for this form) to that date; a date in the past is a
///   zero hint.
///
/// Garbage, a negative number, a value that overflows 64-bit seconds, or an invalid date is
/// ignored (`None`); no input panics. A hint longer than [`MAX_RETRY_AFTER`] is that bound.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast::http::retry_after;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("2"));
/// assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
///
/// headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("soon"));
/// assert_eq!(retry_after(&headers), None);
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?;
    parse(value.as_bytes(), SystemTime::now)
}

/// Parses one `Retry-After` value as [`retry_after`] does, with `now` as the system time an
/// HTTP-date is measured from.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use steadfast::http::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
/// // 10 s after `now`.
/// let date = b"Wed, 21 Oct 2015 07:28:00 GMT";
/// assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after(b"-1", now), None);
/// ```
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    parse(value, || now)
}

fn parse(value: &[u8], now: impl FnOnce() -> SystemTime) -> Option<Duration> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    let wait = if value.iter().all(u8::is_ascii_digit) {
        Duration::from_secs(delta_seconds(value)?)
    } else {
        let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
        date.duration_since(now()).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// ASCII digits as seconds; `None` on overflow.
fn delta_seconds(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |secs, d| {
        secs.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let p = |v: &str| parse_retry_after(v.as_bytes(), now);
        assert_eq!(p("0"), Some(Duration::ZERO));
        assert_eq!(p(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(p("007"), Some(Duration::from_secs(7)));
        assert_eq!(p("86401"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("18446744073709551615"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(p("-5"), None);
        assert_eq!(p("+5"), None);
        assert_eq!(p("1.5"), None);
        assert_eq!(p(""), None);
        assert_eq!(
            p("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(10))
        );
        // In the past: retry now.
        assert_eq!(p("Wed, 21 Oct 2015 07:27:00 GMT"), Some(Duration::ZERO));
        assert_eq!(p("Wed, 21 Oct 2099 07:28:00 GMT"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("Wed, 32 Oct 2015 07:28:00 GMT"), None);
    }
}
