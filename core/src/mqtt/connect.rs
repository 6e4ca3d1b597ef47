//! CONNECT: the first packet a client sends [MQTT-3.1].

use super::codec::{Reader, check_field, write_bytes, write_fixed_header, write_u16};
use super::{DecodeError, EncodeError, QoS};

const PROTOCOL_NAME: &[u8] = b"MQTT";
const PROTOCOL_LEVEL: u8 = 4;

/// A message the broker publishes for the client when it goes away without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    pub topic: String,
    pub message: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    pub client_id: String,
    pub clean_session: bool,
    /// Seconds; 0 turns keep-alive off [MQTT-3.1.2-10].
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<LastWill>,
}

impl std::fmt::Debug for Connect {
    /// Every field but the password, which shows only whether one is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("client_id", &self.client_id)
            .field("clean_session", &self.clean_session)
            .field("keep_alive", &self.keep_alive)
            .field("username", &self.username)
            .field("password", &super::redacted(self.password.is_some()))
            .field("will", &self.will)
            .finish()
    }
}

impl Connect {
    /// The remaining length: variable header and payload.
    pub fn size(&self) -> Result<usize, EncodeError> {
        // Protocol name, level, flags, keep alive.
        let mut size = 2 + PROTOCOL_NAME.len() + 1 + 1 + 2;
        size += check_field("client id", self.client_id.as_bytes())?;
        if let Some(will) = &self.will {
            size += check_field("will topic", will.topic.as_bytes())?;
            size += check_field("will message", &will.message)?;
        }
        if let Some(username) = &self.username {
            size += check_field("user name", username.as_bytes())?;
        }
        if let Some(password) = &self.password {
            size += check_field("password", password)?;
        }
        Ok(size)
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_session {
            flags |= 0b0000_0010;
        }
        if let Some(will) = &self.will {
            flags |= 0b0000_0100 | ((will.qos as u8) << 3);
            if will.retain {
                flags |= 0b0010_0000;
            }
        }
        if self.password.is_some() {
            flags |= 0b0100_0000;
        }
        if self.username.is_some() {
            flags |= 0b1000_0000;
        }
        flags
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // [MQTT-3.1.2-22] If the User Name Flag is 0, the Password Flag MUST be 0.
        if self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::PasswordWithoutUsername);
        }
        let size = self.size()?;
        write_fixed_header(0x10, size, out)?;
        write_bytes(PROTOCOL_NAME, out);
        out.push(PROTOCOL_LEVEL);
        out.push(self.flags());
        write_u16(self.keep_alive, out);
        write_bytes(self.client_id.as_bytes(), out);
        if let Some(will) = &self.will {
            write_bytes(will.topic.as_bytes(), out);
            write_bytes(&will.message, out);
        }
        if let Some(username) = &self.username {
            write_bytes(username.as_bytes(), out);
        }
        if let Some(password) = &self.password {
            write_bytes(password, out);
        }
        Ok(())
    }

    pub(super) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if reader.binary()? != PROTOCOL_NAME {
            return Err(DecodeError::InvalidProtocolName);
        }
        let level = reader.u8()?;
        if level != PROTOCOL_LEVEL {
            return Err(DecodeError::InvalidProtocolLevel(level));
        }
        let flags = reader.u8()?;
        let will_flag = flags & 0b0000_0100 != 0;
        let will_qos = (flags >> 3) & 0b11;
        let will_retain = flags & 0b0010_0000 != 0;
        let has_password = flags & 0b0100_0000 != 0;
        let has_username = flags & 0b1000_0000 != 0;
        let invalid = flags & 0b0000_0001 != 0 // [MQTT-3.1.2-3] reserved flag must be 0
            || (!will_flag && (will_qos != 0 || will_retain)) // [MQTT-3.1.2-11] [MQTT-3.1.2-13]
            || will_qos > 1
            || (has_password && !has_username); // [MQTT-3.1.2-22]
        if invalid {
            return Err(DecodeError::InvalidConnectFlags(flags));
        }
        let keep_alive = reader.u16()?;
        let client_id = reader.string()?;
        let will = if will_flag {
            Some(LastWill {
                topic: reader.string()?,
                message: reader.binary()?.to_vec(),
                qos: if will_qos == 1 {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                },
                retain: will_retain,
            })
        } else {
            None
        };
        let username = has_username.then(|| reader.string()).transpose()?;
        let password = has_password
            .then(|| reader.binary().map(<[u8]>::to_vec))
            .transpose()?;
        Ok(Self {
            client_id,
            clean_session: flags & 0b0000_0010 != 0,
            keep_alive,
            username,
            password,
            will,
        })
    }
}
