//! Test harness for the protocol framers on their own: the relay pump's
//! buffering without sockets, replaying a conversation turn by turn in any
//! chunking, and a time-bounded mutation loop. Used by each protocol's
//! `framing_tests`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recorder::Recorder;
use super::relay::Framer;

/// Who sent a turn of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sender {
    Client,
    Server,
}

/// A conversation: turns of consecutive bytes from one side.
pub(super) type Turns = Vec<(Sender, Vec<u8>)>;

/// One direction of the relay: bytes arrive in chunks, the framer says how
/// many may go on, the rest waits for more (as `relay::pump` does).
pub(super) struct Pump<F: Framer> {
    framer: F,
    pub held: Vec<u8>,
    pub forwarded: Vec<u8>,
    pub most_held: usize,
}

impl<F: Framer> Pump<F> {
    pub fn new(framer: F) -> Pump<F> {
        Pump {
            framer,
            held: Vec::new(),
            forwarded: Vec::new(),
            most_held: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.held.extend_from_slice(chunk);
        let forward = self.framer.advance(&mut self.held)?;
        assert!(forward <= self.held.len(), "forwards only what it has");
        self.forwarded.extend(self.held.drain(..forward));
        self.most_held = self.most_held.max(self.held.len());
        Ok(())
    }
}

/// Both directions of one connection and where its statements are recorded.
pub(super) struct Relay<C: Framer, S: Framer> {
    pub recorder: Arc<Recorder>,
    pub client: Pump<C>,
    pub server: Pump<S>,
    /// Ends the session (statements still pending are recorded).
    pub finish: Box<dyn Fn()>,
}

impl<C: Framer, S: Framer> Relay<C, S> {
    pub fn feed(&mut self, from: Sender, chunk: &[u8]) -> Result<(), String> {
        match from {
            Sender::Client => self.client.feed(chunk),
            Sender::Server => self.server.feed(chunk),
        }
    }
}

/// What a recorded statement says, without its time.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Seen {
    pub sql: String,
    pub rows: Option<u64>,
    pub confirmed: bool,
    pub failed: bool,
    pub in_transaction: bool,
    pub round_trip: u64,
}

/// The statements seen and the bytes forwarded to the server and to the client.
pub(super) type Replayed = (Vec<Seen>, Vec<u8>, Vec<u8>);

/// Feed every turn in order, each cut into chunks at `cuts(turn, length)`
/// (positions inside the turn).
pub(super) fn replay<C: Framer, S: Framer>(
    turns: &Turns,
    relay: impl FnOnce() -> Relay<C, S>,
    mut cuts: impl FnMut(usize, usize) -> Vec<usize>,
) -> Replayed {
    let mut relay = relay();
    for (index, (from, bytes)) in turns.iter().enumerate() {
        let mut points = cuts(index, bytes.len());
        points.retain(|p| *p > 0 && *p < bytes.len());
        points.sort_unstable();
        points.dedup();
        let mut start = 0;
        for end in points.into_iter().chain([bytes.len()]) {
            relay
                .feed(*from, &bytes[start..end])
                .expect("a valid conversation is never a violation");
            start = end;
        }
    }
    assert!(relay.client.held.is_empty() && relay.server.held.is_empty());
    (relay.finish)();
    let seen = relay
        .recorder
        .drain()
        .statements
        .into_iter()
        .map(|event| Seen {
            sql: event.sql,
            rows: event.rows,
            confirmed: event.confirmed,
            failed: event.failed,
            in_transaction: event.in_transaction,
            round_trip: event.round_trip,
        })
        .collect();
    (seen, relay.client.forwarded, relay.server.forwarded)
}

/// The bytes one side sent in the whole conversation.
pub(super) fn sent(turns: &Turns, from: Sender) -> Vec<u8> {
    turns
        .iter()
        .filter(|(side, _)| *side == from)
        .flat_map(|(_, bytes)| bytes.clone())
        .collect()
}

/// Every turn split at every byte boundary, one split at a time, then one
/// byte at a time: each replay must equal the whole one.
pub(super) fn assert_every_split_is_the_same<C: Framer, S: Framer>(
    turns: &Turns,
    relay: impl Fn() -> Relay<C, S>,
) {
    let whole = replay(turns, &relay, |_, _| Vec::new());
    for turn in 0..turns.len() {
        for at in 1..turns[turn].1.len() {
            let split = replay(
                turns,
                &relay,
                |index, _| {
                    if index == turn { vec![at] } else { vec![] }
                },
            );
            assert_eq!(split, whole, "turn {turn} split at byte {at}");
        }
    }
    let bytewise = replay(turns, &relay, |_, length| (1..length).collect());
    assert_eq!(bytewise, whole, "one byte at a time");
}

/// Cuts chunks of the given sizes, in turn, across the whole conversation.
pub(super) fn chunked(sizes: &[usize]) -> impl FnMut(usize, usize) -> Vec<usize> + '_ {
    let mut next = 0;
    move |_, length| {
        let mut points = Vec::new();
        let mut at = 0;
        while at < length {
            at += sizes[next % sizes.len()];
            next += 1;
            points.push(at);
        }
        points
    }
}

/// For `budget`, mutate the conversation (flip a bit, cut a turn short,
/// double it) and feed it in random chunks until a framer refuses; `check`
/// then looks at the relay. Returns how many cases ran.
pub(super) fn fuzz_mutations<C: Framer, S: Framer>(
    turns: &Turns,
    relay: impl Fn() -> Relay<C, S>,
    budget: Duration,
    check: impl Fn(&Relay<C, S>),
) -> usize {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let deadline = Instant::now() + budget;
    let mut cases = 0;
    while Instant::now() < deadline {
        cases += 1;
        let mut relay = relay();
        'turns: for (from, bytes) in turns {
            let mut bytes = bytes.clone();
            match random() % 4 {
                0 if !bytes.is_empty() => {
                    let at = (random() as usize) % bytes.len();
                    bytes[at] ^= 1 << (random() % 8);
                }
                1 => bytes.truncate((random() as usize) % (bytes.len() + 1)),
                2 => bytes.extend(bytes.clone()),
                _ => {}
            }
            let chunk = 1 + (random() as usize) % 97;
            for piece in bytes.chunks(chunk) {
                if relay.feed(*from, piece).is_err() {
                    break 'turns;
                }
            }
        }
        (relay.finish)();
        check(&relay);
    }
    cases
}
