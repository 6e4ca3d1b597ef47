//! dps368-sim: a simulated Infineon XENSIV DPS368 pressure/temperature sensor that publishes
//! JSON telemetry over MQTT 3.1.1 on a WebSocket, from a browser page.
//!
//! The pure core (`mqtt`, `session`, `sensor`, `settings`, `device`, `fleet`, `watch`, `qr`,
//! `score`, `detect`, `monitor`) builds and tests on the host; `transport` and `ui` are the browser edge and exist only on wasm32.

pub mod detect;
pub mod device;
pub mod fleet;
pub mod monitor;
pub mod mqtt;
pub mod qr;
pub mod score;
pub mod sensor;
pub mod session;
pub mod settings;
pub mod watch;

#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod ui;
