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

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

pub use settings::{MAX_TOLERANCE, MonitorError, MonitorField, MonitorForm, MonitorSettings};
pub use stream::{Arrival, Reading, Stream};

use crate::detect::Baseline;
use crate::mqtt::matches;
use crate::score::{self, Score};
use crate::sensor::{AnomalyKind, Label, Sample, parse_rfc3339_millis};
use crate::watch::{CHART_SAMPLES, Point};

/// Devices the monitor keeps apart; messages about more are counted and ignored.
pub const MAX_DEVICES: usize = 10_000;
/// The longest device id kept: a verdict's topic carries it.
pub const MAX_ID_BYTES: usize = 256;
/// Events (labels) and flagged samples kept per device; past these, more are counted and
/// ignored, so no publisher can grow the page's memory without bound (a detector flagging
/// every sample at 10 Hz reaches the flag limit after 28 hours).
pub const EVENTS_PER_DEVICE: usize = 100_000;
pub const FLAGS_PER_DEVICE: usize = 1_000_000;
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
    /// Verdict messages received.
    pub verdicts: u64,
    /// The newest samples for the chart, oldest first, gaps as unreported points.
    pub points: VecDeque<Point>,
    /// The first sample's timestamp, to tell a restart from a redelivered sample 1.
    first_stamp: Option<Option<i64>>,
    detector: Baseline,
}

impl DeviceView {
    pub fn score(&self, tolerance: u64) -> Score {
        let events: Vec<score::Event> = self.events.values().copied().collect();
        score::score(&events, &self.flagged, tolerance)
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
        let label = |sequence: u64| {
            self.events
                .values()
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
    /// Messages not kept: telemetry about devices past [`MAX_DEVICES`], labels and verdicts
    /// about a device no telemetry came from, labels and flags past the per-device limits.
    pub ignored: u64,
    /// Built-in verdicts dropped because the outbox was full.
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
            changed: true,
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

    /// Puts back a verdict the session could not take yet.
    pub fn push_back_outgoing(&mut self, message: (String, Vec<u8>)) {
        self.outbox.push_front(message);
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

    /// The device `id`, made when telemetry is about a new one (`create`); labels and
    /// verdicts about a device no telemetry came from are counted as ignored.
    fn device_mut(&mut self, id: &str, create: bool) -> Option<&mut DeviceView> {
        if !self.devices.contains_key(id) {
            if !create || self.devices.len() >= MAX_DEVICES {
                self.counts.ignored += 1;
                return None;
            }
            self.devices.insert(id.to_owned(), DeviceView::default());
        }
        self.devices.get_mut(id)
    }

    fn on_telemetry(&mut self, payload: &[u8], now_ms: i64) -> Result<(), String> {
        let json = parse(payload)?;
        let id = string(&json, "device_id")?;
        if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
            return Err(format!(
                "\"device_id\" must be 1 to {MAX_ID_BYTES} bytes without control characters"
            ));
        }
        let sequence = whole(&json, "sequence")?;
        if sequence == 0 {
            return Err("\"sequence\" counts from 1".into());
        }
        let data = json.get("data").ok_or("no \"data\" object")?;
        let number = |key: &str| {
            data.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("\"data.{key}\" is not a number"))
        };
        let reading = Reading {
            sequence,
            pressure: number("pressure")?,
            temperature: number("temperature")?,
            timestamp_ms: json
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_millis),
            arrived_ms: now_ms,
        };
        let detector = self.settings.detector;
        let Some(device) = self.device_mut(&id, true) else {
            return Ok(());
        };
        // A sample 1 is a new run, its numbers starting again, unless it is the run's own
        // sample 1 again (a QoS 1 redelivery: the same timestamp), or the first sample seen.
        if sequence == 1 {
            let again = device.first_stamp == Some(reading.timestamp_ms);
            if device.stream.received > 0 && !again {
                let restarts = device.restarts + 1;
                *device = DeviceView {
                    restarts,
                    ..DeviceView::default()
                };
            }
            device.first_stamp = Some(reading.timestamp_ms);
        }
        let arrival = device.stream.receive(reading);
        device.chart(&reading);
        // The detector judges each sample once, in order: a late or repeated one gets no
        // second verdict (which, being the last, would overrule the first).
        if detector && arrival == Arrival::New {
            let verdict = device
                .detector
                .observe(sequence, reading.pressure, reading.temperature);
            if let Some(topic) = self.settings.verdict_topic(&id) {
                if self.outbox.len() >= OUTBOX_LIMIT {
                    self.outbox.pop_front();
                    self.counts.verdicts_dropped += 1;
                }
                self.outbox
                    .push_back((topic, verdict.to_json().into_bytes()));
            }
        }
        Ok(())
    }

    fn on_label(&mut self, payload: &[u8]) -> Result<(), String> {
        let json = parse(payload)?;
        let id = string(&json, "device_id")?;
        let kind_name = string(&json, "kind")?;
        let kind = AnomalyKind::from_name(&kind_name)
            .ok_or_else(|| format!("unknown \"kind\" {kind_name:?}"))?;
        let event = score::Event {
            id: whole(&json, "anomaly_id")?,
            kind,
            first: whole(&json, "first_sequence")?,
            last: whole(&json, "last_sequence")?,
        };
        if event.last < event.first {
            return Err("\"last_sequence\" is before \"first_sequence\"".into());
        }
        let Some(device) = self.device_mut(&id, false) else {
            return Ok(());
        };
        if device.events.len() >= EVENTS_PER_DEVICE && !device.events.contains_key(&event.id) {
            self.counts.ignored += 1;
            return Ok(());
        }
        device.events.insert(event.id, event);
        device.label_points(&event);
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
        let Some(device) = self.device_mut(&id, false) else {
            return Ok(());
        };
        device.verdicts += 1;
        if anomaly {
            if device.flagged.len() >= FLAGS_PER_DEVICE && !device.flagged.contains(&sequence) {
                self.counts.ignored += 1;
                return Ok(());
            }
            device.flagged.insert(sequence);
        } else {
            device.flagged.remove(&sequence);
        }
        Ok(())
    }

    /// Every device's score, and the total over all of them.
    pub fn scores(&self) -> (Score, Vec<(&str, Score)>) {
        let per_device: Vec<(&str, Score)> = self
            .devices
            .iter()
            .map(|(id, d)| (id.as_str(), d.score(self.settings.tolerance)))
            .collect();
        let total = score::total(per_device.iter().map(|(_, s)| s));
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
