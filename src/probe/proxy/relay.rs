//! The byte pump both protocols share: read a chunk, let a [`Framer`] walk the
//! complete messages in it (skipping bodies it does not need without buffering
//! them), write exactly those bytes to the other side unchanged, keep the rest.
//! One read and one write per chunk, no per-message allocation.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::recorder::{FaultKind, Recorder};

/// How long to wait for the other direction to end once one has.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Initial (and usual) buffer size of one direction.
const CHUNK_BYTES: usize = 64 * 1024;

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
}

/// Relays `from` to `to` through `framer` until one side closes or fails.
///
/// The halves are borrowed so that the caller closes the sockets only after it
/// recorded why the relay ended (a test or probe that sees the close finds the fault).
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    framer: &mut impl Framer,
    recorder: &Recorder,
) -> PumpEnd {
    let mut buffer: Vec<u8> = vec![0; CHUNK_BYTES];
    let mut start = 0;
    let mut end = 0;
    loop {
        if end == buffer.len() {
            if start > 0 {
                buffer.copy_within(start..end, 0);
                end -= start;
                start = 0;
            } else {
                // One message larger than the buffer that the framer must see whole.
                buffer.resize(buffer.len() * 2, 0);
            }
        }
        let read = match from.read(&mut buffer[end..]).await {
            Ok(0) => {
                framer.closed();
                let _ = to.shutdown().await;
                return PumpEnd::Closed;
            }
            Ok(read) => read,
            Err(error) => {
                framer.closed();
                return PumpEnd::ReadFailed(error);
            }
        };
        end += read;
        recorder.touch();
        let forward = match framer.advance(&mut buffer[start..end]) {
            Ok(forward) => forward,
            Err(violation) => return PumpEnd::Violation(violation),
        };
        if forward > 0 {
            if to.write_all(&buffer[start..start + forward]).await.is_err() {
                return PumpEnd::WriteFailed;
            }
            start += forward;
        }
        if start == end {
            start = 0;
            end = 0;
            if buffer.len() > CHUNK_BYTES {
                buffer.truncate(CHUNK_BYTES);
                buffer.shrink_to_fit();
            }
        }
    }
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

/// Runs both directions until both end; a client protocol violation ends the
/// connection at once, otherwise the other direction gets a grace period.
async fn relay_both(
    to_server: impl Future<Output = PumpEnd>,
    to_client: impl Future<Output = PumpEnd>,
) -> RelayEnds {
    tokio::pin!(to_server, to_client);
    tokio::select! {
        end = &mut to_server => {
            if matches!(end, PumpEnd::Violation(_)) {
                return RelayEnds { to_server: Some(end), to_client: None };
            }
            let to_client = tokio::time::timeout(CLOSE_GRACE, &mut to_client).await.ok();
            RelayEnds { to_server: Some(end), to_client }
        }
        end = &mut to_client => {
            let to_server = tokio::time::timeout(CLOSE_GRACE, &mut to_server).await.ok();
            RelayEnds { to_server, to_client: Some(end) }
        }
    }
}

/// The four halves of a relayed connection: the sockets close when it is dropped.
pub(super) struct OpenSockets {
    _halves: (OwnedReadHalf, OwnedWriteHalf, OwnedReadHalf, OwnedWriteHalf),
}

/// Relays client and upstream through their framers until both directions
/// end. The sockets stay open (in [`OpenSockets`]) until the caller has
/// recorded why the relay ended and drops them.
pub(super) async fn relay_connection(
    client: TcpStream,
    upstream: TcpStream,
    client_framer: &mut impl Framer,
    server_framer: &mut impl Framer,
    recorder: &Recorder,
) -> (RelayEnds, OpenSockets) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = upstream.into_split();
    let to_server = pump(&mut client_read, &mut server_write, client_framer, recorder);
    let to_client = pump(&mut server_read, &mut client_write, server_framer, recorder);
    let ends = relay_both(to_server, to_client).await;
    let sockets = OpenSockets {
        _halves: (client_read, client_write, server_read, server_write),
    };
    (ends, sockets)
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
