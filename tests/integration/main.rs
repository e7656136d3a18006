//! perfguard's integration tests: one binary driving the real `perfguard`
//! executable, with helpers in `util.rs`.

mod bad_input;
mod gate;
mod gate_git;
mod git;
mod reader;
mod util;
