//! The page: settings, Start/Stop, status, live counters, the last payload, the fleet table,
//! the chart and frame inspector of one device, the share link with its QR code, and an event
//! log. Components are thin: they render signals and call the simulator.

mod form;
mod share;
mod watch;

use leptos::prelude::*;

use crate::device::{Counters, LogLevel, Status};
use crate::fleet::Row;
use crate::fleet::table::{self, TableView};
use crate::sensor::{AnomalyKind, format_rfc3339_millis};
use crate::settings::{
    Field, FieldError, SECURE_DEFAULT_BROKER, SettingsForm, blocked_from_https, parse_interval,
};
use crate::transport::{self, Simulator, Snapshot};
use wasm_bindgen::JsCast;

/// How many log lines the page keeps.
const LOG_LINES: usize = 200;

/// One log line as the list item the page shows, its text escaped.
fn log_line(wall_ms: i64, level: LogLevel, text: &str) -> String {
    let level = match level {
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    // The level in words too, not by colour alone (unless the line already says it).
    let word = match level {
        "warn" => "warning: ",
        "error" if !text.starts_with("error: ") => "error: ",
        _ => "",
    };
    let mut html = format!(
        "<li class=\"{level}\"><time>{}</time> {word}",
        format_rfc3339_millis(wall_ms)
    );
    table::escape(&mut html, text);
    html.push_str("</li>");
    html
}

/// Everything the page renders, as signals, and the actions on them.
#[derive(Clone, Copy)]
pub struct SimulatorHandle {
    /// The latest snapshot of the fleet (status, totals, rate, rows, last payload), replaced
    /// at most ten times a second. One signal rather than one per part keeps the page small.
    pub view: RwSignal<Snapshot>,
    /// The snapshot's fleet rows, apart: the table is redrawn only when they change (never for
    /// one device).
    rows: RwSignal<Vec<Row>>,
    /// Running, and running and not stopping: apart, so the many controls they disable are
    /// only touched when they change.
    active: RwSignal<bool>,
    running: RwSignal<bool>,
    /// The fleet table's sort and page.
    table: RwSignal<TableView>,
    /// The newest [`LOG_LINES`] log lines, as list items, oldest first.
    log: RwSignal<Vec<String>>,
    values: [RwSignal<String>; Field::ALL.len()],
    errors: RwSignal<Vec<FieldError>>,
    simulator: StoredValue<Simulator, LocalStorage>,
    /// This page's own defaults (its random seed and client id, its time zone): what is not
    /// remembered, and what "Reset to defaults" restores.
    defaults: StoredValue<SettingsForm>,
    /// The client id was typed by hand (only then is it remembered).
    client_id_typed: RwSignal<bool>,
    /// Served over HTTPS, where the browser blocks `ws://`.
    https: bool,
    /// The chart (SVG) and the inspector's packet rows and selected packet, as HTML.
    chart: RwSignal<String>,
    frames: RwSignal<String>,
    frame_detail: RwSignal<String>,
    /// Which sensor of the fleet the chart and inspector show (from 0), and which are open.
    watched: RwSignal<usize>,
    chart_open: RwSignal<bool>,
    inspector_open: RwSignal<bool>,
}

impl SimulatorHandle {
    fn value(&self, field: Field) -> RwSignal<String> {
        self.values[field as usize]
    }

    fn form(&self) -> SettingsForm {
        let mut form = SettingsForm::defaults("");
        for field in Field::ALL {
            form.set(field, self.value(field).get_untracked());
        }
        form
    }

    fn error_for(&self, field: Field) -> Option<String> {
        self.errors.with(|errors| {
            errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.clone())
        })
    }

    /// Validates the settings and starts; bad settings are shown and nothing is sent. Not
    /// inlined: the Start button and autostart share one copy (each inlined copy cost 1 KB).
    #[inline(never)]
    pub fn start(&self) {
        let mut checked = self.form().validate();
        if self.https
            && let Some(message) = blocked_from_https(&self.value(Field::BrokerUrl).get_untracked())
        {
            let error = FieldError {
                field: Field::BrokerUrl,
                message,
            };
            match &mut checked {
                Err(errors) => errors.insert(0, error),
                Ok(_) => checked = Err(vec![error]),
            }
        }
        match checked {
            Ok(settings) => {
                self.errors.set(vec![]);
                // Locked at once, not at the next redraw.
                set_changed(self.active, true);
                set_changed(self.running, true);
                self.simulator
                    .with_value(|sim| sim.start(settings, transport::random_u64()));
            }
            Err(errors) => {
                for error in &errors {
                    self.push_log(LogLevel::Error, format!("not started: {error}"));
                }
                self.errors.set(errors);
            }
        }
    }

    /// Once errors show, checks again on every edit: an error goes as soon as its field is
    /// fixed, without waiting for Start.
    #[inline(never)]
    fn revalidate(&self) {
        if !self.errors.with_untracked(Vec::is_empty) {
            self.errors
                .set(self.form().validate().err().unwrap_or_default());
        }
    }

    /// The status in words; while a fleet connects, how far it is (`connected 37/200`).
    fn status_text(&self) -> String {
        self.view.with(|view| {
            let (up, of) = view.connected;
            match view.status {
                Status::Connecting if of > 1 => format!("connected {up}/{of}"),
                ref status @ Status::Retrying { .. } if of > 1 => {
                    format!("{status} (connected {up}/{of})")
                }
                ref status => status.to_string(),
            }
        })
    }

    /// Whether the Publish interval says as fast as possible (0), read as validation reads it.
    fn max_rate(&self) -> bool {
        self.value(Field::Interval)
            .with(|text| parse_interval(text) == Ok(0))
    }

    fn active(&self) -> bool {
        self.active.get()
    }

    /// Running and not yet stopping: Stop and Inject apply.
    fn running(&self) -> bool {
        self.running.get()
    }

    pub fn stop(&self) {
        self.simulator.with_value(Simulator::stop);
    }

    pub fn inject(&self, kind: AnomalyKind) {
        self.simulator.with_value(|sim| sim.inject(kind));
    }

    pub fn download(&self, jsonl: bool) {
        self.simulator.with_value(|sim| sim.download(jsonl));
    }

    /// A link to this page with every setting (but password and client id) in its query.
    fn share_link(&self) -> String {
        for value in &self.values {
            value.track();
        }
        format!("{}{}", transport::page_address(), self.form().to_query())
    }

    fn push_log(&self, level: LogLevel, text: String) {
        transport::log(level, &text);
        let line = log_line(js_sys::Date::now() as i64, level, &text);
        self.log.update(|log| push_capped(log, line));
    }
}

fn push_capped(log: &mut Vec<String>, line: String) {
    if log.len() == LOG_LINES {
        log.remove(0);
    }
    log.push(line);
}

/// Makes the simulator for this page: settings from the defaults and the URL query.
pub fn use_simulator() -> SimulatorHandle {
    let mut form = SettingsForm::defaults(&client_suffix());
    // A random sensor seed and this page's time zone unless the link names them; both are
    // shown and go in the share link, so any run replays anywhere.
    form.set(Field::Seed, transport::random_u64().to_string());
    form.set(Field::TimeZone, transport::local_utc_offset());
    // A browser blocks ws:// from a page served over HTTPS: start from a secure broker there.
    let https = transport::page_is_https();
    if https {
        form.set(Field::BrokerUrl, SECURE_DEFAULT_BROKER);
    }
    let defaults = form.clone();
    // What the last visit remembered, then the link's parameters, which win.
    let remembered = transport::stored(form::SETTINGS_KEY).unwrap_or_default();
    let client_id_typed = form
        .apply_query(&remembered)
        .fields_set
        .contains(&Field::ClientId);
    let outcome = form.apply_query(&transport::location_query());

    let view = RwSignal::new(Snapshot {
        status: Status::Stopped(None),
        connected: (0, 0),
        topic: String::new(),
        active: false,
        counters: Counters::default(),
        rate: 0,
        last_payload: None,
        rows: vec![],
        new_log: vec![],
        chart: None,
        frames: None,
    });
    let rows = RwSignal::new(Vec::<Row>::new());
    let active = RwSignal::new(false);
    let running = RwSignal::new(false);
    let log = RwSignal::new(Vec::<String>::new());
    let chart = RwSignal::new(String::new());
    let frames = RwSignal::new(String::new());
    // At most ten snapshots a second, and only when something changed.
    let simulator = Simulator::new(move |mut snapshot: Snapshot| {
        let new_log = std::mem::take(&mut snapshot.new_log);
        let new_rows = std::mem::take(&mut snapshot.rows);
        if let Some(svg) = snapshot.chart.take() {
            chart.try_set(svg);
        }
        if let Some(rows) = snapshot.frames.take() {
            frames.try_set(rows);
        }
        set_changed(active, snapshot.active);
        set_changed(
            running,
            snapshot.active && snapshot.status != Status::Stopping,
        );
        set_changed(rows, new_rows);
        set_changed(view, snapshot);
        if !new_log.is_empty() {
            log.try_update(|log| {
                for entry in new_log {
                    push_capped(log, log_line(entry.wall_ms, entry.level, &entry.text));
                }
            });
        }
    });
    let handle = SimulatorHandle {
        view,
        rows,
        active,
        running,
        table: RwSignal::new(TableView::default()),
        log,
        values: Field::ALL.map(|field| RwSignal::new(form.get(field).to_owned())),
        errors: RwSignal::new(vec![]),
        simulator: StoredValue::new_local(simulator.clone()),
        defaults: StoredValue::new(defaults),
        client_id_typed: RwSignal::new(client_id_typed),
        https,
        chart,
        frames,
        frame_detail: RwSignal::new(String::new()),
        watched: RwSignal::new(0),
        chart_open: RwSignal::new(true),
        inspector_open: RwSignal::new(false),
    };
    // The runner records only what an open view shows.
    Effect::new(move |_| {
        let (sensor, chart, frames) = (
            handle.watched.get(),
            handle.chart_open.get(),
            handle.inspector_open.get(),
        );
        handle
            .simulator
            .with_value(|sim| sim.watch(sensor, chart, frames));
    });
    for note in outcome.notes {
        handle.push_log(LogLevel::Warn, note);
    }
    // Closing or reloading the tab says goodbye to the broker, best effort.
    transport::on_page_hide({
        let simulator = simulator.clone();
        move || simulator.shutdown()
    });
    on_cleanup(move || handle.simulator.with_value(Simulator::shutdown));
    if outcome.autostart {
        // A link may point the page at any broker: say where first, and connect only once the
        // page (with this line) has been drawn. Only checked settings are logged: a URL with a
        // password in it is refused, never shown.
        if let Ok(settings) = form.validate() {
            handle.push_log(
                LogLevel::Info,
                format!(
                    "autostart: connecting to {} as {}",
                    settings.broker_url, settings.client_id
                ),
            );
        }
        request_animation_frame(move || request_animation_frame(move || handle.start()));
    } else if let Err(errors) = form.validate() {
        // A bad URL parameter shows next to its field at once.
        handle.errors.set(errors);
    }
    handle
}

/// Sets `signal` only when `value` differs, so what reads it is not redrawn for nothing. A
/// render may come after the page was unmounted: then there is nothing to set.
fn set_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.try_with_untracked(|old| *old != value) == Some(true) {
        signal.try_set(value);
    }
}

/// Four random base-36 characters: 1.7 million client ids per device id.
fn client_suffix() -> String {
    let mut n = transport::random_u64();
    (0..4)
        .map(|_| {
            let digit = (n % 36) as u32;
            n /= 36;
            char::from_digit(digit, 36).expect("below 36")
        })
        .collect()
}

#[component]
pub fn App() -> impl IntoView {
    let sim = use_simulator();
    view! {
        <header>
            <h1>"DPS368 sensor simulator"</h1>
            <p class="tagline">"Infineon XENSIV DPS368 pressure and temperature telemetry over MQTT 3.1.1 on a WebSocket"</p>
            <form::ThemeToggle />
        </header>
        <main>
            <form::Settings sim=sim />
            <Controls sim=sim />
            <Telemetry sim=sim />
            <watch::Chart sim=sim />
            <watch::Inspector sim=sim />
            <share::Share sim=sim />
            <EventLog sim=sim />
        </main>
    }
}

#[component]
fn Controls(sim: SimulatorHandle) -> impl IntoView {
    view! {
        <section class="controls" aria-label="Controls">
            <button
                data-testid="start"
                prop:disabled=move || sim.active()
                on:click=move |_| sim.start()
            >
                "Start"
            </button>
            <button
                data-testid="stop"
                prop:disabled=move || !sim.running()
                on:click=move |_| sim.stop()
            >
                "Stop"
            </button>
            <span class="status" role="status" data-status=move || sim.view.with(|v| status_class(&v.status))>
                "Status: "
                <strong data-testid="status">{move || sim.status_text()}</strong>
            </span>
            <a class="share" data-testid="share-link" prop:href=move || sim.share_link()>
                "Share link (replays this run)"
            </a>
            <div class="inject" role="group" aria-label="Inject anomaly">
                <span>"Inject anomaly:"</span>
                {AnomalyKind::ALL
                    .into_iter()
                    .map(|kind| small_button(sim, kind.name(), format!("inject-{}", kind.name()), Command::Inject(kind)))
                    .collect_view()}
            </div>
            <div class="downloads">
                {small_button(sim, "Download CSV", "download-csv".into(), Command::Download { jsonl: false })}
                {small_button(sim, "Download JSONL", "download-jsonl".into(), Command::Download { jsonl: true })}
                <span class="hint">"the run's last 100,000 samples, with labels"</span>
            </div>
        </section>
    }
}

/// Reads one counter as text; the index picks the anomaly kind for the per-kind ones.
type CounterGetter = fn(&Counters, usize) -> String;

/// What a small button does. One button shape for all of them keeps the page small.
#[derive(Clone, Copy)]
enum Command {
    Inject(AnomalyKind),
    Download { jsonl: bool },
}

fn small_button(
    sim: SimulatorHandle,
    label: &'static str,
    testid: String,
    command: Command,
) -> impl IntoView {
    let inject = matches!(command, Command::Inject(_));
    view! {
        <button
            class="small"
            data-testid=testid
            prop:disabled=move || inject && !sim.running()
            on:click=move |_| match command {
                Command::Inject(kind) => sim.inject(kind),
                Command::Download { jsonl } => sim.download(jsonl),
            }
        >
            {label}
        </button>
    }
}

fn status_class(status: &Status) -> &'static str {
    match status {
        Status::Connected => "connected",
        Status::Stopped(None) => "disconnected",
        Status::Stopped(Some(_)) | Status::Retrying { refused: true, .. } => "error",
        Status::Connecting
        | Status::Reconnecting { .. }
        | Status::Stopping
        | Status::Retrying { .. } => "connecting",
    }
}

#[component]
fn Telemetry(sim: SimulatorHandle) -> impl IntoView {
    // One counter shape for all: a getter and an index (the kind, for the per-kind ones).
    let counter = move |label: &'static str, testid: String, get: CounterGetter, index: usize| {
        view! {
            <div class="counter">
                <span class="value" data-testid=testid>{move || sim.view.with(|v| get(&v.counters, index))}</span>
                <span class="label">{label}</span>
            </div>
        }
    };
    let totals: [(&'static str, &'static str, CounterGetter); 10] = [
        ("samples", "samples", |c, _| c.samples.to_string()),
        ("published", "published", |c, _| c.published.to_string()),
        ("acknowledged", "acked", |c, _| c.acked.to_string()),
        ("in flight", "inflight", |c, _| c.in_flight.to_string()),
        ("anomalies", "anomalies", |c, _| c.anomalies.to_string()),
        ("anomalous", "anomalous-fraction", |c, _| {
            let permille = c.anomalous_permille();
            format!("{}.{} %", permille / 10, permille % 10)
        }),
        ("queued", "queued", |c, _| c.queued.to_string()),
        ("dropped", "dropped", |c, _| c.dropped.to_string()),
        ("redelivered", "redelivered", |c, _| {
            c.redelivered.to_string()
        }),
        ("reconnects", "reconnects", |c, _| c.reconnects.to_string()),
    ];
    view! {
        <section class="telemetry" aria-label="Telemetry">
            <h2>"Counters"</h2>
            <div class="counters">
                {totals.map(|(label, testid, get)| counter(label, testid.to_owned(), get, 0)).into_iter().collect_view()}
            </div>
            <p class="rate">
                <strong data-testid="rate">{move || sim.view.with(|v| v.rate)}</strong>
                " msg/s acknowledged"
                {move || sim.max_rate().then_some(", publishing as fast as possible")}
            </p>
            <h2>"Anomaly events by kind"</h2>
            <div class="counters kinds">
                {AnomalyKind::ALL
                    .into_iter()
                    .map(|kind| counter(kind.name(), format!("anomalies-{}", kind.name()), |c, i| c.events_by_kind[i].to_string(), kind.index()))
                    .collect_view()}
            </div>
            <h2>
                "Last payload"
                <span class="topic" data-testid="topic">
                    {move || {
                        sim.view.with(|v| (!v.topic.is_empty()).then(|| format!(" → {}", v.topic)))
                    }}
                </span>
            </h2>
            <pre class="payload" data-testid="last-payload">
                {move || sim.view.with(|v| v.last_payload.clone()).unwrap_or_else(|| "(nothing sent yet)".into())}
            </pre>
        </section>
        <FleetTable sim=sim />
    }
}

#[component]
fn EventLog(sim: SimulatorHandle) -> impl IntoView {
    view! {
        <section class="log" aria-label="Event log">
            <h2>"Event log"</h2>
            // Newest first, as one HTML string: one DOM update however many lines.
            <ol
                data-testid="log"
                role="log"
                prop:innerHTML=move || sim.log.with(|lines| lines.iter().rev().map(String::as_str).collect::<String>())
            ></ol>
        </section>
    }
}

/// One row per device of a fleet, sortable by any column (click its heading; again to
/// reverse), drawn a page at a time so a fleet of 1000 stays fast. The headings and the pager
/// are fixed elements (a click is never lost to a redraw); the rows are one HTML string
/// ([`table::rows_html`]); one click handler serves every button.
#[component]
fn FleetTable(sim: SimulatorHandle) -> impl IntoView {
    let count = move || sim.rows.with(Vec::len);
    view! {
        <section class="fleet" aria-label="Fleet" hidden=move || count() == 0>
            <h2>"Fleet"</h2>
            <div
                data-testid="fleet"
                on:click=move |ev| {
                    let Some(target) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else {
                        return;
                    };
                    let data = |name| target.get_attribute(name).and_then(|v| v.parse::<isize>().ok());
                    if let Some(column) = data("data-col") {
                        sim.table.update(|t| t.sort_by(column as usize));
                    } else if let Some(by) = data("data-page") {
                        sim.table.update(|t| t.turn(by, count()));
                    }
                }
            >
                <table>
                    <thead>
                        <tr>
                            <th><button class="small" data-col="0" data-testid="sort-0">"device"</button></th>
                            <th><button class="small" data-col="1" data-testid="sort-1">"status"</button></th>
                            <th><button class="small" data-col="2" data-testid="sort-2">"published"</button></th>
                            <th><button class="small" data-col="3" data-testid="sort-3">"acked"</button></th>
                            <th><button class="small" data-col="4" data-testid="sort-4">"in flight"</button></th>
                            <th><button class="small" data-col="5" data-testid="sort-5">"anomalies"</button></th>
                            <th><button class="small" data-col="6" data-testid="sort-6">"dropped"</button></th>
                        </tr>
                    </thead>
                    <tbody prop:innerHTML=move || sim.rows.with(|rows| table::rows_html(rows, sim.table.get()))></tbody>
                </table>
                <p class="pager">
                    <button class="small" data-page="-1" data-testid="page-prev">"previous"</button>
                    <span data-testid="page">{move || sim.table.with(|t| table::describe(*t, count()))}</span>
                    <button class="small" data-page="1" data-testid="page-next">"next"</button>
                </p>
            </div>
        </section>
    }
}
