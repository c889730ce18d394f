//! The master's QUIC service: decodes [`MasterRequest`]s and hands them to the actor.

use actix::Addr;

use super::actor::{Master, MasterMsg};
use crate::authz;
use crate::scheduler::JobOutcome;
use crate::transport::{Limits, PeerInfo, Service, StreamIo};
use crate::wire::{FrameError, JobSpec, MasterRequest, MasterResponse};
use tokio::sync::oneshot;

/// Serves master requests by forwarding them to the [`Master`] actor.
pub struct MasterService {
    actor: Addr<Master>,
    limits: Limits,
}

impl MasterService {
    /// A service in front of `actor`, reporting `limits` in status answers.
    pub fn new(actor: Addr<Master>, limits: Limits) -> Self {
        Self { actor, limits }
    }
}

impl MasterService {
    /// Submits a job and answers when it ends: results as a body, or the typed failure.
    async fn run_job(
        &self,
        peer: &PeerInfo,
        spec: JobSpec,
        io: &mut StreamIo,
    ) -> Result<(), FrameError> {
        let (reply, outcome) = oneshot::channel();
        let peer = peer.clone();
        if let Err(e) = self
            .actor
            .send(MasterMsg::SubmitJob { peer, spec, reply })
            .await
        {
            let message = format!("master actor unavailable: {e}");
            return io.respond(&MasterResponse::Error { message }).await;
        }
        match outcome.await {
            Ok(JobOutcome::Finished { results, .. }) => {
                let body = rmp_serde::to_vec_named(&results)
                    .map_err(|e| FrameError::Encode(e.to_string()))?;
                io.respond(&MasterResponse::JobDone {
                    len: body.len() as u64,
                })
                .await?;
                io.send
                    .write_chunk(body.into())
                    .await
                    .map_err(|e| FrameError::Io(std::io::Error::other(e)))
            }
            Ok(JobOutcome::Failed(error)) => io.respond(&MasterResponse::JobFailed(error)).await,
            Err(_) => {
                let message = "the master dropped the job".to_string();
                io.respond(&MasterResponse::Error { message }).await
            }
        }
    }
}

impl Service for MasterService {
    type Request = MasterRequest;

    fn name(&self) -> String {
        "master".into()
    }

    async fn handle(
        &self,
        peer: &PeerInfo,
        request: MasterRequest,
        io: &mut StreamIo,
    ) -> Result<(), FrameError> {
        if let Err(denied) = authz::authorize(&peer.identity, &authz::master_operation(&request)) {
            let message = denied.to_string();
            authz::log_refusal(peer.remote, &message);
            return io.respond(&MasterResponse::Error { message }).await;
        }
        if let MasterRequest::RunJob(spec) = request {
            return self.run_job(peer, spec, io).await;
        }
        let msg = MasterMsg::Request {
            peer: peer.clone(),
            request,
        };
        let mut response = self
            .actor
            .send(msg)
            .await
            .unwrap_or_else(|e| MasterResponse::Error {
                message: format!("master actor unavailable: {e}"),
            });
        if let MasterResponse::Status(status) = &mut response {
            status.limits = Some(self.limits.clone());
        }
        io.respond(&response).await
    }

    fn connection_closed(&self, peer: &PeerInfo, reason: &str) {
        self.actor.do_send(MasterMsg::ConnectionClosed {
            peer: peer.clone(),
            reason: reason.to_string(),
        });
    }
}
