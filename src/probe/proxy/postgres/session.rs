//! Per-connection PostgreSQL protocol state: which statements were sent, which
//! completion answers which, prepared statement and portal names, transaction
//! status and round trips. Both relay directions update it under one mutex.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::{cstr, error_fields, text};
use crate::probe::fingerprint::fingerprint;
use crate::probe::proxy::DbKind;
use crate::probe::proxy::recorder::{ConnectionTotals, Recorder, StatementEvent};
use crate::probe::proxy::relay::Side;
use crate::probe::proxy::split::split_statements;

/// SQL recorded for a Bind to a statement the proxy never saw prepared.
const UNKNOWN_STATEMENT_SQL: &str = "EXECUTE unknown_prepared_statement";

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
pub(super) struct Session {
    pub(super) connection_id: u64,
    pub(super) recorder: Arc<Recorder>,
    /// The first ReadyForQuery arrived: login is over.
    pub(super) ready: bool,
    pub(super) login_refused: bool,
    pub(super) client_terminated: bool,
    /// Which side closed its connection first.
    pub(super) first_close: Option<Side>,
    statements: HashMap<String, Arc<str>>,
    portals: HashMap<String, Portal>,
    pending: VecDeque<Pending>,
    /// DataRows since the last completion.
    pub(super) data_rows: u64,
    in_transaction: bool,
    round_trip: u64,
    totals: ConnectionTotals,
    /// Message of the last FATAL error the server sent, to explain a close.
    pub(super) fatal_message: Option<String>,
    /// The statement a FATAL error interrupted (the server closes right after).
    interrupted: Option<Arc<str>>,
}

impl Session {
    pub(super) fn new(connection_id: u64, recorder: Arc<Recorder>) -> Session {
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

    pub(super) fn round_trip_sent(&mut self) {
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

    pub(super) fn on_client_message(&mut self, tag: u8, body: &[u8]) {
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

    pub(super) fn on_server_message(&mut self, tag: u8, body: &[u8]) {
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
        if !self.recorder.keeps_statements() {
            self.recorder.count_statement(at, rows);
            return;
        }
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
    pub(super) fn upstream_closed_message(&self, upstream: &str) -> String {
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
    pub(super) fn finish(&mut self) {
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
}
