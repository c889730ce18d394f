//! One live connection per peer address, opened on first use and replaced when it closes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::{PeerConn, TransportError};
use crate::wire::PeerRole;

/// A pool of hello-checked connections keyed by peer address. Cheap to clone.
#[derive(Clone)]
pub struct PeerPool {
    endpoint: quinn::Endpoint,
    role: PeerRole,
    name: Arc<str>,
    application: Option<Arc<str>>,
    conns: Arc<Mutex<HashMap<SocketAddr, PeerConn>>>,
}

impl PeerPool {
    /// A pool that connects out through `endpoint`, introducing itself as `role`/`name`.
    pub fn new(endpoint: quinn::Endpoint, role: PeerRole, name: &str) -> Self {
        Self {
            endpoint,
            role,
            name: name.into(),
            application: None,
            conns: Arc::default(),
        }
    }

    /// The same pool introducing itself as acting for `application` (drivers).
    pub fn with_application(mut self, application: &str) -> Self {
        self.application = Some(application.into());
        self
    }

    /// The endpoint connections go through.
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// The live connection to `addr`, connecting if there is none.
    pub async fn get(&self, addr: SocketAddr) -> Result<PeerConn, TransportError> {
        if let Some(conn) = self.cached(addr) {
            return Ok(conn);
        }
        let fresh = PeerConn::connect_as(
            &self.endpoint,
            addr,
            self.role,
            &self.name,
            self.application.as_deref(),
        )
        .await?;
        let mut conns = self.conns.lock().expect("peer pool lock");
        match conns.get(&addr) {
            Some(existing) if !existing.is_closed() => {
                fresh.close("duplicate connection");
                Ok(existing.clone())
            }
            _ => {
                conns.insert(addr, fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// Forgets (and closes) the connection to `addr`, e.g. after the peer was declared lost.
    pub fn evict(&self, addr: SocketAddr) {
        if let Some(conn) = self.conns.lock().expect("peer pool lock").remove(&addr) {
            conn.close("evicted");
        }
    }

    fn cached(&self, addr: SocketAddr) -> Option<PeerConn> {
        let mut conns = self.conns.lock().expect("peer pool lock");
        match conns.get(&addr) {
            Some(conn) if !conn.is_closed() => Some(conn.clone()),
            Some(_) => {
                conns.remove(&addr);
                None
            }
            None => None,
        }
    }
}
