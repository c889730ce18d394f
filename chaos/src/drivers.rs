//! Several drivers on one cluster (`two-drivers-one-killed`): each driver is a separate
//! process (the harness executable in its hidden `__driver` mode) so that it can be SIGKILLed
//! for real, leaving its application to the master's lease timeout.
//!
//! The two drivers run the same workload on different data (same schema, same dataset ids and
//! partition numbers: before applications they would have read each other's cached blocks).
//! Both prepare (generate and cache), then run the workload in rounds from the same moment.
//! While the victim's job runs with cached blocks, it is SIGKILLed. Checks: its application
//! becomes `lost` and no worker holds its blocks within the app timeout plus
//! [`RELEASE_MARGIN`]; the survivor, still running then, ends after a round that started after
//! the release; every round's result is bit-identical to the same workload alone on a
//! fault-free cluster, nothing is recomputed, and after both ended no worker holds a block of
//! either application.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cinder::runtime::transport::endpoint::resolve;
use cinder::runtime::transport::{client_endpoint, Credentials, PeerPool, TransportSettings};
use cinder::runtime::wire::{
    AppState, ApplicationStatus, BlockId, ClusterStatus, JobState, PeerRole, WorkerRequest,
    WorkerResponse, WorkerState,
};
use cinder::Context;
use serde::{Deserialize, Serialize};

use crate::cluster::{process_alive, signal, Cluster};
use crate::harness::{data_seed, RunReport, Tally, HEARTBEAT_TIMEOUT_MS};
use crate::scenario::{plan, Action, Scenario};
use crate::workload::{Outcome, Workload};

/// The subcommand that turns the harness executable into a driver.
pub const DRIVER_SUBCOMMAND: &str = "__driver";

/// The master's `--app-timeout` in this scenario's cluster.
pub const APP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long after the app timeout a killed driver's application may take to be declared lost
/// and dropped by every worker (timer tick, fire-and-forget drops, a loaded 2-core machine).
pub const RELEASE_MARGIN: Duration = Duration::from_secs(3);

/// How long a driver may take to connect and prepare its data.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What a driver writes once its data is prepared (`<out>.ready`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Ready {
    /// Its application id.
    pub app: String,
    /// Its process id.
    pub pid: u32,
    /// The blocks of its cached dataset.
    pub blocks: Vec<String>,
}

/// What a driver writes when its runs ended and its context is dropped (`<out>`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Finished {
    /// Its application id.
    pub app: String,
    /// The result (every round's was the same).
    pub outcome: Outcome,
    /// The first round's duration (ms).
    pub run_ms: u64,
    /// Rounds run.
    pub rounds: u32,
}

/// The arguments of the `__driver` mode.
#[derive(Debug, Clone)]
pub struct DriverArgs {
    /// The master's address.
    pub master: String,
    /// The credentials directory.
    pub cluster: PathBuf,
    /// The workload to run.
    pub workload: Workload,
    /// The data seed.
    pub seed: u64,
    /// The application name.
    pub name: String,
    /// Workers to wait for.
    pub workers: usize,
    /// Where the result goes; `<out>.ready`, `<out>.go` and `<out>.stop` sit beside it.
    pub out: PathBuf,
}

fn ready_path(out: &Path) -> PathBuf {
    out.with_extension("ready")
}

fn go_path(out: &Path) -> PathBuf {
    out.with_extension("go")
}

fn stop_path(out: &Path) -> PathBuf {
    out.with_extension("stop")
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(value)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The `__driver` mode: connects as application `name`, prepares the workload, writes
/// `<out>.ready`, waits for `<out>.go`, then runs the workload in rounds (each result must
/// equal the first) until a round that started after `<out>.stop` appeared has ended; drops
/// its context (releasing the application) and writes the result to `out`.
pub fn run_driver(args: &DriverArgs) -> Result<()> {
    die_with_parent();
    cinder::logging::init_logging("info");
    let cx = Context::connect_named(&args.master, &args.cluster, &args.name)?;
    let result = drive_one(&cx, args);
    if result.is_err() {
        cx.mark_failed();
    }
    let app = cx.application_id().to_string();
    let (outcome, run_ms, rounds) = match result {
        Ok(r) => r,
        Err(e) => return Err(e.context(format!("driver {} ({app})", args.name))),
    };
    // The application ends `finished` here, before the result is published.
    drop(cx);
    write_json(
        &args.out,
        &Finished {
            app,
            outcome,
            run_ms,
            rounds,
        },
    )
}

fn drive_one(cx: &Context, args: &DriverArgs) -> Result<(Outcome, u64, u32)> {
    cx.wait_for_workers(args.workers, Duration::from_secs(20))?;
    let prepared = args.workload.prepare(cx, args.seed)?;
    let blocks = prepared
        .cached
        .as_ref()
        .map(|d| (0..d.num_partitions()).map(|p| d.block_id(p).0).collect())
        .unwrap_or_default();
    write_json(
        &ready_path(&args.out),
        &Ready {
            app: cx.application_id().to_string(),
            pid: std::process::id(),
            blocks,
        },
    )?;
    let go = go_path(&args.out);
    let deadline = Instant::now() + READY_TIMEOUT;
    while !go.exists() {
        anyhow::ensure!(Instant::now() < deadline, "no {} in time", go.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    let stop = stop_path(&args.out);
    let start = Instant::now();
    let first = prepared.run()?;
    let run_ms = start.elapsed().as_millis() as u64;
    let mut rounds = 1;
    loop {
        let after_stop = stop.exists();
        let again = prepared.run()?;
        rounds += 1;
        anyhow::ensure!(
            again == first,
            "round {rounds} differs from the first: {again:?} vs {first:?}"
        );
        if after_stop {
            return Ok((first, run_ms, rounds));
        }
    }
}

/// A driver outlives no harness: SIGKILLed when the harness thread that started it ends.
fn die_with_parent() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid have no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            std::process::exit(1);
        }
    }
}

/// A driver process started by the harness; killed and reaped when dropped.
struct Driver {
    name: &'static str,
    child: Option<Child>,
    pid: u32,
    out: PathBuf,
    log: PathBuf,
}

impl Driver {
    fn spawn(
        exe: &Path,
        cluster: &dyn Cluster,
        workload: Workload,
        seed: u64,
        name: &'static str,
        dir: &Path,
    ) -> Result<Self> {
        let out = dir.join(format!("{name}.json"));
        let log = cluster.log_dir().join(format!("driver-{name}.log"));
        let file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(exe)
            .arg(DRIVER_SUBCOMMAND)
            .arg("--master")
            .arg(cluster.master_addr())
            .arg("--cluster")
            .arg(cluster.cluster_dir())
            .arg("--workload")
            .arg(workload.name())
            .arg("--seed")
            .arg(seed.to_string())
            .arg("--name")
            .arg(name)
            .arg("--workers")
            .arg(cluster.worker_ids().len().to_string())
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting driver {name}"))?;
        Ok(Self {
            name,
            pid: child.id(),
            child: Some(child),
            out,
            log,
        })
    }

    /// Bails with the driver's exit status and the end of its log when it has exited.
    fn ensure_running(&mut self, what: &str) -> Result<()> {
        let child = self.child.as_mut().context("driver already reaped")?;
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "driver {} exited ({status}) {what}: {}",
                self.name,
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<Ready> {
        let path = ready_path(&self.out);
        loop {
            if path.exists() {
                let text = std::fs::read(&path)?;
                return Ok(serde_json::from_slice(&text)?);
            }
            self.ensure_running("before it was ready")?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "driver {} not ready in time: {}",
                self.name,
                log_tail(&self.log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn go(&self) -> Result<()> {
        std::fs::write(go_path(&self.out), b"go")?;
        Ok(())
    }

    fn stop(&self) -> Result<()> {
        std::fs::write(stop_path(&self.out), b"stop")?;
        Ok(())
    }

    fn kill(&mut self) -> Result<()> {
        signal(self.pid, libc::SIGKILL)?;
        if let Some(mut child) = self.child.take() {
            child.wait()?;
        }
        Ok(())
    }

    fn wait_finished(&mut self, deadline: Instant) -> Result<Finished> {
        let child = self.child.as_mut().context("driver already reaped")?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "driver {} did not finish in time",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        self.child = None;
        anyhow::ensure!(
            status.success(),
            "driver {} failed ({status}): {}",
            self.name,
            log_tail(&self.log)
        );
        let text = std::fs::read(&self.out)
            .with_context(|| format!("driver {} wrote no result", self.name))?;
        Ok(serde_json::from_slice(&text)?)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last lines of a log, on one line.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// Asks workers directly which blocks they hold. It connects as a client acting for no
/// application (the harness, not a driver), so it may look up any application's blocks.
pub struct BlockProbe {
    runtime: tokio::runtime::Runtime,
    pool: PeerPool,
}

impl BlockProbe {
    /// A probe with the credentials in `cluster_dir`.
    pub fn connect(master: &str, cluster_dir: &Path) -> Result<Self> {
        let creds = Credentials::load_shared(cluster_dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let pool = runtime.block_on(async {
            let addr = resolve(master).await?;
            let endpoint = client_endpoint(addr, &creds, &TransportSettings::default())?;
            Ok::<_, anyhow::Error>(PeerPool::new(endpoint, PeerRole::Client, "chaos-probe"))
        })?;
        Ok(Self { runtime, pool })
    }

    /// Those of `blocks` that the worker at `address` holds.
    pub fn held(&self, address: &str, blocks: &[String]) -> Result<Vec<String>> {
        self.runtime.block_on(async {
            let addr = resolve(address).await?;
            let conn = self.pool.get(addr).await?;
            let mut held = Vec::new();
            for block in blocks {
                let request = WorkerRequest::GetBlock {
                    block_id: BlockId(block.clone()),
                };
                let (response, _) = conn
                    .request_body(&request, |r: &WorkerResponse| match r {
                        WorkerResponse::Block { len } => Some(*len),
                        _ => None,
                    })
                    .await?;
                match response {
                    WorkerResponse::Block { .. } => held.push(block.clone()),
                    WorkerResponse::NotFound { .. } => {}
                    other => anyhow::bail!("worker at {address} answered {other:?}"),
                }
            }
            Ok(held)
        })
    }

    /// `<worker id>:<block>` for every block of `blocks` held by an alive worker.
    pub fn held_anywhere(&self, status: &ClusterStatus, blocks: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for w in status
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Alive)
        {
            for block in self.held(&w.address, blocks)? {
                out.push(format!("{}:{block}", w.id));
            }
        }
        Ok(out)
    }
}

fn application<'a>(status: &'a ClusterStatus, app: &str) -> Option<&'a ApplicationStatus> {
    status.applications.iter().find(|a| a.id == app)
}

fn running_jobs(status: &ClusterStatus, app: &str) -> usize {
    status
        .jobs
        .iter()
        .filter(|j| j.application == app && j.state == JobState::Running)
        .count()
}

fn describe(status: &ClusterStatus, app: &str) -> String {
    match application(status, app) {
        Some(a) => format!(
            "{} {}: jobs_running {}, blocks {}",
            a.id,
            a.state.as_str(),
            a.jobs_running,
            a.blocks
        ),
        None => format!("{app} not in the status"),
    }
}

/// Runs the scenario on `cluster` (started with [`APP_TIMEOUT`]); returns the survivor's
/// result and timed run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    exe: &Path,
    cluster: &mut dyn Cluster,
    scenario: &Scenario,
    seed: u64,
    baseline: Duration,
    seen_pids: &mut Vec<u32>,
    tally: &mut Tally,
    report: &mut RunReport,
) -> Result<(Outcome, Duration)> {
    let ids = cluster.worker_ids();
    let master = cluster.master_addr();
    let monitor = Context::connect_named(&master, cluster.cluster_dir(), "chaos-monitor")?;
    monitor.wait_for_workers(ids.len(), Duration::from_secs(20))?;
    let probe = BlockProbe::connect(&master, &cluster.cluster_dir())?;
    let dir = cluster.log_dir().with_file_name("drivers");
    std::fs::create_dir_all(&dir)?;

    // Same workload and dataset ids, different data: a driver reading the other's blocks
    // would get the other's numbers.
    let survivor_seed = data_seed(seed);
    let victim_seed = (survivor_seed + 1) % 4;
    let mut survivor = Driver::spawn(
        exe,
        cluster,
        scenario.workload,
        survivor_seed,
        "survivor",
        &dir,
    )?;
    seen_pids.push(survivor.pid);
    let mut victim = Driver::spawn(exe, cluster, scenario.workload, victim_seed, "victim", &dir)?;
    seen_pids.push(victim.pid);
    let ready_deadline = Instant::now() + READY_TIMEOUT;
    let survivor_ready = survivor.wait_ready(ready_deadline)?;
    let victim_ready = victim.wait_ready(ready_deadline)?;
    anyhow::ensure!(
        survivor_ready.app != victim_ready.app,
        "both drivers got application {}",
        victim_ready.app
    );
    anyhow::ensure!(
        !victim_ready.blocks.is_empty(),
        "the victim's workload caches nothing"
    );

    let timeout = Duration::from_millis(HEARTBEAT_TIMEOUT_MS);
    let kill_at = plan(scenario, seed, baseline, timeout, None)
        .into_iter()
        .find(|p| p.action == Action::KillDriver)
        .context("no driver kill planned")?
        .at;
    survivor.go()?;
    victim.go()?;
    let start = Instant::now();
    std::thread::sleep(kill_at);

    // The fault must land when it matters: both drivers running, the victim's job running
    // with cached blocks that workers really hold.
    let held_before = probe.held_anywhere(&monitor.status()?, &victim_ready.blocks)?;
    anyhow::ensure!(
        !held_before.is_empty(),
        "no worker holds a block of the victim before the kill"
    );
    let victim_app = victim_ready.app.clone();
    monitor
        .wait_for_status(
            "the victim's job running with cached blocks",
            Duration::from_secs(10),
            |s| {
                application(s, &victim_app).is_some_and(|a| {
                    a.state == AppState::Running && a.jobs_running > 0 && a.blocks > 0
                })
            },
        )
        .context("before the driver kill")?;
    victim.ensure_running("before the kill")?;
    survivor.ensure_running("before the victim's kill")?;
    anyhow::ensure!(
        process_alive(victim.pid),
        "the victim is gone before the kill"
    );
    victim.kill()?;
    let killed = Instant::now();
    tally.faults += 1;

    // Lost within the app timeout, released on every worker within the margin.
    let bound = APP_TIMEOUT + RELEASE_MARGIN;
    loop {
        let status = monitor.status()?;
        let app = application(&status, &victim_app);
        let state = app.map(|a| a.state);
        if tally.detection_ms.is_none() && state == Some(AppState::Lost) {
            tally.detection_ms = Some(killed.elapsed().as_millis() as u64);
        }
        let last = if state.is_some_and(|s| s != AppState::Running) {
            anyhow::ensure!(
                state == Some(AppState::Lost),
                "the SIGKILLed driver's application ended {}, not lost",
                describe(&status, &victim_app)
            );
            let held = probe.held_anywhere(&status, &victim_ready.blocks)?;
            let jobs = running_jobs(&status, &victim_app);
            if held.is_empty() && jobs == 0 && app.is_some_and(|a| a.blocks == 0) {
                tally.released_ms = Some(killed.elapsed().as_millis() as u64);
                break;
            }
            format!(
                "{}; {jobs} job(s) running; {} block(s) held by workers: {:?}",
                describe(&status, &victim_app),
                held.len(),
                &held[..held.len().min(4)]
            )
        } else {
            describe(&status, &victim_app)
        };
        anyhow::ensure!(
            killed.elapsed() < bound,
            "the SIGKILLed driver's application was not lost and released within {bound:?}: {last}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The release landed while the survivor was running; its next round starts after it
    // and reads its own cached blocks, which must all still be there.
    survivor.ensure_running("before the victim was released")?;
    survivor.stop()?;
    // The survivor ends cleanly with the fault-free answer (compared by the harness).
    let deadline = start + Duration::from_secs(120).max(baseline * 15);
    let finished = survivor.wait_finished(deadline)?;
    anyhow::ensure!(
        finished.rounds >= 2,
        "the survivor ran {} round(s), none after the victim's release",
        finished.rounds
    );
    anyhow::ensure!(
        finished.app == survivor_ready.app,
        "the survivor reports application {}, registered {}",
        finished.app,
        survivor_ready.app
    );

    // After both ended, no worker holds a block of either application (asked of the workers
    // themselves, and in their heartbeat figures).
    let survivor_app = survivor_ready.app.clone();
    let mut every_block = survivor_ready.blocks.clone();
    every_block.extend(victim_ready.blocks.iter().cloned());
    let end = Instant::now();
    let status = loop {
        let status = monitor.status()?;
        let held = probe.held_anywhere(&status, &every_block)?;
        let counted: Vec<String> = status
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Alive && w.blocks > 0)
            .map(|w| format!("{}: {} blocks", w.id, w.blocks))
            .collect();
        let finished = application(&status, &survivor_app).map(|a| a.state);
        if held.is_empty() && counted.is_empty() && finished == Some(AppState::Finished) {
            break status;
        }
        anyhow::ensure!(
            end.elapsed() < RELEASE_MARGIN,
            "after both drivers ended: {} block(s) held {:?}, heartbeats {counted:?}, survivor {}",
            held.len(),
            &held[..held.len().min(4)],
            describe(&status, &survivor_app)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for app in [&survivor_app, &victim_app] {
        let a = application(&status, app).with_context(|| format!("{app} not in the status"))?;
        anyhow::ensure!(
            a.blocks == 0 && a.memory_bytes == 0 && a.jobs_running == 0,
            "an ended application still counts: {}",
            describe(&status, app)
        );
    }
    // The victim's release dropped only its own blocks: the survivor recomputed nothing, and
    // every worker is still its first incarnation.
    anyhow::ensure!(
        status.recomputed_partitions == 0,
        "{} partition(s) recomputed although no worker was touched",
        status.recomputed_partitions
    );
    anyhow::ensure!(
        status
            .workers
            .iter()
            .all(|w| w.state == WorkerState::Alive && w.incarnation == 1),
        "a worker was lost or restarted"
    );
    report.tasks_retried = status
        .jobs
        .iter()
        .filter(|j| j.application == survivor_app)
        .map(|j| j.retries)
        .sum();
    drop(monitor);
    Ok((finished.outcome, Duration::from_millis(finished.run_ms)))
}
