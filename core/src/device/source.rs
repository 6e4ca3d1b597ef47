//! One simulated sensor: its generator, its dataset and its counters (its samples wait in its
//! lane of the connection's outbox, `outbox.rs`). A device (one MQTT connection) publishes for
//! one source, or for a whole fleet of them in shared mode.

use super::{Counters, Dataset, Fate};
use crate::sensor::{Generator, Label, Sample, SensorConfig, Telemetry};

#[derive(Debug, Clone)]
pub struct Source {
    pub device_id: String,
    /// The topic its samples go to, `{device_id}` replaced.
    pub topic: String,
    /// Its place in the interval: sample k is due at `offset_ms + (k - 1) x interval`, so a
    /// fleet's first samples are spread over one interval.
    pub offset_ms: u64,
    pub generator: Generator,
    /// The most of its samples that wait to be sent (its lane of the device's outbox); beyond
    /// it the oldest is dropped.
    pub queue_limit: usize,
    pub dataset: Dataset,
    /// Per-sample counters; the connection's own (reconnects, redelivered) stay zero here.
    pub counters: Counters,
    /// The label of the previous sample, to count an event once, at its first sample.
    pub last_label: Option<Label>,
}

impl Source {
    pub fn new(
        device_id: String,
        topic: String,
        sensor: SensorConfig,
        offset_ms: u64,
        queue_limit: usize,
        dataset_limit: usize,
    ) -> Self {
        Self {
            device_id,
            topic,
            offset_ms,
            generator: Generator::new(sensor),
            queue_limit: queue_limit.max(1),
            dataset: Dataset::new(dataset_limit),
            counters: Counters::default(),
            last_label: None,
        }
    }

    /// Back to the start of a run: sequence 1 next, nothing queued, counted or kept.
    pub fn restart(&mut self) {
        self.generator = Generator::new(self.generator.config().clone());
        self.dataset.clear();
        self.counters = Counters::default();
        self.last_label = None;
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
