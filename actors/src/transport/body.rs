//! Receiving raw bulk bodies (block bytes) that follow a header frame: the buffer grows with the
//! bytes that arrived (never reserved from the announced length), its memory is taken from a
//! [`ByteBudget`], and an upload that makes no progress for the stall deadline is dropped.

use std::time::Duration;

use bytes::Bytes;

use crate::wire::{ByteBudget, FrameError, Lease, MAX_BODY_BYTES};

/// Smallest buffer step while a body is received.
const BODY_STEP_BYTES: usize = 64 * 1024;

/// Reads exactly `len` raw body bytes from `recv`.
///
/// The buffer at most doubles at a time and never exceeds `len`; each growth is taken from
/// `budget` first (waiting while it is exhausted, within the stall deadline). A read that makes
/// no progress for `stall` fails with [`FrameError::Io`] of kind `TimedOut`. The returned
/// [`Lease`] holds the body's memory in the budget until dropped.
pub async fn read_body_bounded(
    recv: &mut quinn::RecvStream,
    len: u64,
    budget: Option<&ByteBudget>,
    stall: Duration,
) -> Result<(Bytes, Lease), FrameError> {
    if len > MAX_BODY_BYTES {
        return Err(FrameError::TooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: MAX_BODY_BYTES as usize,
        });
    }
    let len = len as usize;
    let mut lease = Lease::default();
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < len {
        if buf.len() == buf.capacity() {
            let target = (buf.capacity() * 2).max(BODY_STEP_BYTES).min(len);
            let extra = target - buf.len();
            if let Some(budget) = budget {
                if tokio::time::timeout(stall, budget.grow(&mut lease, extra as u64))
                    .await
                    .is_err()
                {
                    return Err(stalled(buf.len(), len, stall, "waiting for memory"));
                }
            }
            buf.reserve_exact(extra);
        }
        let room = buf.capacity() - buf.len();
        let chunk = match tokio::time::timeout(stall, recv.read_chunk(room, true)).await {
            Err(_) => return Err(stalled(buf.len(), len, stall, "no bytes arrived")),
            Ok(Err(e)) => return Err(FrameError::Io(std::io::Error::other(e))),
            Ok(Ok(None)) => {
                return Err(FrameError::Truncated {
                    got: buf.len(),
                    expected: len,
                })
            }
            Ok(Ok(Some(chunk))) => chunk,
        };
        buf.extend_from_slice(&chunk.bytes);
    }
    Ok((Bytes::from(buf), lease))
}

fn stalled(got: usize, len: usize, stall: Duration, what: &str) -> FrameError {
    FrameError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "body stalled at {got} of {len} bytes: {what} for {} ms",
            stall.as_millis()
        ),
    ))
}
