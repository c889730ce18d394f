//! The master's recovery store: what a restarted master cannot rebuild from its peers, in a
//! sled database under `--work-dir` (`master.sled`).
//!
//! - **Running applications** (`applications` tree: id -> name, owner, start time): workers
//!   re-register with their blocks and drivers resubmit their jobs, but only the master knew
//!   which applications exist and who owns them. Without this, a restarted master would drop
//!   every cached block as belonging to an unknown application and refuse every driver.
//! - **The incarnation counter** (`meta` tree): a restarted master counts its own starts, shown
//!   in logs, so two masters' events are never confused.
//!
//! Each change is written and flushed before the master acts on it (answers the driver, drops
//! blocks). Nothing is written per job or per task: jobs are resubmitted by their drivers after
//! a restart, and results are deterministic, so that is invisible to them. Worker membership,
//! block locations and map outputs are rebuilt from the workers' re-registrations and, where
//! missing, recomputed from lineage.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("master store {path}: {source}")]
    Sled {
        /// The database directory.
        path: PathBuf,
        /// The cause.
        source: sled::Error,
    },
    /// A record could not be decoded (written by an incompatible version, or corrupted).
    #[error("master store {path}: record {key:?} is unreadable: {message}")]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// The record's key.
        key: String,
        /// The decoder's message.
        message: String,
    },
}

/// A running application as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApp {
    /// Application id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The certificate name of the member that registered it.
    pub owner: String,
    /// Registration time, Unix ms.
    pub started_unix_ms: u64,
}

/// The store (see the module docs).
pub struct MasterStore {
    path: PathBuf,
    apps: sled::Tree,
    meta: sled::Tree,
    db: sled::Db,
}

impl std::fmt::Debug for MasterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterStore")
            .field("path", &self.path)
            .finish()
    }
}

const INCARNATION: &[u8] = b"incarnation";

impl MasterStore {
    /// Opens (or creates) the store in `work_dir/master.sled`.
    pub fn open(work_dir: &Path) -> Result<Self, StoreError> {
        let path = work_dir.join("master.sled");
        let err = |source| StoreError::Sled {
            path: path.clone(),
            source,
        };
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(err)?;
        let apps = db.open_tree("applications").map_err(err)?;
        let meta = db.open_tree("meta").map_err(err)?;
        Ok(Self {
            path,
            apps,
            meta,
            db,
        })
    }

    fn sled(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.sled(e))
    }

    /// Counts one more start of the master; returns this start's number (1 for the first).
    pub fn next_incarnation(&self) -> Result<u64, StoreError> {
        let previous = self
            .meta
            .get(INCARNATION)
            .map_err(|e| self.sled(e))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        let next = previous + 1;
        self.meta
            .insert(INCARNATION, &next.to_be_bytes())
            .map_err(|e| self.sled(e))?;
        self.flush()?;
        Ok(next)
    }

    /// Records a running application (flushed before returning).
    pub fn put_app(&self, app: &StoredApp) -> Result<(), StoreError> {
        let bytes = rmp_serde::to_vec_named(app).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            key: app.id.clone(),
            message: e.to_string(),
        })?;
        self.apps
            .insert(app.id.as_bytes(), bytes)
            .map_err(|e| self.sled(e))?;
        self.flush()
    }

    /// Forgets an application that ended (flushed before returning).
    pub fn remove_app(&self, id: &str) -> Result<(), StoreError> {
        self.apps.remove(id.as_bytes()).map_err(|e| self.sled(e))?;
        self.flush()
    }

    /// Every running application, by id.
    pub fn apps(&self) -> Result<Vec<StoredApp>, StoreError> {
        let mut out = Vec::new();
        for entry in self.apps.iter() {
            let (key, value) = entry.map_err(|e| self.sled(e))?;
            let app: StoredApp =
                rmp_serde::from_slice(&value).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    key: String::from_utf8_lossy(&key).into_owned(),
                    message: e.to_string(),
                })?;
            out.push(app);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str) -> StoredApp {
        StoredApp {
            id: id.into(),
            name: "train".into(),
            owner: "driver-a".into(),
            started_unix_ms: 17,
        }
    }

    #[test]
    fn applications_and_starts_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = MasterStore::open(dir.path()).unwrap();
            assert_eq!(store.next_incarnation().unwrap(), 1);
            store.put_app(&app("app-1-0001")).unwrap();
            store.put_app(&app("app-1-0002")).unwrap();
            store.remove_app("app-1-0001").unwrap();
        }
        let store = MasterStore::open(dir.path()).unwrap();
        assert_eq!(store.next_incarnation().unwrap(), 2);
        assert_eq!(store.apps().unwrap(), vec![app("app-1-0002")]);
    }

    #[test]
    fn a_corrupt_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = MasterStore::open(dir.path()).unwrap();
        store.apps.insert(b"app-x", &b"\xc1garbage"[..]).unwrap();
        let err = store.apps().unwrap_err().to_string();
        assert!(err.contains("app-x") && err.contains("unreadable"), "{err}");
    }
}
