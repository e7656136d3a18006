//! The MySQL/MariaDB side of the counting proxy (client/server protocol 4.1).
//!
//! Handshake: relayed; the only byte ever changed is the server greeting's
//! `CLIENT_SSL` capability, cleared so that clients in the default "preferred"
//! TLS mode continue in plaintext the proxy can read (a client that requires
//! TLS then fails with its own clear error, and one that sends a TLS request
//! anyway is closed with a fault saying to disable TLS). From the handshake
//! response only the capabilities and the user name are read; authentication
//! packets are relayed unread.
//!
//! Counting: each statement of a `COM_QUERY` (split at `;` when the client
//! negotiated multi-statements) and each `COM_STMT_EXECUTE`, whose statement
//! id maps to SQL from the `COM_STMT_PREPARE` response (forgotten on
//! `COM_STMT_CLOSE`, `COM_RESET_CONNECTION` and `COM_CHANGE_USER`). Responses are
//! walked to pair each statement with its OK/ERR and count result rows; the
//! server status flags give transactions. MySQL does not pipeline commands, so a
//! new command also closes whatever the previous response left unanswered.

#[cfg(test)]
mod framing_tests;
mod response;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpStream;

use super::recorder::{ConnectionTotals, FaultKind, Recorder, StatementEvent};
use super::relay::{Framer, Side, lock, relay_fault};
use super::split::split_statements;
use super::{ConnectionContext, DbKind, connect_upstream};
use response::{Expect, lenenc, ok_status};

const CLIENT_LONG_PASSWORD_OR_MYSQL: u32 = 1;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_MULTI_STATEMENTS: u32 = 1 << 16;
const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
const CLIENT_QUERY_ATTRIBUTES: u32 = 1 << 27;
/// MariaDB extended capability (bit 36 of the 64-bit set): result metadata may be skipped.
const MARIADB_CACHE_METADATA: u32 = 1 << 4;
const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
/// A payload of this length continues in the next packet.
const MAX_PAYLOAD: usize = 0xFF_FFFF;
const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_FETCH: u8 = 0x1C;
const COM_RESET_CONNECTION: u8 = 0x1F;
/// SQL recorded for an execute of a statement id the proxy never saw prepared.
const UNKNOWN_STATEMENT_SQL: &str = "EXECUTE unknown_prepared_statement";

/// Serves one client connection until either side closes.
pub(super) async fn serve(client: TcpStream, connection_id: u64, context: &ConnectionContext) {
    let recorder = &context.recorder;
    let fault = |kind, message: String| recorder.record_fault(connection_id, kind, message);
    let upstream = match connect_upstream(&context.upstream).await {
        Ok(upstream) => upstream,
        Err(message) => {
            // The server speaks first in MySQL: closing tells the client the connection failed.
            return fault(FaultKind::UpstreamUnreachable, message);
        }
    };
    let session = Arc::new(Mutex::new(Session::new(
        connection_id,
        Arc::clone(recorder),
        context.upstream.clone(),
    )));
    let client_framer = PacketFramer {
        session: Arc::clone(&session),
        from_client: true,
        max_message_bytes: context.max_message_bytes,
        skip: 0,
        continuation: false,
    };
    let server_framer = PacketFramer {
        session: Arc::clone(&session),
        from_client: false,
        max_message_bytes: context.max_message_bytes,
        skip: 0,
        continuation: false,
    };
    let (ends, _sockets) = context
        .relay
        .relay(client, upstream, client_framer, server_framer)
        .await;
    let mut session = lock(&session);
    let expected_close = session.client_terminated || session.login_refused;
    if let Some((kind, message)) =
        relay_fault(&ends, session.first_close, expected_close, false, || {
            session.upstream_closed_message()
        })
    {
        fault(kind, message);
    }
    session.finish();
}

/// Walks MySQL packets in one direction.
struct PacketFramer {
    session: Arc<Mutex<Session>>,
    from_client: bool,
    /// Largest packet whose payload the framer buffers to read it; a larger
    /// one is a violation (a packet it does not read is streamed, any size).
    max_message_bytes: usize,
    skip: usize,
    /// The previous packet had a full-size payload: the next one continues it.
    continuation: bool,
}

impl Framer for PacketFramer {
    fn closed(&mut self) {
        let side = if self.from_client {
            Side::Client
        } else {
            Side::Server
        };
        lock(&self.session).first_close.get_or_insert(side);
    }

    fn advance(&mut self, data: &mut [u8]) -> Result<usize, String> {
        let mut position = self.skip.min(data.len());
        self.skip -= position;
        let mut session = lock(&self.session);
        while data.len() - position >= 4 {
            let header = &data[position..position + 4];
            let payload_len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            let sequence = header[3];
            let total = 4 + payload_len;
            let continuation =
                std::mem::replace(&mut self.continuation, payload_len == MAX_PAYLOAD);
            let first_byte = if payload_len == 0 {
                None
            } else if data.len() - position >= 5 {
                Some(data[position + 4])
            } else {
                self.continuation = continuation;
                break;
            };
            let needs_body = !continuation
                && if self.from_client {
                    session.client_needs_body(sequence)
                } else {
                    session.server_needs_body(first_byte)
                };
            if !needs_body {
                if !continuation && !self.from_client {
                    session.on_server_row();
                }
                let available = total.min(data.len() - position);
                position += available;
                self.skip = total - available;
                continue;
            }
            if total > self.max_message_bytes {
                return Err(format!(
                    "{} sent a packet of {total} bytes, more than the {} the proxy reads: garbage or an oversized packet; connection closed",
                    if self.from_client {
                        "client"
                    } else {
                        "upstream database"
                    },
                    self.max_message_bytes
                ));
            }
            if data.len() - position < total {
                self.continuation = continuation;
                break;
            }
            let payload = &mut data[position + 4..position + total];
            if self.from_client {
                session.on_client_packet(sequence, payload)?;
            } else {
                session.on_server_packet(payload);
            }
            position += total;
        }
        Ok(position)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the server greeting.
    Greeting,
    /// Greeting relayed; waiting for the client's handshake response.
    HandshakeResponse,
    /// Authentication exchange until the server's OK or ERR.
    Auth,
    Command,
}

struct PendingStatement {
    sql: Arc<str>,
    at: Instant,
    round_trip: u64,
}

/// Per-connection protocol state shared by both directions.
struct Session {
    connection_id: u64,
    recorder: Arc<Recorder>,
    upstream: String,
    phase: Phase,
    server_capabilities: u32,
    server_mariadb_capabilities: u32,
    capabilities: u32,
    mariadb_capabilities: u32,
    user: String,
    login_refused: bool,
    client_terminated: bool,
    /// Which side closed its connection first.
    first_close: Option<Side>,
    statements: HashMap<u32, Arc<str>>,
    /// SQL of the COM_STMT_PREPARE awaiting its response.
    preparing: Option<Arc<str>>,
    pending: VecDeque<PendingStatement>,
    /// The current command is a COM_STMT_FETCH: its rows are fetches.
    fetching: bool,
    expect: Expect,
    rows: u64,
    in_transaction: bool,
    round_trip: u64,
    totals: ConnectionTotals,
}

impl Session {
    fn new(connection_id: u64, recorder: Arc<Recorder>, upstream: String) -> Session {
        Session {
            connection_id,
            recorder,
            upstream,
            phase: Phase::Greeting,
            server_capabilities: 0,
            server_mariadb_capabilities: 0,
            capabilities: 0,
            mariadb_capabilities: 0,
            user: String::new(),
            login_refused: false,
            client_terminated: false,
            first_close: None,
            statements: HashMap::new(),
            preparing: None,
            pending: VecDeque::new(),
            fetching: false,
            expect: Expect::Nothing,
            rows: 0,
            in_transaction: false,
            round_trip: 0,
            totals: ConnectionTotals::default(),
        }
    }

    fn client_needs_body(&self, sequence: u8) -> bool {
        match self.phase {
            Phase::HandshakeResponse => true,
            Phase::Command => sequence == 0,
            // Authentication data (and LOCAL INFILE contents) are relayed unread.
            Phase::Greeting | Phase::Auth => false,
        }
    }

    fn server_needs_body(&self, first_byte: Option<u8>) -> bool {
        match (self.phase, self.expect) {
            (Phase::Command, Expect::Rows) => matches!(first_byte, Some(0xFE | 0xFF)),
            (Phase::Command, Expect::Nothing) => false,
            (Phase::Auth, _) => matches!(first_byte, Some(0x00 | 0xFF)),
            _ => true,
        }
    }

    fn on_client_packet(&mut self, sequence: u8, payload: &mut [u8]) -> Result<(), String> {
        match self.phase {
            Phase::HandshakeResponse => self.on_handshake_response(payload),
            Phase::Command if sequence == 0 => {
                self.on_command(payload);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_handshake_response(&mut self, payload: &[u8]) -> Result<(), String> {
        if payload.len() < 32 {
            return Err(format!(
                "client sent a {}-byte handshake response (at least 32 expected): not the MySQL protocol; connection closed",
                payload.len()
            ));
        }
        let capabilities = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
        if capabilities & CLIENT_PROTOCOL_41 == 0 {
            return Err(
                "client does not speak MySQL protocol 4.1 (or sent garbage); connection closed"
                    .to_owned(),
            );
        }
        if capabilities & CLIENT_SSL != 0 && payload.len() == 32 {
            return Err(
                "client requested TLS, which the counting proxy cannot read: connect to the proxy with TLS disabled (ssl-mode=DISABLED / --skip-ssl); connection closed"
                    .to_owned(),
            );
        }
        self.capabilities = capabilities & self.server_capabilities;
        if capabilities & CLIENT_LONG_PASSWORD_OR_MYSQL == 0 {
            let extended = u32::from_le_bytes([payload[28], payload[29], payload[30], payload[31]]);
            self.mariadb_capabilities = extended & self.server_mariadb_capabilities;
        }
        let (user, _) = cstr(&payload[32..]);
        self.user = String::from_utf8_lossy(user).into_owned();
        self.phase = Phase::Auth;
        Ok(())
    }

    fn on_command(&mut self, payload: &[u8]) {
        self.close_command();
        let Some((&command, body)) = payload.split_first() else {
            return;
        };
        if !matches!(command, COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA | COM_QUIT) {
            self.round_trip += 1;
            self.totals.round_trips += 1;
        }
        self.expect = Expect::Nothing;
        self.fetching = false;
        match command {
            COM_QUERY => {
                let sql = String::from_utf8_lossy(self.query_text(body));
                if self.capabilities & CLIENT_MULTI_STATEMENTS != 0 {
                    for statement in split_statements(&sql, DbKind::Mysql) {
                        self.statement_sent(Arc::from(statement));
                    }
                } else {
                    self.statement_sent(Arc::from(sql.as_ref()));
                }
                self.expect = Expect::Result;
            }
            COM_STMT_PREPARE => {
                self.preparing = Some(Arc::from(String::from_utf8_lossy(body).as_ref()));
                self.expect = Expect::Result;
            }
            COM_STMT_EXECUTE => {
                let sql = statement_id(body)
                    .and_then(|id| self.statements.get(&id).cloned())
                    .unwrap_or_else(|| Arc::from(UNKNOWN_STATEMENT_SQL));
                self.statement_sent(sql);
                self.expect = Expect::Result;
            }
            COM_STMT_FETCH => {
                self.fetching = true;
                self.recorder.statement_sent(Instant::now());
                self.expect = Expect::Rows;
            }
            COM_STMT_CLOSE => {
                if let Some(id) = statement_id(body) {
                    self.statements.remove(&id);
                }
            }
            COM_RESET_CONNECTION => self.statements.clear(),
            COM_CHANGE_USER => {
                self.statements.clear();
                self.phase = Phase::Auth;
            }
            COM_QUIT => self.client_terminated = true,
            _ => {}
        }
    }

    /// The SQL of a COM_QUERY body. MySQL 8 clients that negotiated query
    /// attributes prefix it with the attribute count; attributes themselves
    /// (rare: typed values that need the whole binary-value decoder) make the
    /// text unknown rather than misread.
    fn query_text<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        if self.capabilities & CLIENT_QUERY_ATTRIBUTES == 0 {
            return body;
        }
        let (parameter_count, used) = lenenc(body);
        let rest = body.get(used..).unwrap_or_default();
        let (_parameter_sets, used) = lenenc(rest);
        match parameter_count {
            0 => rest.get(used..).unwrap_or_default(),
            _ => b"/* perfguard: query with attributes */ QUERY_WITH_ATTRIBUTES",
        }
    }

    fn statement_sent(&mut self, sql: Arc<str>) {
        let at = Instant::now();
        self.recorder.statement_sent(at);
        self.pending.push_back(PendingStatement {
            sql,
            at,
            round_trip: self.round_trip,
        });
    }

    fn on_server_row(&mut self) {
        if self.expect == Expect::Rows {
            self.rows += 1;
        }
    }

    fn on_server_packet(&mut self, payload: &mut [u8]) {
        match self.phase {
            Phase::Greeting => self.on_greeting(payload),
            Phase::HandshakeResponse | Phase::Auth => match payload.first() {
                Some(0x00) => {
                    self.phase = Phase::Command;
                    self.apply_status(ok_status(payload, self.capabilities));
                }
                Some(0xFF) => self.refuse_login(payload),
                _ => {}
            },
            Phase::Command => self.on_response_packet(payload),
        }
    }

    fn on_greeting(&mut self, payload: &mut [u8]) {
        if payload.first() == Some(&0xFF) {
            return self.refuse_login(payload);
        }
        self.phase = Phase::HandshakeResponse;
        // protocol version, server version, connection id, 8 bytes of scramble, filler.
        let Some(version_end) = payload.iter().skip(1).position(|&b| b == 0) else {
            return;
        };
        let caps_at = 1 + version_end + 1 + 4 + 8 + 1;
        if payload.len() < caps_at + 2 {
            return;
        }
        // Clear CLIENT_SSL (bit 11): the proxy must read the session in plaintext.
        payload[caps_at + 1] &= !((CLIENT_SSL >> 8) as u8);
        let lower = u32::from(u16::from_le_bytes([payload[caps_at], payload[caps_at + 1]]));
        let upper_at = caps_at + 2 + 1 + 2;
        let upper = payload
            .get(upper_at..upper_at + 2)
            .map_or(0, |b| u32::from(u16::from_le_bytes([b[0], b[1]])));
        self.server_capabilities = lower | upper << 16;
        // MariaDB: the last 4 of the 10 reserved bytes hold its extended capabilities.
        let extended_at = upper_at + 2 + 1 + 6;
        if self.server_capabilities & CLIENT_LONG_PASSWORD_OR_MYSQL == 0
            && let Some(b) = payload.get(extended_at..extended_at + 4)
        {
            self.server_mariadb_capabilities = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    fn refuse_login(&mut self, payload: &[u8]) {
        self.login_refused = true;
        let (code, message) = error_packet(payload);
        let user = if self.user.is_empty() {
            String::new()
        } else {
            format!(" for user {:?}", self.user)
        };
        self.recorder.record_fault(
            self.connection_id,
            FaultKind::LoginRefused,
            format!(
                "upstream database {} refused the login{user}: {message} (error {code})",
                self.upstream
            ),
        );
    }

    fn record(&self, pending: PendingStatement, rows: Option<u64>, confirmed: bool, failed: bool) {
        self.recorder.statement_resolved();
        if !self.recorder.keeps_statements() {
            self.recorder.count_statement(pending.at, rows);
            return;
        }
        self.recorder.record_statement(StatementEvent {
            connection_id: self.connection_id,
            sql: pending.sql.to_string(),
            rows,
            confirmed,
            failed,
            in_transaction: self.in_transaction,
            round_trip: pending.round_trip,
            at: pending.at,
        });
    }

    /// The current command is over: statements it never answered are recorded unconfirmed.
    fn close_command(&mut self) {
        while let Some(pending) = self.pending.pop_front() {
            self.record(pending, None, false, false);
        }
        if std::mem::take(&mut self.fetching) {
            self.recorder.statement_resolved();
        }
        self.preparing = None;
        self.recorder
            .record_totals(self.connection_id, std::mem::take(&mut self.totals));
    }

    fn upstream_closed_message(&self) -> String {
        let upstream = &self.upstream;
        match self.phase {
            Phase::Command if !self.pending.is_empty() => format!(
                "upstream database {upstream} closed the connection mid-query: {} statement(s) unanswered",
                self.pending.len()
            ),
            Phase::Command => {
                format!("upstream database {upstream} closed the connection while idle")
            }
            _ => format!("upstream database {upstream} closed the connection during login"),
        }
    }

    fn finish(&mut self) {
        self.close_command();
    }
}

fn cstr(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (bytes, &[]),
    }
}

fn statement_id(body: &[u8]) -> Option<u32> {
    body.get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Error code and message of an ERR packet.
fn error_packet(payload: &[u8]) -> (u16, String) {
    let code = payload
        .get(1..3)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let mut message = payload.get(3..).unwrap_or_default();
    if message.first() == Some(&b'#') {
        message = message.get(6..).unwrap_or_default();
    }
    (code, String::from_utf8_lossy(message).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_attribute_prefix_is_skipped() {
        let mut session = Session::new(1, Arc::new(Recorder::new()), "db:3306".to_owned());
        session.capabilities = CLIENT_QUERY_ATTRIBUTES;
        assert_eq!(session.query_text(b"\x00\x01SELECT 1"), b"SELECT 1");
        session.capabilities = 0;
        assert_eq!(session.query_text(b"SELECT 1"), b"SELECT 1");
    }

    #[test]
    fn error_packets_drop_the_sql_state_marker() {
        let mut packet = vec![0xFF, 0x15, 0x04, b'#'];
        packet.extend_from_slice(b"28000Access denied for user 'x'");
        assert_eq!(
            error_packet(&packet),
            (1045, "Access denied for user 'x'".to_owned())
        );
    }
}
