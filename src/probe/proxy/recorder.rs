//! What the proxy saw, shared between the relay tasks and the synchronous
//! caller: statements, connection faults and per-connection totals behind one
//! short-held mutex, and atomics for the quiet-period checks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One statement a client sent, recorded when its completion arrived (or when
/// it became clear none would).
#[derive(Clone, PartialEq, Eq)]
pub struct StatementEvent {
    /// Which client connection sent it (numbered from 1 in accept order).
    pub connection_id: u64,
    /// The raw SQL, literals included: fingerprint it, never log or store it.
    pub sql: String,
    /// Rows returned (or affected, for INSERT/UPDATE/DELETE/COPY), when the server said.
    pub rows: Option<u64>,
    /// The server confirmed the statement ran to completion (or to a portal suspension).
    pub confirmed: bool,
    /// The server answered with an error.
    pub failed: bool,
    /// The statement ran inside an explicit transaction.
    pub in_transaction: bool,
    /// The connection's round trip (1-based) the statement was sent in.
    pub round_trip: u64,
    /// When the client sent it.
    pub at: Instant,
}

impl fmt::Debug for StatementEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The SQL may hold literal values: show its size only.
        f.debug_struct("StatementEvent")
            .field("connection_id", &self.connection_id)
            .field("sql_bytes", &self.sql.len())
            .field("rows", &self.rows)
            .field("confirmed", &self.confirmed)
            .field("failed", &self.failed)
            .field("in_transaction", &self.in_transaction)
            .field("round_trip", &self.round_trip)
            .finish()
    }
}

/// Why a client connection ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The database could not be reached (refused, timed out, bad address).
    UpstreamUnreachable,
    /// The database refused the login (unknown role or database, bad password, too many clients).
    LoginRefused,
    /// The database closed the connection (mid-query, or while idle).
    UpstreamClosed,
    /// The client sent bytes that are not the protocol (garbage, oversized length, TLS).
    ClientProtocol,
    /// The database sent bytes that are not the protocol.
    UpstreamProtocol,
}

/// A connection fault, with a message that says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFault {
    pub connection_id: u64,
    pub kind: FaultKind,
    /// Human-readable; never holds SQL text or secrets.
    pub message: String,
    pub at: Instant,
}

impl fmt::Display for ConnectionFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection {}: {}", self.connection_id, self.message)
    }
}

/// Counters of one connection since the previous drain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionTotals {
    /// Client message batches answered by the server (each Query, Sync or command).
    pub round_trips: u64,
    /// Explicit transactions started.
    pub transactions: u64,
    /// Rows returned by later fetches from suspended portals (not in any event's `rows`).
    pub fetched_rows: u64,
}

/// Everything recorded between two drains.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Statements in completion order.
    pub statements: Vec<StatementEvent>,
    pub faults: Vec<ConnectionFault>,
    /// Per connection id, only connections that did something.
    pub connections: BTreeMap<u64, ConnectionTotals>,
}

impl Activity {
    /// Round trips of all connections.
    pub fn round_trips(&self) -> u64 {
        self.connections.values().map(|c| c.round_trips).sum()
    }

    /// Transactions of all connections.
    pub fn transactions(&self) -> u64 {
        self.connections.values().map(|c| c.transactions).sum()
    }

    /// Rows of all statements plus rows of later portal fetches.
    pub fn rows(&self) -> u64 {
        let statement_rows: u64 = self.statements.iter().filter_map(|s| s.rows).sum();
        statement_rows
            + self
                .connections
                .values()
                .map(|c| c.fetched_rows)
                .sum::<u64>()
    }
}

/// Statements, database time and rows since the previous
/// [`super::CountingProxy::take_totals`]: what a load probe divides by its
/// requests. Database time runs from a statement's send to its completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementTotals {
    pub statements: u64,
    pub database_time: Duration,
    pub rows: u64,
}

/// The shared store behind [`super::CountingProxy`].
#[derive(Debug)]
pub(crate) struct Recorder {
    started: Instant,
    activity: Mutex<Activity>,
    /// Nanoseconds after `started` plus one; zero means never.
    last_statement_ns: AtomicU64,
    last_activity_ns: AtomicU64,
    in_flight: AtomicU64,
    next_connection_id: AtomicU64,
    open_connections: AtomicU64,
    /// Off under load: statements are only added to the totals below, so
    /// recording costs a few atomic adds, not a lock and a vector push.
    keep_statements: AtomicBool,
    total_statements: AtomicU64,
    total_database_ns: AtomicU64,
    total_rows: AtomicU64,
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            started: Instant::now(),
            activity: Mutex::new(Activity::default()),
            last_statement_ns: AtomicU64::new(0),
            last_activity_ns: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            next_connection_id: AtomicU64::new(1),
            open_connections: AtomicU64::new(0),
            keep_statements: AtomicBool::new(true),
            total_statements: AtomicU64::new(0),
            total_database_ns: AtomicU64::new(0),
            total_rows: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Activity> {
        // A relay task that panicked mid-push leaves valid data behind.
        self.activity
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX - 1)
            + 1
    }

    fn instant(&self, stamp: u64) -> Option<Instant> {
        (stamp != 0).then(|| self.started + std::time::Duration::from_nanos(stamp - 1))
    }

    pub(crate) fn open_connection(&self) -> u64 {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn close_connection(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// A statement (or fetch) was sent upstream and awaits its completion.
    pub(crate) fn statement_sent(&self, at: Instant) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        // One relay thread writes the stamps, in time order: a store, not a
        // compare-and-swap loop, on every message.
        self.last_statement_ns
            .store(self.stamp(at), Ordering::Relaxed);
    }

    /// A sent statement or fetch got its answer, or will never get one.
    pub(crate) fn statement_resolved(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub(crate) fn touch(&self) {
        self.last_activity_ns
            .store(self.stamp(Instant::now()), Ordering::Relaxed);
    }

    /// Add a statement sent at `at`, completed now, to the totals.
    pub(crate) fn count_statement(&self, at: Instant, rows: Option<u64>) {
        let took = Instant::now().saturating_duration_since(at);
        self.total_statements.fetch_add(1, Ordering::Relaxed);
        self.total_database_ns.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.total_rows
            .fetch_add(rows.unwrap_or(0), Ordering::Relaxed);
    }

    /// Whether statements are kept for [`Recorder::drain`]: when not, a
    /// session need not even build the [`StatementEvent`] (nor copy its SQL).
    pub(crate) fn keeps_statements(&self) -> bool {
        self.keep_statements.load(Ordering::Relaxed)
    }

    /// Count a statement and, when statements are kept, keep it.
    pub(crate) fn record_statement(&self, event: StatementEvent) {
        self.count_statement(event.at, event.rows);
        if self.keeps_statements() {
            self.lock().statements.push(event);
        }
    }

    pub(crate) fn keep_statements(&self, keep: bool) {
        self.keep_statements.store(keep, Ordering::Relaxed);
    }

    pub(crate) fn take_totals(&self) -> StatementTotals {
        StatementTotals {
            statements: self.total_statements.swap(0, Ordering::Relaxed),
            database_time: Duration::from_nanos(self.total_database_ns.swap(0, Ordering::Relaxed)),
            rows: self.total_rows.swap(0, Ordering::Relaxed),
        }
    }

    pub(crate) fn record_totals(&self, connection_id: u64, totals: ConnectionTotals) {
        // Per-connection totals serve `drain`; under load nobody drains them.
        if totals == ConnectionTotals::default() || !self.keeps_statements() {
            return;
        }
        let mut activity = self.lock();
        let entry = activity.connections.entry(connection_id).or_default();
        entry.round_trips += totals.round_trips;
        entry.transactions += totals.transactions;
        entry.fetched_rows += totals.fetched_rows;
    }

    pub(crate) fn record_fault(&self, connection_id: u64, kind: FaultKind, message: String) {
        self.lock().faults.push(ConnectionFault {
            connection_id,
            kind,
            message,
            at: Instant::now(),
        });
    }

    pub(crate) fn drain(&self) -> Activity {
        std::mem::take(&mut *self.lock())
    }

    pub(crate) fn drain_faults(&self) -> Vec<ConnectionFault> {
        std::mem::take(&mut self.lock().faults)
    }

    pub(crate) fn last_statement_at(&self) -> Option<Instant> {
        self.instant(self.last_statement_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn last_activity_at(&self) -> Option<Instant> {
        self.instant(self.last_activity_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }
}
