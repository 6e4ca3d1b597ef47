//! How the page presents each setting: its group, its control, whether it is folded away, the
//! broker presets, and what of the form is remembered. Pure, so the rules are tested on the
//! host; the page only draws them.

use super::{Field, SettingsForm, percent_encode};
use crate::html::Html;
use crate::sensor::AnomalyKind;

/// The groups the settings are shown in, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Connection,
    Sensor,
    Anomalies,
    Delivery,
}

impl Group {
    pub const ALL: [Group; 4] = [
        Group::Connection,
        Group::Sensor,
        Group::Anomalies,
        Group::Delivery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Connection => "Connection",
            Group::Sensor => "Sensor",
            Group::Anomalies => "Anomalies",
            Group::Delivery => "Delivery",
        }
    }

    /// The fields of the group in the order shown; the rarely changed ones last.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Group::Connection => &[
                Field::BrokerUrl,
                Field::Devices,
                Field::Connection,
                Field::Username,
                Field::Password,
                Field::ClientId,
            ],
            Group::Sensor => &[
                Field::DeviceId,
                Field::Topic,
                Field::Interval,
                Field::Profile,
                Field::Replay,
                Field::ReplayLoop,
                Field::ReplayInStep,
                Field::Precision,
                Field::Seed,
                Field::Altitude,
                Field::AltitudeSpread,
                Field::Weather,
                Field::Tide,
                Field::Temperature,
                Field::Start,
                Field::TimeZone,
            ],
            Group::Anomalies => &[
                Field::AnomalyMode,
                Field::AnomalyEvery,
                Field::AnomalyProbability,
                Field::AnomalyKinds,
                Field::Labels,
                Field::AnomalyScale,
                Field::AnomalyDuration,
            ],
            #[cfg(not(feature = "latency"))]
            Group::Delivery => &[
                Field::KeepAlive,
                Field::MaxInFlight,
                Field::OfflineQueue,
                Field::CleanSession,
            ],
            #[cfg(feature = "latency")]
            Group::Delivery => &[
                Field::KeepAlive,
                Field::MaxInFlight,
                Field::OfflineQueue,
                Field::CleanSession,
                Field::Latency,
            ],
        }
    }

    /// How many of [`Group::fields`] are shown before the fold (the rest are rarely changed).
    pub fn unfolded(self) -> usize {
        match self {
            Group::Connection => 5,
            Group::Sensor => 5,
            Group::Anomalies => 5,
            Group::Delivery => 0,
        }
    }
}

/// The control a setting is edited with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Text,
    Password,
    /// A number input: minimum, maximum and step, as the input's attributes want them (the
    /// unit is in the label or the hint).
    Number {
        min: &'static str,
        max: &'static str,
        step: &'static str,
    },
    /// One of these values.
    Select(&'static [&'static str]),
    /// A checkbox; the text is `true` or `false`.
    Flag,
    /// One checkbox per anomaly kind.
    Kinds,
    /// A date and time (UTC); empty means the real clock.
    DateTime,
}

impl Field {
    pub fn control(self) -> Control {
        let number = |min, max, step| Control::Number { min, max, step };
        match self {
            Field::Password => Control::Password,
            Field::CleanSession | Field::ReplayLoop | Field::ReplayInStep => Control::Flag,
            #[cfg(feature = "latency")]
            Field::Latency => Control::Flag,
            Field::AnomalyKinds => Control::Kinds,
            Field::Start => Control::DateTime,
            Field::Profile => Control::Select(&["realistic", "seed", "replay"]),
            Field::Precision => Control::Select(&["1", "2", "4", "8", "16", "32", "64", "128"]),
            Field::AnomalyMode => Control::Select(&["every", "random", "off"]),
            Field::Connection => Control::Select(&["per-device", "shared"]),
            Field::Labels => Control::Select(&["inline", "topic"]),
            Field::Weather => Control::Select(&["typical", "calm", "stormy", "still"]),
            Field::Interval => number("0", "86400", "any"),
            Field::Devices => number("1", "1000", "1"),
            Field::AnomalyEvery => number("1", "4294967295", "1"),
            Field::KeepAlive => number("0", "65535", "1"),
            Field::MaxInFlight => number("1", "65535", "1"),
            Field::OfflineQueue => number("1", "100000", "1"),
            Field::Altitude => number("-500", "9000", "any"),
            Field::AltitudeSpread => number("0", "1000", "any"),
            Field::Tide => number("0", "10", "any"),
            Field::Temperature => number("-40", "85", "any"),
            Field::AnomalyProbability => number("0", "1", "any"),
            Field::AnomalyDuration => number("0.1", "10", "any"),
            _ => Control::Text,
        }
    }

    /// A short hint shown under the input: the unit or what an empty value means.
    pub fn hint(self) -> &'static str {
        match self {
            Field::Interval => "seconds; 0 publishes as fast as the broker acknowledges",
            Field::Devices => "1 to 1000 (per-device: up to 200)",
            Field::AnomalyEvery => "empty: the profile's own (seed 10, realistic 60)",
            Field::Start => "UTC; empty: the real clock",
            Field::TimeZone => "the model's daily cycle follows it",
            Field::AltitudeSpread => "each sensor of a fleet within this of the altitude",
            Field::Replay => "CSV or JSON lines: timestamp, pressure (hPa), temperature (C)",
            Field::ReplayInStep => "unticked: each sensor from its own row",
            Field::Weather => "one sky for the fleet; fronts are never labelled",
            Field::AnomalyKinds => "ticked: the kinds in use (at least one)",
            Field::AnomalyScale => "times every deviation; benchmark: each event 0.05 to 1",
            Field::AnomalyDuration => "times the length of multi-sample events (1 = as catalogued)",
            Field::Labels => {
                "topic: blind telemetry; each event goes to device/{id}/labels as it ends"
            }
            _ => "",
        }
    }

    /// The field whose URL parameter is `param`.
    pub fn from_param(param: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.param() == Some(param))
    }
}

/// Well-known brokers the page offers, as (name, URL): the run command's local broker, then
/// public test brokers' secure WebSocket endpoints.
pub const BROKER_PRESETS: [(&str, &str); 4] = [
    ("Local broker (scripts/run.sh)", "ws://localhost:9001"),
    ("HiveMQ public broker", "wss://broker.hivemq.com:8884/mqtt"),
    ("EMQX public broker", "wss://broker.emqx.io:8084/mqtt"),
    (
        "Eclipse test.mosquitto.org",
        "wss://test.mosquitto.org:8081",
    ),
];

/// The broker a page served over HTTPS starts with: a browser there refuses `ws://`.
pub const SECURE_DEFAULT_BROKER: &str = BROKER_PRESETS[1].1;

/// Why a page served over HTTPS cannot reach `url`, if it cannot: browsers block plain `ws://`
/// from a secure page (mixed content), except to this machine.
pub fn blocked_from_https(url: &str) -> Option<String> {
    let url = super::BrokerUrl::parse(url.trim(), super::Runner::Page).ok()?;
    if url.scheme != super::Scheme::Ws || url.is_loopback() {
        return None;
    }
    Some(
        "this page was opened over https://, and the browser blocks plain ws:// connections \
         from it: use the broker's wss:// (secure WebSocket) address, or open the page over \
         http://"
            .into(),
    )
}

/// Why a room link made on this page would not work on phones, if it would not: the page (its
/// address bar's host, `page_host`) or the broker is on this computer only, which a phone
/// reaches as itself. Says what to do instead.
///
/// A broker with a user name (`password_asked`) needs its password too, which no link the page
/// makes carries: visitors type it, or open the room link `scripts/run.sh --lan` printed.
pub fn room_warning(page_host: &str, broker_url: &str, password_asked: bool) -> Option<String> {
    let page_host = page_host.trim_start_matches('[').trim_end_matches(']');
    let page = super::broker::is_loopback_host(page_host);
    let broker = super::BrokerUrl::parse(broker_url.trim(), super::Runner::Page)
        .is_ok_and(|url| url.is_loopback());
    let what = match (page, broker) {
        (false, false) if password_asked => {
            return Some(
                "this link carries no password: visitors type the broker's (or open the room link \
                 scripts/run.sh --lan printed, which has it)."
                    .into(),
            );
        }
        (false, false) => return None,
        (true, false) => "this page's address points",
        (false, true) => "the broker points",
        (true, true) => "this page's address and the broker point",
    };
    Some(format!(
        "{what} at this computer only: phones would reach themselves. Open this page by the \
         computer's network address (scripts/run.sh --lan) with a broker they can reach."
    ))
}

/// What of the form is remembered for the next visit, as a query string: every field that
/// differs from this page's own default (`defaults`), never the password, and the client id
/// only when it was typed by hand (a remembered random one would make two tabs take over each
/// other's session).
pub fn remembered(form: &SettingsForm, defaults: &SettingsForm, client_id_typed: bool) -> String {
    let mut query = String::new();
    for field in Field::ALL {
        let Some(param) = field.param() else { continue };
        let typed = form.get(field);
        let keep = match field {
            Field::ClientId => client_id_typed,
            // User info in a broker URL (refused anyway) may hold a password.
            Field::BrokerUrl if typed.contains('@') => false,
            _ => typed != defaults.get(field),
        };
        if keep {
            query.push(if query.is_empty() { '?' } else { '&' });
            query.push_str(param);
            query.push('=');
            query.push_str(&percent_encode(typed));
        }
    }
    query
}

/// The settings form as HTML: a fieldset per group, each field with its label, control, hint
/// and error (linked by `aria-describedby`), the rarely changed ones folded in a `<details>`.
///
/// Structure only: the page fills in the values and errors, and one listener on the form
/// reads every edit (far less code in the bundle than a view per field). Element ids are the
/// fields' [`Field::id`]s; the kinds' checkboxes are `kind-<name>`.
pub fn form_html() -> Html {
    let mut html = Html::new();
    for group in Group::ALL {
        let (shown, folded) = group.fields().split_at(group.unfolded());
        html.wrap(
            "<fieldset class=\"group\"><legend>",
            &group.name(),
            "</legend>",
        );
        if group == Group::Connection {
            html.raw(
                "<div class=\"field\"><label for=\"broker-preset\">Broker preset</label><select id=\"broker-preset\">",
            );
            for (name, url) in BROKER_PRESETS {
                html.raw("<option")
                    .attr("value", &url)
                    .wrap(">", &name, "</option>");
            }
            html.raw(
                "<option value=\"custom\">Custom (type a URL below)</option></select>\
                 <p class=\"warning\" id=\"https-warning\" data-testid=\"https-warning\" hidden></p></div>",
            );
        }
        for &field in shown {
            field_html(&mut html, field);
        }
        if !folded.is_empty() {
            let summary = match group {
                _ if shown.is_empty() => format!("{} settings", group.name()),
                Group::Anomalies => "More anomaly settings".to_owned(),
                _ => format!("More {} settings", group.name().to_lowercase()),
            };
            html.wrap("<details><summary>", &summary, "</summary>");
            for &field in folded {
                field_html(&mut html, field);
            }
            html.raw("</details>");
        }
        html.raw("</fieldset>");
    }
    html
}

fn field_html(html: &mut Html, field: Field) {
    let id = field.id();
    let hint = field.hint();
    html.raw(if field.control() == Control::Flag {
        "<div class=\"field flag\""
    } else {
        "<div class=\"field\""
    })
    .attr("id", &format_args!("{id}-field"))
    .raw(">");
    let described = if hint.is_empty() {
        format!("{id}-error")
    } else {
        format!("{id}-hint {id}-error")
    };
    // The control's own attributes: its id and name, and where its hint and error are.
    let common = |html: &mut Html| {
        html.attr("id", &id)
            .attr("name", &id)
            .attr("aria-describedby", &described)
            .raw(" aria-invalid=\"false\"");
    };
    match field.control() {
        Control::Kinds => {
            html.raw("<fieldset class=\"kinds\"")
                .attr("id", &id)
                .attr("aria-describedby", &described)
                .wrap("><legend>", &field.label(), "</legend>");
            for kind in AnomalyKind::ALL {
                let name = kind.name();
                html.raw("<label class=\"kind\"")
                    .attr("for", &format_args!("kind-{name}"))
                    .raw("><input type=\"checkbox\"")
                    .attr("id", &format_args!("kind-{name}"))
                    .wrap(">", &name, "</label>");
            }
            html.raw("</fieldset>");
        }
        Control::Select(options) => {
            html.raw("<label")
                .attr("for", &id)
                .wrap(">", &field.label(), "</label><select");
            common(html);
            html.raw(">");
            for option in options {
                html.wrap("<option>", option, "</option>");
            }
            html.raw("</select>");
        }
        control => {
            html.raw("<label")
                .attr("for", &id)
                .wrap(">", &field.label(), "</label><input");
            match control {
                Control::Password => html.raw(" type=\"password\""),
                Control::Flag => html.raw(" type=\"checkbox\""),
                Control::DateTime => html.raw(" type=\"datetime-local\" step=\"0.001\""),
                Control::Number { min, max, step } => html
                    .raw(" type=\"number\"")
                    .attr("min", &min)
                    .attr("max", &max)
                    .attr("step", &step),
                _ => html.raw(" type=\"text\""),
            };
            common(html);
            html.raw(" autocomplete=\"off\" spellcheck=\"false\">");
            if field == Field::Replay {
                html.raw("<input type=\"file\" id=\"replay-file\" accept=\".csv,.jsonl,.json,.txt,text/csv\" aria-label=\"Pick a recording (or drop one on the settings)\">");
            }
        }
    }
    if !hint.is_empty() {
        html.raw("<small class=\"hint\"")
            .attr("id", &format_args!("{id}-hint"))
            .wrap(">", &hint, "</small>");
    }
    html.raw("<span class=\"error\"")
        .attr("id", &format_args!("{id}-error"))
        .attr("data-testid", &format_args!("error-{id}"))
        .raw("></span></div>");
}
