//! Running the daemons: `cinder master`, `cinder worker`, and the same daemons started by the
//! embedded cluster launcher from any executable (the same-binary model).
//!
//! A program that uses [`crate::Context::local`] is re-executed as its own workers; the launcher
//! passes [`DAEMON_MARKER`] as the first argument, and [`maybe_run_daemon`] (called by
//! `Context::local`, or explicitly at the top of `main`) turns such a process into the daemon.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use cinder_actors::master::{start_master, MasterConfig};
use cinder_actors::transport::{Credentials, Role};
use cinder_actors::worker::{start_worker, SessionEnd, WorkerConfig};
use clap::Parser;
use tracing::{error, info, warn};

use crate::cli::{DaemonCli, DaemonCommand, MasterArgs, WorkerArgs};
use crate::{Error, Result};

/// First argument that marks a process as a daemon started by the launcher.
pub const DAEMON_MARKER: &str = "__cinder-daemon";
/// Environment variable carrying the launcher's pid; the daemon exits when that parent dies.
pub const PARENT_PID_ENV: &str = "CINDER_PARENT_PID";

/// If this process was started by the embedded cluster launcher, runs the daemon it asks for
/// and exits the process; otherwise returns at once. Call it first thing in `main` of programs
/// that start embedded clusters (so nothing else runs in the daemon processes).
pub fn maybe_run_daemon() {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a.as_os_str()) != Some(DAEMON_MARKER.as_ref()) {
        return;
    }
    args.remove(1);
    let cli = DaemonCli::parse_from(args);
    crate::logging::init_logging(&cli.log_level);
    let result = match &cli.daemon {
        DaemonCommand::Master(args) => run_master(args),
        DaemonCommand::Worker(args) => run_worker_with_watcher(args, &cli.log_level),
        DaemonCommand::Watcher(args) => crate::watcher::run_watcher(args),
    };
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            error!("daemon failed: {e}");
            eprintln!("error: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// Exit code of a daemon whose actor panicked (the code of a Rust panic).
pub const ACTOR_PANIC_EXIT: i32 = 101;

/// Makes a panic on the calling thread, the one that runs the actix `System` and every actor
/// of the daemon, end the process with a logged error and [`ACTOR_PANIC_EXIT`]. Without it
/// tokio catches the panic, the actor is gone, and the daemon lives on answering "actor
/// unavailable" for ever. Panics on other threads (user functions on the blocking pool, which
/// fail their task) keep their usual handling.
fn exit_on_actor_panic() {
    let actor_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if std::thread::current().id() == actor_thread {
            error!("an actor panicked ({info}); stopping the daemon");
            eprintln!("error: an actor panicked; stopping the daemon");
            std::process::exit(ACTOR_PANIC_EXIT);
        }
    }));
}

fn actix_system() -> actix::SystemRunner {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Runs a master until SIGINT or SIGTERM.
pub fn run_master(args: &MasterArgs) -> Result<()> {
    watch_parent();
    cinder_actors::private_fs::private_umask();
    let creds = Credentials::load_shared(&args.cluster.cluster)?;
    let mut config = MasterConfig::new(args.listen);
    config.work_dir = args.work_dir.clone();
    config.heartbeat_interval = Duration::from_millis(args.heartbeat_interval_ms.max(10));
    config.heartbeat_timeout = Duration::from_millis(args.heartbeat_timeout_ms.max(20));
    config.app_timeout = args.app_timeout.0.max(Duration::from_millis(100));
    config.no_worker_timeout = args.no_worker_timeout.0;
    let addr_file = args.addr_file.clone();
    exit_on_actor_panic();
    actix_system().block_on(async move {
        let master = start_master(config, creds).await?;
        info!(addr = %master.addr, "master listening");
        if let Some(file) = &addr_file {
            write_addr_file(file, &master.addr.to_string())?;
        }
        let mut hangups = Hangups::new();
        loop {
            tokio::select! {
                _ = shutdown_signal() => break,
                _ = hangups.recv() => {
                    if let Err(e) = master.reload_credentials() {
                        error!("cannot reload credentials (keeping the current ones): {e}");
                    }
                }
            }
        }
        info!("master shutting down");
        master.shutdown().await;
        Ok(())
    })
}

/// Starts the worker's watcher (which reports the worker's exit to the master at once), then
/// runs the worker. Without a watcher (it could not start) heartbeats still detect the exit.
pub fn run_worker_with_watcher(args: &WorkerArgs, log_level: &str) -> Result<()> {
    match crate::watcher::spawn(&args.master, &args.cluster.cluster, log_level) {
        Ok(pid) => {
            info!(watcher_pid = pid, "watcher started");
            cinder_actors::worker::session::set_watcher_pid(pid);
        }
        Err(e) => warn!("no watcher (the heartbeat timeout will detect this worker's exit): {e}"),
    }
    run_worker(args)
}

/// Runs a worker until SIGINT or SIGTERM (or until a newer incarnation supersedes it).
pub fn run_worker(args: &WorkerArgs) -> Result<()> {
    watch_parent();
    cinder_actors::private_fs::private_umask();
    let creds = Credentials::load_shared(&args.cluster.cluster)?;
    let worker_id = worker_id(args, &creds)?;
    let work_dir = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("cinder-worker-{}", std::process::id())),
    };
    let cores = args
        .cores
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let config = WorkerConfig {
        master: args.master.clone(),
        listen: args.listen,
        advertise: args.advertise,
        work_dir,
        worker_id,
        cores,
        memory_budget_bytes: args.memory.0,
        transport: Default::default(),
        limits: Default::default(),
    };
    let addr_file = args.addr_file.clone();
    exit_on_actor_panic();
    actix_system().block_on(async move {
        let mut worker = start_worker(config, creds).await?;
        crate::watcher::announce(&worker.worker_id);
        info!(id = %worker.worker_id, addr = %worker.addr, advertised = %worker.advertised, "worker listening");
        if let Some(file) = &addr_file {
            write_addr_file(file, &worker.advertised.to_string())?;
        }
        let mut hangups = Hangups::new();
        let outcome = loop {
            tokio::select! {
                _ = shutdown_signal() => break None,
                end = worker.session_ended() => break Some(end),
                _ = hangups.recv() => {
                    if let Err(e) = worker.reload_credentials() {
                        error!("cannot reload credentials (keeping the current ones): {e}");
                    }
                }
            }
        };
        info!("worker shutting down");
        worker.shutdown().await;
        match outcome {
            None => Ok(()),
            Some(SessionEnd::Superseded { current_incarnation }) => Err(Error::Launch(format!(
                "superseded by incarnation {current_incarnation} of the same worker id"
            ))),
        }
    })
}

/// The worker id: `--id`, else the name in a `worker` certificate. A `worker` certificate
/// cannot run under another id (the master would refuse it), so that is an error at once.
fn worker_id(args: &WorkerArgs, creds: &Credentials) -> Result<Option<String>> {
    let identity = creds.identity()?;
    if identity.role != Role::Worker {
        return Ok(args.id.clone());
    }
    match &args.id {
        Some(id) if *id != identity.name => Err(Error::Input(format!(
            "--id {id} does not match this worker certificate, which is for worker {:?} \
             (issue one with `cinder cert issue --role worker --name {id}`)",
            identity.name
        ))),
        _ => Ok(Some(identity.name)),
    }
}

/// SIGHUP, the signal to reload credentials (a no-op stream off Unix).
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                signal: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves at the next SIGHUP (never, when none can arrive).
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut() {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Writes `content` to `path` atomically (write a sibling, then rename).
fn write_addr_file(path: &Path, content: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    cinder_actors::private_fs::write(&tmp, content.as_bytes()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// When started by a launcher, exit as soon as the launcher is gone, so daemons never outlive
/// a killed parent.
fn watch_parent() {
    let Some(parent) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    let parent_alive = move || {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() == parent }
    };
    if !parent_alive() {
        std::process::exit(1);
    }
    std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            if !parent_alive() {
                eprintln!("launcher process {parent} is gone; exiting");
                std::process::exit(1);
            }
        })
        .expect("parent watch thread");
}
