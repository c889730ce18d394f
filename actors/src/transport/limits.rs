//! Bounded cost for every peer, known or not: the limits a daemon enforces on incoming QUIC
//! handshakes, connections, streams, frames and bodies, and the [`Gate`] that applies them.
//!
//! | limit | default | when hit |
//! | --- | --- | --- |
//! | `max_pending_handshakes` | 256 | new handshakes are refused (the peer retries later) |
//! | `max_connections` | 1024 | a new connection is closed after its handshake |
//! | `max_streams_per_connection` | 256 | QUIC flow control: the peer cannot open more |
//! | `max_streams_total` | 4096 | further streams wait until others end |
//! | `max_frame_bytes` | 16 MiB | the stream is reset |
//! | `frame_budget_bytes` | 128 MiB | frames being received wait; the frame deadline drops them |
//! | `frame_timeout_ms` | 30 000 | the stream is reset |
//! | `max_body_bytes` | 2 GiB | the request is answered with an error |
//! | `body_budget_bytes` | 1 GiB | bodies being received wait; the stall deadline drops them |
//! | `body_stall_timeout_ms` | 10 000 | an upload with no progress for this long is dropped |
//! | `hello_timeout_ms` | 5 000 | the connection is closed |
//!
//! Unvalidated client addresses get a QUIC retry first (no state is kept for them), so spoofed or
//! abandoned handshakes cost a stateless packet each. Every refusal is logged, at most 5 lines
//! per second per kind, with the number of refusals left out in between.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use crate::wire::{ByteBudget, MAX_BODY_BYTES, MAX_FRAME_BYTES};

/// The limits a daemon enforces on its peers. Field names are part of the `cinder status --json`
/// contract (`"limits"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// QUIC handshakes in progress at once (after address validation).
    pub max_pending_handshakes: u32,
    /// Established connections at once.
    pub max_connections: u32,
    /// Streams a peer may have open at once on one connection.
    pub max_streams_per_connection: u32,
    /// Streams served at once over all connections.
    pub max_streams_total: u32,
    /// Largest request or response frame.
    pub max_frame_bytes: u64,
    /// Memory for frames being received, over all streams.
    pub frame_budget_bytes: u64,
    /// Deadline for one request frame to arrive once its stream is open.
    pub frame_timeout_ms: u64,
    /// Largest bulk body (one block).
    pub max_body_bytes: u64,
    /// Memory for bodies being received, over all streams.
    pub body_budget_bytes: u64,
    /// An upload with no progress for this long is dropped.
    pub body_stall_timeout_ms: u64,
    /// Deadline for a new connection's hello.
    pub hello_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_handshakes: 256,
            max_connections: 1024,
            max_streams_per_connection: 256,
            max_streams_total: 4096,
            max_frame_bytes: MAX_FRAME_BYTES as u64,
            frame_budget_bytes: 128 << 20,
            frame_timeout_ms: 30_000,
            max_body_bytes: MAX_BODY_BYTES,
            body_budget_bytes: 1 << 30,
            body_stall_timeout_ms: 10_000,
            hello_timeout_ms: 5_000,
        }
    }
}

impl Limits {
    /// The frame deadline as a duration.
    pub fn frame_timeout(&self) -> Duration {
        Duration::from_millis(self.frame_timeout_ms)
    }

    /// The body stall deadline as a duration.
    pub fn body_stall_timeout(&self) -> Duration {
        Duration::from_millis(self.body_stall_timeout_ms)
    }

    /// The hello deadline as a duration.
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }
}

/// What kind of refusal a log line is about (each kind is rate-limited on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many handshakes in progress.
    PendingHandshakes,
    /// A handshake failed (bad or missing certificate, wrong protocol).
    Handshake,
    /// Too many connections.
    Connections,
    /// A connection reached its stream limit.
    StreamsPerConnection,
    /// The process reached its total stream limit.
    StreamsTotal,
    /// The frame memory budget is exhausted.
    FrameBudget,
    /// The body memory budget is exhausted.
    BodyBudget,
    /// A peer's certificate or role was refused.
    Identity,
}

const REFUSAL_KINDS: usize = 8;

impl Refusal {
    fn index(self) -> usize {
        self as usize
    }
}

/// A log that writes at most `burst` lines per kind per period, counting what it left out.
#[derive(Debug)]
pub struct RateLimitedLog {
    period: Duration,
    burst: u32,
    state: Mutex<[Window; REFUSAL_KINDS]>,
    total: [AtomicU64; REFUSAL_KINDS],
}

/// One kind's current period: when it started, lines written in it, refusals left out since the
/// last line.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: Option<Instant>,
    written: u32,
    skipped: u64,
}

impl RateLimitedLog {
    /// A log allowing `burst` lines per kind per `period`.
    pub fn new(period: Duration, burst: u32) -> Self {
        Self {
            period,
            burst: burst.max(1),
            state: Mutex::new([Window::default(); REFUSAL_KINDS]),
            total: Default::default(),
        }
    }

    /// Records one refusal of `kind` from `peer`; logs it unless `burst` lines of the same kind
    /// were written in the current period. Returns true when a line was written.
    pub fn refused(&self, kind: Refusal, peer: SocketAddr, message: &str) -> bool {
        self.total[kind.index()].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let suppressed = {
            let mut state = self.state.lock().expect("refusal log lock");
            let window = &mut state[kind.index()];
            if window
                .start
                .is_none_or(|t| now.duration_since(t) >= self.period)
            {
                window.start = Some(now);
                window.written = 0;
            }
            if window.written >= self.burst {
                window.skipped += 1;
                return false;
            }
            window.written += 1;
            std::mem::take(&mut window.skipped)
        };
        if suppressed > 0 {
            warn!(%peer, "{message} ({suppressed} similar refusals not logged)");
        } else {
            warn!(%peer, "{message}");
        }
        true
    }

    /// How many refusals of `kind` were recorded since the start.
    pub fn count(&self, kind: Refusal) -> u64 {
        self.total[kind.index()].load(Ordering::Relaxed)
    }
}

/// Applies [`Limits`] to one daemon's accepting side. Shared by every connection task.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    handshakes: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    frames: ByteBudget,
    bodies: ByteBudget,
    log: RateLimitedLog,
    members: super::crl::Members,
}

impl Gate {
    /// A gate enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let permits = |n: u32| Arc::new(Semaphore::new(n.max(1) as usize));
        Self {
            handshakes: permits(limits.max_pending_handshakes),
            connections: permits(limits.max_connections),
            streams: permits(limits.max_streams_total),
            frames: ByteBudget::new(limits.frame_budget_bytes),
            bodies: ByteBudget::new(limits.body_budget_bytes),
            log: RateLimitedLog::new(Duration::from_secs(1), 5),
            members: super::crl::Members::default(),
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The refusal log.
    pub fn log(&self) -> &RateLimitedLog {
        &self.log
    }

    /// The live, hello-checked connections and their peers' certificates.
    pub fn members(&self) -> &super::crl::Members {
        &self.members
    }

    /// The memory budget of frames being received.
    pub fn frame_budget(&self) -> &ByteBudget {
        &self.frames
    }

    /// The memory budget of bodies being received.
    pub fn body_budget(&self) -> &ByteBudget {
        &self.bodies
    }

    /// A slot for one handshake in progress, or None (logged) when too many are.
    pub fn try_handshake(&self, peer: SocketAddr) -> Option<OwnedSemaphorePermit> {
        let permit = self.handshakes.clone().try_acquire_owned().ok();
        if permit.is_none() {
            let max = self.limits.max_pending_handshakes;
            let message = format!("refusing a handshake: {max} handshakes already in progress");
            self.log.refused(Refusal::PendingHandshakes, peer, &message);
        }
        permit
    }

    /// A slot for one established connection, or None (logged) when too many are open.
    pub fn try_connection(&self, peer: SocketAddr) -> Option<OwnedSemaphorePermit> {
        let permit = self.connections.clone().try_acquire_owned().ok();
        if permit.is_none() {
            let max = self.limits.max_connections;
            let message = format!("closing a new connection: {max} connections already open");
            self.log.refused(Refusal::Connections, peer, &message);
        }
        permit
    }

    /// A slot in the process-wide stream limit; waits (logging once) while all are taken.
    pub async fn stream(&self, peer: SocketAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.streams.clone().try_acquire_owned() {
            return Some(permit);
        }
        let max = self.limits.max_streams_total;
        let message = format!("stream limit reached: {max} streams served at once; waiting");
        self.log.refused(Refusal::StreamsTotal, peer, &message);
        self.streams.clone().acquire_owned().await.ok()
    }

    /// Logs that a connection's own stream limit was reached.
    pub fn connection_streams_full(&self, peer: SocketAddr) {
        let max = self.limits.max_streams_per_connection;
        let message = format!("connection reached its limit of {max} open streams");
        self.log
            .refused(Refusal::StreamsPerConnection, peer, &message);
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_log_is_rate_limited_per_kind() {
        let log = RateLimitedLog::new(Duration::from_secs(3600), 2);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(log.refused(Refusal::Handshake, peer, "a"));
        assert!(log.refused(Refusal::Handshake, peer, "a"));
        for _ in 0..1000 {
            assert!(!log.refused(Refusal::Handshake, peer, "a"));
        }
        assert!(log.refused(Refusal::Connections, peer, "b"));
        assert_eq!(log.count(Refusal::Handshake), 1002);
    }

    #[test]
    fn handshake_and_connection_slots_are_bounded() {
        let gate = Gate::new(Limits {
            max_pending_handshakes: 2,
            max_connections: 1,
            ..Limits::default()
        });
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let a = gate.try_handshake(peer).unwrap();
        let _b = gate.try_handshake(peer).unwrap();
        assert!(gate.try_handshake(peer).is_none());
        drop(a);
        assert!(gate.try_handshake(peer).is_some());
        let c = gate.try_connection(peer).unwrap();
        assert!(gate.try_connection(peer).is_none());
        drop(c);
        assert!(gate.try_connection(peer).is_some());
        assert_eq!(gate.log().count(Refusal::PendingHandshakes), 1);
    }

    #[test]
    fn limits_serialize_with_their_contract_names() {
        let json = serde_json::to_value(Limits::default()).unwrap();
        for key in [
            "max_pending_handshakes",
            "max_connections",
            "max_streams_per_connection",
            "max_streams_total",
            "max_frame_bytes",
            "frame_budget_bytes",
            "frame_timeout_ms",
            "max_body_bytes",
            "body_budget_bytes",
            "body_stall_timeout_ms",
            "hello_timeout_ms",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
    }
}
