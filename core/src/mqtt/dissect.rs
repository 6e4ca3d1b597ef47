//! A packet taken apart for people: each field with its name, its bytes and its value, for the
//! page's frame inspector. The packet is first read by [`super::decode`], so only a packet the
//! codec accepts is dissected, and the fields are laid over the bytes it read.

use super::{DecodeError, Packet, QoS, decode};

/// One field of a packet: its name, the bytes it spans (`start..end`) and its value in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub start: usize,
    pub end: usize,
    pub value: String,
    /// The password: its value and bytes are never shown.
    pub secret: bool,
}

/// The packet and its fields, in byte order, covering every byte once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dissection {
    pub packet: Packet,
    pub parts: Vec<Part>,
}

/// Reads `bytes` (exactly one packet) with the codec and names each field's bytes.
pub fn dissect(bytes: &[u8]) -> Result<Dissection, DecodeError> {
    let packet = match decode(bytes, usize::MAX)? {
        Some((packet, used)) if used == bytes.len() => packet,
        Some(_) => return Err(DecodeError::TrailingBytes),
        None => return Err(DecodeError::UnexpectedEnd),
    };
    let mut parts = Parts {
        parts: vec![],
        at: 0,
    };
    let first = bytes[0];
    parts.push("packet type and flags", 1, header_words(&packet, first));
    let length_len = bytes[1..].iter().take_while(|b| *b & 0x80 != 0).count() + 1;
    parts.push(
        "remaining length",
        length_len,
        (bytes.len() - 1 - length_len).to_string(),
    );
    match &packet {
        Packet::Connect(connect) => {
            parts.string("protocol name", "MQTT");
            parts.push("protocol level", 1, "4 (MQTT 3.1.1)".into());
            parts.push("connect flags", 1, connect_flags(bytes[parts.at]));
            parts.push("keep alive", 2, format!("{} s", connect.keep_alive));
            parts.string("client id", &connect.client_id);
            if let Some(will) = &connect.will {
                parts.string("will topic", &will.topic);
                parts.push(
                    "will message",
                    2 + will.message.len(),
                    format!("{} bytes", will.message.len()),
                );
            }
            if let Some(username) = &connect.username {
                parts.string("user name", username);
            }
            if let Some(password) = &connect.password {
                parts.push("password", 2 + password.len(), "(hidden)".into());
                if let Some(last) = parts.parts.last_mut() {
                    last.secret = true;
                }
            }
        }
        Packet::ConnAck(connack) => {
            parts.push(
                "acknowledge flags",
                1,
                format!("session present: {}", yes_no(connack.session_present)),
            );
            parts.push(
                "return code",
                1,
                format!("{} ({})", connack.code as u8, connack.code.message()),
            );
        }
        Packet::Publish(publish) => {
            parts.string("topic", &publish.topic);
            if let Some(id) = publish.qos_pid.packet_id() {
                parts.push("packet id", 2, id.to_string());
            }
            let payload = String::from_utf8_lossy(&publish.payload).into_owned();
            parts.push("payload", publish.payload.len(), payload);
        }
        Packet::PubAck(id) | Packet::UnsubAck(id) => parts.push("packet id", 2, id.to_string()),
        Packet::SubAck(suback) => {
            parts.push("packet id", 2, suback.pid.to_string());
            for granted in &suback.granted {
                parts.push("return code", 1, granted.words().into());
            }
        }
        // The client's decoder refuses these (only a server receives them): never here.
        Packet::Subscribe(_) | Packet::Unsubscribe(_) => {}
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
    Ok(Dissection {
        packet,
        parts: parts.parts,
    })
}

/// The fixed header's first byte in words: the type, and a PUBLISH's DUP, QoS and RETAIN.
fn header_words(packet: &Packet, first: u8) -> String {
    match packet {
        Packet::Publish(publish) => format!(
            "{} (DUP {}, QoS {}, RETAIN {})",
            packet.name(),
            u8::from(publish.dup),
            publish.qos_pid.qos() as u8,
            u8::from(publish.retain)
        ),
        _ => format!("{} (type {})", packet.name(), first >> 4),
    }
}

fn connect_flags(flags: u8) -> String {
    let mut words = vec![];
    for (bit, name) in [
        (0x80, "user name"),
        (0x40, "password"),
        (0x20, "will retain"),
        (0x04, "will"),
        (0x02, "clean session"),
    ] {
        if flags & bit != 0 {
            words.push(name);
        }
    }
    if (flags >> 3) & 0b11 == QoS::AtLeastOnce as u8 {
        words.push("will QoS 1");
    }
    if words.is_empty() {
        "none".into()
    } else {
        words.join(", ")
    }
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

/// Lays the fields over the bytes, one after the other.
struct Parts {
    parts: Vec<Part>,
    at: usize,
}

impl Parts {
    fn push(&mut self, name: &'static str, len: usize, value: String) {
        self.parts.push(Part {
            name,
            start: self.at,
            end: self.at + len,
            value,
            secret: false,
        });
        self.at += len;
    }

    /// A length-prefixed UTF-8 string.
    fn string(&mut self, name: &'static str, text: &str) {
        self.push(name, 2 + text.len(), format!("\"{text}\""));
    }
}
