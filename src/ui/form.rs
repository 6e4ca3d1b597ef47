//! The settings form ([`crate::settings::form_html`], drawn once): its values, errors and edits;
//! the broker presets; the form remembered in `localStorage`, reset, exported and imported;
//! and the colour theme.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::{SimulatorHandle, find, prop, set_by_id, set_prop};
use crate::device::LogLevel;
use crate::sensor::{AnomalyKind, format_rfc3339_millis, parse_rfc3339_millis};
use crate::settings::{
    BROKER_PRESETS, Control, Field, blocked_from_https, parse_flag, parse_kinds, parse_profile,
    remembered,
};
use crate::transport;

/// Where the form is remembered between visits (as a query string).
pub const SETTINGS_KEY: &str = "dps368-sim.settings";
const THEME_KEY: &str = "dps368-sim.theme";

impl SimulatorHandle {
    /// After an edit: remembers the form and, once errors show, checks it again.
    #[inline(never)]
    pub(super) fn edited(&self) {
        let form = self.form();
        let query = self.defaults.with_value(|defaults| {
            remembered(&form, defaults, self.client_id_typed.get_untracked())
        });
        transport::browser::store(SETTINGS_KEY, Some(&query));
        self.revalidate();
    }

    fn set_field(&self, field: Field, text: String) {
        if field == Field::ClientId {
            self.client_id_typed.set(true);
        }
        self.value(field).set(text);
        self.edited();
    }

    /// Forgets what was remembered and puts this page's defaults back.
    pub(super) fn reset_settings(&self) {
        transport::browser::store(SETTINGS_KEY, None);
        self.defaults.with_value(|defaults| {
            for field in Field::ALL {
                self.value(field).set(defaults.get(field).to_owned());
            }
        });
        self.client_id_typed.set(false);
        self.errors.set(vec![]);
        self.unreadable.set(0);
        self.push_log(
            LogLevel::Info,
            "settings reset to this page's defaults".into(),
        );
    }

    /// Saves the form (never the password; the client id only when typed) as a JSON file.
    pub(super) fn export_settings(&self) {
        let object = js_sys::Object::new();
        for field in Field::ALL {
            let Some(param) = field.param() else { continue };
            if field == Field::ClientId && !self.client_id_typed.get_untracked() {
                continue;
            }
            let value = self.value(field).get_untracked();
            if field == Field::BrokerUrl && value.contains('@') {
                continue;
            }
            let _ = js_sys::Reflect::set(&object, &param.into(), &value.into());
        }
        let text = js_sys::JSON::stringify_with_replacer_and_space(
            &object,
            &wasm_bindgen::JsValue::NULL,
            &2.into(),
        )
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
        transport::browser::save_json("dps368-settings.json", &text);
    }

    /// Sets the form from an exported JSON file: every known parameter; unknown ones and a
    /// password are named in the log and ignored.
    fn import_settings(&self, text: &str) {
        let parsed = js_sys::JSON::parse(text)
            .ok()
            .filter(|v| v.is_object() && !js_sys::Array::is_array(v));
        let Some(object) = parsed else {
            self.push_log(
                LogLevel::Error,
                "import: the file is not a JSON object of settings; nothing changed".into(),
            );
            return;
        };
        let mut set = 0;
        for entry in js_sys::Object::entries(object.unchecked_ref()).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let value = pair.get(1);
            let text = value.as_string().or_else(|| {
                js_sys::JSON::stringify(&value)
                    .ok()
                    .and_then(|t| t.as_string())
            });
            match (Field::from_param(&key), text) {
                (Some(field), Some(text)) => {
                    if field == Field::ClientId {
                        self.client_id_typed.set(true);
                    }
                    self.value(field).set(text);
                    set += 1;
                }
                _ => self.push_log(
                    LogLevel::Warn,
                    format!("import: \"{key}\" is not a setting of this page; ignored"),
                ),
            }
        }
        self.push_log(LogLevel::Info, format!("import: {set} setting(s) read"));
        self.unreadable.set(0);
        self.edited();
        self.errors
            .set(self.form().validate().err().unwrap_or_default());
    }
}

/// `text` (RFC 3339) as a `datetime-local` input shows it, in UTC; empty when it is not a time.
fn datetime_input(text: &str) -> String {
    parse_rfc3339_millis(text.trim())
        .map(|ms| format_rfc3339_millis(ms).trim_end_matches('Z').to_owned())
        .unwrap_or_default()
}

/// A `datetime-local` input's value as the RFC 3339 UTC time the setting holds.
fn datetime_setting(input: &str) -> String {
    match input.len() {
        0 => String::new(),
        // `2026-01-01T00:00`: the seconds are left out when zero.
        16 => format!("{input}:00Z"),
        _ => format!("{input}Z"),
    }
}

/// Keeps the form in step with the settings: values into the controls, errors beside their
/// fields (a problem in a folded field unfolds it), and the HTTPS warning. One effect: each is
/// cheap to set again, and every effect costs bundle size.
pub fn bind(sim: SimulatorHandle, root: NodeRef<leptos::html::Div>) {
    Effect::new(move |_| {
        if root.get().is_none() {
            return;
        }
        let by_id = |id: &str| find(root, &format!("#{id}"));
        for field in Field::ALL {
            let text = sim.value(field).get();
            let Some(element) = by_id(field.id()) else {
                continue;
            };
            match field.control() {
                Control::Flag => {
                    set_prop(&element, "checked", (parse_flag(&text) == Ok(true)).into())
                }
                Control::Kinds => {
                    let profile = parse_profile(&sim.value(Field::Profile).get())
                        .unwrap_or(crate::sensor::Profile::Realistic);
                    let in_use = parse_kinds(&text, profile).unwrap_or_default();
                    for kind in AnomalyKind::ALL {
                        if let Some(kind_box) = by_id(&format!("kind-{kind}")) {
                            set_prop(&kind_box, "checked", in_use.contains(&kind).into());
                        }
                    }
                }
                Control::DateTime => set_prop(&element, "value", datetime_input(&text).into()),
                _ => set_prop(&element, "value", text.into()),
            }
        }
        let url = sim.value(Field::BrokerUrl).get();
        let preset = BROKER_PRESETS
            .iter()
            .find(|(_, preset)| *preset == url)
            .map_or("custom", |(_, preset)| preset);
        if let Some(select) = by_id("broker-preset") {
            set_prop(&select, "value", preset.into());
        }
        let blocked = sim.https.then(|| blocked_from_https(&url)).flatten();
        set_by_id(root, "https-warning", "hidden", blocked.is_none().into());
        let warning = blocked.map(|b| format!("warning: {b}")).unwrap_or_default();
        set_by_id(root, "https-warning", "textContent", warning.into());
        for field in Field::ALL {
            let message = sim.error_for(field);
            let id = field.id();
            if let Some(control) = by_id(id) {
                let _ = control.set_attribute("aria-invalid", &message.is_some().to_string());
            }
            if let Some(error) = by_id(&format!("{id}-error")) {
                set_prop(
                    &error,
                    "textContent",
                    message.clone().unwrap_or_default().into(),
                );
            }
            if let Some(div) = by_id(&format!("{id}-field")) {
                let _ = div
                    .class_list()
                    .toggle_with_force("invalid", message.is_some());
                if message.is_some()
                    && let Ok(Some(details)) = div.closest("details")
                {
                    set_prop(&details, "open", true.into());
                }
            }
        }
    });
}

/// An edit of the settings form: the control `target` with id `id` now holds `value`.
pub fn on_input(
    sim: SimulatorHandle,
    root: NodeRef<leptos::html::Div>,
    target: &wasm_bindgen::JsValue,
    id: &str,
    value: String,
) {
    #[cfg(feature = "scenario")]
    if id == "scenario" {
        return sim.scenario_edited(value);
    }
    if id == "broker-preset" {
        if value != "custom" {
            sim.set_field(Field::BrokerUrl, value);
        }
    } else if id.starts_with("kind-") {
        let names: Vec<&str> = AnomalyKind::ALL
            .into_iter()
            .map(AnomalyKind::name)
            .filter(|name| {
                find(root, &format!("#kind-{name}"))
                    .is_some_and(|b| prop(&b, "checked").as_bool() == Some(true))
            })
            .collect();
        if names.is_empty() {
            // The last kind stays: no kind at all is Anomaly mode "off".
            set_prop(target, "checked", true.into());
            sim.push_log(
                LogLevel::Info,
                "Anomaly kinds: at least one; for none, set Anomaly mode to off".into(),
            );
        } else {
            sim.set_field(Field::AnomalyKinds, names.join(","));
        }
    } else if let Some(field) = Field::ALL.into_iter().find(|f| f.id() == id) {
        // A number input reads "" for text it cannot parse ("-" on the way to "-40", or "1e"):
        // the setting keeps its last readable value, and the field says why until it is
        // readable again (Start refuses meanwhile). Read as empty, it would mean "the
        // profile's own" for some fields.
        let unreadable = js_sys::Reflect::get(target, &"validity".into())
            .map(|validity| prop(&validity, "badInput").as_bool() == Some(true))
            .unwrap_or(false);
        let bit = 1u64 << field as u64;
        sim.unreadable
            .update(|u| *u = if unreadable { *u | bit } else { *u & !bit });
        if unreadable {
            return;
        }
        let text = match field.control() {
            Control::Flag => (prop(target, "checked").as_bool() == Some(true)).to_string(),
            Control::DateTime => datetime_setting(&value),
            _ => value,
        };
        sim.set_field(field, text);
    }
}

/// A file picked: settings to import, or a recording to replay.
pub fn on_change(sim: SimulatorHandle, ev: web_sys::Event) {
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    match input.id().as_str() {
        "import-settings" => {
            transport::browser::read_picked_file(&input, move |_, text| match text {
                Ok(text) => sim.import_settings(&text),
                Err(reason) => sim.push_log(LogLevel::Error, format!("import: {reason}")),
            })
        }
        "replay-file" => transport::browser::read_picked_file(&input, move |name, text| {
            sim.load_file(name, text)
        }),
        #[cfg(feature = "scenario")]
        "scenario-file" => {
            transport::browser::read_picked_file(&input, move |_, text| sim.scenario_file(text))
        }
        _ => return,
    }
    input.set_value("");
}

/// A file dropped on the page: a recording to replay.
pub fn on_drop(sim: SimulatorHandle, ev: web_sys::Event) {
    if transport::browser::read_dropped_file(&ev, move |name, text| sim.load_file(name, text)) {
        ev.prevent_default();
    }
}

impl SimulatorHandle {
    /// A recording in a file picked or dropped: kept as `file:NAME`.
    #[inline(never)]
    fn load_file(&self, name: String, text: Result<String, String>) {
        self.load_recording(format!("file:{name}"), text);
    }

    /// Reads a recording (a file picked or dropped, named `file:NAME`, or fetched from its URL)
    /// and keeps it for the replay profile under `name`, which the Recording field then holds;
    /// a bad one is said at the field and in the log, and nothing changes. Whether it was read.
    #[inline(never)]
    pub(super) fn load_recording(&self, name: String, text: Result<String, String>) -> bool {
        let recording = text.and_then(|text| crate::sensor::Recording::parse(text.as_bytes()));
        // A signed URL's query is a credential: the messages name the URL without it.
        let shown = &name[..name.find('?').unwrap_or(name.len())];
        match recording {
            Ok(recording) => {
                let with = if recording.has_temperature() {
                    "with temperatures"
                } else {
                    "temperatures from the model"
                };
                self.push_log(
                    LogLevel::Info,
                    format!("recording {shown}: {} readings, {with}", recording.len()),
                );
                self.recording
                    .set_value(Some((name.clone(), std::sync::Arc::new(recording))));
                self.errors
                    .update(|e| e.retain(|e| e.field != Field::Replay));
                self.set_field(Field::Replay, name);
                self.set_field(Field::Profile, "replay".into());
                true
            }
            Err(problem) => {
                self.refuse(vec![crate::settings::FieldError {
                    field: Field::Replay,
                    message: format!("{shown}: {problem}"),
                }]);
                false
            }
        }
    }
}

/// The colour theme: light, dark, or the system's choice (`auto`, the default), remembered
/// in this browser and shown on its button.
pub fn theme(root: NodeRef<leptos::html::Div>) -> RwSignal<String> {
    let theme =
        RwSignal::new(transport::browser::stored(THEME_KEY).unwrap_or_else(|| "auto".into()));
    Effect::new(move |_| {
        root.track();
        theme.with(|t| {
            transport::browser::apply_theme(t);
            set_by_id(root, "theme", "textContent", format!("Theme: {t}").into());
        });
    });
    theme
}

/// The theme after `theme`: auto, dark, light, auto.
pub fn next_theme(theme: RwSignal<String>) {
    let next = match theme.get_untracked().as_str() {
        "auto" => "dark",
        "dark" => "light",
        _ => "auto",
    };
    transport::browser::store(THEME_KEY, Some(next));
    theme.set(next.into());
}
