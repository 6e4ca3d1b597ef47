//! The scenario player (the page built with the `scenario` feature, served at `player/`): a
//! scenario pasted, picked from a file, or named by the link's `scenario` parameter (a URL,
//! fetched when the page opens), its timeline, and where a run of it is. The simulator page
//! itself is built without this, within its budget; `?scenario=` there comes here.

use leptos::prelude::*;

use super::{LogLevel, SimulatorHandle, by_document_id, set_prop};
use crate::scenario::{Scenario, timeline};
use crate::settings::{SettingsForm, percent_encode};
use crate::transport;

/// The most of a pasted scenario the share link carries in itself (as a `data:` URL); a
/// longer one is shared by giving its URL.
pub const LINK_TEXT_LIMIT: usize = 2048;

/// The section above the controls.
pub const SECTION: &str = "<section class=\"scenario\" aria-labelledby=\"scenario-heading\"><h2 id=\"scenario-heading\">Scenario</h2>\
<p class=\"hint\">A run scripted in time: stages (devices, ramp, interval), events (an anomaly, an outage, a weather front) and settings, as JSON. Paste it, pick its file, or open this page with <code>?scenario=URL</code>; examples are in the repository's <code>docs/scenarios/</code>.</p>\
<textarea id=\"scenario\" data-testid=\"scenario\" rows=\"6\" spellcheck=\"false\" aria-label=\"Scenario (JSON)\" aria-describedby=\"scenario-error\"></textarea>\
<label class=\"file\">Scenario file <input type=\"file\" id=\"scenario-file\" data-testid=\"scenario-file\" accept=\".json,application/json\"></label>\
<p id=\"scenario-error\" class=\"field-error\" data-testid=\"scenario-error\" role=\"alert\"></p>\
<div id=\"timeline\" data-testid=\"timeline\"></div></section>";

/// The player's state: the scenario's text as the text area holds it, read once when it
/// changes (none for an empty text area, or the problem with it), the URL it came from (while
/// the text is unchanged), the problem said at the text area, and its timeline.
#[derive(Clone, Copy)]
pub struct Player {
    pub text: RwSignal<String>,
    pub parsed: StoredValue<Result<Option<Scenario>, String>>,
    pub url: RwSignal<Option<String>>,
    pub error: RwSignal<String>,
    pub timeline: RwSignal<String>,
    /// The link's scenario is being fetched, and a Start (autostart) waits for it.
    pub fetching: RwSignal<bool>,
    pub start_waiting: RwSignal<bool>,
}

impl Player {
    pub fn new() -> Self {
        Self {
            text: RwSignal::new(String::new()),
            parsed: StoredValue::new(Ok(None)),
            url: RwSignal::new(None),
            error: RwSignal::new(String::new()),
            timeline: RwSignal::new(String::new()),
            fetching: RwSignal::new(false),
            start_waiting: RwSignal::new(false),
        }
    }
}

impl SimulatorHandle {
    /// The link's `scenario` parameter: fetched now, shown, and played at Start.
    pub(super) fn open_linked_scenario(&self) {
        let query = transport::browser::location_query();
        let Some(url) = crate::settings::param(&query, "scenario") else {
            return;
        };
        // user:password@ in the URL would go wherever the log and the share link go.
        if crate::settings::carries_user_info(&url) {
            let problem = "scenario: a URL with a user name or password is refused (the share link would carry it)";
            self.push_log(LogLevel::Error, problem.into());
            self.player.error.set(problem.into());
            return;
        }
        let sim = *self;
        let shown = crate::settings::shown_url(&url);
        self.push_log(LogLevel::Info, format!("fetching the scenario {shown}"));
        self.player.fetching.set(true);
        transport::browser::fetch_text(&url.clone(), move |text| {
            sim.player.fetching.set(false);
            match text {
                Ok(text) => {
                    sim.show_scenario(text);
                    sim.player.url.set(Some(url));
                    if sim.player.start_waiting.get_untracked() {
                        sim.player.start_waiting.set(false);
                        sim.start();
                    }
                }
                Err(reason) if sim.player.start_waiting.get_untracked() => {
                    sim.player.start_waiting.set(false);
                    sim.scenario_refused(format!("scenario: {reason}"));
                }
                Err(reason) => {
                    sim.push_log(LogLevel::Error, format!("scenario: {reason}"));
                    sim.player.error.set(format!("scenario: {reason}"));
                }
            }
        });
    }

    /// A Start while the link's scenario is still on its way waits for it; whether it must.
    pub(super) fn wait_for_scenario(&self) -> bool {
        if self.player.fetching.get_untracked() {
            self.player.start_waiting.set(true);
            self.push_log(
                LogLevel::Info,
                "starting once the scenario has been fetched".into(),
            );
            return true;
        }
        false
    }

    /// New text for the scenario (typed, pasted, read from a file or a URL): into the text
    /// area, checked, and its timeline drawn.
    pub(super) fn show_scenario(&self, text: String) {
        if let Some(area) = by_document_id("scenario") {
            set_prop(&area, "value", text.as_str().into());
        }
        self.scenario_edited(text);
    }

    /// The text area's text changed: the URL it came from no longer describes it.
    pub(super) fn scenario_edited(&self, text: String) {
        self.player.url.set(None);
        let parsed = match Scenario::parse(&text) {
            _ if text.trim().is_empty() => Ok(None),
            parsed => parsed.map(Some),
        };
        match &parsed {
            Ok(scenario) => {
                self.player.error.set(String::new());
                let svg = scenario.as_ref().map(|s| timeline::svg(s, None));
                self.player.timeline.set(svg.unwrap_or_default());
            }
            Err(problem) => self.player.error.set(problem.clone()),
        }
        self.player.parsed.set_value(parsed);
        self.player.text.set(text);
    }

    /// A scenario file picked.
    pub(super) fn scenario_file(&self, text: Result<String, String>) {
        match text {
            Ok(text) => self.show_scenario(text),
            Err(reason) => self.player.error.set(format!("scenario: {reason}")),
        }
    }

    /// At Start: the scenario read, its settings put into `form`. Err (said at the text area
    /// and in the log) when it cannot be read.
    pub(super) fn scenario_for(&self, form: &mut SettingsForm) -> Result<Option<Scenario>, ()> {
        match self.player.parsed.get_value() {
            Ok(scenario) => {
                if let Some(scenario) = &scenario {
                    scenario.apply(form);
                }
                Ok(scenario)
            }
            Err(problem) => {
                self.scenario_refused(problem);
                Err(())
            }
        }
    }

    pub(super) fn scenario_refused(&self, problem: String) {
        self.push_log(LogLevel::Error, format!("not started: {problem}"));
        self.player.error.set(problem);
    }

    /// The share link's part for the scenario: its URL, or (pasted, and short) the text
    /// itself as a `data:` URL; nothing for a long pasted one.
    pub(super) fn scenario_link(&self) -> String {
        if let Some(url) = self.player.url.get() {
            return format!("&scenario={}", percent_encode(&url));
        }
        let text = self.player.text.get();
        if text.trim().is_empty() || text.len() > LINK_TEXT_LIMIT {
            return String::new();
        }
        let data = format!("data:application/json,{}", percent_encode(&text));
        format!("&scenario={}", percent_encode(&data))
    }

    /// Said beside the links when the replay link leaves a pasted scenario out.
    pub(super) fn scenario_link_warning(&self) -> Option<String> {
        (self.player.url.get().is_none() && self.player.text.with(String::len) > LINK_TEXT_LIMIT)
            .then(|| format!("The replay link leaves the pasted scenario out (over {LINK_TEXT_LIMIT} characters): share the scenario by its URL (?scenario=URL)."))
    }

    /// The timeline with where the run is (ms after Start), as the simulator reports it.
    pub(super) fn scenario_at(&self, at_ms: Option<u64>) {
        let svg = self.player.parsed.with_value(|parsed| {
            parsed
                .as_ref()
                .ok()
                .flatten()
                .map(|scenario| timeline::svg(scenario, at_ms))
        });
        if let Some(svg) = svg {
            self.player.timeline.set(svg);
        }
    }
}

/// The settings a scenario's run was checked against hold it from now on.
pub fn attach(
    settings: &mut crate::settings::Settings,
    scenario: Option<Scenario>,
) -> Result<(), String> {
    match scenario {
        Some(scenario) => settings.attach_scenario(scenario),
        None => Ok(()),
    }
}
