//! Keys, scrolling, orders and outage tracking of the monitor state.

use super::*;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn worker(id: &str, tasks: u64, used: u64, state: WorkerState, hb: u64) -> WorkerStatus {
    WorkerStatus {
        id: id.into(),
        address: "127.0.0.1:1".into(),
        state,
        incarnation: 1,
        cores: 1,
        memory_budget_bytes: 100,
        memory_used_bytes: used,
        spilled_bytes: 0,
        blocks: 0,
        last_heartbeat_ms: hb,
        pid: 1,
        tasks_running: tasks,
        watcher_pid: None,
    }
}

fn status(workers: Vec<WorkerStatus>, events: usize) -> ClusterStatus {
    ClusterStatus {
        master: "m".into(),
        uptime_ms: 1,
        workers,
        recomputed_partitions: 0,
        jobs: vec![],
        events: (0..events as u64)
            .map(|seq| cinder_actors::wire::ClusterEvent {
                seq,
                at_ms: seq,
                kind: cinder_actors::wire::EventKind::WorkerJoined,
                worker: None,
                job: None,
                message: format!("e{seq}"),
            })
            .collect(),
        applications: vec![],
        limits: None,
    }
}

#[test]
fn quit_on_q_and_ctrl_c_but_not_on_plain_c() {
    let mut app = App::new("m");
    app.on_key(key(KeyCode::Char('c')));
    assert!(!app.quit);
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit, "raw mode turns Ctrl-C into a key: it must quit");
    let mut app = App::new("m");
    app.on_key(key(KeyCode::Char('q')));
    assert!(app.quit);
}

#[test]
fn tab_cycles_panes_and_arrows_scroll_the_focused_one_within_bounds() {
    let mut app = App::new("m");
    app.on_status(
        status(vec![worker("a", 0, 0, WorkerState::Alive, 0)], 30),
        Instant::now(),
    );
    assert_eq!(app.focus, Pane::Workers);
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        app.scroll_of(Pane::Workers),
        0,
        "one worker: nothing to scroll"
    );
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus, Pane::Events);
    app.on_key(key(KeyCode::PageDown));
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.scroll_of(Pane::Events), PAGE + 1);
    app.on_key(key(KeyCode::End));
    assert_eq!(app.scroll_of(Pane::Events), 29);
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.scroll_of(Pane::Events), 28);
    app.on_key(key(KeyCode::Home));
    assert_eq!(app.scroll_of(Pane::Events), 0);
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.scroll_of(Pane::Events), 0);
    app.on_key(key(KeyCode::BackTab));
    assert_eq!(app.focus, Pane::Jobs);
    // Fewer events later: the scroll position stays on screen.
    app.focus = Pane::Events;
    app.on_key(key(KeyCode::End));
    app.on_status(status(vec![], 5), Instant::now());
    assert_eq!(app.scroll_of(Pane::Events), 4);
}

#[test]
fn s_cycles_the_workers_order() {
    let mut app = App::new("m");
    let workers = vec![
        worker("a", 0, 90, WorkerState::Alive, 100),
        worker("b", 3, 10, WorkerState::Alive, 200),
        worker("c", 1, 50, WorkerState::Lost, 5_000),
    ];
    app.on_status(status(workers, 0), Instant::now());
    let ids = |app: &App| {
        app.workers()
            .iter()
            .map(|w| w.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&app), ["a", "b", "c"]);
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(ids(&app), ["b", "c", "a"]);
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(ids(&app), ["a", "c", "b"]);
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(ids(&app), ["c", "b", "a"]);
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(ids(&app), ["a", "b", "c"]);
}

#[test]
fn help_toggles_and_escape_closes_it() {
    let mut app = App::new("m");
    app.on_key(key(KeyCode::Char('?')));
    assert!(app.help);
    app.on_key(key(KeyCode::Esc));
    assert!(!app.help);
    app.on_key(key(KeyCode::Char('?')));
    app.on_key(key(KeyCode::Char('?')));
    assert!(!app.help);
}

#[test]
fn failures_remember_when_they_started_until_a_success() {
    let mut app = App::new("m");
    let t0 = Instant::now();
    app.on_status(status(vec![], 0), t0 - Duration::from_secs(2));
    app.on_failure("refused".into(), t0);
    app.on_failure("timeout".into(), t0 + Duration::from_secs(3));
    assert_eq!(
        app.unreachable_for(t0 + Duration::from_secs(5)),
        Some(Duration::from_secs(7)),
        "counted from the last answer"
    );
    assert_eq!(app.failure.as_ref().unwrap().0, "timeout");
    app.on_status(status(vec![], 0), t0 + Duration::from_secs(6));
    assert_eq!(app.unreachable_for(t0 + Duration::from_secs(7)), None);
}

#[test]
fn a_restarted_worker_is_labelled_so() {
    let mut w = worker("a", 0, 0, WorkerState::Alive, 0);
    assert_eq!(worker_state_label(&w), "alive");
    w.incarnation = 2;
    assert_eq!(worker_state_label(&w), "restarted");
    w.state = WorkerState::Lost;
    assert_eq!(worker_state_label(&w), "lost");
}
