//! The session against a scripted broker on a fake clock.

use super::*;
use crate::mqtt::{ConnAck, Decoder, QoS};

/// The broker's side of the connection: decodes what the session sent, answers as scripted.
struct Broker {
    decoder: Decoder,
}

impl Broker {
    fn new() -> Self {
        Self {
            decoder: Decoder::new(1 << 20),
        }
    }

    /// Everything the session has sent since the last call, as packets.
    fn receive(&mut self, session: &mut Session) -> Vec<Packet> {
        while let Some(bytes) = session.poll_transmit() {
            self.decoder.push(&bytes);
        }
        let mut packets = vec![];
        while let Some(packet) = self.decoder.next_packet().unwrap() {
            packets.push(packet);
        }
        packets
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
    session.start(0);
    broker.receive(&mut session);
    session.handle_input(&connack(ConnectReturnCode::Accepted), 0);
    assert_eq!(
        events(&mut session),
        [Event::Connected {
            session_present: false
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
    session.start(0);
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
        session.publish("t", vec![1], 0),
        Err(PublishError::NotConnected)
    );
    session.start(0);
    assert_eq!(
        session.publish("t", vec![1], 0),
        Err(PublishError::NotConnected)
    );
    let mut broker = Broker::new();
    assert_eq!(broker.receive(&mut session).len(), 1, "only CONNECT");
}

#[test]
fn publish_is_qos1_and_puback_settles_it() {
    let (mut session, mut broker) = connected();
    let pid = session
        .publish("device/x/telemetry", b"{}".to_vec(), 10)
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
    assert_eq!(events(&mut session), [Event::Acked(pid)]);
    assert_eq!(session.in_flight(), 0);
}

#[test]
fn packet_ids_are_nonzero_and_unique_among_unacknowledged() {
    let (mut session, _) = connected();
    let mut ids = std::collections::HashSet::new();
    // Keep id 1 unacknowledged while the counter wraps past 65535.
    let first = session.publish("t", vec![], 0).unwrap();
    assert_eq!(first.get(), 1);
    ids.insert(first);
    for _ in 0..70_000 {
        let pid = session.publish("t", vec![], 0).unwrap();
        assert_ne!(pid, first, "an id in flight is never reused");
        session.handle_input(&puback(pid.get()), 0);
        ids.insert(pid);
    }
    assert_eq!(ids.len(), 65_535, "every non-zero id was used");
    assert_eq!(session.in_flight(), 1);
}

#[test]
fn publishing_stops_when_every_packet_id_is_in_flight() {
    let (mut session, _) = connected();
    for _ in 0..65_535 {
        session.publish("t", vec![], 0).unwrap();
    }
    assert_eq!(
        session.publish("t", vec![], 0),
        Err(PublishError::NoFreePacketId)
    );
}

#[test]
fn acks_in_any_order_settle_the_right_messages() {
    let (mut session, _) = connected();
    let a = session.publish("t", vec![], 0).unwrap();
    let b = session.publish("t", vec![], 0).unwrap();
    let c = session.publish("t", vec![], 0).unwrap();
    // Three PUBACKs in one frame, out of order.
    let mut frame = puback(c.get());
    frame.extend(puback(a.get()));
    frame.extend(puback(b.get()));
    session.handle_input(&frame, 5);
    assert_eq!(
        events(&mut session),
        [Event::Acked(c), Event::Acked(a), Event::Acked(b)]
    );
    assert_eq!(session.in_flight(), 0);
}

#[test]
fn connack_split_across_frames_is_understood() {
    let mut session = Session::new(config());
    session.start(0);
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
        session.start(0);
        session.handle_input(&connack(code), 1);
        assert_eq!(
            events(&mut session),
            [Event::Closed(CloseReason::Refused(code))]
        );
        assert!(session.is_closed());
        assert_eq!(
            session.publish("t", vec![], 2),
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
    session.start(1_000);
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
        let pid = session.publish("t", vec![], now).unwrap();
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
    while !session.is_closed() {
        now += 1000;
        session.handle_timeout(now);
        let _ = session.publish("t", vec![], now);
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
    session.start(0);
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
        (
            vec![0x90, 0x03, 0x00, 0x01, 0x00],
            CloseReason::Protocol(DecodeError::UnsupportedPacketType(9)),
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
    session.start(0);
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
    session.start(0);
    let Packet::Connect(connect) = Broker::new().receive(&mut session).remove(0) else {
        panic!("CONNECT first");
    };
    assert_eq!(connect.will, config.will);
}
