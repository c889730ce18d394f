//! The BlockManager actor: owns the block store; every operation is one message.
//!
//! sled reads and writes, checksums and block copies run on tokio's blocking pool, never on
//! the actor's thread (which the worker's other actors share). While one runs, the actor takes
//! no other message ([`AtomicResponse`]), so operations apply one at a time in mailbox order
//! and the store is never seen half-updated. A read served from memory is answered on the
//! actor's thread at once. The store's figures are published to [`StoreCounters`] after every
//! operation: the heartbeat reads those and never waits behind a spill.

use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Actor, ActorFutureExt, AtomicResponse, Context, Handler, Message, WrapFuture};
use bytes::Bytes;

use super::store::{BlockError, BlockStore, PutOutcome, StoreCounters};
use crate::wire::{BlockId, StorageLevel};

/// Everything the BlockManager actor accepts; each variant's reply is named on it.
#[derive(Debug)]
pub enum BlockManagerMsg {
    /// Store a block. Reply: [`BlockManagerReply::Stored`] or [`BlockManagerReply::Failed`].
    Put {
        /// The block.
        block_id: BlockId,
        /// Its bytes.
        bytes: Bytes,
        /// Where it may live.
        level: StorageLevel,
    },
    /// Read a local block (memory, then disk). Reply: [`BlockManagerReply::Block`], or
    /// [`BlockManagerReply::Failed`] when its disk copy is corrupt (it is dropped).
    Get {
        /// The block.
        block_id: BlockId,
    },
    /// Drop a block. Reply: [`BlockManagerReply::Removed`].
    Remove {
        /// The block.
        block_id: BlockId,
    },
    /// Every block with its size. Reply: [`BlockManagerReply::List`].
    List,
    /// Fault injection: corrupt a block's bytes on disk. Reply: [`BlockManagerReply::Removed`]
    /// (whether it was on disk).
    CorruptOnDisk {
        /// The block.
        block_id: BlockId,
    },
}

/// Replies of the BlockManager actor.
#[derive(Debug)]
pub enum BlockManagerReply {
    /// Stored; what it changed.
    Stored(PutOutcome),
    /// The block, if held.
    Block(Option<Bytes>),
    /// Whether the block existed.
    Removed(bool),
    /// Blocks and sizes.
    List(Vec<(BlockId, u64)>),
    /// The operation failed.
    Failed(BlockError),
}

impl Message for BlockManagerMsg {
    type Result = BlockManagerReply;
}

/// The block manager actor of one worker.
pub struct BlockManager {
    /// Locked by one operation at a time (the actor runs one at a time); shared only so the
    /// operation can run on the blocking pool.
    store: Arc<Mutex<BlockStore>>,
    counters: Arc<StoreCounters>,
}

impl BlockManager {
    /// A block manager over a store.
    pub fn new(store: BlockStore) -> Self {
        let counters = store.counters();
        Self {
            store: Arc::new(Mutex::new(store)),
            counters,
        }
    }

    /// The figures the store publishes after every operation (for heartbeats).
    pub fn counters(&self) -> Arc<StoreCounters> {
        self.counters.clone()
    }
}

impl Actor for BlockManager {
    type Context = Context<Self>;
}

fn lock(store: &Mutex<BlockStore>) -> MutexGuard<'_, BlockStore> {
    // A panic while holding the lock is raised again on the actor's thread (see
    // `off_thread`), which ends the daemon; nothing reads a poisoned store after it.
    store.lock().expect("block store lock")
}

impl BlockManager {
    /// Runs one store operation on tokio's blocking pool; the actor takes no other message
    /// until it is done. A panic in it is raised again on the actor's thread.
    fn off_thread(&self, op: BlockManagerMsg) -> AtomicResponse<Self, BlockManagerReply> {
        let store = self.store.clone();
        let work = tokio::task::spawn_blocking(move || apply(&mut lock(&store), op));
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |joined, _, _| match joined {
                Ok(reply) => reply,
                // A fresh panic on the actor's thread (resume_unwind would skip the panic
                // hook that ends the daemon).
                Err(e) if e.is_panic() => panic!("block store operation panicked: {e}"),
                Err(_) => BlockManagerReply::Failed(BlockError::Stopped),
            },
        )))
    }
}

/// One operation on the store, synchronously (on the blocking pool).
fn apply(store: &mut BlockStore, op: BlockManagerMsg) -> BlockManagerReply {
    let failed = BlockManagerReply::Failed;
    match op {
        BlockManagerMsg::Put {
            block_id,
            bytes,
            level,
        } => match store.put(block_id, bytes, level) {
            Ok(outcome) => BlockManagerReply::Stored(outcome),
            Err(e) => failed(e),
        },
        BlockManagerMsg::Get { block_id } => match store.get(&block_id) {
            Ok(found) => BlockManagerReply::Block(found),
            Err(e) => failed(e),
        },
        BlockManagerMsg::Remove { block_id } => match store.remove(&block_id) {
            Ok(existed) => BlockManagerReply::Removed(existed),
            Err(e) => failed(e),
        },
        BlockManagerMsg::List => BlockManagerReply::List(store.list()),
        BlockManagerMsg::CorruptOnDisk { block_id } => match store.corrupt_on_disk(&block_id) {
            Ok(existed) => BlockManagerReply::Removed(existed),
            Err(e) => failed(e),
        },
    }
}

impl Handler<BlockManagerMsg> for BlockManager {
    type Result = AtomicResponse<Self, BlockManagerReply>;

    fn handle(&mut self, msg: BlockManagerMsg, _ctx: &mut Self::Context) -> Self::Result {
        if let BlockManagerMsg::Get { block_id } = &msg {
            // A memory hit needs no disk: answer here. The lock is free unless a test holds
            // it (no operation runs while the actor handles a message).
            if let Ok(mut store) = self.store.try_lock() {
                if let Some(bytes) = store.get_from_memory(block_id) {
                    let reply = BlockManagerReply::Block(Some(bytes));
                    return AtomicResponse::new(Box::pin(actix::fut::ready(reply)));
                }
            }
        }
        self.off_thread(msg)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use actix::{Arbiter, Handler, Message};

    use super::*;

    /// Answers at once: proves the arbiter thread it lives on is free.
    struct Probe;

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    struct Ping;

    impl Message for Ping {
        type Result = ();
    }

    impl Handler<Ping> for Probe {
        type Result = ();

        fn handle(&mut self, _msg: Ping, _ctx: &mut Self::Context) {}
    }

    fn put(name: &str, len: usize) -> BlockManagerMsg {
        BlockManagerMsg::Put {
            block_id: BlockId::new(name),
            bytes: Bytes::from(vec![7u8; len]),
            level: StorageLevel::DiskOnly,
        }
    }

    /// A disk operation that takes long (here: the store is held by another thread, as a slow
    /// sled write would hold it) must not block the actor's thread, which other actors share,
    /// nor the figures the heartbeat reads. When sled ran inside the handler, the probe on
    /// the same arbiter got no answer until the write was done.
    #[test]
    fn a_slow_disk_operation_blocks_neither_the_thread_nor_the_figures() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(100, &dir.path().join("spill")).unwrap();
        let manager = BlockManager::new(store);
        let shared = manager.store.clone();
        let counters = manager.counters();
        actix::System::new().block_on(async move {
            let arbiter = Arbiter::new();
            let addr = BlockManager::start_in_arbiter(&arbiter.handle(), move |_| manager);
            let probe = Probe::start_in_arbiter(&arbiter.handle(), |_| Probe);
            let reply = addr.send(put("a", 10)).await.unwrap();
            assert!(matches!(reply, BlockManagerReply::Stored(_)), "{reply:?}");
            assert_eq!(counters.snapshot().spilled_bytes, 10);

            // Another thread holds the store, like a long sled write would.
            let (locked_tx, locked_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let holder = std::thread::spawn(move || {
                let _guard = shared.lock().unwrap();
                locked_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(Duration::from_secs(30));
            });
            locked_rx.recv().unwrap();
            let slow = tokio::spawn(addr.send(put("b", 20)));
            let ping = tokio::time::timeout(Duration::from_secs(2), probe.send(Ping)).await;
            assert!(
                matches!(ping, Ok(Ok(()))),
                "the actor thread is blocked by a disk operation"
            );
            assert!(!slow.is_finished(), "the disk operation is still held");
            assert_eq!(counters.snapshot().spilled_bytes, 10, "figures readable");

            release_tx.send(()).unwrap();
            holder.join().unwrap();
            let reply = tokio::time::timeout(Duration::from_secs(10), slow)
                .await
                .expect("the put finishes once the disk is free")
                .unwrap()
                .unwrap();
            assert!(matches!(reply, BlockManagerReply::Stored(_)), "{reply:?}");
            let stats = counters.snapshot();
            assert_eq!((stats.spilled_bytes, stats.blocks), (30, 2));
            let reply = addr
                .send(BlockManagerMsg::Get {
                    block_id: BlockId::new("b"),
                })
                .await
                .unwrap();
            assert!(
                matches!(&reply, BlockManagerReply::Block(Some(b)) if b.len() == 20),
                "{reply:?}"
            );
            arbiter.stop();
        });
    }
}
