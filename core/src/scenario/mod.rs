//! Scenarios: a run scripted in time, the same on the page and the runner.
//!
//! A scenario file (JSON) has `stages`, run one after another (how many devices are connected
//! at the end of each, reached linearly over its `ramp`, and its publish interval), `events` at
//! seconds from Start (an anomaly on some devices, some devices offline for a while, a weather
//! front over the whole fleet), and any other setting under its URL parameter name. Everything
//! is decided by the time since Start on the run's own clock, never by when a socket happened
//! to open: a scripted anomaly lands on each device's first sample at or after its time, so the
//! same scenario, seed and Start time give the same stream byte for byte on either runner.
//!
//! [`Scenario::parse`] reads the file, [`Scenario::apply`] puts its settings into a form, and
//! [`Scenario::check`] holds it against the settings that form became (device numbers against
//! the fleet, a shared connection's limits). A [`crate::fleet::Fleet`] then plays it.

pub mod json;
pub mod timeline;

use crate::sensor::AnomalyKind;
use crate::settings::{Connection, Field, Settings, SettingsForm, parse_interval};

use json::Value;

/// The largest scenario file read: a script, not a dataset.
pub const MAX_BYTES: usize = 1 << 20;
/// The most stages and events a scenario holds.
pub const MAX_STAGES: usize = 1_000;
pub const MAX_EVENTS: usize = 10_000;
/// The longest a scenario runs: a year, as `--duration`.
pub const MAX_MS: u64 = 365 * 24 * 3600 * 1000;
/// The largest weather front, hPa: the deepest storms move the air about 50 hPa in a day.
pub const MAX_FRONT_HPA: i64 = 50;
/// How long a front takes when the event does not say.
pub const DEFAULT_FRONT_MS: u64 = 3_600_000;
/// The most numbers and ranges one event's `devices` list holds (ranges say more).
pub const MAX_DEVICE_ITEMS: usize = 1_000;
/// The most devices the events name together (an event of "all" names the whole fleet):
/// each named device of an anomaly is a scripted event the fleet keeps.
pub const MAX_NAMED: u64 = 1_000_000;

/// A checked scenario, times in ms from Start.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub stages: Vec<Stage>,
    pub events: Vec<Event>,
    /// Other settings at the top level, in the file's order, as text for their parsers.
    pub settings: Vec<(Field, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub start_ms: u64,
    pub duration_ms: u64,
    /// Connected at the end of the stage: devices 1 to this.
    pub devices: usize,
    /// Reached linearly over this, from the stage's start (0: at once).
    pub ramp_ms: u64,
    /// The stage's publish interval; none keeps the settings' (filled in by
    /// [`Scenario::check`]).
    pub interval_ms: Option<u64>,
}

impl Stage {
    pub fn end_ms(&self) -> u64 {
        self.start_ms + self.duration_ms
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at_ms: u64,
    pub what: What,
    pub devices: Devices,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum What {
    /// An event of `kind` at each device's first sample at or after the time, its magnitude and
    /// length multiplied by these.
    Anomaly {
        kind: AnomalyKind,
        magnitude: f64,
        duration: f64,
    },
    /// The connections drop (no DISCONNECT: a network lost) and come back after this long;
    /// what the devices make meanwhile waits in their queues.
    Offline { for_ms: u64 },
    /// The whole fleet's air moves by `change_hpa` over `over_ms`, unlabelled.
    Front { change_hpa: f64, over_ms: u64 },
}

impl What {
    /// The word the timeline and the log use.
    pub fn name(&self) -> &'static str {
        match self {
            What::Anomaly { kind, .. } => kind.name(),
            What::Offline { .. } => "offline",
            What::Front { .. } => "front",
        }
    }
}

/// Which devices an event is for: all, or ranges of device numbers (from 1, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Devices {
    All,
    Ranges(Vec<(usize, usize)>),
}

impl Devices {
    pub fn contains(&self, device: usize) -> bool {
        match self {
            Devices::All => true,
            Devices::Ranges(ranges) => ranges.iter().any(|&(a, b)| (a..=b).contains(&device)),
        }
    }

    /// The highest device number named (none for all).
    fn highest(&self) -> Option<usize> {
        match self {
            Devices::All => None,
            Devices::Ranges(ranges) => ranges.iter().map(|&(_, b)| b).max(),
        }
    }
}

/// A weather front as the generator adds it: from `at_ms` after Start, the air moves by
/// `change_hpa` over `over_ms` along a smooth S-curve, and stays moved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Front {
    pub at_ms: u64,
    pub change_hpa: f64,
    pub over_ms: u64,
}

impl Front {
    /// How far the front has moved the air `since_start_ms` after Start.
    pub fn departure_hpa(&self, since_start_ms: i64) -> f64 {
        let into = since_start_ms - self.at_ms as i64;
        if into <= 0 {
            return 0.0;
        }
        if into as u64 >= self.over_ms {
            return self.change_hpa;
        }
        let x = into as f64 / self.over_ms as f64;
        self.change_hpa * x * x * (3.0 - 2.0 * x)
    }
}

impl Scenario {
    /// Reads a scenario file. Errors name the stage or event and field
    /// (`stages[1].ramp: ...`); settings are checked later, by the settings' own checks.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        if text.len() > MAX_BYTES {
            return Err(format!(
                "scenario: {} bytes, over the {} a scenario may have",
                text.len(),
                MAX_BYTES
            ));
        }
        let Value::Object(members) =
            json::parse(text).map_err(|problem| format!("scenario: {problem}"))?
        else {
            return Err("scenario: must be a JSON object with \"stages\"".into());
        };
        let mut scenario = Scenario {
            name: String::new(),
            stages: vec![],
            events: vec![],
            settings: vec![],
        };
        let mut stages = None;
        let mut events = None;
        for (key, value) in members {
            match key.as_str() {
                "name" => match value {
                    Value::String(name) => scenario.name = name,
                    other => return Err(format!("name: must be a string, not {}", other.kind())),
                },
                "stages" => stages = Some(value),
                "events" => events = Some(value),
                "devices" => {
                    return Err(
                        "devices: the stages say how many devices run (the fleet is the largest count)"
                            .into(),
                    );
                }
                _ => {
                    let field = Field::from_param(&key).ok_or_else(|| {
                        format!("{key}: neither a scenario field (name, stages, events) nor a setting's URL parameter")
                    })?;
                    let text = value.as_text().ok_or_else(|| {
                        format!(
                            "{key}: must be a string, a number or true/false, not {}",
                            value.kind()
                        )
                    })?;
                    scenario.settings.push((field, text.to_owned()));
                }
            }
        }
        let Some(Value::Array(stages)) = stages else {
            return Err(
                "stages: a scenario needs a list of stages, e.g. [{\"duration\": 60, \"devices\": 10}]"
                    .into(),
            );
        };
        if stages.is_empty() || stages.len() > MAX_STAGES {
            return Err(format!("stages: must have 1 to {MAX_STAGES} stages"));
        }
        let mut start_ms = 0;
        for (index, stage) in stages.iter().enumerate() {
            let members = object(stage).map_err(|e| format!("stages[{index}]: {e}"))?;
            let stage =
                read_stage(members, start_ms).map_err(|e| format!("stages[{index}].{e}"))?;
            start_ms = stage.end_ms();
            if start_ms > MAX_MS {
                return Err(format!(
                    "stages[{index}].duration: the stages last over a year together"
                ));
            }
            scenario.stages.push(stage);
        }
        match events {
            None => {}
            Some(Value::Array(events)) if events.len() <= MAX_EVENTS => {
                for (index, event) in events.iter().enumerate() {
                    let members = object(event).map_err(|e| format!("events[{index}]: {e}"))?;
                    let event = read_event(members, start_ms)
                        .map_err(|e| format!("events[{index}].{e}"))?;
                    scenario.events.push(event);
                }
            }
            Some(Value::Array(_)) => return Err(format!("events: at most {MAX_EVENTS} events")),
            Some(other) => return Err(format!("events: must be a list, not {}", other.kind())),
        }
        Ok(scenario)
    }

    /// Puts the scenario's settings into `form`: its top-level ones, the fleet (the largest
    /// stage), and the first stage's interval when it gives one.
    pub fn apply(&self, form: &mut SettingsForm) {
        for (field, text) in &self.settings {
            form.set(*field, text.clone());
        }
        form.set(Field::Devices, self.fleet().to_string());
        if let Some(interval) = self.stages[0].interval_ms {
            form.set(Field::Interval, seconds(interval));
        }
    }

    /// The fleet the scenario needs: its largest stage.
    pub fn fleet(&self) -> usize {
        self.stages.iter().map(|s| s.devices).max().unwrap_or(1)
    }

    /// When the last stage ends, ms from Start.
    pub fn end_ms(&self) -> u64 {
        self.stages.last().map_or(0, Stage::end_ms)
    }

    /// Holds the scenario against the settings it runs with, and fills in each stage's
    /// interval: every device named is in the fleet; one shared connection carries every
    /// device, so its stages keep the whole fleet and its outages take them all.
    pub fn check(mut self, settings: &Settings) -> Result<Scenario, String> {
        let fleet = settings.devices;
        let shared = settings.connection == Connection::Shared && fleet > 1;
        for (index, stage) in self.stages.iter_mut().enumerate() {
            stage.interval_ms.get_or_insert(settings.interval_ms);
            if shared && stage.devices != fleet {
                return Err(format!(
                    "stages[{index}].devices: one shared connection publishes for all {fleet} devices; a stage of {} needs connection per-device",
                    stage.devices
                ));
            }
        }
        let mut named = 0u64;
        for (index, event) in self.events.iter().enumerate() {
            named += match &event.devices {
                _ if matches!(event.what, What::Front { .. }) => 0,
                Devices::All => fleet as u64,
                Devices::Ranges(ranges) => ranges.iter().map(|&(a, b)| (b - a + 1) as u64).sum(),
            };
            if named > MAX_NAMED {
                return Err(format!(
                    "events[{index}].devices: the events name over {MAX_NAMED} devices together (an event of \"all\" names the whole fleet)"
                ));
            }
            if let Some(highest) = event.devices.highest()
                && highest > fleet
            {
                return Err(format!(
                    "events[{index}].devices: device {highest} is not in a fleet of {fleet}"
                ));
            }
            if shared && matches!(event.what, What::Offline { .. }) && event.devices != Devices::All
            {
                return Err(format!(
                    "events[{index}].devices: one shared connection carries every device, so an outage takes \"all\" (or use connection per-device)"
                ));
            }
        }
        // In time order, the file's order kept between events at the same time (an insertion
        // sort: a few events, and the page's only sort of them would cost it kilobytes).
        for i in 1..self.events.len() {
            let mut j = i;
            while j > 0 && self.events[j - 1].at_ms > self.events[j].at_ms {
                self.events.swap(j - 1, j);
                j -= 1;
            }
        }
        Ok(self)
    }

    /// The weather fronts, for every sensor's air.
    pub fn fronts(&self) -> Vec<Front> {
        self.events
            .iter()
            .filter_map(|event| match event.what {
                What::Front {
                    change_hpa,
                    over_ms,
                } => Some(Front {
                    at_ms: event.at_ms,
                    change_hpa,
                    over_ms,
                }),
                _ => None,
            })
            .collect()
    }

    /// The stage running `at_ms` after Start (the last once it is over).
    pub fn stage_at(&self, at_ms: u64) -> usize {
        self.stages
            .iter()
            .position(|stage| at_ms < stage.end_ms())
            .unwrap_or(self.stages.len() - 1)
    }

    /// How many devices are connected `at_ms` after Start: the ramp's count, device
    /// `previous + i` of a ramp up joining at `ramp x i / change` into the stage.
    pub fn devices_at(&self, at_ms: u64) -> usize {
        let index = self.stage_at(at_ms);
        let stage = &self.stages[index];
        let before = match index {
            0 if stage.ramp_ms > 0 => 0,
            0 => stage.devices,
            _ => self.stages[index - 1].devices,
        };
        let into = at_ms.saturating_sub(stage.start_ms);
        if into >= stage.ramp_ms {
            return stage.devices;
        }
        let change = stage.devices.abs_diff(before) as u64;
        let moved = (change * into / stage.ramp_ms) as usize;
        if stage.devices >= before {
            before + moved
        } else {
            before - moved
        }
    }
}

/// Milliseconds as seconds in the settings' notation (`1.5`).
fn seconds(ms: u64) -> String {
    match ms % 1000 {
        0 => (ms / 1000).to_string(),
        part => format!("{}.{part:03}", ms / 1000),
    }
}

fn object(value: &Value) -> Result<&[(String, Value)], String> {
    match value {
        Value::Object(members) => Ok(members),
        other => Err(format!("must be an object, not {}", other.kind())),
    }
}

/// A field's text: a number, or a number in a string.
fn text<'a>(key: &str, value: &'a Value) -> Result<&'a str, String> {
    match value {
        Value::Number(text) | Value::String(text) => Ok(text),
        other => Err(format!("{key}: must be a number, not {}", other.kind())),
    }
}

/// Seconds from 0 to a year, as ms (to the millisecond).
fn read_seconds(key: &str, value: &Value) -> Result<u64, String> {
    let text = text(key, value)?.trim();
    crate::settings::parse_decimal_micros(text)
        .map(|micros| micros.div_ceil(1000))
        .filter(|&ms| ms <= MAX_MS)
        .ok_or_else(|| {
            format!("{key}: must be a number of seconds from 0 to a year (got \"{text}\")")
        })
}

fn read_stage(members: &[(String, Value)], start_ms: u64) -> Result<Stage, String> {
    let mut stage = Stage {
        start_ms,
        duration_ms: 0,
        devices: 0,
        ramp_ms: 0,
        interval_ms: None,
    };
    let (mut duration, mut devices) = (false, false);
    for (key, value) in members {
        match key.as_str() {
            "duration" => {
                stage.duration_ms = read_seconds(key, value)?;
                if stage.duration_ms == 0 {
                    return Err("duration: must be more than 0 seconds".into());
                }
                duration = true;
            }
            "devices" => {
                let text = text(key, value)?.trim();
                stage.devices = text
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=crate::settings::MAX_NATIVE_DEVICES).contains(&n))
                    .ok_or_else(|| {
                        format!(
                            "devices: must be a whole number from 1 to {} (got \"{text}\")",
                            crate::settings::MAX_NATIVE_DEVICES
                        )
                    })?;
                devices = true;
            }
            "ramp" => stage.ramp_ms = read_seconds(key, value)?,
            "interval" => {
                let text = text(key, value)?;
                stage.interval_ms =
                    Some(parse_interval(text).map_err(|problem| format!("interval: {problem}"))?);
            }
            other => {
                return Err(format!(
                    "{other}: not a stage field (duration, devices, ramp, interval)"
                ));
            }
        }
    }
    if !duration {
        return Err("duration: every stage needs one, in seconds".into());
    }
    if !devices {
        return Err("devices: every stage needs one (connected at its end)".into());
    }
    if stage.ramp_ms > stage.duration_ms {
        return Err("ramp: must be at most the stage's duration".into());
    }
    Ok(stage)
}

fn read_event(members: &[(String, Value)], end_ms: u64) -> Result<Event, String> {
    let get = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let at = get("at").ok_or("at: every event needs one, in seconds from Start")?;
    let at_ms = read_seconds("at", at)?;
    if at_ms >= end_ms {
        return Err(format!(
            "at: {} s is not before the scenario's end ({} s)",
            seconds(at_ms),
            seconds(end_ms)
        ));
    }
    let whats = ["anomaly", "offline", "weather"];
    let given: Vec<&str> = whats.into_iter().filter(|w| get(w).is_some()).collect();
    let allowed: &[&str] = match given.as_slice() {
        [one] => match *one {
            "anomaly" => &["at", "anomaly", "devices", "magnitude", "duration"],
            "offline" => &["at", "offline", "devices"],
            _ => &["at", "weather", "change_hpa", "over"],
        },
        _ => return Err(
            "anomaly: an event is one of \"anomaly\" (a kind), \"offline\" (seconds) or \"weather\" (\"front\")"
                .into(),
        ),
    };
    if let Some((key, _)) = members.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "{key}: not a field of a {} event ({})",
            given[0],
            allowed.join(", ")
        ));
    }
    let what = match given[0] {
        "anomaly" => {
            let kind = match get("anomaly") {
                Some(Value::String(name)) => AnomalyKind::from_name(name),
                _ => None,
            }
            .ok_or_else(|| {
                let names: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
                format!("anomaly: must be one of {}", names.join(", "))
            })?;
            let factor = |key: &str| match get(key) {
                None => Ok(1.0),
                Some(value) => {
                    let text = text(key, value)?;
                    crate::settings::model::parse_factor(text, (50_000, "0.05"), (10_000_000, "10"))
                        .map_err(|problem| format!("{key}: {problem}"))
                }
            };
            What::Anomaly {
                kind,
                magnitude: factor("magnitude")?,
                duration: factor("duration")?,
            }
        }
        "offline" => {
            let for_ms = read_seconds("offline", get("offline").unwrap_or(&Value::Null))?;
            if for_ms == 0 {
                return Err("offline: must be more than 0 seconds".into());
            }
            if at_ms + for_ms > end_ms {
                return Err(format!(
                    "offline: the outage would end after the scenario ({} s): the run ends with its last stage",
                    seconds(end_ms)
                ));
            }
            What::Offline { for_ms }
        }
        _ => {
            if get("weather") != Some(&Value::String("front".into())) {
                return Err("weather: must be \"front\"".into());
            }
            let change = get("change_hpa").ok_or("change_hpa: a front needs one, in hPa")?;
            let change_hpa = crate::settings::model::parse_number(
                text("change_hpa", change)?,
                -MAX_FRONT_HPA,
                MAX_FRONT_HPA,
            )
            .map_err(|problem| format!("change_hpa: {problem}"))?;
            let over_ms = match get("over") {
                Some(value) => read_seconds("over", value)?,
                None => DEFAULT_FRONT_MS,
            };
            What::Front {
                change_hpa,
                over_ms,
            }
        }
    };
    let devices = match (get("devices"), &what) {
        (None, _) => Devices::All,
        (Some(_), What::Front { .. }) => unreachable!("refused as not a front's field"),
        (Some(value), _) => read_devices(value)?,
    };
    Ok(Event {
        at_ms,
        what,
        devices,
    })
}

/// `"all"`, `"a-b"`, or a list of device numbers (and ranges).
fn read_devices(value: &Value) -> Result<Devices, String> {
    let problem = || {
        "devices: must be \"all\", a range such as \"1-5\", or a list of device numbers such as [2, 7]"
            .to_owned()
    };
    let number = |text: &str| {
        text.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(problem)
    };
    let range = |text: &str| match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!("devices: the range \"{text}\" runs backwards"));
            }
            Ok((a, b))
        }
        None => number(text).map(|n| (n, n)),
    };
    match value {
        Value::String(text) if text.trim() == "all" => Ok(Devices::All),
        Value::String(text) => Ok(Devices::Ranges(vec![range(text)?])),
        Value::Number(text) => number(text).map(|n| Devices::Ranges(vec![(n, n)])),
        Value::Array(items) if items.len() > MAX_DEVICE_ITEMS => Err(format!(
            "devices: at most {MAX_DEVICE_ITEMS} numbers and ranges (say \"1-500\" for many)"
        )),
        Value::Array(items) if !items.is_empty() => {
            let mut ranges = vec![];
            for item in items {
                match item {
                    Value::Number(text) => {
                        let n = number(text)?;
                        ranges.push((n, n));
                    }
                    Value::String(text) => ranges.push(range(text)?),
                    _ => return Err(problem()),
                }
            }
            Ok(Devices::Ranges(ranges))
        }
        _ => Err(problem()),
    }
}

#[cfg(all(test, feature = "scenario"))]
mod tests;
