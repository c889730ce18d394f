//! The in-memory block store: byte blocks with their storage level, least-recently-used order
//! kept for eviction.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::wire::{BlockId, StorageLevel};

/// Blocks held in memory, with LRU order. Does not enforce the budget itself: the
/// [`super::store::BlockStore`] evicts before inserting.
#[derive(Debug, Default)]
pub struct MemoryStore {
    used_bytes: u64,
    blocks: HashMap<BlockId, Entry>,
    /// access tick -> block, oldest first.
    lru: BTreeMap<u64, BlockId>,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    level: StorageLevel,
    tick: u64,
}

impl MemoryStore {
    /// Stores (or replaces) a block as the most recently used.
    pub fn insert(&mut self, id: BlockId, bytes: Bytes, level: StorageLevel) {
        self.remove(&id);
        self.tick += 1;
        self.lru.insert(self.tick, id.clone());
        self.used_bytes += bytes.len() as u64;
        self.blocks.insert(
            id,
            Entry {
                bytes,
                level,
                tick: self.tick,
            },
        );
    }

    /// A block, marking it recently used.
    pub fn get(&mut self, id: &BlockId) -> Option<Bytes> {
        let entry = self.blocks.get_mut(id)?;
        self.lru.remove(&entry.tick);
        self.tick += 1;
        entry.tick = self.tick;
        self.lru.insert(self.tick, id.clone());
        Some(entry.bytes.clone())
    }

    /// Size of a block held here.
    pub fn size_of(&self, id: &BlockId) -> Option<u64> {
        self.blocks.get(id).map(|e| e.bytes.len() as u64)
    }

    /// Drops a block; returns its bytes and level when it was there.
    pub fn remove(&mut self, id: &BlockId) -> Option<(Bytes, StorageLevel)> {
        let entry = self.blocks.remove(id)?;
        self.lru.remove(&entry.tick);
        self.used_bytes -= entry.bytes.len() as u64;
        Some((entry.bytes, entry.level))
    }

    /// Removes and returns the least recently used block.
    pub fn pop_lru(&mut self) -> Option<(BlockId, Bytes, StorageLevel)> {
        let (_, id) = self.lru.pop_first()?;
        let entry = self.blocks.remove(&id).expect("lru and blocks agree");
        self.used_bytes -= entry.bytes.len() as u64;
        Some((id, entry.bytes, entry.level))
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Every block with its size, least recently used first.
    pub fn list(&self) -> Vec<(BlockId, u64)> {
        self.lru
            .values()
            .map(|id| (id.clone(), self.blocks[id].bytes.len() as u64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_order_and_accounting() {
        let mut s = MemoryStore::default();
        for name in ["a", "b", "c"] {
            s.insert(
                BlockId::new(name),
                Bytes::from_static(b"xy"),
                StorageLevel::MemoryOnly,
            );
        }
        s.get(&BlockId::new("a"));
        let order: Vec<_> = s.list().into_iter().map(|(id, _)| id.0).collect();
        assert_eq!(order, vec!["b", "c", "a"]);
        assert_eq!(s.used_bytes(), 6);
        let (id, _, _) = s.pop_lru().unwrap();
        assert_eq!(id.0, "b");
        s.insert(
            BlockId::new("a"),
            Bytes::from_static(b"xyz"),
            StorageLevel::MemoryOnly,
        );
        assert_eq!(s.used_bytes(), 5);
        assert!(s.remove(&BlockId::new("a")).is_some());
        assert_eq!((s.used_bytes(), s.len()), (2, 1));
    }
}
