//! A real `cinder worker` process against a master that refuses every registration on an open
//! connection: the worker backs off (bounded exponential delays) instead of retrying in a
//! tight loop.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cinder::runtime::transport::{
    bind_endpoint, serve, Credentials, PeerInfo, Service, StreamIo, TransportSettings,
};
use cinder::runtime::wire::{FrameError, MasterRequest, MasterResponse};
use common::*;

/// Answers every request with an error, counting registrations.
struct RefusingMaster {
    registrations: Arc<AtomicU64>,
}

impl Service for RefusingMaster {
    type Request = MasterRequest;

    fn name(&self) -> String {
        "master".into()
    }

    async fn handle(
        &self,
        _peer: &PeerInfo,
        request: MasterRequest,
        io: &mut StreamIo,
    ) -> Result<(), FrameError> {
        if matches!(request, MasterRequest::RegisterWorker { .. }) {
            self.registrations.fetch_add(1, Ordering::SeqCst);
        }
        let message = "registration refused by the test master".to_string();
        io.respond(&MasterResponse::Error { message }).await
    }
}

#[test]
fn a_refused_registration_is_retried_with_backoff_not_in_a_loop() {
    let dir = test_dir("refused-registration");
    let cluster = dir.join("cluster");
    assert!(run_cinder(&["init", cluster.to_str().unwrap()])
        .status
        .success());
    let creds = Credentials::load_shared(&cluster).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let registrations = Arc::new(AtomicU64::new(0));
    let master: SocketAddr = {
        let _guard = rt.enter();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let endpoint = bind_endpoint(localhost, &creds, &TransportSettings::default()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let service = Arc::new(RefusingMaster {
            registrations: registrations.clone(),
        });
        rt.spawn(serve(endpoint, service));
        addr
    };
    let log = std::fs::File::create(dir.join("worker.log")).unwrap();
    let _worker = ChildGuard::spawn(
        Command::new(cinder_bin())
            .args(["worker", "--cluster", cluster.to_str().unwrap()])
            .args(["--master", &master.to_string()])
            .args(["--work-dir", dir.join("work").to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--cores", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    );
    let count = || registrations.load(Ordering::SeqCst);
    wait_for("a first registration", Duration::from_secs(30), || {
        (count() >= 1).then_some(())
    });
    // The rate is what is measured, so this waits a fixed window. Backing off from 250 ms
    // doubling, the retries come at +0.25, +0.75, +1.75 s: three in the window. A tight loop
    // makes thousands.
    let first = count();
    std::thread::sleep(Duration::from_secs(3));
    let retries = count() - first;
    assert!(
        (1..=6).contains(&retries),
        "{retries} registrations in 3 s after the first (see {})",
        dir.join("worker.log").display()
    );
    let log = read(&dir.join("worker.log"));
    assert!(log.contains("retrying in"), "{log}");
}
