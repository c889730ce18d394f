//! `cinder-chaos`: kill workers, hang them, break the network, and prove the results
//! unchanged. `run --scenario NAME --seed N`, `suite [--seed N]`, `soak --duration 10m`,
//! `list`; `--json` prints `{"runs":[...]}` on stdout. The exit code is 1 when a run failed.
//!
//! The binary is also the cluster's daemon executable (the same-binary model): workers get
//! every built-in function and the ML kernels of `cinder-algorithms`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cinder_chaos::drivers::{run_driver, DriverArgs};
use cinder_chaos::harness::{Harness, RunReport};
use cinder_chaos::report::{table, Report};
use cinder_chaos::rng::Rng;
use cinder_chaos::scenario::{self, SCENARIOS};
use cinder_chaos::workload::Workload;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cinder-chaos", about = "Cinder chaos harness")]
struct Cli {
    /// Keep run directories (logs of every process) under DIR; default a temporary directory,
    /// kept only when a run fails.
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Print one JSON object on stdout (the table goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Runs one scenario with one seed.
    Run {
        /// Scenario name (see `list`).
        #[arg(long)]
        scenario: String,
        /// The seed of the fault schedule (and of the data, modulo 4).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Runs every scenario over seeds derived from `--seed`.
    Suite {
        /// The base seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds per scenario.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Leave out these scenarios (comma separated).
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
    },
    /// Random scenarios and seeds until the time is up; stops at the first failure.
    Soak {
        /// How long (`30s`, `10m`, `1h`).
        #[arg(long, default_value = "10m")]
        duration: String,
        /// Seed of the choice of scenarios and seeds (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// The deterministic level: the scheduler and membership with virtual workers and a
    /// virtual clock over many seeds (no processes, no sockets).
    Sim {
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many seeds.
        #[arg(long, default_value_t = 10_000)]
        seeds: u64,
    },
    /// Lists the scenarios.
    List,
    /// A driver process of a multi-driver scenario (started by the harness itself).
    #[command(name = "__driver", hide = true)]
    Driver {
        /// The master's address.
        #[arg(long)]
        master: String,
        /// The credentials directory.
        #[arg(long)]
        cluster: PathBuf,
        /// The workload (as named by `list`).
        #[arg(long)]
        workload: String,
        /// The data seed.
        #[arg(long)]
        seed: u64,
        /// The application name.
        #[arg(long)]
        name: String,
        /// Workers to wait for.
        #[arg(long)]
        workers: usize,
        /// Result file (`<out>.ready`, `<out>.go` and `<out>.stop` beside it).
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("duration {s:?}: expected e.g. 10m"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => anyhow::bail!("duration {s:?}: unit must be s, m or h"),
    };
    Ok(Duration::from_secs(secs))
}

fn main() {
    cinder::daemon::maybe_run_daemon();
    cinder_chaos::cluster::maybe_run_watchdog();
    match real_main() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn real_main() -> Result<bool> {
    let cli = Cli::parse();
    if let Mode::List = cli.mode {
        for s in SCENARIOS {
            println!("{:<22} {:<12} {}", s.name, s.workload.name(), s.about);
        }
        return Ok(true);
    }
    if let Mode::Sim { seed, seeds } = cli.mode {
        return run_sim(seed, seeds, cli.json);
    }
    if let Mode::Driver {
        master,
        cluster,
        workload,
        seed,
        name,
        workers,
        out,
    } = cli.mode
    {
        let workload = Workload::from_name(&workload)
            .with_context(|| format!("unknown workload {workload:?}"))?;
        let args = DriverArgs {
            master,
            cluster,
            workload,
            seed,
            name,
            workers,
            out,
        };
        run_driver(&args)?;
        return Ok(true);
    }
    let temp = match &cli.dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("cinder-chaos-").tempdir()?),
    };
    let base = cli
        .dir
        .clone()
        .unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_path_buf());
    std::fs::create_dir_all(&base)?;
    let exe = std::env::current_exe().context("the harness executable")?;
    // Wakes SIGSTOPped workers should this process be killed (they then exit on their own).
    let _watchdog = cinder_chaos::cluster::Watchdog::spawn()?;
    let mut harness = Harness::new(base.clone(), exe);
    let started = Instant::now();
    let mut runs: Vec<RunReport> = Vec::new();
    let progress = |r: &RunReport| {
        eprintln!(
            "[{:>5.0}s] {} {} seed {}: faults {}, recomputed {}, overhead {:.2}{}",
            started.elapsed().as_secs_f64(),
            if r.pass { "ok  " } else { "FAIL" },
            r.scenario,
            r.seed,
            r.faults,
            r.recomputed_partitions,
            r.overhead_ratio,
            r.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    };
    match &cli.mode {
        Mode::List | Mode::Sim { .. } | Mode::Driver { .. } => unreachable!(),
        Mode::Run { scenario, seed } => {
            let s = scenario::find(scenario).with_context(|| {
                let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                format!("unknown scenario {scenario:?}; one of {}", names.join(", "))
            })?;
            let r = harness.run(s, *seed);
            progress(&r);
            runs.push(r);
        }
        Mode::Suite { seed, seeds, skip } => {
            for k in 0..(*seeds).max(1) {
                let run_seed = seed.wrapping_add(k * 1_000_003);
                for s in SCENARIOS
                    .iter()
                    .filter(|s| !skip.iter().any(|n| n == s.name))
                {
                    let r = harness.run(s, run_seed);
                    progress(&r);
                    runs.push(r);
                }
            }
        }
        Mode::Soak { duration, seed } => {
            let duration = parse_duration(duration)?;
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            });
            eprintln!("soak for {duration:?}, seed {seed}");
            let mut rng = Rng::new(seed);
            while started.elapsed() < duration {
                let s = &SCENARIOS[rng.below(SCENARIOS.len() as u64) as usize];
                let run_seed = rng.next_u64() % 1_000_000;
                let r = harness.run(s, run_seed);
                progress(&r);
                let failed = !r.pass;
                runs.push(r);
                if failed {
                    eprintln!(
                        "first failure: cinder-chaos run --scenario {} --seed {run_seed}",
                        s.name
                    );
                    break;
                }
            }
        }
    }
    let ok = runs.iter().all(|r| r.pass);
    let text = table(&runs, started.elapsed().as_secs_f64());
    if cli.json {
        eprint!("{text}");
        println!("{}", serde_json::to_string(&Report { runs: &runs })?);
    } else {
        print!("{text}");
    }
    if !ok {
        if let Some(temp) = temp {
            let kept = temp.keep();
            eprintln!("run directories kept in {}", kept.display());
        }
    }
    Ok(ok)
}

fn run_sim(first: u64, seeds: u64, json: bool) -> Result<bool> {
    use cinder_chaos::sim::simulate;
    let start = Instant::now();
    let (mut kills, mut restarts, mut losses, mut lost_maps, mut stale, mut failed) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut error = None;
    let mut done = 0u64;
    for seed in first..first.saturating_add(seeds) {
        match simulate(seed) {
            Ok(r) => {
                kills += r.kills;
                restarts += r.restarts;
                losses += r.losses;
                lost_maps += r.lost_map_outputs;
                stale += r.stale_answers;
                failed += u64::from(r.failed);
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        done += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let line = format!(
        "{done} seeds in {secs:.2} s ({:.0}/s): {kills} kills, {restarts} restarts, {losses} losses, {lost_maps} lost map outputs, {stale} stale answers ignored, {failed} jobs over the retry budget{}",
        done as f64 / secs.max(1e-9),
        error.as_ref().map(|e| format!("; FAILED: {e}")).unwrap_or_default()
    );
    if json {
        eprintln!("{line}");
        let value = serde_json::json!({
            "seeds": done, "seconds": secs, "kills": kills, "restarts": restarts,
            "losses": losses, "lost_map_outputs": lost_maps, "stale_answers": stale,
            "failed_jobs": failed, "pass": error.is_none(), "error": error,
        });
        println!("{value}");
    } else {
        println!("{line}");
    }
    Ok(error.is_none())
}
