//! The PostgreSQL framers on their own, with no server: conversations built
//! message by message to the protocol (the shapes psql and tokio-postgres
//! send: simple queries with several statements, Parse/Bind/Describe/Execute/
//! Sync, a cached statement bound again, a transaction, an error, a portal
//! fetched in parts, COPY data) are fed through both framers the way the relay
//! pump feeds them, whole, split at every byte boundary, and in random
//! chunkings; each way must forward the very same bytes and record the same
//! statements. Random garbage and oversized lengths must never panic nor make
//! a framer hold more than its frame limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use super::session::Session;
use super::{ClientFramer, ServerFramer};
use crate::probe::proxy::framing_harness::{
    Relay, Sender, Turns, assert_every_split_is_the_same, chunked, fuzz_mutations, replay, sent,
};
use crate::probe::proxy::recorder::Recorder;

const LIMIT: usize = 64 * 1024;

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![tag];
    bytes.extend_from_slice(&(u32::try_from(body.len() + 4).unwrap()).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

fn cstr(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn query(sql: &str) -> Vec<u8> {
    message(b'Q', &cstr(sql))
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = cstr(name);
    body.extend(cstr(sql));
    body.extend_from_slice(&1u16.to_be_bytes());
    body.extend_from_slice(&23u32.to_be_bytes()); // int4
    message(b'P', &body)
}

fn bind(portal: &str, statement: &str, parameter: &str) -> Vec<u8> {
    let mut body = cstr(portal);
    body.extend(cstr(statement));
    body.extend_from_slice(&0u16.to_be_bytes()); // parameter formats: text
    body.extend_from_slice(&1u16.to_be_bytes());
    body.extend_from_slice(&(u32::try_from(parameter.len()).unwrap()).to_be_bytes());
    body.extend_from_slice(parameter.as_bytes());
    body.extend_from_slice(&0u16.to_be_bytes()); // result formats: text
    message(b'B', &body)
}

fn describe_portal(portal: &str) -> Vec<u8> {
    let mut body = vec![b'P'];
    body.extend(cstr(portal));
    message(b'D', &body)
}

fn execute(portal: &str, max_rows: u32) -> Vec<u8> {
    let mut body = cstr(portal);
    body.extend_from_slice(&max_rows.to_be_bytes());
    message(b'E', &body)
}

fn sync() -> Vec<u8> {
    message(b'S', &[])
}

fn row_description() -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend(cstr("id"));
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&23u32.to_be_bytes());
    body.extend_from_slice(&4u16.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes());
    message(b'T', &body)
}

fn data_row(value: &str) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(&(u32::try_from(value.len()).unwrap()).to_be_bytes());
    body.extend_from_slice(value.as_bytes());
    message(b'D', &body)
}

fn complete(tag: &str) -> Vec<u8> {
    message(b'C', &cstr(tag))
}

fn ready(status: u8) -> Vec<u8> {
    message(b'Z', &[status])
}

fn error(code: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "ERROR"), (b'V', "ERROR"), (b'C', code), (b'M', text)] {
        body.push(field);
        body.extend(cstr(value));
    }
    body.push(0);
    message(b'E', &body)
}

/// One connection after the startup packet: login, then a session's worth of
/// traffic in both directions, as turns of consecutive messages.
fn conversation() -> Turns {
    use Sender::{Client, Server};
    let cat = |parts: Vec<Vec<u8>>| parts.concat();
    vec![
        (
            Server,
            cat(vec![
                message(b'R', &0u32.to_be_bytes()),
                message(b'S', &[cstr("server_version"), cstr("15.19")].concat()),
                message(b'K', &[7u32.to_be_bytes(), 42u32.to_be_bytes()].concat()),
                ready(b'I'),
            ]),
        ),
        (Client, query("SELECT id FROM products; SELECT 2")),
        (
            Server,
            cat(vec![
                row_description(),
                data_row("1"),
                data_row("2"),
                complete("SELECT 2"),
                row_description(),
                data_row("2"),
                complete("SELECT 1"),
                ready(b'I'),
            ]),
        ),
        (
            Client,
            cat(vec![
                parse("s1", "SELECT id FROM products WHERE id = $1"),
                bind("", "s1", "42"),
                describe_portal(""),
                execute("", 0),
                sync(),
            ]),
        ),
        (
            Server,
            cat(vec![
                message(b'1', &[]),
                message(b'2', &[]),
                row_description(),
                data_row("42"),
                complete("SELECT 1"),
                ready(b'I'),
            ]),
        ),
        // The cached statement, bound again: Bind/Execute only.
        (
            Client,
            cat(vec![bind("", "s1", "43"), execute("", 0), sync()]),
        ),
        (
            Server,
            cat(vec![
                message(b'2', &[]),
                data_row("43"),
                complete("SELECT 1"),
                ready(b'I'),
            ]),
        ),
        (Client, query("BEGIN")),
        (Server, cat(vec![complete("BEGIN"), ready(b'T')])),
        (
            Client,
            query("INSERT INTO orders (user_id) VALUES (1); UPDATE carts SET n = n + 1"),
        ),
        (
            Server,
            cat(vec![
                complete("INSERT 0 1"),
                complete("UPDATE 3"),
                ready(b'T'),
            ]),
        ),
        (Client, query("COMMIT")),
        (Server, cat(vec![complete("COMMIT"), ready(b'I')])),
        // A portal fetched in two parts.
        (
            Client,
            cat(vec![
                parse("", "SELECT id FROM products"),
                bind("cursor", "", "0"),
                execute("cursor", 1),
                execute("cursor", 1),
                sync(),
            ]),
        ),
        (
            Server,
            cat(vec![
                message(b'1', &[]),
                message(b'2', &[]),
                data_row("1"),
                message(b's', &[]),
                data_row("2"),
                complete("SELECT 1"),
                ready(b'I'),
            ]),
        ),
        (Client, query("SELECT * FROM missing_table")),
        (
            Server,
            cat(vec![
                error("42P01", "relation \"missing_table\" does not exist"),
                ready(b'I'),
            ]),
        ),
        // COPY FROM STDIN: data the framer forwards without reading.
        (Client, query("COPY items FROM STDIN")),
        (Server, message(b'G', &[0, 0, 0])),
        (
            Client,
            cat(vec![
                message(b'd', &[b'x'; 300]),
                message(b'd', b"1\n2\n"),
                message(b'c', &[]),
            ]),
        ),
        (Server, cat(vec![complete("COPY 2"), ready(b'I')])),
        (Client, message(b'X', &[])),
    ]
}

fn relay() -> Relay<ClientFramer, ServerFramer> {
    let recorder = Arc::new(Recorder::new());
    let session = Arc::new(Mutex::new(Session::new(1, Arc::clone(&recorder))));
    Relay {
        client: crate::probe::proxy::framing_harness::Pump::new(ClientFramer {
            session: Arc::clone(&session),
            max_message_bytes: LIMIT,
            skip: 0,
        }),
        server: crate::probe::proxy::framing_harness::Pump::new(ServerFramer {
            session,
            max_message_bytes: LIMIT,
            skip: 0,
            user: "app".into(),
            database: "shop".into(),
            upstream: "127.0.0.1:5432".into(),
        }),
        recorder,
        finish: Box::new(|| {}),
    }
}

#[test]
fn the_whole_conversation_is_relayed_unchanged_and_every_statement_counted() {
    let turns = conversation();
    let (seen, to_server, to_client) = replay(&turns, relay, |_, _| Vec::new());
    assert_eq!(to_server, sent(&turns, Sender::Client));
    assert_eq!(to_client, sent(&turns, Sender::Server));
    let summary: Vec<(&str, Option<u64>, bool)> = seen
        .iter()
        .map(|s| (s.sql.as_str(), s.rows, s.failed))
        .collect();
    assert_eq!(
        summary,
        [
            ("SELECT id FROM products", Some(2), false),
            ("SELECT 2", Some(1), false),
            ("SELECT id FROM products WHERE id = $1", Some(1), false),
            ("SELECT id FROM products WHERE id = $1", Some(1), false),
            ("BEGIN", None, false),
            ("INSERT INTO orders (user_id) VALUES (1)", Some(1), false),
            ("UPDATE carts SET n = n + 1", Some(3), false),
            ("COMMIT", None, false),
            ("SELECT id FROM products", Some(1), false),
            ("SELECT * FROM missing_table", None, true),
            ("COPY items FROM STDIN", Some(2), false),
        ]
    );
    assert!(seen[5].in_transaction && !seen[0].in_transaction);
}

#[test]
fn every_byte_boundary_gives_the_same_statements_and_bytes() {
    assert_every_split_is_the_same(&conversation(), relay);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_chunkings_give_the_same_statements_and_bytes(
        sizes in proptest::collection::vec(1usize..64, 1..40)
    ) {
        let turns = conversation();
        let whole = replay(&turns, relay, |_, _| Vec::new());
        prop_assert_eq!(replay(&turns, relay, chunked(&sizes)), whole);
    }

    #[test]
    fn garbage_never_panics_nor_holds_more_than_the_frame_limit(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..512,
    ) {
        for side in [Sender::Client, Sender::Server] {
            let mut relay = relay();
            // Logged in first, so the server framer reads statements too.
            relay.server.feed(&conversation()[0].1).unwrap();
            for piece in bytes.chunks(chunk) {
                if relay.feed(side, piece).is_err() {
                    break;
                }
            }
            prop_assert!(relay.client.most_held <= LIMIT + 5);
            prop_assert!(relay.server.most_held <= LIMIT + 5);
        }
    }
}

#[test]
fn oversized_and_undersized_lengths_are_refused_before_anything_is_held() {
    for length in [0u32, 3, u32::try_from(LIMIT).unwrap() + 1, u32::MAX] {
        let mut header = vec![b'Q'];
        header.extend_from_slice(&length.to_be_bytes());
        let mut fresh = relay();
        let refused = fresh.client.feed(&header).unwrap_err();
        assert!(
            refused.contains("garbage or an oversized message"),
            "{refused}"
        );
        let mut logged_in = relay();
        logged_in.server.feed(&conversation()[0].1).unwrap();
        let row = [b'D', header[1], header[2], header[3], header[4]];
        assert!(logged_in.server.feed(&row).is_err());
    }
}

/// A bounded fuzz loop (stable Rust, no libFuzzer): for about two seconds,
/// mutate the conversation (flip bytes, cut, duplicate) and feed it in
/// random chunks. Nothing may panic or hold more than the frame limit.
#[test]
fn mutated_conversations_never_panic_within_a_time_budget() {
    let cases = fuzz_mutations(&conversation(), relay, Duration::from_secs(2), |relay| {
        assert!(relay.client.most_held <= LIMIT + 5);
        assert!(relay.server.most_held <= LIMIT + 5);
    });
    assert!(cases > 100, "only {cases} cases ran");
}
