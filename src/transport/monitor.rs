//! The monitor's connection: one MQTT session that subscribes to the telemetry, labels and
//! verdicts filters, hands every message to the [`Monitor`], and publishes the built-in
//! detector's verdicts. Reconnects with the simulator's backoff; the session renews the
//! subscriptions after a CONNACK without a session.
//!
//! Like the simulator's runner it owns its socket and timer, drains the session after every
//! input, and tells the page to draw on a tick (4 times a second), never per message.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::socket::{Socket, SocketEvent};
use super::ticker::Ticker;
use super::{now, random_u64};
use crate::device::{LogLevel, OPEN_TIMEOUT_MS, STABLE_CONNECTION_MS, Time, backoff_delay_ms};
use crate::link::Tag;
use crate::monitor::{Monitor, MonitorSettings};
use crate::mqtt::{Granted, QoS};
use crate::sensor::Rng;
use crate::session::{CloseReason, Event, PublishError, Session, SessionConfig};

/// How often the page draws and the session's timers are looked at.
pub const TICK_MS: u32 = 250;
/// Log lines kept.
const LOG_LINES: usize = 200;
/// Unreadable messages logged one by one; the rest are counted in the status.
const PROBLEMS_LOGGED: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Attempt `attempt`: the socket must open by `deadline`, then CONNECT goes.
    Opening {
        attempt: u32,
        deadline: u64,
    },
    Connecting {
        attempt: u32,
    },
    /// Accepted by attempt `attempt` at `since` (monotonic).
    Connected {
        attempt: u32,
        since: u64,
    },
    Waiting {
        attempt: u32,
        until: u64,
    },
}

pub struct LogLine {
    pub wall_ms: i64,
    pub level: LogLevel,
    pub text: String,
}

struct Inner {
    monitor: Option<Monitor>,
    session: Session<Tag>,
    socket: Option<Socket>,
    phase: Phase,
    jitter: Rng,
    log: VecDeque<LogLine>,
    ticker: Option<Ticker>,
    on_tick: Rc<dyn Fn()>,
}

/// The monitor page's runner; cheap to clone.
#[derive(Clone)]
pub struct MonitorRunner {
    inner: Rc<RefCell<Inner>>,
}

impl MonitorRunner {
    /// A runner that calls `on_tick` on each tick while running, and after each change of
    /// phase, for the page to draw.
    pub fn new(on_tick: impl Fn() + 'static) -> Self {
        let inner = Rc::new(RefCell::new(Inner {
            monitor: None,
            session: Session::new(SessionConfig::new("")),
            socket: None,
            phase: Phase::Idle,
            jitter: Rng::new(random_u64()),
            log: VecDeque::new(),
            ticker: None,
            on_tick: Rc::new(on_tick),
        }));
        let weak = Rc::downgrade(&inner);
        let ticker = Ticker::new(move || tick(&weak));
        inner.borrow_mut().ticker = Some(ticker);
        Self { inner }
    }

    /// Starts monitoring with `settings`: everything counted so far is cleared.
    pub fn start(&self, settings: MonitorSettings) {
        let time = now();
        {
            let mut inner = self.inner.borrow_mut();
            inner.stop(time);
            let client_id = format!("dps368-mon-{:08x}", random_u64() as u32);
            inner.session = Session::new(SessionConfig {
                clean_session: true,
                keep_alive_s: 30,
                max_in_flight: 256,
                ..SessionConfig::new(client_id.clone())
            });
            let monitor = Monitor::new(settings);
            let filters: Vec<(&str, QoS)> = monitor
                .filters()
                .into_iter()
                .map(|f| (f, QoS::AtLeastOnce))
                .collect();
            // Checked by the settings; a refusal here would be a bug, and is logged.
            if let Err(error) = inner.session.subscribe(&filters, time.mono_ms) {
                inner.push_log(time, LogLevel::Error, format!("cannot subscribe: {error}"));
                return;
            }
            let text = format!(
                "starting: {} as {client_id}; telemetry {}, labels {}, verdicts {}{}",
                crate::settings::shown_url(&monitor.settings().broker_url),
                monitor.settings().filter,
                monitor.settings().labels_filter,
                monitor.settings().verdicts,
                if monitor.settings().detector {
                    " (the built-in detector publishes there)"
                } else {
                    ""
                }
            );
            inner.push_log(time, LogLevel::Info, text);
            inner.monitor = Some(monitor);
        }
        self.open(time, 1);
        arm(&self.inner);
    }

    /// Unsubscribes by disconnecting; what was counted stays for the report.
    pub fn stop(&self) {
        self.inner.borrow_mut().stop(now());
    }

    /// Adds a line of the page's own to the log.
    pub fn note(&self, level: LogLevel, text: String) {
        self.inner.borrow_mut().push_log(now(), level, text);
    }

    pub fn phase(&self) -> Phase {
        self.inner.borrow().phase
    }

    /// Runs `f` on the monitor, if one was started.
    pub fn with_monitor<T>(&self, f: impl FnOnce(&mut Monitor) -> T) -> Option<T> {
        self.inner.borrow_mut().monitor.as_mut().map(f)
    }

    /// Runs `f` on the log, oldest line first.
    pub fn with_log<T>(&self, f: impl FnOnce(&VecDeque<LogLine>) -> T) -> T {
        f(&self.inner.borrow().log)
    }

    fn open(&self, time: Time, attempt: u32) {
        let url = match &self.inner.borrow().monitor {
            Some(monitor) => monitor.settings().broker_url.clone(),
            None => return,
        };
        let weak = Rc::downgrade(&self.inner);
        let socket = Socket::open(&url, move |event| on_socket(&weak, event));
        let mut inner = self.inner.borrow_mut();
        match socket {
            Ok(socket) => {
                inner.socket = Some(socket);
                inner.phase = Phase::Opening {
                    attempt,
                    deadline: time.mono_ms + OPEN_TIMEOUT_MS,
                };
                if attempt > 1 {
                    inner.push_log(
                        time,
                        LogLevel::Info,
                        format!("reconnecting to {url} (attempt {attempt})"),
                    );
                }
            }
            Err(error) => inner.retry(time, attempt, error),
        }
    }
}

impl Inner {
    fn push_log(&mut self, time: Time, level: LogLevel, text: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(LogLine {
            wall_ms: time.wall_ms,
            level,
            text,
        });
    }

    fn stop(&mut self, time: Time) {
        if self.phase == Phase::Idle {
            return;
        }
        if let Phase::Connected { .. } = self.phase {
            self.session.disconnect(time.mono_ms);
            self.transmit();
            self.push_log(time, LogLevel::Info, "sent DISCONNECT".into());
        }
        // Whatever the session still waited for (a CONNACK, a PINGRESP) is moot: a fresh one
        // has no timers to go off.
        self.session = Session::new(SessionConfig::new(""));
        self.socket = None;
        self.phase = Phase::Idle;
        let counts = self.monitor.as_ref().map(|m| m.counts().clone());
        if let Some(c) = counts {
            self.push_log(
                time,
                LogLevel::Info,
                format!(
                    "stopped: {} telemetry, {} label and {} verdict message(s); {} unreadable",
                    c.telemetry, c.labels, c.verdicts, c.unreadable
                ),
            );
        }
    }

    /// The connection failed: try again after the backoff for `attempt`.
    fn retry(&mut self, time: Time, attempt: u32, reason: String) {
        self.socket = None;
        let delay = backoff_delay_ms(attempt, self.jitter.next_f64());
        self.push_log(
            time,
            LogLevel::Error,
            format!(
                "error: {reason}; retrying in {}.{} s",
                delay / 1000,
                delay % 1000 / 100
            ),
        );
        self.phase = Phase::Waiting {
            attempt: attempt + 1,
            until: time.mono_ms + delay,
        };
    }

    fn transmit(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            if let Some(socket) = &self.socket {
                let _ = socket.send(&bytes);
            }
        }
    }

    /// Handles what the session produced, publishes waiting verdicts, sends what it wants
    /// sent: a loop, never a recursion.
    fn drain(&mut self, time: Time) {
        loop {
            let mut handled = 0;
            while let Some(event) = self.session.poll_event() {
                handled += 1;
                self.handle(event, time);
            }
            if let Some(monitor) = self.monitor.as_mut() {
                while self.session.can_publish() {
                    let Some((topic, payload)) = monitor.pop_outgoing() else {
                        break;
                    };
                    match self
                        .session
                        .publish(&topic, payload.clone(), Tag::Verdict, time.mono_ms)
                    {
                        Ok(_) => {}
                        // Checked settings make every verdict's topic encodable; were one not,
                        // it is dropped, counted, rather than block the others.
                        Err(PublishError::Unencodable) => monitor.drop_outgoing(),
                        Err(_) => {
                            monitor.push_back_outgoing((topic, payload));
                            break;
                        }
                    }
                }
            }
            self.transmit();
            if handled == 0 {
                break;
            }
        }
    }

    fn handle(&mut self, event: Event<Tag>, time: Time) {
        // As the simulator's device does: attempts count from the last connection that stayed
        // up, so a broker that drops the client right after CONNACK is retried with growing
        // delays, not every second.
        let attempt = match self.phase {
            Phase::Idle => return,
            Phase::Opening { attempt, .. } | Phase::Connecting { attempt } => attempt,
            Phase::Connected { since, .. }
                if time.mono_ms.saturating_sub(since) >= STABLE_CONNECTION_MS =>
            {
                1
            }
            Phase::Connected { attempt, .. } | Phase::Waiting { attempt, .. } => attempt,
        };
        match event {
            Event::Connected { .. } => {
                self.phase = Phase::Connected {
                    attempt,
                    since: time.mono_ms,
                };
                self.push_log(time, LogLevel::Info, "CONNACK: connection accepted".into());
            }
            Event::Subscribed(answers) => {
                for (filter, granted) in answers {
                    let level = if granted == Granted::Failure {
                        LogLevel::Error
                    } else {
                        LogLevel::Info
                    };
                    self.push_log(time, level, format!("{filter}: {}", granted.words()));
                }
            }
            Event::Message(publish) => {
                let Some(monitor) = self.monitor.as_mut() else {
                    return;
                };
                if let Err(problem) =
                    monitor.on_message(&publish.topic, &publish.payload, time.wall_ms)
                {
                    let count = monitor.counts().unreadable;
                    if count <= PROBLEMS_LOGGED {
                        self.push_log(time, LogLevel::Warn, format!("unreadable: {problem}"));
                    }
                    if count == PROBLEMS_LOGGED {
                        self.push_log(
                            time,
                            LogLevel::Warn,
                            "further unreadable messages are only counted".into(),
                        );
                    }
                }
            }
            Event::Skipped { topic, size } => {
                if let Some(monitor) = self.monitor.as_mut() {
                    let problem = monitor.on_oversized(&topic, size);
                    self.push_log(time, LogLevel::Warn, problem);
                }
            }
            Event::Acked { .. } | Event::PingSent | Event::Unsubscribed(_) => {}
            Event::Closed(CloseReason::Disconnected) => {}
            Event::Closed(reason) => {
                self.retry(time, attempt, reason.to_string());
            }
        }
    }
}

fn on_socket(weak: &Weak<RefCell<Inner>>, event: SocketEvent) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let time = now();
    let mut state = inner.borrow_mut();
    match (event, state.phase) {
        (SocketEvent::Open, Phase::Opening { attempt, .. }) => {
            state.phase = Phase::Connecting { attempt };
            state.session.connect(time.mono_ms);
        }
        (SocketEvent::Binary(bytes), Phase::Connecting { .. } | Phase::Connected { .. }) => {
            state.session.handle_input(&bytes, time.mono_ms);
        }
        (SocketEvent::Text, Phase::Connecting { .. } | Phase::Connected { .. }) => {
            state.session.abort(CloseReason::TextFrame);
        }
        (SocketEvent::Closed, Phase::Opening { attempt, .. }) => {
            state.retry(time, attempt, "the WebSocket did not open".into());
        }
        (SocketEvent::Closed, Phase::Connecting { .. } | Phase::Connected { .. }) => {
            state.session.transport_closed();
        }
        _ => {}
    }
    state.drain(time);
}

fn arm(inner: &Rc<RefCell<Inner>>) {
    if let Some(ticker) = inner.borrow_mut().ticker.as_mut() {
        ticker.arm(TICK_MS);
    }
}

fn tick(weak: &Weak<RefCell<Inner>>) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let time = now();
    let reopen = {
        let mut state = inner.borrow_mut();
        state.session.handle_timeout(time.mono_ms);
        let reopen = match state.phase {
            Phase::Opening { attempt, deadline } if time.mono_ms >= deadline => {
                state.retry(time, attempt, "the WebSocket did not open in 10 s".into());
                None
            }
            Phase::Waiting { attempt, until } if time.mono_ms >= until => Some(attempt),
            _ => None,
        };
        state.drain(time);
        reopen
    };
    let runner = MonitorRunner { inner };
    if let Some(attempt) = reopen {
        runner.open(time, attempt);
    }
    let (running, on_tick) = {
        let state = runner.inner.borrow();
        (state.phase != Phase::Idle, state.on_tick.clone())
    };
    on_tick();
    if running {
        arm(&runner.inner);
    }
}
