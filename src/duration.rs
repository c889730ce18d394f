//! Durations as operators write them: `30s`, `500ms`, `2m`, `1h`, or a plain number of seconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration parsed from a human-friendly string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (examples: 30s, 500ms, 2m)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        let text = input.trim().to_ascii_lowercase();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(err("no number"));
        }
        let value: f64 = number.parse().map_err(|_| err("not a number"))?;
        let scale_ms = match unit.trim() {
            "" | "s" | "sec" | "secs" => 1_000.0,
            "ms" => 1.0,
            "m" | "min" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return Err(err("unknown unit")),
        };
        let ms = value * scale_ms;
        if !ms.is_finite() || ms > 1e15 {
            return Err(err("too large"));
        }
        Ok(Self(Duration::from_millis(ms.round() as u64)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_garbage() {
        let ms = |s: &str| s.parse::<HumanDuration>().map(|d| d.0.as_millis());
        assert_eq!(ms("30s"), Ok(30_000));
        assert_eq!(ms("30"), Ok(30_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("1.5s"), Ok(1_500));
        assert_eq!(ms("2m"), Ok(120_000));
        assert!(ms("").is_err());
        assert!(ms("s").is_err());
        assert!(ms("3 fortnights").is_err());
        assert!(ms("-1s").is_err());
        assert_eq!(HumanDuration(Duration::from_secs(30)).to_string(), "30s");
    }
}
