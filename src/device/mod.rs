//! One simulated DPS368: its settings, generator, MQTT session and counters, as one value.
//!
//! Like the session it is sans-IO: the transport tells it what happened (socket open, bytes,
//! socket closed, a timer fired) and then drains [`Action`]s (open, send, close) and log entries.
//! A page can run many of these side by side.

use std::collections::VecDeque;
use std::fmt;

use crate::sensor::{Generator, Telemetry};
use crate::session::{CloseReason, Event, Session, SessionConfig};
use crate::settings::Settings;

/// How long Stop waits for PUBACKs still in flight.
pub const STOP_GRACE_MS: u64 = 2000;

/// The two clocks the device reads: monotonic for timers, wall for timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Milliseconds on a monotonic clock (the page's `performance.now()`).
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub wall_ms: i64,
}

/// What the transport must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a WebSocket to `url` with subprotocol `mqtt`.
    Open { url: String },
    /// Send these bytes as one binary frame.
    Send(Vec<u8>),
    /// Close the WebSocket.
    Close,
}

/// The status the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Disconnected,
    Connecting,
    Connected,
    Error(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("disconnected"),
            Self::Connecting => f.write_str("connecting"),
            Self::Connected => f.write_str("connected"),
            Self::Error(reason) => write!(f, "error: {reason}"),
        }
    }
}

/// Totals of the current run, as the seed prints them on shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// PUBLISHes sent.
    pub published: u64,
    /// PUBACKs received.
    pub acked: u64,
    /// Sent and not yet acknowledged.
    pub in_flight: u64,
    /// Anomalous samples published.
    pub anomalies: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// One line of the page's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub wall_ms: i64,
    pub level: LogLevel,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started, or finished.
    Idle,
    /// Socket opening or CONNECT sent.
    Connecting { socket_open: bool },
    /// CONNACK 0 received; `started` is when, the origin of the sample schedule.
    Running { started: u64 },
    /// Stop pressed: no new samples, waiting for PUBACKs until `deadline`.
    Stopping { deadline: u64 },
}

#[derive(Debug)]
pub struct Device {
    settings: Settings,
    seed: u64,
    generator: Generator,
    session: Session,
    phase: Phase,
    status: Status,
    counters: Counters,
    actions: VecDeque<Action>,
    log: VecDeque<LogEntry>,
    last_payload: Option<String>,
}

impl Device {
    /// A stopped device. `seed` drives its generator.
    pub fn new(settings: Settings, seed: u64) -> Self {
        Self {
            generator: Generator::new(seed, settings.anomaly_every),
            session: Session::new(session_config(&settings)),
            settings,
            seed,
            phase: Phase::Idle,
            status: Status::Disconnected,
            counters: Counters::default(),
            actions: VecDeque::new(),
            log: VecDeque::new(),
            last_payload: None,
        }
    }

    /// Starts a run: counters and sequence start again from zero.
    pub fn start(&mut self, now: Time) {
        if self.is_active() {
            return;
        }
        self.generator = Generator::new(self.seed, self.settings.anomaly_every);
        self.session = Session::new(session_config(&self.settings));
        self.counters = Counters::default();
        self.last_payload = None;
        self.phase = Phase::Connecting { socket_open: false };
        self.status = Status::Connecting;
        let url = self.settings.broker_url.clone();
        self.info(
            now,
            format!("connecting to {url} as {}", self.settings.client_id),
        );
        self.actions.push_back(Action::Open { url });
    }

    /// The WebSocket is open: send CONNECT.
    pub fn on_open(&mut self, now: Time) {
        if let Phase::Connecting { socket_open: false } = self.phase {
            self.phase = Phase::Connecting { socket_open: true };
            self.session.start(now.mono_ms);
            self.info(now, "WebSocket open; sent CONNECT".into());
            self.pump(now);
        }
    }

    /// Bytes from the broker.
    pub fn on_bytes(&mut self, bytes: &[u8], now: Time) {
        self.session.handle_input(bytes, now.mono_ms);
        self.pump(now);
    }

    /// A text frame: MQTT over WebSocket is binary only [MQTT-6.0.0-1].
    pub fn on_text_frame(&mut self, now: Time) {
        if self.is_active() {
            self.fail(now, "protocol error: broker sent a text frame".into());
        }
    }

    /// The WebSocket closed or failed.
    pub fn on_closed(&mut self, now: Time) {
        match self.phase {
            Phase::Connecting { socket_open: false } => {
                let reason = format!("cannot connect to {}", self.settings.broker_url);
                self.fail(now, reason);
            }
            Phase::Idle => {}
            _ => {
                self.session.transport_closed();
                self.pump(now);
            }
        }
    }

    /// Runs whatever is due: session timers, samples, the end of a stop.
    pub fn on_timer(&mut self, now: Time) {
        self.session.handle_timeout(now.mono_ms);
        self.pump(now);
        if let Phase::Running { started } = self.phase {
            // Samples are due on a fixed schedule from CONNACK, so a late timer never makes the
            // schedule drift: every sample that came due is made now.
            while self.phase == (Phase::Running { started })
                && started + self.generator.sequence() * self.settings.interval_ms <= now.mono_ms
            {
                self.publish_next(now);
            }
        }
        self.finish_stop_if_done(now);
    }

    /// Stops publishing, waits up to [`STOP_GRACE_MS`] for PUBACKs, then disconnects.
    pub fn stop(&mut self, now: Time) {
        match self.phase {
            Phase::Running { .. } => {
                let waiting = self.session.in_flight();
                self.phase = Phase::Stopping {
                    deadline: now.mono_ms + STOP_GRACE_MS,
                };
                if waiting > 0 {
                    self.info(now, format!("stopping: waiting for {waiting} PUBACK(s)"));
                }
                self.finish_stop_if_done(now);
            }
            Phase::Connecting { .. } => {
                self.session.disconnect(now.mono_ms);
                self.pump(now);
                self.end(now, Status::Disconnected);
            }
            Phase::Idle | Phase::Stopping { .. } => {}
        }
    }

    /// The next time [`Device::on_timer`] has work, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let own = match self.phase {
            Phase::Running { started } => {
                Some(started + self.generator.sequence() * self.settings.interval_ms)
            }
            Phase::Stopping { deadline } => Some(deadline),
            _ => None,
        };
        [own, self.session.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_log(&mut self) -> Option<LogEntry> {
        self.log.pop_front()
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    pub fn counters(&self) -> Counters {
        Counters {
            in_flight: self.session.in_flight() as u64,
            ..self.counters
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The JSON of the last PUBLISH sent.
    pub fn last_payload(&self) -> Option<&str> {
        self.last_payload.as_deref()
    }

    /// Connecting, running or stopping.
    pub fn is_active(&self) -> bool {
        self.phase != Phase::Idle
    }

    fn publish_next(&mut self, now: Time) {
        let sample = self.generator.next_sample(now.wall_ms);
        let json = Telemetry::new(&self.settings.device_id, &sample).to_json();
        match self
            .session
            .publish(&self.settings.topic, json.clone().into_bytes(), now.mono_ms)
        {
            Ok(_) => {
                self.counters.published += 1;
                if sample.anomaly {
                    self.counters.anomalies += 1;
                    self.info(
                        now,
                        format!("anomaly injected at sequence {}", sample.sequence),
                    );
                }
                self.last_payload = Some(json);
            }
            Err(error) => self.fail(now, format!("sample {} not sent: {error}", sample.sequence)),
        }
        self.pump(now);
    }

    /// Moves the session's bytes to the transport and reacts to its events, in order.
    fn pump(&mut self, now: Time) {
        loop {
            while let Some(bytes) = self.session.poll_transmit() {
                self.actions.push_back(Action::Send(bytes));
            }
            let Some(event) = self.session.poll_event() else {
                return;
            };
            match event {
                Event::Connected { session_present } => {
                    if let Phase::Connecting { .. } = self.phase {
                        self.phase = Phase::Running {
                            started: now.mono_ms,
                        };
                        self.status = Status::Connected;
                        self.info(
                            now,
                            format!(
                                "CONNACK: connection accepted (session present: {session_present})"
                            ),
                        );
                    }
                }
                Event::Acked(_) => {
                    self.counters.acked += 1;
                    self.finish_stop_if_done(now);
                }
                Event::PingSent => {}
                Event::Closed(CloseReason::Disconnected) => {}
                Event::Closed(CloseReason::Refused(code)) => {
                    self.error(now, format!("CONNACK: {code} (return code {})", code as u8));
                    self.fail(now, code.message().to_owned());
                }
                Event::Closed(reason) => self.fail(now, reason.to_string()),
            }
        }
    }

    fn finish_stop_if_done(&mut self, now: Time) {
        let Phase::Stopping { deadline } = self.phase else {
            return;
        };
        let waiting = self.session.in_flight();
        if waiting > 0 && now.mono_ms < deadline {
            return;
        }
        if waiting > 0 {
            self.warn(
                now,
                format!("{waiting} PUBLISH(es) still unacknowledged after 2 s"),
            );
        }
        self.session.disconnect(now.mono_ms);
        self.pump(now);
        self.info(now, "sent DISCONNECT".into());
        self.end(now, Status::Disconnected);
    }

    fn fail(&mut self, now: Time, reason: String) {
        if !self.is_active() {
            return;
        }
        self.error(now, format!("error: {reason}"));
        self.session.transport_closed();
        while self.session.poll_event().is_some() {}
        self.end(now, Status::Error(reason));
    }

    /// Closes the socket, reports the totals and goes idle.
    fn end(&mut self, now: Time, status: Status) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.actions.push_back(Action::Send(bytes));
        }
        self.actions.push_back(Action::Close);
        self.phase = Phase::Idle;
        self.status = status;
        let c = self.counters();
        self.info(
            now,
            format!(
                "stopped: published {}, acknowledged {}, anomalies injected {}",
                c.published, c.acked, c.anomalies
            ),
        );
    }

    fn info(&mut self, now: Time, text: String) {
        self.push_log(now, LogLevel::Info, text);
    }

    fn warn(&mut self, now: Time, text: String) {
        self.push_log(now, LogLevel::Warn, text);
    }

    fn error(&mut self, now: Time, text: String) {
        self.push_log(now, LogLevel::Error, text);
    }

    fn push_log(&mut self, now: Time, level: LogLevel, text: String) {
        self.log.push_back(LogEntry {
            wall_ms: now.wall_ms,
            level,
            text,
        });
    }
}

fn session_config(settings: &Settings) -> SessionConfig {
    SessionConfig {
        keep_alive_s: settings.keep_alive_s,
        username: settings.username.clone(),
        password: settings.password.clone(),
        ..SessionConfig::new(settings.client_id.clone())
    }
}

#[cfg(test)]
mod tests;
