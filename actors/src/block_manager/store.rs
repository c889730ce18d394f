//! The in-memory block store: byte blocks under a byte budget, with least-recently-used order
//! kept for eviction and spill decisions.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::transport::TransportError;
use crate::wire::{BlockId, BlockStats};

/// Why a block operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Storing the block would exceed the memory budget.
    #[error("block {block} ({size} bytes) does not fit: {used} of {budget} bytes in use")]
    OverBudget {
        /// The block.
        block: BlockId,
        /// Its size.
        size: u64,
        /// Bytes in use.
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// No holder has the block.
    #[error("block {0} not found on any alive worker")]
    NotFound(BlockId),
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

/// Blocks held in memory, with LRU order.
#[derive(Debug)]
pub struct MemoryStore {
    budget_bytes: u64,
    used_bytes: u64,
    blocks: HashMap<BlockId, (Bytes, u64)>,
    /// access tick -> block, oldest first.
    lru: BTreeMap<u64, BlockId>,
    tick: u64,
}

impl MemoryStore {
    /// An empty store with a byte budget.
    pub fn new(budget_bytes: u64) -> Self {
        Self {
            budget_bytes,
            used_bytes: 0,
            blocks: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Stores (or replaces) a block.
    pub fn put(&mut self, id: BlockId, bytes: Bytes) -> Result<u64, BlockError> {
        let size = bytes.len() as u64;
        let replaced = self.blocks.get(&id).map_or(0, |(b, _)| b.len() as u64);
        if self.used_bytes - replaced + size > self.budget_bytes {
            return Err(BlockError::OverBudget {
                block: id,
                size,
                used: self.used_bytes,
                budget: self.budget_bytes,
            });
        }
        self.remove(&id);
        self.tick += 1;
        self.lru.insert(self.tick, id.clone());
        self.blocks.insert(id, (bytes, self.tick));
        self.used_bytes += size;
        Ok(size)
    }

    /// A block, marking it recently used.
    pub fn get(&mut self, id: &BlockId) -> Option<Bytes> {
        let (bytes, tick) = self.blocks.get_mut(id)?;
        self.lru.remove(tick);
        self.tick += 1;
        *tick = self.tick;
        self.lru.insert(self.tick, id.clone());
        Some(bytes.clone())
    }

    /// Drops a block; true when it was there.
    pub fn remove(&mut self, id: &BlockId) -> bool {
        match self.blocks.remove(id) {
            Some((bytes, tick)) => {
                self.lru.remove(&tick);
                self.used_bytes -= bytes.len() as u64;
                true
            }
            None => false,
        }
    }

    /// Storage figures.
    pub fn stats(&self) -> BlockStats {
        BlockStats {
            memory_used_bytes: self.used_bytes,
            spilled_bytes: 0,
            blocks: self.blocks.len() as u64,
        }
    }

    /// Every block with its size, least recently used first.
    pub fn list(&self) -> Vec<(BlockId, u64)> {
        self.lru
            .values()
            .map(|id| (id.clone(), self.blocks[id].0.len() as u64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_enforced_and_accounting_stays_exact() {
        let mut s = MemoryStore::new(10);
        s.put(BlockId::new("a"), Bytes::from_static(b"123456"))
            .unwrap();
        let err = s
            .put(BlockId::new("b"), Bytes::from_static(b"12345"))
            .unwrap_err();
        assert!(matches!(
            err,
            BlockError::OverBudget {
                used: 6,
                budget: 10,
                ..
            }
        ));
        // Replacing a block counts only the difference.
        s.put(BlockId::new("a"), Bytes::from_static(b"1234567890"))
            .unwrap();
        assert_eq!(s.stats().memory_used_bytes, 10);
        assert!(s.remove(&BlockId::new("a")));
        assert!(!s.remove(&BlockId::new("a")));
        assert_eq!(s.stats(), BlockStats::default());
    }

    #[test]
    fn list_is_in_lru_order() {
        let mut s = MemoryStore::new(100);
        for name in ["a", "b", "c"] {
            s.put(BlockId::new(name), Bytes::from_static(b"x")).unwrap();
        }
        s.get(&BlockId::new("a"));
        let order: Vec<_> = s.list().into_iter().map(|(id, _)| id.0).collect();
        assert_eq!(order, vec!["b", "c", "a"]);
    }
}
