use super::*;

#[test]
fn sequence_counts_from_one() {
    let mut generator = Generator::new(1, 10);
    let sequences: Vec<u64> = (0..25).map(|_| generator.next_sample(0).sequence).collect();
    assert_eq!(sequences, (1..=25).collect::<Vec<_>>());
}

#[test]
fn normal_samples_stay_in_the_seed_ranges_with_two_decimals() {
    let mut generator = Generator::new(7, u32::MAX);
    for _ in 0..100_000 {
        let s = generator.next_sample(0);
        assert!(!s.anomaly);
        assert!(
            (PRESSURE_MIN..=PRESSURE_MAX).contains(&s.pressure_hpa),
            "{s:?}"
        );
        assert!((TEMP_MIN..=TEMP_MAX).contains(&s.temperature_c), "{s:?}");
        assert_eq!(round2(s.pressure_hpa), s.pressure_hpa);
    }
}

#[test]
fn samples_cover_the_whole_range() {
    let mut generator = Generator::new(3, u32::MAX);
    let samples: Vec<Sample> = (0..10_000).map(|_| generator.next_sample(0)).collect();
    let min = samples
        .iter()
        .map(|s| s.pressure_hpa)
        .fold(f64::MAX, f64::min);
    let max = samples
        .iter()
        .map(|s| s.pressure_hpa)
        .fold(f64::MIN, f64::max);
    assert!(min < 951.0 && max > 1049.0, "{min}..{max}");
}

#[test]
fn every_nth_sample_is_the_seed_anomaly() {
    for every in [1u32, 3, 10] {
        let mut generator = Generator::new(9, every);
        for _ in 0..100 {
            let s = generator.next_sample(0);
            let expected = s.sequence.is_multiple_of(u64::from(every));
            assert_eq!(s.anomaly, expected, "sequence {} every {every}", s.sequence);
            if s.anomaly {
                assert_eq!((s.pressure_hpa, s.temperature_c), (1200.0, 85.0));
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_samples() {
    let run = |seed| {
        let mut g = Generator::new(seed, 10);
        (0..50).map(|i| g.next_sample(i)).collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn payload_has_the_seed_schema_in_order() {
    let sample = Sample {
        sequence: 42,
        timestamp_ms: 1_795_712_400_123, // 2026-11-26T17:00:00.123Z
        anomaly: false,
        pressure_hpa: 1003.52,
        temperature_c: 27.31,
    };
    assert_eq!(
        Telemetry::new("infineon-sensor-01", &sample).to_json(),
        r#"{"timestamp":"2026-11-26T17:00:00.123Z","device_id":"infineon-sensor-01","sensor_type":"DPS368","sequence":42,"anomaly":false,"data":{"pressure":1003.52,"temperature":27.31}}"#
    );
    let anomaly = Sample {
        anomaly: true,
        pressure_hpa: 1200.0,
        temperature_c: 85.0,
        ..sample
    };
    let json: serde_json::Value =
        serde_json::from_str(&Telemetry::new("d", &anomaly).to_json()).unwrap();
    assert_eq!(json["anomaly"], true);
    assert_eq!(json["data"]["pressure"], 1200.0);
    assert_eq!(json["data"]["temperature"], 85.0);
}

#[test]
fn timestamps_are_rfc3339_utc_with_millis() {
    assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        format_rfc3339_millis(951_782_400_999),
        "2000-02-29T00:00:00.999Z"
    );
    assert_eq!(
        format_rfc3339_millis(1_795_712_400_123),
        "2026-11-26T17:00:00.123Z"
    );
    assert_eq!(
        format_rfc3339_millis(4_102_444_799_000),
        "2099-12-31T23:59:59.000Z"
    );
    assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
}

#[test]
fn device_ids_are_escaped_as_json_strings() {
    let sample = Generator::new(1, 10).next_sample(0);
    for id in [
        "quote\"d",
        "back\\slash",
        "tab\tnew\nline\u{1}",
        "ünïcødé ✓",
    ] {
        let json: serde_json::Value =
            serde_json::from_str(&Telemetry::new(id, &sample).to_json()).unwrap();
        assert_eq!(json["device_id"], id);
    }
}

#[test]
fn numbers_read_back_exactly() {
    let mut generator = Generator::new(5, 10);
    for _ in 0..1000 {
        let sample = generator.next_sample(1_795_712_400_000);
        let json: serde_json::Value =
            serde_json::from_str(&Telemetry::new("d", &sample).to_json()).unwrap();
        assert_eq!(json["data"]["pressure"].as_f64(), Some(sample.pressure_hpa));
        assert_eq!(
            json["data"]["temperature"].as_f64(),
            Some(sample.temperature_c)
        );
    }
}

#[test]
fn readings_are_written_as_python_writes_them() {
    let cases = [
        (85.0, "85.0"),
        (1200.0, "1200.0"),
        (1003.5, "1003.5"),
        (1003.52, "1003.52"),
        (20.05, "20.05"),
        (-3.1, "-3.1"),
        (0.0, "0.0"),
    ];
    for (value, text) in cases {
        assert_eq!(payload::JsonNumber(value).to_string(), text);
    }
    assert_eq!(payload::JsonNumber(f64::NAN).to_string(), "null");
}
