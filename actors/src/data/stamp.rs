//! File stamps: a file's length and modification time, recorded on the driver when a text or
//! Parquet source is planned and checked by the worker around every read. Splits are byte
//! ranges (and row groups) of the planned file; read from a file that changed since, they
//! would mix two versions of the data, so such a task fails with
//! [`TaskError::InputChanged`] instead (not retryable: another attempt reads the same file).

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::wire::TaskError;

/// What a file looked like when a job was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// Length in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when the file system has none).
    pub modified_ns: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(Self {
            len: meta.len(),
            modified_ns,
        })
    }
}

/// Fails with [`TaskError::InputChanged`] when the file at `path` no longer has the stamp it
/// was planned with (or is gone). A source planned without a stamp (an older driver) is not
/// checked.
pub fn check_unchanged(path: &str, planned: Option<&FileStamp>) -> Result<(), TaskError> {
    let Some(planned) = planned else {
        return Ok(());
    };
    match FileStamp::of(Path::new(path)) {
        Ok(now) if now == *planned => Ok(()),
        Ok(_) => Err(TaskError::InputChanged {
            path: path.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TaskError::InputChanged {
            path: path.to_string(),
        }),
        Err(e) => Err(TaskError::BadInput {
            message: format!("{path}: {e}"),
        }),
    }
}

/// Runs `read` between two checks of the file's stamp, so a file rewritten while it is read
/// is caught too.
pub fn read_unchanged<T>(
    path: &str,
    planned: Option<&FileStamp>,
    read: impl FnOnce() -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    check_unchanged(path, planned)?;
    let value = read();
    check_unchanged(path, planned)?;
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_or_removed_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.csv");
        std::fs::write(&file, "x\n1\n").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let path = file.display().to_string();
        assert!(check_unchanged(&path, Some(&stamp)).is_ok());
        assert!(check_unchanged(&path, None).is_ok());
        std::fs::write(&file, "x\n1\n2\n").unwrap();
        let err = check_unchanged(&path, Some(&stamp)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("input changed since the job was planned: {path}")
        );
        assert!(!err.is_retryable());
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            check_unchanged(&path, Some(&stamp)),
            Err(TaskError::InputChanged { .. })
        ));
    }

    #[test]
    fn a_file_that_changed_during_the_read_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.csv");
        std::fs::write(&file, "x\n1\n").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let path = file.display().to_string();
        let result = read_unchanged(&path, Some(&stamp), || {
            std::fs::write(&file, "x\n1\n2\n").unwrap();
            Ok(())
        });
        assert!(matches!(result, Err(TaskError::InputChanged { .. })));
    }
}
