//! What the core's tests share: one fake clock, and the broker's CONNACK.

use crate::device::Time;
use crate::mqtt::{ConnAck, ConnectReturnCode, Packet};

/// Wall-clock time at monotonic 0: 2026-11-26T17:00:00Z.
pub const EPOCH: i64 = 1_795_712_400_000;

/// The fake clock at `ms` milliseconds: monotonic `ms`, wall clock [`EPOCH`] + `ms`.
pub fn at(ms: u64) -> Time {
    Time {
        mono_ms: ms,
        wall_ms: EPOCH + ms as i64,
    }
}

/// A CONNACK with `code` and no session present, as bytes.
pub fn connack(code: ConnectReturnCode) -> Vec<u8> {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    })
    .to_bytes()
    .unwrap()
}
