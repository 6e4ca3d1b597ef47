//! URL query parameters that set the form, so that a link reproduces a simulator.
//!
//! A parameter's value goes into its field as text; validation then reports a bad one next to
//! the field like a typed value, never replacing it with a default.

use super::{Field, SettingsForm};

/// What the query asked for besides field values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOutcome {
    /// `autostart=1`: start as soon as the page loads (when the settings are valid).
    pub autostart: bool,
    /// Things worth telling the user, e.g. that a password in the URL was ignored.
    pub notes: Vec<String>,
}

impl SettingsForm {
    /// Applies `query` (with or without the leading `?`). Unknown parameters are ignored.
    pub fn apply_query(&mut self, query: &str) -> QueryOutcome {
        let mut outcome = QueryOutcome::default();
        let mut seed_host = None;
        let mut seed_port = None;
        let mut broker_given = false;
        for pair in query.trim_start_matches('?').split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (percent_decode(key), percent_decode(value));
            if let Some(field) = Field::ALL.into_iter().find(|f| f.param() == Some(&key)) {
                broker_given |= field == Field::BrokerUrl;
                self.set(field, value);
                continue;
            }
            // The seed program's environment variable names.
            match key.as_str() {
                "autostart" => outcome.autostart = matches!(value.as_str(), "1" | "true" | "yes"),
                "MQTT_BROKER_HOST" => seed_host = Some(value),
                "MQTT_BROKER_PORT" => seed_port = Some(value),
                "DEVICE_ID" => self.set(Field::DeviceId, value),
                "MQTT_TOPIC" => self.set(Field::Topic, value),
                "PUBLISH_INTERVAL" => self.set(Field::Interval, value),
                "ANOMALY_INTERVAL" => self.set(Field::AnomalyEvery, value),
                "password" | "MQTT_PASSWORD" => outcome
                    .notes
                    .push("a password is never read from a URL; the parameter was ignored".into()),
                _ => {}
            }
        }
        if !broker_given && (seed_host.is_some() || seed_port.is_some()) {
            let host = seed_host.unwrap_or_else(|| "localhost".into());
            let port = seed_port.unwrap_or_else(|| "9001".into());
            self.broker_url = format!("ws://{host}:{port}");
        }
        outcome
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte. A `%` not
/// followed by two hex digits stays as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex_pair(bytes[i + 1], bytes[i + 2]).is_some() => {
                out.push(hex_pair(bytes[i + 1], bytes[i + 2]).expect("checked"));
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}
