//! Walking MySQL command responses: OK, ERR, result sets (text and binary,
//! with or without EOF packets, MariaDB's cached metadata) and prepare
//! responses, to pair each statement with its end and count its rows.

use super::{
    CLIENT_DEPRECATE_EOF, CLIENT_PROTOCOL_41, MARIADB_CACHE_METADATA, SERVER_MORE_RESULTS_EXISTS,
    SERVER_STATUS_IN_TRANS, Session, statement_id,
};

/// What the next server packets of the current response are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// Nothing tracked (a command whose response is not counted).
    Nothing,
    /// The first packet of a result: OK, ERR, LOCAL INFILE request or a column count.
    Result,
    Columns {
        remaining: u64,
    },
    ColumnsEof,
    Rows,
    PrepareDefinitions {
        remaining: u64,
        eof_after: bool,
        columns_next: u64,
    },
    PrepareEof {
        columns_next: u64,
    },
}

impl Session {
    pub(super) fn deprecate_eof(&self) -> bool {
        self.capabilities & CLIENT_DEPRECATE_EOF != 0
    }

    pub(super) fn on_response_packet(&mut self, payload: &[u8]) {
        if self.preparing.is_some() {
            return self.on_prepare_response(payload);
        }
        let first = payload.first().copied();
        match self.expect {
            Expect::Nothing => {}
            Expect::Result => match first {
                Some(0x00) => {
                    let rows = ok_affected_rows(payload);
                    let status = ok_status(payload, self.capabilities);
                    self.end_result(Some(rows), false, status);
                }
                Some(0xFF) => self.end_result(None, true, 0),
                // LOCAL INFILE: the client sends the file, then the server answers OK/ERR.
                Some(0xFB) => {}
                _ => {
                    let (columns, used) = lenenc(payload);
                    let metadata_follows = self.mariadb_capabilities & MARIADB_CACHE_METADATA == 0
                        || payload.get(used).is_none_or(|&flag| flag != 0);
                    self.rows = 0;
                    self.expect = match (metadata_follows, columns) {
                        (false, _) | (true, 0) => self.after_columns(),
                        (true, remaining) => Expect::Columns { remaining },
                    };
                }
            },
            Expect::Columns { remaining } => {
                self.expect = if remaining > 1 {
                    Expect::Columns {
                        remaining: remaining - 1,
                    }
                } else if self.deprecate_eof() {
                    Expect::Rows
                } else {
                    Expect::ColumnsEof
                };
            }
            Expect::ColumnsEof => self.expect = Expect::Rows,
            Expect::Rows => match first {
                Some(0xFF) => self.end_result(None, true, 0),
                Some(0xFE) if self.deprecate_eof() => {
                    let status = ok_status(payload, self.capabilities);
                    self.end_result(Some(self.rows), false, status);
                }
                Some(0xFE) if payload.len() < 9 => {
                    let status = payload
                        .get(3..5)
                        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
                    self.end_result(Some(self.rows), false, status);
                }
                _ => self.rows += 1,
            },
            Expect::PrepareDefinitions {
                remaining,
                eof_after,
                columns_next,
            } => {
                self.expect = if remaining > 1 {
                    Expect::PrepareDefinitions {
                        remaining: remaining - 1,
                        eof_after,
                        columns_next,
                    }
                } else if eof_after {
                    Expect::PrepareEof { columns_next }
                } else {
                    self.prepare_columns(columns_next)
                };
            }
            Expect::PrepareEof { columns_next } => self.expect = self.prepare_columns(columns_next),
        }
    }

    /// State after the column definitions of a result (none, or skipped as cached).
    fn after_columns(&self) -> Expect {
        if self.deprecate_eof() {
            Expect::Rows
        } else {
            Expect::ColumnsEof
        }
    }

    fn prepare_columns(&self, columns: u64) -> Expect {
        if columns == 0 {
            Expect::Nothing
        } else {
            Expect::PrepareDefinitions {
                remaining: columns,
                eof_after: !self.deprecate_eof(),
                columns_next: 0,
            }
        }
    }

    fn on_prepare_response(&mut self, payload: &[u8]) {
        let Some(sql) = self.preparing.take() else {
            return;
        };
        self.expect = Expect::Nothing;
        if payload.first() != Some(&0x00) || payload.len() < 9 {
            return;
        }
        let Some(id) = statement_id(&payload[1..]) else {
            return;
        };
        self.statements.insert(id, sql);
        let columns = u64::from(u16::from_le_bytes([payload[5], payload[6]]));
        let parameters = u64::from(u16::from_le_bytes([payload[7], payload[8]]));
        let eof_after = !self.deprecate_eof();
        self.expect = if parameters > 0 {
            Expect::PrepareDefinitions {
                remaining: parameters,
                eof_after,
                columns_next: columns,
            }
        } else {
            self.prepare_columns(columns)
        };
    }

    /// One result of the current command ended (OK, EOF or ERR).
    fn end_result(&mut self, rows: Option<u64>, failed: bool, status: u16) {
        if self.fetching {
            self.totals.fetched_rows += rows.unwrap_or(0);
            self.recorder.statement_resolved();
            self.fetching = false;
        } else if let Some(pending) = self.pending.pop_front() {
            self.record(pending, rows, !failed, failed);
        }
        self.apply_status(status);
        self.rows = 0;
        self.expect = if !failed && status & SERVER_MORE_RESULTS_EXISTS != 0 {
            Expect::Result
        } else {
            self.close_command();
            Expect::Nothing
        };
    }

    pub(super) fn apply_status(&mut self, status: u16) {
        let in_transaction = status & SERVER_STATUS_IN_TRANS != 0;
        if in_transaction && !self.in_transaction {
            self.totals.transactions += 1;
        }
        self.in_transaction = in_transaction;
    }
}

/// A length-encoded integer at the start of `bytes` and how many bytes it used.
pub(super) fn lenenc(bytes: &[u8]) -> (u64, usize) {
    let read = |count: usize| -> (u64, usize) {
        let mut value = 0u64;
        for (shift, byte) in bytes.iter().skip(1).take(count).enumerate() {
            value |= u64::from(*byte) << (8 * shift);
        }
        (value, 1 + count)
    };
    match bytes.first() {
        Some(&byte @ 0..=0xFA) => (u64::from(byte), 1),
        Some(0xFC) => read(2),
        Some(0xFD) => read(3),
        Some(0xFE) => read(8),
        _ => (0, 1),
    }
}

/// Affected rows of an OK packet.
fn ok_affected_rows(payload: &[u8]) -> u64 {
    lenenc(payload.get(1..).unwrap_or_default()).0
}

/// Status flags of an OK packet (header 0x00 or 0xFE).
pub(super) fn ok_status(payload: &[u8], capabilities: u32) -> u16 {
    if capabilities & CLIENT_PROTOCOL_41 == 0 {
        return 0;
    }
    let rest = payload.get(1..).unwrap_or_default();
    let (_, affected_len) = lenenc(rest);
    let rest = rest.get(affected_len..).unwrap_or_default();
    let (_, insert_id_len) = lenenc(rest);
    rest.get(insert_id_len..insert_id_len + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_encoded_integers() {
        assert_eq!(lenenc(&[0x05]), (5, 1));
        assert_eq!(lenenc(&[0xFC, 0x10, 0x27]), (10_000, 3));
        assert_eq!(lenenc(&[0xFD, 0x01, 0x00, 0x01]), (65_537, 4));
    }

    #[test]
    fn ok_packets_give_rows_and_status() {
        // OK, 3 affected rows, last insert id 0, status IN_TRANS|AUTOCOMMIT, 0 warnings.
        let ok = [0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00];
        assert_eq!(ok_affected_rows(&ok), 3);
        assert_eq!(ok_status(&ok, CLIENT_PROTOCOL_41), 0x0003);
    }
}
