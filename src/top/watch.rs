//! `cinder status --watch`: one compact line per second for logs (or one JSON object per line
//! with `--json`), until interrupted. An unreachable master is a line too, and the next second
//! tries again; a closed stdout (`| head`) ends the watch quietly.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::source::{StatusSource, FETCH_TIMEOUT};

/// Prints the state of `master` every `period` until the process is interrupted or stdout
/// closes.
pub fn watch(cluster_dir: &Path, master: &str, json: bool, period: Duration) -> anyhow::Result<()> {
    let mut source = StatusSource::new(cluster_dir, master, "cinder status --watch")?;
    loop {
        let started = Instant::now();
        let line = match source.fetch(FETCH_TIMEOUT) {
            Ok(status) if json => match serde_json::to_string(&status) {
                Ok(line) => line,
                Err(e) => format!("{{\"error\":{:?}}}", e.to_string()),
            },
            Ok(status) => format!("{} {}", utc_now(), crate::status::to_line(&status)),
            Err(e) if json => {
                let error = serde_json::Value::String(format!("{e:#}"));
                format!("{{\"master\":{:?},\"error\":{error}}}", source.master())
            }
            Err(e) => format!("{} {e:#}; retrying", utc_now()),
        };
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{line}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
        drop(stdout);
        if let Some(rest) = period.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

/// The current UTC time as `2026-11-25T12:00:01Z`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_764_072_001), "2025-11-25T12:00:01Z");
    }
}
