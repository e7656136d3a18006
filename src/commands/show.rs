//! `perfguard baseline show`: what the baselines hold, their commit and machine.

use std::io::{self, Write};

use crate::baselines::BaselineSet;
use crate::report::format_duration_ns as format_ns;

pub fn print(set: &BaselineSet, out: &mut dyn Write) -> io::Result<()> {
    let results = &set.results;
    let revision = &results.revision;
    writeln!(out, "files:   {}", set.files.join(", "))?;
    writeln!(
        out,
        "commit:  {}{}{}",
        revision
            .commit
            .as_deref()
            .unwrap_or("(not a git repository)"),
        revision
            .branch
            .as_deref()
            .map(|b| format!(" ({b})"))
            .unwrap_or_default(),
        if revision.dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    )?;
    let machine = &results.machine;
    writeln!(
        out,
        "machine: {}, {} cores, {}, {}",
        machine.cpu_model, machine.cores, machine.os, machine.rustc
    )?;
    if !results.benches.is_empty() {
        writeln!(
            out,
            "\n{:<48} {:<12} {:>5} {:>8} {:>12}",
            "benchmark", "suite", "runs", "samples", "time"
        )?;
        for (id, bench) in &results.benches {
            let samples: usize = bench.runs.iter().map(|r| r.per_iteration_ns.len()).sum();
            writeln!(
                out,
                "{:<48} {:<12} {:>5} {:>8} {:>12}",
                id,
                bench.suite,
                bench.runs.len(),
                samples,
                match crate::compare::counts::summarize(bench) {
                    Some((counts, _)) => format!(
                        "{} instr",
                        crate::report::format_instructions(counts.instructions)
                    ),
                    None => format_ns(crate::compare::typical_ns(bench)),
                }
            )?;
        }
    }
    if !results.probes.is_empty() {
        writeln!(
            out,
            "\n{:<24} {:<44} {:>10}",
            "probe", "endpoint", "statements"
        )?;
        for (id, probe) in &results.probes {
            writeln!(
                out,
                "{:<24} {:<44} {:>10}",
                id, probe.endpoint, probe.total_statements
            )?;
            for count in probe.statements.values() {
                let marker = if count.count >= crate::compare::N_PLUS_ONE_COUNT {
                    "  (N+1)"
                } else {
                    ""
                };
                writeln!(out, "    {:>4} x {}{marker}", count.count, count.readable)?;
            }
            for count in probe.excluded.values() {
                writeln!(
                    out,
                    "    {:>4} x {}  (excluded)",
                    count.count, count.readable
                )?;
            }
            if let (Some(first), Some(last)) = (probe.scales.first(), probe.scales.last()) {
                for (key, count) in &last.statements {
                    let before = first.statements.get(key).copied().unwrap_or(0);
                    if *count > before {
                        let readable = probe
                            .statements
                            .get(key)
                            .map_or(key.as_str(), |c| c.readable.as_str());
                        writeln!(
                            out,
                            "    known N+1: {readable} grows with data: {before} -> {count} at scale {} -> {}",
                            first.scale, last.scale
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}
