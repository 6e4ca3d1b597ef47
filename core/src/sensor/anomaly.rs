//! The anomaly catalogue: what each kind does to the readings, for how many samples, and when
//! one starts. Every sample inside an event carries its label; no other sample does.

use std::fmt;

use super::Rng;

/// The kinds of anomaly, in the order the page lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// One sample far off: pressure moved by 5 hPa, up or down.
    Spike,
    /// A level shift that stays for the event: pressure + 2 hPa for 6 samples.
    Step,
    /// A ramp: pressure rising to + 3 hPa over 10 samples.
    Drift,
    /// The sensor repeats the last value it reported before the event, for 5 samples.
    Stuck,
    /// A burst of much higher noise: 50 x the pressure noise and 0.05 C on temperature, for 4
    /// samples.
    Noise,
    /// Samples not published for 3 samples; sequence numbers still advance, leaving a gap.
    Dropout,
    /// The seed's anomaly: one sample at 1200 hPa and 85 C, the part's upper limits.
    OutOfRange,
    /// The part's temperature compensation fails for 10 samples: pressure follows the
    /// temperature's change since the event began at 40 Pa per kelvin (the working part's leak
    /// is 0.5). Nothing moves in pressure alone that the air could not do; the break is in the
    /// relation between the channels (GutenTAG's mode correlation).
    Compensation,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 8] = [
        AnomalyKind::Spike,
        AnomalyKind::Step,
        AnomalyKind::Drift,
        AnomalyKind::Stuck,
        AnomalyKind::Noise,
        AnomalyKind::Dropout,
        AnomalyKind::OutOfRange,
        AnomalyKind::Compensation,
    ];

    /// The name in payloads, settings and URLs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::Step => "step",
            Self::Drift => "drift",
            Self::Stuck => "stuck",
            Self::Noise => "noise",
            Self::Dropout => "dropout",
            Self::OutOfRange => "out_of_range",
            Self::Compensation => "compensation",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How many consecutive samples one event of this kind spans: short, so that with the
    /// realistic profile's default of 60 normal samples between events about 8 % of samples
    /// are anomalous (mean event 5 samples), and a detector sees mostly normal data.
    pub fn duration(self) -> u64 {
        match self {
            Self::Spike | Self::OutOfRange => 1,
            Self::Step => 6,
            Self::Drift => 10,
            Self::Stuck => 5,
            Self::Noise => 4,
            Self::Dropout => 3,
            Self::Compensation => 10,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Spike size, step height and drift end, hPa.
pub const SPIKE_HPA: f64 = 5.0;
pub const STEP_HPA: f64 = 2.0;
pub const DRIFT_HPA: f64 = 3.0;
/// Noise bursts multiply the pressure noise by this, and add this much temperature noise.
pub const NOISE_FACTOR: f64 = 50.0;
pub const NOISE_TEMP_C: f64 = 0.05;
/// A failed compensation: pressure follows the temperature by this much, Pa per kelvin.
pub const COMPENSATION_PA_PER_K: f64 = 40.0;
/// The `benchmark` difficulty draws each event's magnitude log-uniformly from this range.
pub const BENCHMARK_SCALES: (f64, f64) = (0.05, 1.0);

/// How subtle the anomalies are: `scale` multiplies every kind's deviation (spike and step
/// height, drift end, the noise burst's factor, the failed compensation's coefficient),
/// `duration` the length of multi-sample events. 1 and 1 are the catalogue as written;
/// detectors are compared by how subtle an anomaly they still catch. `benchmark` instead draws
/// each event's scale log-uniformly from [`BENCHMARK_SCALES`], so one run covers every
/// difficulty; each label carries its event's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difficulty {
    pub scale: f64,
    pub duration: f64,
    pub benchmark: bool,
}

impl Default for Difficulty {
    fn default() -> Self {
        Self {
            scale: 1.0,
            duration: 1.0,
            benchmark: false,
        }
    }
}

/// When anomalies start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnomalyMode {
    /// N samples after the previous event's last sample (or after Start): the seed program's
    /// every N-th sample for its one-sample events, and N - 1 normal samples between events of
    /// any length.
    Every(u64),
    /// With this probability at each sample outside an event.
    Random(f64),
    /// Only when injected from the page.
    Off,
}

/// An anomaly's ground truth, carried by every sample of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub kind: AnomalyKind,
    /// Counts events from 1 in a run; the same for every sample of one event.
    pub id: u64,
}

/// The event running now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub label: Label,
    /// Which sample of the event this is, from 0.
    pub index: u64,
    /// Spike direction, +1 or -1.
    pub sign: f64,
    /// The event's magnitude: the difficulty's scale, or its own draw in a benchmark (times a
    /// scenario's multiplier).
    pub scale: f64,
    /// How many samples it spans.
    pub length: u64,
}

/// See [`Scheduler::length`].
fn length(kind: AnomalyKind, duration: f64) -> u64 {
    match kind.duration() {
        1 => 1,
        samples => ((samples as f64 * duration).round() as u64).max(2),
    }
}

/// Decides when events start and which kind they are.
#[derive(Debug, Clone)]
pub struct Scheduler {
    mode: AnomalyMode,
    kinds: Vec<AnomalyKind>,
    rng: Rng,
    current: Option<Event>,
    /// Injected kinds waiting, each with its magnitude and length multipliers.
    injected: Vec<(AnomalyKind, f64, f64)>,
    events: u64,
    /// The sequence of the last sample of the last event (0 before any).
    last_event_end: u64,
    /// Multiplies the length of multi-sample events.
    duration: f64,
    difficulty: Difficulty,
    /// The benchmark's magnitudes: a stream of their own, so that a benchmark run has the same
    /// events (when, which kind, which sign) as the same run at a fixed magnitude.
    magnitudes: Rng,
}

impl Scheduler {
    /// `kinds` empty means none can start by themselves.
    pub fn new(
        mode: AnomalyMode,
        kinds: Vec<AnomalyKind>,
        seed: u64,
        difficulty: Difficulty,
    ) -> Self {
        Self {
            duration: difficulty.duration,
            difficulty,
            magnitudes: Rng::new(seed ^ 0x2545_f491_4f6c_dd1d),
            mode,
            kinds,
            rng: Rng::new(seed),
            current: None,
            injected: vec![],
            events: 0,
            last_event_end: 0,
        }
    }

    /// Starts an event of `kind` at the next sample (after the one running, if any).
    pub fn inject(&mut self, kind: AnomalyKind) {
        self.inject_scaled(kind, 1.0, 1.0);
    }

    /// [`Scheduler::inject`], the event's magnitude and length multiplied by these (a
    /// scenario's event).
    pub fn inject_scaled(&mut self, kind: AnomalyKind, magnitude: f64, duration: f64) {
        self.injected.push((kind, magnitude, duration));
    }

    /// The event covering sample `sequence`, if any. Call once per sample, in order.
    pub fn next(&mut self, sequence: u64) -> Option<Event> {
        if let Some(event) = &mut self.current {
            event.index += 1;
            if event.index < event.length {
                return self.current;
            }
            self.current = None;
            self.last_event_end = sequence - 1;
        }
        let (mut magnitude, mut longer) = (1.0, 1.0);
        let kind = if !self.injected.is_empty() {
            let (kind, m, d) = self.injected.remove(0);
            (magnitude, longer) = (m, d);
            Some(kind)
        } else {
            let due = match self.mode {
                AnomalyMode::Every(n) => n > 0 && sequence - self.last_event_end >= n,
                AnomalyMode::Random(p) => self.rng.next_f64() < p,
                AnomalyMode::Off => false,
            };
            match (due, self.kinds.len()) {
                (false, _) | (true, 0) => None,
                (true, 1) => Some(self.kinds[0]),
                (true, n) => Some(self.kinds[(self.rng.next_u64() % n as u64) as usize]),
            }
        }?;
        self.events += 1;
        let sign = if self.rng.next_u64() & 1 == 0 {
            1.0
        } else {
            -1.0
        };
        let scale = if self.difficulty.benchmark {
            let (low, high) = BENCHMARK_SCALES;
            libm::exp(self.magnitudes.uniform(libm::log(low), libm::log(high)))
        } else {
            self.difficulty.scale
        };
        self.current = Some(Event {
            label: Label {
                kind,
                id: self.events,
            },
            index: 0,
            sign,
            scale: scale * magnitude,
            length: length(kind, self.duration * longer),
        });
        self.current
    }

    /// Whether the sample [`Scheduler::next`] last covered is its event's last.
    pub fn event_ends(&self) -> bool {
        self.current.is_some_and(|e| e.index + 1 >= e.length)
    }

    /// How many samples an event of `kind` lasts: the catalogue's, times the duration setting
    /// for multi-sample kinds (at least 2 samples; one-sample kinds stay one sample).
    pub fn length(&self, kind: AnomalyKind) -> u64 {
        length(kind, self.duration)
    }

    /// Extra randomness for noise bursts, from the anomaly stream so that the air stream stays
    /// the same with or without anomalies.
    pub fn gaussian(&mut self) -> f64 {
        self.rng.gaussian()
    }
}
