//! In-process HTTP load on one endpoint, for one measured window.
//!
//! Closed loop: `clients` connections, each sending its next request when the
//! previous one is answered (wrk, oha's default). Open loop: requests at a
//! fixed rate whatever the server does, each request's latency counted from
//! its *intended* send time, so a server that stalls is charged for every
//! request it delayed, not only the one it held (Gil Tene's "coordinated
//! omission"; wrk2 and oha's `--latency-correction` do the same).
//!
//! The window is defined by send time: a request sent (or, open loop,
//! intended) inside `[start, end)` counts, and is waited for after `end` (up
//! to the request timeout), so slow answers are not cut off at the end.
//! Requests sent during the warm-up before `start` are not counted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// Requests in flight beyond which an open loop counts a request as failed
/// instead of sending it: the server is far behind the rate.
const MAX_IN_FLIGHT: usize = 4096;

/// One request, ready to be sent many times.
#[derive(Clone, Debug)]
pub struct Request {
    pub address: SocketAddr,
    pub method: hyper::Method,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub body: Bytes,
    /// Expected status; `None`: any 2xx.
    pub expect_status: Option<u16>,
}

impl Request {
    fn build(&self) -> hyper::Request<Full<Bytes>> {
        let mut builder = hyper::Request::builder()
            .method(self.method.clone())
            .uri(self.target.as_str())
            .header(hyper::header::HOST, self.address.to_string());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(self.body.clone()))
            .expect("method, target and headers were checked when the request was made")
    }

    fn accepts(&self, status: u16) -> bool {
        match self.expect_status {
            Some(expected) => status == expected,
            None => (200..300).contains(&status),
        }
    }
}

/// How requests are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Traffic {
    /// This many clients, each waiting for its answer before sending again.
    Closed { clients: u32 },
    /// This many requests per second, on schedule.
    Open { rate: f64 },
}

/// What one window of load measured.
#[derive(Clone, Debug)]
pub struct Window {
    /// Latencies of the answered requests with the expected status, microseconds.
    pub latency: Histogram<u64>,
    /// Requests sent in the window (answered or not).
    pub requests: u64,
    /// Requests that failed: another status, a timeout, a refused or reset connection.
    pub errors: u64,
    /// Requests that ended (answered or failed) from the window's start on,
    /// whenever they were sent: the requests whose statements the database
    /// ran in that time, for figures per request.
    pub ended: u64,
    /// Failures by kind, e.g. `HTTP 500`, `timeout`, `connection refused`.
    pub error_kinds: BTreeMap<String, u64>,
    /// Length of the window.
    pub length: Duration,
}

impl Window {
    fn new(length: Duration) -> Window {
        Window {
            latency: crate::compare::load::latency_histogram(),
            requests: 0,
            errors: 0,
            ended: 0,
            error_kinds: BTreeMap::new(),
            length,
        }
    }

    fn answered(&mut self, latency: Duration) {
        self.requests += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
    }

    fn failed(&mut self, kind: String) {
        self.requests += 1;
        self.errors += 1;
        *self.error_kinds.entry(kind).or_default() += 1;
    }
}

/// How long to warm up, how long the window is, how long a request may take.
pub struct Schedule {
    pub warm_up: Duration,
    pub length: Duration,
    pub timeout: Duration,
}

/// Send load as `traffic` for `schedule.warm_up`, then measure a window of
/// `schedule.length`. `at_start` runs when the window opens; the window's
/// requests are all answered (or timed out) when this returns.
pub fn run(
    request: &Request,
    traffic: Traffic,
    schedule: &Schedule,
    at_start: impl FnOnce(),
) -> std::io::Result<Window> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let request = Arc::new(request.clone());
    let now = tokio::time::Instant::now();
    let start = now + schedule.warm_up;
    let end = start + schedule.length;
    let window = Arc::new(Mutex::new(Window::new(schedule.length)));
    let timeout = schedule.timeout;
    let marker = async move {
        tokio::time::sleep_until(start).await;
        at_start();
    };
    let traffic = async {
        match traffic {
            Traffic::Closed { clients } => {
                let tasks: Vec<_> = (0..clients)
                    .map(|_| {
                        let request = Arc::clone(&request);
                        let window = Arc::clone(&window);
                        tokio::spawn(closed_client(request, start, end, timeout, window))
                    })
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
            }
            Traffic::Open { rate } => {
                open_loop(
                    Arc::clone(&request),
                    rate,
                    now,
                    start,
                    end,
                    timeout,
                    &window,
                )
                .await;
            }
        }
    };
    runtime.block_on(async { tokio::join!(marker, traffic) });
    let window = Arc::try_unwrap(window)
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_else(|shared| shared.lock().unwrap_or_else(|p| p.into_inner()).clone());
    Ok(window)
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(address: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| describe_io(&e))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| describe_hyper(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn describe_io(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::TimedOut => "timeout".into(),
        _ => format!("connection error: {error}"),
    }
}

fn describe_hyper(error: &hyper::Error) -> String {
    use std::error::Error as _;
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return "connection closed before the answer".into();
    }
    if let Some(io) = error
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        return describe_io(io);
    }
    format!("HTTP error: {error}")
}

/// Send one request on `sender`; the status, or why there is none.
async fn exchange(
    sender: &mut Sender,
    request: &Request,
    timeout: Duration,
) -> Result<u16, String> {
    let attempt = async {
        sender.ready().await.map_err(|e| describe_hyper(&e))?;
        let response = sender
            .send_request(request.build())
            .await
            .map_err(|e| describe_hyper(&e))?;
        let status = response.status().as_u16();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| describe_hyper(&e))?;
        Ok(status)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err("timeout".into()),
    }
}

/// A request ended: counted in `ended` when that is in the window or after,
/// and, when it was `counted` (sent in the window), by its outcome.
fn note(
    window: &Mutex<Window>,
    request: &Request,
    counted: bool,
    start: tokio::time::Instant,
    outcome: &Result<u16, String>,
    latency: Duration,
) {
    let mut window = window.lock().unwrap_or_else(|p| p.into_inner());
    if tokio::time::Instant::now() >= start {
        window.ended += 1;
    }
    if !counted {
        return;
    }
    match outcome {
        Ok(status) if request.accepts(*status) => window.answered(latency),
        Ok(status) => window.failed(format!("HTTP {status}")),
        Err(kind) => window.failed(kind.clone()),
    }
}

async fn closed_client(
    request: Arc<Request>,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    timeout: Duration,
    window: Arc<Mutex<Window>>,
) {
    let mut connection: Option<Sender> = None;
    loop {
        let sent = tokio::time::Instant::now();
        if sent >= end {
            return;
        }
        let counted = sent >= start;
        let sender = match connection.as_mut() {
            Some(sender) => sender,
            None => match connect(request.address).await {
                Ok(sender) => connection.insert(sender),
                Err(kind) => {
                    note(
                        &window,
                        &request,
                        counted,
                        start,
                        &Err(kind),
                        Duration::ZERO,
                    );
                    // Do not spin on a refused port.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let outcome = exchange(sender, &request, timeout).await;
        if outcome.is_err() {
            connection = None;
        }
        note(&window, &request, counted, start, &outcome, sent.elapsed());
    }
}

async fn open_loop(
    request: Arc<Request>,
    rate: f64,
    began: tokio::time::Instant,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    timeout: Duration,
    window: &Arc<Mutex<Window>>,
) {
    let idle: Arc<Mutex<Vec<Sender>>> = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let interval = Duration::from_secs_f64(1.0 / rate);
    for n in 0u64.. {
        let intended = began + interval.mul_f64(n as f64);
        if intended >= end {
            break;
        }
        tokio::time::sleep_until(intended).await;
        let counted = intended >= start;
        if in_flight.load(std::sync::atomic::Ordering::Relaxed) >= MAX_IN_FLIGHT {
            let overloaded = Err(format!("more than {MAX_IN_FLIGHT} requests in flight"));
            note(
                window,
                &request,
                counted,
                start,
                &overloaded,
                Duration::ZERO,
            );
            continue;
        }
        in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (request, idle, window, in_flight) = (
            Arc::clone(&request),
            Arc::clone(&idle),
            Arc::clone(window),
            Arc::clone(&in_flight),
        );
        let task = tokio::spawn(async move {
            let pooled = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let connection = match pooled {
                Some(sender) => Ok(sender),
                None => connect(request.address).await,
            };
            let (outcome, keep) = match connection {
                Ok(mut sender) => {
                    let outcome = exchange(&mut sender, &request, timeout).await;
                    let keep = outcome.is_ok().then_some(sender);
                    (outcome, keep)
                }
                Err(kind) => (Err(kind), None),
            };
            note(
                &window,
                &request,
                counted,
                start,
                &outcome,
                intended.elapsed(),
            );
            if let Some(sender) = keep {
                idle.lock().unwrap_or_else(|p| p.into_inner()).push(sender);
            }
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
        tasks.push(task);
        if tasks.len() >= 1024 {
            tasks.retain(|t| !t.is_finished());
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Start a plain HTTP server on loopback that answers every request after
/// `delay` with `status`; with `one_at_a_time`, requests of all connections
/// are served one after the other (a server with one worker): for tests of
/// the generator.
#[cfg(test)]
fn test_server(delay: Duration, status: u16, one_at_a_time: bool) -> SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let worker = Arc::new(Mutex::new(()));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let worker = Arc::clone(&worker);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let turn = one_at_a_time.then(|| worker.lock().unwrap());
                    std::thread::sleep(delay);
                    drop(turn);
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::load::quantile_ms;

    fn request(address: SocketAddr) -> Request {
        Request {
            address,
            method: hyper::Method::GET,
            target: "/x".into(),
            headers: Vec::new(),
            body: Bytes::new(),
            expect_status: None,
        }
    }

    fn schedule(length_ms: u64) -> Schedule {
        Schedule {
            warm_up: Duration::from_millis(100),
            length: Duration::from_millis(length_ms),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn closed_loop_measures_the_servers_delay() {
        let address = test_server(Duration::from_millis(20), 200, false);
        let window = run(
            &request(address),
            Traffic::Closed { clients: 4 },
            &schedule(600),
            || {},
        )
        .unwrap();
        assert_eq!(window.errors, 0, "{:?}", window.error_kinds);
        // 4 clients for 0.6 s against a 20 ms server: about 120 requests.
        assert!((60..=130).contains(&window.requests), "{}", window.requests);
        let p50 = quantile_ms(&window.latency, 0.5);
        assert!((19.0..40.0).contains(&p50), "p50 {p50} ms");
    }

    #[test]
    fn open_loop_sends_on_schedule_and_counts_errors() {
        let address = test_server(Duration::from_millis(1), 503, false);
        let window = run(
            &request(address),
            Traffic::Open { rate: 200.0 },
            &schedule(500),
            || {},
        )
        .unwrap();
        // 200 requests/s for 0.5 s: 100 intended in the window.
        assert!((95..=105).contains(&window.requests), "{}", window.requests);
        assert_eq!(window.errors, window.requests);
        assert_eq!(window.error_kinds.get("HTTP 503"), Some(&window.requests));
    }

    #[test]
    fn open_loop_charges_a_server_that_falls_behind_for_every_request_it_delayed() {
        // One worker taking 30 ms a request, asked for one every 20 ms: the
        // queue grows by 10 ms a request. A closed loop with one client sees
        // 30 ms; the open loop sees the waiting too.
        let address = test_server(Duration::from_millis(30), 200, true);
        let closed = run(
            &request(address),
            Traffic::Closed { clients: 1 },
            &schedule(400),
            || {},
        )
        .unwrap();
        let open = run(
            &request(address),
            Traffic::Open { rate: 50.0 },
            &schedule(400),
            || {},
        )
        .unwrap();
        assert_eq!(open.errors, 0, "{:?}", open.error_kinds);
        let closed_p50 = quantile_ms(&closed.latency, 0.5);
        let open_p90 = quantile_ms(&open.latency, 0.9);
        assert!(closed_p50 < 45.0, "closed p50 {closed_p50} ms");
        assert!(open_p90 > 100.0, "open p90 {open_p90} ms");
    }

    #[test]
    fn a_closed_port_is_counted_as_refused() {
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let window = run(
            &request(address),
            Traffic::Closed { clients: 1 },
            &schedule(200),
            || {},
        )
        .unwrap();
        assert!(window.errors > 0);
        assert_eq!(window.errors, window.requests);
        assert!(window.error_kinds.contains_key("connection refused"));
    }
}
