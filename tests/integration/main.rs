//! perfguard's integration tests: one binary driving the real `perfguard`
//! executable, with helpers in `util.rs`.

mod bad_input;
mod cli;
mod db;
mod gate;
mod gate_git;
mod init;
mod instructions;
mod load;
mod probes;
mod proxy;
mod quality;
mod reader;
mod report;
mod service_probes;
mod shard;
mod shop_fixture;
mod shop_incident;
mod util;
mod verdict_snapshots;
mod workflows;
