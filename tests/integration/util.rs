//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// The repository root (where Cargo.toml of perfguard lives).
#[allow(dead_code)]
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `Command` for the perfguard binary built for these tests.
#[allow(dead_code)]
pub fn perfguard() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("perfguard").expect("perfguard binary is built")
}
