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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::recorder::{ConnectionTotals, FaultKind, Recorder, StatementEvent};
use super::relay::{Framer, Side, pump, relay_both, relay_fault};
use super::split::split_statements;
use super::{ConnectionContext, DbKind, connect_upstream};
use crate::probe::fingerprint::fingerprint;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// PostgreSQL's own limit on startup packets (MAX_STARTUP_PACKET_LENGTH).
const MAX_STARTUP_BYTES: usize = 10_000;
/// Frontend message types after startup.
const FRONTEND_TAGS: &[u8] = b"QPBEDCSHXdcfFp";
/// SQL recorded for a Bind to a statement the proxy never saw prepared.
const UNKNOWN_STATEMENT_SQL: &str = "EXECUTE unknown_prepared_statement";
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
            let _ = client.write_all(&fatal_error("08006", &message)).await;
            return fault(FaultKind::UpstreamUnreachable, message);
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
    let mut client_framer = ClientFramer {
        session: Arc::clone(&session),
        max_message_bytes: context.max_message_bytes,
        skip: 0,
    };
    let mut server_framer = ServerFramer {
        session: Arc::clone(&session),
        max_message_bytes: context.max_message_bytes,
        skip: 0,
        user,
        database,
        upstream: context.upstream.clone(),
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = upstream.into_split();
    let to_server = pump(client_read, server_write, &mut client_framer, recorder);
    let to_client = pump(server_read, client_write, &mut server_framer, recorder);
    let ends = relay_both(to_server, to_client).await;
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

fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    String::from_utf8_lossy(bytes)
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

/// A statement sent upstream, waiting for its completion.
enum Pending {
    Statement {
        sql: Arc<str>,
        at: Instant,
        round_trip: u64,
    },
    /// A later Execute of an already executed portal.
    Fetch,
    /// The end of a round trip (Sync, Query or FunctionCall): a ReadyForQuery answers it.
    Sync,
}

struct Portal {
    sql: Arc<str>,
    executed: bool,
}

/// Per-connection protocol state shared by both directions.
struct Session {
    connection_id: u64,
    recorder: Arc<Recorder>,
    /// The first ReadyForQuery arrived: login is over.
    ready: bool,
    login_refused: bool,
    client_terminated: bool,
    /// Which side closed its connection first.
    first_close: Option<Side>,
    statements: HashMap<String, Arc<str>>,
    portals: HashMap<String, Portal>,
    pending: VecDeque<Pending>,
    /// DataRows since the last completion.
    data_rows: u64,
    in_transaction: bool,
    round_trip: u64,
    totals: ConnectionTotals,
    /// Message of the last FATAL error the server sent, to explain a close.
    fatal_message: Option<String>,
    /// The statement a FATAL error interrupted (the server closes right after).
    interrupted: Option<Arc<str>>,
}

impl Session {
    fn new(connection_id: u64, recorder: Arc<Recorder>) -> Session {
        Session {
            connection_id,
            recorder,
            ready: false,
            login_refused: false,
            client_terminated: false,
            first_close: None,
            statements: HashMap::new(),
            portals: HashMap::new(),
            pending: VecDeque::new(),
            data_rows: 0,
            in_transaction: false,
            round_trip: 0,
            totals: ConnectionTotals::default(),
            fatal_message: None,
            interrupted: None,
        }
    }

    fn round_trip_sent(&mut self) {
        self.round_trip += 1;
        self.totals.round_trips += 1;
        self.pending.push_back(Pending::Sync);
    }

    fn statement_sent(&mut self, sql: Arc<str>) {
        let at = Instant::now();
        self.recorder.statement_sent(at);
        self.pending.push_back(Pending::Statement {
            sql,
            at,
            // The round trip this statement belongs to ends with the next Sync.
            round_trip: self.round_trip + 1,
        });
    }

    fn on_client_message(&mut self, tag: u8, body: &[u8]) {
        match tag {
            b'Q' => {
                let (sql, _) = cstr(body);
                let sql = text(sql);
                for statement in split_statements(&sql, DbKind::Postgres) {
                    self.statement_sent(Arc::from(statement));
                }
                self.round_trip_sent();
            }
            b'P' => {
                let (name, rest) = cstr(body);
                let (sql, _) = cstr(rest);
                self.statements
                    .insert(text(name).into_owned(), Arc::from(text(sql).as_ref()));
            }
            b'B' => {
                let (portal, rest) = cstr(body);
                let (statement, _) = cstr(rest);
                let sql = match self.statements.get(text(statement).as_ref()) {
                    Some(sql) => Arc::clone(sql),
                    None => Arc::from(UNKNOWN_STATEMENT_SQL),
                };
                self.portals.insert(
                    text(portal).into_owned(),
                    Portal {
                        sql,
                        executed: false,
                    },
                );
            }
            b'E' => {
                let (portal, _) = cstr(body);
                match self.portals.get_mut(text(portal).as_ref()) {
                    Some(portal) if !portal.executed => {
                        portal.executed = true;
                        let sql = Arc::clone(&portal.sql);
                        self.statement_sent(sql);
                    }
                    Some(_) => {
                        self.recorder.statement_sent(Instant::now());
                        self.pending.push_back(Pending::Fetch);
                    }
                    None => self.statement_sent(Arc::from(UNKNOWN_STATEMENT_SQL)),
                }
            }
            b'C' => {
                let (name, _) = cstr(body.get(1..).unwrap_or_default());
                let name = text(name);
                match body.first() {
                    Some(b'S') => self.statements.remove(name.as_ref()),
                    _ => self.portals.remove(name.as_ref()).map(|portal| portal.sql),
                };
            }
            b'S' => self.round_trip_sent(),
            b'X' => self.client_terminated = true,
            _ => {}
        }
    }

    fn on_server_message(&mut self, tag: u8, body: &[u8]) {
        match tag {
            b'C' => {
                let (tag_text, _) = cstr(body);
                self.complete(Completion::Command(&text(tag_text)));
            }
            b'I' => self.complete(Completion::Empty),
            b's' => self.complete(Completion::Suspended),
            b'E' => {
                let (severity, _, message) = error_fields(body);
                if severity == "FATAL" || severity == "PANIC" {
                    self.fatal_message = Some(message);
                    if let Some(Pending::Statement { sql, .. }) = self.pending.front() {
                        self.interrupted = Some(Arc::clone(sql));
                    }
                }
                self.complete(Completion::Failed);
            }
            b'Z' => {
                self.ready = true;
                self.end_round_trip(body.first().copied().unwrap_or(b'I'));
            }
            _ => {}
        }
    }

    /// Pairs a completion with the oldest statement or fetch of the current round trip.
    fn complete(&mut self, completion: Completion<'_>) {
        if !matches!(
            self.pending.front(),
            Some(Pending::Statement { .. } | Pending::Fetch)
        ) {
            // An error of Parse/Bind/Sync itself, or a message of no statement.
            self.data_rows = 0;
            return;
        }
        let pending = self.pending.pop_front().expect("front checked");
        self.recorder.statement_resolved();
        let rows = match completion {
            Completion::Command(tag) => rows_of(tag, self.data_rows),
            Completion::Suspended => Some(self.data_rows),
            Completion::Empty | Completion::Failed => None,
        };
        self.data_rows = 0;
        let Pending::Statement {
            sql,
            at,
            round_trip,
        } = pending
        else {
            self.totals.fetched_rows += rows.unwrap_or(0);
            return;
        };
        let failed = matches!(completion, Completion::Failed);
        self.record(&sql, at, round_trip, rows, !failed, failed);
        if let Completion::Command(tag) = completion {
            self.after_command(tag, &sql);
        }
    }

    fn record(
        &self,
        sql: &str,
        at: Instant,
        round_trip: u64,
        rows: Option<u64>,
        confirmed: bool,
        failed: bool,
    ) {
        self.recorder.record_statement(StatementEvent {
            connection_id: self.connection_id,
            sql: sql.to_owned(),
            rows,
            confirmed,
            failed,
            in_transaction: self.in_transaction,
            round_trip,
            at,
        });
    }

    /// Transaction and prepared-statement bookkeeping from a CommandComplete tag.
    fn after_command(&mut self, tag: &str, sql: &str) {
        match tag {
            "BEGIN" => {
                if !self.in_transaction {
                    self.totals.transactions += 1;
                }
                self.in_transaction = true;
            }
            "COMMIT" => self.in_transaction = false,
            "ROLLBACK" if !is_rollback_to_savepoint(sql) => self.in_transaction = false,
            "PREPARE" => {
                if let Some((name, query)) = sql_prepare(sql) {
                    self.statements.insert(name, Arc::from(query));
                }
            }
            "DEALLOCATE" => {
                if let Some(name) = sql_deallocate_name(sql) {
                    self.statements.remove(&name);
                }
            }
            "DEALLOCATE ALL" => self.statements.clear(),
            "DISCARD ALL" => {
                self.statements.clear();
                self.portals.clear();
            }
            _ => {}
        }
    }

    /// A ReadyForQuery: statements of this round trip still unanswered were
    /// skipped after an error; the status byte says whether a transaction is open.
    fn end_round_trip(&mut self, status: u8) {
        while let Some(pending) = self.pending.pop_front() {
            match pending {
                Pending::Sync => break,
                Pending::Fetch => self.recorder.statement_resolved(),
                Pending::Statement {
                    sql,
                    at,
                    round_trip,
                } => {
                    self.recorder.statement_resolved();
                    self.record(&sql, at, round_trip, None, false, false);
                }
            }
        }
        self.data_rows = 0;
        let in_transaction = status != b'I';
        if in_transaction && !self.in_transaction {
            self.totals.transactions += 1;
        }
        self.in_transaction = in_transaction;
        self.recorder
            .record_totals(self.connection_id, std::mem::take(&mut self.totals));
    }

    /// Why the server's side closed, for the fault message.
    fn upstream_closed_message(&self, upstream: &str) -> String {
        let unanswered = self
            .pending
            .iter()
            .filter(|p| matches!(p, Pending::Statement { .. }))
            .count();
        let reason = self
            .fatal_message
            .as_deref()
            .map(|message| format!(" (server said: {message})"))
            .unwrap_or_default();
        if !self.ready {
            return format!(
                "upstream database {upstream} closed the connection during login{reason}"
            );
        }
        let first = self.interrupted.as_ref().or_else(|| {
            self.pending.iter().find_map(|p| match p {
                Pending::Statement { sql, .. } => Some(sql),
                _ => None,
            })
        });
        match first {
            Some(sql) => format!(
                "upstream database {upstream} closed the connection mid-query{reason}: {} statement(s) unanswered or interrupted, first `{}`",
                unanswered + usize::from(self.interrupted.is_some()),
                fingerprint(sql, DbKind::Postgres.dialect()).readable
            ),
            None => {
                format!("upstream database {upstream} closed the connection while idle{reason}")
            }
        }
    }

    /// The connection ended: whatever is still pending was never answered.
    fn finish(&mut self) {
        while let Some(pending) = self.pending.pop_front() {
            match pending {
                Pending::Sync => {}
                Pending::Fetch => self.recorder.statement_resolved(),
                Pending::Statement {
                    sql,
                    at,
                    round_trip,
                } => {
                    self.recorder.statement_resolved();
                    self.record(&sql, at, round_trip, None, false, false);
                }
            }
        }
        self.recorder
            .record_totals(self.connection_id, std::mem::take(&mut self.totals));
    }
}

enum Completion<'a> {
    Command(&'a str),
    Empty,
    Suspended,
    Failed,
}

/// Rows of a completed command: the DataRows seen, else the count in its tag.
fn rows_of(tag: &str, data_rows: u64) -> Option<u64> {
    if data_rows > 0 {
        return Some(data_rows);
    }
    let mut words = tag.split(' ');
    match words.next() {
        Some("SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" | "FETCH" | "MOVE") => {
            tag.rsplit(' ').next().and_then(|count| count.parse().ok())
        }
        _ => None,
    }
}

fn upper_words(sql: &str, count: usize) -> Vec<String> {
    sql.split_whitespace()
        .take(count)
        .map(str::to_ascii_uppercase)
        .collect()
}

fn is_rollback_to_savepoint(sql: &str) -> bool {
    upper_words(sql, 3).iter().any(|word| word == "TO")
}

/// Folds an SQL identifier as PostgreSQL does: quoted kept, unquoted lower-cased.
fn sql_identifier(word: &str) -> String {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => word.to_lowercase(),
    }
}

/// `PREPARE name [(types)] AS query` -> (name, query).
fn sql_prepare(sql: &str) -> Option<(String, &str)> {
    let rest = sql.trim_start().get("PREPARE".len()..)?.trim_start();
    let name_end = rest.find(|c: char| c.is_whitespace() || c == '(')?;
    let name = sql_identifier(&rest[..name_end]);
    let upper = rest.to_ascii_uppercase();
    let as_at = upper.find(" AS ").or_else(|| upper.find(")AS "))?;
    Some((name, rest[as_at + 4..].trim()))
}

/// `DEALLOCATE [PREPARE] name` -> name.
fn sql_deallocate_name(sql: &str) -> Option<String> {
    let mut words = sql.split_whitespace().skip(1);
    let mut word = words.next()?;
    if word.eq_ignore_ascii_case("PREPARE") {
        word = words.next()?;
    }
    Some(sql_identifier(word.trim_end_matches(';')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_data_rows_or_the_tag() {
        assert_eq!(rows_of("SELECT 3", 0), Some(3));
        assert_eq!(rows_of("SELECT 2", 5), Some(5));
        assert_eq!(rows_of("INSERT 0 4", 0), Some(4));
        assert_eq!(rows_of("UPDATE 1", 0), Some(1));
        assert_eq!(rows_of("CREATE TABLE", 0), None);
    }

    #[test]
    fn sql_level_prepare_and_deallocate_names() {
        assert_eq!(
            sql_prepare("PREPARE Get_Product (int) AS SELECT * FROM p WHERE id = $1"),
            Some(("get_product".to_owned(), "SELECT * FROM p WHERE id = $1"))
        );
        assert_eq!(
            sql_deallocate_name("DEALLOCATE PREPARE \"S1\""),
            Some("S1".to_owned())
        );
        assert_eq!(sql_deallocate_name("deallocate s2"), Some("s2".to_owned()));
    }

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
