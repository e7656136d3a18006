//! The timing rule: how a benchmark's change (from [`crate::stats`]) and its
//! Holm-adjusted p-value become a verdict, and when a paired run should
//! measure a benchmark again before settling it. See [`crate::stats`] for the
//! statistics and the reasoning behind the interval rule.

use crate::comparison::{TimingReason, TimingRule, TimingSource};
use crate::stats::Change;

/// The timing verdicts the statistics can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingVerdict {
    Regressed,
    Improved,
    Unchanged,
    Inconclusive,
}

/// Classify a change against the practical threshold (`0.05` for 5%) and alpha,
/// using the Holm-adjusted p-value (see the module doc for the rule).
pub fn classify(change: &Change, adjusted_p: f64, threshold: f64, alpha: f64) -> TimingVerdict {
    let slower_limit = 1.0 + threshold;
    let faster_limit = 1.0 / (1.0 + threshold);
    let significant = adjusted_p < alpha;
    if significant && change.ratio > 1.0 && change.ratio_high >= slower_limit {
        TimingVerdict::Regressed
    } else if significant && change.ratio < 1.0 && change.ratio_low <= faster_limit {
        TimingVerdict::Improved
    } else if !significant && (change.ratio >= slower_limit || change.ratio <= faster_limit) {
        // Looks like a change beyond the threshold, but the noise cannot confirm it.
        TimingVerdict::Inconclusive
    } else {
        TimingVerdict::Unchanged
    }
}

/// Whether more paired rounds could change a benchmark's verdict: it is not
/// `regressed`, but its interval still reaches the threshold, so it may be a
/// regression the rounds so far are too few to show (whichever side of no
/// change its estimate fell on). Everything else is settled: regressed, or
/// ruled out as a slowdown of the threshold's size.
pub fn needs_more_rounds(change: &Change, adjusted_p: f64, threshold: f64, alpha: f64) -> bool {
    classify(change, adjusted_p, threshold, alpha) != TimingVerdict::Regressed
        && change.ratio_high >= 1.0 + threshold
}

/// The reason a timing change gets: the rule [`classify`] applied, with the
/// figures it decided on. A significant change that stays within the
/// threshold is told apart from no change at all.
pub fn timing_reason(
    change: &Change,
    p_adjusted: f64,
    threshold: f64,
    alpha: f64,
    source: TimingSource,
) -> TimingReason {
    let rule = match classify(change, p_adjusted, threshold, alpha) {
        TimingVerdict::Regressed => TimingRule::Slower,
        TimingVerdict::Improved => TimingRule::Faster,
        TimingVerdict::Inconclusive => TimingRule::TooNoisy,
        TimingVerdict::Unchanged if p_adjusted < alpha => TimingRule::SmallChange,
        TimingVerdict::Unchanged => TimingRule::NoChange,
    };
    TimingReason {
        rule,
        source,
        ratio: change.ratio,
        ratio_low: change.ratio_low,
        ratio_high: change.ratio_high,
        p_adjusted,
        alpha,
        threshold,
    }
}
