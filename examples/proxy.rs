//! The standalone counting proxy, until `perfguard proxy` exists on the command
//! line: `cargo run --release --example proxy -- postgres://127.0.0.1:5432 [127.0.0.1:6543]`.

use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let Some(upstream) = arguments.next() else {
        eprintln!("usage: proxy UPSTREAM_URL [LISTEN_ADDR]");
        return ExitCode::from(2);
    };
    let listen = match arguments.next().map(|addr| addr.parse::<SocketAddr>()) {
        None => None,
        Some(Ok(addr)) => Some(addr),
        Some(Err(error)) => {
            eprintln!("invalid listen address: {error}");
            return ExitCode::from(2);
        }
    };
    match perfguard::probe::proxy::run_standalone(&upstream, listen, std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("perfguard proxy: {error}");
            ExitCode::from(2)
        }
    }
}
