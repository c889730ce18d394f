//! The state of `cinder top` and what keys do to it. No terminal, no clock: the caller passes
//! the time, so every behaviour here is unit-tested.

use std::time::{Duration, Instant};

use cinder_actors::wire::{ClusterStatus, JobState, JobStatus, WorkerState, WorkerStatus};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Lines a PageUp/PageDown moves.
pub const PAGE: usize = 10;

/// The three panes, in `Tab` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Workers table.
    Workers,
    /// Jobs and their stages.
    Jobs,
    /// Event log.
    Events,
}

impl Pane {
    fn index(self) -> usize {
        match self {
            Pane::Workers => 0,
            Pane::Jobs => 1,
            Pane::Events => 2,
        }
    }

    fn next(self) -> Self {
        match self {
            Pane::Workers => Pane::Jobs,
            Pane::Jobs => Pane::Events,
            Pane::Events => Pane::Workers,
        }
    }

    fn previous(self) -> Self {
        self.next().next()
    }
}

/// Orders of the workers pane, in the order `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerSort {
    /// By id.
    Id,
    /// Most running tasks first.
    Tasks,
    /// Highest memory use (fraction of the budget) first.
    Memory,
    /// Lost workers first, then oldest heartbeat first.
    State,
}

/// Orders of the jobs pane, in the order `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSort {
    /// Running jobs first, then ended jobs, newest first (the master's order).
    Recent,
    /// Longest elapsed first.
    Elapsed,
    /// Least progress first.
    Progress,
}

/// Order of the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrder {
    /// Newest first.
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// What the screen shows and how the user arranged it.
#[derive(Debug)]
pub struct App {
    /// The master's address, as given on the command line.
    pub master: String,
    /// The last cluster state received.
    pub status: Option<ClusterStatus>,
    /// When [`App::status`] arrived.
    pub status_at: Option<Instant>,
    /// The last failure and when failures started (cleared by the next success).
    pub failure: Option<(String, Instant)>,
    /// The pane that arrows and `s` act on.
    pub focus: Pane,
    /// First line shown, per pane.
    pub scroll: [usize; 3],
    /// Workers order.
    pub worker_sort: WorkerSort,
    /// Jobs order.
    pub job_sort: JobSort,
    /// Events order.
    pub event_order: EventOrder,
    /// Whether the help overlay is open.
    pub help: bool,
    /// Set when the user asked to quit.
    pub quit: bool,
}

impl App {
    /// A screen for `master`, waiting for its first state.
    pub fn new(master: &str) -> Self {
        Self {
            master: master.to_string(),
            status: None,
            status_at: None,
            failure: None,
            focus: Pane::Workers,
            scroll: [0; 3],
            worker_sort: WorkerSort::Id,
            job_sort: JobSort::Recent,
            event_order: EventOrder::NewestFirst,
            help: false,
            quit: false,
        }
    }

    /// A fresh state arrived at `now`.
    pub fn on_status(&mut self, status: ClusterStatus, now: Instant) {
        self.status = Some(status);
        self.status_at = Some(now);
        self.failure = None;
        self.clamp_scroll();
    }

    /// A fetch failed at `now`. The outage counts from the last state received (or from this
    /// failure when none was).
    pub fn on_failure(&mut self, error: String, now: Instant) {
        let since = match &self.failure {
            Some((_, since)) => *since,
            None => self.status_at.unwrap_or(now),
        };
        self.failure = Some((error, since));
    }

    /// How long the master has been unreachable (without an answer), if it is.
    pub fn unreachable_for(&self, now: Instant) -> Option<Duration> {
        self.failure
            .as_ref()
            .map(|(_, since)| now.saturating_duration_since(*since))
    }

    /// Applies a key press. Releases and repeats of non-arrow keys are ignored.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') | KeyCode::Char('d') if ctrl => self.quit = true,
            KeyCode::Char('q') | KeyCode::Char('Q') => self.quit = true,
            KeyCode::Esc if self.help => self.help = false,
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.help = !self.help,
            KeyCode::Tab => self.focus = self.focus.next(),
            KeyCode::BackTab => self.focus = self.focus.previous(),
            KeyCode::Char('s') | KeyCode::Char('S') => self.cycle_sort(),
            KeyCode::Down | KeyCode::Char('j') => self.scroll_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll_by(-1),
            KeyCode::PageDown => self.scroll_by(PAGE as isize),
            KeyCode::PageUp => self.scroll_by(-(PAGE as isize)),
            KeyCode::Home => self.scroll[self.focus.index()] = 0,
            KeyCode::End => self.scroll[self.focus.index()] = usize::MAX,
            _ => {}
        }
        self.clamp_scroll();
    }

    /// The first line shown in `pane`.
    pub fn scroll_of(&self, pane: Pane) -> usize {
        self.scroll[pane.index()]
    }

    fn cycle_sort(&mut self) {
        match self.focus {
            Pane::Workers => {
                self.worker_sort = match self.worker_sort {
                    WorkerSort::Id => WorkerSort::Tasks,
                    WorkerSort::Tasks => WorkerSort::Memory,
                    WorkerSort::Memory => WorkerSort::State,
                    WorkerSort::State => WorkerSort::Id,
                }
            }
            Pane::Jobs => {
                self.job_sort = match self.job_sort {
                    JobSort::Recent => JobSort::Elapsed,
                    JobSort::Elapsed => JobSort::Progress,
                    JobSort::Progress => JobSort::Recent,
                }
            }
            Pane::Events => {
                self.event_order = match self.event_order {
                    EventOrder::NewestFirst => EventOrder::OldestFirst,
                    EventOrder::OldestFirst => EventOrder::NewestFirst,
                }
            }
        }
        self.scroll[self.focus.index()] = 0;
    }

    fn scroll_by(&mut self, delta: isize) {
        let s = &mut self.scroll[self.focus.index()];
        *s = s.saturating_add_signed(delta);
    }

    /// Rows in each pane (the scroll limit).
    fn rows(&self) -> [usize; 3] {
        self.status.as_ref().map_or([0; 3], |s| {
            let stage_rows: usize = s
                .jobs
                .iter()
                .filter(|j| j.state == JobState::Running)
                .map(|j| j.stages.len())
                .sum();
            [s.workers.len(), s.jobs.len() + stage_rows, s.events.len()]
        })
    }

    fn clamp_scroll(&mut self) {
        let rows = self.rows();
        for (s, n) in self.scroll.iter_mut().zip(rows) {
            *s = (*s).min(n.saturating_sub(1));
        }
    }

    /// The workers in the chosen order.
    pub fn workers(&self) -> Vec<&WorkerStatus> {
        let Some(status) = &self.status else {
            return Vec::new();
        };
        let mut workers: Vec<&WorkerStatus> = status.workers.iter().collect();
        match self.worker_sort {
            WorkerSort::Id => workers.sort_by(|a, b| a.id.cmp(&b.id)),
            WorkerSort::Tasks => {
                workers.sort_by(|a, b| b.tasks_running.cmp(&a.tasks_running).then(a.id.cmp(&b.id)))
            }
            WorkerSort::Memory => workers.sort_by(|a, b| {
                memory_fraction(b)
                    .total_cmp(&memory_fraction(a))
                    .then(a.id.cmp(&b.id))
            }),
            WorkerSort::State => workers.sort_by(|a, b| {
                let lost = |w: &WorkerStatus| w.state != WorkerState::Lost;
                lost(a)
                    .cmp(&lost(b))
                    .then(b.last_heartbeat_ms.cmp(&a.last_heartbeat_ms))
                    .then(a.id.cmp(&b.id))
            }),
        }
        workers
    }

    /// The jobs in the chosen order.
    pub fn jobs(&self) -> Vec<&JobStatus> {
        let Some(status) = &self.status else {
            return Vec::new();
        };
        let mut jobs: Vec<&JobStatus> = status.jobs.iter().collect();
        match self.job_sort {
            JobSort::Recent => {}
            JobSort::Elapsed => jobs.sort_by_key(|j| std::cmp::Reverse(j.elapsed_ms)),
            JobSort::Progress => {
                jobs.sort_by(|a, b| progress(a).total_cmp(&progress(b)).then(a.id.cmp(&b.id)))
            }
        }
        jobs
    }

    /// A short name of the focused pane's order, for the footer.
    pub fn sort_label(&self) -> &'static str {
        match self.focus {
            Pane::Workers => match self.worker_sort {
                WorkerSort::Id => "workers by id",
                WorkerSort::Tasks => "workers by running tasks",
                WorkerSort::Memory => "workers by memory use",
                WorkerSort::State => "lost workers first",
            },
            Pane::Jobs => match self.job_sort {
                JobSort::Recent => "jobs: running, then most recent",
                JobSort::Elapsed => "jobs by elapsed time",
                JobSort::Progress => "jobs by progress",
            },
            Pane::Events => match self.event_order {
                EventOrder::NewestFirst => "events newest first",
                EventOrder::OldestFirst => "events oldest first",
            },
        }
    }
}

/// Memory used as a fraction of the budget (0 for no budget).
pub fn memory_fraction(w: &WorkerStatus) -> f64 {
    if w.memory_budget_bytes == 0 {
        0.0
    } else {
        w.memory_used_bytes as f64 / w.memory_budget_bytes as f64
    }
}

/// Tasks done as a fraction of the total (1 for a job without tasks).
pub fn progress(j: &JobStatus) -> f64 {
    if j.tasks_total == 0 {
        1.0
    } else {
        j.tasks_done as f64 / j.tasks_total as f64
    }
}

/// What a worker's state is shown as: `restarted` for an alive worker past its first
/// incarnation.
pub fn worker_state_label(w: &WorkerStatus) -> &'static str {
    match w.state {
        WorkerState::Lost => "lost",
        WorkerState::Alive if w.incarnation > 1 => "restarted",
        WorkerState::Alive => "alive",
    }
}

#[cfg(test)]
mod tests;
