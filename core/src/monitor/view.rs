//! The monitor's table, scoreboard and report, as HTML and JSON strings: drawn on the page's
//! tick, never per message.

use std::fmt::Write;

use serde_json::{Value, json};

use super::Monitor;
use crate::html::Html;
use crate::score::board::{FIGURES, shown};
use crate::score::{PROFILES, SNR_BINS, Score};
use crate::sensor::{AnomalyKind, csv_text, format_rfc3339_millis};

/// Device rows drawn at most; the report has them all.
pub const ROWS_SHOWN: usize = 200;

/// A ratio as shown: 3 decimals, `-` while undefined.
fn ratio(value: Option<f64>) -> String {
    shown(value, 3)
}

/// A delay as shown: 2 decimals, `-` while undefined.
fn delay(value: Option<f64>) -> String {
    shown(value, 2)
}

impl Monitor {
    /// The live table's rows: one per device (the first [`ROWS_SHOWN`] by id), the selected
    /// one marked.
    pub fn table_rows(&mut self, now_ms: i64) -> String {
        let selected = self.selected().map(str::to_owned);
        let mut out = Html::new();
        for (id, device) in self.devices.iter_mut().take(ROWS_SHOWN) {
            let stream = &mut device.stream;
            let rate = stream.rate_tenths(now_ms);
            out.raw(if selected.as_deref() == Some(id.as_str()) {
                "<tr aria-current=\"true\"><td><button type=\"button\""
            } else {
                "<tr><td><button type=\"button\""
            })
            .attr("data-device", id)
            .wrap(">", id, "</button></td>");
            let (pressure, temperature, age) = match stream.last {
                Some(last) => (
                    format!("{:.4}", last.pressure),
                    format!("{:.3}", last.temperature),
                    format!("{:.1}", (now_ms - last.arrived_ms).max(0) as f64 / 1000.0),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            // Without sequence numbers, gaps, duplicates and order cannot be known.
            let known = |n: u64| {
                if device.sequenced {
                    n.to_string()
                } else {
                    "-".to_owned()
                }
            };
            out.cells(&[
                &pressure,
                &temperature,
                &format_args!("{}.{}", rate / 10, rate % 10),
                &stream.received,
                &known(stream.gaps()),
                &known(stream.duplicates),
                &known(stream.out_of_order),
                &age,
                &device.events.len(),
                &device.flagged.len(),
            ])
            .raw("</tr>");
        }
        out.into_string()
    }

    /// The scoreboard: the totals (with the `score-*` test ids), each saying what it counts,
    /// per kind, per device, and where the selected device's detector was wrong.
    pub fn scoreboard(&self) -> String {
        let (total, per_device) = self.scores();
        let mut out = Html::new();
        out.raw("<dl class=\"totals\">");
        for figure in FIGURES.iter().filter(|f| f.on_page) {
            out.wrap("<div><dt>", &figure.name, "</dt><dd")
                .attr("data-testid", &format_args!("score-{}", figure.id))
                .wrap(">", &(figure.value)(&total), "</dd>")
                .wrap("<dd class=\"what\">", &figure.what, "</dd></div>");
        }
        out.raw("</dl><p class=\"hint\">");
        let _ = write!(
            out,
            "Tolerance {} sample(s); {} event(s) not yet scored (no sample of their window arrived); NAB probation: the first 15 % of each device's samples (at most 750).",
            self.settings.tolerance, total.unseen
        );
        out.raw("</p><table class=\"kinds\"><caption>By kind</caption><thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">Events</th><th scope=\"col\">Found</th><th scope=\"col\">Recall</th><th scope=\"col\">Delay</th></tr></thead><tbody>");
        for kind in AnomalyKind::ALL {
            let k = total.by_kind[kind.index()];
            out.wrap("<tr><th scope=\"row\">", &kind, "</th>")
                .cells(&[&k.events, &k.found])
                .raw("<td")
                .attr("data-testid", &format_args!("score-recall-{kind}"))
                .wrap(">", &ratio(k.recall), "</td><td")
                .attr("data-testid", &format_args!("score-delay-{kind}"))
                .wrap(">", &delay(k.mean_delay), "</td></tr>");
        }
        out.raw("</tbody></table><table class=\"kinds\"><caption>By signal to noise (events whose labels carry it)</caption><thead><tr><th scope=\"col\">SNR</th><th scope=\"col\">Events</th><th scope=\"col\">Found</th><th scope=\"col\">Recall</th><th scope=\"col\">Delay</th></tr></thead><tbody>");
        for (bin, (label, id, _)) in SNR_BINS.iter().enumerate() {
            let k = total.by_snr[bin];
            out.wrap("<tr><th scope=\"row\">", label, "</th>")
                .cells(&[&k.events, &k.found])
                .raw("<td")
                .attr("data-testid", &format_args!("score-recall-snr-{id}"))
                .wrap(">", &ratio(k.recall), "</td><td>")
                .text(&delay(k.mean_delay))
                .raw("</td></tr>");
        }
        out.raw("</tbody></table><table class=\"per-device\"><caption>By device</caption><thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Events</th><th scope=\"col\">TP</th><th scope=\"col\">FN</th><th scope=\"col\">FP</th><th scope=\"col\">Precision</th><th scope=\"col\">Recall</th><th scope=\"col\">F1</th><th scope=\"col\">NAB</th><th scope=\"col\">Verdicts</th></tr></thead><tbody>");
        for (id, score) in per_device.iter().take(ROWS_SHOWN) {
            let verdicts = self.devices.get(*id).map_or(0, |d| d.verdicts);
            out.wrap("<tr><th scope=\"row\">", id, "</th>")
                .cells(&[
                    &score.events,
                    &score.tp,
                    &score.fn_,
                    &score.fp,
                    &ratio(score.precision),
                    &ratio(score.recall),
                    &ratio(score.f1),
                    &score.nab[0].map_or_else(|| "-".into(), |v| format!("{v:.1}")),
                    &verdicts,
                ])
                .raw("</tr>");
        }
        out.raw("</tbody></table>");
        if let Some((id, score)) = self
            .selected()
            .and_then(|id| per_device.iter().find(|(d, _)| *d == id))
        {
            out.wrap(
                "<div class=\"wrong\" data-testid=\"score-wrong\"><h3>Where the detector was wrong on ",
                id,
                "</h3><p>False alarms (sequence numbers): ",
            );
            let alarms: Vec<String> = score
                .false_alarms
                .iter()
                .take(WRONG_SHOWN)
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            out.text(&if alarms.is_empty() {
                "none".into()
            } else {
                alarms.join(", ")
            });
            if score.fp_runs > WRONG_SHOWN as u64 {
                let _ = write!(
                    out,
                    " and {} more run(s)",
                    score.fp_runs - WRONG_SHOWN as u64
                );
            }
            out.raw("</p><p>Missed events: ");
            let missed: Vec<String> = score
                .found
                .iter()
                .filter(|f| f.seen && f.at.is_none())
                .take(WRONG_SHOWN)
                .map(|f| {
                    format!(
                        "{} {} ({}-{})",
                        f.event.kind, f.event.id, f.event.first, f.event.last
                    )
                })
                .collect();
            out.text(&if missed.is_empty() {
                "none".into()
            } else {
                missed.join(", ")
            });
            if score.fn_ > WRONG_SHOWN as u64 {
                let _ = write!(out, " and {} more", score.fn_ - WRONG_SHOWN as u64);
            }
            out.raw("</p></div>");
        }
        out.into_string()
    }

    /// The report (the page's Download report, `dps368-sim score --report`): the settings,
    /// the scores in total and per device, each device's NAB windows, flags, false alarms and
    /// events. Its schema is the README's "The score report".
    pub fn report(&self, now_ms: i64) -> String {
        let (total, per_device) = self.scores();
        let devices: Vec<Value> = per_device
            .iter()
            .map(|(id, score)| {
                let device = &self.devices[*id];
                let events: Vec<Value> = score
                    .found
                    .iter()
                    .map(|found| {
                        let event = &found.event;
                        json!({
                            "anomaly_id": event.id,
                            "kind": event.kind.name(),
                            "first_sequence": event.first,
                            "last_sequence": event.last,
                            "anomaly_scale": event.scale,
                            "anomaly_duration": event.duration,
                            "window": [found.window.0, found.window.1],
                            "scored": found.seen,
                            "found": found.at.is_some(),
                            "first_flag": found.at,
                            "delay": found.at.map(|at| at - event.first),
                        })
                    })
                    .collect();
                let flagged: Vec<u64> = device
                    .flagged
                    .iter()
                    .filter(|s| device.rows.contains(**s))
                    .take(FLAGS_LISTED)
                    .copied()
                    .collect();
                json!({
                    "device_id": id,
                    "samples": device.rows.len(),
                    "received": device.stream.received,
                    "gaps": device.stream.all_gaps(),
                    "missed_offline": device.stream.missed_offline,
                    "duplicates": device.stream.duplicates,
                    "out_of_order": device.stream.out_of_order,
                    "verdicts": device.verdicts,
                    "probation": score.nab_file.probation,
                    // The windows NAB scored: those with a sample after probation.
                    "windows": score
                        .nab_windows
                        .iter()
                        .skip(scored_from(score, device))
                        .map(|&(a, b)| [a, b])
                        .collect::<Vec<_>>(),
                    "flagged": {"count": score.flagged, "first": flagged},
                    "false_alarms": score.false_alarms.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>(),
                    "missed": score.found.iter().filter(|f| f.seen && f.at.is_none()).map(|f| f.event.id).collect::<Vec<_>>(),
                    "nab_raw": profiles(|k| json!(score.nab_file.raw[k])),
                    "score": summary(score),
                    "events": events,
                })
            })
            .collect();
        let report = json!({
            "schema": REPORT_SCHEMA,
            "generated": format_rfc3339_millis(now_ms),
            "settings": {
                "broker": self.settings.broker_url.shown(),
                "filter": self.settings.filter,
                "labels_filter": self.settings.labels_filter,
                "verdicts": self.settings.verdicts,
                "tolerance": self.settings.tolerance,
                "detector": if self.settings.detector { "baseline" } else { "off" },
            },
            "total": summary(&total),
            "devices": devices,
        });
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }

    /// Every row of every device as CSV
    /// (`device_id,sequence,row,probation,window,window_scored,flag`): what another package
    /// needs to score the run again. `window` numbers every merged window from 1 (NAB charges
    /// a false alarm by the window before it, even one in probation); `window_scored` says
    /// whether NAB scored it (the report lists those).
    pub fn samples_csv(&self) -> String {
        let mut out = String::from("device_id,sequence,row,probation,window,window_scored,flag\n");
        let (_, per_device) = self.scores();
        for (id, score) in &per_device {
            let device = &self.devices[*id];
            let mut quoted = String::new();
            csv_text(&mut quoted, id);
            let probation = score.nab_file.probation;
            let unscored = scored_from(score, device);
            let mut window = 0;
            for (row, sequence) in device.rows.iter().enumerate() {
                let windows = &score.nab_windows;
                while window < windows.len() && windows[window].1 < sequence {
                    window += 1;
                }
                let (number, scored) = match windows.get(window) {
                    Some(w) if w.0 <= sequence => (
                        (window + 1).to_string(),
                        u8::from(window >= unscored).to_string(),
                    ),
                    _ => (String::new(), String::new()),
                };
                let _ = writeln!(
                    out,
                    "{quoted},{sequence},{row},{},{number},{scored},{}",
                    u8::from((row as u64) < probation),
                    u8::from(device.flagged.contains(&sequence)),
                );
            }
        }
        out
    }
}

/// The report's schema, named in it.
pub const REPORT_SCHEMA: &str = "dps368-sim/score-report/1";
/// Flagged sequence numbers listed per device in the report; the count is always there.
pub const FLAGS_LISTED: usize = 10_000;
/// False alarms and missed events shown on the page per device.
const WRONG_SHOWN: usize = 20;

/// How many of a device's NAB windows come before the scored ones (wholly in probation: the
/// scored ones are the rest, since probation is the rows' start).
fn scored_from(score: &Score, device: &super::DeviceView) -> usize {
    score
        .nab_windows
        .iter()
        .take_while(|w| {
            device
                .rows
                .index_of(w.1)
                .is_none_or(|i| i < score.nab_file.probation)
        })
        .count()
}

/// One JSON value per NAB profile, keyed by the profile.
fn profiles(value: impl Fn(usize) -> Value) -> Value {
    let map: serde_json::Map<String, Value> = PROFILES
        .iter()
        .enumerate()
        .map(|(k, p)| (p.key.to_owned(), value(k)))
        .collect();
    Value::Object(map)
}

/// A score's figures as JSON (`null` where undefined), per kind too.
pub fn summary(score: &Score) -> Value {
    let kinds: serde_json::Map<String, Value> = AnomalyKind::ALL
        .iter()
        .map(|kind| {
            let k = score.by_kind[kind.index()];
            (
                kind.name().to_owned(),
                json!({"events": k.events, "found": k.found, "recall": k.recall, "delay": k.mean_delay}),
            )
        })
        .collect();
    let snr: serde_json::Map<String, Value> = SNR_BINS
        .iter()
        .zip(&score.by_snr)
        .map(|((_, id, _), k)| {
            (
                (*id).to_owned(),
                json!({"events": k.events, "found": k.found, "recall": k.recall, "delay": k.mean_delay}),
            )
        })
        .collect();
    json!({
        "events": score.events,
        "tp": score.tp,
        "fn": score.fn_,
        "unseen": score.unseen,
        "fp": score.fp,
        "fp_runs": score.fp_runs,
        "flagged": score.flagged,
        "flagged_in_windows": score.flagged_in_windows,
        "precision": score.precision,
        "recall": score.recall,
        "f1": score.f1,
        "delay": score.mean_delay,
        "nab": profiles(|k| json!(score.nab[k])),
        "nab_raw": profiles(|k| json!(score.nab_file.raw[k])),
        "nab_windows": score.nab_file.windows,
        "range_precision": score.range_precision,
        "range_recall": score.range_recall,
        "by_kind": kinds,
        "by_snr": snr,
    })
}
