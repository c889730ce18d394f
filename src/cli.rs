//! The `cinder` command line (clap). Flags and environment variables here are a public
//! contract: scripts call them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::size::{parse_budget, ByteSize};

/// The value parser of `--workers` and `--cores`: a count of at least 1. Zero workers or cores
/// would start a cluster that waits for ever for a slot that never comes, so 0 is a usage error.
pub fn parse_count<T: TryFrom<u64>>(input: &str) -> Result<T, String> {
    let n: u64 = input
        .trim()
        .parse()
        .map_err(|e| format!("not a whole number: {e}"))?;
    if n == 0 {
        return Err("must be at least 1 (nothing could ever run with 0)".into());
    }
    T::try_from(n).map_err(|_| format!("{n} is too large"))
}

/// Cinder: a fault-tolerant cluster runtime for machine learning.
#[derive(Debug, Parser)]
#[command(name = "cinder", version, about, propagate_version = true)]
pub struct Cli {
    /// Log level (error, warn, info, debug, trace) or a full filter; RUST_LOG overrides it.
    #[arg(long, global = true, env = "CINDER_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every `cinder` subcommand.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Create a cluster CA and member credentials in DIR.
    Init(InitArgs),
    /// Issue and revoke member certificates (run where the CA key is).
    #[command(subcommand)]
    Cert(CertCommand),
    /// Run the master daemon.
    Master(MasterArgs),
    /// Run a worker daemon.
    Worker(WorkerArgs),
    /// Show the cluster's workers and their state.
    Status(StatusArgs),
    /// A live terminal view of the cluster: workers, jobs, events (one snapshot when piped).
    Top(TopArgs),
    /// Run an embedded cluster (master + N workers) in the foreground until Ctrl-C.
    Local(LocalArgs),
    /// Train a model (on the embedded cluster unless --master is given).
    Train(crate::cli_ml::TrainArgs),
    /// Predict with a saved model.
    Predict(crate::cli_ml::PredictArgs),
    /// Top-k items for users from a saved ALS model.
    Recommend(crate::cli_ml::RecommendArgs),
    /// Evaluate a saved model on data (Spark's evaluator metrics).
    Evaluate(crate::cli_ml::EvaluateArgs),
    /// List or kill applications (one per driver).
    #[command(subcommand)]
    App(AppCommand),
}

/// `cinder app ...`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List the running applications, then the recently ended ones.
    List(AppListArgs),
    /// Kill an application: cancel its jobs and release its blocks and shuffle outputs.
    Kill(AppKillArgs),
}

/// `cinder app list`.
#[derive(Debug, Clone, Args)]
pub struct AppListArgs {
    #[command(flatten)]
    /// Credentials.
    pub cluster: ClusterArgs,
    /// The master's address.
    #[arg(long, env = "CINDER_MASTER", value_name = "ADDR")]
    pub master: String,
    /// Print the `applications` array of `cinder status --json` instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `cinder app kill ID`.
#[derive(Debug, Clone, Args)]
pub struct AppKillArgs {
    /// The application id (`cinder app list` shows them).
    pub id: String,
    #[command(flatten)]
    /// Credentials.
    pub cluster: ClusterArgs,
    /// The master's address.
    #[arg(long, env = "CINDER_MASTER", value_name = "ADDR")]
    pub master: String,
}

/// `cinder init DIR`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write the credentials to (created if missing; never overwritten).
    pub dir: PathBuf,
}

/// `cinder cert ...`.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Issue a member certificate with a role and a name: writes OUT/ca.pem, OUT/member.pem and
    /// OUT/member.key (never the CA key) and records it in the CA directory's index.
    Issue(CertIssueArgs),
    /// Revoke a member's certificates: adds them to DIR/crl.pem, which masters and workers whose
    /// --cluster directory holds it refuse (re-read on SIGHUP).
    Revoke(CertRevokeArgs),
}

/// `cinder cert issue`.
#[derive(Debug, Args)]
pub struct CertIssueArgs {
    /// The CA directory (written by `cinder init`; holds ca.pem and ca.key).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// What the member may do: master, worker, driver, monitor or admin.
    #[arg(long, value_name = "ROLE")]
    pub role: cinder_actors::transport::Role,
    /// The member's name (a worker's id; 1-64 characters of A-Z a-z 0-9 . _ -).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Directory to write the member's credentials to (created 0700; never overwritten).
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Days the certificate is valid.
    #[arg(long, value_name = "N", default_value_t = 365)]
    pub days: u32,
}

/// `cinder cert revoke`.
#[derive(Debug, Args)]
pub struct CertRevokeArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// The member whose certificates are revoked.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Revoke only the certificate with this serial (hex, from the index), e.g. the old one
    /// after a rotation.
    #[arg(long, value_name = "HEX")]
    pub serial: Option<String>,
}

/// Options every daemon and client needs to join a cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Cluster credentials directory written by `cinder init`.
    #[arg(long = "cluster", env = "CINDER_CLUSTER", value_name = "DIR")]
    pub cluster: PathBuf,
}

/// `cinder master`.
#[derive(Debug, Clone, Args)]
pub struct MasterArgs {
    #[command(flatten)]
    /// Credentials.
    pub cluster: ClusterArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7077", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Directory for master metadata that survives restarts.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Heartbeat period asked of workers, in milliseconds.
    #[arg(long, env = "CINDER_HEARTBEAT_INTERVAL_MS", default_value_t = 1000)]
    pub heartbeat_interval_ms: u64,
    /// Silence after which a worker is declared lost, in milliseconds.
    #[arg(long, env = "CINDER_HEARTBEAT_TIMEOUT_MS", default_value_t = 5000)]
    pub heartbeat_timeout_ms: u64,
    /// A driver that has not renewed its application's lease for this long is declared lost
    /// and its jobs, blocks and shuffle outputs are released (e.g. 30s, 500ms).
    #[arg(
        long,
        env = "CINDER_APP_TIMEOUT",
        default_value = "30s",
        value_name = "DURATION"
    )]
    pub app_timeout: crate::duration::HumanDuration,
    /// Running jobs fail when no worker has been alive for this long.
    #[arg(
        long,
        env = "CINDER_NO_WORKER_TIMEOUT",
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub no_worker_timeout: crate::duration::HumanDuration,
    /// Write the bound address to this file once listening (for launchers).
    #[arg(long, value_name = "FILE", hide = true)]
    pub addr_file: Option<PathBuf>,
}

/// `cinder worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    /// Credentials.
    pub cluster: ClusterArgs,
    /// The master's address (host:port or cinder://host:port).
    #[arg(long, env = "CINDER_MASTER", value_name = "ADDR")]
    pub master: String,
    /// Directory for spilled blocks and scratch files [default: a new temporary directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Cores offered for tasks (at least 1) [default: all cores of the host].
    #[arg(long, value_name = "N", value_parser = parse_count::<u32>)]
    pub cores: Option<u32>,
    /// Memory budget of the block store (at least 1 byte), e.g. 512MiB or 4GiB.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_budget)]
    pub memory: ByteSize,
    /// Address to listen on for peers.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Address peers should use to reach this worker [default: the bound address].
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<SocketAddr>,
    /// Stable worker id [default: derived from the host name and work dir].
    #[arg(long, env = "CINDER_WORKER_ID", value_name = "ID")]
    pub id: Option<String>,
    /// Write the bound address to this file once listening (for launchers).
    #[arg(long, value_name = "FILE", hide = true)]
    pub addr_file: Option<PathBuf>,
}

/// `cinder status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    /// Credentials.
    pub cluster: ClusterArgs,
    /// The master's address.
    #[arg(long, env = "CINDER_MASTER", value_name = "ADDR")]
    pub master: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print a compact line (with --json: one JSON object per line) every second until
    /// interrupted; an unreachable master is reported and retried.
    #[arg(long)]
    pub watch: bool,
}

/// `cinder top`.
#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    #[command(flatten)]
    /// Credentials.
    pub cluster: ClusterArgs,
    /// The master's address.
    #[arg(long, env = "CINDER_MASTER", value_name = "ADDR")]
    pub master: String,
}

/// `cinder local`.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Number of worker processes (at least 1).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = parse_count::<usize>)]
    pub workers: usize,
    /// Cores offered by each worker (at least 1).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_count::<u32>)]
    pub cores: u32,
    /// Memory budget of each worker (at least 1 byte), e.g. 512MiB.
    #[arg(long, default_value = "512MiB", value_name = "SIZE", value_parser = parse_budget)]
    pub memory: ByteSize,
    /// Directory for the cluster's credentials, work dirs and logs [default: a temporary
    /// directory removed on exit].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The hidden command line of daemon processes started by the embedded cluster launcher from
/// any executable: `<exe> __cinder-daemon master|worker ...`.
#[derive(Debug, Parser)]
#[command(name = "cinder-daemon")]
pub struct DaemonCli {
    /// Log level or filter.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    /// Which daemon.
    #[command(subcommand)]
    pub daemon: DaemonCommand,
}

/// Daemons the launcher can start.
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// A master.
    Master(MasterArgs),
    /// A worker.
    Worker(WorkerArgs),
    /// The watcher a worker starts (reports the worker's exit at once).
    Watcher(WatcherArgs),
}

/// The watcher of one worker process (started by the worker itself; see `crate::watcher`).
#[derive(Debug, Clone, Args)]
pub struct WatcherArgs {
    /// The master's address.
    #[arg(long, value_name = "ADDR")]
    pub master: String,
    /// The worker's credentials directory.
    #[arg(long, value_name = "DIR")]
    pub cluster: PathBuf,
    /// The watched worker's process id.
    #[arg(long, value_name = "PID")]
    pub worker_pid: u32,
}
