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
    /// `room=NAME` gave this page a device id of its own (`NAME-xxxx`).
    pub room: bool,
    /// Things worth telling the user, e.g. that a password in the URL was ignored.
    pub notes: Vec<String>,
    /// The fields the query set, in the order it set them.
    pub fields_set: Vec<Field>,
}

impl SettingsForm {
    /// Applies `query` (with or without the leading `?`). Unknown parameters are ignored.
    pub fn apply_query(&mut self, query: &str) -> QueryOutcome {
        let mut outcome = QueryOutcome::default();
        let mut seed_host = None;
        let mut seed_port = None;
        let mut broker_given = false;
        let mut room = None;
        for pair in query.trim_start_matches('?').split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (percent_decode(key), percent_decode(value));
            if let Some(field) = Field::ALL.into_iter().find(|f| f.param() == Some(&key)) {
                broker_given |= field == Field::BrokerUrl;
                self.set(field, value);
                outcome.fields_set.push(field);
                continue;
            }
            // The seed program's environment variable names.
            match key.as_str() {
                "autostart" => outcome.autostart = matches!(value.as_str(), "1" | "true" | "yes"),
                "room" => room = Some(value),
                "MQTT_BROKER_HOST" => seed_host = Some(value),
                "MQTT_BROKER_PORT" => seed_port = Some(value),
                "DEVICE_ID" => outcome.set(self, Field::DeviceId, value),
                "MQTT_TOPIC" => outcome.set(self, Field::Topic, value),
                "PUBLISH_INTERVAL" => outcome.set(self, Field::Interval, value),
                "ANOMALY_INTERVAL" => outcome.set(self, Field::AnomalyEvery, value),
                "password" | "MQTT_PASSWORD" => outcome
                    .notes
                    .push("a password is never read from a URL; the parameter was ignored".into()),
                _ => {}
            }
        }
        // A recording named alone replays it: the replay profile goes with it.
        if outcome.fields_set.contains(&Field::Replay)
            && !outcome.fields_set.contains(&Field::Profile)
            && !self.get(Field::Replay).trim().is_empty()
        {
            outcome.set(self, Field::Profile, "replay".into());
        }
        if !broker_given && (seed_host.is_some() || seed_port.is_some()) {
            let host = seed_host.unwrap_or_else(|| "localhost".into());
            let port = seed_port.unwrap_or_else(|| "9001".into());
            outcome.set(self, Field::BrokerUrl, format!("ws://{host}:{port}"));
        }
        // A room link: this visitor is a device of their own, the room's name and this page's
        // random suffix (kept from an earlier visit to the same room, or as typed in the link).
        if let Some(room) = room.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty())
            && !outcome.fields_set.contains(&Field::DeviceId)
            && !self.get(Field::DeviceId).starts_with(&format!("{room}-"))
        {
            // This page's random suffix; a client id typed without one gives its last 4 bytes.
            let client_id = self.get(Field::ClientId);
            let suffix = match client_id.rsplit_once('-') {
                Some((_, suffix)) => suffix.to_owned(),
                None => {
                    let mut cut = client_id.len().saturating_sub(4);
                    while !client_id.is_char_boundary(cut) {
                        cut += 1;
                    }
                    client_id[cut..].to_owned()
                }
            };
            outcome.set(self, Field::DeviceId, format!("{room}-{suffix}"));
            outcome.room = true;
        }
        // A link that names the device but not the client id gets a client id built from that
        // device id, keeping this page's random suffix.
        let device_set = outcome.fields_set.contains(&Field::DeviceId);
        if device_set
            && !outcome.fields_set.contains(&Field::ClientId)
            && let Some(suffix) = self
                .get(Field::ClientId)
                .rsplit_once('-')
                .map(|(_, suffix)| suffix.to_owned())
        {
            let client_id = super::default_client_id(self.get(Field::DeviceId).trim(), &suffix);
            self.set(Field::ClientId, client_id);
        }
        outcome
    }
}

/// The value of `key` in `query` (with or without its `?`), percent-decoded.
pub fn param(query: &str, key: &str) -> Option<String> {
    query.trim_start_matches('?').split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

impl SettingsForm {
    /// Applies what the last visit remembered (`remembered`, a query string), then the page's
    /// link (`link`), which wins. A replay link (it names a seed) or a room link sets the whole
    /// form: nothing remembered mixes in, so the run is the link's, but a visitor's own device
    /// in this room (`<room>-xxxx`, remembered from an earlier visit) is kept. Also says whether
    /// the client id was typed by hand (remembered as typed).
    pub fn apply_remembered_and_link(
        &mut self,
        remembered: &str,
        link: &str,
    ) -> (QueryOutcome, bool) {
        let room = param(link, "room").filter(|room| !room.trim().is_empty());
        let mut client_id_typed = false;
        if room.is_some() || param(link, "seed").is_some() {
            if let (Some(room), Some(device)) = (&room, param(remembered, "device_id"))
                && device.starts_with(&format!("{}-", room.trim()))
            {
                self.set(Field::DeviceId, device);
            }
        } else {
            client_id_typed = self
                .apply_query(remembered)
                .fields_set
                .contains(&Field::ClientId);
        }
        (self.apply_query(link), client_id_typed)
    }

    /// Applies a link's fragment, `#password=…` (the classroom mode's room link): a password
    /// travels there, never in the query, since a browser sends no fragment to the server that
    /// serves the page (nor to its logs). True when it set the password.
    pub fn apply_fragment(&mut self, fragment: &str) -> bool {
        let password = fragment
            .trim_start_matches('#')
            .split('&')
            .find_map(|pair| pair.strip_prefix("password="));
        match password {
            Some(password) => {
                self.set(Field::Password, percent_decode(password));
                true
            }
            None => false,
        }
    }
}

impl QueryOutcome {
    fn set(&mut self, form: &mut SettingsForm, field: Field, value: String) {
        form.set(field, value);
        self.fields_set.push(field);
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
