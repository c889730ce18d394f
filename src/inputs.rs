//! What `--data` and `--test-data` name: a file, a directory of part files (what Cinder
//! writes: `part-NNNNN.*`, with `_SUCCESS` and hidden files skipped), or a glob with `*` and
//! `?` in the file name (`data/2026-*.csv`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use cinder::Dataset;

/// Whether `name` matches `pattern` (`*` any run, `?` one character).
fn wildcard(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

fn visible(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
}

/// The files `path` names, sorted; an error names the path when it names none.
pub fn input_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .with_context(|| format!("{}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && visible(p))
            .collect()
    } else if name.contains('*') || name.contains('?') {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let pattern: Vec<char> = name.chars().collect();
        std::fs::read_dir(&dir)
            .with_context(|| format!("{}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n: Vec<char> = p
                    .file_name()
                    .map(|n| n.to_string_lossy().chars().collect())
                    .unwrap_or_default();
                p.is_file() && wildcard(&pattern, &n)
            })
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    if files.is_empty() {
        bail!("{}: names no input file", path.display());
    }
    Ok(files)
}

/// Reads every file with `read` and puts the datasets one after the other.
pub fn read_all(
    files: &[PathBuf],
    mut read: impl FnMut(&Path) -> anyhow::Result<Dataset>,
) -> anyhow::Result<Dataset> {
    let mut all: Option<Dataset> = None;
    for file in files {
        let ds = read(file)?;
        all = Some(match all {
            Some(before) => before.union(&ds),
            None => ds,
        });
    }
    all.ok_or_else(|| anyhow::anyhow!("no input file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_globs_and_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "part-00001.csv",
            "part-00000.csv",
            "_SUCCESS",
            ".hidden",
            "other.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(input_files(dir.path()).unwrap()),
            ["other.txt", "part-00000.csv", "part-00001.csv"]
        );
        assert_eq!(
            names(input_files(&dir.path().join("part-*.csv")).unwrap()),
            ["part-00000.csv", "part-00001.csv"]
        );
        assert_eq!(
            names(input_files(&dir.path().join("part-0000?.csv")).unwrap()).len(),
            2
        );
        assert!(input_files(&dir.path().join("*.parquet"))
            .unwrap_err()
            .to_string()
            .contains("names no input file"));
        let one = dir.path().join("other.txt");
        assert_eq!(input_files(&one).unwrap(), vec![one]);
    }
}
