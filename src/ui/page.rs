//! The page's static structure as HTML, set once when the page mounts. What changes (counters,
//! status, tables, chart, errors) is filled in by the effects in [`super`], found by their ids;
//! one listener per event type reads every click and edit, a button by its `data-action`.
//! The `data-testid`s are for the tests alone: the page never reads them.
//!
//! A view per element cost about 1 KB of bundle each; this is the same DOM for a string.

use crate::fleet::table::COLUMNS;
use crate::html::Html;
use crate::sensor::AnomalyKind;
use crate::settings::form_html;

/// The totals shown as counters: label and name (the value's id is `count-{name}`, its test id
/// the name), in the order of [`super::counter_text`].
pub const COUNTERS: [(&str, &str); 10] = [
    ("samples", "samples"),
    ("published", "published"),
    ("acknowledged", "acked"),
    ("in flight", "inflight"),
    ("anomalous samples", "anomalies"),
    ("anomalous", "anomalous-fraction"),
    ("queued", "queued"),
    ("dropped", "dropped"),
    ("redelivered", "redelivered"),
    ("reconnects", "reconnects"),
];

fn counter(html: &mut Html, label: &str, testid: &dyn std::fmt::Display) {
    html.raw("<div class=\"counter\"><span class=\"value\"")
        .attr("id", &format_args!("count-{testid}"))
        .attr("data-testid", testid)
        .wrap(">0</span><span class=\"label\">", &label, "</span></div>");
}

/// The whole page below `<body>`.
pub fn page_html() -> String {
    let mut html = Html::with_capacity(16_384);
    // The controls come first in the document (Start is an early Tab stop); the grid places
    // them beside the settings on a wide screen.
    html.raw(HEADER).raw("<main>");
    #[cfg(feature = "scenario")]
    html.raw(super::scenario::SECTION);
    html.raw(CONTROLS_START);
    for kind in AnomalyKind::ALL {
        html.raw("<button class=\"small\"")
            .attr("data-testid", &format_args!("inject-{kind}"))
            .attr("data-inject", &kind)
            .wrap(" disabled>", &kind, "</button>");
    }
    html.raw(CONTROLS_END)
        .raw("<section class=\"settings\" aria-labelledby=\"settings-heading\"><h2 id=\"settings-heading\">Settings</h2>\
<button class=\"small settings-toggle\" data-action=\"toggle-settings\" aria-expanded=\"false\">Show the settings</button><div class=\"form\">")
        .markup(form_html())
        .raw(SETTINGS_ACTIONS)
        .raw("<section class=\"telemetry\" aria-label=\"Telemetry\"><h2>Counters</h2><div class=\"counters\">");
    for (label, testid) in COUNTERS {
        counter(&mut html, label, &testid);
    }
    html.raw(TELEMETRY_MIDDLE);
    for kind in AnomalyKind::ALL {
        counter(&mut html, kind.name(), &format_args!("anomalies-{kind}"));
    }
    html.raw(TELEMETRY_END).raw(WATCH);
    #[cfg(feature = "latency")]
    html.raw(LATENCY);
    html
        .raw("<section class=\"fleet\" aria-label=\"Fleet\" hidden><h2>Fleet</h2><div data-testid=\"fleet\"><table><thead><tr>");
    for (column, (heading, _)) in COLUMNS.iter().enumerate() {
        html.raw("<th><button class=\"small\"")
            .attr("data-col", &column)
            .attr("data-testid", &format_args!("sort-{column}"))
            .wrap(">", heading, "</button></th>");
    }
    html.raw(FLEET_END).raw(SHARE_AND_LOG);
    html.into_string()
}

const HEADER: &str = "<header><h1>DPS368 sensor simulator</h1>\
<p class=\"tagline\">Infineon XENSIV DPS368 pressure and temperature telemetry over MQTT 3.1.1 on a WebSocket. <a href=\"monitor/\">Monitor and score a detector</a></p>\
<button class=\"small theme\" id=\"theme\" data-testid=\"theme\" data-action=\"theme\">Theme: auto</button></header>";

const SETTINGS_ACTIONS: &str = "</div><div class=\"settings-actions\">\
<button class=\"small\" data-testid=\"reset-settings\" data-action=\"reset-settings\">Reset to defaults</button>\
<button class=\"small\" data-testid=\"export-settings\" data-action=\"export-settings\">Export settings</button>\
<label for=\"import-settings\">Import settings</label>\
<input id=\"import-settings\" data-testid=\"import-settings\" type=\"file\" accept=\".json,application/json\">\
<span class=\"hint\">The form is remembered in this browser (never the password).</span></div></section>";

const CONTROLS_START: &str = "<section class=\"controls\" aria-label=\"Controls\">\
<button data-testid=\"start\" data-action=\"start\">Start</button><button data-testid=\"stop\" data-action=\"stop\" disabled>Stop</button>\
<span class=\"status\" role=\"status\" data-status=\"disconnected\">Status: <strong id=\"run-status\" data-testid=\"status\">disconnected</strong></span><button class=\"small\" id=\"reconnect-now\" data-testid=\"reconnect-now\" data-action=\"reconnect-now\" hidden>Reconnect now</button>\
<a class=\"share\" id=\"share-link\" data-testid=\"share-link\" target=\"_blank\" rel=\"noopener\">Replay link (opens in a new tab)</a>\
<div class=\"inject\" role=\"group\" aria-label=\"Inject anomaly\"><span>Inject anomaly</span>\
<select id=\"inject-into\" data-testid=\"inject-into\" aria-label=\"Inject into\">\
<option value=\"shown\">into the device shown</option><option value=\"all\">into all devices</option></select>";

const CONTROLS_END: &str = "</div><div class=\"downloads\">\
<button class=\"small\" data-testid=\"download-csv\" data-action=\"download-csv\">Download CSV</button>\
<button class=\"small\" data-testid=\"download-jsonl\" data-action=\"download-jsonl\">Download JSONL</button>\
<span class=\"hint\">the run's last 100,000 samples, with labels</span></div></section>";

const TELEMETRY_MIDDLE: &str = "</div><p class=\"rate\"><strong id=\"rate\" data-testid=\"rate\">0</strong> msg/s acknowledged\
<span id=\"max-rate\" data-testid=\"max-rate\"></span></p><h2>Anomaly events, by kind</h2><div class=\"counters kinds\">";

const TELEMETRY_END: &str = "</div><h2>Last payload<span class=\"topic\" id=\"payload-topic\" data-testid=\"topic\"></span></h2>\
<pre class=\"payload\" id=\"last-payload\" data-testid=\"last-payload\">(nothing sent yet)</pre></section>";

const WATCH: &str = "<section class=\"watch\" aria-label=\"Chart and frame inspector\">\
<p class=\"picker\"><label for=\"watch-device\">Device shown (number in the fleet)</label>\
<input id=\"watch-device\" data-testid=\"watch-device\" type=\"number\" min=\"1\" max=\"1\" value=\"1\"></p>\
<details open data-view=\"chart\"><summary><h2>Chart</h2></summary>\
<p class=\"hint\">The last 300 samples. Shaded: anomaly events, labelled by kind. Gaps: dropouts.</p>\
<div class=\"plot\" id=\"chart\" data-testid=\"chart\"></div><p class=\"legend-line\"><span class=\"p\">— pressure (hPa, left)</span> <span class=\"t\">— temperature (°C, right)</span></p></details>\
<details data-view=\"inspector\"><summary><h2>Frame inspector</h2></summary>\
<p class=\"picker\"><button class=\"small\" data-testid=\"inspector-pause\" data-action=\"inspector-pause\" aria-pressed=\"false\">Pause</button>\
<button class=\"small\" data-testid=\"inspector-clear\" data-action=\"inspector-clear\">Clear</button><label class=\"inline\"><input type=\"checkbox\" id=\"frames-only\" data-testid=\"frames-only\" data-action=\"frames-only\"> the device shown only</label>\
<span class=\"hint\">The connection's last 200 MQTT packets, newest first. Pick one to take it apart.</span></p>\
<div class=\"frames\" data-testid=\"inspector\" tabindex=\"0\" role=\"region\" aria-label=\"Packets\"><table><thead><tr>\
<th scope=\"col\">time (UTC)</th><th scope=\"col\">direction</th><th scope=\"col\">type</th>\
<th scope=\"col\">packet id</th><th scope=\"col\">bytes</th><th scope=\"col\">flags</th><th scope=\"col\">topic</th></tr></thead><tbody id=\"frames\"></tbody></table></div>\
<div class=\"frame-detail\" id=\"frame-detail\" data-testid=\"frame-detail\" aria-live=\"polite\"></div></details></section>";

/// A run that measures latency: its figures and chart (the scenario player's build).
#[cfg(feature = "latency")]
const LATENCY: &str = "<section class=\"latency\" id=\"latency\" data-testid=\"latency\" aria-labelledby=\"latency-heading\" hidden>\
<h2 id=\"latency-heading\">Latency, due to received</h2>\
<p class=\"hint\">Each sample from its due time to its arrival at this page's own subscriber (QoS 1, clean session), in ms: <span id=\"latency-window\" data-testid=\"latency-window\"></span>.</p>\
<div class=\"counters\">\
<div class=\"counter\"><span class=\"value\" id=\"latency-p50\" data-testid=\"latency-p50\">-</span><span class=\"label\">p50</span></div>\
<div class=\"counter\"><span class=\"value\" id=\"latency-p99\" data-testid=\"latency-p99\">-</span><span class=\"label\">p99</span></div>\
<div class=\"counter\"><span class=\"value\" id=\"latency-p999\" data-testid=\"latency-p999\">-</span><span class=\"label\">p99.9 of the run</span></div>\
<div class=\"counter\"><span class=\"value\" id=\"latency-max\" data-testid=\"latency-max\">-</span><span class=\"label\">max of the run</span></div>\
<div class=\"counter\"><span class=\"value\" id=\"latency-count\" data-testid=\"latency-count\">0</span><span class=\"label\">timed</span></div>\
<div class=\"counter\"><span class=\"value\" id=\"latency-lost\" data-testid=\"latency-lost\">0</span><span class=\"label\" id=\"latency-lost-label\">awaited</span></div></div>\
<div class=\"plot\" id=\"latency-chart\" data-testid=\"latency-chart\"></div>\
<p class=\"legend-line\"><span class=\"p\">— p50</span> <span class=\"t\">— p99</span>, each second</p></section>";

const FLEET_END: &str = "</tr></thead><tbody id=\"fleet-rows\"></tbody></table><p class=\"pager\">\
<button class=\"small\" data-page=\"-1\" data-testid=\"page-prev\">previous</button> \
<span id=\"fleet-page\" data-testid=\"page\"></span> \
<button class=\"small\" data-page=\"1\" data-testid=\"page-next\">next</button></p></div></section>";

const SHARE_AND_LOG: &str = "<section class=\"share-room\" aria-labelledby=\"share-heading\">\
<h2 id=\"share-heading\">Share for the room</h2>\
<p class=\"warning\" id=\"share-warning\" data-testid=\"share-warning\" hidden></p>\
<div class=\"field\"><label for=\"room-text\">Room link (each visitor becomes a device of their own)</label>\
<input id=\"room-text\" data-testid=\"room-text\" type=\"text\" readonly></div>\
<p><a id=\"room-link\" data-testid=\"room-link\" target=\"_blank\" rel=\"noopener\">Open the room link</a> \
<button class=\"small\" data-testid=\"copy-room\" data-action=\"copy-room\">Copy room link</button> \
<label class=\"inline\"><input type=\"checkbox\" id=\"room-autostart\" data-testid=\"room-autostart\" data-action=\"room-autostart\"> visitors start at once</label> \
<button class=\"small\" data-testid=\"qr-fullscreen\" data-action=\"qr-fullscreen\">Show the QR code full screen</button></p>\
<div class=\"qr\" id=\"qr\" data-testid=\"qr\"></div>\
<div class=\"field\"><label for=\"share-text\">Replay link (this run again, exactly)</label>\
<input id=\"share-text\" data-testid=\"share-text\" type=\"text\" readonly></div>\
<p><button class=\"small\" data-testid=\"copy-link\" data-action=\"copy-link\">Copy replay link</button></p></section>\
<section class=\"log\" aria-label=\"Event log\"><h2>Event log</h2>\
<div class=\"lines\" data-testid=\"log\" role=\"log\" tabindex=\"0\" aria-label=\"Event log, newest first\"><ol id=\"log-lines\"></ol></div></section></main>";
