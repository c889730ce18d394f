//! Rendering the cluster state for `cinder status` (a table, or the JSON contract).

use std::fmt::Write;

use cinder_actors::wire::{ClusterStatus, JobState, WorkerState};

use crate::size::ByteSize;

/// The `cinder status --json` object: `{"master", "uptime_ms", "workers": [...],
/// "recomputed_partitions", "jobs": [...], "events": [...]}`; see the README for every field.
pub fn to_json(status: &ClusterStatus) -> String {
    serde_json::to_string_pretty(status).expect("status serializes")
}

/// Applications, one line each (running first): id, state, jobs, blocks, bytes, name.
pub fn applications_table(status: &ClusterStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:<9} {:>4} {:>7} {:>11}  NAME",
        "APPLICATION", "STATE", "JOBS", "BLOCKS", "MEMORY"
    );
    for a in &status.applications {
        let _ = writeln!(
            out,
            "{:<28} {:<9} {:>4} {:>7} {:>11}  {}",
            a.id,
            a.state.as_str(),
            a.jobs_running,
            a.blocks,
            ByteSize(a.memory_bytes).to_string(),
            a.name
        );
    }
    out
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
    if !status.applications.is_empty() {
        out.push('\n');
        out.push_str(&applications_table(status));
    }
    out
}

/// One compact line for logs (`cinder status --watch`): workers, tasks, memory, jobs.
pub fn to_line(status: &ClusterStatus) -> String {
    let alive = status
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let sum = |f: fn(&cinder_actors::wire::WorkerStatus) -> u64| {
        status
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Alive)
            .map(f)
            .sum::<u64>()
    };
    let running: Vec<String> = status
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .map(|j| format!("{}:{} {}/{}", j.id, j.name, j.tasks_done, j.tasks_total))
        .collect();
    let failed = status
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Failed)
        .count();
    format!(
        "master={} up={} workers={}/{} tasks={} memory={}/{} spilled={} recomputed={} jobs_running={}{} jobs_failed_recent={}",
        status.master,
        human_ms(status.uptime_ms),
        alive,
        status.workers.len(),
        sum(|w| w.tasks_running),
        ByteSize(sum(|w| w.memory_used_bytes)),
        ByteSize(sum(|w| w.memory_budget_bytes)),
        ByteSize(sum(|w| w.spilled_bytes)),
        status.recomputed_partitions,
        running.len(),
        if running.is_empty() {
            String::new()
        } else {
            format!(" [{}]", running.join(", "))
        },
        failed
    )
}

/// The jobs: running ones, then the most recently ended.
pub fn jobs_table(status: &ClusterStatus) -> String {
    let mut out = String::new();
    if status.jobs.is_empty() {
        out.push_str("no jobs yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>5} {:<20} {:<9} {:>13} {:>7} {:>9} {:>7} {:>10}",
        "JOB", "NAME", "STATE", "TASKS", "STAGES", "ELAPSED", "RETRIES", "RECOMPUTED"
    );
    for j in &status.jobs {
        let state = match j.state {
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
            JobState::Unknown => "?",
        };
        let _ = writeln!(
            out,
            "{:>5} {:<20} {:<9} {:>13} {:>7} {:>9} {:>7} {:>10}",
            j.id,
            j.name,
            state,
            format!("{}/{}", j.tasks_done, j.tasks_total),
            j.stages.len(),
            human_ms(j.elapsed_ms),
            j.retries,
            j.recomputed_partitions
        );
        if let Some(error) = &j.error {
            let _ = writeln!(out, "      error: {error}");
        }
    }
    out
}

/// The `max` most recent events, newest first, with their age.
pub fn events_table(status: &ClusterStatus, max: usize) -> String {
    let mut out = String::new();
    if status.events.is_empty() {
        out.push_str("no events yet\n");
        return out;
    }
    for e in status.events.iter().take(max) {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>10} ago  {:<20} {}",
            human_ms(status.uptime_ms.saturating_sub(e.at_ms)),
            kind,
            e.message
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
