//! The device against a scripted broker on a fake clock.

use super::*;
use crate::mqtt::{ConnAck, ConnectReturnCode, Decoder, Packet, PacketId, Publish, QosPid};
use crate::settings::SettingsForm;

fn at(ms: u64) -> Time {
    Time {
        mono_ms: ms,
        wall_ms: 1_795_712_400_000 + ms as i64,
    }
}

fn settings() -> Settings {
    SettingsForm::defaults("t3st").validate().unwrap()
}

/// Plays the broker: reads the device's actions, answers as told.
struct Broker {
    decoder: Decoder,
    open: bool,
    closed: bool,
    received: Vec<Packet>,
}

impl Broker {
    fn new() -> Self {
        Self {
            decoder: Decoder::new(1 << 20),
            open: false,
            closed: false,
            received: vec![],
        }
    }

    /// Takes the device's actions; returns the packets sent since the last call.
    fn take(&mut self, device: &mut Device) -> Vec<Packet> {
        let mut packets = vec![];
        while let Some(action) = device.poll_action() {
            match action {
                Action::Open { .. } => {
                    self.open = true;
                    self.closed = false;
                    self.decoder.clear();
                }
                Action::Send(bytes) => {
                    assert!(!self.closed, "nothing is sent after Close");
                    self.decoder.push(&bytes);
                    while let Some(packet) = self.decoder.next_packet().unwrap() {
                        packets.push(packet);
                    }
                }
                Action::Close => self.closed = true,
            }
        }
        self.received.extend(packets.clone());
        packets
    }

    fn ack_all(&self, packets: &[Packet], device: &mut Device, now: Time) {
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

fn connack(code: ConnectReturnCode) -> Vec<u8> {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    })
    .to_bytes()
    .unwrap()
}

/// A device that has connected at time 0.
fn running() -> (Device, Broker) {
    let mut device = Device::new(settings(), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    assert_eq!(device.status(), &Status::Connecting);
    broker.take(&mut device);
    assert!(broker.open);
    device.on_open(at(0));
    assert!(matches!(broker.take(&mut device)[..], [Packet::Connect(_)]));
    device.on_bytes(&connack(ConnectReturnCode::Accepted), at(0));
    assert_eq!(device.status(), &Status::Connected);
    (device, broker)
}

fn publishes(packets: &[Packet]) -> Vec<serde_json::Value> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(publish) => Some(serde_json::from_slice(&publish.payload).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn status_text_is_what_the_page_shows() {
    assert_eq!(Status::Disconnected.to_string(), "disconnected");
    assert_eq!(Status::Connecting.to_string(), "connecting");
    assert_eq!(Status::Connected.to_string(), "connected");
    assert_eq!(
        Status::Error("connection lost".into()).to_string(),
        "error: connection lost"
    );
}

#[test]
fn samples_go_out_every_interval_from_connack() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
    assert_eq!(device.poll_timeout(), Some(1000));
    for second in 1..=24u64 {
        device.on_timer(at(second * 1000));
    }
    let packets = broker.take(&mut device);
    let samples = publishes(&packets);
    assert_eq!(samples.len(), 25);
    for (i, sample) in samples.iter().enumerate() {
        assert_eq!(sample["sequence"], i as u64 + 1);
        assert_eq!(sample["device_id"], "infineon-sensor-01");
        assert_eq!(sample["anomaly"], (i + 1) % 10 == 0);
    }
    let Packet::Publish(first) = &packets[0] else {
        panic!()
    };
    assert_eq!(first.topic, "device/infineon-sensor-01/telemetry");
    assert_eq!(first.qos_pid.qos(), crate::mqtt::QoS::AtLeastOnce);
    let c = device.counters();
    assert_eq!(
        (c.published, c.acked, c.in_flight, c.anomalies),
        (25, 0, 25, 2)
    );
}

#[test]
fn a_late_timer_makes_every_sample_that_came_due() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
    device.on_timer(at(9_500)); // the page was busy for 9.5 s
    assert_eq!(publishes(&broker.take(&mut device)).len(), 10);
    assert_eq!(
        device.poll_timeout(),
        Some(10_000),
        "the schedule does not drift"
    );
}

#[test]
fn acks_are_counted() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
    device.on_timer(at(1000));
    let packets = broker.take(&mut device);
    broker.ack_all(&packets, &mut device, at(1001));
    let c = device.counters();
    assert_eq!((c.published, c.acked, c.in_flight), (2, 2, 0));
}

#[test]
fn stop_waits_for_pubacks_then_disconnects_with_equal_totals() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
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
    assert_eq!(
        publishes(&broker.take(&mut device)),
        [] as [serde_json::Value; 0],
        "no new samples"
    );
    broker.ack_all(&packets, &mut device, at(2100));
    assert_eq!(broker.take(&mut device), [Packet::Disconnect]);
    assert!(broker.closed);
    assert_eq!(device.status(), &Status::Disconnected);
    let c = device.counters();
    assert_eq!((c.published, c.acked), (2, 2));
    let log: Vec<String> = std::iter::from_fn(|| device.poll_log())
        .map(|e| e.text)
        .collect();
    assert!(
        log.contains(&"stopped: published 2, acknowledged 2, anomalies injected 0".into()),
        "{log:?}"
    );
}

#[test]
fn stop_gives_up_waiting_after_two_seconds() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
    broker.take(&mut device);
    device.stop(at(500));
    device.on_timer(at(2499));
    assert_eq!(broker.take(&mut device), []);
    device.on_timer(at(2500));
    assert_eq!(broker.take(&mut device), [Packet::Disconnect]);
    assert!(broker.closed);
    assert_eq!(device.counters().in_flight, 1);
}

#[test]
fn stop_with_nothing_in_flight_disconnects_at_once() {
    let (mut device, mut broker) = running();
    device.stop(at(10));
    assert_eq!(broker.take(&mut device), [Packet::Disconnect]);
    assert!(!device.is_active());
}

#[test]
fn a_lost_connection_is_an_error_and_stops() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
    device.on_closed(at(500));
    assert_eq!(device.status(), &Status::Error("connection lost".into()));
    assert!(!device.is_active());
    broker.take(&mut device);
    device.on_timer(at(5000));
    assert_eq!(broker.take(&mut device), [], "nothing after the loss");
}

#[test]
fn an_unreachable_broker_says_so() {
    let mut device = Device::new(settings(), 1);
    device.start(at(0));
    device.on_closed(at(20));
    assert_eq!(
        device.status(),
        &Status::Error("cannot connect to ws://localhost:9001".into())
    );
}

#[test]
fn a_refused_connection_shows_the_reason_in_words() {
    let mut device = Device::new(settings(), 1);
    let mut broker = Broker::new();
    device.start(at(0));
    device.on_open(at(1));
    device.on_bytes(&connack(ConnectReturnCode::NotAuthorized), at(2));
    assert_eq!(device.status(), &Status::Error("not authorized".into()));
    broker.take(&mut device);
    assert!(broker.closed);
    device.on_timer(at(5000));
    assert_eq!(publishes(&broker.take(&mut device)).len(), 0);
}

#[test]
fn a_text_frame_is_a_protocol_error() {
    let (mut device, _) = running();
    device.on_text_frame(at(1));
    assert_eq!(
        device.status(),
        &Status::Error("protocol error: broker sent a text frame".into())
    );
}

#[test]
fn a_second_run_starts_again_from_sequence_one() {
    let (mut device, mut broker) = running();
    device.on_timer(at(0));
    device.stop(at(10));
    broker.take(&mut device);
    device.on_timer(at(2010));
    device.start(at(3000));
    device.on_open(at(3000));
    device.on_bytes(&connack(ConnectReturnCode::Accepted), at(3000));
    device.on_timer(at(3000));
    let samples = publishes(&broker.take(&mut device));
    assert_eq!(samples.last().unwrap()["sequence"], 1);
    assert_eq!(device.counters().published, 1);
}

#[test]
fn the_last_payload_is_kept_for_the_page() {
    let (mut device, _) = running();
    assert_eq!(device.last_payload(), None);
    device.on_timer(at(0));
    let payload: serde_json::Value = serde_json::from_str(device.last_payload().unwrap()).unwrap();
    assert_eq!(payload["sequence"], 1);
    assert_eq!(payload["timestamp"], "2026-11-26T17:00:00.000Z");
    assert_eq!(PacketId::new(1).map(|p| p.get()), Some(1));
}
