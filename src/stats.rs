//! The statistics of the timing gate: pure functions, no I/O.
//!
//! Each criterion run of a benchmark is reduced to one location: the minimum of
//! its log per-iteration times. Interference from other processes only ever
//! adds time: a sample during which the benchmark was descheduled or shared its
//! core is slower, never faster. On a loaded machine a run's samples are a clean
//! cluster plus slowed ones, and the share of slowed samples changes from run to
//! run; the median follows that share, the minimum stays with the clean cluster
//! as long as one sample escaped (Chen & Revels, "Robust benchmarking in noisy
//! environments", 2016, arXiv:1608.04295; the estimator of Julia's
//! BenchmarkTools). On perfguard's 2-core development machine under load, the
//! median made an unchanged benchmark's paired head/base ratio stray by a
//! median of 10.8%, the minimum by 1.7% (scripts/quality). Runs, not samples,
//! are the unit of replication: the samples of one run share that run's machine
//! state, so the run-to-run spread is what decides whether a change is real
//! (Kalibera & Jones, "Rigorous Benchmarking in Reasonable Time", ISMM 2013).
//! A minimum has no useful within-run standard error, so none is added: the
//! spread of the runs (or paired rounds), moderated towards the prior, carries
//! the whole variance.
//!
//! The variance of a run's location is estimated from the baseline's repeated
//! runs, moderated towards a prior run-to-run noise level with the empirical
//! Bayes "moderated t" of Smyth (2004, Stat. Appl. Genet. Mol. Biol. 3(1)):
//! `s~^2 = (d0 * s0^2 + d * s^2) / (d0 + d)` with `d0 + d` degrees of freedom.
//! With a single recorded run the prior alone carries the run-to-run noise, so
//! one run's tight samples never make a machine's drift look significant. A
//! benchmark whose own spread is far beyond the prior is not moderated (see
//! [`moderate`]), nor in paired runs one whose runs scatter far beyond it on
//! either side (see [`compare_paired`]).
//!
//! The change is the ratio of geometric locations `exp(mean_current - mean_baseline)`
//! with a Student-t interval on the log scale. Paired runs (base and head
//! alternated in one job) use the one-sample t on per-round log ratios instead.
//! Across a suite, p-values are adjusted with Holm's step-down method (Holm 1979,
//! Scand. J. Statist. 6:65-70), which controls the family-wise error rate.
//!
//! The threshold is the smallest slowdown the gate must catch. A benchmark is
//! `regressed` when it is significantly slower (Holm-adjusted p below alpha)
//! *and* its slowdown may reach the threshold: the upper end of the confidence
//! interval is at or beyond it. A rule on the estimate alone ("slower by at
//! least the threshold") misses a true slowdown of exactly the threshold half
//! of the time, since its estimate falls below the threshold as often as above;
//! the interval's end is above it about 97.5% of the time. The rule cannot be
//! set off by a small change: a significant interval lies above zero, so a
//! flagged estimate is at least half the threshold on the log scale (on
//! perfguard's quality fixture, scripts/quality/earlier re-analysed with only
//! this rule changed: +5% caught 77% of the time instead of 45%, +2% flagged
//! 13%, no more A/A false alarms). Improvements mirror
//! this. `inconclusive` is a potential regression the noise cannot confirm: the
//! estimate is beyond the threshold but not significant. `unchanged` is
//! everything else. That rule, and which benchmarks a paired run measures
//! again before it settles, live with every other verdict rule in
//! [`crate::compare::timing`].

use statrs::distribution::{ContinuousCDF, FisherSnedecor, Normal, StudentsT};

/// A benchmark whose own spread lies beyond this quantile of what the prior
/// predicts is not moderated towards the prior (see [`moderate`]).
const OUTLIER_QUANTILE: f64 = 0.999;

/// A run reduced to its location on the log scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSummary {
    /// Minimum of `ln(per-iteration ns)`.
    pub log_location: f64,
    pub samples: usize,
}

/// Prior knowledge of run-to-run noise, used when the baseline has few runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseModel {
    /// Standard deviation of a run's log location from run to run, e.g. 0.02 for ~2%.
    pub run_sd_log: f64,
    /// How many runs' worth of evidence the prior counts as (Smyth's d0).
    pub prior_df: f64,
}

impl Default for NoiseModel {
    fn default() -> Self {
        NoiseModel {
            run_sd_log: 0.02,
            prior_df: 8.0,
        }
    }
}

/// The estimated change of one benchmark.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// current / baseline.
    pub ratio: f64,
    /// Lower end of the confidence interval of the ratio.
    pub ratio_low: f64,
    /// Upper end of the confidence interval of the ratio.
    pub ratio_high: f64,
    /// Two-sided p-value for "no change".
    pub p_value: f64,
    /// Degrees of freedom of the t-statistic.
    pub degrees_of_freedom: f64,
}

/// Median of a non-empty slice (which is reordered).
pub(crate) fn median_in_place(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Reduce one run's samples to a [`RunSummary`]: its fastest per-iteration time.
pub fn summarize_run(per_iteration_ns: &[f64]) -> RunSummary {
    let location = per_iteration_ns
        .iter()
        .map(|t| t.ln())
        .fold(f64::INFINITY, f64::min);
    RunSummary {
        log_location: location,
        samples: per_iteration_ns.len(),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    sum / count as f64
}

fn sum_of_squares(values: &[f64]) -> f64 {
    let m = mean(values.iter().copied());
    values.iter().map(|v| (v - m) * (v - m)).sum()
}

/// Whether a variance estimate with `df` degrees of freedom lies beyond the
/// `quantile` of what the prior predicts: its ratio to `prior_variance` beyond
/// that quantile of F(df, d0).
fn beyond_prior(
    variance: f64,
    df: f64,
    prior_variance: f64,
    noise: NoiseModel,
    quantile: f64,
) -> bool {
    if prior_variance <= 0.0 {
        return false;
    }
    let f = FisherSnedecor::new(df, noise.prior_df).expect("positive degrees of freedom");
    f.cdf(variance / prior_variance) > quantile
}

/// Smyth's moderated variance `(d0 s0^2 + ss) / (d0 + d)` with `d0 + d`
/// degrees of freedom, unless the data's own variance is an outlier against
/// the prior (its ratio to `prior_variance` beyond the 99.9% quantile of
/// F(d, d0)): then the prior evidently does not describe this benchmark and
/// the data decide alone, with `d` degrees of freedom (the idea of Phipson et
/// al.'s robust empirical Bayes, Ann. Appl. Stat. 10(2), 2016, in its
/// simplest form). A memory-bound benchmark whose runs land in different
/// page-size modes swings by +-50% from run to run; moderated towards a 1%
/// prior, five rounds of it looked like a significant +15% on unchanged code.
fn moderate(prior_variance: f64, data_ss: f64, data_df: f64, noise: NoiseModel) -> (f64, f64) {
    if data_df >= 2.0
        && beyond_prior(
            data_ss / data_df,
            data_df,
            prior_variance,
            noise,
            OUTLIER_QUANTILE,
        )
    {
        return (data_ss / data_df, data_df);
    }
    (
        (noise.prior_df * prior_variance + data_ss) / (noise.prior_df + data_df),
        (noise.prior_df + data_df).max(1.0),
    )
}

fn t_interval(estimate: f64, standard_error: f64, df: f64, confidence: f64) -> (f64, f64, f64) {
    let t = StudentsT::new(0.0, 1.0, df).expect("df is positive");
    let critical = t.inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let p_value = if standard_error > 0.0 {
        2.0 * (1.0 - t.cdf((estimate / standard_error).abs()))
    } else if estimate == 0.0 {
        1.0
    } else {
        0.0
    };
    (
        estimate - critical * standard_error,
        estimate + critical * standard_error,
        p_value.clamp(0.0, 1.0),
    )
}

/// A change from a difference of logs, its standard error and degrees of
/// freedom: the ratio and its t-interval, and the two-sided p-value.
fn log_change(difference: f64, standard_error: f64, df: f64, confidence: f64) -> Change {
    let (low, high, p_value) = t_interval(difference, standard_error, df, confidence);
    Change {
        ratio: difference.exp(),
        ratio_low: low.exp(),
        ratio_high: high.exp(),
        p_value,
        degrees_of_freedom: df,
    }
}

/// Compare independent runs of the baseline and of the current revision.
pub fn compare_runs(
    baseline: &[RunSummary],
    current: &[RunSummary],
    noise: NoiseModel,
    confidence: f64,
) -> Change {
    assert!(
        !baseline.is_empty() && !current.is_empty(),
        "both sides need at least one run"
    );
    let base_locations: Vec<f64> = baseline.iter().map(|r| r.log_location).collect();
    let current_locations: Vec<f64> = current.iter().map(|r| r.log_location).collect();
    let difference = mean(current_locations.iter().copied()) - mean(base_locations.iter().copied());

    // A run's location (a minimum) varies by the machine's run-to-run noise.
    let prior_variance = noise.run_sd_log * noise.run_sd_log;
    let data_df = (baseline.len() - 1 + current.len() - 1) as f64;
    let data_ss = sum_of_squares(&base_locations) + sum_of_squares(&current_locations);
    let (moderated_variance, df) = moderate(prior_variance, data_ss, data_df, noise);
    let standard_error =
        (moderated_variance * (1.0 / baseline.len() as f64 + 1.0 / current.len() as f64)).sqrt();

    log_change(difference, standard_error, df, confidence)
}

/// One paired round of a benchmark: the log locations of its base and head runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedRound {
    pub base: f64,
    pub head: f64,
}

impl PairedRound {
    /// `ln(head / base)`.
    pub fn log_ratio(&self) -> f64 {
        self.head - self.base
    }
}

/// A benchmark whose runs scatter beyond this quantile of what the prior
/// predicts for a run is judged on its own rounds (see [`compare_paired`]).
const RUN_SCATTER_QUANTILE: f64 = 0.99;

/// Whether the runs of each side scatter from round to round far beyond the
/// prior's `noise.run_sd_log`: their pooled variance, with `2 (n - 1)` degrees
/// of freedom, beyond the 99% quantile of F(2 (n - 1), d0) times the prior.
fn runs_scatter_beyond_prior(rounds: &[PairedRound], noise: NoiseModel) -> bool {
    let n = rounds.len();
    if n < 2 {
        return false;
    }
    let base: Vec<f64> = rounds.iter().map(|r| r.base).collect();
    let head: Vec<f64> = rounds.iter().map(|r| r.head).collect();
    let df = 2.0 * (n as f64 - 1.0);
    let variance = (sum_of_squares(&base) + sum_of_squares(&head)) / df;
    let prior_variance = noise.run_sd_log * noise.run_sd_log;
    beyond_prior(variance, df, prior_variance, noise, RUN_SCATTER_QUANTILE)
}

/// Compare paired rounds of an A B A B ... alternation by the mean of their
/// log ratios `ln(head_r / base_r)`, with the one-sample t. The prior for a
/// round's ratio is a residual drift of `noise.run_sd_log / 2` (a run's
/// minimum carries no sampling error of its own).
///
/// The prior describes most benchmarks, not all: a memory-bound benchmark
/// whose process lands in a different page layout each run scatters by 10-20%
/// from run to run, and now and then four or five of its rounds agree by
/// chance (a standard deviation of 3%). Moderated towards the 1% prior, such rounds read as a
/// significant +7% on unchanged code (on the quality fixture, 2 of 15 A/A
/// suites failed so). So when either side's runs scatter far beyond the prior
/// ([`runs_scatter_beyond_prior`]), the rounds decide alone, with their own
/// `n - 1` degrees of freedom, as they also do when the ratios' own spread
/// is an outlier against the prior ([`moderate`]).
///
/// Base and head are two builds, and two builds of the same code differ by a
/// fixed offset per benchmark (code and data layout: Mytkowicz et al.,
/// "Producing wrong data without doing anything obviously wrong", ASPLOS 2009).
/// Rounds cannot average it away, so the standard error of the mean keeps a
/// floor of `noise.run_sd_log / 2` for it. On perfguard's quality fixture,
/// unchanged benchmarks' paired means strayed by up to ~3% from trial to trial
/// beyond what their rounds explained, and an A/A memory-bound benchmark came
/// out +3.2% over 10 rounds; the floor keeps such offsets from failing the gate.
pub fn compare_paired(rounds: &[PairedRound], noise: NoiseModel, confidence: f64) -> Change {
    assert!(
        !rounds.is_empty(),
        "paired comparison needs at least one round"
    );
    let log_ratios: Vec<f64> = rounds.iter().map(PairedRound::log_ratio).collect();
    let n = rounds.len() as f64;
    let difference = mean(log_ratios.iter().copied());
    let residual_drift = noise.run_sd_log / 2.0;
    let prior_variance = residual_drift * residual_drift;
    let data_df = n - 1.0;
    let data_ss = sum_of_squares(&log_ratios);
    let (variance, df) = if runs_scatter_beyond_prior(rounds, noise) {
        (data_ss / data_df, data_df)
    } else {
        moderate(prior_variance, data_ss, data_df, noise)
    };
    let build_offset = noise.run_sd_log / 2.0;
    let standard_error = (variance / n + build_offset * build_offset).sqrt();
    log_change(difference, standard_error, df, confidence)
}

/// The mean of per-round log ratios `ln(head / base)` with the one-sample t
/// on the rounds alone (`n - 1` degrees of freedom, no prior): for paired
/// measurements with no run-to-run prior of their own, such as a load probe's
/// latency quantile. One round gives an interval without bounds.
pub fn compare_rounds(log_ratios: &[f64], confidence: f64) -> Change {
    assert!(!log_ratios.is_empty(), "needs at least one round");
    let n = log_ratios.len() as f64;
    let difference = mean(log_ratios.iter().copied());
    if log_ratios.len() < 2 {
        return Change {
            ratio: difference.exp(),
            ratio_low: 0.0,
            ratio_high: f64::INFINITY,
            p_value: 1.0,
            degrees_of_freedom: 0.0,
        };
    }
    let df = n - 1.0;
    let standard_error = (sum_of_squares(log_ratios) / df / n).sqrt();
    log_change(difference, standard_error, df, confidence)
}

/// The sample standard deviation of `values` (0 for fewer than two).
pub fn standard_deviation(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    (sum_of_squares(values) / (values.len() - 1) as f64).sqrt()
}

/// Holm's step-down adjustment: adjusted p-values in the input order.
pub fn holm_adjust(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &index) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(value);
        adjusted[index] = running_max;
    }
    adjusted
}

/// Least distance of a round's ratio from the median round's, as a share,
/// for the round to count as disturbed.
const DISTURBED_FLOOR: f64 = 0.05;

/// Scaled median absolute deviations beyond which a round counts as disturbed.
const DISTURBED_MADS: f64 = 3.0;

/// Which paired rounds to keep, from their log ratios `ln(head / base)`:
/// `false` for a round whose ratio lies further from the median round's than
/// three scaled MADs and 5%, either way. Interference sometimes slows a whole
/// run (a neighbour holding the core for seconds, a lower clock, another
/// page-size mode for a large buffer): even its fastest sample is slow, and
/// one such run moves a five-round mean by several percent (on the quality
/// fixture, an unchanged allocation benchmark's rounds read -0.3, +0.3, +64,
/// -1.6 and -0.9%). The rule looks at the ratio, not at each side's runs, and
/// at both tails: judging each side's runs against that side's median dropped
/// different modes on the two sides of a bimodal benchmark and made an A/A
/// +6% out of rounds averaging +2%. Fewer than four rounds, or fewer than
/// three left, keep every round.
pub fn undisturbed_rounds(log_ratios: &[f64]) -> Vec<bool> {
    let all = vec![true; log_ratios.len()];
    if log_ratios.len() < 4 {
        return all;
    }
    let centre = median_in_place(&mut log_ratios.to_vec());
    let mut deviations: Vec<f64> = log_ratios.iter().map(|r| (r - centre).abs()).collect();
    let mad = 1.4826 * median_in_place(&mut deviations);
    let cut = (DISTURBED_MADS * mad).max(DISTURBED_FLOOR.ln_1p());
    let keep: Vec<bool> = log_ratios
        .iter()
        .map(|r| (r - centre).abs() <= cut)
        .collect();
    if keep.iter().filter(|k| **k).count() < 3 {
        return all;
    }
    keep
}

/// The splitmix64 mix of `n` (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a seeded, reproducible
/// stream from `n = 1, 2, ...`.
pub fn splitmix64(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Nominal two-sided levels of a group-sequential design: the test at each
/// look (after `looks[k]` rounds of at most `max` rounds) is significant when
/// its p-value is below `levels[k]`, and the chance that any look raises a
/// false alarm stays `alpha`.
///
/// The alpha spent by information fraction `t` follows Lan and DeMets'
/// O'Brien-Fleming-type spending function, `2 - 2 Phi(z_{1-alpha/2} / sqrt(t))`
/// (Lan & DeMets, "Discrete sequential boundaries for clinical trials",
/// Biometrika 70, 1983; O'Brien & Fleming, Biometrics 35, 1979): early looks
/// spend almost nothing, so a benchmark stops early only on overwhelming
/// evidence, and the last look keeps nearly the whole alpha. The boundaries
/// for that spending are found by simulating the standardised statistic at the
/// looks (sums of independent normal rounds, a seeded generator: the same
/// design gives the same levels every run) rather than by numerical
/// integration.
pub fn sequential_levels(looks: &[u32], max: u32, alpha: f64) -> Vec<f64> {
    const PATHS: usize = 40_000;
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha / 2.0);
    let spent = |t: f64| {
        if t <= 0.0 {
            0.0
        } else {
            (2.0 - 2.0 * normal.cdf(z / t.min(1.0).sqrt())).min(alpha)
        }
    };
    let mut state: u64 = 0;
    let mut uniform = move || {
        state = state.wrapping_add(1);
        ((splitmix64(state) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut standard_normal = move || {
        let (u, v) = (uniform(), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    // |Z| of every path at every look.
    let mut statistics = vec![Vec::with_capacity(PATHS); looks.len()];
    for _ in 0..PATHS {
        let mut sum = 0.0;
        let mut round = 0;
        for (k, &look) in looks.iter().enumerate() {
            while round < look {
                sum += standard_normal();
                round += 1;
            }
            statistics[k].push((sum / f64::from(look.max(1)).sqrt()).abs());
        }
    }
    let mut stopped = vec![false; PATHS];
    let mut levels = Vec::with_capacity(looks.len());
    let mut spent_before = 0.0;
    for (k, &look) in looks.iter().enumerate() {
        let spend_now = spent(f64::from(look) / f64::from(max.max(1))) - spent_before;
        spent_before += spend_now.max(0.0);
        let crossings = (spend_now.max(0.0) * PATHS as f64).round() as usize;
        let mut open: Vec<(f64, usize)> = (0..PATHS)
            .filter(|&i| !stopped[i])
            .map(|i| (statistics[k][i], i))
            .collect();
        open.sort_by(|a, b| b.0.total_cmp(&a.0));
        let level = match crossings.min(open.len()) {
            0 => spend_now.max(0.0) / 2.0,
            n => {
                let boundary = open[n - 1].0;
                for &(_, i) in &open[..n] {
                    stopped[i] = true;
                }
                2.0 * (1.0 - normal.cdf(boundary))
            }
        };
        levels.push(level.min(alpha));
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::timing::{TimingVerdict, classify, needs_more_rounds};

    fn run(center: f64, spread: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| center * (1.0 + spread * ((i as f64 * 0.7).sin())))
            .collect()
    }

    #[test]
    fn holm_matches_hand_computation() {
        let adjusted = holm_adjust(&[0.01, 0.04, 0.03, 0.005]);
        // sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> max-accumulate 0.06
        assert_eq!(adjusted, vec![0.03, 0.06, 0.06, 0.02]);
    }

    #[test]
    fn identical_runs_are_unchanged() {
        let a = summarize_run(&run(100.0, 0.01, 100));
        let change = compare_runs(&[a], &[a], NoiseModel::default(), 0.95);
        assert!((change.ratio - 1.0).abs() < 1e-12);
        assert_eq!(
            classify(&change, change.p_value, 0.05, 0.05),
            TimingVerdict::Unchanged
        );
    }

    #[test]
    fn doubled_time_is_regressed() {
        let a = summarize_run(&run(100.0, 0.01, 100));
        let b = summarize_run(&run(200.0, 0.01, 100));
        let change = compare_runs(&[a], &[b], NoiseModel::default(), 0.95);
        assert!((change.ratio - 2.0).abs() < 1e-9);
        assert_eq!(
            classify(&change, change.p_value, 0.05, 0.05),
            TimingVerdict::Regressed
        );
    }

    #[test]
    fn samples_slowed_by_interference_do_not_move_a_run() {
        // Two runs of the same work: 15 and 5 of 20 samples slowed 2x by a
        // neighbour. The median of the first run doubles; the location does not.
        let slowed = |count: usize| -> Vec<f64> {
            (0..20)
                .map(|i| {
                    if i < count {
                        200.0
                    } else {
                        100.0 + i as f64 * 0.01
                    }
                })
                .collect()
        };
        let busy = summarize_run(&slowed(15));
        let quiet = summarize_run(&slowed(5));
        assert!((busy.log_location - quiet.log_location).abs() < 1e-3);
        let change = compare_runs(&[quiet], &[busy], NoiseModel::default(), 0.95);
        assert_eq!(
            classify(&change, change.p_value, 0.05, 0.05),
            TimingVerdict::Unchanged
        );
    }

    #[test]
    fn run_to_run_spread_widens_the_interval() {
        let runs: Vec<RunSummary> = [100.0, 108.0, 93.0, 104.0]
            .iter()
            .map(|c| summarize_run(&run(*c, 0.001, 100)))
            .collect();
        let one = compare_runs(&runs[..1], &runs[..1], NoiseModel::default(), 0.95);
        let many = compare_runs(&runs, &runs[..1], NoiseModel::default(), 0.95);
        assert!(many.ratio_high - many.ratio_low > one.ratio_high - one.ratio_low);
    }

    fn change(ratio: f64, low: f64, high: f64, p_value: f64) -> Change {
        Change {
            ratio,
            ratio_low: low,
            ratio_high: high,
            p_value,
            degrees_of_freedom: 12.0,
        }
    }

    #[test]
    fn a_significant_slowdown_whose_interval_reaches_the_threshold_is_regressed() {
        // +4% [+2%, +6%]: significant, and it may be a 5% slowdown.
        let reaching = change(1.04, 1.02, 1.06, 0.001);
        assert_eq!(
            classify(&reaching, 0.001, 0.05, 0.05),
            TimingVerdict::Regressed
        );
        assert!(!needs_more_rounds(&reaching, 0.001, 0.05, 0.05));
        // +2% [+1%, +3%]: significant, but it cannot be a 5% slowdown.
        let small = change(1.02, 1.01, 1.03, 0.001);
        assert_eq!(
            classify(&small, 0.001, 0.05, 0.05),
            TimingVerdict::Unchanged
        );
        assert!(!needs_more_rounds(&small, 0.001, 0.05, 0.05));
        // The same intervals, mirrored, for improvements.
        let faster = change(1.0 / 1.04, 1.0 / 1.06, 1.0 / 1.02, 0.001);
        assert_eq!(
            classify(&faster, 0.001, 0.05, 0.05),
            TimingVerdict::Improved
        );
        let slightly = change(1.0 / 1.02, 1.0 / 1.03, 1.0 / 1.01, 0.001);
        assert_eq!(
            classify(&slightly, 0.001, 0.05, 0.05),
            TimingVerdict::Unchanged
        );
    }

    /// Paired rounds with these head/base ratios (percent), the base runs at
    /// these log locations.
    fn rounds(ratios_percent: &[f64], base_logs: &[f64]) -> Vec<PairedRound> {
        ratios_percent
            .iter()
            .zip(base_logs)
            .map(|(p, base)| PairedRound {
                base: *base,
                head: base + (1.0 + p / 100.0).ln(),
            })
            .collect()
    }

    #[test]
    fn a_benchmark_far_noisier_than_the_prior_is_not_moderated() {
        // Five rounds of an unchanged benchmark whose runs swing between
        // page-size modes (measured on the quality fixture's random walk).
        let steady = [0.0; 5];
        let swings = rounds(&[26.09, -7.43, 17.22, 15.01, 28.78], &steady);
        let change = compare_paired(&swings, NoiseModel::default(), 0.95);
        assert_eq!(change.degrees_of_freedom, 4.0);
        assert!(holm_adjust(&[change.p_value; 20])[0] > 0.05, "{change:?}");
        // Rounds as tight as the prior expects keep its degrees of freedom.
        let tight = rounds(&[1.0, -0.5, 0.8, 0.2, -0.3], &steady);
        let change = compare_paired(&tight, NoiseModel::default(), 0.95);
        assert_eq!(change.degrees_of_freedom, 12.0);
    }

    #[test]
    fn runs_scattering_beyond_the_prior_leave_the_rounds_to_decide_alone() {
        // The quality fixture's random walk on unchanged code, an A/A trial
        // whose four kept rounds happened to agree: +3.3, +10.0, +4.7, +9.1%.
        let agreeing = [3.3, 10.0, 4.7, 9.1];
        // Its base runs' minima: 119, 111, 142 and 137 us.
        let scattered: Vec<f64> = [119.1f64, 111.0, 141.6, 136.8]
            .iter()
            .map(|us| (us * 1000.0).ln())
            .collect();
        let change = compare_paired(&rounds(&agreeing, &scattered), NoiseModel::default(), 0.95);
        assert_eq!(change.degrees_of_freedom, 3.0);
        // First of a suite of 20 otherwise unchanged benchmarks.
        let adjusted = holm_adjust(&[[change.p_value].as_slice(), &[1.0; 19]].concat());
        assert!(adjusted[0] > 0.05, "{change:?}");
        // The same ratios from runs as steady as the prior expects are
        // moderated, and a +7% that consistent is a regression.
        let steady: Vec<f64> = [0.0, 0.004, -0.003, 0.001]
            .iter()
            .map(|d| 11.7 + d)
            .collect();
        let change = compare_paired(&rounds(&agreeing, &steady), NoiseModel::default(), 0.95);
        assert_eq!(change.degrees_of_freedom, 11.0);
        let adjusted = holm_adjust(&[[change.p_value].as_slice(), &[1.0; 19]].concat());
        assert_eq!(
            classify(&change, adjusted[0], 0.05, 0.05),
            TimingVerdict::Regressed,
            "{change:?}"
        );
    }

    #[test]
    fn a_round_with_a_disturbed_run_is_dropped() {
        let ln = |percents: &[f64]| -> Vec<f64> {
            percents.iter().map(|p| (1.0 + p / 100.0).ln()).collect()
        };
        // The allocation benchmark above: one round 64% off.
        assert_eq!(
            undisturbed_rounds(&ln(&[-0.3, 0.3, 64.0, -1.6, -0.9])),
            vec![true, true, false, true, true]
        );
        // Both tails: two rounds 27-33% fast at a real +10%.
        assert_eq!(
            undisturbed_rounds(&ln(&[-27.2, 11.0, 10.5, -33.2, 10.9])),
            vec![false, true, true, false, true]
        );
        // A bimodal benchmark's spread is not a disturbance.
        assert!(
            undisturbed_rounds(&ln(&[2.9, 10.7, 5.4, -2.6, -4.5]))
                .iter()
                .all(|k| *k)
        );
        // Too few rounds to tell.
        assert!(
            undisturbed_rounds(&ln(&[0.1, 0.2, 40.0]))
                .iter()
                .all(|k| *k)
        );
    }

    #[test]
    fn an_unconfirmed_slowdown_needs_more_rounds() {
        // +3% [-2%, +8%]: not significant, may still be a 5% slowdown.
        let unclear = change(1.03, 0.98, 1.08, 0.2);
        assert_eq!(
            classify(&unclear, 0.2, 0.05, 0.05),
            TimingVerdict::Unchanged
        );
        assert!(needs_more_rounds(&unclear, 0.2, 0.05, 0.05));
        // +7% [-1%, +15%]: looks like a regression, noise cannot confirm it.
        let noisy = change(1.07, 0.99, 1.15, 0.09);
        assert_eq!(
            classify(&noisy, 0.09, 0.05, 0.05),
            TimingVerdict::Inconclusive
        );
        assert!(needs_more_rounds(&noisy, 0.09, 0.05, 0.05));
        // The p-value of these changes stands for the adjusted one.
        let more = |c: Change| needs_more_rounds(&c, c.p_value, 0.05, 0.05);
        // An estimate below no change whose interval still reaches +5%.
        assert!(more(change(0.97, 0.88, 1.07, 0.5)));
        // An interval below the threshold, or a regression: nothing more to learn.
        assert!(!more(change(0.97, 0.92, 1.03, 0.3)));
        assert!(!more(change(1.01, 0.99, 1.03, 0.4)));
        assert!(!more(change(1.08, 1.04, 1.12, 0.001)));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn samples() -> impl Strategy<Value = Vec<f64>> {
            prop::collection::vec(1.0f64..1e6, 5..60)
        }

        proptest! {
            /// A uniformly slower sample is never reported as an improvement.
            #[test]
            fn uniformly_slower_is_never_improved(base in samples(), factor in 1.0f64..5.0, threshold in 0.0f64..0.5) {
                let slower: Vec<f64> = base.iter().map(|t| t * factor).collect();
                let change = compare_runs(&[summarize_run(&base)], &[summarize_run(&slower)], NoiseModel::default(), 0.95);
                prop_assert!(change.ratio >= 1.0 - 1e-9);
                prop_assert_ne!(classify(&change, change.p_value, threshold, 0.05), TimingVerdict::Improved);
            }

            /// Raising the threshold never turns `unchanged` into `regressed`.
            #[test]
            fn more_threshold_never_makes_a_regression(
                base in samples(),
                current in samples(),
                low in 0.0f64..0.3,
                extra in 0.0f64..0.3,
            ) {
                let change = compare_runs(&[summarize_run(&base)], &[summarize_run(&current)], NoiseModel::default(), 0.95);
                let at_low = classify(&change, change.p_value, low, 0.05);
                let at_high = classify(&change, change.p_value, low + extra, 0.05);
                if at_low != TimingVerdict::Regressed {
                    prop_assert_ne!(at_high, TimingVerdict::Regressed);
                }
            }

            /// A regression's estimate is at least half the threshold (log scale):
            /// significant means the interval lies above no change, and its
            /// upper end reaches the threshold.
            #[test]
            fn a_regression_is_never_a_small_change(
                base in samples(),
                current in samples(),
                threshold in 0.001f64..0.5,
            ) {
                let change = compare_runs(&[summarize_run(&base)], &[summarize_run(&current)], NoiseModel::default(), 0.95);
                if classify(&change, change.p_value, threshold, 0.05) == TimingVerdict::Regressed {
                    prop_assert!(change.ratio.ln() >= (1.0 + threshold).ln() / 2.0 - 1e-9);
                }
            }

            /// The interval always contains the estimate, and Holm never lowers a p-value.
            #[test]
            fn interval_contains_estimate_and_holm_is_conservative(base in samples(), current in samples()) {
                let change = compare_runs(&[summarize_run(&base)], &[summarize_run(&current)], NoiseModel::default(), 0.95);
                prop_assert!(change.ratio_low <= change.ratio && change.ratio <= change.ratio_high);
                let ps = [change.p_value, 0.5, 0.01];
                let adjusted = holm_adjust(&ps);
                for (p, a) in ps.iter().zip(adjusted) {
                    prop_assert!(a >= *p - 1e-15);
                }
            }
        }
    }

    #[test]
    fn sequential_levels_spend_little_early_and_keep_the_total() {
        let looks: Vec<u32> = (3..=10).collect();
        let levels = sequential_levels(&looks, 10, 0.05);
        assert_eq!(levels.len(), 8);
        assert!(levels[0] < 0.002, "{levels:?}");
        assert!(levels.windows(2).all(|w| w[0] <= w[1] + 1e-4), "{levels:?}");
        let last = *levels.last().unwrap();
        assert!((0.03..0.05).contains(&last), "{levels:?}");
        // A single look is the fixed design.
        let single = sequential_levels(&[5], 5, 0.05);
        assert!((single[0] - 0.05).abs() < 0.003, "{single:?}");
        // The same design gives the same levels.
        assert_eq!(levels, sequential_levels(&looks, 10, 0.05));
    }
}
