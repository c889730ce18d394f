//! The spill store: blocks in a sled tree under the worker's work dir, each stored with a CRC32
//! of its bytes that is checked on every read. The directory is cleared when a worker starts:
//! blocks left by an earlier process are never trusted (lineage recomputes them).

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::wire::BlockId;

/// Why the spill store failed.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// sled reported an error.
    #[error("spill store at {path}: {source}")]
    Sled {
        /// The store's directory.
        path: PathBuf,
        /// The cause.
        source: sled::Error,
    },
    /// The directory could not be cleared or created.
    #[error("spill store at {path}: {source}")]
    Io {
        /// The store's directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A block's bytes do not match the checksum written with them.
    #[error("block {block} is corrupt on disk (checksum {found:08x}, expected {expected:08x})")]
    Corrupt {
        /// The block.
        block: BlockId,
        /// Checksum of what was read.
        found: u32,
        /// Checksum written with the block.
        expected: u32,
    },
}

/// Blocks on disk, with exact byte and block counts.
pub struct DiskStore {
    path: PathBuf,
    tree: sled::Tree,
    _db: sled::Db,
    bytes: u64,
    blocks: u64,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .field("blocks", &self.blocks)
            .finish()
    }
}

const HEADER: usize = 4;

impl DiskStore {
    /// Opens a fresh store in `dir`, deleting whatever an earlier process left there.
    pub fn open_fresh(dir: &Path) -> Result<Self, DiskError> {
        let io = |source| DiskError::Io {
            path: dir.to_path_buf(),
            source,
        };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        crate::private_fs::create_dir_all(dir).map_err(io)?;
        let sled_err = |source| DiskError::Sled {
            path: dir.to_path_buf(),
            source,
        };
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(16 << 20)
            .open()
            .map_err(sled_err)?;
        let tree = db.open_tree("blocks").map_err(sled_err)?;
        Ok(Self {
            path: dir.to_path_buf(),
            tree,
            _db: db,
            bytes: 0,
            blocks: 0,
        })
    }

    fn sled_err(&self, source: sled::Error) -> DiskError {
        DiskError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes (or replaces) a block with its checksum.
    pub fn put(&mut self, id: &BlockId, bytes: &[u8]) -> Result<(), DiskError> {
        let mut value = Vec::with_capacity(HEADER + bytes.len());
        value.extend_from_slice(&crc32fast::hash(bytes).to_be_bytes());
        value.extend_from_slice(bytes);
        let old = self
            .tree
            .insert(id.0.as_bytes(), value)
            .map_err(|e| self.sled_err(e))?;
        self.account_removed(old);
        self.bytes += bytes.len() as u64;
        self.blocks += 1;
        Ok(())
    }

    /// Reads a block and verifies its checksum. A corrupt block is removed and reported.
    pub fn get(&mut self, id: &BlockId) -> Result<Option<Bytes>, DiskError> {
        let Some(value) = self
            .tree
            .get(id.0.as_bytes())
            .map_err(|e| self.sled_err(e))?
        else {
            return Ok(None);
        };
        if value.len() < HEADER {
            self.remove(id)?;
            return Err(DiskError::Corrupt {
                block: id.clone(),
                found: 0,
                expected: 0,
            });
        }
        let expected = u32::from_be_bytes(value[..HEADER].try_into().expect("4 bytes"));
        let data = &value[HEADER..];
        let found = crc32fast::hash(data);
        if found != expected {
            self.remove(id)?;
            return Err(DiskError::Corrupt {
                block: id.clone(),
                found,
                expected,
            });
        }
        Ok(Some(Bytes::copy_from_slice(data)))
    }

    /// True when the block is on disk (without reading it).
    pub fn contains(&self, id: &BlockId) -> bool {
        self.tree.contains_key(id.0.as_bytes()).unwrap_or(false)
    }

    /// Deletes a block; true when it was there.
    pub fn remove(&mut self, id: &BlockId) -> Result<bool, DiskError> {
        let old = self
            .tree
            .remove(id.0.as_bytes())
            .map_err(|e| self.sled_err(e))?;
        let existed = old.is_some();
        self.account_removed(old);
        Ok(existed)
    }

    /// Flips one byte of a stored block's data, leaving its checksum: fault injection for
    /// the chaos harness and tests. True when the block was there.
    pub fn corrupt(&mut self, id: &BlockId) -> Result<bool, DiskError> {
        let Some(value) = self
            .tree
            .get(id.0.as_bytes())
            .map_err(|e| self.sled_err(e))?
        else {
            return Ok(false);
        };
        let mut bytes = value.to_vec();
        if bytes.len() > HEADER {
            let middle = HEADER + (bytes.len() - HEADER) / 2;
            bytes[middle] ^= 0xff;
        } else {
            bytes.clear();
        }
        self.tree
            .insert(id.0.as_bytes(), bytes)
            .map_err(|e| self.sled_err(e))?;
        Ok(true)
    }

    fn account_removed(&mut self, old: Option<sled::IVec>) {
        if let Some(old) = old {
            self.bytes -= old.len().saturating_sub(HEADER) as u64;
            self.blocks -= 1;
        }
    }

    /// Bytes of block data on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Blocks on disk.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Every block on disk with its size.
    pub fn list(&self) -> Vec<(BlockId, u64)> {
        self.tree
            .iter()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    BlockId(String::from_utf8_lossy(&k).into_owned()),
                    v.len().saturating_sub(HEADER) as u64,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_accounting() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskStore::open_fresh(&dir.path().join("spill")).unwrap();
        let a = BlockId::new("a");
        s.put(&a, b"hello").unwrap();
        s.put(&a, b"hello world").unwrap();
        s.put(&BlockId::new("b"), b"xyz").unwrap();
        assert_eq!((s.bytes(), s.blocks()), (14, 2));
        assert_eq!(s.get(&a).unwrap().unwrap().as_ref(), b"hello world");
        assert!(s.remove(&a).unwrap());
        assert_eq!((s.bytes(), s.blocks()), (3, 1));
        assert_eq!(s.get(&a).unwrap(), None);
    }

    #[test]
    fn corruption_is_detected_and_the_block_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskStore::open_fresh(&dir.path().join("spill")).unwrap();
        let a = BlockId::new("a");
        s.put(&a, &[7u8; 1000]).unwrap();
        assert!(s.corrupt(&a).unwrap());
        let err = s.get(&a).unwrap_err();
        assert!(matches!(err, DiskError::Corrupt { .. }), "{err}");
        assert_eq!(s.get(&a).unwrap(), None, "never returned, and gone");
        assert_eq!((s.bytes(), s.blocks()), (0, 0));
    }

    #[test]
    fn a_restarted_store_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spill");
        {
            let mut s = DiskStore::open_fresh(&path).unwrap();
            s.put(&BlockId::new("old"), b"stale").unwrap();
        }
        let mut s = DiskStore::open_fresh(&path).unwrap();
        assert_eq!(s.get(&BlockId::new("old")).unwrap(), None);
        assert_eq!(s.blocks(), 0);
    }
}
