//! How many partitions an input gets, and how Parquet rows are cut into them.
//!
//! The count depends only on the input (its size), never on the cluster: partials are
//! combined in partition order, so the same input gives the same bits on one worker or fifty.
//! Parquet row groups are cut into row ranges, so one large row group still fills every core.

use serde::{Deserialize, Serialize};

/// Input bytes per partition when the caller does not choose (16 MiB).
pub const BYTES_PER_PARTITION: u64 = 16 << 20;

/// Partitions of an input, at least (when it has that many rows).
pub const MIN_PARTITIONS: u32 = 4;

/// The default partition count of an input of `bytes`: one per 16 MiB, at least 4.
pub fn default_partitions(bytes: u64) -> u32 {
    let n = bytes.div_ceil(BYTES_PER_PARTITION);
    (n.min(u64::from(u32::MAX)) as u32).max(MIN_PARTITIONS)
}

/// A contiguous run of rows inside one Parquet row group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParquetPiece {
    /// The file.
    pub file: String,
    /// Row group index in the file.
    pub row_group: u32,
    /// First row, counted from the row group's start.
    pub offset: u64,
    /// Rows.
    pub rows: u64,
}

/// One file's row groups as `(file, rows per row group)`.
pub type FileRowGroups = (String, Vec<u64>);

/// Cuts the rows of `files` (in order: files, then their row groups) into `partitions`
/// contiguous ranges of sizes differing by at most one row; a range that crosses a row-group
/// or file boundary becomes several pieces. With fewer rows than partitions, there are as many
/// partitions as rows (and one empty partition for an empty input).
pub fn split_rows(files: &[FileRowGroups], partitions: u32) -> Vec<Vec<ParquetPiece>> {
    let total: u64 = files.iter().flat_map(|(_, g)| g.iter()).sum();
    let n = u64::from(partitions.max(1)).min(total.max(1));
    // Partition k holds global rows [k·total/n, (k+1)·total/n).
    let bound = |k: u64| ((u128::from(k) * u128::from(total)) / u128::from(n)) as u64;
    let mut out: Vec<Vec<ParquetPiece>> = (0..n).map(|_| Vec::new()).collect();
    let mut group_start = 0u64;
    let mut k = 0u64;
    for (file, groups) in files {
        for (g, &rows) in groups.iter().enumerate() {
            let group_end = group_start + rows;
            let mut at = group_start;
            while at < group_end {
                while bound(k + 1) <= at {
                    k += 1;
                }
                let end = bound(k + 1).min(group_end);
                out[k as usize].push(ParquetPiece {
                    file: file.clone(),
                    row_group: g as u32,
                    offset: at - group_start,
                    rows: end - at,
                });
                at = end;
            }
            group_start = group_end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_default_depends_on_the_size_alone() {
        assert_eq!(default_partitions(0), 4);
        assert_eq!(default_partitions(BYTES_PER_PARTITION * 4), 4);
        assert_eq!(default_partitions(BYTES_PER_PARTITION * 4 + 1), 5);
        assert_eq!(default_partitions(400 << 20), 25);
    }

    #[test]
    fn one_row_group_is_cut_into_equal_ranges() {
        let parts = split_rows(&[("a".into(), vec![10])], 4);
        let sizes: Vec<u64> = parts.iter().map(|p| p[0].rows).collect();
        assert_eq!(sizes, vec![2, 3, 2, 3]);
        assert_eq!(parts[1][0].offset, 2);
    }

    #[test]
    fn a_range_crossing_groups_and_files_has_several_pieces() {
        let parts = split_rows(&[("a".into(), vec![3, 3]), ("b".into(), vec![4])], 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            vec![
                ParquetPiece {
                    file: "a".into(),
                    row_group: 0,
                    offset: 0,
                    rows: 3
                },
                ParquetPiece {
                    file: "a".into(),
                    row_group: 1,
                    offset: 0,
                    rows: 2
                },
            ]
        );
        assert_eq!(parts[1][0].offset, 2);
        assert_eq!(parts[1][1].file, "b");
    }

    #[test]
    fn empty_and_tiny_inputs() {
        assert_eq!(split_rows(&[("a".into(), vec![])], 4), vec![Vec::new()]);
        assert_eq!(split_rows(&[("a".into(), vec![2])], 8).len(), 2);
    }

    proptest! {
        #[test]
        fn every_row_lands_in_exactly_one_partition(
            groups in proptest::collection::vec(proptest::collection::vec(0u64..50, 0..4), 1..4),
            partitions in 1u32..20,
        ) {
            let files: Vec<FileRowGroups> = groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| (format!("f{i}"), g))
                .collect();
            let total: u64 = files.iter().flat_map(|(_, g)| g.iter()).sum();
            let parts = split_rows(&files, partitions);
            prop_assert_eq!(parts.len() as u64, u64::from(partitions).min(total.max(1)));
            // Walk every piece in order: together they enumerate each row once, in order.
            let mut expected: Vec<(usize, u32, u64)> = Vec::new();
            for (f, (_, g)) in files.iter().enumerate() {
                for (gi, rows) in g.iter().enumerate() {
                    expected.extend((0..*rows).map(|r| (f, gi as u32, r)));
                }
            }
            let mut seen = Vec::new();
            for part in &parts {
                for piece in part {
                    let f: usize = piece.file[1..].parse().unwrap();
                    prop_assert!(piece.rows > 0);
                    seen.extend((0..piece.rows).map(|r| (f, piece.row_group, piece.offset + r)));
                }
            }
            prop_assert_eq!(seen, expected);
            let sizes: Vec<u64> = parts.iter().map(|p| p.iter().map(|x| x.rows).sum()).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(hi - lo <= 1, "sizes {:?}", sizes);
        }
    }
}
