//! The BlockManager actor: owns the block store; every operation is one message.

use actix::{Actor, Context, Handler, Message, MessageResult};
use bytes::Bytes;

use super::store::{BlockError, MemoryStore};
use crate::wire::{BlockId, BlockStats};

/// Everything the BlockManager actor accepts; each variant's reply is named on it.
#[derive(Debug)]
pub enum BlockManagerMsg {
    /// Store a block. Reply: [`BlockManagerReply::Stored`] or [`BlockManagerReply::Failed`].
    Put {
        /// The block.
        block_id: BlockId,
        /// Its bytes.
        bytes: Bytes,
    },
    /// Read a local block. Reply: [`BlockManagerReply::Block`].
    Get {
        /// The block.
        block_id: BlockId,
    },
    /// Drop a block. Reply: [`BlockManagerReply::Removed`].
    Remove {
        /// The block.
        block_id: BlockId,
    },
    /// Storage figures. Reply: [`BlockManagerReply::Stats`].
    Stats,
    /// Every block with its size. Reply: [`BlockManagerReply::List`].
    List,
}

/// Replies of the BlockManager actor.
#[derive(Debug)]
pub enum BlockManagerReply {
    /// Stored, with its size.
    Stored(u64),
    /// The block, if held.
    Block(Option<Bytes>),
    /// Whether the block existed.
    Removed(bool),
    /// Storage figures.
    Stats(BlockStats),
    /// Blocks and sizes.
    List(Vec<(BlockId, u64)>),
    /// The operation failed.
    Failed(BlockError),
}

impl Message for BlockManagerMsg {
    type Result = BlockManagerReply;
}

/// The block manager actor of one worker.
pub struct BlockManager {
    memory: MemoryStore,
}

impl BlockManager {
    /// A block manager with a memory budget in bytes.
    pub fn new(memory_budget_bytes: u64) -> Self {
        Self {
            memory: MemoryStore::new(memory_budget_bytes),
        }
    }
}

impl Actor for BlockManager {
    type Context = Context<Self>;
}

impl Handler<BlockManagerMsg> for BlockManager {
    type Result = MessageResult<BlockManagerMsg>;

    fn handle(&mut self, msg: BlockManagerMsg, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(match msg {
            BlockManagerMsg::Put { block_id, bytes } => match self.memory.put(block_id, bytes) {
                Ok(size) => BlockManagerReply::Stored(size),
                Err(e) => BlockManagerReply::Failed(e),
            },
            BlockManagerMsg::Get { block_id } => {
                BlockManagerReply::Block(self.memory.get(&block_id))
            }
            BlockManagerMsg::Remove { block_id } => {
                BlockManagerReply::Removed(self.memory.remove(&block_id))
            }
            BlockManagerMsg::Stats => BlockManagerReply::Stats(self.memory.stats()),
            BlockManagerMsg::List => BlockManagerReply::List(self.memory.list()),
        })
    }
}
