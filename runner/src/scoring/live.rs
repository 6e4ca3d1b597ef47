//! `dps368-sim monitor`: one MQTT session that subscribes to the telemetry, labels and verdicts
//! filters, hands every message to the core's [`Monitor`] and publishes the built-in detector's
//! verdicts, as the monitor page's transport does. Its connection's life (opening, retries with
//! backoff, the stable-connection rule) is the simulator's own [`Link`]; the session asks for
//! its subscriptions again after a CONNACK without a session. Drained after every input, never
//! re-entered; a status line once a second on a terminal.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dps368_core::device::{LogLevel, Time};
use dps368_core::link::{Action, Link};
use dps368_core::monitor::Monitor;
use dps368_core::mqtt::{Granted, QoS};
use dps368_core::session::{Event, SessionConfig};
use tokio::sync::mpsc;

use super::args::Options;
use crate::net::{Connection, Io};

/// Unreadable messages named one by one; the rest are counted.
const PROBLEMS_LOGGED: u64 = 20;
/// Reasons a connection failed named one by one; the rest are not.
const REASONS_SAID: usize = 20;

pub fn run(options: &Options) -> Result<Monitor, ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("dps368-sim monitor: cannot start: {error}");
            ExitCode::FAILURE
        })?;
    let monitor = runtime.block_on(monitor(options));
    runtime.shutdown_timeout(Duration::from_millis(500));
    monitor
}

async fn monitor(options: &Options) -> Result<Monitor, ExitCode> {
    let Some(target) = options.target.clone() else {
        return Err(ExitCode::from(2));
    };
    let start = Instant::now();
    let now = || Time {
        mono_ms: start.elapsed().as_millis() as u64,
        wall_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    let client_id = format!("dps368-mon-{:08x}", crate::args::random_u64() as u32);
    let config = SessionConfig {
        clean_session: true,
        keep_alive_s: 30,
        max_in_flight: 256,
        username: options.username.clone(),
        password: options.password.clone(),
        ..SessionConfig::new(client_id.clone())
    };
    let mut monitor = Monitor::new(options.settings.clone());
    let settings = monitor.settings().clone();
    let mut link = Link::new(
        settings.broker_url.as_str().to_owned(),
        config,
        crate::args::random_u64(),
    );
    link.start(now());
    let filters: Vec<(&str, QoS)> = monitor
        .filters()
        .into_iter()
        .map(|f| (f, QoS::AtLeastOnce))
        .collect();
    if let Err(error) = link.session().subscribe(&filters, now().mono_ms) {
        eprintln!("dps368-sim monitor: cannot subscribe: {error}");
        return Err(ExitCode::from(2));
    }
    eprintln!(
        "dps368-sim monitor: {} as {client_id}; telemetry {}, labels {}, verdicts {}{}",
        settings.broker_url,
        settings.filter,
        settings.labels_filter,
        settings.verdicts,
        if settings.detector {
            " (the built-in detector publishes there)"
        } else {
            ""
        }
    );
    let (io_tx, mut io_rx) = mpsc::unbounded_channel::<Io>();
    let mut generation = 0u64;
    let mut connection: Option<Connection> = None;
    let mut ever_connected = false;
    let mut reasons = std::collections::HashSet::new();
    let tty = std::io::stderr().is_terminal();
    let mut stats = tokio::time::interval(Duration::from_secs(1));
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut sigterm = crate::terminate_signal();
    let ends = options.duration.map(|d| tokio::time::Instant::now() + d);
    let at = |ms: u64| tokio::time::Instant::from_std(start + Duration::from_millis(ms));
    // Each reason a connection failed said once (the link retries it with backoff).
    let mut say_once = |reason: &str, tty: bool| {
        if reasons.len() < REASONS_SAID && reasons.insert(reason.to_owned()) {
            crate::clear_status(tty);
            eprintln!("dps368-sim monitor: connection ended: {reason}");
        }
    };
    let reason = loop {
        // Drain: the link's events, then the verdicts to publish, its log, what it wants done.
        loop {
            let time = now();
            let mut handled = 0;
            while let Some(event) = link.poll_event(time) {
                handled += 1;
                match event {
                    Event::Connected { .. } => {
                        ever_connected = true;
                        crate::clear_status(tty);
                        eprintln!("dps368-sim monitor: connected");
                    }
                    Event::Subscribed(answers) => {
                        for (filter, granted) in answers {
                            if granted == Granted::Failure {
                                crate::clear_status(tty);
                                eprintln!("dps368-sim monitor: {filter}: {}", granted.words());
                            }
                        }
                    }
                    Event::Message(publish) => {
                        if let Err(problem) =
                            monitor.on_message(&publish.topic, &publish.payload, time.wall_ms)
                        {
                            let count = monitor.counts().unreadable;
                            if count <= PROBLEMS_LOGGED {
                                crate::clear_status(tty);
                                eprintln!("dps368-sim monitor: unreadable: {problem}");
                            }
                        }
                    }
                    Event::Skipped { topic, size } => {
                        let problem = monitor.on_oversized(&topic, size);
                        crate::clear_status(tty);
                        eprintln!("dps368-sim monitor: {problem}");
                    }
                    // The link acted on a close (a retry is scheduled) and logged it; what the
                    // devices send meanwhile is the monitor's loss, not their gaps.
                    Event::Closed(_) => monitor.offline(),
                    Event::Acked { .. } | Event::PingSent | Event::Unsubscribed(_) => {}
                }
            }
            if link.is_connected() {
                monitor.publish_outgoing(link.session(), time.mono_ms);
            }
            while let Some(entry) = link.poll_log() {
                if entry.level != LogLevel::Info {
                    say_once(entry.outage.as_deref().unwrap_or(&entry.text), tty);
                }
            }
            while let Some(action) = link.poll_action() {
                match action {
                    Action::Open { .. } => {
                        generation += 1;
                        connection = Some(Connection::open(
                            target.clone(),
                            0,
                            generation,
                            io_tx.clone(),
                        ));
                    }
                    Action::Send(bytes) => {
                        if let Some(c) = &connection {
                            c.send(bytes);
                        }
                    }
                    Action::Close => {
                        if let Some(c) = connection.take() {
                            drop(c.close());
                        }
                    }
                }
            }
            if handled == 0 {
                break;
            }
        }
        tokio::select! {
            Some(io) = io_rx.recv() => {
                let time = now();
                let current = |g: u64| connection.as_ref().is_some_and(|c| c.generation == g);
                match io {
                    Io::Opened { generation: g, .. } if current(g) => link.on_open(time),
                    Io::Bytes { generation: g, bytes, .. } if current(g) => link.on_bytes(&bytes, time),
                    Io::Text { generation: g, .. } if current(g) => link.on_text_frame(),
                    Io::Closed { generation: g, error, .. } if current(g) => {
                        // The socket's own words say more than the link's "cannot connect".
                        if let Some(error) = error {
                            say_once(&error, tty);
                        }
                        connection = None;
                        link.on_closed(time);
                    }
                    _ => {}
                }
            }
            _ = crate::sleep_until(link.poll_timeout().map(at)) => link.on_timer(now()),
            _ = stats.tick() => {
                if tty {
                    let (total, per_device) = monitor.scores();
                    let c = monitor.counts();
                    eprint!(
                        "\r\x1b[K{} device(s)  {} telemetry  {} verdicts  TP {} FN {} FP {}  F1 {}",
                        per_device.len(),
                        c.telemetry,
                        c.verdicts,
                        total.tp,
                        total.fn_,
                        total.fp,
                        total.f1.map_or_else(|| "-".into(), |f| format!("{f:.3}"))
                    );
                }
            }
            _ = &mut ctrl_c => break "Ctrl-C",
            _ = crate::sleep_until(ends) => break "--duration reached",
            _ = crate::recv(&mut sigterm) => break "SIGTERM",
        }
    };
    crate::clear_status(tty);
    eprintln!("dps368-sim monitor: stopping ({reason})");
    let time = now();
    if link.is_connected() {
        // What the detector still has to say goes out first.
        monitor.publish_outgoing(link.session(), time.mono_ms);
    }
    link.close(time);
    while let Some(action) = link.poll_action() {
        match action {
            Action::Send(bytes) => {
                if let Some(c) = &connection {
                    c.send(bytes);
                }
            }
            Action::Open { .. } | Action::Close => {}
        }
    }
    if let Some(c) = connection.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), c.close()).await;
    }
    let c = monitor.counts();
    eprintln!(
        "dps368-sim monitor: {} telemetry, {} label(s), {} verdict(s) received; {} unreadable",
        c.telemetry, c.labels, c.verdicts, c.unreadable
    );
    if !ever_connected {
        // Nothing was watched: no score to report, and CI must not take that for a pass.
        eprintln!(
            "dps368-sim monitor: never connected to {}; no report written",
            settings.broker_url
        );
        return Err(ExitCode::FAILURE);
    }
    Ok(monitor)
}
