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

    /// Removes and returns the block to evict to make room for `incoming` (of `size` bytes)
    /// under `budget_bytes`, sharing memory fairly between applications: each of the
    /// applications holding memory (the incoming block's included) is entitled to an equal
    /// share. An application over its share evicts its own least recently used block first;
    /// otherwise the least recently used block of an application over its share goes; blocks
    /// that name no application, or an even split, fall back to plain LRU.
    pub fn pop_victim(
        &mut self,
        incoming: &BlockId,
        size: u64,
        budget_bytes: u64,
    ) -> Option<(BlockId, Bytes, StorageLevel)> {
        let app_of = |id: &BlockId| crate::data::plan::block_app(id).map(str::to_string);
        let mut usage: HashMap<Option<String>, u64> = HashMap::new();
        for (id, entry) in &self.blocks {
            *usage.entry(app_of(id)).or_default() += entry.bytes.len() as u64;
        }
        let mine = app_of(incoming);
        *usage.entry(mine.clone()).or_default() += size;
        let share = budget_bytes / usage.len().max(1) as u64;
        let over =
            |app: &Option<String>| app.is_some() && usage.get(app).is_some_and(|b| *b > share);
        let pick = |want: &dyn Fn(&Option<String>) -> bool| {
            self.lru.values().find(|id| want(&app_of(id))).cloned()
        };
        let victim = if over(&mine) {
            pick(&|a| *a == mine)
        } else {
            None
        }
        .or_else(|| pick(&|a| over(a)))
        .or_else(|| self.lru.values().next().cloned())?;
        let (bytes, level) = self.remove(&victim)?;
        Some((victim, bytes, level))
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

    #[test]
    fn applications_evict_their_own_blocks_first_and_keep_their_share() {
        let block = |app: &str, n: u32| BlockId::new(format!("rdd_{app}_1_{n}"));
        let bytes = |n: usize| Bytes::from(vec![0u8; n]);
        let mut s = MemoryStore::default();
        // a fills the whole budget of 100 bytes (oldest blocks first).
        for n in 0..10 {
            s.insert(block("a", n), bytes(10), StorageLevel::MemoryAndDisk);
        }
        // b needs room: a is over its share (50), so a's oldest block goes, not b's own.
        s.insert(block("b", 0), bytes(10), StorageLevel::MemoryAndDisk);
        let (v, _, _) = s.pop_victim(&block("b", 1), 10, 100).unwrap();
        assert_eq!(v, block("a", 0));
        // Both at their share (a's blocks older): b's next block evicts b's own oldest.
        let mut even = MemoryStore::default();
        for n in 0..5 {
            even.insert(block("a", n), bytes(10), StorageLevel::MemoryAndDisk);
        }
        for n in 0..5 {
            even.insert(block("b", n), bytes(10), StorageLevel::MemoryAndDisk);
        }
        let (v, _, _) = even.pop_victim(&block("b", 5), 10, 100).unwrap();
        assert_eq!(
            v,
            block("b", 0),
            "b is at its share: it evicts its own block"
        );
        let (v, _, _) = even.pop_victim(&block("a", 5), 10, 100).unwrap();
        assert_eq!(v, block("a", 0));
        // Blocks without an application fall back to plain LRU.
        let mut plain = MemoryStore::default();
        plain.insert(BlockId::new("x"), bytes(60), StorageLevel::MemoryOnly);
        plain.insert(BlockId::new("y"), bytes(40), StorageLevel::MemoryOnly);
        let (v, _, _) = plain.pop_victim(&BlockId::new("z"), 10, 100).unwrap();
        assert_eq!(v, BlockId::new("x"));
    }
}
