//! Each scoring rule on hand-made cases.

use super::*;

fn event(id: u64, kind: AnomalyKind, first: u64, last: u64) -> Event {
    Event {
        id,
        kind,
        first,
        last,
    }
}

fn flags(sequences: &[u64]) -> BTreeSet<u64> {
    sequences.iter().copied().collect()
}

const SPIKE: AnomalyKind = AnomalyKind::Spike;

#[test]
fn a_flag_at_the_last_sample_of_a_window_finds_the_event() {
    let events = [event(1, SPIKE, 10, 12)];
    let score = super::score(&events, &flags(&[12]), 0);
    assert_eq!((score.tp, score.fn_, score.fp), (1, 0, 0));
    assert_eq!(score.mean_delay, Some(2.0));
    // The tolerance widens the window: 15 is in [10, 12 + 3].
    let late = super::score(&events, &flags(&[15]), 3);
    assert_eq!((late.tp, late.fn_, late.fp), (1, 0, 0));
    assert_eq!(late.mean_delay, Some(5.0));
}

#[test]
fn a_flag_just_outside_the_window_is_a_miss_and_a_false_alarm() {
    let events = [event(1, SPIKE, 10, 12)];
    for (flag, tolerance) in [(13, 0), (9, 0), (16, 3)] {
        let score = super::score(&events, &flags(&[flag]), tolerance);
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
fn one_long_false_alarm_counts_once_and_a_run_touching_a_window_not_at_all() {
    let events = [event(1, SPIKE, 50, 50)];
    // 1..=20 is one run far from the event; 45..=50 reaches into its window.
    let flagged: BTreeSet<u64> = (1..=20).chain(45..=50).chain([30, 32]).collect();
    let score = super::score(&events, &flagged, 0);
    assert_eq!(score.tp, 1);
    assert_eq!(score.fp, 3, "1..=20, 30 and 32: three runs");
    assert_eq!(score.precision, Some(0.25));
    assert_eq!(score.recall, Some(1.0));
    assert_eq!(score.f1, Some(0.4));
}

#[test]
fn a_dropout_is_found_by_the_first_sample_after_the_gap() {
    let events = [event(1, AnomalyKind::Dropout, 20, 24)];
    // Samples 20..=24 never arrive; the detector sees the gap at 25.
    let score = super::score(&events, &flags(&[25]), 0);
    assert_eq!((score.tp, score.fn_, score.fp), (1, 0, 0));
    assert_eq!(score.mean_delay, Some(5.0));
    assert_eq!(
        score.by_kind[AnomalyKind::Dropout.index()].recall,
        Some(1.0)
    );
    // Any other kind's window ends at its last sample.
    let spike = super::score(&[event(1, SPIKE, 20, 24)], &flags(&[25]), 0);
    assert_eq!((spike.tp, spike.fp), (0, 1));
}

#[test]
fn with_nothing_flagged_precision_and_f1_are_undefined_and_recall_is_zero() {
    let events = [event(1, SPIKE, 5, 5), event(2, AnomalyKind::Drift, 30, 60)];
    let score = super::score(&events, &BTreeSet::new(), 0);
    assert_eq!((score.tp, score.fp, score.fn_), (0, 0, 2));
    assert_eq!(score.precision, None);
    assert_eq!(score.recall, Some(0.0));
    assert_eq!(score.f1, None);
    assert_eq!(score.mean_delay, None);
    assert_eq!(
        score.nab,
        Some(0.0),
        "flagging nothing is NAB's null detector"
    );
    // And with no events at all, nothing is defined but the counts.
    let empty = super::score(&[], &flags(&[1, 2]), 0);
    assert_eq!((empty.tp, empty.fp, empty.fn_), (0, 1, 0));
    assert_eq!((empty.recall, empty.nab), (None, None));
}

#[test]
fn flagging_every_sample_finds_every_event() {
    let events = [
        event(1, SPIKE, 5, 5),
        event(2, AnomalyKind::Step, 30, 40),
        event(3, AnomalyKind::Dropout, 70, 72),
    ];
    let flagged: BTreeSet<u64> = (1..=100).collect();
    let score = super::score(&events, &flagged, 0);
    assert_eq!((score.tp, score.fn_), (3, 0));
    assert_eq!(score.recall, Some(1.0));
    // One run, touching the windows: no false alarm by the run rule, but 90 flagged samples
    // outside every window say what kind of detector this is.
    assert_eq!(score.fp, 0);
    assert_eq!(score.flagged_outside, 100 - 1 - 11 - 4);
    assert_eq!(score.mean_delay, Some(0.0));
    assert!((score.nab.unwrap() - 100.0).abs() < 1e-9, "{:?}", score.nab);
}

#[test]
fn recall_and_delay_are_kept_per_kind_and_events_keep_their_first_flag() {
    let events = [
        event(1, SPIKE, 10, 10),
        event(2, SPIKE, 20, 20),
        event(3, AnomalyKind::Drift, 30, 50),
    ];
    let score = super::score(&events, &flags(&[10, 44]), 0);
    let spike = score.by_kind[SPIKE.index()];
    assert_eq!((spike.events, spike.found), (2, 1));
    assert_eq!(spike.recall, Some(0.5));
    assert_eq!(spike.mean_delay, Some(0.0));
    let drift = score.by_kind[AnomalyKind::Drift.index()];
    assert_eq!(drift.recall, Some(1.0));
    assert_eq!(drift.mean_delay, Some(14.0));
    assert_eq!(score.by_kind[AnomalyKind::Noise.index()].recall, None);
    let at: Vec<Option<u64>> = score.events.iter().map(|f| f.at).collect();
    assert_eq!(at, [Some(10), None, Some(44)]);
    assert_eq!(score.mean_delay, Some(7.0));
}

#[test]
fn the_nab_style_score_rewards_early_detection_and_charges_false_runs() {
    let events = [event(1, AnomalyKind::Drift, 100, 199)];
    let early = super::score(&events, &flags(&[100]), 0).nab.unwrap();
    let late = super::score(&events, &flags(&[190]), 0).nab.unwrap();
    let missed = super::score(&events, &BTreeSet::new(), 0).nab.unwrap();
    assert!((early - 100.0).abs() < 1e-9);
    assert!(late > missed && late < early, "{late}");
    let noisy = super::score(&events, &flags(&[100, 10, 20, 30]), 0)
        .nab
        .unwrap();
    let per_run = 100.0 * NAB_FP / (NAB_TP * scaled_sigmoid(-1.0) + NAB_FN);
    assert!((early - noisy - 3.0 * per_run).abs() < 1e-9, "{noisy}");
}

#[test]
fn a_dropout_flagged_at_the_first_sample_after_the_gap_earns_full_nab_credit() {
    let events = [event(1, AnomalyKind::Dropout, 20, 119)];
    let score = super::score(&events, &flags(&[120]), 0);
    assert!((score.nab.unwrap() - 100.0).abs() < 1e-9, "{:?}", score.nab);
    assert_eq!(
        score.mean_delay,
        Some(100.0),
        "the delay is still from the event's first"
    );
}

#[test]
fn malformed_labels_and_extreme_sequences_do_not_panic() {
    // A label whose last comes before its first, and windows at the end of the u64 range.
    let events = [
        event(1, SPIKE, 10, 5),
        event(2, AnomalyKind::Dropout, u64::MAX - 1, u64::MAX),
        event(3, SPIKE, 0, 0),
    ];
    let score = super::score(&events, &flags(&[10, u64::MAX, 0]), u64::MAX);
    assert_eq!(score.tp, 3);
    assert!(score.nab.unwrap().is_finite());
}

#[cfg(not(target_arch = "wasm32"))]
mod against_brute_force {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// False alarm runs and flags outside the windows, found through the windows' union,
        /// equal a check of every window for every flag.
        #[test]
        fn false_alarms_match_a_brute_force_count(
            spans in proptest::collection::vec((0u64..300, 0u64..12, 0usize..7), 0..20),
            flagged in proptest::collection::btree_set(0u64..320, 0..120),
            tolerance in 0u64..4,
        ) {
            let events: Vec<Event> = spans
                .iter()
                .enumerate()
                .map(|(i, &(first, len, kind))| event(i as u64 + 1, AnomalyKind::ALL[kind], first, first + len))
                .collect();
            let windows: Vec<(u64, u64)> = events.iter().map(|e| e.window(tolerance)).collect();
            let inside = |f: u64| windows.iter().any(|&(s, e)| s <= f && f <= e);
            let mut runs: Vec<(u64, u64)> = vec![];
            for &f in &flagged {
                match runs.last_mut() {
                    Some(run) if run.1 + 1 == f => run.1 = f,
                    _ => runs.push((f, f)),
                }
            }
            let fp = runs
                .iter()
                .filter(|&&(a, b)| !windows.iter().any(|&(s, e)| a <= e && s <= b))
                .count() as u64;
            let outside = flagged.iter().filter(|&&f| !inside(f)).count() as u64;
            let score = score(&events, &flagged, tolerance);
            prop_assert_eq!((score.fp, score.flagged_outside), (fp, outside));
        }
    }
}
