//! The monitor page: its settings, Subscribe/Stop, a status line, the live table of devices,
//! the chart of the selected one, the scoreboard and a log. Static HTML, filled in on the
//! runner's tick (4 times a second) from the [`crate::monitor::Monitor`]; one click listener
//! reads every button. No Leptos: the page is a table redrawn on a tick, and staying out of a
//! framework keeps it well inside its own size budget.

use std::cell::RefCell;
use std::fmt::Write;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Document, Element, HtmlInputElement};

use super::log_line;
use crate::device::{LogLevel, Status};
use crate::html::Html;
use crate::monitor::{MonitorError, MonitorField, MonitorForm};
use crate::sensor::format_rfc3339_millis;
use crate::settings::blocked_from_https;
use crate::transport::browser::{location_query, page_is_https, save_json};
use crate::transport::monitor::MonitorRunner;
use crate::transport::now;
use crate::watch::{CHART_SAMPLES, chart};

thread_local! {
    static RUNNER: RefCell<Option<MonitorRunner>> = const { RefCell::new(None) };
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

fn by_id(id: &str) -> Option<Element> {
    document()?.get_element_by_id(id)
}

fn set_html(id: &str, html: &str) {
    if let Some(element) = by_id(id) {
        element.set_inner_html(html);
    }
}

fn set_text(id: &str, text: &str) {
    if let Some(element) = by_id(id) {
        element.set_text_content(Some(text));
    }
}

fn page_html(form: &MonitorForm) -> String {
    let mut html = Html::new();
    html.raw(
        "<main class=\"monitor\"><header><h1>DPS368 monitor and scoreboard</h1>\
         <p>Subscribes to telemetry, ground truth and a detector's verdicts on any broker, and scores the verdicts live. \
         <a href=\"../\">Open the simulator</a></p></header>\
         <form id=\"monitor-form\" class=\"settings\" novalidate><fieldset class=\"group\"><legend>Subscribe</legend>",
    );
    for field in MonitorField::ALL {
        let id = field.id();
        html.raw("<div class=\"field\"")
            .attr("id", &format_args!("{id}-field"))
            .raw("><label")
            .attr("for", &id)
            .wrap(">", &field.label(), "</label>");
        // The control's own attributes: its id and name, and where its hint and error are.
        let common = |html: &mut Html| {
            html.attr("id", &id)
                .attr("name", &id)
                .attr("aria-describedby", &format_args!("{id}-hint {id}-error"))
                .raw(" aria-invalid=\"false\"");
        };
        if field == MonitorField::Detector {
            html.raw("<select");
            common(&mut html);
            html.raw(">");
            for option in ["off", "baseline"] {
                html.raw(if form.get(field) == option {
                    "<option selected>"
                } else {
                    "<option>"
                })
                .wrap("", &option, "</option>");
            }
            html.raw("</select>");
        } else {
            html.raw("<input type=\"text\" spellcheck=\"false\"");
            common(&mut html);
            html.attr("value", &form.get(field)).raw(">");
        }
        html.raw("<p class=\"hint\"")
            .attr("id", &format_args!("{id}-hint"))
            .wrap(">", &field.hint(), "</p><p class=\"error\"")
            .attr("id", &format_args!("{id}-error"))
            .raw(" role=\"alert\"></p></div>");
    }
    html.raw(
        "</fieldset><div class=\"actions\">\
         <button type=\"button\" data-testid=\"monitor-start\" data-action=\"monitor-start\">Subscribe</button>\
         <button type=\"button\" data-testid=\"monitor-stop\" data-action=\"monitor-stop\">Stop</button>\
         <button type=\"button\" data-testid=\"download-report\" data-action=\"download-report\">Download report</button><button type=\"button\" id=\"reconnect-now\" data-testid=\"reconnect-now\" data-action=\"reconnect-now\" hidden>Reconnect now</button></div></form>\
         <p role=\"status\" data-testid=\"monitor-status\" id=\"monitor-status\">stopped</p>\
         <section><h2>Scoreboard</h2><div id=\"scoreboard\" data-testid=\"scoreboard\"></div></section>\
         <section><h2>Devices</h2><div class=\"table-wrap\"><table data-testid=\"monitor-table\"><thead><tr>\
         <th scope=\"col\">Device</th><th scope=\"col\">Pressure (hPa)</th><th scope=\"col\">Temperature (°C)</th>\
         <th scope=\"col\">msg/s</th><th scope=\"col\">Received</th><th scope=\"col\">Gaps</th>\
         <th scope=\"col\">Duplicates</th><th scope=\"col\">Out of order</th><th scope=\"col\">Age (s)</th>\
         <th scope=\"col\">Events</th><th scope=\"col\">Flagged</th></tr></thead>\
         <tbody id=\"monitor-rows\" data-testid=\"monitor-rows\"></tbody></table></div></section>\
         <section><h2>Chart</h2><div class=\"plot\" id=\"monitor-chart\" data-testid=\"chart\"></div></section>\
         <section><h2>Log</h2><div class=\"log\" role=\"log\" tabindex=\"0\" aria-label=\"Log\" data-testid=\"monitor-log\"><ol id=\"monitor-log\"></ol></div></section></main>",
    );
    html.into_string()
}

/// Mounts the monitor on the page's body, from the link's settings; `autostart=1`
/// subscribes at once.
pub fn mount() {
    let mut form = MonitorForm::default();
    let unknown = form.apply_query(&location_query());
    let Some(body) = document().and_then(|d| d.body()) else {
        return;
    };
    body.set_inner_html(&page_html(&form));
    let runner = MonitorRunner::new(render);
    RUNNER.with(|r| *r.borrow_mut() = Some(runner));
    if !unknown.is_empty() {
        let text = format!("unknown link parameter(s) ignored: {}", unknown.join(", "));
        with_runner(|r| r.note(LogLevel::Warn, text));
        render();
    }
    let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(on_click);
    let _ = body.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    on_click.forget();
    if form.autostart {
        start();
    }
}

fn on_click(event: web_sys::Event) {
    let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    let Some(button) = target.closest("button").ok().flatten() else {
        return;
    };
    if let Some(device) = button.get_attribute("data-device") {
        with_runner(|r| r.with_monitor(|m| m.select(&device)));
        render();
        return;
    }
    match button.get_attribute("data-action").as_deref() {
        Some("monitor-start") => start(),
        Some("reconnect-now") => {
            with_runner(|r| r.retry_now());
            render();
        }
        Some("monitor-stop") => {
            with_runner(|r| r.stop());
            render();
        }
        Some("download-report") => {
            let time = now();
            let report = with_runner(|r| r.with_monitor(|m| m.report(time.wall_ms))).flatten();
            match report {
                Some(report) => {
                    let stamp: String = format_rfc3339_millis(time.wall_ms)
                        .chars()
                        .filter(char::is_ascii_digit)
                        .take(14)
                        .collect();
                    save_json(&format!("dps368-score-{stamp}.json"), &report);
                }
                None => {
                    // Said where the eye is, the status line, as well as in the log.
                    let text = "nothing to report yet: Subscribe first";
                    with_runner(|r| r.note(LogLevel::Warn, text.to_owned()));
                    render();
                    set_text("monitor-status", text);
                }
            }
        }
        _ => {}
    }
}

fn with_runner<T>(f: impl FnOnce(&MonitorRunner) -> T) -> Option<T> {
    RUNNER.with(|r| r.borrow().as_ref().map(f))
}

/// Reads the form; starts, or shows each problem next to its field (nothing is sent).
fn start() {
    let mut form = MonitorForm::default();
    for field in MonitorField::ALL {
        let value = by_id(field.id()).map(|e| {
            e.dyn_ref::<HtmlInputElement>()
                .map(HtmlInputElement::value)
                .unwrap_or_else(|| {
                    e.dyn_ref::<web_sys::HtmlSelectElement>()
                        .map(web_sys::HtmlSelectElement::value)
                        .unwrap_or_default()
                })
        });
        form.set(field, &value.unwrap_or_default());
    }
    let mut errors: Vec<MonitorError> = match form.validate() {
        Ok(settings) => {
            let blocked = page_is_https()
                .then(|| blocked_from_https(settings.broker_url.as_str()))
                .flatten();
            match blocked {
                None => {
                    show_errors(&[]);
                    with_runner(|r| r.start(settings));
                    render();
                    return;
                }
                Some(message) => vec![MonitorError {
                    field: MonitorField::Broker,
                    message,
                }],
            }
        }
        Err(errors) => errors,
    };
    errors.dedup();
    show_errors(&errors);
    // The first bad field takes the focus (which scrolls it into view).
    if let Some(control) = errors
        .first()
        .and_then(|e| by_id(e.field.id()))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = control.focus();
    }
    let words: Vec<String> = errors.iter().map(ToString::to_string).collect();
    // In the log too, which a running monitor's status line does not overwrite; as text,
    // never HTML: the messages quote what was typed or linked.
    let text = format!("not started: {}", words.join("; "));
    with_runner(|r| r.note(LogLevel::Error, text.clone()));
    render();
    set_text("monitor-status", &text);
}

fn show_errors(errors: &[MonitorError]) {
    for field in MonitorField::ALL {
        let message = errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str());
        if let Some(error) = by_id(&format!("{}-error", field.id())) {
            error.set_text_content(message);
        }
        if let Some(input) = by_id(field.id()) {
            let _ = input.set_attribute(
                "aria-invalid",
                if message.is_some() { "true" } else { "false" },
            );
        }
    }
}

/// Draws the status, table, chart, scoreboard and log from the runner.
fn render() {
    let Some(runner) = RUNNER.with(|r| r.borrow().clone()) else {
        return;
    };
    let time = now();
    let link_status = runner.status(time);
    if let Some(button) = by_id("reconnect-now") {
        let waiting = matches!(link_status, Status::Retrying { .. });
        let _ = if waiting {
            button.remove_attribute("hidden")
        } else {
            button.set_attribute("hidden", "")
        };
    }
    let drawn = runner.with_monitor(|m| {
        let counts = m.counts().clone();
        let state = match link_status {
            Status::Stopped(None) => "stopped".to_owned(),
            Status::Stopped(Some(reason)) => format!("stopped after an error ({reason})"),
            Status::Connecting => "connecting".to_owned(),
            Status::Reconnecting { attempt } => format!("reconnecting (attempt {attempt})"),
            Status::Connected => "subscribed".to_owned(),
            Status::Stopping => "stopping".to_owned(),
            Status::Retrying { in_s, reason, .. } => {
                format!("waiting to reconnect ({in_s} s) after {reason}")
            }
        };
        let mut status = format!(
            "{state}: {} device(s); {} telemetry, {} label, {} verdict message(s); {} unreadable",
            m.devices().len(),
            counts.telemetry,
            counts.labels,
            counts.verdicts,
            counts.unreadable
        );
        if counts.ignored > 0 {
            let _ = write!(status, "; {} ignored", counts.ignored);
        }
        let missed: u64 = m.devices().values().map(|d| d.stream.missed_offline).sum();
        if missed > 0 {
            let _ = write!(status, "; {missed} missed while offline");
        }
        if counts.verdicts_dropped > 0 {
            let _ = write!(
                status,
                "; {} built-in verdicts dropped",
                counts.verdicts_dropped
            );
        }
        // The scoreboard and chart change only with a message or a pick; the table's ages and
        // rates move with time.
        let drawn = m.take_changed().then(|| {
            let chart = m.selected().and_then(|id| {
                m.device(id).map(|d| {
                    chart::svg_with_flags(
                        &d.points,
                        CHART_SAMPLES,
                        &format!("{id}: pressure and temperature of the last samples, the detector's flags above"),
                        &d.flagged,
                    )
                })
            });
            (m.scoreboard(), chart)
        });
        (status, m.table_rows(time.wall_ms), drawn)
    });
    if let Some((status, rows, drawn)) = drawn {
        set_text("monitor-status", &status);
        set_html("monitor-rows", &rows);
        if let Some((board, chart)) = drawn {
            set_html("scoreboard", &board);
            set_html("monitor-chart", chart.as_deref().unwrap_or(""));
        }
    }
    let log = runner.with_log(|lines| {
        lines
            .iter()
            .map(|l| log_line(l.wall_ms, l.level, &l.text))
            .collect::<String>()
    });
    set_html("monitor-log", &log);
}
