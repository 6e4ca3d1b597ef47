use super::*;

/// The counts kept over all devices equal their sums.
fn assert_totals(monitor: &Monitor) {
    let events: usize = monitor.devices.values().map(|d| d.events.len()).sum();
    let flags: usize = monitor.devices.values().map(|d| d.flagged.len()).sum();
    assert_eq!((monitor.events_kept, monitor.flags_kept), (events, flags));
}

fn monitor_with(query: &str) -> Monitor {
    let mut form = MonitorForm::default();
    assert_eq!(form.apply_query(query), Vec::<String>::new());
    Monitor::new(form.validate().unwrap())
}

/// A telemetry payload; sample k is stamped k seconds after 2026-11-26T17:00:00Z.
fn telemetry(id: &str, sequence: u64, pressure: f64) -> Vec<u8> {
    let stamp = crate::sensor::format_rfc3339_millis(
        1_795_712_400_000 + (sequence % 1_000_000_000) as i64 * 1000,
    );
    format!(
        r#"{{"timestamp":"{stamp}","device_id":"{id}","sensor_type":"DPS368","sequence":{sequence},"data":{{"pressure":{pressure},"temperature":24.5}}}}"#
    )
    .into_bytes()
}

fn label(id: &str, anomaly_id: u64, kind: &str, first: u64, last: u64) -> Vec<u8> {
    format!(
        r#"{{"device_id":"{id}","anomaly_id":{anomaly_id},"kind":"{kind}","first_sequence":{first},"last_sequence":{last},"start":"x","end":"y"}}"#
    )
    .into_bytes()
}

fn verdict(sequence: u64, anomaly: bool) -> Vec<u8> {
    format!(r#"{{"sequence":{sequence},"anomaly":{anomaly},"score":0.5}}"#).into_bytes()
}

#[test]
fn settings_come_from_the_link_and_bad_ones_name_their_field() {
    let mut form = MonitorForm::default();
    let unknown = form.apply_query(
        "?broker=ws://h:1&filter=lab/+/t&verdicts=det/a/+/v&tolerance=2&detector=baseline&autostart=1&colour=red",
    );
    assert_eq!(unknown, ["colour"]);
    assert!(form.autostart);
    let settings = form.validate().unwrap();
    assert_eq!(
        (
            settings.filter.as_str(),
            settings.verdicts.as_str(),
            settings.tolerance,
            settings.detector
        ),
        ("lab/+/t", "det/a/+/v", 2, true),
        "a + in a link stays a +"
    );
    assert_eq!(settings.verdict_topic("s1").as_deref(), Some("det/a/s1/v"));
    assert_eq!(settings.verdict_topic("a/b"), None);
    assert_eq!(settings.verdict_device("det/a/s9/v"), Some("s9"));
    let mut back = MonitorForm::default();
    back.apply_query(&form.to_query());
    assert_eq!(back.validate().unwrap(), settings, "the link round-trips");

    let errors = |query: &str| -> Vec<String> {
        let mut form = MonitorForm::default();
        form.apply_query(query);
        form.validate()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        errors("filter=a/%23/b&tolerance=-1"),
        [
            "Telemetry filter: # must be a whole level, and the last one (got \"a/#/b\")",
            "Tolerance (samples): must be a whole number of samples from 0 to 10000 (got \"-1\")"
        ]
    );
    assert_eq!(
        errors("verdicts=a/+/+&detector=on&broker=http://x"),
        [
            "Broker URL: must start with ws:// or wss:// (got \"http://x\")",
            "Verdicts filter: must have exactly one + level, which names the device, and no # (got \"a/+/+\")",
            "Built-in detector: must be off or baseline (got \"on\")"
        ]
    );
}

#[test]
fn the_table_counts_gaps_duplicates_and_late_samples() {
    let mut monitor = monitor_with("");
    let topic = "device/s1/telemetry";
    for (sequence, at) in [
        (1, 0),
        (2, 1000),
        (4, 2000),
        (4, 2100),
        (3, 2200),
        (7, 3000),
    ] {
        monitor
            .on_message(
                topic,
                &telemetry("s1", sequence, 1000.0 + sequence as f64),
                at,
            )
            .unwrap();
    }
    let s = &monitor.device("s1").unwrap().stream;
    assert_eq!(
        (
            s.received,
            s.distinct,
            s.duplicates,
            s.out_of_order,
            s.max_sequence,
            s.gaps()
        ),
        (6, 5, 1, 1, 7, 2)
    );
    assert_eq!(
        s.last.unwrap().sequence,
        7,
        "the newest sample's readings are shown"
    );
    let rows = monitor.table_rows(4000);
    assert!(rows.contains("<td>1007.0000</td><td>24.500</td><td>1.2</td><td>6</td><td>2</td><td>1</td><td>1</td><td>1.0</td>"), "{rows}");
    // The chart: samples 1..7 with 5 and 6 as gaps, and the late 3 not drawn twice.
    let points = &monitor.device("s1").unwrap().points;
    let drawn: Vec<(u64, bool)> = points
        .iter()
        .map(|p| (p.sample.sequence, p.reported))
        .collect();
    assert_eq!(
        drawn,
        [
            (1, true),
            (2, true),
            (3, false),
            (4, true),
            (5, false),
            (6, false),
            (7, true)
        ]
    );
}

#[test]
fn a_long_gap_is_given_up_without_growing_memory() {
    let mut stream = Stream::default();
    let reading = |sequence| Reading {
        sequence,
        pressure: 1.0,
        temperature: 1.0,
        timestamp_ms: None,
        arrived_ms: 0,
    };
    stream.receive(reading(1));
    for sequence in 3..20_000 {
        stream.receive(reading(sequence));
    }
    assert_eq!((stream.gaps(), stream.distinct), (1, 19_998));
    assert!(
        stream.tracked() <= 4096,
        "{} remembered one by one",
        stream.tracked()
    );
    assert_eq!(
        stream.receive(reading(2)),
        Arrival::Late,
        "2 came after all"
    );
    assert_eq!(stream.receive(reading(19_000)), Arrival::Duplicate);
}

#[test]
fn the_scoreboard_scores_verdicts_against_labels_per_device_and_in_total() {
    let mut monitor = monitor_with("tolerance=1");
    for sequence in 1..=30 {
        for id in ["a", "b"] {
            monitor
                .on_message(
                    &format!("device/{id}/telemetry"),
                    &telemetry(id, sequence, 1000.0),
                    0,
                )
                .unwrap();
        }
    }
    monitor
        .on_message("device/a/labels", &label("a", 1, "spike", 5, 5), 0)
        .unwrap();
    monitor
        .on_message("device/a/labels", &label("a", 2, "step", 10, 15), 0)
        .unwrap();
    monitor
        .on_message("device/a/labels", &label("a", 2, "step", 10, 15), 0)
        .unwrap(); // QoS 1 again
    monitor
        .on_message("device/b/labels", &label("b", 1, "dropout", 20, 22), 0)
        .unwrap();
    // a: the spike found one late (inside the tolerance), the step missed, a false alarm run
    // of three samples, 25-27; b: the dropout found at the first sample after its window.
    for sequence in [6, 25, 26, 27] {
        monitor
            .on_message("device/a/verdict", &verdict(sequence, true), 0)
            .unwrap();
    }
    monitor
        .on_message("device/a/verdict", &verdict(12, true), 0)
        .unwrap();
    monitor
        .on_message("device/a/verdict", &verdict(12, false), 0)
        .unwrap(); // taken back
    monitor
        .on_message("device/b/verdict", &verdict(23, true), 0)
        .unwrap();
    let (total, per_device) = monitor.scores();
    assert_eq!((total.tp, total.fp, total.fn_, total.fp_runs), (2, 3, 1, 1));
    assert_eq!(per_device.len(), 2);
    assert_eq!(
        (per_device[0].1.tp, per_device[0].1.fp, per_device[0].1.fn_),
        (1, 3, 1)
    );
    assert_eq!(
        total.by_kind[AnomalyKind::Dropout.index()].recall,
        Some(1.0)
    );
    let board = monitor.scoreboard();
    for expected in [
        r#"data-testid="score-tp">2<"#,
        r#"data-testid="score-fp">3<"#,
        r#"data-testid="score-fp-runs">1<"#,
        r#"data-testid="score-fn">1<"#,
        r#"data-testid="score-precision">0.400<"#,
        r#"data-testid="score-recall">0.667<"#,
        r#"data-testid="score-f1">0.500<"#,
        r#"data-testid="score-delay">2.00<"#,
        r#"data-testid="score-recall-step">0.000<"#,
        r#"data-testid="score-recall-spike">1.000<"#,
        r#"data-testid="score-recall-noise">-<"#,
    ] {
        assert!(board.contains(expected), "{expected} in {board}");
    }
    let report: serde_json::Value = serde_json::from_str(&monitor.report(0)).unwrap();
    assert_eq!(report["total"]["tp"], 2);
    assert_eq!(report["settings"]["tolerance"], 1);
    let step = &report["devices"][0]["events"][1];
    assert_eq!(
        (step["kind"].as_str(), step["found"].as_bool()),
        (Some("step"), Some(false))
    );
    assert_eq!(step["window"], serde_json::json!([10, 16]));
    assert_eq!(report["devices"][1]["events"][0]["first_flag"], 23);
    // NAB's view of device a: 30 rows, 4 in probation, both windows scored.
    let a = &report["devices"][0];
    assert_eq!(a["samples"], 30);
    assert_eq!(a["probation"], 4);
    assert_eq!(a["windows"], serde_json::json!([[5, 6], [10, 16]]));
    assert_eq!(
        a["flagged"],
        serde_json::json!({"count": 4, "first": [6, 25, 26, 27]})
    );
    assert_eq!(a["false_alarms"], serde_json::json!([[25, 27]]));
    assert_eq!(a["missed"], serde_json::json!([2]));
    // The spike found at the second of its window's two rows; the three false alarms past
    // the step's window (width 7: distance over 6); the step missed.
    let sigmoid = |x: f64| 1.0 / (1.0 + libm::exp(-x));
    let scaled = |p: f64| 2.0 * sigmoid(-5.0 * p) - 1.0;
    let found = scaled(-0.5) / scaled(-1.0);
    let alarms: f64 = [9.0, 10.0, 11.0]
        .iter()
        .map(|d| scaled(d / 6.0) * 0.11)
        .sum();
    let raw = a["nab_raw"]["standard"].as_f64().unwrap();
    assert!((raw - (found - 1.0 + alarms)).abs() < 1e-12, "{raw}");
    assert_eq!(
        report["total"]["nab"]["standard"].as_f64().unwrap(),
        total.nab[0].unwrap()
    );
}

#[test]
fn with_no_verdicts_recall_is_0_and_f1_undefined() {
    let mut monitor = monitor_with("");
    monitor
        .on_message("device/a/telemetry", &telemetry("a", 1, 1000.0), 0)
        .unwrap();
    monitor
        .on_message("device/a/labels", &label("a", 1, "spike", 5, 5), 0)
        .unwrap();
    // Not scored until a sample of its window arrives.
    let board = monitor.scoreboard();
    assert!(
        board.contains(r#"data-testid="score-recall">-<"#),
        "{board}"
    );
    assert!(board.contains("1 event(s) not yet scored"), "{board}");
    for sequence in 2..=6 {
        monitor
            .on_message("device/a/telemetry", &telemetry("a", sequence, 1000.0), 0)
            .unwrap();
    }
    let board = monitor.scoreboard();
    assert!(
        board.contains(r#"data-testid="score-recall">0.000<"#),
        "{board}"
    );
    assert!(board.contains(r#"data-testid="score-f1">-<"#), "{board}");
    assert!(
        board.contains(r#"data-testid="score-precision">-<"#),
        "{board}"
    );
}

#[test]
fn unreadable_messages_are_counted_with_the_topic_and_problem() {
    let mut monitor = monitor_with("");
    let problems: Vec<String> = [
        ("device/a/telemetry", &b"not json"[..]),
        ("device/a/telemetry", br#"{"device_id":"a","sequence":-1,"data":{}}"#),
        ("device/a/telemetry", br#"{"device_id":"a","sequence":1,"data":{"pressure":"x"}}"#),
        ("device/a/labels", br#"{"device_id":"a","anomaly_id":1,"kind":"flood","first_sequence":1,"last_sequence":2}"#),
        ("device/a/labels", br#"{"device_id":"a","anomaly_id":1,"kind":"spike","first_sequence":3,"last_sequence":2}"#),
        ("device/a/verdict", br#"{"sequence":3,"anomaly":"yes"}"#),
        ("device/a/verdict", br#"[1]"#),
    ]
    .iter()
    .map(|(topic, payload)| monitor.on_message(topic, payload, 0).unwrap_err())
    .collect();
    assert_eq!(
        problems[1..],
        [
            "device/a/telemetry: \"sequence\" is not a whole number",
            "device/a/telemetry: \"data.pressure\" is not a number",
            "device/a/labels: unknown \"kind\" \"flood\"",
            "device/a/labels: \"last_sequence\" is before \"first_sequence\"",
            "device/a/verdict: \"anomaly\" is not true or false",
            "device/a/verdict: not a JSON object",
        ]
    );
    assert!(
        problems[0].starts_with("device/a/telemetry: not JSON ("),
        "{}",
        problems[0]
    );
    assert_eq!(monitor.counts().unreadable, 7);
    assert_eq!(monitor.devices().len(), 0, "nothing half-read is kept");
}

#[test]
fn the_built_in_detector_publishes_a_verdict_per_sample_to_the_verdicts_topic() {
    let mut monitor = monitor_with("detector=baseline&verdicts=baseline/+/verdict");
    for sequence in 1..=40 {
        let pressure = if sequence == 30 {
            1005.0
        } else {
            1000.0 + (sequence % 3) as f64 * 0.004
        };
        monitor
            .on_message(
                "device/s1/telemetry",
                &telemetry("s1", sequence, pressure),
                0,
            )
            .unwrap();
    }
    let out: Vec<(String, serde_json::Value)> = std::iter::from_fn(|| monitor.pop_outgoing())
        .map(|(topic, payload)| (topic, serde_json::from_slice(&payload).unwrap()))
        .collect();
    assert_eq!(out.len(), 40);
    assert!(out.iter().all(|(topic, _)| topic == "baseline/s1/verdict"));
    let flagged: Vec<u64> = out
        .iter()
        .filter(|(_, v)| v["anomaly"] == true)
        .map(|(_, v)| v["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(flagged, [30], "the spike, and nothing else");
    // Its verdicts count once they come back from the broker, like anyone's.
    assert_eq!(monitor.device("s1").unwrap().flagged.len(), 0);
}

#[test]
fn a_restarted_simulator_starts_its_device_again() {
    let mut monitor = monitor_with("");
    let topic = "device/s1/telemetry";
    for sequence in 1..=5 {
        monitor
            .on_message(topic, &telemetry("s1", sequence, 1000.0), 0)
            .unwrap();
    }
    // Sample 1 again with its own timestamp: a QoS 1 redelivery, a duplicate.
    monitor
        .on_message(topic, &telemetry("s1", 1, 1000.0), 0)
        .unwrap();
    assert_eq!(monitor.device("s1").unwrap().stream.duplicates, 1);
    let restarted = br#"{"timestamp":"2026-11-27T09:00:00.000Z","device_id":"s1","sequence":1,"data":{"pressure":1000.0,"temperature":24.0}}"#;
    monitor.on_message(topic, restarted, 0).unwrap();
    let device = monitor.device("s1").unwrap();
    assert_eq!(
        (
            device.restarts,
            device.stream.received,
            device.stream.max_sequence
        ),
        (1, 1, 1)
    );
}

#[test]
fn hostile_messages_are_refused_or_ignored_and_nothing_grows_without_bound() {
    let mut monitor = monitor_with("detector=baseline");
    // A verdict about a device no telemetry came from makes no device, and is not kept.
    monitor
        .on_message("device/ghost/verdict", &verdict(1, true), 0)
        .unwrap();
    assert_eq!((monitor.devices().len(), monitor.counts().ignored), (0, 1));
    assert_eq!(monitor.counts().verdicts, 1, "read, but not kept");
    // A label waits for its device (a dropout at the start of a run), a thousand at most.
    for n in 0..=PENDING_LABELS as u64 {
        let id = format!("ghost{n}");
        let topic = format!("device/{id}/labels");
        monitor
            .on_message(&topic, &label(&id, 1, "dropout", 1, 3), 0)
            .unwrap();
    }
    assert_eq!(
        (monitor.devices().len(), monitor.counts().ignored),
        (0, 2),
        "the oldest went"
    );
    monitor
        .on_message(
            "device/ghost7/telemetry",
            &telemetry("ghost7", 4, 1000.0),
            0,
        )
        .unwrap();
    assert_eq!(
        monitor.device("ghost7").unwrap().events.len(),
        1,
        "the dropout at 1..3 is known"
    );
    monitor
        .on_message(
            "device/ghost0/telemetry",
            &telemetry("ghost0", 4, 1000.0),
            0,
        )
        .unwrap();
    assert_eq!(
        monitor.device("ghost0").unwrap().events.len(),
        0,
        "dropped, the buffer full"
    );
    let _ = std::iter::from_fn(|| monitor.pop_outgoing()).count();
    let long = "x".repeat(MAX_ID_BYTES + 1);
    for (payload, problem) in [
        (
            telemetry(&long, 1, 1000.0),
            "must be 1 to 256 bytes without control characters",
        ),
        (
            telemetry("a\\u0000b", 1, 1000.0),
            "must be 1 to 256 bytes without control characters",
        ),
        (telemetry("a", 0, 1000.0), "counts from 1"),
    ] {
        let error = monitor
            .on_message("device/x/telemetry", &payload, 0)
            .unwrap_err();
        assert!(error.contains(problem), "{error}");
    }
    assert_eq!(
        monitor.pop_outgoing(),
        None,
        "no verdict for a refused sample"
    );
    // Sequence numbers at the top of the range neither overflow nor panic.
    for sequence in [u64::MAX - 1, u64::MAX, u64::MAX] {
        monitor
            .on_message("device/a/telemetry", &telemetry("a", sequence, 1000.0), 0)
            .unwrap();
    }
    monitor
        .on_message("device/a/labels", &label("a", 1, "drift", 0, u64::MAX), 0)
        .unwrap();
    monitor
        .on_message("device/a/labels", &label("a", 2, "drift", 0, u64::MAX), 0)
        .unwrap();
    monitor
        .on_message("device/a/verdict", &verdict(u64::MAX, true), 0)
        .unwrap();
    let a = monitor.device("a").unwrap().score(0);
    assert_eq!((a.tp, a.fn_), (2, 0));
    assert!(
        monitor
            .report(0)
            .contains("\"first_flag\": 18446744073709551615")
    );
    // The per-device limits hold.
    let device = monitor.devices.get_mut("a").unwrap();
    device.flagged.extend(1..FLAGS_PER_DEVICE as u64);
    device.events.extend(
        (10..EVENTS_PER_DEVICE as u64 + 8)
            .map(|id| (id, score::Event::new(id, AnomalyKind::Spike, id, id))),
    );
    assert_eq!(
        (device.flagged.len(), device.events.len()),
        (FLAGS_PER_DEVICE, EVENTS_PER_DEVICE)
    );
    monitor.flags_kept += FLAGS_PER_DEVICE - 1;
    monitor.events_kept += EVENTS_PER_DEVICE - 2;
    let ignored = monitor.counts().ignored;
    monitor
        .on_message("device/a/verdict", &verdict(u64::MAX - 7, true), 0)
        .unwrap();
    monitor
        .on_message("device/a/labels", &label("a", 5, "spike", 3, 3), 0)
        .unwrap();
    let device = monitor.device("a").unwrap();
    assert_eq!(
        (device.flagged.len(), device.events.len()),
        (FLAGS_PER_DEVICE, EVENTS_PER_DEVICE)
    );
    assert_eq!(monitor.counts().ignored, ignored + 2);
    assert_totals(&monitor);
}

#[test]
fn a_repeated_sample_gets_no_second_verdict_and_a_late_joiner_sees_a_restart() {
    let mut monitor = monitor_with("detector=baseline");
    let topic = "device/s1/telemetry";
    // Joined mid-run: the first sample seen is 500.
    for sequence in 500..=540 {
        let pressure = if sequence == 530 {
            1010.0
        } else {
            1000.0 + (sequence % 3) as f64 * 0.004
        };
        monitor
            .on_message(topic, &telemetry("s1", sequence, pressure), 0)
            .unwrap();
    }
    let verdicts = std::iter::from_fn(|| monitor.pop_outgoing()).count();
    // The flagged spike comes again (a QoS 1 redelivery): no verdict, so the first stands.
    monitor
        .on_message(topic, &telemetry("s1", 530, 1010.0), 0)
        .unwrap();
    assert_eq!((verdicts, monitor.pop_outgoing()), (41, None));
    // The simulator restarts: its sample 1 starts the device again.
    monitor
        .on_message(topic, &telemetry("s1", 1, 1000.0), 0)
        .unwrap();
    let device = monitor.device("s1").unwrap();
    assert_eq!(
        (
            device.restarts,
            device.stream.max_sequence,
            device.stream.received
        ),
        (1, 1, 1)
    );
}

#[test]
fn the_limits_over_all_devices_hold() {
    let mut monitor = monitor_with("");
    for n in 0..MAX_DEVICES + 1 {
        let id = format!("d{n}");
        monitor
            .on_message("device/x/telemetry", &telemetry(&id, 1, 1000.0), 0)
            .unwrap();
    }
    assert_eq!(
        (monitor.devices().len(), monitor.counts().ignored),
        (MAX_DEVICES, 1)
    );
    monitor.flags_kept = FLAGS_TOTAL;
    monitor.events_kept = EVENTS_TOTAL;
    monitor
        .on_message("device/d1/verdict", &verdict(5, true), 0)
        .unwrap();
    monitor
        .on_message("device/d1/labels", &label("d1", 1, "spike", 5, 5), 0)
        .unwrap();
    let device = monitor.device("d1").unwrap();
    assert_eq!((device.flagged.len(), device.events.len()), (0, 0));
    assert_eq!(monitor.counts().ignored, 3);
}

#[test]
fn a_rerun_with_the_same_start_time_but_other_readings_is_a_restart() {
    let mut monitor = monitor_with("");
    let topic = "device/s1/telemetry";
    for sequence in 1..=5 {
        monitor
            .on_message(topic, &telemetry("s1", sequence, 1000.0), 0)
            .unwrap();
    }
    // Same timestamp (a pinned Start time), another reading: a new run.
    monitor
        .on_message(topic, &telemetry("s1", 1, 1001.0), 0)
        .unwrap();
    assert_eq!(monitor.device("s1").unwrap().restarts, 1);
    // Without timestamps, a sample 1 again is always a new run.
    let bare = br#"{"device_id":"s2","sequence":1,"data":{"pressure":1000.0,"temperature":24.0}}"#;
    monitor.on_message("device/s2/telemetry", bare, 0).unwrap();
    monitor.on_message("device/s2/telemetry", bare, 0).unwrap();
    assert_eq!(monitor.device("s2").unwrap().restarts, 1);
}

#[test]
fn a_publisher_without_sequence_numbers_is_numbered_as_it_arrives() {
    // The seed program's payload: no sequence, a timestamp without a zone.
    let mut monitor = monitor_with("detector=baseline");
    let seed = br#"{"timestamp": "2026-11-26T17:00:00.123456", "device_id": "infineon-sensor-01", "sensor_type": "DPS368", "data": {"pressure": 1003.52, "temperature": 27.31}}"#;
    for _ in 0..3 {
        monitor
            .on_message("device/infineon-sensor-01/telemetry", seed, 0)
            .unwrap();
    }
    let device = monitor.device("infineon-sensor-01").unwrap();
    assert!(!device.sequenced);
    let s = &device.stream;
    assert_eq!(
        (
            s.received,
            s.max_sequence,
            s.duplicates,
            s.last.unwrap().pressure
        ),
        (3, 3, 0, 1003.52)
    );
    let rows = monitor.table_rows(1000);
    assert!(
        rows.contains(
            "<td>1003.5200</td><td>27.310</td><td>0.6</td><td>3</td><td>-</td><td>-</td><td>-</td>"
        ),
        "{rows}"
    );
    assert_eq!(
        std::iter::from_fn(|| monitor.pop_outgoing()).count(),
        3,
        "judged all the same"
    );
}

#[test]
fn a_run_that_starts_with_a_dropout_is_still_a_new_run_and_keeps_its_first_labels() {
    let mut monitor = monitor_with("");
    let topic = "device/s1/telemetry";
    let at = |second: u64| format!("2026-11-26T17:{:02}:{:02}.000Z", second / 60, second % 60);
    let sample = |sequence: u64, second: u64, pressure: f64| {
        format!(
            r#"{{"timestamp":"{}","device_id":"s1","sequence":{sequence},"data":{{"pressure":{pressure},"temperature":24.5}}}}"#,
            at(second)
        )
        .into_bytes()
    };
    let label_at = |id: u64, kind: &str, first: u64, last: u64, second: u64| {
        format!(
            r#"{{"device_id":"s1","anomaly_id":{id},"kind":"{kind}","first_sequence":{first},"last_sequence":{last},"start":"{}","end":"x"}}"#,
            at(second)
        )
        .into_bytes()
    };
    // Run 1: samples 1..=20 at 0..19 s, an event, two flags.
    for sequence in 1..=20 {
        monitor
            .on_message(topic, &sample(sequence, sequence - 1, 1000.0), 0)
            .unwrap();
    }
    monitor
        .on_message("device/s1/labels", &label_at(1, "spike", 5, 5, 4), 0)
        .unwrap();
    monitor
        .on_message("device/s1/verdict", &verdict(5, true), 0)
        .unwrap();
    monitor
        .on_message("device/s1/verdict", &verdict(9, true), 0)
        .unwrap();
    monitor
        .on_message("device/s1/verdict", &verdict(9, false), 0)
        .unwrap();
    assert_totals(&monitor);
    // Run 2 starts at 100 s with a dropout over samples 1..=3: its label comes first (queued
    // labels go ahead of samples), then sample 4.
    // Delivered twice (QoS 1): one event, counted once.
    for _ in 0..2 {
        monitor
            .on_message("device/s1/labels", &label_at(1, "dropout", 1, 3, 100), 0)
            .unwrap();
    }
    monitor
        .on_message(topic, &sample(4, 103, 1000.0), 0)
        .unwrap();
    let device = monitor.device("s1").unwrap();
    assert_eq!(device.restarts, 1, "a new run without its sample 1");
    assert!(device.sequenced, "its counts are shown");
    assert_eq!((device.stream.received, device.stream.max_sequence), (1, 4));
    assert_eq!(
        device.stream.gaps(),
        3,
        "a new run starts at 1: its dropout is 3 gaps"
    );
    let events: Vec<_> = device
        .events
        .values()
        .map(|e| (e.id, e.kind, e.first))
        .collect();
    assert_eq!(
        events,
        [(1, AnomalyKind::Dropout, 1)],
        "the new run's label, not the old run's"
    );
    assert!(device.flagged.is_empty());
    assert_totals(&monitor);
    // A late sample of run 2 (older timestamp than the newest) is no restart.
    monitor
        .on_message(topic, &sample(6, 105, 1000.0), 0)
        .unwrap();
    monitor
        .on_message(topic, &sample(5, 104, 1000.0), 0)
        .unwrap();
    assert_eq!(monitor.device("s1").unwrap().restarts, 1);
    assert_eq!(monitor.device("s1").unwrap().stream.out_of_order, 1);
}

#[test]
fn a_monitor_that_joins_a_run_late_counts_gaps_from_the_first_sample_it_saw() {
    let mut monitor = monitor_with("");
    for sequence in [5000, 5001, 5003, 4999, 4998] {
        monitor
            .on_message("device/s1/telemetry", &telemetry("s1", sequence, 1000.0), 0)
            .unwrap();
    }
    let device = monitor.device("s1").unwrap();
    assert_eq!(device.stream.gaps(), 1, "5002 only, not 4,999 before 5000");
    assert_eq!(
        (device.stream.duplicates, device.stream.out_of_order),
        (0, 2),
        "4999 and 4998 came late, they are no repeats"
    );
    // The late sample again (a QoS 1 redelivery) is a repeat.
    monitor
        .on_message("device/s1/telemetry", &telemetry("s1", 4999, 1000.0), 0)
        .unwrap();
    let device = monitor.device("s1").unwrap();
    assert_eq!((device.stream.duplicates, device.stream.gaps()), (1, 1));
    assert_eq!(
        device.rows.len(),
        5,
        "the late ones are samples all the same"
    );
    assert_eq!(device.restarts, 0);
}

#[test]
fn a_redraw_rescores_only_the_devices_that_changed() {
    let mut monitor = monitor_with("");
    for id in ["a", "b"] {
        for sequence in 1..=20 {
            monitor
                .on_message(
                    &format!("device/{id}/telemetry"),
                    &telemetry(id, sequence, 1000.0),
                    0,
                )
                .unwrap();
        }
    }
    let (_, before) = monitor.scores();
    let (a, b) = (before[0].1.clone(), before[1].1.clone());
    drop(before);
    monitor
        .on_message("device/b/verdict", &verdict(7, true), 0)
        .unwrap();
    let (total, after) = monitor.scores();
    assert!(
        Rc::ptr_eq(&a, &after[0].1),
        "a unchanged: its score is kept"
    );
    assert!(!Rc::ptr_eq(&b, &after[1].1), "b rescored");
    assert_eq!((after[1].1.fp, total.fp), (1, 1));
    drop(after);
    // A new sample changes NAB's rows, so it rescores too.
    monitor
        .on_message("device/a/telemetry", &telemetry("a", 21, 1000.0), 0)
        .unwrap();
    let (_, last) = monitor.scores();
    assert!(!Rc::ptr_eq(&a, &last[0].1));
    assert_eq!(last[0].1.nab_file.rows, 21);
}

#[test]
fn the_samples_csv_numbers_windows_as_the_report_lists_them_and_neutralises_formulas() {
    let mut monitor = monitor_with("");
    for sequence in 1..=20 {
        monitor
            .on_message("device/x/telemetry", &telemetry("=x", sequence, 1000.0), 0)
            .unwrap();
    }
    // Probation is the first 3 of 20 rows: the first event's window lies wholly in it.
    for (id, first, last) in [(1, 2, 2), (2, 10, 11)] {
        monitor
            .on_message("device/x/labels", &label("=x", id, "spike", first, last), 0)
            .unwrap();
    }
    monitor
        .on_message("device/=x/verdict", &verdict(10, true), 0)
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&monitor.report(0)).unwrap();
    assert_eq!(
        report["devices"][0]["windows"],
        serde_json::json!([[10, 11]])
    );
    let csv = monitor.samples_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "device_id,sequence,row,probation,window,window_scored,flag"
    );
    assert_eq!(lines.len(), 21);
    assert_eq!(
        lines[2], "\"'=x\",2,1,1,1,0,0",
        "in probation, its window not scored"
    );
    assert_eq!(lines[10], "\"'=x\",10,9,0,2,1,1");
    assert_eq!(lines[12], "\"'=x\",12,11,0,,,0");
}

#[test]
fn the_report_and_errors_keep_no_credentials_of_a_signed_broker_url() {
    let mut form = MonitorForm::default();
    form.apply_query("broker=wss:///mqtt%3FX-Amz-Signature%3Ds3cret");
    let errors = form.validate().unwrap_err();
    let text = errors[0].to_string();
    assert!(
        !text.contains("s3cret")
            && text.contains("has no host (got \"wss:///mqtt?(query hidden)\")"),
        "{text}"
    );
    let mut monitor = monitor_with("broker=wss://h.example/mqtt%3FX-Amz-Signature%3Ds3cret");
    monitor
        .on_message("device/a/telemetry", &telemetry("a", 1, 1000.0), 0)
        .unwrap();
    let report = monitor.report(0);
    assert!(!report.contains("s3cret"), "{report}");
    assert!(
        report.contains("\"wss://h.example/mqtt?(query hidden)\""),
        "{report}"
    );
}

#[test]
fn samples_skipped_while_the_monitor_was_offline_are_not_the_publishers_gaps() {
    use super::stream::{Reading, Stream};
    let reading = |sequence| Reading {
        sequence,
        pressure: 1000.0,
        temperature: 20.0,
        timestamp_ms: None,
        arrived_ms: 0,
    };
    let mut stream = Stream::default();
    for sequence in 1..=5 {
        stream.receive(reading(sequence));
    }
    stream.monitor_offline();
    stream.receive(reading(9));
    assert_eq!((stream.gaps(), stream.missed_offline), (0, 3));
    // Online again: a jump is the publisher's.
    stream.receive(reading(12));
    assert_eq!((stream.gaps(), stream.missed_offline), (2, 3));
    assert_eq!(stream.all_gaps(), 5, "the report's gaps keep their meaning");
    // One of the missed comes after all: no longer missed, and the publisher's gaps stay 2.
    stream.receive(reading(7));
    assert_eq!((stream.gaps(), stream.missed_offline), (2, 2));
    // A late one first after an outage does not use up the outage: the next jump is still it.
    stream.monitor_offline();
    stream.receive(reading(10));
    stream.receive(reading(15));
    assert_eq!((stream.gaps(), stream.missed_offline), (1, 4));
    // Before any message, an outage skips nothing.
    let mut fresh = Stream::default();
    fresh.monitor_offline();
    fresh.receive(reading(7));
    assert_eq!((fresh.gaps(), fresh.missed_offline), (0, 0));
}

#[test]
fn labels_carrying_an_snr_are_scored_per_snr_bin_on_the_board_and_in_the_report() {
    let mut monitor = monitor_with("tolerance=0");
    for sequence in 1..=30 {
        monitor
            .on_message("device/a/telemetry", &telemetry("a", sequence, 1000.0), 0)
            .unwrap();
    }
    let with_snr = |anomaly_id: u64, first: u64, snr: &str| {
        let mut json = String::from_utf8(label("a", anomaly_id, "step", first, first)).unwrap();
        json.pop();
        json.push_str(&format!(",\"snr\":{snr}}}"));
        json.into_bytes()
    };
    for (id, first, snr) in [
        (1, 5, "0.4"),
        (2, 10, "2.5"),
        (3, 15, "40.0"),
        (4, 20, "null"),
    ] {
        monitor
            .on_message("device/a/labels", &with_snr(id, first, snr), 0)
            .unwrap();
    }
    for sequence in [10, 15] {
        monitor
            .on_message("device/a/verdict", &verdict(sequence, true), 0)
            .unwrap();
    }
    let (total, _) = monitor.scores();
    let bins: Vec<(u64, u64)> = total.by_snr.iter().map(|k| (k.events, k.found)).collect();
    assert_eq!(
        bins,
        [(1, 0), (1, 1), (0, 0), (1, 1)],
        "an SNR of null is in no bin"
    );
    let board = monitor.scoreboard();
    assert!(
        board.contains(r#"data-testid="score-recall-snr-lt1">0.000<"#),
        "{board}"
    );
    assert!(
        board.contains(r#"data-testid="score-recall-snr-ge10">1.000<"#),
        "{board}"
    );
    let summary = crate::monitor::view::summary(&total);
    assert_eq!(summary["by_snr"]["1_3"]["recall"], 1.0);
    assert_eq!(summary["by_snr"]["3_10"]["events"], 0);
}
