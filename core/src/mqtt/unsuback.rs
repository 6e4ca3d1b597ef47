//! UNSUBACK: the broker's answer to UNSUBSCRIBE, its packet id and nothing else [MQTT-3.11].

use super::PacketId;
use super::codec::{write_fixed_header, write_u16};

pub fn encode(pid: PacketId, out: &mut Vec<u8>) {
    super::always(write_fixed_header(0xb0, 2, out));
    write_u16(pid.get(), out);
}
