//! One MQTT connection and the simulated DPS368 sensors it publishes for: one ([`Device::new`]),
//! or a whole fleet, as a gateway does (shared mode). A `Device` is a connection, not a sensor:
//! the fleet's API counts connections and sensors apart. Each sensor is a [`Source`] with its
//! own generator, dataset and counters; its samples wait in its lane of the connection's
//! [`outbox`]; the connection's life is its [`Link`].
//!
//! Like the session it is sans-IO: the transport tells it what happened (socket open, bytes,
//! socket closed, time passed) and then drains [`Action`]s (open, send, close), log entries and,
//! for a listener that asked, typed [`Observed`] events. A [`crate::fleet::Fleet`] runs many.
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

mod dataset;
pub mod outbox;
mod schedule;
mod source;
mod status;

use std::collections::VecDeque;

pub use dataset::Dataset;
pub use outbox::Outbox;
use schedule::Schedule;
pub use source::{Scripted, Source};
pub(crate) use status::Seconds;
pub use status::{Counters, Fate, LogEntry, LogLevel, Observed, Status};

use crate::link::{Action, Link, Tag};
use crate::sensor::{AnomalyKind, GroundTruth, Telemetry, csv_row, csv_text, push_json_string};
use crate::session::{Event, SessionConfig};
use crate::settings::{Labels, Settings, labels_topic};

/// How long Stop waits for the queue to drain and PUBACKs to arrive.
pub const STOP_GRACE_MS: u64 = 2000;
/// How many samples the dataset export keeps, over all the sensors of a page: the newest,
/// about 10 MB.
pub const HISTORY_LIMIT: usize = 100_000;
/// At max rate, the most samples made in one go when the window has room.
pub const MAX_RATE_BURST: usize = 1024;
/// How many observations wait for a listener before the oldest go.
pub const OBSERVED_LIMIT: usize = 4096;
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

/// One MQTT connection publishing for its sensors (see the module's text).
#[derive(Debug)]
pub struct Device {
    settings: Settings,
    /// The sensors this connection publishes for, in the order their samples fall due within
    /// an interval (by `offset_ms`).
    sources: Vec<Source>,
    /// Samples made by all sources: they are made in turn, so the next is source
    /// `made % sources.len()`'s sample `made / sources.len() + 1`.
    made: u64,
    /// What waits to be sent: each source's samples and blind mode's labels.
    outbox: Outbox,
    /// The connection: its phases, retries and session.
    link: Link,
    /// Started and not yet ended (the link may end first, lost while stopping).
    running: bool,
    /// When each sample is due and what time it carries.
    schedule: Schedule,
    /// The publish interval: the settings', until a scenario's stage changes it.
    interval_ms: u64,
    /// Samples fall due on a grid of the interval from `grid_base_ms` after Start, counted
    /// from the `grid_made`-th sample made: from Start, or from where a scenario started the
    /// device or changed its interval.
    grid_base_ms: u64,
    grid_made: u64,
    /// At max rate, how many more samples this input may make.
    burst_left: usize,
    actions: VecDeque<Action>,
    log: VecDeque<LogEntry>,
    last_payload: Option<String>,
    /// Whether a listener drains [`Observed`] events (and wants the packets too), and the
    /// events not yet drained.
    observing: bool,
    observing_packets: bool,
    observed: VecDeque<Observed>,
    /// Events were dropped since the listener last drained.
    observed_skipped: bool,
    /// The status last reported to the listener.
    observed_status: Option<Status>,
}

impl Device {
    /// A stopped device with one sensor, as the settings describe it. The sensor's seed is in
    /// `settings`; `seed` drives the retry jitter only, and should differ between pages, even
    /// ones that share a link (and so a sensor seed).
    pub fn new(settings: Settings, seed: u64) -> Self {
        let source = Source::new(
            settings.device_id.clone(),
            settings.topic.clone(),
            settings.sensor.clone(),
            (0, 1),
            settings.offline_queue,
            HISTORY_LIMIT,
        );
        Self::with_sources(settings, vec![source], seed)
    }

    /// A stopped device publishing for `sources` through one connection, as `settings` say.
    pub fn with_sources(settings: Settings, sources: Vec<Source>, seed: u64) -> Self {
        Self {
            link: Link::new(
                settings.broker_url.as_str().to_owned(),
                session_config(&settings),
                seed,
            ),
            running: false,
            interval_ms: settings.interval_ms,
            grid_base_ms: 0,
            grid_made: 0,
            outbox: Outbox::new(
                sources.iter().map(|source| source.queue_limit),
                settings.offline_queue,
            ),
            settings,
            sources,
            made: 0,
            schedule: Schedule::new(Time {
                mono_ms: 0,
                wall_ms: 0,
            }),
            burst_left: 0,
            actions: VecDeque::new(),
            log: VecDeque::new(),
            last_payload: None,
            observing: false,
            observing_packets: false,
            observed_skipped: false,
            observed: VecDeque::new(),
            observed_status: None,
        }
    }

    /// Opens only when granted a slot ([`Device::grant_open`]): a fleet's sockets open a few at
    /// a time, so none waits out its opening deadline behind the others.
    pub fn set_gated(&mut self, gated: bool) {
        self.link.set_gated(gated);
    }

    /// Starts a run: counters and sequences start again; the first sample is due now.
    pub fn start(&mut self, now: Time) {
        self.start_scripted(now, now, 0, true);
    }

    /// Starts as a scenario does, `at_ms` after the run's Start at `origin`: its samples fall
    /// due on the interval's grid from then, stamped on the run's clock. `fresh`, counters and
    /// sequences start again; otherwise (a device a stage brings back) they carry on.
    pub fn start_scripted(&mut self, now: Time, origin: Time, at_ms: u64, fresh: bool) {
        if self.is_active() {
            return;
        }
        if fresh {
            for source in &mut self.sources {
                source.restart();
            }
            self.made = 0;
            self.outbox.clear();
            self.last_payload = None;
        }
        self.running = true;
        self.schedule = Schedule::new(origin);
        self.schedule.advance(now);
        self.grid_base_ms = at_ms;
        self.grid_made = self.made;
        self.info(
            now,
            format!(
                "starting: {} as {} (clean session: {})",
                self.settings.broker_url, self.settings.client_id, self.settings.clean_session
            ),
        );
        self.link.start(now);
        self.on_timer(now);
    }

    /// The socket is open: send CONNECT.
    pub fn on_open(&mut self, now: Time) {
        self.link.on_open(now);
        self.pump(now);
    }

    /// Bytes from the broker.
    pub fn on_bytes(&mut self, bytes: &[u8], now: Time) {
        if self.observing_packets {
            self.observe_event(Observed::Received(bytes.to_vec()));
        }
        self.link.on_bytes(bytes, now);
        self.pump(now);
    }

    /// A text frame: MQTT over WebSocket is binary only [MQTT-6.0.0-1].
    pub fn on_text_frame(&mut self, now: Time) {
        self.link.on_text_frame();
        self.pump(now);
    }

    /// The socket closed or failed.
    pub fn on_closed(&mut self, now: Time) {
        self.link.on_closed(now);
        self.pump(now);
    }

    /// Runs whatever is due: session timers, samples, an opening deadline, a retry, the end of
    /// a stop.
    pub fn on_timer(&mut self, now: Time) {
        if self.making() {
            self.make_due_samples(now, u64::MAX);
        }
        self.link.on_timer(now);
        self.pump(now);
    }

    /// Started and not stopping: samples are made on the schedule.
    fn making(&self) -> bool {
        self.running && !self.link.is_draining()
    }

    /// Every sample the run makes is made: a recording played once has reached its end.
    pub fn exhausted(&self) -> bool {
        self.settings
            .sample_limit()
            .is_some_and(|limit| self.made >= limit.saturating_mul(self.sources.len() as u64))
    }

    /// Running, made all it will make and has nothing left to deliver: the run can end (and
    /// once it is stopping, this is false again).
    pub fn finished(&self) -> bool {
        self.making() && self.exhausted() && self.waiting() == 0
    }

    /// Publishing as fast as possible: no schedule, each next sample as the window has room.
    fn max_rate(&self) -> bool {
        self.grid().0 == 0
    }

    /// The interval, and where its grid starts: after Start, and at which sample made.
    #[cfg(feature = "scenario")]
    fn grid(&self) -> (u64, u64, u64) {
        (self.interval_ms, self.grid_base_ms, self.grid_made)
    }

    /// Without scenarios the grid is the settings' interval from Start (constants the page's
    /// build folds away).
    #[cfg(not(feature = "scenario"))]
    fn grid(&self) -> (u64, u64, u64) {
        (self.settings.interval_ms, 0, 0)
    }

    /// The next sample to make: which source, and its sequence.
    fn next_due(&self) -> (usize, u64) {
        let n = self.sources.len() as u64;
        ((self.made % n) as usize, self.made / n + 1)
    }

    /// When the next sample is due, in ms after Start: its source's place in the round it
    /// falls in, rounds counted on the grid.
    fn next_due_at(&self) -> u64 {
        let n = self.sources.len() as u64;
        let (source, _) = self.next_due();
        let (interval, base, from) = self.grid();
        let round = (self.made - from + from % n) / n;
        base.saturating_add(self.sources[source].offset_ms(interval))
            .saturating_add(round.saturating_mul(interval))
    }

    /// Makes every sample that came due by `now` (and before `before_ms` after Start), each
    /// stamped with its own time. After a sleeping laptop or a frozen tab that may be many:
    /// those beyond what the queue holds are made straight into `dropped` (kept for the export,
    /// never turned into JSON), and at most [`CATCH_UP_CHUNK`] are made per call.
    fn make_due_samples(&mut self, now: Time, before_ms: u64) {
        self.schedule.advance(now);
        if self.max_rate() {
            return;
        }
        let (interval, base, from) = self.grid();
        let elapsed = self.schedule.elapsed_ms();
        // Rounds due and made, counted for the first source (the others differ by at most one).
        let grid_start = base + self.sources[0].offset_ms(interval);
        let mut due = from.div_ceil(self.sources.len() as u64)
            + elapsed.saturating_sub(grid_start) / interval
            + 1;
        if let Some(limit) = self.settings.sample_limit() {
            due = due.min(limit);
        }
        let made = self.made.div_ceil(self.sources.len() as u64);
        if let Some(catch_up) = self.outbox.catch_up(due, made) {
            let per = if self.sources.len() > 1 {
                " per device"
            } else {
                ""
            };
            let keep = self.outbox.lane_limit();
            self.warn(
                now,
                format!(
                    "{} sample(s){per} came due while the page could not run: more than the offline queue holds ({keep}), so the oldest {} are dropped",
                    catch_up.came_due, catch_up.dropped
                ),
            );
        }
        for _ in 0..CATCH_UP_CHUNK {
            let due_at = self.next_due_at();
            if due_at > elapsed || due_at >= before_ms || self.exhausted() {
                break;
            }
            let stamp = self.schedule.stamp(due_at, self.settings.start_ms);
            self.make_sample(now, stamp, due_at);
        }
    }

    /// A scenario's stage changes the interval `at_ms` after Start: what fell due before is
    /// made on the old grid, and the new grid starts there.
    pub fn set_interval(&mut self, now: Time, at_ms: u64, interval_ms: u64) {
        self.make_all_due_before(now, at_ms);
        self.interval_ms = interval_ms;
        self.grid_base_ms = at_ms;
        self.grid_made = self.made;
        self.pump(now);
    }

    /// Makes what falls due before `at_ms` after Start (a scenario's stage ends there), then
    /// stops as [`Device::stop`] does.
    pub fn stop_at(&mut self, now: Time, at_ms: u64) {
        self.make_all_due_before(now, at_ms);
        self.stop(now);
    }

    /// Every sample due by `now` and before `at_ms`, however many (past [`CATCH_UP_CHUNK`]:
    /// the grid is about to change or the run to end, so none may wait for the next call).
    fn make_all_due_before(&mut self, now: Time, at_ms: u64) {
        while self.making() {
            let made = self.made;
            self.make_due_samples(now, at_ms);
            if self.made == made {
                break;
            }
        }
    }

    /// The network goes away (a scenario's outage): the socket closes without a DISCONNECT,
    /// samples wait in the queue, and the connection comes back at `until` (monotonic).
    pub fn go_offline(&mut self, now: Time, until: u64) {
        if self.making() {
            self.link.go_offline(now, until);
            self.pump(now);
        }
    }

    /// Stops making samples, waits up to [`STOP_GRACE_MS`] for the queue to drain and for
    /// PUBACKs, then disconnects. Without a connection it ends at once.
    pub fn stop(&mut self, now: Time) {
        if self.making() {
            // A run that stops mid-event ends the event at its last sample made.
            for index in 0..self.sources.len() {
                if let Some(truth) = self.sources[index].generator.cut_event() {
                    self.queue_label(now, index, truth);
                }
            }
        }
        if self.link.is_connected() {
            let waiting = self.waiting();
            self.link.drain(now.mono_ms + STOP_GRACE_MS);
            if waiting > 0 {
                self.info(
                    now,
                    format!("stopping: waiting for {waiting} message(s) to be acknowledged"),
                );
            }
        } else if self.making() {
            // A pending retry is cancelled; nothing can be delivered any more.
            self.link.close(now);
            self.end(now);
        }
        self.pump(now);
    }

    /// Messages not yet acknowledged: in flight, queued samples and labels.
    fn waiting(&self) -> usize {
        self.link.in_flight() + self.outbox.waiting()
    }

    /// Ends at once (the page is going away): DISCONNECT when connected, then close.
    pub fn shutdown(&mut self, now: Time) {
        self.stop(now);
        if self.link.drain(now.mono_ms) {
            self.pump(now);
        }
    }

    /// The next time [`Device::on_timer`] has work, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let sample = (self.making() && !self.max_rate() && !self.exhausted())
            .then(|| self.schedule.mono_at(self.next_due_at()));
        [sample, self.link.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_log(&mut self) -> Option<LogEntry> {
        self.take_link_log();
        self.log.pop_front()
    }

    /// Starts or stops recording [`Observed`] events for [`Device::poll_observed`]. Off by
    /// default: nothing is copied for a listener that is not there.
    pub fn observe(&mut self, on: bool) {
        self.observing = on;
        self.observing_packets = on;
        self.observed_skipped = false;
        self.observed_status = None;
        if !on {
            self.observed.clear();
        }
    }

    /// Whether packets are recorded for the listener.
    pub fn observes_packets(&self) -> bool {
        self.observing_packets
    }

    /// While observing, whether the packets are recorded as well (a chart needs only the
    /// samples: at max rate, copying every packet for nobody costs).
    pub fn observe_packets(&mut self, on: bool) {
        self.observing_packets = self.observing && on;
    }

    /// The next observation, oldest first; at most [`OBSERVED_LIMIT`] wait, the oldest go.
    pub fn poll_observed(&mut self) -> Option<Observed> {
        if std::mem::take(&mut self.observed_skipped) {
            return Some(Observed::Skipped);
        }
        self.observed.pop_front()
    }

    fn observe_event(&mut self, event: Observed) {
        if self.observed.len() >= OBSERVED_LIMIT {
            self.observed.pop_front();
            self.observed_skipped = true;
        }
        self.observed.push_back(event);
    }

    /// Where the device is, at `now` (for the retry countdown).
    pub fn status(&self, now: Time) -> Status {
        self.link.status(now)
    }

    /// Blind mode's label messages so far.
    pub fn label_counts(&self) -> LabelCounts {
        self.outbox.label_counts()
    }

    /// The totals of all its sensors, and the connection's own counters.
    pub fn counters(&self) -> Counters {
        let mut total = Counters {
            redelivered: self.link.redelivered(),
            reconnects: self.link.reconnects(),
            ..Counters::default()
        };
        for index in 0..self.sources.len() {
            total.add(&self.source_counters(index));
        }
        total
    }

    /// Source `index`'s counters, with its queue's length filled in.
    pub fn source_counters(&self, index: usize) -> Counters {
        Counters {
            queued: self.outbox.queued(index) as u64,
            ..self.sources[index].counters
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Samples made since Start, by all its sensors.
    pub fn samples_made(&self) -> u64 {
        self.made
    }

    /// The sensors this device publishes for.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    #[cfg(feature = "scenario")]
    pub(crate) fn sources_mut(&mut self) -> &mut [Source] {
        &mut self.sources
    }

    /// The JSON of the last PUBLISH sent.
    pub fn last_payload(&self) -> Option<&str> {
        self.last_payload.as_deref()
    }

    /// Started and not yet stopped.
    pub fn is_active(&self) -> bool {
        self.running
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// Waiting for a fleet to let it open its socket.
    pub fn awaiting_slot(&self) -> bool {
        self.link.awaiting_slot()
    }

    /// Its socket was asked for and has not opened yet.
    pub fn is_opening(&self) -> bool {
        self.link.is_opening()
    }

    /// A slot is free: open the socket now, with the opening deadline from now.
    pub fn grant_open(&mut self, now: Time) {
        self.link.grant_open(now);
        self.pump(now);
    }

    /// Makes the next sample (of the source whose turn it is), due `at_ms` after Start and
    /// stamped `stamp`, and queues it, dropping that source's oldest when its queue is full.
    fn make_sample(&mut self, now: Time, stamp: i64, at_ms: u64) {
        let (index, _) = self.next_due();
        self.made += 1;
        let source = &mut self.sources[index];
        let sample = source.next_sample(stamp, at_ms);
        let ended = source.generator.take_ended();
        let mut note = None;
        if let Some(label) = sample.label {
            source.counters.anomalies += 1;
            if source.last_label != Some(label) {
                source.counters.events_by_kind[label.kind.index()] += 1;
                note = Some(format!(
                    "anomaly {} #{} at sequence {}",
                    label.kind, label.id, sample.sequence
                ));
            }
        }
        source.last_label = sample.label;
        let fate = if !sample.is_reported() {
            source.counters.dropouts += 1;
            Fate::Dropout
        } else if self.outbox.drops_on_arrival(sample.sequence) {
            source.counters.samples += 1;
            source.counters.dropped += 1;
            Fate::Dropped
        } else {
            source.counters.samples += 1;
            Fate::Queued
        };
        let mut overflow = None;
        let mut full_note = None;
        if fate == Fate::Queued {
            let queued = self.outbox.push_sample(index, sample);
            if let Some(oldest) = queued.dropped {
                source.set_fate(oldest, Fate::Dropped);
                source.counters.dropped += 1;
                overflow = Some(oldest);
            }
            if queued.burst_began {
                full_note = Some(format!(
                    "offline queue full ({} samples): dropping the oldest",
                    source.queue_limit
                ));
            }
        }
        source.dataset.push(sample, fate);
        if let Some(truth) = ended {
            self.queue_label(now, index, truth);
        }
        for (level, note) in [(LogLevel::Info, note), (LogLevel::Warn, full_note)] {
            if let Some(text) = note {
                let text = self.about(index, text);
                self.push_log(now, level, text);
            }
        }
        if self.observing {
            if let Some(dropped) = overflow {
                self.observe_event(Observed::Sample {
                    source: index,
                    sequence: dropped,
                    fate: Fate::Dropped,
                });
            }
            self.observe_event(Observed::Made {
                source: index,
                sample,
                fate,
            });
        }
    }

    /// Blind mode: queues an ended event's ground truth, to go out ahead of any sample. A
    /// queue as long as the offline queue drops its oldest, counted.
    fn queue_label(&mut self, now: Time, index: usize, truth: GroundTruth) {
        if self.settings.labels != Labels::Topic {
            return;
        }
        if self.outbox.push_label(index, truth) {
            self.warn(now, "label queue full: dropping the oldest label".into());
        }
    }

    /// A log line about source `index`: named when the device publishes for several.
    fn about(&self, index: usize, text: String) -> String {
        match self.sources.as_slice() {
            [_] => text,
            sources => format!("{}: {text}", sources[index].device_id),
        }
    }

    fn set_fate(&mut self, source: usize, sequence: u64, fate: Fate) {
        self.sources[source].set_fate(sequence, fate);
        if self.observing {
            self.observe_event(Observed::Sample {
                source,
                sequence,
                fate,
            });
        }
    }

    /// Makes a connection attempt that waits out its backoff now ("Reconnect now").
    pub fn retry_now(&mut self, now: Time) {
        self.link.retry_now(now);
        self.pump(now);
    }

    /// Starts an anomaly of `kind` at the next sample of every sensor, or of source `only`.
    pub fn inject(&mut self, kind: AnomalyKind, only: Option<usize>, now: Time) {
        if !self.making() {
            return;
        }
        match only {
            None => {
                for source in &mut self.sources {
                    source.generator.inject(kind);
                }
                self.info(now, format!("injecting {kind} at the next sample"));
            }
            Some(index) if index < self.sources.len() => {
                self.sources[index].generator.inject(kind);
                let text = self.about(index, format!("injecting {kind} at the next sample"));
                self.info(now, text);
            }
            Some(_) => {}
        }
    }

    /// Appends the CSV rows of every sensor (one per sample with its labels and fate), without
    /// the header: [`crate::fleet::Fleet::export_csv`] writes the whole file.
    pub fn write_csv(&self, out: &mut String) {
        self.write_csv_with(out, |_, _| None);
    }

    /// [`Device::write_csv`] with a last cell from `extra(device_id, sequence)` on every row
    /// (empty for `None`): the native runner's measured latency.
    pub fn write_csv_with(&self, out: &mut String, extra: impl Fn(&str, u64) -> Option<String>) {
        for source in &self.sources {
            let config = source.generator.config();
            for (sample, fate) in source.dataset.rows() {
                out.push_str(&csv_row(
                    &source.device_id,
                    config.profile,
                    sample,
                    fate.name(),
                ));
                // A replay's rows have the column even where a reading has no recorded time,
                // so that a last column stays in its place.
                if config.replay.is_some() {
                    out.push(',');
                }
                if let Some(recorded) = config.recorded_timestamp(sample.sequence) {
                    csv_text(out, recorded);
                }
                if let Some(cell) = extra(&source.device_id, sample.sequence) {
                    out.push(',');
                    out.push_str(&cell);
                }
                out.push('\n');
            }
        }
    }

    /// Appends every sensor's samples as JSON Lines: each payload with a `status` field for its
    /// fate.
    pub fn write_jsonl(&self, out: &mut String) {
        self.write_jsonl_with(out, |_, _| None);
    }

    /// [`Device::write_jsonl`] with a last field from `extra(device_id, sequence)`: a
    /// `(key, JSON value)` pair.
    pub fn write_jsonl_with(
        &self,
        out: &mut String,
        extra: impl Fn(&str, u64) -> Option<(&'static str, String)>,
    ) {
        for source in &self.sources {
            let config = source.generator.config();
            for (sample, fate) in source.dataset.rows() {
                let telemetry = Telemetry::new(&source.device_id, config.profile, sample);
                let mut line = telemetry.json_with_status(Some(fate.name()));
                if let Some(recorded) = config.recorded_timestamp(sample.sequence) {
                    line.pop();
                    line.push_str(",\"recorded_timestamp\":");
                    push_json_string(&mut line, recorded);
                    line.push('}');
                }
                if let Some((key, value)) = extra(&source.device_id, sample.sequence) {
                    line.pop();
                    line.push_str(",\"");
                    line.push_str(key);
                    line.push_str("\":");
                    line.push_str(&value);
                    line.push('}');
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
    }

    /// Moves queued samples into the session while its window has room, in the order they
    /// were made. At max rate, makes each next sample as the window has room.
    fn fill_window(&mut self, now: Time) {
        while self.link.session().can_publish() {
            let Some((index, truth)) = self.outbox.next_label() else {
                break;
            };
            let source = &self.sources[index];
            let payload = truth.to_json(&source.device_id, source.generator.config().difficulty);
            let tag = Tag::Label {
                source: index,
                id: truth.label.id,
            };
            let topic = labels_topic(&source.device_id);
            if self
                .link
                .session()
                .publish(&topic, payload.into_bytes(), tag, now.mono_ms)
                .is_err()
            {
                break;
            }
            self.outbox.label_published();
        }
        while self.link.session().can_publish() {
            let Some((index, sample)) = self.outbox.pop_sample() else {
                if self.max_rate()
                    && self.link.is_connected()
                    && self.burst_left > 0
                    && !self.exhausted()
                {
                    self.burst_left -= 1;
                    self.schedule.advance(now);
                    let at_ms = self.schedule.elapsed_ms();
                    let stamp = self.schedule.stamp(at_ms, self.settings.start_ms);
                    self.make_sample(now, stamp, at_ms);
                    continue;
                }
                break;
            };
            let source = &mut self.sources[index];
            let payload = source.payload(&sample, self.settings.labels == Labels::Topic);
            let tag = Tag::Sample {
                source: index,
                seq: sample.sequence,
            };
            match self.link.session().publish(
                &source.topic,
                payload.as_bytes().to_vec(),
                tag,
                now.mono_ms,
            ) {
                Ok(_) => {
                    source.counters.published += 1;
                    source.counters.in_flight += 1;
                    self.set_fate(index, sample.sequence, Fate::InFlight);
                    self.last_payload = Some(payload);
                }
                Err(_) => {
                    self.outbox.put_back(index, sample);
                    break;
                }
            }
        }
        // A burst of overflow is said once, when its queue has drained to half.
        for (index, dropped) in self.outbox.ended_bursts() {
            let text = format!("{dropped} sample(s) dropped while the queue was full");
            let text = self.about(index, text);
            self.warn(now, text);
        }
    }

    /// Hands what the link wants done (the session's bytes among its opens and closes) to
    /// the transport, in order, and its log lines to the device's log.
    fn forward_transmits(&mut self) {
        while let Some(action) = self.link.poll_action() {
            if let Action::Send(bytes) = &action
                && self.observing_packets
            {
                self.observe_event(Observed::Sent(bytes.clone()));
            }
            self.actions.push_back(action);
        }
        self.take_link_log();
    }

    /// The link's log lines, before any the device writes after them.
    fn take_link_log(&mut self) {
        while let Some(entry) = self.link.poll_log() {
            self.log.push_back(entry);
        }
    }

    /// Drives the session until it has nothing more to say: its events are handled in order,
    /// queued samples fill the window, and a stop ends once nothing waits. A loop, never a
    /// recursion: handling an event never calls back into the session's input.
    fn pump(&mut self, now: Time) {
        // At max rate, at most MAX_RATE_BURST new samples per input: a window of 65,535 fills
        // over the PUBACKs that follow, not in one long task at CONNACK.
        self.burst_left = MAX_RATE_BURST;
        loop {
            self.forward_transmits();
            let mut handled = 0;
            while let Some(event) = self.link.poll_event(now) {
                handled += 1;
                self.take_link_log();
                self.handle_event(event, now);
            }
            if self.link.is_connected() || self.link.is_draining() {
                self.fill_window(now);
            }
            self.finish_stop_if_done(now);
            self.forward_transmits();
            if handled == 0 {
                break;
            }
        }
        if self.observing {
            let status = self.status(now);
            if self.observed_status.as_ref() != Some(&status) {
                self.observed_status = Some(status.clone());
                self.observe_event(Observed::Status(status));
            }
        }
    }

    /// What the session said, once the link has acted on it (connected, or retrying).
    fn handle_event(&mut self, event: Event<Tag>, now: Time) {
        match event {
            Event::Acked {
                tag: Tag::Label { .. } | Tag::Verdict,
                ..
            } => self.outbox.label_acked(),
            Event::Acked {
                tag:
                    Tag::Sample {
                        source: index,
                        seq: sequence,
                    },
                ..
            } => {
                if let Some(source) = self.sources.get_mut(index) {
                    source.counters.acked += 1;
                    source.counters.in_flight -= 1;
                    self.set_fate(index, sequence, Fate::Acknowledged);
                }
            }
            // The simulator subscribes to nothing; a message from an old persistent
            // subscription was acknowledged by the session and is dropped here.
            Event::Connected { .. }
            | Event::PingSent
            | Event::Subscribed(_)
            | Event::Unsubscribed(_)
            | Event::Message(_)
            | Event::Skipped { .. } => {}
            // Lost while stopping: the link has ended, and so does the run.
            Event::Closed(_) if self.running && !self.link.is_active() => self.end(now),
            Event::Closed(_) => {}
        }
    }

    fn finish_stop_if_done(&mut self, now: Time) {
        let Some(deadline) = self.link.draining_until() else {
            return;
        };
        if self.waiting() > 0 && now.mono_ms < deadline {
            return;
        }
        self.link.close(now);
        self.end(now);
    }

    /// With the link closed: counts what was never sent or never acknowledged as dropped,
    /// reports the totals and goes idle.
    fn end(&mut self, now: Time) {
        self.forward_transmits();
        self.running = false;
        let mut unacknowledged = vec![];
        let mut labels = 0;
        for tag in self.link.session().abandon_in_flight() {
            match tag {
                Tag::Sample { source, seq } => unacknowledged.push((source, seq)),
                Tag::Label { .. } | Tag::Verdict => labels += 1,
            }
        }
        self.outbox.labels_unacknowledged(labels);
        if !unacknowledged.is_empty() {
            for &(index, sequence) in &unacknowledged {
                let source = &mut self.sources[index];
                source.counters.dropped += 1;
                source.counters.in_flight -= 1;
                self.set_fate(index, sequence, Fate::Unacknowledged);
            }
            self.warn(
                now,
                format!(
                    "{} sample(s) sent but never acknowledged: counted as dropped",
                    unacknowledged.len()
                ),
            );
        }
        let unsent = self.outbox.take_unsent().samples;
        if !unsent.is_empty() {
            for &(index, ref sample) in &unsent {
                self.sources[index].counters.dropped += 1;
                self.set_fate(index, sample.sequence, Fate::Dropped);
            }
            self.warn(
                now,
                format!(
                    "{} queued sample(s) never sent: counted as dropped",
                    unsent.len()
                ),
            );
        }
        let totals = self.counters().totals();
        self.info(now, format!("stopped: {totals}"));
        let labels = self.outbox.label_counts();
        if labels.made > 0 {
            self.info(
                now,
                format!(
                    "labels: {} made, {} acknowledged, {} dropped",
                    labels.made, labels.acked, labels.dropped
                ),
            );
        }
    }

    fn info(&mut self, now: Time, text: String) {
        self.push_log(now, LogLevel::Info, text);
    }

    fn warn(&mut self, now: Time, text: String) {
        self.push_log(now, LogLevel::Warn, text);
    }

    /// The device's own lines; the connection's come from its link (see [`Link::poll_log`]).
    fn push_log(&mut self, now: Time, level: LogLevel, text: String) {
        self.log.push_back(LogEntry {
            wall_ms: now.wall_ms,
            level,
            text,
            outage: None,
        });
    }
}

/// Blind mode's ground-truth messages: made (events ended), published, acknowledged, and
/// dropped (queue full, or unsent or unacknowledged at Stop). After Stop, `acked + dropped ==
/// made`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelCounts {
    pub made: u64,
    pub published: u64,
    pub acked: u64,
    pub dropped: u64,
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
