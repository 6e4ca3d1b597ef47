//! Mounts the scenario player: the simulator page built with the `scenario` feature (by trunk
//! from player.html, served at `player/`).

#[cfg(target_arch = "wasm32")]
fn main() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("dps368-sim player panicked: {info}").into());
    }));
    leptos::mount::mount_to_body(dps368_sim::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the scenario player is a browser page: run scripts/run.sh and open /player/.");
    std::process::exit(2);
}
