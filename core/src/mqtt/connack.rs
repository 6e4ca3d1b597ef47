//! CONNACK: the broker's answer to CONNECT [MQTT-3.2].

use std::fmt;

use super::DecodeError;
use super::codec::{Reader, write_fixed_header};

/// CONNACK return codes [MQTT-3.2.2.3]. Anything but `Accepted` means the broker closes the
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUserNameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    pub fn from_u8(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return Err(DecodeError::InvalidConnectReturnCode(code)),
        })
    }

    /// What the code means, in the spec's words, for a person.
    pub fn message(self) -> &'static str {
        match self {
            Self::Accepted => "connection accepted",
            Self::UnacceptableProtocolVersion => "unacceptable protocol version",
            Self::IdentifierRejected => "identifier rejected",
            Self::ServerUnavailable => "server unavailable",
            Self::BadUserNameOrPassword => "bad user name or password",
            Self::NotAuthorized => "not authorized",
        }
    }
}

impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: ConnectReturnCode,
}

impl ConnAck {
    pub fn size(&self) -> usize {
        2
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        super::always(write_fixed_header(0x20, self.size(), out));
        out.push(u8::from(self.session_present));
        out.push(self.code as u8);
    }

    pub(super) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let flags = reader.u8()?;
        // [MQTT-3.2.2-1] bits 7-1 are reserved and must be 0.
        if flags & 0xfe != 0 {
            return Err(DecodeError::InvalidConnAckFlags(flags));
        }
        let code = ConnectReturnCode::from_u8(reader.u8()?)?;
        Ok(Self {
            session_present: flags & 1 != 0,
            code,
        })
    }
}
