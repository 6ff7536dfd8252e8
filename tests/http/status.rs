//! The status table, for every status code `http::StatusCode` can hold, through
//! `http::Response` and `reqwest::Response`, with and without `Retry-After`; the setters; this
//! library's own errors.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use steadfast::http::HttpClassifier;
use steadfast::{BoxError, BreakerOpen, Classify, DeadlineExceeded, Outcome};

/// The documented defaults, written out status by status.
fn expected(status: u16, hint: Option<Duration>) -> Outcome {
    match status {
        100..=399 => Outcome::Success,
        408 | 500 | 502 | 504 => Outcome::failed(),
        429 => Outcome::throttled(hint),
        503 => match hint {
            Some(_) => Outcome::throttled(hint),
            None => Outcome::failed(),
        },
        400..=499 | 501 | 505 => Outcome::Rejected,
        506..=599 => Outcome::failed(),
        600..=999 => Outcome::Rejected,
        _ => unreachable!("not a status code: {status}"),
    }
}

fn response(status: u16, retry_after: Option<&'static str>) -> Response<String> {
    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(value));
    }
    response
}

fn classify_http(c: &HttpClassifier, response: Response<String>) -> Outcome {
    c.classify(&Ok::<_, BoxError>(response))
}

fn classify_reqwest(c: &HttpClassifier, response: Response<String>) -> Outcome {
    c.classify(&Ok::<_, reqwest::Error>(reqwest::Response::from(response)))
}

#[test]
fn every_status_code_as_documented_through_both_response_types() {
    let c = HttpClassifier::new();
    let two = Some(Duration::from_secs(2));
    for status in 100..=999 {
        for (header, hint) in [(None, None), (Some("2"), two), (Some("soon"), None)] {
            let want = expected(status, hint);
            let got = classify_http(&c, response(status, header));
            assert_eq!(
                got, want,
                "http::Response {status} with Retry-After {header:?}"
            );
            let got = classify_reqwest(&c, response(status, header));
            assert_eq!(
                got, want,
                "reqwest::Response {status} with Retry-After {header:?}"
            );
        }
    }
}

#[test]
fn the_defaults_never_count_a_server_failure_as_a_success() {
    let c = HttpClassifier::default();
    for status in 500..=599 {
        let outcome = c.status_outcome(StatusCode::from_u16(status).unwrap(), &HeaderMap::new());
        assert!(!outcome.is_success(), "{status}");
    }
}

#[test]
fn each_setter_moves_one_status() {
    let c = HttpClassifier::new()
        .transient(StatusCode::CONFLICT)
        .rejected(StatusCode::SERVICE_UNAVAILABLE)
        .throttled(StatusCode::IM_A_TEAPOT)
        .throttled_when_hinted(StatusCode::INTERNAL_SERVER_ERROR)
        .success(StatusCode::NOT_FOUND);
    let two = Some(Duration::from_secs(2));
    let cases = [
        (409, None, Outcome::failed()),
        (409, Some("2"), Outcome::failed()),
        (503, None, Outcome::Rejected),
        (503, Some("2"), Outcome::Rejected),
        (418, None, Outcome::throttled(None)),
        (418, Some("2"), Outcome::throttled(two)),
        (500, None, Outcome::failed()),
        (500, Some("2"), Outcome::throttled(two)),
        (404, None, Outcome::Success),
    ];
    for (status, header, want) in cases {
        assert_eq!(
            classify_http(&c, response(status, header)),
            want,
            "{status} {header:?}"
        );
    }
    // Every other status keeps its default.
    for status in (100..=999).filter(|s| ![409, 503, 418, 500, 404].contains(s)) {
        assert_eq!(
            classify_http(&c, response(status, None)),
            expected(status, None),
            "{status}"
        );
    }
    let debug = format!("{c:?}");
    for status in ["409", "503", "418", "500", "404"] {
        assert!(debug.contains(status), "{debug}");
    }
    assert_eq!(
        format!("{:?}", HttpClassifier::new()),
        "HttpClassifier { changed: {} }"
    );
}

#[test]
fn this_librarys_own_errors_are_local() {
    let c = HttpClassifier::new();
    let own: Result<Response<String>, BoxError> = Err(DeadlineExceeded::new().into());
    assert_eq!(c.classify(&own), Outcome::Local);
    let own: Result<reqwest::Response, BoxError> = Err(BreakerOpen::new(None).into());
    assert_eq!(c.classify(&own), Outcome::Local);
    let own: Result<reqwest::Response, DeadlineExceeded> = Err(DeadlineExceeded::new());
    assert_eq!(c.classify(&own), Outcome::Local);
}

#[test]
fn an_unknown_error_type_is_a_server_failure() {
    #[derive(Debug)]
    struct Odd;
    let c = HttpClassifier::new();
    let result: Result<Response<String>, Odd> = Err(Odd);
    assert_eq!(c.classify(&result), Outcome::failed());
}
