//! What a driver process does when it is interrupted (SIGINT, SIGTERM, SIGHUP): release its
//! applications on the master at once, stop the daemons of its embedded clusters, remove their
//! temporary directories (credentials included), then exit with `128 + signal`.
//!
//! Destructors do not run when a signal ends a process, so contexts and embedded clusters
//! register here what must be undone; a dedicated thread waits for the signals (installed once
//! per process, by the first [`crate::Context`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::master_link::MasterLink;
use cinder_actors::wire::MasterRequest;
use std::sync::Arc;

/// How long an interrupted driver waits for the master to acknowledge a release.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long daemons get between SIGTERM and SIGKILL when the driver is interrupted.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// An application to release: the client's runtime handle (its connection is driven there),
/// the client and the id.
struct App {
    runtime: tokio::runtime::Handle,
    client: Arc<MasterLink>,
    app: String,
}

/// An embedded cluster's processes and its temporary directory (None when kept).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterCleanup {
    pub(crate) pids: Vec<u32>,
    pub(crate) temp_root: Option<PathBuf>,
}

#[derive(Default)]
struct Registry {
    apps: BTreeMap<u64, App>,
    clusters: BTreeMap<u64, ClusterCleanup>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// A process-unique registration key.
pub(crate) fn next_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Remembers an application to release if the process is interrupted.
pub(crate) fn register_app(
    key: u64,
    runtime: tokio::runtime::Handle,
    client: Arc<MasterLink>,
    app: String,
) {
    let app = App {
        runtime,
        client,
        app,
    };
    registry()
        .lock()
        .expect("shutdown registry")
        .apps
        .insert(key, app);
}

/// Forgets an application (released normally).
pub(crate) fn forget_app(key: u64) {
    registry()
        .lock()
        .expect("shutdown registry")
        .apps
        .remove(&key);
}

/// Publishes an embedded cluster's current processes and temporary directory.
pub(crate) fn update_cluster(key: u64, cleanup: ClusterCleanup) {
    registry()
        .lock()
        .expect("shutdown registry")
        .clusters
        .insert(key, cleanup);
}

/// Forgets an embedded cluster (stopped normally).
pub(crate) fn forget_cluster(key: u64) {
    registry()
        .lock()
        .expect("shutdown registry")
        .clusters
        .remove(&key);
}

/// Starts, once per process, the thread that handles SIGINT, SIGTERM and SIGHUP.
pub(crate) fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::warn!("cannot watch for interrupts: {e}");
                return;
            }
        };
        // Handlers are registered before the thread starts, so a signal that arrives right
        // after `install` returns is not lost to the default action.
        let signals = runtime.block_on(async { Signals::new() });
        let Some(signals) = signals else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("cinder-interrupt".into())
            .spawn(move || {
                let signal = runtime.block_on(signals.next());
                interrupted(signal);
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch for interrupts: {e}");
        }
    });
}

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Option<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Self {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.hup.recv() => libc::SIGHUP,
        }
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// While an interrupt is being handled, blocks the calling thread for good (the handler ends
/// the process with `128 + signal`): a job that fails because the interrupt stopped its
/// cluster must not race the handler to report an error and exit 1.
pub fn hold_if_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// Releases, stops, removes, exits.
fn interrupted(signal: i32) -> ! {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let (apps, clusters) = {
        let mut registry = registry().lock().unwrap_or_else(|p| p.into_inner());
        (
            std::mem::take(&mut registry.apps),
            std::mem::take(&mut registry.clusters),
        )
    };
    eprintln!("cinder: interrupted (signal {signal}); releasing the application and stopping");
    for app in apps.into_values() {
        let request = MasterRequest::EndApplication {
            app: app.app.clone(),
            failed: true,
        };
        let client = app.client;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        app.runtime.spawn(async move {
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, client.current().call(&request)).await;
            let _ = done_tx.send(());
        });
        let _ = done_rx.recv_timeout(RELEASE_TIMEOUT + Duration::from_millis(200));
    }
    for cluster in clusters.values() {
        stop_pids(&cluster.pids);
    }
    for cluster in clusters.into_values() {
        if let Some(root) = cluster.temp_root {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
    std::process::exit(128 + signal);
}

/// SIGTERM to every pid, then SIGKILL to those still running after the grace period; reaps
/// them (they are this process's children).
fn stop_pids(pids: &[u32]) {
    for &pid in pids {
        // SAFETY: kill(2) on a pid this process started; errors (already gone) are ignored.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    let mut running: Vec<u32> = pids.to_vec();
    while !running.is_empty() && Instant::now() < deadline {
        running.retain(|&pid| !reaped(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in running {
        // SAFETY: as above.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }
}

/// Whether child `pid` has exited (and is now reaped).
fn reaped(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid(2) with WNOHANG on our own child.
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    r == pid as libc::pid_t || r < 0
}
