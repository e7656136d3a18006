//! perfguard's exit codes, in one place (documented in `--help` and the README).

/// No regression.
pub const NO_REGRESSION: i32 = 0;
/// At least one regression was found.
pub const REGRESSION: i32 = 1;
/// perfguard could not decide: bad configuration or input, the application or
/// a benchmark failed, the database was unreachable.
pub const COULD_NOT_DECIDE: i32 = 2;
