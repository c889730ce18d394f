//! Rendering the cluster state for `cinder status` (a table, or the JSON contract).

use std::fmt::Write;

use cinder_actors::wire::{ClusterStatus, WorkerState};

use crate::size::ByteSize;

/// The `cinder status --json` object: `{"master", "uptime_ms", "workers": [...],
/// "recomputed_partitions"}`; see the README for every field.
pub fn to_json(status: &ClusterStatus) -> String {
    serde_json::to_string_pretty(status).expect("status serializes")
}

/// A human-readable table of the cluster.
pub fn to_table(status: &ClusterStatus) -> String {
    let alive = status
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "master {}  up {}  workers: {} alive, {} lost  recomputed partitions: {}",
        status.master,
        human_ms(status.uptime_ms),
        alive,
        status.workers.len() - alive,
        status.recomputed_partitions
    );
    let _ = writeln!(
        out,
        "{:<18} {:<6} {:<22} {:>5} {:>23} {:>10} {:>7} {:>10}",
        "ID", "STATE", "ADDRESS", "CORES", "MEMORY USED/BUDGET", "SPILLED", "BLOCKS", "HEARTBEAT"
    );
    for w in &status.workers {
        let state = match w.state {
            WorkerState::Alive => "alive",
            WorkerState::Lost => "lost",
        };
        let memory = format!(
            "{} / {}",
            ByteSize(w.memory_used_bytes),
            ByteSize(w.memory_budget_bytes)
        );
        let _ = writeln!(
            out,
            "{:<18} {:<6} {:<22} {:>5} {:>23} {:>10} {:>7} {:>10}",
            w.id,
            state,
            w.address,
            w.cores,
            memory,
            ByteSize(w.spilled_bytes).to_string(),
            w.blocks,
            format!("{} ago", human_ms(w.last_heartbeat_ms))
        );
    }
    out
}

/// `1234` -> `1.2s`, `75000` -> `1m15s`.
pub fn human_ms(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}
