//! PINGREQ and PINGRESP: keep-alive [MQTT-3.12] [MQTT-3.13]. Two bytes each, no fields.

pub fn encode_pingreq(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xc0, 0x00]);
}

pub fn encode_pingresp(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xd0, 0x00]);
}
