//! A panic inside an actor's handler ends the daemon with a logged error and a non-zero exit,
//! instead of leaving a process whose actor is gone and which answers "actor unavailable" for
//! ever. Driven over a real worker process and the fault-injection request `InjectPanic`.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use cinder::runtime::transport::endpoint::client_endpoint;
use cinder::runtime::transport::{Credentials, PeerConn, TransportSettings};
use cinder::runtime::wire::{PeerRole, WorkerRequest, WorkerResponse};
use common::*;

#[test]
fn a_panicking_actor_ends_the_worker_with_an_error() {
    let cx = local_context("actor-panic", 0);
    let dir = test_dir("actor-panic-worker");
    let cluster = cx.local_cluster().unwrap().cluster_dir().to_path_buf();
    let log = dir.join("worker.log");
    let mut worker = ChildGuard::spawn(
        Command::new(cinder_bin())
            .args(["worker", "--cluster", cluster.to_str().unwrap()])
            .args(["--master", &cx.master_addr().to_string()])
            .args(["--work-dir", dir.join("work").to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--cores", "1"])
            .env("CINDER_FAULT_INJECTION", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let status = cx.wait_for_workers(1, Duration::from_secs(30)).unwrap();
    let address: SocketAddr = status.workers[0].address.parse().unwrap();

    let creds = Credentials::load(&cluster).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(async {
        let endpoint = client_endpoint(address, &creds, &TransportSettings::default()).unwrap();
        let conn = PeerConn::connect(&endpoint, address, PeerRole::Client, "panic-test")
            .await
            .unwrap();
        // The process ends without closing its connections: no answer is expected.
        let answer = tokio::time::timeout(
            Duration::from_secs(3),
            conn.request::<_, WorkerResponse>(&WorkerRequest::InjectPanic),
        )
        .await;
        format!("{answer:?}")
    });

    let code = worker.wait_exit(Duration::from_secs(15));
    let text = read(&log);
    assert_eq!(
        code,
        Some(101),
        "the worker must exit non-zero (answer {answer:?}); log:\n{text}"
    );
    assert!(text.contains("an actor panicked"), "{text}");
    assert!(text.contains("fault injection: panic requested"), "{text}");
}
