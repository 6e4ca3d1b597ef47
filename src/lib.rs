//! dps368-sim: a simulated Infineon XENSIV DPS368 pressure/temperature sensor that publishes
//! JSON telemetry over MQTT 3.1.1 on a WebSocket, from a browser page.
//!
//! The pure core is the `dps368-core` crate (`core/`), re-exported here under the same module
//! names; `transport` and `ui` are the browser edge and exist only on wasm32.

#[cfg(feature = "latency")]
pub use dps368_core::latency;
pub use dps368_core::{
    detect, device, fleet, html, link, monitor, mqtt, qr, scenario, score, sensor, session,
    settings, watch,
};

#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod ui;

/// The pages' allocator: talc, in place of Rust's default dlmalloc, about 1 KB smaller in the
/// page's gzip (README, Bundle size) and faster; no realloc in place, for size.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
