//! The browser edge: the only code that touches `WebSocket`, timers and clocks. It feeds a
//! [`Device`] what happens and carries out the [`Action`]s it asks for.

mod socket;
mod ticker;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;

use crate::device::{Action, Counters, Device, LogEntry, LogLevel, Status, Time};
use crate::sensor::AnomalyKind;
use crate::settings::Settings;
use socket::{Socket, SocketEvent};
use ticker::Ticker;

/// The longest the device sleeps: the status countdown and counters refresh at least this often.
const MAX_SLEEP_MS: u64 = 1000;

/// The current time on the page's two clocks.
pub fn now() -> Time {
    let mono = web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now);
    Time {
        mono_ms: mono.max(0.0) as u64,
        wall_ms: js_sys::Date::now() as i64,
    }
}

/// What the page shows of a device, sent after every change.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: Status,
    /// The topic the device publishes to, `{device_id}` replaced.
    pub topic: String,
    pub active: bool,
    pub counters: Counters,
    pub last_payload: Option<String>,
    /// Log entries since the previous snapshot.
    pub new_log: Vec<LogEntry>,
}

struct Runner {
    device: Option<Device>,
    socket: Option<Socket>,
    ticker: Option<Ticker>,
    on_update: Rc<dyn Fn(Snapshot)>,
}

/// Runs one device in the page. Cloning gives another handle to the same device.
#[derive(Clone)]
pub struct Simulator {
    runner: Rc<RefCell<Runner>>,
}

impl Simulator {
    /// `on_update` receives a [`Snapshot`] after anything changes.
    pub fn new(on_update: impl Fn(Snapshot) + 'static) -> Self {
        let runner = Rc::new(RefCell::new(Runner {
            device: None,
            socket: None,
            ticker: None,
            on_update: Rc::new(on_update),
        }));
        let weak = Rc::downgrade(&runner);
        let ticker = Ticker::new(move || {
            if let Some(shared) = weak.upgrade() {
                if let Some(device) = shared.borrow_mut().device.as_mut() {
                    device.on_timer(now());
                }
                drive(&shared);
            }
        });
        if !ticker.in_worker() {
            log(
                LogLevel::Warn,
                "no Web Worker: timers will be throttled while the tab is hidden",
            );
        }
        runner.borrow_mut().ticker = Some(ticker);
        Self { runner }
    }

    /// Starts a run with these settings, replacing any stopped device. `seed` drives the retry
    /// jitter only; the sensor's own seed is in the settings.
    pub fn start(&self, settings: Settings, seed: u64) {
        {
            let mut runner = self.runner.borrow_mut();
            if runner.device.as_ref().is_some_and(Device::is_active) {
                return;
            }
            let mut device = Device::new(settings, seed);
            device.start(now());
            runner.device = Some(device);
        }
        drive(&self.runner);
    }

    /// Stops gracefully: waits for PUBACKs (at most 2 s), sends DISCONNECT, closes.
    pub fn stop(&self) {
        self.with_device(|device| device.stop(now()));
    }

    /// Starts an anomaly of `kind` at the next sample.
    pub fn inject(&self, kind: AnomalyKind) {
        self.with_device(|device| device.inject(kind, now()));
    }

    /// Saves the run's samples as `dps368-<device>-<time>.csv` or `.jsonl`.
    pub fn download(&self, jsonl: bool) {
        let runner = self.runner.borrow();
        let Some(device) = runner.device.as_ref() else {
            return;
        };
        let (text, extension, mime) = if jsonl {
            (device.export_jsonl(), "jsonl", "application/jsonl")
        } else {
            (device.export_csv(), "csv", "text/csv")
        };
        let stamp =
            crate::sensor::format_rfc3339_millis(js_sys::Date::now() as i64).replace(':', "-");
        let name = format!("dps368-{}-{stamp}.{extension}", device.settings().device_id);
        save_file(&name, &text, mime);
    }

    /// Ends at once, best effort (page unload): DISCONNECT if connected, then close.
    pub fn shutdown(&self) {
        self.with_device(|device| device.shutdown(now()));
    }

    /// Whether timers run in a Web Worker, and so keep time while the tab is hidden.
    pub fn timers_in_worker(&self) -> bool {
        self.runner
            .borrow()
            .ticker
            .as_ref()
            .is_some_and(Ticker::in_worker)
    }

    pub fn is_active(&self) -> bool {
        self.runner
            .borrow()
            .device
            .as_ref()
            .is_some_and(Device::is_active)
    }

    fn with_device(&self, f: impl FnOnce(&mut Device)) {
        {
            let mut runner = self.runner.borrow_mut();
            let Some(device) = runner.device.as_mut() else {
                return;
            };
            f(device);
        }
        drive(&self.runner);
    }
}

/// Carries out the device's actions, re-arms its timer and reports a snapshot.
fn drive(shared: &Rc<RefCell<Runner>>) {
    let weak = Rc::downgrade(shared);
    let (snapshot, on_update) = {
        let mut guard = shared.borrow_mut();
        let runner = &mut *guard;
        let Some(device) = runner.device.as_mut() else {
            return;
        };
        while let Some(action) = device.poll_action() {
            match action {
                Action::Open { url } => {
                    // Dropping the old socket first removes its handlers and closes it.
                    runner.socket = None;
                    let handler_weak = weak.clone();
                    match Socket::open(&url, move |event| on_socket_event(&handler_weak, event)) {
                        Ok(socket) => runner.socket = Some(socket),
                        Err(reason) => {
                            log(LogLevel::Error, &format!("WebSocket: {reason}"));
                            device.on_closed(now());
                        }
                    }
                }
                Action::Send(bytes) => {
                    let sent = runner.socket.as_ref().map(|s| s.send(&bytes));
                    if !matches!(sent, Some(Ok(()))) {
                        device.on_closed(now());
                    }
                }
                Action::Close => runner.socket = None,
            }
        }
        let t = now();
        if device.is_active()
            && let Some(ticker) = runner.ticker.as_mut()
        {
            let wake = device
                .poll_timeout()
                .unwrap_or(u64::MAX)
                .min(t.mono_ms + MAX_SLEEP_MS);
            ticker.arm(wake.saturating_sub(t.mono_ms) as u32);
        }
        let new_log: Vec<LogEntry> = std::iter::from_fn(|| device.poll_log()).collect();
        for entry in &new_log {
            log(entry.level, &entry.text);
        }
        let snapshot = Snapshot {
            status: device.status(t),
            topic: device.settings().topic.clone(),
            active: device.is_active(),
            counters: device.counters(),
            last_payload: device.last_payload().map(str::to_owned),
            new_log,
        };
        (snapshot, runner.on_update.clone())
    };
    // Outside the borrow: the page may call back into the simulator.
    on_update(snapshot);
}

fn on_socket_event(weak: &Weak<RefCell<Runner>>, event: SocketEvent) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    {
        let mut runner = shared.borrow_mut();
        let Some(device) = runner.device.as_mut() else {
            return;
        };
        let t = now();
        match event {
            SocketEvent::Open => device.on_open(t),
            SocketEvent::Binary(bytes) => device.on_bytes(&bytes, t),
            SocketEvent::Text => device.on_text_frame(t),
            SocketEvent::Closed => device.on_closed(t),
        }
    }
    drive(&shared);
}

/// A `blob:` URL for `text` of type `mime`; the caller revokes it.
fn object_url(text: &str, mime: &str) -> Option<String> {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

/// Offers `text` to the user as a file download.
fn save_file(name: &str, text: &str, mime: &str) {
    let Some(url) = object_url(text, mime) else {
        return;
    };
    if let Some(document) = web_sys::window().and_then(|w| w.document())
        && let Ok(anchor) = document.create_element("a")
    {
        let anchor: web_sys::HtmlAnchorElement = anchor.unchecked_into();
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    // Give the download a moment to start before the URL goes.
    gloo_timers::callback::Timeout::new(10_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
}

/// Writes a log line to the browser console.
pub fn log(level: LogLevel, text: &str) {
    let text = wasm_bindgen::JsValue::from_str(&format!("[dps368-sim] {text}"));
    match level {
        LogLevel::Info => web_sys::console::log_1(&text),
        LogLevel::Warn => web_sys::console::warn_1(&text),
        LogLevel::Error => web_sys::console::error_1(&text),
    }
}

/// Random bytes from the browser's crypto, or from `Math.random` where it is missing.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Not `expect`: its error's Debug would pull std's I/O error texts into the bundle.
        return (js_sys::Math::random() * 2f64.powi(53)) as u64;
    }
    u64::from_le_bytes(bytes)
}

/// The page's current UTC offset, `+01:00`: the default time zone of the model.
pub fn local_utc_offset() -> String {
    crate::settings::format_utc_offset(-(js_sys::Date::new_0().get_timezone_offset() as i32))
}

/// The page's query string, e.g. `?broker=...`.
pub fn location_query() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// Calls `f` when the page is hidden for good (closed, reloaded, navigated away).
pub fn on_page_hide(f: impl Fn() + 'static) {
    let closure = wasm_bindgen::closure::Closure::<dyn Fn()>::new(f);
    if let Some(window) = web_sys::window() {
        let _ =
            window.add_event_listener_with_callback("pagehide", closure.as_ref().unchecked_ref());
    }
    // The listener lives as long as the page.
    closure.forget();
}
