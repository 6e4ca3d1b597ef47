//! A run's samples without a broker (`dps368-sim generate`): every sensor the settings describe,
//! each sample stamped where a live run with the same Start time would stamp it, as fast as the
//! machine goes. The samples, their labels and the events' ground truth are the ones a live run
//! with the same seed, settings and Start time publishes (the fleet's tests compare them).

use super::{Shard, build};
use crate::sensor::{GroundTruth, Profile, Sample};
use crate::settings::Settings;

/// One sample made, with the sensor it is of.
pub struct Generated<'a> {
    pub device_id: &'a str,
    pub profile: Profile,
    pub sample: Sample,
    /// A replay's row's own timestamp, as recorded.
    pub recorded: Option<&'a str>,
}

/// Makes `samples` samples of every sensor of the fleet `settings` describe, sensor after
/// sensor (the order of the page's export), stamped from `start_ms`: sample k of a sensor at
/// `start_ms + its offset + (k - 1) x interval`, as a live run stamps it. Calls `row` for each
/// sample and `label` for each event's ground truth as it ends (the last one cut at the end,
/// as Stop cuts it). The interval must be above 0 (at max rate a sample's time is when it was
/// sent, which only a live run knows).
pub fn generate(
    settings: &Settings,
    start_ms: i64,
    samples: u64,
    mut row: impl FnMut(Generated<'_>),
    mut label: impl FnMut(&str, GroundTruth),
) {
    let interval = settings.interval_ms;
    // A recording played once ends with its last row.
    let samples = settings
        .sample_limit()
        .map_or(samples, |limit| samples.min(limit));
    for device in build(settings, 0, Shard::WHOLE) {
        for source in device.sources() {
            let mut generator = source.generator.clone();
            let profile = generator.config().profile;
            let offset = source.offset_ms(interval);
            for k in 1..=samples {
                let due = offset.saturating_add((k - 1).saturating_mul(interval));
                let stamp = start_ms.saturating_add(i64::try_from(due).unwrap_or(i64::MAX));
                let sample = generator.next_sample(stamp);
                row(Generated {
                    device_id: &source.device_id,
                    profile,
                    sample,
                    recorded: source
                        .generator
                        .config()
                        .recorded_timestamp(sample.sequence),
                });
                if let Some(truth) = generator.take_ended() {
                    label(&source.device_id, truth);
                }
            }
            if let Some(truth) = generator.cut_event() {
                label(&source.device_id, truth);
            }
        }
    }
}
