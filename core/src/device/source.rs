//! One simulated sensor: its generator, its dataset and its counters (its samples wait in its
//! lane of the connection's outbox, `outbox.rs`). A device (one MQTT connection) publishes for
//! one source, or for a whole fleet of them in shared mode.

use super::{Counters, Dataset, Fate};
#[cfg(feature = "scenario")]
use crate::scenario::Front;
use crate::sensor::{AnomalyKind, Generator, Label, Sample, SensorConfig, Telemetry};

/// A scenario's anomaly for one sensor: at its first sample at or after `at_ms` (from Start),
/// an event of `kind`, its magnitude and length multiplied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scripted {
    pub at_ms: u64,
    pub kind: AnomalyKind,
    pub magnitude: f64,
    pub duration: f64,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub device_id: String,
    /// The topic its samples go to, `{device_id}` replaced.
    pub topic: String,
    /// Its place in the interval, `(k - 1, n)` for sensor k of n: sample j is due at
    /// `(k - 1) / n x interval + (j - 1) x interval`, so a fleet's first samples are spread over
    /// one interval, whatever the interval.
    pub place: (u64, u64),
    pub generator: Generator,
    /// The most of its samples that wait to be sent (its lane of the device's outbox); beyond
    /// it the oldest is dropped.
    pub queue_limit: usize,
    pub dataset: Dataset,
    /// Per-sample counters; the connection's own (reconnects, redelivered) stay zero here.
    pub counters: Counters,
    /// The label of the previous sample, to count an event once, at its first sample.
    pub last_label: Option<Label>,
    /// A scenario's anomalies for this sensor, by time, and how many have started.
    #[cfg(feature = "scenario")]
    script: Vec<Scripted>,
    #[cfg(feature = "scenario")]
    started: usize,
    /// A scenario's weather fronts.
    #[cfg(feature = "scenario")]
    fronts: std::sync::Arc<[Front]>,
}

impl Source {
    pub fn new(
        device_id: String,
        topic: String,
        sensor: SensorConfig,
        place: (u64, u64),
        queue_limit: usize,
        dataset_limit: usize,
    ) -> Self {
        Self {
            device_id,
            topic,
            place,
            generator: Generator::new(sensor),
            queue_limit: queue_limit.max(1),
            dataset: Dataset::new(dataset_limit),
            counters: Counters::default(),
            last_label: None,
            #[cfg(feature = "scenario")]
            script: vec![],
            #[cfg(feature = "scenario")]
            started: 0,
            #[cfg(feature = "scenario")]
            fronts: std::sync::Arc::new([]),
        }
    }

    /// When in each interval its samples fall due, in ms.
    pub fn offset_ms(&self, interval_ms: u64) -> u64 {
        let (k, n) = self.place;
        k.saturating_mul(interval_ms) / n.max(1)
    }

    /// Gives it a scenario's anomalies, in time order (a checked scenario's events are), and
    /// fronts.
    #[cfg(feature = "scenario")]
    pub fn set_script(&mut self, script: Vec<Scripted>, fronts: std::sync::Arc<[Front]>) {
        self.script = script;
        self.started = 0;
        self.fronts = fronts;
    }

    /// Makes its next sample, due `at_ms` after Start: the scenario's anomalies due by then
    /// are injected first, and its fronts move the air.
    #[cfg(feature = "scenario")]
    pub fn next_sample(&mut self, stamp: i64, at_ms: u64) -> Sample {
        while let Some(event) = self.script.get(self.started)
            && event.at_ms <= at_ms
        {
            self.generator
                .inject_scaled(event.kind, event.magnitude, event.duration);
            self.started += 1;
        }
        let since = i64::try_from(at_ms).unwrap_or(i64::MAX);
        let front: f64 = self.fronts.iter().map(|f| f.departure_hpa(since)).sum();
        self.generator.next_sample_moved(stamp, front)
    }

    /// Makes its next sample (without scenarios, the time it falls due changes nothing).
    #[cfg(not(feature = "scenario"))]
    pub fn next_sample(&mut self, stamp: i64, _at_ms: u64) -> Sample {
        self.generator.next_sample(stamp)
    }

    /// Back to the start of a run: sequence 1 next, nothing queued, counted or kept.
    pub fn restart(&mut self) {
        self.generator = Generator::new(self.generator.config().clone());
        self.dataset.clear();
        self.counters = Counters::default();
        self.last_label = None;
        #[cfg(feature = "scenario")]
        {
            self.started = 0;
        }
    }

    /// The JSON payload of `sample`; `blind`, without its labels.
    pub fn payload(&self, sample: &Sample, blind: bool) -> String {
        let telemetry = Telemetry::new(&self.device_id, self.generator.config().profile, sample);
        if blind {
            telemetry.to_blind_json()
        } else {
            telemetry.to_json()
        }
    }

    pub fn set_fate(&mut self, sequence: u64, fate: Fate) {
        self.dataset.set_fate(sequence, fate);
    }
}
