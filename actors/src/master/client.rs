//! [`MasterClient`]: the typed remote handle to a master, used by workers, drivers and the CLI.

use std::net::SocketAddr;

use crate::transport::{endpoint::resolve, PeerConn, Role, TransportError};
use crate::wire::{BlockId, ClusterStatus, MasterRequest, MasterResponse, PeerRole};

/// A connection to the master with one method per request.
#[derive(Debug, Clone)]
pub struct MasterClient {
    conn: PeerConn,
}

impl MasterClient {
    /// Connects through `endpoint` to the master at `addr` (`host:port` or `cinder://host:port`).
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        addr: &str,
        role: PeerRole,
        name: &str,
    ) -> Result<Self, TransportError> {
        let addr = resolve(addr).await?;
        Self::connect_addr(endpoint, addr, role, name).await
    }

    /// Connects to a resolved address. The peer must present a `master` (or `admin`)
    /// certificate: anything else is refused as the master.
    pub async fn connect_addr(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        role: PeerRole,
        name: &str,
    ) -> Result<Self, TransportError> {
        let conn = PeerConn::connect(endpoint, addr, role, name).await?;
        let refuse = |reason: String| {
            conn.close("not a master certificate");
            Err(TransportError::Refused { addr, reason })
        };
        match conn.identity() {
            Ok(id) if matches!(id.role, Role::Master | Role::Admin) => Ok(Self { conn }),
            Ok(id) => refuse(format!(
                "it presents a {} certificate (member {:?}); only a master or admin certificate \
                 is accepted as the master",
                id.role, id.name
            )),
            Err(e) => refuse(format!("its certificate states no identity: {e}")),
        }
    }

    /// The underlying connection.
    pub fn conn(&self) -> &PeerConn {
        &self.conn
    }

    /// Sends any request and returns the raw response.
    pub async fn call(&self, request: &MasterRequest) -> Result<MasterResponse, TransportError> {
        self.conn.request(request).await
    }

    /// The cluster state.
    pub async fn status(&self) -> Result<ClusterStatus, TransportError> {
        match self.call(&MasterRequest::Status).await? {
            MasterResponse::Status(status) => Ok(status),
            other => Err(self.unexpected(other)),
        }
    }

    /// Alive holders of a block as `(worker id, address)`.
    pub async fn locate(
        &self,
        block_id: &BlockId,
    ) -> Result<Vec<(String, String)>, TransportError> {
        let request = MasterRequest::LocateBlock {
            block_id: block_id.clone(),
        };
        match self.call(&request).await? {
            MasterResponse::Locations { holders } => Ok(holders),
            other => Err(self.unexpected(other)),
        }
    }

    fn unexpected(&self, answer: MasterResponse) -> TransportError {
        TransportError::Unexpected {
            addr: self.conn.addr(),
            answer: format!("{answer:?}"),
        }
    }
}
