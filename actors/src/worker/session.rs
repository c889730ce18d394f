//! The worker's session with the master: connect with backoff, register, heartbeat, and start
//! over whenever the connection breaks or the master asks for a re-registration.

use std::time::Duration;

use actix::Addr;
use tracing::{info, warn};

use super::actor::{Worker, WorkerMsg};
use crate::block_manager::{BlockManagerHandle, MasterLink};
use crate::master::MasterClient;
use crate::transport::TransportError;
use crate::wire::{MasterRequest, MasterResponse, PeerRole};

/// First retry delay after a failed connect; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest delay between connect attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a session loop ended for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// A newer incarnation of this worker id registered; this process must stop.
    Superseded {
        /// The live incarnation.
        current_incarnation: u64,
    },
}

/// What the session loop needs.
pub struct Session {
    /// Master address as given (`host:port`).
    pub master: String,
    /// QUIC endpoint to connect through.
    pub endpoint: quinn::Endpoint,
    /// Registration fields.
    pub worker_id: String,
    /// Advertised address.
    pub address: String,
    /// Cores offered.
    pub cores: u32,
    /// Memory budget.
    pub memory_budget_bytes: u64,
    /// The worker actor to keep informed.
    pub worker: Addr<Worker>,
    /// Block manager (for the block list and stats).
    pub block_manager: BlockManagerHandle,
    /// Shared registration state.
    pub link: MasterLink,
}

impl Session {
    /// Runs until superseded; survives any number of master outages.
    ///
    /// A session that ends before the master acknowledged a single heartbeat (the
    /// registration was refused or answered with something unexpected, or the master asked
    /// for a re-registration at once) is followed by a pause that doubles from
    /// [`MIN_BACKOFF`] to [`MAX_BACKOFF`], whether the connection stays open or not: a master
    /// that keeps refusing is retried a few times a second at most, never in a tight loop.
    /// The pause starts over after a healthy session.
    pub async fn run(self) -> SessionEnd {
        let mut client: Option<MasterClient> = None;
        let mut delay = MIN_BACKOFF;
        loop {
            let master = match client.take().filter(|c| !c.conn().is_closed()) {
                Some(c) => c,
                None => self.connect_with_backoff().await,
            };
            let mut healthy = false;
            let outcome = self.registered_session(&master, &mut healthy).await;
            self.link.set(None);
            let reason = match outcome {
                Ok(Some(end)) => return end,
                Ok(None) => "master asked for a re-registration".to_string(),
                Err(e) => e.to_string(),
            };
            self.worker.do_send(WorkerMsg::SessionDown {
                reason: reason.clone(),
            });
            if healthy {
                delay = MIN_BACKOFF;
                warn!(worker = %self.worker_id, "session with master interrupted: {reason}");
            } else {
                warn!(
                    worker = %self.worker_id,
                    "registration with master failed: {reason}; retrying in {} ms",
                    delay.as_millis()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            client = Some(master);
        }
    }

    async fn connect_with_backoff(&self) -> MasterClient {
        let mut delay = MIN_BACKOFF;
        let mut attempt: u64 = 1;
        loop {
            match MasterClient::connect(
                &self.endpoint,
                &self.master,
                PeerRole::Worker,
                &self.worker_id,
            )
            .await
            {
                Ok(client) => {
                    info!(master = %self.master, attempt, "connected to master");
                    return client;
                }
                Err(e) => {
                    warn!(
                        master = %self.master,
                        attempt,
                        "master unreachable: {e}; retrying in {} ms",
                        delay.as_millis()
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }

    /// Registers, then heartbeats until something goes wrong. `Ok(None)`: re-register.
    /// `healthy` is set once the master acknowledged a heartbeat.
    async fn registered_session(
        &self,
        master: &MasterClient,
        healthy: &mut bool,
    ) -> Result<Option<SessionEnd>, TransportError> {
        let blocks = self.block_manager.list().await.unwrap_or_default();
        let request = MasterRequest::RegisterWorker {
            worker_id: self.worker_id.clone(),
            address: self.address.clone(),
            cores: self.cores,
            memory_budget_bytes: self.memory_budget_bytes,
            pid: std::process::id(),
            blocks,
            watcher_pid: watcher_pid(),
        };
        let (incarnation, interval) = match master.call(&request).await? {
            MasterResponse::Registered {
                incarnation,
                heartbeat_interval_ms,
            } => (
                incarnation,
                Duration::from_millis(heartbeat_interval_ms.max(10)),
            ),
            other => {
                return Err(TransportError::Unexpected {
                    addr: master.conn().addr(),
                    answer: format!("{other:?}"),
                })
            }
        };
        self.link.set(Some((master.clone(), incarnation)));
        self.worker.do_send(WorkerMsg::SessionUp { incarnation });
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let stats = self.block_manager.stats();
            let beat = MasterRequest::Heartbeat {
                worker_id: self.worker_id.clone(),
                incarnation,
                stats,
            };
            match master.call(&beat).await? {
                MasterResponse::Ack => *healthy = true,
                MasterResponse::ReRegister { reason } => {
                    warn!(worker = %self.worker_id, "master asks to register again: {reason}");
                    return Ok(None);
                }
                MasterResponse::Superseded {
                    current_incarnation,
                } => {
                    return Ok(Some(SessionEnd::Superseded {
                        current_incarnation,
                    }))
                }
                other => {
                    return Err(TransportError::Unexpected {
                        addr: master.conn().addr(),
                        answer: format!("{other:?}"),
                    })
                }
            }
        }
    }
}

static WATCHER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Records the pid of this worker process's watcher, sent with every registration.
pub fn set_watcher_pid(pid: u32) {
    WATCHER_PID.store(pid, std::sync::atomic::Ordering::Relaxed);
}

fn watcher_pid() -> Option<u32> {
    match WATCHER_PID.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        pid => Some(pid),
    }
}
