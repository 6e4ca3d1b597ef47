//! One simulated DPS368: its settings, generator, MQTT session, offline queue and counters, as
//! one value.
//!
//! Like the session it is sans-IO: the transport tells it what happened (socket open, bytes,
//! socket closed, time passed) and then drains [`Action`]s (open, send, close) and log entries.
//! A page can run many of these side by side.
//!
//! Delivery: samples are made on a schedule from Start, whether or not a connection is up, and
//! wait in a bounded queue. While connected, the queue drains into the session as its in-flight
//! window allows. A lost or refused connection is retried with backoff; unacknowledged PUBLISHes
//! go out again after the next CONNACK. A sample is only ever lost by being counted as dropped:
//! when the queue overflows (the oldest goes), when a catch-up brings more than the queue holds,
//! or when Stop leaves it unsent or unacknowledged. After Stop, `acked + dropped == samples`.
//!
//! Every entry point does its work and then drains the session in a loop ([`Device::pump`]);
//! nothing calls back into the session from inside an event, so a frame of many PUBACKs costs
//! no stack.

mod backoff;
mod schedule;

use std::collections::VecDeque;
use std::fmt;

pub use backoff::{BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoff_delay_ms};
use schedule::Schedule;

use crate::sensor::{AnomalyKind, Generator, Rng, Sample, Telemetry, csv_header, csv_row};
use crate::session::{CloseReason, Event, Session, SessionConfig};
use crate::settings::Settings;

/// How long Stop waits for the queue to drain and PUBACKs to arrive.
pub const STOP_GRACE_MS: u64 = 2000;
/// How many samples the dataset export keeps: the newest, about 10 MB.
pub const HISTORY_LIMIT: usize = 100_000;
/// How long the WebSocket may take to open, like the session's wait for CONNACK.
pub const OPEN_TIMEOUT_MS: u64 = 10_000;
/// A connection must stay up this long before the backoff starts again from 1 s, so a broker
/// that accepts and at once drops the client is retried with growing delays.
pub const STABLE_CONNECTION_MS: u64 = 10_000;
/// At most this many overdue samples are made per call, so a long catch-up never freezes the
/// page: the rest follow on the next timer, at once.
pub const CATCH_UP_CHUNK: u64 = 20_000;

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
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a WebSocket to `url` with subprotocol `mqtt`, replacing any open one.
    Open { url: String },
    /// Send these bytes as one binary frame.
    Send(Vec<u8>),
    /// Close the WebSocket.
    Close,
}

impl fmt::Debug for Action {
    /// Sends show their size only: a CONNECT carries the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Open { url } => write!(f, "Open({url})"),
            Action::Send(bytes) => write!(f, "Send({} bytes)", bytes.len()),
            Action::Close => f.write_str("Close"),
        }
    }
}

/// Totals of the current run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Samples made to be reported (dropouts, which are never sent, are counted apart). After
    /// Stop, `acked + dropped == samples`.
    pub samples: u64,
    /// Samples swallowed by a dropout anomaly: made and labelled, never sent.
    pub dropouts: u64,
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
    /// Samples lost to a full queue or a catch-up longer than the queue, or left unsent or
    /// unacknowledged at Stop.
    pub dropped: u64,
    /// PUBLISHes sent again, with DUP, after a reconnect.
    pub redelivered: u64,
    /// Connections made again after an earlier one of the run was accepted.
    pub reconnects: u64,
}

impl Counters {
    /// The share of the run's samples (dropouts included) inside anomaly events, in tenths of
    /// a percent.
    pub fn anomalous_permille(&self) -> u64 {
        let made = self.samples + self.dropouts;
        (self.anomalies * 1000).checked_div(made).unwrap_or(0)
    }
}

/// Where the device is, for the page to show in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not running; `Some` with the reason when the run ended on an error.
    Stopped(Option<String>),
    /// The first connection of a run is being made.
    Connecting,
    /// Attempt `attempt` (2 or more) is under way.
    Reconnecting {
        attempt: u32,
    },
    Connected,
    /// Stop was pressed: waiting for what is in flight.
    Stopping,
    /// Waiting `in_s` seconds (rounded up) before attempt `attempt`, after `reason`; `refused`
    /// when the broker refused the connection.
    Retrying {
        attempt: u32,
        in_s: u64,
        reason: String,
        refused: bool,
    },
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Stopped(None) => f.write_str("disconnected"),
            Status::Stopped(Some(reason)) => write!(f, "error: {reason}"),
            Status::Connecting => f.write_str("connecting"),
            Status::Reconnecting { attempt } => write!(f, "reconnecting: attempt {attempt}"),
            Status::Connected => f.write_str("connected"),
            Status::Stopping => f.write_str("stopping"),
            Status::Retrying {
                attempt,
                in_s,
                reason,
                refused: true,
            } => write!(
                f,
                "error: {reason}; retrying: attempt {attempt} in {in_s} s"
            ),
            Status::Retrying {
                attempt,
                in_s,
                reason,
                refused: false,
            } => write!(f, "reconnecting: attempt {attempt} in {in_s} s ({reason})"),
        }
    }
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
    /// Connection attempt `attempt` (1 is the first after Start): the socket must open by
    /// `open_deadline` (monotonic), then CONNECT goes out.
    Connecting {
        attempt: u32,
        socket_open: bool,
        open_deadline: u64,
    },
    /// Accepted by attempt `attempt` at `since` (monotonic).
    Connected { attempt: u32, since: u64 },
    /// Waiting until `until` (monotonic) to make attempt `attempt`, after `reason`.
    Waiting {
        attempt: u32,
        until: u64,
        reason: String,
        refused: bool,
    },
    /// Stop pressed: no new samples; draining until `deadline`.
    Stopping { deadline: u64 },
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
    /// Sent; no PUBACK yet.
    InFlight,
    /// The broker acknowledged it (PUBACK).
    Acknowledged,
    /// Sent, but the run ended before a PUBACK came: counted as dropped.
    Unacknowledged,
    /// Lost to a full queue or a catch-up longer than the queue, or unsent at Stop.
    Dropped,
    /// Never reported: a dropout anomaly.
    Dropout,
}

impl Fate {
    pub fn name(self) -> &'static str {
        match self {
            Fate::Queued => "queued",
            Fate::InFlight => "in_flight",
            Fate::Acknowledged => "acknowledged",
            Fate::Unacknowledged => "unacknowledged",
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
    /// When each sample is due and what time it carries.
    schedule: Schedule,
    /// A connection of this run was accepted, so the next one is a reconnection.
    ever_connected: bool,
    /// Samples up to this sequence are dropped as they are made: the catch-up brought more
    /// than the queue holds.
    catch_up_drop_to: u64,
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
            schedule: Schedule::new(Time {
                mono_ms: 0,
                wall_ms: 0,
            }),
            ever_connected: false,
            catch_up_drop_to: 0,
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
        self.ever_connected = false;
        self.catch_up_drop_to = 0;
        self.schedule = Schedule::new(now);
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
            open_deadline,
        } = self.phase
        {
            self.phase = Phase::Connecting {
                attempt,
                socket_open: true,
                open_deadline,
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
            Phase::Connecting { .. } | Phase::Connected { .. } | Phase::Stopping { .. } => {
                self.session.transport_closed();
                self.pump(now);
            }
            Phase::Idle | Phase::Waiting { .. } => {}
        }
    }

    /// Runs whatever is due: session timers, samples, an opening deadline, a retry, the end of
    /// a stop.
    pub fn on_timer(&mut self, now: Time) {
        self.session.handle_timeout(now.mono_ms);
        if matches!(
            self.phase,
            Phase::Connecting { .. } | Phase::Connected { .. } | Phase::Waiting { .. }
        ) {
            self.make_due_samples(now);
        }
        match self.phase {
            Phase::Connecting {
                socket_open: false,
                open_deadline,
                ..
            } if now.mono_ms >= open_deadline => {
                let reason = format!(
                    "cannot connect to {}: no answer in {} s",
                    self.settings.broker_url,
                    OPEN_TIMEOUT_MS / 1000
                );
                self.connection_ended(now, reason, false);
            }
            Phase::Waiting { attempt, until, .. } if now.mono_ms >= until => {
                self.open(now, attempt)
            }
            _ => {}
        }
        self.pump(now);
    }

    /// Makes every sample that came due by `now`, each stamped with its own time. After a
    /// sleeping laptop or a frozen tab that may be many: those beyond what the queue holds are
    /// made straight into `dropped` (kept for the export, never turned into JSON), and at most
    /// [`CATCH_UP_CHUNK`] are made per call.
    fn make_due_samples(&mut self, now: Time) {
        self.schedule.advance(now);
        let due = self.schedule.due_count(self.settings.interval_ms);
        let made = self.generator.sequence();
        let keep = self.settings.offline_queue as u64;
        if due > made + keep && due - keep > self.catch_up_drop_to {
            // Said once per catch-up; while its chunks are made, time moves on and the drop
            // extends silently (the counter stays exact).
            if self.catch_up_drop_to <= made {
                self.warn(
                    now,
                    format!(
                        "{} sample(s) came due while the page could not run: more than the offline queue holds ({keep}), so the oldest {} are dropped",
                        due - made,
                        due - keep - made
                    ),
                );
            }
            self.catch_up_drop_to = due - keep;
        }
        self.make_samples(now, due - made);
    }

    /// Makes the next `count` samples, at most [`CATCH_UP_CHUNK`].
    fn make_samples(&mut self, now: Time, count: u64) {
        for _ in 0..count.min(CATCH_UP_CHUNK) {
            let sequence = self.generator.sequence() + 1;
            let stamp =
                self.schedule
                    .stamp(sequence, self.settings.interval_ms, self.settings.start_ms);
            self.make_sample(now, stamp);
        }
    }

    /// Stops making samples, waits up to [`STOP_GRACE_MS`] for the queue to drain and for
    /// PUBACKs, then disconnects. Without a connection it ends at once.
    pub fn stop(&mut self, now: Time) {
        match self.phase {
            Phase::Connected { .. } => {
                let waiting = self.session.in_flight() + self.queue.len();
                self.phase = Phase::Stopping {
                    deadline: now.mono_ms + STOP_GRACE_MS,
                };
                if waiting > 0 {
                    self.info(
                        now,
                        format!("stopping: waiting for {waiting} sample(s) to be acknowledged"),
                    );
                }
            }
            Phase::Connecting { .. } | Phase::Waiting { .. } => {
                // A pending retry is cancelled; nothing can be delivered any more.
                self.session.disconnect(now.mono_ms);
                self.last_error = None;
                self.end(now);
            }
            Phase::Idle | Phase::Stopping { .. } => {}
        }
        self.pump(now);
    }

    /// Ends at once (the page is going away): DISCONNECT when connected, then close.
    pub fn shutdown(&mut self, now: Time) {
        self.stop(now);
        if let Phase::Stopping { .. } = self.phase {
            self.phase = Phase::Stopping {
                deadline: now.mono_ms,
            };
            self.pump(now);
        }
    }

    /// The next time [`Device::on_timer`] has work, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let own = match &self.phase {
            Phase::Idle => None,
            Phase::Stopping { deadline } => Some(*deadline),
            phase => {
                let next = self.generator.sequence() + 1;
                let sample = self.schedule.due_mono_ms(next, self.settings.interval_ms);
                match phase {
                    Phase::Waiting { until, .. } => Some(sample.min(*until)),
                    Phase::Connecting {
                        socket_open: false,
                        open_deadline,
                        ..
                    } => Some(sample.min(*open_deadline)),
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

    /// Where the device is, at `now` (for the retry countdown).
    pub fn status(&self, now: Time) -> Status {
        match &self.phase {
            Phase::Idle => Status::Stopped(self.last_error.clone()),
            Phase::Connecting { attempt: 1, .. } => Status::Connecting,
            Phase::Connecting { attempt, .. } => Status::Reconnecting { attempt: *attempt },
            Phase::Connected { .. } => Status::Connected,
            Phase::Stopping { .. } => Status::Stopping,
            Phase::Waiting {
                attempt,
                until,
                reason,
                refused,
            } => Status::Retrying {
                attempt: *attempt,
                in_s: until.saturating_sub(now.mono_ms).div_ceil(1000),
                reason: reason.clone(),
                refused: *refused,
            },
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

    fn open(&mut self, now: Time, attempt: u32) {
        self.phase = Phase::Connecting {
            attempt,
            socket_open: false,
            open_deadline: now.mono_ms + OPEN_TIMEOUT_MS,
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
            self.counters.dropouts += 1;
            self.remember(sample, Fate::Dropout);
            return;
        }
        self.counters.samples += 1;
        if sample.sequence <= self.catch_up_drop_to {
            self.counters.dropped += 1;
            self.remember(sample, Fate::Dropped);
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
        if self.is_active() && !matches!(self.phase, Phase::Stopping { .. }) {
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
    fn fill_window(&mut self, now: Time) {
        while self.session.can_publish() {
            let Some(queued) = self.queue.pop_front() else {
                break;
            };
            let bytes = queued.payload.clone().into_bytes();
            match self
                .session
                .publish(&self.settings.topic, bytes, queued.sequence, now.mono_ms)
            {
                Ok(_) => {
                    self.counters.published += 1;
                    self.set_fate(queued.sequence, Fate::InFlight);
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
    }

    /// Hands the bytes the session wants sent to the transport, in order.
    fn forward_transmits(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.actions.push_back(Action::Send(bytes));
        }
    }

    /// Drives the session until it has nothing more to say: its events are handled in order,
    /// queued samples fill the window, and a stop ends once nothing waits. A loop, never a
    /// recursion: handling an event never calls back into the session's input.
    fn pump(&mut self, now: Time) {
        loop {
            self.forward_transmits();
            let mut handled = 0;
            while let Some(event) = self.session.poll_event() {
                handled += 1;
                self.handle_event(event, now);
            }
            if matches!(self.phase, Phase::Connected { .. } | Phase::Stopping { .. }) {
                self.fill_window(now);
            }
            self.finish_stop_if_done(now);
            self.forward_transmits();
            if handled == 0 {
                return;
            }
        }
    }

    fn handle_event(&mut self, event: Event, now: Time) {
        match event {
            Event::Connected {
                session_present,
                redelivered,
            } => self.connected(now, session_present, redelivered),
            Event::Acked { tag, .. } => {
                self.counters.acked += 1;
                self.set_fate(tag, Fate::Acknowledged);
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

    fn connected(&mut self, now: Time, session_present: bool, redelivered: usize) {
        let Phase::Connecting { attempt, .. } = self.phase else {
            return;
        };
        if self.ever_connected {
            self.counters.reconnects += 1;
        }
        self.ever_connected = true;
        self.counters.redelivered += redelivered as u64;
        self.last_error = None;
        self.phase = Phase::Connected {
            attempt,
            since: now.mono_ms,
        };
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
    }

    /// A connection ended other than by our DISCONNECT: close the socket and retry with
    /// backoff, or finish when stopping.
    fn connection_ended(&mut self, now: Time, reason: String, refused: bool) {
        self.actions.push_back(Action::Close);
        // Attempts count from the last connection that stayed up, so the backoff starts again
        // only after a stable connection, not after every CONNACK.
        let failed_attempt = match self.phase {
            Phase::Idle | Phase::Waiting { .. } => return,
            Phase::Stopping { .. } => {
                self.error(now, format!("error: {reason}"));
                self.last_error = Some(reason);
                return self.end(now);
            }
            Phase::Connecting { attempt, .. } => attempt,
            Phase::Connected { since, .. }
                if now.mono_ms.saturating_sub(since) >= STABLE_CONNECTION_MS =>
            {
                1
            }
            Phase::Connected { attempt, since } => {
                self.warn(
                    now,
                    format!(
                        "connection dropped right after connecting ({} s after CONNACK): backing off",
                        Seconds(now.mono_ms.saturating_sub(since))
                    ),
                );
                attempt
            }
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
        self.session.disconnect(now.mono_ms);
        self.info(now, "sent DISCONNECT".into());
        self.last_error = None;
        self.end(now);
    }

    /// Closes the socket, counts what was never sent or never acknowledged as dropped, reports
    /// the totals and goes idle.
    fn end(&mut self, now: Time) {
        self.forward_transmits();
        self.actions.push_back(Action::Close);
        let unacknowledged = self.session.abandon_in_flight();
        if !unacknowledged.is_empty() {
            self.counters.dropped += unacknowledged.len() as u64;
            for &sequence in &unacknowledged {
                self.set_fate(sequence, Fate::Unacknowledged);
            }
            self.warn(
                now,
                format!(
                    "{} sample(s) sent but never acknowledged: counted as dropped",
                    unacknowledged.len()
                ),
            );
        }
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
                "stopped: samples {}, published {}, acknowledged {}, anomalies injected {}, dropped {}, reconnects {}",
                c.samples, c.published, c.acked, c.anomalies, c.dropped, c.reconnects
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

pub(crate) fn session_config(settings: &Settings) -> SessionConfig {
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
