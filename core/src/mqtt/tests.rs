//! Byte fixtures from the MQTT 3.1.1 spec, boundaries, and stream splitting.

use super::*;

const MAX: usize = 1 << 24;
const JUNK: [u8; 3] = [0xde, 0xad, 0xbe];

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// Decodes `bytes` followed by junk, checking exactly the packet's bytes were consumed.
fn decode_one(bytes: &[u8]) -> Packet {
    let mut with_junk = bytes.to_vec();
    with_junk.extend_from_slice(&JUNK);
    let (packet, used) = decode(&with_junk, MAX).unwrap().unwrap();
    assert_eq!(used, bytes.len(), "consumed exactly one frame");
    packet
}

fn sample_packets() -> Vec<Packet> {
    vec![
        Packet::Connect(Connect {
            client_id: "infineon-sensor-01".into(),
            clean_session: true,
            keep_alive: 60,
            username: Some("user".into()),
            password: Some(b"secret".to_vec()),
            will: Some(LastWill {
                topic: "device/x/status".into(),
                message: b"offline".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
        }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        }),
        Packet::Publish(Publish {
            dup: true,
            qos_pid: QosPid::AtLeastOnce(pid(10)),
            retain: false,
            topic: "a/b".into(),
            payload: b"{\"x\":1}".to_vec(),
        }),
        Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: true,
            topic: "t".into(),
            payload: vec![],
        }),
        Packet::PubAck(pid(65535)),
        Packet::SubAck(SubAck {
            pid: pid(2),
            granted: vec![
                Granted::Qos(QoS::AtLeastOnce),
                Granted::Failure,
                Granted::Qos2,
            ],
        }),
        Packet::UnsubAck(pid(3)),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect,
    ]
}

#[test]
fn connect_encodes_as_the_spec_lays_it_out() {
    let connect = Connect {
        client_id: "c1".into(),
        clean_session: true,
        keep_alive: 60,
        username: Some("u".into()),
        password: Some(b"p".to_vec()),
        will: None,
    };
    let expected = [
        0x10, // CONNECT, flags 0
        20,   // remaining length
        0x00,
        0x04,
        b'M',
        b'Q',
        b'T',
        b'T',        // protocol name
        0x04,        // protocol level 4 (3.1.1)
        0b1100_0010, // user name, password, clean session
        0x00,
        60, // keep alive
        0x00,
        0x02,
        b'c',
        b'1', // client id
        0x00,
        0x01,
        b'u', // user name
        0x00,
        0x01,
        b'p', // password
    ];
    assert_eq!(
        Packet::Connect(connect.clone()).to_bytes().unwrap(),
        expected
    );
    assert_eq!(decode_one(&expected), Packet::Connect(connect));
}

#[test]
fn connect_with_will_sets_will_flags() {
    let connect = Connect {
        client_id: String::new(),
        clean_session: false,
        keep_alive: 0,
        username: None,
        password: None,
        will: Some(LastWill {
            topic: "w".into(),
            message: b"bye".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
        }),
    };
    let expected = [
        0x10,
        20, // CONNECT, remaining length
        0x00,
        0x04,
        b'M',
        b'Q',
        b'T',
        b'T',
        0x04,        // protocol
        0b0010_1100, // will retain, will QoS 1, will flag
        0x00,
        0x00, // keep alive off
        0x00,
        0x00, // empty client id
        0x00,
        0x01,
        b'w', // will topic
        0x00,
        0x03,
        b'b',
        b'y',
        b'e', // will message
    ];
    assert_eq!(
        Packet::Connect(connect.clone()).to_bytes().unwrap(),
        expected
    );
    assert_eq!(decode_one(&expected), Packet::Connect(connect));
}

#[test]
fn connect_refuses_a_password_without_a_user_name() {
    let connect = Connect {
        client_id: "c".into(),
        clean_session: true,
        keep_alive: 60,
        username: None,
        password: Some(b"p".to_vec()),
        will: None,
    };
    let mut out = vec![];
    assert_eq!(
        Packet::Connect(connect).encode(&mut out),
        Err(EncodeError::PasswordWithoutUsername)
    );
    assert!(out.is_empty(), "nothing is written on error");
}

#[test]
fn connect_refuses_a_client_id_over_65535_bytes() {
    let connect = Connect {
        client_id: "x".repeat(65_536),
        clean_session: true,
        keep_alive: 60,
        username: None,
        password: None,
        will: None,
    };
    assert_eq!(
        Packet::Connect(connect).to_bytes(),
        Err(EncodeError::FieldTooLong {
            field: "client id",
            len: 65_536
        })
    );
}

#[test]
fn connect_decode_checks_protocol_and_flags() {
    let mut bytes = Packet::Connect(Connect {
        client_id: "c".into(),
        clean_session: true,
        keep_alive: 1,
        username: None,
        password: None,
        will: None,
    })
    .to_bytes()
    .unwrap();
    let mut wrong_name = bytes.clone();
    wrong_name[4] = b'X';
    assert_eq!(
        decode(&wrong_name, MAX),
        Err(DecodeError::InvalidProtocolName)
    );
    let mut wrong_level = bytes.clone();
    wrong_level[8] = 3;
    assert_eq!(
        decode(&wrong_level, MAX),
        Err(DecodeError::InvalidProtocolLevel(3))
    );
    bytes[9] |= 1; // reserved flag
    assert_eq!(
        decode(&bytes, MAX),
        Err(DecodeError::InvalidConnectFlags(0b11))
    );
}

#[test]
fn connack_decodes_every_return_code() {
    let codes = [
        (0, ConnectReturnCode::Accepted, "connection accepted"),
        (
            1,
            ConnectReturnCode::UnacceptableProtocolVersion,
            "unacceptable protocol version",
        ),
        (
            2,
            ConnectReturnCode::IdentifierRejected,
            "identifier rejected",
        ),
        (
            3,
            ConnectReturnCode::ServerUnavailable,
            "server unavailable",
        ),
        (
            4,
            ConnectReturnCode::BadUserNameOrPassword,
            "bad user name or password",
        ),
        (5, ConnectReturnCode::NotAuthorized, "not authorized"),
    ];
    for (byte, code, message) in codes {
        let bytes = [
            0x20, 0x02, // CONNACK, remaining length 2
            0x01, // session present
            byte, // return code
        ];
        let expected = Packet::ConnAck(ConnAck {
            session_present: true,
            code,
        });
        assert_eq!(decode_one(&bytes), expected);
        assert_eq!(expected.to_bytes().unwrap(), bytes);
        assert_eq!(code.to_string(), message);
    }
}

#[test]
fn connack_rejects_reserved_codes_and_flags() {
    assert_eq!(
        decode(&[0x20, 0x02, 0x00, 0x06], MAX),
        Err(DecodeError::InvalidConnectReturnCode(6))
    );
    assert_eq!(
        decode(&[0x20, 0x02, 0x02, 0x00], MAX),
        Err(DecodeError::InvalidConnAckFlags(2))
    );
    assert_eq!(
        decode(&[0x20, 0x01, 0x00], MAX),
        Err(DecodeError::UnexpectedEnd)
    );
    assert_eq!(
        decode(&[0x20, 0x03, 0x00, 0x00, 0x00], MAX),
        Err(DecodeError::TrailingBytes)
    );
}

#[test]
fn publish_qos1_encodes_as_the_spec_lays_it_out() {
    let publish = Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(pid(0x0102)),
        retain: false,
        topic: "a/b".into(),
        payload: b"hi".to_vec(),
    };
    let expected = [
        0x32, // PUBLISH, QoS 1
        9,    // remaining length
        0x00, 0x03, b'a', b'/', b'b', // topic
        0x01, 0x02, // packet id
        b'h', b'i', // payload
    ];
    assert_eq!(
        Packet::Publish(publish.clone()).to_bytes().unwrap(),
        expected
    );
    assert_eq!(decode_one(&expected), Packet::Publish(publish));
}

#[test]
fn publish_flags_carry_dup_qos_and_retain() {
    let publish = Publish {
        dup: true,
        qos_pid: QosPid::AtLeastOnce(pid(1)),
        retain: true,
        topic: "t".into(),
        payload: vec![],
    };
    let bytes = Packet::Publish(publish.clone()).to_bytes().unwrap();
    assert_eq!(bytes[0], 0x3b, "DUP, QoS 1, RETAIN");
    assert_eq!(decode_one(&bytes), Packet::Publish(publish));

    let qos0 = Publish {
        dup: true, // ignored: [MQTT-3.3.1-2] DUP must be 0 for QoS 0
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: "t".into(),
        payload: b"x".to_vec(),
    };
    let bytes = Packet::Publish(qos0).to_bytes().unwrap();
    assert_eq!(bytes, [0x30, 4, 0x00, 0x01, b't', b'x']);
}

#[test]
fn publish_decode_rejects_bad_qos_dup_pid_and_topic() {
    let body = [0x00, 0x01, b't', 0x00, 0x01];
    let with = |first: u8, body: &[u8]| {
        let mut b = vec![first, body.len() as u8];
        b.extend_from_slice(body);
        decode(&b, MAX)
    };
    assert_eq!(with(0x36, &body), Err(DecodeError::InvalidQos(3)));
    assert_eq!(with(0x34, &body), Err(DecodeError::UnsupportedQos(2)));
    assert_eq!(
        with(0x38, &body),
        Err(DecodeError::InvalidHeaderFlags {
            packet_type: 3,
            flags: 0x08
        })
    );
    assert_eq!(
        with(0x32, &[0x00, 0x01, b't', 0x00, 0x00]),
        Err(DecodeError::ZeroPacketId)
    );
    assert_eq!(
        with(0x30, &[0x00, 0x01, b'#']),
        Err(DecodeError::InvalidTopic)
    );
    assert_eq!(
        with(0x30, &[0x00, 0x02, 0xff, 0xfe]),
        Err(DecodeError::InvalidString)
    );
    assert_eq!(
        with(0x30, &[0x00, 0x01, 0x00]),
        Err(DecodeError::InvalidString)
    );
}

#[test]
fn puback_ping_and_disconnect_fixtures() {
    let cases: [(&[u8], Packet); 4] = [
        (&[0x40, 0x02, 0x12, 0x34], Packet::PubAck(pid(0x1234))), // PUBACK, id 0x1234
        (&[0xc0, 0x00], Packet::PingReq),
        (&[0xd0, 0x00], Packet::PingResp),
        (&[0xe0, 0x00], Packet::Disconnect),
    ];
    for (bytes, packet) in cases {
        assert_eq!(decode_one(bytes), packet);
        assert_eq!(packet.to_bytes().unwrap(), bytes);
    }
    assert_eq!(
        decode(&[0x40, 0x02, 0x00, 0x00], MAX),
        Err(DecodeError::ZeroPacketId)
    );
    assert_eq!(
        decode(&[0xd0, 0x01, 0x00], MAX),
        Err(DecodeError::TrailingBytes)
    );
}

#[test]
fn reserved_and_unsupported_types_and_bad_flags_are_errors() {
    assert_eq!(decode(&[0x00], MAX), Err(DecodeError::InvalidPacketType(0)));
    assert_eq!(
        decode(&[0xf0], MAX),
        Err(DecodeError::InvalidPacketType(15))
    );
    for t in 5..=7u8 {
        assert_eq!(
            decode(&[t << 4], MAX),
            Err(DecodeError::UnsupportedPacketType(t))
        );
    }
    // Only a server receives SUBSCRIBE and UNSUBSCRIBE.
    for first in [0x82u8, 0xa2] {
        assert_eq!(
            decode(&[first], MAX),
            Err(DecodeError::UnsupportedPacketType(first >> 4))
        );
    }
    assert_eq!(
        decode(&[0x41, 0x02, 0x00, 0x01], MAX),
        Err(DecodeError::InvalidHeaderFlags {
            packet_type: 4,
            flags: 1
        })
    );
}

#[test]
fn remaining_length_boundaries() {
    // (length, its encoding)
    let table: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xff, 0x7f]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xff, 0xff, 0x7f]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
    ];
    for (len, encoding) in table {
        let mut out = vec![];
        codec::write_fixed_header(0x30, len, &mut out).unwrap();
        assert_eq!(&out[1..], encoding, "encoding of {len}");
        assert_eq!(remaining_length_len(len), encoding.len());
        assert_eq!(
            codec::read_remaining_length(encoding),
            Ok(Some((len, encoding.len())))
        );
        // Cut short, it waits for more.
        assert_eq!(
            codec::read_remaining_length(&encoding[..encoding.len() - 1]),
            Ok(None)
        );
    }
    assert_eq!(
        codec::write_fixed_header(0x30, 268_435_456, &mut vec![]),
        Err(EncodeError::PacketTooLarge(268_435_456))
    );
    // A fifth byte is malformed whatever follows.
    assert_eq!(
        codec::read_remaining_length(&[0xff, 0xff, 0xff, 0xff, 0x01]),
        Err(DecodeError::MalformedRemainingLength)
    );
    assert_eq!(
        codec::read_remaining_length(&[0x80, 0x80, 0x80, 0x80]),
        Err(DecodeError::MalformedRemainingLength)
    );
    assert_eq!(
        decode(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f], usize::MAX),
        Err(DecodeError::MalformedRemainingLength)
    );
    // Longer than needed: 0 in two bytes, 127 in three. Malformed, so that every accepted
    // packet re-encodes to exactly the bytes it came from.
    for padded in [
        &[0x80, 0x00][..],
        &[0xff, 0x80, 0x00],
        &[0x80, 0x80, 0x80, 0x00],
    ] {
        assert_eq!(
            codec::read_remaining_length(padded),
            Err(DecodeError::MalformedRemainingLength),
            "{padded:02x?}"
        );
    }
}

#[test]
fn a_megabyte_frame_of_two_byte_packets_is_decoded_in_linear_work() {
    // 524,288 PINGRESPs in one frame, as a broker or bridge that coalesces packets may send.
    let frame: Vec<u8> = [0xd0, 0x00].repeat(1 << 19);
    let mut decoder = Decoder::new(1 << 20);
    decoder.push(&frame);
    let mut count = 0;
    while let Some(packet) = decoder.next_packet().unwrap() {
        assert_eq!(packet, Packet::PingResp);
        count += 1;
    }
    assert_eq!(count, 1 << 19);
    assert_eq!(decoder.buffered(), 0);
    // The next frame discards what was consumed once; nothing was moved per packet.
    decoder.push(&[0xd0]);
    assert_eq!(
        decoder.moved(),
        0,
        "consumed bytes are dropped, not shifted"
    );
    decoder.push(&[0x00, 0xd0, 0x00, 0xd0]);
    assert_eq!(decoder.next_packet().unwrap(), Some(Packet::PingResp));
    assert_eq!(decoder.next_packet().unwrap(), Some(Packet::PingResp));
    assert_eq!(decoder.next_packet().unwrap(), None);
    decoder.push(&[0x00]);
    assert_eq!(decoder.next_packet().unwrap(), Some(Packet::PingResp));
    // Only the partial packet's byte was ever moved.
    assert_eq!(decoder.moved(), 1);
}

#[test]
fn publish_round_trips_at_remaining_length_boundaries() {
    // Topic "t" (3 bytes) + packet id (2) + payload = remaining length.
    for remaining in [127usize, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
        let publish = Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(pid(7)),
            retain: false,
            topic: "t".into(),
            payload: vec![0xab; remaining - 5],
        };
        let bytes = Packet::Publish(publish.clone()).to_bytes().unwrap();
        assert_eq!(bytes.len(), 1 + remaining_length_len(remaining) + remaining);
        assert_eq!(decode_one(&bytes), Packet::Publish(publish));
    }
}

#[test]
fn packets_over_the_limit_are_refused_before_they_arrive() {
    // Only the header of a 1000-byte PUBLISH has arrived.
    assert_eq!(
        decode(&[0x30, 0xe8, 0x07], 100),
        Err(DecodeError::PacketTooLarge {
            size: 1003,
            max: 100
        })
    );
}

#[test]
fn every_packet_split_at_every_offset_decodes_the_same() {
    for packet in sample_packets() {
        let bytes = packet.to_bytes().unwrap();
        for cut in 0..=bytes.len() {
            let mut decoder = Decoder::new(MAX);
            decoder.push(&bytes[..cut]);
            if cut < bytes.len() {
                assert_eq!(
                    decoder.next_packet(),
                    Ok(None),
                    "{} cut at {cut}",
                    packet.name()
                );
            }
            decoder.push(&bytes[cut..]);
            if cut == bytes.len() {
                assert_eq!(decoder.next_packet(), Ok(Some(packet.clone())));
            } else {
                assert_eq!(
                    decoder.next_packet(),
                    Ok(Some(packet.clone())),
                    "cut at {cut}"
                );
            }
            assert_eq!(decoder.next_packet(), Ok(None));
            assert_eq!(decoder.buffered(), 0);
        }
    }
}

#[test]
fn several_packets_in_one_frame_come_out_in_order() {
    let packets = sample_packets();
    let mut stream = vec![];
    for packet in &packets {
        packet.encode(&mut stream).unwrap();
    }
    let mut decoder = Decoder::new(MAX);
    decoder.push(&stream);
    for packet in &packets {
        assert_eq!(decoder.next_packet().as_ref(), Ok(&Some(packet.clone())));
    }
    assert_eq!(decoder.next_packet(), Ok(None));

    // The same stream fed one byte at a time.
    let mut decoder = Decoder::new(MAX);
    let mut out = vec![];
    for byte in &stream {
        decoder.push(std::slice::from_ref(byte));
        while let Some(packet) = decoder.next_packet().unwrap() {
            out.push(packet);
        }
    }
    assert_eq!(out, packets);
}

/// Hand-made malformed packets: each must be an error (or a wait for more bytes), never a panic
/// and never a packet.
#[test]
fn malformed_corpus_is_rejected() {
    let corpus: &[&[u8]] = &[
        &[0x00, 0x00],                                     // reserved type 0
        &[0xf0, 0x00],                                     // reserved type 15
        &[0x20, 0x02, 0x00, 0x06],                         // CONNACK code 6
        &[0x20, 0x02, 0x80, 0x00],                         // CONNACK reserved flag
        &[0x21, 0x02, 0x00, 0x00],                         // CONNACK with header flags
        &[0x20, 0x00],                                     // CONNACK too short
        &[0x40, 0x00],                                     // PUBACK without id
        &[0x40, 0x03, 0x00, 0x01, 0x00],                   // PUBACK with a trailing byte
        &[0x40, 0x02, 0x00, 0x00],                         // PUBACK id 0
        &[0x30, 0x01, 0x00],                               // PUBLISH topic length cut
        &[0x30, 0x03, 0x00, 0x05, b'a'],                   // PUBLISH topic longer than packet
        &[0x32, 0x03, 0x00, 0x01, b't'],                   // QoS 1 without packet id
        &[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01],       // QoS 3
        &[0x3a, 0x05, 0x00, 0x01, b'#', 0x00, 0x01],       // wildcard topic
        &[0x30, 0x04, 0x00, 0x02, 0xc3, 0x28],             // invalid UTF-8 topic
        &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01],             // five-byte remaining length
        &[0xc1, 0x00],                                     // PINGREQ with flags
        &[0xd0, 0x01, 0x00],                               // PINGRESP with a body
        &[0xe0, 0x02, 0x00, 0x00],                         // DISCONNECT with a body
        &[0x62, 0x02, 0x00, 0x01],                         // PUBREL (QoS 2 flow)
        &[0x90, 0x03, 0x00, 0x01, 0x05],                   // SUBACK with a reserved code
        &[0x91, 0x03, 0x00, 0x01, 0x00],                   // SUBACK with header flags
        &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x01], // SUBSCRIBE: only a server receives it
        &[0xb0, 0x03, 0x00, 0x01, 0x00],                   // UNSUBACK with a trailing byte
        &[
            0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00,
        ], // bad protocol name
    ];
    for (i, bytes) in corpus.iter().enumerate() {
        let result = decode(bytes, MAX);
        assert!(
            result.is_err(),
            "corpus entry {i} {bytes:02x?} gave {result:?}"
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text as MQTT allows it: empty, ASCII, multi-byte UTF-8 (2, 3 and 4 bytes), no NUL.
    fn arb_string() -> impl Strategy<Value = String> {
        "[ -~é€😀]{0,12}"
    }

    fn arb_will() -> impl Strategy<Value = Option<LastWill>> {
        proptest::option::of(
            (
                "[a-z/é€😀]{1,12}",
                proptest::collection::vec(any::<u8>(), 0..40),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(topic, message, qos1, retain)| LastWill {
                    topic,
                    message,
                    qos: if qos1 {
                        QoS::AtLeastOnce
                    } else {
                        QoS::AtMostOnce
                    },
                    retain,
                }),
        )
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (
                arb_string(),
                any::<bool>(),
                any::<u16>(),
                proptest::option::of(arb_string()),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
                arb_will(),
            )
                .prop_map(
                    |(client_id, clean_session, keep_alive, username, password, will)| {
                        Packet::Connect(Connect {
                            password: username.as_ref().and(password),
                            client_id,
                            clean_session,
                            keep_alive,
                            username,
                            will,
                        })
                    }
                ),
            (any::<bool>(), 0u8..=5).prop_map(|(session_present, code)| {
                Packet::ConnAck(ConnAck {
                    session_present,
                    code: ConnectReturnCode::from_u8(code).unwrap(),
                })
            }),
            (
                any::<bool>(),
                proptest::option::of(1u16..),
                any::<bool>(),
                "[a-z/é€😀]{1,20}",
                proptest::collection::vec(any::<u8>(), 0..300)
            )
                .prop_map(|(dup, pid, retain, topic, payload)| {
                    let qos_pid = match pid {
                        Some(pid) => QosPid::AtLeastOnce(PacketId::new(pid).unwrap()),
                        None => QosPid::AtMostOnce,
                    };
                    Packet::Publish(Publish {
                        dup: dup && pid.is_some(),
                        qos_pid,
                        retain,
                        topic,
                        payload,
                    })
                }),
            (1u16..).prop_map(|pid| Packet::PubAck(PacketId::new(pid).unwrap())),
            Just(Packet::PingReq),
            Just(Packet::PingResp),
            Just(Packet::Disconnect),
        ]
    }

    /// The decoder's contract on any input, checked on `decode` and on a streaming [`Decoder`].
    fn check_decode_contract(bytes: &[u8]) -> Result<(), TestCaseError> {
        match decode(bytes, MAX) {
            Ok(Some((packet, used))) => {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(packet.to_bytes().unwrap(), &bytes[..used]);
            }
            Ok(None) => {
                // A partial packet: each longer prefix is partial too, never an error
                // decided by bytes not yet seen.
                for end in 0..bytes.len() {
                    prop_assert!(!matches!(decode(&bytes[..end], MAX), Ok(Some(_))));
                }
            }
            Err(_) => {}
        }
        // Streamed byte by byte, the same packets come out, and an Ok(None) consumed nothing.
        let mut decoder = Decoder::new(MAX);
        let mut consumed = 0;
        for &byte in bytes {
            decoder.push(&[byte]);
            loop {
                let before = decoder.buffered();
                match decoder.next_packet() {
                    Ok(Some(packet)) => {
                        let size = packet.to_bytes().unwrap().len();
                        prop_assert_eq!(before - decoder.buffered(), size);
                        prop_assert_eq!(
                            packet.to_bytes().unwrap(),
                            &bytes[consumed..consumed + size]
                        );
                        consumed += size;
                    }
                    Ok(None) => {
                        prop_assert_eq!(decoder.buffered(), before);
                        break;
                    }
                    Err(_) => return Ok(()),
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Arbitrary bytes: the decoder returns a packet whose encoding is exactly the bytes it
        /// consumed, or `Ok(None)` for a prefix that may still become a packet, or an error.
        #[test]
        fn decoder_reencodes_what_it_consumed_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            check_decode_contract(&bytes)?;
        }

        /// Bytes that start like a packet the client accepts, then go wrong anywhere.
        #[test]
        fn decoder_reencodes_what_it_consumed_on_mutated_packets(
            packet in arb_packet(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let mut bytes = packet.to_bytes().unwrap();
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            let cut = cut % (bytes.len() + 1);
            check_decode_contract(&bytes[..cut])?;
        }

        /// Every packet we can encode decodes to itself, whatever the framing.
        #[test]
        fn packets_round_trip_in_any_framing(
            packets in proptest::collection::vec(arb_packet(), 1..6),
            chunk in 1usize..40,
        ) {
            let mut stream = vec![];
            for packet in &packets {
                packet.encode(&mut stream).unwrap();
            }
            let mut decoder = Decoder::new(MAX);
            let mut out = vec![];
            for piece in stream.chunks(chunk) {
                decoder.push(piece);
                while let Some(packet) = decoder.next_packet().unwrap() {
                    out.push(packet);
                }
            }
            prop_assert_eq!(out, packets);
        }
    }
}

#[test]
fn a_dissection_lays_named_fields_over_every_byte_once() {
    // A refusal with a session present, beside the accepted CONNACK of the samples.
    let refused = Packet::ConnAck(ConnAck {
        session_present: true,
        code: ConnectReturnCode::NotAuthorized,
    });
    for packet in sample_packets().into_iter().chain([refused.clone()]) {
        let bytes = packet.to_bytes().unwrap();
        let dissection = dissect(&bytes).unwrap();
        assert_eq!(dissection.packet, packet);
        let mut at = 0;
        for part in &dissection.parts {
            assert_eq!(part.start, at, "{packet:?}: {part:?}");
            at = part.end;
        }
        assert_eq!(at, bytes.len(), "{packet:?}");
        assert_eq!(dissection.parts[0].name, "packet type and flags");
        assert!(dissection.parts[0].value.starts_with(packet.name()));
        let secrets: Vec<&str> = dissection
            .parts
            .iter()
            .filter(|p| p.secret)
            .map(|p| p.value.as_str())
            .collect();
        match packet {
            Packet::Connect(_) => assert_eq!(secrets, ["(hidden)"]),
            _ => assert!(secrets.is_empty()),
        }
    }
    let connect = dissect(&sample_packets()[0].to_bytes().unwrap()).unwrap();
    let names: Vec<&str> = connect.parts.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "packet type and flags",
            "remaining length",
            "protocol name",
            "protocol level",
            "connect flags",
            "keep alive",
            "client id",
            "will topic",
            "will message",
            "user name",
            "password"
        ]
    );
    assert_eq!(
        connect.parts[4].value,
        "user name, password, will retain, will, clean session, will QoS 1"
    );
    let connack = dissect(&refused.to_bytes().unwrap()).unwrap();
    assert_eq!(connack.parts[2].value, "session present: yes");
    assert!(
        connack.parts[3].value.starts_with("5 ("),
        "{:?}",
        connack.parts[3]
    );
}

#[test]
fn a_dissection_refuses_what_the_codec_refuses() {
    let puback = Packet::PubAck(pid(1)).to_bytes().unwrap();
    assert_eq!(dissect(&puback[..3]), Err(DecodeError::UnexpectedEnd));
    assert_eq!(
        dissect(&[puback.clone(), vec![0xc0, 0x00]].concat()),
        Err(DecodeError::TrailingBytes)
    );
    assert_eq!(
        dissect(&[0x40, 0x02, 0x00, 0x00]),
        Err(DecodeError::ZeroPacketId)
    );
    assert_eq!(
        dissect(&[0x00, 0x00]),
        Err(DecodeError::InvalidPacketType(0))
    );
    assert_eq!(dissect(&[]), Err(DecodeError::UnexpectedEnd));
}

#[test]
fn subscribe_encodes_as_the_spec_lays_it_out() {
    let packet = Packet::Subscribe(Subscribe {
        pid: pid(10),
        filters: vec![
            ("a/+".into(), QoS::AtLeastOnce),
            ("#".into(), QoS::AtMostOnce),
        ],
    });
    let expected = [
        0x82, // SUBSCRIBE, flags 0010 [MQTT-3.8.1-1]
        0x0c, // remaining length 12
        0x00, 0x0a, // packet id 10
        0x00, 0x03, b'a', b'/', b'+', // topic filter "a/+"
        0x01, // requested QoS 1
        0x00, 0x01, b'#', // topic filter "#"
        0x00, // requested QoS 0
    ];
    assert_eq!(packet.to_bytes().unwrap(), expected);
    assert_eq!(
        read_body(&expected, Subscribe::decode).map(Packet::Subscribe),
        Ok(packet)
    );
    // The client's decoder refuses what only a server receives.
    assert_eq!(
        decode(&expected, MAX),
        Err(DecodeError::UnsupportedPacketType(8))
    );
}

/// Reads a packet's body with `read` (the tests' oracle for packets only a server receives):
/// the bytes after the fixed header, every one of them.
fn read_body<T>(
    bytes: &[u8],
    read: fn(&mut codec::Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let (remaining, len_bytes) = codec::read_remaining_length(&bytes[1..])?.unwrap();
    assert_eq!(1 + len_bytes + remaining, bytes.len());
    let mut reader = codec::Reader::new(&bytes[1 + len_bytes..]);
    let value = read(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

#[test]
fn suback_unsubscribe_and_unsuback_encode_as_the_spec_lays_them_out() {
    let suback = [
        0x90, // SUBACK
        0x04, // remaining length 4
        0x00, 0x0a, // packet id 10
        0x01, // granted QoS 1
        0x80, // failure
    ];
    assert_eq!(
        decode_one(&suback),
        Packet::SubAck(SubAck {
            pid: pid(10),
            granted: vec![Granted::Qos(QoS::AtLeastOnce), Granted::Failure],
        })
    );
    assert_eq!(decode_one(&suback).to_bytes().unwrap(), suback);
    let unsubscribe = [
        0xa2, // UNSUBSCRIBE, flags 0010 [MQTT-3.10.1-1]
        0x07, // remaining length 7
        0x00, 0x0b, // packet id 11
        0x00, 0x03, b'a', b'/', b'#', // topic filter "a/#"
    ];
    let packet = Packet::Unsubscribe(Unsubscribe {
        pid: pid(11),
        filters: vec!["a/#".into()],
    });
    assert_eq!(packet.to_bytes().unwrap(), unsubscribe);
    assert_eq!(
        read_body(&unsubscribe, Unsubscribe::decode).map(Packet::Unsubscribe),
        Ok(packet)
    );
    assert_eq!(
        decode(&unsubscribe, MAX),
        Err(DecodeError::UnsupportedPacketType(10))
    );
    let unsuback = [
        0xb0, // UNSUBACK
        0x02, // remaining length 2
        0x00, 0x0b, // packet id 11
    ];
    assert_eq!(decode_one(&unsuback), Packet::UnsubAck(pid(11)));
    assert_eq!(Packet::UnsubAck(pid(11)).to_bytes().unwrap(), unsuback);
}

#[test]
fn malformed_subscriptions_are_errors_that_name_the_problem() {
    // What the tests' oracle finds wrong with hand-made SUBSCRIBE and UNSUBSCRIBE bodies.
    let subscribes: [(&[u8], DecodeError); 6] = [
        // A packet id and no filter [MQTT-3.8.3-3].
        (&[0x82, 0x02, 0x00, 0x01], DecodeError::NoTopicFilter),
        // Requested QoS 3, and reserved bits set [MQTT-3.8.3-4]; QoS 2 is not ours.
        (
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03],
            DecodeError::InvalidQos(3),
        ),
        (
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x41],
            DecodeError::InvalidQos(0x41),
        ),
        (
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x02],
            DecodeError::UnsupportedQos(2),
        ),
        // A filter missing its QoS byte.
        (
            &[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
            DecodeError::UnexpectedEnd,
        ),
        // A filter with '#' not last [MQTT-4.7.1-2].
        (
            &[0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'#', b'/', b'a', 0x00],
            DecodeError::InvalidTopicFilter("# must be a whole level, and the last one"),
        ),
    ];
    for (bytes, error) in subscribes {
        assert_eq!(
            read_body(bytes, Subscribe::decode),
            Err(error),
            "{bytes:02x?}"
        );
    }
    // No filter [MQTT-3.10.3-2], and a '+' inside a level [MQTT-4.7.1-3].
    assert_eq!(
        read_body(&[0xa2, 0x02, 0x00, 0x01], Unsubscribe::decode),
        Err(DecodeError::NoTopicFilter)
    );
    assert_eq!(
        read_body(
            &[0xa2, 0x06, 0x00, 0x01, 0x00, 0x02, b'a', b'+'],
            Unsubscribe::decode
        ),
        Err(DecodeError::InvalidTopicFilter("+ must be a whole level"))
    );
    // What the client receives: a SUBACK with a reserved return code [MQTT-3.9.3-2], and with
    // none; an UNSUBACK with packet id 0.
    let received: [(&[u8], DecodeError); 3] = [
        (
            &[0x90, 0x03, 0x00, 0x01, 0x03],
            DecodeError::InvalidSubAckCode(3),
        ),
        (&[0x90, 0x02, 0x00, 0x01], DecodeError::UnexpectedEnd),
        (&[0xb0, 0x02, 0x00, 0x00], DecodeError::ZeroPacketId),
    ];
    for (bytes, error) in received {
        assert_eq!(decode(bytes, MAX), Err(error), "{bytes:02x?}");
    }
    assert_eq!(
        DecodeError::InvalidSubAckCode(3).to_string(),
        "invalid SUBACK return code 3"
    );
    // Nothing invalid is encoded either.
    let empty = Packet::Subscribe(Subscribe {
        pid: pid(1),
        filters: vec![],
    });
    assert_eq!(empty.to_bytes(), Err(EncodeError::NoTopicFilter));
    let bad = Packet::Unsubscribe(Unsubscribe {
        pid: pid(1),
        filters: vec!["a+/b".into()],
    });
    assert_eq!(
        bad.to_bytes(),
        Err(EncodeError::InvalidTopicFilter("+ must be a whole level"))
    );
}

#[test]
fn topic_filters_follow_the_wildcard_rules() {
    for good in [
        "#",
        "+",
        "a/#",
        "a/+/c",
        "+/+",
        "/",
        "a//b",
        "sport/tennis/+",
        "$SYS/#",
    ] {
        assert_eq!(check_filter(good), Ok(()), "{good}");
    }
    for (bad, why) in [
        ("", "a topic filter must not be empty"),
        ("a\0b", "a topic filter must not contain NUL"),
        ("a/#/b", "# must be a whole level, and the last one"),
        ("a#", "# must be a whole level, and the last one"),
        ("a/b#", "# must be a whole level, and the last one"),
        ("a+", "+ must be a whole level"),
        ("a/+b/c", "+ must be a whole level"),
    ] {
        assert_eq!(check_filter(bad), Err(why), "{bad:?}");
    }
}

#[test]
fn topics_match_filters_as_the_spec_says() {
    let cases = [
        ("device/+/telemetry", "device/lab-01/telemetry", true),
        ("device/+/telemetry", "device/lab-01/labels", false),
        ("device/+/telemetry", "device/a/b/telemetry", false),
        ("device/#", "device", true), // [MQTT-4.7.1-2] # includes the parent level
        ("device/#", "device/a/b", true),
        ("#", "anything/at/all", true),
        ("+", "a", true),
        ("+", "a/b", false),
        ("+/+", "/finance", true), // an empty level is a level
        ("a/b", "a/b", true),
        ("a/b", "a/b/c", false),
        ("#", "$SYS/broker", false), // [MQTT-4.7.2-1]
        ("+/broker", "$SYS/broker", false),
        ("$SYS/#", "$SYS/broker", true),
    ];
    for (filter, topic, expected) in cases {
        assert_eq!(matches(filter, topic), expected, "{filter} ~ {topic}");
    }
}

/// An oversized PUBLISH's header is read, its payload skipped across pushes; a header that
/// cannot be one is refused at once.
#[test]
fn the_decoder_skips_an_oversized_publish_and_refuses_a_broken_one() {
    let mut decoder = Decoder::new(32);
    // PUBLISH QoS 1, remaining length 100: topic "t/x" (2 + 3), packet id 7, 93 bytes of payload.
    let mut packet = vec![0x32, 100, 0x00, 0x03, b't', b'/', b'x', 0x00, 0x07];
    packet.extend([b'p'; 93]);
    decoder.push(&packet[..4]);
    assert_eq!(
        decoder.next_incoming(),
        Ok(None),
        "the topic is not here yet"
    );
    decoder.push(&packet[4..50]);
    match decoder.next_incoming() {
        Ok(Some(Incoming::Oversized { publish, size })) => {
            assert_eq!((publish.topic.as_str(), size), ("t/x", 102));
            assert_eq!(
                publish.qos_pid,
                QosPid::AtLeastOnce(PacketId::new(7).unwrap())
            );
            assert!(publish.payload.is_empty());
        }
        other => panic!("{other:?}"),
    }
    decoder.push(&packet[50..]);
    decoder.push(&[0xd0, 0x00]); // PINGRESP, then junk
    decoder.push(&[0x00]);
    assert_eq!(
        decoder.next_incoming(),
        Ok(Some(Incoming::Packet(Packet::PingResp)))
    );
    assert!(
        decoder.next_incoming().is_err(),
        "the junk byte is no packet"
    );
    // The plain decode still calls it too large.
    let mut plain = Decoder::new(32);
    plain.push(&packet);
    assert!(matches!(
        plain.next_packet(),
        Err(DecodeError::PacketTooLarge { size: 102, max: 32 })
    ));
    // A topic longer than the packet, QoS 3 and QoS 2 (which this client never asks for) are
    // refused at once, before any topic arrives.
    for bad in [
        vec![0x30, 40, 0x00, 0x50, b't'],
        vec![0x36, 40],
        vec![0x34, 40],
    ] {
        let mut decoder = Decoder::new(32);
        decoder.push(&bad);
        assert!(decoder.next_incoming().is_err(), "{bad:?}");
    }
}
