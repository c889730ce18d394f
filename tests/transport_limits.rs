//! Bounded cost for every peer, against real daemon processes: a flood of unfinished QUIC
//! handshakes, authenticated peers announcing huge frames on every stream they may open, and a
//! `PutBlock` upload that stalls. Each is measured by the daemon's resident memory or its
//! deadline, and the daemon keeps answering.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use cinder::runtime::transport::endpoint::client_endpoint;
use cinder::runtime::transport::{
    credentials::SERVER_NAME, Credentials, PeerConn, TransportSettings,
};
use cinder::runtime::wire::frame::encode;
use cinder::runtime::wire::{BlockId, PeerRole, StorageLevel, WorkerRequest, MAX_FRAME_BYTES};
use common::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Resident memory of a process in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

const MIB: u64 = 1024 * 1024;

#[test]
fn eight_thousand_unfinished_handshakes_cost_little_and_the_master_keeps_answering() {
    let cx = local_context("handshake-flood", 1);
    let cluster = cx.local_cluster().unwrap();
    let master_pid = cluster.master_pid().unwrap();
    let master = cx.master_addr();
    let creds = Credentials::load(cluster.cluster_dir()).unwrap();
    let before = rss_bytes(master_pid);

    // A real client's Initial packets are captured by a silent "server" socket and replayed to
    // the master from a socket that never answers: each is a handshake opened and abandoned.
    let recorder = UdpSocket::bind("127.0.0.1:0").unwrap();
    recorder
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let recorder_addr = recorder.local_addr().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rt = runtime();
    let mut sent = 0;
    let mut buf = vec![0u8; 2048];
    for round in 0..16 {
        let endpoint = rt
            .block_on(async {
                client_endpoint(recorder_addr, &creds, &TransportSettings::default())
            })
            .unwrap();
        for _ in 0..500 {
            let connecting = rt.block_on(async { endpoint.connect(recorder_addr, SERVER_NAME) });
            let _pending = rt.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_millis(100), connecting.unwrap()).await;
            });
            let (n, _) = recorder.recv_from(&mut buf).expect("client Initial");
            sender.send_to(&buf[..n], master).unwrap();
            sent += 1;
        }
        rt.block_on(async { endpoint.close(0u32.into(), b"done") });
        assert!(round < 16);
    }
    assert_eq!(sent, 8000);
    // The master answers at once, and its memory grew little.
    let started = Instant::now();
    let status = cx.status().expect("master answers during the flood");
    assert_eq!(status.workers.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    let grown = rss_bytes(master_pid).saturating_sub(before);
    eprintln!(
        "master RSS grew by {:.1} MiB after {sent} unfinished handshakes",
        grown as f64 / MIB as f64
    );
    assert!(grown < 150 * MIB, "grew by {} MiB", grown / MIB);
    let log = read(&cluster.log_dir().join("master.log"));
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    assert!(
        warnings < 100,
        "{warnings} warning lines: refusals are rate-limited"
    );
}

#[test]
fn authenticated_peers_announcing_huge_frames_on_every_stream_stay_bounded() {
    let cx = local_context("frame-flood", 1);
    let cluster = cx.local_cluster().unwrap();
    let master_pid = cluster.master_pid().unwrap();
    let master = cx.master_addr();
    let creds = Credentials::load(cluster.cluster_dir()).unwrap();
    let status = cx.status().unwrap();
    let limits = status.limits.clone().expect("status reports limits");
    assert_eq!(limits.max_streams_per_connection, 256);
    assert_eq!(limits.max_frame_bytes, MAX_FRAME_BYTES as u64);
    let before = rss_bytes(master_pid);

    let rt = runtime();
    let peak = rt.block_on(async {
        let mut conns = Vec::new();
        let mut writers = Vec::new();
        for i in 0..3 {
            let endpoint = client_endpoint(master, &creds, &TransportSettings::default()).unwrap();
            let name = format!("flood-{i}");
            let conn = PeerConn::connect(&endpoint, master, PeerRole::Client, &name)
                .await
                .unwrap();
            for _ in 0..256 {
                let Ok(Ok((mut send, recv))) =
                    tokio::time::timeout(Duration::from_secs(2), conn.open()).await
                else {
                    break;
                };
                writers.push(tokio::spawn(async move {
                    let _recv = recv;
                    let mut data = (MAX_FRAME_BYTES as u32).to_be_bytes().to_vec();
                    data.extend(std::iter::repeat_n(0x90u8, 1 << 20));
                    let _ =
                        tokio::time::timeout(Duration::from_secs(8), send.write_all(&data)).await;
                    // Hold the stream open without finishing the frame.
                    tokio::time::sleep(Duration::from_secs(8)).await;
                }));
            }
            conns.push((endpoint, conn));
        }
        let mut peak = 0;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            peak = peak.max(rss_bytes(master_pid));
        }
        for w in writers {
            w.abort();
        }
        for (endpoint, conn) in conns {
            conn.close("done");
            endpoint.close(0u32.into(), b"done");
        }
        peak
    });
    let grown = peak.saturating_sub(before);
    eprintln!(
        "master RSS grew by {:.1} MiB under 3 connections x 256 streams announcing 16 MiB frames",
        grown as f64 / MIB as f64
    );
    assert!(grown < 512 * MIB, "grew by {} MiB", grown / MIB);
    let status = cx.status().expect("master still answers");
    assert_eq!(status.workers.len(), 1);
}

#[test]
fn a_stalled_put_block_is_dropped_within_its_deadline() {
    let cx = local_context("stalled-put", 1);
    let cluster = cx.local_cluster().unwrap();
    let creds = Credentials::load(cluster.cluster_dir()).unwrap();
    let status = cx.status().unwrap();
    let limits = status.limits.clone().expect("limits");
    let worker = &status.workers[0];
    let worker_addr: SocketAddr = worker.address.parse().unwrap();
    let worker_pid = worker.pid;
    let before = rss_bytes(worker_pid);

    let rt = runtime();
    let (dropped_after, grown) = rt.block_on(async {
        let endpoint = client_endpoint(worker_addr, &creds, &TransportSettings::default()).unwrap();
        let conn = PeerConn::connect(&endpoint, worker_addr, PeerRole::Client, "stall")
            .await
            .unwrap();
        let (mut send, mut recv) = conn.open().await.unwrap();
        let header = encode(&WorkerRequest::PutBlock {
            block_id: BlockId::new("stalled"),
            len: 1 << 30,
            level: StorageLevel::MemoryOnly,
        })
        .unwrap();
        let mut data = (header.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(&header);
        data.extend(std::iter::repeat_n(7u8, 100_000));
        send.write_all(&data).await.unwrap();
        let started = Instant::now();
        let grown = rss_bytes(worker_pid).saturating_sub(before);
        let ended = tokio::time::timeout(Duration::from_secs(30), recv.read_to_end(1 << 20)).await;
        assert!(ended.is_ok(), "the worker drops the stalled upload");
        (started.elapsed(), grown)
    });
    eprintln!(
        "stalled PutBlock dropped after {} ms (stall deadline {} ms); worker RSS grew {} KiB",
        dropped_after.as_millis(),
        limits.body_stall_timeout_ms,
        grown / 1024
    );
    let deadline = Duration::from_millis(limits.body_stall_timeout_ms);
    assert!(dropped_after <= deadline + Duration::from_secs(5));
    assert!(grown < 64 * MIB, "a 1 GiB announcement reserved nothing");
    assert!(
        cx.ping_worker(&worker.id).is_ok(),
        "the worker keeps serving"
    );
    let log = read(&cluster.log_dir().join(format!("{}.log", worker.id)));
    assert!(log.contains("body stalled"), "{log}");
}
