//! The block store of one worker: memory under a byte budget plus the sled spill store, with
//! Spark's storage levels. Least-recently-used memory blocks make room for new ones: blocks
//! persisted `MemoryAndDisk` spill to disk, `MemoryOnly` ones are dropped (lineage recomputes
//! them); `DiskOnly` blocks live on disk only.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tracing::{debug, warn};

use super::disk::{DiskError, DiskStore};
use super::memory::MemoryStore;
use crate::transport::TransportError;
use crate::wire::{BlockId, BlockStats, StorageLevel};

/// Why a block operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A memory-only block larger than the whole memory budget.
    #[error("block {block} ({size} bytes) does not fit in the memory budget of {budget} bytes")]
    OverBudget {
        /// The block.
        block: BlockId,
        /// Its size.
        size: u64,
        /// The budget.
        budget: u64,
    },
    /// No holder has the block.
    #[error("block {0} not found on any alive worker")]
    NotFound(BlockId),
    /// The spill store failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The worker is not registered with a master right now.
    #[error("not connected to the master")]
    NoMaster,
    /// Talking to the master or a peer failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The peer answered with an error.
    #[error("peer {peer} failed: {message}")]
    Peer {
        /// Peer id.
        peer: String,
        /// Its message.
        message: String,
    },
    /// The block manager actor has stopped.
    #[error("block manager is not running")]
    Stopped,
}

/// What a put changed, for reports to the master.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The block's size.
    pub size: u64,
    /// Blocks evicted from memory that are now gone from this worker.
    pub dropped: Vec<BlockId>,
    /// Blocks moved from memory to disk.
    pub spilled: Vec<BlockId>,
}

/// The store's figures, published after every operation so readers (the heartbeat) get them
/// without a message that could queue behind a spill.
#[derive(Debug, Default)]
pub struct StoreCounters {
    memory_used_bytes: AtomicU64,
    spilled_bytes: AtomicU64,
    blocks: AtomicU64,
}

impl StoreCounters {
    /// The figures as of the last finished operation.
    pub fn snapshot(&self) -> BlockStats {
        BlockStats {
            memory_used_bytes: self.memory_used_bytes.load(Ordering::Relaxed),
            spilled_bytes: self.spilled_bytes.load(Ordering::Relaxed),
            blocks: self.blocks.load(Ordering::Relaxed),
        }
    }

    fn publish(&self, stats: &BlockStats) {
        self.memory_used_bytes
            .store(stats.memory_used_bytes, Ordering::Relaxed);
        self.spilled_bytes
            .store(stats.spilled_bytes, Ordering::Relaxed);
        self.blocks.store(stats.blocks, Ordering::Relaxed);
    }
}

/// Memory plus disk under one budget policy.
#[derive(Debug)]
pub struct BlockStore {
    budget_bytes: u64,
    memory: MemoryStore,
    disk: DiskStore,
    counters: Arc<StoreCounters>,
}

impl BlockStore {
    /// A store with a memory budget, spilling into a fresh sled store at `spill_dir`.
    pub fn open(budget_bytes: u64, spill_dir: &Path) -> Result<Self, BlockError> {
        Ok(Self {
            budget_bytes,
            memory: MemoryStore::default(),
            disk: DiskStore::open_fresh(spill_dir)?,
            counters: Arc::default(),
        })
    }

    /// The figures this store publishes after every operation.
    pub fn counters(&self) -> Arc<StoreCounters> {
        self.counters.clone()
    }

    /// Stores (or replaces) a block at a storage level.
    pub fn put(
        &mut self,
        id: BlockId,
        bytes: Bytes,
        level: StorageLevel,
    ) -> Result<PutOutcome, BlockError> {
        let result = self.put_inner(id, bytes, level);
        self.publish();
        result
    }

    /// A block from memory only (no disk access); marks it recently used.
    pub fn get_from_memory(&mut self, id: &BlockId) -> Option<Bytes> {
        self.memory.get(id)
    }

    fn publish(&self) {
        self.counters.publish(&self.stats());
    }

    fn put_inner(
        &mut self,
        id: BlockId,
        bytes: Bytes,
        level: StorageLevel,
    ) -> Result<PutOutcome, BlockError> {
        let size = bytes.len() as u64;
        let mut outcome = PutOutcome {
            size,
            ..PutOutcome::default()
        };
        self.memory.remove(&id);
        self.disk.remove(&id)?;
        let to_disk = match level {
            StorageLevel::DiskOnly => true,
            StorageLevel::MemoryAndDisk => size > self.budget_bytes,
            StorageLevel::MemoryOnly if size > self.budget_bytes => {
                return Err(BlockError::OverBudget {
                    block: id,
                    size,
                    budget: self.budget_bytes,
                })
            }
            StorageLevel::MemoryOnly => false,
        };
        if to_disk {
            self.disk.put(&id, &bytes)?;
            return Ok(outcome);
        }
        while self.memory.used_bytes() + size > self.budget_bytes {
            let (victim, victim_bytes, victim_level) = self
                .memory
                .pop_victim(&id, size, self.budget_bytes)
                .expect("used bytes imply blocks");
            match victim_level {
                StorageLevel::MemoryOnly => {
                    debug!(block = %victim, "evicted from memory (memory only: dropped)");
                    outcome.dropped.push(victim);
                }
                _ => {
                    self.disk.put(&victim, &victim_bytes)?;
                    debug!(block = %victim, bytes = victim_bytes.len(), "spilled to disk");
                    outcome.spilled.push(victim);
                }
            }
        }
        self.memory.insert(id, bytes, level);
        Ok(outcome)
    }

    /// A block from memory or disk. A block whose disk checksum fails is dropped and reported
    /// as [`DiskError::Corrupt`]; it is never returned.
    pub fn get(&mut self, id: &BlockId) -> Result<Option<Bytes>, BlockError> {
        if let Some(bytes) = self.memory.get(id) {
            return Ok(Some(bytes));
        }
        match self.disk.get(id) {
            Ok(found) => Ok(found),
            Err(e @ DiskError::Corrupt { .. }) => {
                warn!("{e}; dropping it (lineage will recompute it)");
                self.publish();
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Drops a block from memory and disk; true when it was there.
    pub fn remove(&mut self, id: &BlockId) -> Result<bool, BlockError> {
        let in_memory = self.memory.remove(id).is_some();
        let on_disk = self.disk.remove(id);
        self.publish();
        Ok(in_memory || on_disk?)
    }

    /// Fault injection: corrupts a block's bytes on disk (see [`DiskStore::corrupt`]).
    pub fn corrupt_on_disk(&mut self, id: &BlockId) -> Result<bool, BlockError> {
        Ok(self.disk.corrupt(id)?)
    }

    /// True when the block is on disk.
    pub fn is_on_disk(&self, id: &BlockId) -> bool {
        self.disk.contains(id)
    }

    /// Storage figures.
    pub fn stats(&self) -> BlockStats {
        BlockStats {
            memory_used_bytes: self.memory.used_bytes(),
            spilled_bytes: self.disk.bytes(),
            blocks: self.memory.len() as u64 + self.disk.blocks(),
        }
    }

    /// Every block with its size: memory (LRU first), then disk.
    pub fn list(&self) -> Vec<(BlockId, u64)> {
        let mut all = self.memory.list();
        all.extend(self.disk.list());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(budget: u64) -> (tempfile::TempDir, BlockStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = BlockStore::open(budget, &dir.path().join("spill")).unwrap();
        (dir, s)
    }

    fn b(n: usize) -> Bytes {
        Bytes::from(vec![n as u8; n])
    }

    #[test]
    fn memory_and_disk_spills_lru_and_reads_back() {
        let (_d, mut s) = store(100);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let out = s
                .put(BlockId::new(*name), b(40), StorageLevel::MemoryAndDisk)
                .unwrap();
            if i == 2 {
                assert_eq!(out.spilled, vec![BlockId::new("a")]);
            }
        }
        let stats = s.stats();
        assert_eq!(
            (stats.memory_used_bytes, stats.spilled_bytes, stats.blocks),
            (80, 40, 3)
        );
        assert_eq!(
            s.get(&BlockId::new("a")).unwrap(),
            Some(b(40)),
            "read back from disk"
        );
    }

    #[test]
    fn memory_only_victims_are_dropped_and_oversized_refused() {
        let (_d, mut s) = store(100);
        s.put(BlockId::new("a"), b(60), StorageLevel::MemoryOnly)
            .unwrap();
        let out = s
            .put(BlockId::new("b"), b(60), StorageLevel::MemoryOnly)
            .unwrap();
        assert_eq!(out.dropped, vec![BlockId::new("a")]);
        assert_eq!(s.get(&BlockId::new("a")).unwrap(), None);
        let err = s
            .put(BlockId::new("c"), b(101), StorageLevel::MemoryOnly)
            .unwrap_err();
        assert!(matches!(err, BlockError::OverBudget { .. }), "{err}");
        // The same block at MemoryAndDisk goes straight to disk.
        s.put(BlockId::new("c"), b(101), StorageLevel::MemoryAndDisk)
            .unwrap();
        assert!(s.is_on_disk(&BlockId::new("c")));
    }

    #[test]
    fn counters_follow_every_operation() {
        let (_d, mut s) = store(100);
        let counters = s.counters();
        s.put(BlockId::new("a"), b(60), StorageLevel::MemoryAndDisk)
            .unwrap();
        s.put(BlockId::new("b"), b(60), StorageLevel::MemoryAndDisk)
            .unwrap();
        assert_eq!(counters.snapshot(), s.stats());
        assert_eq!(counters.snapshot().spilled_bytes, 60);
        s.remove(&BlockId::new("a")).unwrap();
        assert_eq!(counters.snapshot(), s.stats());
        assert_eq!(counters.snapshot().blocks, 1);
    }

    #[test]
    fn disk_only_never_uses_memory_and_corruption_is_never_returned() {
        let (_d, mut s) = store(100);
        s.put(BlockId::new("d"), b(50), StorageLevel::DiskOnly)
            .unwrap();
        assert_eq!(s.stats().memory_used_bytes, 0);
        assert!(s.corrupt_on_disk(&BlockId::new("d")).unwrap());
        assert!(matches!(
            s.get(&BlockId::new("d")),
            Err(BlockError::Disk(DiskError::Corrupt { .. }))
        ));
        assert_eq!(s.get(&BlockId::new("d")).unwrap(), None);
        assert_eq!(s.stats().blocks, 0);
    }
}
