//! The monitor: what a subscriber to the simulator's topics sees, and a live scoreboard of a
//! detector's verdicts against the ground truth. Pure, like the device: the page hands it each
//! message with the wall-clock time and drains what the built-in detector wants published;
//! it renders its table and scoreboard as HTML strings, at the page's pace, not per message.
//!
//! Three streams, told apart by the filters they match (a topic matching several is taken by
//! the first, in this order):
//! - telemetry (`device/+/telemetry`): any publisher of the simulator's schema, blind or not;
//!   the device is the payload's `device_id`;
//! - labels (`device/+/labels`): each event's ground truth, as blind mode publishes it;
//! - verdicts (`device/+/verdict`): `{"sequence":N,"anomaly":true,"score":0.93}`, the device
//!   being the level the filter's `+` matched. A sample with no verdict is not flagged; the
//!   last verdict on a sample wins.

mod settings;
mod stream;
#[cfg(test)]
mod tests;
mod view;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use serde_json::Value;

pub use settings::{MAX_TOLERANCE, MonitorError, MonitorField, MonitorForm, MonitorSettings};
pub use stream::{Arrival, Reading, Stream};

use crate::detect::Baseline;
use crate::link::Tag;
use crate::mqtt::matches;
use crate::score::{self, Rows, Score};
use crate::sensor::{AnomalyKind, Label, Sample, parse_rfc3339_millis};
use crate::session::{PublishError, Session};
use crate::watch::{CHART_SAMPLES, Point};

/// Devices the monitor keeps apart; messages about more are counted and ignored. With the
/// stream's tracked numbers and the chart, a device costs at most about 60 KB.
pub const MAX_DEVICES: usize = 2_000;
/// The longest device id kept: a verdict's topic carries it.
pub const MAX_ID_BYTES: usize = 256;
/// Events (labels) and flagged samples kept, per device and over all devices; past these,
/// more are counted and ignored, so no publisher can grow the page's memory without bound (a
/// detector flagging every sample of one device at 10 Hz reaches the flag limit after 28
/// hours).
pub const EVENTS_PER_DEVICE: usize = 100_000;
pub const FLAGS_PER_DEVICE: usize = 1_000_000;
pub const EVENTS_TOTAL: usize = 200_000;
pub const FLAGS_TOTAL: usize = 2_000_000;
/// Labels about a device no telemetry came from yet (a dropout at a run's very start is
/// labelled before its first sample arrives), kept until it does.
pub const PENDING_LABELS: usize = 1_000;
/// Separate runs of received samples kept per device (a gap starts a new one); samples that
/// would start more are counted as ignored and not scored.
pub const ROW_RANGES_PER_DEVICE: usize = 100_000;
/// Labels kept per device between two of its samples, for a restart (see `recent_labels`).
const RECENT_LABELS: usize = 64;
/// Built-in verdicts waiting to be published; beyond this the oldest are dropped, counted.
pub const OUTBOX_LIMIT: usize = 10_000;

/// One device as the monitor knows it.
#[derive(Debug, Clone, Default)]
pub struct DeviceView {
    pub stream: Stream,
    /// Its runs seen to start again from sequence 1 (a restarted simulator).
    pub restarts: u64,
    /// The ground truth received, by anomaly id.
    pub events: BTreeMap<u64, score::Event>,
    /// Sequence numbers a detector flagged.
    pub flagged: BTreeSet<u64>,
    /// The samples received, each once: NAB's rows.
    pub rows: Rows,
    /// Its score at the tolerance, until its samples, labels or verdicts change: a redraw
    /// rescores only the devices that changed.
    cache: RefCell<Option<Rc<Score>>>,
    /// Verdict messages received.
    pub verdicts: u64,
    /// The newest samples for the chart, oldest first, gaps as unreported points.
    pub points: VecDeque<Point>,
    /// The run's sample 1, to tell a restart from a redelivered sample 1.
    first: Option<Reading>,
    /// Labels received since its last sample, with their start: a restarted run's first
    /// labels can come before its first sample (a spike at sample 1, labelled while the
    /// sample waited in the simulator's queue), and must not go with the old run.
    recent_labels: Vec<(score::Event, Option<i64>)>,
    /// Its telemetry carries sequence numbers; without them (the seed program's payload)
    /// samples are numbered as they arrive, and gaps, duplicates and order cannot be known.
    pub sequenced: bool,
    detector: Baseline,
}

impl DeviceView {
    /// Its score, worked out again only when something changed since the last call.
    pub fn score(&self, tolerance: u64) -> Rc<Score> {
        if let Some(score) = self.cache.borrow().as_ref() {
            return Rc::clone(score);
        }
        let events: Vec<score::Event> = self.events.values().copied().collect();
        let score = Rc::new(score::score(&self.rows, &events, &self.flagged, tolerance));
        *self.cache.borrow_mut() = Some(Rc::clone(&score));
        score
    }

    /// Forgets the score: its samples, labels or verdicts changed.
    fn touched(&mut self) {
        *self.cache.get_mut() = None;
    }

    /// Counts a received sample as a row; false when the rows are full.
    fn add_row(&mut self, sequence: u64) -> bool {
        if self.rows.ranges() >= ROW_RANGES_PER_DEVICE && !self.rows.contains(sequence) {
            // Only a sample that extends a run may still come in.
            let extends = self.rows.contains(sequence.wrapping_sub(1))
                || self.rows.contains(sequence.wrapping_add(1));
            if !extends {
                return false;
            }
        }
        if self.rows.insert(sequence) {
            self.touched();
        }
        true
    }

    /// Draws a sample on the chart, with unreported points for the sequence numbers skipped.
    fn chart(&mut self, reading: &Reading) {
        let last = self.points.back().map(|p| p.sample.sequence);
        if last.is_some_and(|last| reading.sequence <= last) {
            return; // a late or repeated sample; the chart runs forward
        }
        let from = last.map_or(reading.sequence, |l| {
            (l + 1).max(reading.sequence.saturating_sub(CHART_SAMPLES as u64))
        });
        // The sample being drawn is the newest: its event, if known yet, is among the newest.
        let label = |sequence: u64| {
            self.events
                .values()
                .rev()
                .take(8)
                .find(|e| (e.first..=e.last).contains(&sequence))
                .map(|e| Label {
                    kind: e.kind,
                    id: e.id,
                })
        };
        let mut added = vec![];
        for sequence in from..=reading.sequence {
            let sample = Sample {
                sequence,
                timestamp_ms: reading.timestamp_ms.unwrap_or(reading.arrived_ms),
                pressure_hpa: reading.pressure,
                temperature_c: reading.temperature,
                label: label(sequence),
            };
            added.push(Point {
                sample,
                reported: sequence == reading.sequence,
            });
        }
        self.points.extend(added);
        while self.points.len() > CHART_SAMPLES {
            self.points.pop_front();
        }
    }

    /// Shades an event that became known on the samples already drawn.
    fn label_points(&mut self, event: &score::Event) {
        for point in &mut self.points {
            if (event.first..=event.last).contains(&point.sample.sequence) {
                point.sample.label = Some(Label {
                    kind: event.kind,
                    id: event.id,
                });
            }
        }
    }
}

/// What the monitor counts about the messages themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub telemetry: u64,
    pub labels: u64,
    pub verdicts: u64,
    /// Messages that matched a filter but could not be read; the last reason is kept.
    pub unreadable: u64,
    pub last_problem: Option<String>,
    /// Messages not kept: telemetry about devices past [`MAX_DEVICES`], verdicts about a
    /// device no telemetry came from, labels waiting for their device past
    /// [`PENDING_LABELS`], labels and flags past the limits.
    pub ignored: u64,
    /// Built-in verdicts not published: the outbox was full, or the device id cannot be a
    /// topic level (it holds `/`, `+` or `#`).
    pub verdicts_dropped: u64,
}

#[derive(Debug, Clone)]
pub struct Monitor {
    settings: MonitorSettings,
    devices: BTreeMap<String, DeviceView>,
    selected: Option<String>,
    counts: Counts,
    /// Built-in detector verdicts to publish: (topic, payload).
    outbox: VecDeque<(String, Vec<u8>)>,
    /// Labels about devices not seen yet, oldest first.
    pending: VecDeque<(String, score::Event)>,
    /// Events and flags kept over all devices.
    events_kept: usize,
    flags_kept: usize,
    /// Something changed since the view last drew.
    changed: bool,
}

impl Monitor {
    pub fn new(settings: MonitorSettings) -> Self {
        Self {
            settings,
            devices: BTreeMap::new(),
            selected: None,
            counts: Counts::default(),
            outbox: VecDeque::new(),
            pending: VecDeque::new(),
            events_kept: 0,
            flags_kept: 0,
            changed: true,
        }
    }

    /// The monitor's own connection was lost: what each device's next new sequence number
    /// skips is counted as missed while offline, not as the publisher's gaps (a sample of those
    /// that still comes, from a session the broker kept, is taken off again).
    pub fn offline(&mut self) {
        for device in self.devices.values_mut() {
            device.stream.monitor_offline();
        }
    }

    pub fn settings(&self) -> &MonitorSettings {
        &self.settings
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn devices(&self) -> &BTreeMap<String, DeviceView> {
        &self.devices
    }

    pub fn device(&self, id: &str) -> Option<&DeviceView> {
        self.devices.get(id)
    }

    /// The three filters to subscribe to, at QoS 1.
    pub fn filters(&self) -> [&str; 3] {
        [
            &self.settings.filter,
            &self.settings.labels_filter,
            &self.settings.verdicts,
        ]
    }

    /// The device whose chart is drawn: the one picked, else the first.
    pub fn selected(&self) -> Option<&str> {
        self.selected
            .as_deref()
            .filter(|id| self.devices.contains_key(*id))
            .or_else(|| self.devices.keys().next().map(String::as_str))
    }

    pub fn select(&mut self, device_id: &str) {
        self.selected = Some(device_id.to_owned());
        self.changed = true;
    }

    /// Whether anything changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The next built-in verdict to publish.
    pub fn pop_outgoing(&mut self) -> Option<(String, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// Publishes waiting verdicts while `session` has room for them (at `now_ms`, monotonic);
    /// the rest wait for the next call.
    pub fn publish_outgoing(&mut self, session: &mut Session<Tag>, now_ms: u64) {
        while session.can_publish() {
            let Some((topic, payload)) = self.outbox.pop_front() else {
                break;
            };
            match session.publish(&topic, payload.clone(), Tag::Verdict, now_ms) {
                Ok(_) => {}
                // Checked settings make every verdict's topic encodable; were one not, it is
                // dropped, counted, rather than block the others.
                Err(PublishError::Unencodable) => self.counts.verdicts_dropped += 1,
                Err(_) => {
                    self.outbox.push_front((topic, payload));
                    break;
                }
            }
        }
    }

    /// One message from the broker, at `now_ms` (wall clock). An unreadable one is counted,
    /// and its problem, naming the topic, returned for the log.
    pub fn on_message(&mut self, topic: &str, payload: &[u8], now_ms: i64) -> Result<(), String> {
        // Counted once read: nothing half-read is counted.
        let result = if matches(&self.settings.filter, topic) {
            self.on_telemetry(payload, now_ms)
                .map(|()| self.counts.telemetry += 1)
        } else if matches(&self.settings.labels_filter, topic) {
            self.on_label(payload).map(|()| self.counts.labels += 1)
        } else if matches(&self.settings.verdicts, topic) {
            self.on_verdict(topic, payload)
                .map(|()| self.counts.verdicts += 1)
        } else {
            Ok(())
        };
        self.changed = true;
        result.map_err(|problem| {
            let problem = format!("{topic}: {problem}");
            self.counts.unreadable += 1;
            self.counts.last_problem = Some(problem.clone());
            problem
        })
    }

    /// A message too large to read (the session skipped and acknowledged it): counted as
    /// ignored; its problem, naming the topic, returned for the log.
    pub fn on_oversized(&mut self, topic: &str, size: usize) -> String {
        self.counts.ignored += 1;
        self.changed = true;
        format!("{topic}: a message of {size} bytes, over the size limit, skipped")
    }

    /// Whether device `id` is known, making it when telemetry is about a new one (`create`);
    /// a verdict about a device no telemetry came from is counted as ignored.
    fn device_exists(&mut self, id: &str, create: bool) -> bool {
        if !self.devices.contains_key(id) {
            if !create || self.devices.len() >= MAX_DEVICES {
                self.counts.ignored += 1;
                return false;
            }
            self.devices.insert(id.to_owned(), DeviceView::default());
            // Labels that came before the device's first sample.
            let (mine, others): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|(d, _)| d == id);
            self.pending = others;
            for (_, event) in mine {
                self.keep_event(id, event);
            }
        }
        true
    }

    /// Keeps an event of device `id` (which exists), within the limits.
    fn keep_event(&mut self, id: &str, event: score::Event) {
        let Some(device) = self.devices.get_mut(id) else {
            return;
        };
        let known = device.events.contains_key(&event.id);
        if !known && (device.events.len() >= EVENTS_PER_DEVICE || self.events_kept >= EVENTS_TOTAL)
        {
            self.counts.ignored += 1;
            return;
        }
        if !known {
            self.events_kept += 1;
        }
        device.events.insert(event.id, event);
        device.touched();
        device.label_points(&event);
    }

    fn on_telemetry(&mut self, payload: &[u8], now_ms: i64) -> Result<(), String> {
        let json = parse(payload)?;
        let id = string(&json, "device_id")?;
        if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
            return Err(format!(
                "\"device_id\" must be 1 to {MAX_ID_BYTES} bytes without control characters"
            ));
        }
        let sequence = match json.get("sequence") {
            None => None,
            Some(_) => Some(whole(&json, "sequence")?),
        };
        if sequence == Some(0) {
            return Err("\"sequence\" counts from 1".into());
        }
        let data = json.get("data").ok_or("no \"data\" object")?;
        let number = |key: &str| {
            data.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("\"data.{key}\" is not a number"))
        };
        let mut reading = Reading {
            sequence: sequence.unwrap_or(0),
            pressure: number("pressure")?,
            temperature: number("temperature")?,
            timestamp_ms: json
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_millis),
            arrived_ms: now_ms,
        };
        if !self.device_exists(&id, true) {
            return Ok(());
        }
        let Some(device) = self.devices.get_mut(&id) else {
            return Ok(());
        };
        let Some(sequence) = sequence else {
            // Numbered as it arrives: the next after the last.
            reading.sequence = device.stream.max_sequence.saturating_add(1);
            device.sequenced = false;
            if !device.add_row(reading.sequence) {
                self.counts.ignored += 1;
            }
            device.stream.receive(reading);
            device.chart(&reading);
            return self.judge(&id, reading);
        };
        // A new run, its numbers starting again: a sample 1, unless it is the first sample
        // seen or the run's own sample 1 again (a QoS 1 redelivery: the same timestamp and
        // readings; a run replayed byte for byte cannot be told from one); or, when the new
        // run's sample 1 never came (a dropout at its start), a sample below the newest with
        // a later timestamp (within a run, timestamps rise with the sequence).
        let newest = device.stream.last.and_then(|last| last.timestamp_ms);
        let restart = device.stream.received > 0
            && if sequence == 1 {
                !device.first.is_some_and(|first| {
                    first.timestamp_ms.is_some()
                        && (first.timestamp_ms, first.pressure, first.temperature)
                            == (reading.timestamp_ms, reading.pressure, reading.temperature)
                })
            } else {
                sequence < device.stream.max_sequence
                    && matches!((reading.timestamp_ms, newest), (Some(t), Some(n)) if t > n)
            };
        if restart {
            self.events_kept -= device.events.len();
            self.flags_kept -= device.flagged.len();
            let recent = std::mem::take(&mut device.recent_labels);
            *device = DeviceView {
                restarts: device.restarts + 1,
                stream: Stream::new_run(),
                ..DeviceView::default()
            };
            // The new run's labels that came before this sample: those of events that started
            // after the old run's newest sample.
            for (event, start) in recent {
                // A label redelivered at QoS 1 is one event.
                if matches!((start, newest), (Some(s), Some(n)) if s > n)
                    && device.events.insert(event.id, event).is_none()
                {
                    self.events_kept += 1;
                }
            }
        }
        device.sequenced = true;
        device.recent_labels.clear();
        if sequence == 1 {
            device.first = Some(reading);
        }
        if !device.add_row(sequence) {
            self.counts.ignored += 1;
        }
        let arrival = device.stream.receive(reading);
        device.chart(&reading);
        // The detector judges each sample once, in order: a late or repeated one gets no
        // second verdict (which, being the last, would overrule the first).
        if arrival == Arrival::New {
            return self.judge(&id, reading);
        }
        Ok(())
    }

    /// The built-in detector's verdict on a new sample of device `id`, queued to publish.
    fn judge(&mut self, id: &str, reading: Reading) -> Result<(), String> {
        if !self.settings.detector {
            return Ok(());
        }
        let Some(device) = self.devices.get_mut(id) else {
            return Ok(());
        };
        let verdict =
            device
                .detector
                .observe(reading.sequence, reading.pressure, reading.temperature);
        let Some(topic) = self.settings.verdict_topic(id) else {
            self.counts.verdicts_dropped += 1;
            return Ok(());
        };
        if self.outbox.len() >= OUTBOX_LIMIT {
            self.outbox.pop_front();
            self.counts.verdicts_dropped += 1;
        }
        self.outbox
            .push_back((topic, verdict.to_json().into_bytes()));
        Ok(())
    }

    fn on_label(&mut self, payload: &[u8]) -> Result<(), String> {
        let json = parse(payload)?;
        let id = string(&json, "device_id")?;
        let kind_name = string(&json, "kind")?;
        let kind = AnomalyKind::from_name(&kind_name)
            .ok_or_else(|| format!("unknown \"kind\" {kind_name:?}"))?;
        let event = score::Event {
            scale: json.get("anomaly_scale").and_then(Value::as_f64),
            duration: json.get("anomaly_duration").and_then(Value::as_f64),
            snr: json.get("snr").and_then(Value::as_f64),
            ..score::Event::new(
                whole(&json, "anomaly_id")?,
                kind,
                whole(&json, "first_sequence")?,
                whole(&json, "last_sequence")?,
            )
        };
        if event.last < event.first {
            return Err("\"last_sequence\" is before \"first_sequence\"".into());
        }
        if !self.devices.contains_key(&id) {
            // No sample yet: a dropout at the very start of a run is labelled before its
            // first sample arrives. Kept, a few, until the device's telemetry does.
            if self.pending.len() >= PENDING_LABELS {
                self.pending.pop_front();
                self.counts.ignored += 1;
            }
            self.pending.push_back((id, event));
            return Ok(());
        }
        let start = json
            .get("start")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339_millis);
        if let Some(device) = self.devices.get_mut(&id)
            && device.recent_labels.len() < RECENT_LABELS
        {
            device.recent_labels.push((event, start));
        }
        self.keep_event(&id, event);
        Ok(())
    }

    fn on_verdict(&mut self, topic: &str, payload: &[u8]) -> Result<(), String> {
        let Some(id) = self.settings.verdict_device(topic).map(str::to_owned) else {
            return Err("no device level".into());
        };
        let json = parse(payload)?;
        let sequence = whole(&json, "sequence")?;
        let anomaly = json
            .get("anomaly")
            .and_then(Value::as_bool)
            .ok_or("\"anomaly\" is not true or false")?;
        if !self.device_exists(&id, false) {
            return Ok(());
        }
        let Some(device) = self.devices.get_mut(&id) else {
            return Ok(());
        };
        device.verdicts += 1;
        device.touched();
        if anomaly {
            if device.flagged.contains(&sequence) {
                return Ok(());
            }
            if device.flagged.len() >= FLAGS_PER_DEVICE || self.flags_kept >= FLAGS_TOTAL {
                self.counts.ignored += 1;
                return Ok(());
            }
            device.flagged.insert(sequence);
            self.flags_kept += 1;
        } else if device.flagged.remove(&sequence) {
            self.flags_kept -= 1;
        }
        Ok(())
    }

    /// Every device's score, and the total over all of them.
    pub fn scores(&self) -> (Score, Vec<(&str, Rc<Score>)>) {
        let per_device: Vec<(&str, Rc<Score>)> = self
            .devices
            .iter()
            .map(|(id, d)| (id.as_str(), d.score(self.settings.tolerance)))
            .collect();
        let total = score::total(per_device.iter().map(|(_, s)| &**s));
        (total, per_device)
    }
}

fn parse(payload: &[u8]) -> Result<Value, String> {
    let json: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
    if !json.is_object() {
        return Err("not a JSON object".into());
    }
    Ok(json)
}

fn string(json: &Value, key: &str) -> Result<String, String> {
    json.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("\"{key}\" is not a string"))
}

fn whole(json: &Value, key: &str) -> Result<u64, String> {
    json.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("\"{key}\" is not a whole number"))
}
