//! The block manager: one per worker, it stores blocks under a memory budget, serves them to
//! peers and reports what it holds to the master.

pub mod actor;
pub mod handle;
pub mod store;

pub use actor::{BlockManager, BlockManagerMsg, BlockManagerReply};
pub use handle::{BlockManagerHandle, FetchOutcome, MasterLink};
pub use store::{BlockError, MemoryStore};
