//! SUBACK: the broker's answer to SUBSCRIBE, a return code per filter in order [MQTT-3.9].

use super::codec::{Reader, write_fixed_header, write_u16};
use super::{DecodeError, EncodeError, PacketId, QoS};

/// What the broker granted for one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted {
    /// Subscribed, at most at this QoS.
    Qos(QoS),
    /// Subscribed at QoS 2 (which this client never asks for, but a broker may grant).
    Qos2,
    /// 0x80: the broker refused this filter.
    Failure,
}

impl Granted {
    fn code(self) -> u8 {
        match self {
            Granted::Qos(qos) => qos as u8,
            Granted::Qos2 => 2,
            Granted::Failure => 0x80,
        }
    }

    /// In words, for the page.
    pub fn words(self) -> &'static str {
        match self {
            Granted::Qos(QoS::AtMostOnce) => "subscribed at QoS 0",
            Granted::Qos(QoS::AtLeastOnce) => "subscribed at QoS 1",
            Granted::Qos2 => "subscribed at QoS 2",
            Granted::Failure => "refused by the broker (SUBACK failure 0x80)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub pid: PacketId,
    pub granted: Vec<Granted>,
}

impl SubAck {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_fixed_header(0x90, 2 + self.granted.len(), out)?;
        write_u16(self.pid.get(), out);
        out.extend(self.granted.iter().map(|g| g.code()));
        Ok(())
    }

    pub(super) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pid = reader.packet_id()?;
        let mut granted = vec![];
        while !reader.is_empty() {
            granted.push(match reader.u8()? {
                0 => Granted::Qos(QoS::AtMostOnce),
                1 => Granted::Qos(QoS::AtLeastOnce),
                2 => Granted::Qos2,
                0x80 => Granted::Failure,
                // [MQTT-3.9.3-2] Other codes are reserved.
                other => return Err(DecodeError::InvalidSubAckCode(other)),
            });
        }
        if granted.is_empty() {
            return Err(DecodeError::UnexpectedEnd);
        }
        Ok(Self { pid, granted })
    }
}
