//! The scoreboard's figures: one table of what each is called, what it counts and how it is
//! shown, read by the monitor page's cards and the commands' text table alike.

use super::Score;

/// One figure of a [`Score`].
pub struct Figure {
    /// The page's `data-testid` is `score-{id}`.
    pub id: &'static str,
    pub name: &'static str,
    /// What it counts, in what unit, in a line.
    pub what: &'static str,
    /// Its value as shown: `-` while undefined.
    pub value: fn(&Score) -> String,
    /// Shown on the monitor page too (the range-based figures are the report's and the
    /// commands' only).
    pub on_page: bool,
}

/// `-` while undefined, else `decimals` decimals.
pub fn shown(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

const fn figure(
    id: &'static str,
    name: &'static str,
    what: &'static str,
    value: fn(&Score) -> String,
) -> Figure {
    Figure {
        id,
        name,
        what,
        value,
        on_page: true,
    }
}

/// Every figure, in the order shown.
pub const FIGURES: [Figure; 13] = [
    figure("tp", "TP", "events with a flag in their window", |s| {
        s.tp.to_string()
    }),
    figure("fn", "FN", "events with no flag in their window", |s| {
        s.fn_.to_string()
    }),
    figure(
        "fp",
        "FP",
        "flagged samples outside every event window",
        |s| s.fp.to_string(),
    ),
    figure(
        "fp-runs",
        "False alarms",
        "runs of consecutive FP samples",
        |s| s.fp_runs.to_string(),
    ),
    figure(
        "precision",
        "Precision",
        "flagged samples in windows / flagged samples",
        |s| shown(s.precision, 3),
    ),
    figure("recall", "Recall", "events found / events", |s| {
        shown(s.recall, 3)
    }),
    figure(
        "f1",
        "F1",
        "harmonic mean of the two (composite F, Garg et al.)",
        |s| shown(s.f1, 3),
    ),
    figure(
        "delay",
        "Delay",
        "samples from an event's first to its first flag, mean",
        |s| shown(s.mean_delay, 2),
    ),
    figure(
        "nab",
        "NAB standard",
        "Numenta Anomaly Benchmark: 100 flags each event at once, 0 flags nothing",
        |s| shown(s.nab[0], 1),
    ),
    figure(
        "nab-low-fp",
        "NAB low FP",
        "NAB's reward_low_FP_rate profile (a false alarm costs 0.22)",
        |s| shown(s.nab[1], 1),
    ),
    figure(
        "nab-low-fn",
        "NAB low FN",
        "NAB's reward_low_FN_rate profile (a miss costs 2)",
        |s| shown(s.nab[2], 1),
    ),
    Figure {
        on_page: false,
        ..figure(
            "range-precision",
            "Range precision",
            "Tatbul et al.: mean share of each run of flags inside windows",
            |s| shown(s.range_precision, 3),
        )
    },
    Figure {
        on_page: false,
        ..figure(
            "range-recall",
            "Range recall",
            "Tatbul et al.: mean share of each window flagged",
            |s| shown(s.range_recall, 3),
        )
    },
];
