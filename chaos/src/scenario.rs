//! The scenarios: a workload, a number of workers and a fault schedule drawn from one seed.

use std::time::Duration;

use crate::rng::Rng;
use crate::workload::Workload;

/// The kind of faults a scenario injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Several SIGKILLs of random live workers at random moments.
    KillRandom {
        /// How many kills.
        kills: usize,
    },
    /// SIGKILL of the worker holding the only copy of a cached block.
    KillHolder,
    /// SIGKILL of two workers at the same moment.
    KillTwo,
    /// SIGKILLs, each followed by a restart of that worker after a delay (new incarnation,
    /// same work dir).
    KillRestart {
        /// How many kill/restart rounds.
        kills: usize,
    },
    /// SIGSTOP of a worker past the heartbeat timeout, then SIGCONT: the zombie must come back
    /// as a new incarnation without corrupting anything.
    StopCont,
    /// Corruption of spilled blocks on disk before the scan.
    CorruptSpill,
    /// Lossy links: every datagram through a fault proxy that drops, delays, duplicates and
    /// reorders.
    NetLossy,
    /// A full network partition of one worker past the heartbeat timeout, then healed.
    NetPartition,
    /// Every worker running a task is SIGKILLed and restarted, again and again, until the job
    /// exceeds its retry budget: it must fail with the documented error and leave nothing
    /// half-written.
    ExhaustRetries,
    /// Two drivers (separate processes) run at once on one cluster; one is SIGKILLed while its
    /// job runs with cached blocks: its application must be declared lost within the app
    /// timeout and its blocks dropped from every worker, the other driver unaffected.
    KillDriver,
}

/// A named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name (`--scenario NAME`).
    pub name: &'static str,
    /// What runs.
    pub workload: Workload,
    /// What breaks.
    pub fault: FaultKind,
    /// One line for `cinder-chaos list`.
    pub about: &'static str,
}

/// Every scenario, in suite order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "kill-random",
        workload: Workload::CachedScan,
        fault: FaultKind::KillRandom { kills: 2 },
        about: "two SIGKILLs of random workers at random moments of a cached scan",
    },
    Scenario {
        name: "kill-cached-holder",
        workload: Workload::CachedScan,
        fault: FaultKind::KillHolder,
        about: "SIGKILL of the worker holding the only copy of a cached block",
    },
    Scenario {
        name: "kill-during-shuffle",
        workload: Workload::Shuffle,
        fault: FaultKind::KillRandom { kills: 1 },
        about: "SIGKILL of a random worker while shuffle map outputs are written",
    },
    Scenario {
        name: "kill-two-at-once",
        workload: Workload::Shuffle,
        fault: FaultKind::KillTwo,
        about: "SIGKILL of two workers at the same moment of a shuffle job",
    },
    Scenario {
        name: "kill-restart",
        workload: Workload::Shuffle,
        fault: FaultKind::KillRestart { kills: 3 },
        about:
            "three SIGKILLs, each worker restarted (new incarnation, same work dir) after a delay",
    },
    Scenario {
        name: "stop-cont-zombie",
        workload: Workload::CachedScan,
        fault: FaultKind::StopCont,
        about: "SIGSTOP past the heartbeat timeout, then SIGCONT: the zombie re-registers",
    },
    Scenario {
        name: "corrupt-spilled-block",
        workload: Workload::Spill,
        fault: FaultKind::CorruptSpill,
        about: "corrupt spilled blocks on disk: recomputed from lineage, never returned",
    },
    Scenario {
        name: "spill-kill",
        workload: Workload::Spill,
        fault: FaultKind::KillRandom { kills: 1 },
        about: "SIGKILL of a worker while scanning data twice the memory budgets",
    },
    Scenario {
        name: "logreg-kill-restart",
        workload: Workload::LogReg,
        fault: FaultKind::KillRestart { kills: 1 },
        about: "logistic regression with a worker killed mid-training and restarted",
    },
    Scenario {
        name: "kmeans-kill",
        workload: Workload::KMeans,
        fault: FaultKind::KillRandom { kills: 1 },
        about: "k-means with a worker killed mid-training",
    },
    Scenario {
        name: "net-lossy",
        workload: Workload::Shuffle,
        fault: FaultKind::NetLossy,
        about: "every QUIC datagram through a proxy that drops, delays, duplicates, reorders",
    },
    Scenario {
        name: "net-partition",
        workload: Workload::CachedScan,
        fault: FaultKind::NetPartition,
        about: "one worker cut off past the heartbeat timeout, then healed",
    },
    Scenario {
        name: "retry-budget-exhausted",
        workload: Workload::Write,
        fault: FaultKind::ExhaustRetries,
        about: "every busy worker killed until the write fails as documented, nothing written",
    },
    Scenario {
        name: "two-drivers-one-killed",
        workload: Workload::CachedScan,
        fault: FaultKind::KillDriver,
        about: "two driver processes at once, one SIGKILLed: its app lost and released, the other exact",
    },
];

/// Looks a scenario up by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL live workers, chosen by these random numbers among the live ones at the time.
    KillRandom(Vec<u64>),
    /// SIGKILL worker `index`.
    Kill(usize),
    /// Start the most recently killed worker again.
    RestartLastKilled,
    /// SIGSTOP a live worker chosen by this random number.
    Stop(u64),
    /// SIGCONT every stopped worker.
    Cont,
    /// Corrupt this many spilled blocks (chosen by the seed).
    Corrupt(usize),
    /// Cut a live worker chosen by this random number off the network.
    Partition(u64),
    /// Heal every partition.
    Heal,
    /// SIGKILL every worker running a task and start it again at once.
    KillBusy,
    /// SIGKILL the driver process that is to be killed (once its job runs with cached blocks).
    KillDriver,
}

/// A fault and when it is due, from the start of the timed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Offset from the start of the run.
    pub at: Duration,
    /// What to do.
    pub action: Action,
}

/// The fault schedule of `scenario` for `seed`, given the fault-free run's duration and the
/// heartbeat timeout; `holder` is the worker holding a chosen cached block, if any.
pub fn plan(
    scenario: &Scenario,
    seed: u64,
    baseline: Duration,
    heartbeat_timeout: Duration,
    holder: Option<usize>,
) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ crate::rng::fnv1a(scenario.name.bytes()));
    let d = baseline.as_millis() as u64;
    let at = |rng: &mut Rng, lo: u64, hi: u64| {
        Duration::from_millis(rng.between(d * lo / 100, d * hi / 100))
    };
    let mut out = Vec::new();
    match scenario.fault {
        FaultKind::KillRandom { kills } => {
            for k in 0..kills as u64 {
                let (lo, hi) = (10 + 30 * k, 35 + 30 * k);
                out.push(Planned {
                    at: at(&mut rng, lo, hi),
                    action: Action::KillRandom(vec![rng.next_u64()]),
                });
            }
        }
        FaultKind::KillHolder => out.push(Planned {
            at: at(&mut rng, 10, 40),
            action: match holder {
                Some(i) => Action::Kill(i),
                None => Action::KillRandom(vec![rng.next_u64()]),
            },
        }),
        FaultKind::KillTwo => out.push(Planned {
            at: at(&mut rng, 15, 45),
            action: Action::KillRandom(vec![rng.next_u64(), rng.next_u64()]),
        }),
        FaultKind::KillRestart { kills } => {
            let mut t = at(&mut rng, 5, 20);
            for _ in 0..kills {
                out.push(Planned {
                    at: t,
                    action: Action::KillRandom(vec![rng.next_u64()]),
                });
                t += Duration::from_millis(rng.between(300, 1200));
                out.push(Planned {
                    at: t,
                    action: Action::RestartLastKilled,
                });
                t += Duration::from_millis(rng.between(100, 600));
            }
        }
        FaultKind::StopCont => {
            let t = at(&mut rng, 10, 30);
            out.push(Planned {
                at: t,
                action: Action::Stop(rng.next_u64()),
            });
            out.push(Planned {
                at: t + heartbeat_timeout + Duration::from_millis(rng.between(300, 1500)),
                action: Action::Cont,
            });
        }
        FaultKind::CorruptSpill => out.push(Planned {
            at: Duration::ZERO,
            action: Action::Corrupt(1 + rng.below(3) as usize),
        }),
        FaultKind::NetLossy => {}
        FaultKind::KillDriver => out.push(Planned {
            at: at(&mut rng, 15, 45),
            action: Action::KillDriver,
        }),
        FaultKind::ExhaustRetries => {
            let first = rng.between(50, 150);
            for k in 0..200 {
                out.push(Planned {
                    at: Duration::from_millis(first + 150 * k),
                    action: Action::KillBusy,
                });
            }
        }
        FaultKind::NetPartition => {
            let t = at(&mut rng, 10, 30);
            out.push(Planned {
                at: t,
                action: Action::Partition(rng.next_u64()),
            });
            out.push(Planned {
                at: t + heartbeat_timeout + Duration::from_millis(rng.between(300, 1500)),
                action: Action::Heal,
            });
        }
    }
    out.sort_by_key(|p| p.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_reproducible_from_the_seed() {
        for s in SCENARIOS {
            let a = plan(
                s,
                42,
                Duration::from_secs(3),
                Duration::from_millis(1500),
                Some(1),
            );
            let b = plan(
                s,
                42,
                Duration::from_secs(3),
                Duration::from_millis(1500),
                Some(1),
            );
            assert_eq!(a, b, "{}", s.name);
        }
        let names: std::collections::HashSet<_> = SCENARIOS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), SCENARIOS.len(), "unique names");
    }

    #[test]
    fn a_driver_is_killed_once_inside_the_first_half_of_the_fault_free_run() {
        let s = find("two-drivers-one-killed").expect("registered");
        let baseline = Duration::from_secs(2);
        for seed in 0..200 {
            let p = plan(s, seed, baseline, Duration::from_millis(1500), None);
            assert_eq!(p.len(), 1, "seed {seed}: {p:?}");
            assert_eq!(p[0].action, Action::KillDriver);
            assert!(p[0].at >= baseline * 15 / 100 && p[0].at <= baseline * 45 / 100);
        }
    }
}
