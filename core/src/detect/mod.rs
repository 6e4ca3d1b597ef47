//! The built-in baseline detector: a streaming anomaly detector that sees only blind telemetry
//! (sequence, pressure, temperature), one state per device, and says for each sample whether
//! it looks anomalous. It is a reference to compare other detectors against, not a good one:
//! four plain checks, each aimed at a kind of the catalogue.
//!
//! - **Level**: a robust z-score of the pressure against the last sample it did not flag,
//!   scaled by the noise of the last [`BASELINE`] such samples (the median of their absolute
//!   successive differences, as a standard deviation, widened by √gap when samples were
//!   flagged or missing in between). The air wanders, so the reference is the last normal
//!   reading rather than a long median; a flagged sample never becomes the reference, so a
//!   step stays flagged until it ends. Spikes, steps, noise bursts and most drifts.
//! - **CUSUM** of the same standardised deviation, both ways, for drifts too slow for the
//!   level check.
//! - **Gap**: a sequence number that skips ahead flags the first sample after the gap (a
//!   dropout's swallowed samples never arrive).
//! - **Repeat**: a reading identical to the last one in both pressure and temperature (a
//!   real part's noise makes that rare; a stuck one does nothing else); and a reading at the
//!   part's limits (300 or 1200 hPa, -40 or 85 °C).
//!
//! Pure and deterministic, like the sensor: the monitor page runs it on what it receives and
//! publishes its verdicts like any external detector would.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

/// Unflagged samples the baseline keeps.
pub const BASELINE: usize = 32;
/// Samples needed before the level and CUSUM checks speak.
const WARM_UP: usize = 8;
/// Robust z-score above which a level is anomalous.
const Z_LIMIT: f64 = 6.0;
/// CUSUM slack and limit, in noise units.
const CUSUM_SLACK: f64 = 1.0;
const CUSUM_LIMIT: f64 = 12.0;
/// The least noise assumed, in hPa: the part's quantum is 0.0001 hPa, and a flat signal must
/// not make every change infinitely surprising.
const MIN_NOISE_HPA: f64 = 0.002;
/// After this many flagged samples in a row the level is taken as the new normal (the weather
/// moved, or the detector was wrong), and the baseline starts again.
const REBASE_AFTER: u32 = 60;

/// The detector's say on one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub sequence: u64,
    pub anomaly: bool,
    /// How anomalous, 0 to 1 (1 at twice a check's limit or more).
    pub score: f64,
}

impl Verdict {
    /// `{"sequence":N,"anomaly":true,"score":0.93}`, the verdict schema every detector uses.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"sequence\":{},\"anomaly\":{},\"score\":{}}}",
            self.sequence,
            self.anomaly,
            crate::sensor::Decimal(self.score, 3, true)
        )
    }
}

/// One device's detector state.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The last unflagged samples' sequences and pressures, oldest first.
    normal: VecDeque<(u64, f64)>,
    last: Option<(u64, f64, f64)>,
    cusum_up: f64,
    cusum_down: f64,
    flagged_in_a_row: u32,
}

impl Baseline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks at one sample; samples must come in sequence order (a late or repeated one is
    /// judged against what came before it, and does not move the state back).
    pub fn observe(&mut self, sequence: u64, pressure: f64, temperature: f64) -> Verdict {
        let mut score: f64 = 0.0;
        if let Some((last_sequence, last_p, last_t)) = self.last {
            if sequence <= last_sequence {
                return Verdict {
                    sequence,
                    anomaly: false,
                    score: 0.0,
                };
            }
            if sequence > last_sequence + 1 {
                score = 1.0;
            }
            if pressure == last_p && temperature == last_t {
                score = 1.0;
            }
        }
        if !(300.0 < pressure && pressure < 1200.0 && -40.0 < temperature && temperature < 85.0) {
            score = 1.0;
        }
        self.last = Some((sequence, pressure, temperature));
        if let (true, Some(&(reference_sequence, reference))) =
            (self.normal.len() >= WARM_UP, self.normal.back())
        {
            let gap = (sequence - reference_sequence) as f64;
            let z = (pressure - reference) / (self.noise() * gap.sqrt());
            score = score.max(z.abs() / (2.0 * Z_LIMIT));
            self.cusum_up = (self.cusum_up + z - CUSUM_SLACK).max(0.0);
            self.cusum_down = (self.cusum_down - z - CUSUM_SLACK).max(0.0);
            let cusum = self.cusum_up.max(self.cusum_down);
            score = score.max(cusum / (2.0 * CUSUM_LIMIT));
        }
        let anomaly = score >= 0.5;
        if anomaly {
            self.flagged_in_a_row += 1;
            if self.flagged_in_a_row >= REBASE_AFTER {
                self.normal.clear();
                self.flagged_in_a_row = 0;
                self.reset_cusum();
            }
        } else {
            self.flagged_in_a_row = 0;
            if self.normal.len() == BASELINE {
                self.normal.pop_front();
            }
            self.normal.push_back((sequence, pressure));
        }
        if anomaly {
            // One alarm per excursion: the sums start again once it is raised.
            self.reset_cusum();
        }
        Verdict {
            sequence,
            anomaly,
            score: score.min(1.0),
        }
    }

    fn reset_cusum(&mut self) {
        self.cusum_up = 0.0;
        self.cusum_down = 0.0;
    }

    /// The noise of one step between normal samples: the median of their absolute successive
    /// differences as a standard deviation (÷ 0.6745), never below [`MIN_NOISE_HPA`].
    fn noise(&self) -> f64 {
        let mut steps: Vec<f64> = self
            .normal
            .iter()
            .zip(self.normal.iter().skip(1))
            .map(|(a, b)| (b.1 - a.1).abs() / ((b.0 - a.0) as f64).sqrt())
            .collect();
        (median(&mut steps) / 0.6745).max(MIN_NOISE_HPA)
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
