//! `cinder top` as an operator sees it, driven in tmux against an embedded cluster: the
//! workers are listed, a running job shows its progress, a SIGKILLed worker is marked lost,
//! `q`, Ctrl-C and SIGTERM give the shell back with the terminal as it was, a terminal too
//! small says so, a lost master shows a banner while the monitor keeps running, and a hung-up
//! terminal ends it. Also the piped snapshot, `cinder status --watch`, and the new
//! `cinder status --json` fields.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cinder::builtin::RangeArgs;
use cinder::Context;
use common::*;

/// Longest wait for anything to appear on screen.
const SCREEN_WAIT: Duration = Duration::from_secs(30);

/// A private tmux server (its own socket) holding one session; killed on drop, also when the
/// test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a detached `width`x`height` session running a plain shell.
    fn start(name: &str, width: u16, height: u16) -> Self {
        let found = Command::new("tmux")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "tmux is not installed: this test drives `cinder top` in tmux \
             (apt-get install tmux; .ci/run installs it when missing)"
        );
        let tmux = Self {
            socket: format!("cinder-{name}-{}", std::process::id()),
        };
        let (w, h) = (width.to_string(), height.to_string());
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            &w,
            "-y",
            &h,
            "env",
            "PS1=$ ",
            "sh",
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            text(&out.stderr)
        );
        tmux
    }

    /// Runs a tmux command on this server (bounded to 10 s).
    fn run(&self, args: &[&str]) -> Output {
        let mut child = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tmux");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tmux {args:?} did not finish within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    /// The visible pane as text.
    fn capture(&self) -> String {
        text(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout)
    }

    /// Sends tmux key names (`q`, `C-c`, `Enter`, `Tab`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success(), "send-keys {keys:?}");
    }

    /// Types a command line into the shell and presses Enter.
    fn type_line(&self, line: &str) {
        assert!(self
            .run(&["send-keys", "-t", "top", "-l", line])
            .status
            .success());
        self.keys(&["Enter"]);
    }

    /// Polls the pane until `check` accepts it; panics with the last screen after `timeout`.
    fn wait_screen(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .env_remove("TMUX")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The screen line naming `needle`, if any.
fn line<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

/// `(done, total)` of the running `count` job's row (`│<id>  count  running  ██░░ 3/24 12%`).
fn running_job_progress(screen: &str) -> Option<(u64, u64)> {
    let row = screen
        .lines()
        .find(|l| l.contains(" count ") && l.contains("running") && !l.contains("└"))?;
    row.split_whitespace().find_map(|word| {
        let (done, total) = word.split_once('/')?;
        Some((done.parse().ok()?, total.parse().ok()?))
    })
}

/// SIGKILLs a process we did not spawn (so no `Child`) when dropped, if it still runs.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if process_alive(self.0) {
            unsafe {
                libc::kill(self.0 as i32, libc::SIGKILL);
            }
        }
    }
}

/// Processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: the fields after the last ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

fn top_command(dir: &Path, master: &str, marker: &str) -> String {
    format!(
        "clear; {} top --cluster {} --master {master}; echo {marker}=$?",
        cinder_bin().display(),
        dir.display()
    )
}

/// The shell is back, out of the alternate screen, and the terminal is in cooked mode.
fn assert_shell_restored(tmux: &Tmux, marker: &str) {
    let exited = format!("{marker}=0");
    let screen = tmux.wait_screen(&exited, SCREEN_WAIT, |s| {
        s.lines().any(|l| l.trim() == exited)
    });
    assert!(
        !screen.contains("Workers (") && !screen.contains("cinder top  master"),
        "the monitor's screen is gone (alternate screen left):\n{screen}"
    );
    tmux.type_line(
        "echo \"MODES:$(stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' ')\"",
    );
    let screen = tmux.wait_screen("stty modes", SCREEN_WAIT, |s| {
        s.lines().any(|l| l.starts_with("MODES:"))
    });
    let modes = screen
        .lines()
        .find(|l| l.starts_with("MODES:"))
        .unwrap_or_default();
    let words: Vec<&str> = modes
        .trim_start_matches("MODES:")
        .split_whitespace()
        .collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo") && !words.contains(&"-icanon"),
        "raw mode was left on: {modes}"
    );
}

#[test]
fn top_in_tmux_follows_workers_jobs_and_losses_and_restores_the_terminal() {
    let mut cx = Context::local_with(local_builder("top", 2)).expect("embedded cluster");
    let dir = cx.local_cluster().unwrap().cluster_dir().to_path_buf();
    let master = cx.local_cluster().unwrap().master_addr().to_string();
    let out_dir = cx.local_cluster().unwrap().root().to_path_buf();
    cx.wait_for_workers(2, Duration::from_secs(30)).unwrap();
    let tmux = Tmux::start("top", 160, 50);

    tmux.type_line(&top_command(&dir, &master, "TOP_EXIT_1"));
    tmux.wait_screen("both workers alive", SCREEN_WAIT, |s| {
        ["worker-1", "worker-2"]
            .iter()
            .all(|w| line(s, w).is_some_and(|l| l.contains("alive") && l.contains("127.0.0.1")))
    });

    // A job long enough to watch: 24 tasks of 400 ms on two one-core workers.
    let args = RangeArgs {
        rows_per_partition: 1000,
        columns: 2,
        seed: 1,
    };
    let slow = cx
        .generate("cinder.range", &args, 24)
        .unwrap()
        .map_batches("cinder.delay", &400u64)
        .unwrap();
    let job = std::thread::spawn(move || slow.count());
    let pane = tmux.wait_screen("the job's progress", SCREEN_WAIT, |s| {
        running_job_progress(s).is_some_and(|(done, total)| total == 24 && (1..24).contains(&done))
    });
    std::fs::write(out_dir.join("pane-running-job.txt"), &pane).unwrap();
    println!("cinder top during a running job:\n{pane}");
    assert!(pane.contains("└ stage 0 result"), "{pane}");
    assert!(line(&pane, "job_submitted").is_some(), "{pane}");

    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    let screen = tmux.wait_screen("worker-1 marked lost", SCREEN_WAIT, |s| {
        line(s, "│worker-1").is_some_and(|l| l.contains("lost")) && line(s, "worker_lost").is_some()
    });
    assert!(
        line(&screen, "│worker-2").unwrap().contains("alive"),
        "{screen}"
    );
    assert_eq!(
        job.join().unwrap().expect("the job survives the kill"),
        24_000
    );
    let screen = tmux.wait_screen("the job finished", SCREEN_WAIT, |s| {
        line(s, " count ").is_some_and(|l| l.contains("finished") && l.contains("24/24"))
            && line(s, "job_finished").is_some()
    });
    std::fs::write(out_dir.join("pane-after-kill.txt"), &screen).unwrap();

    // Keys: Tab moves the focus, s changes the order, ? opens the help.
    tmux.keys(&["Tab"]);
    tmux.wait_screen("focus on jobs", SCREEN_WAIT, |s| {
        line(s, "▶").is_some_and(|l| l.contains("Jobs"))
    });
    tmux.keys(&["BTab", "s"]);
    tmux.wait_screen("workers by running tasks", SCREEN_WAIT, |s| {
        s.contains("workers by running tasks")
    });
    tmux.keys(&["?"]);
    tmux.wait_screen("help", SCREEN_WAIT, |s| {
        s.contains("quit (the terminal is restored)")
    });
    tmux.keys(&["Escape"]);

    tmux.keys(&["q"]);
    assert_shell_restored(&tmux, "TOP_EXIT_1");

    // Ctrl-C quits the same way (raw mode turns it into a key).
    tmux.type_line(&top_command(&dir, &master, "TOP_EXIT_2"));
    tmux.wait_screen("the monitor again", SCREEN_WAIT, |s| {
        s.contains("│worker-2")
    });
    tmux.keys(&["C-c"]);
    assert_shell_restored(&tmux, "TOP_EXIT_2");

    // SIGTERM (a closing terminal emulator, `kill`) also gives the terminal back.
    tmux.type_line(&top_command(&dir, &master, "TOP_EXIT_TERM"));
    tmux.wait_screen("the monitor again", SCREEN_WAIT, |s| {
        s.contains("│worker-2")
    });
    let shell = tmux.run(&["display-message", "-p", "-t", "top", "#{pane_pid}"]);
    let shell: u32 = text(&shell.stdout)
        .trim()
        .parse()
        .expect("the pane's shell pid");
    let top = children_of(shell);
    assert_eq!(top.len(), 1, "one cinder top under the shell: {top:?}");
    unsafe {
        libc::kill(top[0] as i32, libc::SIGTERM);
    }
    assert_shell_restored(&tmux, "TOP_EXIT_TERM");

    // Piped, it prints one snapshot and exits.
    let out = run_cinder(&[
        "top",
        "--cluster",
        dir.to_str().unwrap(),
        "--master",
        &master,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        line(&stdout, "worker-1").is_some_and(|l| l.contains("lost")),
        "{stdout}"
    );
    assert!(
        line(&stdout, " count ").is_some_and(|l| l.contains("finished")),
        "{stdout}"
    );
    assert!(stdout.contains("worker_lost"), "{stdout}");

    // A terminal too small says so, and the monitor comes back when it grows.
    tmux.type_line(&top_command(&dir, &master, "TOP_EXIT_3"));
    tmux.wait_screen("the monitor again", SCREEN_WAIT, |s| {
        s.contains("│worker-2")
    });
    tmux.run(&["resize-window", "-t", "top", "-x", "60", "-y", "15"]);
    tmux.wait_screen("too small", SCREEN_WAIT, |s| {
        s.contains("terminal too small")
    });
    tmux.run(&["resize-window", "-t", "top", "-x", "160", "-y", "50"]);
    tmux.wait_screen("the monitor again", SCREEN_WAIT, |s| {
        s.contains("│worker-2")
    });

    // A lost master: a banner, the last state stays, the monitor keeps running.
    let master_pid = cx.local_cluster().unwrap().master_pid().unwrap();
    unsafe {
        libc::kill(master_pid as i32, libc::SIGKILL);
    }
    let screen = tmux.wait_screen("the unreachable banner", SCREEN_WAIT, |s| {
        s.contains("MASTER UNREACHABLE")
    });
    assert!(screen.contains("│worker-2"), "{screen}");
    std::thread::sleep(Duration::from_secs(3));
    let screen = tmux.capture();
    assert!(
        screen.contains("MASTER UNREACHABLE") && !screen.contains("TOP_EXIT_3=0"),
        "still running, still retrying:\n{screen}"
    );
    tmux.keys(&["q"]);
    assert_shell_restored(&tmux, "TOP_EXIT_3");

    // The terminal goes away under it (window closed, ssh dropped): it exits, never spins.
    tmux.type_line(&top_command(&dir, &master, "TOP_EXIT_4"));
    tmux.wait_screen("the monitor again", SCREEN_WAIT, |s| {
        s.contains("Workers (")
    });
    let shell = tmux.run(&["display-message", "-p", "-t", "top", "#{pane_pid}"]);
    let shell: u32 = text(&shell.stdout)
        .trim()
        .parse()
        .expect("the pane's shell pid");
    let top = children_of(shell);
    assert_eq!(top.len(), 1, "one cinder top under the shell: {top:?}");
    let _reaper = KillOnDrop(top[0]);
    drop(tmux);
    wait_for("cinder top to exit after a hang-up", SCREEN_WAIT, || {
        (!process_alive(top[0])).then_some(())
    });
}

#[test]
fn status_json_and_watch_show_jobs_events_and_running_tasks() {
    // 4 partitions of ~960 KB cached on 2 workers with 1 MiB each: some spill.
    let builder = local_builder("top-status", 2).memory_bytes(1 << 20);
    let mut cx = Context::local_with(builder).expect("embedded cluster");
    let dir = cx.local_cluster().unwrap().cluster_dir().to_path_buf();
    let master = cx.local_cluster().unwrap().master_addr().to_string();
    cx.wait_for_workers(2, Duration::from_secs(30)).unwrap();
    let args = RangeArgs {
        rows_per_partition: 40_000,
        columns: 3,
        seed: 1,
    };
    let cached = cx.generate("cinder.range", &args, 4).unwrap().cache();
    assert_eq!(cached.count().unwrap(), 160_000);
    let before = cx
        .wait_for_status("4 blocks, some spilled", Duration::from_secs(10), |s| {
            s.workers.iter().map(|w| w.blocks).sum::<u64>() == 4
                && s.workers.iter().any(|w| w.spilled_bytes > 0)
        })
        .unwrap();
    assert!(
        before.workers[0].blocks > 0,
        "worker-1 holds partitions: {before:?}"
    );
    cx.local_cluster_mut().unwrap().kill_worker(0).unwrap();
    cx.wait_for_status("worker-1 lost", Duration::from_secs(10), |s| {
        s.workers[0].state == cinder::WorkerState::Lost
    })
    .unwrap();
    assert_eq!(
        cached.count().unwrap(),
        160_000,
        "lost partitions recomputed"
    );

    let out = run_cinder(&[
        "status",
        "--cluster",
        dir.to_str().unwrap(),
        "--master",
        &master,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let workers = status["workers"].as_array().unwrap();
    assert_eq!(workers[0]["state"], "lost");
    assert_eq!(workers[1]["state"], "alive");
    for w in workers {
        assert_eq!(w["tasks_running"], 0, "{w}");
    }
    let jobs = status["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let (second, first) = (&jobs[0], &jobs[1]);
    assert_eq!(
        (first["id"].as_u64(), second["id"].as_u64()),
        (Some(1), Some(2)),
        "newest first"
    );
    for job in jobs {
        assert_eq!(job["name"], "count", "{job}");
        assert_eq!(job["state"], "finished");
        assert_eq!(
            (job["tasks_done"].as_u64(), job["tasks_total"].as_u64()),
            (Some(4), Some(4))
        );
        assert_eq!(job["stages"][0]["kind"], "result");
        assert_eq!(job["stages"][0]["state"], "done");
        assert!(job["error"].is_null());
    }
    assert_eq!(first["recomputed_partitions"], 0);
    let recomputed = second["recomputed_partitions"].as_u64().unwrap();
    assert_eq!(
        recomputed, before.workers[0].blocks,
        "exactly the lost worker's partitions, attributed to the job that needed them"
    );
    assert_eq!(status["recomputed_partitions"].as_u64(), Some(recomputed));
    let events = status["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    // Newest first: the last job's end comes before its submission (heartbeat-driven events
    // such as blocks_spilled may interleave anywhere).
    let finished = kinds.iter().position(|k| *k == "job_finished");
    let submitted = kinds.iter().position(|k| *k == "job_submitted");
    assert!(
        finished.is_some() && finished < submitted,
        "newest first: {kinds:?}"
    );
    for kind in [
        "worker_joined",
        "job_submitted",
        "blocks_spilled",
        "worker_lost",
        "partition_recomputed",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    let recompute = events
        .iter()
        .find(|e| e["kind"] == "partition_recomputed")
        .unwrap();
    assert_eq!(recompute["job"], 2, "{recompute}");
    assert_eq!(recompute["worker"], "worker-2", "{recompute}");

    for json in [false, true] {
        let mut args = vec![
            "status",
            "--cluster",
            dir.to_str().unwrap(),
            "--master",
            &master,
        ];
        args.push("--watch");
        if json {
            args.push("--json");
        }
        let mut watch = ChildGuard::spawn(
            Command::new(cinder_bin())
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let stdout = watch.0.as_mut().unwrap().stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let started = Instant::now();
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a first line");
        let second = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a second line");
        let gap = started.elapsed();
        assert!(
            gap >= Duration::from_millis(900),
            "about a line per second: {gap:?}"
        );
        for l in [&first, &second] {
            if json {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON object a line");
                assert_eq!(v["workers"].as_array().unwrap().len(), 2, "{l}");
                assert_eq!(v["jobs"][0]["state"], "finished", "{l}");
            } else {
                assert!(
                    l.contains("workers=1/2") && l.contains("jobs_running=0"),
                    "{l}"
                );
                assert!(
                    l.starts_with("20") && l.contains('T'),
                    "a UTC timestamp first: {l}"
                );
            }
        }
    }
}
