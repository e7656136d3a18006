//! Query-count probes: the application lifecycle, the counting proxies and the
//! SQL fingerprints that group the statements they see.

pub mod fingerprint;
pub mod proxy;
