//! Helpers shared by the integration tests: the `cinder` binary, per-test directories, child
//! process guards and bounded waits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cinder::{Context, LocalCluster, LocalClusterBuilder};

/// The `cinder` binary built for these tests.
pub fn cinder_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cinder"))
}

/// A fresh directory for one test under cargo's target tmp dir (kept for post-mortems).
pub fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An embedded cluster of `workers` started from the `cinder` binary, with fast heartbeats
/// (interval 200 ms, loss after 1500 ms), connected.
pub fn local_context(name: &str, workers: usize) -> Context {
    Context::local_with(local_builder(name, workers)).expect("embedded cluster starts")
}

/// The builder behind [`local_context`], for tests that change more settings.
pub fn local_builder(name: &str, workers: usize) -> LocalClusterBuilder {
    LocalCluster::builder()
        .workers(workers)
        .executable(cinder_bin())
        .dir(test_dir(name))
        .heartbeat_ms(200, 1500)
        .log_level("info,cinder_actors=debug")
}

/// Runs `cinder ARGS` to completion (bounded to 60 s).
pub fn run_cinder(args: &[&str]) -> Output {
    let mut child = Command::new(cinder_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cinder");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cinder {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Kills (SIGKILL) and reaps a child when dropped, so tests never leak processes.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// Spawns `cmd` under a guard.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self(Some(cmd.spawn().expect("spawn child")))
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// Sends a signal to the child.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// Waits (bounded) for the child to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.0.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.0 = None;
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// True while a process with this pid exists (and is not a zombie of ours).
pub fn process_alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    match stat {
        Ok(s) => !s
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `check` every 20 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file's content, or empty.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
