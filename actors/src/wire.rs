//! The wire protocol: length-prefixed rmp-serde frames and the message types that travel in them.
//!
//! Every stream carries frames of the form `u32 big-endian length || MessagePack payload`. The
//! length is checked against a hard limit before a single payload byte is read, so a peer cannot
//! make a daemon allocate more than [`MAX_FRAME_BYTES`]. Bulk block bytes follow a header frame as
//! raw bytes on the same stream, with their length announced in the header.

pub mod frame;
pub mod messages;
pub mod tasks;

pub use frame::{read_frame, write_frame, FrameError, MAX_BODY_BYTES, MAX_FRAME_BYTES};
pub use messages::*;
pub use tasks::*;

/// The protocol version exchanged in [`Hello`] at connect time. Peers with another version are
/// refused with a clear reason.
pub const PROTOCOL_VERSION: u32 = 1;
