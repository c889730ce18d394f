//! The worker's QUIC service: block-manager requests from peers, drivers and clients.

use actix::Addr;

use super::actor::{Worker, WorkerMsg};
use crate::authz;
use crate::block_manager::{BlockError, BlockManagerHandle};
use crate::data::exec::Executor;
use crate::data::plan::block_app;
use crate::transport::{PeerInfo, Role, Service, StreamIo};
use crate::wire::{
    FrameError, RequestKind, TaskSpec, WorkerRequest, WorkerResponse, MAX_BODY_BYTES,
};
use tracing::{info, warn, Instrument};

/// Serves [`WorkerRequest`]s.
pub struct WorkerService {
    worker_id: String,
    worker: Addr<Worker>,
    blocks: BlockManagerHandle,
    executor: Executor,
    /// Connections of `driver` members whose application the master confirmed they own.
    confirmed: std::sync::Mutex<std::collections::HashSet<u64>>,
}

impl WorkerService {
    /// A service for the worker `worker_id`.
    pub fn new(worker_id: String, worker: Addr<Worker>, blocks: BlockManagerHandle) -> Self {
        Self {
            worker_id,
            worker,
            executor: Executor::new(blocks.clone()),
            blocks,
            confirmed: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// A `driver` member names its application in its hello; before its first block request
    /// the master confirms that member registered that application (once per connection), so
    /// a driver cannot reach another application's blocks by naming it.
    async fn unconfirmed_claim(&self, peer: &PeerInfo) -> Option<String> {
        if peer.identity.role != Role::Driver {
            return None;
        }
        let app = peer.application.as_deref()?;
        if self
            .confirmed
            .lock()
            .expect("confirmed")
            .contains(&peer.conn_id)
        {
            return None;
        }
        let Some(master) = self.blocks.master() else {
            return Some("this worker is not registered with a master: retry".into());
        };
        let request = crate::wire::MasterRequest::ApplicationOwner {
            app: app.to_string(),
        };
        match master.call(&request).await {
            Ok(crate::wire::MasterResponse::Owner {
                member: Some(owner),
            }) if owner == peer.identity.name => {
                let mut confirmed = self.confirmed.lock().expect("confirmed");
                if confirmed.len() >= 4096 {
                    confirmed.clear();
                }
                confirmed.insert(peer.conn_id);
                None
            }
            Ok(crate::wire::MasterResponse::Owner { member }) => Some(format!(
                "application {app} does not belong to member {:?} (owner: {})",
                peer.identity.name,
                member.as_deref().unwrap_or("none: not running")
            )),
            Ok(other) => Some(format!("unexpected answer from the master: {other:?}")),
            Err(e) => Some(format!(
                "cannot confirm application {app} with the master: {e}"
            )),
        }
    }
}

/// Whether fault-injection requests are honoured (`CINDER_FAULT_INJECTION=1`).
fn fault_injection_enabled() -> bool {
    std::env::var("CINDER_FAULT_INJECTION").is_ok_and(|v| v == "1")
}

impl WorkerService {
    async fn run_task(&self, spec: TaskSpec, io: &mut StreamIo) -> Result<(), FrameError> {
        let span = tracing::info_span!(
            "task",
            job = spec.job_id,
            attempt = spec.attempt_id,
            dataset = spec.target,
            partition = spec.partition
        );
        let result = self.executor.run(&spec).instrument(span).await;
        match result {
            Ok((output, metrics)) => {
                let body = rmp_serde::to_vec_named(&output)
                    .map_err(|e| FrameError::Encode(e.to_string()))?;
                io.respond(&WorkerResponse::TaskDone {
                    metrics,
                    len: body.len() as u64,
                })
                .await?;
                io.send
                    .write_chunk(body.into())
                    .await
                    .map_err(|e| FrameError::Io(std::io::Error::other(e)))
            }
            Err(error) => {
                tracing::warn!(
                    job = spec.job_id,
                    partition = spec.partition,
                    "task failed: {error}"
                );
                io.respond(&WorkerResponse::TaskFailed(error)).await
            }
        }
    }
}

/// Why a driver's request is refused: a driver (a client acting for an application) may read,
/// write or drop only its own application's blocks, and may not run tasks or drop
/// applications.
fn refusal(peer: &PeerInfo, request: &WorkerRequest) -> Option<String> {
    let app = match peer.application.as_deref() {
        Some(app) => app,
        None if peer.identity.role == Role::Driver && !matches!(request, WorkerRequest::Ping) => {
            return Some(format!(
                "driver {:?} names no application: a driver may touch only its own \
                 application's blocks",
                peer.identity.name
            ));
        }
        None => return None,
    };
    let block = match request {
        WorkerRequest::Ping => return None,
        WorkerRequest::PutBlock { block_id, .. }
        | WorkerRequest::GetBlock { block_id }
        | WorkerRequest::FetchBlock { block_id }
        | WorkerRequest::RemoveBlock { block_id }
        | WorkerRequest::CorruptBlock { block_id } => block_id,
        WorkerRequest::RunTask(_)
        | WorkerRequest::DropApplication { .. }
        | WorkerRequest::InjectPanic => {
            return Some(format!(
                "driver of application {app} may not send {}",
                request.kind()
            ));
        }
    };
    if block_app(block) == Some(app) {
        None
    } else {
        Some(format!(
            "block {block} does not belong to application {app}: a driver may touch only its \
             own application's blocks (name them with Context::block_id)"
        ))
    }
}

fn error(e: impl std::fmt::Display) -> WorkerResponse {
    WorkerResponse::Error {
        message: e.to_string(),
    }
}

impl Service for WorkerService {
    type Request = WorkerRequest;

    fn name(&self) -> String {
        self.worker_id.clone()
    }

    async fn handle(
        &self,
        peer: &PeerInfo,
        request: WorkerRequest,
        io: &mut StreamIo,
    ) -> Result<(), FrameError> {
        if let Err(denied) = authz::authorize(&peer.identity, &authz::worker_operation(&request)) {
            authz::log_refusal(peer.remote, &denied.to_string());
            return io.respond(&error(denied)).await;
        }
        let touches_blocks = !matches!(request, WorkerRequest::Ping);
        if touches_blocks {
            if let Some(message) = self.unconfirmed_claim(peer).await {
                warn!(peer = %peer.remote, name = %peer.name, "refused: {message}");
                return io.respond(&WorkerResponse::Error { message }).await;
            }
        }
        if let Some(message) = refusal(peer, &request) {
            warn!(peer = %peer.remote, name = %peer.name, "refused: {message}");
            return io.respond(&WorkerResponse::Error { message }).await;
        }
        match request {
            WorkerRequest::DropApplication { app } => {
                let response = match self.blocks.drop_application(&app).await {
                    Ok(blocks) => {
                        info!(%app, blocks, "dropped the blocks of an ended application");
                        WorkerResponse::Dropped { blocks }
                    }
                    Err(e) => error(e),
                };
                io.respond(&response).await
            }
            WorkerRequest::Ping => {
                let response = match self.worker.send(WorkerMsg::Describe).await {
                    Ok(info) => WorkerResponse::Pong {
                        worker_id: info.worker_id,
                    },
                    Err(e) => error(e),
                };
                io.respond(&response).await
            }
            WorkerRequest::PutBlock {
                block_id,
                len,
                level,
            } => {
                if len > MAX_BODY_BYTES {
                    let message =
                        format!("block of {len} bytes exceeds the limit of {MAX_BODY_BYTES}");
                    return io.respond(&WorkerResponse::Error { message }).await;
                }
                let (bytes, lease) = io.read_body(len).await?;
                let response = match self.blocks.put_level(block_id, bytes, level).await {
                    Ok(len) => WorkerResponse::Stored { len },
                    Err(e) => error(e),
                };
                drop(lease);
                io.respond(&response).await
            }
            WorkerRequest::GetBlock { block_id } => match self.blocks.get_local(&block_id).await {
                Ok(Some(bytes)) => {
                    io.respond(&WorkerResponse::Block {
                        len: bytes.len() as u64,
                    })
                    .await?;
                    io.send
                        .write_chunk(bytes)
                        .await
                        .map_err(|e| FrameError::Io(std::io::Error::other(e)))
                }
                Ok(None) => io.respond(&WorkerResponse::NotFound { block_id }).await,
                Err(e) => io.respond(&error(e)).await,
            },
            WorkerRequest::FetchBlock { block_id } => {
                let response = match self.blocks.fetch(&block_id).await {
                    Ok(outcome) => WorkerResponse::Fetched {
                        len: outcome.len,
                        source: outcome.source,
                    },
                    Err(BlockError::NotFound(block_id)) => WorkerResponse::NotFound { block_id },
                    Err(e) => error(e),
                };
                io.respond(&response).await
            }
            WorkerRequest::RunTask(spec) => self.run_task(spec, io).await,
            WorkerRequest::CorruptBlock { block_id } => {
                let response = if !fault_injection_enabled() {
                    error("fault injection is disabled (set CINDER_FAULT_INJECTION=1)")
                } else {
                    match self.blocks.corrupt_on_disk(&block_id).await {
                        Ok(existed) => WorkerResponse::Removed { existed },
                        Err(e) => error(e),
                    }
                };
                io.respond(&response).await
            }
            WorkerRequest::InjectPanic => {
                if !fault_injection_enabled() {
                    let disabled = "fault injection is disabled (set CINDER_FAULT_INJECTION=1)";
                    return io.respond(&error(disabled)).await;
                }
                tracing::warn!("fault injection: making the Worker actor panic");
                let answer = self.worker.send(WorkerMsg::InjectPanic).await;
                io.respond(&error(format!(
                    "the Worker actor did not survive: {answer:?}"
                )))
                .await
            }
            WorkerRequest::RemoveBlock { block_id } => {
                let response = match self.blocks.remove(&block_id).await {
                    Ok(existed) => WorkerResponse::Removed { existed },
                    Err(e) => error(e),
                };
                io.respond(&response).await
            }
        }
    }
}
