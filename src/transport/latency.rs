//! Measure latency (the scenario player's build): the core's latency subscriber
//! ([`crate::latency`]) on a WebSocket of its own. The fleet starts once every subscription is
//! granted; each second the probe's interval ends and the view gets its figures; after the
//! fleet stops, the subscriber waits for what is still on its way (until nothing acknowledged
//! is awaited, or [`GRACE_MS`] after the last arrival), says what never came and closes.

use std::collections::VecDeque;

use crate::device::{LogEntry, LogLevel, Time};
use crate::fleet::Fleet;
use crate::latency::{self, Probe, Subscriber, Summary};
use crate::link::Action;
use crate::settings::Settings;

use super::socket::{Socket, SocketEvent};

/// The socket index the subscriber's events come under (the fleet's are 0..n).
pub const SUBSCRIBER: usize = usize::MAX;
/// How long the subscriber waits after its last arrival, once the fleet has stopped.
const GRACE_MS: u64 = 2000;
/// The grace at most, in all.
const GRACE_MAX_MS: u64 = 10_000;
/// How long it may take to subscribe before the run is given up.
const SUBSCRIBE_MS: u64 = 30_000;

/// What the page shows of the latency.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyView {
    /// Over the last ten seconds.
    pub recent: Summary,
    /// Over the run.
    pub whole: Summary,
    /// Acknowledged and not (yet) received; once the run has ended, lost.
    pub awaited: u64,
    pub ended: bool,
    /// Waiting for the subscriptions before the fleet starts.
    pub waiting: bool,
    /// The chart (SVG), when a second ended since the last view.
    pub chart: Option<String>,
}

/// One run's subscriber, its socket, and where the run is.
pub struct Latency {
    subscriber: Subscriber,
    socket: Option<Socket>,
    fleet_started: bool,
    /// The Start time setting: what fell due `t` after Start is stamped `origin + t`.
    origin_ms: Option<i64>,
    /// Each second's p50 and p99, oldest first; none for a second without arrivals.
    series: VecDeque<Option<(u64, u64)>>,
    last_tick_ms: u64,
    chart_changed: bool,
    /// Once the fleet stopped: the arrivals counted, when they last changed, and when it
    /// began.
    grace: Option<(u64, u64, u64)>,
    ended: bool,
    /// When it was made (monotonic ms): it must be subscribed [`SUBSCRIBE_MS`] after.
    made_ms: u64,
    /// Ended before the fleet started (a Stop, a refusal, the deadline).
    abandoned: bool,
}

impl Latency {
    /// A subscriber for the fleet's topics, connecting now.
    pub fn new(settings: &Settings, fleet: &Fleet, seed: u64, now: Time) -> Self {
        let client_id = format!("dps368-lat-{:08x}", seed as u32);
        Self {
            subscriber: Subscriber::for_fleet(settings, fleet, client_id, seed, now),
            socket: None,
            fleet_started: false,
            origin_ms: settings.start_ms,
            series: VecDeque::new(),
            last_tick_ms: now.mono_ms,
            chart_changed: false,
            grace: None,
            ended: false,
            made_ms: now.mono_ms,
            abandoned: false,
        }
    }

    /// Still has work: waiting to start the fleet, or for the last arrivals.
    pub fn is_active(&self) -> bool {
        !self.ended
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        let tick = (!self.ended).then_some(if self.fleet_started {
            self.last_tick_ms + 1000
        } else {
            self.made_ms + SUBSCRIBE_MS
        });
        self.subscriber.poll_timeout().into_iter().chain(tick).min()
    }

    pub fn probe(&self) -> &Probe {
        &self.subscriber.probe
    }

    /// What its socket did, `received_us` when bytes came.
    pub fn on_socket(&mut self, event: SocketEvent, received_us: u64, now: Time) {
        match event {
            SocketEvent::Open => self.subscriber.on_open(now),
            SocketEvent::Binary(bytes) => self.subscriber.on_bytes(&bytes, received_us, now),
            SocketEvent::Text => self.subscriber.on_text_frame(now),
            SocketEvent::Closed => {
                self.socket = None;
                self.subscriber.on_closed(now);
            }
        }
    }

    pub fn on_timer(&mut self, now: Time) {
        self.subscriber.on_timer(now);
    }

    /// Every subscription is granted: the fleet may start.
    pub fn may_start(&self) -> bool {
        self.subscriber.ready() && !self.ended
    }

    /// The fleet started at `now`.
    pub fn started(&mut self, now: Time) {
        self.fleet_started = true;
        let origin = self.origin_ms.unwrap_or(now.wall_ms);
        self.subscriber.probe.started(now, origin);
    }

    /// Nothing was measured: a Stop before the fleet started.
    pub fn abandon(&mut self, now: Time) {
        if !self.fleet_started && !self.ended {
            self.subscriber.close(now);
            self.ended = true;
            self.abandoned = true;
        }
    }

    /// Ended before the fleet started: the run never began.
    pub fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// Moves the run on: opens and feeds the socket (`open` makes one), ends the seconds, and
    /// after the fleet stopped ends the subscriber. Lines for the log go to `log`.
    pub fn drive(
        &mut self,
        fleet: &Fleet,
        now: Time,
        open: impl Fn(&str) -> Result<Socket, String>,
        log: &mut impl FnMut(LogLevel, String),
    ) {
        if let Some(filter) = self.subscriber.take_refused() {
            log(
                LogLevel::Error,
                format!(
                    "latency: the broker did not grant the subscription to {filter}: not started, nothing can be timed"
                ),
            );
            self.abandon(now);
        }
        if !self.fleet_started && !self.ended && now.mono_ms >= self.made_ms + SUBSCRIBE_MS {
            log(
                LogLevel::Error,
                format!(
                    "latency: the subscriber was not subscribed within {} s: not started",
                    SUBSCRIBE_MS / 1000
                ),
            );
            self.abandon(now);
        }
        if now.mono_ms >= self.last_tick_ms + 1000 {
            self.last_tick_ms = now.mono_ms;
            if self.fleet_started && !self.ended {
                // A second without arrivals is a gap in the chart, not 0 ms.
                let second = self.subscriber.probe.tick();
                if self.series.len() == latency::CHART_INTERVALS {
                    self.series.pop_front();
                }
                self.series
                    .push_back((second.count > 0).then_some((second.p50, second.p99)));
                self.chart_changed = true;
            }
        }
        if self.fleet_started && !self.ended && !fleet.is_active() {
            let received = self.subscriber.probe.counts().received;
            let began = self.grace.map_or(now.mono_ms, |(_, _, began)| began);
            let since = match self.grace {
                Some((count, since, _)) if count == received => since,
                _ => now.mono_ms,
            };
            self.grace = Some((received, since, began));
            let awaited = self.awaited(fleet);
            let over = now.mono_ms >= (since + GRACE_MS).min(began + GRACE_MAX_MS);
            if awaited == 0 || over {
                self.end(awaited, now, log);
            }
        }
        while let Some(line) = self.subscriber.poll_log() {
            log(LogLevel::Warn, line);
        }
        while let Some(action) = self.subscriber.poll_action() {
            match action {
                Action::Open { url } => {
                    self.socket = None;
                    match open(&url) {
                        Ok(socket) => self.socket = Some(socket),
                        Err(reason) => {
                            log(LogLevel::Error, format!("latency subscriber: {reason}"));
                            self.subscriber.on_closed(now);
                        }
                    }
                }
                Action::Send(bytes) => {
                    let sent = self.socket.as_ref().map(|s| s.send(&bytes));
                    if !matches!(sent, Some(Ok(()))) {
                        self.subscriber.on_closed(now);
                    }
                }
                Action::Close => self.socket = None,
            }
        }
    }

    fn awaited(&self, fleet: &Fleet) -> u64 {
        self.subscriber.probe.awaited_in(fleet)
    }

    /// The run is over: its figures in the log, loudly what never came, and goodbye.
    fn end(&mut self, lost: u64, now: Time, log: &mut impl FnMut(LogLevel, String)) {
        self.ended = true;
        self.subscriber.close(now);
        let whole = self.subscriber.probe.whole();
        log(
            LogLevel::Info,
            format!("latency, due to received: {}", whole.words()),
        );
        if let Some(words) = self.subscriber.probe.counts().others_words() {
            log(LogLevel::Info, format!("latency: {words}"));
        }
        let (down_ms, drops) = self.subscriber.down(now);
        if let Some(words) = latency::lost_words(lost, down_ms, drops) {
            log(LogLevel::Error, format!("latency: {words}"));
        }
    }

    /// What the page shows now.
    pub fn view(&mut self, fleet: &Fleet) -> LatencyView {
        let probe = &self.subscriber.probe;
        LatencyView {
            recent: probe.recent(),
            whole: probe.whole(),
            awaited: self.awaited(fleet),
            ended: self.ended,
            waiting: !self.fleet_started && !self.ended,
            chart: std::mem::take(&mut self.chart_changed)
                .then(|| latency::chart_svg(&self.series)),
        }
    }
}

/// Log lines of the subscriber, as the fleet's are.
pub fn entry(level: LogLevel, text: String, now: Time) -> LogEntry {
    LogEntry {
        wall_ms: now.wall_ms,
        level,
        text,
        outage: None,
    }
}
