//! The Master actor: owns [`Membership`] and answers every master request in arrival order.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message};
use tracing::{info, warn};

use super::membership::{HeartbeatOutcome, Membership, Registration};
use crate::clock::Clock;
use crate::transport::PeerInfo;
use crate::wire::{ClusterStatus, MasterRequest, MasterResponse};

/// Everything the Master actor accepts. Replies are [`MasterResponse`]s.
#[derive(Debug)]
pub enum MasterMsg {
    /// A request that arrived over the wire from `peer`.
    Request {
        /// The connection it came on.
        peer: PeerInfo,
        /// The request.
        request: MasterRequest,
    },
    /// A hello-checked connection closed; workers registered on it are lost at once.
    ConnectionClosed {
        /// The connection.
        peer: PeerInfo,
        /// Why it closed.
        reason: String,
    },
    /// Time to declare silent workers lost (sent by the actor's own timer; tests may send it).
    CheckHeartbeats,
}

impl Message for MasterMsg {
    type Result = MasterResponse;
}

/// The master actor. Private state; reach it through its `Addr` (in process) or
/// [`super::MasterClient`] (over QUIC).
pub struct Master {
    membership: Membership,
    clock: Arc<dyn Clock>,
    address: String,
    heartbeat_interval: Duration,
    recomputed_partitions: u64,
}

impl Master {
    /// A master advertising `address`, expecting heartbeats every `heartbeat_interval` and
    /// declaring workers lost after `heartbeat_timeout` of silence.
    pub fn new(
        address: String,
        heartbeat_interval: Duration,
        heartbeat_timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            membership: Membership::new(heartbeat_timeout.as_millis() as u64),
            clock,
            address,
            heartbeat_interval,
            recomputed_partitions: 0,
        }
    }

    fn on_request(&mut self, peer: &PeerInfo, request: MasterRequest) -> MasterResponse {
        let now = self.clock.now_ms();
        match request {
            MasterRequest::RegisterWorker {
                worker_id,
                address,
                cores,
                memory_budget_bytes,
                pid,
                blocks,
            } => {
                let reg = Registration {
                    worker_id: worker_id.clone(),
                    address: address.clone(),
                    cores,
                    memory_budget_bytes,
                    pid,
                    blocks,
                };
                let incarnation = self.membership.register(now, peer.conn_id, reg);
                info!(worker = %worker_id, %address, incarnation, cores, memory_budget_bytes, "worker registered");
                MasterResponse::Registered {
                    incarnation,
                    heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
                }
            }
            MasterRequest::Heartbeat {
                worker_id,
                incarnation,
                stats,
            } => outcome_response(
                self.membership
                    .heartbeat(now, &worker_id, incarnation, stats),
            ),
            MasterRequest::BlockUpdate {
                worker_id,
                incarnation,
                block_id,
                size_bytes,
                present,
            } => outcome_response(self.membership.block_update(
                now,
                &worker_id,
                incarnation,
                block_id,
                size_bytes,
                present,
            )),
            MasterRequest::LocateBlock { block_id } => MasterResponse::Locations {
                holders: self.membership.locate(&block_id),
            },
            MasterRequest::Status => MasterResponse::Status(ClusterStatus {
                master: self.address.clone(),
                uptime_ms: now,
                workers: self.membership.snapshot(now),
                recomputed_partitions: self.recomputed_partitions,
            }),
        }
    }
}

fn outcome_response(outcome: HeartbeatOutcome) -> MasterResponse {
    match outcome {
        HeartbeatOutcome::Ack => MasterResponse::Ack,
        HeartbeatOutcome::ReRegister(reason) => MasterResponse::ReRegister { reason },
        HeartbeatOutcome::Superseded(current_incarnation) => MasterResponse::Superseded {
            current_incarnation,
        },
    }
}

impl Actor for Master {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let period = (self.heartbeat_interval / 2).max(Duration::from_millis(50));
        ctx.run_interval(period, |_, ctx| ctx.notify(MasterMsg::CheckHeartbeats));
        info!(address = %self.address, "master started");
    }
}

impl Handler<MasterMsg> for Master {
    type Result = actix::MessageResult<MasterMsg>;

    fn handle(&mut self, msg: MasterMsg, _ctx: &mut Self::Context) -> Self::Result {
        let response = match msg {
            MasterMsg::Request { peer, request } => self.on_request(&peer, request),
            MasterMsg::ConnectionClosed { peer, reason } => {
                for id in self.membership.connection_closed(peer.conn_id) {
                    warn!(worker = %id, "worker lost: connection closed ({reason})");
                }
                MasterResponse::Ack
            }
            MasterMsg::CheckHeartbeats => {
                for id in self.membership.expire(self.clock.now_ms()) {
                    warn!(worker = %id, "worker lost: no heartbeat within the timeout");
                }
                MasterResponse::Ack
            }
        };
        actix::MessageResult(response)
    }
}
