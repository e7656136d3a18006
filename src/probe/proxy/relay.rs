//! The byte pump both protocols share: read a chunk, let a [`Framer`] walk the
//! complete messages in it (skipping bodies it does not need without buffering
//! them), write exactly those bytes to the other side unchanged, keep the rest.
//! One read and one write per chunk, no per-message allocation.
//!
//! Logged-in connections are relayed by one event loop per proxy, on its own
//! thread ([`RelayLoop`]): readiness from epoll (through mio, edge-triggered,
//! both sockets registered once for reading and writing), then plain reads and
//! writes until each direction would block. That is pgbouncer's shape, and it
//! keeps the relay's CPU per transaction near pgbouncer's under load, where a
//! general task scheduler (tokio) cost about twice its user time and a thread
//! per direction lost most of the throughput to wake-ups (docs/load.md). The
//! login before it stays on the proxy's tokio runtime.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::oneshot;

use super::recorder::{FaultKind, Recorder};

/// How long to wait for the other direction to end once one has.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Initial (and usual) buffer size of one direction.
const CHUNK_BYTES: usize = 64 * 1024;

/// The loop's own token: new connections or a stop request.
const WAKE: Token = Token(usize::MAX);

/// Reads one direction may do before the loop turns to other connections
/// (a large result streaming between two fast peers would otherwise hold it).
const READS_PER_TURN: u32 = 16;

/// Walks protocol messages in one direction.
pub(super) trait Framer {
    /// Inspects the start of `data` and returns how many bytes may be forwarded now:
    /// whole messages, plus any part of a body the framer does not need to see.
    /// An `Err` names a protocol violation; the connection is then closed.
    /// `data` is mutable for the one documented rewrite (MySQL's TLS capability bit).
    fn advance(&mut self, data: &mut [u8]) -> Result<usize, String>;

    /// The reading side closed (or reset) its connection.
    fn closed(&mut self);
}

/// How a pump ended.
#[derive(Debug)]
pub(super) enum PumpEnd {
    /// The reading side closed its connection cleanly.
    Closed,
    /// The framer rejected the bytes.
    Violation(String),
    /// Reading failed (connection reset by the reading side's peer).
    ReadFailed(std::io::Error),
    /// Writing to the other side failed (it went away).
    WriteFailed,
    /// The relay could not start or went wrong (the proxy is stopping, a
    /// socket could not be handed over, a bug): why, and what to do.
    RelayFailed(String),
}

/// Which side of a relayed connection closed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Client,
    Server,
}

/// How both directions of a connection ended (`None`: still running when abandoned).
pub(super) struct RelayEnds {
    pub to_server: Option<PumpEnd>,
    pub to_client: Option<PumpEnd>,
}

impl RelayEnds {
    /// The relay could not start or went wrong, for `reason`.
    fn failed(reason: String) -> RelayEnds {
        RelayEnds {
            to_server: Some(PumpEnd::RelayFailed(reason)),
            to_client: None,
        }
    }
}

/// The two sockets of a finished relay: they close when it is dropped, after
/// the caller recorded why the relay ended (a test or probe that sees the
/// close finds the fault).
pub(super) struct OpenSockets {
    _client: Option<TcpStream>,
    _upstream: Option<TcpStream>,
}

type BoxedFramer = Box<dyn Framer + Send>;

/// A logged-in connection handed to the loop.
struct Job {
    client: TcpStream,
    upstream: TcpStream,
    client_framer: BoxedFramer,
    server_framer: BoxedFramer,
    done: oneshot::Sender<(RelayEnds, OpenSockets)>,
}

/// Where the protocol handlers hand their logged-in connections.
#[derive(Debug)]
pub(super) struct RelayHandle {
    jobs: mpsc::Sender<Job>,
    waker: Arc<Waker>,
}

impl RelayHandle {
    /// Relays client and upstream through their framers until both directions
    /// end (or one ends and the other does not within a grace period). No
    /// framer runs after this returns; the sockets close when the returned
    /// [`OpenSockets`] is dropped.
    pub(super) async fn relay(
        &self,
        client: tokio::net::TcpStream,
        upstream: tokio::net::TcpStream,
        client_framer: impl Framer + Send + 'static,
        server_framer: impl Framer + Send + 'static,
    ) -> (RelayEnds, OpenSockets) {
        let not_started = |reason: String| {
            let sockets = OpenSockets {
                _client: None,
                _upstream: None,
            };
            (RelayEnds::failed(reason), sockets)
        };
        let (client, upstream) = match (client.into_std(), upstream.into_std()) {
            (Ok(client), Ok(upstream)) => {
                (TcpStream::from_std(client), TcpStream::from_std(upstream))
            }
            (Err(error), _) | (_, Err(error)) => return not_started(out_of_descriptors(&error)),
        };
        let (done, finished) = oneshot::channel();
        let job = Job {
            client,
            upstream,
            client_framer: Box::new(client_framer),
            server_framer: Box::new(server_framer),
            done,
        };
        if self.jobs.send(job).is_err() {
            return not_started("the proxy is stopping".to_owned());
        }
        // A failed wake-up is not expected (an eventfd write); the job is
        // queued either way and is taken at the loop's next wake.
        let _ = self.waker.wake();
        match finished.await {
            Ok(finished) => finished,
            Err(_) => not_started("the proxy stopped".to_owned()),
        }
    }
}

/// The relay thread of one proxy. Dropping it stops the loop and closes every
/// connection it holds.
pub(super) struct RelayLoop {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl RelayLoop {
    /// Starts the loop; connections go to it through the returned handle.
    pub(super) fn start(recorder: Arc<Recorder>) -> std::io::Result<(RelayLoop, RelayHandle)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (jobs, received) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("perfguard-relay".to_owned())
                .spawn(move || run_loop(poll, received, &stop, &recorder))?
        };
        let handle = RelayHandle {
            jobs,
            waker: Arc::clone(&waker),
        };
        let relay_loop = RelayLoop {
            stop,
            waker,
            thread: Some(thread),
        };
        Ok((relay_loop, handle))
    }
}

impl Drop for RelayLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One direction of a connection: bytes read, how far the framer has
/// approved them, how far they are written.
struct Direction {
    framer: BoxedFramer,
    buffer: Vec<u8>,
    /// First byte not yet written to the other side.
    start: usize,
    /// End of the bytes the framer approved (`start..framed` waits to be written).
    framed: usize,
    /// End of the bytes read.
    end: usize,
    /// The reading socket may have bytes (an event said so and no read since came back short).
    readable: bool,
    /// The reading socket's peer closed or failed: reads go on until they say
    /// so, since a short read may have taken the last bytes and left the close
    /// (edge-triggered, no further event comes for it).
    hung_up: bool,
    ended: Option<PumpEnd>,
}

/// Where one direction stopped.
enum Pumped {
    /// Waiting for an event (a read or write would block).
    Waiting,
    /// It used its turn with bytes still to read: drive it again soon.
    Yielded,
    Ended(PumpEnd),
}

impl Direction {
    fn new(framer: BoxedFramer) -> Direction {
        Direction {
            framer,
            buffer: vec![0; CHUNK_BYTES],
            start: 0,
            framed: 0,
            end: 0,
            readable: true,
            hung_up: false,
            ended: None,
        }
    }

    /// Moves bytes from `from` to `to` until either would block, the direction
    /// ends, or it has had its turn.
    fn pump(&mut self, from: &TcpStream, to: &TcpStream, recorder: &Recorder) -> Pumped {
        let mut reads = 0;
        loop {
            while self.start < self.framed {
                match (&*to).write(&self.buffer[self.start..self.framed]) {
                    Ok(0) => return Pumped::Ended(PumpEnd::WriteFailed),
                    Ok(written) => self.start += written,
                    Err(error) if error.kind() == ErrorKind::WouldBlock => return Pumped::Waiting,
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Pumped::Ended(PumpEnd::WriteFailed),
                }
            }
            if self.start == self.end {
                self.start = 0;
                self.framed = 0;
                self.end = 0;
                if self.buffer.len() > CHUNK_BYTES {
                    self.buffer.truncate(CHUNK_BYTES);
                    self.buffer.shrink_to_fit();
                }
            }
            if !self.readable {
                return Pumped::Waiting;
            }
            if reads == READS_PER_TURN {
                return Pumped::Yielded;
            }
            reads += 1;
            if self.end == self.buffer.len() {
                if self.start > 0 {
                    self.buffer.copy_within(self.start..self.end, 0);
                    self.framed -= self.start;
                    self.end -= self.start;
                    self.start = 0;
                } else {
                    // One message larger than the buffer that the framer must see whole.
                    self.buffer.resize(self.buffer.len() * 2, 0);
                }
            }
            let space = self.buffer.len() - self.end;
            match (&*from).read(&mut self.buffer[self.end..]) {
                Ok(0) => {
                    self.framer.closed();
                    let _ = to.shutdown(Shutdown::Write);
                    return Pumped::Ended(PumpEnd::Closed);
                }
                Ok(read) => {
                    // A short read took all there was: the next bytes bring a
                    // new event (but a close that came with them does not).
                    self.readable = read == space || self.hung_up;
                    self.end += read;
                    recorder.touch();
                    match self.framer.advance(&mut self.buffer[self.framed..self.end]) {
                        Ok(forward) => self.framed += forward,
                        Err(violation) => return Pumped::Ended(PumpEnd::Violation(violation)),
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Pumped::Waiting;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    self.framer.closed();
                    return Pumped::Ended(PumpEnd::ReadFailed(error));
                }
            }
        }
    }
}

/// A connection in the loop.
struct Connection {
    client: TcpStream,
    upstream: TcpStream,
    to_server: Direction,
    to_client: Direction,
    /// When one direction ended and the other has not: the end of its grace period.
    deadline: Option<Instant>,
    /// Already queued to be driven after this batch of events.
    scheduled: bool,
    done: oneshot::Sender<(RelayEnds, OpenSockets)>,
}

/// What driving a connection left.
#[derive(Debug, PartialEq, Eq)]
enum Driven {
    Waiting,
    /// A direction used its turn with bytes still to read.
    Yielded,
    Over,
}

impl Connection {
    /// Runs both directions as far as their turn goes.
    fn drive(&mut self, recorder: &Recorder) -> Driven {
        let mut yielded = false;
        if self.to_server.ended.is_none() {
            match self.to_server.pump(&self.client, &self.upstream, recorder) {
                Pumped::Waiting => {}
                Pumped::Yielded => yielded = true,
                Pumped::Ended(end) => self.to_server.ended = Some(end),
            }
        }
        if matches!(self.to_server.ended, Some(PumpEnd::Violation(_))) {
            // A client that breaks the protocol is cut off at once.
            return Driven::Over;
        }
        if self.to_client.ended.is_none() {
            match self.to_client.pump(&self.upstream, &self.client, recorder) {
                Pumped::Waiting => {}
                Pumped::Yielded => yielded = true,
                Pumped::Ended(end) => self.to_client.ended = Some(end),
            }
        }
        match (&self.to_server.ended, &self.to_client.ended) {
            (Some(_), Some(_)) => return Driven::Over,
            (None, None) => {}
            _ => {
                self.deadline
                    .get_or_insert_with(|| Instant::now() + CLOSE_GRACE);
            }
        }
        if yielded {
            Driven::Yielded
        } else {
            Driven::Waiting
        }
    }

    /// Hands the ends (or the reason the relay failed) and the sockets back
    /// to the connection's handler.
    fn finish(self, poll: &Poll, failed: Option<String>) {
        let Connection {
            mut client,
            mut upstream,
            to_server,
            to_client,
            done,
            ..
        } = self;
        let _ = poll.registry().deregister(&mut client);
        let _ = poll.registry().deregister(&mut upstream);
        let ends = match failed {
            Some(reason) => RelayEnds::failed(reason),
            None => RelayEnds {
                to_server: to_server.ended,
                to_client: to_client.ended,
            },
        };
        let sockets = OpenSockets {
            _client: Some(client),
            _upstream: Some(upstream),
        };
        // A handler that is gone (the proxy is stopping) drops the sockets here.
        let _ = done.send((ends, sockets));
    }
}

fn out_of_descriptors(error: &std::io::Error) -> String {
    format!("{error} (out of file descriptors? raise `ulimit -n` or lower the app's pool size)")
}

/// Token of a connection's socket: slot * 2, plus 1 for the upstream side.
fn token(slot: usize, upstream: bool) -> Token {
    Token(slot * 2 + usize::from(upstream))
}

/// The slot and side a [`token`] names.
fn slot_of(token: Token) -> (usize, bool) {
    (token.0 / 2, token.0 % 2 == 1)
}

fn run_loop(mut poll: Poll, jobs: mpsc::Receiver<Job>, stop: &AtomicBool, recorder: &Recorder) {
    let mut slots: Vec<Option<Connection>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(256);
    // Connections to drive after the next poll: named by an event, new, or yielded.
    let mut to_drive: Vec<usize> = Vec::new();
    let mut driving: Vec<usize> = Vec::new();
    loop {
        let now = Instant::now();
        let timeout = if to_drive.is_empty() {
            slots
                .iter()
                .flatten()
                .filter_map(|connection| connection.deadline)
                .min()
                .map(|deadline| deadline.saturating_duration_since(now))
        } else {
            // A yielded connection still has bytes: only look for news.
            Some(Duration::ZERO)
        };
        if let Err(error) = poll.poll(&mut events, timeout)
            && error.kind() != ErrorKind::Interrupted
        {
            // Not expected from epoll_wait; leaving ends every connection.
            return;
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        for event in &events {
            if event.token() == WAKE {
                while let Ok(job) = jobs.try_recv() {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    if let Some(connection) = admit(&poll, job, slot) {
                        slots[slot] = Some(connection);
                        to_drive.push(slot);
                    } else {
                        free.push(slot);
                    }
                }
                continue;
            }
            let (slot, upstream) = slot_of(event.token());
            let Some(connection) = slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let direction = if upstream {
                &mut connection.to_client
            } else {
                &mut connection.to_server
            };
            if event.is_readable() {
                direction.readable = true;
            }
            if event.is_read_closed() || event.is_error() {
                direction.readable = true;
                direction.hung_up = true;
            }
            if !connection.scheduled {
                connection.scheduled = true;
                to_drive.push(slot);
            }
        }
        // Drive every connection named; those whose relay is over leave.
        // Two lists swapped each turn: yielded connections queue for the next
        // turn without an allocation on this path.
        std::mem::swap(&mut to_drive, &mut driving);
        for slot in driving.drain(..) {
            let Some(connection) = slots[slot].as_mut() else {
                continue;
            };
            connection.scheduled = false;
            // A framer that panics (a perfguard bug) ends its own connection only.
            let driven = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                connection.drive(recorder)
            }));
            match driven {
                Ok(Driven::Waiting) => {}
                Ok(Driven::Yielded) => {
                    connection.scheduled = true;
                    to_drive.push(slot);
                }
                Ok(Driven::Over) => {
                    if let Some(connection) = slots[slot].take() {
                        connection.finish(&poll, None);
                    }
                    free.push(slot);
                }
                Err(_) => {
                    if let Some(connection) = slots[slot].take() {
                        let failed = "the relay failed on this connection (a perfguard bug: please report it with the panic message above)";
                        connection.finish(&poll, Some(failed.to_owned()));
                    }
                    free.push(slot);
                }
            }
        }
        let now = Instant::now();
        for (slot, entry) in slots.iter_mut().enumerate() {
            let expired = entry
                .as_ref()
                .and_then(|connection| connection.deadline)
                .is_some_and(|deadline| deadline <= now);
            if expired && let Some(connection) = entry.take() {
                connection.finish(&poll, None);
                to_drive.retain(|&queued| queued != slot);
                free.push(slot);
            }
        }
    }
}

/// Registers a new connection's sockets; `None` (after telling its handler) if that fails.
fn admit(poll: &Poll, job: Job, slot: usize) -> Option<Connection> {
    let Job {
        mut client,
        mut upstream,
        client_framer,
        server_framer,
        done,
    } = job;
    let interest = Interest::READABLE | Interest::WRITABLE;
    let registered = poll
        .registry()
        .register(&mut client, token(slot, false), interest)
        .and_then(|()| {
            poll.registry()
                .register(&mut upstream, token(slot, true), interest)
        });
    if let Err(error) = registered {
        let _ = poll.registry().deregister(&mut client);
        let sockets = OpenSockets {
            _client: Some(client),
            _upstream: Some(upstream),
        };
        let _ = done.send((RelayEnds::failed(out_of_descriptors(&error)), sockets));
        return None;
    }
    Some(Connection {
        client,
        upstream,
        to_server: Direction::new(client_framer),
        to_client: Direction::new(server_framer),
        deadline: None,
        scheduled: true,
        done,
    })
}

/// Locks a connection's session, recovering it from a poisoned lock.
pub(super) fn lock<T>(session: &Mutex<T>) -> MutexGuard<'_, T> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fault a finished relay shows, if any. `expected_close` is true when the
/// client said goodbye or the login was refused (already recorded);
/// `server_ended_session` when the server announced it is closing (a FATAL error).
pub(super) fn relay_fault(
    ends: &RelayEnds,
    first_close: Option<Side>,
    expected_close: bool,
    server_ended_session: bool,
    upstream_closed_message: impl FnOnce() -> String,
) -> Option<(FaultKind, String)> {
    if let Some(PumpEnd::RelayFailed(reason)) = &ends.to_server {
        return Some((
            FaultKind::UpstreamUnreachable,
            format!("the proxy could not relay this connection: {reason}"),
        ));
    }
    if let Some(PumpEnd::Violation(violation)) = &ends.to_server {
        return Some((FaultKind::ClientProtocol, violation.clone()));
    }
    if let Some(PumpEnd::Violation(violation)) = &ends.to_client {
        return Some((FaultKind::UpstreamProtocol, violation.clone()));
    }
    let upstream_first = server_ended_session
        || first_close == Some(Side::Server)
        || matches!(ends.to_server, Some(PumpEnd::WriteFailed));
    if expected_close || !upstream_first {
        return None;
    }
    let mut message = upstream_closed_message();
    if let Some(PumpEnd::ReadFailed(error)) = &ends.to_client {
        message.push_str(&format!(" ({error})"));
    }
    Some((FaultKind::UpstreamClosed, message))
}
