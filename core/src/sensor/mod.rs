//! The DPS368 telemetry generator: (seed, settings, time) in, samples out. Pure and
//! deterministic: the same seed, settings and timestamps give the same samples.
//!
//! Three profiles share one payload schema:
//! - **Seed**: the seed program's model, exactly: pressure and temperature drawn uniformly from
//!   950-1050 hPa and 20-35 C, two decimals.
//! - **Realistic**: real air over a real part ([`air`]): weather, tide, altitude, a daily
//!   temperature cycle, the part's noise at the chosen oversampling, its limits and resolution.
//! - **Replay**: a [`Recording`] of someone's own air, row after row, exactly as recorded (its
//!   temperature from the realistic model when it has none).
//!
//! Anomalies from the [`anomaly`] catalogue are laid over either, labelled as ground truth. The
//! air and the anomalies draw from separate random streams, so a run with anomalies differs from
//! the same run without them in exactly the labelled samples.

pub mod air;
pub mod anomaly;
mod clock;
mod payload;
pub mod recording;
mod rng;
pub mod sky;

/// What the native and the browser tests both check with [`Generator::fingerprint`]: these
/// settings' stream has these bits on every target.
#[doc(hidden)]
pub mod fingerprint_check {
    pub const QUERY: &str = "profile=realistic&seed=77&altitude=420&tide=0.9&temperature=18\
        &tz=%2B05:30&anomaly_mode=random&anomaly_probability=0.05&anomaly_scale=0.7&precision=64";
    /// 2026-11-27T00:00:00Z.
    pub const START_MS: i64 = 1_795_737_600_000;
    pub const SAMPLES: u32 = 50_000;
    pub const EXPECTED: u64 = 0xdb48_e7ec_4e95_c0a4;
}

pub use air::{AirParams, measurement_time_ms};
pub use anomaly::{AnomalyKind, AnomalyMode, Difficulty, Label};
pub use clock::{format_rfc3339_millis, parse_rfc3339_millis};
pub use payload::{
    Decimal, GroundTruth, Telemetry, csv_header, csv_row, csv_text, push_json_string,
};
pub use recording::Recording;
pub use rng::Rng;
pub use sky::Weather;

use air::{Air, PRESSURE_LIMITS_HPA, TEMPERATURE_LIMITS_C};
use anomaly::{Event, Scheduler};

/// The seed profile's normal pressure range, hPa.
pub const PRESSURE_MIN: f64 = 950.0;
pub const PRESSURE_MAX: f64 = 1050.0;
/// The seed profile's normal temperature range, degrees C.
pub const TEMP_MIN: f64 = 20.0;
pub const TEMP_MAX: f64 = 35.0;
/// The seed's anomaly: a reading at the part's upper limits.
pub const ANOMALY_TEMP: f64 = 85.0;
pub const ANOMALY_PRESSURE: f64 = 1200.0;

/// Which model makes the readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Seed,
    Realistic,
    Replay,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Seed => "seed",
            Profile::Realistic => "realistic",
            Profile::Replay => "replay",
        }
    }

    /// Decimals in the payload: the seed's two, or the part's resolution (0.01 Pa, 0.001 C).
    pub fn decimals(self) -> (u32, u32) {
        match self {
            Profile::Seed => (2, 2),
            Profile::Realistic | Profile::Replay => (4, 3),
        }
    }
}

/// Everything that decides the stream of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorConfig {
    pub profile: Profile,
    pub seed: u64,
    pub air: AirParams,
    pub anomaly_mode: AnomalyMode,
    /// Kinds that start by themselves; injected ones may be any.
    pub anomaly_kinds: Vec<AnomalyKind>,
    pub difficulty: Difficulty,
    /// What the replay profile plays; none until the runner or the page has read the file.
    pub replay: Option<Replay>,
}

/// A recording replayed, one shared copy for every sensor that plays it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub recording: std::sync::Arc<Recording>,
    /// The row this sensor's first sample reads: a fleet's sensors start spread evenly through
    /// the recording (sensor k of n at row (k - 1) x rows / n), or all at the first row in step.
    pub offset: usize,
    /// Starts over after the last row, sequence numbers running on; without, the run ends when
    /// every sensor has read every row once.
    pub looped: bool,
}

impl Replay {
    /// The row sample `sequence` (from 1) reads: from the sensor's own place on, round to the
    /// first row after the last; played once, none after every row was read once.
    pub fn row(&self, sequence: u64) -> Option<usize> {
        let rows = self.recording.len() as u64;
        if !self.looped && sequence > rows {
            return None;
        }
        Some(((self.offset as u64 + sequence.saturating_sub(1)) % rows) as usize)
    }
}

impl SensorConfig {
    /// The recording's own timestamp of the row sample `sequence` replayed, for the export's
    /// `recorded_timestamp` column (replay only).
    pub fn recorded_timestamp(&self, sequence: u64) -> Option<&str> {
        let replay = self.replay.as_ref()?;
        Some(replay.recording.timestamp(replay.row(sequence)?))
    }

    /// The seed program's behaviour: seed profile, the fixed anomaly every `every` samples.
    pub fn seed_program(seed: u64, every: u32) -> Self {
        Self {
            profile: Profile::Seed,
            seed,
            air: AirParams::default(),
            anomaly_mode: AnomalyMode::Every(u64::from(every.max(1))),
            anomaly_kinds: vec![AnomalyKind::OutOfRange],
            difficulty: Difficulty::default(),
            replay: None,
        }
    }
}

/// One reading, before it becomes a payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Counts from 1 within a run.
    pub sequence: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    pub pressure_hpa: f64,
    pub temperature_c: f64,
    /// Set on every sample of an anomaly event.
    pub label: Option<Label>,
}

impl Sample {
    pub fn is_anomaly(&self) -> bool {
        self.label.is_some()
    }

    /// Whether the sensor reports this sample at all (a dropout swallows it).
    pub fn is_reported(&self) -> bool {
        !matches!(
            self.label,
            Some(Label {
                kind: AnomalyKind::Dropout,
                ..
            })
        )
    }
}

/// Makes the samples of one run.
#[derive(Debug, Clone)]
pub struct Generator {
    config: SensorConfig,
    air: Air,
    /// The seed profile's uniform draws.
    dice: Rng,
    scheduler: Scheduler,
    sequence: u64,
    /// The last reported reading, for `stuck`.
    last_reported: Option<(f64, f64)>,
    /// The reading `stuck` repeats.
    stuck_at: Option<(f64, f64)>,
    /// The temperature a failed compensation started from.
    compensation_from: Option<f64>,
    /// The running event's ground truth so far, and the one that ended at the last sample.
    open: Option<GroundTruth>,
    ended: Option<GroundTruth>,
}

impl Generator {
    pub fn new(config: SensorConfig) -> Self {
        Self {
            air: Air::new(config.air, config.seed),
            dice: Rng::new(config.seed),
            scheduler: Scheduler::new(
                config.anomaly_mode,
                config.anomaly_kinds.clone(),
                config.seed ^ 0xa076_1d64_78bd_642f,
                config.difficulty,
            ),
            config,
            sequence: 0,
            last_reported: None,
            stuck_at: None,
            compensation_from: None,
            open: None,
            ended: None,
        }
    }

    pub fn config(&self) -> &SensorConfig {
        &self.config
    }

    /// Starts an anomaly of `kind` at the next sample (after the running one).
    pub fn inject(&mut self, kind: AnomalyKind) {
        self.scheduler.inject(kind);
    }

    /// [`Generator::inject`], the event's magnitude and length multiplied by these.
    pub fn inject_scaled(&mut self, kind: AnomalyKind, magnitude: f64, duration: f64) {
        self.scheduler.inject_scaled(kind, magnitude, duration);
    }

    /// How many samples this generator has made.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The ground truth of the event whose last sample was just made, once.
    pub fn take_ended(&mut self) -> Option<GroundTruth> {
        self.ended.take()
    }

    /// The ground truth of the event still running, up to the last sample made: a run that
    /// stops mid-event ends it there.
    pub fn cut_event(&mut self) -> Option<GroundTruth> {
        self.ended.take().or(self.open.take())
    }

    /// A hash (FNV-1a) of the exact bits of the first `samples` samples of `config`, one a
    /// second from `start_ms`: the native tests and the browser tests assert the same value,
    /// so the runner and the page compute the same stream, bit for bit.
    pub fn fingerprint(config: SensorConfig, start_ms: i64, samples: u32) -> u64 {
        let mut generator = Self::new(config);
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        for k in 0..samples {
            let sample = generator.next_sample(start_ms + i64::from(k) * 1000);
            let label = sample.label.map_or(0, |label| label.id);
            for word in [
                sample.pressure_hpa.to_bits(),
                sample.temperature_c.to_bits(),
                label,
            ] {
                for byte in word.to_le_bytes() {
                    hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
                }
            }
        }
        hash
    }

    /// The next sample, stamped with `timestamp_ms`.
    pub fn next_sample(&mut self, timestamp_ms: i64) -> Sample {
        self.next_sample_moved(timestamp_ms, 0.0)
    }

    /// [`Generator::next_sample`], the air moved by `front_hpa` (a scenario's weather
    /// fronts; the seed profile's uniform draws have no air to move).
    pub fn next_sample_moved(&mut self, timestamp_ms: i64, front_hpa: f64) -> Sample {
        self.sequence += 1;
        let event = self.scheduler.next(self.sequence);
        let (pressure, temperature) = match self.config.profile {
            Profile::Seed => {
                // Drawn for every sample, the anomaly's too (which then overrides them), so a run
                // with anomalies differs from one without in exactly the labelled samples.
                (
                    round_to(self.dice.uniform(PRESSURE_MIN, PRESSURE_MAX), 2),
                    round_to(self.dice.uniform(TEMP_MIN, TEMP_MAX), 2),
                )
            }
            Profile::Realistic => self.air.measure(timestamp_ms),
            Profile::Replay => {
                // The model's reading too, for a recording without temperatures.
                let (model_pressure, model_temperature) = self.air.measure(timestamp_ms);
                let row = self
                    .config
                    .replay
                    .as_ref()
                    .and_then(|r| Some((r, r.row(self.sequence)?)));
                match row {
                    Some((replay, row)) => {
                        let (pressure, temperature) = replay.recording.reading(row);
                        (pressure, temperature.unwrap_or(model_temperature))
                    }
                    // No recording read (or one played past its end): the model's air.
                    None => (model_pressure, model_temperature),
                }
            }
        };
        let pressure = match self.config.profile {
            Profile::Seed => pressure,
            Profile::Realistic | Profile::Replay => pressure + front_hpa,
        };
        let true_pressure = pressure;
        let (pressure, temperature) = match event {
            Some(event) => self.apply(event, pressure, temperature),
            None => {
                self.stuck_at = None;
                self.compensation_from = None;
                (pressure, temperature)
            }
        };
        let (pressure, temperature) = self.finish(pressure, temperature);
        let deviation = (pressure - true_pressure).abs();
        let sample = Sample {
            sequence: self.sequence,
            timestamp_ms,
            pressure_hpa: pressure,
            temperature_c: temperature,
            label: event.map(|e| e.label),
        };
        if sample.is_reported() {
            self.last_reported = Some((pressure, temperature));
        }
        self.ended = None;
        if let Some(event) = event {
            let label = event.label;
            let snr = self.snr(label.kind, deviation);
            match &mut self.open {
                Some(truth) if truth.label == label => {
                    truth.last_sequence = sample.sequence;
                    truth.end_ms = timestamp_ms;
                    truth.snr = snr.map(|now| truth.snr.map_or(now, |before| before.max(now)));
                }
                open => {
                    *open = Some(GroundTruth {
                        label,
                        first_sequence: sample.sequence,
                        start_ms: timestamp_ms,
                        last_sequence: sample.sequence,
                        end_ms: timestamp_ms,
                        scale: event.scale,
                        snr,
                    })
                }
            }
            if self.scheduler.event_ends() {
                self.ended = self.open.take();
            }
        }
        sample
    }

    /// The noise a sample's deviation is measured against, hPa: the part's pressure noise at
    /// the chosen precision (realistic and replay), or the spread of the seed's uniform draws
    /// (seed).
    pub fn noise_hpa(&self) -> f64 {
        match self.config.profile {
            Profile::Seed => (PRESSURE_MAX - PRESSURE_MIN) / 12f64.sqrt(),
            Profile::Realistic | Profile::Replay => {
                air::pressure_noise_pa(self.config.air.oversampling) * self.config.air.noise_scale
                    / 100.0
            }
        }
    }

    /// A sample's signal to noise: how far the anomaly moved its pressure reading from what the
    /// part would have read, over [`Generator::noise_hpa`]. An event's is its largest sample's.
    /// None for a dropout (no reading) or noiseless air.
    fn snr(&self, kind: AnomalyKind, deviation_hpa: f64) -> Option<f64> {
        let noise = self.noise_hpa();
        (kind != AnomalyKind::Dropout && noise > 0.0).then(|| deviation_hpa / noise)
    }

    /// Lays an anomaly over the true reading, as the catalogue defines it.
    fn apply(&mut self, event: Event, pressure: f64, temperature: f64) -> (f64, f64) {
        use anomaly::*;
        let i = event.index as f64;
        let scale = event.scale;
        match event.label.kind {
            AnomalyKind::Spike => (pressure + event.sign * SPIKE_HPA * scale, temperature),
            AnomalyKind::Step => (pressure + STEP_HPA * scale, temperature),
            AnomalyKind::Drift => {
                let share = (i + 1.0) / event.length as f64;
                (pressure + DRIFT_HPA * scale * share, temperature)
            }
            AnomalyKind::Stuck => {
                if event.index == 0 || self.stuck_at.is_none() {
                    self.stuck_at = Some(self.last_reported.unwrap_or((pressure, temperature)));
                }
                self.stuck_at.expect("set above")
            }
            AnomalyKind::Noise => {
                let noise_hpa = air::pressure_noise_pa(self.config.air.oversampling) / 100.0;
                (
                    pressure + NOISE_FACTOR * scale * noise_hpa * self.scheduler.gaussian(),
                    temperature + NOISE_TEMP_C * scale * self.scheduler.gaussian(),
                )
            }
            AnomalyKind::Dropout => (pressure, temperature),
            AnomalyKind::OutOfRange => (ANOMALY_PRESSURE, ANOMALY_TEMP),
            AnomalyKind::Compensation => {
                if event.index == 0 {
                    // Each event from its own first temperature, even right after another.
                    self.compensation_from = None;
                }
                let from = *self.compensation_from.get_or_insert(temperature);
                let pa = COMPENSATION_PA_PER_K * scale * (temperature - from);
                (pressure + pa / 100.0, temperature)
            }
        }
    }

    /// The part's limits and resolution (realistic), or the seed's two decimals.
    fn finish(&self, pressure: f64, temperature: f64) -> (f64, f64) {
        let (p_decimals, t_decimals) = self.config.profile.decimals();
        match self.config.profile {
            Profile::Seed => (
                round_to(pressure, p_decimals),
                round_to(temperature, t_decimals),
            ),
            Profile::Realistic | Profile::Replay => (
                round_to(
                    pressure.clamp(PRESSURE_LIMITS_HPA.0, PRESSURE_LIMITS_HPA.1),
                    p_decimals,
                ),
                round_to(
                    temperature.clamp(TEMPERATURE_LIMITS_C.0, TEMPERATURE_LIMITS_C.1),
                    t_decimals,
                ),
            ),
        }
    }
}

/// `value` rounded to `decimals` places.
fn round_to(value: f64, decimals: u32) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests;
