//! Round-trip cost of the counting proxy's relay and framing, without a real
//! database in the loop: a minimal PostgreSQL-speaking server answers every
//! simple query at once, and a blocking client sends `SELECT 1` and waits for
//! ReadyForQuery, directly and through `CountingProxy`. The difference is what
//! the proxy adds per round trip (two reads, two writes, framing, counting).

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use criterion::{Criterion, criterion_group, criterion_main};
use perfguard::probe::proxy::{CountingProxy, DbKind, ProxyConfig};

/// Writes one backend message.
fn message(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
}

/// Serves connections: AuthenticationOk + ReadyForQuery after startup, then
/// RowDescription-free `CommandComplete` + `ReadyForQuery` for every Query.
fn start_fake_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
    let addr = listener.local_addr().expect("fake server address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_fake(stream));
        }
    });
    addr
}

fn serve_fake(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    let mut length = [0u8; 4];
    if reader.read_exact(&mut length).is_err() {
        return;
    }
    let mut startup = vec![0u8; u32::from_be_bytes(length) as usize - 4];
    if reader.read_exact(&mut startup).is_err() {
        return;
    }
    let mut hello = Vec::new();
    message(&mut hello, b'R', &0u32.to_be_bytes());
    message(&mut hello, b'Z', b"I");
    let mut answer = Vec::new();
    message(&mut answer, b'C', b"SELECT 1\0");
    message(&mut answer, b'Z', b"I");
    if writer.write_all(&hello).is_err() {
        return;
    }
    let mut header = [0u8; 5];
    let mut body = Vec::new();
    while reader.read_exact(&mut header).is_ok() {
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        body.resize(length - 4, 0);
        if reader.read_exact(&mut body).is_err() || header[0] == b'X' {
            return;
        }
        if header[0] == b'Q' && writer.write_all(&answer).is_err() {
            return;
        }
    }
}

/// A logged-in client connection to `addr`.
fn connect(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut body = 196_608u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0bench\0\0");
    let mut startup = (body.len() as u32 + 4).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    stream.write_all(&startup).expect("startup");
    read_until_ready(&mut stream);
    stream
}

fn read_until_ready(stream: &mut TcpStream) {
    let mut header = [0u8; 5];
    let mut body = [0u8; 256];
    loop {
        stream.read_exact(&mut header).expect("message header");
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        stream
            .read_exact(&mut body[..length - 4])
            .expect("message body");
        if header[0] == b'Z' {
            return;
        }
    }
}

fn bench_round_trip(c: &mut Criterion) {
    let server = start_fake_server();
    let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Postgres, server.to_string()))
        .expect("proxy starts");
    let mut query = Vec::new();
    message(&mut query, b'Q', b"SELECT 1\0");

    let mut group = c.benchmark_group("proxy_round_trip");
    for (name, addr) in [("direct", server), ("through_proxy", proxy.local_addr())] {
        let mut stream = connect(addr);
        group.bench_function(name, |b| {
            b.iter(|| {
                stream.write_all(&query).expect("query");
                read_until_ready(&mut stream);
            })
        });
        // Keep the recorder from growing across samples.
        let _ = proxy.drain();
    }
    group.finish();
    proxy.shutdown();
}

criterion_group!(benches, bench_round_trip);
criterion_main!(benches);
