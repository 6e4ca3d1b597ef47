//! The realistic profile's physics: real air over a real DPS368.
//!
//! Pressure = sea-level pressure (the weather of [`super::sky`], shared by every sensor of a
//! fleet) + the semidiurnal atmospheric tide, carried to the station altitude by the standard
//! atmosphere, plus the part's own offset (within its datasheet accuracy), its temperature
//! coefficient and its measurement noise at the chosen oversampling. Temperature = a settable
//! mean + the part's offset + a daily cycle + slow noise of its own + measurement noise.

use std::f64::consts::TAU;

use super::Rng;
use super::clock::local_hour;
use super::sky::{Sky, Weather};

/// Mean sea-level pressure, hPa.
pub const SEA_LEVEL_HPA: f64 = 1013.25;
/// The part's limits.
pub const PRESSURE_LIMITS_HPA: (f64, f64) = (300.0, 1200.0);
pub const TEMPERATURE_LIMITS_C: (f64, f64) = (-40.0, 85.0);
/// Temperature leaks into pressure by this much per kelvin away from 25 C (datasheet).
pub const TEMPERATURE_COEFFICIENT_PA_PER_K: f64 = 0.5;
/// The datasheet's absolute accuracy: each part reads off by a fixed amount within these.
pub const PART_PRESSURE_ACCURACY_HPA: f64 = 1.0;
pub const PART_TEMPERATURE_ACCURACY_C: f64 = 0.5;
/// Pressure noise at 64x oversampling, Pa RMS: the datasheet's 0.002 hPa precision.
pub const NOISE_AT_64X_PA: f64 = 0.2;

/// Oversampling rates the part offers, with the measurement time of each (Infineon's driver).
pub const OVERSAMPLING: [(u32, f64); 8] = [
    (1, 3.6),
    (2, 5.2),
    (4, 8.4),
    (8, 14.8),
    (16, 27.6),
    (32, 53.2),
    (64, 104.4),
    (128, 206.8),
];

/// Measurement time in ms at an oversampling rate, if the part offers that rate.
pub fn measurement_time_ms(oversampling: u32) -> Option<f64> {
    OVERSAMPLING
        .iter()
        .find(|(rate, _)| *rate == oversampling)
        .map(|(_, ms)| *ms)
}

/// Pressure noise RMS in Pa at an oversampling rate: 0.2 Pa at 64x, scaling as 1/sqrt(rate).
pub fn pressure_noise_pa(oversampling: u32) -> f64 {
    NOISE_AT_64X_PA * (64.0 / f64::from(oversampling.max(1))).sqrt()
}

/// Standard-atmosphere pressure at `altitude_m` for a sea-level pressure.
pub fn pressure_at_altitude(sea_level_hpa: f64, altitude_m: f64) -> f64 {
    let base = (1.0 - 2.255_77e-5 * altitude_m).max(1e-12);
    // exp(ln) rather than powf: the page already carries exp and ln, and pow would add 1 KB.
    // libm's, not std's: the same bits natively as in the page (see core/Cargo.toml).
    sea_level_hpa * libm::exp(5.255_88 * libm::log(base))
}

/// Cosine for the model's arguments (a few turns at most), good to 1e-15.
///
/// Written out because libm's cos brings a 6 KB argument reduction for huge inputs into the
/// page; here a turn is taken off directly, then a Taylor series on [-pi/4, pi/4].
pub fn cos(x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI, TAU};
    let mut x = x - TAU * (x / TAU).round(); // [-pi, pi]
    let mut sign = 1.0;
    if x.abs() > FRAC_PI_2 {
        // cos(x) = -cos(pi - |x|)
        x = PI - x.abs();
        sign = -1.0;
    }
    x = x.abs(); // [0, pi/2]
    if x > FRAC_PI_2 / 2.0 {
        // cos(x) = sin(pi/2 - x), on [0, pi/4]
        return sign * sin_taylor(FRAC_PI_2 - x);
    }
    sign * cos_taylor(x)
}

fn cos_taylor(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=10 {
        term *= -x2 / f64::from((2 * n - 1) * (2 * n));
        sum += term;
    }
    sum
}

fn sin_taylor(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..=10 {
        term *= -x2 / f64::from((2 * n) * (2 * n + 1));
        sum += term;
    }
    sum
}

/// The model's knobs. The defaults describe ordinary indoor air; tests turn parts off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AirParams {
    pub oversampling: u32,
    pub altitude_m: f64,
    /// Semidiurnal tide amplitude, hPa (peaks near 10:00 and 22:00 local time).
    pub tide_hpa: f64,
    pub mean_temperature_c: f64,
    /// Daily temperature swing, C (amplitude; warmest at 15:00 local time).
    pub daily_temperature_c: f64,
    /// How much the sea-level pressure moves ([`Weather`]).
    pub weather: Weather,
    /// The air mass's seed: every sensor of a fleet has the fleet's, so they share one sky.
    pub sky_seed: u64,
    /// Scales each part's fixed offsets (1 = anywhere within the datasheet's accuracy, 0 =
    /// none).
    pub accuracy: f64,
    /// Slow temperature wander, C (stationary spread).
    pub temperature_wander_c: f64,
    /// Temperature measurement noise, C RMS.
    pub temperature_noise_c: f64,
    /// Scales the pressure measurement noise (1 = the part's).
    pub noise_scale: f64,
    /// The local time zone, minutes east of UTC, for the tide and the daily cycle.
    pub tz_offset_min: i32,
}

impl Default for AirParams {
    fn default() -> Self {
        Self {
            oversampling: 16,
            altitude_m: 0.0,
            tide_hpa: 0.5,
            mean_temperature_c: 24.0,
            daily_temperature_c: 1.5,
            weather: Weather::Typical,
            sky_seed: 0,
            accuracy: 1.0,
            temperature_wander_c: 0.3,
            temperature_noise_c: 0.005,
            noise_scale: 1.0,
            tz_offset_min: 0,
        }
    }
}

/// The state of the air between samples.
#[derive(Debug, Clone)]
pub struct Air {
    params: AirParams,
    sky: Sky,
    rng: Rng,
    /// The part's fixed offsets, hPa and C.
    offset_hpa: f64,
    offset_c: f64,
    /// Slow temperature deviation from the cycle, C.
    wander: f64,
    last_ms: Option<i64>,
}

/// How long the temperature's wander takes to return halfway to the cycle, days.
const WANDER_HALF_LIFE_DAYS: f64 = 2.0;

impl Air {
    /// The air over the part whose own draws come from `seed`; the sky from the params'.
    pub fn new(params: AirParams, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let offset_hpa = params.accuracy * rng.uniform(-1.0, 1.0) * PART_PRESSURE_ACCURACY_HPA;
        let offset_c = params.accuracy * rng.uniform(-1.0, 1.0) * PART_TEMPERATURE_ACCURACY_C;
        Self {
            sky: Sky::new(params.weather, params.sky_seed),
            params,
            rng,
            offset_hpa,
            offset_c,
            wander: 0.0,
            last_ms: None,
        }
    }

    pub fn params(&self) -> &AirParams {
        &self.params
    }

    /// The true (noise-free) pressure and temperature, and the measured ones, at `epoch_ms`.
    /// Draws the same number of random numbers at every call, so streams stay aligned.
    pub fn measure(&mut self, epoch_ms: i64) -> (f64, f64) {
        let p = self.params;
        let dt_days = match self.last_ms {
            Some(last) => ((epoch_ms - last).max(0) as f64) / 86_400_000.0,
            None => 0.0,
        };
        self.last_ms = Some(epoch_ms);
        // An Ornstein-Uhlenbeck step, exact for any dt: the part's own temperature wander.
        let theta = std::f64::consts::LN_2 / WANDER_HALF_LIFE_DAYS;
        let decay = libm::exp(-theta * dt_days);
        let wander_sd = p.temperature_wander_c * (1.0 - decay * decay).sqrt();
        self.wander = self.wander * decay + wander_sd * self.rng.gaussian();

        let hour = local_hour(epoch_ms, p.tz_offset_min);
        let tide = p.tide_hpa * cos(TAU * (hour - 10.0) / 12.0);
        let daily = p.daily_temperature_c * cos(TAU * (hour - 15.0) / 24.0);
        let temperature = p.mean_temperature_c + self.offset_c + daily + self.wander;
        let sea_level = SEA_LEVEL_HPA + self.sky.departure_hpa(epoch_ms) + tide;
        let leak_hpa = TEMPERATURE_COEFFICIENT_PA_PER_K * (temperature - 25.0) / 100.0;
        let noise_hpa = pressure_noise_pa(p.oversampling) * p.noise_scale / 100.0;
        let pressure = pressure_at_altitude(sea_level, p.altitude_m)
            + self.offset_hpa
            + leak_hpa
            + noise_hpa * self.rng.gaussian();
        let measured_temperature = temperature + p.temperature_noise_c * self.rng.gaussian();
        (pressure, measured_temperature)
    }
}
