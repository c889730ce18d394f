//! Network faults without root: a UDP proxy on 127.0.0.1 per link direction that the harness
//! controls (drop, delay, duplicate, reorder datagrams; block everything for a partition), and
//! a cluster whose workers reach the master, and are reached, only through such proxies.

use std::collections::HashMap;
use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cinder::daemon::{DAEMON_MARKER, PARENT_PID_ENV};
use cinder::runtime::transport::credentials::Credentials;

use crate::cluster::Cluster;
use crate::rng::Rng;

/// What a proxy does to each datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkFaults {
    /// Probability a datagram is dropped.
    pub drop: f64,
    /// Probability a datagram is sent twice.
    pub duplicate: f64,
    /// Probability a datagram is held back 5-30 ms (so later ones overtake it).
    pub reorder: f64,
    /// Every datagram is delayed uniformly within this range (ms).
    pub delay_ms: (u64, u64),
}

impl LinkFaults {
    /// The lossy link of the `net-lossy` scenario.
    pub fn lossy() -> Self {
        Self {
            drop: 0.02,
            duplicate: 0.02,
            reorder: 0.05,
            delay_ms: (0, 10),
        }
    }
}

/// Datagram counters of one proxy.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Datagrams received.
    pub seen: AtomicU64,
    /// Dropped (by chance or by a partition).
    pub dropped: AtomicU64,
    /// Sent twice.
    pub duplicated: AtomicU64,
    /// Held back to be reordered.
    pub reordered: AtomicU64,
}

struct Delayed {
    due: Instant,
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

struct Shared {
    stop: AtomicBool,
    blocked: AtomicBool,
    faults: LinkFaults,
    rng: Mutex<Rng>,
    stats: ProxyStats,
    delayed: Mutex<Vec<Delayed>>,
    wake: Condvar,
}

impl Shared {
    fn deliver(&self, socket: &Arc<UdpSocket>, to: SocketAddr, data: &[u8]) {
        self.stats.seen.fetch_add(1, Ordering::Relaxed);
        if self.blocked.load(Ordering::Relaxed) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let f = self.faults;
        let mut sends = Vec::with_capacity(2);
        {
            let mut rng = self.rng.lock().expect("rng lock");
            if rng.chance(f.drop) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let copies = if rng.chance(f.duplicate) {
                self.stats.duplicated.fetch_add(1, Ordering::Relaxed);
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut delay = rng.between(f.delay_ms.0, f.delay_ms.1);
                if rng.chance(f.reorder) {
                    self.stats.reordered.fetch_add(1, Ordering::Relaxed);
                    delay += rng.between(5, 30);
                }
                sends.push(delay);
            }
        }
        for delay in sends {
            if delay == 0 {
                let _ = socket.send_to(data, to);
            } else {
                self.delayed.lock().expect("delay lock").push(Delayed {
                    due: Instant::now() + Duration::from_millis(delay),
                    socket: socket.clone(),
                    to,
                    data: data.to_vec(),
                });
                self.wake.notify_one();
            }
        }
    }
}

/// A UDP proxy: datagrams to [`FaultProxy::addr`] go to the target, replies come back, both
/// ways through the faults. Its threads stop when it is dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(50);

impl FaultProxy {
    /// A proxy on a fresh 127.0.0.1 port forwarding to `target`.
    pub fn start(target: SocketAddr, faults: LinkFaults, seed: u64) -> Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").context("binding a proxy port")?);
        front.set_read_timeout(Some(POLL))?;
        let addr = front.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            faults,
            rng: Mutex::new(Rng::new(seed)),
            stats: ProxyStats::default(),
            delayed: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        });
        let delayer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("proxy-delay".into())
                .spawn(move || run_delayer(&shared))?
        };
        let forwarder = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("proxy-front".into())
                .spawn(move || run_front(&shared, &front, target))?
        };
        Ok(Self {
            addr,
            shared,
            threads: vec![delayer, forwarder],
        })
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every datagram while `blocked`.
    pub fn set_blocked(&self, blocked: bool) {
        self.shared.blocked.store(blocked, Ordering::SeqCst);
    }

    /// The counters.
    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run_delayer(shared: &Shared) {
    let mut queue = shared.delayed.lock().expect("delay lock");
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let mut i = 0;
        while i < queue.len() {
            if queue[i].due <= now {
                let d = queue.swap_remove(i);
                let _ = d.socket.send_to(&d.data, d.to);
            } else {
                i += 1;
            }
        }
        let wait = queue
            .iter()
            .map(|d| d.due.saturating_duration_since(now))
            .min()
            .unwrap_or(POLL)
            .clamp(Duration::from_millis(1), POLL);
        queue = shared.wake.wait_timeout(queue, wait).expect("delay lock").0;
    }
}

fn run_front(shared: &Arc<Shared>, front: &Arc<UdpSocket>, target: SocketAddr) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut backs: Vec<JoinHandle<()>> = Vec::new();
    let mut buf = vec![0u8; 65536];
    while !shared.stop.load(Ordering::SeqCst) {
        let (n, client) = match front.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => continue,
        };
        let upstream = match upstreams.get(&client) {
            Some(u) => u.clone(),
            None => {
                let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
                    continue;
                };
                let _ = socket.set_read_timeout(Some(POLL));
                let socket = Arc::new(socket);
                upstreams.insert(client, socket.clone());
                let (shared, front, up) = (shared.clone(), front.clone(), socket.clone());
                if let Ok(t) = std::thread::Builder::new()
                    .name("proxy-back".into())
                    .spawn(move || run_back(&shared, &front, &up, client))
                {
                    backs.push(t);
                }
                socket
            }
        };
        shared.deliver(&upstream, target, &buf[..n]);
    }
    for t in backs {
        let _ = t.join();
    }
}

fn run_back(shared: &Shared, front: &Arc<UdpSocket>, upstream: &UdpSocket, client: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    while !shared.stop.load(Ordering::SeqCst) {
        if let Ok((n, _)) = upstream.recv_from(&mut buf) {
            shared.deliver(front, client, &buf[..n]);
        }
    }
}

/// One worker of a [`ProxyCluster`] with its two proxies.
struct ProxiedWorker {
    id: String,
    work_dir: PathBuf,
    log: PathBuf,
    listen: SocketAddr,
    to_master: FaultProxy,
    inbound: FaultProxy,
    child: Option<Child>,
}

/// A master and workers started by the harness itself, every worker link through a
/// [`FaultProxy`]: the worker's `--master` is a proxy to the master, its `--advertise` a proxy
/// to its fixed `--listen` port. Every child is killed and reaped on drop.
pub struct ProxyCluster {
    exe: PathBuf,
    root: PathBuf,
    cluster_dir: PathBuf,
    memory_bytes: u64,
    master_addr: SocketAddr,
    master: Option<Child>,
    workers: Vec<ProxiedWorker>,
}

impl ProxyCluster {
    /// Starts a master and `workers` workers under `root`, links faulted by `faults`.
    pub fn start(
        exe: &Path,
        root: &Path,
        workers: usize,
        memory_bytes: u64,
        faults: LinkFaults,
        seed: u64,
    ) -> Result<Self> {
        for sub in ["logs", "work"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        let cluster_dir = root.join("cluster");
        Credentials::init(&cluster_dir).context("cluster credentials")?;
        let mut cluster = Self {
            exe: exe.to_path_buf(),
            root: root.to_path_buf(),
            cluster_dir,
            memory_bytes,
            master_addr: "127.0.0.1:0".parse()?,
            master: None,
            workers: Vec::new(),
        };
        let addr_file = root.join("master.addr");
        let mut cmd = cluster.command("master", &root.join("logs/master.log"))?;
        cmd.args(["--listen", "127.0.0.1:0", "--work-dir"])
            .arg(root.join("work/master"))
            .args([
                "--heartbeat-interval-ms",
                &crate::harness::HEARTBEAT_INTERVAL_MS.to_string(),
            ])
            .args([
                "--heartbeat-timeout-ms",
                &crate::harness::HEARTBEAT_TIMEOUT_MS.to_string(),
            ])
            .arg("--addr-file")
            .arg(&addr_file);
        cluster.master = Some(cmd.spawn().context("spawning the master")?);
        let addr = wait_for_file(&addr_file, cluster.master.as_mut().expect("just set"))?;
        cluster.master_addr = addr
            .parse()
            .with_context(|| format!("master address {addr}"))?;
        for i in 0..workers {
            let id = format!("worker-{}", i + 1);
            let listen = {
                let probe = UdpSocket::bind("127.0.0.1:0")?;
                probe.local_addr()?
            };
            let s = seed.wrapping_mul(1000).wrapping_add(i as u64 * 2);
            let to_master = FaultProxy::start(cluster.master_addr, faults, s)?;
            let inbound = FaultProxy::start(listen, faults, s + 1)?;
            cluster.workers.push(ProxiedWorker {
                work_dir: root.join("work").join(&id),
                log: root.join("logs").join(format!("{id}.log")),
                id,
                listen,
                to_master,
                inbound,
                child: None,
            });
            cluster.spawn_worker(i)?;
        }
        Ok(cluster)
    }

    fn command(&self, kind: &str, log: &Path) -> Result<Command> {
        let log = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg(DAEMON_MARKER)
            .arg(kind)
            .args(["--log-level", "info", "--cluster"])
            .arg(&self.cluster_dir)
            .env(PARENT_PID_ENV, std::process::id().to_string())
            .env("CINDER_FAULT_INJECTION", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        Ok(cmd)
    }

    fn spawn_worker(&mut self, i: usize) -> Result<()> {
        let w = &self.workers[i];
        let addr_file = w.work_dir.with_extension("addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = self.command("worker", &w.log)?;
        cmd.arg("--master")
            .arg(w.to_master.addr().to_string())
            .args(["--id", &w.id, "--work-dir"])
            .arg(&w.work_dir)
            .args(["--cores", "2", "--memory", &self.memory_bytes.to_string()])
            .args(["--listen", &w.listen.to_string()])
            .args(["--advertise", &w.inbound.addr().to_string()])
            .arg("--addr-file")
            .arg(&addr_file);
        let mut child = cmd.spawn().with_context(|| format!("spawning {}", w.id))?;
        let waited = wait_for_file(&addr_file, &mut child);
        self.workers[i].child = Some(child);
        waited.map(|_| ())
    }

    /// Datagrams seen and dropped / duplicated / reordered over every proxy.
    pub fn totals(&self) -> [u64; 4] {
        let mut t = [0; 4];
        for w in &self.workers {
            for p in [&w.to_master, &w.inbound] {
                let s = p.stats();
                t[0] += s.seen.load(Ordering::Relaxed);
                t[1] += s.dropped.load(Ordering::Relaxed);
                t[2] += s.duplicated.load(Ordering::Relaxed);
                t[3] += s.reordered.load(Ordering::Relaxed);
            }
        }
        t
    }
}

fn wait_for_file(path: &Path, child: &mut Child) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return Ok(s.trim().to_string());
            }
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("daemon exited during startup ({status}); see its log");
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_child(slot: &mut Option<Child>) {
    if let Some(mut c) = slot.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Cluster for ProxyCluster {
    fn master_addr(&self) -> String {
        self.master_addr.to_string()
    }
    fn cluster_dir(&self) -> PathBuf {
        self.cluster_dir.clone()
    }
    fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    fn worker_ids(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.id.clone()).collect()
    }
    fn worker_pid(&self, index: usize) -> Option<u32> {
        self.workers.get(index)?.child.as_ref().map(Child::id)
    }
    fn pids(&self) -> Vec<u32> {
        self.master
            .iter()
            .chain(self.workers.iter().filter_map(|w| w.child.as_ref()))
            .map(Child::id)
            .collect()
    }
    fn kill_worker(&mut self, index: usize) -> Result<()> {
        kill_child(&mut self.workers.get_mut(index).context("no such worker")?.child);
        Ok(())
    }
    fn restart_worker(&mut self, index: usize) -> Result<()> {
        self.kill_worker(index)?;
        self.spawn_worker(index)
    }
    fn partition_worker(&mut self, index: usize, blocked: bool) -> Result<()> {
        let w = self.workers.get(index).context("no such worker")?;
        w.to_master.set_blocked(blocked);
        w.inbound.set_blocked(blocked);
        Ok(())
    }
    fn datagram_faults(&self) -> u64 {
        let [_, dropped, duplicated, reordered] = self.totals();
        dropped + duplicated + reordered
    }
    fn stop(&mut self) {
        for w in &mut self.workers {
            if let Some(c) = &w.child {
                let _ = crate::cluster::signal(c.id(), libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for w in &mut self.workers {
            while let Some(c) = w.child.as_mut() {
                if matches!(c.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            kill_child(&mut w.child);
        }
        kill_child(&mut self.master);
    }
}

impl Drop for ProxyCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_forwards_both_ways_and_a_partition_blocks() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let proxy =
            FaultProxy::start(server.local_addr().unwrap(), LinkFaults::default(), 1).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        client.send_to(b"ping", proxy.addr()).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        server.send_to(b"pong", from).unwrap();
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");

        proxy.set_blocked(true);
        client.send_to(b"lost", proxy.addr()).unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(
            server.recv_from(&mut buf).is_err(),
            "blocked while partitioned"
        );
        assert_eq!(proxy.stats().dropped.load(Ordering::Relaxed), 1);
    }
}
