//! Latency, publish to subscriber: every sample timed from the moment it was due to the moment
//! a subscriber of the runner's own received it, on the runner's monotonic clock.
//!
//! A sample's due time is its scheduled time, which its payload carries: it is stamped
//! `origin + t`, where `t` is when it fell due after Start on the fleet's schedule and `origin`
//! the Start time (the `start` setting, else the wall clock at Start). So a sample held back by
//! a full in-flight window, a full queue or a dead connection is charged for the wait (no
//! coordinated omission), and nothing of the publisher's own bookkeeping is trusted. At max
//! rate (interval 0) a sample is due when it is made, which is when the window has room: there
//! the wait for the window is not charged. The schedule follows the larger of the monotonic
//! and the wall clock's time since Start; when the wall clock gets ahead, samples fall due
//! that much sooner on the monotonic clock, and the probe follows the lead it has seen.
//! Anyone who may publish on the fleet's topics can skew the figures (the broker's ACL is the
//! guard); what is not the fleet's own after Start is counted apart, never timed.
//!
//! [`Probe`] is the arithmetic (payloads and receive times in, percentiles out). [`Subscriber`]
//! is its connection, sans-IO like every other: one [`Link`] with a clean session, subscribed
//! at QoS 1 to the topics the fleet publishes ([`filters`]); the fleet starts once every
//! subscription is granted. The page and the native runner carry out its [`Action`]s.

pub mod histogram;

use std::collections::VecDeque;

pub use histogram::{Histogram, LogLinear};

use crate::device::Time;
use crate::link::{Action, Link};
use crate::mqtt::{Granted, QoS};
use crate::sensor::{parse_rfc3339_millis, push_json_string};
use crate::session::{Event, SessionConfig};
use crate::settings::Settings;

/// The wall clock's leads over the monotonic clock remembered (a drifting clock makes a step a
/// millisecond at a time); past it, the last lead holds.
const MAX_LEADS: usize = 10_000;
/// The recent window: this many intervals (a second each).
pub const RECENT_INTERVALS: usize = 10;
/// Sequence numbers told apart above a sensor's lowest not yet received: a sample arriving
/// later than this many of its successors is taken for a duplicate, and a gap the publisher
/// left (a dropped sample) is given up once they have come.
pub const SEEN_WINDOW: u64 = 1024;

/// Up to this many topics are subscribed one by one; a larger fleet's one filter.
pub const EXACT_TOPICS: usize = 256;

/// What the subscriber subscribes to for a fleet whose topics are `topics`, made from the Topic
/// setting `template`: each topic once (a fleet's topics are each sensor's own, or all one).
/// Past [`EXACT_TOPICS`], with `{device_id}` a whole level of the template, that level a `+`
/// instead, when it matches every topic (an id with a `/`, or a `$` first, would not): one
/// filter for any fleet, other devices' telemetry counted as not the run's.
pub fn filters(template: &str, mut topics: Vec<String>) -> Vec<String> {
    topics.dedup();
    if topics.len() <= EXACT_TOPICS {
        return topics;
    }
    let placeholder = crate::settings::DEVICE_ID_PLACEHOLDER;
    let levels: Vec<&str> = template.split('/').collect();
    let whole = levels.iter().filter(|l| **l == placeholder).count();
    if whole == 0 || whole != template.matches(placeholder).count() {
        return topics;
    }
    let wild: Vec<&str> = levels
        .iter()
        .map(|l| if *l == placeholder { "+" } else { l })
        .collect();
    let wild = wild.join("/");
    match topics.iter().all(|t| crate::mqtt::matches(&wild, t)) {
        true => vec![wild],
        false => topics,
    }
}

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
    fn of<H: Histogram>(latencies: &Latencies<H>) -> Self {
        let (histogram, max) = (&latencies.histogram, latencies.max);
        // A bucket's highest equivalent value, but never past the largest value recorded.
        let at = |q: f64| histogram.value_at_quantile(q).min(max);
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max,
            count: histogram.count(),
        }
    }

    /// `{"p50":…,"p90":…,"p99":…,"p999":…,"max":…,"count":…}`, milliseconds to the µs
    /// (`null` figures when nothing was received).
    pub fn json(&self) -> String {
        let ms = |us: u64| match self.count {
            0 => "null".to_owned(),
            _ => millis(us),
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

    /// `p50 1.234 ms  p99 5.678 ms` for a status line, `latency -` before any arrived.
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

/// The latency chart's drawing: this wide and high in its own units.
const CHART_W: u64 = 320;
const CHART_H: u64 = 120;
const CHART_TOP: u64 = 16;
/// Intervals the chart shows, the newest at the right.
pub const CHART_INTERVALS: usize = 120;

/// A small SVG of each interval's p50 and p99 (µs), oldest first, up to the largest p99
/// shown; integer coordinates, no float printing.
/// A second without arrivals (`None`) breaks the lines: a stall shows as a gap.
pub fn chart_svg(series: &VecDeque<Option<(u64, u64)>>) -> String {
    let top = series
        .iter()
        .flatten()
        .map(|&(_, p99)| p99)
        .max()
        .unwrap_or(0)
        .max(1000);
    let plot_h = CHART_H - CHART_TOP - 4;
    let line = |pick: fn(&(u64, u64)) -> u64| {
        let mut path = String::new();
        let step = CHART_W / CHART_INTERVALS as u64;
        let first = CHART_INTERVALS.saturating_sub(series.len()) as u64;
        let mut drawing = false;
        for (i, v) in series.iter().enumerate() {
            let Some(v) = v else {
                drawing = false;
                continue;
            };
            let x = (first + i as u64) * step;
            let y = CHART_H - 4 - pick(v).min(top) * plot_h / top;
            path.push_str(&format!("{}{x},{y} ", if drawing { "L" } else { "M" }));
            drawing = true;
        }
        path
    };
    format!(
        "<svg viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-label=\"Latency p50 and p99 each second, the last {} s, up to {} ms\">\
<text x=\"0\" y=\"11\" class=\"axis\">{} ms</text>\
<line x1=\"0\" y1=\"{b}\" x2=\"{CHART_W}\" y2=\"{b}\" class=\"frame\"/>\
<path class=\"t\" d=\"{}\"/><path class=\"p\" d=\"{}\"/></svg>",
        series.len(),
        millis(top),
        millis(top),
        line(|v| v.1),
        line(|v| v.0),
        b = CHART_H - 4,
    )
}

/// What the subscriber received.
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
    /// Arrived before it was due (the wall clock moved ahead of the monotonic one): timed 0.
    pub early: u64,
    /// By how much the earliest of those came before its due time, µs.
    pub earliest_us: u64,
}

impl Counts {
    /// What came beside the run's first arrivals, in words, if anything did.
    pub fn others_words(&self) -> Option<String> {
        (self.duplicates + self.foreign + self.unreadable + self.early > 0).then(|| {
            format!(
                "also {} duplicate(s), {} not this run's (other devices, or from before its start), {} unreadable, {} before their due time (by up to {} ms) timed 0",
                self.duplicates,
                self.foreign,
                self.unreadable,
                self.early,
                millis(self.earliest_us)
            )
        })
    }
}

/// Loudly, the acknowledged samples the subscriber never got, if any, and why: a broker fault
/// when it stayed connected, a clean session's gap when its connection dropped (`drops` times,
/// `down_ms` in all).
pub fn lost_words(lost: u64, down_ms: u64, drops: u64) -> Option<String> {
    let why = if drops > 0 {
        format!(
            "the subscriber's connection dropped {drops} time(s), {}.{} s down in all, and a clean session keeps nothing meanwhile",
            down_ms / 1000,
            down_ms % 1000 / 100
        )
    } else {
        "the subscriber stayed connected: the broker acknowledged them and did not deliver them, a broker fault; a broker drops what a subscriber falls behind by past its queue limit (mosquitto: max_queued_messages, 1000 by default)".into()
    };
    (lost > 0)
        .then(|| format!("{lost} acknowledged sample(s) NEVER reached the subscriber ({why})"))
}

/// A histogram and the largest value exactly (a histogram's own is its bucket's highest).
#[derive(Debug, Clone)]
struct Latencies<H> {
    histogram: H,
    max: u64,
}

impl<H: Histogram> Latencies<H> {
    fn new() -> Self {
        Self {
            histogram: H::empty(),
            max: 0,
        }
    }

    fn record(&mut self, us: u64) {
        self.histogram.record(us);
        self.max = self.max.max(us);
    }
}

/// One sensor's arrivals: which sequence numbers came, and the latency of the newest.
#[derive(Debug)]
struct Arrivals {
    /// The lowest sequence number not yet received (every one below came, or was given up).
    next: u64,
    /// Which of `next .. next + SEEN_WINDOW` came, a bit each, by `sequence % SEEN_WINDOW`.
    seen: [u64; (SEEN_WINDOW / 64) as usize],
    received: u64,
    /// (sequence, latency µs) for the export, sample k in slot `k % keep`: the newest `keep`
    /// arrivals, mostly.
    latencies: Vec<(u64, u64)>,
}

impl Arrivals {
    fn new() -> Self {
        Self {
            next: 1,
            seen: [0; (SEEN_WINDOW / 64) as usize],
            received: 0,
            latencies: Vec::new(),
        }
    }

    fn bit(sequence: u64) -> (usize, u64) {
        let i = sequence % SEEN_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn has(&self, sequence: u64) -> bool {
        let (word, mask) = Self::bit(sequence);
        self.seen[word] & mask != 0
    }

    fn set(&mut self, sequence: u64, on: bool) {
        let (word, mask) = Self::bit(sequence);
        match on {
            true => self.seen[word] |= mask,
            false => self.seen[word] &= !mask,
        }
    }

    /// Whether `sequence` arrives for the first time (and notes it).
    fn first(&mut self, sequence: u64) -> bool {
        // Sequence numbers count from 1; the last few of u64 are never reached, and refused so
        // that nothing here overflows.
        if sequence < self.next || sequence == 0 || sequence > u64::MAX - 2 * SEEN_WINDOW {
            return false;
        }
        if sequence >= self.next + SEEN_WINDOW {
            // The oldest gaps are given up: the window moves to end at `sequence`.
            let next = sequence + 1 - SEEN_WINDOW;
            for old in self.next..next.min(self.next + SEEN_WINDOW) {
                self.set(old, false);
            }
            self.next = next;
        }
        if self.has(sequence) {
            return false;
        }
        self.set(sequence, true);
        while self.has(self.next) {
            self.set(self.next, false);
            self.next += 1;
        }
        true
    }
}

/// Times the fleet's samples as they arrive (see the module's text).
#[derive(Debug)]
pub struct Probe<H: Histogram = LogLinear> {
    /// The fleet's Start on the monotonic clock (ms), and the stamp of what fell due then;
    /// the wall clock at Start, and how far it has been seen ahead of the monotonic clock
    /// since (ms, never less than 0: the schedule follows the larger).
    start: Option<Time>,
    origin_ms: i64,
    lead_ms: i64,
    /// (t after Start, lead): from a sample due `t` after Start on, the lead it was made under
    /// (the schedule's ratchet applies a lead from when it came, not before).
    leads: Vec<(i64, i64)>,
    /// Each sensor by its id as its payload writes it (JSON-escaped), in fleet order; the
    /// next message is usually the next sensor's (a fleet publishes in that order).
    sensors: Vec<(String, Arrivals)>,
    cursor: usize,
    /// Natively, fleets of 100,000: an index by id (the page's are at most 1,000, scanned).
    #[cfg(not(target_arch = "wasm32"))]
    index: std::collections::HashMap<String, usize>,
    whole: Latencies<H>,
    interval: Latencies<H>,
    recent: VecDeque<Latencies<H>>,
    counts: Counts,
    /// Latencies kept per sensor for the export.
    keep: usize,
}

/// A device id as a payload writes it, without the quotes.
fn escaped(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 2);
    push_json_string(&mut out, id);
    out.pop();
    out.remove(0);
    out
}

impl<H: Histogram> Probe<H> {
    /// A probe for the sensors `ids`, keeping the latency of the newest `keep` samples of
    /// each for the export.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>, keep: usize) -> Self {
        let sensors: Vec<(String, Arrivals)> = ids
            .into_iter()
            .map(|id| (escaped(id), Arrivals::new()))
            .collect();
        Self {
            start: None,
            origin_ms: 0,
            lead_ms: 0,
            leads: Vec::new(),
            #[cfg(not(target_arch = "wasm32"))]
            index: sensors
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (id.clone(), i))
                .collect(),
            sensors,
            cursor: 0,
            whole: Latencies::new(),
            interval: Latencies::new(),
            recent: VecDeque::new(),
            counts: Counts::default(),
            keep: keep.max(1),
        }
    }

    /// The fleet started at `start`, stamping what falls due `t` after it `origin_ms + t`.
    pub fn started(&mut self, start: Time, origin_ms: i64) {
        self.start = Some(start);
        self.origin_ms = origin_ms;
    }

    /// A message the subscriber received at `received_us` on the monotonic clock of
    /// [`Time::mono_ms`], in µs, `now` being about then: its latency when it is a first
    /// arrival of the fleet's. Before Start, or stamped before it, a message is not the run's
    /// (counted as foreign).
    pub fn on_message(
        &mut self,
        payload: &[u8],
        received_us: u64,
        now: Time,
    ) -> Result<Option<u64>, &'static str> {
        let Some(read) = read(payload) else {
            self.counts.unreadable += 1;
            return Err("not the simulator's telemetry (device_id, sequence, timestamp)");
        };
        let found = self.find(read.device_id);
        let (Some(at), Some(start)) = (found, self.start) else {
            self.counts.foreign += 1;
            return Ok(None);
        };
        if read.timestamp_ms < self.origin_ms {
            self.counts.foreign += 1;
            return Ok(None);
        }
        let wall_elapsed = now.wall_ms.saturating_sub(start.wall_ms);
        let mono_elapsed = now.mono_ms.saturating_sub(start.mono_ms) as i64;
        let lead = wall_elapsed.saturating_sub(mono_elapsed);
        if lead > self.lead_ms && self.leads.len() < MAX_LEADS {
            // What fell due from the schedule's time before this lead on was made under it.
            self.leads
                .push((mono_elapsed.saturating_add(self.lead_ms), lead));
            self.lead_ms = lead;
        }
        let t = read.timestamp_ms - self.origin_ms;
        let step = self.leads.partition_point(|&(from, _)| from <= t);
        let lead = step.checked_sub(1).map_or(0, |i| self.leads[i].1);
        self.cursor = at + 1;
        let sensor = &mut self.sensors[at].1;
        if !sensor.first(read.sequence) {
            self.counts.duplicates += 1;
            return Ok(None);
        }
        // Stamped `origin + t`, due `t` after Start on the schedule, which the wall clock's
        // lead brings forward on the monotonic clock. (Years of ms in µs: far from overflow.)
        let due_ms = (start.mono_ms as i64)
            .saturating_add(t)
            .saturating_sub(lead);
        let latency = (received_us as i64).saturating_sub(due_ms.saturating_mul(1000));
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
        if sensor.latencies.is_empty() {
            sensor.latencies = vec![(0, 0); self.keep];
        }
        sensor.latencies[(read.sequence % self.keep as u64) as usize] = (read.sequence, latency);
        self.counts.received += 1;
        Ok(Some(latency))
    }

    /// Where sensor `id` (escaped) is: the one after the last is tried first.
    fn find(&self, id: &str) -> Option<usize> {
        if let Some((known, _)) = self.sensors.get(self.cursor)
            && known == id
        {
            return Some(self.cursor);
        }
        #[cfg(not(target_arch = "wasm32"))]
        return self.index.get(id).copied();
        #[cfg(target_arch = "wasm32")]
        self.sensors.iter().position(|(known, _)| known == id)
    }

    /// Ends an interval: its figures, and it joins the recent window.
    pub fn tick(&mut self) -> Summary {
        let summary = Summary::of(&self.interval);
        let ended = std::mem::replace(&mut self.interval, Latencies::new());
        if self.recent.len() == RECENT_INTERVALS {
            self.recent.pop_front();
        }
        self.recent.push_back(ended);
        summary
    }

    /// Over the last [`RECENT_INTERVALS`] intervals.
    pub fn recent(&self) -> Summary {
        let mut all = Latencies::<H>::new();
        for interval in &self.recent {
            all.histogram.add(&interval.histogram);
            all.max = all.max.max(interval.max);
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

    /// [`Probe::awaited`] of each of `fleet`'s sensors, for a probe made for that fleet
    /// ([`Subscriber::for_fleet`]): its sensors are the fleet's in the fleet's order, so each
    /// is taken by its place, not looked up by its id (this runs at every redraw, and every
    /// 100 ms of the runner's grace, over up to 100,000 sensors).
    pub fn awaited_in(&self, fleet: &crate::fleet::Fleet) -> u64 {
        let acked = fleet.connections().iter().flat_map(|device| {
            (0..device.sources().len()).map(|index| device.source_counters(index).acked)
        });
        acked
            .zip(&self.sensors)
            .map(|(acked, (_, sensor))| acked.saturating_sub(sensor.received))
            .sum()
    }

    /// Samples the broker acknowledged that have not arrived: `acked` gives each sensor's id
    /// and acknowledged count. At the end of a run, after a grace, these are lost.
    pub fn awaited<'a>(&self, acked: impl IntoIterator<Item = (&'a str, u64)>) -> u64 {
        acked
            .into_iter()
            .map(|(id, acked)| {
                let received = self
                    .find(&escaped(id))
                    .map_or(0, |at| self.sensors[at].1.received);
                acked.saturating_sub(received)
            })
            .sum()
    }

    /// The latency of sample `sequence` of sensor `id`, µs, if it arrived and is among the
    /// newest kept.
    pub fn latency_of(&self, id: &str, sequence: u64) -> Option<u64> {
        let latencies = &self.sensors[self.find(&escaped(id))?].1.latencies;
        let (kept, us) = *latencies.get((sequence % self.keep as u64) as usize)?;
        (kept == sequence).then_some(us)
    }
}

/// What the probe reads of a telemetry payload: the device id as written (escaped).
struct Read<'a> {
    device_id: &'a str,
    sequence: u64,
    timestamp_ms: i64,
}

/// The text after `key` in `payload`.
fn after<'a>(payload: &'a str, key: &str) -> Option<&'a str> {
    payload.find(key).map(|at| &payload[at + key.len()..])
}

/// Reads the three fields the simulator's payloads write, by their keys: a fast scan, not a
/// JSON parser (the probe reads only its own fleet's telemetry; anything else is unreadable
/// or foreign).
fn read(payload: &[u8]) -> Option<Read<'_>> {
    let text = std::str::from_utf8(payload).ok()?;
    let id = after(text, "\"device_id\":\"")?;
    // The closing quote: one not escaped (an escaped backslash before it does not count).
    let mut end = None;
    let mut backslash = false;
    for (i, c) in id.char_indices() {
        match c {
            '\\' => backslash = !backslash,
            '"' if !backslash => {
                end = Some(i);
                break;
            }
            _ => backslash = false,
        }
    }
    let device_id = &id[..end?];
    let sequence = after(text, "\"sequence\":")?;
    let digits = sequence.bytes().take_while(u8::is_ascii_digit).count();
    let sequence = sequence[..digits].parse().ok()?;
    let stamp = after(text, "\"timestamp\":\"")?;
    let timestamp_ms = parse_rfc3339_millis(&stamp[..stamp.find('"')?])?;
    Some(Read {
        device_id,
        sequence,
        timestamp_ms,
    })
}

/// The subscriber's connection: a [`Link`] subscribed to the fleet's topics, feeding its
/// [`Probe`]. Drained after every input, never re-entered.
#[derive(Debug)]
pub struct Subscriber<H: Histogram = LogLinear> {
    link: Link,
    pub probe: Probe<H>,
    /// Subscriptions asked for, granted the first time, and whether all were.
    filters: usize,
    granted: usize,
    ready: bool,
    refused: Option<String>,
    /// While the connection is down after it was ready: since when (monotonic ms); the time
    /// down before, and how often it went down.
    down_since: Option<u64>,
    down_ms: u64,
    drops: u64,
    log: VecDeque<String>,
}

impl<H: Histogram> Subscriber<H> {
    /// A subscriber for `fleet`'s sensors (see [`Subscriber::new`]), keeping as many of their
    /// latencies for the export as the fleet keeps samples.
    pub fn for_fleet(
        settings: &Settings,
        fleet: &crate::fleet::Fleet,
        client_id: String,
        seed: u64,
        now: Time,
    ) -> Self {
        let mut topics = vec![];
        let mut ids = vec![];
        for device in fleet.connections() {
            for source in device.sources() {
                topics.push(source.topic.clone());
                ids.push(source.device_id.as_str());
            }
        }
        let keep = crate::device::HISTORY_LIMIT / ids.len().max(1);
        let probe = Probe::new(ids, keep);
        Self::new(settings, topics, probe, client_id, seed, now)
    }

    /// Subscribes (once connected) to `topics`, each once, as the settings' user, with a
    /// clean session and client id `client_id`. `seed` drives the retry jitter.
    pub fn new(
        settings: &Settings,
        topics: Vec<String>,
        probe: Probe<H>,
        client_id: String,
        seed: u64,
        now: Time,
    ) -> Self {
        let config = SessionConfig {
            clean_session: true,
            keep_alive_s: settings.keep_alive_s,
            username: settings.username.clone(),
            password: settings.password.clone(),
            max_in_flight: 16,
            ..SessionConfig::new(client_id)
        };
        let mut link = Link::new(settings.broker_url.as_str().to_owned(), config, seed);
        link.start(now);
        for filter in filters(&settings.topic_template, topics) {
            // A topic is a valid filter (the settings refuse wildcards in it), and so is one
            // with a level made `+`. The session asks for each in a SUBSCRIBE of its own.
            let _ = link
                .session()
                .subscribe(&[(filter.as_str(), QoS::AtLeastOnce)], now.mono_ms);
        }
        let filters = link.session().subscriptions().len();
        Self {
            link,
            probe,
            filters,
            granted: 0,
            ready: false,
            refused: None,
            down_since: None,
            down_ms: 0,
            drops: 0,
            log: VecDeque::new(),
        }
    }

    /// Every subscription was granted: the fleet may start.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// A filter the broker refused (said once): nothing can be timed.
    pub fn take_refused(&mut self) -> Option<String> {
        self.refused.take()
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.link.poll_timeout()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.link.poll_action()
    }

    /// What the subscriber has to say (reconnections, unreadable messages), for a log.
    pub fn poll_log(&mut self) -> Option<String> {
        self.log.pop_front()
    }

    pub fn on_open(&mut self, now: Time) {
        self.link.on_open(now);
        self.drain(now, 0);
    }

    /// Bytes that arrived at `received_us` (the clock of [`Time::mono_ms`], in µs).
    pub fn on_bytes(&mut self, bytes: &[u8], received_us: u64, now: Time) {
        self.link.on_bytes(bytes, now);
        self.drain(now, received_us);
    }

    pub fn on_text_frame(&mut self, now: Time) {
        self.link.on_text_frame();
        self.drain(now, 0);
    }

    pub fn on_closed(&mut self, now: Time) {
        self.link.on_closed(now);
        self.drain(now, 0);
    }

    pub fn on_timer(&mut self, now: Time) {
        self.link.on_timer(now);
        self.drain(now, 0);
    }

    /// Handles the link's events: messages are timed at `received_us`.
    fn drain(&mut self, now: Time, received_us: u64) {
        while let Some(event) = self.link.poll_event(now) {
            match event {
                Event::Connected { .. } => {
                    // Granted on this connection, or not at all.
                    if !self.ready {
                        self.granted = 0;
                    }
                    if let Some(since) = self.down_since.take() {
                        self.down_ms += now.mono_ms.saturating_sub(since);
                        self.log.push_back("latency subscriber: connected again; what was published meanwhile is not kept for a clean session".into());
                    }
                }
                Event::Subscribed(answers) => {
                    for (filter, granted) in answers {
                        match granted {
                            Granted::Qos(QoS::AtLeastOnce) | Granted::Qos2 => {
                                self.granted += usize::from(!self.ready);
                            }
                            // Before the fleet starts, fatal: nothing could be timed (at QoS 0
                            // a loss would be the subscriber's). After, said; the figures go on
                            // with what still arrives.
                            refused if !self.ready => {
                                self.refused
                                    .get_or_insert(format!("{filter} ({})", refused.words()));
                            }
                            refused => self.log.push_back(format!(
                                "latency subscriber: {filter}: {} on a reconnection",
                                refused.words()
                            )),
                        }
                    }
                    self.ready |= self.granted >= self.filters;
                }
                Event::Message(publish) => {
                    if let Err(problem) = self.probe.on_message(&publish.payload, received_us, now)
                        && self.probe.counts.unreadable <= 5
                    {
                        self.log
                            .push_back(format!("latency subscriber: {}: {problem}", publish.topic));
                    }
                }
                Event::Closed(_) if self.ready && self.down_since.is_none() => {
                    self.drops += 1;
                    self.down_since = Some(now.mono_ms);
                }
                Event::Closed(_)
                | Event::Skipped { .. }
                | Event::Acked { .. }
                | Event::PingSent
                | Event::Unsubscribed(_) => {}
            }
        }
        // Until subscribed, why it cannot connect; after, the link's lines (each retry) would
        // repeat the fleet's: a drop is counted, and the reconnection said above.
        while let Some(entry) = self.link.poll_log() {
            if !self.ready && entry.level != crate::device::LogLevel::Info {
                self.log
                    .push_back(format!("latency subscriber: {}", entry.text));
            }
        }
    }

    /// Says goodbye: DISCONNECT, then close (see [`Subscriber::poll_action`]).
    pub fn close(&mut self, now: Time) {
        if let Some(since) = self.down_since.take() {
            self.down_ms += now.mono_ms.saturating_sub(since);
        }
        self.link.close(now);
    }

    /// The time the connection was down after it was ready, ms, and how often it went down.
    pub fn down(&self, now: Time) -> (u64, u64) {
        let down = self.down_ms
            + self
                .down_since
                .map_or(0, |since| now.mono_ms.saturating_sub(since));
        (down, self.drops)
    }
}

#[cfg(test)]
mod tests;
