//! The `cinder` command line as users run it: flag errors, `cinder local` with `cinder status`
//! attached, clean stop on SIGTERM, children that die with a SIGKILLed parent, and a worker that
//! waits for a master that is not there yet.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn bad_flags_are_named() {
    let out = run_cinder(&[
        "worker",
        "--cluster",
        "/nonexistent",
        "--master",
        "127.0.0.1:1",
        "--memory",
        "lots",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--memory") && stderr.contains("\"lots\""),
        "{stderr}"
    );

    let out = run_cinder(&[
        "master",
        "--cluster",
        "/nonexistent/dir",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/dir/ca.pem"), "{stderr}");

    let out = run_cinder(&["status", "--cluster", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--master"));
}

/// `--workers 0`, `--cores 0` and `--memory 0` would start a cluster that can never run a task
/// (or wait for ever for a worker): each is a usage error, exit 2 at once, naming the flag.
#[test]
fn zero_workers_cores_or_memory_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["local", "--workers", "0"], "--workers"),
        (&["local", "--cores", "0"], "--cores"),
        (&["local", "--memory", "0"], "--memory"),
        (&["local", "--memory", "0GiB"], "--memory"),
        (
            &[
                "train",
                "kmeans",
                "--data",
                "/nonexistent.csv",
                "--workers",
                "0",
            ],
            "--workers",
        ),
        (
            &[
                "predict",
                "--model",
                "/nonexistent",
                "--data",
                "/x.csv",
                "--workers",
                "0",
            ],
            "--workers",
        ),
        (
            &[
                "worker",
                "--cluster",
                "/nonexistent",
                "--master",
                "127.0.0.1:1",
                "--cores",
                "0",
            ],
            "--cores",
        ),
        (
            &[
                "worker",
                "--cluster",
                "/nonexistent",
                "--master",
                "127.0.0.1:1",
                "--memory",
                "0",
            ],
            "--memory",
        ),
    ];
    for (args, flag) in cases {
        let started = std::time::Instant::now();
        let out = run_cinder(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert!(
            stderr.contains(flag) && stderr.contains("'0"),
            "{args:?}: {stderr}"
        );
    }
}

/// Starts `cinder local` and reads its banner; returns (guard, master, credentials dir).
fn start_local(dir: &std::path::Path, workers: &str) -> (ChildGuard, String, String) {
    let mut guard = ChildGuard::spawn(
        Command::new(cinder_bin())
            .args([
                "local",
                "--workers",
                workers,
                "--dir",
                dir.to_str().unwrap(),
            ])
            .env("CINDER_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = guard.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the banner so the launcher never writes into a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut master, mut creds) = (None, None);
    while master.is_none() || creds.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("cinder local banner");
        let field = |prefix: &str| {
            line.trim()
                .strip_prefix(prefix)
                .map(|v| v.trim().to_string())
        };
        master = master.or(field("master:"));
        creds = creds.or(field("credentials:"));
    }
    (guard, master.unwrap(), creds.unwrap())
}

fn status_json(creds: &str, master: &str) -> serde_json::Value {
    let out = run_cinder(&["status", "--cluster", creds, "--master", master, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn pids(status: &serde_json::Value) -> Vec<u32> {
    status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn local_cluster_serves_status_and_stops_its_children_on_sigterm() {
    let dir = test_dir("cli-local");
    let (mut guard, master, creds) = start_local(&dir, "2");
    let status = status_json(&creds, &master);
    let workers = status["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    for w in workers {
        for field in [
            "id",
            "address",
            "state",
            "cores",
            "memory_budget_bytes",
            "memory_used_bytes",
            "spilled_bytes",
            "blocks",
            "last_heartbeat_ms",
        ] {
            assert!(!w[field].is_null(), "field {field} missing in {w}");
        }
        assert_eq!(w["state"], "alive");
    }
    let table = run_cinder(&["status", "--cluster", &creds, "--master", &master]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("worker-2"));

    let children = pids(&status);
    guard.signal(libc::SIGTERM);
    assert_eq!(guard.wait_exit(Duration::from_secs(20)), Some(0));
    for pid in children {
        assert!(!process_alive(pid), "worker {pid} outlived cinder local");
    }
}

#[test]
fn children_never_outlive_a_sigkilled_launcher() {
    let dir = test_dir("cli-orphans");
    let (mut guard, master, creds) = start_local(&dir, "2");
    let children = pids(&status_json(&creds, &master));
    guard.signal(libc::SIGKILL);
    guard.wait_exit(Duration::from_secs(5));
    for pid in children {
        wait_for(
            &format!("worker {pid} to exit"),
            Duration::from_secs(10),
            || (!process_alive(pid)).then_some(()),
        );
    }
}

#[test]
fn worker_retries_an_unreachable_master_with_backoff_then_joins() {
    let dir = test_dir("cli-backoff");
    let creds = dir.join("cluster");
    assert!(run_cinder(&["init", creds.to_str().unwrap()])
        .status
        .success());
    // Reserve a port, then free it for the master that comes later.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master = format!("127.0.0.1:{port}");
    let log = dir.join("worker.log");
    let _worker = ChildGuard::spawn(
        Command::new(cinder_bin())
            .args([
                "worker",
                "--cluster",
                creds.to_str().unwrap(),
                "--master",
                &master,
                "--id",
                "patient",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    wait_for(
        "two retries in the worker log",
        Duration::from_secs(40),
        || (read(&log).matches("master unreachable").count() >= 2).then_some(()),
    );
    let text = read(&log);
    assert!(
        text.contains("retrying in 250 ms") && text.contains("retrying in 500 ms"),
        "{text}"
    );

    let _master = ChildGuard::spawn(
        Command::new(cinder_bin())
            .args([
                "master",
                "--cluster",
                creds.to_str().unwrap(),
                "--listen",
                &master,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for("the worker to register", Duration::from_secs(30), || {
        let out = run_cinder(&[
            "status",
            "--cluster",
            creds.to_str().unwrap(),
            "--master",
            &master,
            "--json",
        ]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (status["workers"][0]["id"] == "patient" && status["workers"][0]["state"] == "alive")
            .then_some(())
    });
}
