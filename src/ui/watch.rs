//! The chart and the frame inspector of one device of the fleet. Both are drawn by the pure
//! [`crate::watch`] module as HTML at display rate; a folded one records nothing.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::SimulatorHandle;

/// Which device the chart and the inspector show: its number in the fleet, from 1.
fn device_picker(sim: SimulatorHandle, id: &'static str) -> impl IntoView {
    let count = move || {
        sim.view
            .with(|v| v.connected.1)
            .max(sim.rows.with(Vec::len))
            .max(1)
    };
    view! {
        <label for=id>"Device number"</label>
        <input
            id=id
            type="number"
            min="1"
            max=move || count().to_string()
            prop:value=move || (sim.watched.get() + 1).to_string()
            on:input=move |ev| {
                if let Ok(n) = event_target_value(&ev).trim().parse::<usize>() {
                    sim.watched.set(n.clamp(1, count()) - 1);
                }
            }
        />
    }
}

/// Tracks a `<details>` element's open state in `open`.
fn on_toggle(open: RwSignal<bool>) -> impl Fn(web_sys::Event) + 'static {
    move |ev: web_sys::Event| {
        if let Some(details) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
        {
            open.set(details.open());
        }
    }
}

#[component]
pub fn Chart(sim: SimulatorHandle) -> impl IntoView {
    view! {
        <section class="chart" aria-labelledby="chart-heading">
            <details prop:open=sim.chart_open.get_untracked() on:toggle=on_toggle(sim.chart_open)>
                <summary><h2 id="chart-heading">"Chart"</h2></summary>
                <p class="picker">{device_picker(sim, "chart-device")}
                    <span class="hint">"the last 300 samples; shaded: anomaly events; gaps: dropouts"</span>
                </p>
                <div class="plot" data-testid="chart" prop:innerHTML=move || sim.chart.get()></div>
            </details>
        </section>
    }
}

#[component]
pub fn Inspector(sim: SimulatorHandle) -> impl IntoView {
    let paused = RwSignal::new(false);
    view! {
        <section class="inspector" aria-labelledby="inspector-heading">
            <details prop:open=sim.inspector_open.get_untracked() on:toggle=on_toggle(sim.inspector_open)>
                <summary><h2 id="inspector-heading">"Frame inspector"</h2></summary>
                <p class="picker">
                    {device_picker(sim, "inspector-device")}
                    <button
                        class="small"
                        data-testid="inspector-pause"
                        aria-pressed=move || paused.get().to_string()
                        on:click=move |_| {
                            paused.update(|p| *p = !*p);
                            sim.simulator.with_value(|s| s.pause_frames(paused.get_untracked()));
                        }
                    >
                        {move || if paused.get() { "Resume" } else { "Pause" }}
                    </button>
                    <button
                        class="small"
                        data-testid="inspector-clear"
                        on:click=move |_| {
                            sim.frame_detail.set(String::new());
                            sim.simulator.with_value(|s| s.clear_frames());
                        }
                    >
                        "Clear"
                    </button>
                    <span class="hint">"the connection's last 200 MQTT packets, newest first; pick one to take it apart"</span>
                </p>
                <div class="frames" data-testid="inspector">
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"time (UTC)"</th>
                                <th scope="col">"direction"</th>
                                <th scope="col">"type"</th>
                                <th scope="col">"packet id"</th>
                                <th scope="col">"bytes"</th>
                                <th scope="col">"flags"</th>
                            </tr>
                        </thead>
                        <tbody
                            prop:innerHTML=move || sim.frames.get()
                            on:click=move |ev| {
                                let number = ev
                                    .target()
                                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                                    .and_then(|e| e.get_attribute("data-frame"))
                                    .and_then(|n| n.parse::<u64>().ok());
                                if let Some(number) = number {
                                    let detail = sim.simulator.with_value(|s| s.select_frame(number));
                                    sim.frame_detail.set(detail.unwrap_or_default());
                                }
                            }
                        ></tbody>
                    </table>
                </div>
                <div class="frame-detail" data-testid="frame-detail" aria-live="polite" prop:innerHTML=move || sim.frame_detail.get()></div>
            </details>
        </section>
    }
}
