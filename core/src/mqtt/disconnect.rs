//! DISCONNECT: the client's clean goodbye [MQTT-3.14]; the broker then drops the will.

pub fn encode(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xe0, 0x00]);
}
