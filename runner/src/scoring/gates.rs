//! What CI reads: the gates (`--fail-under NAME=VALUE`, `--fail-over delay=VALUE`), the
//! scoreboard as a table on stdout, and a JUnit XML testsuite (a testcase per gate and per
//! anomaly kind; a failed gate is a `<failure>` with the figure and the limit).

use std::fmt::Write;

use dps368_core::html::Html;
use dps368_core::score::board::{FIGURES, shown};
use dps368_core::score::{self, Score};
use dps368_core::sensor::AnomalyKind;

/// A figure a gate can hold a score to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    Precision,
    Recall,
    F1,
    /// NAB, by profile index (standard, reward_low_fp, reward_low_fn).
    Nab(usize),
    RecallOf(AnomalyKind),
    /// Recall of the events in one [`score::SNR_BINS`] bin.
    RecallSnr(usize),
    /// Tatbul et al.'s range-based precision and recall.
    RangePrecision,
    RangeRecall,
    Delay,
}

impl Figure {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "precision" => Figure::Precision,
            "recall" => Figure::Recall,
            "f1" => Figure::F1,
            "nab" => Figure::Nab(0),
            "nab_low_fp" => Figure::Nab(1),
            "nab_low_fn" => Figure::Nab(2),
            "delay" => Figure::Delay,
            "range_precision" => Figure::RangePrecision,
            "range_recall" => Figure::RangeRecall,
            other => {
                let name = other.strip_prefix("recall_")?;
                match name.strip_prefix("snr_") {
                    Some(bin) => {
                        Figure::RecallSnr(score::SNR_BINS.iter().position(|(_, id, _)| *id == bin)?)
                    }
                    None => Figure::RecallOf(AnomalyKind::from_name(name)?),
                }
            }
        })
    }

    pub fn name(self) -> String {
        match self {
            Figure::Precision => "precision".into(),
            Figure::Recall => "recall".into(),
            Figure::F1 => "f1".into(),
            Figure::Nab(0) => "nab".into(),
            Figure::Nab(1) => "nab_low_fp".into(),
            Figure::Nab(_) => "nab_low_fn".into(),
            Figure::RecallOf(kind) => format!("recall_{}", kind.name()),
            Figure::RecallSnr(bin) => format!("recall_snr_{}", score::SNR_BINS[bin].1),
            Figure::RangePrecision => "range_precision".into(),
            Figure::RangeRecall => "range_recall".into(),
            Figure::Delay => "delay".into(),
        }
    }

    /// Its value in `score`, `None` while undefined.
    pub fn of(self, score: &Score) -> Option<f64> {
        match self {
            Figure::Precision => score.precision,
            Figure::Recall => score.recall,
            Figure::F1 => score.f1,
            Figure::Nab(k) => score.nab[k],
            Figure::RecallOf(kind) => score.by_kind[kind.index()].recall,
            Figure::RecallSnr(bin) => score.by_snr[bin].recall,
            Figure::RangePrecision => score.range_precision,
            Figure::RangeRecall => score.range_recall,
            Figure::Delay => score.mean_delay,
        }
    }
}

/// `--fail-under NAME=VALUE` (the figure must be at least VALUE) or `--fail-over
/// delay=VALUE` (at most).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    pub figure: Figure,
    pub limit: f64,
    pub over: bool,
}

/// What a gate found.
pub struct Outcome {
    pub gate: Gate,
    pub value: Option<f64>,
    pub held: bool,
}

impl Gate {
    pub fn parse(over: bool, text: &str) -> Result<Gate, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("must be NAME=VALUE (got {text:?})"))?;
        let figure = Figure::parse(name.trim()).ok_or_else(|| {
            format!(
                "unknown figure {name:?}: precision, recall, f1, nab, nab_low_fp, nab_low_fn, range_precision, range_recall, recall_<kind> ({}), recall_snr_<bin> (lt1, 1_3, 3_10, ge10) or delay",
                AnomalyKind::ALL.map(AnomalyKind::name).join(", ")
            )
        })?;
        if over && figure != Figure::Delay {
            return Err(format!("--fail-over takes delay only (got {name:?})"));
        }
        if !over && figure == Figure::Delay {
            return Err("the delay is held to a maximum: --fail-over delay=VALUE".into());
        }
        let limit: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("{name}: {value:?} is not a number"))?;
        Ok(Gate {
            figure,
            limit,
            over,
        })
    }

    /// An undefined figure (no events, nothing flagged) holds no gate.
    pub fn check(self, score: &Score) -> Outcome {
        let value = self.figure.of(score);
        let held = value.is_some_and(|v| {
            if self.over {
                v <= self.limit
            } else {
                v >= self.limit
            }
        });
        Outcome {
            gate: self,
            value,
            held,
        }
    }

    pub fn words(self) -> String {
        format!(
            "{} {} {}",
            self.figure.name(),
            if self.over { "<=" } else { ">=" },
            self.limit
        )
    }
}

impl Outcome {
    pub fn words(&self) -> String {
        match self.value {
            Some(v) if self.held => format!("{}: held ({v:.4})", self.gate.words()),
            Some(v) => format!(
                "{}: FAILED: {} is {v:.4}, {} {}",
                self.gate.words(),
                self.gate.figure.name(),
                if self.gate.over { "over" } else { "under" },
                self.gate.limit
            ),
            None => format!(
                "{}: FAILED: {} is undefined (no event scored, or nothing flagged)",
                self.gate.words(),
                self.gate.figure.name()
            ),
        }
    }
}

/// The scoreboard as plain text: the totals, each with what it counts, then per kind.
pub fn table(total: &Score, devices: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{devices} device(s), {} sample(s) scored, {} event(s) scored ({} not yet seen), {} flagged sample(s)",
        total.nab_file.rows, total.events, total.unseen, total.flagged
    );
    for figure in &FIGURES {
        let _ = writeln!(
            out,
            "{:<16}{:>10}  {}",
            figure.name,
            (figure.value)(total),
            figure.what
        );
    }
    let _ = writeln!(
        out,
        "\n{:<14}{:>7}{:>7}{:>8}{:>8}",
        "kind", "events", "found", "recall", "delay"
    );
    for kind in AnomalyKind::ALL {
        let k = total.by_kind[kind.index()];
        let _ = writeln!(
            out,
            "{:<14}{:>7}{:>7}{:>8}{:>8}",
            kind.name(),
            k.events,
            k.found,
            shown(k.recall, 3),
            shown(k.mean_delay, 2)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<14}{:>7}{:>7}{:>8}{:>8}",
        "snr", "events", "found", "recall", "delay"
    );
    for (bin, (label, ..)) in score::SNR_BINS.iter().enumerate() {
        let k = total.by_snr[bin];
        let _ = writeln!(
            out,
            "{:<14}{:>7}{:>7}{:>8}{:>8}",
            label,
            k.events,
            k.found,
            shown(k.recall, 3),
            shown(k.mean_delay, 2)
        );
    }
    out
}

/// The JUnit XML testsuite `name`: a testcase per gate (failed gates carry a `<failure>`) and
/// one per anomaly kind (its recall and delay; failed when a gate on its recall failed).
pub fn junit(name: &str, total: &Score, outcomes: &[Outcome]) -> String {
    let mut cases = Html::new();
    let mut failures = 0;
    for outcome in outcomes {
        cases
            .raw("  <testcase")
            .attr("classname", &format_args!("{name}.gates"))
            .attr("name", &outcome.gate.words())
            .raw(">");
        if !outcome.held {
            failures += 1;
            cases
                .raw("<failure")
                .attr("message", &outcome.words())
                .raw(" type=\"gate\">");
            let _ = write!(
                cases,
                "figure {}, limit {}",
                shown(outcome.value, 6),
                outcome.gate.limit
            );
            cases.raw("</failure>");
        }
        cases.raw("</testcase>\n");
    }
    for kind in AnomalyKind::ALL {
        let k = total.by_kind[kind.index()];
        let failed = outcomes
            .iter()
            .find(|o| o.gate.figure == Figure::RecallOf(kind) && !o.held);
        cases
            .raw("  <testcase")
            .attr("classname", &format_args!("{name}.kinds"))
            .attr("name", &kind)
            .raw("><system-out>");
        let _ = write!(
            cases,
            "events {}, found {}, recall {}, delay {}",
            k.events,
            k.found,
            shown(k.recall, 3),
            shown(k.mean_delay, 2)
        );
        cases.raw("</system-out>");
        if let Some(outcome) = failed {
            failures += 1;
            cases
                .raw("<failure")
                .attr("message", &outcome.words())
                .raw(" type=\"gate\"/>");
        }
        cases.raw("</testcase>\n");
    }
    let tests = outcomes.len() + AnomalyKind::ALL.len();
    let mut xml = Html::new();
    xml.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite")
        .attr("name", &name)
        .attr("tests", &tests)
        .attr("failures", &failures)
        .raw(" errors=\"0\">\n")
        .markup(cases)
        .raw("</testsuite>\n");
    xml.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dps368_core::score::{self, Event, Rows};
    use std::collections::BTreeSet;

    fn a_score() -> Score {
        let events = [
            Event::new(1, AnomalyKind::Spike, 50, 50),
            Event::new(2, AnomalyKind::Drift, 60, 70),
        ];
        let flagged: BTreeSet<u64> = [50, 90].into_iter().collect();
        score::score(&Rows::of(1..=100), &events, &flagged, 0)
    }

    #[test]
    fn gates_hold_or_fail_on_the_figure_and_an_undefined_one_fails() {
        let score = a_score(); // precision 0.5, recall 0.5
        let check = |over: bool, text: &str| Gate::parse(over, text).unwrap().check(&score).held;
        assert!(check(false, "precision=0.5"));
        assert!(!check(false, "precision=0.51"));
        assert!(check(false, "recall_spike=1"));
        assert!(!check(false, "recall_drift=0.1"));
        assert!(!check(false, "recall_noise=0"), "no noise event: undefined");
        assert!(check(true, "delay=0"));
        assert!(!check(true, "delay=-1"));
        assert!(!check(false, "nab=100"));
    }

    #[test]
    fn a_gate_holds_the_recall_of_an_snr_bin() {
        let event = |id, first, snr| Event {
            snr: Some(snr),
            ..Event::new(id, AnomalyKind::Spike, first, first)
        };
        let events = [event(1, 5, 2.0), event(2, 9, 2.5), event(3, 12, 40.0)];
        let flagged = [5, 12].into_iter().collect();
        let score = score::score(&Rows::of(1..=20), &events, &flagged, 0);
        let gate = Gate::parse(false, "recall_snr_1_3=0.5").unwrap();
        assert_eq!(gate.figure.name(), "recall_snr_1_3");
        let outcome = gate.check(&score);
        assert_eq!((outcome.value, outcome.held), (Some(0.5), true));
        let strict = Gate::parse(false, "recall_snr_1_3=0.6")
            .unwrap()
            .check(&score);
        assert!(!strict.held);
        assert_eq!(
            Gate::parse(false, "recall_snr_ge10=1")
                .unwrap()
                .check(&score)
                .value,
            Some(1.0)
        );
    }

    #[test]
    fn bad_gates_say_what_is_wrong() {
        for (over, text, problem) in [
            (false, "precision", "must be NAME=VALUE"),
            (false, "accuracy=1", "unknown figure \"accuracy\""),
            (false, "recall_tsunami=1", "unknown figure"),
            (
                false,
                "recall_snr_2_5=1",
                "recall_snr_<bin> (lt1, 1_3, 3_10, ge10)",
            ),
            (false, "f1=high", "is not a number"),
            (false, "f1=NaN", "is not a number"),
            (true, "precision=1", "--fail-over takes delay only"),
            (false, "delay=3", "held to a maximum"),
        ] {
            let error = Gate::parse(over, text).unwrap_err();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }

    #[test]
    fn the_junit_file_has_a_testcase_per_gate_and_kind_and_fails_the_failed() {
        let score = a_score();
        let outcomes: Vec<Outcome> = ["precision=0.9", "recall_spike=1"]
            .iter()
            .map(|t| Gate::parse(false, t).unwrap().check(&score))
            .collect();
        let xml = junit("dps368-sim <score>", &score, &outcomes);
        assert!(xml.contains("tests=\"10\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"dps368-sim &lt;score&gt;\""), "{xml}");
        assert!(
            xml.contains(
                "<failure message=\"precision &gt;= 0.9: FAILED: precision is 0.5000, under 0.9\""
            ),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 10);
    }
}
