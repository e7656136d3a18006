//! perfguard's integration tests: one binary driving the real `perfguard`
//! executable, with helpers in `util.rs`.

mod bad_input;
mod gate;
mod git;
mod quality;
mod reader;
mod report;
mod util;
mod workflows;
