//! The master: membership, failure detection and the block location table, as an actix actor
//! served over QUIC.

pub mod actor;
pub mod applications;
pub mod client;
pub mod daemon;
pub mod history;
pub mod membership;
pub mod service;
pub mod store;

pub use actor::{Master, MasterMsg};
pub use client::MasterClient;
pub use daemon::{start_master, MasterConfig, MasterStartError, RunningMaster};
pub use history::{History, HistoryLimits};
pub use membership::{HeartbeatOutcome, Membership};
pub use store::{MasterStore, StoreError};
