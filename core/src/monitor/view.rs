//! The monitor's table, scoreboard and report, as HTML and JSON strings: drawn on the page's
//! tick, never per message.

use std::fmt::Write;

use serde_json::{Value, json};

use super::Monitor;
use crate::fleet::table::escape;
use crate::score::Score;
use crate::sensor::{AnomalyKind, format_rfc3339_millis};

/// Device rows drawn at most; the report has them all.
pub const ROWS_SHOWN: usize = 200;

/// `-` while undefined, else 3 decimals.
fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// `-` while undefined, else 2 decimals.
fn delay(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

impl Monitor {
    /// The live table's rows: one per device (the first [`ROWS_SHOWN`] by id), the selected
    /// one marked.
    pub fn table_rows(&mut self, now_ms: i64) -> String {
        let selected = self.selected().map(str::to_owned);
        let mut out = String::new();
        for (id, device) in self.devices.iter_mut().take(ROWS_SHOWN) {
            let stream = &mut device.stream;
            let rate = stream.rate_tenths(now_ms);
            let current = selected.as_deref() == Some(id.as_str());
            out.push_str(if current {
                "<tr aria-current=\"true\"><td><button type=\"button\" data-device=\""
            } else {
                "<tr><td><button type=\"button\" data-device=\""
            });
            escape(&mut out, id);
            out.push_str("\">");
            escape(&mut out, id);
            out.push_str("</button></td>");
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
            let _ = write!(
                out,
                "<td>{pressure}</td><td>{temperature}</td><td>{}.{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{age}</td><td>{}</td><td>{}</td></tr>",
                rate / 10,
                rate % 10,
                stream.received,
                known(stream.gaps()),
                known(stream.duplicates),
                known(stream.out_of_order),
                device.events.len(),
                device.flagged.len(),
            );
        }
        out
    }

    /// The scoreboard: the totals (with the `score-*` test ids), per kind, and per device.
    pub fn scoreboard(&self) -> String {
        let (total, per_device) = self.scores();
        let mut out = String::from("<dl class=\"totals\">");
        let cells = [
            ("tp", "TP (events found)", total.tp.to_string()),
            ("fp", "FP (false alarm runs)", total.fp.to_string()),
            ("fn", "FN (events missed)", total.fn_.to_string()),
            ("precision", "Precision", ratio(total.precision)),
            ("recall", "Recall", ratio(total.recall)),
            ("f1", "F1", ratio(total.f1)),
            ("delay", "Mean delay (samples)", delay(total.mean_delay)),
            (
                "nab",
                "NAB-style score",
                total.nab.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            ),
        ];
        for (id, name, value) in cells {
            let _ = write!(
                out,
                "<div><dt>{name}</dt><dd data-testid=\"score-{id}\">{value}</dd></div>"
            );
        }
        let _ = write!(
            out,
            "</dl><p class=\"hint\">Tolerance {} sample(s); {} flagged sample(s) outside every event window.</p>",
            self.settings.tolerance, total.flagged_outside
        );
        out.push_str(
            "<table class=\"kinds\"><caption>By kind</caption><thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">Events</th><th scope=\"col\">Found</th><th scope=\"col\">Recall</th><th scope=\"col\">Delay</th></tr></thead><tbody>",
        );
        for kind in AnomalyKind::ALL {
            let k = total.by_kind[kind.index()];
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{kind}</th><td>{}</td><td>{}</td><td data-testid=\"score-recall-{kind}\">{}</td><td data-testid=\"score-delay-{kind}\">{}</td></tr>",
                k.events,
                k.found,
                ratio(k.recall),
                delay(k.mean_delay)
            );
        }
        out.push_str("</tbody></table>");
        out.push_str(
            "<table class=\"per-device\"><caption>By device</caption><thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Events</th><th scope=\"col\">TP</th><th scope=\"col\">FP</th><th scope=\"col\">FN</th><th scope=\"col\">Precision</th><th scope=\"col\">Recall</th><th scope=\"col\">F1</th><th scope=\"col\">Verdicts</th></tr></thead><tbody>",
        );
        for (id, score) in per_device.iter().take(ROWS_SHOWN) {
            out.push_str("<tr><th scope=\"row\">");
            escape(&mut out, id);
            let verdicts = self.devices.get(*id).map_or(0, |d| d.verdicts);
            let _ = write!(
                out,
                "</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{verdicts}</td></tr>",
                score.tp + score.fn_,
                score.tp,
                score.fp,
                score.fn_,
                ratio(score.precision),
                ratio(score.recall),
                ratio(score.f1),
            );
        }
        out.push_str("</tbody></table>");
        out
    }

    /// The report "Download report" saves: the settings, the scores in total and per device,
    /// and every event with what the detector said in its window.
    pub fn report(&self, now_ms: i64) -> String {
        let (total, per_device) = self.scores();
        let tolerance = self.settings.tolerance;
        let devices: Vec<Value> = per_device
            .iter()
            .map(|(id, score)| {
                let device = &self.devices[*id];
                let events: Vec<Value> = score
                    .events
                    .iter()
                    .map(|found| {
                        let (start, end) = found.event.window(tolerance);
                        // The first flags in the window; a window of millions lists a hundred.
                        let mut flagged: Vec<u64> = device
                            .flagged
                            .range(start..=end)
                            .take(101)
                            .copied()
                            .collect();
                        let more = flagged.len() > 100;
                        flagged.truncate(100);
                        json!({
                            "anomaly_id": found.event.id,
                            "kind": found.event.kind.name(),
                            "first_sequence": found.event.first,
                            "last_sequence": found.event.last,
                            "window": [start, end],
                            "found": found.at.is_some(),
                            "first_flag": found.at,
                            "delay": found.at.map(|at| at - found.event.first),
                            "flagged": flagged,
                            "more_flagged": more,
                        })
                    })
                    .collect();
                json!({
                    "device_id": id,
                    "score": summary(score),
                    "received": device.stream.received,
                    "gaps": device.stream.gaps(),
                    "duplicates": device.stream.duplicates,
                    "out_of_order": device.stream.out_of_order,
                    "verdicts": device.verdicts,
                    "flagged": device.flagged.len(),
                    "events": events,
                })
            })
            .collect();
        let report = json!({
            "generated": format_rfc3339_millis(now_ms),
            "settings": {
                "broker": self.settings.broker_url,
                "filter": self.settings.filter,
                "labels_filter": self.settings.labels_filter,
                "verdicts": self.settings.verdicts,
                "tolerance": tolerance,
                "detector": if self.settings.detector { "baseline" } else { "off" },
            },
            "total": summary(&total),
            "devices": devices,
        });
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }
}

/// A score's figures as JSON (`null` where undefined), per kind too.
fn summary(score: &Score) -> Value {
    let kinds: serde_json::Map<String, Value> = AnomalyKind::ALL
        .iter()
        .map(|kind| {
            let k = score.by_kind[kind.index()];
            (
                kind.name().to_owned(),
                json!({"events": k.events, "found": k.found, "recall": k.recall, "mean_delay": k.mean_delay}),
            )
        })
        .collect();
    json!({
        "tp": score.tp,
        "fp": score.fp,
        "fn": score.fn_,
        "precision": score.precision,
        "recall": score.recall,
        "f1": score.f1,
        "mean_delay": score.mean_delay,
        "nab": score.nab,
        "flagged_outside": score.flagged_outside,
        "by_kind": kinds,
    })
}
