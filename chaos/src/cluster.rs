//! The processes under test: the embedded [`LocalCluster`] for most scenarios, or a cluster
//! whose every link passes through a [`crate::proxy::FaultProxy`] for network faults. Both
//! reap every child on drop, on every path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cinder::LocalCluster;

/// What the harness needs from a running cluster.
pub trait Cluster {
    /// The master's address.
    fn master_addr(&self) -> String;
    /// The credentials directory.
    fn cluster_dir(&self) -> PathBuf;
    /// Where every process writes its log.
    fn log_dir(&self) -> PathBuf;
    /// Worker ids, by index.
    fn worker_ids(&self) -> Vec<String>;
    /// The pid of worker `index` while it runs.
    fn worker_pid(&self, index: usize) -> Option<u32>;
    /// Every daemon pid currently owned (master and workers).
    fn pids(&self) -> Vec<u32>;
    /// SIGKILLs worker `index` and reaps it.
    fn kill_worker(&mut self, index: usize) -> Result<()>;
    /// Starts worker `index` again (same id and work dir: a new incarnation).
    fn restart_worker(&mut self, index: usize) -> Result<()>;
    /// Blocks (`true`) or unblocks every datagram of worker `index`'s links.
    fn partition_worker(&mut self, _index: usize, _blocked: bool) -> Result<()> {
        anyhow::bail!("this cluster has no fault proxies")
    }
    /// Datagrams dropped, duplicated or reordered by fault proxies so far.
    fn datagram_faults(&self) -> u64 {
        0
    }
    /// Stops every process (idempotent).
    fn stop(&mut self);
}

impl Cluster for LocalCluster {
    fn master_addr(&self) -> String {
        LocalCluster::master_addr(self).to_string()
    }
    fn cluster_dir(&self) -> PathBuf {
        LocalCluster::cluster_dir(self).to_path_buf()
    }
    fn log_dir(&self) -> PathBuf {
        LocalCluster::log_dir(self)
    }
    fn worker_ids(&self) -> Vec<String> {
        self.workers().iter().map(|w| w.id.clone()).collect()
    }
    fn worker_pid(&self, index: usize) -> Option<u32> {
        self.workers().get(index).and_then(|w| w.pid())
    }
    fn pids(&self) -> Vec<u32> {
        self.master_pid()
            .into_iter()
            .chain(self.workers().iter().filter_map(|w| w.pid()))
            .collect()
    }
    fn kill_worker(&mut self, index: usize) -> Result<()> {
        Ok(LocalCluster::kill_worker(self, index)?)
    }
    fn restart_worker(&mut self, index: usize) -> Result<()> {
        Ok(LocalCluster::restart_worker(self, index)?)
    }
    fn stop(&mut self) {
        LocalCluster::stop(self)
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) -> Result<()> {
    // SAFETY: kill(2) with a pid we started; no memory is shared.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    anyhow::ensure!(
        rc == 0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// True while a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits (bounded) until none of `pids` runs; returns those still running.
pub fn wait_all_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| process_alive(*p)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Files under `dir` (not recursive) whose text contains "panicked", with the first such line.
pub fn scan_for_panics(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading log dir {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
            found.push(format!("{}: {}", path.display(), line.trim()));
        }
    }
    Ok(found)
}

/// The argument that turns the harness executable into its watchdog.
pub const WATCHDOG_MARKER: &str = "__cinder-chaos-watchdog";

/// A helper process that outlives a harness killed with SIGKILL: when its parent is gone it
/// sends SIGCONT to its process group (the harness's, which the daemons share), so a worker
/// the harness had SIGSTOPped wakes up, sees its launcher gone and exits like every other
/// daemon. Killed and reaped when dropped.
pub struct Watchdog(Option<std::process::Child>);

impl Watchdog {
    /// Starts the watchdog from the harness executable.
    pub fn spawn() -> Result<Self> {
        let exe = std::env::current_exe().context("the harness executable")?;
        let child = std::process::Command::new(exe)
            .arg(WATCHDOG_MARKER)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("spawning the watchdog")?;
        Ok(Self(Some(child)))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// If this process was started as the watchdog, runs it and exits; otherwise returns.
pub fn maybe_run_watchdog() {
    if std::env::args().nth(1).as_deref() != Some(WATCHDOG_MARKER) {
        return;
    }
    // SAFETY: getppid and kill have no memory-safety preconditions.
    let parent = unsafe { libc::getppid() };
    while unsafe { libc::getppid() } == parent {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The harness is gone: wake anything it left stopped (harmless for running processes).
    unsafe {
        libc::kill(0, libc::SIGCONT);
    }
    std::process::exit(0);
}
