//! The standalone counting proxy, until `perfguard proxy` exists on the command
//! line. `proxy UPSTREAM_URL [LISTEN_ADDR]` prints every statement as
//! `perfguard proxy` will; `--quiet` only adds statements up, as perfguard's
//! load probes use the proxy (what scripts/proxy-bench.sh measures: the relay
//! and its bookkeeping, without a terminal in the loop).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use perfguard::probe::proxy::{CountingProxy, DatabaseUrl, ProxyConfig, run_standalone};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let quiet = arguments.iter().any(|argument| argument == "--quiet");
    let mut positional = arguments.iter().filter(|argument| *argument != "--quiet");
    let Some(upstream) = positional.next() else {
        eprintln!("usage: proxy [--quiet] UPSTREAM_URL [LISTEN_ADDR]");
        return ExitCode::from(2);
    };
    let listen = match positional.next().map(|addr| addr.parse::<SocketAddr>()) {
        None => None,
        Some(Ok(addr)) => Some(addr),
        Some(Err(error)) => {
            eprintln!("invalid listen address: {error}");
            return ExitCode::from(2);
        }
    };
    let result = if quiet {
        count_quietly(upstream, listen)
    } else {
        run_standalone(upstream, listen, std::io::stdout().lock())
            .map_err(|error| error.to_string())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("perfguard proxy: {error}");
            ExitCode::from(2)
        }
    }
}

fn count_quietly(upstream: &str, listen: Option<SocketAddr>) -> Result<(), String> {
    let url = DatabaseUrl::parse(upstream).map_err(|error| error.to_string())?;
    let mut config = ProxyConfig::new(url.kind, url.host_port);
    config.listen = listen;
    let proxy = CountingProxy::start(config).map_err(|error| error.to_string())?;
    proxy.keep_statements(false);
    println!("listening on {}", proxy.local_addr());
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_stop.store(true, Ordering::SeqCst))
        .map_err(|error| error.to_string())?;
    let (mut statements, mut faults) = (0u64, 0usize);
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        statements += proxy.take_totals().statements;
        faults += proxy.drain_faults().len();
    }
    statements += proxy.take_totals().statements;
    faults += proxy.drain_faults().len();
    println!("{statements} statements, {faults} connection faults");
    proxy.shutdown();
    Ok(())
}
