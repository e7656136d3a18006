//! The MySQL framer on its own, with no server: a conversation built packet
//! by packet to the protocol (greeting, handshake response, OK; a
//! multi-statement COM_QUERY with two text result sets; COM_STMT_PREPARE and
//! a binary COM_STMT_EXECUTE; a transaction; an error; COM_STMT_CLOSE; QUIT)
//! is fed through both directions the way the relay pump feeds them, whole,
//! split at every byte boundary and in random chunkings: each way must
//! forward the same bytes and record the same statements. Random garbage
//! never panics, and a framer never holds more than its frame limit: a
//! packet it must read that is larger is refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use super::{PacketFramer, Session};
use crate::probe::proxy::framing_harness::{
    Pump, Relay, Sender, Turns, assert_every_split_is_the_same, chunked, fuzz_mutations, replay,
    sent,
};
use crate::probe::proxy::recorder::Recorder;

const LIMIT: usize = 4096;

fn packet(sequence: u8, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_le_bytes();
    let mut bytes = vec![length[0], length[1], length[2], sequence];
    bytes.extend_from_slice(payload);
    bytes
}

/// Packets of one response, numbered from `first`.
fn numbered(first: u8, payloads: &[Vec<u8>]) -> Vec<u8> {
    payloads
        .iter()
        .enumerate()
        .flat_map(|(i, payload)| packet(first + u8::try_from(i).unwrap(), payload))
        .collect()
}

const PROTOCOL_41: u32 = 0x200;
const LONG_PASSWORD: u32 = 1;
const SECURE_CONNECTION: u32 = 0x8000;
const MULTI_STATEMENTS: u32 = 1 << 16;
const PLUGIN_AUTH: u32 = 1 << 19;
const CAPABILITIES: u32 =
    PROTOCOL_41 | LONG_PASSWORD | SECURE_CONNECTION | MULTI_STATEMENTS | PLUGIN_AUTH;
const AUTOCOMMIT: u16 = 0x0002;
const IN_TRANSACTION: u16 = 0x0001;
const MORE_RESULTS: u16 = 0x0008;

fn greeting() -> Vec<u8> {
    let mut payload = vec![10];
    payload.extend_from_slice(b"8.0.36\0");
    payload.extend_from_slice(&7u32.to_le_bytes());
    payload.extend_from_slice(b"abcdefgh\0");
    let capabilities = CAPABILITIES.to_le_bytes();
    payload.extend_from_slice(&capabilities[..2]);
    payload.push(45); // utf8mb4
    payload.extend_from_slice(&AUTOCOMMIT.to_le_bytes());
    payload.extend_from_slice(&capabilities[2..]);
    payload.push(21);
    payload.extend_from_slice(&[0; 10]);
    payload.extend_from_slice(b"ijklmnopqrst\0");
    payload.extend_from_slice(b"mysql_native_password\0");
    payload
}

fn handshake_response() -> Vec<u8> {
    let mut payload = CAPABILITIES.to_le_bytes().to_vec();
    payload.extend_from_slice(&(16u32 << 20).to_le_bytes());
    payload.push(45);
    payload.extend_from_slice(&[0; 23]);
    payload.extend_from_slice(b"app\0");
    payload.push(20);
    payload.extend_from_slice(&[0x5a; 20]);
    payload.extend_from_slice(b"mysql_native_password\0");
    payload
}

fn ok(affected: u8, status: u16) -> Vec<u8> {
    let mut payload = vec![0x00, affected, 0];
    payload.extend_from_slice(&status.to_le_bytes());
    payload.extend_from_slice(&[0, 0]);
    payload
}

fn eof(status: u16) -> Vec<u8> {
    let mut payload = vec![0xFE, 0, 0];
    payload.extend_from_slice(&status.to_le_bytes());
    payload
}

fn column() -> Vec<u8> {
    let mut payload = Vec::new();
    for part in ["def", "shop", "products", "products", "id", "id"] {
        payload.push(u8::try_from(part.len()).unwrap());
        payload.extend_from_slice(part.as_bytes());
    }
    payload.extend_from_slice(&[0x0c, 45, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0]);
    payload
}

fn text_row(value: &str) -> Vec<u8> {
    let mut payload = vec![u8::try_from(value.len()).unwrap()];
    payload.extend_from_slice(value.as_bytes());
    payload
}

fn command(code: u8, body: &[u8]) -> Vec<u8> {
    let mut payload = vec![code];
    payload.extend_from_slice(body);
    packet(0, &payload)
}

fn conversation() -> Turns {
    use Sender::{Client, Server};
    let mut prepare_ok = vec![0x00];
    prepare_ok.extend_from_slice(&1u32.to_le_bytes()); // statement id
    prepare_ok.extend_from_slice(&1u16.to_le_bytes()); // columns
    prepare_ok.extend_from_slice(&1u16.to_le_bytes()); // parameters
    prepare_ok.extend_from_slice(&[0, 0, 0]);
    let mut execute = 1u32.to_le_bytes().to_vec(); // statement id
    execute.push(0); // no cursor
    execute.extend_from_slice(&1u32.to_le_bytes()); // iterations
    execute.extend_from_slice(&[0, 1, 0x03, 0x00]); // null bitmap, types follow: LONG
    execute.extend_from_slice(&42i32.to_le_bytes());
    let mut binary_row = vec![0x00, 0x00];
    binary_row.extend_from_slice(&42i32.to_le_bytes());
    let mut error = vec![0xFF];
    error.extend_from_slice(&1146u16.to_le_bytes());
    error.extend_from_slice(b"#42S02Table 'shop.missing' doesn't exist");
    vec![
        (Server, packet(0, &greeting())),
        (Client, packet(1, &handshake_response())),
        (Server, packet(2, &ok(0, AUTOCOMMIT))),
        (Client, command(0x03, b"SELECT id FROM products; SELECT 2")),
        (
            Server,
            numbered(
                1,
                &[
                    vec![1],
                    column(),
                    eof(AUTOCOMMIT),
                    text_row("1"),
                    text_row("2"),
                    eof(AUTOCOMMIT | MORE_RESULTS),
                    vec![1],
                    column(),
                    eof(AUTOCOMMIT),
                    text_row("2"),
                    eof(AUTOCOMMIT),
                ],
            ),
        ),
        (
            Client,
            command(0x16, b"SELECT id FROM products WHERE id = ?"),
        ),
        (
            Server,
            numbered(
                1,
                &[
                    prepare_ok,
                    column(),
                    eof(AUTOCOMMIT),
                    column(),
                    eof(AUTOCOMMIT),
                ],
            ),
        ),
        (Client, command(0x17, &execute)),
        (
            Server,
            numbered(
                1,
                &[
                    vec![1],
                    column(),
                    eof(AUTOCOMMIT),
                    binary_row,
                    eof(AUTOCOMMIT),
                ],
            ),
        ),
        (Client, command(0x03, b"BEGIN")),
        (Server, packet(1, &ok(0, AUTOCOMMIT | IN_TRANSACTION))),
        (
            Client,
            command(0x03, b"INSERT INTO orders (user_id) VALUES (1)"),
        ),
        (Server, packet(1, &ok(1, AUTOCOMMIT | IN_TRANSACTION))),
        (Client, command(0x03, b"COMMIT")),
        (Server, packet(1, &ok(0, AUTOCOMMIT))),
        (Client, command(0x03, b"SELECT * FROM missing")),
        (Server, packet(1, &error)),
        (Client, command(0x19, &1u32.to_le_bytes())),
        (Client, command(0x01, &[])),
    ]
}

fn framer(session: &Arc<Mutex<Session>>, from_client: bool) -> Pump<PacketFramer> {
    Pump::new(PacketFramer {
        session: Arc::clone(session),
        from_client,
        max_message_bytes: LIMIT,
        skip: 0,
        continuation: false,
    })
}

fn relay() -> Relay<PacketFramer, PacketFramer> {
    let recorder = Arc::new(Recorder::new());
    let session = Arc::new(Mutex::new(Session::new(
        1,
        Arc::clone(&recorder),
        "127.0.0.1:3306".into(),
    )));
    Relay {
        client: framer(&session, true),
        server: framer(&session, false),
        recorder,
        finish: Box::new(move || session.lock().unwrap_or_else(|e| e.into_inner()).finish()),
    }
}

#[test]
fn the_whole_conversation_is_relayed_unchanged_and_every_statement_counted() {
    let turns = conversation();
    let (seen, to_server, to_client) = replay(&turns, relay, |_, _| Vec::new());
    assert_eq!(to_server, sent(&turns, Sender::Client));
    assert_eq!(to_client, sent(&turns, Sender::Server));
    let summary: Vec<(&str, Option<u64>, bool, bool)> = seen
        .iter()
        .map(|s| (s.sql.as_str(), s.rows, s.failed, s.in_transaction))
        .collect();
    assert_eq!(
        summary,
        [
            ("SELECT id FROM products", Some(2), false, false),
            ("SELECT 2", Some(1), false, false),
            (
                "SELECT id FROM products WHERE id = ?",
                Some(1),
                false,
                false
            ),
            // In a transaction: what ran after BEGIN, up to and including COMMIT.
            ("BEGIN", Some(0), false, false),
            (
                "INSERT INTO orders (user_id) VALUES (1)",
                Some(1),
                false,
                true
            ),
            ("COMMIT", Some(0), false, true),
            ("SELECT * FROM missing", None, true, false),
        ]
    );
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
        bytes in proptest::collection::vec(any::<u8>(), 0..(3 * LIMIT)),
        chunk in 1usize..512,
        logged_in in any::<bool>(),
    ) {
        for side in [Sender::Client, Sender::Server] {
            let mut relay = relay();
            if logged_in {
                let turns = conversation();
                for (from, bytes) in &turns[..3] {
                    relay.feed(*from, bytes).unwrap();
                }
            }
            for piece in bytes.chunks(chunk) {
                if relay.feed(side, piece).is_err() {
                    break;
                }
            }
            prop_assert!(relay.client.most_held <= LIMIT);
            prop_assert!(relay.server.most_held <= LIMIT);
        }
    }
}

/// A bounded fuzz loop (stable Rust, no libFuzzer): for about two seconds,
/// mutate the conversation (flip bytes, cut, duplicate) and feed it in
/// random chunks. Nothing may panic or hold more than the frame limit.
#[test]
fn mutated_conversations_never_panic_within_a_time_budget() {
    let cases = fuzz_mutations(&conversation(), relay, Duration::from_secs(2), |relay| {
        assert!(relay.client.most_held <= LIMIT);
        assert!(relay.server.most_held <= LIMIT);
    });
    assert!(cases > 100, "only {cases} cases ran");
}

#[test]
fn a_packet_it_must_read_larger_than_the_limit_is_refused_before_it_is_held() {
    let mut relay = relay();
    let turns = conversation();
    for (from, bytes) in &turns[..3] {
        relay.feed(*from, bytes).unwrap();
    }
    // A COM_QUERY header declaring 16 MiB - 1, the protocol's largest packet.
    let refused = relay
        .feed(Sender::Client, &[0xFF, 0xFF, 0xFF, 0, 0x03])
        .unwrap_err();
    assert!(refused.contains("oversized packet"), "{refused}");
    assert!(
        relay.client.most_held < 8,
        "held {}",
        relay.client.most_held
    );
    // A result row it only streams may be any size: forwarded as it arrives.
    let mut streaming = self::relay();
    for (from, bytes) in &turns[..4] {
        streaming.feed(*from, bytes).unwrap();
    }
    streaming.feed(Sender::Server, &packet(1, &[1])).unwrap();
    streaming
        .feed(Sender::Server, &packet(2, &column()))
        .unwrap();
    streaming
        .feed(Sender::Server, &packet(3, &eof(AUTOCOMMIT)))
        .unwrap();
    let mut big_row = vec![0xFC, 0x00, 0x40];
    big_row.extend(std::iter::repeat_n(b'x', 0x4000));
    for piece in packet(4, &big_row).chunks(1000) {
        streaming.feed(Sender::Server, piece).unwrap();
    }
    assert!(streaming.server.held.is_empty());
    assert!(
        streaming.server.most_held < 1000,
        "held {}",
        streaming.server.most_held
    );
}
