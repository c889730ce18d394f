//! Identities and roles over real processes: credentials issued per member (no CA key, private
//! under umask 000), a monitor that reads status but cannot submit jobs, a worker certificate
//! that cannot register as another id, and a revoked driver refused after SIGHUP.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cinder::builtin::RangeArgs;
use cinder::runtime::data::plan::Lineage;
use cinder::runtime::master::MasterClient;
use cinder::runtime::transport::credentials::SERVER_NAME;
use cinder::runtime::transport::endpoint::client_endpoint;
use cinder::runtime::transport::{Credentials, TransportError, TransportSettings};
use cinder::runtime::wire::{
    read_frame, write_frame, HelloReply, JobSpec, MasterRequest, MasterResponse, PeerRole,
    TaskAction, PROTOCOL_VERSION,
};
use cinder::{Context, WorkerState};
use common::*;

/// Runs `cinder ARGS` with umask 000.
fn run_cinder_umask0(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(cinder_bin());
    cmd.args(args);
    // SAFETY: umask is async-signal-safe and only changes the child's file creation mask.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let out = cmd.output().expect("run cinder");
    assert!(
        out.status.success(),
        "cinder {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn issue(ca: &Path, role: &str, name: &str, out: &Path) {
    run_cinder_umask0(&[
        "cert",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        role,
        "--name",
        name,
        "--out",
        out.to_str().unwrap(),
    ]);
}

/// A master and workers started from the `cinder` binary, each with its own credentials.
struct Cluster {
    dir: PathBuf,
    ca: PathBuf,
    master: ChildGuard,
    master_addr: String,
    workers: Vec<(String, ChildGuard)>,
}

impl Cluster {
    /// `cinder init` (the admin member runs the master), then one worker certificate per id.
    fn start(name: &str, worker_ids: &[&str]) -> Self {
        let dir = test_dir(name);
        let ca = dir.join("ca");
        run_cinder_umask0(&["init", ca.to_str().unwrap()]);
        let addr_file = dir.join("master.addr");
        let master = ChildGuard::spawn(
            Command::new(cinder_bin())
                .args(["master", "--listen", "127.0.0.1:0"])
                .args([
                    "--heartbeat-interval-ms",
                    "200",
                    "--heartbeat-timeout-ms",
                    "1500",
                ])
                .arg("--cluster")
                .arg(&ca)
                .arg("--addr-file")
                .arg(&addr_file)
                .stdout(Stdio::null())
                .stderr(log_file(&dir, "master")),
        );
        let master_addr = wait_for("master address", Duration::from_secs(20), || {
            Some(read(&addr_file)).filter(|a| !a.is_empty())
        });
        let mut cluster = Self {
            dir,
            ca,
            master,
            master_addr,
            workers: Vec::new(),
        };
        for id in worker_ids {
            let creds = cluster.issue("worker", id);
            cluster.spawn_worker(id, &creds);
        }
        cluster
    }

    /// Issues a member and returns its credentials directory.
    fn issue(&self, role: &str, name: &str) -> PathBuf {
        let out = self.dir.join(format!("{role}-{name}"));
        issue(&self.ca, role, name, &out);
        out
    }

    fn spawn_worker(&mut self, log_name: &str, creds: &Path) {
        let work = self.dir.join("work").join(log_name);
        let child = ChildGuard::spawn(
            Command::new(cinder_bin())
                .args(["worker", "--listen", "127.0.0.1:0", "--cores", "1"])
                .arg("--master")
                .arg(&self.master_addr)
                .arg("--cluster")
                .arg(creds)
                .arg("--work-dir")
                .arg(&work)
                .stdout(Stdio::null())
                .stderr(log_file(&self.dir, log_name)),
        );
        self.workers.push((log_name.to_string(), child));
    }

    fn context(&self, creds: &Path) -> Context {
        Context::connect(&self.master_addr, creds).expect("connect")
    }

    fn log(&self, name: &str) -> String {
        read(&self.dir.join(format!("{name}.log")))
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(format!("{name}.log"))).unwrap()
}

fn range_args() -> RangeArgs {
    RangeArgs {
        rows_per_partition: 5,
        columns: 1,
        seed: 1,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn issued_credentials_hold_no_ca_key_and_are_private_under_umask_000() {
    let dir = test_dir("cert-issue");
    let ca = dir.join("ca");
    run_cinder_umask0(&["init", ca.to_str().unwrap()]);
    assert_eq!(mode(&ca), 0o700);
    for file in ["ca.pem", "ca.key", "member.pem", "member.key"] {
        assert_eq!(mode(&ca.join(file)), 0o600, "{file}");
    }
    let out = dir.join("hosts").join("worker-a");
    issue(&ca, "worker", "worker-a", &out);
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["ca.pem", "member.key", "member.pem"], "no CA key");
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&dir.join("hosts")), 0o700);
    for file in &files {
        assert_eq!(mode(&out.join(file)), 0o600, "{file}");
    }
    let identity = Credentials::load(&out).unwrap().identity().unwrap();
    assert_eq!(identity.name, "worker-a");
    assert_eq!(identity.role.as_str(), "worker");
    let index = read(&ca.join("issued.json"));
    assert!(
        index.contains("worker-a") && index.contains(&identity.serial_hex()),
        "{index}"
    );
    assert!(
        index.contains("\"admin\""),
        "init records its member: {index}"
    );
    assert_eq!(mode(&ca.join("issued.json")), 0o600);

    // Never overwritten; bad names and roles are refused.
    let again = run_cinder(&[
        "cert",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "worker",
        "--name",
        "worker-a",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let bad = run_cinder(&[
        "cert",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "root",
        "--name",
        "x",
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown role"));
    // Without the CA key, nothing can be issued.
    let no_ca = run_cinder(&[
        "cert",
        "issue",
        "--ca",
        out.to_str().unwrap(),
        "--role",
        "admin",
        "--name",
        "me",
        "--out",
        dir.join("me").to_str().unwrap(),
    ]);
    assert!(!no_ca.status.success());
    assert!(String::from_utf8_lossy(&no_ca.stderr).contains("ca.key"));
}

#[test]
fn a_monitor_reads_status_but_cannot_submit_a_job() {
    let cluster = Cluster::start("monitor-role", &["w1"]);
    let admin = cluster.context(&cluster.ca);
    admin
        .wait_for_workers(1, Duration::from_secs(20))
        .expect("the worker registers under its certificate's name");
    assert_eq!(admin.status().unwrap().workers[0].id, "w1");

    let monitor = cluster.issue("monitor", "mon");
    let out = run_cinder(&[
        "status",
        "--json",
        "--cluster",
        monitor.to_str().unwrap(),
        "--master",
        &cluster.master_addr,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["workers"][0]["id"], "w1");
    assert_eq!(json["limits"]["max_streams_per_connection"], 256);

    // A monitor cannot start a driver (register an application) ...
    let err = Context::connect(&cluster.master_addr, &monitor)
        .err()
        .expect("a monitor cannot act as a driver")
        .to_string();
    assert!(
        err.contains("role monitor") && err.contains("register or end applications"),
        "clear refusal: {err}"
    );
    // ... nor submit a job directly.
    let creds = Credentials::load(&monitor).unwrap();
    let answer = runtime().block_on(async {
        let addr = cluster.master_addr.parse().unwrap();
        let endpoint = client_endpoint(addr, &creds, &TransportSettings::default()).unwrap();
        let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, "mon")
            .await
            .unwrap();
        let spec = JobSpec {
            name: "count".into(),
            target: 1,
            lineage: Lineage::for_app("app-1-0001"),
            action: TaskAction::Count,
            partitions: vec![],
        };
        client.call(&MasterRequest::RunJob(spec)).await.unwrap()
    });
    match answer {
        MasterResponse::Error { message } => assert!(
            message.contains("role monitor") && message.contains("submit jobs"),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A driver may.
    let driver = cluster.issue("driver", "etl");
    let cx = cluster.context(&driver);
    let rows = cx
        .generate("cinder.range", &range_args(), 2)
        .and_then(|d| d.count())
        .unwrap();
    assert_eq!(rows, 10);
    let log = cluster.log("master");
    assert!(
        log.contains(
            "refused: permission denied: role monitor (member \"mon\") may not register or end applications"
        ),
        "{log}"
    );
}

#[test]
fn a_worker_certificate_cannot_register_as_another_id() {
    let mut cluster = Cluster::start("worker-identity", &["w1", "w2"]);
    let admin = cluster.context(&cluster.ca);
    admin.wait_for_workers(2, Duration::from_secs(20)).unwrap();
    let w2_pid = cluster.workers[1].1.pid();

    // w1's certificate, claiming to be w2 at an address of its choosing.
    let w1_creds = Credentials::load(&cluster.dir.join("worker-w1")).unwrap();
    let rt = runtime();
    let answer = rt.block_on(async {
        let addr = cluster.master_addr.parse().unwrap();
        let endpoint = client_endpoint(addr, &w1_creds, &TransportSettings::default()).unwrap();
        let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Worker, "w2")
            .await
            .unwrap();
        client
            .call(&MasterRequest::RegisterWorker {
                worker_id: "w2".into(),
                address: "127.0.0.1:9".into(),
                cores: 64,
                memory_budget_bytes: 1 << 40,
                pid: 1,
                blocks: vec![],
                watcher_pid: None,
            })
            .await
            .unwrap()
    });
    match answer {
        MasterResponse::Error { message } => assert!(
            message.contains("role worker") && message.contains("act as worker \"w2\""),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The real w2 is untouched: alive, first incarnation, its own address.
    std::thread::sleep(Duration::from_millis(600));
    let status = admin.status().unwrap();
    let w2 = status.workers.iter().find(|w| w.id == "w2").unwrap();
    assert_eq!(w2.state, WorkerState::Alive);
    assert_eq!(w2.incarnation, 1);
    assert_ne!(w2.address, "127.0.0.1:9");
    assert!(process_alive(w2_pid));

    // `cinder worker` with w1's certificate and --id w2 fails at once, naming both.
    let out = run_cinder(&[
        "worker",
        "--cluster",
        cluster.dir.join("worker-w1").to_str().unwrap(),
        "--master",
        &cluster.master_addr,
        "--id",
        "w2",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("w2") && stderr.contains("\"w1\""),
        "{stderr}"
    );

    // Clients accept only a master (or admin) certificate as the master: a worker's is refused.
    let w2_addr = w2.address.parse().unwrap();
    let err = rt.block_on(async {
        let endpoint = client_endpoint(w2_addr, &w1_creds, &TransportSettings::default()).unwrap();
        MasterClient::connect_addr(&endpoint, w2_addr, PeerRole::Client, "probe")
            .await
            .unwrap_err()
    });
    assert!(
        matches!(&err, TransportError::Refused { reason, .. } if reason.contains("worker certificate")),
        "{err}"
    );
    cluster.workers.clear();
}

#[test]
fn a_revoked_driver_is_refused_after_sighup() {
    let cluster = Cluster::start("revoked-driver", &["w1"]);
    let driver = cluster.issue("driver", "etl");
    let cx = cluster.context(&driver);
    cx.wait_for_workers(1, Duration::from_secs(20)).unwrap();

    let out = run_cinder(&[
        "cert",
        "revoke",
        "--ca",
        cluster.ca.to_str().unwrap(),
        "--name",
        "etl",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&cluster.ca.join("crl.pem")), 0o600);
    // Before the SIGHUP the master has not read the list yet.
    assert!(cx.status().is_ok());
    cluster.master.signal(libc::SIGHUP);
    wait_for(
        "the revoked driver's connection to close",
        Duration::from_secs(10),
        || cx.status().is_err().then_some(()),
    );
    let err = Context::connect(&cluster.master_addr, &driver)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("refused"), "{err}");
    let log = cluster.log("master");
    assert!(log.contains("credentials reloaded"), "{log}");
    assert!(
        log.contains("no longer accepted") && log.contains("driver"),
        "the log names the refused member: {log}"
    );
    // Everyone else is still served.
    let admin = cluster.context(&cluster.ca);
    let status = admin.status().unwrap();
    assert_eq!(status.workers[0].state, WorkerState::Alive);
    assert!(process_alive(cluster.master.pid()));
}

#[test]
fn a_peer_speaking_another_protocol_version_is_refused_naming_both() {
    let cluster = Cluster::start("hello-version", &[]);
    let creds = Credentials::load(&cluster.ca).unwrap();
    let rt = runtime();
    let reply = rt.block_on(async {
        let addr = cluster.master_addr.parse().unwrap();
        let endpoint = client_endpoint(addr, &creds, &TransportSettings::default()).unwrap();
        let conn = endpoint.connect(addr, SERVER_NAME).unwrap().await.unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        // A hello from a future version, with a role this build does not know.
        #[derive(serde::Serialize)]
        struct FutureHello {
            protocol_version: u32,
            role: &'static str,
            name: &'static str,
        }
        let hello = FutureHello {
            protocol_version: 99,
            role: "Quantum",
            name: "from-the-future",
        };
        write_frame(&mut send, &hello).await.unwrap();
        send.finish().unwrap();
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            read_frame::<_, HelloReply>(&mut recv, 1 << 16),
        )
        .await;
        endpoint.close(0u32.into(), b"done");
        reply
    });
    match reply {
        Ok(Ok(HelloReply::Refused { reason })) => assert!(
            reason.contains("99") && reason.contains(&format!("speaks {PROTOCOL_VERSION}")),
            "{reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let admin = cluster.context(&cluster.ca);
    assert!(admin.status().is_ok(), "the master keeps serving");
}

#[test]
fn a_driver_cannot_act_for_another_members_application() {
    let cluster = Cluster::start("app-owner", &["w1"]);
    let etl = cluster.context(&cluster.issue("driver", "etl"));
    etl.wait_for_workers(1, Duration::from_secs(20)).unwrap();
    let app = etl.application_id().to_string();

    // Another driver certificate tries to end etl's application.
    let other = Credentials::load(&cluster.issue("driver", "other")).unwrap();
    let answer = runtime().block_on(async {
        let addr = cluster.master_addr.parse().unwrap();
        let endpoint = client_endpoint(addr, &other, &TransportSettings::default()).unwrap();
        let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, "other")
            .await
            .unwrap();
        let end = MasterRequest::EndApplication {
            app: app.clone(),
            failed: true,
        };
        let refused = client.call(&end).await.unwrap();
        // ... nor may it run a job as etl's application.
        let spec = JobSpec {
            name: "count".into(),
            target: 1,
            lineage: Lineage::for_app(app.as_str()),
            action: TaskAction::Count,
            partitions: vec![],
        };
        let job = client.call(&MasterRequest::RunJob(spec)).await.unwrap();
        match job {
            MasterResponse::JobFailed(error) => assert!(
                error.to_string().contains("permission denied")
                    && error.to_string().contains("\"etl\""),
                "{error}"
            ),
            other => panic!("expected a refused job, got {other:?}"),
        }
        refused
    });
    match answer {
        MasterResponse::Error { message } => assert!(
            message.contains(&app) && message.contains("\"etl\"") && message.contains("\"other\""),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // etl's application still runs and computes.
    let rows = etl
        .generate("cinder.range", &range_args(), 2)
        .and_then(|d| d.count())
        .unwrap();
    assert_eq!(rows, 10);

    // Nor may it read etl's blocks on a worker by naming etl's application in its hello: the
    // worker confirms the claim with the master.
    let block = etl.block_id("secret");
    etl.put_block("w1", &block, bytes::Bytes::from_static(b"etl's"))
        .unwrap();
    let worker_addr = etl.status().unwrap().workers[0].address.clone();
    let read = |creds: &Credentials, name: &str| {
        runtime().block_on(async {
            let addr = worker_addr.parse().unwrap();
            let endpoint = client_endpoint(addr, creds, &TransportSettings::default()).unwrap();
            let conn = cinder::runtime::transport::PeerConn::connect_as(
                &endpoint,
                addr,
                PeerRole::Client,
                name,
                Some(app.as_str()),
            )
            .await
            .unwrap();
            let request = cinder::runtime::wire::WorkerRequest::GetBlock {
                block_id: block.clone(),
            };
            conn.request::<_, cinder::runtime::wire::WorkerResponse>(&request)
                .await
                .unwrap()
        })
    };
    match read(&other, "other") {
        cinder::runtime::wire::WorkerResponse::Error { message } => assert!(
            message.contains("does not belong to member \"other\"") && message.contains("etl"),
            "{message}"
        ),
        answer => panic!("expected a refusal, got {answer:?}"),
    }
    // The owner's own certificate, naming its application, is served.
    let etl_creds = Credentials::load(&cluster.dir.join("driver-etl")).unwrap();
    assert!(matches!(
        read(&etl_creds, "etl"),
        cinder::runtime::wire::WorkerResponse::Block { .. }
    ));
}
