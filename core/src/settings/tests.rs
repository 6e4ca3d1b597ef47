use super::*;
use crate::sensor::{AnomalyKind, AnomalyMode};

fn form() -> SettingsForm {
    SettingsForm::defaults("a1b2")
}

/// The one error `form` has, as "Label: message".
fn only_error(form: &SettingsForm) -> String {
    let errors = form.validate().unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].to_string()
}

#[test]
fn defaults_are_the_seed_settings_on_a_local_websocket_broker() {
    let settings = form().validate().unwrap();
    assert_eq!(
        settings,
        Settings {
            broker_url: BrokerUrl::parse("ws://localhost:9001", Runner::Page).unwrap(),
            device_id: "infineon-sensor-01".into(),
            topic: "device/infineon-sensor-01/telemetry".into(),
            topic_template: "device/{device_id}/telemetry".into(),
            interval_ms: 1000,
            devices: 1,
            connection: Connection::PerDevice,
            anomaly_every: 60,
            client_id: "infineon-sens-a1b2".into(),
            keep_alive_s: 60,
            username: None,
            password: None,
            max_in_flight: 32,
            offline_queue: 1000,
            clean_session: false,
            #[cfg(feature = "latency")]
            latency: false,
            sensor: SensorConfig {
                profile: Profile::Realistic,
                seed: 0,
                air: AirParams::default(),
                anomaly_mode: AnomalyMode::Every(60),
                anomaly_kinds: AnomalyKind::ALL.to_vec(),
                difficulty: crate::sensor::Difficulty::default(),
                replay: None,
            },
            start_ms: None,
            labels: Labels::Inline,
            altitude_spread_m: 0.0,
            replay_loop: true,
            replay_in_step: false,
            #[cfg(feature = "scenario")]
            scenario: None,
        }
    );
}

#[test]
fn default_client_id_leaves_room_for_a_fleet_number_within_23_bytes() {
    assert_eq!(
        default_client_id("infineon-sensor-01", "a1b2"),
        "infineon-sens-a1b2"
    );
    let long = default_client_id("a-very-long-device-identifier", "zz99");
    assert_eq!(long, "a-very-long-d-zz99");
    assert_eq!(long.len() + "-1000".len(), 23);
    assert_eq!(
        default_client_id("ééééééééééééé", "x").len(),
        18,
        "cut on a char boundary"
    );
}

#[test]
fn topic_placeholder_takes_the_device_id() {
    let mut form = form();
    form.set(Field::DeviceId, "lab-7");
    assert_eq!(form.validate().unwrap().topic, "device/lab-7/telemetry");
}

#[test]
fn broker_url_must_be_a_websocket_url_with_a_host() {
    let cases = [
        ("", "Broker URL: is required, e.g. ws://localhost:9001"),
        (
            "http://localhost:9001",
            "Broker URL: must start with ws:// or wss:// (got \"http://localhost:9001\")",
        ),
        (
            "localhost:9001",
            "Broker URL: must start with ws:// or wss:// (got \"localhost:9001\")",
        ),
        ("ws://", "Broker URL: has no host (got \"ws://\")"),
        (
            "ws://:9001/mqtt",
            "Broker URL: has no host (got \"ws://:9001/mqtt\")",
        ),
        (
            "ws://host:99999",
            "Broker URL: port must be a number from 1 to 65535 (got \"99999\")",
        ),
        (
            "ws://host:abc",
            "Broker URL: port must be a number from 1 to 65535 (got \"abc\")",
        ),
        ("ws://ho st", "Broker URL: must not contain spaces"),
        (
            "wss://[::1]junk:9999",
            "Broker URL: an IPv6 address goes in [ ], followed by nothing or :port (got \"wss://[::1]junk:9999\")",
        ),
        (
            "ws://[::1]9001",
            "Broker URL: an IPv6 address goes in [ ], followed by nothing or :port (got \"ws://[::1]9001\")",
        ),
        (
            "ws://2001:db8::1",
            "Broker URL: an IPv6 address goes in [ ], followed by nothing or :port (got \"ws://2001:db8::1\")",
        ),
        (
            "ws://[broker.local]:9001",
            "Broker URL: an IPv6 address goes in [ ], followed by nothing or :port (got \"ws://[broker.local]:9001\")",
        ),
    ];
    for (url, message) in cases {
        let mut form = form();
        form.set(Field::BrokerUrl, url);
        assert_eq!(only_error(&form), message, "{url}");
    }
    // Parsed once into its parts: what the runner connects to is what the form accepted.
    for (url, scheme, host, port, path, address) in [
        (
            "ws://localhost:9001",
            Scheme::Ws,
            "localhost",
            9001,
            "",
            "localhost:9001",
        ),
        (
            "wss://broker.example.com/mqtt",
            Scheme::Wss,
            "broker.example.com",
            443,
            "/mqtt",
            "broker.example.com:443",
        ),
        ("ws://[::1]:9001", Scheme::Ws, "::1", 9001, "", "[::1]:9001"),
        (
            "wss://[fe80::1]/mqtt?x=1",
            Scheme::Wss,
            "fe80::1",
            443,
            "/mqtt?x=1",
            "[fe80::1]:443",
        ),
        (
            "ws://h?sig=s3cret",
            Scheme::Ws,
            "h",
            80,
            "?sig=s3cret",
            "h:80",
        ),
    ] {
        let mut form = form();
        form.set(Field::BrokerUrl, url);
        let parsed = form
            .validate()
            .unwrap_or_else(|e| panic!("{url}: {e:?}"))
            .broker_url;
        assert_eq!(
            (
                parsed.scheme,
                parsed.host.as_str(),
                parsed.port(),
                parsed.path.as_str(),
                parsed.address()
            ),
            (scheme, host, port, path, address.to_owned()),
            "{url}"
        );
        assert_eq!(parsed.as_str(), url, "a socket opens the URL as given");
        // Printed, a signed URL's query (a credential) is hidden.
        let printed = format!("{parsed} {parsed:?} {}", parsed.shown());
        assert!(
            !printed.contains("s3cret") && !printed.contains("x=1"),
            "{printed}"
        );
    }
    for (url, scheme, port) in [
        ("mqtt://h", Scheme::Mqtt, 1883),
        ("mqtts://h", Scheme::Mqtts, 8883),
        ("mqtts://h:9", Scheme::Mqtts, 9),
    ] {
        let parsed = BrokerUrl::parse(url, Runner::Native).unwrap();
        assert_eq!((parsed.scheme, parsed.port()), (scheme, port), "{url}");
        assert!(
            BrokerUrl::parse(url, Runner::Page).is_err(),
            "the page speaks WebSockets only: {url}"
        );
    }
}

#[test]
fn interval_must_be_a_positive_number_of_seconds() {
    for (text, message) in [
        ("abc", "must be a number of seconds, e.g. 1.0 (got \"abc\")"),
        ("", "must be a number of seconds, e.g. 1.0 (got \"\")"),
        ("-1", "must be a positive number of seconds (got \"-1\")"),
        ("NaN", "must be a number of seconds, e.g. 1.0 (got \"NaN\")"),
        ("inf", "must be a number of seconds, e.g. 1.0 (got \"inf\")"),
        ("1e3", "must be a number of seconds, e.g. 1.0 (got \"1e3\")"),
        (".", "must be a number of seconds, e.g. 1.0 (got \".\")"),
        (
            "1.2.3",
            "must be a number of seconds, e.g. 1.0 (got \"1.2.3\")",
        ),
        (
            "99999999999999999999999",
            "must be at most 86400 s (got \"99999999999999999999999\")",
        ),
        (
            "0.001",
            "must be 0 (as fast as possible) or at least 0.01 s (got \"0.001\")",
        ),
        ("-0", "must be a positive number of seconds (got \"-0\")"),
        ("100000", "must be at most 86400 s (got \"100000\")"),
    ] {
        let mut form = form();
        form.set(Field::Profile, "seed");
        form.set(Field::Interval, text);
        assert_eq!(
            only_error(&form),
            format!("Publish interval (s): {message}")
        );
    }
    for (text, ms) in [
        (" 0.05 ", 50),
        ("1", 1000),
        ("+2.5", 2500),
        (".5", 500),
        ("3.", 3000),
        ("0.0125", 13),
        ("0", 0),
        ("0.000", 0),
        ("86400", 86_400_000),
    ] {
        let mut form = form();
        form.set(Field::Profile, "seed");
        form.set(Field::Interval, text);
        assert_eq!(form.validate().unwrap().interval_ms, ms, "{text}");
    }
}

#[test]
fn anomaly_every_must_be_at_least_one() {
    for text in ["0", "-3", "1.5", "x"] {
        let mut form = form();
        form.set(Field::AnomalyEvery, text);
        assert_eq!(
            only_error(&form),
            format!(
                "Anomaly every N packets: must be a whole number of at least 1 (got \"{text}\")"
            )
        );
    }
}

#[test]
fn keep_alive_must_fit_sixteen_bits() {
    for text in ["-1", "65536", "ten"] {
        let mut form = form();
        form.set(Field::KeepAlive, text);
        assert!(
            only_error(&form)
                .starts_with("Keep alive (s): must be a whole number of seconds from 0 to 65535")
        );
    }
    for (text, value) in [("0", 0), ("65535", 65535)] {
        let mut form = form();
        form.set(Field::KeepAlive, text);
        assert_eq!(form.validate().unwrap().keep_alive_s, value);
    }
}

#[test]
fn topic_must_not_hold_wildcards_or_nul() {
    for (topic, message) in [
        (
            "a/+/b",
            "Topic: must not contain the wildcards + or # (got \"a/+/b\")",
        ),
        (
            "a/#",
            "Topic: must not contain the wildcards + or # (got \"a/#\")",
        ),
        ("a\0b", "Topic: must not contain the NUL character"),
        ("", "Topic: is required"),
    ] {
        let mut form = form();
        form.set(Field::Topic, topic);
        assert_eq!(only_error(&form), message);
    }
}

#[test]
fn client_id_must_be_one_to_23_bytes() {
    let mut form = form();
    form.set(Field::ClientId, String::new());
    assert_eq!(only_error(&form), "Client ID: is required");
    form.set(Field::ClientId, "x".repeat(24));
    assert_eq!(
        only_error(&form),
        "Client ID: is 24 bytes; MQTT 3.1.1 brokers need only accept 1 to 23"
    );
}

#[test]
fn password_needs_a_username() {
    let mut form = form();
    form.set(Field::Password, "secret");
    assert_eq!(only_error(&form), "Password: needs a Username as well");
    form.set(Field::Username, "alice");
    let settings = form.validate().unwrap();
    assert_eq!(settings.username.as_deref(), Some("alice"));
    assert_eq!(settings.password.as_deref(), Some("secret"));
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let mut form = form();
    form.set(Field::BrokerUrl, "http://x");
    form.set(Field::Interval, "fast");
    form.set(Field::AnomalyEvery, "0");
    let fields: Vec<Field> = form
        .validate()
        .unwrap_err()
        .iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [Field::BrokerUrl, Field::Interval, Field::AnomalyEvery]
    );
}

#[test]
fn query_parameters_set_every_field() {
    let mut form = form();
    let outcome = form.apply_query(
        "?broker=ws%3A%2F%2F127.0.0.1%3A19001&device_id=lab+7&topic=t%2F%7Bdevice_id%7D\
         &interval=0.5&anomaly_every=5&client_id=c-1&keepalive=30&username=bob&autostart=1&x=y",
    );
    assert!(outcome.autostart);
    assert!(outcome.notes.is_empty());
    assert_eq!(outcome.fields_set.len(), 8, "every field but the password");
    let settings = form.validate().unwrap();
    assert_eq!(settings.broker_url.as_str(), "ws://127.0.0.1:19001");
    assert_eq!(settings.device_id, "lab 7");
    assert_eq!(settings.topic, "t/lab 7");
    assert_eq!(settings.interval_ms, 500);
    assert_eq!(settings.anomaly_every, 5);
    assert_eq!(settings.client_id, "c-1");
    assert_eq!(settings.keep_alive_s, 30);
    assert_eq!(settings.username.as_deref(), Some("bob"));
}

#[test]
fn seed_variable_names_work_as_parameters() {
    let mut form = form();
    form.apply_query(
        "MQTT_BROKER_HOST=broker.lan&MQTT_BROKER_PORT=8083&DEVICE_ID=s2&MQTT_TOPIC=x/y\
         &PUBLISH_INTERVAL=2&ANOMALY_INTERVAL=3",
    );
    let settings = form.validate().unwrap();
    assert_eq!(settings.broker_url.as_str(), "ws://broker.lan:8083");
    assert_eq!(settings.device_id, "s2");
    assert_eq!(settings.topic, "x/y");
    assert_eq!(settings.interval_ms, 2000);
    assert_eq!(settings.anomaly_every, 3);
}

#[test]
fn a_bad_parameter_is_reported_not_replaced_by_a_default() {
    let mut form = form();
    let outcome = form.apply_query("interval=fast&autostart=1");
    assert!(outcome.autostart);
    assert_eq!(form.get(Field::Interval), "fast");
    assert_eq!(
        only_error(&form),
        "Publish interval (s): must be a number of seconds, e.g. 1.0 (got \"fast\")"
    );
}

#[test]
fn a_password_in_the_url_is_ignored_with_a_note() {
    let mut form = form();
    let outcome = form.apply_query("username=u&password=leak");
    assert_eq!(form.get(Field::Password), "");
    assert_eq!(outcome.notes.len(), 1);
}

#[test]
fn percent_decoding_keeps_stray_percents() {
    assert_eq!(percent_decode("a%20b+c"), "a b c");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
    assert_eq!(percent_decode("%C3%A9"), "é");
}

#[test]
fn a_device_id_from_the_url_names_the_client_id_too() {
    let mut form = form();
    form.apply_query("device_id=lab-7");
    assert_eq!(form.get(Field::ClientId), "lab-7-a1b2");
    let mut form = self::form();
    form.apply_query("DEVICE_ID=lab-8&client_id=mine");
    assert_eq!(form.get(Field::ClientId), "mine");
}

#[test]
fn window_queue_and_clean_session_are_checked() {
    let mut form = form();
    form.apply_query("max_inflight=0&queue=abc&clean_session=maybe");
    let messages: Vec<String> = form
        .validate()
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        messages,
        [
            "Max in flight: must be a whole number from 1 to 65535 (got \"0\")",
            "Offline queue: must be a whole number from 1 to 100000 (got \"abc\")",
            "Clean session: must be true or false (got \"maybe\")",
        ]
    );
    let mut form = self::form();
    form.apply_query("max_inflight=4&queue=50&clean_session=1");
    let settings = form.validate().unwrap();
    assert_eq!(
        (
            settings.max_in_flight,
            settings.offline_queue,
            settings.clean_session
        ),
        (4, 50, true)
    );
}

#[test]
fn sensor_model_settings_are_checked_with_reasons() {
    let cases = [
        (
            "profile=dice",
            "Profile: must be seed, realistic or replay (got \"dice\")",
        ),
        (
            "seed=-1",
            "Seed: must be a whole number from 0 to 18446744073709551615 (got \"-1\")",
        ),
        (
            "profile=replay",
            "Recording: the replay profile needs a recording: a CSV or JSON-lines file (pick or drop one, or --replay FILE) or its URL",
        ),
        (
            "profile=realistic&replay=air.csv",
            "Recording: is only read by the replay profile (the profile is realistic)",
        ),
        (
            "replay=https%3A%2F%2Fme%3As3cret%40example.org%2Fair.csv",
            "Recording: must not carry a user name or password: the share link would carry it too",
        ),
        (
            "weather=foggy",
            "Weather: must be still, calm, typical or stormy (got \"foggy\")",
        ),
        (
            "altitude_spread=-1",
            "Altitude spread (m): must be from 0 to 1000 (got \"-1\")",
        ),
        (
            "anomaly_scale=hard",
            "Anomaly magnitude: must be a number from 0.05 to 10 (1 is the catalogue as written), or benchmark (got \"hard\")",
        ),
        (
            "replay_loop=maybe",
            "Loop the recording: must be true or false (got \"maybe\")",
        ),
        (
            "precision=3",
            "Precision: must be one of 1, 2, 4, 8, 16, 32, 64, 128 (got \"3\")",
        ),
        (
            "altitude=high",
            "Altitude (m): must be a number (got \"high\")",
        ),
        (
            "altitude=10000",
            "Altitude (m): must be from -500 to 9000 (got \"10000\")",
        ),
        (
            "tide=-1",
            "Tide amplitude (hPa): must be from 0 to 10 (got \"-1\")",
        ),
        (
            "temperature=90",
            "Mean temperature (C): must be from -40 to 85 (got \"90\")",
        ),
        (
            "start=yesterday",
            "Start time: must be an RFC 3339 time such as 2026-01-01T00:00:00Z (got \"yesterday\")",
        ),
        (
            "anomaly_mode=sometimes",
            "Anomaly mode: must be every, random or off (got \"sometimes\")",
        ),
        (
            "anomaly_probability=2",
            "Anomaly probability: must be a number from 0 to 1 (got \"2\")",
        ),
        (
            "anomaly_kinds=spike,wobble",
            "Anomaly kinds: unknown kind \"wobble\"; the kinds are spike, step, drift, stuck, noise, dropout, out_of_range, compensation",
        ),
        (
            "interval=0.02&precision=16",
            "Publish interval (s): is shorter than the 27.6 ms the part needs to measure at 16x precision",
        ),
    ];
    for (query, message) in cases {
        let mut form = form();
        form.apply_query(query);
        assert_eq!(only_error(&form), message, "{query}");
    }
    // The seed profile is the seed program's and knows no measurement time.
    let mut form = form();
    form.apply_query("profile=seed&interval=0.02&precision=128");
    assert!(form.validate().is_ok());
}

#[test]
fn sensor_model_parameters_reach_the_settings() {
    let mut form = form();
    form.apply_query(
        "profile=realistic&seed=42&precision=64&altitude=500&tide=0.8&temperature=21.5\
         &start=2026-01-01T00:00:00Z&anomaly_mode=random&anomaly_probability=0.05&anomaly_kinds=spike,+drift",
    );
    let settings = form.validate().unwrap();
    let sensor = settings.sensor;
    assert_eq!(sensor.seed, 42);
    assert_eq!(sensor.air.oversampling, 64);
    assert_eq!(
        (
            sensor.air.altitude_m,
            sensor.air.tide_hpa,
            sensor.air.mean_temperature_c
        ),
        (500.0, 0.8, 21.5)
    );
    assert_eq!(sensor.anomaly_mode, AnomalyMode::Random(0.05));
    assert_eq!(
        sensor.anomaly_kinds,
        [AnomalyKind::Spike, AnomalyKind::Drift]
    );
    assert_eq!(settings.start_ms, Some(1_767_225_600_000));
    let mut seed = self::form();
    seed.apply_query("profile=seed");
    assert_eq!(
        seed.validate().unwrap().sensor.anomaly_kinds,
        [AnomalyKind::OutOfRange]
    );
}

#[test]
fn the_share_link_replays_every_setting_but_password_and_client_id() {
    let mut form = form();
    form.apply_query(
        "device_id=lab 7&seed=99&anomaly_kinds=spike,step&topic=a/{device_id}&username=u",
    );
    form.set(Field::Password, "secret");
    let query = form.to_query();
    assert!(
        !query.contains("secret") && !query.contains("client_id"),
        "{query}"
    );
    let mut replayed = SettingsForm::defaults("zzzz");
    replayed.apply_query(&query);
    let (a, b) = (form.validate().unwrap(), replayed.validate().unwrap());
    assert_eq!(a.sensor, b.sensor);
    assert_eq!(
        (a.device_id, a.topic, a.interval_ms),
        (b.device_id, b.topic, b.interval_ms)
    );
}

#[test]
fn field_metadata_lines_up_with_the_fields() {
    for (index, field) in Field::ALL.into_iter().enumerate() {
        assert_eq!(field as usize, index, "Field::ALL is in declaration order");
    }
    assert_eq!(Field::Interval.label(), "Publish interval (s)");
    assert_eq!(Field::Password.param(), None);
    assert_eq!(Field::AnomalyKinds.id(), "anomaly-kinds");
}

#[test]
fn a_broker_url_with_user_info_is_refused_without_echoing_it() {
    for url in [
        "ws://u:hunter2@h",
        "wss://alice@broker:8884/mqtt",
        "ws://:hunter2@h:1",
        "mqtt://u:hunter2@h",
        "ws://u:hunter2/x@h",
    ] {
        let mut form = form();
        form.set(Field::BrokerUrl, url);
        assert!(!form.to_query().contains("hunter2"), "{}", form.to_query());
        assert!(!form.to_query().contains("broker="), "{}", form.to_query());
        let error = only_error(&form);
        assert_eq!(
            error,
            "Broker URL: must not contain a user name or password (user:pass@host); use the Username and Password fields"
        );
        assert!(!error.contains("hunter2"));
    }
}

#[test]
fn debug_prints_never_show_the_password() {
    let mut form = form();
    form.set(Field::Username, "alice");
    form.set(Field::Password, "hunter2");
    let settings = form.validate().unwrap();
    let config = crate::device::session_config(&settings);
    let connect = crate::mqtt::Connect {
        client_id: "c".into(),
        clean_session: true,
        keep_alive: 60,
        username: Some("alice".into()),
        password: Some(b"hunter2".to_vec()),
        will: None,
    };
    for printed in [
        format!("{form:?}"),
        format!("{settings:?}"),
        format!("{config:?}"),
        format!("{connect:?}"),
        format!("{:?}", crate::mqtt::Packet::Connect(connect.clone())),
    ] {
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(printed.contains("alice"), "{printed}");
    }
    assert!(!form.to_query().contains("hunter2"));
}

#[test]
fn the_time_zone_is_a_utc_offset_that_the_model_uses_and_the_link_carries() {
    let mut form = form();
    assert_eq!(form.validate().unwrap().sensor.air.tz_offset_min, 0);
    for (text, minutes) in [
        ("+09:00", 540),
        ("-05:00", -300),
        ("+05:45", 345),
        ("Z", 0),
        ("+14:00", 840),
        ("-12:00", -720),
    ] {
        form.set(Field::TimeZone, text);
        assert_eq!(
            form.validate().unwrap().sensor.air.tz_offset_min,
            minutes,
            "{text}"
        );
    }
    for minutes in [-720, -300, 0, 345, 540, 840] {
        assert_eq!(
            model::parse_utc_offset(&format_utc_offset(minutes)),
            Ok(minutes)
        );
    }
    for bad in [
        "9", "+9:00", "+09:60", "+15:00", "-13:00", "09:00", "+09:00x", "UTC",
    ] {
        form.set(Field::TimeZone, bad);
        assert_eq!(
            only_error(&form),
            format!(
                "Time zone (UTC offset): must be a UTC offset such as +01:00 or -05:00 (got \"{bad}\")"
            )
        );
    }
    form.set(Field::TimeZone, "-05:00");
    assert!(
        form.to_query().contains("&tz=-05%3A00"),
        "{}",
        form.to_query()
    );
    let mut replay = SettingsForm::defaults("zzzz");
    replay.set(Field::TimeZone, "+09:00"); // the second page's own zone
    replay.apply_query(&form.to_query());
    assert_eq!(replay.validate().unwrap().sensor.air.tz_offset_min, -300);
}

#[test]
fn anomaly_every_defaults_to_the_profiles_own_cadence() {
    let mut form = form();
    assert_eq!(form.get(Field::AnomalyEvery), "");
    assert_eq!(
        form.validate().unwrap().sensor.anomaly_mode,
        AnomalyMode::Every(60)
    );
    form.set(Field::Profile, "seed");
    assert_eq!(
        form.validate().unwrap().sensor.anomaly_mode,
        AnomalyMode::Every(10)
    );
    form.set(Field::AnomalyEvery, "7");
    assert_eq!(
        form.validate().unwrap().sensor.anomaly_mode,
        AnomalyMode::Every(7)
    );
}

#[test]
fn a_fleet_is_1_to_1000_devices_per_device_or_shared() {
    let mut form = form();
    form.apply_query("devices=50&connection=shared");
    let settings = form.validate().unwrap();
    assert_eq!(
        (settings.devices, settings.connection),
        (50, Connection::Shared)
    );
    for (devices, message) in [
        (
            "0",
            "Devices: must be a whole number from 1 to 1000 (got \"0\")",
        ),
        (
            "1001",
            "Devices: must be a whole number from 1 to 1000 (got \"1001\")",
        ),
        (
            "many",
            "Devices: must be a whole number from 1 to 1000 (got \"many\")",
        ),
    ] {
        let mut form = self::form();
        form.set(Field::Devices, devices);
        assert_eq!(only_error(&form), message);
    }
    let mut form = self::form();
    form.set(Field::Labels, "hidden");
    assert_eq!(
        only_error(&form),
        "Labels: must be inline or topic (got \"hidden\")"
    );
    form.set(Field::Labels, "topic");
    assert_eq!(form.validate().unwrap().labels, Labels::Topic);
    form.set(Field::Topic, "sensors/telemetry");
    form.set(Field::DeviceId, "lab+1");
    assert_eq!(
        only_error(&form),
        "Device ID: names the labels topic device/{id}/labels when Labels is topic, so it must not contain /, + or # (got \"lab+1\")"
    );
    form.set(Field::Labels, "inline");
    form.set(Field::Topic, "sensors/telemetry");
    assert!(
        form.validate().is_ok(),
        "inline labels need no labels topic"
    );
    let mut form = self::form();
    form.set(Field::Connection, "gateway");
    assert_eq!(
        only_error(&form),
        "Connection: must be per-device or shared (got \"gateway\")"
    );
    // A page holds about 200 WebSockets: more devices need the shared connection.
    let mut form = self::form();
    form.apply_query("devices=201&connection=per-device");
    assert_eq!(
        only_error(&form),
        "Connection: per-device opens one WebSocket per device, and a browser page holds about 200: use shared for 201 devices"
    );
    form.set(Field::Devices, "200");
    assert!(form.validate().is_ok());
}

#[test]
fn a_per_device_fleet_needs_room_for_the_device_number_in_the_client_id() {
    let mut form = form();
    form.set(Field::ClientId, "abcdefghijklmnopqrst"); // 20 bytes: "-01" fits, "-001" not
    form.set(Field::Devices, "99");
    assert!(form.validate().is_ok());
    form.set(Field::Devices, "100");
    assert_eq!(
        only_error(&form),
        "Client ID: is 20 bytes; each device of the fleet connects as it plus \"-\" and its number, which must fit 23 bytes: at most 19 here"
    );
    // Shared mode connects once, as the client id itself.
    form.set(Field::Connection, "shared");
    assert!(form.validate().is_ok());
    // The default client id leaves room for 1000 devices.
    let mut form = self::form();
    form.set(Field::Devices, "200");
    assert!(form.validate().is_ok());
}

#[test]
fn fleet_numbers_are_zero_padded_to_the_width_of_the_count() {
    assert_eq!(numbered("lab", 1, 1), "lab");
    assert_eq!(numbered("lab", 1, 50), "lab-01");
    assert_eq!(numbered("lab", 50, 50), "lab-50");
    assert_eq!(numbered("lab", 7, 1000), "lab-0007");
    assert_eq!(numbered("lab", 10, 10), "lab-10");
}

#[test]
fn max_rate_skips_the_measurement_time_rule() {
    let mut form = form();
    form.apply_query("interval=0&precision=128");
    assert_eq!(form.validate().unwrap().interval_ms, 0);
}

#[test]
fn a_fleet_topic_is_checked_with_the_longest_numbered_id() {
    // 65,535 bytes with the plain id, 65,538 with `-10`: too long for MQTT.
    let mut form = form();
    form.set(Field::DeviceId, "abcde");
    form.set(Field::Topic, format!("{}{{device_id}}", "a".repeat(65_530)));
    assert!(form.validate().is_ok(), "one device: exactly the limit");
    form.set(Field::Devices, "10");
    assert_eq!(
        only_error(&form),
        "Topic: is 65538 bytes, over MQTT's 65535 byte limit"
    );
}

#[test]
fn a_device_id_is_at_most_256_bytes() {
    let mut form = form();
    form.set(Field::DeviceId, "d".repeat(256));
    form.set(Field::ClientId, "c");
    assert!(form.validate().is_ok());
    form.set(Field::DeviceId, "d".repeat(257));
    assert_eq!(
        only_error(&form),
        "Device ID: is 257 bytes; at most 256 (it is in every payload of every device)"
    );
}

#[test]
fn every_field_is_in_exactly_one_group_with_a_label_and_a_control() {
    let html = form_html().into_string();
    for field in Field::ALL {
        let groups = Group::ALL
            .iter()
            .filter(|g| g.fields().contains(&field))
            .count();
        assert_eq!(groups, 1, "{field:?}");
        let id = field.id();
        assert_eq!(html.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
        assert_eq!(
            html.matches(&format!("data-testid=\"error-{id}\"")).count(),
            1,
            "{id}"
        );
        match field.control() {
            // A group of checkboxes is named by its legend.
            Control::Kinds => {
                assert!(html.contains(&format!("<legend>{}</legend>", field.label())))
            }
            _ => assert!(
                html.contains(&format!("<label for=\"{id}\">{}</label>", field.label())),
                "{id}"
            ),
        }
    }
    for kind in AnomalyKind::ALL {
        assert!(html.contains(&format!(
            "<label class=\"kind\" for=\"kind-{kind}\"><input type=\"checkbox\" id=\"kind-{kind}\""
        )));
    }
    assert!(html.contains("<select id=\"profile\""));
    assert!(
        html.contains("<input type=\"number\" min=\"1\" max=\"1000\" step=\"1\" id=\"devices\"")
    );
    assert!(html.contains("<input type=\"datetime-local\" step=\"0.001\" id=\"start\""));
    assert!(html.contains("<input type=\"password\" id=\"password\""));
    assert!(html.contains("<input type=\"checkbox\" id=\"clean-session\""));
    // Every select offers the values its parser takes, and the default is among them.
    for field in Field::ALL {
        if let Control::Select(options) = field.control() {
            let defaults = SettingsForm::defaults("t3st");
            assert!(options.contains(&defaults.get(field)), "{field:?}");
            for option in options {
                let mut form = SettingsForm::defaults("t3st");
                form.set(field, *option);
                if *option == "replay" {
                    // The replay profile needs its recording.
                    form.set(Field::Replay, "air.csv");
                }
                assert!(form.validate().is_ok(), "{field:?} = {option}");
            }
        }
    }
    // Delivery is folded away whole; the others show their common fields first.
    assert!(html.contains("<details><summary>Delivery settings</summary>"));
    assert!(html.contains("<details><summary>More connection settings</summary>"));
}

#[test]
fn presets_offer_the_local_broker_and_secure_public_ones() {
    assert_eq!(BROKER_PRESETS[0].1, "ws://localhost:9001");
    for (name, url) in &BROKER_PRESETS[1..] {
        assert!(url.starts_with("wss://"), "{name}");
        let mut form = SettingsForm::defaults("t3st");
        form.set(Field::BrokerUrl, *url);
        assert!(form.validate().is_ok(), "{url}");
    }
    assert!(SECURE_DEFAULT_BROKER.starts_with("wss://"));
}

#[test]
fn a_secure_page_is_told_that_plain_ws_is_blocked_except_to_this_machine() {
    for blocked in [
        "ws://broker.example:9001",
        " ws://10.0.0.5:9001/mqtt",
        "ws://broker.example",
    ] {
        let message = blocked_from_https(blocked).unwrap_or_else(|| panic!("{blocked}"));
        assert!(
            message.contains("wss://") && message.contains("http://"),
            "{message}"
        );
    }
    for allowed in [
        "wss://broker.example:8884/mqtt",
        "ws://localhost:9001",
        "ws://127.0.0.1:9001/mqtt",
        "ws://[::1]:9001",
    ] {
        assert_eq!(blocked_from_https(allowed), None, "{allowed}");
    }
    // A URL the Broker URL check refuses gets that field error, not this warning too.
    assert_eq!(blocked_from_https("ws://user@broker.example"), None);
}

#[test]
fn only_what_differs_from_the_page_defaults_is_remembered_and_never_the_password() {
    let defaults = SettingsForm::defaults("ab12");
    let mut form = defaults.clone();
    assert_eq!(remembered(&form, &defaults, false), "");
    form.set(Field::DeviceId, "lab 7");
    form.set(Field::Password, "hunter2");
    form.set(Field::Interval, "0.5");
    let query = remembered(&form, &defaults, false);
    assert_eq!(query, "?device_id=lab%207&interval=0.5");
    assert!(!query.contains("hunter2"));
    // A client id is remembered only when typed by hand.
    form.set(Field::ClientId, "my-client");
    assert!(!remembered(&form, &defaults, false).contains("client_id"));
    assert!(remembered(&form, &defaults, true).contains("client_id=my-client"));
    // User info in a broker URL may be a password.
    form.set(Field::BrokerUrl, "ws://u:hunter2@host:9001");
    assert!(!remembered(&form, &defaults, true).contains("hunter2"));
    // What is remembered reads back as it was.
    let mut restored = defaults.clone();
    restored.apply_query(&remembered(&form, &defaults, true));
    for field in Field::ALL {
        if !matches!(field, Field::Password | Field::BrokerUrl) {
            assert_eq!(restored.get(field), form.get(field), "{field:?}");
        }
    }
}

#[test]
fn number_inputs_offer_exactly_the_range_validation_takes() {
    for field in Field::ALL {
        let Control::Number { min, max, step } = field.control() else {
            continue;
        };
        let problem = |text: &str| {
            let mut form = SettingsForm::defaults("t3st");
            // Up to 1000 devices need the shared connection.
            form.set(Field::Connection, "shared");
            form.set(field, text);
            form.validate()
                .err()
                .and_then(|errors| errors.into_iter().find(|e| e.field == field))
        };
        assert_eq!(problem(min), None, "{field:?} min {min}");
        assert_eq!(problem(max), None, "{field:?} max {max}");
        if step == "1" {
            let below = (min.parse::<i64>().unwrap() - 1).to_string();
            let above = (max.parse::<i64>().unwrap() + 1).to_string();
            assert!(problem(&below).is_some(), "{field:?} {below}");
            assert!(problem(&above).is_some(), "{field:?} {above}");
        }
    }
}

#[test]
fn a_user_name_with_a_nul_or_control_character_is_refused() {
    for bad in ["a\0b", "tab\there", "line\n"] {
        let mut form = SettingsForm::defaults("t3st");
        form.set(Field::Username, bad);
        assert_eq!(
            only_error(&form),
            "Username: must not contain control characters"
        );
    }
}

#[test]
fn magnitude_and_duration_are_checked_and_go_into_the_share_link() {
    let mut form = SettingsForm::defaults("t3st");
    form.apply_query("anomaly_scale=0.3&anomaly_duration=2.5");
    let settings = form.validate().unwrap();
    assert_eq!(settings.sensor.difficulty.scale, 0.3);
    assert_eq!(settings.sensor.difficulty.duration, 2.5);
    let query = form.to_query();
    assert!(
        query.contains("anomaly_scale=0.3&anomaly_duration=2.5"),
        "{query}"
    );
    for (field, bad) in [
        (Field::AnomalyScale, "0.01"),
        (Field::AnomalyScale, "11"),
        (Field::AnomalyScale, "big"),
        (Field::AnomalyDuration, "0.05"),
        (Field::AnomalyDuration, "-1"),
    ] {
        let mut form = SettingsForm::defaults("t3st");
        form.set(field, bad);
        let error = only_error(&form);
        assert!(error.contains(&format!("(got \"{bad}\")")), "{error}");
        let range = match field {
            Field::AnomalyScale => {
                "must be a number from 0.05 to 10 (1 is the catalogue as written)"
            }
            _ => "must be a number from 0.1 to 10 (1 is the catalogue as written)",
        };
        assert!(error.contains(range), "{error}");
    }
}

#[test]
fn the_replay_link_carries_what_differs_and_what_a_page_draws_for_itself() {
    let mut form = form();
    form.set(Field::Seed, "123456");
    form.set(Field::TimeZone, "+02:00");
    form.set(Field::AnomalyEvery, "7");
    let query = form.to_query();
    assert_eq!(
        query,
        "?broker=ws%3A%2F%2Flocalhost%3A9001&anomaly_every=7&seed=123456&tz=%2B02%3A00"
    );
    // A page with another seed, zone and (https) broker of its own replays the same run.
    let mut other = SettingsForm::defaults("zzzz");
    other.set(Field::Seed, "1");
    other.set(Field::TimeZone, "-07:00");
    other.set(Field::BrokerUrl, SECURE_DEFAULT_BROKER);
    other.apply_query(&query);
    let (a, b) = (form.validate().unwrap(), other.validate().unwrap());
    assert_eq!(
        (a.sensor, a.broker_url, a.device_id),
        (b.sensor, b.broker_url, b.device_id)
    );
    // The README's figures: at most 97 characters for the defaults, 35 more with a run's start.
    let mut defaults = SettingsForm::defaults("a1b2");
    defaults.set(Field::Seed, u64::MAX.to_string());
    let link = format!("http://127.0.0.1:8080/{}", defaults.to_query());
    assert_eq!(link.len(), 97, "{link}");
    defaults.set(Field::Start, "2026-12-03T12:22:17.123Z");
    let with_start = format!("http://127.0.0.1:8080/{}", defaults.to_query());
    assert_eq!(with_start.len() - link.len(), 35, "{with_start}");
}

#[test]
fn a_room_link_makes_each_visitor_a_device_of_their_own_on_the_rooms_broker() {
    let mut teacher = form();
    teacher.apply_query(
        "broker=ws://10.0.0.5:9001&device_id=lab&seed=77&interval=2&start=2026-01-01T00:00:00Z",
    );
    let room = teacher.room_query(false);
    assert_eq!(
        room,
        "?broker=ws%3A%2F%2F10.0.0.5%3A9001&interval=2&room=lab"
    );
    assert!(teacher.room_query(true).ends_with("&room=lab&autostart=1"));
    let visit = |suffix: &str, seed: &str| {
        let mut page = SettingsForm::defaults(suffix);
        page.set(Field::Seed, seed);
        let outcome = page.apply_query(&room);
        assert!(outcome.room && !outcome.autostart);
        page.validate().unwrap()
    };
    let (a, b) = (visit("aa11", "5"), visit("bb22", "6"));
    assert_eq!(
        (a.device_id.as_str(), b.device_id.as_str()),
        ("lab-aa11", "lab-bb22")
    );
    assert_eq!(a.topic, "device/lab-aa11/telemetry");
    assert_ne!(a.client_id, b.client_id);
    assert_ne!(a.sensor.seed, b.sensor.seed, "a seed of their own");
    assert_eq!(a.broker_url.as_str(), "ws://10.0.0.5:9001");
    assert_eq!(a.interval_ms, 2000);
    assert_eq!(a.start_ms, None, "each visitor starts live");
    // Coming back to the same room keeps the device; a device id in the link wins.
    let mut again = SettingsForm::defaults("cc33");
    again.set(Field::DeviceId, "lab-aa11");
    assert!(!again.apply_query(&room).room);
    assert_eq!(again.get(Field::DeviceId), "lab-aa11");
    let mut named = SettingsForm::defaults("dd44");
    named.apply_query(&format!("{room}&device_id=ana"));
    assert_eq!(named.get(Field::DeviceId), "ana");
}

#[test]
fn a_room_on_this_computer_only_is_called_out_in_words() {
    for (page, broker) in [
        ("localhost", "ws://10.0.0.5:9001"),
        ("127.0.0.2", "ws://10.0.0.5:9001"),
        ("10.0.0.5", "ws://localhost:9001"),
        ("10.0.0.5", "ws://127.1.2.3:9001/mqtt"),
        ("[::1]", "ws://[::1]:9001"),
    ] {
        let warning =
            room_warning(page, broker, false).unwrap_or_else(|| panic!("{page} {broker}"));
        assert!(warning.contains("this computer only"), "{warning}");
        assert!(warning.contains("network address"), "{warning}");
        assert!(
            warning.contains("phones would reach themselves"),
            "{warning}"
        );
    }
    for (page, broker) in [
        ("10.0.0.5", "ws://10.0.0.5:9001"),
        ("sim.example.org", "wss://broker.hivemq.com:8884/mqtt"),
        ("127.example.org", "ws://localhost.example:9001"),
    ] {
        assert_eq!(room_warning(page, broker, false), None, "{page} {broker}");
    }
    // A broker with a user name: the link carries no password, and visitors are told.
    let asked = room_warning("10.0.0.5", "ws://10.0.0.5:9001", true).unwrap();
    assert!(asked.contains("carries no password"), "{asked}");
}

#[test]
fn a_replay_or_room_link_sets_the_whole_form_and_a_room_keeps_a_visitors_device() {
    let remembered = "?altitude=1500&interval=0&device_id=lab-aa11";
    // A replay link (it names a seed): nothing remembered mixes in.
    let mut page = form();
    let (_, typed) = page.apply_remembered_and_link(remembered, "?seed=5&anomaly_every=3");
    assert!(!typed);
    let settings = page.validate().unwrap();
    assert_eq!(
        settings.sensor.air.altitude_m,
        form().validate().unwrap().sensor.air.altitude_m
    );
    assert_eq!((settings.interval_ms, settings.anomaly_every), (1000, 3));
    // A room link: neither, but this visitor's device in the room is kept.
    let mut page = form();
    let (outcome, _) = page.apply_remembered_and_link(remembered, "?interval=2&room=lab");
    assert!(!outcome.room, "kept, not drawn anew");
    assert_eq!(page.get(Field::DeviceId), "lab-aa11");
    assert_eq!(page.validate().unwrap().interval_ms, 2000);
    // Another room's device is not.
    let mut page = form();
    let (outcome, _) = page.apply_remembered_and_link(remembered, "?room=lab-b");
    assert!(outcome.room);
    assert_eq!(page.get(Field::DeviceId), "lab-b-a1b2");
    // Any other link adds to what was remembered.
    let mut page = form();
    page.apply_remembered_and_link(remembered, "?broker=ws://10.0.0.5:9001");
    assert_eq!(page.validate().unwrap().interval_ms, 0);
    // A typed client id without a suffix still gives each visitor a device of their own.
    let mut page = form();
    page.set(Field::ClientId, "myclient");
    page.apply_query("?room=lab");
    assert_eq!(page.get(Field::DeviceId), "lab-ient");
    // No room without a name.
    let mut teacher = form();
    teacher.set(Field::DeviceId, "");
    assert!(!teacher.room_query(false).contains("room="));
}

#[test]
fn a_password_comes_from_a_links_fragment_never_from_its_query() {
    let mut form = form();
    let outcome = form.apply_query("?username=class&password=in-the-query");
    assert_eq!(form.get(Field::Password), "", "{outcome:?}");
    assert!(form.apply_fragment("#password=s3cret%20word"));
    assert_eq!(form.get(Field::Password), "s3cret word");
    assert!(!form.apply_fragment("#other=1"));
    assert!(!form.to_query().contains("s3cret") && !form.room_query(true).contains("s3cret"));
    // Nor is it remembered.
    assert!(!remembered(&form, &SettingsForm::defaults("a1b2"), false).contains("s3cret"));
}

#[test]
fn a_recording_named_in_a_link_brings_the_replay_profile_unless_the_link_names_one() {
    let mut form = form();
    form.apply_query("replay=https%3A%2F%2Fexample.org%2Fair.csv&replay_loop=false");
    assert_eq!(form.get(Field::Profile), "replay");
    assert_eq!(form.get(Field::Replay), "https://example.org/air.csv");
    let settings = form.validate().unwrap();
    assert!(!settings.replay_loop && !settings.replay_in_step);
    assert_eq!(
        settings.sensor.replay, None,
        "read by the runner or the page, not here"
    );
    // The share link carries both, so it replays the same recording.
    assert!(
        form.to_query()
            .contains("profile=replay&replay=https%3A%2F%2Fexample.org%2Fair.csv")
    );
    let mut empty = self::form();
    empty.apply_query("replay=");
    assert_eq!(
        empty.get(Field::Profile),
        "realistic",
        "an empty recording brings nothing"
    );
    assert!(empty.validate().is_ok());
    let mut signed = self::form();
    signed.apply_query("replay=https%3A%2F%2Fexample.org%2Fair.csv%3Fsig%3Da%40b");
    assert!(
        signed.validate().is_ok(),
        "an @ in the query is no user name"
    );
    let mut explicit = self::form();
    explicit.apply_query("profile=seed&replay=air.csv");
    assert_eq!(explicit.get(Field::Profile), "seed");
    assert!(
        explicit.validate().is_err(),
        "a recording beside another profile is refused"
    );
}
