//! The monitor's connection: one MQTT session that subscribes to the telemetry, labels and
//! verdicts filters, hands every message to the [`Monitor`], and publishes the built-in
//! detector's verdicts. Its connection's life (opening, retries with backoff, the
//! stable-connection rule) is the simulator's own [`Link`]; the session renews the
//! subscriptions after a CONNACK without a session.
//!
//! Like the simulator's runner it owns its socket and timer, drains the session after every
//! input, and tells the page to draw on a tick (4 times a second), never per message.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::browser::random_u64;
use super::now;
use super::socket::{Socket, SocketEvent};
use super::ticker::Ticker;
use crate::device::{LogLevel, Status, Time};
use crate::link::{Action, Link, Tag};
use crate::monitor::{Monitor, MonitorSettings};
use crate::mqtt::{Granted, QoS};
use crate::session::{Event, SessionConfig};

/// How often the page draws and the session's timers are looked at.
pub const TICK_MS: u32 = 250;
/// Log lines kept.
const LOG_LINES: usize = 200;
/// Unreadable messages logged one by one; the rest are counted in the status.
const PROBLEMS_LOGGED: u64 = 20;

pub struct LogLine {
    pub wall_ms: i64,
    pub level: LogLevel,
    pub text: String,
}

struct Inner {
    monitor: Option<Monitor>,
    link: Link,
    socket: Option<Socket>,
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
            link: Link::new(String::new(), SessionConfig::new(""), 0),
            socket: None,
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
        // The running one says DISCONNECT on its own socket before the new link replaces it.
        self.stop();
        {
            let mut inner = self.inner.borrow_mut();
            let client_id = format!("dps368-mon-{:08x}", random_u64() as u32);
            let config = SessionConfig {
                clean_session: true,
                keep_alive_s: 30,
                max_in_flight: 256,
                ..SessionConfig::new(client_id.clone())
            };
            let url = settings.broker_url.as_str().to_owned();
            inner.link = Link::new(url, config, random_u64());
            inner.link.start(time);
            let monitor = Monitor::new(settings);
            let filters: Vec<(&str, QoS)> = monitor
                .filters()
                .into_iter()
                .map(|f| (f, QoS::AtLeastOnce))
                .collect();
            // Sent once connected, and again after a CONNACK without a session. Checked by the
            // settings; a refusal here would be a bug, and is logged.
            if let Err(error) = inner.link.session().subscribe(&filters, time.mono_ms) {
                inner.link.close(time);
                inner.push_log(time, LogLevel::Error, format!("cannot subscribe: {error}"));
                return;
            }
            let text = format!(
                "starting: {} as {client_id}; telemetry {}, labels {}, verdicts {}{}",
                monitor.settings().broker_url,
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
        pump(&self.inner, time);
        arm(&self.inner);
    }

    /// Unsubscribes by disconnecting; what was counted stays for the report.
    pub fn stop(&self) {
        let time = now();
        self.inner.borrow_mut().stop(time);
        pump(&self.inner, time);
    }

    /// Makes the attempt that waits out its backoff now ("Reconnect now").
    pub fn retry_now(&self) {
        let time = now();
        self.inner.borrow_mut().link.retry_now(time);
        pump(&self.inner, time);
    }

    /// Adds a line of the page's own to the log.
    pub fn note(&self, level: LogLevel, text: String) {
        self.inner.borrow_mut().push_log(now(), level, text);
    }

    /// Where the connection is, at `now`.
    pub fn status(&self, now: Time) -> Status {
        self.inner.borrow().link.status(now)
    }

    /// Runs `f` on the monitor, if one was started.
    pub fn with_monitor<T>(&self, f: impl FnOnce(&mut Monitor) -> T) -> Option<T> {
        self.inner.borrow_mut().monitor.as_mut().map(f)
    }

    /// Runs `f` on the log, oldest line first.
    pub fn with_log<T>(&self, f: impl FnOnce(&VecDeque<LogLine>) -> T) -> T {
        f(&self.inner.borrow().log)
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

    /// Says DISCONNECT when connected and closes (the link's actions, carried out by the
    /// caller's [`pump`]); a pending retry is cancelled.
    fn stop(&mut self, time: Time) {
        if !self.link.is_active() {
            return;
        }
        self.link.close(time);
        // The link's "sent DISCONNECT" first.
        while let Some(entry) = self.link.poll_log() {
            self.push_log(time, entry.level, entry.text);
        }
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

    /// Hands the link's events to the monitor, publishes waiting verdicts, and collects the
    /// link's log lines; returns what the transport must do. A loop, never a recursion.
    fn drain(&mut self, time: Time, actions: &mut Vec<Action>) {
        loop {
            let mut handled = 0;
            while let Some(event) = self.link.poll_event(time) {
                handled += 1;
                self.handle(event, time);
            }
            if let Some(monitor) = self.monitor.as_mut()
                && self.link.is_connected()
            {
                monitor.publish_outgoing(self.link.session(), time.mono_ms);
            }
            while let Some(entry) = self.link.poll_log() {
                self.push_log(time, entry.level, entry.text);
            }
            while let Some(action) = self.link.poll_action() {
                actions.push(action);
            }
            if handled == 0 {
                break;
            }
        }
    }

    fn handle(&mut self, event: Event<Tag>, time: Time) {
        match event {
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
            // Its own outage: what the devices send meanwhile is not theirs to answer for.
            Event::Closed(_) => {
                if let Some(monitor) = self.monitor.as_mut() {
                    monitor.offline();
                }
            }
            // The link acted on these (connected, or a retry scheduled) and logged them.
            Event::Connected { .. }
            | Event::Acked { .. }
            | Event::PingSent
            | Event::Unsubscribed(_) => {}
        }
    }
}

/// Drains the link and carries out its actions on the socket, until it asks for nothing more
/// (a socket that cannot be made, or a send that fails, is a closed connection to the link).
fn pump(shared: &Rc<RefCell<Inner>>, time: Time) {
    let mut actions = Vec::new();
    loop {
        let mut inner = shared.borrow_mut();
        inner.drain(time, &mut actions);
        if actions.is_empty() {
            return;
        }
        for action in actions.drain(..) {
            match action {
                Action::Open { url } => {
                    // Dropping the old socket first removes its handlers and closes it.
                    inner.socket = None;
                    let weak = Rc::downgrade(shared);
                    match Socket::open(&url, move |event| on_socket(&weak, event)) {
                        Ok(socket) => inner.socket = Some(socket),
                        Err(reason) => {
                            inner.push_log(time, LogLevel::Error, format!("WebSocket: {reason}"));
                            inner.link.on_closed(time);
                        }
                    }
                }
                Action::Send(bytes) => {
                    let sent = inner.socket.as_ref().map(|s| s.send(&bytes));
                    if !matches!(sent, Some(Ok(()))) {
                        inner.link.on_closed(time);
                    }
                }
                Action::Close => inner.socket = None,
            }
        }
    }
}

fn on_socket(weak: &Weak<RefCell<Inner>>, event: SocketEvent) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let time = now();
    {
        let link = &mut inner.borrow_mut().link;
        match event {
            SocketEvent::Open => link.on_open(time),
            SocketEvent::Binary(bytes) => link.on_bytes(&bytes, time),
            SocketEvent::Text => link.on_text_frame(),
            SocketEvent::Closed => link.on_closed(time),
        }
    }
    pump(&inner, time);
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
    inner.borrow_mut().link.on_timer(time);
    pump(&inner, time);
    let (running, on_tick) = {
        let state = inner.borrow();
        (state.link.is_active(), state.on_tick.clone())
    };
    on_tick();
    if running {
        arm(&inner);
    }
}
