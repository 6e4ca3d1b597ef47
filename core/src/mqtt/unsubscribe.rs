//! UNSUBSCRIBE: the topic filters a client drops [MQTT-3.10].

use super::codec::{check_field, write_bytes, write_fixed_header, write_u16};
#[cfg(test)]
use super::subscribe::check_filter;
use super::subscribe::{FLAGS, check_filters};
#[cfg(test)]
use super::{DecodeError, codec::Reader};
use super::{EncodeError, PacketId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub pid: PacketId,
    /// At least one [MQTT-3.10.3-2].
    pub filters: Vec<String>,
}

impl Unsubscribe {
    pub fn size(&self) -> Result<usize, EncodeError> {
        let mut size = 2;
        for filter in &self.filters {
            size += check_field("topic filter", filter.as_bytes())?;
        }
        Ok(size)
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check_filters(self.filters.iter().map(String::as_str))?;
        write_fixed_header(0xa0 | FLAGS, self.size()?, out)?;
        write_u16(self.pid.get(), out);
        for filter in &self.filters {
            write_bytes(filter.as_bytes(), out);
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
            filters.push(filter);
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilter);
        }
        Ok(Self { pid, filters })
    }
}
