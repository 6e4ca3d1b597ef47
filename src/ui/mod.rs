//! The page: settings, Start/Stop, status, live counters, the last payload, the fleet table,
//! the chart and frame inspector of one device, the share link with its QR code, and an event
//! log.
//!
//! The page's structure is static HTML ([`page`]); the state lives in the signals of a
//! [`SimulatorHandle`], and one effect per part copies what changed into the DOM (at display
//! rate: the simulator sends a snapshot at most ten times a second). One listener per event
//! type reads every click and edit and calls the simulator.

mod form;
pub mod monitor;
mod page;
#[cfg(feature = "scenario")]
mod scenario;
mod share;

use leptos::prelude::*;

use crate::device::{Counters, LogLevel, Status};
use crate::fleet::Row;
use crate::fleet::table::{self, TableView};
use crate::html::Html;
use crate::sensor::{AnomalyKind, format_rfc3339_millis};
use crate::settings::{
    Field, FieldError, SECURE_DEFAULT_BROKER, SettingsForm, blocked_from_https, parse_interval,
};
use crate::transport::{self, Simulator, Snapshot};
use wasm_bindgen::JsCast;

/// What a number input the browser cannot read says.
const UNREADABLE: &str = "cannot be read as a number: check what is typed";

/// Every field has its bit in [`SimulatorHandle::unreadable`].
const _: () = assert!(Field::ALL.len() <= 64);

/// How many log lines the page keeps.
const LOG_LINES: usize = 200;

/// One log line as the list item the page shows, its text escaped.
pub(crate) fn log_line(wall_ms: i64, level: LogLevel, text: &str) -> String {
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
    let mut html = Html::new();
    html.raw("<li")
        .attr("class", &level)
        .wrap("><time>", &format_rfc3339_millis(wall_ms), "</time> ")
        .text(word)
        .text(text)
        .raw("</li>");
    html.into_string()
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
    /// Number inputs whose text the browser cannot read as a number (bit per [`Field`]): their
    /// setting keeps its last readable value, and Start is refused until they are fixed.
    unreadable: RwSignal<u64>,
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
    /// When the last run began (wall clock, ms), pinned at Start when the Start time was left
    /// empty: the share link carries it, so that it replays that run rather than a new one.
    run_start: RwSignal<Option<i64>>,
    /// The room link starts its visitors at once.
    room_autostart: RwSignal<bool>,
    /// The recording last read for the replay profile, and the name (file or URL) it was read
    /// from: a run whose Recording field names another fetches that first.
    recording: StoredValue<Option<(String, std::sync::Arc<crate::sensor::Recording>)>>,
    /// The scenario player's scenario (the player's build only).
    #[cfg(feature = "scenario")]
    player: scenario::Player,
    /// The latency chart's SVG, drawn each second of a run that measures latency.
    #[cfg(feature = "latency")]
    latency_chart: RwSignal<String>,
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
        if self.unreadable.get() & (1 << field as u64) != 0 {
            return Some(UNREADABLE.into());
        }
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
        #[allow(unused_mut)]
        let mut form = self.form();
        // The player's scenario first: its settings go into the form that is checked (and
        // win over the page's: the form holds every setting, typed or not).
        #[cfg(feature = "scenario")]
        if self.wait_for_scenario() || self.scenario_for(&mut form).is_err() {
            return;
        }
        let mut checked = form.validate();
        let unreadable = self.unreadable.get_untracked();
        for field in Field::ALL {
            if unreadable & (1 << field as u64) != 0 {
                let error = FieldError {
                    field,
                    message: UNREADABLE.into(),
                };
                match &mut checked {
                    Err(errors) => errors.push(error),
                    Ok(_) => checked = Err(vec![error]),
                }
            }
        }
        if self.https
            && let Some(message) = blocked_from_https(form.get(Field::BrokerUrl))
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
            Ok(mut settings) if settings.sensor.profile == crate::sensor::Profile::Replay => {
                let name = form.get(Field::Replay).trim().to_owned();
                let loaded = self.recording.with_value(|r| {
                    r.as_ref()
                        .filter(|(read, _)| *read == name)
                        .map(|(_, recording)| recording.clone())
                });
                match loaded {
                    Some(recording) => {
                        settings.attach_recording(recording);
                        self.start_checked(settings);
                    }
                    // A file picked on another visit (a remembered form, a link) is not here.
                    None if name.starts_with("file:") => self.refuse(vec![FieldError {
                        field: Field::Replay,
                        message: format!(
                            "{name} is not on this page: pick it again, or give its URL"
                        ),
                    }]),
                    // Read from its URL first, then started.
                    None => {
                        let shown = &name[..name.find('?').unwrap_or(name.len())];
                        self.push_log(LogLevel::Info, format!("fetching the recording {shown}"));
                        let sim = *self;
                        transport::browser::fetch_text(&name.clone(), move |text| {
                            if sim.load_recording(name, text) {
                                sim.start();
                            }
                        });
                    }
                }
            }
            Ok(settings) => self.start_checked(settings),
            Err(errors) => self.refuse(errors),
        }
    }

    /// Starts with checked settings.
    fn start_checked(&self, mut settings: crate::settings::Settings) {
        // The player's scenario, held against the settings it runs with.
        #[cfg(feature = "scenario")]
        if let Ok(scenario) = self.scenario_for(&mut SettingsForm::defaults(""))
            && let Err(problem) = scenario::attach(&mut settings, scenario)
        {
            return self.scenario_refused(problem);
        }
        // A run without a Start time starts now, pinned to this moment, so that the share link
        // can carry it (the stream is the same as with "now" unpinned).
        let start = *settings
            .start_ms
            .get_or_insert_with(|| js_sys::Date::now() as i64);
        self.run_start.set(Some(start));
        self.errors.set(vec![]);
        self.frame_detail.set(String::new());
        // The chart shows a device of this fleet.
        let devices = settings.devices.max(1);
        self.watched.update(|w| *w = (*w).min(devices - 1));
        // Locked at once, not at the next redraw.
        set_changed(self.active, true);
        set_changed(self.running, true);
        self.simulator
            .with_value(|sim| sim.start(settings, transport::browser::random_u64()));
    }

    /// Refuses to start: every problem in the log, the status says the first (see
    /// `status_text`), and the first bad field takes the focus.
    fn refuse(&self, errors: Vec<FieldError>) {
        for error in &errors {
            self.push_log(LogLevel::Error, format!("not started: {error}"));
        }
        // The status says why (see `status_text`), and the first bad field takes the
        // focus (which scrolls it into view), opened first if it is folded away.
        if let Some(first) = errors.first() {
            let id = match first.field {
                Field::AnomalyKinds => format!("kind-{}", AnomalyKind::ALL[0].name()),
                field => field.id().to_owned(),
            };
            if let Some(control) = by_document_id(&id) {
                if let Ok(Some(details)) = control.closest("details") {
                    let _ = details.set_attribute("open", "");
                }
                if let Ok(control) = control.dyn_into::<web_sys::HtmlElement>() {
                    let _ = control.focus();
                }
            }
        }
        self.errors.set(errors);
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

    /// The status in words; while a fleet connects, how far it is (`connected 37/200`); after a
    /// refused Start, why (`not started: Devices: …`) until the field is fixed.
    fn status_text(&self) -> String {
        if let Some(refusal) = self.refusal() {
            return refusal;
        }
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

    /// Why the last Start was refused, while the page is idle and the field is not fixed yet.
    fn refusal(&self) -> Option<String> {
        if self.active.get() {
            return None;
        }
        self.errors
            .with(|errors| errors.first().map(|e| format!("not started: {e}")))
    }

    /// Whether the Publish interval says as fast as possible (0), read as validation reads it.
    fn max_rate(&self) -> bool {
        self.value(Field::Interval)
            .with(|text| parse_interval(text) == Ok(0))
    }

    fn active(&self) -> bool {
        self.active.get()
    }

    /// Devices in the fleet: the running (or last) one's, or what Devices says for the next.
    fn fleet_size(&self) -> usize {
        let next = self
            .value(Field::Devices)
            .with(|d| d.trim().parse::<usize>().ok())
            .unwrap_or(1);
        let running = self
            .view
            .with(|v| v.connected.1)
            .max(self.rows.with(Vec::len));
        if self.active.get() { running } else { next }.clamp(1, 1000)
    }

    /// Running and not yet stopping: Stop and Inject apply.
    fn running(&self) -> bool {
        self.running.get()
    }

    pub fn stop(&self) {
        self.simulator.with_value(Simulator::stop);
    }

    /// Injects into the device shown (chart and inspector), or into all with `all`.
    pub fn inject(&self, kind: AnomalyKind, all: bool) {
        let only = (!all).then(|| self.watched.get_untracked());
        self.simulator.with_value(|sim| sim.inject(kind, only));
    }

    pub fn download(&self, jsonl: bool) {
        self.simulator.with_value(|sim| sim.download(jsonl));
    }

    /// A link to this page with every setting (but password and client id) in its query;
    /// tracked, so a closure reading it follows every edit.
    fn share_link(&self) -> String {
        self.track_form();
        self.run_start.track();
        self.share_link_untracked()
    }

    /// Makes the closure that calls it follow every edit of the form ([`Self::form`] reads it
    /// untracked).
    fn track_form(&self) {
        for value in &self.values {
            value.track();
        }
    }

    /// With the Start time empty, the link carries the last run's own start, so it reproduces
    /// that run byte for byte; before any run it has none (a replay starts when it is opened).
    fn share_link_untracked(&self) -> String {
        let mut form = self.form();
        if form.get(Field::Start).trim().is_empty()
            && let Some(start) = self.run_start.get_untracked()
        {
            form.set(Field::Start, format_rfc3339_millis(start));
        }
        #[cfg(feature = "scenario")]
        return format!(
            "{}{}{}",
            transport::browser::page_address(),
            form.to_query(),
            self.scenario_link()
        );
        #[cfg(not(feature = "scenario"))]
        format!("{}{}", transport::browser::page_address(), form.to_query())
    }

    /// The room link: this page's room settings, no device identity (see
    /// [`crate::settings::SettingsForm::room_query`]); tracked like the share link.
    fn room_link(&self) -> String {
        self.track_form();
        let query = self.form().room_query(self.room_autostart.get());
        format!("{}{query}", transport::browser::page_address())
    }

    fn push_log(&self, level: LogLevel, text: String) {
        transport::browser::log(level, &text);
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
    form.set(Field::Seed, transport::browser::random_u64().to_string());
    form.set(Field::TimeZone, transport::browser::local_utc_offset());
    // A browser blocks ws:// from a page served over HTTPS: start from a secure broker there.
    let https = transport::browser::page_is_https();
    if https {
        form.set(Field::BrokerUrl, SECURE_DEFAULT_BROKER);
    }
    let defaults = form.clone();
    // What the last visit remembered, then the link's parameters, which win (a replay or room
    // link sets the whole form).
    let remembered = transport::browser::stored(form::SETTINGS_KEY).unwrap_or_default();
    let (outcome, client_id_typed) =
        form.apply_remembered_and_link(&remembered, &transport::browser::location_query());
    // A classroom's room link carries the broker's password in its fragment (never sent to a
    // server); it is read once and taken out of the address bar.
    // Like any password, it is never remembered nor put in a link the page makes.
    form.apply_fragment(&transport::browser::take_location_fragment());

    let view = RwSignal::new(Snapshot::idle());
    let rows = RwSignal::new(Vec::<Row>::new());
    let active = RwSignal::new(false);
    let running = RwSignal::new(false);
    let log = RwSignal::new(Vec::<String>::new());
    let chart = RwSignal::new(crate::watch::chart::svg(
        &Default::default(),
        crate::watch::CHART_SAMPLES,
        "Pressure and temperature: no samples yet",
        if transport::browser::narrow_screen() {
            crate::watch::chart::NARROW
        } else {
            crate::watch::chart::WIDE
        },
    ));
    let frames = RwSignal::new(String::new());
    // Where a scenario's run is (ms after Start), as the simulator last said.
    #[cfg(feature = "scenario")]
    let scenario_at = RwSignal::new(None::<u64>);
    #[cfg(feature = "latency")]
    let latency_chart = RwSignal::new(String::new());
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
        #[cfg(feature = "scenario")]
        if let Some(at) = snapshot.scenario_ms.take() {
            scenario_at.set(Some(at));
        }
        #[cfg(feature = "latency")]
        if let Some(svg) = snapshot.latency.as_mut().and_then(|l| l.chart.take()) {
            latency_chart.try_set(svg);
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
        unreadable: RwSignal::new(0),
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
        run_start: RwSignal::new(None),
        room_autostart: RwSignal::new(false),
        recording: StoredValue::new(None),
        #[cfg(feature = "scenario")]
        player: scenario::Player::new(),
        #[cfg(feature = "latency")]
        latency_chart,
    };
    #[cfg(feature = "scenario")]
    {
        handle.open_linked_scenario();
        // The timeline's cursor, at most once a second of the run.
        Effect::new(move |last: Option<Option<u64>>| {
            let second = scenario_at.get().map(|ms| ms / 1000);
            if last != Some(second) {
                handle.scenario_at(scenario_at.get_untracked());
            }
            second
        });
    }
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
    if outcome.room {
        // Remembered at once, so a visitor who comes back to the room is the same device.
        handle.edited();
        handle.push_log(
            LogLevel::Info,
            format!(
                "room link: this page is device {} with a seed of its own (change it under Device ID)",
                form.get(Field::DeviceId)
            ),
        );
    }
    // Leaving a running page ends its run: the browser asks first.
    transport::browser::confirm_leaving_while(move || {
        handle.running.try_get_untracked().unwrap_or(false)
    });
    // Closing or reloading the tab says goodbye to the broker, best effort.
    transport::browser::on_page_hide({
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
    let mut n = transport::browser::random_u64();
    (0..4)
        .map(|_| {
            let digit = (n % 36) as u32;
            n /= 36;
            char::from_digit(digit, 36).expect("below 36")
        })
        .collect()
}

/// An element of the page by CSS selector, within the page's own root (several pages may be
/// mounted at once in the browser tests).
fn find(root: NodeRef<leptos::html::Div>, selector: &str) -> Option<web_sys::Element> {
    root.get_untracked()?
        .query_selector(selector)
        .ok()
        .flatten()
}

/// The document's element with id `id`, wherever the page is mounted.
fn by_document_id(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}

/// The page's element with id `id` (its own ids: test ids are for tests).
fn by_id(root: NodeRef<leptos::html::Div>, id: &str) -> Option<web_sys::Element> {
    find(root, &format!("#{id}"))
}

fn prop(target: &wasm_bindgen::JsValue, name: &str) -> wasm_bindgen::JsValue {
    js_sys::Reflect::get(target, &name.into()).unwrap_or_default()
}

/// Sets a DOM property, only when it differs (an input being typed in keeps its caret, and
/// an unchanged table is not laid out again).
fn set_prop(target: &wasm_bindgen::JsValue, name: &str, value: wasm_bindgen::JsValue) {
    if prop(target, name) != value {
        let _ = js_sys::Reflect::set(target, &name.into(), &value);
    }
}

/// Sets a property of the element with id `id`.
fn set_by_id(root: NodeRef<leptos::html::Div>, id: &str, name: &str, value: wasm_bindgen::JsValue) {
    if let Some(element) = by_id(root, id) {
        set_prop(&element, name, value);
    }
}

/// Sets `selector`'s inner HTML whenever `html` changes.
fn bind_html(root: NodeRef<leptos::html::Div>, selector: &'static str, html: RwSignal<String>) {
    Effect::new(move |_| {
        let html = html.get();
        if root.get().is_some()
            && let Some(element) = find(root, selector)
        {
            // A keyboard user's row keeps the focus across the redraw (found again by its
            // packet number), rather than the focus falling back to the page.
            let focused = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element())
                .filter(|f| element.contains(Some(f.as_ref())))
                .and_then(|f| f.get_attribute("data-frame"));
            element.set_inner_html(&html);
            if let Some(number) = focused
                && let Ok(Some(again)) =
                    element.query_selector(&format!("[data-frame=\"{number}\"]"))
                && let Ok(again) = again.dyn_into::<web_sys::HtmlElement>()
            {
                let _ = again.focus();
            }
        }
    });
}

/// A run's latency: the last ten seconds' p50 and p99 while it runs, the whole run's once it
/// ended, the run's p99.9, max and count, and what the subscriber awaits (lost, at the end).
#[cfg(feature = "latency")]
fn show_latency(root: NodeRef<leptos::html::Div>, latency: Option<&transport::LatencyView>) {
    set_by_id(root, "latency", "hidden", latency.is_none().into());
    let Some(l) = latency else { return };
    let ms = |us: u64, count: u64| match count {
        0 => "-".to_owned(),
        _ => crate::latency::millis(us),
    };
    let shown = if l.ended { &l.whole } else { &l.recent };
    let window = match (l.waiting, l.ended) {
        (true, _) => "waiting for the subscriptions",
        (_, true) => "the whole run",
        _ => "the last 10 s",
    };
    let lost = if l.ended {
        "lost (acknowledged, never received)"
    } else {
        "awaited (acknowledged, not yet received)"
    };
    for (id, text) in [
        ("latency-p50", ms(shown.p50, shown.count)),
        ("latency-p99", ms(shown.p99, shown.count)),
        ("latency-p999", ms(l.whole.p999, l.whole.count)),
        ("latency-max", ms(l.whole.max, l.whole.count)),
        ("latency-count", l.whole.count.to_string()),
        ("latency-lost", l.awaited.to_string()),
        ("latency-window", window.to_owned()),
        ("latency-lost-label", lost.to_owned()),
    ] {
        set_by_id(root, id, "textContent", text.into());
    }
    if let Some(element) = by_id(root, "latency-lost") {
        let _ = element.set_attribute("data-bad", &(l.ended && l.awaited > 0).to_string());
    }
}

/// Counter `index` of [`page::COUNTERS`] as text.
fn counter_text(c: &Counters, index: usize) -> String {
    match index {
        0 => c.samples,
        1 => c.published,
        2 => c.acked,
        3 => c.in_flight,
        4 => c.anomalies,
        5 => {
            let permille = c.anomalous_permille();
            return format!("{}.{} %", permille / 10, permille % 10);
        }
        6 => c.queued,
        7 => c.dropped,
        8 => c.redelivered,
        _ => c.reconnects,
    }
    .to_string()
}

/// The page: its static structure ([`page::page_html`]), effects that fill in what changes,
/// and one listener per event type for every control.
#[component]
pub fn App() -> impl IntoView {
    let sim = use_simulator();
    let root = NodeRef::<leptos::html::Div>::new();
    // Status, counters, rate and the last payload, at most ten times a second.
    Effect::new(move |_| {
        if root.get().is_none() {
            return;
        }
        let status = sim.status_text();
        let refused = sim.refusal().is_some();
        set_by_id(root, "run-status", "textContent", status.into());
        sim.view.with(|v| {
            let waiting = matches!(v.status, Status::Retrying { .. });
            set_by_id(root, "reconnect-now", "hidden", (!waiting).into());
            if let Some(element) = find(root, ".status") {
                let class = if refused {
                    "error"
                } else {
                    status_class(&v.status)
                };
                let _ = element.set_attribute("data-status", class);
            }
            for (index, (_, testid)) in page::COUNTERS.iter().enumerate() {
                set_by_id(
                    root,
                    &format!("count-{testid}"),
                    "textContent",
                    counter_text(&v.counters, index).into(),
                );
            }
            for kind in AnomalyKind::ALL {
                let count = v.counters.events_by_kind[kind.index()].to_string();
                set_by_id(
                    root,
                    &format!("count-anomalies-{kind}"),
                    "textContent",
                    count.into(),
                );
            }
            set_by_id(root, "rate", "textContent", v.rate.to_string().into());
            let topic = if v.topic.is_empty() {
                String::new()
            } else {
                format!(" → {}", v.topic)
            };
            set_by_id(root, "payload-topic", "textContent", topic.into());
            let payload = v.last_payload.as_deref().unwrap_or("(nothing sent yet)");
            set_by_id(root, "last-payload", "textContent", payload.into());
            #[cfg(feature = "latency")]
            show_latency(root, v.latency.as_ref());
        });
        if let Some(picker) = by_id(root, "watch-device") {
            let _ = picker.set_attribute("max", &sim.fleet_size().to_string());
        }
        let max_rate = if sim.max_rate() {
            ", publishing as fast as possible"
        } else {
            ""
        };
        set_by_id(root, "max-rate", "textContent", max_rate.into());
    });
    // What a run locks: the settings while active; Stop and Inject apply only while running.
    Effect::new(move |_| {
        let Some(page) = root.get() else { return };
        let (active, running) = (sim.active(), sim.running());
        // A phone shows a run first and folds the settings away (style/main.css).
        let _ = if active {
            page.set_attribute("data-running", "")
        } else {
            page.remove_attribute("data-running")
        };
        let set_all = |selector: &str, disabled: bool| {
            if let Ok(list) = page.query_selector_all(selector) {
                for i in 0..list.length() {
                    if let Some(node) = list.item(i) {
                        set_prop(&node, "disabled", disabled.into());
                    }
                }
            }
        };
        set_all(
            "fieldset.group, [data-action=start], [data-action=reset-settings], #import-settings",
            active,
        );
        set_all("[data-action=stop], [data-inject]", !running);
    });
    // The fleet table, a page of rows at a time.
    Effect::new(move |_| {
        if root.get().is_none() {
            return;
        }
        let count = sim.rows.with(Vec::len);
        if let Some(section) = find(root, "section.fleet") {
            set_prop(&section, "hidden", (count == 0).into());
        }
        let view = sim.table.get();
        if let Some(body) = by_id(root, "fleet-rows") {
            set_prop(
                &body,
                "innerHTML",
                sim.rows.with(|rows| table::rows_html(rows, view)).into(),
            );
        }
        set_by_id(
            root,
            "fleet-page",
            "textContent",
            table::describe(view, count).into(),
        );
    });
    // The event log, newest first, as one HTML string.
    Effect::new(move |_| {
        if root.get().is_none() {
            return;
        }
        let html: String = sim
            .log
            .with(|lines| lines.iter().rev().map(String::as_str).collect());
        if let Some(list) = by_id(root, "log-lines") {
            set_prop(&list, "innerHTML", html.into());
        }
    });
    // The chart, the inspector's packets and the packet taken apart: each only when its
    // HTML changed (the simulator sends a chart only when a sample came).
    bind_html(root, "#chart", sim.chart);
    #[cfg(feature = "scenario")]
    {
        bind_html(root, "#timeline", sim.player.timeline);
        Effect::new(move |_| {
            let problem = sim.player.error.get();
            if root.get().is_some() {
                set_by_id(root, "scenario-error", "textContent", problem.into());
            }
        });
    }
    #[cfg(feature = "latency")]
    bind_html(root, "#latency-chart", sim.latency_chart);
    bind_html(root, "#frames", sim.frames);
    bind_html(root, "#frame-detail", sim.frame_detail);
    // The device they show, when it changes (not while someone types a new number).
    Effect::new(move |_| {
        let shown = (sim.watched.get() + 1).to_string();
        if root.get().is_some() {
            set_by_id(root, "watch-device", "value", shown.into());
        }
    });
    // The chart and the inspector record only while unfolded. `toggle` does not bubble: it is
    // caught on its way down. The effect owns the listener: it lives as long as the page.
    let on_toggle =
        wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(move |ev: web_sys::Event| {
            // The same listener takes a recording dragged onto the page and dropped.
            match ev.type_().as_str() {
                "dragover" => return ev.prevent_default(),
                "drop" => return form::on_drop(sim, ev),
                _ => {}
            }
            let Some(details) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            else {
                return;
            };
            let open = prop(&details, "open").as_bool() == Some(true);
            match details.get_attribute("data-view").as_deref() {
                Some("chart") => sim.chart_open.set(open),
                Some("inspector") => sim.inspector_open.set(open),
                _ => {}
            }
        });
    Effect::new(move |_| {
        if let Some(page) = root.get() {
            for event in ["toggle", "dragover", "drop"] {
                let _ = page.add_event_listener_with_callback_and_bool(
                    event,
                    on_toggle.as_ref().unchecked_ref(),
                    true,
                );
            }
        }
    });
    share::bind(sim, root);
    form::bind(sim, root);
    let theme = form::theme(root);
    view! {
        <div
            class="page"
            node_ref=root
            inner_html=page::page_html()
            on:click=move |ev| on_click(sim, root, theme, ev)
            on:input=move |ev| {
                if let Some(target) = ev.target() {
                    let id = prop(&target, "id").as_string().unwrap_or_default();
                    let value = prop(&target, "value").as_string().unwrap_or_default();
                    if id == "watch-device" {
                        if let Ok(n) = value.trim().parse::<usize>() {
                            sim.watched.set(n.clamp(1, sim.fleet_size()) - 1);
                        }
                    } else {
                        form::on_input(sim, root, &target, &id, value);
                    }
                }
            }
            on:change=move |ev| form::on_change(sim, ev)
        ></div>
    }
}

/// Every click on the page: buttons by their `data-action` (or `data-inject`, `data-frame`,
/// `data-col`, `data-page`), and the chart's and inspector's summaries.
fn on_click(
    sim: SimulatorHandle,
    root: NodeRef<leptos::html::Div>,
    theme: RwSignal<String>,
    ev: web_sys::MouseEvent,
) {
    let Some(target) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let attribute = |name| target.get_attribute(name);
    if let Some(kind) = attribute("data-inject").and_then(|k| AnomalyKind::from_name(&k)) {
        let all = by_id(root, "inject-into")
            .and_then(|select| prop(&select, "value").as_string())
            .is_some_and(|into| into == "all");
        sim.inject(kind, all);
    } else if let Some(number) = attribute("data-frame").and_then(|n| n.parse::<u64>().ok()) {
        let detail = sim.simulator.with_value(|s| s.select_frame(number));
        sim.frame_detail.set(detail.unwrap_or_default());
    } else if let Some(column) = attribute("data-col").and_then(|c| c.parse::<usize>().ok()) {
        sim.table.update(|t| t.sort_by(column));
    } else if let Some(by) = attribute("data-page").and_then(|b| b.parse::<isize>().ok()) {
        let count = sim.rows.with_untracked(Vec::len);
        sim.table.update(|t| t.turn(by, count));
    } else {
        match attribute("data-action").as_deref() {
            Some("start") => sim.start(),
            Some("stop") => sim.stop(),
            Some("download-csv") => sim.download(false),
            Some("download-jsonl") => sim.download(true),
            Some("theme") => form::next_theme(theme),
            Some("reset-settings") => sim.reset_settings(),
            Some("export-settings") => sim.export_settings(),
            Some(action @ ("copy-link" | "copy-room")) => {
                let (id, what) = if action == "copy-room" {
                    ("room-text", "room link")
                } else {
                    ("share-text", "replay link")
                };
                let Some(text) =
                    by_id(root, id).and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                else {
                    return;
                };
                transport::browser::copy_text(&text.value(), move |copied| {
                    // Where the clipboard is missing or refuses, the older way: copy the
                    // selected link.
                    let note = if copied {
                        format!("{what} copied to the clipboard")
                    } else {
                        text.select();
                        if transport::browser::copy_selection() {
                            format!("{what} copied (as selected text)")
                        } else {
                            "this browser does not allow copying here: select the link and copy it"
                                .to_owned()
                        }
                    };
                    sim.push_log(LogLevel::Info, note);
                });
            }
            Some("toggle-settings") => {
                let open = target.get_attribute("aria-expanded").as_deref() != Some("true");
                let _ = target.set_attribute("aria-expanded", &open.to_string());
                target.set_text_content(Some(if open {
                    "Hide the settings"
                } else {
                    "Show the settings"
                }));
                if let Some(page) = root.get_untracked() {
                    let _ = if open {
                        page.set_attribute("data-settings-open", "")
                    } else {
                        page.remove_attribute("data-settings-open")
                    };
                }
            }
            Some("reconnect-now") => sim.simulator.with_value(Simulator::retry_now),
            Some("frames-only") => {
                let on = prop(&target, "checked").as_bool() == Some(true);
                sim.simulator.with_value(|s| s.frames_only_shown(on));
            }
            Some("room-autostart") => {
                sim.room_autostart
                    .set(prop(&target, "checked").as_bool() == Some(true));
            }
            Some("qr-fullscreen") => {
                if let Some(qr) = by_id(root, "qr") {
                    let _ = qr.request_fullscreen();
                }
            }
            Some("inspector-pause") => {
                let paused = prop(&target, "ariaPressed").as_string().as_deref() != Some("true");
                let _ = target.set_attribute("aria-pressed", &paused.to_string());
                target.set_text_content(Some(if paused { "Resume" } else { "Pause" }));
                sim.simulator.with_value(|s| s.pause_frames(paused));
            }
            Some("inspector-clear") => {
                sim.frame_detail.set(String::new());
                sim.simulator.with_value(|s| s.clear_frames());
            }
            _ => {}
        }
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
