//! Mounts the monitor page (built by trunk from monitor.html, served at `monitor/`).

#[cfg(target_arch = "wasm32")]
fn main() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("dps368-sim monitor panicked: {info}").into());
    }));
    dps368_sim::ui::monitor::mount();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the monitor is a browser page: run scripts/run.sh and open /monitor/.");
    std::process::exit(2);
}
