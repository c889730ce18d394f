//! Where `cinder top` and `cinder status --watch` get the cluster state: one connection to the
//! master, opened on demand and opened again after any failure, every request bounded in time.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cinder_actors::master::MasterClient;
use cinder_actors::transport::endpoint::{client_endpoint, resolve};
use cinder_actors::transport::{Credentials, TransportSettings};
use cinder_actors::wire::{ClusterStatus, PeerRole};

/// Longest wait for one connection (with its hello) plus one status request.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// A reconnecting status client of one master.
pub struct StatusSource {
    runtime: tokio::runtime::Runtime,
    creds: Credentials,
    master: String,
    name: &'static str,
    conn: Option<(quinn::Endpoint, MasterClient)>,
}

impl StatusSource {
    /// A client of `master` with the credentials in `cluster_dir`, announcing itself as
    /// `name`. Fails at once when the credentials cannot be read (retrying would not help);
    /// the master itself is only contacted by [`StatusSource::fetch`].
    pub fn new(cluster_dir: &Path, master: &str, name: &'static str) -> anyhow::Result<Self> {
        let creds = Credentials::load(cluster_dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the client runtime")?;
        Ok(Self {
            runtime,
            creds,
            master: master.to_string(),
            name,
            conn: None,
        })
    }

    /// The master's address as given.
    pub fn master(&self) -> &str {
        &self.master
    }

    /// The cluster state, connecting first when there is no connection. Bounded by
    /// `timeout`; after a failure the connection is dropped and the next call opens a new one.
    pub fn fetch(&mut self, timeout: Duration) -> anyhow::Result<ClusterStatus> {
        let conn = self.conn.take();
        let (creds, master, name) = (&self.creds, self.master.as_str(), self.name);
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                let (endpoint, client) = match conn {
                    Some(conn) => conn,
                    None => {
                        let addr = resolve(master).await?;
                        let endpoint = client_endpoint(addr, creds, &TransportSettings::default())?;
                        let client =
                            MasterClient::connect_addr(&endpoint, addr, PeerRole::Client, name)
                                .await?;
                        (endpoint, client)
                    }
                };
                let status = client.status().await?;
                Ok::<_, anyhow::Error>((status, (endpoint, client)))
            })
            .await
        });
        match result {
            Ok(Ok((status, conn))) => {
                self.conn = Some(conn);
                Ok(status)
            }
            Ok(Err(e)) => Err(e.context(format!("master {master} unreachable"))),
            Err(_) => Err(anyhow::anyhow!(
                "master {master} unreachable: no answer within {} s",
                timeout.as_secs()
            )),
        }
    }

    /// Closes the connection politely (bounded to 300 ms).
    pub fn close(mut self) {
        if let Some((endpoint, _client)) = self.conn.take() {
            endpoint.close(0u32.into(), b"done");
            self.runtime.block_on(async {
                let _ =
                    tokio::time::timeout(Duration::from_millis(300), endpoint.wait_idle()).await;
            });
        }
    }
}

/// What the background poller reports.
#[derive(Debug)]
pub enum Update {
    /// A fresh cluster state.
    Status(Box<ClusterStatus>),
    /// This fetch failed; the poller tries again at the next period.
    Failed(String),
}

/// A thread fetching the status every `period` (a failed fetch is retried at the next period)
/// until its handle is dropped.
pub struct Poller {
    stop: Arc<AtomicBool>,
    updates: Receiver<Update>,
}

impl Poller {
    /// Starts polling with `source`.
    pub fn start(mut source: StatusSource, period: Duration) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, updates) = std::sync::mpsc::sync_channel(4);
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("cinder-top-poller".into())
            .spawn(move || poll_loop(&mut source, period, &flag, &tx))
            .context("starting the status poller thread")?;
        Ok(Self { stop, updates })
    }

    /// Updates that arrived since the last call (never blocks).
    pub fn drain(&self) -> Vec<Update> {
        self.updates.try_iter().collect()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn poll_loop(
    source: &mut StatusSource,
    period: Duration,
    stop: &AtomicBool,
    tx: &SyncSender<Update>,
) {
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let update = match source.fetch(FETCH_TIMEOUT) {
            Ok(status) => Update::Status(Box::new(status)),
            Err(e) => Update::Failed(format!("{e:#}")),
        };
        match tx.try_send(update) {
            // A full queue means the screen is behind: this update is dropped, the next wins.
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return,
        }
        // Sleep in short steps so a stop request is seen quickly.
        while started.elapsed() < period && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(period));
        }
    }
}
