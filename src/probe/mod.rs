//! Query-count probes: the application lifecycle, the counting proxies, the
//! SQL fingerprints that group the statements they see, and the runner that
//! sends each probe's request and attributes statements to it.

pub(crate) mod app;
pub(crate) mod counting;
pub(crate) mod database;
pub mod fingerprint;
pub mod proxy;
pub(crate) mod runner;
pub(crate) mod sockets;
pub mod template;

use std::time::Duration;

/// Everything that stops a probe run from producing counts (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("[[probe]] entries need an [app] section saying how to start the application")]
    NoApp,
    #[error("[app] command {command:?} is empty or has unbalanced quotes")]
    BadCommand { command: String },
    #[error(
        "[app] cannot start {program:?} (command `{command}`): {source}; check [app].command in perfguard.toml"
    )]
    AppNotFound {
        program: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the application exited {when} ({status}); command `{command}`; last lines of its log:\n{tail}"
    )]
    AppExited {
        command: String,
        when: String,
        status: String,
        tail: String,
    },
    #[error(
        "the application never became ready: perfguard polled {url} and it did not answer 2xx within {timeout:?} (last: {last_answer}); {hint}; last lines of its log:\n{tail}"
    )]
    NeverReady {
        url: String,
        timeout: Duration,
        last_answer: String,
        hint: String,
        tail: String,
    },
    #[error(
        "[app] build `{command}` failed ({status}); fix the build or [app].build in perfguard.toml; last lines of its output:\n{tail}"
    )]
    BuildFailed {
        command: String,
        status: String,
        tail: String,
    },
    #[error(
        "[database] setup `{command}` failed{at_scale} ({status}); fix it or the schema it sets up; last lines of its output:\n{tail}"
    )]
    SetupFailed {
        command: String,
        at_scale: String,
        status: String,
        tail: String,
    },
    #[error(
        "[app] url {url}: port {port} is already in use{holder}; stop it, or choose another port in [app].url (or `{{port}}` for a free one)"
    )]
    PortInUse {
        url: String,
        port: u16,
        holder: String,
    },
    #[error(
        "{endpoint}: the request failed: {message}; last lines of the application's log:\n{tail}"
    )]
    Request {
        endpoint: String,
        message: String,
        tail: String,
    },
    #[error("[[probe]] {probe:?}: cannot build the request: {message}")]
    BadRequest { probe: String, message: String },
    #[error(
        "[[probe]] {probe:?}: {endpoint} answered HTTP {status}, expected {expected}; a failing endpoint is never a pass{hint}. Response starts: {body_start:?}"
    )]
    UnexpectedStatus {
        probe: String,
        endpoint: String,
        status: u16,
        expected: String,
        hint: &'static str,
        body_start: String,
    },
    #[error(
        "[[probe]] {probe:?}: capture {name} = {pointer:?} found no value: {why}; fix the JSON pointer (e.g. \"/token\" or \"/data/0/id\")"
    )]
    CaptureFailed {
        probe: String,
        name: String,
        pointer: String,
        why: String,
    },
    #[error(
        "{endpoint}: the response has no {header} header; the app must report its statement count there, or use count = \"proxy\""
    )]
    MissingCountHeader { endpoint: String, header: String },
    #[error("{endpoint}: header {header} = {value:?} is not a whole number of statements")]
    BadCountHeader {
        endpoint: String,
        header: String,
        value: String,
    },
    #[error("[database] url: {message}")]
    BadDatabaseUrl { message: String },
    #[error("the counting proxy could not start: {message}")]
    Proxy { message: String },
    #[error("database {url}: {message}")]
    Database { url: String, message: String },
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
