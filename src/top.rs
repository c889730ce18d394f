//! `cinder top`, a live terminal view of the cluster, and `cinder status --watch`.
//!
//! - [`source`]: a reconnecting status client and the background poller;
//! - [`app`]: screen state and keys (pure, unit-tested);
//! - [`render`]: drawing with ratatui;
//! - [`terminal`]: raw mode and the alternate screen, always restored;
//! - [`watch`]: one line per second for logs.
//!
//! When stdout is not a terminal, `cinder top` prints one snapshot and exits.

pub mod app;
pub mod render;
pub mod source;
pub mod terminal;
pub mod watch;

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{self, Event};

use self::app::App;
use self::source::{Poller, StatusSource, Update, FETCH_TIMEOUT};
use self::terminal::TerminalGuard;

/// How often the monitor asks the master for its state.
pub const REFRESH: Duration = Duration::from_secs(1);
/// Longest wait for a key before the screen is drawn again.
const TICK: Duration = Duration::from_millis(100);
/// How long the event loop gets to act on a signal or a hung-up terminal before the
/// watchdog ends the process.
const WATCHDOG_GRACE: Duration = Duration::from_secs(1);

/// Runs `cinder top` against `master` with the credentials in `cluster_dir`: the live view on
/// a terminal, one snapshot otherwise.
pub fn run(cluster_dir: &Path, master: &str) -> anyhow::Result<()> {
    let source = StatusSource::new(cluster_dir, master, "cinder top")?;
    if !std::io::stdout().is_terminal() {
        return snapshot(source);
    }
    let poller = Poller::start(source, REFRESH)?;
    let mut guard = TerminalGuard::enter().context("cannot take over the terminal")?;
    terminal::spawn_watchdog(WATCHDOG_GRACE).context("starting the terminal watchdog")?;
    let result = event_loop(&mut guard, &poller, master);
    drop(guard);
    result
}

/// Prints the cluster once (workers, jobs, events), as `cinder status` does.
fn snapshot(mut source: StatusSource) -> anyhow::Result<()> {
    let status = source.fetch(FETCH_TIMEOUT)?;
    source.close();
    let mut out = crate::status::to_table(&status);
    out.push('\n');
    out.push_str(&crate::status::jobs_table(&status));
    out.push('\n');
    out.push_str(&crate::status::events_table(&status, 20));
    use std::io::Write as _;
    // A closed pipe (`cinder top | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}

fn event_loop(guard: &mut TerminalGuard, poller: &Poller, master: &str) -> anyhow::Result<()> {
    let mut app = App::new(master);
    loop {
        let now = Instant::now();
        for update in poller.drain() {
            match update {
                Update::Status(status) => app.on_status(*status, now),
                Update::Failed(error) => app.on_failure(error, now),
            }
        }
        guard
            .terminal
            .draw(|frame| render::draw(frame, &app, now))
            .context("drawing the screen")?;
        if event::poll(TICK).context("reading the terminal")? {
            match event::read().context("reading the terminal")? {
                Event::Key(key) => app.on_key(key),
                Event::Resize(..) => guard.terminal.autoresize()?,
                _ => {}
            }
        }
        if app.quit || terminal::signalled() || terminal::stdin_hung_up() {
            return Ok(());
        }
    }
}
