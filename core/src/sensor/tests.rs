use super::air::{self, OVERSAMPLING};
use super::*;

const EPOCH: i64 = 1_795_737_600_000; // 2026-11-27T00:00:00Z

fn seed_generator(seed: u64, every: u32) -> Generator {
    Generator::new(SensorConfig::seed_program(seed, every))
}

fn realistic(seed: u64, air: AirParams, mode: AnomalyMode, kinds: Vec<AnomalyKind>) -> Generator {
    Generator::new(SensorConfig {
        profile: Profile::Realistic,
        seed,
        air,
        anomaly_mode: mode,
        anomaly_kinds: kinds,
        difficulty: Difficulty::default(),
        replay: None,
    })
}

/// Air with only the parts a test wants: everything that moves is off.
fn still_air() -> AirParams {
    AirParams {
        tide_hpa: 0.0,
        daily_temperature_c: 0.0,
        weather: Weather::Still,
        accuracy: 0.0,
        temperature_wander_c: 0.0,
        temperature_noise_c: 0.0,
        noise_scale: 0.0,
        mean_temperature_c: 25.0,
        ..AirParams::default()
    }
}

fn run(generator: &mut Generator, n: u64, interval_ms: i64) -> Vec<Sample> {
    (0..n)
        .map(|k| generator.next_sample(EPOCH + k as i64 * interval_ms))
        .collect()
}

fn rms(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

// --- The seed profile: the seed program's behaviour, exactly. ---

#[test]
fn sequence_counts_from_one() {
    let mut generator = seed_generator(1, 10);
    let sequences: Vec<u64> = (0..25).map(|_| generator.next_sample(0).sequence).collect();
    assert_eq!(sequences, (1..=25).collect::<Vec<_>>());
}

#[test]
fn seed_samples_stay_in_the_seed_ranges_with_two_decimals() {
    let mut generator = Generator::new(SensorConfig {
        anomaly_mode: AnomalyMode::Off,
        ..SensorConfig::seed_program(7, 10)
    });
    let samples = run(&mut generator, 100_000, 1000);
    for s in &samples {
        assert!(!s.is_anomaly());
        assert!(
            (PRESSURE_MIN..=PRESSURE_MAX).contains(&s.pressure_hpa),
            "{s:?}"
        );
        assert!((TEMP_MIN..=TEMP_MAX).contains(&s.temperature_c), "{s:?}");
        assert_eq!(round_to(s.pressure_hpa, 2), s.pressure_hpa);
    }
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
fn every_nth_seed_sample_is_the_seed_anomaly_with_its_own_id() {
    for every in [1u32, 3, 10] {
        let mut generator = seed_generator(9, every);
        for s in run(&mut generator, 100, 1000) {
            let expected = s.sequence.is_multiple_of(u64::from(every));
            assert_eq!(
                s.is_anomaly(),
                expected,
                "sequence {} every {every}",
                s.sequence
            );
            if let Some(label) = s.label {
                assert_eq!((s.pressure_hpa, s.temperature_c), (1200.0, 85.0));
                assert_eq!(label.kind, AnomalyKind::OutOfRange);
                assert_eq!(label.id, s.sequence / u64::from(every));
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_samples_and_another_does_not() {
    for profile in [Profile::Seed, Profile::Realistic] {
        let make = |seed| {
            let mut g = Generator::new(SensorConfig {
                profile,
                ..SensorConfig::seed_program(seed, 10)
            });
            run(&mut g, 500, 1000)
        };
        assert_eq!(make(42), make(42));
        assert_ne!(make(42), make(43));
    }
}

// --- Payload. ---

#[test]
fn payload_has_the_seed_schema_in_order_with_the_labels() {
    let sample = Sample {
        sequence: 42,
        timestamp_ms: 1_795_712_400_123, // 2026-11-26T17:00:00.123Z
        pressure_hpa: 1003.52,
        temperature_c: 27.31,
        label: None,
    };
    assert_eq!(
        Telemetry::new("infineon-sensor-01", Profile::Seed, &sample).to_json(),
        r#"{"timestamp":"2026-11-26T17:00:00.123Z","device_id":"infineon-sensor-01","sensor_type":"DPS368","sequence":42,"anomaly":false,"anomaly_kind":null,"anomaly_id":null,"data":{"pressure":1003.52,"temperature":27.31}}"#
    );
    let anomaly = Sample {
        label: Some(Label {
            kind: AnomalyKind::OutOfRange,
            id: 4,
        }),
        pressure_hpa: 1200.0,
        temperature_c: 85.0,
        ..sample
    };
    assert_eq!(
        Telemetry::new("d", Profile::Seed, &anomaly).to_json(),
        r#"{"timestamp":"2026-11-26T17:00:00.123Z","device_id":"d","sensor_type":"DPS368","sequence":42,"anomaly":true,"anomaly_kind":"out_of_range","anomaly_id":4,"data":{"pressure":1200.0,"temperature":85.0}}"#
    );
    assert_eq!(
        Telemetry::new("d", Profile::Seed, &anomaly).to_blind_json(),
        r#"{"timestamp":"2026-11-26T17:00:00.123Z","device_id":"d","sensor_type":"DPS368","sequence":42,"data":{"pressure":1200.0,"temperature":85.0}}"#,
        "blind: the same payload without its answer"
    );
}

#[test]
fn ground_truth_follows_each_event_from_first_to_last_sample() {
    let mut config = SensorConfig::seed_program(7, 5);
    config.anomaly_kinds = vec![AnomalyKind::Step];
    config.difficulty = Difficulty {
        benchmark: false,
        scale: 0.3,
        duration: 1.5,
    };
    let mut generator = Generator::new(config);
    let mut ended = vec![];
    for k in 0..40 {
        generator.next_sample(1_795_712_400_000 + k * 1000);
        ended.extend(generator.take_ended());
    }
    // Every 5th sample after the last event's end starts a step of 6 x 1.5 = 9 samples.
    let spans: Vec<(u64, u64)> = ended
        .iter()
        .map(|t| (t.first_sequence, t.last_sequence))
        .collect();
    assert_eq!(spans, [(5, 13), (18, 26), (31, 39)]);
    assert_eq!(
        ended[0].to_json("lab \"1\"", generator.config().difficulty),
        r#"{"device_id":"lab \"1\"","anomaly_id":1,"kind":"step","first_sequence":5,"last_sequence":13,"start":"2026-11-26T17:00:04.000Z","end":"2026-11-26T17:00:12.000Z","anomaly_scale":0.3,"anomaly_duration":1.5,"snr":0.02}"#
    );
    // Stopped mid-event, the running one ends at the last sample made; then nothing is left.
    for k in 40..45 {
        generator.next_sample(1_795_712_400_000 + k * 1000);
    }
    let cut = generator.cut_event().unwrap();
    assert_eq!((cut.first_sequence, cut.last_sequence), (44, 45));
    assert_eq!(generator.cut_event(), None);
}

#[test]
fn realistic_payloads_show_the_parts_resolution() {
    let sample = Sample {
        sequence: 1,
        timestamp_ms: 0,
        pressure_hpa: 1013.25,
        temperature_c: 24.5,
        label: None,
    };
    let json = Telemetry::new("d", Profile::Realistic, &sample).to_json();
    assert!(
        json.ends_with(r#""data":{"pressure":1013.2500,"temperature":24.500}}"#),
        "{json}"
    );
}

#[test]
fn device_ids_are_escaped_as_json_strings() {
    let sample = seed_generator(1, 10).next_sample(0);
    for id in [
        "quote\"d",
        "back\\slash",
        "tab\tnew\nline\u{1}",
        "ünïcødé ✓",
    ] {
        let json: serde_json::Value =
            serde_json::from_str(&Telemetry::new(id, Profile::Seed, &sample).to_json()).unwrap();
        assert_eq!(json["device_id"], id);
    }
}

#[test]
fn numbers_read_back_exactly() {
    for profile in [Profile::Seed, Profile::Realistic] {
        let mut generator = Generator::new(SensorConfig {
            profile,
            ..SensorConfig::seed_program(5, 7)
        });
        for sample in run(&mut generator, 1000, 1000) {
            let json: serde_json::Value =
                serde_json::from_str(&Telemetry::new("d", profile, &sample).to_json()).unwrap();
            assert_eq!(json["data"]["pressure"].as_f64(), Some(sample.pressure_hpa));
            assert_eq!(
                json["data"]["temperature"].as_f64(),
                Some(sample.temperature_c)
            );
        }
    }
}

#[test]
fn readings_are_written_as_python_writes_the_seeds() {
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
        assert_eq!(payload::Decimal(value, 2, true).to_string(), text);
    }
    assert_eq!(payload::Decimal(f64::NAN, 2, true).to_string(), "null");
    assert_eq!(payload::Decimal(1013.25, 4, false).to_string(), "1013.2500");
}

#[test]
fn timestamps_are_rfc3339_utc_with_millis_both_ways() {
    let cases = [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_999, "2000-02-29T00:00:00.999Z"),
        (1_795_712_400_123, "2026-11-26T17:00:00.123Z"),
        (4_102_444_799_000, "2099-12-31T23:59:59.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ];
    for (ms, text) in cases {
        assert_eq!(format_rfc3339_millis(ms), text);
        assert_eq!(parse_rfc3339_millis(text), Some(ms), "{text}");
    }
    assert_eq!(
        parse_rfc3339_millis("2026-11-26T18:00:00+01:00"),
        Some(1_795_712_400_000)
    );
    assert_eq!(
        parse_rfc3339_millis("2026-11-26 17:00:00.5Z"),
        Some(1_795_712_400_500)
    );
    for bad in [
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-26",
        "yesterday",
        "2026-11-26T17:00:00",
    ] {
        assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
    }
}

// --- The realistic profile: statistics on long seeded runs. ---

#[test]
fn pressure_noise_per_precision_is_within_ten_percent_of_the_model() {
    for (rate, _) in OVERSAMPLING {
        let air = AirParams {
            oversampling: rate,
            noise_scale: 1.0,
            ..still_air()
        };
        let mut generator = realistic(11, air, AnomalyMode::Off, vec![]);
        let pressures: Vec<f64> = run(&mut generator, 20_000, 1000)
            .iter()
            .map(|s| s.pressure_hpa * 100.0) // Pa
            .collect();
        let measured = rms(&pressures);
        let model = air::pressure_noise_pa(rate);
        assert!(
            (measured - model).abs() <= 0.1 * model,
            "{rate}x: {measured:.4} Pa RMS against {model:.4}"
        );
    }
    assert!((air::pressure_noise_pa(64) - 0.2).abs() < 1e-12);
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the test's own fit, not the stream"
)]
fn the_tide_has_a_twelve_hour_period_and_its_amplitude_peaking_near_ten() {
    let air = AirParams {
        tide_hpa: 0.5,
        noise_scale: 1.0,
        ..still_air()
    };
    let mut generator = realistic(3, air, AnomalyMode::Off, vec![]);
    // Ten days, a sample every five minutes.
    let samples = run(&mut generator, 2880, 300_000);
    let hours: Vec<f64> = samples
        .iter()
        .map(|s| (s.timestamp_ms - EPOCH) as f64 / 3_600_000.0)
        .collect();
    let base = air::pressure_at_altitude(air::SEA_LEVEL_HPA, 0.0);
    let values: Vec<f64> = samples.iter().map(|s| s.pressure_hpa - base).collect();
    // Least-squares fit of a cos + b sin at a trial period; the best period is the tide's.
    let fit = |period: f64| {
        let (mut cc, mut ss, mut cs, mut yc, mut ys) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (t, y) in hours.iter().zip(&values) {
            let (c, s) = (
                (std::f64::consts::TAU * t / period).cos(),
                (std::f64::consts::TAU * t / period).sin(),
            );
            cc += c * c;
            ss += s * s;
            cs += c * s;
            yc += y * c;
            ys += y * s;
        }
        let det = cc * ss - cs * cs;
        let a = (yc * ss - ys * cs) / det;
        let b = (ys * cc - yc * cs) / det;
        (a.hypot(b), b.atan2(a))
    };
    let best = (80..=160)
        .map(|tenths| f64::from(tenths) / 10.0)
        .max_by(|x, y| fit(*x).0.total_cmp(&fit(*y).0))
        .unwrap();
    assert!((best - 12.0).abs() < 0.15, "period {best} h");
    let (amplitude, phase) = fit(12.0);
    assert!((amplitude - 0.5).abs() < 0.05, "amplitude {amplitude} hPa");
    let peak_hour = (phase / std::f64::consts::TAU * 12.0).rem_euclid(12.0);
    assert!((peak_hour - 10.0).abs() < 0.25, "peaks at {peak_hour} h");
}

#[test]
fn altitude_gives_the_standard_atmosphere_pressure() {
    // The international standard atmosphere's table values, hPa.
    for (altitude, expected) in [
        (0.0, 1013.25),
        (500.0, 954.61),
        (1000.0, 898.76),
        (3000.0, 701.21),
    ] {
        let air = AirParams {
            altitude_m: altitude,
            ..still_air()
        };
        let mut generator = realistic(1, air, AnomalyMode::Off, vec![]);
        let s = generator.next_sample(EPOCH);
        assert!(
            (s.pressure_hpa - expected).abs() < 0.5,
            "{altitude} m: {}",
            s.pressure_hpa
        );
    }
}

#[test]
fn temperature_leaks_into_pressure_by_half_a_pascal_per_kelvin() {
    let at = |mean| {
        let air = AirParams {
            mean_temperature_c: mean,
            ..still_air()
        };
        realistic(1, air, AnomalyMode::Off, vec![])
            .next_sample(EPOCH)
            .pressure_hpa
    };
    assert!(((at(35.0) - at(25.0)) * 100.0 - 5.0).abs() < 0.02);
}

/// Hourly sea-level departures of `weather` over `years`, read through a generator at sea
/// level with still temperature and no noise.
fn hourly_weather(weather: Weather, seed: u64, years: u64) -> Vec<f64> {
    let air = AirParams {
        weather,
        sky_seed: seed,
        tide_hpa: 0.0,
        ..still_air()
    };
    let mut generator = realistic(seed, air, AnomalyMode::Off, vec![]);
    run(&mut generator, 24 * 365 * years, 3_600_000)
        .iter()
        .map(|s| s.pressure_hpa)
        .collect()
}

fn changes(values: &[f64], hours: usize) -> Vec<f64> {
    values.windows(hours + 1).map(|w| w[hours] - w[0]).collect()
}

fn percentile_of_size(values: &[f64], percent: f64) -> f64 {
    let mut sizes: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    sizes.sort_by(f64::total_cmp);
    sizes[((sizes.len() - 1) as f64 * percent / 100.0).round() as usize]
}

#[test]
fn typical_weather_has_a_mid_latitude_stations_statistics() {
    // Three seeds, four years of hourly values each: the issue's figures are a station's
    // (24-hour changes about 5 hPa standard deviation, 1-hour changes about 2 hPa at the 99th
    // percentile); one realisation of a few years varies by about 10 %.
    for seed in [1, 2, 3] {
        let values = hourly_weather(Weather::Typical, seed, 4);
        let day = rms(&changes(&values, 24));
        let hour_99 = percentile_of_size(&changes(&values, 1), 99.0);
        assert!(
            (4.0..6.0).contains(&day),
            "seed {seed}: 24 h changes {day:.2} hPa SD"
        );
        assert!(
            (1.6..2.6).contains(&hour_99),
            "seed {seed}: 1 h changes {hour_99:.2} hPa p99"
        );
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 1013.25).abs() < 3.0, "seed {seed}: mean {mean:.2}");
        // Fronts: several hPa within three hours, some times a year.
        let fronts = changes(&values, 3).iter().filter(|c| c.abs() > 4.0).count();
        assert!(fronts > 10, "seed {seed}: {fronts} hours in fronts");
    }
}

#[test]
fn calm_still_and_stormy_weather_order_as_named() {
    let day_sd = |weather| rms(&changes(&hourly_weather(weather, 5, 2), 24));
    let (still, calm, typical, stormy) = (
        day_sd(Weather::Still),
        day_sd(Weather::Calm),
        day_sd(Weather::Typical),
        day_sd(Weather::Stormy),
    );
    assert!(still < 1e-9, "still air moved {still}");
    assert!(
        calm < 0.7 * typical && typical < 0.7 * stormy,
        "{calm} {typical} {stormy}"
    );
}

#[test]
fn fronts_are_weather_and_never_labelled() {
    // Two stormy months, hourly, anomalies on: the steep hours (4 hPa in 3 hours, fronts) are
    // there, in samples that carry no label, reading as the same run without anomalies reads.
    let air = AirParams {
        weather: Weather::Stormy,
        ..AirParams::default()
    };
    let mut with = realistic(4, air, AnomalyMode::Random(0.01), AnomalyKind::ALL.to_vec());
    let mut without = realistic(4, air, AnomalyMode::Off, vec![]);
    let (with, without) = (
        run(&mut with, 24 * 60, 3_600_000),
        run(&mut without, 24 * 60, 3_600_000),
    );
    let steep_unlabelled = (3..with.len())
        .filter(|&k| {
            (with[k - 3..=k].iter().all(|s| s.label.is_none()))
                && (with[k].pressure_hpa - with[k - 3].pressure_hpa).abs() > 4.0
        })
        .inspect(|&k| assert_eq!(with[k].pressure_hpa, without[k].pressure_hpa))
        .count();
    assert!(
        steep_unlabelled > 5,
        "only {steep_unlabelled} steep unlabelled hours in two stormy months"
    );
}

#[test]
fn sensors_that_share_a_sky_read_the_same_weather_whenever_they_sample() {
    // Two parts, their own seeds, one sky seed, sampling at different times: the sky under
    // both is the same function of time (their offsets differ, by at most the accuracy).
    let part = |seed, offset_ms: i64| {
        let air = AirParams {
            sky_seed: 99,
            tide_hpa: 0.0,
            mean_temperature_c: 25.0,
            daily_temperature_c: 0.0,
            temperature_wander_c: 0.0,
            temperature_noise_c: 0.0,
            noise_scale: 0.0,
            ..AirParams::default()
        };
        let mut generator = realistic(seed, air, AnomalyMode::Off, vec![]);
        (0..500)
            .map(|k| {
                generator
                    .next_sample(EPOCH + offset_ms + k * 600_000)
                    .pressure_hpa
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (part(1, 0), part(2, 0));
    let difference = a[0] - b[0];
    assert!(difference.abs() <= 2.0, "offsets {difference}");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y - difference).abs() < 2e-4, "{x} {y}");
    }
    // A part sampling at other times reads the same sky at those times.
    let late = part(1, 300_000);
    assert_ne!(late[0], a[0]);
    assert!((late[0] - a[0]).abs() < 0.2);
}

#[test]
fn values_never_leave_the_parts_limits_and_resolution() {
    let extremes = [
        AirParams {
            altitude_m: 12_000.0,
            ..AirParams::default()
        },
        AirParams {
            mean_temperature_c: 120.0,
            ..AirParams::default()
        },
        AirParams {
            mean_temperature_c: -80.0,
            weather: Weather::Stormy,
            ..AirParams::default()
        },
    ];
    for air in extremes {
        let mut generator = realistic(2, air, AnomalyMode::Random(0.05), AnomalyKind::ALL.to_vec());
        for s in run(&mut generator, 20_000, 1000) {
            assert!((300.0..=1200.0).contains(&s.pressure_hpa), "{s:?}");
            assert!((-40.0..=85.0).contains(&s.temperature_c), "{s:?}");
            assert_eq!(round_to(s.pressure_hpa, 4), s.pressure_hpa);
            assert_eq!(round_to(s.temperature_c, 3), s.temperature_c);
        }
    }
}

// --- Anomalies: exactly the labelled samples deviate, as defined. ---

/// The same run with and without one injected anomaly of `kind` at sample 51.
fn with_and_without(kind: AnomalyKind) -> (Vec<Sample>, Vec<Sample>) {
    dialled(kind, Difficulty::default())
}

#[test]
fn each_kind_changes_exactly_its_labelled_samples_as_defined() {
    for kind in AnomalyKind::ALL {
        let (with, without) = with_and_without(kind);
        let labelled: Vec<usize> = (0..with.len()).filter(|&i| with[i].is_anomaly()).collect();
        let expected: Vec<usize> = (50..50 + kind.duration() as usize).collect();
        assert_eq!(labelled, expected, "{kind}: labelled samples");
        for i in &labelled {
            assert_eq!(with[*i].label, Some(Label { kind, id: 1 }), "{kind}");
        }
        for i in (0..with.len()).filter(|i| !labelled.contains(i)) {
            assert_eq!(
                with[i], without[i],
                "{kind}: unlabelled sample {i} untouched"
            );
        }
        let dp: Vec<f64> = labelled
            .iter()
            .map(|&i| with[i].pressure_hpa - without[i].pressure_hpa)
            .collect();
        match kind {
            AnomalyKind::Spike => assert!((dp[0].abs() - 5.0).abs() < 1e-6, "{dp:?}"),
            AnomalyKind::Step => assert!(dp.iter().all(|d| (d - 2.0).abs() < 1e-6), "{dp:?}"),
            AnomalyKind::Drift => {
                assert!(dp.windows(2).all(|w| w[1] > w[0]), "a ramp: {dp:?}");
                assert!((dp.last().unwrap() - 3.0).abs() < 1e-6);
            }
            AnomalyKind::Stuck => {
                for &i in &labelled {
                    assert_eq!(
                        (with[i].pressure_hpa, with[i].temperature_c),
                        (with[49].pressure_hpa, with[49].temperature_c),
                        "repeats the last value"
                    );
                }
            }
            AnomalyKind::Noise => {
                let noise_hpa = air::pressure_noise_pa(16) / 100.0;
                let spread = rms(&dp);
                assert!(spread > 10.0 * noise_hpa, "{spread} against {noise_hpa}");
            }
            AnomalyKind::Dropout => {
                assert!(dp.iter().all(|d| *d == 0.0));
                assert!(labelled.iter().all(|&i| !with[i].is_reported()));
            }
            AnomalyKind::OutOfRange => {
                assert_eq!(
                    (with[50].pressure_hpa, with[50].temperature_c),
                    (1200.0, 85.0)
                );
            }
            AnomalyKind::Compensation => {
                // Pressure follows the temperature's change since the event began, at
                // 40 Pa/K; the temperature itself reads as it would have.
                for (k, &i) in labelled.iter().enumerate() {
                    assert_eq!(with[i].temperature_c, without[i].temperature_c);
                    let follows = 0.4 * (with[i].temperature_c - with[50].temperature_c);
                    assert!((dp[k] - follows).abs() < 5e-4, "{k}: {} {follows}", dp[k]);
                }
            }
        }
        assert!(
            with.iter()
                .filter(|s| !s.is_anomaly())
                .all(Sample::is_reported)
        );
    }
}

#[test]
fn random_mode_starts_events_at_about_the_given_rate_from_the_enabled_kinds() {
    let kinds = vec![AnomalyKind::Spike, AnomalyKind::Step];
    let mut generator = realistic(4, AirParams::default(), AnomalyMode::Random(0.01), kinds);
    let samples = run(&mut generator, 50_000, 1000);
    let mut ids: Vec<u64> = samples
        .iter()
        .filter_map(|s| s.label.map(|l| l.id))
        .collect();
    ids.dedup();
    // Events start only outside events: expect about 0.01 x (samples not in an event).
    assert!((200..600).contains(&ids.len()), "{} events", ids.len());
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "ids count up by one"
    );
    let kinds: std::collections::BTreeSet<AnomalyKind> = samples
        .iter()
        .filter_map(|s| s.label.map(|l| l.kind))
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [AnomalyKind::Spike, AnomalyKind::Step]
    );
}

#[test]
fn every_mode_with_multi_sample_kinds_labels_whole_events() {
    let mut generator = realistic(
        6,
        AirParams::default(),
        AnomalyMode::Every(100),
        vec![AnomalyKind::Drift],
    );
    let samples = run(&mut generator, 1000, 1000);
    for event in 1..=10u64 {
        let members: Vec<u64> = samples
            .iter()
            .filter(|s| s.label.map(|l| l.id) == Some(event))
            .map(|s| s.sequence)
            .collect();
        // The first at sample 100, each next one 100 samples after the last one's last sample.
        let start = 100 + (event - 1) * 109;
        assert_eq!(
            members,
            (start..start + 10)
                .filter(|s| *s <= 1000)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
#[allow(clippy::disallowed_methods, reason = "std's cosine as the reference")]
fn the_models_cosine_matches_libm() {
    let mut x = -20.0;
    while x < 20.0 {
        assert!((air::cos(x) - x.cos()).abs() < 1e-14, "{x}");
        x += 0.001;
    }
}

// --- Defaults that give a detector mostly normal data. ---

#[test]
fn the_default_realistic_run_is_mostly_normal_with_an_event_every_minute_or_so() {
    let settings = crate::settings::SettingsForm::defaults("t3st")
        .validate()
        .unwrap();
    let mut generator = Generator::new(settings.sensor.clone());
    let samples = run(&mut generator, 100_000, 1000);
    let anomalous = samples.iter().filter(|s| s.is_anomaly()).count();
    let fraction = anomalous as f64 / samples.len() as f64;
    // Mean event 40 / 8 samples, 59 normal samples between: 7.8 % expected.
    assert!(
        (0.070..0.086).contains(&fraction),
        "{:.2} % anomalous",
        fraction * 100.0
    );
    // Every event starts 60 samples after the last one ended (59 normal samples between).
    let mut last_end = 0;
    let mut events = 0;
    for pair in samples.windows(2) {
        let (before, this) = (pair[0], pair[1]);
        if this.label.is_some() && this.label.map(|l| l.id) != before.label.map(|l| l.id) {
            assert_eq!(this.sequence - last_end, 60, "{this:?}");
            events += 1;
        }
        if before.label.is_some() && this.label.map(|l| l.id) != before.label.map(|l| l.id) {
            last_end = before.sequence;
        }
    }
    // At 1 Hz: the first after a minute, then one about every 64 s.
    assert!(samples[59].is_anomaly() && !samples[58].is_anomaly());
    assert!(
        (1400..1700).contains(&events),
        "{events} events in 100,000 s"
    );
}

#[test]
fn a_seed_run_with_anomalies_differs_from_one_without_in_exactly_the_labelled_samples() {
    let with = run(&mut seed_generator(9, 10), 1000, 1000);
    let mut without = Generator::new(SensorConfig {
        anomaly_mode: AnomalyMode::Off,
        ..SensorConfig::seed_program(9, 10)
    });
    let without = run(&mut without, 1000, 1000);
    let mut labelled = 0;
    for (a, b) in with.iter().zip(&without) {
        if a.is_anomaly() {
            labelled += 1;
            assert_eq!((a.pressure_hpa, a.temperature_c), (1200.0, 85.0));
        } else {
            assert_eq!(a, b, "an unlabelled sample changed");
        }
    }
    assert_eq!(labelled, 100);
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let sample = seed_generator(1, 10).next_sample(0);
    let cell = |id: &str| {
        let row = csv_row(id, Profile::Seed, &sample, "acknowledged");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes());
        reader.records().next().unwrap().unwrap()[2].to_owned()
    };
    for id in [
        "=1+2",
        "+1",
        "-2",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "=HYPERLINK(\"x\")",
    ] {
        assert_eq!(cell(id), format!("'{id}"), "{id:?}");
    }
    for id in ["lab-7", "a=b", "1-2", "plain, with comma"] {
        assert_eq!(cell(id), id, "{id:?}");
    }
}

/// The same run, at `difficulty`, with and without one injected anomaly of `kind` at
/// sample 51.
fn dialled(kind: AnomalyKind, difficulty: Difficulty) -> (Vec<Sample>, Vec<Sample>) {
    let make = |inject: bool| {
        let mut generator = Generator::new(SensorConfig {
            profile: Profile::Realistic,
            seed: 21,
            air: AirParams::default(),
            anomaly_mode: AnomalyMode::Off,
            anomaly_kinds: vec![],
            difficulty,
            replay: None,
        });
        let mut samples = run(&mut generator, 50, 1000);
        if inject {
            generator.inject(kind);
        }
        samples.extend((50..200).map(|k| generator.next_sample(EPOCH + k * 1000)));
        samples
    };
    (make(true), make(false))
}

#[test]
fn the_magnitude_scales_every_deviation_and_the_duration_the_multi_sample_events() {
    let subtle = Difficulty {
        benchmark: false,
        scale: 0.3,
        duration: 2.0,
    };
    for kind in AnomalyKind::ALL {
        let (with, without) = dialled(kind, subtle);
        let labelled: Vec<usize> = (0..with.len()).filter(|&i| with[i].is_anomaly()).collect();
        let length = match kind.duration() {
            1 => 1,
            samples => 2 * samples as usize,
        };
        assert_eq!(labelled, (50..50 + length).collect::<Vec<_>>(), "{kind}");
        let dp: Vec<f64> = labelled
            .iter()
            .map(|&i| with[i].pressure_hpa - without[i].pressure_hpa)
            .collect();
        // Within the part's 0.0001 hPa resolution of the catalogue's figure times 0.3.
        let near = |d: f64, expected: f64| (d - expected).abs() < 2e-4;
        match kind {
            AnomalyKind::Spike => assert!(near(dp[0].abs(), 1.5), "{dp:?}"),
            AnomalyKind::Step => assert!(dp.iter().all(|&d| near(d, 0.6)), "{dp:?}"),
            AnomalyKind::Drift => {
                assert!(dp.windows(2).all(|w| w[1] > w[0]), "a ramp: {dp:?}");
                assert!(near(*dp.last().unwrap(), 0.9), "{dp:?}");
            }
            AnomalyKind::Noise => {
                // The burst's spread, against the same burst at magnitude 1.
                let (full, plain) = dialled(
                    kind,
                    Difficulty {
                        benchmark: false,
                        scale: 1.0,
                        duration: 2.0,
                    },
                );
                let full: Vec<f64> = labelled
                    .iter()
                    .map(|&i| full[i].pressure_hpa - plain[i].pressure_hpa)
                    .collect();
                let ratio = rms(&dp) / rms(&full);
                assert!((ratio - 0.3).abs() < 0.01, "{ratio}");
            }
            // Nothing to scale: a held value, a gap, the part's limits; only the length changes.
            AnomalyKind::Stuck => {
                let held = (with[49].pressure_hpa, with[49].temperature_c);
                assert!(
                    labelled
                        .iter()
                        .all(|&i| (with[i].pressure_hpa, with[i].temperature_c) == held)
                );
            }
            AnomalyKind::Dropout => {
                assert!(
                    labelled
                        .iter()
                        .all(|&i| !with[i].is_reported() && dp[i - 50] == 0.0)
                );
            }
            AnomalyKind::OutOfRange => {
                assert_eq!(
                    (with[50].pressure_hpa, with[50].temperature_c),
                    (1200.0, 85.0)
                );
            }
            AnomalyKind::Compensation => {
                for (k, &i) in labelled.iter().enumerate() {
                    let follows = 0.3 * 0.4 * (with[i].temperature_c - with[50].temperature_c);
                    assert!((dp[k] - follows).abs() < 3e-4, "{k}: {} {follows}", dp[k]);
                }
            }
        }
    }
}

/// Every event of `kind` in a run of `samples`, at `difficulty`, with its ground truth.
fn events_of(kind: AnomalyKind, difficulty: Difficulty, samples: u64) -> Vec<GroundTruth> {
    let mut generator = Generator::new(SensorConfig {
        profile: Profile::Realistic,
        seed: 12,
        air: AirParams::default(),
        anomaly_mode: AnomalyMode::Every(20),
        anomaly_kinds: vec![kind],
        difficulty,
        replay: None,
    });
    let mut truths = vec![];
    for k in 0..samples {
        generator.next_sample(EPOCH + k as i64 * 60_000);
        truths.extend(generator.take_ended());
    }
    truths
}

#[test]
fn each_label_carries_its_events_signal_to_noise_as_defined_per_kind() {
    // The part's noise at 16x: 0.4 Pa = 0.004 hPa; an event's SNR is its largest deviation
    // from what the part would have read, over that.
    let noise = air::pressure_noise_pa(16) / 100.0;
    let snr = |kind| events_of(kind, Difficulty::default(), 400)[0].snr;
    let near = |got: Option<f64>, expected: f64| {
        got.is_some_and(|g| (g - expected).abs() <= 0.0002 / noise + 1e-9)
    };
    assert!(
        near(snr(AnomalyKind::Spike), 5.0 / noise),
        "{:?}",
        snr(AnomalyKind::Spike)
    );
    assert!(near(snr(AnomalyKind::Step), 2.0 / noise));
    assert!(near(snr(AnomalyKind::Drift), 3.0 / noise));
    assert_eq!(snr(AnomalyKind::Dropout), None, "a gap has no reading");
    // Noise and stuck depend on the draws and the air: a burst of 50 x the noise stands out; a
    // held value departs from the truth by the noise and the weather's few minutes.
    let burst = snr(AnomalyKind::Noise).unwrap();
    assert!((10.0..200.0).contains(&burst), "{burst}");
    let held = snr(AnomalyKind::Stuck).unwrap();
    assert!((0.0..50.0).contains(&held) && held < burst, "{held}");
    // The JSON label carries it, two decimals; a dropout's is null.
    let truth = events_of(AnomalyKind::Spike, Difficulty::default(), 100)[0];
    let json = truth.to_json("d", Difficulty::default());
    let (head, snr) = json.split_once(",\"snr\":").unwrap();
    assert!(
        head.ends_with(",\"anomaly_scale\":1.0,\"anomaly_duration\":1.0"),
        "{json}"
    );
    let snr: f64 = snr.trim_end_matches('}').parse().unwrap();
    assert!((snr - 1250.0).abs() < 0.05, "{json}");
    let gap = events_of(AnomalyKind::Dropout, Difficulty::default(), 100)[0];
    assert!(
        gap.to_json("d", Difficulty::default())
            .ends_with(",\"snr\":null}")
    );
}

#[test]
#[allow(clippy::disallowed_methods, reason = "the test's own statistics")]
fn the_benchmark_draws_each_events_magnitude_log_uniformly_and_labels_it() {
    let benchmark = Difficulty {
        benchmark: true,
        ..Difficulty::default()
    };
    let truths = events_of(AnomalyKind::Step, benchmark, 20 * 2000);
    assert!(truths.len() > 1500);
    let logs: Vec<f64> = truths.iter().map(|t| t.scale.ln()).collect();
    let (low, high) = (0.05f64.ln(), 0.0);
    assert!(logs.iter().all(|l| (low..high).contains(l)));
    // Uniform in the logarithm: each fifth of the range holds about a fifth of the events.
    for fifth in 0..5 {
        let from = low + (high - low) * f64::from(fifth) / 5.0;
        let to = from + (high - low) / 5.0;
        let share =
            logs.iter().filter(|l| (from..to).contains(*l)).count() as f64 / logs.len() as f64;
        assert!((share - 0.2).abs() < 0.04, "fifth {fifth}: {share}");
    }
    // A step's SNR is its height over the noise: 2 hPa x its own scale / 0.004 hPa.
    for truth in &truths {
        let expected = 2.0 * truth.scale / 0.004;
        assert!((truth.snr.unwrap() - expected).abs() < 0.05, "{truth:?}");
    }
    // The label names its own magnitude.
    let json = truths[0].to_json("d", benchmark);
    assert!(json.contains(&format!(
        "\"anomaly_scale\":{}",
        Decimal(truths[0].scale, 6, true)
    )));
}

#[test]
#[allow(clippy::disallowed_methods, reason = "the test's own fit")]
fn a_failed_compensation_shows_only_in_the_pressure_temperature_relation() {
    // Typical weather, a strong daily temperature cycle, a sample every 10 minutes: a working
    // part's pressure barely follows temperature (0.5 Pa/K); a failed one follows it at 40.
    let air = AirParams {
        daily_temperature_c: 5.0,
        ..AirParams::default()
    };
    let mut generator = realistic(
        5,
        air,
        AnomalyMode::Every(40),
        vec![AnomalyKind::Compensation],
    );
    let samples = run(&mut generator, 20_000, 600_000);
    let mut without = realistic(5, air, AnomalyMode::Off, vec![]);
    let plain = run(&mut without, 20_000, 600_000);
    // Consecutive pairs inside one event, and pairs with neither sample in an event.
    let samples = &samples;
    let pairs = |inside: bool| {
        (1..samples.len()).filter(move |&k| {
            let (a, b) = (&samples[k - 1], &samples[k]);
            match inside {
                true => a.is_anomaly() && a.label == b.label,
                false => !a.is_anomaly() && !b.is_anomaly(),
            }
        })
    };
    // Pa per kelvin of the part's error (what it reads minus the air), fitted on the pairs.
    let slope = |inside: bool| {
        let (mut tt, mut tp) = (0.0, 0.0);
        for k in pairs(inside) {
            let dt = samples[k].temperature_c - samples[k - 1].temperature_c;
            let error = |j: usize| samples[j].pressure_hpa - plain[j].pressure_hpa;
            let dp = (error(k) - error(k - 1)) * 100.0;
            tt += dt * dt;
            tp += dt * dp;
        }
        tp / tt
    };
    let (inside, outside) = (slope(true), slope(false));
    assert!(
        (inside - 40.0).abs() < 2.0,
        "inside events {inside:.1} Pa/K"
    );
    assert!(outside.abs() < 0.5, "outside {outside:.1} Pa/K");
    // Pressure alone: the steps inside events are of the air's own sizes (the largest within
    // a quarter of the largest outside, the typical one within a fifth).
    let steps = |inside: bool| {
        let mut steps: Vec<f64> = pairs(inside)
            .map(|k| (samples[k].pressure_hpa - samples[k - 1].pressure_hpa).abs())
            .collect();
        steps.sort_by(f64::total_cmp);
        (steps[steps.len() / 2], steps[steps.len() - 1])
    };
    let ((median_in, largest_in), (median_out, largest_out)) = (steps(true), steps(false));
    assert!(
        largest_in < 1.25 * largest_out,
        "{largest_in} against {largest_out}"
    );
    assert!(
        (median_in / median_out - 1.0).abs() < 0.2,
        "{median_in} against {median_out}"
    );
}

/// The stream the native runner computes, bit for bit: the browser tests (tests/browser.rs)
/// assert the same fingerprint, so the page computes it too.
#[test]
fn the_stream_has_the_same_bits_on_every_target() {
    use super::fingerprint_check::{EXPECTED, QUERY, SAMPLES, START_MS};
    let mut form = crate::settings::SettingsForm::defaults("x");
    form.apply_query(QUERY);
    let settings = form.validate().expect("valid");
    let fingerprint = Generator::fingerprint(settings.sensor, START_MS, SAMPLES);
    assert_eq!(fingerprint, EXPECTED, "{fingerprint:#x}");
}

#[test]
fn a_compensation_right_after_another_starts_from_its_own_first_temperature() {
    // Two failed compensations back to back (injected while the first runs): at each event's
    // first sample the part still reads the air, whatever the first event left behind.
    let air = AirParams {
        daily_temperature_c: 5.0,
        ..AirParams::default()
    };
    let mut with = realistic(6, air, AnomalyMode::Off, vec![]);
    let mut without = realistic(6, air, AnomalyMode::Off, vec![]);
    with.inject(AnomalyKind::Compensation);
    with.inject(AnomalyKind::Compensation);
    let (with, without) = (run(&mut with, 30, 600_000), run(&mut without, 30, 600_000));
    let firsts: Vec<usize> = (0..with.len())
        .filter(|&k| with[k].is_anomaly() && (k == 0 || with[k - 1].label != with[k].label))
        .collect();
    assert_eq!(firsts, [0, 10], "two events, back to back");
    for k in firsts {
        assert_eq!(with[k].pressure_hpa, without[k].pressure_hpa, "sample {k}");
    }
    // And the first event did move the pressure by its end (the daily cycle warms 10 x 10 min).
    assert_ne!(with[9].pressure_hpa, without[9].pressure_hpa);
}
