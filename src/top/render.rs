//! Drawing `cinder top`: a header, a banner when the master is unreachable, the workers, jobs
//! and events panes, a footer of keys, and the help overlay. Pure functions of [`App`] and the
//! time, drawn into any ratatui backend (tests use `TestBackend`).

use std::time::Instant;

use cinder_actors::master::history::{human_bytes, human_ms};
use cinder_actors::wire::{ClusterEvent, JobState, JobStatus, StageStatus, WorkerState};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::app::{memory_fraction, progress, worker_state_label, App, EventOrder, Pane};

/// Smallest terminal `cinder top` draws into.
pub const MIN_WIDTH: u16 = 80;
/// Smallest terminal height `cinder top` draws into.
pub const MIN_HEIGHT: u16 = 20;

/// Draws the whole screen at time `now`.
pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small: {}x{}; cinder top needs at least {MIN_WIDTH}x{MIN_HEIGHT} (q quits)",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let banner = banner(app, now);
    let workers = app.status.as_ref().map_or(0, |s| s.workers.len()) as u16;
    let body = area.height - 2 - u16::from(banner.is_some());
    let workers_height = (workers + 3).clamp(5, (body * 2 / 5).max(5));
    let [header, banner_area, workers_area, jobs_area, events_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(banner.is_some())),
        Constraint::Length(workers_height),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header_line(app)), header);
    if let Some(banner) = banner {
        frame.render_widget(Paragraph::new(banner), banner_area);
    }
    draw_workers(frame, app, workers_area);
    draw_jobs(frame, app, jobs_area);
    draw_events(frame, app, events_area);
    let keys = format!(
        " Tab pane · ↑↓ PgUp PgDn Home End scroll · s sort ({}) · ? help · q quit",
        app.sort_label()
    );
    frame.render_widget(
        Paragraph::new(keys).style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    if app.help {
        draw_help(frame, area);
    }
}

fn header_line(app: &App) -> Line<'static> {
    use cinder_actors::wire::AppState;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let Some(s) = &app.status else {
        return Line::from(vec![
            Span::styled(" cinder top ", bold),
            Span::raw(format!(" connecting to master {} ...", app.master)),
        ]);
    };
    let alive = s
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .count();
    let tasks: u64 = s.workers.iter().map(|w| w.tasks_running).sum();
    let running = s
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .count();
    Line::from(vec![
        Span::styled(" cinder top ", bold),
        Span::raw(format!(
            " master {}  up {}  workers {} alive, {} lost  tasks {} running  jobs {} running  recomputed partitions {}  apps {} running",
            s.master,
            human_ms(s.uptime_ms),
            alive,
            s.workers.len() - alive,
            tasks,
            running,
            s.recomputed_partitions,
            s.applications
                .iter()
                .filter(|a| a.state == AppState::Running)
                .count()
        )),
    ])
}

fn banner(app: &App, now: Instant) -> Option<Line<'static>> {
    let (error, _) = app.failure.as_ref()?;
    let down = app.unreachable_for(now).unwrap_or_default();
    let shown = match app.status_at {
        Some(at) => format!(
            "showing the state of {} ago",
            human_ms(now.saturating_duration_since(at).as_millis() as u64)
        ),
        None => "no state received yet".to_string(),
    };
    let text = format!(
        " MASTER UNREACHABLE: no answer for {}, retrying every second; {shown}. {error}",
        human_ms(down.as_millis() as u64)
    );
    let style = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    Some(Line::styled(text, style))
}

fn pane_block(app: &App, pane: Pane, title: String) -> Block<'static> {
    let focused = app.focus == pane;
    let style = if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let marker = if focused { "▶ " } else { "" };
    Block::bordered()
        .border_style(style)
        .title(Span::styled(format!(" {marker}{title} "), style))
}

/// A text bar of `width` cells filled to `fraction`.
pub fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn header_row(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD))
}

fn draw_workers(frame: &mut Frame, app: &App, area: Rect) {
    let workers = app.workers();
    let rows = workers.iter().skip(app.scroll_of(Pane::Workers)).map(|w| {
        let state = worker_state_label(w);
        let state_style = match w.state {
            WorkerState::Lost => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            WorkerState::Alive if w.incarnation > 1 => Style::new().fg(Color::Yellow),
            WorkerState::Alive => Style::new().fg(Color::Green),
        };
        let fraction = memory_fraction(w);
        Row::new(vec![
            Cell::from(w.id.clone()),
            Cell::from(w.address.clone()),
            Cell::from(Span::styled(state, state_style)),
            Cell::from(w.cores.to_string()),
            Cell::from(w.tasks_running.to_string()),
            Cell::from(format!("{} {:>3.0}%", bar(fraction, 12), fraction * 100.0)),
            Cell::from(format!(
                "{} / {}",
                human_bytes(w.memory_used_bytes),
                human_bytes(w.memory_budget_bytes)
            )),
            Cell::from(human_bytes(w.spilled_bytes)),
            Cell::from(w.blocks.to_string()),
            Cell::from(format!("{} ago", human_ms(w.last_heartbeat_ms))),
            Cell::from(format!("{} #{}", w.pid, w.incarnation)),
        ])
    });
    let id_width = workers
        .iter()
        .map(|w| w.id.chars().count())
        .max()
        .unwrap_or(0);
    let widths = [
        Constraint::Length(id_width.clamp(8, 32) as u16),
        Constraint::Length(21),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(17),
        Constraint::Length(21),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    let header = header_row(&[
        "ID",
        "ADDRESS",
        "STATE",
        "CORES",
        "TASKS",
        "MEMORY",
        "USED / BUDGET",
        "SPILLED",
        "BLOCKS",
        "HEARTBEAT",
        "PID #INC",
    ]);
    let title = format!("Workers ({})", workers.len());
    let table = Table::new(rows, widths)
        .header(header)
        .flex(Flex::Start)
        .block(pane_block(app, Pane::Workers, title));
    frame.render_widget(table, area);
}

fn job_row(job: &JobStatus) -> Row<'static> {
    let (state, style) = match job.state {
        JobState::Running => ("running", Style::new().fg(Color::Cyan)),
        JobState::Finished => ("finished", Style::new().fg(Color::Green)),
        JobState::Failed => (
            "FAILED",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        JobState::Unknown => ("?", Style::new()),
    };
    let fraction = progress(job);
    let stage = match job.stages.iter().position(|s| s.tasks_done < s.tasks_total) {
        Some(i) if job.state == JobState::Running => format!("{}/{}", i + 1, job.stages.len()),
        _ => format!("{} stages", job.stages.len()),
    };
    Row::new(vec![
        Cell::from(job.id.to_string()),
        Cell::from(job.name.clone()),
        Cell::from(Span::styled(state, style)),
        Cell::from(format!(
            "{} {}/{} {:>3.0}%",
            bar(fraction, 20),
            job.tasks_done,
            job.tasks_total,
            fraction * 100.0
        )),
        Cell::from(job.tasks_running.to_string()),
        Cell::from(stage),
        Cell::from(human_ms(job.elapsed_ms)),
        Cell::from(job.retries.to_string()),
        Cell::from(job.recomputed_partitions.to_string()),
    ])
}

fn stage_row(stage: &StageStatus) -> Row<'static> {
    let fraction = if stage.tasks_total == 0 {
        1.0
    } else {
        stage.tasks_done as f64 / stage.tasks_total as f64
    };
    let kind = format!("{:?}", stage.kind).to_lowercase();
    let state = format!("{:?}", stage.state).to_lowercase();
    Row::new(vec![
        Cell::from(""),
        Cell::from(format!("└ stage {} {kind}", stage.index)),
        Cell::from(state),
        Cell::from(format!(
            "{} {}/{}",
            bar(fraction, 20),
            stage.tasks_done,
            stage.tasks_total
        )),
        Cell::from(stage.tasks_running.to_string()),
        Cell::from(""),
        Cell::from(""),
        Cell::from(stage.retries.to_string()),
        Cell::from(""),
    ])
    .style(Style::new().fg(Color::DarkGray))
}

fn draw_jobs(frame: &mut Frame, app: &App, area: Rect) {
    let jobs = app.jobs();
    let mut rows = Vec::new();
    for job in &jobs {
        rows.push(job_row(job));
        if job.state == JobState::Running {
            rows.extend(job.stages.iter().map(stage_row));
        }
    }
    let failed = jobs.iter().find(|j| j.state == JobState::Failed);
    let name_width = jobs
        .iter()
        .map(|j| j.name.chars().count())
        .max()
        .unwrap_or(0);
    let widths = [
        Constraint::Length(5),
        Constraint::Length(name_width.clamp(18, 40) as u16),
        Constraint::Length(9),
        Constraint::Length(37),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(10),
    ];
    let header = header_row(&[
        "JOB",
        "NAME",
        "STATE",
        "TASKS DONE / TOTAL",
        "RUNNING",
        "STAGE",
        "ELAPSED",
        "RETRIES",
        "RECOMPUTED",
    ]);
    let running = jobs.iter().filter(|j| j.state == JobState::Running).count();
    let mut title = format!("Jobs ({running} running, {} shown)", jobs.len());
    if let Some(f) = failed {
        title.push_str(&format!(" · last failure: job {}", f.id));
    }
    let table = Table::new(rows.into_iter().skip(app.scroll_of(Pane::Jobs)), widths)
        .header(header)
        .flex(Flex::Start)
        .block(pane_block(app, Pane::Jobs, title));
    frame.render_widget(table, area);
}

fn event_line(event: &ClusterEvent, uptime_ms: u64) -> Line<'static> {
    use cinder_actors::wire::EventKind as K;
    let color = match event.kind {
        K::WorkerLost | K::JobFailed => Color::Red,
        K::TaskRetried
        | K::PartitionRecomputed
        | K::BlocksSpilled
        | K::WorkerRejoined
        | K::MasterRecovered => Color::Yellow,
        K::WorkerJoined | K::JobFinished => Color::Green,
        K::JobSubmitted | K::ApplicationStarted | K::ApplicationEnded | K::Unknown => Color::Reset,
    };
    let kind = serde_json::to_value(event.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let age = human_ms(uptime_ms.saturating_sub(event.at_ms));
    Line::from(vec![
        Span::raw(format!("{age:>8} ago  ")),
        Span::styled(format!("{kind:<20} "), Style::new().fg(color)),
        Span::raw(event.message.clone()),
    ])
}

fn draw_events(frame: &mut Frame, app: &App, area: Rect) {
    let (events, uptime) = match &app.status {
        Some(s) => (s.events.as_slice(), s.uptime_ms),
        None => (&[][..], 0),
    };
    let ordered: Box<dyn Iterator<Item = &ClusterEvent>> = match app.event_order {
        EventOrder::NewestFirst => Box::new(events.iter()),
        EventOrder::OldestFirst => Box::new(events.iter().rev()),
    };
    let visible = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = ordered
        .skip(app.scroll_of(Pane::Events))
        .take(visible)
        .map(|e| event_line(e, uptime))
        .collect();
    let title = format!("Events ({})", events.len());
    frame.render_widget(
        Paragraph::new(lines).block(pane_block(app, Pane::Events, title)),
        area,
    );
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("q, Ctrl-C     quit (the terminal is restored)"),
        Line::from("Tab, S-Tab    next / previous pane"),
        Line::from("↑ ↓, j k      scroll the focused pane"),
        Line::from("PgUp PgDn     scroll by a page"),
        Line::from("Home End      top / bottom"),
        Line::from("s             change the focused pane's order"),
        Line::from("?, Esc        close this help"),
        Line::from(""),
        Line::from("State refreshes every second. restarted: an alive worker"),
        Line::from("that registered again (incarnation > 1)."),
    ];
    let popup = area.centered(Constraint::Length(64), Constraint::Length(12));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(" Help ")),
        popup,
    );
}

#[cfg(test)]
mod tests;
