//! Applications as a pure state machine: registration, leases, ends, and a bounded history of
//! ended applications. Every method takes the current time; nothing reads a clock.
//!
//! An application is one driver's registration. Its id is `app-<master start, Unix ms>-<seq>`:
//! unique among the drivers of one master, and across master restarts (a restarted master has
//! another start time). Every dataset, shuffle, broadcast, block and job belongs to one.

use std::collections::{BTreeMap, VecDeque};

use crate::wire::{AppState, ApplicationStatus};

/// How many ended applications the master remembers.
pub const MAX_ENDED_APPLICATIONS: usize = 100;

#[derive(Debug, Clone)]
struct Running {
    name: String,
    /// The certificate name of the member that registered it.
    owner: String,
    started_unix_ms: u64,
    /// Master clock (ms) of the last registration or renewal.
    renewed_ms: u64,
}

/// The master's applications.
#[derive(Debug)]
pub struct Applications {
    id_prefix: String,
    next_seq: u64,
    lease_timeout_ms: u64,
    running: BTreeMap<String, Running>,
    ended: VecDeque<ApplicationStatus>,
}

impl Applications {
    /// No applications yet; ids carry `master_start_unix_ms`; a lease not renewed within
    /// `lease_timeout_ms` expires.
    pub fn new(master_start_unix_ms: u64, lease_timeout_ms: u64) -> Self {
        Self {
            id_prefix: format!("app-{master_start_unix_ms}"),
            next_seq: 1,
            lease_timeout_ms,
            running: BTreeMap::new(),
            ended: VecDeque::new(),
        }
    }

    /// The lease timeout (`--app-timeout`).
    pub fn lease_timeout_ms(&self) -> u64 {
        self.lease_timeout_ms
    }

    /// Registers a new application for the member `owner`; returns its id.
    pub fn register_for(&mut self, now_ms: u64, unix_ms: u64, name: &str, owner: &str) -> String {
        let id = self.register(now_ms, unix_ms, name);
        if let Some(entry) = self.running.get_mut(&id) {
            entry.owner = owner.to_string();
        }
        id
    }

    /// The member that registered a running application.
    pub fn owner(&self, app: &str) -> Option<&str> {
        self.running.get(app).map(|e| e.owner.as_str())
    }

    /// Registers a new application; returns its id.
    pub fn register(&mut self, now_ms: u64, unix_ms: u64, name: &str) -> String {
        let id = format!("{}-{:04}", self.id_prefix, self.next_seq);
        self.next_seq += 1;
        self.running.insert(
            id.clone(),
            Running {
                name: name.to_string(),
                owner: String::new(),
                started_unix_ms: unix_ms,
                renewed_ms: now_ms,
            },
        );
        id
    }

    /// Takes back a running application from the master's store after a restart: its lease
    /// starts over at `now_ms`, so its driver has a full timeout to reconnect.
    pub fn restore(
        &mut self,
        now_ms: u64,
        id: &str,
        name: &str,
        owner: &str,
        started_unix_ms: u64,
    ) {
        self.running.insert(
            id.to_string(),
            Running {
                name: name.to_string(),
                owner: owner.to_string(),
                started_unix_ms,
                renewed_ms: now_ms,
            },
        );
    }

    /// Whether `app` is running.
    pub fn is_running(&self, app: &str) -> bool {
        self.running.contains_key(app)
    }

    /// The state of `app`: running, how it ended, or `Unknown` (never issued, or forgotten).
    pub fn state(&self, app: &str) -> AppState {
        if self.running.contains_key(app) {
            return AppState::Running;
        }
        self.ended
            .iter()
            .find(|a| a.id == app)
            .map_or(AppState::Unknown, |a| a.state)
    }

    /// Renews `app`'s lease; `Err` with its state when it is not running.
    pub fn renew(&mut self, now_ms: u64, app: &str) -> Result<(), AppState> {
        match self.running.get_mut(app) {
            Some(entry) => {
                entry.renewed_ms = entry.renewed_ms.max(now_ms);
                Ok(())
            }
            None => Err(self.state(app)),
        }
    }

    /// Renews every lease (a master that was paused or restarted must not act on stale
    /// timers: drivers get a full timeout to renew).
    pub fn renew_all(&mut self, now_ms: u64) {
        for entry in self.running.values_mut() {
            entry.renewed_ms = entry.renewed_ms.max(now_ms);
        }
    }

    /// Ends `app` with `state`; false when it was not running.
    pub fn end(&mut self, unix_ms: u64, app: &str, state: AppState) -> bool {
        let Some(entry) = self.running.remove(app) else {
            return false;
        };
        self.ended.push_front(ApplicationStatus {
            id: app.to_string(),
            name: entry.name,
            state,
            started_ms: entry.started_unix_ms,
            ended_ms: Some(unix_ms.max(entry.started_unix_ms)),
            jobs_running: 0,
            blocks: 0,
            memory_bytes: 0,
        });
        self.ended.truncate(MAX_ENDED_APPLICATIONS);
        true
    }

    /// Applications whose lease ran out by `now_ms` (still listed as running: the caller
    /// releases them and ends them as `Lost`).
    pub fn expired(&self, now_ms: u64) -> Vec<String> {
        self.running
            .iter()
            .filter(|(_, e)| now_ms.saturating_sub(e.renewed_ms) > self.lease_timeout_ms)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Running applications (oldest first), then ended ones (newest first). The per-application
    /// figures come from `figures(app) -> (jobs_running, blocks, bytes)`.
    pub fn snapshot(&self, figures: impl Fn(&str) -> (u64, u64, u64)) -> Vec<ApplicationStatus> {
        let mut out: Vec<ApplicationStatus> = self
            .running
            .iter()
            .map(|(id, e)| {
                let (jobs_running, blocks, memory_bytes) = figures(id);
                ApplicationStatus {
                    id: id.clone(),
                    name: e.name.clone(),
                    state: AppState::Running,
                    started_ms: e.started_unix_ms,
                    ended_ms: None,
                    jobs_running,
                    blocks,
                    memory_bytes,
                }
            })
            .collect();
        // Ids of one master sort by sequence (zero-padded), so this is registration order.
        out.sort_by_key(|a| (a.started_ms, a.id.clone()));
        out.extend(self.ended.iter().map(|a| {
            let (_, blocks, memory_bytes) = figures(&a.id);
            ApplicationStatus {
                blocks,
                memory_bytes,
                ..a.clone()
            }
        }));
        out
    }

    /// Running application ids.
    pub fn running_ids(&self) -> Vec<String> {
        self.running.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_carry_the_master_start() {
        let mut apps = Applications::new(1_700_000_000_000, 30_000);
        let a = apps.register(0, 10, "a");
        let b = apps.register(0, 11, "b");
        assert_ne!(a, b);
        assert_eq!(a, "app-1700000000000-0001");
        assert!(!a.contains('_'), "block names split on '_'");
        let mut restarted = Applications::new(1_700_000_000_001, 30_000);
        assert_ne!(restarted.register(0, 12, "a"), a);
    }

    #[test]
    fn leases_expire_unless_renewed() {
        let mut apps = Applications::new(1, 1_000);
        let a = apps.register(0, 100, "a");
        let b = apps.register(0, 100, "b");
        assert!(apps.expired(1_000).is_empty());
        apps.renew(900, &a).unwrap();
        assert_eq!(apps.expired(1_500), vec![b.clone()]);
        assert!(apps.end(2_000, &b, AppState::Lost));
        assert_eq!(apps.renew(1_600, &b), Err(AppState::Lost));
        assert_eq!(apps.renew(1_600, "app-9-9999"), Err(AppState::Unknown));
        // A resumed master renews every lease before looking at its timers.
        apps.renew_all(50_000);
        assert!(apps.expired(50_900).is_empty());
        assert_eq!(apps.expired(51_001), vec![a]);
    }

    #[test]
    fn snapshot_lists_running_then_ended_newest_first_bounded() {
        let mut apps = Applications::new(1, 1_000);
        let ids: Vec<String> = (0..MAX_ENDED_APPLICATIONS + 5)
            .map(|i| apps.register(0, i as u64, &format!("a{i}")))
            .collect();
        let keep = apps.register(0, 500, "keep");
        for (i, id) in ids.iter().enumerate() {
            let state = if i % 2 == 0 {
                AppState::Finished
            } else {
                AppState::Failed
            };
            assert!(apps.end(1_000 + i as u64, id, state));
        }
        assert!(!apps.end(5_000, &ids[0], AppState::Killed), "ends once");
        let snap = apps.snapshot(|id| if id == keep { (2, 3, 4) } else { (0, 0, 0) });
        assert_eq!(snap.len(), 1 + MAX_ENDED_APPLICATIONS);
        assert_eq!(snap[0].id, keep);
        assert_eq!((snap[0].jobs_running, snap[0].blocks), (2, 3));
        assert_eq!(snap[0].ended_ms, None);
        assert_eq!(snap[1].id, *ids.last().unwrap());
        assert!(snap[1].ended_ms.is_some());
        assert_eq!(
            apps.state(&ids[0]),
            AppState::Unknown,
            "fell off the history"
        );
    }
}
