//! The screen drawn into a test backend, read back as text.

use std::time::{Duration, Instant};

use cinder_actors::wire::{
    ClusterEvent, ClusterStatus, EventKind, JobState, JobStatus, StageKind, StageState,
    StageStatus, WorkerState, WorkerStatus,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;

fn worker(id: &str, state: WorkerState, incarnation: u64) -> WorkerStatus {
    WorkerStatus {
        id: id.into(),
        address: "127.0.0.1:4000".into(),
        state,
        incarnation,
        cores: 2,
        memory_budget_bytes: 512 << 20,
        memory_used_bytes: 256 << 20,
        spilled_bytes: 3 << 20,
        blocks: 7,
        last_heartbeat_ms: 200,
        pid: 4242,
        tasks_running: 1,
        watcher_pid: Some(2),
    }
}

fn job(id: u64, state: JobState, done: u64) -> JobStatus {
    JobStatus {
        id,
        application: "app-1-0001".into(),
        name: "count".into(),
        state,
        submitted_ms: 1_000,
        elapsed_ms: 2_500,
        tasks_total: 24,
        tasks_done: done,
        tasks_running: 2,
        retries: 1,
        recomputed_partitions: 0,
        stages: vec![StageStatus {
            index: 0,
            kind: StageKind::Result,
            state: StageState::Running,
            tasks_total: 24,
            tasks_done: done,
            tasks_running: 2,
            retries: 1,
        }],
        error: None,
    }
}

fn status() -> ClusterStatus {
    ClusterStatus {
        master: "127.0.0.1:7077".into(),
        uptime_ms: 10_000,
        workers: vec![
            worker("worker-1", WorkerState::Lost, 1),
            worker("worker-2", WorkerState::Alive, 1),
            worker("worker-3", WorkerState::Alive, 2),
        ],
        recomputed_partitions: 0,
        jobs: vec![
            job(2, JobState::Running, 12),
            job(1, JobState::Finished, 24),
        ],
        events: vec![ClusterEvent {
            seq: 1,
            at_ms: 8_000,
            kind: EventKind::WorkerLost,
            worker: Some("worker-1".into()),
            job: None,
            message: "worker-1 lost (no heartbeat within the timeout)".into(),
        }],
        applications: vec![cinder_actors::wire::ApplicationStatus {
            id: "app-1-0001".into(),
            name: "train".into(),
            state: cinder_actors::wire::AppState::Running,
            started_ms: 1,
            ended_ms: None,
            jobs_running: 1,
            blocks: 0,
            memory_bytes: 0,
        }],
        limits: None,
    }
}

fn screen(app: &App, width: u16, height: u16, now: Instant) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, app, now)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        for x in 0..width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{screen}"))
}

#[test]
fn workers_jobs_stages_and_events_are_shown() {
    let now = Instant::now();
    let mut app = App::new("127.0.0.1:7077");
    app.on_status(status(), now);
    let s = screen(&app, 160, 50, now);
    assert!(line_with(&s, "worker-1").contains("lost"), "{s}");
    assert!(line_with(&s, "worker-2").contains("alive"), "{s}");
    let w3 = line_with(&s, "worker-3");
    assert!(w3.contains("restarted") && w3.contains("50%"), "{w3}");
    assert!(
        w3.contains("256.0 MiB / 512.0 MiB") && w3.contains("3.0 MiB"),
        "{w3}"
    );
    let running = line_with(&s, "│2    ");
    assert!(
        running.contains("12/24") && running.contains("count") && running.contains("running"),
        "{running}"
    );
    assert!(line_with(&s, "finished").contains("24/24"), "{s}");
    assert!(line_with(&s, "└ stage 0 result").contains("12/24"), "{s}");
    let event = line_with(&s, "worker_lost");
    assert!(
        event.contains("2.0s ago") && event.contains("no heartbeat"),
        "{event}"
    );
    assert!(s.contains("workers 2 alive, 1 lost"), "{s}");
    assert!(!s.contains("MASTER UNREACHABLE"));
}

#[test]
fn an_unreachable_master_shows_a_banner_over_the_last_state() {
    let t0 = Instant::now();
    let mut app = App::new("127.0.0.1:7077");
    app.on_status(status(), t0);
    app.on_failure(
        "master 127.0.0.1:7077 unreachable: timed out".into(),
        t0 + Duration::from_secs(2),
    );
    let s = screen(&app, 160, 50, t0 + Duration::from_secs(4));
    let banner = line_with(&s, "MASTER UNREACHABLE");
    assert!(
        banner.contains("no answer for 4.0s") && banner.contains("timed out"),
        "{banner}"
    );
    assert!(s.contains("worker-2"), "the last state stays on screen");
}

#[test]
fn before_the_first_answer_it_says_it_is_connecting() {
    let now = Instant::now();
    let app = App::new("10.0.0.1:7077");
    let s = screen(&app, 100, 30, now);
    assert!(s.contains("connecting to master 10.0.0.1:7077"), "{s}");
}

#[test]
fn a_terminal_too_small_says_so() {
    let now = Instant::now();
    let mut app = App::new("m");
    app.on_status(status(), now);
    let s = screen(&app, 60, 15, now);
    assert!(s.contains("terminal too small: 60x15"), "{s}");
    assert!(!s.contains("worker-1"));
    let s = screen(&app, MIN_WIDTH, MIN_HEIGHT, now);
    assert!(s.contains("worker-1"), "{s}");
}

#[test]
fn help_and_focus_are_visible() {
    let now = Instant::now();
    let mut app = App::new("m");
    app.on_status(status(), now);
    assert!(line_with(&screen(&app, 120, 40, now), "▶").contains("Workers"));
    app.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    let s = screen(&app, 120, 40, now);
    assert!(line_with(&s, "▶").contains("Jobs"), "{s}");
    assert!(
        s.contains("s sort (jobs: running, then most recent)"),
        "{s}"
    );
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let s = screen(&app, 120, 40, now);
    assert!(
        s.contains("Help") && s.contains("quit (the terminal is restored)"),
        "{s}"
    );
}

#[test]
fn bars_fill_in_proportion() {
    assert_eq!(bar(0.0, 4), "░░░░");
    assert_eq!(bar(0.5, 4), "██░░");
    assert_eq!(bar(1.0, 4), "████");
    assert_eq!(bar(7.0, 4), "████", "clamped");
    assert_eq!(bar(f64::NAN, 4), "░░░░");
}
