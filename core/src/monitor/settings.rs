//! The monitor's settings: one table of fields, each with its label, URL parameter, element
//! id and default, like the simulator's; checked into [`MonitorSettings`] with errors that name
//! the field.

use std::fmt;

use crate::mqtt::check_filter;
use crate::settings::{BrokerUrl, bad, percent_decode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorField {
    Broker,
    Filter,
    LabelsFilter,
    Verdicts,
    Tolerance,
    Detector,
}

impl MonitorField {
    pub const ALL: [MonitorField; 6] = [
        MonitorField::Broker,
        MonitorField::Filter,
        MonitorField::LabelsFilter,
        MonitorField::Verdicts,
        MonitorField::Tolerance,
        MonitorField::Detector,
    ];

    pub fn label(self) -> &'static str {
        FIELDS[self as usize].0
    }

    pub fn param(self) -> &'static str {
        FIELDS[self as usize].1
    }

    pub fn id(self) -> &'static str {
        FIELDS[self as usize].2
    }

    pub fn default_text(self) -> &'static str {
        FIELDS[self as usize].3
    }

    pub fn hint(self) -> &'static str {
        FIELDS[self as usize].4
    }
}

/// Label, URL parameter, element id, default and hint, in [`MonitorField::ALL`] order.
const FIELDS: [(&str, &str, &str, &str, &str); 6] = [
    (
        "Broker URL",
        "broker",
        "broker-url",
        "ws://localhost:9001",
        "",
    ),
    (
        "Telemetry filter",
        "filter",
        "filter",
        "device/+/telemetry",
        "any publisher of the simulator's schema",
    ),
    (
        "Labels filter",
        "labels_filter",
        "labels-filter",
        "device/+/labels",
        "ground truth: the simulator with Labels set to topic",
    ),
    (
        "Verdicts filter",
        "verdicts",
        "verdicts",
        "device/+/verdict",
        "the device id is the level + matches",
    ),
    (
        "Tolerance (samples)",
        "tolerance",
        "tolerance",
        "0",
        "flags this many samples after an event still count",
    ),
    (
        "Built-in detector",
        "detector",
        "detector",
        "off",
        "baseline: publish the baseline detector's verdicts to the verdicts topic",
    ),
];

/// The most samples of tolerance: a window wider than this is no longer about one event.
pub const MAX_TOLERANCE: u64 = 10_000;

/// Checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSettings {
    pub broker_url: BrokerUrl,
    pub filter: String,
    pub labels_filter: String,
    pub verdicts: String,
    pub tolerance: u64,
    /// Run the built-in baseline detector and publish its verdicts.
    pub detector: bool,
}

impl MonitorSettings {
    /// The topic a verdict about `device_id` goes to: the verdicts filter with its `+`
    /// replaced; `None` when the id cannot be a topic level (the monitor only keeps ids of at
    /// most [`super::MAX_ID_BYTES`] without control characters).
    pub fn verdict_topic(&self, device_id: &str) -> Option<String> {
        if device_id.is_empty()
            || device_id.len() > super::MAX_ID_BYTES
            || device_id.contains(['/', '+', '#'])
            || device_id.chars().any(char::is_control)
        {
            return None;
        }
        Some(self.verdicts.replacen('+', device_id, 1))
    }

    /// Which device a verdict on `topic` is about: the level the verdicts filter's `+`
    /// matched.
    pub fn verdict_device<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let plus = self.verdicts.split('/').position(|level| level == "+")?;
        topic.split('/').nth(plus)
    }
}

/// A problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorError {
    pub field: MonitorField,
    pub message: String,
}

impl fmt::Display for MonitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.label(), self.message)
    }
}

/// The settings as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorForm {
    values: [String; MonitorField::ALL.len()],
    /// `autostart=1`: subscribe as soon as the page is up.
    pub autostart: bool,
}

impl Default for MonitorForm {
    fn default() -> Self {
        Self {
            values: MonitorField::ALL.map(|f| f.default_text().to_owned()),
            autostart: false,
        }
    }
}

impl MonitorForm {
    pub fn get(&self, field: MonitorField) -> &str {
        &self.values[field as usize]
    }

    pub fn set(&mut self, field: MonitorField, text: &str) {
        self.values[field as usize] = text.to_owned();
    }

    /// Applies a URL query (`?a=b&c=d`): known parameters set their field, `autostart=1`
    /// starts; anything else is returned, to be named in the log. A `+` is a `+` here, not a
    /// space: topic filters are written with it (`#` must be written `%23`).
    pub fn apply_query(&mut self, query: &str) -> Vec<String> {
        let mut unknown = vec![];
        for pair in query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(&value.replace('+', "%2B"));
            match MonitorField::ALL.into_iter().find(|f| f.param() == key) {
                Some(field) => self.set(field, &value),
                None if key == "autostart" => self.autostart = value == "1" || value == "true",
                None if key == "view" => {}
                None => unknown.push(key.to_owned()),
            }
        }
        unknown
    }

    /// A query string with every field, for a link to this monitor.
    pub fn to_query(&self) -> String {
        let mut query = String::new();
        for field in MonitorField::ALL {
            query.push(if query.is_empty() { '?' } else { '&' });
            query.push_str(field.param());
            query.push('=');
            query.push_str(&crate::settings::percent_encode(self.get(field)));
        }
        query
    }

    /// The settings for the page (a WebSocket broker).
    pub fn validate(&self) -> Result<MonitorSettings, Vec<MonitorError>> {
        self.validate_for(crate::settings::Runner::Page)
    }

    /// The settings for `runner`: the native one also speaks MQTT over TCP.
    pub fn validate_for(
        &self,
        runner: crate::settings::Runner,
    ) -> Result<MonitorSettings, Vec<MonitorError>> {
        let mut errors = vec![];
        let mut check = |field: MonitorField, result: Result<(), String>| {
            if let Err(message) = result {
                errors.push(MonitorError { field, message });
            }
        };
        let broker = BrokerUrl::parse(self.get(MonitorField::Broker).trim(), runner);
        check(
            MonitorField::Broker,
            broker.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        // A topic filter is a string of at most 65,535 bytes; a verdict's topic is the verdicts
        // filter with a device id of up to MAX_ID_BYTES in it.
        let longest = |text: &str, limit: usize| {
            if text.len() > limit {
                Err(format!("is {} bytes; at most {limit}", text.len()))
            } else {
                Ok(())
            }
        };
        for field in [MonitorField::Filter, MonitorField::LabelsFilter] {
            let text = self.get(field);
            check(
                field,
                longest(text, usize::from(u16::MAX))
                    .and_then(|()| check_filter(text).map_err(|e| bad(text, e))),
            );
        }
        let verdicts = self.get(MonitorField::Verdicts);
        check(
            MonitorField::Verdicts,
            longest(verdicts, usize::from(u16::MAX) - super::MAX_ID_BYTES)
                .and_then(|()| check_filter(verdicts).map_err(|e| bad(verdicts, e)))
                .and_then(|()| {
                    let pluses = verdicts.split('/').filter(|l| *l == "+").count();
                    if pluses != 1 || verdicts.contains('#') {
                        Err(bad(
                            verdicts,
                            "must have exactly one + level, which names the device, and no #",
                        ))
                    } else {
                        Ok(())
                    }
                }),
        );
        let tolerance_text = self.get(MonitorField::Tolerance).trim();
        let tolerance = match tolerance_text.parse::<u64>() {
            Ok(t) if t <= MAX_TOLERANCE => Ok(t),
            _ => Err(bad(
                tolerance_text,
                "must be a whole number of samples from 0 to 10000",
            )),
        };
        check(
            MonitorField::Tolerance,
            tolerance.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let detector_text = self.get(MonitorField::Detector).trim();
        let detector = match detector_text {
            "off" => Ok(false),
            "baseline" => Ok(true),
            other => Err(bad(other, "must be off or baseline")),
        };
        check(
            MonitorField::Detector,
            detector.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let broker_url = match broker {
            Ok(url) if errors.is_empty() => url,
            _ => return Err(errors),
        };
        Ok(MonitorSettings {
            broker_url,
            filter: self.get(MonitorField::Filter).to_owned(),
            labels_filter: self.get(MonitorField::LabelsFilter).to_owned(),
            verdicts: verdicts.to_owned(),
            tolerance: tolerance.unwrap_or(0),
            detector: detector.unwrap_or(false),
        })
    }
}
