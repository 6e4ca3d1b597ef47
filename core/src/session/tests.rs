//! The session against a scripted broker on a fake clock.

use super::*;

/// The tests tag each PUBLISH with a number of their own.
type Session = super::Session<u64>;
type Event = super::Event<u64>;
use crate::mqtt::{ConnAck, Granted, QoS, SubAck, Subscribe};

/// The broker's side of the connection: reads what the session sent (one packet per
/// transmit, read as a server reads, SUBSCRIBE included), answers as scripted.
struct Broker;

impl Broker {
    fn new() -> Self {
        Self
    }

    /// Everything the session has sent since the last call, as packets.
    fn receive(&mut self, session: &mut Session) -> Vec<Packet> {
        std::iter::from_fn(|| session.poll_transmit())
            .map(|bytes| crate::mqtt::decode_as_server(&bytes).unwrap())
            .collect()
    }
}

fn bytes(packet: Packet) -> Vec<u8> {
    packet.to_bytes().unwrap()
}

fn connack(code: ConnectReturnCode) -> Vec<u8> {
    bytes(Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    }))
}

fn puback(pid: u16) -> Vec<u8> {
    bytes(Packet::PubAck(PacketId::new(pid).unwrap()))
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn config() -> SessionConfig {
    let mut config = SessionConfig::new("sensor-1");
    config.keep_alive_s = 60;
    config.username = Some("user".into());
    config.password = Some("pw".into());
    config
}

/// A session that has sent CONNECT and received CONNACK 0 at time 0.
fn connected() -> (Session, Broker) {
    let mut session = Session::new(config());
    let mut broker = Broker::new();
    session.connect(0);
    broker.receive(&mut session);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 0);
    assert_eq!(
        events(&mut session),
        [Event::Connected {
            session_present: false,
            redelivered: 0
        }]
    );
    (session, broker)
}

#[test]
fn connect_is_the_first_packet_and_carries_the_settings() {
    let mut session = Session::new(config());
    let mut broker = Broker::new();
    assert_eq!(
        broker.receive(&mut session),
        [],
        "nothing before the transport opens"
    );
    session.connect(0);
    let sent = broker.receive(&mut session);
    assert_eq!(
        sent,
        [Packet::Connect(Connect {
            client_id: "sensor-1".into(),
            clean_session: true,
            keep_alive: 60,
            username: Some("user".into()),
            password: Some(b"pw".to_vec()),
            will: None,
        })]
    );
}

#[test]
fn nothing_is_published_before_connack() {
    let mut session = Session::new(config());
    assert_eq!(
        session.publish("t", vec![1], 0, 0),
        Err(PublishError::NotConnected)
    );
    session.connect(0);
    assert_eq!(
        session.publish("t", vec![1], 0, 0),
        Err(PublishError::NotConnected)
    );
    let mut broker = Broker::new();
    assert_eq!(broker.receive(&mut session).len(), 1, "only CONNECT");
}

#[test]
fn publish_is_qos1_and_puback_settles_it() {
    let (mut session, mut broker) = connected();
    let pid = session
        .publish("device/x/telemetry", b"{}".to_vec(), 0, 10)
        .unwrap();
    assert_eq!(session.in_flight(), 1);
    let sent = broker.receive(&mut session);
    assert_eq!(
        sent,
        [Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(pid),
            retain: false,
            topic: "device/x/telemetry".into(),
            payload: b"{}".to_vec(),
        })]
    );
    session.handle_input(&puback(pid.get()), 20);
    assert_eq!(events(&mut session), [Event::Acked { id: pid, tag: 0 }]);
    assert_eq!(session.in_flight(), 0);
}

#[test]
fn packet_ids_are_nonzero_and_unique_among_unacknowledged() {
    let (mut session, _) = connected();
    let mut ids = std::collections::HashSet::new();
    // Keep id 1 unacknowledged (a broker breaking the in-order rule) while 65,533 others come
    // and go: none of them takes id 1.
    let first = session.publish("t", vec![], 0, 0).unwrap();
    assert_eq!(first.get(), 1);
    ids.insert(first);
    for _ in 0..65_533 {
        let pid = session.publish("t", vec![], 0, 0).unwrap();
        assert_ne!(pid, first, "an id in flight is never reused");
        session.handle_input(&puback(pid.get()), 0);
        ids.insert(pid);
    }
    assert_eq!(ids.len(), 65_534);
    // The next id would be 1 again: publishing waits for its PUBACK rather than reuse it.
    let last = session.publish("t", vec![], 0, 0).unwrap();
    assert_eq!(last.get(), 65_535);
    session.handle_input(&puback(65_535), 0);
    assert!(!session.can_publish());
    assert_eq!(
        session.publish("t", vec![], 0, 0),
        Err(PublishError::WindowFull)
    );
    session.handle_input(&puback(1), 0);
    assert_eq!(session.in_flight(), 0);
    assert_eq!(
        session.publish("t", vec![], 0, 0).unwrap().get(),
        1,
        "ids cycle on"
    );
    assert_eq!(
        events(&mut session).len(),
        65_535,
        "every PUBACK was reported once"
    );
}

#[test]
fn a_window_of_65535_drains_in_any_order_with_every_tag_reported_once() {
    let mut config = config();
    config.max_in_flight = 65_535;
    let mut session = Session::new(config);
    session.connect(0);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 0);
    let ids: Vec<PacketId> = (0..65_535u64)
        .map(|tag| session.publish("t", vec![], tag, 0).unwrap())
        .collect();
    events(&mut session);
    // Newest first, then the even ones, then the rest, each set in one frame.
    let mut order: Vec<usize> = (0..65_535).rev().filter(|i| i % 3 == 0).collect();
    order.extend((0..65_535).filter(|i| i % 3 != 0 && i % 2 == 0));
    order.extend((0..65_535).filter(|i| i % 3 != 0 && i % 2 == 1));
    let frame: Vec<u8> = order.iter().flat_map(|&i| puback(ids[i].get())).collect();
    session.handle_input(&frame, 1);
    let tags: Vec<u64> = events(&mut session)
        .into_iter()
        .map(|event| match event {
            Event::Acked { tag, .. } => tag,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tags, order.iter().map(|&i| i as u64).collect::<Vec<_>>());
    assert_eq!(session.in_flight(), 0);
    assert!(session.can_publish());
}

#[test]
fn abandoning_in_flight_returns_their_tags_oldest_first_and_frees_the_window() {
    let (mut session, _) = connected();
    for tag in [7, 8, 9] {
        session.publish("t", vec![], tag, 0).unwrap();
    }
    session.handle_input(&puback(2), 1);
    assert_eq!(session.abandon_in_flight(), [7, 9]);
    assert_eq!(session.in_flight(), 0);
    // A late PUBACK for an abandoned message is an unknown id.
    session.handle_input(&puback(1), 2);
    assert!(session.is_disconnected());
}

#[test]
fn the_in_flight_window_bounds_unacknowledged_publishes() {
    let (mut session, _) = connected();
    for _ in 0..32 {
        assert!(session.can_publish());
        session.publish("t", vec![], 0, 0).unwrap();
    }
    assert!(!session.can_publish());
    assert_eq!(
        session.publish("t", vec![], 0, 0),
        Err(PublishError::WindowFull)
    );
    session.handle_input(&puback(5), 1);
    assert!(session.can_publish(), "an ack opens the window");
}

#[test]
fn a_full_window_of_65535_still_finds_free_ids() {
    let mut config = config();
    config.max_in_flight = 65_535;
    let mut session = Session::new(config);
    session.connect(0);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 0);
    for _ in 0..65_535 {
        session.publish("t", vec![], 0, 0).unwrap();
    }
    assert_eq!(
        session.publish("t", vec![], 0, 0),
        Err(PublishError::WindowFull)
    );
}

#[test]
fn acks_in_any_order_settle_the_right_messages() {
    let (mut session, _) = connected();
    let a = session.publish("t", vec![], 10, 0).unwrap();
    let b = session.publish("t", vec![], 11, 0).unwrap();
    let c = session.publish("t", vec![], 12, 0).unwrap();
    // Three PUBACKs in one frame, out of order.
    let mut frame = puback(c.get());
    frame.extend(puback(a.get()));
    frame.extend(puback(b.get()));
    session.handle_input(&frame, 5);
    assert_eq!(
        events(&mut session),
        [
            Event::Acked { id: c, tag: 12 },
            Event::Acked { id: a, tag: 10 },
            Event::Acked { id: b, tag: 11 }
        ]
    );
    assert_eq!(session.in_flight(), 0);
}

#[test]
fn connack_split_across_frames_is_understood() {
    let mut session = Session::new(config());
    session.connect(0);
    let ack = connack(ConnectReturnCode::Accepted);
    for byte in &ack {
        session.handle_input(std::slice::from_ref(byte), 1);
    }
    assert!(session.is_connected());
}

#[test]
fn each_refusal_code_closes_with_its_meaning() {
    for code in [
        ConnectReturnCode::UnacceptableProtocolVersion,
        ConnectReturnCode::IdentifierRejected,
        ConnectReturnCode::ServerUnavailable,
        ConnectReturnCode::BadUserNameOrPassword,
        ConnectReturnCode::NotAuthorized,
    ] {
        let mut session = Session::new(config());
        session.connect(0);
        session.handle_input(&connack(code), 1);
        assert_eq!(
            events(&mut session),
            [Event::Closed(CloseReason::Refused(code))]
        );
        assert!(session.is_disconnected());
        assert_eq!(
            session.publish("t", vec![], 0, 2),
            Err(PublishError::NotConnected)
        );
    }
    assert_eq!(
        CloseReason::Refused(ConnectReturnCode::NotAuthorized).to_string(),
        "not authorized"
    );
}

#[test]
fn no_connack_within_the_timeout_closes() {
    let mut session = Session::new(config());
    session.connect(1_000);
    assert_eq!(session.poll_timeout(), Some(11_000));
    session.handle_timeout(10_999);
    assert_eq!(events(&mut session), []);
    session.handle_timeout(11_000);
    assert_eq!(
        events(&mut session),
        [Event::Closed(CloseReason::ConnAckTimeout)]
    );
}

#[test]
fn pingreq_is_sent_when_keep_alive_elapses_without_traffic() {
    let (mut session, mut broker) = connected();
    assert_eq!(session.poll_timeout(), Some(60_000));
    session.handle_timeout(59_999);
    assert_eq!(broker.receive(&mut session), []);
    session.handle_timeout(60_000);
    assert_eq!(broker.receive(&mut session), [Packet::PingReq]);
    assert_eq!(events(&mut session), [Event::PingSent]);
    // The answer clears the deadline; the next ping is a keep-alive later.
    session.handle_input(&bytes(Packet::PingResp), 60_050);
    assert_eq!(session.poll_timeout(), Some(120_000));
    session.handle_timeout(90_000);
    assert!(session.is_connected());
}

#[test]
fn publishing_and_acks_postpone_the_ping() {
    let (mut session, mut broker) = connected();
    for second in 1..=200u64 {
        let now = second * 1000;
        session.handle_timeout(now);
        let pid = session.publish("t", vec![], 0, now).unwrap();
        session.handle_input(&puback(pid.get()), now + 5);
    }
    let sent = broker.receive(&mut session);
    assert!(
        !sent.contains(&Packet::PingReq),
        "busy connections need no ping"
    );
}

#[test]
fn silent_broker_is_detected_within_one_and_a_half_keep_alives() {
    let (mut session, mut broker) = connected();
    session.handle_timeout(60_000);
    assert_eq!(broker.receive(&mut session), [Packet::PingReq]);
    assert_eq!(session.poll_timeout(), Some(90_000));
    session.handle_timeout(89_999);
    assert!(session.is_connected());
    session.handle_timeout(90_000);
    let closed = events(&mut session);
    assert_eq!(
        closed.last(),
        Some(&Event::Closed(CloseReason::KeepAliveTimeout))
    );
}

#[test]
fn broker_that_stops_acking_while_we_publish_is_detected() {
    let (mut session, mut broker) = connected();
    // We publish every second; the broker says nothing after connecting.
    let mut now = 0;
    while !session.is_disconnected() {
        now += 1000;
        session.handle_timeout(now);
        let _ = session.publish("t", vec![], 0, now);
        assert!(now <= 90_000, "detected within 1.5 x keep-alive");
    }
    assert!(broker.receive(&mut session).contains(&Packet::PingReq));
    assert_eq!(
        events(&mut session).last(),
        Some(&Event::Closed(CloseReason::KeepAliveTimeout))
    );
}

#[test]
fn keep_alive_zero_never_pings() {
    let mut config = config();
    config.keep_alive_s = 0;
    let mut session = Session::new(config);
    session.connect(0);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 0);
    assert_eq!(session.poll_timeout(), None);
    session.handle_timeout(10_000_000);
    assert!(session.is_connected());
}

#[test]
fn disconnect_sends_disconnect_and_closes() {
    let (mut session, mut broker) = connected();
    session.disconnect(5);
    assert_eq!(broker.receive(&mut session), [Packet::Disconnect]);
    assert_eq!(
        events(&mut session),
        [Event::Closed(CloseReason::Disconnected)]
    );
    session.disconnect(6);
    assert_eq!(broker.receive(&mut session), [], "only once");
}

#[test]
fn transport_loss_closes_with_connection_lost() {
    let (mut session, _) = connected();
    session.transport_closed();
    assert_eq!(
        events(&mut session),
        [Event::Closed(CloseReason::ConnectionLost)]
    );
    session.transport_closed();
    assert_eq!(events(&mut session), [], "reported once");
}

#[test]
fn hostile_input_closes_the_session_with_a_reason() {
    let cases: Vec<(Vec<u8>, CloseReason)> = vec![
        (
            vec![0xf0, 0x00],
            CloseReason::Protocol(DecodeError::InvalidPacketType(15)),
        ),
        (
            vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
            CloseReason::Protocol(DecodeError::MalformedRemainingLength),
        ),
        (puback(999), CloseReason::UnknownPacketId(999)),
        (
            connack(ConnectReturnCode::Accepted),
            CloseReason::UnexpectedPacket("CONNACK"),
        ),
        (
            bytes(Packet::PingReq),
            CloseReason::UnexpectedPacket("PINGREQ"),
        ),
        // A SUBACK for a subscription never asked for.
        (
            vec![0x90, 0x03, 0x00, 0x01, 0x00],
            CloseReason::UnknownAck {
                packet: "SUBACK",
                pid: 1,
            },
        ),
        (
            vec![0xb0, 0x02, 0x00, 0x04],
            CloseReason::UnknownAck {
                packet: "UNSUBACK",
                pid: 4,
            },
        ),
        (
            vec![0x50, 0x02, 0x00, 0x01],
            CloseReason::Protocol(DecodeError::UnsupportedPacketType(5)),
        ),
    ];
    for (input, reason) in cases {
        let (mut session, _) = connected();
        session.handle_input(&input, 1);
        assert_eq!(events(&mut session), [Event::Closed(reason)]);
        // Later input is ignored, not re-reported.
        session.handle_input(&input, 2);
        assert_eq!(events(&mut session), []);
    }
}

#[test]
fn anything_but_connack_first_is_a_protocol_error() {
    let mut session = Session::new(config());
    session.connect(0);
    session.handle_input(&bytes(Packet::PingResp), 1);
    assert_eq!(
        events(&mut session),
        [Event::Closed(CloseReason::UnexpectedPacket("PINGRESP"))]
    );
}

#[test]
fn incoming_qos1_publish_is_acknowledged() {
    let (mut session, mut broker) = connected();
    let pid = PacketId::new(42).unwrap();
    session.handle_input(
        &bytes(Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(pid),
            retain: false,
            topic: "cmd".into(),
            payload: vec![],
        })),
        1,
    );
    assert_eq!(broker.receive(&mut session), [Packet::PubAck(pid)]);
    assert!(session.is_connected());
}

#[test]
fn will_is_sent_in_connect() {
    let mut config = config();
    config.will = Some(LastWill {
        topic: "status".into(),
        message: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    let mut session = Session::new(config.clone());
    session.connect(0);
    let Packet::Connect(connect) = Broker::new().receive(&mut session).remove(0) else {
        panic!("CONNECT first");
    };
    assert_eq!(connect.will, config.will);
}

/// Publishes `n` messages and returns what the broker saw.
fn publish_n(session: &mut Session, broker: &mut Broker, n: usize, now: u64) -> Vec<Publish> {
    for i in 0..n {
        session.publish("t", vec![i as u8], 0, now).unwrap();
    }
    broker
        .receive(session)
        .into_iter()
        .map(|p| match p {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        })
        .collect()
}

#[test]
fn unacknowledged_publishes_are_resent_first_with_their_ids_and_dup_after_reconnect() {
    let (mut session, mut broker) = connected();
    let sent = publish_n(&mut session, &mut broker, 5, 10);
    // The broker acknowledges the second only, then the connection drops.
    session.handle_input(&puback(sent[1].qos_pid.packet_id().unwrap().get()), 20);
    session.transport_closed();
    assert_eq!(
        events(&mut session).last(),
        Some(&Event::Closed(CloseReason::ConnectionLost))
    );
    assert_eq!(session.in_flight(), 4, "in flight survives the connection");
    assert_eq!(
        session.publish("t", vec![], 0, 30),
        Err(PublishError::NotConnected)
    );

    session.connect(1000);
    let reconnect = broker.receive(&mut session);
    assert!(
        matches!(reconnect[..], [Packet::Connect(_)]),
        "CONNECT first, nothing else"
    );
    session.handle_input(&connack(ConnectReturnCode::Accepted), 1001);
    assert_eq!(
        events(&mut session),
        [Event::Connected {
            session_present: false,
            redelivered: 4
        }]
    );
    let resent: Vec<Packet> = broker.receive(&mut session);
    let expected: Vec<Packet> = [0, 2, 3, 4]
        .iter()
        .map(|&i| {
            Packet::Publish(Publish {
                dup: true,
                ..sent[i].clone()
            })
        })
        .collect();
    assert_eq!(resent, expected, "oldest first, original ids, DUP set");
    // New messages follow the re-sent ones and take fresh ids.
    let fresh = publish_n(&mut session, &mut broker, 1, 1002);
    assert!(!fresh[0].dup);
    assert!(!sent.iter().any(|p| p.qos_pid == fresh[0].qos_pid));
}

#[test]
fn clean_session_is_sent_as_configured() {
    for clean in [false, true] {
        let mut config = config();
        config.clean_session = clean;
        let mut session = Session::new(config);
        session.connect(0);
        let Packet::Connect(connect) = Broker::new().receive(&mut session).remove(0) else {
            panic!("CONNECT first");
        };
        assert_eq!(connect.clean_session, clean);
    }
}

#[test]
fn a_refused_reconnect_keeps_messages_in_flight() {
    let (mut session, mut broker) = connected();
    publish_n(&mut session, &mut broker, 3, 0);
    session.transport_closed();
    session.connect(100);
    session.handle_input(&connack(ConnectReturnCode::ServerUnavailable), 101);
    assert_eq!(session.in_flight(), 3);
    session.connect(200);
    broker.receive(&mut session);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 201);
    events(&mut session);
    assert_eq!(broker.receive(&mut session).len(), 3);
}

#[test]
fn keep_alive_timeout_then_reconnect_starts_a_fresh_connection() {
    let (mut session, mut broker) = connected();
    session.handle_timeout(60_000);
    session.handle_timeout(90_000);
    assert!(session.is_disconnected());
    events(&mut session);
    broker.receive(&mut session);
    // Half a packet left over from the dead connection must not confuse the next one.
    session.connect(95_000);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 95_001);
    assert!(session.is_connected());
    assert_eq!(session.poll_timeout(), Some(155_000));
}

fn suback(pid: PacketId, granted: &[Granted]) -> Vec<u8> {
    bytes(Packet::SubAck(SubAck {
        pid,
        granted: granted.to_vec(),
    }))
}

/// The SUBSCRIBE among `packets`, with its packet id.
fn subscribe_in(packets: &[Packet]) -> &Subscribe {
    packets
        .iter()
        .find_map(|p| match p {
            Packet::Subscribe(s) => Some(s),
            _ => None,
        })
        .expect("a SUBSCRIBE")
}

#[test]
fn a_subscription_is_sent_and_its_suback_answers_each_filter_in_words() {
    let (mut session, mut broker) = connected();
    session
        .subscribe(
            &[
                ("device/+/telemetry", QoS::AtLeastOnce),
                ("device/+/labels", QoS::AtMostOnce),
            ],
            1,
        )
        .unwrap();
    let sent = broker.receive(&mut session);
    let subscribe = subscribe_in(&sent).clone();
    assert_eq!(
        subscribe.filters,
        [
            ("device/+/telemetry".to_owned(), QoS::AtLeastOnce),
            ("device/+/labels".to_owned(), QoS::AtMostOnce)
        ]
    );
    session.handle_input(
        &suback(
            subscribe.pid,
            &[Granted::Qos(QoS::AtLeastOnce), Granted::Failure],
        ),
        2,
    );
    let answered = events(&mut session);
    assert_eq!(
        answered,
        [Event::Subscribed(vec![
            ("device/+/telemetry".into(), Granted::Qos(QoS::AtLeastOnce)),
            ("device/+/labels".into(), Granted::Failure),
        ])]
    );
    // The refused filter is not kept (nor asked for again).
    assert_eq!(
        session.subscriptions(),
        [("device/+/telemetry".to_owned(), QoS::AtLeastOnce)]
    );
    // A SUBACK with the wrong number of codes is a protocol error [MQTT-3.8.4-5].
    session.subscribe(&[("a", QoS::AtMostOnce)], 3).unwrap();
    let pid = subscribe_in(&broker.receive(&mut session)).pid;
    session.handle_input(&suback(pid, &[Granted::Failure, Granted::Failure]), 4);
    assert_eq!(
        events(&mut session),
        [Event::Closed(CloseReason::SubAckMismatch {
            asked: 1,
            answered: 2
        })]
    );
}

#[test]
fn messages_on_subscribed_topics_come_out_and_qos1_ones_are_acknowledged() {
    let (mut session, mut broker) = connected();
    let message = |qos_pid| Publish {
        dup: false,
        qos_pid,
        retain: false,
        topic: "device/lab-01/verdict".into(),
        payload: br#"{"sequence":3,"anomaly":true}"#.to_vec(),
    };
    let at_most_once = message(QosPid::AtMostOnce);
    session.handle_input(&bytes(Packet::Publish(at_most_once.clone())), 1);
    assert_eq!(broker.receive(&mut session), [], "QoS 0: no PUBACK");
    let pid = PacketId::new(9).unwrap();
    let at_least_once = message(QosPid::AtLeastOnce(pid));
    session.handle_input(&bytes(Packet::Publish(at_least_once.clone())), 2);
    assert_eq!(broker.receive(&mut session), [Packet::PubAck(pid)]);
    assert_eq!(
        events(&mut session),
        [Event::Message(at_most_once), Event::Message(at_least_once)]
    );
}

#[test]
fn subscriptions_are_renewed_after_a_reconnect_without_a_session_only() {
    let mut session = Session::new(config());
    let mut broker = Broker::new();
    // Asked for before the connection is up: sent after CONNACK.
    session
        .subscribe(&[("device/+/telemetry", QoS::AtLeastOnce)], 0)
        .unwrap();
    session
        .subscribe(&[("device/+/verdict", QoS::AtMostOnce)], 0)
        .unwrap();
    assert_eq!(broker.receive(&mut session), []);
    session.connect(0);
    broker.receive(&mut session);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 1);
    let sent = broker.receive(&mut session);
    let kinds: Vec<&str> = sent.iter().map(Packet::name).collect();
    assert_eq!(kinds, ["SUBSCRIBE", "SUBSCRIBE"], "one per subscription");
    let first = subscribe_in(&sent).clone();
    assert_eq!(
        first.filters,
        [("device/+/telemetry".to_owned(), QoS::AtLeastOnce)]
    );
    // Dropped: forgotten at once, and UNSUBSCRIBE sent.
    session.unsubscribe(&["device/+/verdict"], 2).unwrap();
    let sent = broker.receive(&mut session);
    let Some(Packet::Unsubscribe(unsubscribe)) = sent.first() else {
        panic!("{sent:?}")
    };
    assert_eq!(unsubscribe.filters, ["device/+/verdict"]);
    assert_ne!(unsubscribe.pid, first.pid);
    session.handle_input(&bytes(Packet::UnsubAck(unsubscribe.pid)), 3);
    assert_eq!(
        events(&mut session).last(),
        Some(&Event::Unsubscribed(vec!["device/+/verdict".into()]))
    );
    // The connection drops; the broker kept no session: what is left is asked for again.
    session.transport_closed();
    session.connect(10);
    broker.receive(&mut session);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 11);
    let renewed = subscribe_in(&broker.receive(&mut session)).clone();
    assert_eq!(
        renewed.filters,
        [("device/+/telemetry".to_owned(), QoS::AtLeastOnce)]
    );
    // A SUBACK owed by the lost connection never comes; the renewed one's does.
    session.handle_input(&suback(renewed.pid, &[Granted::Qos(QoS::AtLeastOnce)]), 12);
    assert!(session.is_connected());
    // With a session present the broker still has them: nothing is sent again.
    session.transport_closed();
    session.connect(20);
    broker.receive(&mut session);
    session.handle_input(
        &bytes(Packet::ConnAck(ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
        })),
        21,
    );
    assert_eq!(broker.receive(&mut session), []);
    assert_eq!(session.subscriptions().len(), 1);
}

#[test]
fn a_filter_that_breaks_the_wildcard_rules_is_refused_and_nothing_is_kept() {
    let (mut session, mut broker) = connected();
    for bad in [
        vec![("a/#/b", QoS::AtMostOnce)],
        vec![("ok", QoS::AtMostOnce), ("x+", QoS::AtMostOnce)],
    ] {
        assert!(session.subscribe(&bad, 1).is_err(), "{bad:?}");
    }
    assert!(session.unsubscribe(&[""], 1).is_err());
    assert!(session.subscribe(&[], 1).is_err());
    assert_eq!(broker.receive(&mut session), []);
    assert!(session.subscriptions().is_empty());
}

#[test]
fn a_subscribe_never_shares_a_packet_id_with_a_publish_in_flight() {
    let mut config = config();
    config.max_in_flight = 65_535;
    let mut session = Session::new(config);
    let mut broker = Broker::new();
    session.connect(0);
    broker.receive(&mut session);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 0);
    let mut publish_ids = std::collections::BTreeSet::new();
    for n in 0..100 {
        publish_ids.insert(session.publish("t", vec![], n, 1).unwrap().get());
    }
    session.subscribe(&[("a", QoS::AtMostOnce)], 1).unwrap();
    let held = subscribe_in(&broker.receive(&mut session)).pid.get();
    assert!(!publish_ids.contains(&held));
    // Publishing on until the next id would be the SUBSCRIBE's: it waits for the SUBACK.
    let mut n = 100;
    while session.can_publish() {
        let pid = session.publish("t", vec![], n, 1).unwrap().get();
        assert_ne!(pid, held);
        n += 1;
    }
    assert_eq!(
        session.publish("t", vec![], n, 1),
        Err(PublishError::WindowFull)
    );
    session.handle_input(
        &suback(
            PacketId::new(held).unwrap(),
            &[Granted::Qos(QoS::AtMostOnce)],
        ),
        2,
    );
    assert_eq!(
        session.publish("t", vec![], n, 2).map(|p| p.get()),
        Ok(held)
    );
}

/// A reconnect: the transport drops, a new one opens, CONNACK says whether the session was kept.
fn reconnect(
    session: &mut Session,
    broker: &mut Broker,
    session_present: bool,
    now: u64,
) -> Vec<Packet> {
    session.transport_closed();
    session.connect(now);
    broker.receive(session);
    session.handle_input(
        &bytes(Packet::ConnAck(ConnAck {
            session_present,
            code: ConnectReturnCode::Accepted,
        })),
        now,
    );
    broker.receive(session)
}

#[test]
fn requests_made_or_unanswered_while_offline_go_after_a_connack_that_kept_the_session() {
    let (mut session, mut broker) = connected();
    // Asked for, and the connection drops before the SUBACK.
    session
        .subscribe(&[("device/+/labels", QoS::AtLeastOnce)], 1)
        .unwrap();
    assert_eq!(broker.receive(&mut session).len(), 1);
    session.transport_closed();
    // Asked for while offline.
    session
        .subscribe(&[("device/+/verdict", QoS::AtMostOnce)], 2)
        .unwrap();
    session.unsubscribe(&["device/+/old"], 2).unwrap();
    assert_eq!(
        broker.receive(&mut session),
        [],
        "nothing goes out while offline"
    );
    session.connect(3);
    broker.receive(&mut session);
    session.handle_input(
        &bytes(Packet::ConnAck(ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
        })),
        3,
    );
    let sent = broker.receive(&mut session);
    let kinds: Vec<&str> = sent.iter().map(Packet::name).collect();
    assert_eq!(
        kinds,
        ["SUBSCRIBE", "SUBSCRIBE", "UNSUBSCRIBE"],
        "in the order asked"
    );
    let Packet::Unsubscribe(unsubscribe) = &sent[2] else {
        unreachable!()
    };
    assert_eq!(unsubscribe.filters, ["device/+/old"]);
    // Each is answered once.
    for packet in &sent {
        let answer = match packet {
            Packet::Subscribe(s) => suback(s.pid, &[Granted::Qos(QoS::AtMostOnce)]),
            Packet::Unsubscribe(u) => bytes(Packet::UnsubAck(u.pid)),
            _ => unreachable!(),
        };
        session.handle_input(&answer, 4);
    }
    assert!(session.is_connected());
    assert_eq!(
        reconnect(&mut session, &mut broker, true, 10),
        [],
        "nothing owed"
    );
    // Without a session, an unsubscribe made offline is moot; the subscriptions are renewed.
    session.transport_closed();
    session.unsubscribe(&["device/+/verdict"], 11).unwrap();
    let renewed = reconnect(&mut session, &mut broker, false, 12);
    let filters: Vec<&str> = renewed
        .iter()
        .map(|p| match p {
            Packet::Subscribe(s) => s.filters[0].0.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(filters, ["device/+/labels"]);
}

/// A retained message too large for the subscriber, sent split at every offset: skipped,
/// acknowledged, reported; the connection carries on with the next message.
#[test]
fn an_oversized_publish_is_skipped_acknowledged_and_the_session_carries_on() {
    let big = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(PacketId::new(9).unwrap()),
        retain: true,
        topic: "device/x/telemetry".into(),
        payload: vec![b'x'; 3000],
    });
    let small = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: "device/y/telemetry".into(),
        payload: b"{}".to_vec(),
    });
    let mut stream = bytes(big);
    let size = stream.len();
    stream.extend(bytes(small.clone()));
    for split in [1, 2, 3, 10, 22, 25, 1000, size - 1, size, size + 1] {
        let (mut session, mut broker) = connected();
        session.config.max_packet_size = 1024;
        session.decoder = Decoder::new(1024);
        session.handle_input(&stream[..split], 10);
        session.handle_input(&stream[split..], 10);
        assert_eq!(
            events(&mut session),
            [
                Event::Skipped {
                    topic: "device/x/telemetry".into(),
                    size
                },
                Event::Message(match small.clone() {
                    Packet::Publish(p) => p,
                    _ => unreachable!(),
                })
            ],
            "split at {split}"
        );
        assert_eq!(
            broker.receive(&mut session),
            [Packet::PubAck(PacketId::new(9).unwrap())]
        );
        assert!(session.is_connected());
    }
    // Any other packet over the limit still ends the connection.
    let (mut session, _) = connected();
    session.decoder = Decoder::new(16);
    session.handle_input(&[0x90, 0x20], 10);
    assert!(matches!(
        events(&mut session)[..],
        [Event::Closed(CloseReason::Protocol(
            DecodeError::PacketTooLarge { .. }
        ))]
    ));
}
