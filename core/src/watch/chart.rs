//! The live chart as an SVG string: pressure (left axis, hPa) and temperature (right axis, °C)
//! of the last samples by sequence, each anomaly event shaded and labelled by kind, a
//! dropout's samples a gap in both lines, and a marker on the newest sample.
//!
//! Written by hand, like the fleet table: one `innerHTML` per redraw, no chart library, and
//! coordinates in tenths without float printing.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write;

use super::Point;
use crate::html::Html;
use crate::sensor::Decimal;

/// The drawing's width in its own units, on a wide screen; on a phone's the chart is drawn
/// [`NARROW`] units wide, so that its labels (the same font size in units, a little larger in
/// the style) come out at least 11 CSS px once the screen scales it down.
pub const WIDE: f64 = 640.0;
pub const NARROW: f64 = 400.0;
/// The drawing's height: a phone's narrower chart is lower too, to keep to its first screen.
const HEIGHT: f64 = 260.0;
const NARROW_HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
/// From the right edge to the plot's right side, where the temperature axis is.
const RIGHT_MARGIN: f64 = 64.0;
const TOP: f64 = 34.0;
/// From the plot's bottom to the drawing's, where the sequence numbers are.
const BOTTOM_MARGIN: f64 = 34.0;

/// A value's position in tenths of a unit, written `12.3`.
struct Tenths(f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
    }
}

/// The DPS368's measuring ranges (hPa, °C): a reading at or past a limit is saturated.
const PRESSURE_LIMITS: (f64, f64) = (300.0, 1200.0);
const TEMPERATURE_LIMITS: (f64, f64) = (-40.0, 85.0);

/// The range a series is drawn over: its values padded by a twentieth, and never narrower
/// than `min_span` (a flat line sits in the middle). Readings at the part's `limits` (an
/// out-of-range event) do not count while any other does, so one of them does not flatten the
/// rest; they are drawn at the frame's edge.
fn range(
    values: impl Iterator<Item = f64> + Clone,
    min_span: f64,
    limits: (f64, f64),
) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    let inside = |v: &f64| limits.0 < *v && *v < limits.1;
    let all = !values.clone().any(|v| inside(&v));
    for v in values.filter(|v| v.is_finite() && (all || inside(v))) {
        low = low.min(v);
        high = high.max(v);
    }
    if low > high {
        return (0.0, 1.0);
    }
    let pad = ((high - low) / 20.0)
        .max((min_span - (high - low)) / 2.0)
        .max(0.0);
    (low - pad, high + pad)
}

/// The chart of `points` (oldest first) in a window of `len` samples ending at the newest,
/// titled `title`, `width` units wide ([`WIDE`] or [`NARROW`]).
pub fn svg(points: &VecDeque<Point>, len: usize, title: &str, width: f64) -> String {
    draw(points, len, title, None, width)
}

/// The same chart with a detector's flags marked above the samples they flag (the monitor's).
pub fn svg_with_flags(
    points: &VecDeque<Point>,
    len: usize,
    title: &str,
    flagged: &BTreeSet<u64>,
) -> String {
    draw(points, len, title, Some(flagged), WIDE)
}

fn draw(
    points: &VecDeque<Point>,
    len: usize,
    title: &str,
    flagged: Option<&BTreeSet<u64>>,
    width: f64,
) -> String {
    let plot_right = width - RIGHT_MARGIN;
    let height = if width < WIDE { NARROW_HEIGHT } else { HEIGHT };
    let bottom = height - BOTTOM_MARGIN;
    let mut out = Html::new();
    out.raw("<svg")
        .attr(
            "viewBox",
            &format_args!("0 0 {} {}", Tenths(width), Tenths(height)),
        )
        .raw(" role=\"img\" aria-labelledby=\"chart-title\">")
        .wrap("<title id=\"chart-title\">", &title, "</title>")
        .raw("<text class=\"legend p\"")
        .attr("x", &Tenths(LEFT))
        .raw(" y=\"14\">— pressure (hPa, left)</text><text class=\"legend t\"")
        .attr("x", &Tenths(plot_right))
        .raw(" y=\"14\" text-anchor=\"end\">— temperature (°C, right)</text><rect class=\"frame\"");
    at(&mut out, LEFT, TOP)
        .attr("width", &Tenths(plot_right - LEFT))
        .attr("height", &Tenths(bottom - TOP))
        .raw("/>");
    let Some(newest) = points.back().map(|p| p.sample.sequence) else {
        out.raw("<text class=\"axis\"");
        at(&mut out, (LEFT + plot_right) / 2.0, (TOP + bottom) / 2.0)
            .raw(" text-anchor=\"middle\">no samples yet: press Start</text></svg>");
        return out.into_string();
    };
    // The samples kept span the width (at most `len` of them; a short run is not squeezed
    // into a corner), and never fewer than ten steps.
    let first = points.front().map_or(newest, |p| p.sample.sequence);
    let span = (newest - first).max(10).min(len.max(2) as u64 - 1);
    let step = (plot_right - LEFT) / span as f64;
    let x = |sequence: u64| LEFT + sequence.saturating_sub(first) as f64 * step;
    let reported = || points.iter().filter(|p| p.reported).map(|p| p.sample);
    let pressure = range(reported().map(|s| s.pressure_hpa), 0.2, PRESSURE_LIMITS);
    let temperature = range(reported().map(|s| s.temperature_c), 0.2, TEMPERATURE_LIMITS);
    let y = |(low, high): (f64, f64), v: f64| {
        // Not `clamp`: with a bound that is not a constant, its assert brings float formatting
        // into the page (9 KB gzip, measured).
        (bottom - (v - low) / (high - low) * (bottom - TOP))
            .max(TOP)
            .min(bottom)
    };

    // Anomaly events: one shaded band per event on screen, labelled by kind where the label
    // has room (the band's title always names it).
    let mut i = 0;
    let mut labelled_to = 0.0;
    let points: Vec<&Point> = points.iter().collect();
    while i < points.len() {
        let Some(label) = points[i].sample.label else {
            i += 1;
            continue;
        };
        let start = i;
        while i < points.len() && points[i].sample.label.map(|l| l.id) == Some(label.id) {
            i += 1;
        }
        let (a, b) = (points[start].sample.sequence, points[i - 1].sample.sequence);
        let left = (x(a) - step / 2.0).max(LEFT);
        let right = (x(b) + step / 2.0).min(plot_right);
        let kind = label.kind;
        out.raw("<g class=\"event\"")
            .attr("data-kind", &kind)
            .raw("><rect")
            .attr("class", &format_args!("ev {kind}"));
        at(&mut out, left, TOP)
            .attr("width", &Tenths((right - left).max(1.0)))
            .attr("height", &Tenths(bottom - TOP))
            .raw("><title>");
        let _ = write!(out, "{kind} #{} (sequence {a} to {b})", label.id);
        out.raw("</title></rect>");
        if left >= labelled_to {
            out.raw("<text class=\"evl\"");
            at(&mut out, left + 1.0, TOP + 10.0).wrap(">", &kind, "</text>");
            labelled_to = left + 6.0 * kind.name().len() as f64 + 4.0;
        }
        out.raw("</g>");
    }

    // The lines, broken wherever a sample was not reported.
    for (class, series, get) in [
        (
            "p",
            pressure,
            (|p: &Point| p.sample.pressure_hpa) as fn(&Point) -> f64,
        ),
        ("t", temperature, |p: &Point| p.sample.temperature_c),
    ] {
        let mut open = false;
        let mut previous = None;
        for point in &points {
            let gap = previous.is_some_and(|s: u64| point.sample.sequence != s + 1);
            previous = Some(point.sample.sequence);
            if open && (!point.reported || gap) {
                out.raw("\"/>");
                open = false;
            }
            if !point.reported {
                continue;
            }
            if !open {
                out.raw("<polyline").attr("class", &class).raw(" points=\"");
                open = true;
            } else {
                out.raw(" ");
            }
            let _ = write!(
                out,
                "{},{}",
                Tenths(x(point.sample.sequence)),
                Tenths(y(series, get(point)))
            );
        }
        if open {
            out.raw("\"/>");
        }
    }

    // The axes: three values on each side, and the sequence span below.
    for k in 0..3 {
        let y_at = TOP + (bottom - TOP) * f64::from(k) / 2.0;
        let value = |(low, high): (f64, f64)| high - (high - low) * f64::from(k) / 2.0;
        out.raw("<text class=\"axis\"");
        at(&mut out, LEFT - 4.0, y_at + 4.0).wrap(
            " text-anchor=\"end\">",
            &Decimal(value(pressure), 2, false),
            "</text><text class=\"axis\"",
        );
        at(&mut out, plot_right + 4.0, y_at + 4.0).wrap(
            ">",
            &Decimal(value(temperature), 2, false),
            "</text>",
        );
    }
    out.raw("<text class=\"axis\"");
    at(&mut out, LEFT, bottom + 16.0).wrap(">sequence ", &first, "</text><text class=\"axis\"");
    at(&mut out, plot_right, bottom + 16.0).wrap(" text-anchor=\"end\">", &newest, "</text>");

    // The detector's flags: a tick above each flagged sample on screen.
    if let Some(flagged) = flagged {
        let mut marks = flagged.range(first..=newest).peekable();
        if marks.peek().is_some() {
            out.raw("<path class=\"flag\" d=\"");
            for &sequence in marks {
                let _ = write!(out, "M{} {}v8", Tenths(x(sequence)), Tenths(TOP - 10.0));
            }
            out.raw("\"><title>the detector's flags</title></path>");
        }
    }

    // The newest sample that was reported.
    if let Some(last) = points.iter().rev().find(|p| p.reported) {
        let sx = x(last.sample.sequence);
        out.raw("<g class=\"newest\"><circle class=\"p\"")
            .attr("cx", &Tenths(sx))
            .attr("cy", &Tenths(y(pressure, last.sample.pressure_hpa)))
            .raw(" r=\"4\"/><circle class=\"t\"")
            .attr("cx", &Tenths(sx))
            .attr("cy", &Tenths(y(temperature, last.sample.temperature_c)))
            .raw(" r=\"4\"/><title>");
        let _ = write!(
            out,
            "newest: sequence {}, {} hPa, {} °C",
            last.sample.sequence,
            Decimal(last.sample.pressure_hpa, 2, false),
            Decimal(last.sample.temperature_c, 2, false),
        );
        out.raw("</title></g>");
    }
    out.raw("</svg>");
    out.into_string()
}

/// ` x="…" y="…"`: where an element sits.
fn at(out: &mut Html, x: f64, y: f64) -> &mut Html {
    out.attr("x", &Tenths(x)).attr("y", &Tenths(y))
}
