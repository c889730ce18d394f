//! The wire protocol: length-prefixed rmp-serde frames and the message types that travel in them.
//!
//! Every stream carries frames of the form `u32 big-endian length || MessagePack payload`. The
//! length is checked against a hard limit before a single payload byte is read, and the payload is
//! read in chunks as it arrives (never reserved from the announced length), so a peer cannot make
//! a daemon hold more than the bytes it actually sent, within [`MAX_FRAME_BYTES`]. Bulk block
//! bytes follow a header frame as raw bytes on the same stream, with their length announced in
//! the header.

pub mod budget;
pub mod frame;
#[cfg(test)]
mod fuzz;
pub mod messages;
pub mod tasks;

pub use budget::{ByteBudget, Lease};
pub use frame::{
    read_frame, read_frame_budgeted, write_frame, FrameError, MAX_BODY_BYTES, MAX_FRAME_BYTES,
};
pub use messages::*;
pub use tasks::*;

/// The protocol version exchanged in [`Hello`] at connect time. Peers with another version are
/// refused with a clear reason.
pub const PROTOCOL_VERSION: u32 = 1;
