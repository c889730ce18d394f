//! Byte sizes as operators write them: `512MiB`, `4GiB`, `1.5G`, `1048576`.

use std::fmt;
use std::str::FromStr;

/// A number of bytes parsed from a human-friendly string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {input:?}: {reason} (examples: 512MiB, 4GiB, 1048576)")]
pub struct SizeError {
    input: String,
    reason: &'static str,
}

const UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1000),
    ("kib", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
    ("t", 1 << 40),
    ("tb", 1_000_000_000_000),
    ("tib", 1 << 40),
];

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| SizeError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        if number.is_empty() {
            return Err(err("no number"));
        }
        let value: f64 = number.parse().map_err(|_| err("not a number"))?;
        let unit = unit.trim().to_ascii_lowercase();
        let multiplier = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| err("unknown unit"))?
        };
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes > u64::MAX as f64 {
            return Err(err("too large"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < NAMES.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", NAMES[unit])
        }
    }
}

/// A clap value parser for memory budgets: a [`ByteSize`] of at least one byte (a zero budget
/// would leave a worker unable to hold any block, so it is a usage error).
pub fn parse_budget(input: &str) -> Result<ByteSize, SizeError> {
    let size: ByteSize = input.parse()?;
    if size.0 == 0 {
        return Err(SizeError {
            input: input.to_string(),
            reason: "a memory budget must be at least 1 byte",
        });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("512MiB".parse::<ByteSize>().unwrap().0, 512 << 20);
        assert_eq!("4GiB".parse::<ByteSize>().unwrap().0, 4 << 30);
        assert_eq!("1.5G".parse::<ByteSize>().unwrap().0, 3 << 29);
        assert_eq!("2 mb".parse::<ByteSize>().unwrap().0, 2_000_000);
        assert_eq!("1048576".parse::<ByteSize>().unwrap().0, 1 << 20);
    }

    #[test]
    fn rejects_garbage_with_the_input_named() {
        for bad in ["", "MiB", "12XB", "1.2.3G", "-5"] {
            let err = bad.parse::<ByteSize>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn a_zero_budget_is_refused() {
        assert!(parse_budget("0").is_err());
        assert!(parse_budget("0MiB").is_err());
        assert_eq!(parse_budget("1").unwrap().0, 1);
    }

    #[test]
    fn displays_binary_units() {
        assert_eq!(ByteSize(512 << 20).to_string(), "512.0 MiB");
        assert_eq!(ByteSize(100).to_string(), "100 B");
    }
}
