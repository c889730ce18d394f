//! Private files: every directory Cinder creates is 0700 and every file it writes 0600, whatever
//! the process umask (the modes are set explicitly after creation, so a umask of 000 cannot
//! widen them).
//!
//! Daemons also run with a umask of 077 (set by the `cinder` crate), which covers files that
//! libraries create on their own (sled's spill files).

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Mode of directories Cinder creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files Cinder writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents; each directory created here gets [`DIR_MODE`].
/// Directories that already exist keep their mode.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match create_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Makes an existing directory private ([`DIR_MODE`]): for directories Cinder owns whether or
/// not it created them (an embedded cluster's logs, work and credentials directories).
pub fn restrict_dir(path: &Path) -> std::io::Result<()> {
    set_mode(path, DIR_MODE)
}

/// Sets the process umask to 077, so files other libraries create are private too. Daemons
/// call it first thing; returns the previous umask.
#[cfg(unix)]
pub fn private_umask() -> u32 {
    // SAFETY: umask has no preconditions; it only swaps the process's file creation mask.
    unsafe { libc::umask(0o077) as u32 }
}

/// Creates one directory with [`DIR_MODE`] (fails if it exists).
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(path)?;
    set_mode(path, DIR_MODE)
}

/// Creates (or truncates) a file with [`FILE_MODE`] for writing.
pub fn create_file(path: &Path) -> std::io::Result<File> {
    open(path, false)
}

/// Creates a new file with [`FILE_MODE`] for writing; fails if it exists.
pub fn create_new_file(path: &Path) -> std::io::Result<File> {
    open(path, true)
}

/// Writes `content` to `path` (created or truncated) with [`FILE_MODE`], and syncs it.
pub fn write(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = create_file(path)?;
    file.write_all(content)?;
    file.sync_all()
}

fn open(path: &Path, new: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_and_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        for dir in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&root.path().join(dir)), DIR_MODE, "{dir}");
        }
        create_dir_all(&deep).unwrap();
        let file = deep.join("f");
        write(&file, b"x").unwrap();
        assert_eq!(mode(&file), FILE_MODE);
        assert!(create_new_file(&file).is_err());
    }
}
