//! The PostgreSQL side of the counting proxy (protocol 3.x).
//!
//! Startup: SSLRequest and GSSENCRequest are answered `N` (the relay must read
//! the statements), CancelRequest is forwarded on a fresh upstream connection,
//! the StartupMessage is forwarded and only its `user` and `database` are kept
//! for fault messages; password messages are relayed without being read.
//!
//! Counting: each statement of a simple `Query`, and the first `Execute` after
//! each `Bind` (later Executes of a suspended portal are fetches). Statement
//! names map to SQL from `Parse` (and SQL-level `PREPARE`), portals to
//! statements from `Bind`; both are forgotten on `Close`, `DEALLOCATE` and
//! `DISCARD ALL`. Completions pair with sent statements in order: CommandComplete
//! (row count from its tag or the DataRows seen), EmptyQueryResponse,
//! PortalSuspended, ErrorResponse; ReadyForQuery ends a round trip.
//!
//! Frames are walked by hand: they are `tag, u32 length, body`, and the few
//! bodies read here are null-terminated strings. Crates such as
//! postgres-protocol decode backend messages into owned buffers (an allocation
//! per message on the hot path) and do not decode frontend messages at all.

#[cfg(test)]
mod framing_tests;
mod session;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::recorder::FaultKind;
use super::relay::{Framer, Side, lock, relay_fault};
use super::{ConnectionContext, connect_upstream};
use session::Session;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// PostgreSQL's own limit on startup packets (MAX_STARTUP_PACKET_LENGTH).
const MAX_STARTUP_BYTES: usize = 10_000;
/// Frontend message types after startup.
const FRONTEND_TAGS: &[u8] = b"QPBEDCSHXdcfFp";
/// How long to wait for the server to close a forwarded cancel request.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves one client connection until either side closes.
pub(super) async fn serve(mut client: TcpStream, connection_id: u64, context: &ConnectionContext) {
    let recorder = &context.recorder;
    let fault = |kind, message: String| recorder.record_fault(connection_id, kind, message);
    let (packet, user, database) = match read_startup(&mut client).await {
        Ok(Startup::Forward {
            packet,
            user,
            database,
        }) => (packet, user, database),
        Ok(Startup::Cancel(packet)) => {
            forward_cancel(&packet, &context.upstream).await;
            return;
        }
        Ok(Startup::Closed) => return,
        Err(violation) => return fault(FaultKind::ClientProtocol, violation),
    };
    let mut upstream = match connect_upstream(&context.upstream).await {
        Ok(upstream) => upstream,
        Err(message) => {
            let answer = fatal_error("08006", &message);
            fault(FaultKind::UpstreamUnreachable, message);
            let _ = client.write_all(&answer).await;
            return;
        }
    };
    if let Err(error) = upstream.write_all(&packet).await {
        return fault(
            FaultKind::UpstreamClosed,
            format!(
                "upstream database {} closed the connection during login: {error}",
                context.upstream
            ),
        );
    }
    drop(packet);

    let session = Arc::new(Mutex::new(Session::new(
        connection_id,
        Arc::clone(recorder),
    )));
    let client_framer = ClientFramer {
        session: Arc::clone(&session),
        max_message_bytes: context.max_message_bytes,
        skip: 0,
    };
    let server_framer = ServerFramer {
        session: Arc::clone(&session),
        max_message_bytes: context.max_message_bytes,
        skip: 0,
        user,
        database,
        upstream: context.upstream.clone(),
    };
    let (ends, _sockets) = context
        .relay
        .relay(client, upstream, client_framer, server_framer)
        .await;
    let mut session = lock(&session);
    // A client saying goodbye after the server threw it out does not make the close expected.
    let expected_close =
        session.login_refused || (session.client_terminated && session.fatal_message.is_none());
    if let Some((kind, message)) = relay_fault(
        &ends,
        session.first_close,
        expected_close,
        session.fatal_message.is_some(),
        || session.upstream_closed_message(&context.upstream),
    ) {
        fault(kind, message);
    }
    session.finish();
}

enum Startup {
    Forward {
        packet: Vec<u8>,
        user: String,
        database: String,
    },
    Cancel(Vec<u8>),
    Closed,
}

/// Reads startup packets, answering TLS and GSS encryption requests with `N`.
async fn read_startup(client: &mut TcpStream) -> Result<Startup, String> {
    loop {
        let mut length_bytes = [0u8; 4];
        if client.read_exact(&mut length_bytes).await.is_err() {
            return Ok(Startup::Closed);
        }
        let length = u32::from_be_bytes(length_bytes) as usize;
        if !(8..=MAX_STARTUP_BYTES).contains(&length) {
            return Err(format!(
                "client sent a startup packet of {length} bytes (PostgreSQL allows 8 to {MAX_STARTUP_BYTES}): not the PostgreSQL protocol; connection closed"
            ));
        }
        let mut packet = vec![0u8; length];
        packet[..4].copy_from_slice(&length_bytes);
        if client.read_exact(&mut packet[4..]).await.is_err() {
            return Ok(Startup::Closed);
        }
        let code = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        match code {
            SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => {
                if client.write_all(b"N").await.is_err() {
                    return Ok(Startup::Closed);
                }
            }
            CANCEL_REQUEST_CODE => return Ok(Startup::Cancel(packet)),
            code if code >> 16 == 3 => {
                let (user, database) = startup_identity(&packet[8..]);
                return Ok(Startup::Forward {
                    packet,
                    user,
                    database,
                });
            }
            code => {
                return Err(format!(
                    "client sent startup code {code:#x}, which is not a PostgreSQL protocol version or request; connection closed"
                ));
            }
        }
    }
}

/// `user` and `database` from StartupMessage parameters; nothing else is kept.
fn startup_identity(parameters: &[u8]) -> (String, String) {
    let mut user = String::new();
    let mut database = None;
    let mut fields = parameters.split(|&b| b == 0);
    while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
        match key {
            b"user" => user = String::from_utf8_lossy(value).into_owned(),
            b"database" => database = Some(String::from_utf8_lossy(value).into_owned()),
            b"" => break,
            _ => {}
        }
    }
    let database = database.unwrap_or_else(|| user.clone());
    (user, database)
}

async fn forward_cancel(packet: &[u8], upstream: &str) {
    if let Ok(mut stream) = connect_upstream(upstream).await {
        let _ = stream.write_all(packet).await;
        let _ = stream.shutdown().await;
        // The server closes the connection without an answer.
        let mut sink = [0u8; 16];
        let _ = tokio::time::timeout(CLOSE_GRACE, stream.read(&mut sink)).await;
    }
}

/// A FATAL ErrorResponse for the client, so the application shows why.
fn fatal_error(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(message.len() + 32);
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message_bytes = Vec::with_capacity(body.len() + 5);
    message_bytes.push(b'E');
    message_bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    message_bytes.extend_from_slice(&body);
    message_bytes
}

/// Splits a null-terminated string off `bytes`.
fn cstr(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (bytes, &[]),
    }
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    // Valid UTF-8 is the rule: `from_utf8` checks it faster than the lossy
    // decoder walks it.
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Severity, SQLSTATE and message of an ErrorResponse body.
fn error_fields(body: &[u8]) -> (String, String, String) {
    let (mut severity, mut code, mut message) = (String::new(), String::new(), String::new());
    let mut rest = body;
    while let Some((&field, after)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let (value, after) = cstr(after);
        match field {
            b'V' => severity = text(value).into_owned(),
            b'S' if severity.is_empty() => severity = text(value).into_owned(),
            b'C' => code = text(value).into_owned(),
            b'M' => message = text(value).into_owned(),
            _ => {}
        }
        rest = after;
    }
    (severity, code, message)
}

fn frame_header(data: &[u8], max_message_bytes: usize, side: &str) -> Result<(u8, usize), String> {
    let tag = data[0];
    let length = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if length < 4 || length > max_message_bytes {
        return Err(format!(
            "{side} sent a message (type {:?}) of {length} bytes, outside 4..={max_message_bytes}: garbage or an oversized message; connection closed",
            tag as char
        ));
    }
    Ok((tag, 1 + length))
}

/// Walks client-to-server messages.
struct ClientFramer {
    session: Arc<Mutex<Session>>,
    max_message_bytes: usize,
    skip: usize,
}

impl Framer for ClientFramer {
    fn closed(&mut self) {
        lock(&self.session).first_close.get_or_insert(Side::Client);
    }

    fn advance(&mut self, data: &mut [u8]) -> Result<usize, String> {
        let mut position = self.skip.min(data.len());
        self.skip -= position;
        let mut session = lock(&self.session);
        while data.len() - position >= 5 {
            let (tag, total) = frame_header(&data[position..], self.max_message_bytes, "client")?;
            if !FRONTEND_TAGS.contains(&tag) {
                return Err(format!(
                    "client sent unknown message type {tag:#04x}: not the PostgreSQL protocol; connection closed"
                ));
            }
            if matches!(tag, b'd' | b'p' | b'D' | b'F' | b'f' | b'c') {
                // Bodies the proxy never reads: COPY data, passwords, Describe, function calls.
                if tag == b'F' {
                    session.round_trip_sent();
                }
                let available = total.min(data.len() - position);
                position += available;
                self.skip = total - available;
                continue;
            }
            if data.len() - position < total {
                break;
            }
            session.on_client_message(tag, &data[position + 5..position + total]);
            position += total;
        }
        Ok(position)
    }
}

/// Walks server-to-client messages.
struct ServerFramer {
    session: Arc<Mutex<Session>>,
    max_message_bytes: usize,
    skip: usize,
    user: String,
    database: String,
    upstream: String,
}

impl Framer for ServerFramer {
    fn closed(&mut self) {
        lock(&self.session).first_close.get_or_insert(Side::Server);
    }

    fn advance(&mut self, data: &mut [u8]) -> Result<usize, String> {
        let mut position = self.skip.min(data.len());
        self.skip -= position;
        let mut session = lock(&self.session);
        while data.len() - position >= 5 {
            let (tag, total) = frame_header(
                &data[position..],
                self.max_message_bytes,
                "upstream database",
            )?;
            if !matches!(tag, b'C' | b'E' | b'Z' | b'I' | b's') {
                if tag == b'D' {
                    session.data_rows += 1;
                }
                let available = total.min(data.len() - position);
                position += available;
                self.skip = total - available;
                continue;
            }
            if data.len() - position < total {
                break;
            }
            let body = &data[position + 5..position + total];
            if tag == b'E' && !session.ready {
                let (_, code, message) = error_fields(body);
                session.login_refused = true;
                session.recorder.record_fault(
                    session.connection_id,
                    FaultKind::LoginRefused,
                    format!(
                        "upstream database {} refused the login for user {:?} to database {:?}: {message} (SQLSTATE {code})",
                        self.upstream, self.user, self.database
                    ),
                );
            } else {
                session.on_server_message(tag, body);
            }
            position += total;
        }
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_identity_keeps_only_user_and_database() {
        let parameters = b"user\0app\0options\0-c secret=1\0database\0shop\0\0";
        assert_eq!(
            startup_identity(parameters),
            ("app".to_owned(), "shop".to_owned())
        );
    }

    #[test]
    fn oversized_and_short_lengths_are_rejected() {
        let mut frame = vec![b'Q'];
        frame.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(frame_header(&frame, 1 << 30, "client").is_err());
        frame[1..5].copy_from_slice(&3u32.to_be_bytes());
        assert!(frame_header(&frame, 1 << 30, "client").is_err());
    }
}
