//! The BlockManager actor: owns the block store; every operation is one message.

use actix::{Actor, Context, Handler, Message, MessageResult};
use bytes::Bytes;

use super::store::{BlockError, BlockStore, PutOutcome};
use crate::wire::{BlockId, BlockStats, StorageLevel};

/// Everything the BlockManager actor accepts; each variant's reply is named on it.
#[derive(Debug)]
pub enum BlockManagerMsg {
    /// Store a block. Reply: [`BlockManagerReply::Stored`] or [`BlockManagerReply::Failed`].
    Put {
        /// The block.
        block_id: BlockId,
        /// Its bytes.
        bytes: Bytes,
        /// Where it may live.
        level: StorageLevel,
    },
    /// Read a local block (memory, then disk). Reply: [`BlockManagerReply::Block`], or
    /// [`BlockManagerReply::Failed`] when its disk copy is corrupt (it is dropped).
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
    /// Fault injection: corrupt a block's bytes on disk. Reply: [`BlockManagerReply::Removed`]
    /// (whether it was on disk).
    CorruptOnDisk {
        /// The block.
        block_id: BlockId,
    },
}

/// Replies of the BlockManager actor.
#[derive(Debug)]
pub enum BlockManagerReply {
    /// Stored; what it changed.
    Stored(PutOutcome),
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
    store: BlockStore,
}

impl BlockManager {
    /// A block manager over a store.
    pub fn new(store: BlockStore) -> Self {
        Self { store }
    }
}

impl Actor for BlockManager {
    type Context = Context<Self>;
}

impl Handler<BlockManagerMsg> for BlockManager {
    type Result = MessageResult<BlockManagerMsg>;

    fn handle(&mut self, msg: BlockManagerMsg, _ctx: &mut Self::Context) -> Self::Result {
        let failed = BlockManagerReply::Failed;
        MessageResult(match msg {
            BlockManagerMsg::Put {
                block_id,
                bytes,
                level,
            } => match self.store.put(block_id, bytes, level) {
                Ok(outcome) => BlockManagerReply::Stored(outcome),
                Err(e) => failed(e),
            },
            BlockManagerMsg::Get { block_id } => match self.store.get(&block_id) {
                Ok(found) => BlockManagerReply::Block(found),
                Err(e) => failed(e),
            },
            BlockManagerMsg::Remove { block_id } => match self.store.remove(&block_id) {
                Ok(existed) => BlockManagerReply::Removed(existed),
                Err(e) => failed(e),
            },
            BlockManagerMsg::Stats => BlockManagerReply::Stats(self.store.stats()),
            BlockManagerMsg::List => BlockManagerReply::List(self.store.list()),
            BlockManagerMsg::CorruptOnDisk { block_id } => {
                match self.store.corrupt_on_disk(&block_id) {
                    Ok(existed) => BlockManagerReply::Removed(existed),
                    Err(e) => failed(e),
                }
            }
        })
    }
}
