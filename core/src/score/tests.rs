//! Each scoring rule on hand-worked cases, and NAB against NAB's own sweeper.

use super::*;

fn event(id: u64, kind: AnomalyKind, first: u64, last: u64) -> Event {
    Event::new(id, kind, first, last)
}

fn flags(sequences: &[u64]) -> BTreeSet<u64> {
    sequences.iter().copied().collect()
}

/// Samples `1..=n`, every one received.
fn all(n: u64) -> Rows {
    Rows::of(1..=n)
}

const SPIKE: AnomalyKind = AnomalyKind::Spike;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9
}

#[test]
fn a_flag_at_the_last_sample_of_a_window_finds_the_event() {
    let events = [event(1, SPIKE, 10, 12)];
    let score = super::score(&all(100), &events, &flags(&[12]), 0);
    assert_eq!((score.tp, score.fn_, score.fp), (1, 0, 0));
    assert_eq!(score.mean_delay, Some(2.0));
    // The tolerance widens the window: 15 is in [10, 12 + 3].
    let late = super::score(&all(100), &events, &flags(&[15]), 3);
    assert_eq!((late.tp, late.fn_, late.fp), (1, 0, 0));
    assert_eq!(late.mean_delay, Some(5.0));
}

#[test]
fn a_flag_just_outside_the_window_is_a_miss_and_a_false_positive() {
    let events = [event(1, SPIKE, 10, 12)];
    for (flag, tolerance) in [(13, 0), (9, 0), (16, 3)] {
        let score = super::score(&all(100), &events, &flags(&[flag]), tolerance);
        assert_eq!(
            (score.tp, score.fn_, score.fp),
            (0, 1, 1),
            "{flag} T={tolerance}"
        );
        assert_eq!(score.precision, Some(0.0));
        assert_eq!(score.recall, Some(0.0));
        assert_eq!(score.f1, Some(0.0));
        assert_eq!(score.mean_delay, None);
    }
}

#[test]
fn false_positives_are_samples_and_their_runs_a_second_figure() {
    let events = [event(1, SPIKE, 50, 50)];
    // 1..=20 is one run of 20 false samples; 45..=50 reaches into the window: 45..=49 are
    // five false samples in a run, 50 a true one; 30 and 32 two runs of one.
    let flagged: BTreeSet<u64> = (1..=20).chain(45..=50).chain([30, 32]).collect();
    let score = super::score(&all(100), &events, &flagged, 0);
    assert_eq!(score.tp, 1);
    assert_eq!(score.fp, 20 + 5 + 2);
    assert_eq!(score.fp_runs, 4);
    assert_eq!(score.false_alarms, [(1, 20), (30, 30), (32, 32), (45, 49)]);
    assert_eq!((score.flagged, score.flagged_in_windows), (28, 1));
    // Precision is point-wise: 1 of 28 flagged samples; recall event-wise: 1 of 1.
    assert_eq!(score.precision, Some(1.0 / 28.0));
    assert_eq!(score.recall, Some(1.0));
    assert!(close(score.f1.unwrap(), 2.0 / 29.0));
}

#[test]
fn flagging_every_sample_finds_every_event_and_scores_badly() {
    let events = [
        event(1, SPIKE, 25, 25),
        event(2, AnomalyKind::Step, 30, 40),
        event(3, AnomalyKind::Dropout, 70, 72),
    ];
    // The dropout's samples never arrived.
    let rows = Rows::of((1..=100).filter(|s| !(70..=72).contains(s)));
    let flagged: BTreeSet<u64> = (1..=100).collect();
    let score = super::score(&rows, &events, &flagged, 0);
    assert_eq!((score.tp, score.fn_), (3, 0));
    assert_eq!(score.recall, Some(1.0));
    // 97 rows flagged; in windows: 25, 30..=40 and 73 (the first after the gap).
    assert_eq!(score.flagged, 97);
    assert_eq!(score.flagged_in_windows, 1 + 11 + 1);
    assert_eq!(score.fp, 97 - 13);
    assert_eq!(score.precision, Some(13.0 / 97.0));
    assert!(score.nab[0].unwrap() < 0.0, "{:?}", score.nab);
}

#[test]
fn flagging_nothing_scores_nab_zero_and_leaves_precision_undefined() {
    let events = [
        event(1, SPIKE, 50, 50),
        event(2, AnomalyKind::Drift, 60, 90),
    ];
    let score = super::score(&all(200), &events, &BTreeSet::new(), 0);
    assert_eq!((score.tp, score.fp, score.fn_), (0, 0, 2));
    assert_eq!(score.precision, None);
    assert_eq!(score.recall, Some(0.0));
    assert_eq!(score.f1, None);
    assert_eq!(score.mean_delay, None);
    assert_eq!(score.nab, [Some(0.0); 3], "flagging nothing is NAB's null");
    // With no events at all, nothing is defined but the counts.
    let empty = super::score(&all(200), &[], &flags(&[100, 101]), 0);
    assert_eq!((empty.tp, empty.fp, empty.fp_runs, empty.fn_), (0, 2, 1, 0));
    assert_eq!((empty.recall, empty.nab[0]), (None, None));
}

#[test]
fn flagging_each_window_first_scores_nab_one_hundred() {
    // Windows after probation (15 rows of 100), their first rows flagged.
    let events = [
        event(1, SPIKE, 40, 44),
        event(2, AnomalyKind::Dropout, 60, 64),
    ];
    let rows = Rows::of((1..=100).filter(|s| !(60..=64).contains(s)));
    let score = super::score(&rows, &events, &flags(&[40, 65]), 0);
    for nab in score.nab {
        assert!(close(nab.unwrap(), 100.0), "{:?}", score.nab);
    }
    assert_eq!(
        score.mean_delay,
        Some(2.5),
        "the dropout's delay is from its first"
    );
}

#[test]
fn a_device_without_events_still_costs_its_false_alarms() {
    let events = [event(1, SPIKE, 50, 50)];
    let perfect = super::score(&all(100), &events, &flags(&[50]), 0);
    let quiet = super::score(&all(100), &[], &flags(&[60, 70, 80]), 0);
    assert!(close(perfect.nab[0].unwrap(), 100.0));
    assert_eq!(quiet.nab, [None; 3], "no window of its own to normalise by");
    let total = total([&perfect, &quiet]);
    // Three false alarms with no window before them, each fpWeight, over one window.
    let expected = 100.0 * (1.0 - 3.0 * 0.11 + 1.0) / 2.0;
    assert!(close(total.nab[0].unwrap(), expected), "{:?}", total.nab);
    assert_eq!((total.fp, total.tp, total.events), (3, 1, 1));
    assert_eq!(total.precision, Some(0.25));
}

#[test]
fn the_profiles_weigh_false_alarms_and_misses_as_nab_does() {
    let events = [event(1, SPIKE, 50, 59), event(2, SPIKE, 80, 89)];
    // One found at its first sample, one missed, one false alarm before any window.
    let score = super::score(&all(100), &events, &flags(&[30, 50]), 0);
    let raw = score.nab_file.raw;
    assert!(close(raw[0], -0.11 + 1.0 - 1.0));
    assert!(close(raw[1], -0.22 + 1.0 - 1.0));
    assert!(close(raw[2], -0.11 + 1.0 - 2.0));
    assert!(close(score.nab[0].unwrap(), 100.0 * (raw[0] + 2.0) / 4.0));
    assert!(close(score.nab[2].unwrap(), 100.0 * (raw[2] + 4.0) / 6.0));
}

#[test]
fn recall_and_delay_are_kept_per_kind_and_events_keep_their_first_flag() {
    let events = [
        event(1, SPIKE, 10, 10),
        event(2, SPIKE, 20, 20),
        event(3, AnomalyKind::Drift, 30, 50),
    ];
    let score = super::score(&all(100), &events, &flags(&[10, 44]), 0);
    let spike = score.by_kind[SPIKE.index()];
    assert_eq!((spike.events, spike.found), (2, 1));
    assert_eq!(spike.recall, Some(0.5));
    assert_eq!(spike.mean_delay, Some(0.0));
    let drift = score.by_kind[AnomalyKind::Drift.index()];
    assert_eq!(drift.recall, Some(1.0));
    assert_eq!(drift.mean_delay, Some(14.0));
    assert_eq!(score.by_kind[AnomalyKind::Noise.index()].recall, None);
    let at: Vec<Option<u64>> = score.found.iter().map(|f| f.at).collect();
    assert_eq!(at, [Some(10), None, Some(44)]);
    assert_eq!(score.mean_delay, Some(7.0));
}

#[test]
fn an_event_with_no_received_sample_in_its_window_is_unseen_not_missed() {
    // A dropout at the end of what arrived: nothing after the gap yet.
    let events = [event(1, AnomalyKind::Dropout, 91, 95)];
    let score = super::score(&all(90), &events, &flags(&[]), 0);
    assert_eq!((score.events, score.fn_, score.unseen), (0, 0, 1));
    assert!(!score.found[0].seen);
    assert_eq!(score.nab_file.windows, 0);
}

#[test]
fn a_flag_on_a_sample_that_never_arrived_scores_nothing() {
    let events = [event(1, SPIKE, 10, 12)];
    let rows = Rows::of((1..=100).filter(|&s| s != 11));
    let score = super::score(&rows, &events, &flags(&[11, 40]), 0);
    assert_eq!((score.tp, score.flagged, score.fp), (0, 1, 1));
}

#[test]
fn malformed_labels_and_extreme_sequences_do_not_panic() {
    let events = [
        event(1, SPIKE, 10, 5),
        event(2, AnomalyKind::Dropout, u64::MAX - 1, u64::MAX),
        event(3, SPIKE, 0, 0),
    ];
    let rows = Rows::of([0, 10, u64::MAX - 1, u64::MAX]);
    let score = super::score(&rows, &events, &flags(&[10, u64::MAX, 0]), u64::MAX);
    assert_eq!(score.tp, 3);
    assert!(score.nab[0].unwrap().is_finite());
}

#[test]
fn rows_keep_their_indices_whatever_order_samples_arrive_in() {
    let mut rows = Rows::new();
    for s in [5, 1, 3, 2, 9, 4, 10, 7] {
        assert!(rows.insert(s));
    }
    assert!(!rows.insert(3), "a repeat is no new row");
    assert_eq!(rows.len(), 8);
    assert_eq!(rows.ranges(), 3, "1..=5, 7, 9..=10");
    let expected = [1, 2, 3, 4, 5, 7, 9, 10];
    assert_eq!(rows.iter().collect::<Vec<_>>(), expected);
    for (index, &s) in expected.iter().enumerate() {
        assert_eq!(rows.index_of(s), Some(index as u64));
        assert_eq!(rows.sequence(index as u64), Some(s));
    }
    assert_eq!(rows.index_of(6), None);
    assert_eq!(rows.at_or_after(6), Some((5, 7)));
    assert_eq!(rows.at_or_before(8), Some((5, 7)));
    assert_eq!(rows.at_or_after(11), None);
    assert_eq!(rows.at_or_before(0), None);
}

/// NAB's sweeper's own figures for hand-picked and random files (scripts/nab_reference.py).
mod against_nab {
    use super::*;
    use serde_json::Value;

    fn cases() -> (Vec<Value>, Vec<f64>) {
        let text = include_str!("testdata/nab_reference.json");
        let json: Value = serde_json::from_str(text).unwrap();
        let corpus = json["corpus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        (json["cases"].as_array().unwrap().clone(), corpus)
    }

    fn numbers(value: &Value) -> Vec<u64> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    }

    fn pairs(value: &Value) -> Vec<(u64, u64)> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
            .collect()
    }

    #[test]
    fn the_file_score_agrees_with_nabs_sweeper_to_1e_9() {
        let (cases, _) = cases();
        assert!(cases.len() > 150);
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let ours = nab::score_file(
                case["rows"].as_u64().unwrap(),
                &numbers(&case["flags"]),
                &pairs(&case["windows"]),
            );
            for k in 0..3 {
                let theirs = case["nab_raw"][k].as_f64().unwrap();
                assert!(
                    close(ours.raw[k], theirs),
                    "{name}, profile {k}: ours {} NAB {theirs}",
                    ours.raw[k]
                );
            }
            assert_eq!(
                ours.windows,
                case["nab_windows"].as_u64().unwrap(),
                "{name}"
            );
        }
    }

    /// The same files through `score`: samples numbered from 1, each window an event (the
    /// windows before merging where the case has them), and the corpus normalised by `total`.
    #[test]
    fn devices_scored_from_events_agree_with_nab_and_so_does_their_total() {
        let (cases, corpus) = cases();
        let mut scores = vec![];
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let rows = all(case["rows"].as_u64().unwrap());
            let windows = pairs(case.get("given").unwrap_or(&case["windows"]));
            let events: Vec<Event> = windows
                .iter()
                .enumerate()
                .map(|(k, &(a, b))| event(k as u64 + 1, SPIKE, a + 1, b + 1))
                .collect();
            let flagged: BTreeSet<u64> = numbers(&case["flags"]).iter().map(|i| i + 1).collect();
            let score = super::score(&rows, &events, &flagged, 0);
            for k in 0..3 {
                let theirs = case["nab_raw"][k].as_f64().unwrap();
                assert!(close(score.nab_file.raw[k], theirs), "{name}, profile {k}");
            }
            let merged: Vec<(u64, u64)> = pairs(&case["windows"])
                .iter()
                .map(|&(a, b)| (a + 1, b + 1))
                .collect();
            assert_eq!(score.nab_windows, merged, "{name}");
            scores.push(score);
        }
        let total = total(&scores);
        for (k, (ours, theirs)) in total.nab.iter().zip(&corpus).enumerate() {
            assert!(close(ours.unwrap(), *theirs), "profile {k}");
        }
    }
}

/// prts' range-based precision and recall for the same files (scripts/range_reference.py).
mod against_prts {
    use super::*;
    use serde_json::Value;

    #[test]
    fn range_based_precision_and_recall_agree_with_prts_to_1e_9() {
        let nab: Value = serde_json::from_str(include_str!("testdata/nab_reference.json")).unwrap();
        let prts: Value =
            serde_json::from_str(include_str!("testdata/range_reference.json")).unwrap();
        let cases = prts["cases"].as_array().unwrap();
        assert!(cases.len() > 100);
        let mut scores = vec![];
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let file = nab["cases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap();
            let rows = all(file["rows"].as_u64().unwrap());
            // The windows before merging where the file has them: our merge is checked too.
            let events: Vec<Event> = file
                .get("given")
                .unwrap_or(&file["windows"])
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    let (a, b) = (w[0].as_u64().unwrap(), w[1].as_u64().unwrap());
                    event(k as u64 + 1, SPIKE, a + 1, b + 1)
                })
                .collect();
            let flagged: BTreeSet<u64> = file["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() + 1)
                .collect();
            let score = super::score(&rows, &events, &flagged, 0);
            let precision = case["precision"].as_f64().unwrap();
            let recall = case["recall"].as_f64().unwrap();
            assert!(
                close(score.range_precision.unwrap(), precision),
                "{name}: precision"
            );
            assert!(close(score.range_recall.unwrap(), recall), "{name}: recall");
            scores.push(score);
        }
        let total = total(&scores);
        let corpus = &prts["corpus"];
        assert!(close(
            total.range_precision.unwrap(),
            corpus["precision"].as_f64().unwrap()
        ));
        assert!(close(
            total.range_recall.unwrap(),
            corpus["recall"].as_f64().unwrap()
        ));
    }

    #[test]
    fn without_a_flag_or_an_event_the_range_figures_are_undefined() {
        let events = [event(1, SPIKE, 10, 12)];
        let none = super::score(&all(50), &events, &BTreeSet::new(), 0);
        assert_eq!((none.range_precision, none.range_recall), (None, Some(0.0)));
        let quiet = super::score(&all(50), &[], &flags(&[5]), 0);
        assert_eq!(
            (quiet.range_precision, quiet.range_recall),
            (Some(0.0), None)
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod against_brute_force {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Rows built in any order index like the sorted list of what arrived.
        #[test]
        fn rows_index_like_a_sorted_list(arrivals in proptest::collection::vec(0u64..200, 0..150)) {
            let rows = Rows::of(arrivals.iter().copied());
            let sorted: Vec<u64> = arrivals.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
            prop_assert_eq!(rows.len(), sorted.len() as u64);
            prop_assert_eq!(rows.iter().collect::<Vec<_>>(), sorted.clone());
            for s in 0..201u64 {
                let index = sorted.iter().position(|&x| x == s).map(|i| i as u64);
                prop_assert_eq!(rows.index_of(s), index);
                let after = sorted.iter().position(|&x| x >= s).map(|i| (i as u64, sorted[i]));
                prop_assert_eq!(rows.at_or_after(s), after);
                let before = sorted.iter().rposition(|&x| x <= s).map(|i| (i as u64, sorted[i]));
                prop_assert_eq!(rows.at_or_before(s), before);
            }
        }

        /// False-positive samples, their runs and the flags in windows equal a check of every
        /// window for every flag.
        #[test]
        fn false_positives_match_a_brute_force_count(
            spans in proptest::collection::vec((1u64..300, 0u64..12, 0usize..7), 0..20),
            flagged in proptest::collection::btree_set(1u64..320, 0..120),
            missing in proptest::collection::btree_set(1u64..320, 0..40),
            tolerance in 0u64..4,
        ) {
            let events: Vec<Event> = spans
                .iter()
                .enumerate()
                .map(|(i, &(first, len, kind))| event(i as u64 + 1, AnomalyKind::ALL[kind], first, first + len))
                .collect();
            let rows = Rows::of((1..=320).filter(|s| !missing.contains(s)));
            let windows: Vec<(u64, u64)> = events.iter().map(|e| e.window(tolerance)).collect();
            let inside = |f: u64| windows.iter().any(|&(s, e)| s <= f && f <= e);
            let received: Vec<u64> = flagged.iter().copied().filter(|f| rows.contains(*f)).collect();
            let outside: Vec<u64> = received.iter().copied().filter(|&f| !inside(f)).collect();
            let mut runs = 0;
            for (k, &f) in outside.iter().enumerate() {
                if k == 0 || outside[k - 1] + 1 != f {
                    runs += 1;
                }
            }
            let found = events
                .iter()
                .zip(&windows)
                .filter(|(_, (s, e))| received.iter().any(|&f| *s <= f && f <= *e))
                .count() as u64;
            let score = score(&rows, &events, &flagged, tolerance);
            prop_assert_eq!(
                (score.fp, score.fp_runs, score.flagged, score.tp),
                (outside.len() as u64, runs, received.len() as u64, found)
            );
        }
    }
}

#[test]
fn recall_is_kept_per_snr_bin_for_events_whose_labels_carry_one() {
    let with_snr = |id, first, snr| Event {
        snr,
        ..event(id, AnomalyKind::Step, first, first)
    };
    // One event per bin, two in >= 10; a dropout-like event without an SNR is in no bin.
    let events = [
        with_snr(1, 10, Some(0.5)),
        with_snr(2, 20, Some(1.0)),
        with_snr(3, 30, Some(9.99)),
        with_snr(4, 40, Some(10.0)),
        with_snr(5, 50, Some(1250.0)),
        with_snr(6, 60, None),
    ];
    let score = score(&all(100), &events, &flags(&[20, 40, 50, 60]), 0);
    let bins: Vec<(u64, u64)> = score.by_snr.iter().map(|k| (k.events, k.found)).collect();
    assert_eq!(bins, [(1, 0), (1, 1), (1, 0), (2, 2)]);
    assert_eq!(score.by_snr[0].recall, Some(0.0));
    assert_eq!(score.by_snr[3].recall, Some(1.0));
    // Totals add bins as they add kinds.
    let both = total([&score, &score]);
    assert_eq!(both.by_snr[3].events, 4);
    assert_eq!(both.by_snr[1].recall, Some(1.0));
    assert_eq!(snr_bin(0.0), 0);
    assert_eq!(snr_bin(3.0), 2);
    assert_eq!(snr_bin(f64::INFINITY), 3);
}
