//! A scenario's timeline as SVG, for the scenario player: the devices connected over time (the
//! stages and their ramps), a tick and a word for each event, and where the run is.

use std::fmt::Write;

use super::{Scenario, What};
use crate::html::Html;

/// The drawing's width in SVG units (it scales to the page's width; 64 high).
const WIDTH: u64 = 600;
/// The band the device count is drawn in, from the top.
const BAND: u64 = 40;

/// The timeline of `scenario`, with a cursor `at_ms` after Start when a run plays it.
pub fn svg(scenario: &Scenario, at_ms: Option<u64>) -> String {
    let end = scenario.end_ms().max(1);
    let fleet = scenario.fleet().max(1) as u64;
    let x = |ms: u64| ms.min(end) * WIDTH / end;
    let y = |devices: usize| BAND - devices as u64 * (BAND - 4) / fleet;
    let mut html = Html::with_capacity(2048);
    html.raw("<svg class=\"timeline\" viewBox=\"0 0 600 64\" role=\"img\"")
        .attr(
            "aria-label",
            &format_args!(
                "{} stage(s) over {} s, {} event(s)",
                scenario.stages.len(),
                end.div_ceil(1000),
                scenario.events.len()
            ),
        )
        .raw("><polyline class=\"devices\" points=\"0,40");
    // The count at each stage's start and at the end of its ramp: straight lines between.
    let mut before = 0;
    for (index, stage) in scenario.stages.iter().enumerate() {
        let from = if index == 0 && stage.ramp_ms == 0 {
            stage.devices
        } else {
            before
        };
        let _ = write!(
            html,
            " {},{} {},{} {},{}",
            x(stage.start_ms),
            y(from),
            x(stage.start_ms + stage.ramp_ms),
            y(stage.devices),
            x(stage.end_ms()),
            y(stage.devices)
        );
        before = stage.devices;
    }
    html.raw("\"/>");
    for (index, stage) in scenario.stages.iter().enumerate() {
        html.raw("<text class=\"stage\"")
            .attr("x", &(x(stage.start_ms) + 2))
            .raw(" y=\"10\">")
            .show(&format_args!("{} · {}", index + 1, stage.devices))
            .raw("</text>");
    }
    for event in &scenario.events {
        let class = match event.what {
            What::Anomaly { .. } => "anomaly",
            What::Offline { .. } => "offline",
            What::Front { .. } => "front",
        };
        html.raw("<g")
            .attr("class", &class)
            .raw("><title>")
            .show(&format_args!(
                "{} at {} s",
                event.what.name(),
                event.at_ms / 1000
            ))
            .raw("</title><line")
            .attr("x1", &x(event.at_ms))
            .attr("x2", &x(event.at_ms))
            .raw(" y1=\"44\" y2=\"52\"/><text")
            .attr("x", &x(event.at_ms))
            .raw(" y=\"62\">")
            .text(event.what.name())
            .raw("</text></g>");
    }
    if let Some(at) = at_ms {
        html.raw("<line class=\"now\" data-testid=\"timeline-now\"")
            .attr("x1", &x(at))
            .attr("x2", &x(at))
            .attr("data-ms", &at.min(end))
            .raw(" y1=\"0\" y2=\"64\"/>");
    }
    html.raw("</svg>");
    html.into_string()
}
