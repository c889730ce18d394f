//! One function per `cinder` subcommand.

use std::time::Duration;

use anyhow::Context as _;
use cinder::cli::{
    AppCommand, CertCommand, CertIssueArgs, CertRevokeArgs, Cli, Command, InitArgs, LocalArgs,
    StatusArgs,
};
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
        Command::Cert(CertCommand::Issue(args)) => cert_issue(&args),
        Command::Cert(CertCommand::Revoke(args)) => cert_revoke(&args),
        Command::Master(args) => Ok(cinder::daemon::run_master(&args)?),
        Command::Worker(args) => Ok(cinder::daemon::run_worker_with_watcher(
            &args,
            &cli.log_level,
        )?),
        Command::Status(args) => status(&args),
        Command::Top(args) => cinder::top::run(&args.cluster.cluster, &args.master),
        Command::Local(args) => local(&args, &cli.log_level),
        Command::Train(args) => crate::train::train(&args),
        Command::Predict(args) => crate::train::predict(&args),
        Command::Evaluate(args) => crate::evaluate::evaluate(&args),
        Command::Recommend(args) => crate::train::recommend(&args),
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
    match call_master(cluster, master, "cinder status", MasterRequest::Status)? {
        MasterResponse::Status(status) => Ok(status),
        other => anyhow::bail!("unexpected answer from master {master}: {other:?}"),
    }
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    Credentials::init(&args.dir)?;
    cinder::cert::record_init_member(&args.dir)?;
    println!("cluster credentials written to {}", args.dir.display());
    println!("  ca.pem: the cluster CA; ca.key: its private key (keep it here, on no other host)");
    println!("  member.pem, member.key: an admin member (enough for one host and `cinder local`)");
    println!(
        "give every other host its own member: cinder cert issue --ca {} --role worker --name NAME --out DIR",
        args.dir.display()
    );
    Ok(())
}

fn cert_issue(args: &CertIssueArgs) -> anyhow::Result<()> {
    let entry = cinder::cert::issue(args)?;
    println!(
        "issued {} certificate for {:?} (serial {}, valid until {}) in {}",
        entry.role,
        entry.name,
        entry.serial,
        entry.not_after,
        args.out.display()
    );
    println!("  ca.pem, member.pem, member.key (no CA key); pass the directory as --cluster");
    Ok(())
}

fn cert_revoke(args: &CertRevokeArgs) -> anyhow::Result<()> {
    let (revoked, crl) = cinder::cert::revoke(args)?;
    for entry in &revoked {
        println!(
            "revoked {} certificate of {:?} (serial {})",
            entry.role, entry.name, entry.serial
        );
    }
    println!(
        "revocation list written to {}: copy it into every master's and worker's --cluster \
         directory and send them SIGHUP",
        crl.display()
    );
    Ok(())
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    if args.watch {
        let (dir, period) = (&args.cluster.cluster, cinder::top::REFRESH);
        return cinder::top::watch::watch(dir, &args.master, args.json, period);
    }
    let status = fetch_status(&args.cluster.cluster, &args.master)
        .with_context(|| format!("cannot get status from master {}", args.master))?;
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
