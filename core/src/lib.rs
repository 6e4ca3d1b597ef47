//! The pure core of dps368-sim, shared by the browser page and any other runner: the MQTT
//! 3.1.1 codec (`mqtt`) and client state machine (`session`), the DPS368 model (`sensor`),
//! settings and their validation (`settings`), one MQTT client and its sensors (`device`), a
//! fleet of them (`fleet`), one connection's life (`link`), one device watched (`watch`), the share link's QR code (`qr`),
//! scoring a detector (`score`), the baseline detector (`detect`) and the monitor (`monitor`).
//!
//! Sans-IO: bytes and time go in, bytes, actions and events come out. Nothing here names a
//! browser, a socket or a clock; the runner brings those in. Being its own crate, with no
//! browser dependency, the compiler keeps that line.

pub mod detect;
pub mod device;
pub mod fleet;
pub mod html;
#[cfg(feature = "latency")]
pub mod latency;
pub mod link;
pub mod monitor;
pub mod mqtt;
pub mod qr;
pub mod scenario;
pub mod score;
pub mod sensor;
pub mod session;
pub mod settings;
pub mod watch;

#[cfg(test)]
mod testing;
