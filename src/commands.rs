//! One function per `cinder` subcommand.

use std::time::Duration;

use anyhow::Context as _;
use cinder::cli::{AppCommand, Cli, Command, InitArgs, LocalArgs, StatusArgs};
use cinder::runtime::master::MasterClient;
use cinder::runtime::transport::endpoint::{client_endpoint, resolve};
use cinder::runtime::transport::{Credentials, TransportSettings};
use cinder::runtime::wire::PeerRole;
use cinder::runtime::wire::{ClusterStatus, MasterRequest, MasterResponse};
use cinder::{Context, LocalCluster};

/// Prints a line to stdout, ignoring a closed pipe (a launcher must not die because whoever
/// read its banner went away).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(args) => init(&args),
        Command::Master(args) => Ok(cinder::daemon::run_master(&args)?),
        Command::Worker(args) => Ok(cinder::daemon::run_worker(&args)?),
        Command::Status(args) => status(&args),
        Command::Top(args) => cinder::top::run(&args.cluster.cluster, &args.master),
        Command::Local(args) => local(&args, &cli.log_level),
        Command::Train(args) => crate::train::train(&args),
        Command::Predict(args) => crate::train::predict(&args),
        Command::App(AppCommand::List(args)) => {
            let status = fetch_status(&args.cluster.cluster, &args.master)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&status.applications)?);
            } else {
                print!("{}", cinder::status::applications_table(&status));
            }
            Ok(())
        }
        Command::App(AppCommand::Kill(args)) => {
            let request = MasterRequest::KillApplication {
                app: args.id.clone(),
            };
            match call_master(
                &args.cluster.cluster,
                &args.master,
                "cinder app kill",
                request,
            )? {
                MasterResponse::Ack => {
                    say!(
                        "application {} killed: its jobs were cancelled and its blocks released",
                        args.id
                    );
                    Ok(())
                }
                MasterResponse::ApplicationGone { state, .. } => anyhow::bail!(
                    "application {} is not running on master {} (state: {})",
                    args.id,
                    args.master,
                    state.as_str()
                ),
                other => anyhow::bail!("unexpected answer from master {}: {other:?}", args.master),
            }
        }
    }
}

/// One request to the master over a fresh connection (closed after the answer).
fn call_master(
    cluster: &std::path::Path,
    master: &str,
    name: &str,
    request: MasterRequest,
) -> anyhow::Result<MasterResponse> {
    let creds = Credentials::load(cluster)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(async {
        let addr = resolve(master).await?;
        let endpoint = client_endpoint(addr, &creds, &TransportSettings::default())?;
        let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, name).await?;
        let answer = client.call(&request).await;
        endpoint.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_millis(300), endpoint.wait_idle()).await;
        answer
    });
    answer.with_context(|| format!("cannot reach master {master}"))
}

fn fetch_status(cluster: &std::path::Path, master: &str) -> anyhow::Result<ClusterStatus> {
    match call_master(cluster, master, "cinder app", MasterRequest::Status)? {
        MasterResponse::Status(status) => Ok(status),
        other => anyhow::bail!("unexpected answer from master {master}: {other:?}"),
    }
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    Credentials::init(&args.dir)?;
    println!("cluster credentials written to {}", args.dir.display());
    println!("  ca.pem, member.pem: certificates; ca.key, member.key: private keys (mode 0600)");
    println!("copy the directory to every host and pass it as --cluster (or CINDER_CLUSTER)");
    Ok(())
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    if args.watch {
        let (dir, period) = (&args.cluster.cluster, cinder::top::REFRESH);
        return cinder::top::watch::watch(dir, &args.master, args.json, period);
    }
    let creds = Credentials::load(&args.cluster.cluster)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        let addr = resolve(&args.master).await?;
        let endpoint = client_endpoint(addr, &creds, &TransportSettings::default())?;
        let client =
            MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, "cinder status").await?;
        let status = client.status().await;
        endpoint.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_millis(300), endpoint.wait_idle()).await;
        status
    });
    let status =
        status.with_context(|| format!("cannot get status from master {}", args.master))?;
    if args.json {
        println!("{}", cinder::status::to_json(&status));
    } else {
        print!("{}", cinder::status::to_table(&status));
    }
    Ok(())
}

fn local(args: &LocalArgs, log_level: &str) -> anyhow::Result<()> {
    let mut builder = LocalCluster::builder()
        .workers(args.workers)
        .cores(args.cores)
        .memory_bytes(args.memory.0)
        .log_level(log_level);
    if let Some(dir) = &args.dir {
        builder = builder.dir(dir);
    }
    let mut cluster = builder.start().context("starting the embedded cluster")?;
    {
        let cx = Context::connect(cluster.master_addr(), cluster.cluster_dir())?;
        cx.wait_for_workers(args.workers, Duration::from_secs(30))?;
    }
    say!(
        "cinder local cluster is up: 1 master, {} workers",
        args.workers
    );
    say!("  master:      {}", cluster.master_addr());
    say!("  credentials: {}", cluster.cluster_dir().display());
    say!("  logs:        {}", cluster.log_dir().display());
    say!(
        "attach with:  cinder status --cluster {} --master {}",
        cluster.cluster_dir().display(),
        cluster.master_addr()
    );
    say!("press Ctrl-C to stop");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let died = runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = cinder::daemon::shutdown_signal() => return None,
                _ = tick.tick() => {
                    let gone = cluster.exited();
                    if gone.iter().any(|(name, _)| name == "master") {
                        return Some(gone);
                    }
                    for (name, status) in gone {
                        eprintln!("warning: {name} exited ({status}); see {}", cluster.log_dir().display());
                    }
                }
            }
        }
    });
    say!("stopping the embedded cluster");
    cluster.stop();
    match died {
        None => Ok(()),
        Some(gone) => anyhow::bail!("the master exited: {gone:?}"),
    }
}
