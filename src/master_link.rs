//! The driver's link to the master, re-established when it breaks.
//!
//! A master that is restarted (on the same address and work directory) or paused for a while
//! must cost a driver time, not its job: when a request fails with a retryable transport error
//! (connection lost, timed out, unreachable), the link reconnects with exponential backoff for
//! up to the master timeout (`--master-timeout`, `CINDER_MASTER_TIMEOUT`, default 60 s) and
//! the request is sent again. Jobs are deterministic, so a job resubmitted to a recovered
//! master gives exactly the answer the first submission would have.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cinder_actors::master::MasterClient;
use cinder_actors::transport::TransportError;
use cinder_actors::wire::{MasterRequest, MasterResponse, PeerRole, RequestKind};

/// Default master timeout: how long a driver keeps trying to reach its master.
pub const DEFAULT_MASTER_TIMEOUT: Duration = Duration::from_secs(60);

/// First pause between reconnection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The master timeout from `CINDER_MASTER_TIMEOUT` (e.g. `60s`, `500ms`), else the default.
pub fn master_timeout_from_env() -> Duration {
    match std::env::var("CINDER_MASTER_TIMEOUT") {
        Ok(v) => match v.parse::<crate::duration::HumanDuration>() {
            Ok(d) => d.0,
            Err(e) => {
                tracing::warn!("CINDER_MASTER_TIMEOUT: {e}; using {DEFAULT_MASTER_TIMEOUT:?}");
                DEFAULT_MASTER_TIMEOUT
            }
        },
        Err(_) => DEFAULT_MASTER_TIMEOUT,
    }
}

/// A master connection that reconnects (see the module docs).
pub(crate) struct MasterLink {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    name: String,
    client: Mutex<MasterClient>,
    timeout_ms: AtomicU64,
}

impl MasterLink {
    /// Wraps an established connection.
    pub(crate) fn new(
        endpoint: quinn::Endpoint,
        client: MasterClient,
        name: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            endpoint,
            addr: client.conn().addr(),
            name: name.to_string(),
            client: Mutex::new(client),
            timeout_ms: AtomicU64::new(timeout.as_millis() as u64),
        }
    }

    /// How long requests keep trying to reach the master.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    /// Changes the master timeout.
    pub(crate) fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    /// The master's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current connection (possibly broken: [`MasterLink::retrying`] repairs it).
    pub(crate) fn current(&self) -> MasterClient {
        self.client.lock().expect("master link lock").clone()
    }

    /// Runs `attempt` against the master; on a retryable transport error, reconnects with
    /// backoff and runs it again, until the master timeout has passed since the first
    /// failure. Non-retryable errors (refused credentials, another protocol) return at once.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        what: &str,
        mut attempt: F,
    ) -> Result<T, TransportError>
    where
        F: FnMut(MasterClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, TransportError>>,
    {
        let mut first_failure: Option<Instant> = None;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let client = self.current();
            let error = match attempt(client.clone()).await {
                Ok(value) => {
                    if first_failure.is_some() {
                        tracing::info!(master = %self.addr, "{what}: the master answered again");
                    }
                    return Ok(value);
                }
                Err(e) if e.is_retryable() => e,
                Err(e) => return Err(e),
            };
            let since = *first_failure.get_or_insert_with(Instant::now);
            let timeout = self.timeout();
            tracing::warn!(master = %self.addr, "{what}: {error}; reconnecting (up to {timeout:?} in all)");
            // Reconnect until it works or the time is up.
            loop {
                if since.elapsed() >= timeout {
                    return Err(error);
                }
                tokio::time::sleep(backoff.min(timeout.saturating_sub(since.elapsed()))).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if !client.conn().is_closed() {
                    // The old connection may still look alive (a request timed out): close it
                    // so the next attempt starts clean.
                    client.conn().close("reconnecting");
                }
                match MasterClient::connect_addr(
                    &self.endpoint,
                    self.addr,
                    PeerRole::Client,
                    &self.name,
                )
                .await
                {
                    Ok(fresh) => {
                        *self.client.lock().expect("master link lock") = fresh;
                        break;
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::debug!(master = %self.addr, "reconnection failed: {e}");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Sends an idempotent request, reconnecting as [`MasterLink::retrying`] does.
    pub(crate) async fn call(
        &self,
        request: &MasterRequest,
    ) -> Result<MasterResponse, TransportError> {
        self.retrying(request.kind(), |client| async move {
            client.call(request).await
        })
        .await
    }
}
