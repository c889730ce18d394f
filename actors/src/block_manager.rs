//! The block manager: one per worker, it stores blocks under a memory budget (spilling to a
//! checksummed sled store), serves them to peers and reports what it holds to the master.

pub mod actor;
pub mod disk;
pub mod handle;
pub mod memory;
pub mod store;

pub use actor::{BlockManager, BlockManagerMsg, BlockManagerReply};
pub use handle::{BlockManagerHandle, FetchOutcome, MasterLink};
pub use store::{BlockError, BlockStore, PutOutcome, StoreCounters};
