//! Transport benchmark: small-request round trip and a 64 MiB block moved between two worker
//! processes over loopback QUIC, each beside a plain tokio TCP baseline in the same run; and
//! the fixed cost of a job (driver -> master -> workers -> master -> driver) on a cached
//! one-row-per-partition dataset, beside one QUIC request round trip.
//!
//! Run: `cargo bench --bench transport`. Prints a table with the ratios.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cinder::runtime::transport::endpoint::client_endpoint;
use cinder::runtime::transport::{Credentials, PeerConn, TransportSettings};
use cinder::runtime::wire::{read_frame, write_frame, PeerRole, WorkerRequest, WorkerResponse};
use cinder::{Context, LocalCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PINGS: usize = 2_000;
const JOBS: usize = 500;
const BLOCK_BYTES: usize = 64 << 20;
const BLOCK_ROUNDS: usize = 5;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let cx = Context::local_with(
        LocalCluster::builder()
            .workers(2)
            .memory_bytes(512 << 20)
            .executable(env!("CARGO_BIN_EXE_cinder"))
            .log_level("warn"),
    )
    .expect("embedded cluster");
    let status = cx.status().unwrap();
    let worker1: SocketAddr = status.workers[0].address.parse().unwrap();
    let creds = Credentials::load(cx.local_cluster().unwrap().cluster_dir()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let quic_rtt = rt.block_on(quic_round_trip(worker1, &creds));
    let tcp_rtt = rt.block_on(tcp_round_trip());
    let quic_mbps = block_move(&cx);
    let jobs: Vec<(u32, Duration)> = [1, 4]
        .into_iter()
        .map(|p| (p, job_round_trip(&cx, p)))
        .collect();
    let tcp_mbps = rt.block_on(tcp_block_move());

    println!();
    println!(
        "{:<34} {:>16} {:>16} {:>12}",
        "benchmark", "cinder (QUIC)", "baseline (TCP)", "ratio"
    );
    println!(
        "{:<34} {:>13.1} us {:>13.1} us {:>11.2}x",
        format!("small request round trip (n={PINGS})"),
        micros(quic_rtt),
        micros(tcp_rtt),
        micros(quic_rtt) / micros(tcp_rtt)
    );
    println!(
        "{:<34} {:>11.0} MB/s {:>11.0} MB/s {:>11.2}x",
        "64 MiB block, worker to worker",
        quic_mbps,
        tcp_mbps,
        quic_mbps / tcp_mbps
    );
    for (partitions, rtt) in &jobs {
        println!(
            "{:<34} {:>13.1} us {:>13.1} us {:>11.2}x",
            format!("empty job, {partitions} task(s) (n={JOBS})"),
            micros(*rtt),
            micros(quic_rtt),
            micros(*rtt) / micros(quic_rtt)
        );
    }
    println!("(round trip: ratio = QUIC time / TCP time, lower is better; throughput: ratio = QUIC / TCP, higher is better; jobs: ratio = job / one QUIC request)");
}

/// Median time of a `count` job over a cached dataset of `partitions` one-row partitions: the
/// fixed cost of submitting, scheduling, launching and combining.
fn job_round_trip(cx: &Context, partitions: u32) -> Duration {
    let args = cinder::builtin::RangeArgs {
        rows_per_partition: 1,
        columns: 1,
        seed: 1,
    };
    let ds = cx
        .generate("cinder.range", &args, partitions)
        .unwrap()
        .cache();
    ds.materialize().unwrap();
    let mut samples = Vec::with_capacity(JOBS);
    for _ in 0..JOBS {
        let start = Instant::now();
        assert_eq!(ds.count().unwrap(), u64::from(partitions));
        samples.push(start.elapsed());
    }
    ds.unpersist().unwrap();
    median(samples)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median round trip of a Ping to a worker process over an established mTLS QUIC connection.
async fn quic_round_trip(worker: SocketAddr, creds: &Credentials) -> Duration {
    let endpoint = client_endpoint(worker, creds, &TransportSettings::default()).unwrap();
    let conn = PeerConn::connect(&endpoint, worker, PeerRole::Client, "bench")
        .await
        .unwrap();
    let mut samples = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let start = Instant::now();
        let reply: WorkerResponse = conn.request(&WorkerRequest::Ping).await.unwrap();
        samples.push(start.elapsed());
        assert!(matches!(reply, WorkerResponse::Pong { .. }));
    }
    median(samples)
}

/// The same framed request/response over a plain loopback TCP connection (one per request
/// stream would be unfair to TCP, so one connection carries them all).
async fn tcp_round_trip() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        loop {
            let Ok(_req): Result<WorkerRequest, _> = read_frame(&mut sock, 1 << 20).await else {
                return;
            };
            let pong = WorkerResponse::Pong {
                worker_id: "worker-1".into(),
            };
            if write_frame(&mut sock, &pong).await.is_err() {
                return;
            }
        }
    });
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    let mut samples = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let start = Instant::now();
        write_frame(&mut sock, &WorkerRequest::Ping).await.unwrap();
        let _: WorkerResponse = read_frame(&mut sock, 1 << 20).await.unwrap();
        samples.push(start.elapsed());
    }
    median(samples)
}

/// MB/s of worker-2 copying a 64 MiB block from worker-1 (master lookup, QUIC stream, store).
fn block_move(cx: &Context) -> f64 {
    let id = cx.block_id("bench/64mib");
    let data: Bytes = (0..BLOCK_BYTES).map(|i| i as u8).collect::<Vec<_>>().into();
    cx.put_block("worker-1", &id, data).unwrap();
    let mut samples = Vec::new();
    for _ in 0..BLOCK_ROUNDS {
        cx.remove_block("worker-2", &id).unwrap();
        let start = Instant::now();
        let outcome = cx.fetch_block("worker-2", &id).unwrap().unwrap();
        samples.push(start.elapsed());
        assert_eq!(outcome.source, "worker-1");
    }
    BLOCK_BYTES as f64 / median(samples).as_secs_f64() / 1e6
}

/// MB/s of 64 MiB sent over loopback TCP into a buffer, as a header frame plus raw body.
async fn tcp_block_move() -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let data: Bytes = (0..BLOCK_BYTES).map(|i| i as u8).collect::<Vec<_>>().into();
    let sender = tokio::spawn(async move {
        for _ in 0..BLOCK_ROUNDS {
            let (mut sock, _) = listener.accept().await.unwrap();
            write_frame(
                &mut sock,
                &WorkerResponse::Block {
                    len: data.len() as u64,
                },
            )
            .await
            .unwrap();
            sock.write_all(&data).await.unwrap();
        }
    });
    let mut samples = Vec::new();
    for _ in 0..BLOCK_ROUNDS {
        let start = Instant::now();
        let mut sock = TcpStream::connect(addr).await.unwrap();
        let header: WorkerResponse = read_frame(&mut sock, 1 << 20).await.unwrap();
        let WorkerResponse::Block { len } = header else {
            panic!("header")
        };
        let mut buf = vec![0u8; len as usize];
        sock.read_exact(&mut buf).await.unwrap();
        samples.push(start.elapsed());
    }
    sender.await.unwrap();
    BLOCK_BYTES as f64 / median(samples).as_secs_f64() / 1e6
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
