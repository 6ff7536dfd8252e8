//! The whole reqwest stack per call, against a local hyper server, all contenders in the same
//! run: bare reqwest, reqwest-middleware + reqwest-retry (its README's setup: exponential
//! backoff, 3 retries), steadfast's `RegionalClient` over one region and over two (the primary
//! healthy), with and without a deadline and an attempt timeout.
//!
//! Client and server share one current-thread runtime on the bench's thread, and the time
//! measured is that thread's CPU time: a call's cost is the client's work plus the server's,
//! the same server for every contender, whatever else loads the machine; the difference between
//! rows is what the stack adds. Every call reads the whole body, so connections are reused.
//!
//! `cargo bench --bench http_stack --features reqwest`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use steadfast::regional::RegionalClient;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

mod support;
use support::{Counting, allocations_per_call, thread_cpu_time};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A runtime with a server answering `200 ok` to every request, and the server's base URL.
fn serve() -> (Runtime, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))));
    let listener = listener.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let answer = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer)
                    .await;
            });
        }
    });
    (rt, base)
}

fn client() -> reqwest::Client {
    // No proxy: a proxy set in the environment must not see loopback calls.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The CPU time of `iters` calls of `call`, run one after another on `rt` (the wall time where
/// there is no per-thread CPU clock).
fn timed<F: Future<Output = usize>>(rt: &Runtime, iters: u64, call: impl Fn() -> F) -> Duration {
    rt.block_on(async {
        let (cpu, wall) = (thread_cpu_time(), Instant::now());
        let mut bytes = 0;
        for _ in 0..iters {
            bytes += call().await;
        }
        assert_eq!(bytes as u64, 2 * iters);
        match (cpu, thread_cpu_time()) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => wall.elapsed(),
        }
    })
}

fn stacks(c: &mut Criterion) {
    let (rt, base) = serve();
    let url = format!("{base}/orders/7");
    let mut group = c.benchmark_group("http_stack");
    let mut allocations = Vec::new();
    // Benches one contender, then counts its allocations per call (client and server).
    macro_rules! contender {
        ($name:expr, $call:expr) => {{
            let call = $call;
            group.bench_function($name, |b| b.iter_custom(|iters| timed(&rt, iters, &call)));
            let per_call = allocations_per_call(1000, || {
                rt.block_on(call());
            });
            allocations.push(($name, per_call));
        }};
    }

    let bare = client();
    contender!("bare reqwest", || async {
        let response = bare.get(&url).send().await.unwrap();
        response.bytes().await.unwrap().len()
    });

    let middleware = reqwest_middleware::ClientBuilder::new(client())
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(3),
        ))
        .build();
    contender!("reqwest-middleware + reqwest-retry 0.9", || async {
        let response = middleware.get(&url).send().await.unwrap();
        response.bytes().await.unwrap().len()
    });

    // The first two rows without timers, the third with them.
    let single = RegionalClient::builder(client(), [("us-east-2", &base)])
        .unwrap()
        .no_deadline()
        .no_attempt_timeout()
        .build_client()
        .unwrap();
    let two = [("us-east-2", &base), ("us-west-1", &base)];
    let regional = RegionalClient::builder(client(), two)
        .unwrap()
        .no_deadline()
        .no_attempt_timeout()
        .build_client()
        .unwrap();
    let limited = RegionalClient::builder(client(), two)
        .unwrap()
        .deadline(Duration::from_secs(10))
        .attempt_timeout(Duration::from_secs(2))
        .build_client()
        .unwrap();
    for (name, stack) in [
        ("steadfast RegionalClient, 1 region", &single),
        ("steadfast RegionalClient, 2 regions", &regional),
        (
            "steadfast RegionalClient, 2 regions + deadline + attempt timeout",
            &limited,
        ),
    ] {
        contender!(name, || async {
            let response = stack.execute(stack.get("/orders/7")).await.unwrap();
            response.bytes().await.unwrap().len()
        });
    }
    group.finish();
    for (name, per_call) in allocations {
        println!("{name}: {per_call:.1} allocations per call (client and server)");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = stacks
}
criterion_main!(benches);
