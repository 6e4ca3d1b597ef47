//! Scoring an anomaly detector against the ground truth: which labelled events it found, how
//! late, and how often it cried wolf. Pure, so any runner (the monitor page, a native CI job)
//! scores the same way.
//!
//! The rules (the README's "Scoring a detector" gives them too), for one device's events and
//! flags (devices are scored apart: their sequence numbers are their own):
//! - an event's window is `[first, last + T]`, `T` the tolerance in samples; a dropout's window
//!   always reaches the first sample after the gap (the first moment it can be seen);
//! - a true positive (TP) is an event with at least one flagged sample in its window, a false
//!   negative (FN) one with none;
//! - a false positive (FP) is a maximal run of consecutive flagged sequence numbers that touches
//!   no event window (one long false alarm counts once). A run that touches a window is no
//!   false alarm however long it is, so flagging every sample scores precision 1: the flagged
//!   samples outside every window are counted too, to show it;
//! - precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean, each `None`
//!   while undefined; the detection delay is the first flagged sequence minus the event's first,
//!   in samples, averaged over the TPs;
//! - a NAB-style score with the standard profile's weights (TP 1.0, FN 1.0, FP 0.11): a found
//!   event earns the scaled sigmoid of where in its window it was first flagged, a missed one
//!   costs 1.0, a false run 0.11; normalised so that flagging nothing scores 0 and flagging each
//!   event at the first sample it can be seen (a dropout's: the one after the gap) scores 100;
//!   false runs can take it below 0. It departs from NAB in its windows (ours are the events'
//!   own, widened by `T`; NAB's are a tenth of the data file around each event) and in counting
//!   false alarms per run rather than per flagged sample.

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::sensor::AnomalyKind;

/// The standard profile's weights of the Numenta Anomaly Benchmark.
pub const NAB_TP: f64 = 1.0;
pub const NAB_FN: f64 = 1.0;
pub const NAB_FP: f64 = 0.11;

/// One labelled anomaly event: the samples `first..=last` of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub kind: AnomalyKind,
    pub first: u64,
    pub last: u64,
}

impl Event {
    /// The samples in which flagging it counts, `tolerance` samples after its last included
    /// (never ending before it starts, whatever a label says).
    pub fn window(&self, tolerance: u64) -> (u64, u64) {
        let mut end = self.last.saturating_add(tolerance).max(self.first);
        if self.kind == AnomalyKind::Dropout {
            end = end.max(self.last.saturating_add(1));
        }
        (self.first, end)
    }

    /// The first sample in which it can be seen: a dropout's swallowed samples never arrive.
    fn visible_from(&self, window: (u64, u64)) -> u64 {
        match self.kind {
            AnomalyKind::Dropout => self.last.saturating_add(1).clamp(window.0, window.1),
            _ => window.0,
        }
    }
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub event: Event,
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
}

/// The scores of one detector on one device (or on all, from all their events and flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Samples from an event's first to its first flag, averaged over the TPs.
    pub mean_delay: Option<f64>,
    /// Indexed by [`AnomalyKind::index`].
    pub by_kind: [KindScore; AnomalyKind::ALL.len()],
    pub nab: Option<f64>,
    /// Flagged samples in no event's window (a detector that flags everything has many).
    pub flagged_outside: u64,
    pub events: Vec<Found>,
}

/// NAB's scaled sigmoid: near 1 for a detection at the start of a window, falling to 0 at
/// its end (`y` runs from -1 to 0 across the window).
fn scaled_sigmoid(y: f64) -> f64 {
    2.0 / (1.0 + libm::exp(5.0 * y)) - 1.0
}

/// Where in `start..=end` a flag at `at` falls, as NAB's `y`: -1 at `start` (or before it);
/// the last sample still earns some credit.
fn position(start: u64, end: u64, at: u64) -> f64 {
    let len = (end - start) as f64 + 1.0;
    -(((end - at.max(start)) as f64 + 1.0) / len)
}

/// The union of the event windows as disjoint ranges, in order: whether a run of flags touches
/// any window is one binary search, so a long run with many flags and events stays fast.
struct Union(Vec<(u64, u64)>);

impl Union {
    fn of(windows: &[(u64, u64)]) -> Self {
        let mut sorted = windows.to_vec();
        sorted.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
        for (start, end) in sorted {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        Self(merged)
    }

    /// Whether `first..=last` overlaps any window.
    fn touches(&self, first: u64, last: u64) -> bool {
        // The first range that does not end before `first`.
        let index = self.0.partition_point(|&(_, end)| end < first);
        self.0.get(index).is_some_and(|&(start, _)| start <= last)
    }
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

fn mean(sum: u64, count: u64) -> Option<f64> {
    ratio(sum, count)
}

/// Scores `flagged` (the sequence numbers a detector flagged) against `events` with a
/// tolerance of `tolerance` samples.
pub fn score(events: &[Event], flagged: &BTreeSet<u64>, tolerance: u64) -> Score {
    let windows: Vec<(u64, u64)> = events.iter().map(|e| e.window(tolerance)).collect();
    let mut found = Vec::with_capacity(events.len());
    let (mut tp, mut delay_sum) = (0, 0);
    let mut by_kind = [KindScore::default(); AnomalyKind::ALL.len()];
    let mut kind_delay = [0u64; AnomalyKind::ALL.len()];
    let (mut nab_raw, mut nab_perfect) = (0.0, 0.0);
    for (event, &(start, end)) in events.iter().zip(&windows) {
        let at = flagged.range(start..=end).next().copied();
        let kind = &mut by_kind[event.kind.index()];
        kind.events += 1;
        nab_perfect += NAB_TP * scaled_sigmoid(-1.0);
        match at {
            Some(at) => {
                tp += 1;
                delay_sum = u64::saturating_add(delay_sum, at - event.first);
                kind.found += 1;
                let delay = &mut kind_delay[event.kind.index()];
                *delay = u64::saturating_add(*delay, at - event.first);
                let from = event.visible_from((start, end));
                nab_raw += NAB_TP * scaled_sigmoid(position(from, end, at));
            }
            None => nab_raw -= NAB_FN,
        }
        found.push(Found { event: *event, at });
    }
    let fn_ = events.len() as u64 - tp;
    let covered = Union::of(&windows);
    // Maximal runs of consecutive flags; a run touching any window is no false alarm.
    let mut fp = 0;
    let mut run: Option<(u64, u64)> = None;
    let close = |run: (u64, u64), fp: &mut u64| {
        if !covered.touches(run.0, run.1) {
            *fp += 1;
        }
    };
    for &sequence in flagged {
        run = match run {
            Some((first, last)) if last + 1 == sequence => Some((first, sequence)),
            Some(done) => {
                close(done, &mut fp);
                Some((sequence, sequence))
            }
            None => Some((sequence, sequence)),
        };
    }
    if let Some(done) = run {
        close(done, &mut fp);
    }
    nab_raw -= NAB_FP * fp as f64;
    let flagged_outside = flagged.iter().filter(|&&f| !covered.touches(f, f)).count() as u64;
    for (kind, delay) in by_kind.iter_mut().zip(kind_delay) {
        kind.recall = ratio(kind.found, kind.events);
        kind.mean_delay = mean(delay, kind.found);
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = harmonic_mean(precision, recall);
    let null = -NAB_FN * events.len() as f64;
    let nab = (!events.is_empty()).then(|| 100.0 * (nab_raw - null) / (nab_perfect - null));
    Score {
        tp,
        fp,
        fn_,
        precision,
        recall,
        f1,
        mean_delay: mean(delay_sum, tp),
        by_kind,
        nab,
        flagged_outside,
        events: found,
    }
}

/// The sum of several devices' scores: their TP, FP and FN added, per kind too, and the
/// ratios, delays and NAB-style score worked out again from the sums (events weigh the same
/// whichever device they are on).
pub fn total<'a>(scores: impl IntoIterator<Item = &'a Score>) -> Score {
    let (mut tp, mut fp, mut fn_, mut delay_sum, mut flagged_outside) = (0, 0, 0, 0.0, 0);
    let mut by_kind = [KindScore::default(); AnomalyKind::ALL.len()];
    let mut kind_delay = [0.0; AnomalyKind::ALL.len()];
    let (mut nab_raw, mut nab_null, mut nab_perfect) = (0.0, 0.0, 0.0);
    let mut events = vec![];
    for s in scores {
        tp += s.tp;
        fp += s.fp;
        fn_ += s.fn_;
        flagged_outside += s.flagged_outside;
        delay_sum += s.mean_delay.unwrap_or(0.0) * s.tp as f64;
        for ((kind, part), delay) in by_kind.iter_mut().zip(&s.by_kind).zip(&mut kind_delay) {
            kind.events += part.events;
            kind.found += part.found;
            *delay += part.mean_delay.unwrap_or(0.0) * part.found as f64;
        }
        // Undo the normalisation: raw = nab / 100 x (perfect - null) + null.
        let n = s.events.len() as f64;
        let (null, perfect) = (-NAB_FN * n, NAB_TP * scaled_sigmoid(-1.0) * n);
        if let Some(nab) = s.nab {
            nab_raw += nab / 100.0 * (perfect - null) + null;
            nab_null += null;
            nab_perfect += perfect;
        }
        events.extend_from_slice(&s.events);
    }
    for (kind, delay) in by_kind.iter_mut().zip(kind_delay) {
        kind.recall = ratio(kind.found, kind.events);
        kind.mean_delay = (kind.found > 0).then(|| delay / kind.found as f64);
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = harmonic_mean(precision, recall);
    Score {
        tp,
        fp,
        fn_,
        precision,
        recall,
        f1,
        mean_delay: (tp > 0).then(|| delay_sum / tp as f64),
        by_kind,
        nab: (nab_perfect > nab_null)
            .then(|| 100.0 * (nab_raw - nab_null) / (nab_perfect - nab_null)),
        flagged_outside,
        events,
    }
}
