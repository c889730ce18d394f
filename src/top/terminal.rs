//! Taking over the terminal and always giving it back: raw mode and the alternate screen are
//! left on drop (normal return, `?` errors), from a panic hook, and after SIGTERM, SIGHUP or
//! SIGINT (noticed by the event loop, which then returns normally). While the screen is
//! taken, stderr goes to /dev/null so that no log line scribbles over it; it is given back
//! before any error or panic message is printed.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Set by SIGTERM, SIGHUP and SIGINT while the monitor runs.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// Whether the terminal is currently taken over.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();
/// A duplicate of the original stderr while it points to /dev/null, else -1.
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    // Async-signal-safe: an atomic store only.
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// True once a termination signal arrived.
pub fn signalled() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// True when the terminal behind stdin is gone (hung up: its window closed, ssh dropped).
pub fn stdin_hung_up() -> bool {
    let mut fds = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut fds, 1, 0) };
    ready > 0 && fds.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Watches for a termination signal or a hung-up terminal that the event loop does not act
/// on within `grace` (crossterm can spin forever reading a hung-up terminal), and then
/// restores what it can and ends the process. Checks every 100 ms; never returns.
pub fn spawn_watchdog(grace: std::time::Duration) -> io::Result<()> {
    std::thread::Builder::new()
        .name("cinder-top-watchdog".into())
        .spawn(move || {
            let mut since: Option<std::time::Instant> = None;
            loop {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if !(signalled() || stdin_hung_up()) {
                    since = None;
                    continue;
                }
                let first = *since.get_or_insert_with(std::time::Instant::now);
                if first.elapsed() >= grace {
                    restore();
                    std::process::exit(if signalled() { 0 } else { 1 });
                }
            }
        })
        .map(|_| ())
}

/// The terminal, owned by the monitor until dropped.
pub struct TerminalGuard {
    /// The ratatui terminal drawing on stdout.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, hides the cursor, and arranges for all of it
    /// to be undone on drop, on panic and on termination signals.
    pub fn enter() -> io::Result<Self> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
            // SAFETY: the handler only stores to an atomic.
            unsafe {
                libc::signal(
                    sig,
                    on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        silence_stderr();
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, Hide) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(Self { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode and shows the cursor; does nothing when the
/// terminal is not taken over (so it may run twice: on panic, then on drop).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
        restore_stderr();
    }
}

/// Points stderr to /dev/null, keeping the original; on any failure stderr stays as it is.
fn silence_stderr() {
    // SAFETY: plain fd calls on descriptors this process owns; failures are checked.
    unsafe {
        let saved = libc::dup(libc::STDERR_FILENO);
        if saved < 0 {
            return;
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if null < 0 || libc::dup2(null, libc::STDERR_FILENO) < 0 {
            if null >= 0 {
                libc::close(null);
            }
            libc::close(saved);
            return;
        }
        libc::close(null);
        SAVED_STDERR.store(saved, Ordering::SeqCst);
    }
}

/// Gives stderr back (no-op when it was not silenced).
fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor duplicated in `silence_stderr`.
        unsafe {
            libc::dup2(saved, libc::STDERR_FILENO);
            libc::close(saved);
        }
    }
}
