//! MQTT 3.1.1 packets to and from bytes, and topic filters. Pure: no I/O, no clock, no browser.
//!
//! [`decode`] reads one packet from the front of a buffer, returning `Ok(None)` while the packet
//! is incomplete; [`Decoder`] keeps the bytes of a stream between calls. [`Packet::encode`]
//! appends a packet's bytes to a buffer.

mod codec;
mod connack;
mod connect;
mod disconnect;
mod dissect;
mod ping;
mod puback;
mod publish;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

use std::fmt;
use std::num::NonZeroU16;

pub use codec::{MAX_REMAINING_LENGTH, remaining_length_len};
pub use connack::{ConnAck, ConnectReturnCode};
pub use connect::{Connect, LastWill};
pub use dissect::{Dissection, Part, dissect};
pub use publish::{Publish, QosPid};
pub use suback::{Granted, SubAck};
pub use subscribe::{Subscribe, check_filter, matches};
pub use unsubscribe::Unsubscribe;

use codec::Reader;

/// A packet identifier: never zero [MQTT-2.3.1-1].
pub type PacketId = NonZeroU16;

/// Quality of service of a PUBLISH or a will.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
}

/// The packets this client sends or understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PacketId),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(PacketId),
    PingReq,
    PingResp,
    Disconnect,
}

/// Why bytes could not be read as a packet. Each one closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Packet types 0 and 15 are reserved [MQTT-2.2.1].
    InvalidPacketType(u8),
    /// A valid MQTT 3.1.1 type that this QoS 0/1 client never expects: the QoS 2 flow, and
    /// SUBSCRIBE and UNSUBSCRIBE, which only a server receives.
    UnsupportedPacketType(u8),
    /// Fixed-header flags other than those the spec fixes for the type [MQTT-2.2.2-2].
    InvalidHeaderFlags { packet_type: u8, flags: u8 },
    /// A fifth remaining-length byte, or an encoding longer than it needs to be.
    MalformedRemainingLength,
    /// The packet is larger than this decoder accepts.
    PacketTooLarge { size: usize, max: usize },
    /// QoS 3 is forbidden [MQTT-3.3.1-4].
    InvalidQos(u8),
    /// QoS 2 is valid MQTT but this client neither sends nor subscribes with it.
    UnsupportedQos(u8),
    /// CONNECT's protocol name is not "MQTT" [MQTT-3.1.2-1].
    InvalidProtocolName,
    /// CONNECT's protocol level is not 4 [MQTT-3.1.2-2].
    InvalidProtocolLevel(u8),
    /// CONNECT's reserved flag is set, or the flags contradict each other [MQTT-3.1.2-3].
    InvalidConnectFlags(u8),
    /// CONNACK's reserved acknowledge flags are set [MQTT-3.2.2-1].
    InvalidConnAckFlags(u8),
    /// CONNACK return codes above 5 are reserved.
    InvalidConnectReturnCode(u8),
    /// Packet identifier 0 [MQTT-2.3.1-1].
    ZeroPacketId,
    /// A string that is not well-formed UTF-8 or contains U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2].
    InvalidString,
    /// A PUBLISH topic with wildcards [MQTT-3.3.2-2].
    InvalidTopic,
    /// The remaining length ends before the packet's fields do.
    UnexpectedEnd,
    /// The remaining length holds bytes after the packet's last field.
    TrailingBytes,
    /// A SUBSCRIBE or UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2]
    /// (read by the tests' oracle only: a client never receives them).
    NoTopicFilter,
    /// A topic filter that breaks the wildcard rules [MQTT-4.7.1], and how.
    InvalidTopicFilter(&'static str),
    /// A SUBACK return code other than 0, 1, 2 or 0x80 [MQTT-3.9.3-2].
    InvalidSubAckCode(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPacketType(t) => write!(f, "invalid packet type {t}"),
            Self::UnsupportedPacketType(t) => write!(f, "unexpected packet type {t}"),
            Self::InvalidHeaderFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid flags {flags:#06b} for packet type {packet_type}"
                )
            }
            Self::MalformedRemainingLength => write!(f, "malformed remaining length"),
            Self::PacketTooLarge { size, max } => {
                write!(f, "packet of {size} bytes is over the {max} byte limit")
            }
            Self::InvalidQos(q) => write!(f, "invalid QoS {q}"),
            Self::UnsupportedQos(q) => write!(f, "unsupported QoS {q}"),
            Self::InvalidProtocolName => write!(f, "protocol name is not MQTT"),
            Self::InvalidProtocolLevel(l) => write!(f, "protocol level {l} is not 4"),
            Self::InvalidConnectFlags(b) => write!(f, "invalid CONNECT flags {b:#010b}"),
            Self::InvalidConnAckFlags(b) => write!(f, "invalid CONNACK flags {b:#010b}"),
            Self::InvalidConnectReturnCode(c) => write!(f, "invalid CONNACK return code {c}"),
            Self::ZeroPacketId => write!(f, "packet id 0"),
            Self::InvalidString => write!(f, "string is not valid MQTT UTF-8"),
            Self::InvalidTopic => write!(f, "PUBLISH topic contains a wildcard"),
            Self::UnexpectedEnd => write!(f, "packet ends before its fields do"),
            Self::TrailingBytes => write!(f, "packet has bytes after its last field"),
            Self::NoTopicFilter => write!(f, "SUBSCRIBE or UNSUBSCRIBE without a topic filter"),
            Self::InvalidTopicFilter(why) => write!(f, "invalid topic filter: {why}"),
            Self::InvalidSubAckCode(code) => write!(f, "invalid SUBACK return code {code}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A string or binary field is over the 65,535 bytes a length prefix can say.
    FieldTooLong { field: &'static str, len: usize },
    /// The packet would need a remaining length over 268,435,455 bytes.
    PacketTooLarge(usize),
    /// A password needs a user name [MQTT-3.1.2-22].
    PasswordWithoutUsername,
    /// A SUBSCRIBE or UNSUBSCRIBE needs a topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2].
    NoTopicFilter,
    /// A topic filter that breaks the wildcard rules [MQTT-4.7.1], and how.
    InvalidTopicFilter(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldTooLong { field, len } => {
                write!(f, "{field} is {len} bytes, over the 65535 byte limit")
            }
            Self::PacketTooLarge(len) => write!(f, "packet of {len} bytes is too large"),
            Self::PasswordWithoutUsername => write!(f, "a password needs a user name"),
            Self::NoTopicFilter => write!(f, "at least one topic filter is needed"),
            Self::InvalidTopicFilter(why) => write!(f, "invalid topic filter: {why}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// How a secret shows in a `Debug` print: only whether there is one. Every type that holds the
/// password (the form, the settings, the session config, CONNECT) prints it through this.
pub fn redacted(present: bool) -> Option<&'static str> {
    present.then_some("<redacted>")
}

/// The value of an encoding that cannot fail (fixed-size packets, or fields checked before).
/// Not `expect`: that would print the error with `Debug`, pulling string escaping (about 2 KB)
/// into the page.
pub(crate) fn always<T>(result: Result<T, EncodeError>) -> T {
    match result {
        Ok(value) => value,
        Err(_) => unreachable!("this packet always encodes"),
    }
}

impl Packet {
    /// Appends this packet's bytes to `out`. On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Connect(connect) => connect.encode(out),
            Self::ConnAck(connack) => {
                connack.encode(out);
                Ok(())
            }
            Self::Publish(publish) => publish.encode(out),
            Self::PubAck(pid) => {
                puback::encode(*pid, out);
                Ok(())
            }
            Self::PingReq => {
                ping::encode_pingreq(out);
                Ok(())
            }
            Self::PingResp => {
                ping::encode_pingresp(out);
                Ok(())
            }
            Self::Subscribe(subscribe) => subscribe.encode(out),
            Self::SubAck(suback) => suback.encode(out),
            Self::Unsubscribe(unsubscribe) => unsubscribe.encode(out),
            Self::UnsubAck(pid) => {
                unsuback::encode(*pid, out);
                Ok(())
            }
            Self::Disconnect => {
                disconnect::encode(out);
                Ok(())
            }
        }
    }

    /// This packet's bytes as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// The packet's name as the spec writes it, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connect(_) => "CONNECT",
            Self::ConnAck(_) => "CONNACK",
            Self::Publish(_) => "PUBLISH",
            Self::PubAck(_) => "PUBACK",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::SubAck(_) => "SUBACK",
            Self::Unsubscribe(_) => "UNSUBSCRIBE",
            Self::UnsubAck(_) => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
        }
    }
}

/// Reads one packet from the front of `buf`.
///
/// Returns `Ok(None)` while `buf` holds only part of a packet, and `Ok(Some((packet, n)))` when
/// the first `n` bytes were exactly one packet. `max_packet_size` bounds the whole packet, so a
/// peer cannot make the decoder wait for (and buffer) an endless packet.
pub fn decode(buf: &[u8], max_packet_size: usize) -> Result<Option<(Packet, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = first >> 4;
    let flags = first & 0x0f;
    // Reject a bad type before waiting for the rest: a hostile peer should not get to make us
    // buffer bytes for a packet we would refuse anyway.
    check_header(packet_type, flags)?;

    let Some((remaining, len_bytes)) = codec::read_remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    let total = 1 + len_bytes + remaining;
    if total > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[1 + len_bytes..total];
    let mut reader = Reader::new(body);
    let packet = match packet_type {
        1 => Packet::Connect(Connect::decode(&mut reader)?),
        2 => Packet::ConnAck(ConnAck::decode(&mut reader)?),
        3 => Packet::Publish(Publish::decode(flags, &mut reader)?),
        4 => Packet::PubAck(reader.packet_id()?),
        9 => Packet::SubAck(SubAck::decode(&mut reader)?),
        11 => Packet::UnsubAck(reader.packet_id()?),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        _ => unreachable!("check_header admits only the types above"),
    };
    reader.finish()?;
    Ok(Some((packet, total)))
}

/// Reads one whole packet as a server would: also SUBSCRIBE and UNSUBSCRIBE, which the
/// client's [`decode`] refuses. For the tests' scripted brokers.
#[cfg(test)]
pub fn decode_as_server(buf: &[u8]) -> Result<Packet, DecodeError> {
    let packet_type = buf.first().map_or(0, |b| b >> 4);
    if !matches!(packet_type, 8 | 10) {
        return match decode(buf, usize::MAX)? {
            Some((packet, used)) if used == buf.len() => Ok(packet),
            Some(_) => Err(DecodeError::TrailingBytes),
            None => Err(DecodeError::UnexpectedEnd),
        };
    }
    if buf[0] & 0x0f != subscribe::FLAGS {
        return Err(DecodeError::InvalidHeaderFlags {
            packet_type,
            flags: buf[0] & 0x0f,
        });
    }
    let (remaining, len_bytes) =
        codec::read_remaining_length(&buf[1..])?.ok_or(DecodeError::UnexpectedEnd)?;
    if buf.len() != 1 + len_bytes + remaining {
        return Err(DecodeError::UnexpectedEnd);
    }
    let mut reader = Reader::new(&buf[1 + len_bytes..]);
    let packet = match packet_type {
        8 => Packet::Subscribe(Subscribe::decode(&mut reader)?),
        _ => Packet::Unsubscribe(Unsubscribe::decode(&mut reader)?),
    };
    reader.finish()?;
    Ok(packet)
}

/// Checks the first byte of a fixed header: a known type with the flags the spec fixes for it.
fn check_header(packet_type: u8, flags: u8) -> Result<(), DecodeError> {
    let required_flags = match packet_type {
        0 | 15 => return Err(DecodeError::InvalidPacketType(packet_type)),
        // The QoS 2 flow, and what only a server receives (SUBSCRIBE, UNSUBSCRIBE).
        5..=8 | 10 => return Err(DecodeError::UnsupportedPacketType(packet_type)),
        // PUBLISH flags carry DUP, QoS and RETAIN; Publish::decode checks them.
        3 => return Ok(()),
        _ => 0,
    };
    if flags != required_flags {
        return Err(DecodeError::InvalidHeaderFlags { packet_type, flags });
    }
    Ok(())
}

/// What a [`Decoder`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Packet(Packet),
    /// A PUBLISH over the size limit: its header (the payload left empty), and its whole size.
    Oversized {
        publish: Publish,
        size: usize,
    },
}

/// The header of the PUBLISH at the front of `buf` (its payload empty), once its topic and
/// packet id have arrived: at most 65,535 bytes of topic are waited for.
fn oversized_publish(buf: &[u8]) -> Result<Option<Publish>, DecodeError> {
    // A QoS the header cannot have is refused before waiting for the topic.
    let qos = (buf[0] >> 1) & 0b11;
    match qos {
        2 => return Err(DecodeError::UnsupportedQos(2)),
        3 => return Err(DecodeError::InvalidQos(3)),
        _ => {}
    }
    let Some((remaining, len_bytes)) = codec::read_remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    let at = 1 + len_bytes;
    let Some(topic_len) = buf
        .get(at..at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return Ok(None);
    };
    let head_len = 2 + topic_len + if qos > 0 { 2 } else { 0 };
    // The topic and packet id must lie within the packet.
    if head_len > remaining {
        return Err(DecodeError::UnexpectedEnd);
    }
    let Some(head) = buf.get(at..at + head_len) else {
        return Ok(None);
    };
    let mut reader = Reader::new(head);
    Publish::decode(buf[0] & 0x0f, &mut reader).map(Some)
}

/// Buffers a byte stream and yields the packets in it, in order.
///
/// WebSocket frames and MQTT packets need not line up [MQTT-6.0.0-2]: push every frame, then
/// call [`Decoder::next_packet`] until it returns `Ok(None)`.
///
/// Work is linear in the bytes received, however they are framed: packets are read at an
/// offset, and the consumed bytes are discarded once per [`Decoder::push`], not once per packet.
/// What stays buffered between frames is at most one partial packet, which `max_packet_size`
/// bounds.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the next packet starts in `buf`.
    start: usize,
    max_packet_size: usize,
    /// Bytes of an oversized PUBLISH still to discard as they arrive.
    skipping: usize,
    /// Bytes moved to discard consumed ones, so tests can see that work stays linear.
    #[cfg(test)]
    moved: usize,
}

impl Decoder {
    /// A decoder that refuses packets over `max_packet_size` bytes.
    pub fn new(max_packet_size: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_packet_size,
            skipping: 0,
            #[cfg(test)]
            moved: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            #[cfg(test)]
            {
                self.moved += self.buf.len() - self.start;
            }
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed; a packet over the
    /// size limit is an error, a PUBLISH too.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        match self.next_incoming()? {
            Some(Incoming::Packet(packet)) => Ok(Some(packet)),
            Some(Incoming::Oversized { size, .. }) => Err(DecodeError::PacketTooLarge {
                size,
                max: self.max_packet_size,
            }),
            None => Ok(None),
        }
    }

    /// The next whole packet, or a PUBLISH over the size limit: its topic and packet id, its
    /// payload discarded as it streams past, so a subscriber can acknowledge it and carry on
    /// (a retained message too large for it must not lock it out). `Ok(None)` when more bytes
    /// are needed.
    pub fn next_incoming(&mut self) -> Result<Option<Incoming>, DecodeError> {
        if self.skipping > 0 {
            let discarded = self.skipping.min(self.buf.len() - self.start);
            self.start += discarded;
            self.skipping -= discarded;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        let buf = &self.buf[self.start..];
        match decode(buf, self.max_packet_size) {
            Ok(Some((packet, used))) => {
                self.start += used;
                Ok(Some(Incoming::Packet(packet)))
            }
            Ok(None) => Ok(None),
            Err(DecodeError::PacketTooLarge { size, .. }) if buf[0] >> 4 == 3 => {
                let Some(publish) = oversized_publish(buf)? else {
                    return Ok(None);
                };
                let taken = size.min(buf.len());
                self.start += taken;
                self.skipping = size - taken;
                Ok(Some(Incoming::Oversized { publish, size }))
            }
            Err(error) => Err(error),
        }
    }

    /// Bytes received but not yet part of a whole packet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.skipping = 0;
    }

    /// Bytes moved so far to discard consumed ones.
    #[cfg(test)]
    pub fn moved(&self) -> usize {
        self.moved
    }
}

#[cfg(test)]
mod tests;
