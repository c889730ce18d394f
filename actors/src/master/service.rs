//! The master's QUIC service: decodes [`MasterRequest`]s and hands them to the actor.

use actix::Addr;

use super::actor::{Master, MasterMsg};
use crate::transport::{PeerInfo, Service, StreamIo};
use crate::wire::{FrameError, MasterRequest, MasterResponse};

/// Serves master requests by forwarding them to the [`Master`] actor.
pub struct MasterService {
    actor: Addr<Master>,
}

impl MasterService {
    /// A service in front of `actor`.
    pub fn new(actor: Addr<Master>) -> Self {
        Self { actor }
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
        let msg = MasterMsg::Request {
            peer: peer.clone(),
            request,
        };
        let response = self
            .actor
            .send(msg)
            .await
            .unwrap_or_else(|e| MasterResponse::Error {
                message: format!("master actor unavailable: {e}"),
            });
        io.respond(&response).await
    }

    fn connection_closed(&self, peer: &PeerInfo, reason: &str) {
        self.actor.do_send(MasterMsg::ConnectionClosed {
            peer: peer.clone(),
            reason: reason.to_string(),
        });
    }
}
