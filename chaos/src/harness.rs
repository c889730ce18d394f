//! Runs one scenario: a fault-free baseline (cached per workload and seed), then the same
//! workload on a fresh cluster with the scenario's faults, and the checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cinder::runtime::scheduler::SchedulerConfig;
use cinder::{ClusterStatus, Context, LocalCluster, WorkerState};
use serde::Serialize;

use crate::cluster::{scan_for_panics, signal, wait_all_gone, Cluster};
use crate::proxy::{LinkFaults, ProxyCluster};
use crate::rng::Rng;
use crate::scenario::{plan, Action, FaultKind, Scenario};
use crate::workload::{Outcome, Workload};

/// The seed of a run's data: the data depends on the seed modulo 4 (so fault-free
/// baselines are shared between runs), the fault schedule on the whole seed.
pub fn data_seed(seed: u64) -> u64 {
    seed % 4
}

/// Workers per cluster.
pub const WORKERS: usize = 3;
/// Heartbeat interval used by the harness's clusters.
pub const HEARTBEAT_INTERVAL_MS: u64 = 200;
/// Heartbeat timeout used by the harness's clusters (a silent worker is lost after it).
pub const HEARTBEAT_TIMEOUT_MS: u64 = 1500;

/// The result of one run, as reported in the table and the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The seed (`--seed N` reproduces the run).
    pub seed: u64,
    /// Every check held.
    pub pass: bool,
    /// Faults injected (kills, stops, corruptions, partitions; restarts not counted).
    pub faults: u64,
    /// Worker processes SIGKILLed.
    pub kills: u64,
    /// Worker restarts (new incarnations).
    pub restarts: u64,
    /// Task attempts retried over the run's jobs.
    pub tasks_retried: u64,
    /// Partitions and map outputs recomputed after being lost.
    pub recomputed_partitions: u64,
    /// Longest time from a kill, stop or partition until the master marked the worker lost
    /// (for a killed driver: until the master marked its application lost).
    pub detection_ms: Option<u64>,
    /// For a killed driver: from its SIGKILL until its application was lost and no worker
    /// held its blocks.
    pub released_ms: Option<u64>,
    /// Faulted run time divided by the fault-free run time.
    pub overhead_ratio: f64,
    /// Fault-free run time (ms).
    pub baseline_ms: u64,
    /// Faulted run time (ms).
    pub run_ms: u64,
    /// The first failed check, if any.
    pub error: Option<String>,
    /// The job's error when the scenario expects the job to fail (and it did, as documented).
    pub error_expected: Option<String>,
    /// Where the run's logs are.
    pub dir: String,
}

/// Runs scenarios, remembering fault-free baselines.
pub struct Harness {
    base: PathBuf,
    exe: PathBuf,
    baselines: HashMap<(Workload, u64), (Outcome, Duration)>,
}

/// What a faulted run measured.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) faults: u64,
    pub(crate) kills: u64,
    pub(crate) restarts: u64,
    pub(crate) detection_ms: Option<u64>,
    pub(crate) released_ms: Option<u64>,
}

impl Harness {
    /// A harness writing run directories under `base`, starting daemons from `exe`.
    pub fn new(base: PathBuf, exe: PathBuf) -> Self {
        Self {
            base,
            exe,
            baselines: HashMap::new(),
        }
    }

    /// Runs `scenario` with `seed` and checks it.
    pub fn run(&mut self, scenario: &Scenario, seed: u64) -> RunReport {
        let dir = self.base.join(format!("{}-{seed}", scenario.name));
        let mut report = RunReport {
            scenario: scenario.name.to_string(),
            seed,
            pass: false,
            faults: 0,
            kills: 0,
            restarts: 0,
            tasks_retried: 0,
            recomputed_partitions: 0,
            detection_ms: None,
            released_ms: None,
            overhead_ratio: 0.0,
            baseline_ms: 0,
            run_ms: 0,
            error: None,
            error_expected: None,
            dir: dir.display().to_string(),
        };
        let result = self.run_inner(scenario, seed, &dir, &mut report);
        match result {
            Ok(()) => report.pass = true,
            Err(e) => report.error = Some(format!("{e:#}")),
        }
        report
    }

    fn run_inner(
        &mut self,
        scenario: &Scenario,
        seed: u64,
        dir: &Path,
        report: &mut RunReport,
    ) -> Result<()> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = (scenario.workload, data_seed(seed));
        if !self.baselines.contains_key(&key) {
            let baseline = self
                .baseline(scenario.workload, seed, &dir.join("baseline"))
                .context("fault-free baseline")?;
            self.baselines.insert(key, baseline);
        }
        let (expected, baseline_time) = self.baselines[&key].clone();
        report.baseline_ms = baseline_time.as_millis() as u64;
        self.faulted(scenario, seed, dir, &expected, baseline_time, report)
    }

    fn local(
        &self,
        workload: Workload,
        dir: &Path,
        app_timeout: Option<Duration>,
    ) -> Result<LocalCluster> {
        let builder = LocalCluster::builder();
        let builder = match app_timeout {
            Some(t) => builder.app_timeout(t),
            None => builder,
        };
        Ok(builder
            .workers(WORKERS)
            .cores(2)
            .memory_bytes(workload.memory_bytes())
            .executable(&self.exe)
            .dir(dir)
            .heartbeat_ms(HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS)
            .log_level("info")
            .env("CINDER_FAULT_INJECTION", "1")
            .start()?)
    }

    fn baseline(&self, workload: Workload, seed: u64, dir: &Path) -> Result<(Outcome, Duration)> {
        let mut cluster = self.local(workload, dir, None)?;
        let pids = Cluster::pids(&cluster);
        let result = (|| {
            let cx = Context::connect(LocalCluster::master_addr(&cluster), cluster.cluster_dir())?;
            cx.wait_for_workers(WORKERS, Duration::from_secs(20))?;
            let mut prepared = workload.prepare(&cx, data_seed(seed))?;
            prepared.output = Some(dir.join("out.parquet"));
            let start = Instant::now();
            let outcome = prepared.run()?;
            Ok::<_, anyhow::Error>((outcome, start.elapsed()))
        })();
        let logs = cluster.log_dir();
        cluster.stop();
        let left = wait_all_gone(&pids, Duration::from_secs(10));
        anyhow::ensure!(
            left.is_empty(),
            "processes still running after stop: {left:?}"
        );
        let panics = scan_for_panics(&logs)?;
        anyhow::ensure!(panics.is_empty(), "panics in the logs: {panics:?}");
        result
    }

    fn faulted(
        &self,
        scenario: &Scenario,
        seed: u64,
        dir: &Path,
        expected: &Outcome,
        baseline: Duration,
        report: &mut RunReport,
    ) -> Result<()> {
        let faulted_dir = dir.join("faulted");
        let mut cluster: Box<dyn Cluster> = match scenario.fault {
            FaultKind::NetLossy | FaultKind::NetPartition => {
                let faults = if scenario.fault == FaultKind::NetLossy {
                    LinkFaults::lossy()
                } else {
                    LinkFaults::default()
                };
                Box::new(ProxyCluster::start(
                    &self.exe,
                    &faulted_dir,
                    WORKERS,
                    scenario.workload.memory_bytes(),
                    faults,
                    seed,
                )?)
            }
            // A killed driver must be declared lost within seconds, not the default 30.
            FaultKind::KillDriver => Box::new(self.local(
                scenario.workload,
                &faulted_dir,
                Some(crate::drivers::APP_TIMEOUT),
            )?),
            _ => Box::new(self.local(scenario.workload, &faulted_dir, None)?),
        };
        let mut seen_pids = cluster.pids();
        let logs = cluster.log_dir();
        let mut tally = Tally::default();
        let outcome = if scenario.fault == FaultKind::KillDriver {
            crate::drivers::run(
                &self.exe,
                cluster.as_mut(),
                scenario,
                seed,
                baseline,
                &mut seen_pids,
                &mut tally,
                report,
            )
            .map(|(outcome, time)| (Some(outcome), time))
        } else {
            self.drive(
                scenario,
                seed,
                cluster.as_mut(),
                baseline,
                &mut seen_pids,
                &mut tally,
                report,
            )
        };
        if scenario.fault == FaultKind::NetLossy {
            // Every dropped, duplicated or reordered datagram is a fault of this scenario.
            tally.faults += cluster.datagram_faults();
        }
        cluster.stop();
        drop(cluster);
        report.faults = tally.faults;
        report.kills = tally.kills;
        report.restarts = tally.restarts;
        report.detection_ms = tally.detection_ms;
        report.released_ms = tally.released_ms;
        let left = wait_all_gone(&seen_pids, Duration::from_secs(10));
        let (got, run_time) = outcome?;
        report.run_ms = run_time.as_millis() as u64;
        report.overhead_ratio = run_time.as_secs_f64() / baseline.as_secs_f64().max(1e-3);
        anyhow::ensure!(
            left.is_empty(),
            "processes still running after stop: {left:?}"
        );
        let panics = scan_for_panics(&logs)?;
        anyhow::ensure!(panics.is_empty(), "panics in the logs: {panics:?}");
        let Some(got) = got else {
            // Failed as documented (checked in `drive`): nothing to compare.
            return Ok(());
        };
        anyhow::ensure!(
            got.rows == expected.rows,
            "row count {} differs from the fault-free {}",
            got.rows,
            expected.rows
        );
        anyhow::ensure!(
            got.checksum == expected.checksum,
            "checksum {:016x} differs from the fault-free {:016x}",
            got.checksum,
            expected.checksum
        );
        anyhow::ensure!(
            got == *expected,
            "result bits differ from the fault-free run"
        );
        anyhow::ensure!(
            tally.faults > 0 || scenario.fault == FaultKind::NetLossy,
            "no fault was injected (the job ended first)"
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn drive(
        &self,
        scenario: &Scenario,
        seed: u64,
        cluster: &mut dyn Cluster,
        baseline: Duration,
        seen_pids: &mut Vec<u32>,
        tally: &mut Tally,
        report: &mut RunReport,
    ) -> Result<(Option<Outcome>, Duration)> {
        let ids = cluster.worker_ids();
        let cx = Context::connect(&cluster.master_addr(), cluster.cluster_dir())?;
        let monitor = Context::connect(&cluster.master_addr(), cluster.cluster_dir())?;
        cx.wait_for_workers(ids.len(), Duration::from_secs(20))?;
        let mut prepared = scenario.workload.prepare(&cx, data_seed(seed))?;
        let output = cluster.log_dir().with_file_name("out.parquet");
        prepared.output = Some(output.clone());

        let mut holder = None;
        if let (FaultKind::KillHolder, Some(cached)) = (scenario.fault, &prepared.cached) {
            let partition = Rng::new(seed).below(u64::from(cached.num_partitions()));
            let block = cached.block_id(partition as u32);
            for (i, id) in ids.iter().enumerate() {
                if cx.get_block(id, &block)?.is_some() {
                    anyhow::ensure!(holder.is_none(), "{block} has more than one copy");
                    holder = Some(i);
                }
            }
            anyhow::ensure!(holder.is_some(), "no worker holds {block}");
        }
        let timeout = Duration::from_millis(HEARTBEAT_TIMEOUT_MS);
        let mut schedule = plan(scenario, seed, baseline, timeout, holder)
            .into_iter()
            .peekable();
        let mut faults = Faults {
            alive: vec![true; ids.len()],
            stopped: Vec::new(),
            killed: Vec::new(),
            pending: Vec::new(),
            ids: ids.clone(),
        };
        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
        let mut corrupted = false;

        // Faults due at once (corruption) land before the job starts.
        while schedule.peek().is_some_and(|p| p.at.is_zero()) {
            let p = schedule.next().expect("peeked");
            if let Action::Corrupt(n) = p.action {
                corrupt(&cx, &prepared, &ids, n, &mut rng, tally)?;
                corrupted = true;
            }
        }

        let start = Instant::now();
        let (tx, rx) = mpsc::channel();
        let job = prepared.clone();
        std::thread::Builder::new()
            .name("chaos-job".into())
            .spawn(move || {
                let _ = tx.send(job.run());
            })?;
        let deadline = start + Duration::from_secs(120).max(baseline * 15);
        let result = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => break (r, start.elapsed()),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break (
                        Err(anyhow::anyhow!("the job thread ended without a result")),
                        start.elapsed(),
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the job did not finish within {:?}",
                deadline - start
            );
            while schedule.peek().is_some_and(|p| start.elapsed() >= p.at) {
                let p = schedule.next().expect("peeked");
                faults.apply(&p.action, cluster, &monitor, seen_pids, tally)?;
            }
            faults.poll_detection(&monitor, tally);
        };
        // The rest of the schedule (restarts, SIGCONT, healing) still runs: every process is
        // brought back and must rejoin cleanly.
        for p in schedule {
            if !matches!(
                p.action,
                Action::KillRandom(_)
                    | Action::Kill(_)
                    | Action::Stop(_)
                    | Action::Partition(_)
                    | Action::KillBusy
            ) {
                let wait = p.at.saturating_sub(start.elapsed());
                std::thread::sleep(wait.min(Duration::from_secs(10)));
                faults.apply(&p.action, cluster, &monitor, seen_pids, tally)?;
            }
        }
        faults.cont_all();
        let (result, elapsed) = result;
        let outcome = if scenario.fault == FaultKind::ExhaustRetries {
            let error = match result {
                Ok(_) => anyhow::bail!("the job succeeded although every busy worker was killed"),
                Err(e) => e,
            };
            let e = format!("{error:#}");
            // By kind, not by text: every job error's text names its attempts.
            let job = error
                .chain()
                .find_map(|c| match c.downcast_ref::<cinder::Error>() {
                    Some(cinder::Error::Job(job)) => Some(job),
                    _ => None,
                })
                .with_context(|| format!("the job failed without a job error: {e}"))?;
            crate::sim::check_budget_spent(job, &SchedulerConfig::default()).map_err(|why| {
                anyhow::anyhow!(
                    "the job failed without the documented retry-budget error ({why}): {e}"
                )
            })?;
            report.error_expected = Some(e);
            anyhow::ensure!(
                !output.exists(),
                "{} was written by a failed job",
                output.display()
            );
            let parent = output.parent().context("output parent")?;
            let leftovers: Vec<String> = std::fs::read_dir(parent)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("cinder-tmp"))
                .collect();
            anyhow::ensure!(
                leftovers.is_empty(),
                "half-written output left: {leftovers:?}"
            );
            None
        } else {
            Some(result?)
        };
        let outcome = (outcome, elapsed);
        // Every loss is detected (bounded).
        let detect_deadline = Instant::now() + Duration::from_secs(10);
        while !faults.pending.is_empty() && Instant::now() < detect_deadline {
            faults.poll_detection(&monitor, tally);
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some((id, _, _)) = faults.pending.first() {
            anyhow::bail!("the loss of {id} was never detected");
        }
        let status = monitor.status()?;
        if matches!(
            scenario.fault,
            FaultKind::StopCont | FaultKind::NetPartition
        ) {
            // The zombie (or the cut-off worker) comes back as a newer incarnation.
            let victims: Vec<String> = faults.revived_ids();
            monitor
                .wait_for_status("the zombie re-registered", Duration::from_secs(15), |s| {
                    victims.iter().all(|v| {
                        s.workers.iter().any(|w| {
                            &w.id == v && w.state == WorkerState::Alive && w.incarnation >= 2
                        })
                    })
                })
                .context("after SIGCONT / healing")?;
            // And the cluster still computes the same answer with it.
            let again = prepared.run().context("run after the zombie came back")?;
            anyhow::ensure!(
                Some(&again) == outcome.0.as_ref(),
                "the run after the zombie came back differs"
            );
        }
        report.tasks_retried = status.jobs.iter().map(|j| j.retries).sum();
        report.recomputed_partitions = status.recomputed_partitions;
        if scenario.fault == FaultKind::KillHolder {
            anyhow::ensure!(
                status.recomputed_partitions >= 1,
                "the only copy of a cached block was killed, yet nothing was recomputed"
            );
        }
        if corrupted {
            anyhow::ensure!(
                status.recomputed_partitions >= 1,
                "a corrupt spilled block was not recomputed: {}",
                summary(&status)
            );
            let logs = cluster.log_dir();
            let mut text = String::new();
            for id in &ids {
                text +=
                    &std::fs::read_to_string(logs.join(format!("{id}.log"))).unwrap_or_default();
            }
            anyhow::ensure!(
                text.contains("is corrupt on disk"),
                "no worker logged the corruption"
            );
        }
        Ok(outcome)
    }
}

fn summary(s: &ClusterStatus) -> String {
    let workers: Vec<String> = s
        .workers
        .iter()
        .map(|w| format!("{}:{:?}#{}", w.id, w.state, w.incarnation))
        .collect();
    format!(
        "workers [{}], recomputed {}",
        workers.join(" "),
        s.recomputed_partitions
    )
}

/// Corrupts `n` spilled blocks of the prepared dataset (chosen by `rng`).
fn corrupt(
    cx: &Context,
    prepared: &crate::workload::Prepared,
    ids: &[String],
    n: usize,
    rng: &mut Rng,
    tally: &mut Tally,
) -> Result<()> {
    let cached = prepared
        .cached
        .as_ref()
        .context("the workload caches nothing")?;
    let partitions = u64::from(cached.num_partitions());
    let first = rng.below(partitions);
    let mut hit = 0;
    for k in 0..partitions {
        let p = (first + k) % partitions;
        let block = cached.block_id(p as u32);
        for id in ids {
            if hit < n && cx.corrupt_block(id, &block)? {
                hit += 1;
                tally.faults += 1;
            }
        }
    }
    anyhow::ensure!(hit > 0, "no spilled block to corrupt");
    Ok(())
}

/// Fault bookkeeping during a run: who is alive, stopped, killed, and losses not yet seen.
struct Faults {
    ids: Vec<String>,
    alive: Vec<bool>,
    stopped: Vec<(usize, u32)>,
    killed: Vec<usize>,
    /// (worker id, incarnation before the fault, when it was injected).
    pending: Vec<(String, u64, Instant)>,
}

impl Faults {
    fn live(&self) -> Vec<usize> {
        (0..self.alive.len()).filter(|i| self.alive[*i]).collect()
    }

    fn pick(&self, r: u64) -> Option<usize> {
        let live = self.live();
        (!live.is_empty()).then(|| live[(r % live.len() as u64) as usize])
    }

    fn incarnation(monitor: &Context, id: &str) -> u64 {
        monitor
            .status()
            .ok()
            .and_then(|s| s.workers.iter().find(|w| w.id == id).map(|w| w.incarnation))
            .unwrap_or(0)
    }

    fn apply(
        &mut self,
        action: &Action,
        cluster: &mut dyn Cluster,
        monitor: &Context,
        seen_pids: &mut Vec<u32>,
        tally: &mut Tally,
    ) -> Result<()> {
        match action {
            Action::KillRandom(picks) => {
                let mut victims = Vec::new();
                for r in picks {
                    if let Some(i) = self.pick(*r) {
                        self.alive[i] = false;
                        victims.push(i);
                    }
                }
                for i in victims {
                    self.kill(i, cluster, monitor, tally)?;
                }
            }
            Action::Kill(i) => {
                if self.alive[*i] {
                    self.alive[*i] = false;
                    self.kill(*i, cluster, monitor, tally)?;
                }
            }
            Action::RestartLastKilled => {
                if let Some(i) = self.killed.pop() {
                    cluster.restart_worker(i)?;
                    seen_pids.extend(cluster.worker_pid(i));
                    self.alive[i] = true;
                    tally.restarts += 1;
                }
            }
            Action::Stop(r) => {
                if let Some(i) = self.pick(*r) {
                    let pid = cluster.worker_pid(i).context("no pid")?;
                    let inc = Self::incarnation(monitor, &self.ids[i]);
                    signal(pid, libc::SIGSTOP)?;
                    self.alive[i] = false;
                    self.stopped.push((i, pid));
                    self.pending
                        .push((self.ids[i].clone(), inc, Instant::now()));
                    tally.faults += 1;
                }
            }
            Action::Cont => self.cont_all(),
            // Drivers are killed by `crate::drivers`, never planned for a single-driver run.
            Action::Corrupt(_) | Action::KillDriver => {}
            Action::Partition(r) => {
                if let Some(i) = self.pick(*r) {
                    let inc = Self::incarnation(monitor, &self.ids[i]);
                    cluster.partition_worker(i, true)?;
                    self.alive[i] = false;
                    self.stopped.push((i, 0));
                    self.pending
                        .push((self.ids[i].clone(), inc, Instant::now()));
                    tally.faults += 1;
                }
            }
            Action::KillBusy => {
                let Ok(status) = monitor.status() else {
                    return Ok(());
                };
                let busy: Vec<usize> = status
                    .workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Alive && w.tasks_running > 0)
                    .filter_map(|w| self.ids.iter().position(|id| *id == w.id))
                    .collect();
                for i in busy {
                    cluster.kill_worker(i)?;
                    cluster.restart_worker(i)?;
                    seen_pids.extend(cluster.worker_pid(i));
                    tally.kills += 1;
                    tally.faults += 1;
                    tally.restarts += 1;
                }
            }
            Action::Heal => {
                for (i, _) in &self.stopped {
                    cluster.partition_worker(*i, false)?;
                    self.alive[*i] = true;
                }
            }
        }
        Ok(())
    }

    fn kill(
        &mut self,
        i: usize,
        cluster: &mut dyn Cluster,
        monitor: &Context,
        tally: &mut Tally,
    ) -> Result<()> {
        let inc = Self::incarnation(monitor, &self.ids[i]);
        cluster.kill_worker(i)?;
        self.killed.push(i);
        self.pending
            .push((self.ids[i].clone(), inc, Instant::now()));
        tally.kills += 1;
        tally.faults += 1;
        Ok(())
    }

    /// SIGCONTs every stopped worker (also on error paths, through `Drop`).
    fn cont_all(&mut self) {
        for (i, pid) in &self.stopped {
            if *pid != 0 {
                let _ = signal(*pid, libc::SIGCONT);
            }
            self.alive[*i] = true;
        }
    }

    fn revived_ids(&self) -> Vec<String> {
        self.stopped
            .iter()
            .map(|(i, _)| self.ids[*i].clone())
            .collect()
    }

    fn poll_detection(&mut self, monitor: &Context, tally: &mut Tally) {
        if self.pending.is_empty() {
            return;
        }
        let Ok(status) = monitor.status() else { return };
        self.pending.retain(|(id, inc, at)| {
            let seen = status
                .workers
                .iter()
                .any(|w| &w.id == id && (w.state == WorkerState::Lost || w.incarnation > *inc));
            if seen {
                let ms = at.elapsed().as_millis() as u64;
                tally.detection_ms = Some(tally.detection_ms.unwrap_or(0).max(ms));
            }
            !seen
        });
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        self.cont_all();
    }
}
