//! Scoring an anomaly detector against the ground truth, with the literature's definitions, so
//! that a detector that flags everything scores badly and a number can sit beside a published
//! one. Pure, so every runner (the monitor page, `dps368-sim score`, `dps368-sim monitor`)
//! scores the same way. The README's "Scoring a detector" gives the rules in words.
//!
//! For one device (devices are scored apart: their sequence numbers are their own):
//! - the **rows** are the samples received, each sequence number once, in sequence order; a
//!   flag is a row a verdict called an anomaly (the last verdict on a sample wins); a flag on a
//!   sample that never arrived is no row and scores nothing;
//! - an event's **window** is its samples widened by the tolerance `T`, `[first, last + T]`; a
//!   dropout's always reaches the first sample after the gap (the first one that can show it).
//!   An event whose window holds no row is *unseen* and not scored;
//! - **false positives are flagged samples outside every window**, counted one by one; the
//!   runs of consecutive ones are a second figure (one long false alarm is one run);
//! - **precision is point-wise** (flagged samples in windows / flagged samples), **recall is
//!   event-wise** (events with a flag in their window / events scored), **F1 is their harmonic
//!   mean**: the composite F-score of Garg et al. (IEEE TNNLS 2021);
//! - the **delay** is the first flagged sample in the window minus the event's first, in
//!   samples, averaged over the events found;
//! - **NAB**, the three profiles of the Numenta Anomaly Benchmark, as [`nab`] computes them on
//!   the rows, with the windows above merged where they overlap or touch, and normalised over
//!   all devices;
//! - the **range-based precision and recall** of Tatbul et al. (NeurIPS 2018) with α = 0, flat
//!   bias and cardinality one, on the rows: the real ranges are the merged windows, the
//!   predicted ones the runs of consecutive flagged rows; precision is the mean over predicted
//!   ranges of the share of each inside real ones, recall the mean over real ranges of the share
//!   of each flagged (`prts`' `ts_precision`/`ts_recall` with those parameters).

pub mod board;
pub mod nab;
mod rows;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use nab::{PROFILES, Profile};
pub use rows::Rows;

use crate::sensor::AnomalyKind;

/// One labelled anomaly event: the samples `first..=last` of one device, as its label said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub id: u64,
    pub kind: AnomalyKind,
    pub first: u64,
    pub last: u64,
    /// The event's difficulty as its label carried it (`anomaly_scale`, `anomaly_duration`,
    /// `snr`).
    pub scale: Option<f64>,
    pub duration: Option<f64>,
    pub snr: Option<f64>,
}

impl Event {
    pub fn new(id: u64, kind: AnomalyKind, first: u64, last: u64) -> Self {
        Self {
            id,
            kind,
            first,
            last,
            scale: None,
            duration: None,
            snr: None,
        }
    }

    /// The sequence numbers in which flagging it counts, `tolerance` samples after its last
    /// included (never ending before it starts, whatever a label says).
    pub fn window(&self, tolerance: u64) -> (u64, u64) {
        let mut end = self.last.saturating_add(tolerance).max(self.first);
        if self.kind == AnomalyKind::Dropout {
            end = end.max(self.last.saturating_add(1));
        }
        (self.first, end)
    }
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub event: Event,
    /// Its window in sequence numbers.
    pub window: (u64, u64),
    /// Whether a received sample lies in its window; an unseen event is not scored.
    pub seen: bool,
    /// The first flagged sample in its window, if any.
    pub at: Option<u64>,
}

/// Recall and delay for one anomaly kind.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindScore {
    pub events: u64,
    pub found: u64,
    pub recall: Option<f64>,
    pub mean_delay: Option<f64>,
    delay_sum: u64,
}

/// The signal-to-noise bins recall is reported in, as (shown, name in gates and JSON, upper
/// bound): `< 1`, `1 to 3`, `3 to 10`, `>= 10`. An event whose label carries no SNR (a
/// dropout's, or a label from before SNRs) is in none.
pub const SNR_BINS: [(&str, &str, f64); 4] = [
    ("<1", "lt1", 1.0),
    ("1-3", "1_3", 3.0),
    ("3-10", "3_10", 10.0),
    (">=10", "ge10", f64::INFINITY),
];

/// The bin of an SNR, an index into [`SNR_BINS`].
pub fn snr_bin(snr: f64) -> usize {
    SNR_BINS
        .iter()
        .position(|(.., below)| snr < *below)
        .unwrap_or(SNR_BINS.len() - 1)
}

impl KindScore {
    /// One event scored: found after `delay` samples, or missed.
    fn add(&mut self, delay: Option<u64>) {
        self.events += 1;
        if let Some(delay) = delay {
            self.found += 1;
            self.delay_sum = self.delay_sum.saturating_add(delay);
        }
    }
}

/// False alarms listed at most, per device: the first ones, as runs.
pub const FALSE_ALARM_RUNS_LISTED: usize = 1000;

/// The scores of one detector on one device, or on all of them ([`total`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Events scored (a row in their window), found (TP) and missed (FN).
    pub events: u64,
    pub tp: u64,
    pub fn_: u64,
    /// Events whose window holds no received sample: not scored.
    pub unseen: u64,
    /// Flagged samples (rows), those inside some window, and those outside every one (FP).
    pub flagged: u64,
    pub flagged_in_windows: u64,
    pub fp: u64,
    /// Runs of consecutive false-positive samples.
    pub fp_runs: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Samples from an event's first to its first flag, averaged over the TPs.
    pub mean_delay: Option<f64>,
    /// Indexed by [`AnomalyKind::index`].
    pub by_kind: [KindScore; AnomalyKind::ALL.len()],
    /// Recall and delay per [`SNR_BINS`] bin, of the events whose labels carry an SNR.
    pub by_snr: [KindScore; SNR_BINS.len()],
    /// NAB's rows, probation and windows scored, and its raw score per profile.
    pub nab_file: nab::FileScore,
    /// NAB's normalised score per profile, `None` without a window to score.
    pub nab: [Option<f64>; 3],
    /// Tatbul et al.'s range-based precision and recall, `None` without a predicted or a real
    /// range (prts refuses such a series).
    pub range_precision: Option<f64>,
    pub range_recall: Option<f64>,
    range: RangeSums,
    /// Per device only (empty in a total): each event, NAB's windows (merged) in sequence
    /// numbers, and the first false-alarm runs.
    pub found: Vec<Found>,
    pub nab_windows: Vec<(u64, u64)>,
    pub false_alarms: Vec<(u64, u64)>,
    delay_sum: u64,
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// F1: the harmonic mean of precision and recall, 0 when both are 0, undefined while either is.
fn harmonic_mean(precision: Option<f64>, recall: Option<f64>) -> Option<f64> {
    match (precision?, recall?) {
        (p, r) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        _ => Some(0.0),
    }
}

impl Score {
    /// The ratios, delays and normalised NAB figures, from the counts.
    fn finish(mut self) -> Self {
        for kind in self.by_kind.iter_mut().chain(&mut self.by_snr) {
            kind.recall = ratio(kind.found, kind.events);
            kind.mean_delay = ratio(kind.delay_sum, kind.found);
        }
        self.precision = ratio(self.flagged_in_windows, self.flagged);
        self.recall = ratio(self.tp, self.events);
        self.f1 = harmonic_mean(self.precision, self.recall);
        self.mean_delay = ratio(self.delay_sum, self.tp);
        for (k, profile) in PROFILES.iter().enumerate() {
            self.nab[k] = nab::normalised(profile, self.nab_file.raw[k], self.nab_file.windows);
        }
        let r = self.range;
        self.range_precision = (r.predicted > 0).then(|| r.precision_sum / r.predicted as f64);
        self.range_recall = (r.real > 0).then(|| r.recall_sum / r.real as f64);
        self
    }

    fn empty() -> Self {
        Score {
            events: 0,
            tp: 0,
            fn_: 0,
            unseen: 0,
            flagged: 0,
            flagged_in_windows: 0,
            fp: 0,
            fp_runs: 0,
            precision: None,
            recall: None,
            f1: None,
            mean_delay: None,
            by_kind: [KindScore::default(); AnomalyKind::ALL.len()],
            by_snr: [KindScore::default(); SNR_BINS.len()],
            nab_file: nab::FileScore::default(),
            nab: [None; 3],
            range_precision: None,
            range_recall: None,
            range: RangeSums::default(),
            found: vec![],
            nab_windows: vec![],
            false_alarms: vec![],
            delay_sum: 0,
        }
    }
}

/// Scores one device: `flagged` (the sequence numbers a detector flagged) against `events`,
/// over the samples received (`rows`), with a tolerance of `tolerance` samples.
pub fn score(rows: &Rows, events: &[Event], flagged: &BTreeSet<u64>, tolerance: u64) -> Score {
    let mut score = Score::empty();
    score.found.reserve_exact(events.len());
    // The flagged rows as row indices, in order, beside their sequence numbers: an event's
    // first flag is one binary search, however many flags on samples that never arrived a
    // publisher sends.
    let (flagged_rows, flagged_sequences): (Vec<u64>, Vec<u64>) = flagged
        .iter()
        .filter_map(|&s| rows.index_of(s).map(|index| (index, s)))
        .unzip();
    // Each event's window, and the rows in it as row indices.
    let mut row_windows = Vec::with_capacity(events.len());
    for event in events {
        let window = event.window(tolerance);
        let rows_in = match (rows.at_or_after(window.0), rows.at_or_before(window.1)) {
            (Some((a, first)), Some((b, _))) if first <= window.1 && a <= b => Some((a, b)),
            _ => None,
        };
        let at = rows_in.and_then(|(a, b)| {
            let k = flagged_rows.partition_point(|&i| i < a);
            flagged_rows
                .get(k)
                .filter(|&&i| i <= b)
                .map(|_| flagged_sequences[k])
        });
        match rows_in {
            None => score.unseen += 1,
            Some(range) => {
                row_windows.push(range);
                score.events += 1;
                let delay = at.map(|at| at - event.first);
                score.by_kind[event.kind.index()].add(delay);
                if let Some(snr) = event.snr {
                    score.by_snr[snr_bin(snr)].add(delay);
                }
                match delay {
                    Some(delay) => {
                        score.tp += 1;
                        score.delay_sum = score.delay_sum.saturating_add(delay);
                    }
                    None => score.fn_ += 1,
                }
            }
        }
        score.found.push(Found {
            event: *event,
            window,
            seen: rows_in.is_some(),
            at,
        });
    }
    // NAB's windows: the events' row windows merged where they overlap or touch.
    row_windows.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(row_windows.len());
    for (a, b) in row_windows {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    // Each flagged row, inside a window or not; false alarms as runs of sequence numbers.
    let mut next = 0;
    let mut run: Option<(u64, u64)> = None;
    for (&index, &sequence) in flagged_rows.iter().zip(&flagged_sequences) {
        score.flagged += 1;
        while next < merged.len() && merged[next].1 < index {
            next += 1;
        }
        if merged.get(next).is_some_and(|w| w.0 <= index) {
            score.flagged_in_windows += 1;
            continue;
        }
        score.fp += 1;
        run = match run {
            Some((first, last)) if last.checked_add(1) == Some(sequence) => Some((first, sequence)),
            Some(done) => {
                score.fp_runs += 1;
                if score.false_alarms.len() < FALSE_ALARM_RUNS_LISTED {
                    score.false_alarms.push(done);
                }
                Some((sequence, sequence))
            }
            None => Some((sequence, sequence)),
        };
    }
    if let Some(done) = run {
        score.fp_runs += 1;
        if score.false_alarms.len() < FALSE_ALARM_RUNS_LISTED {
            score.false_alarms.push(done);
        }
    }
    score.nab_file = nab::score_file(rows.len(), &flagged_rows, &merged);
    score.range = range_sums(&flagged_rows, &merged);
    score.nab_windows = merged
        .iter()
        .filter_map(|&(a, b)| Some((rows.sequence(a)?, rows.sequence(b)?)))
        .collect();
    score.finish()
}

/// The sums behind the range-based precision and recall: every device's ranges weigh the same
/// in a total, as if the devices' rows were one series with a gap between them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RangeSums {
    precision_sum: f64,
    predicted: u64,
    recall_sum: f64,
    real: u64,
}

impl RangeSums {
    fn add(&mut self, other: RangeSums) {
        self.precision_sum += other.precision_sum;
        self.predicted += other.predicted;
        self.recall_sum += other.recall_sum;
        self.real += other.real;
    }
}

/// Tatbul et al.'s sums (α = 0, flat bias, cardinality one) for flagged row indices (sorted)
/// against real ranges (row index pairs, sorted, neither overlapping nor touching).
fn range_sums(flagged_rows: &[u64], real: &[(u64, u64)]) -> RangeSums {
    let overlap = |a: (u64, u64), b: (u64, u64)| (a.1.min(b.1) + 1).saturating_sub(a.0.max(b.0));
    // The predicted ranges: runs of consecutive flagged rows.
    let mut predicted: Vec<(u64, u64)> = Vec::new();
    for &row in flagged_rows {
        match predicted.last_mut() {
            Some(run) if run.1 + 1 == row => run.1 = row,
            _ => predicted.push((row, row)),
        }
    }
    let mut sums = RangeSums {
        predicted: predicted.len() as u64,
        real: real.len() as u64,
        ..RangeSums::default()
    };
    let mut covered = vec![0u64; real.len()];
    let mut first = 0; // the first real range not wholly before the current predicted one
    for &p in &predicted {
        while first < real.len() && real[first].1 < p.0 {
            first += 1;
        }
        let mut inside = 0;
        for (k, &r) in real.iter().enumerate().skip(first) {
            if r.0 > p.1 {
                break;
            }
            let o = overlap(p, r);
            inside += o;
            covered[k] += o;
        }
        sums.precision_sum += inside as f64 / (p.1 - p.0 + 1) as f64;
    }
    for (k, &r) in real.iter().enumerate() {
        sums.recall_sum += covered[k] as f64 / (r.1 - r.0 + 1) as f64;
    }
    sums
}

/// The sum of several devices' scores: counts added (per kind too), NAB's raw scores and
/// windows summed and normalised once over all of them, as NAB totals a corpus; the per-device
/// lists stay with the devices.
pub fn total<'a>(scores: impl IntoIterator<Item = &'a Score>) -> Score {
    let mut sum = Score::empty();
    for s in scores {
        sum.events += s.events;
        sum.tp += s.tp;
        sum.fn_ += s.fn_;
        sum.unseen += s.unseen;
        sum.flagged += s.flagged;
        sum.flagged_in_windows += s.flagged_in_windows;
        sum.fp += s.fp;
        sum.fp_runs += s.fp_runs;
        sum.delay_sum = sum.delay_sum.saturating_add(s.delay_sum);
        let parts = s.by_kind.iter().chain(&s.by_snr);
        for (kind, part) in sum.by_kind.iter_mut().chain(&mut sum.by_snr).zip(parts) {
            kind.events += part.events;
            kind.found += part.found;
            kind.delay_sum = kind.delay_sum.saturating_add(part.delay_sum);
        }
        sum.nab_file.rows += s.nab_file.rows;
        sum.nab_file.probation += s.nab_file.probation;
        sum.nab_file.windows += s.nab_file.windows;
        sum.range.add(s.range);
        for (raw, part) in sum.nab_file.raw.iter_mut().zip(s.nab_file.raw) {
            *raw += part;
        }
    }
    sum.finish()
}
