//! A pull request cannot loosen its own check. For every entry that exists at
//! the merge-base, the gate settings that decide it come from the merge-base's
//! `perfguard.toml`, and the branch's value applies only where it is stricter:
//!
//! - `[gate]`: the smaller `threshold`, the larger `alpha`; the merge-base's
//!   `noise` (it describes the machine's run-to-run noise, and a smaller prior
//!   is not stricter: a benchmark whose spread is beyond it is judged on its
//!   own rounds, with a wider interval) and `baselines` folder; the longer
//!   `budget` (none beats one: a short budget leaves regressions unsettled);
//! - a `[[bench]]` suite: the merge-base's `command` and `env` (what it
//!   measures and how), the smaller per-suite threshold;
//! - a `[[probe]]`: the merge-base's request (`method`, `path`, `body`,
//!   `headers`, `count`, `expect_status`), the smaller `allow`, the smaller
//!   `max_queries` (a budget beats none);
//! - a `[[load]]`: the merge-base's request and traffic (`method`, `path`,
//!   `body`, `headers`, `clients`, `rate`, `duration`, `quantile`,
//!   `expect_status`), the smaller threshold;
//! - `[probes]`: only the classes both sides `exclude` are left out of the
//!   counts, the larger `repeat` and `quiet_period`.
//!
//! A suite or probe the branch deletes is still measured with the
//! merge-base's settings; entries the branch adds use the branch's. `[app]`,
//! `[database]` and `request_timeout` are how the code under test runs, and
//! stay the branch's. Every difference becomes a line the report shows first.

use super::{BenchSuite, Config, Load, Percent, Probe};

/// The settings a check applies, and what the branch changed about them.
#[derive(Clone, Debug, PartialEq)]
pub struct Tightened {
    pub config: Config,
    /// One line per changed setting, naming it and the side whose value applies.
    pub changes: Vec<String>,
    /// Suites the branch deleted or whose command or env it changed: measured
    /// with the merge-base's command, which may no longer run on the branch
    /// (their benchmarks are then `missing`, which a trailer can accept).
    pub replaced_suites: Vec<String>,
}

const BASE: &str = "the merge-base's";
const BRANCH: &str = "this branch's";

/// `changed <what> from <base> to <head>: <side> <value> applies`.
fn note(changes: &mut Vec<String>, what: &str, base: &str, head: &str, base_applies: bool) {
    let (side, value, why) = if base_applies {
        (
            BASE,
            base,
            "a branch may tighten its own check, never loosen it",
        )
    } else {
        (BRANCH, head, "stricter")
    };
    changes.push(format!(
        "perfguard.toml changes {what} from {base} to {head}: {side} {value} applies ({why})"
    ));
}

fn stricter_percent(
    changes: &mut Vec<String>,
    what: &str,
    base: Percent,
    head: Percent,
) -> Percent {
    if base == head {
        return base;
    }
    let base_applies = base.0 <= head.0;
    note(
        changes,
        what,
        &base.to_string(),
        &head.to_string(),
        base_applies,
    );
    if base_applies { base } else { head }
}

/// The settings to gate with: `base` where the branch would loosen, `head`
/// where it tightens or adds.
pub fn tighten(base: &Config, head: &Config) -> Tightened {
    let mut changes = Vec::new();
    let mut config = head.clone();

    let gate = &mut config.gate;
    gate.threshold = stricter_percent(
        &mut changes,
        "`[gate].threshold`",
        base.gate.threshold,
        head.gate.threshold,
    );
    if base.gate.noise != head.gate.noise {
        note(
            &mut changes,
            "`[gate].noise`",
            &base.gate.noise.to_string(),
            &head.gate.noise.to_string(),
            true,
        );
        gate.noise = base.gate.noise;
    }
    if base.gate.alpha != head.gate.alpha {
        let base_applies = base.gate.alpha >= head.gate.alpha;
        note(
            &mut changes,
            "`[gate].alpha`",
            &base.gate.alpha.to_string(),
            &head.gate.alpha.to_string(),
            base_applies,
        );
        gate.alpha = base.gate.alpha.max(head.gate.alpha);
    }
    if base.gate.baselines != head.gate.baselines {
        note(
            &mut changes,
            "`[gate].baselines`",
            &format!("{:?}", base.gate.baselines.display().to_string()),
            &format!("{:?}", head.gate.baselines.display().to_string()),
            true,
        );
        gate.baselines = base.gate.baselines.clone();
    }

    if base.gate.budget != head.gate.budget {
        // A shorter budget leaves more `inconclusive`: the longer one applies,
        // and no budget beats one.
        let shown = |b: &Option<super::HumanDuration>| {
            b.as_ref().map_or("none".to_string(), |b| {
                humantime::format_duration(b.0).to_string()
            })
        };
        let longer = match (&base.gate.budget, &head.gate.budget) {
            (None, _) | (_, None) => None,
            (Some(b), Some(h)) => Some(if b.0 >= h.0 { *b } else { *h }),
        };
        note(
            &mut changes,
            "`[gate].budget`",
            &shown(&base.gate.budget),
            &shown(&head.gate.budget),
            longer == base.gate.budget,
        );
        gate.budget = longer;
    }

    let (suites, replaced_suites) = tighten_suites(base, head, config.gate.threshold, &mut changes);
    config.bench = suites;
    config.probe = tighten_probes(base, head, &mut changes);
    config.load = tighten_loads(base, head, &mut changes);

    let settings = &mut config.probes;
    let excluded: Vec<String> = head
        .probes
        .exclude
        .iter()
        .filter(|class| base.probes.exclude.contains(class))
        .cloned()
        .collect();
    let mut base_exclude = base.probes.exclude.clone();
    let mut head_exclude = head.probes.exclude.clone();
    base_exclude.sort();
    head_exclude.sort();
    if base_exclude != head_exclude {
        let mut applied = excluded.clone();
        applied.sort();
        let base_applies = applied == base_exclude;
        changes.push(format!(
            "perfguard.toml changes `[probes].exclude` from {base_exclude:?} to {head_exclude:?}: {applied:?} applies ({})",
            if base_applies {
                "a branch may tighten its own check, never loosen it: only classes both exclude are left out"
            } else {
                "stricter: only classes both exclude are left out"
            }
        ));
    }
    settings.exclude = excluded;
    if base.probes.repeat != head.probes.repeat {
        note(
            &mut changes,
            "`[probes].repeat`",
            &base.probes.repeat.to_string(),
            &head.probes.repeat.to_string(),
            base.probes.repeat >= head.probes.repeat,
        );
        settings.repeat = base.probes.repeat.max(head.probes.repeat);
    }
    if base.probes.quiet_period != head.probes.quiet_period {
        let (b, h) = (base.probes.quiet_period.0, head.probes.quiet_period.0);
        note(
            &mut changes,
            "`[probes].quiet_period`",
            &format!("{b:?}"),
            &format!("{h:?}"),
            b >= h,
        );
        settings.quiet_period = if b >= h {
            base.probes.quiet_period
        } else {
            head.probes.quiet_period
        };
    }
    Tightened {
        config,
        changes,
        replaced_suites,
    }
}

fn tighten_suites(
    base: &Config,
    head: &Config,
    gate_threshold: Percent,
    changes: &mut Vec<String>,
) -> (Vec<BenchSuite>, Vec<String>) {
    let mut suites = Vec::new();
    // Deleted, or measured differently on the branch: the base's command decides.
    let mut replaced = Vec::new();
    for base_suite in &base.bench {
        let name = &base_suite.name;
        let Some(head_suite) = head.bench.iter().find(|s| &s.name == name) else {
            changes.push(format!(
                "perfguard.toml removes `[[bench]] {name:?}`: it is still measured with {BASE} settings (a benchmark it no longer finds is `missing`, which fails unless a Perf-Accepted trailer accepts it)"
            ));
            suites.push(base_suite.clone());
            replaced.push(name.clone());
            continue;
        };
        if base_suite.command != head_suite.command || base_suite.env != head_suite.env {
            replaced.push(name.clone());
        }
        let mut suite = head_suite.clone();
        let what = |key: &str| format!("`[[bench]] {name:?}`.{key}");
        if base_suite.command != head_suite.command {
            note(
                changes,
                &what("command"),
                &format!("`{}`", base_suite.command),
                &format!("`{}`", head_suite.command),
                true,
            );
            suite.command = base_suite.command.clone();
        }
        if base_suite.env != head_suite.env {
            note(
                changes,
                &what("env"),
                &format!("{:?}", base_suite.env),
                &format!("{:?}", head_suite.env),
                true,
            );
            suite.env = base_suite.env.clone();
        }
        // Switching measure would compare against no baseline of the new
        // measure, and so pass anything: the merge-base's measure applies.
        if base_suite.measure != head_suite.measure {
            note(
                changes,
                &what("measure"),
                &format!("`{}`", base_suite.measure.as_str()),
                &format!("`{}`", head_suite.measure.as_str()),
                true,
            );
            suite.measure = base_suite.measure;
        }
        // A suite without a threshold of its own has the gate's, or, counted
        // by instructions, the default for counts.
        let measure = suite.measure;
        let default = |gate: Percent| match measure {
            crate::results::Measure::Time => gate,
            crate::results::Measure::Instructions => {
                Percent(crate::compare::counts::DEFAULT_THRESHOLD)
            }
        };
        let base_threshold = base_suite.threshold.unwrap_or(default(base.gate.threshold));
        let head_threshold = head_suite.threshold.unwrap_or(default(head.gate.threshold));
        let applied = if base_threshold == head_threshold {
            base_threshold
        } else {
            stricter_percent(changes, &what("threshold"), base_threshold, head_threshold)
        };
        suite.threshold = (applied != default(gate_threshold)).then_some(applied);
        suites.push(suite);
    }
    suites.extend(
        head.bench
            .iter()
            .filter(|s| !base.bench.iter().any(|b| b.name == s.name))
            .cloned(),
    );
    (suites, replaced)
}

fn tighten_probes(base: &Config, head: &Config, changes: &mut Vec<String>) -> Vec<Probe> {
    let mut probes = Vec::new();
    for base_probe in &base.probe {
        let name = &base_probe.name;
        let Some(head_probe) = head.probe.iter().find(|p| &p.name == name) else {
            changes.push(format!(
                "perfguard.toml removes `[[probe]] {name:?}`: it is still probed with {BASE} settings"
            ));
            probes.push(base_probe.clone());
            continue;
        };
        let what = |key: &str| format!("`[[probe]] {name:?}`.{key}");
        let mut probe = base_probe.clone();
        let request_changed = base_probe.method != head_probe.method
            || base_probe.path != head_probe.path
            || base_probe.body != head_probe.body
            || base_probe.headers != head_probe.headers
            || base_probe.count != head_probe.count
            || base_probe.expect_status != head_probe.expect_status;
        if request_changed {
            note(
                changes,
                &what("request"),
                &describe_request(base_probe),
                &describe_request(head_probe),
                true,
            );
        }
        if base_probe.allow != head_probe.allow {
            note(
                changes,
                &what("allow"),
                &base_probe.allow.to_string(),
                &head_probe.allow.to_string(),
                base_probe.allow <= head_probe.allow,
            );
            probe.allow = base_probe.allow.min(head_probe.allow);
        }
        if base_probe.max_queries != head_probe.max_queries {
            let budget = |b: Option<u64>| b.map_or("none".to_string(), |b| b.to_string());
            let applied = match (base_probe.max_queries, head_probe.max_queries) {
                (Some(b), Some(h)) => Some(b.min(h)),
                (b, h) => b.or(h),
            };
            note(
                changes,
                &what("max_queries"),
                &budget(base_probe.max_queries),
                &budget(head_probe.max_queries),
                applied == base_probe.max_queries,
            );
            probe.max_queries = applied;
        }
        probes.push(probe);
    }
    probes.extend(
        head.probe
            .iter()
            .filter(|p| !base.probe.iter().any(|b| b.name == p.name))
            .cloned(),
    );
    probes
}

/// A `[[load]]` the merge-base has: its traffic and request (what is
/// measured and how hard), the smaller threshold (each side's own, else its
/// gate's).
fn tighten_loads(base: &Config, head: &Config, changes: &mut Vec<String>) -> Vec<Load> {
    let mut loads = Vec::new();
    for base_load in &base.load {
        let name = &base_load.name;
        let Some(head_load) = head.load.iter().find(|l| &l.name == name) else {
            changes.push(format!(
                "perfguard.toml removes `[[load]] {name:?}`: it is still measured with {BASE} settings"
            ));
            loads.push(base_load.clone());
            continue;
        };
        let what = |key: &str| format!("`[[load]] {name:?}`.{key}");
        let mut load = base_load.clone();
        let describe = |l: &Load| {
            format!(
                "`{}` with {} for {}, on {}",
                l.endpoint(),
                l.describe_traffic(),
                humantime::format_duration(l.duration.0),
                l.quantile.as_str()
            )
        };
        let measured_changed = base_load.method != head_load.method
            || base_load.path != head_load.path
            || base_load.body != head_load.body
            || base_load.headers != head_load.headers
            || base_load.clients != head_load.clients
            || base_load.rate != head_load.rate
            || base_load.duration != head_load.duration
            || base_load.quantile != head_load.quantile
            || base_load.expect_status != head_load.expect_status;
        if measured_changed {
            note(
                changes,
                &what("request"),
                &describe(base_load),
                &describe(head_load),
                true,
            );
        }
        let base_threshold = base_load.threshold.unwrap_or(base.gate.threshold);
        let head_threshold = head_load.threshold.unwrap_or(head.gate.threshold);
        load.threshold = Some(stricter_percent(
            changes,
            &what("threshold"),
            base_threshold,
            head_threshold,
        ));
        loads.push(load);
    }
    loads.extend(
        head.load
            .iter()
            .filter(|l| !base.load.iter().any(|b| b.name == l.name))
            .cloned(),
    );
    loads
}

fn describe_request(probe: &Probe) -> String {
    let mut text = format!("`{} {}`", probe.method, probe.path);
    if probe.body.is_some() || !probe.headers.is_empty() {
        text.push_str(" (with its body and headers)");
    }
    if probe.count != "proxy" {
        text.push_str(&format!(" counted by {}", probe.count));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    fn config(text: &str) -> Config {
        parse(Path::new("perfguard.toml"), text).expect("valid config")
    }

    #[test]
    fn a_branch_cannot_loosen_or_delete_a_load_probe() {
        let base = config(
            r#"
[app]
command = "target/release/shop"
ready = "/health"

[[load]]
name = "recommendations under load"
path = "/products/42/recommendations"
clients = 8
threshold = "10%"

[[load]]
name = "catalogue under load"
path = "/products"
"#,
        );
        let head = config(
            r#"
[gate]
threshold = "3%"

[app]
command = "target/release/shop"
ready = "/health"

[[load]]
name = "recommendations under load"
path = "/products/42/recommendations"
clients = 1
threshold = "50%"

[[load]]
name = "new under load"
path = "/new"
"#,
        );
        let tightened = tighten(&base, &head);
        let names: Vec<&str> = tightened
            .config
            .load
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "recommendations under load",
                "catalogue under load",
                "new under load"
            ]
        );
        let recommendations = &tightened.config.load[0];
        assert_eq!(
            recommendations.clients,
            Some(8),
            "the base's traffic applies"
        );
        assert_eq!(recommendations.threshold, Some(Percent(0.10)));
        // The deleted one keeps its settings; the gate's threshold (the stricter 3%) applies to it.
        assert_eq!(tightened.config.load[1].threshold, None);
        assert_eq!(tightened.config.gate.threshold, Percent(0.03));
        let text = tightened.changes.join("\n");
        assert!(
            text.contains("removes `[[load]] \"catalogue under load\"`"),
            "{text}"
        );
        assert!(
            text.contains("`[[load]] \"recommendations under load\"`.threshold from 10% to 50%"),
            "{text}"
        );
        assert!(text.contains("8 clients"), "{text}");
    }

    const BASE_TOML: &str = r#"
[gate]
threshold = "5%"

[[bench]]
name = "core"
command = "cargo bench --bench core"

[[bench]]
name = "io"
command = "cargo bench --bench io"
threshold = "10%"

[app]
command = "target/release/shop"
ready = "http://127.0.0.1:{port}/health"

[database]
kind = "postgres"
url = "postgres://postgres@127.0.0.1/shop"

[[probe]]
name = "recommendations"
path = "/products/42/recommendations"
max_queries = 10
allow = 1
"#;

    #[test]
    fn a_branch_that_loosens_everything_gets_the_merge_base_settings() {
        let loosened = BASE_TOML
            .replace(
                r#"threshold = "5%""#,
                r#"threshold = "500%"
alpha = 0.0001
noise = "50%""#,
            )
            .replace(
                "cargo bench --bench core",
                "cargo bench --bench core -- only_one",
            )
            .replace(r#"threshold = "10%""#, r#"threshold = "90%""#)
            .replace("max_queries = 10", "max_queries = 100")
            .replace("allow = 1", "allow = 50")
            .replace("/products/42/recommendations", "/health");
        let tightened = tighten(&config(BASE_TOML), &config(&loosened));
        let applied = &tightened.config;
        assert_eq!(applied.gate.threshold, Percent(0.05));
        assert_eq!(applied.gate.alpha, 0.05);
        assert_eq!(applied.gate.noise, Percent(0.02));
        assert_eq!(applied.bench[0].command, "cargo bench --bench core");
        assert_eq!(applied.bench[0].threshold, None);
        assert_eq!(applied.bench[1].threshold, Some(Percent(0.1)));
        assert_eq!(applied.probe[0].path, "/products/42/recommendations");
        assert_eq!(applied.probe[0].max_queries, Some(10));
        assert_eq!(applied.probe[0].allow, 1);
        assert_eq!(tightened.replaced_suites, ["core"]);
        let text = tightened.changes.join("\n");
        for needle in [
            "`[gate].threshold` from 5% to 500%: the merge-base's 5% applies",
            "`[gate].alpha` from 0.05 to 0.0001: the merge-base's 0.05 applies",
            "`[[bench]] \"core\"`.command from `cargo bench --bench core` to `cargo bench --bench core -- only_one`: the merge-base's",
            "`[[bench]] \"io\"`.threshold from 10% to 90%: the merge-base's 10% applies",
            "`[[probe]] \"recommendations\"`.max_queries from 10 to 100: the merge-base's 10 applies",
            "`[[probe]] \"recommendations\"`.allow from 1 to 50",
            "`[[probe]] \"recommendations\"`.request from `GET /products/42/recommendations` to `GET /health`",
        ] {
            assert!(text.contains(needle), "{needle}\nin\n{text}");
        }
    }

    #[test]
    fn a_branch_cannot_switch_measure_or_loosen_a_count_threshold() {
        let base = BASE_TOML.replace(
            "command = \"cargo bench --bench core\"",
            "command = \"cargo bench --bench core\"\nmeasure = \"instructions\"",
        );
        let switched = base.replace("measure = \"instructions\"", "measure = \"time\"");
        let tightened = tighten(&config(&base), &config(&switched));
        assert_eq!(
            tightened.config.bench[0].measure,
            crate::results::Measure::Instructions
        );
        assert!(
            tightened.changes.join("\n").contains(
                "`[[bench]] \"core\"`.measure from `instructions` to `time`: the merge-base's"
            ),
            "{:?}",
            tightened.changes
        );
        // 2% is looser than the 0.5% counts default, though stricter than the gate's 5%.
        let loosened = base.replace(
            "measure = \"instructions\"",
            "measure = \"instructions\"\nthreshold = \"2%\"",
        );
        let tightened = tighten(&config(&base), &config(&loosened));
        assert_eq!(tightened.config.bench[0].threshold, None);
    }

    #[test]
    fn a_branch_may_tighten_and_its_stricter_values_apply() {
        let tightened_toml = BASE_TOML
            .replace(
                r#"threshold = "5%""#,
                r#"threshold = "3%"
alpha = 0.1"#,
            )
            .replace("max_queries = 10", "max_queries = 4")
            .replace("allow = 1", "allow = 0");
        let tightened = tighten(&config(BASE_TOML), &config(&tightened_toml));
        let applied = &tightened.config;
        assert_eq!(applied.gate.threshold, Percent(0.03));
        assert_eq!(applied.gate.alpha, 0.1);
        assert_eq!(applied.probe[0].max_queries, Some(4));
        assert_eq!(applied.probe[0].allow, 0);
        // The io suite keeps its own 10% (stricter than neither side's default).
        assert_eq!(applied.bench[1].threshold, Some(Percent(0.1)));
        let text = tightened.changes.join("\n");
        assert!(
            text.contains("`[gate].threshold` from 5% to 3%: this branch's 3% applies (stricter)"),
            "{text}"
        );
    }

    #[test]
    fn deleted_entries_are_still_measured_and_added_ones_use_the_branch() {
        let head = config(
            &BASE_TOML
                .replace(
                    "[[bench]]\nname = \"io\"\ncommand = \"cargo bench --bench io\"\nthreshold = \"10%\"\n",
                    "[[bench]]\nname = \"fresh\"\ncommand = \"cargo bench --bench fresh\"\n",
                )
                .replace("name = \"recommendations\"", "name = \"renamed\""),
        );
        let tightened = tighten(&config(BASE_TOML), &head);
        let names: Vec<&str> = tightened
            .config
            .bench
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["core", "io", "fresh"]);
        let probes: Vec<&str> = tightened
            .config
            .probe
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(probes, ["recommendations", "renamed"]);
        assert_eq!(tightened.replaced_suites, ["io"]);
        let text = tightened.changes.join("\n");
        assert!(text.contains("removes `[[bench]] \"io\"`"), "{text}");
        assert!(
            text.contains("removes `[[probe]] \"recommendations\"`"),
            "{text}"
        );
    }

    #[test]
    fn the_noise_prior_is_the_merge_bases_either_way() {
        let quieter = BASE_TOML.replace(
            r#"threshold = "5%""#,
            "threshold = \"5%\"\nnoise = \"0.5%\"",
        );
        let tightened = tighten(&config(BASE_TOML), &config(&quieter));
        assert_eq!(tightened.config.gate.noise, Percent(0.02));
        assert!(
            tightened.changes[0]
                .contains("`[gate].noise` from 2% to 0.5%: the merge-base's 2% applies"),
            "{:?}",
            tightened.changes
        );
    }

    #[test]
    fn an_unchanged_file_changes_nothing() {
        let base = config(BASE_TOML);
        let tightened = tighten(&base, &base);
        assert_eq!(tightened.config, base);
        assert!(tightened.changes.is_empty());
    }

    #[test]
    fn only_classes_both_sides_exclude_are_left_out() {
        let head = config(&format!(
            "{BASE_TOML}\n[probes]\nexclude = [\"transaction\", \"set\", \"ping\"]\n"
        ));
        let base = config(&format!(
            "{BASE_TOML}\n[probes]\nexclude = [\"transaction\"]\n"
        ));
        let tightened = tighten(&base, &head);
        assert_eq!(tightened.config.probes.exclude, ["transaction"]);
        assert!(
            tightened.changes[0].contains("`[probes].exclude`"),
            "{:?}",
            tightened.changes
        );
    }
}
