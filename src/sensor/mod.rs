//! The DPS368 telemetry generator: (seed, settings, time) in, samples out. Pure and
//! deterministic: the same seed gives the same samples.
//!
//! This is the seed program's model ("Seed" profile): pressure and temperature drawn uniformly
//! from the normal range, and every `anomaly_every`-th sample replaced by a fixed out-of-range
//! reading.

mod payload;
mod rng;

pub use payload::{Telemetry, format_rfc3339_millis};
pub use rng::Rng;

/// Normal pressure range, hPa.
pub const PRESSURE_MIN: f64 = 950.0;
pub const PRESSURE_MAX: f64 = 1050.0;
/// Normal temperature range, degrees C.
pub const TEMP_MIN: f64 = 20.0;
pub const TEMP_MAX: f64 = 35.0;
/// The anomaly the seed injects: a reading at the part's upper limits.
pub const ANOMALY_TEMP: f64 = 85.0;
pub const ANOMALY_PRESSURE: f64 = 1200.0;

/// One reading, before it becomes a payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Counts from 1 within a run.
    pub sequence: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    pub anomaly: bool,
    pub pressure_hpa: f64,
    pub temperature_c: f64,
}

/// Makes the samples of one run.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    anomaly_every: u64,
    sequence: u64,
}

impl Generator {
    /// `anomaly_every` is at least 1; settings validation guarantees it.
    pub fn new(seed: u64, anomaly_every: u32) -> Self {
        Self {
            rng: Rng::new(seed),
            anomaly_every: u64::from(anomaly_every.max(1)),
            sequence: 0,
        }
    }

    /// The next sample, stamped with `timestamp_ms`.
    pub fn next_sample(&mut self, timestamp_ms: i64) -> Sample {
        self.sequence += 1;
        let anomaly = self.sequence.is_multiple_of(self.anomaly_every);
        let (pressure_hpa, temperature_c) = if anomaly {
            (ANOMALY_PRESSURE, ANOMALY_TEMP)
        } else {
            (
                round2(self.rng.uniform(PRESSURE_MIN, PRESSURE_MAX)),
                round2(self.rng.uniform(TEMP_MIN, TEMP_MAX)),
            )
        };
        Sample {
            sequence: self.sequence,
            timestamp_ms,
            anomaly,
            pressure_hpa,
            temperature_c,
        }
    }

    /// How many samples this generator has made.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// Two decimals, as the seed's payload shows them.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
