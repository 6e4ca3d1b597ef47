//! One connection's life, shared by everything here that holds a connection: the simulator's
//! devices, the monitor page and the native monitor.
//!
//! A [`Link`] owns the MQTT [`Session`] and what happens around it: opening the socket (only
//! once a fleet grants a slot, when gated), the opening deadline, CONNECT, CONNACK, retries
//! with backoff (which start again from the shortest only after a connection that stayed up
//! [`STABLE_CONNECTION_MS`]), draining before a DISCONNECT, and the log lines of all that. Its
//! owner decides what to publish and what the messages mean.
//!
//! Sans-IO like the session: the transport tells it what happened ([`Link::on_open`],
//! [`Link::on_bytes`], [`Link::on_closed`], [`Link::on_timer`]); the owner then drains
//! [`Link::poll_event`] (the session's events, after the link has acted on CONNACKs and
//! closes), [`Link::poll_action`] and [`Link::poll_log`].

use std::collections::VecDeque;
use std::fmt;

use crate::device::{LogEntry, LogLevel, Seconds, Status, Time};
use crate::sensor::Rng;
use crate::session::{CloseReason, Event, Session, SessionConfig};

pub mod backoff;

pub use backoff::{BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoff_delay_ms};

/// How long the socket may take to open, like the session's wait for CONNACK.
pub const OPEN_TIMEOUT_MS: u64 = 10_000;
/// A connection must stay up this long before the backoff starts again from 1 s, so a broker
/// that accepts and at once drops the client is retried with growing delays.
pub const STABLE_CONNECTION_MS: u64 = 10_000;

/// What a QoS 1 PUBLISH carries, for its owner: the session hands it back with the PUBACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Sample `seq` of the connection's source (sensor) `source`.
    Sample { source: usize, seq: u64 },
    /// Blind mode's ground truth of event `id` of source `source`.
    Label { source: usize, id: u64 },
    /// A detector's verdict (the monitor's).
    Verdict,
}

/// What the transport must do, in order.
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a socket to `url` (a WebSocket with subprotocol `mqtt`, or TCP for `mqtt://`),
    /// replacing any open one.
    Open { url: String },
    /// Send these bytes (one binary frame on a WebSocket).
    Send(Vec<u8>),
    /// Close the socket.
    Close,
}

impl fmt::Debug for Action {
    /// Sends show their size only: a CONNECT carries the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Open { url } => write!(f, "Open({})", crate::settings::shown_url(url)),
            Action::Send(bytes) => write!(f, "Send({} bytes)", bytes.len()),
            Action::Close => f.write_str("Close"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Not started, or finished.
    Idle,
    /// Connection attempt `attempt` (1 is the first after Start): the socket must open by
    /// `open_deadline` (monotonic), then CONNECT goes out. `None` while a fleet holds the
    /// opening back until a slot is free ([`Link::grant_open`]).
    Connecting {
        attempt: u32,
        socket_open: bool,
        open_deadline: Option<u64>,
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
    /// Connected, and the owner is finishing: no new work, until `deadline` at the latest.
    Draining { deadline: u64 },
}

#[derive(Debug)]
pub struct Link {
    url: String,
    /// The URL as messages repeat it: a signed URL's query carries credentials.
    shown_url: String,
    config: SessionConfig,
    session: Session<Tag>,
    phase: Phase,
    jitter: Rng,
    /// A fleet opens sockets a few at a time: opening waits for [`Link::grant_open`].
    gated: bool,
    /// A connection of this run was accepted, so the next one is a reconnection.
    ever_connected: bool,
    /// The last connection failure, shown in the status while retrying and after the end.
    last_error: Option<String>,
    reconnects: u64,
    redelivered: u64,
    actions: VecDeque<Action>,
    log: VecDeque<LogEntry>,
}

impl Link {
    /// An idle link to `url` with a session as `config` says. `seed` drives the retry jitter
    /// only, and should differ between pages, even ones that share a link.
    pub fn new(url: String, config: SessionConfig, seed: u64) -> Self {
        Self {
            shown_url: crate::settings::shown_url(&url),
            url,
            session: Session::new(config.clone()),
            config,
            phase: Phase::Idle,
            jitter: Rng::new(seed ^ 0x6a09_e667_f3bc_c908),
            gated: false,
            ever_connected: false,
            last_error: None,
            reconnects: 0,
            redelivered: 0,
            actions: VecDeque::new(),
            log: VecDeque::new(),
        }
    }

    /// Opens only when granted a slot ([`Link::grant_open`]): a fleet's sockets open a few at
    /// a time, so none waits out its opening deadline behind the others.
    pub fn set_gated(&mut self, gated: bool) {
        self.gated = gated;
    }

    /// Starts with a fresh session (the owner may subscribe on it at once): the first
    /// attempt opens now, or when a slot is granted.
    pub fn start(&mut self, now: Time) {
        if self.is_active() {
            return;
        }
        self.session = Session::new(self.config.clone());
        self.ever_connected = false;
        self.last_error = None;
        self.reconnects = 0;
        self.redelivered = 0;
        self.open(now, 1);
    }

    /// The session, to publish, subscribe and count what is in flight.
    pub fn session(&mut self) -> &mut Session<Tag> {
        &mut self.session
    }

    pub fn in_flight(&self) -> usize {
        self.session.in_flight()
    }

    /// The URL it connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket is open: send CONNECT.
    pub fn on_open(&mut self, now: Time) {
        if let Phase::Connecting {
            attempt,
            socket_open: false,
            open_deadline: Some(deadline),
        } = self.phase
        {
            self.phase = Phase::Connecting {
                attempt,
                socket_open: true,
                open_deadline: Some(deadline),
            };
            self.session.connect(now.mono_ms);
            // The page speaks WebSockets only; the native runner TCP and TLS as well.
            let socket = match self.url.split("://").next() {
                Some("mqtt") => "TCP connection",
                Some("mqtts") => "TLS connection",
                _ => "WebSocket",
            };
            self.info(now, format!("{socket} open; sent CONNECT"));
        }
    }

    /// Bytes from the broker.
    pub fn on_bytes(&mut self, bytes: &[u8], now: Time) {
        self.session.handle_input(bytes, now.mono_ms);
    }

    /// A text frame: MQTT over WebSocket is binary only [MQTT-6.0.0-1].
    pub fn on_text_frame(&mut self) {
        self.session.abort(CloseReason::TextFrame);
    }

    /// The socket closed or failed.
    pub fn on_closed(&mut self, now: Time) {
        if matches!(
            self.phase,
            Phase::Connecting {
                open_deadline: None,
                ..
            }
        ) {
            return; // no socket was asked for yet
        }
        if !self.session.is_disconnected() {
            self.session.transport_closed();
        } else if let Phase::Connecting {
            socket_open: false, ..
        } = self.phase
        {
            // The socket never opened: the session had nothing to close.
            let reason = format!("cannot connect to {}", self.shown_url);
            self.connection_ended(now, reason, false);
        }
    }

    /// Runs the session's timers, the opening deadline and a due retry.
    pub fn on_timer(&mut self, now: Time) {
        self.session.handle_timeout(now.mono_ms);
        match self.phase {
            Phase::Connecting {
                socket_open: false,
                open_deadline: Some(deadline),
                ..
            } if now.mono_ms >= deadline => {
                let reason = format!(
                    "cannot connect to {}: no answer in {} s",
                    self.shown_url,
                    OPEN_TIMEOUT_MS / 1000
                );
                self.connection_ended(now, reason, false);
            }
            Phase::Waiting { attempt, until, .. } if now.mono_ms >= until => {
                self.open(now, attempt)
            }
            _ => {}
        }
    }

    /// Makes the waiting attempt now rather than at the end of its backoff ("Reconnect now"):
    /// the person who fixed the broker need not wait up to 30 s. Nothing otherwise.
    pub fn retry_now(&mut self, now: Time) {
        if let Phase::Waiting { attempt, .. } = self.phase {
            self.info(
                now,
                format!("reconnecting now (attempt {attempt}), as asked"),
            );
            self.open(now, attempt);
        }
    }

    /// The session's next event, once the link has acted on it (a CONNACK connects, a close
    /// schedules the retry). The owner handles it after.
    pub fn poll_event(&mut self, now: Time) -> Option<Event<Tag>> {
        let event = self.session.poll_event()?;
        match &event {
            Event::Connected {
                session_present,
                redelivered,
            } => self.connected(now, *session_present, *redelivered),
            Event::Closed(CloseReason::Disconnected) => {}
            Event::Closed(CloseReason::Refused(code)) => {
                let text = format!("CONNACK: {code} (return code {})", *code as u8);
                let reason = code.message().to_owned();
                self.push_log(now, LogLevel::Error, text, Some(reason.clone()));
                self.connection_ended(now, reason, true);
            }
            Event::Closed(reason) => self.connection_ended(now, reason.to_string(), false),
            _ => {}
        }
        Some(event)
    }

    /// The next thing the transport must do: what the session wants sent comes in order with
    /// the link's own opens and closes.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.take_transmits();
        self.actions.pop_front()
    }

    pub fn poll_log(&mut self) -> Option<LogEntry> {
        self.log.pop_front()
    }

    /// When [`Link::on_timer`] next has work, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let own = match &self.phase {
            Phase::Waiting { until, .. } => Some(*until),
            Phase::Connecting {
                socket_open: false,
                open_deadline: Some(deadline),
                ..
            } => Some(*deadline),
            Phase::Draining { deadline } => Some(*deadline),
            _ => None,
        };
        [own, self.session.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Connected: finish by `deadline` at the latest ([`Link::draining_until`]); the owner
    /// calls [`Link::close`] when done. Not connected: nothing to drain.
    pub fn drain(&mut self, deadline: u64) -> bool {
        if let Phase::Connected { .. } | Phase::Draining { .. } = self.phase {
            self.phase = Phase::Draining { deadline };
            true
        } else {
            false
        }
    }

    /// The network goes away until `until` (monotonic): the socket closes without a
    /// DISCONNECT, as when a cable is pulled; what is in flight goes again, with DUP, after the
    /// next CONNACK, and the attempt is made at `until`. Nothing when idle or draining.
    pub fn go_offline(&mut self, now: Time, until: u64) {
        let (attempt, until) = match self.phase {
            Phase::Idle | Phase::Draining { .. } => return,
            // Outages that overlap: back when the last of them is over.
            Phase::Waiting {
                attempt,
                until: waiting,
                ..
            } => (attempt, until.max(waiting)),
            _ => (2, until),
        };
        let reason = "offline (the scenario's outage)".to_owned();
        self.push_log(
            now,
            LogLevel::Info,
            format!(
                "{reason}: back in {} s",
                Seconds(until.saturating_sub(now.mono_ms))
            ),
            Some(reason.clone()),
        );
        self.last_error = Some(reason.clone());
        // Waiting first: the session's close that follows (which closes the socket) is then
        // not a failure to retry.
        self.phase = Phase::Waiting {
            attempt,
            until,
            reason,
            refused: false,
        };
        if self.session.is_disconnected() {
            // A socket still opening: no session to close, so close it here.
            self.push_action(Action::Close);
        } else {
            self.session.transport_closed();
        }
    }

    /// While draining, the deadline.
    pub fn draining_until(&self) -> Option<u64> {
        match self.phase {
            Phase::Draining { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Ends it: DISCONNECT when connected, then close the socket; a pending retry is
    /// cancelled. Nothing when idle.
    pub fn close(&mut self, now: Time) {
        if self.phase == Phase::Idle {
            return;
        }
        let connected = matches!(self.phase, Phase::Connected { .. } | Phase::Draining { .. });
        self.session.disconnect(now.mono_ms);
        if connected {
            self.info(now, "sent DISCONNECT".into());
        }
        self.last_error = None;
        self.phase = Phase::Idle;
        self.push_action(Action::Close);
    }

    /// Where it is, at `now` (for the retry countdown).
    pub fn status(&self, now: Time) -> Status {
        match &self.phase {
            Phase::Idle => Status::Stopped(self.last_error.clone()),
            Phase::Connecting { attempt: 1, .. } => Status::Connecting,
            Phase::Connecting { attempt, .. } => Status::Reconnecting { attempt: *attempt },
            Phase::Connected { .. } => Status::Connected,
            Phase::Draining { .. } => Status::Stopping,
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

    /// Started and not yet closed.
    pub fn is_active(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// Accepted by the broker and not draining.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. })
    }

    /// Waiting to make the next attempt, after a failed one.
    pub fn is_waiting(&self) -> bool {
        matches!(self.phase, Phase::Waiting { .. })
    }

    /// The owner is finishing ([`Link::drain`]).
    pub fn is_draining(&self) -> bool {
        matches!(self.phase, Phase::Draining { .. })
    }

    /// Waiting for a fleet to let it open its socket.
    pub fn awaiting_slot(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting {
                open_deadline: None,
                ..
            }
        )
    }

    /// Its socket was asked for and has not opened yet.
    pub fn is_opening(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting {
                socket_open: false,
                open_deadline: Some(_),
                ..
            }
        )
    }

    /// A slot is free: open the socket now, with the opening deadline from now.
    pub fn grant_open(&mut self, now: Time) {
        if let Phase::Connecting {
            attempt,
            open_deadline: None,
            ..
        } = self.phase
        {
            self.phase = Phase::Connecting {
                attempt,
                socket_open: false,
                open_deadline: Some(now.mono_ms + OPEN_TIMEOUT_MS),
            };
            let url = self.url.clone();
            self.push_action(Action::Open { url });
        }
    }

    /// Connections made again after an earlier one of the run was accepted.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// PUBLISHes sent again, with DUP, after a reconnect.
    pub fn redelivered(&self) -> u64 {
        self.redelivered
    }

    fn open(&mut self, now: Time, attempt: u32) {
        self.phase = Phase::Connecting {
            attempt,
            socket_open: false,
            open_deadline: None,
        };
        if attempt > 1 {
            let text = format!("reconnecting to {} (attempt {attempt})", self.shown_url);
            let reason = self.last_error.clone();
            self.push_log(now, LogLevel::Info, text, reason);
        }
        if !self.gated {
            self.grant_open(now);
        }
    }

    fn connected(&mut self, now: Time, session_present: bool, redelivered: usize) {
        let Phase::Connecting { attempt, .. } = self.phase else {
            return;
        };
        if self.ever_connected {
            self.reconnects += 1;
        }
        self.ever_connected = true;
        self.redelivered += redelivered as u64;
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
    /// backoff, or end when draining.
    fn connection_ended(&mut self, now: Time, reason: String, refused: bool) {
        self.push_action(Action::Close);
        // Attempts count from the last connection that stayed up, so the backoff starts again
        // only after a stable connection, not after every CONNACK.
        let failed_attempt = match self.phase {
            Phase::Idle | Phase::Waiting { .. } => return,
            Phase::Draining { .. } => {
                self.push_log(now, LogLevel::Error, format!("error: {reason}"), None);
                self.last_error = Some(reason);
                self.phase = Phase::Idle;
                return;
            }
            Phase::Connecting { attempt, .. } => attempt,
            Phase::Connected { since, .. }
                if now.mono_ms.saturating_sub(since) >= STABLE_CONNECTION_MS =>
            {
                1
            }
            Phase::Connected { attempt, since } => {
                let text = format!(
                    "connection dropped right after connecting ({} s after CONNACK): backing off",
                    Seconds(now.mono_ms.saturating_sub(since))
                );
                self.push_log(now, LogLevel::Warn, text, Some(reason.clone()));
                attempt
            }
        };
        let delay = backoff_delay_ms(failed_attempt, self.jitter.next_f64());
        let text = format!("error: {reason}; retrying in {} s", Seconds(delay));
        self.push_log(now, LogLevel::Error, text, Some(reason.clone()));
        self.last_error = Some(reason.clone());
        self.phase = Phase::Waiting {
            attempt: failed_attempt + 1,
            until: now.mono_ms + delay,
            reason,
            refused,
        };
    }

    /// Moves what the session wants sent to the actions, so that it goes before anything the
    /// link asks for after it.
    fn take_transmits(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.actions.push_back(Action::Send(bytes));
        }
    }

    fn push_action(&mut self, action: Action) {
        self.take_transmits();
        self.actions.push_back(action);
    }

    fn info(&mut self, now: Time, text: String) {
        self.push_log(now, LogLevel::Info, text, None);
    }

    fn push_log(&mut self, now: Time, level: LogLevel, text: String, outage: Option<String>) {
        self.log.push_back(LogEntry {
            wall_ms: now.wall_ms,
            level,
            text,
            outage,
        });
    }
}

#[cfg(test)]
mod tests;
