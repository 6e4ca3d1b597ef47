//! The monitor's scoring under load: 200 devices, 1,000,000 flags and 100,000 events, fed as
//! messages; then what one redraw's scoring costs when every device changed (what every redraw
//! cost before scores were kept per device), when a tenth did, and when none did.
//!
//! `cargo run --release -p dps368-core --example score_bench` (scripts/bench.sh, section s).

use std::time::Instant;

use dps368_core::monitor::{Monitor, MonitorForm};

const DEVICES: u64 = 200;
const SAMPLES: u64 = 20_000;
const EVENTS: u64 = 500;
const FLAGS: u64 = 5_000;
const ROUNDS: usize = 20;

fn main() {
    let mut monitor = Monitor::new(MonitorForm::default().validate().expect("the defaults"));
    let fed = Instant::now();
    for d in 0..DEVICES {
        let id = format!("bench-{d:03}");
        let topic = format!("device/{id}/telemetry");
        for sequence in 1..=SAMPLES {
            let payload = format!(
                r#"{{"timestamp":"2026-12-02T00:00:00.000Z","device_id":"{id}","sequence":{sequence},"data":{{"pressure":1013.25,"temperature":24.5}}}}"#
            );
            monitor
                .on_message(&topic, payload.as_bytes(), 0)
                .expect("telemetry");
        }
        // An event every 40 samples, 8 long; a flag on every 4th sample (a fifth of them in a
        // window: 800,000 false positives).
        for e in 0..EVENTS {
            let first = 40 * e + 10;
            let label = format!(
                r#"{{"device_id":"{id}","anomaly_id":{},"kind":"drift","first_sequence":{first},"last_sequence":{}}}"#,
                e + 1,
                first + 7
            );
            monitor
                .on_message(&format!("device/{id}/labels"), label.as_bytes(), 0)
                .expect("label");
        }
        for f in 0..FLAGS {
            let verdict = format!(r#"{{"sequence":{},"anomaly":true,"score":1}}"#, 4 * f + 2);
            monitor
                .on_message(&format!("device/{id}/verdict"), verdict.as_bytes(), 0)
                .expect("verdict");
        }
    }
    let (total, _) = monitor.scores();
    println!(
        "fed {} devices, {} samples, {} events, {} flags in {:.1} s (TP {}, FP {}, NAB {:.1})",
        DEVICES,
        DEVICES * SAMPLES,
        total.events,
        total.flagged,
        fed.elapsed().as_secs_f64(),
        total.tp,
        total.fp,
        total.nab[0].unwrap_or(f64::NAN)
    );
    let mut next = SAMPLES;
    let mut redraw = |changed: u64, monitor: &mut Monitor| {
        let mut times = vec![];
        for _ in 0..ROUNDS {
            next += 1;
            // `changed` devices get a new sample (NAB's rows change) and a verdict on it.
            for d in 0..changed {
                let id = format!("bench-{d:03}");
                let payload = format!(
                    r#"{{"timestamp":"2026-12-02T00:00:00.000Z","device_id":"{id}","sequence":{next},"data":{{"pressure":1013.25,"temperature":24.5}}}}"#
                );
                monitor
                    .on_message(&format!("device/{id}/telemetry"), payload.as_bytes(), 0)
                    .expect("telemetry");
            }
            let started = Instant::now();
            let (total, per_device) = monitor.scores();
            std::hint::black_box((&total, &per_device));
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        (times[times.len() / 2], times[times.len() - 1])
    };
    for (what, changed) in [
        ("every device changed (the old full rescore)", DEVICES),
        (
            "a quarter changed (50: 200 devices at 1 Hz, 4 redraws a second)",
            DEVICES / 4,
        ),
        ("a tenth changed (20)", DEVICES / 10),
        ("nothing changed", 0),
    ] {
        let (median, max) = redraw(changed, &mut monitor);
        println!(
            "one redraw's scoring, {what}: median {median:.2} ms, max {max:.2} ms over {ROUNDS} redraws"
        );
    }
    let started = Instant::now();
    let board = monitor.scoreboard();
    println!(
        "the scoreboard's HTML, nothing changed: {:.2} ms ({} bytes)",
        started.elapsed().as_secs_f64() * 1000.0,
        board.len()
    );
}
