//! [`BlockManagerHandle`]: the one way into a block manager. It talks to the local actor, keeps
//! the master's block location table up to date, and copies blocks from peers.

use std::sync::{Arc, RwLock};

use actix::{Actor, Addr};
use bytes::Bytes;
use tracing::{debug, warn};

use super::actor::{BlockManager, BlockManagerMsg, BlockManagerReply};
use super::disk::DiskError;
use super::store::{BlockError, StoreCounters};
use crate::master::MasterClient;
use crate::transport::{endpoint::resolve, PeerPool};
use crate::wire::{
    BlockId, BlockStats, MasterRequest, MasterResponse, StorageLevel, WorkerRequest, WorkerResponse,
};

/// The worker's current registration with the master, shared with the session loop.
#[derive(Debug, Clone, Default)]
pub struct MasterLink {
    inner: Arc<RwLock<Option<(MasterClient, u64)>>>,
}

impl MasterLink {
    /// Records a registration (client and incarnation), or `None` while disconnected.
    pub fn set(&self, session: Option<(MasterClient, u64)>) {
        *self.inner.write().expect("master link lock") = session;
    }

    /// The current registration.
    pub fn get(&self) -> Option<(MasterClient, u64)> {
        self.inner.read().expect("master link lock").clone()
    }
}

/// Result of [`BlockManagerHandle::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Block size.
    pub len: u64,
    /// `local`, or the id of the worker it was copied from.
    pub source: String,
}

/// Handle to one worker's block manager. Cheap to clone.
#[derive(Clone)]
pub struct BlockManagerHandle {
    actor: Addr<BlockManager>,
    counters: Arc<StoreCounters>,
    worker_id: String,
    link: MasterLink,
    peers: PeerPool,
}

impl BlockManagerHandle {
    /// The master this worker is registered with, while it is.
    pub fn master(&self) -> Option<MasterClient> {
        self.link.get().map(|(client, _)| client)
    }

    /// Starts `manager` on the current arbiter and returns a handle over it, reporting to the
    /// master through `link` and reaching peers through `peers`.
    pub fn start(
        manager: BlockManager,
        worker_id: String,
        link: MasterLink,
        peers: PeerPool,
    ) -> Self {
        let counters = manager.counters();
        Self::new(manager.start(), counters, worker_id, link, peers)
    }

    /// A handle over a started `actor` whose store publishes `counters`.
    pub fn new(
        actor: Addr<BlockManager>,
        counters: Arc<StoreCounters>,
        worker_id: String,
        link: MasterLink,
        peers: PeerPool,
    ) -> Self {
        Self {
            actor,
            counters,
            worker_id,
            link,
            peers,
        }
    }

    async fn ask(&self, msg: BlockManagerMsg) -> Result<BlockManagerReply, BlockError> {
        self.actor.send(msg).await.map_err(|_| BlockError::Stopped)
    }

    /// Stores a block locally in memory only and reports it to the master.
    pub async fn put(&self, block_id: BlockId, bytes: Bytes) -> Result<u64, BlockError> {
        self.put_level(block_id, bytes, StorageLevel::MemoryOnly)
            .await
    }

    /// Stores a block locally at a storage level; reports it, and any block evicted for it,
    /// to the master.
    pub async fn put_level(
        &self,
        block_id: BlockId,
        bytes: Bytes,
        level: StorageLevel,
    ) -> Result<u64, BlockError> {
        let msg = BlockManagerMsg::Put {
            block_id: block_id.clone(),
            bytes,
            level,
        };
        match self.ask(msg).await? {
            BlockManagerReply::Stored(outcome) => {
                self.report(block_id, outcome.size, true).await;
                for dropped in outcome.dropped {
                    self.report(dropped, 0, false).await;
                }
                Ok(outcome.size)
            }
            BlockManagerReply::Failed(e) => Err(e),
            other => unreachable_reply(other),
        }
    }

    /// A locally held block (memory or disk). A block whose disk copy fails its checksum is
    /// dropped, reported to the master as gone, and never returned.
    pub async fn get_local(&self, block_id: &BlockId) -> Result<Option<Bytes>, BlockError> {
        let msg = BlockManagerMsg::Get {
            block_id: block_id.clone(),
        };
        match self.ask(msg).await? {
            BlockManagerReply::Block(bytes) => Ok(bytes),
            BlockManagerReply::Failed(BlockError::Disk(e @ DiskError::Corrupt { .. })) => {
                warn!(block = %block_id, "{e}; treating it as lost");
                self.report(block_id.clone(), 0, false).await;
                Ok(None)
            }
            BlockManagerReply::Failed(e) => Err(e),
            other => unreachable_reply(other),
        }
    }

    /// Fault injection: corrupts a block's bytes on disk; true when it was on disk.
    pub async fn corrupt_on_disk(&self, block_id: &BlockId) -> Result<bool, BlockError> {
        let msg = BlockManagerMsg::CorruptOnDisk {
            block_id: block_id.clone(),
        };
        match self.ask(msg).await? {
            BlockManagerReply::Removed(existed) => Ok(existed),
            BlockManagerReply::Failed(e) => Err(e),
            other => unreachable_reply(other),
        }
    }

    /// Reads a block from another worker that holds it (located through the master), without
    /// keeping a copy. `None` when no alive peer has it.
    pub async fn read_remote(&self, block_id: &BlockId) -> Result<Option<Bytes>, BlockError> {
        let (master, _) = self.link.get().ok_or(BlockError::NoMaster)?;
        let holders = master.locate(block_id).await?;
        let mut last_error = None;
        for (peer_id, address) in holders.into_iter().filter(|(id, _)| *id != self.worker_id) {
            match self.fetch_from(&peer_id, &address, block_id).await {
                Ok(Some(bytes)) => return Ok(Some(bytes)),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Stores a copy of a block on a peer's block manager (replication).
    pub async fn push_to(
        &self,
        address: &str,
        block_id: BlockId,
        bytes: Bytes,
        level: StorageLevel,
    ) -> Result<u64, BlockError> {
        let addr = resolve(address).await?;
        let conn = self.peers.get(addr).await?;
        let request = WorkerRequest::PutBlock {
            block_id,
            len: bytes.len() as u64,
            level,
        };
        match conn.request_with_body(&request, bytes).await? {
            WorkerResponse::Stored { len } => Ok(len),
            WorkerResponse::Error { message } => Err(BlockError::Peer {
                peer: address.to_string(),
                message,
            }),
            other => Err(BlockError::Peer {
                peer: address.to_string(),
                message: format!("unexpected answer {other:?}"),
            }),
        }
    }

    /// Drops a local block and reports it.
    pub async fn remove(&self, block_id: &BlockId) -> Result<bool, BlockError> {
        let msg = BlockManagerMsg::Remove {
            block_id: block_id.clone(),
        };
        match self.ask(msg).await? {
            BlockManagerReply::Removed(existed) => {
                if existed {
                    self.report(block_id.clone(), 0, false).await;
                }
                Ok(existed)
            }
            other => unreachable_reply(other),
        }
    }

    /// Drops every block of application `app` (its driver ended); returns how many.
    pub async fn drop_application(&self, app: &str) -> Result<u64, BlockError> {
        let mut dropped = 0;
        for (block_id, _) in self.list().await? {
            if crate::data::plan::block_app(&block_id) == Some(app)
                && self.remove(&block_id).await?
            {
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Storage figures as of the last finished operation, read from counters: never waits
    /// behind a block operation (a spill, a disk read).
    pub fn stats(&self) -> BlockStats {
        self.counters.snapshot()
    }

    /// Every local block with its size.
    pub async fn list(&self) -> Result<Vec<(BlockId, u64)>, BlockError> {
        match self.ask(BlockManagerMsg::List).await? {
            BlockManagerReply::List(blocks) => Ok(blocks),
            other => unreachable_reply(other),
        }
    }

    /// Makes sure the block is held here: if it is not local, asks the master where it lives
    /// and copies it from the first holder that serves it.
    pub async fn fetch(&self, block_id: &BlockId) -> Result<FetchOutcome, BlockError> {
        if let Some(bytes) = self.get_local(block_id).await? {
            return Ok(FetchOutcome {
                len: bytes.len() as u64,
                source: "local".into(),
            });
        }
        let (master, _) = self.link.get().ok_or(BlockError::NoMaster)?;
        let holders = master.locate(block_id).await?;
        let mut last_error = BlockError::NotFound(block_id.clone());
        for (peer_id, address) in holders.into_iter().filter(|(id, _)| *id != self.worker_id) {
            match self.fetch_from(&peer_id, &address, block_id).await {
                Ok(Some(bytes)) => {
                    let len = self.put(block_id.clone(), bytes).await?;
                    debug!(block = %block_id, from = %peer_id, len, "block copied from peer");
                    return Ok(FetchOutcome {
                        len,
                        source: peer_id,
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(block = %block_id, peer = %peer_id, "fetch from peer failed: {e}");
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    /// Reads a block from one peer's block manager.
    pub async fn fetch_from(
        &self,
        peer_id: &str,
        address: &str,
        block_id: &BlockId,
    ) -> Result<Option<Bytes>, BlockError> {
        let addr = resolve(address).await?;
        let conn = self.peers.get(addr).await?;
        let request = WorkerRequest::GetBlock {
            block_id: block_id.clone(),
        };
        let (response, body) = conn
            .request_body(&request, |r: &WorkerResponse| match r {
                WorkerResponse::Block { len } => Some(*len),
                _ => None,
            })
            .await?;
        match response {
            WorkerResponse::Block { .. } => Ok(body),
            WorkerResponse::NotFound { .. } => Ok(None),
            WorkerResponse::Error { message } => Err(BlockError::Peer {
                peer: peer_id.to_string(),
                message,
            }),
            other => Err(BlockError::Peer {
                peer: peer_id.to_string(),
                message: format!("unexpected answer {other:?}"),
            }),
        }
    }

    /// Tells the master about an added or dropped block. Failures are logged: the full block
    /// list is sent again at the next registration.
    async fn report(&self, block_id: BlockId, size_bytes: u64, present: bool) {
        let Some((master, incarnation)) = self.link.get() else {
            return;
        };
        let request = MasterRequest::BlockUpdate {
            worker_id: self.worker_id.clone(),
            incarnation,
            block_id: block_id.clone(),
            size_bytes,
            present,
        };
        match master.call(&request).await {
            Ok(MasterResponse::Ack) => {}
            Ok(other) => warn!(block = %block_id, "master did not take block update: {other:?}"),
            Err(e) => warn!(block = %block_id, "cannot report block to master: {e}"),
        }
    }
}

fn unreachable_reply<T>(reply: BlockManagerReply) -> Result<T, BlockError> {
    Err(BlockError::Peer {
        peer: "local block manager".into(),
        message: format!("unexpected reply {reply:?}"),
    })
}
