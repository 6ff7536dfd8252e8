//! `Retry-After` in both forms: exact hints against a fixed clock, property tests over any
//! header bytes, and real responses from a loopback server through `reqwest` and hyper-util.

use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use proptest::prelude::*;
use steadfast::http::{HttpClassifier, MAX_RETRY_AFTER, parse_retry_after, retry_after};
use steadfast::{BoxError, Classify, Outcome};
use wiremock::matchers::any as any_request;
use wiremock::{Mock, MockServer, ResponseTemplate};

use http_body_util::Empty;
use hyper::body::Bytes;

use super::{hyper_client, reqwest_client};

/// A whole second, as HTTP-dates are.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn delta_seconds_and_dates_against_a_fixed_clock() {
    let date = |offset: Duration| httpdate::fmt_http_date(now() + offset);
    let cases: [(String, Option<Duration>); 12] = [
        ("2".into(), Some(secs(2))),
        ("0".into(), Some(Duration::ZERO)),
        ("\t 120 ".into(), Some(secs(120))),
        ("86400".into(), Some(MAX_RETRY_AFTER)),
        ("99999999999".into(), Some(MAX_RETRY_AFTER)),
        ("99999999999999999999".into(), None),
        ("-3".into(), None),
        ("2.5".into(), None),
        ("2 s".into(), None),
        (date(secs(90)), Some(secs(90))),
        (
            httpdate::fmt_http_date(now() - secs(90)),
            Some(Duration::ZERO),
        ),
        ("Fri, 15 May 2027 25:00:00 GMT".into(), None),
    ];
    for (value, want) in cases {
        assert_eq!(
            parse_retry_after(value.as_bytes(), now()),
            want,
            "{value:?}"
        );
    }
    assert_eq!(
        parse_retry_after(date(secs(7 * 24 * 3600)).as_bytes(), now()),
        Some(MAX_RETRY_AFTER)
    );
}

#[test]
fn the_first_header_is_read_and_a_missing_one_is_no_hint() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.append(RETRY_AFTER, "3".parse().unwrap());
    headers.append(RETRY_AFTER, "9".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(secs(3)));
}

proptest! {
    #![proptest_config(crate::seeds::persisted(ProptestConfig::default()))]
    #[test]
    fn any_header_bytes_never_panic_nor_exceed_the_cap(
        value in proptest::collection::vec(any::<u8>(), 0..64),
        at in 0u64..=253_402_300_799,
    ) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
        if let Some(hint) = parse_retry_after(&value, now) {
            prop_assert!(hint <= MAX_RETRY_AFTER);
        }
    }

    #[test]
    fn any_text_near_the_grammar_never_panics_nor_exceeds_the_cap(
        value in "[0-9 ,:A-Za-z+-]{0,40}",
    ) {
        if let Some(hint) = parse_retry_after(value.as_bytes(), now()) {
            prop_assert!(hint <= MAX_RETRY_AFTER);
        }
    }

    #[test]
    fn any_delta_is_itself_up_to_the_cap(n in any::<u64>()) {
        let got = parse_retry_after(n.to_string().as_bytes(), now());
        prop_assert_eq!(got, Some(secs(n).min(MAX_RETRY_AFTER)));
    }

    #[test]
    fn any_date_is_its_distance_from_now_up_to_the_cap(offset in -1_000_000i64..1_000_000) {
        let date = if offset >= 0 {
            now() + secs(offset.unsigned_abs())
        } else {
            now() - secs(offset.unsigned_abs())
        };
        let want = secs(offset.max(0).unsigned_abs()).min(MAX_RETRY_AFTER);
        let value = httpdate::fmt_http_date(date);
        prop_assert_eq!(parse_retry_after(value.as_bytes(), now()), Some(want));
    }
}

/// A server answering every request with `status` and `Retry-After: value`.
async fn server(status: u16, value: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any_request())
        .respond_with(ResponseTemplate::new(status).insert_header(RETRY_AFTER, value))
        .mount(&server)
        .await;
    server
}

/// The hint of `outcome`, which must be `Throttled`.
fn throttled_hint(outcome: Outcome) -> Duration {
    assert_eq!(
        outcome,
        Outcome::throttled(outcome.retry_after()),
        "{outcome:?}"
    );
    outcome.retry_after().expect("a hint")
}

#[tokio::test]
async fn a_429_with_a_delta_through_reqwest_and_hyper_util() {
    let server = server(429, "2").await;
    let c = HttpClassifier::new();

    let result = reqwest_client(None).get(server.uri()).send().await;
    assert_eq!(c.classify(&result), Outcome::throttled(Some(secs(2))));

    let uri: http::Uri = server.uri().parse().unwrap();
    let result = hyper_client::<Empty<Bytes>>()
        .get(uri)
        .await
        .map_err(BoxError::from);
    assert_eq!(c.classify(&result), Outcome::throttled(Some(secs(2))));
}

#[tokio::test]
async fn a_503_with_a_date_through_reqwest_and_hyper_util() {
    // Ten seconds ahead of the system clock, truncated to the second by the date format: the
    // hint is at most 10 s, and no less than 10 s minus the second lost and the time the
    // round trip took (a generous 5 s under load).
    let date = httpdate::fmt_http_date(SystemTime::now() + secs(10));
    let server = server(503, &date).await;
    let c = HttpClassifier::new();

    let result = reqwest_client(None).get(server.uri()).send().await;
    let hint = throttled_hint(c.classify(&result));
    assert!(secs(4) <= hint && hint <= secs(10), "{hint:?}");

    let uri: http::Uri = server.uri().parse().unwrap();
    let result = hyper_client::<Empty<Bytes>>().get(uri).await;
    let hint = throttled_hint(c.classify(&result));
    assert!(secs(4) <= hint && hint <= secs(10), "{hint:?}");
}

#[tokio::test]
async fn a_503_with_a_garbage_hint_is_a_server_failure() {
    let server = server(503, "whenever").await;
    let result = reqwest_client(None).get(server.uri()).send().await;
    assert_eq!(HttpClassifier::new().classify(&result), Outcome::failed());
}
