//! perfguard's integration tests: one binary driving the real `perfguard`
//! executable, with helpers in `util.rs`.

mod proxy;
mod util;
