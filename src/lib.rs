//! perfguard: a performance-regression gate for CI. It measures criterion
//! benchmarks and per-endpoint database query counts, compares them with stored
//! baselines, and decides whether a change may merge.

pub mod comparison;
pub mod probe;
pub mod report;
pub mod results;
pub mod stats;
