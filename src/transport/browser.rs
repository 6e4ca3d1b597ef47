//! The page's ties to the browser other than the connection: downloads, the clipboard,
//! storage, the theme, picked files, the address bar, the console and randomness.

use std::rc::Rc;

use wasm_bindgen::JsCast;

use crate::device::LogLevel;

/// A `blob:` URL for `text` of type `mime`; the caller revokes it.
pub(super) fn object_url(text: &str, mime: &str) -> Option<String> {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

/// Offers `text` to the user as a file download.
pub(super) fn save_file(name: &str, text: &str, mime: &str) {
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

/// The address bar's fragment (`#…`); one that holds a password (the classroom mode's room
/// link) is taken out of the address bar and this page's history entry (the browser's own list
/// of visited pages may still have it: it is a per-run password).
pub fn take_location_fragment() -> String {
    let Some(window) = web_sys::window() else {
        return String::new();
    };
    let location = window.location();
    let fragment = location.hash().unwrap_or_default();
    if fragment.contains("password=")
        && let Ok(history) = window.history()
    {
        let bare = format!(
            "{}{}",
            location.pathname().unwrap_or_default(),
            location.search().unwrap_or_default()
        );
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&bare));
    }
    fragment
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

/// Asks before the page is left (closed, reloaded, navigated away) while `busy()` says so: the
/// browser shows its own "Leave site?" question.
pub fn confirm_leaving_while(busy: impl Fn() -> bool + 'static) {
    let closure =
        wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(move |ev: web_sys::Event| {
            if busy() {
                ev.prevent_default();
                // Older browsers ask only when `returnValue` is set.
                let _ = js_sys::Reflect::set(&ev, &"returnValue".into(), &"".into());
            }
        });
    if let Some(window) = web_sys::window() {
        let _ = window
            .add_event_listener_with_callback("beforeunload", closure.as_ref().unchecked_ref());
    }
    // The listener lives as long as the page.
    closure.forget();
}

/// The value stored under `key` in this origin's `localStorage`, if any (and if storage is
/// allowed at all).
pub fn stored(key: &str) -> Option<String> {
    let storage = web_sys::window()?.local_storage().ok()??;
    storage.get_item(key).ok()?
}

/// Stores `value` under `key`, or removes the key when `value` is `None`; best effort (a
/// private window may refuse).
pub fn store(key: &str, value: Option<&str>) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        };
    }
}

/// Whether the page was served over HTTPS (where browsers block `ws://`).
pub fn page_is_https() -> bool {
    web_sys::window()
        .and_then(|w| w.location().protocol().ok())
        .is_some_and(|p| p == "https:")
}

/// A phone's screen (480 CSS px wide or less): the chart is drawn narrower there.
pub fn narrow_screen() -> bool {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|width| width.as_f64())
        .is_some_and(|width| width <= 480.0)
}

/// The host name in the address bar (`localhost`, `192.168.1.20`, `[::1]`).
pub fn page_host() -> String {
    web_sys::window()
        .and_then(|w| w.location().hostname().ok())
        .unwrap_or_default()
}

/// This page's address without its query: where a share link points.
pub fn page_address() -> String {
    web_sys::window()
        .map(|w| {
            let location = w.location();
            format!(
                "{}{}",
                location.origin().unwrap_or_default(),
                location.pathname().unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// Offers `text` as a JSON file download named `name`.
pub fn save_json(name: &str, text: &str) {
    save_file(name, text, "application/json");
}

/// Copies `text` to the clipboard, then calls `done` with whether it was: false where the
/// browser offers no clipboard (a page that is not secure: plain http to another machine) or
/// refuses.
pub fn copy_text(text: &str, done: impl FnOnce(bool) + 'static) {
    let navigator = web_sys::window().map(|w| w.navigator());
    // Undefined outside a secure context, though web-sys types it as always there.
    let clipboard = navigator
        .as_ref()
        .and_then(|n| js_sys::Reflect::get(n, &"clipboard".into()).ok())
        .filter(|c| !c.is_undefined());
    match (navigator, clipboard) {
        (Some(navigator), Some(_)) => {
            on_settled(navigator.clipboard().write_text(text), move |r| {
                done(r.is_ok())
            })
        }
        _ => done(false),
    }
}

/// Calls `done` once `promise` settles, with its value or its reason. A callback on the
/// promise rather than an async block: no executor in the bundle for this.
fn on_settled(
    promise: js_sys::Promise,
    done: impl FnOnce(Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>) + 'static,
) {
    let done = Rc::new(std::cell::Cell::new(Some(done)));
    let on_error = done.clone();
    let resolved =
        wasm_bindgen::closure::Closure::once_into_js(move |value: wasm_bindgen::JsValue| {
            if let Some(done) = done.take() {
                done(Ok(value));
            }
        });
    let rejected =
        wasm_bindgen::closure::Closure::once_into_js(move |reason: wasm_bindgen::JsValue| {
            if let Some(done) = on_error.take() {
                done(Err(reason));
            }
        });
    if let Ok(then) = js_sys::Reflect::get(&promise, &"then".into()) {
        let _ = then
            .unchecked_into::<js_sys::Function>()
            .call2(&promise, &resolved, &rejected);
    }
}

/// Copies the page's current selection (the older way, which plain-http pages still have).
pub fn copy_selection() -> bool {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    js_sys::Reflect::get(&document, &"execCommand".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|exec| exec.call1(&document, &"copy".into()).ok())
        .and_then(|done| done.as_bool())
        == Some(true)
}

/// Sets the page's colour theme (`light`, `dark`, or `auto` to follow the system).
pub fn apply_theme(theme: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-theme", theme);
    }
}

/// Reads the first file picked in `input` as text, then calls `done` with it (or with why it
/// could not be read).
pub fn read_picked_file(
    input: &web_sys::HtmlInputElement,
    done: impl FnOnce(String, Result<String, String>) + 'static,
) {
    if let Some(file) = input.files().and_then(|files| files.get(0)) {
        read_file(file, done);
    }
}

/// The file a drop event carries (the first, if several), read as text, with its name.
pub fn read_dropped_file(
    event: &web_sys::Event,
    done: impl FnOnce(String, Result<String, String>) + 'static,
) -> bool {
    let file = js_sys::Reflect::get(event, &"dataTransfer".into())
        .and_then(|transfer| js_sys::Reflect::get(&transfer, &"files".into()))
        .and_then(|files| js_sys::Reflect::get(&files, &0.into()))
        .ok()
        .and_then(|file| file.dyn_into::<web_sys::File>().ok());
    match file {
        Some(file) => {
            read_file(file, done);
            true
        }
        None => false,
    }
}

/// A recording over [`crate::sensor::recording::MAX_BYTES`], not read.
const TOO_BIG: &str = "over the 64 MiB a recording may have";

fn read_file(file: web_sys::File, done: impl FnOnce(String, Result<String, String>) + 'static) {
    let name = file.name();
    read_blob(file.into(), move |text| done(name, text));
}

/// A file's or a download's bytes as text; not read at all when over the limit (it would fill
/// the tab's memory first: a download's body waits in the browser's blob store, not here).
fn read_blob(blob: web_sys::Blob, done: impl FnOnce(Result<String, String>) + 'static) {
    if blob.size() > crate::sensor::recording::MAX_BYTES as f64 {
        return done(Err(TOO_BIG.into()));
    }
    on_settled(blob.text(), move |text| {
        done(
            text.ok()
                .and_then(|text| text.as_string())
                .ok_or_else(|| "it could not be read as text".to_owned()),
        )
    });
}

/// The text at `url` (relative to the page, or absolute), or why not: the HTTP status, or a
/// request the browser refused (no answer, or another host that does not allow this page by
/// CORS: the browser does not say which).
pub fn fetch_text(url: &str, done: impl FnOnce(Result<String, String>) + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    // A signed URL's query is a credential: never shown.
    let shown = url[..url.find('?').unwrap_or(url.len())].to_owned();
    on_settled(window.fetch_with_str(url), move |response| {
        let Ok(response) = response else {
            return done(Err(format!(
                "could not fetch {shown}: no answer, or its host does not allow this page (CORS: Access-Control-Allow-Origin)"
            )));
        };
        let field = |name: &str| js_sys::Reflect::get(&response, &name.into()).unwrap_or_default();
        if field("ok").as_bool() != Some(true) {
            let status = field("status").as_f64().unwrap_or(0.0) as u32;
            return done(Err(format!("fetching it answered HTTP {status}")));
        }
        // A body announced over the limit is not downloaded at all (one that does not say is
        // held by the browser as a blob, its size checked before it is read as text).
        let length = js_sys::Reflect::get(&field("headers"), &"get".into())
            .ok()
            .and_then(|get| get.dyn_into::<js_sys::Function>().ok())
            .and_then(|get| get.call1(&field("headers"), &"content-length".into()).ok())
            .and_then(|length| length.as_string()?.parse::<u64>().ok());
        if length.is_some_and(|length| length > crate::sensor::recording::MAX_BYTES as u64) {
            return done(Err(TOO_BIG.into()));
        }
        let blob = field("blob")
            .dyn_into::<js_sys::Function>()
            .ok()
            .and_then(|blob| blob.call0(&response).ok())
            .and_then(|promise| promise.dyn_into::<js_sys::Promise>().ok());
        match blob {
            Some(promise) => on_settled(promise, move |blob| match blob {
                Ok(blob) => read_blob(blob.unchecked_into(), done),
                Err(_) => done(Err("the download broke off".into())),
            }),
            None => done(Err("the download broke off".into())),
        }
    });
}
