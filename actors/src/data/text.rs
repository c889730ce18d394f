//! Text files split into line-aligned byte ranges, one per partition (Hadoop's rule: a line
//! belongs to the split its first byte is in), with the line number each split starts at, so
//! errors can name `file:line`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::plan::TextSplit;

/// Why a text file could not be split or read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct TextError {
    /// The file.
    pub path: String,
    /// The cause.
    pub source: std::io::Error,
}

fn err(path: &Path, source: std::io::Error) -> TextError {
    TextError {
        path: path.display().to_string(),
        source,
    }
}

/// Splits a file into `partitions` line-aligned ranges of roughly equal size.
pub fn plan_splits(path: &Path, partitions: u32) -> Result<Vec<TextSplit>, TextError> {
    let partitions = partitions.max(1) as u64;
    let file = File::open(path).map_err(|e| err(path, e))?;
    let size = file.metadata().map_err(|e| err(path, e))?.len();
    let targets: Vec<u64> = (1..partitions).map(|k| size * k / partitions).collect();
    let mut starts = vec![(0u64, 1u64)];
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (mut offset, mut line) = (0u64, 1u64);
    let mut next = 0usize;
    loop {
        let buf = reader.fill_buf().map_err(|e| err(path, e))?;
        if buf.is_empty() {
            break;
        }
        let len = buf.len();
        for (i, byte) in buf.iter().enumerate() {
            if *byte == b'\n' {
                line += 1;
                let line_start = offset + i as u64 + 1;
                while next < targets.len() && targets[next] <= line_start {
                    starts.push((line_start, line));
                    next += 1;
                }
            }
        }
        offset += len as u64;
        reader.consume(len);
    }
    while starts.len() < partitions as usize {
        starts.push((size, line));
    }
    Ok(starts
        .iter()
        .enumerate()
        .map(|(i, &(start, first_line))| TextSplit {
            start: start.min(size),
            end: starts.get(i + 1).map_or(size, |s| s.0.min(size)),
            first_line,
        })
        .collect())
}

/// The lines of one split as `(line number, text)`, without line terminators.
pub fn read_split(path: &Path, split: &TextSplit) -> Result<Vec<(u64, String)>, TextError> {
    let mut file = File::open(path).map_err(|e| err(path, e))?;
    file.seek(SeekFrom::Start(split.start))
        .map_err(|e| err(path, e))?;
    let mut bytes = Vec::with_capacity((split.end - split.start) as usize);
    file.take(split.end - split.start)
        .read_to_end(&mut bytes)
        .map_err(|e| err(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        err(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            ),
        )
    })?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            (
                split.first_line + i as u64,
                l.trim_end_matches('\r').to_string(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_every_line_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        let lines: Vec<String> = (0..103)
            .map(|i| format!("line {i} {}", "x".repeat(i % 17)))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        for n in [1, 2, 3, 7, 200] {
            let splits = plan_splits(&path, n).unwrap();
            assert_eq!(splits.len(), n as usize);
            let mut all = Vec::new();
            for s in &splits {
                all.extend(read_split(&path, s).unwrap());
            }
            let numbers: Vec<u64> = all.iter().map(|(n, _)| *n).collect();
            assert_eq!(numbers, (1..=103).collect::<Vec<_>>(), "n = {n}");
            assert!(all.iter().zip(&lines).all(|((_, a), b)| a == b));
        }
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = plan_splits(Path::new("/no/such/file.txt"), 2).unwrap_err();
        assert!(e.to_string().starts_with("/no/such/file.txt:"), "{e}");
    }
}
