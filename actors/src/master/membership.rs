//! Membership and block locations as a pure state machine: every method takes the current time,
//! nothing reads a clock or a socket, so the logic can be driven by a seeded test harness.

use std::collections::{BTreeMap, BTreeSet};

use crate::wire::{BlockId, BlockStats, WorkerState, WorkerStatus};

/// What a worker told the master when it registered.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Stable worker id.
    pub worker_id: String,
    /// Address peers reach it at.
    pub address: String,
    /// Cores offered.
    pub cores: u32,
    /// Memory store budget.
    pub memory_budget_bytes: u64,
    /// Process id.
    pub pid: u32,
    /// Blocks it still holds.
    pub blocks: Vec<(BlockId, u64)>,
    /// Its watcher's process id.
    pub watcher_pid: Option<u32>,
}

/// The master's verdict on a message from a worker incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Accepted.
    Ack,
    /// Unknown or lost worker: it must register again.
    ReRegister(String),
    /// A newer incarnation is registered; the sender is stale.
    Superseded(u64),
}

#[derive(Debug, Clone)]
struct WorkerEntry {
    reg: Registration,
    incarnation: u64,
    state: WorkerState,
    conn_id: u64,
    last_seen_ms: u64,
    stats: BlockStats,
}

/// Workers known to the master and where blocks live.
#[derive(Debug)]
pub struct Membership {
    heartbeat_timeout_ms: u64,
    workers: BTreeMap<String, WorkerEntry>,
    /// block -> (worker id -> size in bytes), alive holders only.
    locations: BTreeMap<BlockId, BTreeMap<String, u64>>,
    /// Persisted partitions (`rdd_*` blocks) that have been stored at least once.
    materialized: BTreeSet<BlockId>,
    /// Materialized partitions that currently have no holder.
    lost_blocks: BTreeSet<BlockId>,
    /// Partitions stored again after being lost: recomputed from lineage.
    recomputed: u64,
}

impl Membership {
    /// Empty membership; workers silent for longer than `heartbeat_timeout_ms` are lost.
    pub fn new(heartbeat_timeout_ms: u64) -> Self {
        Self {
            heartbeat_timeout_ms,
            workers: BTreeMap::new(),
            locations: BTreeMap::new(),
            materialized: BTreeSet::new(),
            lost_blocks: BTreeSet::new(),
            recomputed: 0,
        }
    }

    /// Partitions recomputed from lineage so far.
    pub fn recomputed_partitions(&self) -> u64 {
        self.recomputed
    }

    /// Records a block gaining a holder; returns true when it is a recomputation.
    fn add_location(&mut self, block: BlockId, worker: &str, size: u64) -> bool {
        let mut recomputed = false;
        if block.0.starts_with("rdd_") {
            if self.lost_blocks.remove(&block) {
                self.recomputed += 1;
                recomputed = true;
            }
            self.materialized.insert(block.clone());
        }
        self.locations
            .entry(block)
            .or_default()
            .insert(worker.to_string(), size);
        recomputed
    }

    /// Records a block losing a holder.
    fn remove_location(&mut self, block: &BlockId, worker: &str) {
        if let Some(holders) = self.locations.get_mut(block) {
            holders.remove(worker);
            if holders.is_empty() {
                self.locations.remove(block);
                if self.materialized.contains(block) {
                    self.lost_blocks.insert(block.clone());
                }
            }
        }
    }

    /// Forgets every block whose name starts with `prefix` (an unpersisted dataset); returns
    /// the `(block, holders)` that must be told to drop them.
    pub fn forget_blocks(&mut self, prefix: &str) -> Vec<(BlockId, Vec<String>)> {
        self.materialized.retain(|b| !b.0.starts_with(prefix));
        self.lost_blocks.retain(|b| !b.0.starts_with(prefix));
        let gone: Vec<BlockId> = self
            .locations
            .keys()
            .filter(|b| b.0.starts_with(prefix))
            .cloned()
            .collect();
        gone.into_iter()
            .map(|b| {
                let holders = self.locations.remove(&b).unwrap_or_default();
                (b, holders.into_keys().collect())
            })
            .collect()
    }

    /// The process id of an alive worker.
    pub fn alive_pid(&self, id: &str) -> Option<u32> {
        self.workers
            .get(id)
            .filter(|w| w.state == WorkerState::Alive)
            .map(|w| w.reg.pid)
    }

    /// Blocks held on alive workers per application: `app -> (blocks, bytes of every copy)`.
    pub fn blocks_by_app(&self) -> BTreeMap<String, (u64, u64)> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (block, holders) in &self.locations {
            if let Some(app) = crate::data::plan::block_app(block) {
                let entry = out.entry(app.to_string()).or_default();
                entry.0 += 1;
                entry.1 += holders.values().sum::<u64>();
            }
        }
        out
    }

    /// Registers a worker arriving on connection `conn_id`; returns its new incarnation.
    /// Any older incarnation of the same id is superseded and its block locations dropped.
    pub fn register(&mut self, now_ms: u64, conn_id: u64, reg: Registration) -> u64 {
        let id = reg.worker_id.clone();
        let incarnation = self.workers.get(&id).map_or(1, |w| w.incarnation + 1);
        self.drop_locations_of(&id);
        for (block, size) in &reg.blocks {
            self.add_location(block.clone(), &id, *size);
        }
        let stats = BlockStats {
            blocks: reg.blocks.len() as u64,
            memory_used_bytes: reg.blocks.iter().map(|(_, s)| s).sum(),
            spilled_bytes: 0,
        };
        self.workers.insert(
            id,
            WorkerEntry {
                reg,
                incarnation,
                state: WorkerState::Alive,
                conn_id,
                last_seen_ms: now_ms,
                stats,
            },
        );
        incarnation
    }

    /// Checks a message from `(worker_id, incarnation)`; on success refreshes its liveness.
    fn check(&mut self, now_ms: u64, worker_id: &str, incarnation: u64) -> HeartbeatOutcome {
        let Some(entry) = self.workers.get_mut(worker_id) else {
            return HeartbeatOutcome::ReRegister(format!("unknown worker {worker_id}"));
        };
        if incarnation < entry.incarnation {
            return HeartbeatOutcome::Superseded(entry.incarnation);
        }
        if incarnation > entry.incarnation {
            return HeartbeatOutcome::ReRegister(format!(
                "incarnation {incarnation} of {worker_id} was never registered here"
            ));
        }
        if entry.state == WorkerState::Lost {
            return HeartbeatOutcome::ReRegister(format!(
                "{worker_id} was declared lost; its blocks are gone"
            ));
        }
        entry.last_seen_ms = now_ms;
        HeartbeatOutcome::Ack
    }

    /// A heartbeat with fresh storage figures.
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        worker_id: &str,
        incarnation: u64,
        stats: BlockStats,
    ) -> HeartbeatOutcome {
        let outcome = self.check(now_ms, worker_id, incarnation);
        if outcome == HeartbeatOutcome::Ack {
            if let Some(entry) = self.workers.get_mut(worker_id) {
                entry.stats = stats;
            }
        }
        outcome
    }

    /// A block manager gained (`present`) or dropped a block.
    pub fn block_update(
        &mut self,
        now_ms: u64,
        worker_id: &str,
        incarnation: u64,
        block: BlockId,
        size_bytes: u64,
        present: bool,
    ) -> HeartbeatOutcome {
        let outcome = self.check(now_ms, worker_id, incarnation);
        if outcome != HeartbeatOutcome::Ack {
            return outcome;
        }
        if present {
            if self.add_location(block.clone(), worker_id, size_bytes) {
                tracing::info!(%block, worker = worker_id, "partition recomputed from lineage");
            }
        } else {
            self.remove_location(&block, worker_id);
        }
        HeartbeatOutcome::Ack
    }

    /// A connection closed: the worker registered on it (if still that incarnation) is lost.
    pub fn connection_closed(&mut self, conn_id: u64) -> Vec<String> {
        let ids: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| w.conn_id == conn_id && w.state == WorkerState::Alive)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.mark_lost(id);
        }
        ids
    }

    /// Marks every alive worker silent for longer than the timeout as lost; returns their ids.
    pub fn expire(&mut self, now_ms: u64) -> Vec<String> {
        let timeout = self.heartbeat_timeout_ms;
        let ids: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| {
                w.state == WorkerState::Alive && now_ms.saturating_sub(w.last_seen_ms) > timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.mark_lost(id);
        }
        ids
    }

    /// Counts every alive worker as heard from at `now_ms`: after the master itself was paused
    /// (SIGSTOP, a stalled host), silence measured across the pause says nothing about the
    /// workers, so each gets a fresh heartbeat timeout to be heard before it can be judged.
    pub fn grace_all(&mut self, now_ms: u64) {
        for w in self.workers.values_mut() {
            if w.state == WorkerState::Alive {
                w.last_seen_ms = w.last_seen_ms.max(now_ms);
            }
        }
    }

    /// Declares the process `pid` of worker `id` gone (its watcher saw it exit); true when it
    /// was the alive incarnation, which is now lost. A report about an older process of the
    /// id changes nothing.
    pub fn process_exited(&mut self, id: &str, pid: u32) -> bool {
        if self.alive_pid(id) != Some(pid) {
            return false;
        }
        self.mark_lost(id);
        true
    }

    fn mark_lost(&mut self, id: &str) {
        if let Some(entry) = self.workers.get_mut(id) {
            entry.state = WorkerState::Lost;
        }
        self.drop_locations_of(id);
    }

    fn drop_locations_of(&mut self, id: &str) {
        let held: Vec<BlockId> = self
            .locations
            .iter()
            .filter(|(_, holders)| holders.contains_key(id))
            .map(|(b, _)| b.clone())
            .collect();
        for block in held {
            self.remove_location(&block, id);
        }
    }

    /// Address of an alive worker.
    pub fn address_of(&self, id: &str) -> Option<String> {
        self.workers
            .get(id)
            .filter(|w| w.state == WorkerState::Alive)
            .map(|w| w.reg.address.clone())
    }

    /// Alive workers with their cores, ordered by id.
    pub fn alive_cores(&self) -> Vec<(String, u32)> {
        self.workers
            .iter()
            .filter(|(_, w)| w.state == WorkerState::Alive)
            .map(|(id, w)| (id.clone(), w.reg.cores))
            .collect()
    }

    /// Alive holders of a block as `(worker id, address)`, ordered by id.
    pub fn locate(&self, block: &BlockId) -> Vec<(String, String)> {
        self.locations
            .get(block)
            .map(|holders| {
                holders
                    .keys()
                    .filter_map(|id| {
                        self.workers
                            .get(id)
                            .map(|w| (id.clone(), w.reg.address.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ids of the alive workers.
    pub fn alive(&self) -> BTreeSet<String> {
        self.workers
            .iter()
            .filter(|(_, w)| w.state == WorkerState::Alive)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every known worker's status, ordered by id.
    pub fn snapshot(&self, now_ms: u64) -> Vec<WorkerStatus> {
        self.workers
            .iter()
            .map(|(id, w)| WorkerStatus {
                id: id.clone(),
                address: w.reg.address.clone(),
                state: w.state,
                incarnation: w.incarnation,
                cores: w.reg.cores,
                memory_budget_bytes: w.reg.memory_budget_bytes,
                memory_used_bytes: w.stats.memory_used_bytes,
                spilled_bytes: w.stats.spilled_bytes,
                blocks: w.stats.blocks,
                last_heartbeat_ms: now_ms.saturating_sub(w.last_seen_ms),
                pid: w.reg.pid,
                tasks_running: 0,
                watcher_pid: w.reg.watcher_pid,
            })
            .collect()
    }

    /// The storage figures of a worker's last heartbeat (or registration).
    pub fn stats_of(&self, id: &str) -> Option<BlockStats> {
        self.workers.get(id).map(|w| w.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(id: &str, blocks: &[(&str, u64)]) -> Registration {
        Registration {
            worker_id: id.into(),
            address: format!("127.0.0.1:{}", 9000 + id.len()),
            cores: 2,
            memory_budget_bytes: 1 << 20,
            pid: 1,
            blocks: blocks.iter().map(|(b, s)| (BlockId::new(*b), *s)).collect(),
            watcher_pid: None,
        }
    }

    #[test]
    fn a_watcher_report_loses_only_the_process_it_names() {
        let mut m = Membership::new(5_000);
        m.register(0, 1, reg("a", &[("rdd_x_1_0", 8)]));
        assert!(!m.process_exited("a", 999), "another process");
        assert!(m.alive().contains("a"));
        assert!(m.process_exited("a", 1));
        assert!(!m.alive().contains("a"));
        assert!(m.locate(&BlockId::new("rdd_x_1_0")).is_empty());
        assert!(!m.process_exited("a", 1), "already lost");
    }

    #[test]
    fn heartbeats_keep_alive_and_silence_expires() {
        let mut m = Membership::new(5_000);
        assert_eq!(m.register(0, 1, reg("a", &[])), 1);
        assert_eq!(m.register(0, 2, reg("b", &[])), 1);
        for t in (1_000..=8_000).step_by(1_000) {
            assert_eq!(
                m.heartbeat(t, "a", 1, BlockStats::default()),
                HeartbeatOutcome::Ack
            );
        }
        assert_eq!(m.expire(5_000), Vec::<String>::new());
        assert_eq!(m.expire(5_001), vec!["b".to_string()]);
        assert_eq!(m.alive().into_iter().collect::<Vec<_>>(), vec!["a"]);
        let snap = m.snapshot(8_500);
        assert_eq!(snap[0].last_heartbeat_ms, 500);
        assert_eq!(snap[1].state, WorkerState::Lost);
    }

    #[test]
    fn lost_worker_must_reregister_and_gets_a_new_incarnation() {
        let mut m = Membership::new(5_000);
        m.register(0, 1, reg("a", &[("x", 10)]));
        assert_eq!(m.locate(&BlockId::new("x")).len(), 1);
        assert_eq!(m.connection_closed(1), vec!["a".to_string()]);
        assert!(
            m.locate(&BlockId::new("x")).is_empty(),
            "a lost worker's blocks are gone"
        );
        assert!(matches!(
            m.heartbeat(1, "a", 1, BlockStats::default()),
            HeartbeatOutcome::ReRegister(_)
        ));
        assert_eq!(m.register(2, 3, reg("a", &[])), 2);
        assert_eq!(
            m.heartbeat(3, "a", 1, BlockStats::default()),
            HeartbeatOutcome::Superseded(2)
        );
        assert_eq!(
            m.heartbeat(3, "a", 2, BlockStats::default()),
            HeartbeatOutcome::Ack
        );
    }

    #[test]
    fn closing_an_old_connection_does_not_lose_a_new_incarnation() {
        let mut m = Membership::new(5_000);
        m.register(0, 1, reg("a", &[]));
        m.register(1, 2, reg("a", &[]));
        assert!(m.connection_closed(1).is_empty());
        assert_eq!(m.alive().len(), 1);
    }

    #[test]
    fn recomputations_are_counted_once_per_lost_partition() {
        let mut m = Membership::new(5_000);
        m.register(0, 1, reg("a", &[]));
        m.register(0, 2, reg("bb", &[]));
        for (w, b) in [
            ("a", "rdd_1_0"),
            ("a", "rdd_1_1"),
            ("bb", "rdd_1_2"),
            ("a", "other"),
        ] {
            m.block_update(1, w, 1, BlockId::new(b), 8, true);
        }
        m.connection_closed(1);
        assert_eq!(m.recomputed_partitions(), 0);
        m.block_update(2, "bb", 1, BlockId::new("rdd_1_0"), 8, true);
        m.block_update(2, "bb", 1, BlockId::new("rdd_1_0"), 8, true);
        m.block_update(2, "bb", 1, BlockId::new("other"), 8, true);
        assert_eq!(
            m.recomputed_partitions(),
            1,
            "only lost rdd blocks count, once"
        );
        let forgotten = m.forget_blocks("rdd_1_");
        assert_eq!(forgotten.len(), 2);
        m.block_update(3, "bb", 1, BlockId::new("rdd_1_1"), 8, true);
        assert_eq!(
            m.recomputed_partitions(),
            1,
            "an unpersisted dataset starts over"
        );
    }

    #[test]
    fn block_updates_track_holders() {
        let mut m = Membership::new(5_000);
        m.register(0, 1, reg("a", &[]));
        m.register(0, 2, reg("bb", &[]));
        let x = BlockId::new("x");
        assert_eq!(
            m.block_update(1, "bb", 1, x.clone(), 5, true),
            HeartbeatOutcome::Ack
        );
        assert_eq!(
            m.block_update(1, "a", 1, x.clone(), 5, true),
            HeartbeatOutcome::Ack
        );
        let holders: Vec<_> = m.locate(&x).into_iter().map(|(id, _)| id).collect();
        assert_eq!(holders, vec!["a", "bb"]);
        m.block_update(2, "a", 1, x.clone(), 0, false);
        assert_eq!(m.locate(&x).len(), 1);
        m.expire(10_000);
        assert!(m.locate(&x).is_empty());
    }
}
