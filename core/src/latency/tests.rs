use std::num::NonZeroU16;

use super::*;
use crate::mqtt::{ConnectReturnCode, Packet, Publish, QosPid, SubAck, decode_as_server};
use crate::sensor::format_rfc3339_millis;
use crate::testing::{at, connack};

fn payload(id: &str, sequence: u64, timestamp_ms: i64) -> Vec<u8> {
    let mut quoted = String::new();
    push_json_string(&mut quoted, id);
    format!(
        "{{\"timestamp\":\"{}\",\"device_id\":{quoted},\"sensor_type\":\"DPS368\",\"sequence\":{sequence},\"anomaly\":false,\"anomaly_kind\":null,\"anomaly_id\":null,\"data\":{{\"pressure\":1013.25,\"temperature\":21.5}}}}",
        format_rfc3339_millis(timestamp_ms)
    )
    .into_bytes()
}

const ORIGIN: i64 = 1_780_000_000_000;
/// The clock at an arrival, for the wall clock's lead: monotonic and wall clock in step.
const NOW: Time = Time {
    mono_ms: 5_000,
    wall_ms: ORIGIN,
};

fn started(ids: &[&str]) -> Probe {
    let mut probe = Probe::new(ids.iter().copied(), 100);
    probe.started(
        Time {
            mono_ms: 5_000,
            wall_ms: ORIGIN,
        },
        ORIGIN,
    );
    probe
}

/// Sample k of a 10 ms grid arrives `latency(k)` µs after it was due.
fn feed<H: Histogram>(probe: &mut Probe<H>, id: &str, n: u64, latency: impl Fn(u64) -> u64) {
    for k in 1..=n {
        let due_ms = 5_000 + (k - 1) * 10;
        let got = probe
            .on_message(
                &payload(id, k, ORIGIN + (k as i64 - 1) * 10),
                due_ms * 1000 + latency(k),
                NOW,
            )
            .unwrap();
        assert_eq!(got, Some(latency(k)), "sample {k}");
    }
}

/// The exact value at quantile q: the smallest with at least q of them at or below it.
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// At or above the exact value, by at most a 128th of it (the histogram's precision).
fn within_precision(got: u64, want: u64) {
    assert!(
        got >= want && (got - want) as f64 <= want as f64 / 128.0,
        "got {got}, want {want}"
    );
}

/// A seeded stream of values with a long tail: 1 ms to 3 s, most near 2 ms.
fn long_tailed(n: u64, seed: u64) -> Vec<u64> {
    let mut rng = crate::sensor::Rng::new(seed);
    (0..n)
        .map(|_| {
            let u = rng.next_f64();
            (1_000.0 + 1_000.0 * (1.0 / (1.0 - u * 0.9995) - 1.0).min(3_000.0)) as u64
        })
        .collect()
}

#[test]
fn percentiles_of_a_uniform_distribution_are_exact_to_the_stated_precision() {
    let mut probe = started(&["a"]);
    // 1 ms .. 100 ms in 10 µs steps, in a shuffled order.
    let n = 9_901u64;
    let value = |k: u64| 1_000 + ((k * 7_919) % n) * 10;
    feed(&mut probe, "a", n, value);
    let mut sorted: Vec<u64> = (1..=n).map(value).collect();
    sorted.sort_unstable();
    let s = probe.whole();
    assert_eq!(s.count, n);
    for (got, q) in [(s.p50, 0.5), (s.p90, 0.9), (s.p99, 0.99), (s.p999, 0.999)] {
        within_precision(got, exact(&sorted, q));
    }
    assert_eq!(s.max, 100_000);
    assert!((50_000..=51_000).contains(&s.p50), "{s:?}");
}

#[test]
fn percentiles_of_a_long_tail_agree_with_the_hdrhistogram_crate() {
    for seed in 1..=3 {
        let values = long_tailed(50_000, seed);
        let mut ours = LogLinear::empty();
        let mut hdr =
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, histogram::HIGHEST_US, 3).unwrap();
        for &v in &values {
            ours.record(v);
            hdr.record(v).unwrap();
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            let want = exact(&sorted, q);
            within_precision(ours.value_at_quantile(q), want);
            // hdrhistogram at 3 significant digits: within a 1,000th of the same value.
            let theirs = hdr.value_at_quantile(q);
            assert!(
                theirs.abs_diff(want) as f64 <= want as f64 / 1000.0,
                "hdrhistogram {theirs}, exact {want} at {q}"
            );
            let gap = ours.value_at_quantile(q).abs_diff(theirs) as f64;
            assert!(
                gap <= want as f64 / 100.0,
                "seed {seed} q {q}: ours vs theirs"
            );
        }
    }
}

#[test]
fn a_long_tail_shows_in_the_high_percentiles_only() {
    let mut probe = started(&["a"]);
    // 990 samples at 2 ms, 9 at 40 ms, one at 3 s.
    let value = |k: u64| match k {
        1000 => 3_000_000,
        991..=999 => 40_000,
        _ => 2_000,
    };
    feed(&mut probe, "a", 1000, value);
    let s = probe.whole();
    within_precision(s.p50, 2_000);
    within_precision(s.p90, 2_000);
    within_precision(s.p99, 2_000);
    within_precision(s.p999, 40_000);
    assert_eq!(s.max, 3_000_000);
    assert_eq!(
        s.json(),
        format!(
            "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":3000.000,\"count\":1000}}",
            millis(s.p50),
            millis(s.p90),
            millis(s.p99),
            millis(s.p999)
        )
    );
}

#[test]
fn the_due_time_is_the_stamp_not_the_arrival_order() {
    // A sample held back 2 s (a dead link) and delivered with the next is charged 2 s.
    let mut probe = started(&["a"]);
    let got = probe
        .on_message(
            &payload("a", 1, ORIGIN + 1_000),
            (5_000 + 3_000) * 1000 + 250,
            NOW,
        )
        .unwrap();
    assert_eq!(got, Some(2_000_250));
}

#[test]
fn a_device_id_with_quotes_and_backslashes_is_read_as_its_payload_writes_it() {
    let id = "a \"quoted\" \\ id";
    let mut probe = started(&[id, "a "]);
    feed(&mut probe, id, 3, |_| 1_000);
    assert_eq!(probe.counts().received, 3);
    assert_eq!(probe.awaited([(id, 3), ("a ", 0)]), 0);
    assert_eq!(probe.latency_of(id, 2), Some(1_000));
}

#[test]
fn duplicates_foreign_and_unreadable_messages_are_counted_not_timed() {
    let mut probe = started(&["a", "b"]);
    feed(&mut probe, "a", 3, |_| 1_000);
    assert_eq!(
        probe.on_message(&payload("a", 2, ORIGIN), 9_000_000, NOW),
        Ok(None)
    );
    assert_eq!(
        probe.on_message(&payload("z", 1, ORIGIN), 9_000_000, NOW),
        Ok(None)
    );
    assert!(
        probe
            .on_message(b"{\"device_id\":\"a\"}", 9_000_000, NOW)
            .is_err()
    );
    assert!(probe.on_message(b"nonsense", 9_000_000, NOW).is_err());
    assert!(probe.on_message(&[0xff, 0xfe], 9_000_000, NOW).is_err());
    let c = probe.counts();
    assert_eq!(
        (c.received, c.duplicates, c.foreign, c.unreadable),
        (3, 1, 1, 3)
    );
    assert_eq!(probe.whole().count, 3);
}

#[test]
fn an_acknowledged_sample_that_never_arrives_is_awaited() {
    let mut probe = started(&["a", "b"]);
    feed(&mut probe, "a", 5, |_| 1_000);
    // Sample 3 of b is missing: the rest, out of order and one twice, count once each.
    for k in [1, 2, 5, 4, 4] {
        let _ = probe.on_message(
            &payload("b", k, ORIGIN + (k as i64 - 1) * 10),
            9_000_000,
            NOW,
        );
    }
    assert_eq!(probe.awaited([("a", 5), ("b", 5)]), 1);
    assert_eq!(probe.counts().duplicates, 1);
    assert_eq!(probe.latency_of("b", 3), None);
    assert!(probe.latency_of("b", 4).is_some());
    assert_eq!(probe.latency_of("a", 2), Some(1_000));
}

#[test]
fn a_sample_arriving_before_its_stamp_counts_as_early_and_zero() {
    let mut probe = started(&["a"]);
    let got = probe
        .on_message(&payload("a", 1, ORIGIN + 10_000), 5_000 * 1000 + 7, NOW)
        .unwrap();
    assert_eq!(got, Some(0));
    assert_eq!(probe.counts().early, 1);
    assert_eq!(probe.counts().earliest_us, 9_999_993);
}

#[test]
fn the_interval_and_the_recent_window_forget_what_is_older() {
    let mut probe = started(&["a"]);
    feed(&mut probe, "a", 100, |_| 50_000);
    assert_eq!(probe.tick().count, 100);
    for _ in 0..RECENT_INTERVALS - 1 {
        assert_eq!(probe.tick().count, 0);
    }
    assert_eq!(probe.recent().count, 100);
    assert_eq!(probe.recent().max, 50_000);
    assert_eq!(probe.tick().count, 0);
    assert_eq!(probe.recent().count, 0, "older than ten intervals");
    assert_eq!(probe.whole().count, 100);
    assert_eq!(
        probe.recent().json(),
        "{\"p50\":null,\"p90\":null,\"p99\":null,\"p999\":null,\"max\":null,\"count\":0}"
    );
}

#[test]
fn the_export_keeps_the_newest_latencies_of_each_sensor() {
    let mut probe: Probe = Probe::new(["a"], 3);
    probe.started(at(0), crate::testing::EPOCH);
    for k in [1u64, 2, 4, 5, 3] {
        let _ = probe.on_message(&payload("a", k, crate::testing::EPOCH), k * 1_000, at(0));
    }
    assert_eq!(probe.latency_of("a", 2), None);
    assert_eq!(probe.latency_of("a", 3), Some(3_000));
    assert_eq!(probe.latency_of("a", 5), Some(5_000));
}

#[test]
fn a_gap_the_publisher_left_is_given_up_and_a_late_duplicate_still_known() {
    let mut a = Arrivals::new();
    // Sample 1 never comes (dropped at the source).
    for k in 2..=SEEN_WINDOW + 10 {
        assert!(a.first(k), "{k}");
    }
    assert!(a.next > 1, "the gap is given up");
    assert!(!a.first(5), "an old duplicate");
    assert!(!a.first(SEEN_WINDOW + 5), "a recent duplicate");
    // A jump far ahead moves the window without losing what is in it.
    assert!(a.first(1_000_000));
    assert!(!a.first(1_000_000));
    assert!(a.first(999_999));
}

/// The broker's side: what the subscriber sent, decoded.
fn sent(subscriber: &mut Subscriber) -> Vec<Packet> {
    let mut packets = vec![];
    while let Some(action) = subscriber.poll_action() {
        if let Action::Send(bytes) = action {
            packets.push(decode_as_server(&bytes).unwrap());
        }
    }
    packets
}

/// Settings whose Topic is `topic`.
fn with_topic(topic: &str) -> Settings {
    let mut form = crate::settings::SettingsForm::defaults("t3st");
    form.set(crate::settings::Field::Topic, topic);
    form.validate().unwrap()
}

#[test]
fn a_device_id_level_becomes_a_wildcard_for_a_large_fleet_when_it_matches_every_topic() {
    let topics = |template: &str, id: &dyn Fn(usize) -> String, n: usize| -> Vec<String> {
        (1..=n)
            .map(|k| template.replace("{device_id}", &id(k)))
            .collect()
    };
    let plain = |k: usize| format!("s-{k}");
    let large = EXACT_TOPICS + 1;
    // A small fleet: its own topics, one by one.
    let t = "device/{device_id}/telemetry";
    assert_eq!(filters(t, topics(t, &plain, 3)), topics(t, &plain, 3));
    // A large one: the id's level a wildcard, when it matches every topic.
    assert_eq!(
        filters(t, topics(t, &plain, large)),
        vec!["device/+/telemetry"]
    );
    assert_eq!(
        filters("{device_id}", topics("{device_id}", &plain, large)),
        vec!["+"]
    );
    let t = "{device_id}/x/{device_id}";
    assert_eq!(filters(t, topics(t, &plain, large)), vec!["+/x/+"]);
    // An id with a / or a $ first is not matched by +: every topic.
    let t = "device/{device_id}/telemetry";
    let slash = |k: usize| format!("plant/s-{k}");
    assert_eq!(filters(t, topics(t, &slash, large)).len(), large);
    let dollar = |k: usize| format!("$s-{k}");
    let t = "{device_id}/t";
    assert_eq!(filters(t, topics(t, &dollar, large)).len(), large);
    // Inside a level, or once a whole level and once inside one: every topic.
    let t = "t/dev-{device_id}";
    assert_eq!(filters(t, topics(t, &plain, large)).len(), large);
    let t = "{device_id}/x{device_id}";
    assert_eq!(filters(t, topics(t, &plain, large)).len(), large);
    // No id in it: one topic for all.
    assert_eq!(
        filters("all/one", topics("all/one", &plain, large)),
        vec!["all/one"]
    );
}

#[test]
fn before_start_or_stamped_before_it_a_message_is_not_the_runs() {
    let mut probe: Probe = Probe::new(["a"], 10);
    assert_eq!(probe.on_message(&payload("a", 1, ORIGIN), 1, NOW), Ok(None));
    probe.started(NOW, ORIGIN);
    assert_eq!(
        probe.on_message(&payload("a", 1, ORIGIN - 1), 1, NOW),
        Ok(None)
    );
    assert_eq!(probe.counts().foreign, 2);
    // Sample 1 still arrives as the run's own, once.
    assert_eq!(
        probe.on_message(&payload("a", 1, ORIGIN), 5_000_500, NOW),
        Ok(Some(500))
    );
}

#[test]
fn hostile_sequence_numbers_never_overflow() {
    let mut probe = started(&["a"]);
    for sequence in [
        0,
        u64::MAX,
        u64::MAX - 1,
        u64::MAX - SEEN_WINDOW,
        u64::MAX / 2,
    ] {
        let _ = probe.on_message(&payload("a", sequence, ORIGIN), 9_000_000, NOW);
    }
    assert!(probe.counts().received <= 1, "{:?}", probe.counts());
}

#[test]
fn a_wall_clock_ahead_of_the_monotonic_brings_the_due_time_forward() {
    // Start at monotonic 5,000 ms. 600 ms later on the monotonic clock the wall clock says
    // 1,100 ms: the schedule made the sample due at 1,000 ms 100 ms ago.
    let mut probe = started(&["a"]);
    let now = Time {
        mono_ms: 5_600,
        wall_ms: ORIGIN + 1_100,
    };
    let got = probe.on_message(&payload("a", 2, ORIGIN + 1_000), 5_600_000, now);
    assert_eq!(got, Ok(Some(100_000)));
    assert_eq!(probe.counts().early, 0);
    // A sample due at 300 ms, made before the lead came, is timed without it.
    let got = probe.on_message(&payload("a", 1, ORIGIN + 300), 5_600_000, now);
    assert_eq!(got, Ok(Some(300_000)));
}

#[test]
fn the_subscriber_subscribes_to_each_topic_once_at_qos_1_and_times_what_it_gets() {
    let settings = with_topic("t/{device_id}x");
    let topics = vec!["t/ax".to_owned(), "t/bx".to_owned(), "t/bx".to_owned()];
    let probe = Probe::new(["a", "b"], 10);
    let mut s: Subscriber = Subscriber::new(&settings, topics, probe, "lat-1".into(), 7, at(0));
    assert!(matches!(s.poll_action(), Some(Action::Open { .. })));
    s.on_open(at(1));
    let connect = sent(&mut s);
    assert!(
        matches!(&connect[..], [Packet::Connect(c)] if c.clean_session && c.client_id == "lat-1"),
        "{connect:?}"
    );
    s.on_bytes(&connack(ConnectReturnCode::Accepted), 2_000, at(2));
    // Each topic once, at QoS 1 (the session asks for each in a SUBSCRIBE of its own).
    let mut filters = vec![];
    let mut subacks = vec![];
    for packet in sent(&mut s) {
        let Packet::Subscribe(sub) = packet else {
            panic!("{packet:?}");
        };
        subacks.push(Packet::SubAck(SubAck {
            pid: sub.pid,
            granted: vec![Granted::Qos(QoS::AtLeastOnce); sub.filters.len()],
        }));
        filters.extend(sub.filters);
    }
    assert_eq!(
        filters,
        vec![
            ("t/ax".to_owned(), QoS::AtLeastOnce),
            ("t/bx".to_owned(), QoS::AtLeastOnce)
        ]
    );
    let (last, first) = subacks.split_last().unwrap();
    for suback in first {
        s.on_bytes(&suback.to_bytes().unwrap(), 3_000, at(3));
    }
    assert!(!s.ready(), "not before every SUBACK");
    s.on_bytes(&last.to_bytes().unwrap(), 3_000, at(3));
    assert!(s.ready());
    s.probe.started(at(10), crate::testing::EPOCH + 10);
    let publish = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(NonZeroU16::new(9).unwrap()),
        retain: false,
        topic: "t/ax".into(),
        payload: payload("a", 1, crate::testing::EPOCH + 10),
    });
    s.on_bytes(&publish.to_bytes().unwrap(), 12_500, at(12));
    assert_eq!(s.probe.whole().max, 2_500);
    assert_eq!(
        sent(&mut s),
        vec![Packet::PubAck(NonZeroU16::new(9).unwrap())]
    );
}

/// A subscriber to the default topics, connected, with its SUBSCRIBE's packet id.
fn connected_subscriber() -> (Subscriber, NonZeroU16) {
    let settings = crate::settings::SettingsForm::defaults("t3st")
        .validate()
        .unwrap();
    let probe = Probe::new(["a"], 10);
    let mut s: Subscriber = Subscriber::new(
        &settings,
        vec!["device/a/telemetry".into()],
        probe,
        "l".into(),
        1,
        at(0),
    );
    let _ = s.poll_action();
    s.on_open(at(1));
    let _ = sent(&mut s);
    s.on_bytes(&connack(ConnectReturnCode::Accepted), 0, at(2));
    let Some(Packet::Subscribe(sub)) = sent(&mut s).pop() else {
        panic!("no SUBSCRIBE");
    };
    assert_eq!(
        sub.filters,
        vec![("device/a/telemetry".to_owned(), QoS::AtLeastOnce)]
    );
    (s, sub.pid)
}

fn suback(pid: NonZeroU16, granted: Granted) -> Vec<u8> {
    Packet::SubAck(SubAck {
        pid,
        granted: vec![granted],
    })
    .to_bytes()
    .unwrap()
}

#[test]
fn a_refused_or_qos_0_subscription_is_fatal_before_the_fleet_starts() {
    for (granted, words) in [
        (Granted::Failure, "refused by the broker"),
        (Granted::Qos(QoS::AtMostOnce), "QoS 0"),
    ] {
        let (mut s, pid) = connected_subscriber();
        s.on_bytes(&suback(pid, granted), 0, at(3));
        let refused = s.take_refused().unwrap();
        assert!(refused.starts_with("device/a/telemetry ("), "{refused}");
        assert!(refused.contains(words), "{refused}");
        assert!(!s.ready());
        assert_eq!(s.down(at(4)), (0, 0), "not ready: not counted as down");
    }
}

#[test]
fn a_drop_after_ready_is_counted_and_the_reconnection_said() {
    let (mut s, pid) = connected_subscriber();
    s.on_bytes(&suback(pid, Granted::Qos(QoS::AtLeastOnce)), 0, at(3));
    assert!(s.ready());
    s.on_closed(at(1_000));
    assert_eq!(s.down(at(1_500)), (500, 1));
    // The link retries after its backoff; the connection is back at 3,000.
    while s.poll_action().is_some() {}
    s.on_timer(at(2_500));
    s.on_open(at(2_600));
    let _ = sent(&mut s);
    s.on_bytes(&connack(ConnectReturnCode::Accepted), 0, at(3_000));
    let (down, drops) = s.down(at(3_000));
    assert_eq!((down, drops), (2_000, 1));
    let mut said = vec![];
    while let Some(line) = s.poll_log() {
        said.push(line);
    }
    assert!(
        said.iter().any(|l| l.contains("connected again")),
        "{said:?}"
    );
    // A refusal now is said, not fatal.
    let Some(Packet::Subscribe(again)) = sent(&mut s).pop() else {
        panic!("no SUBSCRIBE after the reconnection");
    };
    s.on_bytes(&suback(again.pid, Granted::Failure), 0, at(3_001));
    assert_eq!(s.take_refused(), None);
    assert!(
        s.poll_log()
            .is_some_and(|l| l.contains("on a reconnection"))
    );
}
