//! The Worker actor: the worker's own state (identity, registration). Tasks will run under it.

use actix::{Actor, Context, Handler, Message, MessageResult};
use tracing::info;

/// Everything the Worker actor accepts.
#[derive(Debug)]
pub enum WorkerMsg {
    /// The session loop registered with the master. Reply: [`WorkerInfo`].
    SessionUp {
        /// Incarnation handed out by the master.
        incarnation: u64,
    },
    /// The session with the master ended. Reply: [`WorkerInfo`].
    SessionDown {
        /// Why.
        reason: String,
    },
    /// Who am I? Reply: [`WorkerInfo`].
    Describe,
    /// Fault injection: panics in the handler (no reply). Tests that a panicking actor ends
    /// the daemon instead of leaving it without the actor.
    InjectPanic,
}

/// A snapshot of the worker's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Stable id.
    pub worker_id: String,
    /// Current incarnation, if registered.
    pub incarnation: Option<u64>,
    /// Sessions started so far (1 after the first registration).
    pub sessions: u64,
}

impl Message for WorkerMsg {
    type Result = WorkerInfo;
}

/// The worker actor.
pub struct Worker {
    info: WorkerInfo,
}

impl Worker {
    /// A worker with a stable id, not yet registered.
    pub fn new(worker_id: String) -> Self {
        Self {
            info: WorkerInfo {
                worker_id,
                incarnation: None,
                sessions: 0,
            },
        }
    }
}

impl Actor for Worker {
    type Context = Context<Self>;
}

impl Handler<WorkerMsg> for Worker {
    type Result = MessageResult<WorkerMsg>;

    fn handle(&mut self, msg: WorkerMsg, _ctx: &mut Self::Context) -> Self::Result {
        match msg {
            WorkerMsg::SessionUp { incarnation } => {
                self.info.incarnation = Some(incarnation);
                self.info.sessions += 1;
                info!(worker = %self.info.worker_id, incarnation, "registered with master");
            }
            WorkerMsg::SessionDown { reason } => {
                self.info.incarnation = None;
                info!(worker = %self.info.worker_id, "session with master ended: {reason}");
            }
            WorkerMsg::Describe => {}
            WorkerMsg::InjectPanic => {
                panic!("fault injection: panic requested in the Worker actor's handler")
            }
        }
        MessageResult(self.info.clone())
    }
}
