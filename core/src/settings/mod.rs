//! The simulator's settings: what the page's inputs hold ([`SettingsForm`], plain text), and the
//! checked values a device runs with ([`Settings`]). Every problem is reported against the field
//! it belongs to, so the page can show it next to that input.

mod broker;
mod controls;
pub(crate) mod model;
mod query;

use std::fmt;

use crate::mqtt::redacted;
use crate::sensor::{AirParams, Difficulty, Profile, SensorConfig};

pub use broker::{BrokerUrl, Scheme, carries_user_info, shown_url};
pub use controls::{
    BROKER_PRESETS, Control, Group, SECURE_DEFAULT_BROKER, blocked_from_https, form_html,
    remembered, room_warning,
};
pub use model::{format_utc_offset, parse_kinds, parse_profile};
pub use query::{QueryOutcome, param, percent_decode};

/// The settings a user can change, in the order the page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    BrokerUrl,
    DeviceId,
    Topic,
    Interval,
    Devices,
    Connection,
    AnomalyEvery,
    ClientId,
    KeepAlive,
    Username,
    Password,
    MaxInFlight,
    OfflineQueue,
    CleanSession,
    Profile,
    Replay,
    ReplayLoop,
    ReplayInStep,
    Seed,
    Precision,
    Altitude,
    AltitudeSpread,
    Weather,
    Tide,
    Temperature,
    Start,
    TimeZone,
    AnomalyMode,
    AnomalyProbability,
    AnomalyKinds,
    AnomalyScale,
    AnomalyDuration,
    Labels,
    /// Measure latency: only where the `latency` feature is (the runner, the scenario player).
    #[cfg(feature = "latency")]
    Latency,
}

/// How many fields there are.
const FIELDS: usize = BASE_FIELDS.len() + cfg!(feature = "latency") as usize;

impl Field {
    pub const ALL: [Field; FIELDS] = {
        let mut all = [Field::BrokerUrl; FIELDS];
        let mut i = 0;
        while i < BASE_FIELDS.len() {
            all[i] = BASE_FIELDS[i];
            i += 1;
        }
        #[cfg(feature = "latency")]
        {
            all[i] = Field::Latency;
        }
        all
    };
}

/// Every field but those of features, in order.
const BASE_FIELDS: [Field; 33] = [
    Field::BrokerUrl,
    Field::DeviceId,
    Field::Topic,
    Field::Interval,
    Field::Devices,
    Field::Connection,
    Field::AnomalyEvery,
    Field::ClientId,
    Field::KeepAlive,
    Field::Username,
    Field::Password,
    Field::MaxInFlight,
    Field::OfflineQueue,
    Field::CleanSession,
    Field::Profile,
    Field::Replay,
    Field::ReplayLoop,
    Field::ReplayInStep,
    Field::Seed,
    Field::Precision,
    Field::Altitude,
    Field::AltitudeSpread,
    Field::Weather,
    Field::Tide,
    Field::Temperature,
    Field::Start,
    Field::TimeZone,
    Field::AnomalyMode,
    Field::AnomalyProbability,
    Field::AnomalyKinds,
    Field::AnomalyScale,
    Field::AnomalyDuration,
    Field::Labels,
];

impl Field {
    /// The text of the field's `<label>`.
    pub fn label(self) -> &'static str {
        FIELD_META[self as usize].0
    }

    /// The URL query parameter that sets the field (the password has none).
    pub fn param(self) -> Option<&'static str> {
        FIELD_META[self as usize].1
    }

    /// A stable identifier for the field's input element.
    pub fn id(self) -> &'static str {
        FIELD_META[self as usize].2
    }

    /// A yes/no setting, shown as a checkbox; its text is `true` or `false`.
    pub fn is_flag(self) -> bool {
        match self {
            Field::CleanSession | Field::ReplayLoop | Field::ReplayInStep => true,
            #[cfg(feature = "latency")]
            Field::Latency => true,
            _ => false,
        }
    }
}

/// Each field's `<label>` text, URL query parameter (the password has none), element id and
/// default text, in [`Field::ALL`] order. The device id's and client id's defaults are made by
/// [`SettingsForm::defaults`]; an empty Anomaly every or Anomaly kinds means the profile's own.
const FIELD_META: [(&str, Option<&str>, &str, &str); Field::ALL.len()] = {
    let mut all = [BASE_META[0]; FIELDS];
    let mut i = 0;
    while i < BASE_META.len() {
        all[i] = BASE_META[i];
        i += 1;
    }
    #[cfg(feature = "latency")]
    {
        all[i] = (
            "Measure latency",
            Some("latency"),
            "measure-latency",
            "false",
        );
    }
    all
};

/// The meta of [`BASE_FIELDS`].
const BASE_META: [(&str, Option<&str>, &str, &str); BASE_FIELDS.len()] = [
    (
        "Broker URL",
        Some("broker"),
        "broker-url",
        "ws://localhost:9001",
    ),
    (
        "Device ID",
        Some("device_id"),
        "device-id",
        DEFAULT_DEVICE_ID,
    ),
    (
        "Topic",
        Some("topic"),
        "topic",
        "device/{device_id}/telemetry",
    ),
    ("Publish interval (s)", Some("interval"), "interval", "1.0"),
    ("Devices", Some("devices"), "devices", "1"),
    ("Connection", Some("connection"), "connection", "per-device"),
    (
        "Anomaly every N packets",
        Some("anomaly_every"),
        "anomaly-every",
        "",
    ),
    ("Client ID", Some("client_id"), "client-id", ""),
    ("Keep alive (s)", Some("keepalive"), "keep-alive", "60"),
    ("Username", Some("username"), "username", ""),
    ("Password", None, "password", ""),
    ("Max in flight", Some("max_inflight"), "max-in-flight", "32"),
    ("Offline queue", Some("queue"), "offline-queue", "1000"),
    (
        "Clean session",
        Some("clean_session"),
        "clean-session",
        "false",
    ),
    ("Profile", Some("profile"), "profile", "realistic"),
    ("Recording", Some("replay"), "replay", ""),
    (
        "Loop the recording",
        Some("replay_loop"),
        "replay-loop",
        "true",
    ),
    (
        "All from its first row",
        Some("replay_in_step"),
        "replay-in-step",
        "false",
    ),
    ("Seed", Some("seed"), "seed", "0"),
    ("Precision", Some("precision"), "precision", "16"),
    ("Altitude (m)", Some("altitude"), "altitude", "0"),
    (
        "Altitude spread (m)",
        Some("altitude_spread"),
        "altitude-spread",
        "0",
    ),
    ("Weather", Some("weather"), "weather", "typical"),
    ("Tide amplitude (hPa)", Some("tide"), "tide", "0.5"),
    (
        "Mean temperature (C)",
        Some("temperature"),
        "temperature",
        "24",
    ),
    ("Start time", Some("start"), "start", ""),
    ("Time zone (UTC offset)", Some("tz"), "tz", "+00:00"),
    (
        "Anomaly mode",
        Some("anomaly_mode"),
        "anomaly-mode",
        "every",
    ),
    (
        "Anomaly probability",
        Some("anomaly_probability"),
        "anomaly-probability",
        "0.01",
    ),
    ("Anomaly kinds", Some("anomaly_kinds"), "anomaly-kinds", ""),
    (
        "Anomaly magnitude",
        Some("anomaly_scale"),
        "anomaly-scale",
        "1.0",
    ),
    (
        "Anomaly duration",
        Some("anomaly_duration"),
        "anomaly-duration",
        "1.0",
    ),
    ("Labels", Some("labels"), "labels", "inline"),
];

const DEFAULT_DEVICE_ID: &str = "infineon-sensor-01";

/// A problem with one field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.label(), self.message)
    }
}

/// The placeholder in the topic that the device id replaces.
pub const DEVICE_ID_PLACEHOLDER: &str = "{device_id}";
/// The longest client id every MQTT 3.1.1 broker must accept [MQTT-3.1.3-5].
pub const MAX_CLIENT_ID_BYTES: usize = 23;
/// Bounds of the publish interval, seconds (the messages spell them out). Below 10 ms a browser
/// timer cannot keep up.
pub const MIN_INTERVAL_S: f64 = 0.01;
pub const MAX_INTERVAL_S: f64 = 86_400.0;

/// The text in each input, exactly as typed or as a URL parameter gave it, indexed by
/// [`Field`].
#[derive(Clone, PartialEq, Eq)]
pub struct SettingsForm {
    values: [String; Field::ALL.len()],
}

impl fmt::Debug for SettingsForm {
    /// Every field but the password, which shows only whether one is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for field in Field::ALL {
            match field {
                Field::Password => map.entry(&field, &redacted(!self.get(field).is_empty())),
                _ => map.entry(&field, &self.get(field)),
            };
        }
        map.finish()
    }
}

impl SettingsForm {
    /// The defaults: the seed's, pointing at a local broker's WebSocket listener. `suffix` makes
    /// the client id unique to this page, so that two people who open the same link do not take
    /// over each other's session.
    pub fn defaults(suffix: &str) -> Self {
        let mut form = Self {
            values: FIELD_META.map(|meta| meta.3.to_owned()),
        };
        form.set(
            Field::ClientId,
            default_client_id(DEFAULT_DEVICE_ID, suffix),
        );
        form
    }

    pub fn get(&self, field: Field) -> &str {
        &self.values[field as usize]
    }

    pub fn set(&mut self, field: Field, value: impl Into<String>) {
        self.values[field as usize] = value.into();
    }

    /// Checks every field for the page, returning the settings or every problem found.
    pub fn validate(&self) -> Result<Settings, Vec<FieldError>> {
        self.validate_for(Runner::Page)
    }

    /// Checks every field for `runner`: the page speaks MQTT over WebSockets only, a native
    /// runner over TCP too.
    pub fn validate_for(&self, runner: Runner) -> Result<Settings, Vec<FieldError>> {
        let mut errors = vec![];
        let mut check = |field: Field, error: Option<&String>| {
            if let Some(message) = error {
                errors.push(FieldError {
                    field,
                    message: message.clone(),
                });
            }
        };
        let device_id = self.get(Field::DeviceId).trim().to_owned();
        let topic = self
            .get(Field::Topic)
            .replace(DEVICE_ID_PLACEHOLDER, &device_id);
        let interval = parse_interval(self.get(Field::Interval));
        let devices = parse_count(
            self.get(Field::Devices),
            match runner {
                Runner::Page => MAX_DEVICES,
                Runner::Native => MAX_NATIVE_DEVICES,
            },
        );
        let connection = parse_connection(self.get(Field::Connection));
        let labels = parse_labels(self.get(Field::Labels));
        let profile = model::parse_profile(self.get(Field::Profile));
        let recording = self.get(Field::Replay).trim();
        let replay_check = match (&profile, recording.is_empty()) {
            (Ok(Profile::Replay), true) => Err(
                "the replay profile needs a recording: a CSV or JSON-lines file (pick or drop one, or --replay FILE) or its URL".to_owned(),
            ),
            (Ok(other), false) if *other != Profile::Replay => Err(format!(
                "is only read by the replay profile (the profile is {})",
                other.name()
            )),
            // user:password@ in a URL would go wherever the link goes.
            _ if carries_user_info(recording) => {
                Err("must not carry a user name or password: the share link would carry it too".to_owned())
            }
            _ => Ok(()),
        };
        let replay_loop = parse_flag(self.get(Field::ReplayLoop));
        let replay_in_step = parse_flag(self.get(Field::ReplayInStep));
        let anomaly_every = parse_anomaly_every(
            self.get(Field::AnomalyEvery),
            *profile.as_ref().unwrap_or(&Profile::Realistic),
        );
        let keep_alive = parse_keep_alive(self.get(Field::KeepAlive));
        let max_in_flight = parse_count(self.get(Field::MaxInFlight), MAX_IN_FLIGHT_LIMIT);
        let offline_queue = parse_count(self.get(Field::OfflineQueue), OFFLINE_QUEUE_LIMIT);
        let clean_session = parse_flag(self.get(Field::CleanSession));
        #[cfg(feature = "latency")]
        let latency = parse_flag(self.get(Field::Latency));
        let seed = model::parse_seed(self.get(Field::Seed));
        let precision = model::parse_precision(self.get(Field::Precision));
        let altitude = model::parse_number(self.get(Field::Altitude), -500, 9000);
        let altitude_spread = model::parse_number(self.get(Field::AltitudeSpread), 0, 1000);
        let weather = model::parse_weather(self.get(Field::Weather));
        let tide = model::parse_number(self.get(Field::Tide), 0, 10);
        let temperature = model::parse_number(self.get(Field::Temperature), -40, 85);
        let ten = (10_000_000, "10");
        let benchmark = self.get(Field::AnomalyScale).trim() == "benchmark";
        let scale = match benchmark {
            true => Ok(1.0),
            false => model::parse_factor(self.get(Field::AnomalyScale), (50_000, "0.05"), ten)
                .map_err(|_| {
                    bad(
                        self.get(Field::AnomalyScale).trim(),
                        "must be a number from 0.05 to 10 (1 is the catalogue as written), or benchmark",
                    )
                }),
        };
        let duration = model::parse_factor(self.get(Field::AnomalyDuration), (100_000, "0.1"), ten);
        let start = model::parse_start(self.get(Field::Start));
        let tz = model::parse_utc_offset(self.get(Field::TimeZone));
        let probability = model::parse_probability(self.get(Field::AnomalyProbability));
        let mode = model::parse_mode(
            self.get(Field::AnomalyMode),
            *anomaly_every.as_ref().unwrap_or(&1),
            *probability.as_ref().unwrap_or(&0.0),
        );
        let kinds = model::parse_kinds(
            self.get(Field::AnomalyKinds),
            *profile.as_ref().unwrap_or(&Profile::Realistic),
        );
        // The part cannot deliver samples faster than it measures them (at max rate, 0, the
        // samples are stamped when made and the rule does not apply).
        let interval = match (&interval, &profile, &precision) {
            (Ok(ms), Ok(Profile::Realistic), Ok(rate))
                if *ms > 0 && *ms * 10 < model::measurement_tenths_ms(*rate) =>
            {
                let tenths = model::measurement_tenths_ms(*rate);
                Err(format!(
                    "is shorter than the {}.{} ms the part needs to measure at {rate}x precision",
                    tenths / 10,
                    tenths % 10
                ))
            }
            _ => interval,
        };
        let broker_url = BrokerUrl::parse(self.get(Field::BrokerUrl).trim(), runner);
        check(Field::BrokerUrl, broker_url.as_ref().err());
        let id_check = check_device_id(&device_id).and_then(|()| match labels {
            // Blind mode publishes to device/{id}/labels: the id must be one topic level.
            Ok(Labels::Topic) if device_id.contains(['/', '+', '#']) => Err(bad(
                &device_id,
                "names the labels topic device/{id}/labels when Labels is topic, so it must not contain /, + or #",
            )),
            _ => Ok(()),
        });
        check(Field::DeviceId, id_check.as_ref().err());
        // A fleet's topics carry the numbered ids, a few bytes longer: check the longest.
        let longest_topic = match &devices {
            Ok(n) if *n > 1 => self
                .get(Field::Topic)
                .replace(DEVICE_ID_PLACEHOLDER, &numbered(&device_id, *n, *n)),
            _ => topic.clone(),
        };
        check(Field::Topic, check_topic(&longest_topic).as_ref().err());
        check(Field::Interval, interval.as_ref().err());
        check(Field::Devices, devices.as_ref().err());
        let connection = match (connection, &devices) {
            // The tags of a shared connection name at most MAX_DEVICES sources.
            (Ok(Connection::Shared), Ok(n)) if *n > MAX_DEVICES => Err(format!(
                "one shared connection carries at most {MAX_DEVICES} devices: use per-device for {n}"
            )),
            // A browser page holds about MAX_SOCKETS WebSockets; a native runner more.
            (Ok(Connection::PerDevice), Ok(n)) if *n > MAX_SOCKETS && runner == Runner::Page => {
                Err(format!(
                    "per-device opens one WebSocket per device, and a browser page holds about {MAX_SOCKETS}: use shared for {n} devices"
                ))
            }
            (connection, _) => connection,
        };
        check(Field::Connection, connection.as_ref().err());
        check(Field::AnomalyEvery, anomaly_every.as_ref().err());
        // Each device of a per-device fleet connects as `{client_id}-{n}`.
        let numbered = match (&devices, &connection) {
            (Ok(n), Ok(Connection::PerDevice)) if *n > 1 => number_width(*n) + 1,
            _ => 0,
        };
        check(
            Field::ClientId,
            check_client_id(self.get(Field::ClientId), numbered)
                .as_ref()
                .err(),
        );
        check(Field::KeepAlive, keep_alive.as_ref().err());
        check(
            Field::Username,
            check_username(self.get(Field::Username)).as_ref().err(),
        );
        check(
            Field::Password,
            check_password(self.get(Field::Username), self.get(Field::Password))
                .as_ref()
                .err(),
        );
        check(Field::MaxInFlight, max_in_flight.as_ref().err());
        check(Field::OfflineQueue, offline_queue.as_ref().err());
        check(Field::CleanSession, clean_session.as_ref().err());
        #[cfg(feature = "latency")]
        check(Field::Latency, latency.as_ref().err());
        check(Field::Profile, profile.as_ref().err());
        check(Field::Replay, replay_check.as_ref().err());
        check(Field::ReplayLoop, replay_loop.as_ref().err());
        check(Field::ReplayInStep, replay_in_step.as_ref().err());
        check(Field::Seed, seed.as_ref().err());
        check(Field::Precision, precision.as_ref().err());
        check(Field::Altitude, altitude.as_ref().err());
        check(Field::AltitudeSpread, altitude_spread.as_ref().err());
        check(Field::Weather, weather.as_ref().err());
        check(Field::Tide, tide.as_ref().err());
        check(Field::AnomalyScale, scale.as_ref().err());
        check(Field::AnomalyDuration, duration.as_ref().err());
        check(Field::Temperature, temperature.as_ref().err());
        check(Field::Start, start.as_ref().err());
        check(Field::TimeZone, tz.as_ref().err());
        check(Field::AnomalyMode, mode.as_ref().err());
        check(Field::AnomalyProbability, probability.as_ref().err());
        check(Field::AnomalyKinds, kinds.as_ref().err());
        check(Field::Labels, labels.as_ref().err());
        if !errors.is_empty() {
            return Err(errors);
        }
        let sky_seed = *seed.as_ref().unwrap_or(&0);
        Ok(Settings {
            broker_url: checked(broker_url),
            device_id,
            topic,
            topic_template: self.get(Field::Topic).to_owned(),
            interval_ms: checked(interval),
            devices: checked(devices),
            connection: checked(connection),
            anomaly_every: checked(anomaly_every),
            client_id: self.get(Field::ClientId).to_owned(),
            keep_alive_s: checked(keep_alive),
            username: non_empty(self.get(Field::Username)),
            password: non_empty(self.get(Field::Password)),
            max_in_flight: checked(max_in_flight),
            offline_queue: checked(offline_queue),
            clean_session: checked(clean_session),
            #[cfg(feature = "latency")]
            latency: checked(latency),
            sensor: SensorConfig {
                profile: checked(profile),
                seed: checked(seed),
                air: AirParams {
                    oversampling: checked(precision),
                    altitude_m: checked(altitude),
                    weather: checked(weather),
                    sky_seed,
                    tide_hpa: checked(tide),
                    mean_temperature_c: checked(temperature),
                    tz_offset_min: checked(tz),
                    ..AirParams::default()
                },
                anomaly_mode: checked(mode),
                anomaly_kinds: checked(kinds),
                difficulty: Difficulty {
                    scale: checked(scale),
                    duration: checked(duration),
                    benchmark,
                },
                replay: None,
            },
            start_ms: checked(start),
            labels: checked(labels),
            altitude_spread_m: checked(altitude_spread),
            replay_loop: checked(replay_loop),
            replay_in_step: checked(replay_in_step),
            #[cfg(feature = "scenario")]
            scenario: None,
        })
    }

    /// The replay link's query: what a page opening it needs to run this run again, byte for
    /// byte. The settings that differ from the built-in defaults, and always the broker, the
    /// seed and the time zone (a page draws those for itself: an https:// page starts from a
    /// secure broker, each page a random seed, its own zone). Never the password or the client
    /// id (which must stay unique to each page). Leaving the defaults out keeps the link short
    /// (and its QR code coarse).
    pub fn to_query(&self) -> String {
        self.query_of(|field| match field {
            Field::BrokerUrl | Field::Seed | Field::TimeZone => Some(true),
            _ => None,
        })
    }

    /// The room link's query: the room's settings that differ from the built-in defaults and
    /// its broker, with no device identity (device id, client id, seed, start), and
    /// `room=<this device id>`: every visitor becomes `<device id>-<a suffix of their own>`
    /// with a seed of their own, all on the room's broker. `autostart`: visitors start at
    /// once.
    pub fn room_query(&self, autostart: bool) -> String {
        let mut query = self.query_of(|field| match field {
            Field::BrokerUrl => Some(true),
            // Each visitor's own page keeps its own zone (a room shares one anyway).
            Field::DeviceId | Field::Seed | Field::Start | Field::TimeZone => Some(false),
            _ => None,
        });
        let room = self.get(Field::DeviceId).trim();
        if !room.is_empty() {
            query.push(if query.is_empty() { '?' } else { '&' });
            query.push_str("room=");
            query.push_str(&percent_encode(room));
        }
        if autostart {
            query.push_str("&autostart=1");
        }
        query
    }

    /// `?param=value&…` of the fields `keep` says to keep (`Some(true)`), drop (`Some(false)`)
    /// or keep when they differ from the built-in defaults (`None`). The password has no
    /// parameter; the client id and a broker URL with user info (refused anyway, it may hold a
    /// password) never go in.
    fn query_of(&self, keep: impl Fn(Field) -> Option<bool>) -> String {
        let defaults = &FIELD_META;
        let mut query = String::new();
        for field in Field::ALL {
            let Some(param) = field.param() else { continue };
            let value = self.get(field);
            let wanted = field != Field::ClientId
                && !(field == Field::BrokerUrl && value.contains('@'))
                && keep(field).unwrap_or(value != defaults[field as usize].3);
            if wanted {
                query.push(if query.is_empty() { '?' } else { '&' });
                query.push_str(param);
                query.push('=');
                query.push_str(&percent_encode(value));
            }
        }
        query
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(
                char::from_digit(u32::from(byte >> 4), 16)
                    .expect("nibble")
                    .to_ascii_uppercase(),
            );
            out.push(
                char::from_digit(u32::from(byte & 15), 16)
                    .expect("nibble")
                    .to_ascii_uppercase(),
            );
        }
    }
    out
}

/// A problem with the text as typed: `problem (got "text")`. One function rather than a
/// `format!` at each check keeps the page small.
pub(crate) fn bad(text: &str, problem: &str) -> String {
    let mut message = String::with_capacity(problem.len() + text.len() + 8);
    message.push_str(problem);
    message.push_str(" (got \"");
    message.push_str(text);
    message.push_str("\")");
    message
}

/// The value of a result validation already found to be Ok. Not `expect`: that would print
/// the error with `Debug`, pulling string escaping into the page.
fn checked<T>(result: Result<T, String>) -> T {
    match result {
        Ok(value) => value,
        Err(_) => unreachable!("validated before"),
    }
}

/// `{device_id}-xxxx`, cut to fit the 23 bytes every broker accepts with room left for a
/// fleet's device number (`-1000`).
pub fn default_client_id(device_id: &str, suffix: &str) -> String {
    let room = MAX_CLIENT_ID_BYTES.saturating_sub(suffix.len() + 1 + FLEET_SUFFIX_BYTES);
    let mut cut = device_id.len().min(room);
    while !device_id.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{suffix}", device_id.get(..cut).unwrap_or_default())
}

/// Checked settings: what a device runs with.
#[derive(Clone, PartialEq)]
pub struct Settings {
    pub broker_url: BrokerUrl,
    pub device_id: String,
    /// With `{device_id}` replaced.
    pub topic: String,
    /// As typed: a fleet replaces `{device_id}` per device.
    pub topic_template: String,
    /// 0 is as fast as possible: each next sample as soon as the window has room.
    pub interval_ms: u64,
    /// How many simulated sensors, 1 to [`MAX_DEVICES`].
    pub devices: usize,
    pub connection: Connection,
    pub anomaly_every: u32,
    pub client_id: String,
    pub keep_alive_s: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Unacknowledged PUBLISHes allowed at once.
    pub max_in_flight: usize,
    /// Samples waiting to be sent, at most; the oldest is dropped beyond it.
    pub offline_queue: usize,
    /// CONNECT's CleanSession flag; off by default so the broker keeps the session.
    pub clean_session: bool,
    /// A subscriber of the run's own times every sample from due to received
    /// ([`crate::latency`]).
    #[cfg(feature = "latency")]
    pub latency: bool,
    /// The sensor model, in the time zone of the Time zone setting.
    pub sensor: SensorConfig,
    /// With a start time, sample k is stamped start + (k - 1) x interval; without, it carries
    /// the real time it was due.
    pub start_ms: Option<i64>,
    /// Where the ground truth goes: in every payload, or to a topic of its own.
    pub labels: Labels,
    /// A fleet's sensors stand at the altitude plus or minus up to this, each its own.
    pub altitude_spread_m: f64,
    /// The replay profile: start over at the recording's end (or end the run there), and all
    /// sensors from its first row (or each from its own place).
    pub replay_loop: bool,
    pub replay_in_step: bool,
    /// The scenario the run plays, once checked against these settings
    /// ([`Settings::attach_scenario`]).
    #[cfg(feature = "scenario")]
    pub scenario: Option<std::sync::Arc<crate::scenario::Scenario>>,
}

impl Settings {
    /// Plays `scenario` (read, and applied to the form these settings came from): a problem
    /// names the stage or event and field.
    #[cfg(feature = "scenario")]
    pub fn attach_scenario(&mut self, scenario: crate::scenario::Scenario) -> Result<(), String> {
        self.scenario = Some(std::sync::Arc::new(scenario.check(self)?));
        Ok(())
    }

    /// The recording the replay profile plays, read by the runner or the page (the settings
    /// hold only its name). Every sensor shares the one copy.
    pub fn attach_recording(&mut self, recording: std::sync::Arc<crate::sensor::Recording>) {
        self.sensor.replay = Some(crate::sensor::Replay {
            recording,
            offset: 0,
            looped: self.replay_loop,
        });
    }

    /// How many samples each sensor makes before the run ends by itself: a recording played
    /// once ends with its last row.
    pub fn sample_limit(&self) -> Option<u64> {
        let replay = self.sensor.replay.as_ref()?;
        (!replay.looped).then(|| replay.recording.len() as u64)
    }
}

impl fmt::Debug for Settings {
    /// Every setting but the password, which shows only whether one is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("broker_url", &self.broker_url)
            .field("device_id", &self.device_id)
            .field("topic", &self.topic)
            .field("interval_ms", &self.interval_ms)
            .field("devices", &self.devices)
            .field("connection", &self.connection)
            .field("anomaly_every", &self.anomaly_every)
            .field("client_id", &self.client_id)
            .field("keep_alive_s", &self.keep_alive_s)
            .field("username", &self.username)
            .field("password", &redacted(self.password.is_some()))
            .field("max_in_flight", &self.max_in_flight)
            .field("offline_queue", &self.offline_queue)
            .field("clean_session", &self.clean_session)
            .field("sensor", &self.sensor)
            .field("start_ms", &self.start_ms)
            .field("labels", &self.labels)
            .field("altitude_spread_m", &self.altitude_spread_m)
            .field("replay_loop", &self.replay_loop)
            .field("replay_in_step", &self.replay_in_step)
            .finish()
    }
}

/// How a fleet reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Each device is its own MQTT client: own WebSocket, client id, session.
    PerDevice,
    /// One connection publishes for every device, as a gateway does.
    Shared,
}

fn parse_connection(text: &str) -> Result<Connection, String> {
    match text.trim() {
        "per-device" => Ok(Connection::PerDevice),
        "shared" => Ok(Connection::Shared),
        other => Err(bad(other, "must be per-device or shared")),
    }
}

/// Where a run's ground truth goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// In every payload: `anomaly`, `anomaly_kind`, `anomaly_id` (the seed program's schema).
    Inline,
    /// Blind telemetry: the payload carries no answer, and each event is published once, when
    /// it ends, to [`labels_topic`].
    Topic,
}

fn parse_labels(text: &str) -> Result<Labels, String> {
    match text.trim() {
        "inline" => Ok(Labels::Inline),
        "topic" => Ok(Labels::Topic),
        other => Err(bad(other, "must be inline or topic")),
    }
}

/// Where blind mode publishes the ground truth of `device_id`'s events.
pub fn labels_topic(device_id: &str) -> String {
    format!("device/{device_id}/labels")
}

/// The largest fleet a page runs, and the most devices one shared connection carries.
pub const MAX_DEVICES: usize = 1000;
/// The largest fleet a native runner runs (a connection per device beyond [`MAX_DEVICES`]).
pub const MAX_NATIVE_DEVICES: usize = 100_000;
/// The most WebSockets a per-device fleet opens: Chromium refuses more than 255 per page.
pub const MAX_SOCKETS: usize = 200;
/// Bytes a fleet's device number adds to a client id: `-` and up to 4 digits.
const FLEET_SUFFIX_BYTES: usize = 5;

/// The digits of a fleet's device numbers: device numbers are zero-padded to the width of the
/// count (`lab-01` ... `lab-50`).
pub fn number_width(devices: usize) -> usize {
    devices.to_string().len()
}

/// Device `n` (from 1) of a fleet of `devices`: `{base}-{n}` zero-padded, or `base` itself when
/// it is alone.
pub fn numbered(base: &str, n: usize, devices: usize) -> String {
    if devices <= 1 {
        return base.to_owned();
    }
    format!("{base}-{n:0width$}", width = number_width(devices))
}

/// Upper bounds of the window and the queue: a packet id per message in flight, and a queue
/// that stays a few tens of megabytes at most.
pub const MAX_IN_FLIGHT_LIMIT: usize = 65_535;
pub const OFFLINE_QUEUE_LIMIT: usize = 100_000;

fn parse_count(text: &str, max: usize) -> Result<usize, String> {
    let text = text.trim();
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from 1 to {max} (got \"{text}\")"
        )),
    }
}

/// A yes/no setting's text: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (empty is no).
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(bad(other, "must be true or false")),
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Who runs the settings, which decides the broker URLs they may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The browser page: `ws://` and `wss://`.
    Page,
    /// A native process: `mqtt://` (TCP) and `mqtts://` (TLS) too.
    Native,
}

fn check_device_id(device_id: &str) -> Result<(), String> {
    if device_id.is_empty() {
        return Err("is required".into());
    }
    if device_id.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if device_id.len() > MAX_DEVICE_ID_BYTES {
        return Err(format!(
            "is {} bytes; at most {MAX_DEVICE_ID_BYTES} (it is in every payload of every device)",
            device_id.len()
        ));
    }
    Ok(())
}

/// The longest Device ID: it goes into every payload, topic and table row of a fleet.
pub const MAX_DEVICE_ID_BYTES: usize = 256;

fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("is required".into());
    }
    // [MQTT-3.3.2-2] A PUBLISH topic must not contain wildcards.
    if topic.contains(['+', '#']) {
        return Err(bad(topic, "must not contain the wildcards + or #"));
    }
    // [MQTT-4.7.3-2] Topic names must not include the null character.
    if topic.contains('\0') {
        return Err("must not contain the NUL character".into());
    }
    check_length(topic)
}

fn check_length(text: &str) -> Result<(), String> {
    if text.len() > usize::from(u16::MAX) {
        return Err(format!(
            "is {} bytes, over MQTT's 65535 byte limit",
            text.len()
        ));
    }
    Ok(())
}

/// A user name: an MQTT string, which must not hold U+0000 [MQTT-1.5.3-2]; other control
/// characters are refused too (they would be invisible in the form).
fn check_username(username: &str) -> Result<(), String> {
    check_length(username)?;
    if username.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// `numbered` is the bytes a fleet's device number adds (`-07`), 0 for one device.
fn check_client_id(client_id: &str, numbered: usize) -> Result<(), String> {
    if client_id.is_empty() {
        return Err("is required".into());
    }
    if numbered > 0 && client_id.len() + numbered > MAX_CLIENT_ID_BYTES {
        return Err(format!(
            "is {} bytes; each device of the fleet connects as it plus \"-\" and its number, which must fit {MAX_CLIENT_ID_BYTES} bytes: at most {} here",
            client_id.len(),
            MAX_CLIENT_ID_BYTES - numbered
        ));
    }
    if client_id.len() > MAX_CLIENT_ID_BYTES {
        return Err(format!(
            "is {} bytes; MQTT 3.1.1 brokers need only accept 1 to {MAX_CLIENT_ID_BYTES}",
            client_id.len()
        ));
    }
    if client_id.contains('\0') || client_id.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn check_password(username: &str, password: &str) -> Result<(), String> {
    // [MQTT-3.1.2-22] A password can only be sent with a user name.
    if !password.is_empty() && username.is_empty() {
        return Err("needs a Username as well".into());
    }
    check_length(password)
}

/// The publish interval in ms: 0 is as fast as possible.
pub fn parse_interval(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (negative, micros) = parse_signed_micros(text)
        .ok_or_else(|| bad(text, "must be a number of seconds, e.g. 1.0"))?;
    if negative {
        return Err(bad(text, "must be a positive number of seconds"));
    }
    if micros == 0 {
        return Ok(0);
    }
    if micros < (MIN_INTERVAL_S * 1e6) as u64 {
        return Err(bad(
            text,
            "must be 0 (as fast as possible) or at least 0.01 s",
        ));
    }
    if micros > (MAX_INTERVAL_S * 1e6) as u64 {
        return Err(bad(text, "must be at most 86400 s"));
    }
    Ok((micros + 500) / 1000)
}

/// A decimal with an optional sign (`-2.5`, `+1`): whether it is negative, and its size as
/// [`parse_decimal_micros`] reads it.
fn parse_signed_micros(text: &str) -> Option<(bool, u64)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    Some((negative, parse_decimal_micros(digits)?))
}

/// A plain decimal (`1`, `1.0`, `.05`, `2.`) as millionths, digits past the sixth dropped and
/// huge values saturated. Written out rather than parsed as f64: the only float parsing in the
/// page, it would bring about 2 KB gzip of float-parsing code into the bundle.
pub(crate) fn parse_decimal_micros(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut micros: u64 = 0;
    for b in whole.bytes() {
        micros = micros
            .saturating_mul(10)
            .saturating_add(u64::from(b - b'0'));
    }
    micros = micros.saturating_mul(1_000_000);
    let mut scale = 100_000;
    for b in fraction.bytes().take(6) {
        micros = micros.saturating_add(u64::from(b - b'0') * scale);
        scale /= 10;
    }
    Some(micros)
}

/// Empty means the profile's own: the seed's every 10th sample, or for the realistic profile
/// 60 samples from the end of one event to the start of the next.
fn parse_anomaly_every(text: &str, profile: Profile) -> Result<u32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(match profile {
            Profile::Seed => 10,
            Profile::Realistic | Profile::Replay => 60,
        });
    }
    match text.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad(text, "must be a whole number of at least 1")),
    }
}

fn parse_keep_alive(text: &str) -> Result<u16, String> {
    let text = text.trim();
    text.parse::<u16>()
        .map_err(|_| bad(text, "must be a whole number of seconds from 0 to 65535"))
}

#[cfg(test)]
mod tests;
