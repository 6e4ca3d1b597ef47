//! The device against a scripted broker on a fake clock.

use std::collections::BTreeSet;

use super::*;
use crate::link::{Action, BACKOFF_CAP_MS, OPEN_TIMEOUT_MS, backoff_delay_ms};
use crate::mqtt::{ConnectReturnCode, Decoder, Packet, Publish, QosPid};
use crate::sensor::{AnomalyKind, Sample};
use crate::settings::SettingsForm;
use crate::testing::{EPOCH, at, connack};

/// The seed profile, whose samples are plain to reason about, and then `query`.
fn settings_with(query: &str) -> Settings {
    let mut form = SettingsForm::defaults("t3st");
    form.apply_query("profile=seed");
    form.apply_query(query);
    form.validate().unwrap()
}

/// The first sensor's samples with their fates, as the export sees them.
fn history(device: &Device) -> Vec<(Sample, Fate)> {
    device.sources[0].dataset.rows().copied().collect()
}

/// The CSV file the page would save for this one device.
fn export_csv(device: &Device) -> String {
    let mut csv = format!("{}\n", crate::sensor::csv_header());
    device.write_csv(&mut csv);
    csv
}

fn settings() -> Settings {
    settings_with("")
}

/// Plays the broker: reads the device's actions, answers as told.
struct Broker {
    decoder: Decoder,
    /// Open requests seen, and whether the socket is open now.
    opens: usize,
    open: bool,
    /// Every PUBLISH received, over all connections.
    publishes: Vec<Publish>,
}

impl Broker {
    fn new() -> Self {
        Self {
            decoder: Decoder::new(1 << 20),
            opens: 0,
            open: false,
            publishes: vec![],
        }
    }

    /// Takes the device's actions; returns the packets sent since the last call.
    fn take(&mut self, device: &mut Device) -> Vec<Packet> {
        let mut packets = vec![];
        while let Some(action) = device.poll_action() {
            match action {
                Action::Open { .. } => {
                    self.opens += 1;
                    self.open = true;
                    self.decoder.clear();
                }
                Action::Send(bytes) => {
                    assert!(self.open, "nothing is sent without an open socket");
                    self.decoder.push(&bytes);
                    while let Some(packet) = self.decoder.next_packet().unwrap() {
                        packets.push(packet);
                    }
                }
                Action::Close => self.open = false,
            }
        }
        for packet in &packets {
            if let Packet::Publish(publish) = packet {
                self.publishes.push(publish.clone());
            }
        }
        packets
    }

    /// Opens the socket and accepts the connection.
    fn accept(&mut self, device: &mut Device, now: Time) {
        self.take(device);
        assert!(self.open, "the device asked for a socket");
        device.on_open(now);
        assert!(matches!(self.take(device)[..], [Packet::Connect(_)]));
        device.on_bytes(&connack(ConnectReturnCode::Accepted), now);
    }

    /// Accepts the connection when the device has opened a socket and waits for it.
    fn accept_if_asked(&mut self, device: &mut Device, now: Time) {
        if self.open && device.link.session().is_disconnected() {
            device.on_open(now);
            self.take(device);
            device.on_bytes(&connack(ConnectReturnCode::Accepted), now);
        }
    }

    fn ack_all(&mut self, packets: &[Packet], device: &mut Device, now: Time) {
        for packet in packets {
            if let Packet::Publish(Publish {
                qos_pid: QosPid::AtLeastOnce(pid),
                ..
            }) = packet
            {
                device.on_bytes(&Packet::PubAck(*pid).to_bytes().unwrap(), now);
            }
        }
    }
}

fn sequences(publishes: &[Publish]) -> Vec<u64> {
    publishes
        .iter()
        .map(|p| {
            let json: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
            json["sequence"].as_u64().unwrap()
        })
        .collect()
}

fn publishes(packets: &[Packet]) -> Vec<Publish> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(publish) => Some(publish.clone()),
            _ => None,
        })
        .collect()
}

/// A device started and connected at time 0.
fn running_with(settings: Settings) -> (Device, Broker) {
    let mut device = Device::new(settings, 1);
    let mut broker = Broker::new();
    device.start(at(0));
    assert_eq!(device.status(at(0)).to_string(), "connecting");
    broker.accept(&mut device, at(0));
    assert_eq!(device.status(at(0)).to_string(), "connected");
    (device, broker)
}

fn running() -> (Device, Broker) {
    running_with(settings())
}

fn log_text(device: &mut Device) -> Vec<String> {
    std::iter::from_fn(|| device.poll_log())
        .map(|e| e.text)
        .collect()
}

#[test]
fn samples_are_due_every_interval_from_start_and_sent_after_connack() {
    let mut device = Device::new(settings(), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    assert_eq!(device.counters().queued, 1, "sample 1 is made at Start");
    assert_eq!(
        publishes(&broker.take(&mut device)),
        [],
        "nothing before CONNACK"
    );
    device.on_open(at(5));
    broker.take(&mut device);
    device.on_bytes(&connack(ConnectReturnCode::Accepted), at(10));
    for second in 1..=24u64 {
        device.on_timer(at(second * 1000));
    }
    broker.take(&mut device);
    let sent = &broker.publishes;
    assert_eq!(sequences(sent), (1..=25).collect::<Vec<_>>());
    for publish in sent {
        let json: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
        let sequence = json["sequence"].as_u64().unwrap();
        assert_eq!(json["anomaly"], sequence.is_multiple_of(10));
        assert_eq!(publish.topic, "device/infineon-sensor-01/telemetry");
        assert_eq!(publish.qos_pid.qos(), crate::mqtt::QoS::AtLeastOnce);
    }
    let c = device.counters();
    assert_eq!((c.published, c.acked, c.anomalies), (25, 0, 2));
    assert_eq!(c.in_flight, 25, "25 is within the window of 32");
}

#[test]
fn a_late_timer_makes_every_due_sample_with_its_own_timestamp() {
    let (mut device, mut broker) = running();
    device.on_timer(at(9_500)); // the tab was throttled for 9.5 s
    broker.take(&mut device);
    let stamps: Vec<String> = broker
        .publishes
        .iter()
        .map(|p| {
            let json: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
            json["timestamp"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(stamps.len(), 10);
    assert_eq!(stamps[0], "2026-11-26T17:00:00.000Z");
    assert_eq!(stamps[9], "2026-11-26T17:00:09.000Z");
    assert_eq!(
        device.poll_timeout(),
        Some(10_000),
        "the schedule does not drift"
    );
}

#[test]
fn acks_are_counted() {
    let (mut device, mut broker) = running();
    device.on_timer(at(1000));
    let packets = broker.take(&mut device);
    broker.ack_all(&packets, &mut device, at(1001));
    let c = device.counters();
    assert_eq!((c.published, c.acked, c.in_flight), (2, 2, 0));
}

#[test]
fn the_window_bounds_what_is_in_flight_and_the_rest_waits_in_order() {
    let (mut device, mut broker) = running_with(settings_with("max_inflight=4&interval=0.1"));
    device.on_timer(at(1_000));
    let first = broker.take(&mut device);
    assert_eq!(publishes(&first).len(), 4);
    assert_eq!(device.counters().queued, 7);
    broker.ack_all(&first, &mut device, at(1_001));
    let second = broker.take(&mut device);
    assert_eq!(publishes(&second).len(), 4, "each ack lets one more out");
    broker.ack_all(&second, &mut device, at(1_002));
    let third = broker.take(&mut device);
    broker.ack_all(&third, &mut device, at(1_003));
    assert_eq!(sequences(&broker.publishes), (1..=11).collect::<Vec<_>>());
}

#[test]
fn stop_waits_for_pubacks_then_disconnects_with_equal_totals() {
    let (mut device, mut broker) = running();
    device.on_timer(at(1000));
    let packets = broker.take(&mut device);
    device.stop(at(1100));
    assert_eq!(
        broker.take(&mut device),
        [],
        "waits while PUBACKs are in flight"
    );
    assert_eq!(device.poll_timeout(), Some(3100));
    device.on_timer(at(2000));
    assert_eq!(publishes(&broker.take(&mut device)), [], "no new samples");
    broker.ack_all(&packets, &mut device, at(2100));
    assert_eq!(broker.take(&mut device), [Packet::Disconnect]);
    assert!(!broker.open);
    assert_eq!(device.status(at(2100)).to_string(), "disconnected");
    let c = device.counters();
    assert_eq!((c.published, c.acked, c.dropped), (2, 2, 0));
    assert!(
        log_text(&mut device).contains(
            &"stopped: samples 2, published 2, acknowledged 2, anomalies injected 0, dropped 0, reconnects 0"
                .to_owned()
        )
    );
}

#[test]
fn stop_gives_up_waiting_after_two_seconds() {
    let (mut device, mut broker) = running();
    broker.take(&mut device);
    device.stop(at(500));
    device.on_timer(at(2499));
    assert_eq!(broker.take(&mut device), []);
    device.on_timer(at(2500));
    assert_eq!(broker.take(&mut device), [Packet::Disconnect]);
    // The sample never acknowledged is counted as dropped, and exported as such.
    let c = device.counters();
    assert_eq!((c.samples, c.acked, c.in_flight, c.dropped), (1, 0, 0, 1));
    assert_eq!(history(&device)[0].1, Fate::Unacknowledged);
    assert!(
        log_text(&mut device)
            .contains(&"1 sample(s) sent but never acknowledged: counted as dropped".to_owned())
    );
}

#[test]
fn stop_with_nothing_in_flight_disconnects_at_once() {
    let (mut device, mut broker) = running();
    let packets = broker.take(&mut device);
    broker.ack_all(&packets, &mut device, at(5));
    device.stop(at(10));
    assert_eq!(broker.take(&mut device), [Packet::Disconnect]);
    assert!(!device.is_active());
}

#[test]
fn a_lost_connection_reconnects_and_loses_nothing() {
    let (mut device, mut broker) = running();
    device.on_timer(at(2000));
    let packets = broker.take(&mut device);
    // Sample 1 is acknowledged; 2 and 3 are in flight when the connection drops.
    broker.ack_all(&packets[..1], &mut device, at(2001));
    device.on_closed(at(2500));
    broker.take(&mut device);
    assert!(!broker.open);
    let status = device.status(at(2500)).to_string();
    assert!(
        status.starts_with("reconnecting: attempt 2 in 1 s"),
        "{status}"
    );
    // Samples keep coming while disconnected.
    device.on_timer(at(3000));
    assert_eq!(device.counters().queued, 1);
    let wake = device.poll_timeout().unwrap();
    assert!(
        (3000..=3500).contains(&wake),
        "retry after the 0.75-1 s backoff: {wake}"
    );
    device.on_timer(at(3500));
    assert_eq!(
        device.status(at(3500)).to_string(),
        "reconnecting: attempt 2"
    );
    broker.accept(&mut device, at(3600));
    let after = broker.take(&mut device);
    let resent = publishes(&after);
    assert_eq!(
        sequences(&resent),
        [2, 3, 4],
        "re-sent first, then the queue, in order"
    );
    assert!(resent[0].dup && resent[1].dup && !resent[2].dup);
    let c = device.counters();
    assert_eq!((c.reconnects, c.redelivered, c.published), (1, 2, 4));
    assert_eq!(device.status(at(3600)).to_string(), "connected");
}

#[test]
fn backoff_doubles_to_a_30_second_cap_and_resets_after_a_connection_that_stayed_up() {
    let mut device = Device::new(settings(), 7);
    let mut broker = Broker::new();
    device.start(at(0));
    let mut now = 0;
    let mut delays = vec![];
    for _ in 0..8 {
        broker.take(&mut device);
        device.on_closed(at(now)); // the socket never opens
        let retry_at = device.poll_timeout().unwrap();
        // poll_timeout is the earlier of the retry and the next sample; walk to the retry.
        let mut t = now;
        while device.link.is_waiting() {
            t = device.poll_timeout().unwrap();
            device.on_timer(at(t));
        }
        assert!(retry_at <= t);
        delays.push(t - now);
        now = t;
    }
    let nominal = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
    for (delay, nominal) in delays.iter().zip(nominal) {
        assert!(
            (nominal * 3 / 4..=nominal).contains(delay),
            "{delays:?} against {nominal}"
        );
    }
    broker.accept(&mut device, at(now));
    assert_eq!(
        device.counters().reconnects,
        0,
        "the run's first connection is not a reconnection, however many tries it took"
    );
    // Dropped at once: no reset, the next wait is as long as the last.
    log_text(&mut device);
    device.on_closed(at(now + 10));
    let status = device.status(at(now + 10)).to_string();
    assert!(
        status.starts_with("reconnecting: attempt 10 in "),
        "no reset: {status}"
    );
    assert!(
        log_text(&mut device)
            .iter()
            .any(|l| l.contains("dropped right after connecting (0.0 s after CONNACK)"))
    );
    now = device.poll_timeout().unwrap().max(now + 30_000);
    device.on_timer(at(now));
    broker.accept(&mut device, at(now));
    assert_eq!(device.counters().reconnects, 1);
    // Up for 10 s, then lost: the backoff starts again from 1 s.
    device.on_timer(at(now + 10_000));
    device.on_closed(at(now + 10_000));
    let status = device.status(at(now + 10_000)).to_string();
    assert!(
        status.starts_with("reconnecting: attempt 2 in 1 s"),
        "reset: {status}"
    );
}

#[test]
fn a_broker_that_drops_the_client_right_after_connack_is_retried_with_growing_delays() {
    let mut device = Device::new(settings(), 3);
    let mut broker = Broker::new();
    device.start(at(0));
    let mut now = 0;
    let mut delays = vec![];
    for _ in 0..6 {
        broker.accept(&mut device, at(now));
        assert_eq!(device.status(at(now)).to_string(), "connected");
        device.on_closed(at(now + 50)); // a client-id takeover, an ACL kick
        broker.take(&mut device);
        let retry = device.poll_timeout().unwrap();
        let mut t = now + 50;
        while device.link.is_waiting() {
            t = device.poll_timeout().unwrap();
            device.on_timer(at(t));
        }
        assert!(retry <= t);
        delays.push(t - (now + 50));
        now = t;
    }
    let nominal = [1000, 2000, 4000, 8000, 16_000, 30_000];
    for (delay, nominal) in delays.iter().zip(nominal) {
        assert!(
            (nominal * 3 / 4..=nominal).contains(delay),
            "{delays:?} against {nominal}"
        );
    }
    assert_eq!(device.counters().reconnects, 5);
}

#[test]
fn backoff_delays_stay_within_bounds_for_any_jitter() {
    for retry in 1..40 {
        for jitter in [0.0, 0.3, 0.999_999] {
            let delay = backoff_delay_ms(retry, jitter);
            assert!(
                (750..=BACKOFF_CAP_MS).contains(&delay),
                "{retry} {jitter} {delay}"
            );
        }
    }
}

#[test]
fn a_refused_connection_shows_the_reason_in_words_and_is_retried_with_backoff() {
    let mut device = Device::new(settings(), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.take(&mut device);
    device.on_open(at(1));
    broker.take(&mut device);
    device.on_bytes(&connack(ConnectReturnCode::NotAuthorized), at(2));
    let status = device.status(at(2)).to_string();
    assert!(
        status.starts_with("error: not authorized; retrying: attempt 2 in"),
        "{status}"
    );
    assert_eq!(broker.take(&mut device), []);
    assert!(!broker.open, "the refused socket is closed");
    // No tight loop: nothing happens before the backoff ends.
    device.on_timer(at(700));
    assert_eq!(broker.opens, 1);
    device.on_timer(at(1002));
    broker.take(&mut device);
    assert_eq!(broker.opens, 2);
}

#[test]
fn stop_cancels_a_pending_retry() {
    let mut device = Device::new(settings(), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.take(&mut device);
    device.on_closed(at(10));
    device.stop(at(20));
    assert!(!device.is_active());
    assert_eq!(device.status(at(20)).to_string(), "disconnected");
    device.on_timer(at(60_000));
    broker.take(&mut device);
    assert_eq!(broker.opens, 1, "no retry after Stop");
    assert_eq!(device.counters().dropped, 1, "the unsent sample is counted");
}

#[test]
fn a_full_queue_drops_the_oldest_counts_it_and_logs_once_per_burst() {
    let mut device = Device::new(settings_with("queue=5"), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.take(&mut device);
    device.on_closed(at(1)); // broker down
    log_text(&mut device);
    // 30 s without a connection: the device retries and fails, and samples pile up.
    for second in 1..=30u64 {
        device.on_timer(at(second * 1000));
        if broker.take(&mut device).is_empty() && broker.open {
            device.on_closed(at(second * 1000));
        }
    }
    let c = device.counters();
    assert_eq!(c.queued, 5);
    assert_eq!(c.dropped, 26);
    let full = log_text(&mut device)
        .into_iter()
        .filter(|l| l.starts_with("offline queue full"))
        .count();
    assert_eq!(full, 1, "once per burst");
    // Back online: the five newest go out, in order.
    while !broker.open {
        let t = device.poll_timeout().unwrap();
        device.on_timer(at(t));
        broker.take(&mut device);
    }
    let now = at(device.poll_timeout().unwrap());
    device.on_open(now);
    broker.take(&mut device);
    device.on_bytes(&connack(ConnectReturnCode::Accepted), now);
    broker.take(&mut device);
    let made = device.sources[0].generator.sequence();
    assert_eq!(
        sequences(&broker.publishes),
        (made - 4..=made).collect::<Vec<_>>(),
        "the five newest, in order"
    );
}

#[test]
fn a_text_frame_is_a_protocol_error_and_the_device_reconnects() {
    let (mut device, mut broker) = running();
    broker.take(&mut device);
    device.on_text_frame(at(1));
    assert_eq!(broker.take(&mut device), []);
    assert!(!broker.open);
    let status = device.status(at(1)).to_string();
    assert!(
        status.contains("protocol error: broker sent a text frame"),
        "{status}"
    );
    assert!(status.starts_with("reconnecting"));
}

#[test]
fn hostile_bytes_close_the_connection_and_the_device_reconnects() {
    let (mut device, mut broker) = running();
    broker.take(&mut device);
    device.on_bytes(&[0x40, 0x02, 0x03, 0x09], at(5)); // PUBACK for an id never sent
    broker.take(&mut device);
    assert!(!broker.open);
    let status = device.status(at(5)).to_string();
    assert!(
        status.contains("PUBACK for unknown packet id 777"),
        "{status}"
    );
    let retry = device.poll_timeout().unwrap();
    device.on_timer(at(retry.max(1005)));
    broker.take(&mut device);
    assert_eq!(broker.opens, 2);
}

#[test]
fn no_sample_is_lost_across_many_cuts() {
    // The broker acknowledges two PUBLISHes in three and the connection is cut every 12 s
    // (after the 10 s that make it stable), for 10 minutes at 5 samples a second.
    // A window large enough that the never-acknowledged third does not clog it between cuts.
    let (mut device, mut broker) = running_with(settings_with("interval=0.2&max_inflight=500"));
    let mut acked_ids = BTreeSet::new();
    let mut now = 0;
    let mut received = 0;
    while now < 600_000 {
        now += 100;
        device.on_timer(at(now));
        let packets = broker.take(&mut device);
        for (i, packet) in publishes(&packets).iter().enumerate() {
            received += 1;
            if (received + i) % 3 != 0 {
                let pid = packet.qos_pid.packet_id().unwrap();
                acked_ids.insert(pid);
                device.on_bytes(&Packet::PubAck(pid).to_bytes().unwrap(), at(now));
            }
        }
        if now % 12_000 == 0 && broker.open {
            device.on_closed(at(now));
        }
        if broker.open
            && !device.link.session().is_connected()
            && !device.link.session().is_disconnected()
        {
            continue;
        }
        broker.accept_if_asked(&mut device, at(now));
    }
    device.stop(at(now));
    while device.is_active() {
        now += 100;
        let packets = broker.take(&mut device);
        broker.ack_all(&packets, &mut device, at(now));
        device.on_timer(at(now));
    }
    broker.take(&mut device);
    let made = device.sources[0].generator.sequence();
    let delivered: BTreeSet<u64> = sequences(&broker.publishes).into_iter().collect();
    let c = device.counters();
    // Nothing overflowed the queue; what the broker never acknowledged (the third it ignored
    // since the last cut) is counted as dropped at Stop, though it did reach the broker.
    assert!(
        !history(&device)
            .iter()
            .any(|(_, fate)| *fate == Fate::Dropped),
        "the queue never overflowed"
    );
    assert_every_sample_accounted_for(&device);
    assert_eq!(
        delivered,
        (1..=made).collect::<BTreeSet<_>>(),
        "every sample reached the broker at least once"
    );
    assert!(c.reconnects >= 45, "{c:?}");
    assert!(c.redelivered > 0, "{c:?}");
}

#[test]
fn a_second_run_starts_again_from_sequence_one() {
    let (mut device, mut broker) = running();
    let packets = broker.take(&mut device);
    broker.ack_all(&packets, &mut device, at(5));
    device.stop(at(10));
    broker.take(&mut device);
    device.start(at(3000));
    broker.accept(&mut device, at(3000));
    broker.take(&mut device);
    assert_eq!(sequences(&broker.publishes), [1, 1]);
    assert_eq!(device.counters().published, 1);
}

#[test]
fn the_last_payload_is_kept_for_the_page() {
    let mut device = Device::new(settings(), 1);
    assert_eq!(device.last_payload(), None);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.accept(&mut device, at(0));
    let payload: serde_json::Value = serde_json::from_str(device.last_payload().unwrap()).unwrap();
    assert_eq!(payload["sequence"], 1);
    assert_eq!(payload["timestamp"], "2026-11-26T17:00:00.000Z");
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Row {
    sequence: u64,
    timestamp: String,
    device_id: String,
    sensor_type: String,
    pressure_hpa: f64,
    temperature_c: f64,
    anomaly: bool,
    anomaly_kind: Option<String>,
    anomaly_id: Option<u64>,
    status: String,
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Line {
    timestamp: String,
    device_id: String,
    sensor_type: String,
    sequence: u64,
    anomaly: bool,
    anomaly_kind: Option<String>,
    anomaly_id: Option<u64>,
    data: Data,
    status: String,
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Data {
    pressure: f64,
    temperature: f64,
}

/// A realistic run with every kind of anomaly, a dropout, a full queue and a Stop.
fn eventful_run() -> Device {
    let settings = {
        let mut form = SettingsForm::defaults("t3st");
        form.apply_query(
            "device_id=lab,\"7\"&seed=5&anomaly_mode=every&anomaly_every=15&queue=20\
             &anomaly_kinds=spike,step,stuck,noise,out_of_range&start=2026-01-01T00:00:00Z",
        );
        form.validate().unwrap()
    };
    let mut device = Device::new(settings, 1);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.accept(&mut device, at(0));
    for second in 1..=260u64 {
        if second == 200 {
            device.inject(AnomalyKind::Dropout, None, at(second * 1000));
        }
        device.on_timer(at(second * 1000));
        let packets = broker.take(&mut device);
        // The broker is deaf between 100 s and 160 s: the queue fills and drops.
        if !(100..160).contains(&second) {
            broker.ack_all(&packets, &mut device, at(second * 1000));
        } else if second == 100 {
            device.on_closed(at(second * 1000));
            broker.take(&mut device);
        }
        if second == 160 {
            while !broker.open {
                let t = device.poll_timeout().unwrap();
                device.on_timer(at(t));
                broker.take(&mut device);
            }
            broker.accept(&mut device, at(second * 1000));
        }
    }
    device.stop(at(260_500));
    device
}

#[test]
fn exports_parse_back_into_the_same_samples_with_their_fates() {
    let device = eventful_run();
    let samples: Vec<(Sample, Fate)> = history(&device);
    assert_eq!(samples.len() as u64, device.sources[0].generator.sequence());
    let fates: BTreeSet<&str> = samples.iter().map(|(_, f)| f.name()).collect();
    assert_eq!(
        fates,
        ["dropout", "dropped", "acknowledged"].into_iter().collect()
    );

    let csv_text = export_csv(&device);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<Row> = reader.deserialize().map(Result::unwrap).collect();
    let mut jsonl = String::new();
    device.write_jsonl(&mut jsonl);
    let lines: Vec<Line> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), samples.len());
    assert_eq!(lines.len(), samples.len());
    for ((sample, fate), (row, line)) in samples.iter().zip(rows.iter().zip(&lines)) {
        let kind = sample.label.map(|l| l.kind.name().to_owned());
        let id = sample.label.map(|l| l.id);
        let timestamp = crate::sensor::format_rfc3339_millis(sample.timestamp_ms);
        assert_eq!(
            row,
            &Row {
                sequence: sample.sequence,
                timestamp: timestamp.clone(),
                device_id: "lab,\"7\"".into(),
                sensor_type: "DPS368".into(),
                pressure_hpa: sample.pressure_hpa,
                temperature_c: sample.temperature_c,
                anomaly: sample.is_anomaly(),
                anomaly_kind: kind.clone(),
                anomaly_id: id,
                status: fate.name().into(),
            }
        );
        assert_eq!(
            line,
            &Line {
                timestamp,
                device_id: "lab,\"7\"".into(),
                sensor_type: "DPS368".into(),
                sequence: sample.sequence,
                anomaly: sample.is_anomaly(),
                anomaly_kind: kind,
                anomaly_id: id,
                data: Data {
                    pressure: sample.pressure_hpa,
                    temperature: sample.temperature_c,
                },
                status: fate.name().into(),
            }
        );
    }
}

#[test]
fn a_start_time_stamps_sample_k_at_start_plus_k_intervals() {
    let device = eventful_run();
    for (sample, _) in history(&device).iter().take(5) {
        let expected = 1_767_225_600_000 + (sample.sequence as i64 - 1) * 1000;
        assert_eq!(sample.timestamp_ms, expected);
    }
}

#[test]
fn anomalies_are_counted_by_kind_and_dropouts_leave_a_gap() {
    let device = eventful_run();
    let c = device.counters();
    let events: u64 = c.events_by_kind.iter().sum();
    let ids: BTreeSet<u64> = history(&device)
        .iter()
        .filter_map(|(s, _)| s.label.map(|l| l.id))
        .collect();
    assert_eq!(events, ids.len() as u64, "{c:?}");
    assert!(events >= 10, "{c:?}");
    assert!(c.events_by_kind[AnomalyKind::Dropout.index()] >= 1);
    let labelled = history(&device)
        .iter()
        .filter(|(s, _)| s.is_anomaly())
        .count() as u64;
    assert_eq!(c.anomalies, labelled);
    // Dropout samples are never published: their sequence numbers are missing on the wire.
    for (sample, fate) in &history(&device) {
        assert_eq!(*fate == Fate::Dropout, !sample.is_reported());
    }
}

#[test]
fn the_history_keeps_the_newest_100000_samples() {
    let mut device = Device::new(settings_with("interval=0.01&anomaly_mode=off"), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.accept(&mut device, at(0));
    let mut now = 0;
    while device.sources[0].generator.sequence() < 100_050 {
        now += 1000;
        device.on_timer(at(now));
        let packets = broker.take(&mut device);
        broker.ack_all(&packets, &mut device, at(now));
    }
    assert_eq!(history(&device).len(), HISTORY_LIMIT);
    assert_eq!(
        history(&device).first().unwrap().0.sequence,
        device.sources[0].generator.sequence() - 99_999
    );
}

/// Stops `device` and plays the broker, acknowledging every PUBLISH, until it is idle.
fn run_to_idle(device: &mut Device, broker: &mut Broker, mut now: u64) -> u64 {
    device.stop(at(now));
    while device.is_active() {
        now += 100;
        let packets = broker.take(device);
        broker.ack_all(&packets, device, at(now));
        device.on_timer(at(now));
    }
    broker.take(device);
    now
}

/// `acked + dropped == samples`, and the export agrees: every reported sample is acknowledged,
/// dropped or unacknowledged.
fn assert_every_sample_accounted_for(device: &Device) {
    let c = device.counters();
    assert_eq!(c.acked + c.dropped, c.samples, "{c:?}");
    assert_eq!((c.queued, c.in_flight), (0, 0), "{c:?}");
    if c.samples + c.dropouts > HISTORY_LIMIT as u64 {
        return; // the export holds only the newest samples
    }
    let count = |fate| history(device).iter().filter(|(_, f)| *f == fate).count() as u64;
    assert_eq!(count(Fate::Acknowledged), c.acked, "{c:?}");
    assert_eq!(
        count(Fate::Dropped) + count(Fate::Unacknowledged),
        c.dropped,
        "{c:?}"
    );
    assert_eq!(count(Fate::Dropout), c.dropouts, "{c:?}");
    assert_eq!(count(Fate::Queued) + count(Fate::InFlight), 0);
}

#[test]
fn stop_while_reconnecting_counts_the_unacknowledged_as_dropped() {
    let (mut device, mut broker) = running_with(settings_with("interval=0.1"));
    for t in (100..=1000).step_by(100) {
        device.on_timer(at(t));
    }
    let packets = broker.take(&mut device);
    assert_eq!(publishes(&packets).len(), 11);
    // Four acknowledged, then the connection is lost with seven in flight.
    broker.ack_all(&packets[..4], &mut device, at(1000));
    device.on_closed(at(1000));
    device.on_timer(at(1100));
    device.stop(at(1150));
    assert_eq!(device.status(at(1150)).to_string(), "disconnected");
    let c = device.counters();
    assert_eq!((c.samples, c.acked, c.dropped), (12, 4, 8), "{c:?}");
    assert_every_sample_accounted_for(&device);
    let export = export_csv(&device);
    assert_eq!(export.matches(",unacknowledged\n").count(), 7);
    assert_eq!(export.matches(",dropped\n").count(), 1, "the queued one");
    let log = log_text(&mut device);
    assert!(log.contains(&"7 sample(s) sent but never acknowledged: counted as dropped".into()));
}

#[test]
fn every_sample_is_accounted_for_at_stop_whatever_the_broker_does() {
    // A broker that loses PUBACKs, cuts the connection and is slow, and a Stop at many points.
    for stop_at in (3_000..60_000).step_by(3_700) {
        let (mut device, mut broker) = running_with(settings_with("interval=0.05&queue=50"));
        let mut now = 0;
        while now < stop_at {
            now += 100;
            device.on_timer(at(now));
            let packets = broker.take(&mut device);
            let keep: Vec<Packet> = packets
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !(now / 100 + *i as u64).is_multiple_of(4))
                .map(|(_, p)| p)
                .collect();
            broker.ack_all(&keep, &mut device, at(now));
            if now % 2_300 == 0 && broker.open {
                device.on_closed(at(now));
            }
            broker.accept_if_asked(&mut device, at(now));
        }
        device.stop(at(now));
        // The broker answers nothing more: what is in flight at the end stays unacknowledged.
        while device.is_active() {
            now += 100;
            broker.take(&mut device);
            device.on_timer(at(now));
        }
        assert_every_sample_accounted_for(&device);
        assert_eq!(
            device.counters().samples,
            device.sources[0].generator.sequence()
        );
    }
}

#[test]
fn a_frame_of_ten_thousand_pubacks_is_handled_without_recursion() {
    // Run on a small stack: the old pump -> flush -> pump nesting took a frame per PUBACK.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let (mut device, mut broker) = running_with(settings_with(
                "interval=0.01&max_inflight=65535&queue=20000",
            ));
            // 100 s of samples at 100 a second while the broker is silent: the window fills.
            device.on_timer(at(100_000));
            let packets = broker.take(&mut device);
            assert_eq!(publishes(&packets).len(), 10_001);
            let frame: Vec<u8> = publishes(&packets)
                .iter()
                .take(10_000)
                .flat_map(|p| {
                    Packet::PubAck(p.qos_pid.packet_id().unwrap())
                        .to_bytes()
                        .unwrap()
                })
                .collect();
            device.on_bytes(&frame, at(100_001));
            assert_eq!(device.counters().acked, 10_000);
            assert_eq!(device.counters().in_flight, 1);
        })
        .unwrap();
    handle.join().expect("no stack overflow");
}

#[test]
fn a_socket_that_never_opens_times_out_after_ten_seconds_and_is_retried() {
    let mut device = Device::new(settings(), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    broker.take(&mut device);
    assert!(device.poll_timeout().unwrap() <= OPEN_TIMEOUT_MS);
    device.on_timer(at(9_999));
    assert_eq!(device.status(at(9_999)).to_string(), "connecting");
    device.on_timer(at(10_000));
    assert!(!broker.open || broker.take(&mut device).is_empty());
    let status = device.status(at(10_000)).to_string();
    assert!(
        status.starts_with("reconnecting: attempt 2 in ")
            && status.ends_with("(cannot connect to ws://localhost:9001: no answer in 10 s)"),
        "{status}"
    );
    assert!(device.poll_action().is_none());
    while device.link.is_waiting() {
        let t = device.poll_timeout().unwrap();
        device.on_timer(at(t));
    }
    assert!(matches!(device.poll_action(), Some(Action::Open { .. })));
}

#[test]
fn stopping_shows_in_the_status_and_refuses_injections() {
    let (mut device, mut broker) = running();
    broker.take(&mut device);
    device.stop(at(100));
    assert_eq!(device.status(at(100)), Status::Stopping);
    assert_eq!(device.status(at(100)).to_string(), "stopping");
    device.inject(AnomalyKind::Spike, None, at(150));
    assert!(
        !log_text(&mut device)
            .iter()
            .any(|l| l.starts_with("injecting"))
    );
    device.on_timer(at(2100));
    assert_eq!(device.status(at(2100)), Status::Stopped(None));
}

#[test]
fn after_a_sleep_the_catch_up_is_bounded_by_the_queue_and_logged_once() {
    let (mut device, mut broker) = running_with(settings_with("interval=0.01&queue=100"));
    broker.take(&mut device);
    log_text(&mut device);
    // The laptop sleeps an hour: the wall clock moves on, the monotonic clock stood still.
    let wake = Time {
        mono_ms: 10,
        wall_ms: EPOCH + 3_600_000,
    };
    device.on_timer(wake);
    assert_eq!(
        device.sources[0].generator.sequence(),
        CATCH_UP_CHUNK + 1,
        "one chunk per call"
    );
    assert_eq!(device.poll_timeout(), Some(10), "the rest at once");
    // Each chunk comes a few milliseconds later, as in a real tab: the drop extends, and the
    // warning is not repeated.
    let mut wake = wake;
    let mut calls = 1;
    while device.poll_timeout() <= Some(wake.mono_ms) {
        wake.mono_ms += 3;
        wake.wall_ms += 3;
        device.on_timer(wake);
        calls += 1;
        assert!(calls < 30, "the catch-up ends");
    }
    let made = device.sources[0].generator.sequence();
    assert_eq!(
        made,
        360_001 + (wake.wall_ms - EPOCH - 3_600_000) as u64 / 10,
        "every due sample was made"
    );
    let c = device.counters();
    // Sample 1 went out before the sleep; of the rest only the newest 100 were queued.
    assert_eq!(c.dropped, made - 1 - 100);
    assert_eq!(c.published + c.queued, 1 + 100);
    let warnings: Vec<String> = log_text(&mut device)
        .into_iter()
        .filter(|l| l.contains("came due while the page could not run"))
        .collect();
    assert_eq!(
        warnings,
        [
            "360000 sample(s) came due while the page could not run: more than the offline queue holds (100), so the oldest 359900 are dropped"
        ]
    );
    // The newest keep their own timestamps; the export keeps the dropped ones, labelled.
    let last = history(&device).last().unwrap().0;
    assert_eq!(last.timestamp_ms, EPOCH + (made as i64 - 1) * 10);
    assert_eq!(history(&device).len(), HISTORY_LIMIT);
    run_to_idle(&mut device, &mut broker, 10);
    assert_every_sample_accounted_for(&device);
    // The 100 queued were acknowledged; sample 1, sent before the sleep and never
    // acknowledged, was counted as dropped at Stop.
    assert_eq!(device.counters().acked, 100);
    assert_eq!(device.counters().dropped, made - 100);
}

#[test]
fn a_wall_clock_set_back_neither_stops_nor_repeats_samples() {
    let (mut device, mut broker) = running();
    let mut stamps = vec![];
    for second in 1..=20u64 {
        // At 10 s the wall clock jumps back an hour, at 15 s it is put right again; the
        // monotonic clock carries on.
        let wall_back = if (10..15).contains(&second) {
            3_600_000
        } else {
            0
        };
        let now = Time {
            mono_ms: second * 1000,
            wall_ms: EPOCH + (second * 1000) as i64 - wall_back,
        };
        device.on_timer(now);
        let packets = broker.take(&mut device);
        stamps.extend(publishes(&packets).iter().map(|p| {
            let json: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
            json["timestamp"].as_str().unwrap().to_owned()
        }));
        broker.ack_all(&packets, &mut device, now);
    }
    assert_eq!(
        stamps.len(),
        21,
        "one sample a second, none missed or repeated"
    );
    let mut sorted = stamps.clone();
    sorted.dedup();
    assert_eq!(sorted, stamps);
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
}

/// Runs a device in blind mode for `seconds` samples with every PUBLISH acknowledged, then
/// stops it; returns what the broker received.
fn blind_run(query: &str, seconds: u64) -> (Device, Broker) {
    let (mut device, mut broker) = running_with(settings_with(&format!(
        "labels=topic&device_id=lab&{query}"
    )));
    for second in 1..=seconds {
        device.on_timer(at(second * 1000));
        let packets = broker.take(&mut device);
        broker.ack_all(&packets, &mut device, at(second * 1000));
    }
    run_to_idle(&mut device, &mut broker, seconds * 1000 + 100);
    (device, broker)
}

/// The label messages the broker got, as JSON, in order.
fn labels_received(broker: &Broker) -> Vec<serde_json::Value> {
    broker
        .publishes
        .iter()
        .filter(|p| p.topic == "device/lab/labels")
        .map(|p| {
            assert!(
                matches!(p.qos_pid, QosPid::AtLeastOnce(_)),
                "labels go at QoS 1"
            );
            serde_json::from_slice(&p.payload).unwrap()
        })
        .collect()
}

#[test]
fn blind_mode_hides_the_answer_and_publishes_each_event_once_as_it_ends() {
    let (device, broker) = blind_run(
        "anomaly_every=7&anomaly_kinds=spike,step,drift,stuck,noise,dropout,out_of_range&seed=3",
        150,
    );
    let telemetry: Vec<serde_json::Value> = broker
        .publishes
        .iter()
        .filter(|p| p.topic == "device/lab/telemetry")
        .map(|p| serde_json::from_slice(&p.payload).unwrap())
        .collect();
    assert!(telemetry.len() > 100);
    for json in &telemetry {
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        for hidden in ["anomaly", "anomaly_kind", "anomaly_id"] {
            assert!(!keys.contains(&hidden), "{json}");
        }
        assert!(json["data"]["pressure"].is_number(), "{json}");
    }
    // The ground truth, from the export (which keeps every label): each event's id, kind and
    // first and last sequence.
    let mut events: Vec<(u64, String, u64, u64)> = vec![];
    for (sample, _) in history(&device) {
        let Some(label) = sample.label else { continue };
        match events.last_mut() {
            Some(event) if event.0 == label.id => event.3 = sample.sequence,
            _ => events.push((
                label.id,
                label.kind.to_string(),
                sample.sequence,
                sample.sequence,
            )),
        }
    }
    assert!(events.len() >= 10, "{events:?}");
    let labels = labels_received(&broker);
    let received: Vec<(u64, String, u64, u64)> = labels
        .iter()
        .map(|l| {
            (
                l["anomaly_id"].as_u64().unwrap(),
                l["kind"].as_str().unwrap().to_owned(),
                l["first_sequence"].as_u64().unwrap(),
                l["last_sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        received, events,
        "one label per event, in order, exactly once"
    );
    let first = &labels[0];
    assert_eq!(first["device_id"], "lab");
    assert_eq!(
        (
            first["anomaly_scale"].as_f64(),
            first["anomaly_duration"].as_f64()
        ),
        (Some(1.0), Some(1.0))
    );
    // A label names the timestamps of its first and last samples.
    let stamp = |sequence: u64| {
        let (sample, _) = history(&device)[sequence as usize - 1];
        crate::sensor::format_rfc3339_millis(sample.timestamp_ms)
    };
    for label in &labels {
        assert_eq!(
            label["start"],
            stamp(label["first_sequence"].as_u64().unwrap()).as_str()
        );
        assert_eq!(
            label["end"],
            stamp(label["last_sequence"].as_u64().unwrap()).as_str()
        );
    }
    // A label goes out once its event has ended, never before its last sample is made (a
    // dropout's samples are never sent, so only the others can be checked on the wire).
    let mut made_before = 0;
    for publish in &broker.publishes {
        if publish.topic == "device/lab/telemetry" {
            let json: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
            made_before = made_before.max(json["sequence"].as_u64().unwrap());
        } else if publish.topic == "device/lab/labels" {
            let json: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
            if json["kind"] == "dropout" {
                continue;
            }
            assert!(
                json["last_sequence"].as_u64().unwrap() <= made_before + 1,
                "{json}"
            );
        }
    }
    let counts = device.label_counts();
    let n = events.len() as u64;
    assert_eq!(
        (counts.made, counts.published, counts.acked, counts.dropped),
        (n, n, n, 0)
    );
    assert_every_sample_accounted_for(&device);
}

#[test]
fn inline_mode_publishes_no_labels_and_keeps_the_answer_in_the_payload() {
    let (device, broker) = blind_run("labels=inline&anomaly_every=5", 20);
    assert_eq!(labels_received(&broker), Vec::<serde_json::Value>::new());
    assert_eq!(device.label_counts(), LabelCounts::default());
    let json: serde_json::Value = serde_json::from_slice(&broker.publishes[0].payload).unwrap();
    assert_eq!(json["anomaly"], false);
}

#[test]
fn stop_mid_event_ends_the_label_at_the_last_sample_made() {
    // Drift lasts 10 samples: the event starting at sequence 4 is cut by Stop after sample 9
    // (the first sample is made at 0 s, the ninth at 8 s).
    let (device, broker) = blind_run("anomaly_every=4&anomaly_kinds=drift", 8);
    let labels = labels_received(&broker);
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0]["first_sequence"], 4);
    assert_eq!(labels[0]["last_sequence"], 9);
    assert_eq!(device.sources[0].generator.sequence(), 9);
    assert_eq!(device.label_counts().acked, 1);
}

#[test]
fn labels_left_unsent_at_stop_are_counted_as_dropped() {
    let (mut device, mut broker) = running_with(settings_with(
        "labels=topic&anomaly_every=2&anomaly_kinds=spike",
    ));
    device.on_closed(at(500));
    broker.take(&mut device);
    for second in 1..=10 {
        device.on_timer(at(second * 1000));
        broker.take(&mut device);
    }
    device.stop(at(10_500));
    let counts = device.label_counts();
    assert!(counts.made >= 4, "{counts:?}");
    assert_eq!((counts.acked, counts.dropped), (0, counts.made));
    assert!(
        log_text(&mut device)
            .iter()
            .any(|l| l.starts_with("labels: ") && l.ends_with(" dropped"))
    );
    assert_every_sample_accounted_for(&device);
}

#[test]
fn a_label_unacknowledged_when_the_connection_drops_is_sent_again_after_the_reconnect() {
    let (mut device, mut broker) = running_with(settings_with(
        "labels=topic&anomaly_every=3&anomaly_kinds=spike&device_id=lab",
    ));
    // Samples 1..=3 at 0, 1, 2 s: the spike at 3 ends at once and its label goes out.
    for second in 1..=2 {
        device.on_timer(at(second * 1000));
    }
    let sent = publishes(&broker.take(&mut device));
    let label = sent
        .iter()
        .find(|p| p.topic == "device/lab/labels")
        .cloned();
    let label = label.expect("the label went out");
    // No PUBACK: the connection drops, and the label comes again, with DUP, after CONNACK.
    device.on_closed(at(2500));
    broker.take(&mut device);
    while !broker.open {
        let t = device.poll_timeout().unwrap();
        device.on_timer(at(t));
        broker.take(&mut device);
    }
    let now = device.poll_timeout().unwrap();
    broker.accept(&mut device, at(now));
    let again = publishes(&broker.take(&mut device));
    let resent: Vec<&Publish> = again
        .iter()
        .filter(|p| p.topic == "device/lab/labels")
        .collect();
    assert_eq!(resent.len(), 1, "{again:?}");
    assert!(resent[0].dup);
    assert_eq!(resent[0].payload, label.payload);
    broker.ack_all(
        &again.into_iter().map(Packet::Publish).collect::<Vec<_>>(),
        &mut device,
        at(now),
    );
    assert_eq!(device.label_counts().acked, 1);
}

#[test]
fn a_full_label_queue_drops_its_oldest_label_and_counts_it() {
    // Offline from the start, a queue of 3: the spikes at 2, 4, 6, 8 and 10 make five labels;
    // the two oldest go.
    let mut device = Device::new(
        settings_with("labels=topic&anomaly_every=2&anomaly_kinds=spike&queue=3&device_id=lab"),
        1,
    );
    let mut broker = Broker::new();
    device.start(at(0));
    broker.take(&mut device);
    for second in 1..=9 {
        device.on_timer(at(second * 1000));
        broker.take(&mut device);
    }
    assert_eq!(
        device
            .outbox
            .labels_waiting()
            .map(|t| t.first_sequence)
            .collect::<Vec<_>>(),
        [6, 8, 10]
    );
    let counts = device.label_counts();
    assert_eq!((counts.made, counts.dropped), (5, 2));
    assert!(
        log_text(&mut device).contains(&"label queue full: dropping the oldest label".to_owned())
    );
    // Connected at last, the three kept go out, ahead of the queued samples.
    broker.accept_if_asked(&mut device, at(9500));
    let now = device.poll_timeout().unwrap_or(9500).max(9500);
    device.on_timer(at(now));
    broker.accept_if_asked(&mut device, at(now));
    let sent = publishes(&broker.take(&mut device));
    let firsts: Vec<u64> = sent
        .iter()
        .filter(|p| p.topic == "device/lab/labels")
        .map(|p| {
            serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap()["first_sequence"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(firsts, [6, 8, 10], "{sent:?}");
}

#[test]
fn a_signed_broker_urls_query_is_never_logged_but_the_socket_opens_it() {
    let url = "wss://broker.example/mqtt?X-Amz-Signature=s3cret";
    let mut device = Device::new(settings_with(&format!("broker={url}")), 1);
    device.start(at(0));
    let opened = std::iter::from_fn(|| device.poll_action()).find_map(|action| match action {
        Action::Open { url } => Some(url),
        _ => None,
    });
    assert_eq!(
        opened.as_deref(),
        Some(url),
        "the socket opens the URL as given"
    );
    device.on_closed(at(10));
    device.stop(at(20));
    let log = log_text(&mut device).join("\n");
    assert!(
        log.contains("starting: wss://broker.example/mqtt?(query hidden)"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
    assert!(!format!("{:?}", device.settings()).contains("s3cret"));
}
