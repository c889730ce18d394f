//! Bad peers and bad bytes against a real master process: foreign credentials, no
//! credentials, UDP garbage, malformed hellos, truncated, oversized and undecodable frames.
//! Each is refused and logged, and the master keeps serving.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use cinder::runtime::transport::endpoint::{client_endpoint, ALPN};
use cinder::runtime::transport::{
    credentials::SERVER_NAME, Credentials, PeerConn, TransportError, TransportSettings,
};
use cinder::runtime::wire::{MasterRequest, MasterResponse, PeerRole};
use common::*;

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn status_works(cx: &cinder::Context) {
    let status = cx.status().expect("master still serves");
    assert_eq!(status.workers.len(), 1);
}

#[test]
fn foreign_credentials_are_refused_and_the_master_keeps_serving() {
    let cx = local_context("foreign-creds", 1);
    let master = cx.master_addr().to_string();
    let other = test_dir("foreign-creds-other").join("cluster");
    assert!(run_cinder(&["init", other.to_str().unwrap()])
        .status
        .success());

    let out = run_cinder(&[
        "status",
        "--cluster",
        other.to_str().unwrap(),
        "--master",
        &master,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one-line error: {stderr}");
    assert!(stderr.contains(&master), "names the address: {stderr}");
    assert!(
        stderr.contains("refused") || stderr.contains("certificate"),
        "{stderr}"
    );

    // The library reports the same refusal as a typed, non-retryable error.
    let creds = Credentials::load(&other).unwrap();
    let rt = runtime();
    let err = rt.block_on(async {
        let addr: SocketAddr = master.parse().unwrap();
        let endpoint = client_endpoint(addr, &creds, &TransportSettings::default()).unwrap();
        PeerConn::connect(&endpoint, addr, PeerRole::Client, "intruder")
            .await
            .unwrap_err()
    });
    assert!(matches!(err, TransportError::Refused { .. }), "{err}");
    assert!(!err.is_retryable());
    status_works(&cx);
}

#[test]
fn a_client_without_a_certificate_gets_nothing() {
    let cx = local_context("no-cert", 1);
    let addr = cx.master_addr();
    let rt = runtime();
    let outcome = rt.block_on(async {
        // Trust the cluster CA but present no client certificate.
        let creds = Credentials::load(cx.local_cluster().unwrap().cluster_dir()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(creds.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
        tokio::time::timeout(
            Duration::from_secs(5),
            PeerConn::connect(&endpoint, addr, PeerRole::Client, "anonymous"),
        )
        .await
    });
    match outcome {
        Ok(Err(TransportError::Refused { .. })) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    status_works(&cx);
    let log = read(&cx.local_cluster().unwrap().log_dir().join("master.log"));
    assert!(
        log.contains("connection rejected during handshake"),
        "{log}"
    );
}

#[test]
fn garbage_on_the_wire_closes_only_the_offending_stream_or_connection() {
    let cx = local_context("garbage", 1);
    let addr = cx.master_addr();
    let creds = Credentials::load(cx.local_cluster().unwrap().cluster_dir()).unwrap();
    let rt = runtime();
    rt.block_on(async {
        // 1. Raw UDP noise at the QUIC port.
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        for seed in 0..200u64 {
            let len = 1 + (seed as usize * 37) % 1400;
            udp.send_to(&noise(seed, len), addr).unwrap();
        }

        let settings = TransportSettings::default();
        let endpoint = client_endpoint(addr, &creds, &settings).unwrap();

        // 2. A valid TLS peer whose first stream is noise instead of a hello.
        let conn = endpoint.connect(addr, SERVER_NAME).unwrap().await.unwrap();
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send.write_all(&noise(7, 64)).await.unwrap();
        send.finish().unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(10), conn.closed()).await;
        assert!(
            closed.is_ok(),
            "the master closes a connection whose hello is malformed"
        );

        // 3-5. After a valid hello: truncated, oversized and undecodable frames.
        let peer = PeerConn::connect(&endpoint, addr, PeerRole::Client, "fuzzer")
            .await
            .unwrap();
        let truncated = {
            let mut b = 100u32.to_be_bytes().to_vec();
            b.extend_from_slice(&noise(3, 10));
            b
        };
        let oversized = u32::MAX.to_be_bytes().to_vec();
        let undecodable = {
            let mut b = 16u32.to_be_bytes().to_vec();
            b.extend_from_slice(&noise(5, 16));
            b
        };
        for bad in [truncated, oversized, undecodable] {
            let (mut send, mut recv) = peer.open().await.unwrap();
            send.write_all(&bad).await.unwrap();
            send.finish().unwrap();
            let answer =
                tokio::time::timeout(Duration::from_secs(10), recv.read_to_end(1024)).await;
            assert!(matches!(answer, Ok(Err(_)) | Ok(Ok(_))), "the stream ends");
            if let Ok(Ok(bytes)) = answer {
                assert!(bytes.is_empty(), "no answer to a bad frame");
            }
        }
        // The same connection still serves well-formed requests.
        let reply: MasterResponse = peer.request(&MasterRequest::Status).await.unwrap();
        assert!(matches!(reply, MasterResponse::Status(_)));
    });
    status_works(&cx);
    let log = read(&cx.local_cluster().unwrap().log_dir().join("master.log"));
    for needle in [
        "malformed hello",
        "stream ended inside a frame",
        "exceeds the limit",
        "malformed frame payload",
    ] {
        assert!(log.contains(needle), "master log lacks {needle:?}:\n{log}");
    }
}

#[test]
fn status_against_an_unreachable_master_fails_in_one_line() {
    let dir = test_dir("unreachable").join("cluster");
    assert!(run_cinder(&["init", dir.to_str().unwrap()])
        .status
        .success());
    // A bound but silent UDP port: nothing answers QUIC there.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = run_cinder(&[
        "status",
        "--cluster",
        dir.to_str().unwrap(),
        "--master",
        &addr,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("cannot reach"),
        "{stderr}"
    );
}

/// Serves nothing: a peer with foreign credentials, whose handshake the master refuses.
struct Silent;

impl cinder::runtime::transport::Service for Silent {
    type Request = cinder::runtime::wire::WorkerRequest;

    fn name(&self) -> String {
        "foreign".into()
    }

    async fn handle(
        &self,
        _peer: &cinder::runtime::transport::PeerInfo,
        _request: Self::Request,
        _io: &mut cinder::runtime::transport::StreamIo,
    ) -> Result<(), cinder::runtime::wire::FrameError> {
        Ok(())
    }
}

/// A worker registered with the master but listening with credentials of another cluster: the
/// master's task delivery is refused by TLS. That class must reach the scheduler as such: the
/// job fails at once naming the refusal, instead of four retries of "cannot reach worker".
#[test]
fn a_refused_task_delivery_fails_the_job_at_once_as_refused() {
    use cinder::builtin::RangeArgs;
    use cinder::runtime::transport::{bind_endpoint, serve};

    let cx = local_context("refused-delivery", 0);
    let master = cx.master_addr();
    let own = Credentials::load(cx.local_cluster().unwrap().cluster_dir()).unwrap();
    let other = test_dir("refused-delivery-other").join("cluster");
    assert!(run_cinder(&["init", other.to_str().unwrap()])
        .status
        .success());
    let foreign = Credentials::load(&other).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let settings = TransportSettings::default();
    let conn = rt.block_on(async {
        let server = bind_endpoint("127.0.0.1:0".parse().unwrap(), &foreign, &settings).unwrap();
        let address = server.local_addr().unwrap().to_string();
        tokio::spawn(serve(server, Arc::new(Silent)));
        let endpoint = client_endpoint(master, &own, &settings).unwrap();
        let conn = PeerConn::connect(&endpoint, master, PeerRole::Worker, "w-foreign")
            .await
            .unwrap();
        let register = MasterRequest::RegisterWorker {
            worker_id: "w-foreign".into(),
            address,
            cores: 1,
            memory_budget_bytes: 1 << 20,
            pid: std::process::id(),
            blocks: Vec::new(),
            watcher_pid: None,
        };
        let answer: MasterResponse = conn.request(&register).await.unwrap();
        let MasterResponse::Registered { incarnation, .. } = answer else {
            panic!("{answer:?}");
        };
        // Heartbeats keep the fake worker alive for as long as the test runs (bounded).
        let beats = conn.clone();
        tokio::spawn(async move {
            for _ in 0..600 {
                let beat = MasterRequest::Heartbeat {
                    worker_id: "w-foreign".into(),
                    incarnation,
                    stats: Default::default(),
                };
                let _: Result<MasterResponse, _> = beats.request(&beat).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        (endpoint, conn)
    });
    cx.wait_for_workers(1, Duration::from_secs(10)).unwrap();
    let args = RangeArgs {
        rows_per_partition: 10,
        columns: 1,
        seed: 1,
    };
    let err = cx
        .generate("cinder.range", &args, 1)
        .unwrap()
        .count()
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused the connection"), "{err}");
    assert!(err.contains("after 1 attempt(s)"), "{err}");
    drop(conn);
}
