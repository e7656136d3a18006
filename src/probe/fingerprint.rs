//! SQL fingerprints in two tiers: strict (grouping) and readable (reports).

/// Version of the fingerprint algorithm, stored in every results and baseline file.
pub const FINGERPRINT_VERSION: u32 = 1;
