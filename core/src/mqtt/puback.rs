//! PUBACK: the answer to a QoS 1 PUBLISH [MQTT-3.4].

use super::PacketId;
use super::codec::{write_fixed_header, write_u16};

pub fn encode(pid: PacketId, out: &mut Vec<u8>) {
    super::always(write_fixed_header(0x40, 2, out));
    write_u16(pid.get(), out);
}
