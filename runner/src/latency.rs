//! `--latency`: every sample timed from the moment it was due to the moment a subscriber of
//! the runner's own received it, on the runner's monotonic clock.
//!
//! A sample's due time is its scheduled time, which its payload carries: it is stamped
//! `origin + t`, where `t` is when it fell due after Start on the fleet's schedule and `origin`
//! the Start time (`--start`, else the wall clock at Start). So a sample held back by a full
//! in-flight window, a full queue or a dead connection is charged for the wait (no coordinated
//! omission), and nothing about the publisher's own bookkeeping is trusted. The subscriber is
//! one extra connection (clean session, QoS 1) subscribed to exactly the topics the fleet
//! publishes; its first message is awaited before the fleet starts.
//!
//! [`Probe`] is the arithmetic, pure (payloads and receive times in, percentiles out);
//! [`Subscriber`] is its connection, the simulator's own [`Link`], drained after every input.
//! Percentiles come from HdrHistograms (3 significant digits: a value is reported within 0.1 %
//! of what was recorded, from 1 µs to an hour; longer waits are counted as an hour).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use dps368_core::device::Time;
use dps368_core::link::{Action, Link};
use dps368_core::mqtt::{Granted, QoS};
use dps368_core::sensor::parse_rfc3339_millis;
use dps368_core::session::{Event, SessionConfig};
use dps368_core::settings::Settings;
use hdrhistogram::Histogram;
use tokio::sync::mpsc;

use crate::net::{Connection, Io, Target};

/// The connection index the subscriber's socket reports under (the fleet's are 0..n).
pub const SUBSCRIBER: usize = usize::MAX;
/// The longest latency told apart, µs: an hour. Longer ones are recorded as an hour.
const HIGHEST_US: u64 = 3_600_000_000;
/// The recent window: this many one-second intervals.
const RECENT_INTERVALS: usize = 10;
/// Sequence numbers above a sensor's lowest unseen one remembered to tell duplicates; past
/// that, the oldest gap is taken as settled (a sample the publisher dropped never comes).
const SEEN_LIMIT: usize = 65_536;
/// Filters in one SUBSCRIBE.
const FILTERS_PER_SUBSCRIBE: usize = 256;

/// Percentiles of a set of latencies, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub count: u64,
}

impl Summary {
    fn of(latencies: &Latencies) -> Self {
        let (histogram, max) = (&latencies.histogram, latencies.max);
        // A bucket's highest equivalent value, but never past the largest value recorded.
        let at = |q: f64| histogram.value_at_quantile(q).min(max);
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max,
            count: histogram.len(),
        }
    }

    /// `{"p50":…,"p90":…,"p99":…,"p999":…,"max":…,"count":…}`, milliseconds to the µs
    /// (`null` percentiles when nothing was received).
    pub fn json(&self) -> String {
        let ms = |us: u64| {
            if self.count == 0 {
                "null".to_owned()
            } else {
                millis(us)
            }
        };
        format!(
            "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"count\":{}}}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max),
            self.count
        )
    }

    /// `p50 1.234 ms  p99 5.678 ms`, or `no samples` when nothing was received.
    pub fn short(&self) -> String {
        if self.count == 0 {
            return "latency -".into();
        }
        format!("p50 {} ms  p99 {} ms", millis(self.p50), millis(self.p99))
    }

    /// Every figure in words, for the end of a run.
    pub fn words(&self) -> String {
        if self.count == 0 {
            return "no samples received".into();
        }
        format!(
            "{} samples: p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
            self.count,
            millis(self.p50),
            millis(self.p90),
            millis(self.p99),
            millis(self.p999),
            millis(self.max)
        )
    }
}

/// µs as milliseconds with three decimals.
pub fn millis(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// What the subscriber received that was not a first arrival of the fleet's own sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// First arrivals of the fleet's samples, each timed.
    pub received: u64,
    /// A sample that had arrived already (QoS 1 delivers at least once).
    pub duplicates: u64,
    /// Telemetry of a device not in this fleet (another shard, another publisher).
    pub foreign: u64,
    /// Not readable as the fleet's telemetry.
    pub unreadable: u64,
    /// Arrived before it was due (the wall clock stepped during the run): counted as 0.
    pub early: u64,
    /// By how much the earliest of those came before its due time, µs.
    pub earliest_us: u64,
}

/// One sensor's arrivals: which sequence numbers came, and the latency of the newest.
#[derive(Debug, Default)]
struct Arrivals {
    /// The lowest sequence number not yet received (every one below came, or was given up).
    next: u64,
    /// Received numbers above `next`.
    seen: BTreeSet<u64>,
    received: u64,
    /// sequence → latency µs, the newest `keep` of them, for the export.
    latencies: BTreeMap<u64, u64>,
}

impl Arrivals {
    /// Whether `sequence` arrives for the first time (and notes it).
    fn first(&mut self, sequence: u64) -> bool {
        if sequence < self.next || !self.seen.insert(sequence) {
            return false;
        }
        if self.seen.len() > SEEN_LIMIT
            && let Some(oldest) = self.seen.first().copied()
        {
            self.next = oldest;
        }
        while self.seen.first() == Some(&self.next) {
            self.seen.pop_first();
            self.next += 1;
        }
        true
    }
}

/// Times the fleet's samples as they arrive (see the module's text).
pub struct Probe {
    /// The fleet's Start: the monotonic ms and the stamp of the time it was due.
    start_mono_ms: i64,
    origin_ms: i64,
    sensors: HashMap<String, Arrivals>,
    whole: Latencies,
    interval: Latencies,
    recent: VecDeque<Latencies>,
    counts: Counts,
    /// Latencies kept per sensor for the export.
    keep: usize,
}

/// An HdrHistogram of latencies, µs, and the largest exactly (the histogram's own is its
/// bucket's highest equivalent value).
#[derive(Debug, Clone)]
struct Latencies {
    histogram: Histogram<u64>,
    max: u64,
}

impl Latencies {
    fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid HdrHistogram bounds"),
            max: 0,
        }
    }

    fn record(&mut self, us: u64) {
        let us = us.min(HIGHEST_US);
        self.histogram.saturating_record(us);
        self.max = self.max.max(us);
    }

    fn add(&mut self, other: &Latencies) {
        // Same bounds: never fails.
        let _ = self.histogram.add(&other.histogram);
        self.max = self.max.max(other.max);
    }
}

impl Probe {
    /// A probe for the sensors `ids`, keeping the latency of the newest `keep` samples of
    /// each for the export.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>, keep: usize) -> Self {
        Self {
            start_mono_ms: 0,
            origin_ms: 0,
            sensors: ids
                .into_iter()
                .map(|id| {
                    (
                        id.to_owned(),
                        Arrivals {
                            next: 1,
                            ..Arrivals::default()
                        },
                    )
                })
                .collect(),
            whole: Latencies::new(),
            interval: Latencies::new(),
            recent: VecDeque::new(),
            counts: Counts::default(),
            keep: keep.max(1),
        }
    }

    /// The fleet started at `start`, stamping what falls due `t` after it `origin_ms + t`.
    pub fn started(&mut self, start: Time, origin_ms: i64) {
        self.start_mono_ms = start.mono_ms as i64;
        self.origin_ms = origin_ms;
    }

    /// A message the subscriber received at `received_us` on the runner's monotonic clock
    /// (the clock of [`Time::mono_ms`], in µs): its latency when it is a first arrival.
    pub fn on_message(&mut self, payload: &[u8], received_us: u64) -> Result<Option<u64>, String> {
        let read = read(payload).inspect_err(|_| self.counts.unreadable += 1)?;
        let Some(sensor) = self.sensors.get_mut(read.device_id.as_str()) else {
            self.counts.foreign += 1;
            return Ok(None);
        };
        if !sensor.first(read.sequence) {
            self.counts.duplicates += 1;
            return Ok(None);
        }
        let due_us = (self.start_mono_ms + (read.timestamp_ms - self.origin_ms)) * 1000;
        let latency = received_us as i64 - due_us;
        let latency = if latency < 0 {
            self.counts.early += 1;
            self.counts.earliest_us = self.counts.earliest_us.max(latency.unsigned_abs());
            0
        } else {
            latency as u64
        };
        self.whole.record(latency);
        self.interval.record(latency);
        sensor.received += 1;
        sensor.latencies.insert(read.sequence, latency);
        if sensor.latencies.len() > self.keep {
            sensor.latencies.pop_first();
        }
        self.counts.received += 1;
        Ok(Some(latency))
    }

    /// Ends a one-second interval: its figures, and it joins the recent window.
    pub fn tick(&mut self) -> Summary {
        let summary = Summary::of(&self.interval);
        let ended = std::mem::replace(&mut self.interval, Latencies::new());
        if self.recent.len() == RECENT_INTERVALS {
            self.recent.pop_front();
        }
        self.recent.push_back(ended);
        summary
    }

    /// Over the last ten intervals.
    pub fn recent(&self) -> Summary {
        let mut all = Latencies::new();
        for interval in &self.recent {
            all.add(interval);
        }
        Summary::of(&all)
    }

    /// Over the whole run.
    pub fn whole(&self) -> Summary {
        Summary::of(&self.whole)
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Samples the broker acknowledged that have not arrived: `acked` gives each sensor's
    /// acknowledged count. At the end of a run, after the grace, these are lost.
    pub fn awaited<'a>(&self, acked: impl IntoIterator<Item = (&'a str, u64)>) -> u64 {
        acked
            .into_iter()
            .map(|(id, acked)| {
                let received = self.sensors.get(id).map_or(0, |s| s.received);
                acked.saturating_sub(received)
            })
            .sum()
    }

    /// The latency of sample `sequence` of sensor `id`, µs, if it arrived and is among the
    /// newest kept.
    pub fn latency_of(&self, id: &str, sequence: u64) -> Option<u64> {
        self.sensors.get(id)?.latencies.get(&sequence).copied()
    }
}

/// What the probe reads of a telemetry payload.
struct Read {
    device_id: String,
    sequence: u64,
    timestamp_ms: i64,
}

fn read(payload: &[u8]) -> Result<Read, String> {
    let json: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let device_id = json
        .get("device_id")
        .and_then(|v| v.as_str())
        .ok_or("no \"device_id\" string")?
        .to_owned();
    let sequence = json
        .get("sequence")
        .and_then(|v| v.as_u64())
        .ok_or("no \"sequence\" number")?;
    let timestamp_ms = json
        .get("timestamp")
        .and_then(|v| v.as_str())
        .and_then(parse_rfc3339_millis)
        .ok_or("no \"timestamp\" in RFC 3339")?;
    Ok(Read {
        device_id,
        sequence,
        timestamp_ms,
    })
}

/// The subscriber's connection: a [`Link`] with its socket, and the [`Probe`] it feeds.
pub struct Subscriber {
    link: Link,
    target: Target,
    connection: Option<Connection>,
    generation: u64,
    pub probe: Probe,
    /// SUBACK answers awaited before the fleet may start, and whether they all came.
    filters: usize,
    granted: usize,
    ready: bool,
    /// A filter the broker refused.
    pub refused: Option<String>,
    /// The clock's start, for receive times in µs.
    epoch: Instant,
    /// While the connection is down: since when; and the time down in all, and how often.
    down_since: Option<u64>,
    pub down_ms: u64,
    pub drops: u64,
    /// What the subscriber said, for the runner's stderr.
    pub log: VecDeque<String>,
}

impl Subscriber {
    /// Subscribes to `topics` (each once) on its own connection to the settings' broker, as
    /// their user, with a clean session.
    pub fn new(
        settings: &Settings,
        target: Target,
        topics: Vec<String>,
        probe: Probe,
        epoch: Instant,
        now: Time,
    ) -> Self {
        let config = SessionConfig {
            clean_session: true,
            keep_alive_s: settings.keep_alive_s,
            username: settings.username.clone(),
            password: settings.password.clone(),
            max_in_flight: 16,
            ..SessionConfig::new(format!(
                "dps368-lat-{:08x}",
                crate::args::random_u64() as u32
            ))
        };
        let mut link = Link::new(
            settings.broker_url.as_str().to_owned(),
            config,
            crate::args::random_u64(),
        );
        link.start(now);
        let mut unique: Vec<String> = topics;
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(FILTERS_PER_SUBSCRIBE) {
            let filters: Vec<(&str, QoS)> = chunk
                .iter()
                .map(|t| (t.as_str(), QoS::AtLeastOnce))
                .collect();
            // A topic is a valid filter (the settings refuse wildcards in it), and a chunk
            // of 256 of them is far below a packet's limit.
            let _ = link.session().subscribe(&filters, now.mono_ms);
        }
        Self {
            link,
            target,
            connection: None,
            generation: 0,
            probe,
            filters: unique.len(),
            granted: 0,
            ready: false,
            refused: None,
            epoch,
            down_since: None,
            down_ms: 0,
            drops: 0,
            log: VecDeque::new(),
        }
    }

    /// Every filter was granted once: the fleet may start.
    pub fn ready(&self) -> bool {
        self.ready
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.link.poll_timeout()
    }

    pub fn on_timer(&mut self, now: Time, io: &mpsc::UnboundedSender<Io>) {
        self.link.on_timer(now);
        self.drain(now, None, io);
    }

    /// Does what the link wants done now (its first connection, after [`Subscriber::new`]).
    pub fn poll(&mut self, now: Time, io: &mpsc::UnboundedSender<Io>) {
        self.drain(now, None, io);
    }

    /// What its socket did.
    pub fn on_io(&mut self, report: Io, now: Time, io: &mpsc::UnboundedSender<Io>) {
        let current = |g: u64| self.connection.as_ref().is_some_and(|c| c.generation == g);
        match report {
            Io::Opened { generation, .. } if current(generation) => self.link.on_open(now),
            Io::Bytes {
                generation,
                bytes,
                at,
                ..
            } if current(generation) => {
                self.link.on_bytes(&bytes, now);
                return self.drain(now, Some(at), io);
            }
            Io::Text { generation, .. } if current(generation) => self.link.on_text_frame(),
            Io::Closed {
                generation, error, ..
            } if current(generation) => {
                if let Some(error) = error {
                    self.log.push_back(format!("latency subscriber: {error}"));
                }
                self.connection = None;
                self.link.on_closed(now);
            }
            _ => {}
        }
        self.drain(now, None, io);
    }

    /// Drains the link: its events (messages timed at `at`, when bytes arrived then), its
    /// log and what it wants done.
    fn drain(&mut self, now: Time, at: Option<Instant>, io: &mpsc::UnboundedSender<Io>) {
        let received_us = at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(self.epoch)
            .as_micros() as u64;
        loop {
            let mut handled = 0;
            while let Some(event) = self.link.poll_event(now) {
                handled += 1;
                match event {
                    Event::Connected { .. } => {
                        if let Some(since) = self.down_since.take() {
                            self.down_ms += now.mono_ms.saturating_sub(since);
                            self.log.push_back("latency subscriber: connected again; what was published meanwhile is not kept for a clean session".into());
                        }
                    }
                    Event::Subscribed(answers) => {
                        for (filter, granted) in answers {
                            if granted == Granted::Failure {
                                self.refused.get_or_insert(filter);
                            } else if !self.ready {
                                self.granted += 1;
                            }
                        }
                        self.ready |= self.granted >= self.filters;
                    }
                    Event::Message(publish) => {
                        if let Err(problem) = self.probe.on_message(&publish.payload, received_us)
                            && self.probe.counts().unreadable <= 5
                        {
                            self.log.push_back(format!(
                                "latency subscriber: {}: unreadable: {problem}",
                                publish.topic
                            ));
                        }
                    }
                    Event::Closed(_) => {
                        if self.down_since.is_none() && self.ready {
                            self.drops += 1;
                            self.down_since = Some(now.mono_ms);
                        }
                    }
                    Event::Skipped { .. }
                    | Event::Acked { .. }
                    | Event::PingSent
                    | Event::Unsubscribed(_) => {}
                }
            }
            while self.link.poll_log().is_some() {}
            while let Some(action) = self.link.poll_action() {
                match action {
                    Action::Open { .. } => {
                        self.generation += 1;
                        self.connection = Some(Connection::open(
                            self.target.clone(),
                            SUBSCRIBER,
                            self.generation,
                            io.clone(),
                        ));
                    }
                    Action::Send(bytes) => {
                        if let Some(c) = &self.connection {
                            c.send(bytes);
                        }
                    }
                    Action::Close => {
                        if let Some(c) = self.connection.take() {
                            drop(c.close());
                        }
                    }
                }
            }
            if handled == 0 {
                break;
            }
        }
    }

    /// Says goodbye (DISCONNECT): the connection's task, to wait for, and the probe.
    pub fn close(mut self, now: Time) -> (Option<tokio::task::JoinHandle<()>>, Probe) {
        if let Some(since) = self.down_since.take() {
            self.down_ms += now.mono_ms.saturating_sub(since);
        }
        self.link.close(now);
        while let Some(action) = self.link.poll_action() {
            if let (Action::Send(bytes), Some(c)) = (action, &self.connection) {
                c.send(bytes);
            }
        }
        (self.connection.take().map(Connection::close), self.probe)
    }

    /// The time the connection was down in all, so far.
    pub fn down_ms(&self, now: Time) -> u64 {
        self.down_ms
            + self
                .down_since
                .map_or(0, |since| now.mono_ms.saturating_sub(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(id: &str, sequence: u64, timestamp_ms: i64) -> Vec<u8> {
        format!(
            "{{\"timestamp\":\"{}\",\"device_id\":\"{id}\",\"sensor_type\":\"DPS368\",\"sequence\":{sequence},\"data\":{{\"pressure\":1013.25,\"temperature\":21.5}}}}",
            dps368_core::sensor::format_rfc3339_millis(timestamp_ms)
        )
        .into_bytes()
    }

    const ORIGIN: i64 = 1_780_000_000_000;

    fn started(ids: &[&str]) -> Probe {
        let mut probe = Probe::new(ids.iter().copied(), 100);
        probe.started(
            Time {
                mono_ms: 5_000,
                wall_ms: ORIGIN,
            },
            ORIGIN,
        );
        probe
    }

    /// Sample k of a 10 ms grid arrives `latency(k)` µs after it was due.
    fn feed(probe: &mut Probe, id: &str, n: u64, latency: impl Fn(u64) -> u64) {
        for k in 1..=n {
            let due_ms = 5_000 + (k - 1) * 10;
            let got = probe
                .on_message(
                    &payload(id, k, ORIGIN + (k as i64 - 1) * 10),
                    due_ms * 1000 + latency(k),
                )
                .unwrap();
            assert_eq!(got, Some(latency(k)), "sample {k}");
        }
    }

    /// The exact value at quantile q of 1..=n (the smallest with at least q of them at or
    /// below it).
    fn exact(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    fn within_a_thousandth(got: u64, want: u64) {
        let error = got.abs_diff(want) as f64 / want.max(1) as f64;
        assert!(error <= 0.001, "got {got}, want {want}");
    }

    #[test]
    fn percentiles_of_a_uniform_distribution_are_within_a_thousandth() {
        let mut probe = started(&["a"]);
        // 1 ms .. 100 ms in 10 µs steps, shuffled by a multiplicative step.
        let n = 9_901u64;
        let value = |k: u64| 1_000 + ((k * 7_919) % n) * 10;
        feed(&mut probe, "a", n, value);
        let mut sorted: Vec<u64> = (1..=n).map(value).collect();
        sorted.sort();
        let s = probe.whole();
        assert_eq!(s.count, n);
        within_a_thousandth(s.p50, exact(&sorted, 0.5));
        within_a_thousandth(s.p90, exact(&sorted, 0.9));
        within_a_thousandth(s.p99, exact(&sorted, 0.99));
        within_a_thousandth(s.p999, exact(&sorted, 0.999));
        assert_eq!(s.max, 100_000);
        assert!((49_000..=51_000).contains(&s.p50), "{s:?}");
    }

    #[test]
    fn a_long_tail_shows_in_the_high_percentiles_only() {
        let mut probe = started(&["a"]);
        // 990 samples at 2 ms, 9 at 40 ms, one at 3 s.
        let value = |k: u64| match k {
            1000 => 3_000_000,
            991..=999 => 40_000,
            _ => 2_000,
        };
        feed(&mut probe, "a", 1000, value);
        let s = probe.whole();
        within_a_thousandth(s.p50, 2_000);
        within_a_thousandth(s.p90, 2_000);
        within_a_thousandth(s.p99, 2_000);
        within_a_thousandth(s.p999, 40_000);
        assert_eq!(s.max, 3_000_000);
        assert_eq!(
            s.json(),
            format!(
                "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":3000.000,\"count\":1000}}",
                millis(s.p50),
                millis(s.p90),
                millis(s.p99),
                millis(s.p999)
            )
        );
    }

    #[test]
    fn the_due_time_is_the_stamp_not_the_arrival_order() {
        // A sample held back 2 s (a dead link) and delivered with the next is charged 2 s.
        let mut probe = started(&["a"]);
        let stamp = ORIGIN + 1_000;
        let got = probe
            .on_message(&payload("a", 1, stamp), (5_000 + 3_000) * 1000 + 250)
            .unwrap();
        assert_eq!(got, Some(2_000_250));
    }

    #[test]
    fn duplicates_foreign_and_unreadable_messages_are_counted_not_timed() {
        let mut probe = started(&["a", "b"]);
        feed(&mut probe, "a", 3, |_| 1_000);
        assert_eq!(
            probe.on_message(&payload("a", 2, ORIGIN), 9_000_000),
            Ok(None)
        );
        assert_eq!(
            probe.on_message(&payload("z", 1, ORIGIN), 9_000_000),
            Ok(None)
        );
        assert!(
            probe
                .on_message(b"{\"device_id\":\"a\"}", 9_000_000)
                .is_err()
        );
        assert!(probe.on_message(b"nonsense", 9_000_000).is_err());
        let c = probe.counts();
        assert_eq!(
            (c.received, c.duplicates, c.foreign, c.unreadable),
            (3, 1, 1, 2)
        );
        assert_eq!(probe.whole().count, 3);
    }

    #[test]
    fn an_acknowledged_sample_that_never_arrives_is_awaited() {
        let mut probe = started(&["a", "b"]);
        feed(&mut probe, "a", 5, |_| 1_000);
        // Sample 3 of b is missing: out of order arrivals of the rest still count once each.
        for k in [1, 2, 5, 4, 4] {
            let _ = probe.on_message(&payload("b", k, ORIGIN + (k as i64 - 1) * 10), 9_000_000);
        }
        assert_eq!(probe.awaited([("a", 5), ("b", 5)]), 1);
        assert_eq!(probe.counts().duplicates, 1);
        assert_eq!(probe.latency_of("b", 3), None);
        assert_eq!(probe.latency_of("a", 2), Some(1_000));
    }

    #[test]
    fn a_sample_arriving_before_its_stamp_counts_as_early_and_zero() {
        let mut probe = started(&["a"]);
        let got = probe
            .on_message(&payload("a", 1, ORIGIN + 10_000), 5_000 * 1000)
            .unwrap();
        assert_eq!(got, Some(0));
        assert_eq!(probe.counts().early, 1);
    }

    #[test]
    fn the_interval_and_the_recent_window_forget_what_is_older() {
        let mut probe = started(&["a"]);
        feed(&mut probe, "a", 100, |_| 50_000);
        assert_eq!(probe.tick().count, 100);
        for _ in 0..RECENT_INTERVALS - 1 {
            assert_eq!(probe.tick().count, 0);
        }
        assert_eq!(probe.recent().count, 100);
        assert_eq!(probe.tick().count, 0);
        assert_eq!(probe.recent().count, 0, "older than ten intervals");
        assert_eq!(probe.whole().count, 100);
        assert_eq!(
            probe.recent().json(),
            "{\"p50\":null,\"p90\":null,\"p99\":null,\"p999\":null,\"max\":null,\"count\":0}"
        );
    }

    #[test]
    fn the_export_keeps_the_newest_latencies_of_each_sensor() {
        let mut probe = Probe::new(["a"], 3);
        probe.started(
            Time {
                mono_ms: 0,
                wall_ms: ORIGIN,
            },
            ORIGIN,
        );
        for k in 1..=5u64 {
            let _ = probe.on_message(&payload("a", k, ORIGIN), k * 1_000);
        }
        assert_eq!(probe.latency_of("a", 2), None);
        assert_eq!(probe.latency_of("a", 5), Some(5_000));
    }

    #[test]
    fn a_gap_the_publisher_left_does_not_grow_the_memory() {
        let mut a = Arrivals {
            next: 1,
            ..Arrivals::default()
        };
        // Sample 1 never comes (dropped at the source).
        for k in 2..(SEEN_LIMIT as u64 + 10) {
            assert!(a.first(k));
        }
        assert!(a.seen.len() <= SEEN_LIMIT);
        assert!(!a.first(5), "a duplicate is still known");
    }
}
