//! `dps368-sim monitor`: one MQTT session that subscribes to the telemetry, labels and verdicts
//! filters, hands every message to the core's [`Monitor`] and publishes the built-in detector's
//! verdicts, as the monitor page's transport does; reconnects with the simulator's backoff
//! (the session asks for its subscriptions again after a CONNACK without a session). Drained
//! after every input, never re-entered; a status line once a second on a terminal.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dps368_core::device::backoff_delay_ms;
use dps368_core::link::Tag;
use dps368_core::monitor::Monitor;
use dps368_core::mqtt::{Granted, QoS};
use dps368_core::sensor::Rng;
use dps368_core::session::{CloseReason, Event, PublishError, Session, SessionConfig};
use dps368_core::settings::shown_url;
use tokio::sync::mpsc;

use super::args::Options;
use crate::net::{Connection, Io};

/// Unreadable messages named one by one; the rest are counted.
const PROBLEMS_LOGGED: u64 = 20;

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
    let mono = || start.elapsed().as_millis() as u64;
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let client_id = format!("dps368-mon-{:08x}", crate::args::random_u64() as u32);
    let mut session: Session<Tag> = Session::new(SessionConfig {
        clean_session: true,
        keep_alive_s: 30,
        max_in_flight: 256,
        username: options.username.clone(),
        password: options.password.clone(),
        ..SessionConfig::new(client_id.clone())
    });
    let mut monitor = Monitor::new(options.settings.clone());
    let filters: Vec<(&str, QoS)> = monitor
        .filters()
        .into_iter()
        .map(|f| (f, QoS::AtLeastOnce))
        .collect();
    if let Err(error) = session.subscribe(&filters, mono()) {
        eprintln!("dps368-sim monitor: cannot subscribe: {error}");
        return Err(ExitCode::from(2));
    }
    let settings = monitor.settings().clone();
    eprintln!(
        "dps368-sim monitor: {} as {client_id}; telemetry {}, labels {}, verdicts {}{}",
        shown_url(&settings.broker_url),
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
    let mut generation = 1u64;
    let mut connection = Some(Connection::open(
        target.clone(),
        0,
        generation,
        io_tx.clone(),
    ));
    // Attempts since the last connection that stayed up, and when the next one is due.
    let mut attempt = 1u32;
    let mut connected_since: Option<u64> = None;
    let mut ever_connected = false;
    // The socket opened and CONNECT went: the session now reports how the connection ends.
    let mut in_session = false;
    let mut retry_at: Option<u64> = None;
    let mut jitter = Rng::new(crate::args::random_u64());
    let mut reasons = std::collections::HashSet::new();
    let tty = std::io::stderr().is_terminal();
    let mut stats = tokio::time::interval(Duration::from_secs(1));
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut sigterm = crate::terminate_signal();
    let ends = options.duration.map(|d| tokio::time::Instant::now() + d);
    let at = |ms: u64| tokio::time::Instant::from_std(start + Duration::from_millis(ms));
    let reason = loop {
        // Drain: the session's events, then the verdicts to publish, then the bytes to send.
        loop {
            let mut handled = 0;
            while let Some(event) = session.poll_event() {
                handled += 1;
                match event {
                    Event::Connected { .. } => {
                        connected_since = Some(mono());
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
                            monitor.on_message(&publish.topic, &publish.payload, wall())
                        {
                            let count = monitor.counts().unreadable;
                            if count <= PROBLEMS_LOGGED {
                                crate::clear_status(tty);
                                eprintln!("dps368-sim monitor: unreadable: {problem}");
                            }
                        }
                    }
                    Event::Closed(close) => {
                        in_session = false;
                        // As the simulator's devices do: attempts count from the last
                        // connection that stayed up.
                        let stable = connected_since.take().is_some_and(|since| {
                            mono().saturating_sub(since)
                                >= dps368_core::device::STABLE_CONNECTION_MS
                        });
                        if stable {
                            attempt = 1;
                        }
                        if close != CloseReason::Disconnected {
                            let text = close.to_string();
                            if reasons.insert(text.clone()) && reasons.len() <= 20 {
                                crate::clear_status(tty);
                                eprintln!("dps368-sim monitor: connection ended: {text}");
                            }
                        }
                        if let Some(c) = connection.take() {
                            drop(c.close());
                        }
                        let delay = backoff_delay_ms(attempt, jitter.next_f64());
                        attempt = attempt.saturating_add(1);
                        retry_at = Some(mono() + delay);
                    }
                    Event::Skipped { topic, size } => {
                        let problem = monitor.on_oversized(&topic, size);
                        crate::clear_status(tty);
                        eprintln!("dps368-sim monitor: {problem}");
                    }
                    Event::Acked { .. } | Event::PingSent | Event::Unsubscribed(_) => {}
                }
            }
            while session.can_publish() {
                let Some((topic, payload)) = monitor.pop_outgoing() else {
                    break;
                };
                match session.publish(&topic, payload.clone(), Tag::Verdict, mono()) {
                    Ok(_) => {}
                    Err(PublishError::Unencodable) => monitor.drop_outgoing(),
                    Err(_) => {
                        monitor.push_back_outgoing((topic, payload));
                        break;
                    }
                }
            }
            while let Some(bytes) = session.poll_transmit() {
                if let Some(c) = &connection {
                    c.send(bytes);
                }
            }
            if handled == 0 {
                break;
            }
        }
        let deadline = match (session.poll_timeout(), retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            Some(io) = io_rx.recv() => {
                let now = mono();
                let current = |g: u64| connection.as_ref().is_some_and(|c| c.generation == g);
                match io {
                    Io::Opened { generation: g, .. } if current(g) => {
                        in_session = true;
                        session.connect(now);
                    }
                    Io::Bytes { generation: g, bytes, .. } if current(g) => session.handle_input(&bytes, now),
                    Io::Text { generation: g, .. } if current(g) => session.abort(CloseReason::TextFrame),
                    Io::Closed { generation: g, error, .. } if current(g) => {
                        if let Some(error) = error
                            && reasons.insert(error.clone())
                            && reasons.len() <= 20
                        {
                            crate::clear_status(tty);
                            eprintln!("dps368-sim monitor: {error}");
                        }
                        connection = None;
                        if in_session {
                            // The session says it ended; its event schedules the retry.
                            session.transport_closed();
                        } else {
                            // It never got as far as MQTT: a refused or unreachable socket.
                            let delay = backoff_delay_ms(attempt, jitter.next_f64());
                            attempt = attempt.saturating_add(1);
                            retry_at = Some(now + delay);
                        }
                    }
                    _ => {}
                }
            }
            _ = crate::sleep_until(deadline.map(at)) => {
                let now = mono();
                session.handle_timeout(now);
                if retry_at.is_some_and(|t| now >= t) {
                    retry_at = None;
                    generation += 1;
                    connection = Some(Connection::open(target.clone(), 0, generation, io_tx.clone()));
                }
            }
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
    if session.is_connected() {
        // What the detector still has to say goes out first.
        while session.can_publish() {
            let Some((topic, payload)) = monitor.pop_outgoing() else {
                break;
            };
            if session
                .publish(&topic, payload, Tag::Verdict, mono())
                .is_err()
            {
                break;
            }
        }
        session.disconnect(mono());
        while let Some(bytes) = session.poll_transmit() {
            if let Some(c) = &connection {
                c.send(bytes);
            }
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
            shown_url(&settings.broker_url)
        );
        return Err(ExitCode::FAILURE);
    }
    Ok(monitor)
}
