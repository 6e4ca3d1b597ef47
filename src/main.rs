//! Mounts the simulator page.

#[cfg(target_arch = "wasm32")]
fn main() {
    // Panics go to the console with their message (a smaller stand-in for
    // console_error_panic_hook, which also captures a JS stack).
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("dps368-sim panicked: {info}").into());
    }));
    // `?view=monitor` is the monitor page, built beside this one: go there, query intact.
    if let Some(location) = web_sys::window().map(|w| w.location())
        && let Ok(search) = location.search()
        && search
            .trim_start_matches('?')
            .split('&')
            .any(|pair| pair == "view=monitor")
    {
        let _ = location.replace(&format!("monitor/{search}"));
        return;
    }
    leptos::mount::mount_to_body(dps368_sim::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "dps368-page is the browser page: run scripts/run.sh (trunk serve) to build and serve it; the native runner is `cargo run --release -p dps368-runner`."
    );
    std::process::exit(2);
}
