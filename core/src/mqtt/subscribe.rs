//! SUBSCRIBE: the topic filters a client asks for, each with the QoS it wants [MQTT-3.8]; and
//! what makes a topic filter valid [MQTT-4.7].

use super::codec::{check_field, write_bytes, write_fixed_header, write_u16};
#[cfg(test)]
use super::{DecodeError, codec::Reader};
use super::{EncodeError, PacketId, QoS};

/// Fixed-header flags of SUBSCRIBE and UNSUBSCRIBE: 0010 [MQTT-3.8.1-1] [MQTT-3.10.1-1].
pub const FLAGS: u8 = 0b0010;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub pid: PacketId,
    /// At least one [MQTT-3.8.3-3].
    pub filters: Vec<(String, QoS)>,
}

impl Subscribe {
    pub fn size(&self) -> Result<usize, EncodeError> {
        let mut size = 2;
        for (filter, _) in &self.filters {
            size += check_field("topic filter", filter.as_bytes())? + 1;
        }
        Ok(size)
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check_filters(self.filters.iter().map(|(f, _)| f.as_str()))?;
        write_fixed_header(0x80 | FLAGS, self.size()?, out)?;
        write_u16(self.pid.get(), out);
        for (filter, qos) in &self.filters {
            write_bytes(filter.as_bytes(), out);
            out.push(*qos as u8);
        }
        Ok(())
    }

    /// Reads the packet's body (after the fixed header). Only a server receives this packet,
    /// so the client's [`super::decode`] refuses it; the tests read what the encoder wrote.
    #[cfg(test)]
    pub(super) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pid = reader.packet_id()?;
        let mut filters = vec![];
        while !reader.is_empty() {
            let filter = reader.string()?;
            check_filter(&filter).map_err(DecodeError::InvalidTopicFilter)?;
            // [MQTT-3.8.3-4] The upper six bits are reserved, and QoS 3 does not exist.
            let qos = match reader.u8()? {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                2 => return Err(DecodeError::UnsupportedQos(2)),
                other => return Err(DecodeError::InvalidQos(other)),
            };
            filters.push((filter, qos));
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilter);
        }
        Ok(Self { pid, filters })
    }
}

/// Checks the filters of a SUBSCRIBE or UNSUBSCRIBE before it is written: at least one
/// [MQTT-3.8.3-3] [MQTT-3.10.3-2], each valid.
pub(super) fn check_filters<'a>(filters: impl Iterator<Item = &'a str>) -> Result<(), EncodeError> {
    let mut any = false;
    for filter in filters {
        check_filter(filter).map_err(EncodeError::InvalidTopicFilter)?;
        any = true;
    }
    if any {
        Ok(())
    } else {
        Err(EncodeError::NoTopicFilter)
    }
}

/// Checks a topic filter, saying what is wrong with it: not empty [MQTT-4.7.3-1], no NUL
/// [MQTT-4.7.3-2], `#` only as the whole last level [MQTT-4.7.1-2], `+` only as a whole level
/// [MQTT-4.7.1-3].
pub fn check_filter(filter: &str) -> Result<(), &'static str> {
    if filter.is_empty() {
        return Err("a topic filter must not be empty");
    }
    if filter.contains('\0') {
        return Err("a topic filter must not contain NUL");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err("# must be a whole level, and the last one");
        }
        if level.contains('+') && *level != "+" {
            return Err("+ must be a whole level");
        }
    }
    Ok(())
}

/// Whether `topic` (a topic name, no wildcards) matches `filter` [MQTT-4.7]. A filter starting
/// with a wildcard does not match topics starting with `$` [MQTT-4.7.2-1].
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match (level, topic_levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (level, Some(name)) if level == name => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}
