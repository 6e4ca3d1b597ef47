//! The Numenta Anomaly Benchmark's score of one data file, as numenta/NAB's `nab/sweeper.py`
//! computes it (`Sweeper.scoreDataSet` at threshold 0.5), on row indices: the rows are a
//! device's samples, a flag is a row whose anomaly score is 1 (every other row's is 0).
//!
//! - The first `min(floor(0.15 * rows), 750)` rows are probation: never scored.
//! - A window scored (one with a row after probation) starts at `-fnWeight`; a flagged row in it
//!   earns `scaledSigmoid(-(right - i + 1) / width) * tpWeight / scaledSigmoid(-1)`, the window
//!   keeping its best (the earliest flag's).
//! - A flagged row outside every window costs `fpWeight` times `scaledSigmoid` of its distance
//!   past the previous window's right edge over that window's width less one, or the whole
//!   `fpWeight` with no window before it. NAB divides by zero after a window one row wide;
//!   we divide by `max(width - 1, 1)` there, the one place we part from its code.
//! - Windows must not overlap or touch: [`super::score`] merges them first.
//!
//! The corpus score is NAB's normalisation over every file, devices without events included:
//! `100 * (raw - null) / (perfect - null)` with `null = -fnWeight` and `perfect = tpWeight` per
//! window scored (flagging nothing scores 0, flagging each window's first row scores 100).

/// One of NAB's application profiles (its `config/profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// The report's key.
    pub key: &'static str,
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

/// standard, reward_low_FP_rate, reward_low_FN_rate, in that order everywhere.
pub const PROFILES: [Profile; 3] = [
    Profile {
        key: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        key: "reward_low_fp",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        key: "reward_low_fn",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

/// NAB's `probationPercent`, and the file length past which probation stops growing.
const PROBATION_PERCENT: f64 = 0.15;
const PROBATION_CAP_ROWS: f64 = 5000.0;

/// Rows never scored at the start of a file of `rows` rows, computed as NAB does, in floating
/// point (`0.15 * rows` is not always exact).
pub fn probation(rows: u64) -> u64 {
    let length =
        libm::floor(PROBATION_PERCENT * rows as f64).min(PROBATION_PERCENT * PROBATION_CAP_ROWS);
    length as u64
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-x))
}

/// NAB's `scaledSigmoid`: about 1 at a window's left edge (-1), 0 at its right edge (0),
/// about -1 well past it, exactly -1 beyond 3.
pub fn scaled_sigmoid(position: f64) -> f64 {
    if position > 3.0 {
        -1.0
    } else {
        2.0 * sigmoid(-5.0 * position) - 1.0
    }
}

/// One file's NAB scores.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FileScore {
    pub rows: u64,
    pub probation: u64,
    /// Windows with a row after probation: the ones NAB scores.
    pub windows: u64,
    /// The raw score per profile, in [`PROFILES`] order.
    pub raw: [f64; 3],
}

/// Where a flagged row scores: in window `k` (the first flag there, the only one that counts:
/// the sigmoid falls across a window, so the earliest flag is its best), or outside all of
/// them. The value is NAB's unweighted score, the same for every profile.
enum Flag {
    Window(usize, f64),
    Outside(f64),
}

/// Scores one file of `rows` rows: `flagged` row indices (sorted, distinct) against `windows`
/// (`(left, right)` row indices, sorted, neither overlapping nor touching).
pub fn score_file(rows: u64, flagged: &[u64], windows: &[(u64, u64)]) -> FileScore {
    let probation = probation(rows);
    // Each flag's unweighted score once (the sigmoids are the costly part), then weighed per
    // profile with NAB's own arithmetic, so the figures are NAB's to the last bits.
    let mut flags = Vec::with_capacity(flagged.len());
    let mut next = 0; // the first window not wholly before the current row
    let mut scored_window = usize::MAX;
    for &i in flagged.iter().filter(|&&i| i >= probation && i < rows) {
        while next < windows.len() && windows[next].1 < i {
            next += 1;
        }
        match windows.get(next) {
            Some(&(left, right)) if left <= i => {
                if scored_window != next {
                    scored_window = next;
                    let width = (right - left + 1) as f64;
                    let position = -((right - i + 1) as f64) / width;
                    flags.push(Flag::Window(next, scaled_sigmoid(position)));
                }
            }
            _ => {
                let unweighted = match next.checked_sub(1).map(|k| windows[k]) {
                    None => -1.0,
                    Some((left, right)) => {
                        let width = right - left + 1;
                        let denominator = width.saturating_sub(1).max(1) as f64;
                        scaled_sigmoid((i - right) as f64 / denominator)
                    }
                };
                flags.push(Flag::Outside(unweighted));
            }
        }
    }
    let max_tp = scaled_sigmoid(-1.0);
    let mut found = vec![false; windows.len()];
    for flag in &flags {
        if let Flag::Window(k, _) = *flag {
            found[k] = true;
        }
    }
    let mut raw = [0.0; 3];
    for (profile, raw) in PROFILES.iter().zip(&mut raw) {
        // NAB sums a dict: the false alarms first, then each window in the order its first
        // scorable row comes in the rows sorted by anomaly score (flagged first, each group in
        // row order). Summed in that order, the figures agree to the last bits.
        let mut fp = 0.0;
        for flag in &flags {
            if let Flag::Outside(unweighted) = *flag {
                fp += unweighted * profile.fp;
            }
        }
        let mut sum = 0.0 + fp;
        for flag in &flags {
            if let Flag::Window(_, unweighted) = *flag {
                sum += (unweighted * profile.tp / max_tp).max(-profile.fn_);
            }
        }
        for (k, window) in windows.iter().enumerate() {
            if !found[k] && window.1 >= probation {
                sum += -profile.fn_;
            }
        }
        *raw = sum;
    }
    FileScore {
        rows,
        probation,
        windows: windows.iter().filter(|w| w.1 >= probation).count() as u64,
        raw,
    }
}

/// NAB's normalised corpus score for one profile from the files' raw scores and windows;
/// `None` without a window to score.
pub fn normalised(profile: &Profile, raw: f64, windows: u64) -> Option<f64> {
    let null = -profile.fn_ * windows as f64;
    let perfect = profile.tp * windows as f64;
    (windows > 0).then(|| 100.0 * (raw - null) / (perfect - null))
}
