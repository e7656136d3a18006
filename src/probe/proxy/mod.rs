//! Counting database proxies: a 1:1 session relay on loopback between the
//! application and its database that forwards every byte unchanged and records
//! each statement the application sends, with its rows and completion.
//!
//! The proxy runs on its own threads (a tokio runtime for accepting and
//! logging in, an epoll loop for relaying), so a synchronous caller starts
//! it, points the application at [`CountingProxy::local_addr`], and drains
//! what it saw with
//! [`CountingProxy::drain`]. Protocol details live in the `postgres` and
//! `mysql` modules; `relay` holds the framing loop they share.
//!
//! ```no_run
//! use perfguard::probe::fingerprint::fingerprint;
//! use perfguard::probe::proxy::{CountingProxy, DbKind, ProxyConfig};
//!
//! let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Postgres, "127.0.0.1:5432"))?;
//! // ... start the app against proxy.local_addr(), send one request, wait until
//! // proxy.in_flight() == 0 and proxy.last_activity_at() is older than a quiet period ...
//! let activity = proxy.drain();
//! for statement in &activity.statements {
//!     let counted = fingerprint(&statement.sql, DbKind::Postgres.dialect());
//!     println!("{} ({:?} rows)", counted.readable, statement.rows);
//! }
//! println!("{} round trips, {} transactions", activity.round_trips(), activity.transactions());
//! for fault in &activity.faults {
//!     eprintln!("{fault}");
//! }
//! proxy.shutdown();
//! # Ok::<(), perfguard::probe::proxy::ProxyError>(())
//! ```

#[cfg(test)]
mod framing_harness;
mod mysql;
mod postgres;
mod recorder;
mod relay;
mod split;
mod standalone;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::probe::fingerprint::SqlDialect;

pub use recorder::{
    Activity, ConnectionFault, ConnectionTotals, FaultKind, StatementEvent, StatementTotals,
};
pub use standalone::{DatabaseUrl, redact_password, run_standalone, run_standalone_until};

/// Default cap on one protocol message: larger lengths are treated as garbage.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 30;

/// How long a new client connection may wait for the upstream TCP connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The wire protocol the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Postgres,
    Mysql,
}

impl DbKind {
    /// The SQL dialect statements of this database are fingerprinted with.
    pub fn dialect(self) -> SqlDialect {
        match self {
            DbKind::Postgres => SqlDialect::Postgres,
            DbKind::Mysql => SqlDialect::Mysql,
        }
    }

    /// The server's usual TCP port.
    pub fn default_port(self) -> u16 {
        match self {
            DbKind::Postgres => 5432,
            DbKind::Mysql => 3306,
        }
    }
}

/// What to start: which protocol, where the real database listens, where to listen.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub kind: DbKind,
    /// The real database, `host:port` (resolved for every client connection).
    pub upstream: String,
    /// Where to listen; `None` picks an ephemeral port on 127.0.0.1.
    pub listen: Option<SocketAddr>,
    /// Largest protocol message accepted from either side before the connection is closed.
    pub max_message_bytes: usize,
}

impl ProxyConfig {
    /// A proxy for `kind` in front of `upstream` (`host:port`) on an ephemeral loopback port.
    pub fn new(kind: DbKind, upstream: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            kind,
            upstream: upstream.into(),
            listen: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("could not start the proxy's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(
        "could not listen on {addr}: {source} (is the port already in use? pass another --listen address)"
    )]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid database URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("could not write the proxy's output: {0}")]
    Output(#[source] std::io::Error),
}

/// Per-connection settings shared by the protocol handlers.
#[derive(Debug)]
struct ConnectionContext {
    upstream: String,
    max_message_bytes: usize,
    recorder: Arc<recorder::Recorder>,
    relay: relay::RelayHandle,
}

/// A running counting proxy. Dropping it shuts it down.
pub struct CountingProxy {
    local_addr: SocketAddr,
    recorder: Arc<recorder::Recorder>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    relay_loop: Option<relay::RelayLoop>,
}

impl CountingProxy {
    /// Binds the listener and starts relaying on two background threads: a
    /// single-threaded tokio runtime accepts connections and relays each login,
    /// then hands the connection to the relay's event loop (`relay`), one
    /// epoll loop like pgbouncer's.
    pub fn start(config: ProxyConfig) -> Result<CountingProxy, ProxyError> {
        let addr = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|source| ProxyError::Listen { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ProxyError::Listen { addr, source })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProxyError::Runtime)?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).map_err(|source| ProxyError::Listen { addr, source })?
        };
        let recorder = Arc::new(recorder::Recorder::new());
        let (relay_loop, relay) =
            relay::RelayLoop::start(Arc::clone(&recorder)).map_err(ProxyError::Runtime)?;
        let context = Arc::new(ConnectionContext {
            upstream: config.upstream,
            max_message_bytes: config.max_message_bytes,
            recorder: Arc::clone(&recorder),
            relay,
        });
        let (stop, stopped) = watch::channel(false);
        let kind = config.kind;
        let thread = std::thread::Builder::new()
            .name("perfguard-proxy".to_owned())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, kind, context, stopped));
                // Dropping the runtime here cancels every connection task.
            })
            .map_err(ProxyError::Runtime)?;
        Ok(CountingProxy {
            local_addr,
            recorder,
            stop,
            thread: Some(thread),
            relay_loop: Some(relay_loop),
        })
    }

    /// The address applications connect to instead of the database.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Keep each statement for [`CountingProxy::drain`] (the default), or, under
    /// load, only add it to the totals of [`CountingProxy::take_totals`].
    pub fn keep_statements(&self, keep: bool) {
        self.recorder.keep_statements(keep);
    }

    /// Statements, database time and rows since the previous call.
    pub fn take_totals(&self) -> StatementTotals {
        self.recorder.take_totals()
    }

    /// Takes everything recorded since the previous drain.
    pub fn drain(&self) -> Activity {
        self.recorder.drain()
    }

    /// Takes the connection faults recorded since the previous drain (statements and totals stay).
    pub fn drain_faults(&self) -> Vec<ConnectionFault> {
        self.recorder.drain_faults()
    }

    /// When the last statement was sent by any client, if ever.
    pub fn last_statement_at(&self) -> Option<Instant> {
        self.recorder.last_statement_at()
    }

    /// When the last byte moved in either direction on any connection, if ever.
    pub fn last_activity_at(&self) -> Option<Instant> {
        self.recorder.last_activity_at()
    }

    /// Statements sent to the database whose completion has not arrived yet.
    pub fn in_flight(&self) -> u64 {
        self.recorder.in_flight()
    }

    /// Client connections currently open.
    pub fn open_connections(&self) -> u64 {
        self.recorder.open_connections()
    }

    /// Stops accepting, closes every connection and joins the relay thread.
    pub fn shutdown(mut self) {
        self.stop_runtime();
    }

    fn stop_runtime(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Closes the logged-in connections (the runtime closed those still logging in).
        self.relay_loop.take();
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop_runtime();
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: DbKind,
    context: Arc<ConnectionContext>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let client = match accepted {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of descriptors or a connection reset before accept: keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let context = Arc::clone(&context);
        let connection_id = context.recorder.open_connection();
        tokio::spawn(async move {
            match kind {
                DbKind::Postgres => postgres::serve(client, connection_id, &context).await,
                DbKind::Mysql => mysql::serve(client, connection_id, &context).await,
            }
            context.recorder.close_connection();
        });
    }
}

/// Connects to the upstream database, with a timeout, as the handlers need it.
async fn connect_upstream(upstream: &str) -> Result<tokio::net::TcpStream, String> {
    match tokio::time::timeout(
        UPSTREAM_CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(upstream),
    )
    .await
    {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(error)) => Err(format!(
            "upstream database {upstream} is unreachable: {error} (is it running? check [database].url)"
        )),
        Err(_) => Err(format!(
            "upstream database {upstream} is unreachable: no answer within {}s (check [database].url and firewalls)",
            UPSTREAM_CONNECT_TIMEOUT.as_secs()
        )),
    }
}
