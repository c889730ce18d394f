//! Who may do what: every request a master or worker serves is one [`Operation`], allowed or
//! refused by the role in the peer's certificate ([`crate::transport::Identity`]).
//!
//! | operation | master | worker | driver | monitor | admin |
//! | --- | --- | --- | --- | --- | --- |
//! | read status | yes | yes | yes | yes | yes |
//! | act as worker `id` (register, heartbeat, block updates) | | only `id` = its name | | | yes |
//! | locate blocks | yes | yes | yes | | yes |
//! | submit jobs, unpersist | | | yes | | yes |
//! | ping a worker | yes | yes | yes | | yes |
//! | read, write, fetch, remove blocks on a worker | yes | yes | own application's | | yes |
//! | register, renew, end applications | | | yes | | yes |
//! | kill applications (`cinder app kill`) | | | | | yes |
//! | drop an application's blocks on a worker | yes | | | | yes |
//! | run tasks | yes | | | | yes |
//! | fault injection | | | | | yes |
//!
//! The driver's "own application" rule belongs to the applications model: the worker service
//! checks it after this table (a driver's hello names its application, and a block's name
//! carries its application; a `driver` certificate that names no application touches no block).

use std::fmt;

use crate::transport::limits::{RateLimitedLog, Refusal};
use crate::transport::{Identity, Role};
use crate::wire::{BlockId, MasterRequest, WorkerRequest};

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Read the cluster status.
    ReadStatus,
    /// Register, heartbeat or report blocks as the worker `worker_id`.
    ActAsWorker {
        /// The worker id the request claims.
        worker_id: String,
    },
    /// Ask where blocks live.
    LocateBlocks,
    /// Submit a job.
    SubmitJob,
    /// Drop a dataset's persisted blocks everywhere.
    Unpersist,
    /// Liveness probe of a worker.
    Ping,
    /// Read, write, fetch or remove one block on a worker.
    TouchBlock {
        /// The block.
        block_id: BlockId,
        /// What is done to it (`read`, `write`, `fetch`, `remove`).
        access: &'static str,
    },
    /// Start, renew or end an application (a driver's own lifecycle).
    DriveApplication,
    /// End someone's application (`cinder app kill`).
    KillApplication,
    /// Drop an ended application's blocks on a worker.
    DropApplication,
    /// Run a task on a worker.
    RunTask,
    /// Fault injection (corrupt a block).
    FaultInjection,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::ReadStatus => f.write_str("read the cluster status"),
            Operation::ActAsWorker { worker_id } => write!(f, "act as worker {worker_id:?}"),
            Operation::LocateBlocks => f.write_str("locate blocks"),
            Operation::SubmitJob => f.write_str("submit jobs"),
            Operation::Unpersist => f.write_str("unpersist datasets"),
            Operation::Ping => f.write_str("ping workers"),
            Operation::TouchBlock { block_id, access } => write!(f, "{access} block {block_id}"),
            Operation::DriveApplication => f.write_str("register or end applications"),
            Operation::KillApplication => f.write_str("kill applications"),
            Operation::DropApplication => f.write_str("drop applications' blocks"),
            Operation::RunTask => f.write_str("run tasks"),
            Operation::FaultInjection => f.write_str("inject faults"),
        }
    }
}

/// A refused operation: names the role, the member and the operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("permission denied: role {role} (member {name:?}) may not {operation}{detail}")]
pub struct Denied {
    /// The peer's role.
    pub role: Role,
    /// The peer's name.
    pub name: String,
    /// What it asked.
    pub operation: String,
    /// Why, when the role alone does not say it.
    pub detail: String,
}

/// Logs a refused request with the peer's address, at most 20 lines per second (with the
/// number left out), so an authenticated peer cannot flood the log with refusals.
pub fn log_refusal(peer: std::net::SocketAddr, message: &str) {
    static LOG: std::sync::LazyLock<RateLimitedLog> =
        std::sync::LazyLock::new(|| RateLimitedLog::new(std::time::Duration::from_secs(1), 20));
    LOG.refused(Refusal::Identity, peer, &format!("refused: {message}"));
}

/// The operation a master request asks for.
pub fn master_operation(request: &MasterRequest) -> Operation {
    match request {
        MasterRequest::RegisterWorker { worker_id, .. }
        | MasterRequest::WorkerExited { worker_id, .. }
        | MasterRequest::Heartbeat { worker_id, .. }
        | MasterRequest::BlockUpdate { worker_id, .. } => Operation::ActAsWorker {
            worker_id: worker_id.clone(),
        },
        MasterRequest::LocateBlock { .. } | MasterRequest::ApplicationOwner { .. } => {
            Operation::LocateBlocks
        }
        MasterRequest::Status => Operation::ReadStatus,
        MasterRequest::RunJob(_) => Operation::SubmitJob,
        MasterRequest::Unpersist { .. } => Operation::Unpersist,
        MasterRequest::RegisterApplication { .. }
        | MasterRequest::RenewLease { .. }
        | MasterRequest::EndApplication { .. } => Operation::DriveApplication,
        MasterRequest::KillApplication { .. } => Operation::KillApplication,
    }
}

/// The operation a worker request asks for.
pub fn worker_operation(request: &WorkerRequest) -> Operation {
    let touch = |block_id: &BlockId, access| Operation::TouchBlock {
        block_id: block_id.clone(),
        access,
    };
    match request {
        WorkerRequest::Ping => Operation::Ping,
        WorkerRequest::PutBlock { block_id, .. } => touch(block_id, "write"),
        WorkerRequest::GetBlock { block_id } => touch(block_id, "read"),
        WorkerRequest::FetchBlock { block_id } => touch(block_id, "fetch"),
        WorkerRequest::RemoveBlock { block_id } => touch(block_id, "remove"),
        WorkerRequest::RunTask(_) => Operation::RunTask,
        WorkerRequest::DropApplication { .. } => Operation::DropApplication,
        WorkerRequest::CorruptBlock { .. } | WorkerRequest::InjectPanic => {
            Operation::FaultInjection
        }
    }
}

/// Allows or refuses `operation` for the peer `identity`.
pub fn authorize(identity: &Identity, operation: &Operation) -> Result<(), Denied> {
    use Operation as Op;
    use Role::*;
    let allowed = match (identity.role, operation) {
        (Admin, _) => true,
        (_, Op::ReadStatus) => true,
        (Monitor, _) => false,
        (Worker, Op::ActAsWorker { worker_id }) => *worker_id == identity.name,
        (_, Op::ActAsWorker { .. }) => false,
        (Master | Worker | Driver, Op::LocateBlocks | Op::Ping) => true,
        (Driver, Op::SubmitJob | Op::Unpersist | Op::DriveApplication) => true,
        (_, Op::SubmitJob | Op::Unpersist | Op::DriveApplication) => false,
        (Master, Op::DropApplication) => true,
        (_, Op::DropApplication | Op::KillApplication) => false,
        (Master | Worker, Op::TouchBlock { .. }) => true,
        (Driver, Op::TouchBlock { .. }) => true,
        (Master, Op::RunTask) => true,
        (_, Op::RunTask | Op::FaultInjection) => false,
    };
    if allowed {
        return Ok(());
    }
    let detail = match operation {
        Op::ActAsWorker { .. } if identity.role == Worker => {
            format!(" (its certificate is for worker {:?})", identity.name)
        }
        _ => String::new(),
    };
    Err(Denied {
        role: identity.role,
        name: identity.name.clone(),
        operation: operation.to_string(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, name: &str) -> Identity {
        Identity {
            role,
            name: name.into(),
            serial: vec![1],
            legacy: false,
        }
    }

    fn act_as(id: &str) -> Operation {
        Operation::ActAsWorker {
            worker_id: id.into(),
        }
    }

    #[test]
    fn the_role_table_holds() {
        let block = Operation::TouchBlock {
            block_id: BlockId::new("rdd_1_0"),
            access: "read",
        };
        let cases = [
            (Role::Monitor, Operation::ReadStatus, true),
            (Role::Monitor, Operation::SubmitJob, false),
            (Role::Monitor, Operation::Ping, false),
            (Role::Monitor, block.clone(), false),
            (Role::Driver, Operation::SubmitJob, true),
            (Role::Driver, act_as("w1"), false),
            (Role::Driver, Operation::RunTask, false),
            (Role::Driver, block.clone(), true),
            (Role::Worker, act_as("w1"), true),
            (Role::Worker, act_as("w2"), false),
            (Role::Worker, Operation::SubmitJob, false),
            (Role::Worker, block.clone(), true),
            (Role::Worker, Operation::RunTask, false),
            (Role::Master, Operation::RunTask, true),
            (Role::Master, act_as("w1"), false),
            (Role::Master, Operation::FaultInjection, false),
            (Role::Admin, act_as("anyone"), true),
            (Role::Admin, Operation::FaultInjection, true),
        ];
        for (role, op, expected) in cases {
            let got = authorize(&who(role, "w1"), &op).is_ok();
            assert_eq!(got, expected, "{role} {op}");
        }
    }

    #[test]
    fn refusals_name_role_member_and_operation() {
        let err = authorize(&who(Role::Monitor, "mon"), &Operation::SubmitJob).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("monitor") && text.contains("mon") && text.contains("submit jobs"));
        let err = authorize(&who(Role::Worker, "w1"), &act_as("w2")).unwrap_err();
        assert!(err.to_string().contains("\"w2\"") && err.to_string().contains("\"w1\""));
    }
}
