//! The Cinder chaos harness: starts real clusters (master + workers over QUIC on 127.0.0.1),
//! runs workloads, injects faults scheduled from one seed (SIGKILL, restart, SIGSTOP/SIGCONT,
//! spilled-block corruption, lossy and partitioned links through UDP fault proxies) and checks
//! that the results equal a fault-free run bit for bit. [`sim`] is the second, deterministic
//! level: the scheduler and membership driven with virtual workers and a virtual clock.

#![warn(missing_docs)]

pub mod cluster;
pub mod drivers;
pub mod harness;
pub mod proxy;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod workload;
