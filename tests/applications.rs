//! Applications on a shared, long-running cluster, as users break them: several drivers one
//! after another and at once on files with the same header, a driver SIGKILLed while it holds
//! cached blocks, an embedded `cinder train` interrupted with Ctrl-C, an operator's
//! `cinder app kill`, and a driver reaching for another application's blocks.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use cinder::builtin::RangeArgs;
use cinder::runtime::wire::{AppState, ApplicationStatus};
use cinder::{ClusterStatus, Context, Dataset, StorageLevel};
use common::*;
use serde_json::Value;

/// A binary classification CSV (`label,x1,x2,x3`) of `rows` rows from `seed`.
fn write_csv(path: &Path, rows: usize, seed: u64) {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
    };
    let mut text = String::from("label,x1,x2,x3\n");
    for _ in 0..rows {
        let x = [next(), next(), next()];
        let margin = 1.5 * x[0] - 2.0 * x[1] + 0.5 * x[2] + 0.4 * next();
        let label = u8::from(margin > 0.0);
        text.push_str(&format!("{label},{:.6},{:.6},{:.6}\n", x[0], x[1], x[2]));
    }
    std::fs::write(path, text).unwrap();
}

fn train_args<'a>(data: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "logistic-regression", "--data", data, "--json"];
    args.extend_from_slice(extra);
    args
}

/// `cinder train ... --json` to completion; its stdout.
fn train_ok(args: &[&str]) -> String {
    let out = run_cinder(args);
    assert!(
        out.status.success(),
        "cinder {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn total_blocks(status: &ClusterStatus) -> u64 {
    status.workers.iter().map(|w| w.blocks).sum()
}

fn range(cx: &Context, partitions: u32, rows: u64) -> Dataset {
    let args = RangeArgs {
        rows_per_partition: rows,
        columns: 3,
        seed: 3,
    };
    cx.generate("cinder.range", &args, partitions).unwrap()
}

fn app<'a>(status: &'a ClusterStatus, id: &str) -> Option<&'a ApplicationStatus> {
    status.applications.iter().find(|a| a.id == id)
}

#[test]
fn drivers_one_after_another_and_at_once_get_their_own_answers_and_leave_nothing() {
    let dir = test_dir("apps-three-drivers");
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    write_csv(&a, 400, 1);
    write_csv(&b, 400, 2);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    // The answers alone, each on a fresh embedded cluster.
    let alone_a = train_ok(&train_args(a, &[]));
    let alone_b = train_ok(&train_args(b, &[]));
    assert_ne!(alone_a, alone_b, "the two files train different models");

    let cx = Context::local_with(local_builder("apps-three-drivers-cluster", 2)).unwrap();
    let cluster = cx.local_cluster().unwrap();
    let creds = cluster.cluster_dir().to_str().unwrap().to_string();
    let master = cluster.master_addr().to_string();
    let on_cluster = ["--cluster", creds.as_str(), "--master", master.as_str()];
    // One after another: before applications, the second run printed the first one's
    // coefficients (same header, same dataset ids, same block names).
    for (data, alone) in [(a, &alone_a), (b, &alone_b), (a, &alone_a)] {
        assert_eq!(&train_ok(&train_args(data, &on_cluster)), alone, "{data}");
    }
    // At the same time.
    let results: Vec<(String, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = [a, b, a]
            .into_iter()
            .map(|data| {
                let on_cluster = &on_cluster;
                s.spawn(move || (data.to_string(), train_ok(&train_args(data, on_cluster))))
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (data, out) in results {
        let alone = if data == a { &alone_a } else { &alone_b };
        assert_eq!(&out, alone, "concurrent run on {data}");
    }
    // Every driver released what it cached: no block and no shuffle output is left.
    let status = wait_for("workers to hold no block", Duration::from_secs(10), || {
        let status = cx.status().unwrap();
        (total_blocks(&status) == 0).then_some(status)
    });
    let trains: Vec<_> = status
        .applications
        .iter()
        .filter(|a| a.name == "cinder train logistic-regression")
        .collect();
    assert_eq!(trains.len(), 6, "{:?}", status.applications);
    assert!(trains
        .iter()
        .all(|a| a.state == AppState::Finished && a.ended_ms.is_some() && a.blocks == 0));
    let ids: std::collections::BTreeSet<_> = trains.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 6, "application ids never repeat");
    // Jobs name their application; this test's own context is still running.
    assert!(status
        .jobs
        .iter()
        .all(|j| ids.contains(j.application.as_str())));
    assert_eq!(
        app(&status, cx.application_id()).map(|a| a.state),
        Some(AppState::Running)
    );
}

#[test]
fn a_killed_driver_is_released_when_its_lease_expires() {
    let dir = test_dir("apps-killed-driver");
    let data = dir.join("big.csv");
    write_csv(&data, 20_000, 7);
    let builder =
        local_builder("apps-killed-driver-cluster", 2).app_timeout(Duration::from_secs(2));
    let cx = Context::local_with(builder).unwrap();
    let cluster = cx.local_cluster().unwrap();
    let mut driver = ChildGuard::spawn(
        Command::new(cinder_bin())
            .args(["train", "logistic-regression", "--data"])
            .arg(&data)
            .args(["--max-iter", "100000", "--tol", "0", "--json", "--cluster"])
            .arg(cluster.cluster_dir())
            .args(["--master", cluster.master_addr()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // Wait until the driver's application holds its cached partitions and runs a job.
    let id = wait_for(
        "the driver to cache its data",
        Duration::from_secs(60),
        || {
            let status = cx.status().ok()?;
            status
                .applications
                .iter()
                .find(|a| {
                    a.name.starts_with("cinder train")
                        && a.state == AppState::Running
                        && a.blocks > 0
                        && a.jobs_running > 0
                })
                .map(|a| a.id.clone())
        },
    );
    assert!(driver.wait_exit(Duration::ZERO).is_none(), "still training");
    driver.signal(libc::SIGKILL);
    assert_eq!(
        driver.wait_exit(Duration::from_secs(5)),
        None,
        "killed, no exit code"
    );
    // Lost after the 2 s lease (plus a timer tick), and its blocks gone everywhere.
    let status = wait_for("the application to be lost", Duration::from_secs(8), || {
        let status = cx.status().ok()?;
        (app(&status, &id)?.state == AppState::Lost).then_some(status)
    });
    assert_eq!(app(&status, &id).unwrap().jobs_running, 0);
    wait_for("its blocks to be dropped", Duration::from_secs(5), || {
        let status = cx.status().ok()?;
        (total_blocks(&status) == 0 && app(&status, &id)?.blocks == 0).then_some(())
    });
}

#[test]
fn cinder_app_kill_cancels_and_releases_and_drivers_cannot_touch_other_blocks() {
    let cx = Context::local_with(local_builder("apps-kill", 2)).unwrap();
    let cluster = cx.local_cluster().unwrap();
    let creds = cluster.cluster_dir().to_path_buf();
    let master = cluster.master_addr().to_string();
    let other = Context::connect(&master, &creds).unwrap();
    assert_ne!(other.application_id(), cx.application_id());

    let cached = range(&cx, 4, 2_500).persist(StorageLevel::MemoryAndDisk, 1);
    assert_eq!(cached.count().unwrap(), 10_000);
    let mine = cx.block_id("mine");
    cx.put_block("worker-1", &mine, Bytes::from_static(b"secret"))
        .unwrap();
    // Another driver can neither read nor drop this application's blocks.
    for block in [&mine, &cached.block_id(0)] {
        let err = other.get_block("worker-1", block).unwrap_err().to_string();
        assert!(err.contains("does not belong to application"), "{err}");
        let err = other
            .remove_block("worker-1", block)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not belong to application"), "{err}");
    }
    let id = cx.application_id().to_string();
    let held = wait_for("the blocks to be reported", Duration::from_secs(5), || {
        let status = cx.status().ok()?;
        let a = app(&status, &id)?;
        (a.blocks >= 5).then_some(a.blocks)
    });
    assert!(held >= 5, "4 cached partitions and one user block");

    let list = run_cinder(&[
        "app",
        "list",
        "--json",
        "--cluster",
        creds.to_str().unwrap(),
        "--master",
        &master,
    ]);
    assert!(list.status.success());
    let apps: Value = serde_json::from_slice(&list.stdout).unwrap();
    let entry = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .expect("listed");
    for field in [
        "name",
        "state",
        "started_ms",
        "ended_ms",
        "jobs_running",
        "blocks",
        "memory_bytes",
    ] {
        assert!(entry.get(field).is_some(), "field {field} in {entry}");
    }
    assert_eq!(entry["state"], "running");

    let kill = |id: &str| {
        run_cinder(&[
            "app",
            "kill",
            id,
            "--cluster",
            creds.to_str().unwrap(),
            "--master",
            &master,
        ])
    };
    let out = kill(&id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "the killed application's blocks to go",
        Duration::from_secs(5),
        || {
            let status = cx.status().ok()?;
            let a = app(&status, &id)?;
            (a.state == AppState::Killed && a.blocks == 0 && total_blocks(&status) == 0)
                .then_some(())
        },
    );
    // Its driver learns it: the next job fails with a clear error, not with a stale answer.
    let err = cached.count().unwrap_err().to_string();
    assert!(err.contains("killed"), "{err}");
    // Killing it again, or an id never issued, is an error naming the state.
    let again = kill(&id);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("killed"));
    let unknown = kill("app-1-9999");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown"));
    // The other driver is untouched.
    assert_eq!(range(&other, 2, 50).count().unwrap(), 100);
}

/// Direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn local_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("cinder-local-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn interrupted_embedded_runs_leave_no_process_and_no_directory() {
    let dir = test_dir("apps-interrupt");
    let data = dir.join("big.csv");
    write_csv(&data, 20_000, 3);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let tmp = dir.join(format!("tmp-{signal}"));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut train = ChildGuard::spawn(
            Command::new(cinder_bin())
                .args(["train", "logistic-regression", "--data"])
                .arg(&data)
                .args(["--max-iter", "100000", "--tol", "0", "--json"])
                .env("TMPDIR", &tmp)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        // Interrupt it while it trains: its daemons run and its application holds blocks.
        let (daemons, root) = wait_for(
            "the embedded cluster to train",
            Duration::from_secs(60),
            || {
                let daemons = children(train.pid());
                let root = local_dirs(&tmp).into_iter().next()?;
                let master_log = read(&root.join("logs").join("master.log"));
                (daemons.len() == 3 && master_log.contains("job submitted"))
                    .then_some((daemons, root))
            },
        );
        assert!(root.join("cluster").join("member.key").exists());
        train.signal(signal);
        let code = train.wait_exit(Duration::from_secs(15));
        assert_eq!(code, Some(128 + signal), "signal {signal}");
        for pid in daemons {
            assert!(!process_alive(pid), "daemon {pid} outlived signal {signal}");
        }
        assert!(
            local_dirs(&tmp).is_empty(),
            "signal {signal} left {:?}",
            local_dirs(&tmp)
        );
    }
}

#[test]
fn jobs_fail_clearly_without_workers_and_empty_shuffles_complete() {
    let builder = local_builder("apps-no-worker", 1).no_worker_timeout(Duration::from_secs(2));
    let mut cx = Context::local_with(builder).unwrap();
    // A shuffle whose parent has no partition completes (it used to wait forever).
    let empty = range(&cx, 0, 10).repartition(3).unwrap();
    assert_eq!(empty.count().unwrap(), 0);
    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    wait_for("the worker to be lost", Duration::from_secs(10), || {
        let status = cx.status().ok()?;
        status
            .workers
            .iter()
            .all(|w| w.state == cinder::WorkerState::Lost)
            .then_some(())
    });
    let started = std::time::Instant::now();
    let err = range(&cx, 2, 10).count().unwrap_err().to_string();
    assert!(err.contains("no live worker for 2 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn the_master_refuses_malformed_lineages_and_unknown_applications() {
    use cinder::runtime::data::plan::{DatasetNode, Lineage, Op};
    use cinder::runtime::master::MasterClient;
    use cinder::runtime::transport::endpoint::{client_endpoint, resolve};
    use cinder::runtime::transport::{Credentials, TransportSettings};
    use cinder::runtime::wire::{
        JobSpec, MasterRequest, MasterResponse, PeerRole, TaskAction, TaskError,
    };

    let cx = local_context("apps-bad-lineage", 1);
    let cluster = cx.local_cluster().unwrap();
    let creds = Credentials::load(cluster.cluster_dir()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = |id: u64, op: Op| DatasetNode {
        id,
        name: format!("d{id}"),
        op,
        num_partitions: 1,
        persist: None,
    };
    let submit = |lineage: Lineage| {
        let spec = JobSpec {
            name: "hostile".into(),
            target: 1,
            lineage,
            action: TaskAction::Count,
            partitions: vec![],
        };
        runtime.block_on(async {
            let addr = resolve(cluster.master_addr()).await.unwrap();
            let endpoint = client_endpoint(addr, &creds, &TransportSettings::default()).unwrap();
            let client = MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, "test")
                .await
                .unwrap();
            let answer = client.call(&MasterRequest::RunJob(spec)).await.unwrap();
            endpoint.close(0u32.into(), b"done");
            answer
        })
    };
    let cause = |answer: MasterResponse| match answer {
        MasterResponse::JobFailed(e) => e.cause,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut cyclic = Lineage::for_app(cx.application_id());
    cyclic
        .nodes
        .insert(1, node(1, Op::Union { parents: vec![2] }));
    cyclic
        .nodes
        .insert(2, node(2, Op::Union { parents: vec![1] }));
    let TaskError::BadInput { message } = cause(submit(cyclic)) else {
        panic!("a cycle is bad input")
    };
    assert!(message.contains("cycle"), "{message}");
    let mut dangling = Lineage::for_app(cx.application_id());
    dangling
        .nodes
        .insert(1, node(1, Op::Union { parents: vec![7] }));
    let TaskError::BadInput { message } = cause(submit(dangling)) else {
        panic!("a missing parent is bad input")
    };
    assert!(
        message.contains("dataset 7 is not in the lineage"),
        "{message}"
    );
    let mut foreign = Lineage::for_app("app-1-0001");
    foreign
        .nodes
        .insert(1, node(1, Op::Union { parents: vec![] }));
    let TaskError::Cancelled { reason } = cause(submit(foreign)) else {
        panic!("an unknown application is refused")
    };
    assert!(reason.contains("not running"), "{reason}");
    // The master still serves its own driver.
    assert_eq!(range(&cx, 2, 5).count().unwrap(), 10);
}
