use super::*;
use crate::settings::SettingsForm;

const ISSUE: &str = r#"{"name": "storm and outage",
 "stages": [{"duration": 60, "devices": 10, "interval": 1.0},
            {"duration": 120, "devices": 50, "ramp": 30, "interval": 0.5}],
 "events": [{"at": 30, "anomaly": "spike", "devices": [2]},
            {"at": 90, "anomaly": "stuck", "devices": "1-5", "magnitude": 0.5, "duration": 2},
            {"at": 100, "offline": 30, "devices": "11-35"},
            {"at": 120, "weather": "front", "change_hpa": -6, "over": 600}]}"#;

/// The scenario applied to a form as the page and the runner do, checked against the settings.
fn run_with(text: &str, query: &str) -> Result<Settings, String> {
    let scenario = Scenario::parse(text)?;
    let mut form = SettingsForm::defaults("t3st");
    form.apply_query(query);
    scenario.apply(&mut form);
    let mut settings = form.validate().map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    settings.attach_scenario(scenario)?;
    Ok(settings)
}

#[test]
fn the_issues_example_reads_as_written() {
    let scenario = Scenario::parse(ISSUE).unwrap();
    assert_eq!(scenario.name, "storm and outage");
    assert_eq!(
        scenario.stages,
        vec![
            Stage {
                start_ms: 0,
                duration_ms: 60_000,
                devices: 10,
                ramp_ms: 0,
                interval_ms: Some(1000),
            },
            Stage {
                start_ms: 60_000,
                duration_ms: 120_000,
                devices: 50,
                ramp_ms: 30_000,
                interval_ms: Some(500),
            },
        ]
    );
    assert_eq!(scenario.end_ms(), 180_000);
    assert_eq!(scenario.fleet(), 50);
    assert_eq!(
        scenario.events[1],
        Event {
            at_ms: 90_000,
            what: What::Anomaly {
                kind: AnomalyKind::Stuck,
                magnitude: 0.5,
                duration: 2.0,
            },
            devices: Devices::Ranges(vec![(1, 5)]),
        }
    );
    assert_eq!(scenario.events[2].what, What::Offline { for_ms: 30_000 });
    assert_eq!(
        scenario.fronts(),
        vec![Front {
            at_ms: 120_000,
            change_hpa: -6.0,
            over_ms: 600_000,
        }]
    );
    let settings = run_with(ISSUE, "").unwrap();
    assert_eq!(settings.devices, 50, "the fleet is the largest stage");
    assert_eq!(settings.interval_ms, 1000, "the first stage's interval");
}

#[test]
fn top_level_settings_apply_by_their_url_names_and_their_own_checks_hold() {
    let text = r#"{"stages": [{"duration": 10, "devices": 2}], "profile": "seed", "seed": 7,
                   "labels": "topic", "clean_session": true}"#;
    let settings = run_with(text, "").unwrap();
    assert_eq!(settings.sensor.profile, crate::sensor::Profile::Seed);
    assert_eq!(settings.sensor.seed, 7);
    assert_eq!(settings.labels, crate::settings::Labels::Topic);
    assert!(settings.clean_session);
    assert_eq!(
        settings.scenario.as_ref().unwrap().stages[0].interval_ms,
        Some(1000),
        "a stage without an interval runs at the settings' interval"
    );
    let bad = r#"{"stages": [{"duration": 10, "devices": 2}], "seed": "seven"}"#;
    let problem = run_with(bad, "").unwrap_err();
    assert!(problem.starts_with("Seed:"), "{problem}");
}

#[test]
fn every_problem_names_the_stage_or_event_and_the_field() {
    let stages = r#""stages": [{"duration": 60, "devices": 10}, {"duration": 60, "devices": 50}]"#;
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                r#"{{{stages}, "events": [{{"at": 1, "anomaly": "spike", "devices": [2]}}, {{"at": 2, "anomaly": "spike"}}, {{"at": 3, "offline": 5}}, {{"at": 4, "anomaly": "spike", "devices": [60]}}]}}"#
            ),
            "events[3].devices: device 60 is not in a fleet of 50",
        ),
        (
            r#"{"stages": [{"duration": 60, "devices": 10, "ramp": 61}]}"#.into(),
            "stages[0].ramp: must be at most the stage's duration",
        ),
        (
            r#"{"stages": [{"devices": 10}]}"#.into(),
            "stages[0].duration: every stage needs one, in seconds",
        ),
        (
            r#"{"stages": [{"duration": 60}]}"#.into(),
            "stages[0].devices: every stage needs one (connected at its end)",
        ),
        (
            r#"{"stages": [{"duration": 60, "devices": 0}]}"#.into(),
            "stages[0].devices: must be a whole number from 1 to 100000 (got \"0\")",
        ),
        (
            r#"{"stages": [{"duration": 60, "devices": 1, "interval": 0.001}]}"#.into(),
            "stages[0].interval: must be 0 (as fast as possible) or at least 0.01 s (got \"0.001\")",
        ),
        (
            r#"{"stages": [{"duration": 60, "devices": 1, "speed": 2}]}"#.into(),
            "stages[0].speed: not a stage field (duration, devices, ramp, interval)",
        ),
        (
            r#"{"stages": [{"duration": -1, "devices": 1}]}"#.into(),
            "stages[0].duration: must be a number of seconds from 0 to a year (got \"-1\")",
        ),
        (
            format!(r#"{{{stages}, "events": [{{"at": 120, "anomaly": "spike"}}]}}"#),
            "events[0].at: 120 s is not before the scenario's end (120 s)",
        ),
        (
            format!(r#"{{{stages}, "events": [{{"at": 1, "anomaly": "wobble"}}]}}"#),
            "events[0].anomaly: must be one of spike, step, drift, stuck, noise, dropout, out_of_range, compensation",
        ),
        (
            format!(r#"{{{stages}, "events": [{{"at": 1, "anomaly": "spike", "offline": 3}}]}}"#),
            "events[0].anomaly: an event is one of \"anomaly\" (a kind), \"offline\" (seconds) or \"weather\" (\"front\")",
        ),
        (
            format!(
                r#"{{{stages}, "events": [{{"at": 1, "weather": "front", "change_hpa": -6, "devices": [1]}}]}}"#
            ),
            "events[0].devices: not a field of a weather event (at, weather, change_hpa, over)",
        ),
        (
            format!(
                r#"{{{stages}, "events": [{{"at": 1, "weather": "front", "change_hpa": -60}}]}}"#
            ),
            "events[0].change_hpa: must be from -50 to 50 (got \"-60\")",
        ),
        (
            format!(
                r#"{{{stages}, "events": [{{"at": 1, "anomaly": "spike", "devices": "5-2"}}]}}"#
            ),
            "events[0].devices: the range \"5-2\" runs backwards",
        ),
        (
            format!(
                r#"{{{stages}, "events": [{{"at": 1, "anomaly": "spike", "magnitude": 20}}]}}"#
            ),
            "events[0].magnitude: must be a number from 0.05 to 10 (1 is the catalogue as written) (got \"20\")",
        ),
        (
            format!(r#"{{{stages}, "events": [{{"at": 1, "offline": 0}}]}}"#),
            "events[0].offline: must be more than 0 seconds",
        ),
        (
            format!(r#"{{{stages}, "events": [{{"at": 100, "offline": 30}}]}}"#),
            "events[0].offline: the outage would end after the scenario (120 s): the run ends with its last stage",
        ),
        (
            format!(
                r#"{{{stages}, "events": [{{"at": 1, "anomaly": "spike", "devices": [{}]}}]}}"#,
                vec!["1"; 1001].join(",")
            ),
            "events[0].devices: at most 1000 numbers and ranges (say \"1-500\" for many)",
        ),
        (
            format!(
                r#"{{"stages": [{{"duration": 60, "devices": 1000}}], "connection": "shared", "events": [{}]}}"#,
                vec![r#"{"at": 1, "anomaly": "spike"}"#; 1001].join(",")
            ),
            "events[1000].devices: the events name over 1000000 devices together (an event of \"all\" names the whole fleet)",
        ),
        (
            r#"{"stages": [{"duration": 007, "devices": 1}]}"#.into(),
            "scenario: not valid JSON at line 1, column 26: a number with a leading zero",
        ),
        (
            "{\"näme\": 1, \"stages\": [{\"duration\": 6, \"devices\": 1}], x}".into(),
            "scenario: not valid JSON at line 1, column 56: expected a key in double quotes",
        ),
        (
            format!(r#"{{{stages}, "devices": 5}}"#),
            "devices: the stages say how many devices run (the fleet is the largest count)",
        ),
        (
            format!(r#"{{{stages}, "colour": "red"}}"#),
            "colour: neither a scenario field (name, stages, events) nor a setting's URL parameter",
        ),
        (
            r#"{"stages": []}"#.into(),
            "stages: must have 1 to 1000 stages",
        ),
        (
            "{\"stages\": [\n  {\"duration\": 60,, \"devices\": 1}]}".into(),
            "scenario: not valid JSON at line 2, column 19: expected a key in double quotes",
        ),
        (
            r#"{"stages": [{"duration": 1e3, "devices": 1}]}"#.into(),
            "scenario: not valid JSON at line 1, column 27: write numbers without an exponent (e.g. 0.001, not 1e-3)",
        ),
        (
            r#"{"stages": [{"duration": 6, "devices": 1, "duration": 7}]}"#.into(),
            "scenario: not valid JSON at line 1, column 43: \"duration\" is given twice",
        ),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            "scenario: not valid JSON at line 1, column 34: nested too deep",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(run_with(&text, "").unwrap_err(), expected, "{text:.120}");
    }
}

#[test]
fn a_shared_connection_keeps_its_whole_fleet_and_loses_it_together() {
    let ramp = r#"{"stages": [{"duration": 10, "devices": 5}, {"duration": 10, "devices": 8}]}"#;
    assert_eq!(
        run_with(ramp, "connection=shared").unwrap_err(),
        "stages[0].devices: one shared connection publishes for all 8 devices; a stage of 5 needs connection per-device"
    );
    let outage = r#"{"stages": [{"duration": 10, "devices": 5}],
                     "events": [{"at": 1, "offline": 2, "devices": [1, 2]}]}"#;
    assert_eq!(
        run_with(outage, "connection=shared").unwrap_err(),
        "events[0].devices: one shared connection carries every device, so an outage takes \"all\" (or use connection per-device)"
    );
    let all = r#"{"stages": [{"duration": 10, "devices": 5}],
                  "events": [{"at": 1, "offline": 2, "devices": "all"}]}"#;
    assert!(run_with(all, "connection=shared").is_ok());
}

#[test]
fn devices_are_lists_ranges_or_all() {
    let read = |devices: &str| {
        let text = format!(
            r#"{{"stages": [{{"duration": 10, "devices": 9}}], "events": [{{"at": 1, "anomaly": "spike", "devices": {devices}}}]}}"#
        );
        Scenario::parse(&text).map(|s| s.events[0].devices.clone())
    };
    assert_eq!(read(r#""all""#), Ok(Devices::All));
    assert_eq!(read(r#""2-4""#), Ok(Devices::Ranges(vec![(2, 4)])));
    assert_eq!(read("7"), Ok(Devices::Ranges(vec![(7, 7)])));
    assert_eq!(
        read(r#"[1, "3-5", 9]"#),
        Ok(Devices::Ranges(vec![(1, 1), (3, 5), (9, 9)]))
    );
    for bad in ["[]", "[0]", r#""x""#, "[1.5]", "true"] {
        assert!(read(bad).is_err(), "{bad}");
    }
    let devices = read(r#"[1, "3-5"]"#).unwrap();
    let members: Vec<usize> = (1..=9).filter(|&k| devices.contains(k)).collect();
    assert_eq!(members, [1, 3, 4, 5]);
}

#[test]
fn the_ramp_reaches_its_count_linearly_and_at_its_end() {
    let scenario = Scenario::parse(
        r#"{"stages": [{"duration": 10, "devices": 4, "ramp": 8},
                       {"duration": 10, "devices": 10, "ramp": 6},
                       {"duration": 10, "devices": 2, "ramp": 4},
                       {"duration": 10, "devices": 3}]}"#,
    )
    .unwrap();
    let counts: Vec<usize> = (0..=40).map(|s| scenario.devices_at(s * 1000)).collect();
    assert_eq!(
        counts,
        [
            0, 0, 1, 1, 2, 2, 3, 3, 4, 4, // from none to 4 over 8 s
            4, 5, 6, 7, 8, 9, 10, 10, 10, 10, // 4 to 10 over 6 s
            10, 8, 6, 4, 2, 2, 2, 2, 2, 2, // 10 to 2 over 4 s
            3, 3, 3, 3, 3, 3, 3, 3, 3, 3, // at once
            3  // and the end
        ]
    );
    assert_eq!(scenario.stage_at(9_999), 0);
    assert_eq!(scenario.stage_at(10_000), 1);
    assert_eq!(scenario.stage_at(99_000), 3);
}

#[test]
fn a_front_moves_the_air_smoothly_and_stays() {
    let front = Front {
        at_ms: 10_000,
        change_hpa: -6.0,
        over_ms: 600_000,
    };
    assert_eq!(front.departure_hpa(0), 0.0);
    assert_eq!(front.departure_hpa(10_000), 0.0);
    assert!(
        (front.departure_hpa(310_000) + 3.0).abs() < 1e-12,
        "half way"
    );
    assert_eq!(front.departure_hpa(610_000), -6.0);
    assert_eq!(front.departure_hpa(10_000_000), -6.0);
    let mut last = 0.0;
    for s in 0..700 {
        let now = front.departure_hpa(s * 1000);
        assert!(now <= last, "always falling, never past");
        last = now;
    }
}

#[test]
fn json_strings_escapes_and_nesting_read_as_json_says() {
    let value =
        json::parse(r#" {"a": ["x\"\\\/\n\u00e9\ud83d\ude00", -0.5, true, false, null, {}]} "#)
            .unwrap();
    assert_eq!(
        value,
        json::Value::Object(vec![(
            "a".into(),
            json::Value::Array(vec![
                json::Value::String("x\"\\/\n\u{e9}\u{1f600}".into()),
                json::Value::Number("-0.5".into()),
                json::Value::Bool(true),
                json::Value::Bool(false),
                json::Value::Null,
                json::Value::Object(vec![]),
            ])
        )])
    );
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\" 1}",
        "\"\\ud800\"",
        "\"a\nb\"",
        "01x",
        "{} {}",
        "tru",
        "-",
        "1.",
        "\"\\u+041\"",
        "00",
    ] {
        assert!(json::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn events_play_in_time_order_whatever_the_files_order() {
    let text = r#"{"stages": [{"duration": 60, "devices": 3}],
                   "events": [{"at": 30, "anomaly": "spike"}, {"at": 10, "offline": 5},
                              {"at": 30, "anomaly": "step"}, {"at": 5, "anomaly": "drift"}]}"#;
    let settings = run_with(text, "").unwrap();
    let order: Vec<(u64, &str)> = settings
        .scenario
        .as_ref()
        .unwrap()
        .events
        .iter()
        .map(|e| (e.at_ms, e.what.name()))
        .collect();
    assert_eq!(
        order,
        [
            (5_000, "drift"),
            (10_000, "offline"),
            (30_000, "spike"),
            (30_000, "step")
        ]
    );
}

#[test]
fn the_timeline_draws_the_device_count_each_event_and_where_the_run_is() {
    let scenario = Scenario::parse(ISSUE).unwrap();
    let idle = timeline::svg(&scenario, None);
    // 10 devices at once for 60 s, then 10 to 50 over 30 s, held to 180 s (x over 600).
    assert!(
        idle.contains("points=\"0,40 0,33 0,33 200,33 200,33 300,4 600,4\""),
        "{idle}"
    );
    assert_eq!(idle.matches("<line").count(), 4, "a tick per event");
    for word in ["spike", "stuck", "offline", "front"] {
        assert!(idle.contains(&format!(">{word}</text>")), "{word}");
    }
    assert!(!idle.contains("timeline-now"));
    let playing = timeline::svg(&scenario, Some(90_000));
    assert!(
        playing.contains("data-testid=\"timeline-now\" x1=\"300\" x2=\"300\" data-ms=\"90000\""),
        "{playing}"
    );
}
