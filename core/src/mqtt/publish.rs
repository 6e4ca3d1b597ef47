//! PUBLISH: an application message [MQTT-3.3].

use super::codec::{Reader, check_field, write_bytes, write_fixed_header, write_u16};
use super::{DecodeError, EncodeError, PacketId, QoS};

/// The QoS of a PUBLISH, with the packet id that QoS 1 needs and QoS 0 must not have
/// [MQTT-2.3.1-5].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosPid {
    AtMostOnce,
    AtLeastOnce(PacketId),
}

impl QosPid {
    pub fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce(_) => QoS::AtLeastOnce,
        }
    }

    pub fn packet_id(self) -> Option<PacketId> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce(pid) => Some(pid),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Set when this is a re-delivery of an earlier attempt [MQTT-3.3.1-1].
    pub dup: bool,
    pub qos_pid: QosPid,
    pub retain: bool,
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Publish {
    pub fn size(&self) -> Result<usize, EncodeError> {
        let pid = if self.qos_pid.packet_id().is_some() {
            2
        } else {
            0
        };
        Ok(check_field("topic", self.topic.as_bytes())? + pid + self.payload.len())
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut first = 0x30 | ((self.qos_pid.qos() as u8) << 1);
        // [MQTT-3.3.1-2] DUP must be 0 for QoS 0 messages.
        if self.dup && self.qos_pid.packet_id().is_some() {
            first |= 0b1000;
        }
        if self.retain {
            first |= 0b0001;
        }
        write_fixed_header(first, self.size()?, out)?;
        write_bytes(self.topic.as_bytes(), out);
        if let Some(pid) = self.qos_pid.packet_id() {
            write_u16(pid.get(), out);
        }
        out.extend_from_slice(&self.payload);
        Ok(())
    }

    pub(super) fn decode(flags: u8, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let dup = flags & 0b1000 != 0;
        let retain = flags & 0b0001 != 0;
        let qos = (flags >> 1) & 0b11;
        match qos {
            0 | 1 => {}
            2 => return Err(DecodeError::UnsupportedQos(2)),
            // [MQTT-3.3.1-4] A PUBLISH must not have both QoS bits set.
            _ => return Err(DecodeError::InvalidQos(qos)),
        }
        // [MQTT-3.3.1-2] DUP must be 0 for QoS 0 messages.
        if qos == 0 && dup {
            return Err(DecodeError::InvalidHeaderFlags {
                packet_type: 3,
                flags,
            });
        }
        let topic = reader.string()?;
        // [MQTT-3.3.2-2] The topic name must not contain wildcard characters.
        if topic.contains(['+', '#']) {
            return Err(DecodeError::InvalidTopic);
        }
        let qos_pid = if qos == 1 {
            QosPid::AtLeastOnce(reader.packet_id()?)
        } else {
            QosPid::AtMostOnce
        };
        Ok(Self {
            dup,
            qos_pid,
            retain,
            topic,
            payload: reader.rest().to_vec(),
        })
    }
}
