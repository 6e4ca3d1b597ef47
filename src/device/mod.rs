//! One simulated DPS368: its settings, generator, MQTT session, offline queue and counters, as
//! one value.
//!
//! Like the session it is sans-IO: the transport tells it what happened (socket open, bytes,
//! socket closed, time passed) and then drains [`Action`]s (open, send, close) and log entries.
//! A page can run many of these side by side.
//!
//! Delivery: samples are made on a wall-clock schedule from Start, whether or not a connection
//! is up, and wait in a bounded queue. While connected, the queue drains into the session as its
//! in-flight window allows. A lost or refused connection is retried with backoff; unacknowledged
//! PUBLISHes go out again after the next CONNACK. A sample is only ever lost by being counted as
//! dropped: when the queue overflows (the oldest goes), or when Stop leaves it unsent.

mod backoff;

use std::collections::VecDeque;
use std::fmt;

pub use backoff::{BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoff_delay_ms};

use crate::sensor::{AnomalyKind, Generator, Rng, Sample, Telemetry, csv_header, csv_row};
use crate::session::{CloseReason, Event, Session, SessionConfig};
use crate::settings::Settings;

/// How long Stop waits for the queue to drain and PUBACKs to arrive.
pub const STOP_GRACE_MS: u64 = 2000;
/// How many samples the dataset export keeps: the newest, about 10 MB.
pub const HISTORY_LIMIT: usize = 100_000;

/// The two clocks the device reads: monotonic for protocol timers, wall for the sample
/// schedule and timestamps.
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
    /// Open a WebSocket to `url` with subprotocol `mqtt`, replacing any open one.
    Open { url: String },
    /// Send these bytes as one binary frame.
    Send(Vec<u8>),
    /// Close the WebSocket.
    Close,
}

/// Totals of the current run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// PUBLISHes sent (first sends; re-deliveries are counted in `redelivered`).
    pub published: u64,
    /// PUBACKs received.
    pub acked: u64,
    /// Sent and not yet acknowledged.
    pub in_flight: u64,
    /// Anomalous samples made (every sample of an event counts).
    pub anomalies: u64,
    /// Anomaly events started, by kind, in [`AnomalyKind::ALL`] order.
    pub events_by_kind: [u64; 7],
    /// Samples waiting in the offline queue.
    pub queued: u64,
    /// Samples lost to a full queue or left unsent at Stop.
    pub dropped: u64,
    /// PUBLISHes sent again, with DUP, after a reconnect.
    pub redelivered: u64,
    /// Successful reconnections after a lost or refused connection.
    pub reconnects: u64,
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Not started, or finished.
    Idle,
    /// Connection attempt `attempt` (1 is the first after Start): socket opening or CONNECT
    /// sent.
    Connecting {
        attempt: u32,
        socket_open: bool,
    },
    Connected,
    /// Waiting until `until` (monotonic) to make attempt `attempt`, after `reason`.
    Waiting {
        attempt: u32,
        until: u64,
        reason: String,
        refused: bool,
    },
    /// Stop pressed: no new samples; draining until `deadline`.
    Stopping {
        deadline: u64,
    },
}

/// A sample ready to publish.
#[derive(Debug, Clone)]
struct Queued {
    sequence: u64,
    payload: String,
}

/// What became of a sample, for the dataset export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Waiting in the offline queue.
    Queued,
    /// Sent to the broker.
    Published,
    /// Lost to a full queue, or unsent at Stop.
    Dropped,
    /// Never reported: a dropout anomaly.
    Dropout,
}

impl Fate {
    pub fn name(self) -> &'static str {
        match self {
            Fate::Queued => "queued",
            Fate::Published => "published",
            Fate::Dropped => "dropped",
            Fate::Dropout => "dropout",
        }
    }
}

#[derive(Debug)]
pub struct Device {
    settings: Settings,
    generator: Generator,
    jitter: Rng,
    session: Session,
    phase: Phase,
    /// Wall-clock time of sample 1; sample k is due `k - 1` intervals later.
    schedule_start: i64,
    queue: VecDeque<Queued>,
    /// Samples dropped since the queue last had room, to log a burst once.
    burst_dropped: u64,
    counters: Counters,
    /// The last connection failure, shown in the status while retrying.
    last_error: Option<String>,
    actions: VecDeque<Action>,
    log: VecDeque<LogEntry>,
    last_payload: Option<String>,
    /// Every sample of the run, newest last, at most [`HISTORY_LIMIT`].
    history: VecDeque<(Sample, Fate)>,
}

impl Device {
    /// A stopped device. The sensor's seed is in `settings`; `seed` drives the retry jitter
    /// only, and should differ between pages, even ones that share a link (and so a sensor seed).
    pub fn new(settings: Settings, seed: u64) -> Self {
        Self {
            generator: Generator::new(settings.sensor.clone()),
            jitter: Rng::new(seed ^ 0x6a09_e667_f3bc_c908),
            session: Session::new(session_config(&settings)),
            settings,
            phase: Phase::Idle,
            schedule_start: 0,
            queue: VecDeque::new(),
            burst_dropped: 0,
            counters: Counters::default(),
            last_error: None,
            actions: VecDeque::new(),
            log: VecDeque::new(),
            last_payload: None,
            history: VecDeque::new(),
        }
    }

    /// Starts a run: counters and sequence start again; the first sample is due now.
    pub fn start(&mut self, now: Time) {
        if self.is_active() {
            return;
        }
        self.generator = Generator::new(self.settings.sensor.clone());
        self.history.clear();
        self.session = Session::new(session_config(&self.settings));
        self.counters = Counters::default();
        self.queue.clear();
        self.burst_dropped = 0;
        self.last_payload = None;
        self.last_error = None;
        self.schedule_start = now.wall_ms;
        self.info(
            now,
            format!(
                "starting: {} as {} (clean session: {})",
                self.settings.broker_url, self.settings.client_id, self.settings.clean_session
            ),
        );
        self.open(now, 1);
        self.on_timer(now);
    }

    /// The WebSocket is open: send CONNECT.
    pub fn on_open(&mut self, now: Time) {
        if let Phase::Connecting {
            attempt,
            socket_open: false,
        } = self.phase
        {
            self.phase = Phase::Connecting {
                attempt,
                socket_open: true,
            };
            self.session.connect(now.mono_ms);
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
        self.session.abort(CloseReason::TextFrame);
        self.pump(now);
    }

    /// The WebSocket closed or failed.
    pub fn on_closed(&mut self, now: Time) {
        match self.phase {
            Phase::Connecting {
                socket_open: false, ..
            } => {
                let reason = format!("cannot connect to {}", self.settings.broker_url);
                self.connection_ended(now, reason, false);
            }
            Phase::Connecting { .. } | Phase::Connected | Phase::Stopping { .. } => {
                self.session.transport_closed();
                self.pump(now);
            }
            Phase::Idle | Phase::Waiting { .. } => {}
        }
    }

    /// Runs whatever is due: session timers, samples, a retry, the end of a stop.
    pub fn on_timer(&mut self, now: Time) {
        self.session.handle_timeout(now.mono_ms);
        self.pump(now);
        if matches!(
            self.phase,
            Phase::Connecting { .. } | Phase::Connected | Phase::Waiting { .. }
        ) {
            // Samples are due on the wall clock from Start. A page that was asleep or throttled
            // makes every sample that came due, each with its own timestamp, when it runs again.
            loop {
                let due = self.next_due_wall();
                if due > now.wall_ms {
                    break;
                }
                let stamp = self
                    .settings
                    .start_ms
                    .map_or(due, |start| start + due - self.schedule_start);
                self.make_sample(now, stamp);
            }
            self.flush(now);
        }
        if let Phase::Waiting { attempt, until, .. } = self.phase
            && now.mono_ms >= until
        {
            self.open(now, attempt);
        }
        self.finish_stop_if_done(now);
    }

    /// Stops making samples, waits up to [`STOP_GRACE_MS`] for the queue to drain and for
    /// PUBACKs, then disconnects. Without a connection it ends at once.
    pub fn stop(&mut self, now: Time) {
        match self.phase {
            Phase::Connected => {
                let waiting = self.session.in_flight() + self.queue.len();
                self.phase = Phase::Stopping {
                    deadline: now.mono_ms + STOP_GRACE_MS,
                };
                if waiting > 0 {
                    self.info(now, format!("stopping: waiting for {waiting} PUBACK(s)"));
                }
                self.finish_stop_if_done(now);
            }
            Phase::Connecting { .. } | Phase::Waiting { .. } => {
                // A pending retry is cancelled; nothing can be delivered any more.
                self.session.disconnect(now.mono_ms);
                self.pump(now);
                self.last_error = None;
                self.end(now);
            }
            Phase::Idle | Phase::Stopping { .. } => {}
        }
    }

    /// Ends at once (the page is going away): DISCONNECT when connected, then close.
    pub fn shutdown(&mut self, now: Time) {
        self.stop(now);
        if let Phase::Stopping { .. } = self.phase {
            self.phase = Phase::Stopping {
                deadline: now.mono_ms,
            };
            self.finish_stop_if_done(now);
        }
    }

    /// The next time [`Device::on_timer`] has work, on the monotonic clock.
    pub fn poll_timeout(&self, now: Time) -> Option<u64> {
        let own = match &self.phase {
            Phase::Idle => None,
            Phase::Stopping { deadline } => Some(*deadline),
            phase => {
                let until_due = (self.next_due_wall() - now.wall_ms).max(0) as u64;
                let sample = now.mono_ms + until_due;
                match phase {
                    Phase::Waiting { until, .. } => Some(sample.min(*until)),
                    _ => Some(sample),
                }
            }
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

    /// The status the page shows: `disconnected`, `connecting`, `connected`,
    /// `reconnecting: …` or `error: …`.
    pub fn status(&self, now: Time) -> String {
        match &self.phase {
            Phase::Idle => match &self.last_error {
                Some(reason) => format!("error: {reason}"),
                None => "disconnected".into(),
            },
            Phase::Connecting { attempt: 1, .. } => "connecting".into(),
            Phase::Connecting { attempt, .. } => format!("reconnecting: attempt {attempt}"),
            Phase::Connected | Phase::Stopping { .. } => "connected".into(),
            Phase::Waiting {
                attempt,
                until,
                reason,
                refused,
            } => {
                let seconds = until.saturating_sub(now.mono_ms).div_ceil(1000);
                let retry = format!("attempt {attempt} in {seconds} s");
                if *refused {
                    format!("error: {reason}; retrying: {retry}")
                } else {
                    format!("reconnecting: {retry} ({reason})")
                }
            }
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            in_flight: self.session.in_flight() as u64,
            queued: self.queue.len() as u64,
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

    /// Started and not yet stopped.
    pub fn is_active(&self) -> bool {
        self.phase != Phase::Idle
    }

    fn next_due_wall(&self) -> i64 {
        self.schedule_start + (self.generator.sequence() * self.settings.interval_ms) as i64
    }

    fn open(&mut self, now: Time, attempt: u32) {
        self.phase = Phase::Connecting {
            attempt,
            socket_open: false,
        };
        let url = self.settings.broker_url.clone();
        if attempt > 1 {
            self.info(now, format!("reconnecting to {url} (attempt {attempt})"));
        }
        self.actions.push_back(Action::Open { url });
    }

    /// Makes the next sample, stamped `stamp`, and queues it, dropping the oldest when full.
    fn make_sample(&mut self, now: Time, stamp: i64) {
        let sample = self.generator.next_sample(stamp);
        if let Some(label) = sample.label {
            self.counters.anomalies += 1;
            if !self
                .history
                .back()
                .is_some_and(|(s, _)| s.label == Some(label))
            {
                self.counters.events_by_kind[label.kind.index()] += 1;
                self.info(
                    now,
                    format!(
                        "anomaly {} #{} at sequence {}",
                        label.kind, label.id, sample.sequence
                    ),
                );
            }
        }
        if !sample.is_reported() {
            self.remember(sample, Fate::Dropout);
            return;
        }
        if self.queue.len() >= self.settings.offline_queue {
            if let Some(oldest) = self.queue.pop_front() {
                self.set_fate(oldest.sequence, Fate::Dropped);
            }
            self.counters.dropped += 1;
            if self.burst_dropped == 0 {
                self.warn(
                    now,
                    format!(
                        "offline queue full ({} samples): dropping the oldest",
                        self.settings.offline_queue
                    ),
                );
            }
            self.burst_dropped += 1;
        }
        let payload = Telemetry::new(
            &self.settings.device_id,
            self.settings.sensor.profile,
            &sample,
        )
        .to_json();
        self.queue.push_back(Queued {
            sequence: sample.sequence,
            payload,
        });
        self.remember(sample, Fate::Queued);
    }

    fn remember(&mut self, sample: Sample, fate: Fate) {
        if self.history.len() == HISTORY_LIMIT {
            self.history.pop_front();
        }
        self.history.push_back((sample, fate));
    }

    fn set_fate(&mut self, sequence: u64, fate: Fate) {
        let Some(first) = self.history.front().map(|(s, _)| s.sequence) else {
            return;
        };
        if let Some(entry) = sequence
            .checked_sub(first)
            .and_then(|i| self.history.get_mut(i as usize))
        {
            entry.1 = fate;
        }
    }

    /// Starts an anomaly of `kind` at the next sample.
    pub fn inject(&mut self, kind: AnomalyKind, now: Time) {
        if self.is_active() {
            self.generator.inject(kind);
            self.info(now, format!("injecting {kind} at the next sample"));
        }
    }

    /// The run's samples as CSV, one row per sample with its labels and fate.
    pub fn export_csv(&self) -> String {
        let mut out = String::with_capacity(64 + self.history.len() * 110);
        out.push_str(csv_header());
        out.push('\n');
        for (sample, fate) in &self.history {
            out.push_str(&csv_row(
                &self.settings.device_id,
                self.settings.sensor.profile,
                sample,
                fate.name(),
            ));
            out.push('\n');
        }
        out
    }

    /// The run's samples as JSON Lines: each payload with a `status` field for its fate.
    pub fn export_jsonl(&self) -> String {
        let mut out = String::with_capacity(self.history.len() * 230);
        for (sample, fate) in &self.history {
            let telemetry = Telemetry::new(
                &self.settings.device_id,
                self.settings.sensor.profile,
                sample,
            );
            out.push_str(&telemetry.json_with_status(Some(fate.name())));
            out.push('\n');
        }
        out
    }

    /// How many samples the exports hold.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Moves queued samples into the session while its window has room.
    fn flush(&mut self, now: Time) {
        while self.session.can_publish() {
            let Some(queued) = self.queue.pop_front() else {
                break;
            };
            let bytes = queued.payload.clone().into_bytes();
            match self
                .session
                .publish(&self.settings.topic, bytes, now.mono_ms)
            {
                Ok(_) => {
                    self.counters.published += 1;
                    self.set_fate(queued.sequence, Fate::Published);
                    self.last_payload = Some(queued.payload);
                }
                Err(_) => {
                    self.queue.push_front(queued);
                    break;
                }
            }
        }
        if self.burst_dropped > 0 && self.queue.len() < self.settings.offline_queue {
            let dropped = std::mem::take(&mut self.burst_dropped);
            self.warn(
                now,
                format!("{dropped} sample(s) dropped while the queue was full"),
            );
        }
        self.pump(now);
    }

    /// Hands the bytes the session wants sent to the transport, in order.
    fn forward_transmits(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.actions.push_back(Action::Send(bytes));
        }
    }

    /// Moves the session's bytes to the transport and reacts to its events, in order.
    fn pump(&mut self, now: Time) {
        loop {
            self.forward_transmits();
            let Some(event) = self.session.poll_event() else {
                return;
            };
            match event {
                Event::Connected {
                    session_present,
                    redelivered,
                } => self.connected(now, session_present, redelivered),
                Event::Acked(_) => {
                    self.counters.acked += 1;
                    if matches!(self.phase, Phase::Connected | Phase::Stopping { .. }) {
                        self.flush(now);
                    }
                    self.finish_stop_if_done(now);
                }
                Event::PingSent => {}
                Event::Closed(CloseReason::Disconnected) => {}
                Event::Closed(CloseReason::Refused(code)) => {
                    self.error(now, format!("CONNACK: {code} (return code {})", code as u8));
                    self.connection_ended(now, code.message().to_owned(), true);
                }
                Event::Closed(reason) => self.connection_ended(now, reason.to_string(), false),
            }
        }
    }

    fn connected(&mut self, now: Time, session_present: bool, redelivered: usize) {
        let Phase::Connecting { attempt, .. } = self.phase else {
            return;
        };
        if attempt > 1 {
            self.counters.reconnects += 1;
        }
        self.counters.redelivered += redelivered as u64;
        self.last_error = None;
        self.phase = Phase::Connected;
        self.info(
            now,
            format!("CONNACK: connection accepted (session present: {session_present})"),
        );
        if redelivered > 0 {
            self.info(
                now,
                format!("re-sent {redelivered} unacknowledged PUBLISH(es) with DUP"),
            );
        }
        self.flush(now);
    }

    /// A connection ended other than by our DISCONNECT: close the socket and retry with
    /// backoff, or finish when stopping.
    fn connection_ended(&mut self, now: Time, reason: String, refused: bool) {
        self.actions.push_back(Action::Close);
        // Attempts count from the last success, so a CONNACK resets the backoff.
        let failed_attempt = match self.phase {
            Phase::Idle | Phase::Waiting { .. } => return,
            Phase::Stopping { .. } => {
                self.error(now, format!("error: {reason}"));
                self.last_error = Some(reason);
                return self.end(now);
            }
            Phase::Connecting { attempt, .. } => attempt,
            Phase::Connected => 1,
        };
        let delay = backoff_delay_ms(failed_attempt, self.jitter.next_f64());
        self.error(
            now,
            format!("error: {reason}; retrying in {} s", Seconds(delay)),
        );
        self.last_error = Some(reason.clone());
        self.phase = Phase::Waiting {
            attempt: failed_attempt + 1,
            until: now.mono_ms + delay,
            reason,
            refused,
        };
    }

    fn finish_stop_if_done(&mut self, now: Time) {
        let Phase::Stopping { deadline } = self.phase else {
            return;
        };
        let waiting = self.session.in_flight() + self.queue.len();
        if waiting > 0 && now.mono_ms < deadline {
            return;
        }
        if self.session.in_flight() > 0 {
            self.warn(
                now,
                format!(
                    "{} PUBLISH(es) still unacknowledged at stop",
                    self.session.in_flight()
                ),
            );
        }
        self.session.disconnect(now.mono_ms);
        self.pump(now);
        self.info(now, "sent DISCONNECT".into());
        self.last_error = None;
        self.end(now);
    }

    /// Closes the socket, counts what was never sent, reports the totals and goes idle.
    fn end(&mut self, now: Time) {
        self.forward_transmits();
        self.actions.push_back(Action::Close);
        if !self.queue.is_empty() {
            let unsent = self.queue.len();
            self.counters.dropped += unsent as u64;
            for queued in std::mem::take(&mut self.queue) {
                self.set_fate(queued.sequence, Fate::Dropped);
            }
            self.warn(
                now,
                format!("{unsent} queued sample(s) never sent: counted as dropped"),
            );
        }
        self.phase = Phase::Idle;
        let c = self.counters();
        self.info(
            now,
            format!(
                "stopped: published {}, acknowledged {}, anomalies injected {}, dropped {}, reconnects {}",
                c.published, c.acked, c.anomalies, c.dropped, c.reconnects
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

/// Milliseconds shown as seconds with one decimal, without float formatting.
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 1000, self.0 % 1000 / 100)
    }
}

fn session_config(settings: &Settings) -> SessionConfig {
    SessionConfig {
        keep_alive_s: settings.keep_alive_s,
        username: settings.username.clone(),
        password: settings.password.clone(),
        clean_session: settings.clean_session,
        max_in_flight: settings.max_in_flight,
        ..SessionConfig::new(settings.client_id.clone())
    }
}

#[cfg(test)]
mod tests;
