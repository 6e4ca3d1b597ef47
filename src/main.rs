//! Mounts the simulator page.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(dps368_sim::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "dps368-sim is a browser page: run scripts/run.sh (trunk serve) to build and serve it."
    );
    std::process::exit(2);
}
