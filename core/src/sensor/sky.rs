//! The weather: one air mass over a whole fleet, a function of the time alone.
//!
//! Sea-level pressure moves as a mid-latitude station's does. Two parts add up:
//! - **Slow weather**: a sum of 32 cosines whose frequencies span periods from 2 hours to 60
//!   days and whose amplitudes follow a red spectrum, flat beyond 8 days and falling as f^-4 below
//!   8 hours (`S(f) = 1 / ((1 + (f/f0)^2)(1 + (f/f1)^2))`): smooth from hour to hour, several hPa
//!   from day to day. Each cosine's frequency, amplitude (Rayleigh) and phase come from the sky's
//!   seed.
//! - **Fronts**: now and then (a chance each UTC day) the pressure falls (7 in 10) or rises by
//!   several hPa within 2 to 6 hours, and returns over the next one to three days. Fronts are
//!   weather, not anomalies: they are never labelled, and a detector that flags them is wrong.
//!
//! Because it is a function of the time and the seed, every sensor that shares the seed reads
//! the same sky whenever it samples, whatever its interval or its place in the fleet.
//! At the `typical` setting, over years of hourly values: the standard deviation of 24-hour
//! changes is about 5 hPa and the 99th percentile of 1-hour changes about 2 hPa (the sensor
//! tests check both on long runs).

use std::f64::consts::TAU;

use super::Rng;
use super::air::cos;

/// How much weather there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weather {
    /// None: the sea-level pressure stands still (a sealed chamber; the tide still turns).
    Still,
    /// Half the typical spread, a weak front about once a month.
    Calm,
    /// A mid-latitude station: 24-hour changes of about 5 hPa (standard deviation), a front of
    /// 4 to 9 hPa about every five days.
    Typical,
    /// 1.6 times the typical spread, a front of 5 to 12 hPa on two days in five.
    Stormy,
}

impl Weather {
    pub const ALL: [Weather; 4] = [
        Weather::Still,
        Weather::Calm,
        Weather::Typical,
        Weather::Stormy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Weather::Still => "still",
            Weather::Calm => "calm",
            Weather::Typical => "typical",
            Weather::Stormy => "stormy",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    /// (spectrum scale, fronts per day, the smallest and largest front, hPa).
    fn knobs(self) -> (f64, f64, f64, f64) {
        match self {
            Weather::Still => (0.0, 0.0, 0.0, 0.0),
            Weather::Calm => (22.0, 0.03, 2.0, 4.0),
            Weather::Typical => (44.0, 0.2, 4.0, 9.0),
            Weather::Stormy => (70.0, 0.4, 5.0, 12.0),
        }
    }
}

const COMPONENTS: usize = 32;
/// The spectrum's band, hours.
const SHORTEST_PERIOD_H: f64 = 2.0;
const LONGEST_PERIOD_H: f64 = 60.0 * 24.0;
/// The spectrum's corners: flat beyond 8 days, falling steeply below 8 hours.
const CORNER_SLOW_H: f64 = 8.0 * 24.0;
const CORNER_FAST_H: f64 = 8.0;
/// A front's effect ends within this many days of the day it starts (6 h rise + 72 h return).
const FRONT_REACH_DAYS: i64 = 4;

/// One air mass: the sea-level pressure's departure from its mean at any time.
#[derive(Debug, Clone)]
pub struct Sky {
    weather: Weather,
    seed: u64,
    /// (frequency in turns per hour, amplitude in hPa, phase in turns).
    components: Vec<(f64, f64, f64)>,
}

impl Sky {
    pub fn new(weather: Weather, seed: u64) -> Self {
        let (scale, ..) = weather.knobs();
        let mut components = Vec::new();
        if scale > 0.0 {
            let mut rng = Rng::new(seed ^ 0x5c4e_0f1a_3b2d_9e87);
            let (low, high) = (
                libm::log(1.0 / LONGEST_PERIOD_H),
                libm::log(1.0 / SHORTEST_PERIOD_H),
            );
            let step = (high - low) / COMPONENTS as f64;
            for i in 0..COMPONENTS {
                let (from, to) = (low + step * i as f64, low + step * (i + 1) as f64);
                let frequency = libm::exp(rng.uniform(from, to));
                let width = libm::exp(to) - libm::exp(from);
                let slow = frequency * CORNER_SLOW_H;
                let fast = frequency * CORNER_FAST_H;
                let density = 1.0 / ((1.0 + slow * slow) * (1.0 + fast * fast));
                let rayleigh = (-libm::log(1.0 - rng.next_f64())).sqrt();
                let amplitude = scale * (2.0 * density * width).sqrt() * rayleigh;
                components.push((frequency, amplitude, rng.next_f64()));
            }
        }
        Self {
            weather,
            seed,
            components,
        }
    }

    /// The sea-level pressure's departure from its mean at `epoch_ms`, hPa.
    pub fn departure_hpa(&self, epoch_ms: i64) -> f64 {
        let hours = epoch_ms as f64 / 3_600_000.0;
        let slow: f64 = self
            .components
            .iter()
            .map(|(frequency, amplitude, phase)| {
                let turns = frequency * hours;
                amplitude * cos(TAU * (turns - turns.floor() + phase))
            })
            .sum();
        slow + self.fronts_hpa(epoch_ms)
    }

    /// The fronts passing at `epoch_ms`: each UTC day may start one, decided by the day's own
    /// draws from the seed, so any sensor computes the same fronts.
    fn fronts_hpa(&self, epoch_ms: i64) -> f64 {
        let (_, per_day, smallest, largest) = self.weather.knobs();
        if per_day == 0.0 {
            return 0.0;
        }
        let today = epoch_ms.div_euclid(86_400_000);
        let hours = |ms: i64| ms as f64 / 3_600_000.0;
        let mut total = 0.0;
        for day in today - FRONT_REACH_DAYS..=today {
            let mut rng = Rng::new(self.seed ^ (day as u64).wrapping_mul(0x9fb2_1c65_1e98_df25));
            if rng.next_f64() >= per_day {
                continue;
            }
            let start_h = hours(day * 86_400_000) + 24.0 * rng.next_f64();
            let size = rng.uniform(smallest, largest);
            let size = if rng.next_f64() < 0.7 { -size } else { size };
            let rise_h = rng.uniform(2.0, 6.0);
            let return_h = rng.uniform(24.0, 72.0);
            let since = hours(epoch_ms) - start_h;
            let x = (since / rise_h).clamp(0.0, 1.0);
            let y = ((since - rise_h) / return_h).clamp(0.0, 1.0);
            total += size * x * x * (3.0 - 2.0 * x) * (1.0 - y) * (1.0 - y);
        }
        total
    }
}
