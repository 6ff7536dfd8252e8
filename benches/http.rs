//! The HTTP classifier's cost per response: status only (a success, a 503 without a hint, a
//! 404), and with `Retry-After` present in both forms (a 429 with delta-seconds, a 503 with an
//! HTTP-date), beside a hand-written status match (what a user writes without it) and the
//! system-clock read the date form pays for.
//!
//! `cargo bench --features http --bench http`

mod support;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use http::header::RETRY_AFTER;
use http::{HeaderValue, Response, StatusCode};
use steadfast::classify::{Classify, Outcome};
use steadfast::http::HttpClassifier;

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

type Answer = Result<Response<()>, std::io::Error>;

/// A response with `status`, a few ordinary headers, and `Retry-After: retry_after` if given.
fn answer(status: u16, retry_after: Option<&str>) -> Answer {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", "17")
        .header("date", "Thu, 03 Dec 2026 16:00:00 GMT")
        .body(())
        .unwrap();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
    }
    Ok(response)
}

/// The status-only classifier a user writes by hand: no `Retry-After`, no transport errors.
fn by_hand(result: &Answer) -> Outcome {
    match result {
        Ok(r) if r.status().is_success() => Outcome::Success,
        Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => Outcome::throttled(None),
        Ok(r) if r.status().is_server_error() => Outcome::failed(),
        Ok(_) => Outcome::Rejected,
        Err(_) => Outcome::failed(),
    }
}

fn cases() -> [(&'static str, Answer); 5] {
    // An hour ahead: far enough that the date never passes during the run.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    [
        ("200, status only", answer(200, None)),
        ("503 without a hint, status only", answer(503, None)),
        ("404, status only", answer(404, None)),
        ("429 + Retry-After delta", answer(429, Some("2"))),
        ("503 + Retry-After date", answer(503, Some(&date))),
    ]
}

fn classifier(c: &mut Criterion) {
    let mut g = c.benchmark_group("http classifier");
    let http = HttpClassifier::new();
    for (name, result) in cases() {
        g.bench_function(format!("{name} (HttpClassifier)"), |b| {
            b.iter(|| black_box(&http).classify(black_box(&result)))
        });
    }
    let (name, result) = &cases()[1];
    g.bench_function(format!("{name} (hand-written match)"), |b| {
        b.iter(|| by_hand(black_box(result)))
    });
    g.bench_function("SystemTime::now() (reference)", |b| b.iter(SystemTime::now));
    g.finish();
}

fn report_allocations() {
    let http = HttpClassifier::new();
    println!("allocations per call:");
    for (name, result) in cases() {
        let per_call = support::allocations_per_call(10_000, || {
            black_box(http.classify(&result));
        });
        println!("  {name}: {per_call}");
    }
}

fn main() {
    report_allocations();
    let mut c = support::criterion();
    classifier(&mut c);
    c.final_summary();
}
