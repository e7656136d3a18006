//! Instruction counts for unmodified criterion suites (`[[bench]] measure =
//! "instructions"`): the suite's bench executables are built once (`cargo
//! bench --no-run`, [`super::build`]) and each benchmark runs alone under
//! `valgrind --tool=callgrind`, with criterion's own arguments making the
//! run short.
//!
//! Only criterion's measured region is counted, without touching the user's
//! code: callgrind zeroes its counters on entry to the measurement's `start`
//! (`<WallTime as Measurement>::start`, or any other measurement's) and dumps
//! them on entry to its `end`, so each dump holds exactly what criterion
//! times: the routine of `iter`, the routine but not the setup or the drop of
//! `iter_batched`, and so on. A dump on entry to the reporter's
//! `measurement_start` marks where the warm-up ends and the samples begin;
//! the dumps after it are the samples, whose iteration counts criterion
//! writes to `sample.json`. Per iteration, then: the slope of counts over
//! iterations when each sample is one region and the counts vary (criterion's
//! linear sampling; the slope leaves out the constant cost of reading the
//! clock), else the sum over the samples' regions divided by their
//! iterations.
//!
//! Cache simulation runs with fixed cache sizes (32 KiB 8-way L1s, an 8 MiB
//! 16-way last level, 64-byte lines) rather than the host's, so that counts
//! from different CPU models compare. Estimated cycles weigh L1 hits 1,
//! last-level hits 5 and memory accesses 35: the weights of Itamar
//! Turner-Trauring's cachegrind-based benchmarking ("Beyond cProfile",
//! pythonspeed.com, 2019), used by iai and iai-callgrind. Neither figure sees
//! I/O, system calls, waiting on locks or other threads' work: a benchmark
//! whose time goes there should be measured by time.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::BenchError;
use super::build::{CargoBench, build_executables};
use super::direct::{CriterionArgs, NoAddressRandomization, Runnable, ShortRun};
use crate::config::BenchSuite;
use crate::progress::Progress;
use crate::results::{BenchRun, InstructionCounts};

/// The program run under; `PERFGUARD_VALGRIND` names another.
pub const VALGRIND_ENV: &str = "PERFGUARD_VALGRIND";

/// Criterion's run under valgrind: a short warm-up, then its fewest samples.
/// The counts need no warm-up; it is there for criterion to estimate the
/// iteration time well enough to sample linearly (1, 2, ... 10 times `d`
/// iterations), whose slope leaves out the cost of reading the clock (about
/// 30 instructions per sample). Valgrind translates code the first time it
/// runs, which makes a first call slow: with a 10 ms warm-up that inflated
/// estimate made criterion sample a 549-instruction routine one iteration at
/// a time in one run and linearly in the next (4.8% apart on
/// `fixtures/quality`'s `short_fnv`); 100 ms leaves it linear.
fn counting_run() -> ShortRun {
    ShortRun {
        warm_up: Duration::from_millis(100),
        measurement: Duration::from_millis(50),
        samples: 10,
        own_times: false,
    }
}

fn valgrind_program() -> String {
    std::env::var(VALGRIND_ENV).unwrap_or_else(|_| "valgrind".to_string())
}

/// `valgrind --version`, or `None` when it cannot be run.
pub fn valgrind_version() -> Option<String> {
    let output = Command::new(valgrind_program())
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The valgrind command line a benchmark runs under, writing its dumps into `out`.
fn wrapper(out: &Path) -> Vec<String> {
    vec![
        valgrind_program(),
        "--tool=callgrind".into(),
        "--cache-sim=yes".into(),
        "--I1=32768,8,64".into(),
        "--D1=32768,8,64".into(),
        "--LL=8388608,16,64".into(),
        format!("--callgrind-out-file={}/callgrind.out.%p", out.display()),
        format!("--zero-before=*{START}"),
        format!("--dump-before=*{END}"),
        format!("--dump-before=*{SAMPLES_BEGIN}"),
    ]
}

const START: &str = "Measurement>::start";
const END: &str = "Measurement>::end";
const SAMPLES_BEGIN: &str = "Report>::measurement_start";

/// Measure every benchmark of `suite` by instructions, in `working_dir`.
pub fn run_suite(
    suite: &BenchSuite,
    working_dir: &Path,
    extra_env: &[(String, String)],
    progress: &Progress,
) -> Result<BTreeMap<String, BenchRun>, BenchError> {
    if valgrind_version().is_none() {
        return Err(BenchError::NoValgrind {
            suite: suite.name.clone(),
            program: valgrind_program(),
        });
    }
    let cargo = CargoBench::parse(&suite.command).ok_or_else(|| BenchError::NotCargoBench {
        suite: suite.name.clone(),
        command: suite.command.clone(),
    })?;
    progress.start_suite(&suite.name, &format!("{} (under callgrind)", suite.command));
    let store = tempfile::Builder::new()
        .prefix("perfguard-executables-")
        .tempdir()
        .map_err(BenchError::TempDir)?;
    let side = super::paired::Side {
        label: "working tree".into(),
        commit: crate::revision::current(working_dir)
            .commit
            .map(|c| crate::revision::short_id(&c).to_string())
            .unwrap_or_default(),
        dir: working_dir,
        env: extra_env,
    };
    let built = build_executables(&suite.name, &cargo, &suite.env, &side, store.path()).map_err(
        |error| BenchError::Build {
            suite: suite.name.clone(),
            message: error.to_string(),
        },
    )?;
    let env: Vec<(String, String)> = suite
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(extra_env.iter().cloned())
        .collect();
    let runnables: Vec<Runnable> = built
        .iter()
        .map(|executable| Runnable {
            suite: suite.name.clone(),
            executable: executable.path.clone(),
            dir: working_dir.join(&executable.package_dir),
            args: CriterionArgs::parse(&cargo.criterion_args),
            env: env.clone(),
            whole_seconds: Default::default(),
        })
        .collect();
    let mut jobs = VecDeque::new();
    for (index, runnable) in runnables.iter().enumerate() {
        jobs.extend(runnable.list()?.into_iter().map(|id| (index, id)));
    }
    let _fixed_layout = NoAddressRandomization::new();
    let runs = count_all(&runnables, jobs, progress)?;
    progress.finish_suite(&suite.name, true);
    if runs.is_empty() {
        return Err(BenchError::NoOutput {
            suite: suite.name.clone(),
            command: suite.command.clone(),
            tail: "(the bench executables list no benchmarks)".into(),
        });
    }
    Ok(runs)
}

/// Count every `(runnable, id)` job, as many at once as there are cores:
/// counts do not depend on what else the machine runs.
fn count_all(
    runnables: &[Runnable],
    jobs: VecDeque<(usize, String)>,
    progress: &Progress,
) -> Result<BTreeMap<String, BenchRun>, BenchError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let jobs = Mutex::new(jobs);
    let results: Mutex<BTreeMap<String, BenchRun>> = Mutex::new(BTreeMap::new());
    let failure: Mutex<Option<BenchError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            // Each worker its own copies: a runnable learns criterion 0.3's
            // whole seconds as it goes.
            let own: Vec<Runnable> = runnables.to_vec();
            let (jobs, results, failure) = (&jobs, &results, &failure);
            scope.spawn(move || {
                loop {
                    if failure.lock().map_or(true, |f| f.is_some()) {
                        return;
                    }
                    let Some((index, id)) = jobs.lock().ok().and_then(|mut j| j.pop_front()) else {
                        return;
                    };
                    progress.benchmark(&id);
                    match count(&own[index], &id) {
                        Ok(counts) => {
                            progress.finished_benchmark(&id);
                            if let Ok(mut results) = results.lock() {
                                results.insert(
                                    id,
                                    BenchRun {
                                        per_iteration_ns: Vec::new(),
                                        counts: Some(counts),
                                    },
                                );
                            }
                        }
                        Err(error) => {
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(error);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().ok().flatten() {
        return Err(error);
    }
    Ok(results.into_inner().unwrap_or_default())
}

/// Count one benchmark: one run under callgrind.
fn count(runnable: &Runnable, id: &str) -> Result<InstructionCounts, BenchError> {
    let out = tempfile::Builder::new()
        .prefix("perfguard-callgrind-")
        .tempdir()
        .map_err(BenchError::TempDir)?;
    let (_, _, iterations) = runnable.run_wrapped(id, &counting_run(), 0, &wrapper(out.path()))?;
    let dumps = read_dumps(out.path()).map_err(|message| BenchError::Counting {
        suite: runnable.suite.clone(),
        id: id.to_string(),
        message,
    })?;
    per_iteration(&dumps, &iterations).map_err(|message| BenchError::Counting {
        suite: runnable.suite.clone(),
        id: id.to_string(),
        message,
    })
}

/// One callgrind output file: a dump of one process.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Dump {
    pub pid: u32,
    pub part: u32,
    /// What made callgrind write it, e.g. `--dump-before=<...>::end`.
    pub trigger: String,
    /// Event totals, by name (`Ir`, `Dr`, `D1mr`, ...).
    pub events: BTreeMap<String, f64>,
}

/// Read one callgrind output file's header and totals.
pub(crate) fn parse_dump(text: &str) -> Result<Dump, String> {
    let mut pid = None;
    let mut part = 0;
    let mut trigger = String::new();
    let mut names: Vec<String> = Vec::new();
    let mut summary: Option<&str> = None;
    let mut totals: Option<&str> = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("pid: ") {
            pid = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("part: ") {
            part = value.trim().parse().unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("desc: Trigger: ") {
            trigger = value.trim().to_string();
        } else if let Some(value) = line.strip_prefix("events: ") {
            names = value.split_whitespace().map(str::to_string).collect();
        } else if let Some(value) = line.strip_prefix("summary: ") {
            summary = Some(value);
        } else if let Some(value) = line.strip_prefix("totals: ") {
            totals = Some(value);
        }
    }
    let pid = pid.ok_or("a callgrind file without `pid:`")?;
    if names.is_empty() {
        return Err("a callgrind file without `events:`".into());
    }
    // Trailing zero events are left out of the totals line.
    let values = totals.or(summary).unwrap_or("");
    let mut events: BTreeMap<String, f64> = names.iter().map(|n| (n.clone(), 0.0)).collect();
    for (name, value) in names.iter().zip(values.split_whitespace()) {
        let value: f64 = value
            .parse()
            .map_err(|_| format!("callgrind total {value:?} of {name} is not a number"))?;
        events.insert(name.clone(), value);
    }
    Ok(Dump {
        pid,
        part,
        trigger,
        events,
    })
}

fn read_dumps(dir: &Path) -> Result<Vec<Dump>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            parse_dump(&text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// Estimated cycles of a set of events: L1 hits + 5 x last-level hits + 35
/// x memory accesses.
pub(crate) fn estimated_cycles(events: &BTreeMap<String, f64>) -> f64 {
    let get = |name: &str| events.get(name).copied().unwrap_or(0.0);
    let accesses = get("Ir") + get("Dr") + get("Dw");
    let l1_misses = get("I1mr") + get("D1mr") + get("D1mw");
    let memory = get("ILmr") + get("DLmr") + get("DLmw");
    (accesses - l1_misses) + 5.0 * (l1_misses - memory) + 35.0 * memory
}

/// Least-squares slope of `y` over `x`.
fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let covariance: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a - mean_x) * (b - mean_y))
        .sum();
    let variance: f64 = x.iter().map(|a| (a - mean_x).powi(2)).sum();
    covariance / variance
}

/// The counts per iteration of one benchmark's run, from its callgrind dumps
/// and the iteration counts of criterion's samples.
pub(crate) fn per_iteration(
    dumps: &[Dump],
    iterations: &[f64],
) -> Result<InstructionCounts, String> {
    let Some(pid) = dumps
        .iter()
        .find(|d| d.trigger.contains(SAMPLES_BEGIN))
        .map(|d| d.pid)
    else {
        return Err(format!(
            "callgrind never saw criterion start measuring (no call of `{SAMPLES_BEGIN}`): is the suite a criterion suite, built without fat LTO (which can inline criterion's functions away)? Measure this suite by time instead"
        ));
    };
    let mut own: Vec<&Dump> = dumps.iter().filter(|d| d.pid == pid).collect();
    own.sort_by_key(|d| d.part);
    let begin = own
        .iter()
        .rposition(|d| d.trigger.contains(SAMPLES_BEGIN))
        .expect("found above");
    let regions: Vec<&Dump> = own[begin + 1..]
        .iter()
        .filter(|d| d.trigger.contains(END))
        .copied()
        .collect();
    let total_iterations: f64 = iterations.iter().sum();
    if regions.is_empty() {
        return Err(format!(
            "criterion measured no region callgrind could see (no call of `{END}` after the warm-up): a benchmark that times itself (`iter_custom`) cannot be counted; measure this suite by time"
        ));
    }
    if total_iterations <= 0.0 {
        return Err("criterion recorded no iterations in sample.json".into());
    }
    let names: Vec<&String> = regions[0].events.keys().collect();
    let linear =
        regions.len() == iterations.len() && iterations.iter().any(|i| *i != iterations[0]);
    let per_event: BTreeMap<String, f64> = names
        .into_iter()
        .map(|name| {
            let counts: Vec<f64> = regions
                .iter()
                .map(|r| r.events.get(name).copied().unwrap_or(0.0))
                .collect();
            let value = if linear {
                slope(iterations, &counts).max(0.0)
            } else {
                counts.iter().sum::<f64>() / total_iterations
            };
            (name.clone(), value)
        })
        .collect();
    let instructions = per_event
        .get("Ir")
        .copied()
        .ok_or("callgrind counted no `Ir` event")?;
    // Thousandths: finer than any jitter, and a baseline diff stays readable.
    let round = |value: f64| (value * 1000.0).round() / 1000.0;
    Ok(InstructionCounts {
        instructions: round(instructions),
        estimated_cycles: round(estimated_cycles(&per_event)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(part: u32, trigger: &str, ir: f64) -> Dump {
        Dump {
            pid: 7,
            part,
            trigger: trigger.into(),
            events: [("Ir".to_string(), ir), ("Dr".to_string(), 0.0)].into(),
        }
    }

    const END_TRIGGER: &str = "--dump-before=<criterion::measurement::WallTime as criterion::measurement::Measurement>::end";
    const BEGIN_TRIGGER: &str = "--dump-before=<criterion::report::Reports as criterion::report::Report>::measurement_start";

    #[test]
    fn callgrind_headers_and_totals_are_read() {
        let text = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 7175\ncmd:  b --bench\npart: 2\n\ndesc: I1 cache: \ndesc: Timerange: Basic block 153951 - 153954\ndesc: Trigger: --dump-before=<x as criterion::measurement::Measurement>::end\n\npositions: line\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 200058 4 3 1\n\nfl=(1) x.rs\nfn=(1) f\n3 200058 4 3 1\n\ntotals: 200058 4 3 1\n";
        let parsed = parse_dump(text).unwrap();
        assert_eq!(parsed.pid, 7175);
        assert_eq!(parsed.part, 2);
        assert!(parsed.trigger.ends_with("Measurement>::end"));
        assert_eq!(parsed.events["Ir"], 200058.0);
        assert_eq!(parsed.events["I1mr"], 1.0);
        assert_eq!(parsed.events["DLmw"], 0.0);
        assert!(parse_dump("events: Ir\n").is_err());
    }

    #[test]
    fn the_samples_are_the_regions_after_the_warm_up() {
        // A warm-up region of 1 iteration, the marker (twice: the reports
        // and the terminal reporter), then linear samples of 3, 6, 9
        // iterations at 100 per iteration plus 58 for reading the clock.
        let dumps = vec![
            dump(1, END_TRIGGER, 999.0),
            dump(2, BEGIN_TRIGGER, 5000.0),
            dump(
                3,
                BEGIN_TRIGGER.replace("Reports", "CliReport").as_str(),
                3.0,
            ),
            dump(4, END_TRIGGER, 358.0),
            dump(5, END_TRIGGER, 658.0),
            dump(6, END_TRIGGER, 958.0),
            dump(7, "Program termination", 1e6),
        ];
        let counts = per_iteration(&dumps, &[3.0, 6.0, 9.0]).unwrap();
        assert!((counts.instructions - 100.0).abs() < 1e-9, "{counts:?}");
        // Several regions per sample (iter_batched): their sum per iteration.
        let batched = vec![
            dump(1, BEGIN_TRIGGER, 0.0),
            dump(2, END_TRIGGER, 210.0),
            dump(3, END_TRIGGER, 210.0),
            dump(4, END_TRIGGER, 210.0),
        ];
        let counts = per_iteration(&batched, &[1.0, 2.0]).unwrap();
        assert!((counts.instructions - 210.0).abs() < 1e-9, "{counts:?}");
    }

    #[test]
    fn a_run_without_criterion_regions_says_why() {
        let none = per_iteration(&[dump(1, "Program termination", 5.0)], &[1.0]).unwrap_err();
        assert!(
            none.contains("never saw criterion start measuring"),
            "{none}"
        );
        let custom = per_iteration(&[dump(1, BEGIN_TRIGGER, 5.0)], &[1.0]).unwrap_err();
        assert!(custom.contains("iter_custom"), "{custom}");
    }

    #[test]
    fn estimated_cycles_weigh_misses() {
        let events: BTreeMap<String, f64> = [
            ("Ir", 1000.0),
            ("Dr", 300.0),
            ("Dw", 100.0),
            ("I1mr", 10.0),
            ("D1mr", 20.0),
            ("D1mw", 10.0),
            ("ILmr", 1.0),
            ("DLmr", 4.0),
            ("DLmw", 0.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // 1360 L1 hits, 35 last-level hits, 5 memory accesses.
        assert_eq!(estimated_cycles(&events), 1360.0 + 5.0 * 35.0 + 35.0 * 5.0);
    }
}
