//! Reports: the table on a terminal and the JSON object of `--json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::harness::RunReport;

/// What every mode prints with `--json`.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// Every run, in order.
    pub runs: &'a [RunReport],
}

/// The runs as an aligned text table with a totals line.
pub fn table(runs: &[RunReport], elapsed_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>20} {:<4} {:>6} {:>5} {:>8} {:>7} {:>10} {:>9} {:>8} {:>8}  error",
        "scenario",
        "seed",
        "pass",
        "faults",
        "kills",
        "restarts",
        "retried",
        "recomputed",
        "detect_ms",
        "overhead",
        "run_ms"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<22} {:>20} {:<4} {:>6} {:>5} {:>8} {:>7} {:>10} {:>9} {:>8.2} {:>8}  {}",
            r.scenario,
            r.seed,
            if r.pass { "ok" } else { "FAIL" },
            r.faults,
            r.kills,
            r.restarts,
            r.tasks_retried,
            r.recomputed_partitions,
            r.detection_ms.map_or("-".to_string(), |d| d.to_string()),
            r.overhead_ratio,
            r.run_ms,
            r.error.as_deref().unwrap_or("")
        );
    }
    let failed = runs.iter().filter(|r| !r.pass).count();
    let ratios: Vec<f64> = runs
        .iter()
        .filter(|r| r.pass)
        .map(|r| r.overhead_ratio)
        .collect();
    let (min, max) = ratios.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
        (lo.min(*r), hi.max(*r))
    });
    let mean = if ratios.is_empty() {
        0.0
    } else {
        ratios.iter().sum::<f64>() / ratios.len() as f64
    };
    let _ = writeln!(
        out,
        "{} runs, {} failed, {} faults, {} kills, {} restarts, {} tasks retried, {} partitions recomputed; overhead min {:.2} mean {:.2} max {:.2}; {:.0} s",
        runs.len(),
        failed,
        runs.iter().map(|r| r.faults).sum::<u64>(),
        runs.iter().map(|r| r.kills).sum::<u64>(),
        runs.iter().map(|r| r.restarts).sum::<u64>(),
        runs.iter().map(|r| r.tasks_retried).sum::<u64>(),
        runs.iter().map(|r| r.recomputed_partitions).sum::<u64>(),
        if ratios.is_empty() { 0.0 } else { min },
        mean,
        max,
        elapsed_s
    );
    out
}
