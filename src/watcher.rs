//! The watcher of a worker process: a small process the worker starts (the same executable in
//! daemon mode) that learns of the worker's death at once and tells the master, so a
//! SIGKILLed worker is lost in milliseconds instead of after the heartbeat timeout (UDP has
//! no connection reset to tell the master). Heartbeats stay the detector for a lost host, a
//! partition or a hung process.
//!
//! The worker keeps the write end of a pipe whose read end is the watcher's stdin; it writes
//! its id once it knows it. When the worker process ends, however it ends, the kernel closes
//! the write end and the watcher reads end-of-file: it reports `WorkerExited {id, pid}`
//! (bounded to [`REPORT_TIMEOUT`]) and exits. The master ignores a report about a process
//! that is not the worker's latest incarnation.

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cinder_actors::master::MasterClient;
use cinder_actors::transport::endpoint::{client_endpoint, resolve};
use cinder_actors::transport::{Credentials, TransportSettings};
use cinder_actors::wire::{MasterRequest, PeerRole};
use tracing::{info, warn};

use crate::cli::WatcherArgs;
use crate::daemon::{DAEMON_MARKER, PARENT_PID_ENV};
use crate::{Error, Result};

/// How long a watcher tries to reach the master after its worker exited.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The worker's end of the pipe, kept open for the life of the process.
static PIPE: OnceLock<Mutex<File>> = OnceLock::new();

/// Starts the watcher of this worker process; returns its pid. Call once, before the worker
/// starts; then [`announce`] the worker's id.
pub fn spawn(master: &str, cluster: &Path, log_level: &str) -> Result<u32> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fresh descriptors; both are close-on-exec, so no other child
    // inherits the write end (the read end becomes the watcher's stdin through dup2).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Launch(format!(
            "cannot create the watcher's pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: the descriptors were just created and are owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        path: "current executable".into(),
        source,
    })?;
    let child = Command::new(exe)
        .arg(DAEMON_MARKER)
        .arg("--log-level")
        .arg(log_level)
        .arg("watcher")
        .arg("--master")
        .arg(master)
        .arg("--cluster")
        .arg(cluster)
        .arg("--worker-pid")
        .arg(std::process::id().to_string())
        .env_remove(PARENT_PID_ENV)
        .stdin(Stdio::from(read))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Launch(format!("cannot start the worker's watcher: {e}")))?;
    let _ = PIPE.set(Mutex::new(File::from(write)));
    Ok(child.id())
}

/// Tells the watcher which worker id it watches (once the worker knows it).
pub fn announce(worker_id: &str) {
    if let Some(pipe) = PIPE.get() {
        let mut pipe = pipe.lock().expect("watcher pipe");
        if let Err(e) = writeln!(pipe, "{worker_id}") {
            warn!("cannot reach the watcher: {e}");
        }
    }
}

/// The watcher process: waits for its worker's end, reports it, exits.
pub fn run_watcher(args: &WatcherArgs) -> Result<()> {
    // A Ctrl-C in the terminal reaches the whole process group: the watcher outlives its
    // worker long enough to report it.
    // SAFETY: setting signal dispositions to SIG_IGN has no handler to race with.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut stdin = std::io::stdin().lock();
    let mut worker_id = String::new();
    // End of file before the id: the worker ended before it started; nothing to report.
    if stdin.read_line(&mut worker_id).unwrap_or(0) == 0 {
        return Ok(());
    }
    let worker_id = worker_id.trim().to_string();
    let mut rest = Vec::new();
    let _ = stdin.read_to_end(&mut rest);
    info!(worker = %worker_id, pid = args.worker_pid, "worker process exited; reporting it");
    let creds = Credentials::load_shared(&args.cluster)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    let request = MasterRequest::WorkerExited {
        worker_id: worker_id.clone(),
        pid: args.worker_pid,
    };
    let reported = runtime.block_on(async {
        tokio::time::timeout(REPORT_TIMEOUT, async {
            let addr = resolve(&args.master).await?;
            let endpoint = client_endpoint(addr, &creds, &TransportSettings::default())?;
            let name = format!("watcher of {worker_id}");
            let client =
                MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, &name).await?;
            let answer = client.call(&request).await;
            endpoint.close(0u32.into(), b"reported");
            answer
        })
        .await
    });
    match reported {
        Ok(Ok(_)) => info!(worker = %worker_id, "exit reported to the master"),
        Ok(Err(e)) => warn!(worker = %worker_id, "cannot report the exit: {e}"),
        Err(_) => warn!(worker = %worker_id, "cannot report the exit within {REPORT_TIMEOUT:?}"),
    }
    Ok(())
}
