//! Shared by the benchmarks: a counting allocator, and runners for one thread and two.
#![allow(dead_code, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts heap allocations while switched on; install it with `#[global_allocator]`.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Heap allocations per call of `f`, over `n` calls (counting is off outside this function, so
/// timing never pays for it).
pub fn allocations_per_call(n: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm up: lazily initialised state is not a per-call cost
    ALLOCS.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    ON.store(false, Ordering::Relaxed);
    ALLOCS.load(Ordering::Relaxed) as f64 / n as f64
}

/// Polls `fut` to completion with a no-op waker: no executor overhead in the measurement. The
/// inner services wake themselves, so polling again at once is correct.
pub fn drive<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// One call as a caller makes it: `poll_ready`, then `call`, then the response future.
pub fn one_call<S: tower::Service<R>, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error> {
    drive(std::future::poll_fn(|cx| svc.poll_ready(cx)))?;
    drive(svc.call(req))
}

/// A response future that returns `Pending` once (waking itself) before completing, as a real
/// response would: an always-ready future makes lazily created timers look free.
pub struct YieldOnce<T>(Option<T>, bool);

impl<T> YieldOnce<T> {
    pub fn new(value: T) -> Self {
        YieldOnce(Some(value), false)
    }
}

impl<T: Unpin> std::future::Future for YieldOnce<T> {
    type Output = T;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        if self.1 {
            std::task::Poll::Ready(self.0.take().expect("polled after completion"))
        } else {
            self.1 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// The always-ready inner service: the floor every benchmark measures against.
#[derive(Clone, Copy)]
pub struct Floor;

impl tower::Service<u64> for Floor {
    type Response = u64;
    type Error = steadfast::BoxError;
    type Future = std::future::Ready<Result<u64, steadfast::BoxError>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), steadfast::BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, x: u64) -> Self::Future {
        std::future::ready(Ok(x))
    }
}

/// Runs `iters` calls of `f` on each of two OS threads, released together, and returns the
/// wall time. Criterion divides by `iters`, so the figure is the time one thread takes per call
/// while the other runs too: with both cores busy, that is the CPU time per call.
pub fn on_two_threads<F: FnMut()>(iters: u64, make: impl Fn() -> F + Sync) -> Duration {
    two_threads_measured(iters, make).0
}

/// Like [`on_two_threads`], but returns the mean time each thread spent on a CPU (the wall time
/// where that cannot be read): the CPU time per call, which other processes competing for the
/// cores cannot inflate (they only stretch the wall time).
pub fn on_two_threads_cpu<F: FnMut()>(iters: u64, make: impl Fn() -> F + Sync) -> Duration {
    let (wall, cpu) = two_threads_measured(iters, make);
    cpu.unwrap_or(wall)
}

/// This thread's time on a CPU so far (`CLOCK_THREAD_CPUTIME_ID`), or `None`.
#[cfg(unix)]
pub fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec, which the call only writes.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (done == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// No per-thread CPU clock here.
#[cfg(not(unix))]
pub fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Runs `iters` calls of `f` on each of two OS threads, released together: the wall time, and
/// the mean CPU time of the two threads if it can be read.
fn two_threads_measured<F: FnMut()>(
    iters: u64,
    make: impl Fn() -> F + Sync,
) -> (Duration, Option<Duration>) {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (barrier, make) = (&barrier, &make);
                s.spawn(move || {
                    // Layers with timers register them with the runtime of the calling thread.
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .unwrap();
                    let _guard = rt.enter();
                    let mut f = make();
                    barrier.wait();
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        f();
                    }
                    let end = thread_cpu_time();
                    barrier.wait();
                    start.zip(end).map(|(a, b)| b.saturating_sub(a))
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        let wall = start.elapsed();
        let cpu: Option<Vec<Duration>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (wall, cpu.map(|c| c.iter().sum::<Duration>() / 2))
    })
}

/// Benchmarks one call through `svc` on one thread, and on two threads that each take their own
/// clone (as a service cloned per connection or task would be). `req` makes each request.
pub fn both<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: S,
    req: impl Fn() -> R + Sync,
) where
    S: tower::Service<R> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    one_thread(g, &format!("1 thread/{name}"), svc.clone(), &req);
    two_threads(g, &format!("2 threads/{name}"), svc, req);
}

/// Like [`both`], measuring CPU time per call on one thread and on two: robust to other
/// processes loading the machine, which stretch wall time but not CPU time.
pub fn both_cpu<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: S,
    req: impl Fn() -> R + Sync,
) where
    S: tower::Service<R> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    one_thread_cpu(g, &format!("1 thread/{name}"), svc.clone(), &req);
    two_threads_cpu(g, &format!("2 threads/{name}"), svc, req);
}

/// Benchmarks one call through `svc` on one thread, as `name`.
pub fn one_thread<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut svc: S,
    req: impl Fn() -> R,
) where
    S: tower::Service<R>,
    S::Error: std::fmt::Debug,
{
    g.bench_function(name, |b| {
        b.iter(|| std::hint::black_box(one_call(&mut svc, req()).unwrap()))
    });
}

/// Benchmarks one call through `svc` on two threads that each take their own clone, as `name`:
/// the figure is the time one thread takes per call while the other calls too.
pub fn two_threads<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: S,
    req: impl Fn() -> R + Sync,
) where
    S: tower::Service<R> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    two_threads_by(g, name, svc, req, false);
}

/// Like [`two_threads`], measuring the CPU time per call ([`on_two_threads_cpu`]).
pub fn two_threads_cpu<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: S,
    req: impl Fn() -> R + Sync,
) where
    S: tower::Service<R> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    two_threads_by(g, name, svc, req, true);
}

/// [`two_threads`], measuring the CPU time (`cpu`) or the wall time.
fn two_threads_by<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: S,
    req: impl Fn() -> R + Sync,
    cpu: bool,
) where
    S: tower::Service<R> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let proto = std::sync::Mutex::new(svc);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let make = || {
                let mut mine = proto.lock().unwrap().clone();
                let req = &req;
                move || {
                    std::hint::black_box(one_call(&mut mine, req()).unwrap());
                }
            };
            let (wall, cpu_time) = two_threads_measured(iters, make);
            if cpu { cpu_time.unwrap_or(wall) } else { wall }
        })
    });
}

/// Runs `iters` calls of `f` on this thread and returns the CPU time they took (the wall time
/// where that cannot be read): the one-thread counterpart of [`on_two_threads_cpu`].
pub fn on_one_thread_cpu(iters: u64, mut f: impl FnMut()) -> Duration {
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    for _ in 0..iters {
        f();
    }
    match (cpu, thread_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall.elapsed(),
    }
}

/// Like [`one_thread`], measuring the CPU time per call ([`on_one_thread_cpu`]).
pub fn one_thread_cpu<S, R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut svc: S,
    req: impl Fn() -> R,
) where
    S: tower::Service<R>,
    S::Error: std::fmt::Debug,
{
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            on_one_thread_cpu(iters, || {
                std::hint::black_box(one_call(&mut svc, req()).unwrap());
            })
        })
    });
}

/// The criterion configuration every bench uses: short, since each group compares contenders
/// measured in the same run.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .configure_from_args()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

/// A runtime with a timer for the layers that register one; enter it for the whole bench.
pub fn timer_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// An HTTP-like request: what a replayable client request carries.
#[derive(Clone)]
pub struct HttpReq {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
}

pub fn http_req() -> HttpReq {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "dynamodb.us-east-2.amazonaws.com".parse().unwrap());
    headers.insert("user-agent", "steadfast-bench/0.1".parse().unwrap());
    headers.insert("accept", "application/json".parse().unwrap());
    headers.insert(
        "x-request-id",
        "5f0c6a7e-8d1b-4a55-9a10-3c1f8b1e2d4f".parse().unwrap(),
    );
    HttpReq {
        method: http::Method::GET,
        uri: "http://dynamodb.us-east-2.amazonaws.com/items/42"
            .parse()
            .unwrap(),
        headers,
    }
}

/// The realistic inner service: always ready, answering after one pending poll, as a real
/// response would. For an HTTP-like request it answers a status (reading the request as a client
/// would, so that nothing is optimised away); for a `u64`, that number.
#[derive(Clone, Copy)]
pub struct Realistic;

impl tower::Service<HttpReq> for Realistic {
    type Response = u16;
    type Error = steadfast::BoxError;
    type Future = YieldOnce<Result<u16, steadfast::BoxError>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), steadfast::BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, r: HttpReq) -> Self::Future {
        let _ = std::hint::black_box((&r.method, &r.uri, r.headers.len()));
        YieldOnce::new(Ok(200))
    }
}

impl tower::Service<u64> for Realistic {
    type Response = u64;
    type Error = steadfast::BoxError;
    type Future = YieldOnce<Result<u64, steadfast::BoxError>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), steadfast::BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, x: u64) -> Self::Future {
        YieldOnce::new(Ok(x))
    }
}
