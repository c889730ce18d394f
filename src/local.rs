//! The embedded local cluster: a master and N workers as separate processes on 127.0.0.1, with
//! ephemeral ports, throw-away credentials, and a directory of work dirs and per-process logs.
//!
//! Daemons are started from an executable in daemon mode (see [`crate::daemon`]): by default the
//! current executable, so every function the user's program registered exists on the workers.
//! Children watch their launcher and exit when it dies; dropping a [`LocalCluster`] stops them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cinder_actors::transport::Credentials;
use tracing::{info, warn};

use crate::daemon::{DAEMON_MARKER, PARENT_PID_ENV};
use crate::{Error, Result};

/// How long to wait for a daemon to write its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long stopped daemons get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Settings of an embedded cluster.
#[derive(Debug, Clone)]
pub struct LocalClusterBuilder {
    workers: usize,
    cores: u32,
    memory_bytes: u64,
    executable: Option<PathBuf>,
    dir: Option<PathBuf>,
    heartbeat_interval_ms: u64,
    heartbeat_timeout_ms: u64,
    app_timeout: Option<Duration>,
    no_worker_timeout: Option<Duration>,
    log_level: String,
    env: Vec<(String, String)>,
}

impl Default for LocalClusterBuilder {
    fn default() -> Self {
        Self {
            workers: 2,
            cores: 1,
            memory_bytes: 512 << 20,
            executable: std::env::var_os("CINDER_DAEMON_EXE").map(PathBuf::from),
            dir: None,
            heartbeat_interval_ms: 1000,
            heartbeat_timeout_ms: 5000,
            app_timeout: None,
            no_worker_timeout: None,
            log_level: std::env::var("CINDER_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            env: Vec::new(),
        }
    }
}

impl LocalClusterBuilder {
    /// Number of worker processes (default 2).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Cores offered by each worker (default 1).
    pub fn cores(mut self, n: u32) -> Self {
        self.cores = n;
        self
    }
    /// Memory budget of each worker in bytes (default 512 MiB).
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }
    /// Executable to start daemons from (default: `CINDER_DAEMON_EXE`, else the current one).
    pub fn executable(mut self, path: impl Into<PathBuf>) -> Self {
        self.executable = Some(path.into());
        self
    }
    /// Directory for credentials, work dirs and logs; kept after the cluster stops
    /// (default: a temporary directory removed on drop).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
    /// Heartbeat period and loss timeout in milliseconds (defaults 1000 and 5000).
    pub fn heartbeat_ms(mut self, interval_ms: u64, timeout_ms: u64) -> Self {
        self.heartbeat_interval_ms = interval_ms;
        self.heartbeat_timeout_ms = timeout_ms;
        self
    }
    /// The master's `--app-timeout`: a driver silent this long is lost (default 30 s).
    pub fn app_timeout(mut self, timeout: Duration) -> Self {
        self.app_timeout = Some(timeout);
        self
    }
    /// The master's `--no-worker-timeout` (default 60 s).
    pub fn no_worker_timeout(mut self, timeout: Duration) -> Self {
        self.no_worker_timeout = Some(timeout);
        self
    }
    /// Log level of the daemons (default `info`, or `CINDER_LOG_LEVEL`).
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = level.into();
        self
    }
    /// Sets an environment variable for every daemon (e.g. `CINDER_FAULT_INJECTION=1`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Starts the cluster and waits until the master listens and each worker process is up.
    pub fn start(self) -> Result<LocalCluster> {
        LocalCluster::start(self)
    }
}

/// One worker process of a [`LocalCluster`].
#[derive(Debug)]
pub struct LocalWorker {
    /// Its stable id (`worker-1`, ...).
    pub id: String,
    /// Its work directory (kept across restarts).
    pub work_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Child>,
}

impl LocalWorker {
    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A running embedded cluster. Dropping it stops every process.
#[derive(Debug)]
pub struct LocalCluster {
    settings: LocalClusterBuilder,
    executable: PathBuf,
    root: PathBuf,
    _temp: Option<tempfile::TempDir>,
    cluster_dir: PathBuf,
    master_addr: String,
    master: Option<Child>,
    workers: Vec<LocalWorker>,
    /// Key of this cluster in the interrupt registry ([`crate::shutdown`]).
    cleanup_key: u64,
}

impl LocalCluster {
    /// A builder with defaults (2 workers).
    pub fn builder() -> LocalClusterBuilder {
        LocalClusterBuilder::default()
    }

    fn start(settings: LocalClusterBuilder) -> Result<Self> {
        let executable = match &settings.executable {
            Some(path) => path.clone(),
            None => std::env::current_exe().map_err(|source| Error::Io {
                path: "current executable".into(),
                source,
            })?,
        };
        let (root, temp) = match &settings.dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("cinder-local-")
                    .tempdir()
                    .map_err(|source| Error::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        for sub in ["logs", "work", "cluster"] {
            create_dir(&root.join(sub))?;
        }
        let cluster_dir = root.join("cluster");
        if !cluster_dir
            .join(cinder_actors::transport::credentials::CA_CERT_FILE)
            .exists()
        {
            Credentials::init(&cluster_dir)?;
        }
        let mut cluster = Self {
            settings,
            executable,
            root,
            _temp: temp,
            cluster_dir,
            master_addr: String::new(),
            master: None,
            workers: Vec::new(),
            cleanup_key: crate::shutdown::next_key(),
        };
        cluster.start_master()?;
        for index in 0..cluster.settings.workers {
            let id = format!("worker-{}", index + 1);
            let work_dir = cluster.root.join("work").join(&id);
            let log = cluster.root.join("logs").join(format!("{id}.log"));
            cluster.workers.push(LocalWorker {
                id,
                work_dir,
                log,
                child: None,
            });
            cluster.spawn_worker(index)?;
        }
        info!(master = %cluster.master_addr, workers = cluster.workers.len(), dir = %cluster.root.display(), "embedded cluster started");
        Ok(cluster)
    }

    /// Tells the interrupt handler which processes and directory to clean up.
    fn publish(&self) {
        let mut pids: Vec<u32> = self.workers.iter().filter_map(LocalWorker::pid).collect();
        pids.extend(self.master_pid());
        let cleanup = crate::shutdown::ClusterCleanup {
            pids,
            temp_root: self._temp.as_ref().map(|t| t.path().to_path_buf()),
        };
        crate::shutdown::update_cluster(self.cleanup_key, cleanup);
    }

    fn daemon_command(&self, kind: &str, log: &Path) -> Result<Command> {
        let log_file = cinder_actors::private_fs::create_file(log).map_err(|source| Error::Io {
            path: log.to_path_buf(),
            source,
        })?;
        let mut cmd = Command::new(&self.executable);
        cmd.arg(DAEMON_MARKER)
            .arg(kind)
            .arg("--log-level")
            .arg(&self.settings.log_level)
            .arg("--cluster")
            .arg(&self.cluster_dir)
            .env(PARENT_PID_ENV, std::process::id().to_string())
            .envs(
                self.settings
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        Ok(cmd)
    }

    fn start_master(&mut self) -> Result<()> {
        let addr_file = self.root.join("master.addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = self.daemon_command("master", &self.root.join("logs").join("master.log"))?;
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--work-dir")
            .arg(self.root.join("work").join("master"))
            .arg("--heartbeat-interval-ms")
            .arg(self.settings.heartbeat_interval_ms.to_string())
            .arg("--heartbeat-timeout-ms")
            .arg(self.settings.heartbeat_timeout_ms.to_string())
            .arg("--addr-file")
            .arg(&addr_file);
        if let Some(timeout) = self.settings.app_timeout {
            cmd.arg("--app-timeout")
                .arg(format!("{}ms", timeout.as_millis()));
        }
        if let Some(timeout) = self.settings.no_worker_timeout {
            cmd.arg("--no-worker-timeout")
                .arg(format!("{}ms", timeout.as_millis()));
        }
        let mut child = spawn(&mut cmd, "master")?;
        match wait_for_file(&addr_file, &mut child, "master") {
            Ok(addr) => {
                self.master_addr = addr;
                self.master = Some(child);
                self.publish();
                Ok(())
            }
            Err(e) => {
                stop_child(&mut child, Duration::ZERO);
                Err(e)
            }
        }
    }

    fn spawn_worker(&mut self, index: usize) -> Result<()> {
        let worker = &self.workers[index];
        let addr_file = worker.work_dir.with_extension("addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = self.daemon_command("worker", &worker.log)?;
        cmd.arg("--master")
            .arg(&self.master_addr)
            .arg("--id")
            .arg(&worker.id)
            .arg("--work-dir")
            .arg(&worker.work_dir)
            .arg("--cores")
            .arg(self.settings.cores.to_string())
            .arg("--memory")
            .arg(self.settings.memory_bytes.to_string())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--addr-file")
            .arg(&addr_file);
        let id = worker.id.clone();
        let mut child = spawn(&mut cmd, &id)?;
        if let Err(e) = wait_for_file(&addr_file, &mut child, &id) {
            stop_child(&mut child, Duration::ZERO);
            return Err(e);
        }
        self.workers[index].child = Some(child);
        self.publish();
        Ok(())
    }

    /// The master's address (`127.0.0.1:PORT`).
    pub fn master_addr(&self) -> &str {
        &self.master_addr
    }

    /// The credentials directory (`cinder status --cluster` takes it).
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// The directory holding credentials, work dirs and logs.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of per-process log files.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The worker processes.
    pub fn workers(&self) -> &[LocalWorker] {
        &self.workers
    }

    /// The master's process id.
    pub fn master_pid(&self) -> Option<u32> {
        self.master.as_ref().map(Child::id)
    }

    /// SIGKILLs worker `index` (no goodbye to anyone) and reaps it.
    pub fn kill_worker(&mut self, index: usize) -> Result<()> {
        let worker = self
            .workers
            .get_mut(index)
            .ok_or_else(|| Error::UnknownWorker(format!("#{index}")))?;
        if let Some(mut child) = worker.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            warn!(worker = %worker.id, "worker killed");
        }
        Ok(())
    }

    /// Starts worker `index` again (same id and work dir: a new incarnation).
    pub fn restart_worker(&mut self, index: usize) -> Result<()> {
        if index >= self.workers.len() {
            return Err(Error::UnknownWorker(format!("#{index}")));
        }
        self.kill_worker(index)?;
        self.spawn_worker(index)
    }

    /// Reaps daemons that exited on their own since the last call and reports them once each,
    /// as `(name, exit status)`.
    pub fn exited(&mut self) -> Vec<(String, String)> {
        let mut gone = Vec::new();
        if let Some(status) = reap(&mut self.master) {
            gone.push(("master".to_string(), status));
        }
        for worker in &mut self.workers {
            if let Some(status) = reap(&mut worker.child) {
                gone.push((worker.id.clone(), status));
            }
        }
        gone
    }

    /// Stops every process: SIGTERM, then SIGKILL after a grace period. Idempotent.
    pub fn stop(&mut self) {
        for worker in &mut self.workers {
            if let Some(mut child) = worker.child.take() {
                terminate(&child);
                stop_child(&mut child, STOP_GRACE);
            }
        }
        if let Some(mut child) = self.master.take() {
            terminate(&child);
            stop_child(&mut child, STOP_GRACE);
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
        crate::shutdown::forget_cluster(self.cleanup_key);
    }
}

/// Takes the child out of `slot` if it has exited, returning its exit status.
fn reap(slot: &mut Option<Child>) -> Option<String> {
    let status = slot.as_mut()?.try_wait().ok()??;
    *slot = None;
    Some(status.to_string())
}

fn create_dir(path: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    cinder_actors::private_fs::create_dir_all(path).map_err(io)?;
    cinder_actors::private_fs::restrict_dir(path).map_err(io)
}

fn spawn(cmd: &mut Command, name: &str) -> Result<Child> {
    cmd.spawn().map_err(|e| {
        Error::Launch(format!(
            "cannot start {name} from {:?}: {e}",
            cmd.get_program()
        ))
    })
}

/// Waits (bounded) until a daemon writes its address file; fails early if it exits.
fn wait_for_file(path: &Path, child: &mut Child, name: &str) -> Result<String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(content) = std::fs::read_to_string(path) {
            if !content.trim().is_empty() {
                return Ok(content.trim().to_string());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Launch(format!(
                "{name} exited during startup ({status}); see its log"
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("{name} to start listening"),
                after_ms: START_TIMEOUT.as_millis() as u64,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) on a pid we own and have not reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// Waits up to `grace` for a child to exit, then SIGKILLs and reaps it.
fn stop_child(child: &mut Child, grace: Duration) {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
