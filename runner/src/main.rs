//! `dps368-sim`: the page's simulation as a native command, for CI jobs and fleets past one
//! browser. The same core (`dps368-core`) runs it from the same settings: every page setting is
//! a flag named like its URL parameter (`--device-id` or `--device_id`), and the seed program's
//! environment variables work too. It speaks MQTT over TCP (`mqtt://`) and WebSockets (`ws://`).
//!
//! Like the page's transport it is the thin edge: it opens and feeds the sockets the fleet asks
//! for, wakes it at its deadlines, and drains its actions and log; the fleet does the rest
//! (schedule, queues, QoS 1 redelivery, backoff, accounting at Stop).

mod args;
mod flags;
mod generate;
mod latency;
mod net;
mod scoring;
mod tls;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dps368_core::device::{LogLevel, Time};
use dps368_core::fleet::Fleet;
use dps368_core::link::Action;
use tokio::sync::mpsc;

use latency::{SUBSCRIBER, Subscriber};
use net::{Connection, Io};
use scoring::args::Command;

fn main() -> ExitCode {
    let mut arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        Some("score") => return scoring::main(Command::Score, arguments.split_off(1)),
        Some("monitor") => return scoring::main(Command::Monitor, arguments.split_off(1)),
        Some("generate") => return generate::main(arguments.split_off(1)),
        _ => {}
    }
    let options = match args::parse(arguments, |name| std::env::var(name).ok()) {
        Ok(args::Parsed::Help) => {
            print!("{}", args::help());
            return ExitCode::SUCCESS;
        }
        Ok(args::Parsed::Run(options)) => options,
        Err(errors) => {
            for error in errors {
                eprintln!("dps368-sim: {error}");
            }
            eprintln!("dps368-sim: nothing was sent; see --help");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dps368-sim: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(*options));
    // A connection attempt still resolving a name must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// The two clocks the core reads, from one start.
struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts the monotonic clock on a millisecond of the wall clock's, so that the two count
    /// whole milliseconds in step: the schedule follows the larger, and a wall clock whose
    /// millisecond turns up to 1 ms before the monotonic one's would make samples due early
    /// (which `--latency`, timing from the due time, would see).
    fn new() -> Self {
        let now = Instant::now();
        let sub_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros() % 1000);
        Self {
            start: now
                .checked_sub(Duration::from_micros(sub_ms.into()))
                .unwrap_or(now),
        }
    }

    fn now(&self) -> Time {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Time {
            mono_ms: self.start.elapsed().as_millis() as u64,
            wall_ms: wall,
        }
    }

    fn instant(&self, mono_ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_millis(mono_ms))
    }
}

async fn run(options: args::Options) -> ExitCode {
    let clock = Clock::new();
    let mut fleet = Fleet::shard(options.settings.clone(), args::random_u64(), options.shard);
    // TCP connections do not queue behind each other as a browser's handshakes do.
    fleet.set_open_slots(OPEN_AT_ONCE);
    raise_file_limit(fleet.connections().len());
    // Each distinct reason a connection failed, printed once (a fleet fails alike); at most
    // MAX_REASONS of them.
    let mut reasons = std::collections::HashSet::new();
    let (io_tx, mut io_rx) = mpsc::unbounded_channel::<Io>();
    let mut connections: Vec<Option<Connection>> =
        (0..fleet.connections().len()).map(|_| None).collect();
    let mut generation = 0u64;
    // Connections closed by the fleet, still writing what they were given (a DISCONNECT).
    let mut closing: Vec<tokio::task::JoinHandle<()>> = vec![];
    let tty = std::io::stderr().is_terminal();
    let mut stats = tokio::time::interval(Duration::from_secs(1));
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_acked = 0;
    let mut stopping = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut sigterm = terminate_signal();
    // --duration counts from the fleet's start (with --latency, once subscribed).
    let mut ends = None;
    let subscribe_by = tokio::time::Instant::now() + SUBSCRIBE_DEADLINE;

    let numbers = options.shard.numbers(options.settings.devices.max(1));
    eprintln!(
        "dps368-sim: devices {}..={} of {} to {} ({}), seed {}",
        numbers.start(),
        numbers.end(),
        options.settings.devices,
        options.settings.broker_url,
        match options.settings.connection {
            dps368_core::settings::Connection::PerDevice => "a connection per device",
            dps368_core::settings::Connection::Shared => "one shared connection",
        },
        options.settings.sensor.seed
    );
    if let Some(scenario) = &options.settings.scenario {
        eprintln!(
            "dps368-sim: playing the scenario {:?}: {} stage(s), {} event(s), {} s",
            scenario.name,
            scenario.stages.len(),
            scenario.events.len(),
            scenario.end_ms().div_ceil(1000)
        );
    }
    // With --latency the fleet starts once its subscriber has every subscription.
    let mut subscriber = options.latency.then(|| {
        let topics = fleet.sensor_count();
        eprintln!(
            "dps368-sim: --latency: subscribing to the fleet's {topics} topic(s) on a connection of its own first{}",
            if topics > dps368_core::latency::EXACT_TOPICS {
                " (one wildcard filter where the topic allows)"
            } else {
                ""
            }
        );
        Subscriber::new(
            &options.settings,
            options.target.clone(),
            &fleet,
            clock.start,
            clock.now(),
        )
    });
    if let Some(s) = &mut subscriber {
        s.act(&io_tx);
    }
    let mut started = false;
    loop {
        if let Some(s) = &mut subscriber {
            while let Some(line) = s.poll_log() {
                clear_status(tty);
                eprintln!("dps368-sim: {line}");
            }
            if let Some(filter) = s.take_refused() {
                clear_status(tty);
                eprintln!(
                    "dps368-sim: --latency: the broker refused the subscription to {filter:?}: nothing can be timed"
                );
                return ExitCode::FAILURE;
            }
        }
        if !started
            && !stopping
            && subscriber.as_ref().is_some_and(|s| !s.ready())
            && tokio::time::Instant::now() >= subscribe_by
        {
            clear_status(tty);
            eprintln!(
                "dps368-sim: --latency: the subscriber was not subscribed within {} s; nothing was sent",
                SUBSCRIBE_DEADLINE.as_secs()
            );
            return ExitCode::FAILURE;
        }
        if !started && !stopping && subscriber.as_ref().is_none_or(Subscriber::ready) {
            started = true;
            ends = options.duration.map(|d| tokio::time::Instant::now() + d);
            let now = clock.now();
            fleet.start(now);
            if let Some(s) = &mut subscriber {
                s.probe_mut()
                    .started(now, options.settings.start_ms.unwrap_or(now.wall_ms));
            }
        }
        // Drain what the fleet wants done, then its log.
        while let Some((index, action)) = fleet.poll_action() {
            match action {
                Action::Open { .. } => {
                    generation += 1;
                    connections[index] = Some(Connection::open(
                        options.target.clone(),
                        index,
                        generation,
                        io_tx.clone(),
                    ));
                }
                Action::Send(bytes) => {
                    if let Some(connection) = &connections[index] {
                        connection.send(bytes);
                    }
                }
                Action::Close => {
                    if let Some(connection) = connections[index].take() {
                        closing.push(connection.close());
                    }
                }
            }
        }
        while let Some(entry) = fleet.poll_log() {
            if options.verbose || entry.level != LogLevel::Info || options.settings.devices == 1 {
                clear_status(tty);
                eprintln!("{}", entry.text);
            }
        }
        closing.retain(|task| !task.is_finished());
        if stopping && !fleet.is_active() {
            break;
        }
        let deadline = fleet.poll_timeout().map(|at| clock.instant(at));
        let subscriber_deadline = subscriber
            .as_ref()
            .and_then(Subscriber::poll_timeout)
            .map(|at| clock.instant(at))
            .into_iter()
            .chain((!started && subscriber.is_some()).then_some(subscribe_by))
            .min();
        // Why a stop begins, when one does: every way ends the run as the page's Stop does.
        let mut stop = None;
        tokio::select! {
            Some(io) = io_rx.recv() => {
                let now = clock.now();
                if io.index() == SUBSCRIBER {
                    if let Some(s) = &mut subscriber {
                        s.on_io(io, now, &io_tx);
                    }
                    continue;
                }
                let current = |index: usize, generation: u64| {
                    connections.get(index).and_then(Option::as_ref).is_some_and(|c| c.generation == generation)
                };
                match io {
                    Io::Opened { index, generation } if current(index, generation) => fleet.on_open(index, now),
                    Io::Bytes { index, generation, bytes, .. } if current(index, generation) => fleet.on_bytes(index, &bytes, now),
                    Io::Text { index, generation } if current(index, generation) => fleet.on_text_frame(index, now),
                    Io::Closed { index, generation, error } if current(index, generation) => {
                        // Each reason once: the fleet logs the retries.
                        if let Some(error) = error
                            && reasons.len() <= MAX_REASONS
                            && reasons.insert(error.clone())
                        {
                            clear_status(tty);
                            if reasons.len() > MAX_REASONS {
                                eprintln!("dps368-sim: (more reasons connections failed are not shown)");
                            } else {
                                eprintln!("dps368-sim: {error}");
                            }
                        }
                        connections[index] = None;
                        fleet.on_closed(index, now);
                    }
                    _ => {}
                }
            }
            _ = sleep_until(deadline) => fleet.on_timer(clock.now()),
            _ = sleep_until(subscriber_deadline) => {
                if let Some(s) = &mut subscriber {
                    s.on_timer(clock.now(), &io_tx);
                }
            }
            _ = stats.tick() => {
                let totals = fleet.totals();
                let (up, of) = fleet.connected();
                let devices = fleet.sensor_count();
                let rate = totals.acked.saturating_sub(last_acked);
                last_acked = totals.acked;
                let stage = fleet.stage(clock.now());
                // The last interval's latency, and the last ten seconds' for the status line.
                let latency = subscriber.as_mut().map(|s| {
                    let interval = s.probe_mut().tick();
                    let awaited = s.probe().awaited_in(&fleet);
                    (interval, s.probe().recent(), awaited, s.ready())
                });
                if options.stats_json {
                    // Written, never panicking: a reader that went away (`| head`) must not
                    // stop the run before its DISCONNECTs.
                    let mut out = std::io::stdout().lock();
                    let stage = stage.map_or(String::new(), |s| {
                        format!(
                            ",\"stage\":{},\"stages\":{},\"stage_devices\":{},\"scenario_s\":{}",
                            s.index + 1,
                            s.stages,
                            s.devices,
                            s.elapsed_ms / 1000
                        )
                    });
                    let latency = latency.map_or(String::new(), |(interval, _, awaited, _)| {
                        format!(",\"latency_ms\":{},\"latency_awaited\":{awaited}", interval.json())
                    });
                    let _ = writeln!(
                        out,
                        "{{\"connections_up\":{up},\"connections\":{of},\"devices\":{devices},\"samples\":{},\"published\":{},\"acked\":{},\"dropped\":{},\"in_flight\":{},\"queued\":{},\"acked_per_s\":{rate}{stage}{latency}}}",
                        totals.samples, totals.published, totals.acked, totals.dropped, totals.in_flight, totals.queued
                    );
                    let _ = out.flush();
                }
                if tty {
                    let stage = stage.map_or(String::new(), |s| {
                        format!(
                            "stage {}/{} ({} devices, {} of {} s)  ",
                            s.index + 1,
                            s.stages,
                            s.devices,
                            s.elapsed_ms / 1000,
                            s.end_ms / 1000
                        )
                    });
                    let latency = latency.map_or(String::new(), |(_, recent, _, ready)| {
                        if ready {
                            format!("  {} (10 s)", recent.short())
                        } else {
                            "  waiting for the latency subscriber".into()
                        }
                    });
                    eprint!(
                        "\r\x1b[K{stage}connected {up}/{of}  {rate} msg/s  acked {}  dropped {}  queued {}{latency}",
                        totals.acked, totals.dropped, totals.queued
                    );
                }
            }
            _ = &mut ctrl_c => {
                if stopping {
                    eprintln!("\ndps368-sim: stopped at once (Ctrl-C while stopping); totals not counted");
                    return ExitCode::from(130);
                }
                // Armed again for a second Ctrl-C.
                ctrl_c.set(tokio::signal::ctrl_c());
                stop = Some("waiting up to 2 s for acknowledgements; Ctrl-C again to quit at once");
            }
            _ = sleep_until(ends), if !stopping => stop = Some("--duration reached"),
            _ = recv(&mut sigterm), if !stopping => stop = Some("SIGTERM"),
        }
        if stop.is_none() && !stopping && fleet.stop_if_finished(clock.now()) {
            stopping = true;
            clear_status(tty);
            if fleet.scenario_ended() {
                eprintln!("dps368-sim: stopping (the scenario's last stage ended)");
            } else {
                eprintln!("dps368-sim: stopping (the recording ended: --replay-loop false)");
            }
        }
        if let Some(reason) = stop {
            stopping = true;
            clear_status(tty);
            eprintln!("dps368-sim: stopping ({reason})");
            fleet.stop(clock.now());
        }
    }
    // Let every connection write what it was given (the DISCONNECTs) before the process ends.
    closing.extend(connections.into_iter().flatten().map(Connection::close));
    // The subscriber gets what is still on its way: until nothing acknowledged is awaited, or
    // for LATENCY_GRACE after the last arrival.
    let mut latency = None;
    let mut probe_for_export = None;
    if let Some(mut s) = subscriber.take() {
        let begun = tokio::time::Instant::now();
        let mut last = (s.probe().counts().received, begun);
        let mut checked = begun;
        // The awaited count walks every sensor: looked at every 100 ms at most.
        while s.ready() && s.probe().awaited_in(&fleet) > 0 {
            loop {
                let received = s.probe().counts().received;
                if received != last.0 {
                    last = (received, tokio::time::Instant::now());
                }
                let give_up = (last.1 + LATENCY_GRACE).min(begun + LATENCY_GRACE_MAX);
                if tokio::time::Instant::now() >= give_up {
                    break;
                }
                let timer = s.poll_timeout().map(|at| clock.instant(at));
                let mut quit = false;
                tokio::select! {
                    Some(io) = io_rx.recv() => {
                        if io.index() == SUBSCRIBER {
                            s.on_io(io, clock.now(), &io_tx);
                        }
                    }
                    _ = sleep_until(timer) => s.on_timer(clock.now(), &io_tx),
                    _ = tokio::time::sleep_until(give_up.min(checked + CHECK_EVERY)) => {}
                    _ = &mut ctrl_c => quit = true,
                    _ = recv(&mut sigterm) => quit = true,
                }
                if quit {
                    eprintln!(
                        "\ndps368-sim: stopped at once while the latency subscriber waited; totals not counted"
                    );
                    return ExitCode::from(130);
                }
                if tokio::time::Instant::now() >= checked + CHECK_EVERY {
                    checked = tokio::time::Instant::now();
                    break;
                }
            }
            if tokio::time::Instant::now()
                >= (last.1 + LATENCY_GRACE).min(begun + LATENCY_GRACE_MAX)
            {
                break;
            }
        }
        let now = clock.now();
        let lost = s.probe().awaited_in(&fleet);
        let (down_ms, drops) = s.down(now);
        let (whole, counts) = (s.probe().whole(), s.probe().counts());
        let probe_ready = s.ready();
        let (task, probe) = s.close(now);
        closing.extend(task);
        latency = Some((whole, counts, lost, down_ms, drops, probe_ready));
        probe_for_export = Some(probe);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for task in closing {
            let _ = task.await;
        }
    })
    .await;
    clear_status(tty);
    let totals = fleet.totals();
    let line = format!("stopped: {}", totals.totals());
    if let Some((whole, counts, lost, down_ms, drops, ready)) = &latency {
        say_latency(whole, counts, *lost, *down_ms, *drops, *ready);
    }
    if options.stats_json {
        // stdout stays JSON lines for machines; the words go to stderr.
        eprintln!("{line}");
        let latency = latency
            .as_ref()
            .map_or(String::new(), |(whole, _, lost, ..)| {
                format!(",\"latency_ms\":{},\"latency_lost\":{lost}", whole.json())
            });
        let _ = writeln!(
            std::io::stdout(),
            "{{\"final\":true,\"samples\":{},\"published\":{},\"acked\":{},\"dropped\":{}{latency}}}",
            totals.samples,
            totals.published,
            totals.acked,
            totals.dropped
        );
    } else {
        let _ = writeln!(std::io::stdout(), "{line}");
    }
    if let Some((path, csv)) = &options.export {
        let text = match (&probe_for_export, *csv) {
            (None, true) => fleet.export_csv(),
            (None, false) => fleet.export_jsonl(),
            // Each row's latency in ms, empty (null) where it never arrived.
            (Some(probe), true) => fleet.export_csv_with(Some("latency_ms"), |id, seq| {
                probe.latency_of(id, seq).map(latency::millis)
            }),
            (Some(probe), false) => fleet.export_jsonl_with(|id, seq| {
                let value = probe
                    .latency_of(id, seq)
                    .map_or_else(|| "null".to_owned(), latency::millis);
                Some(("latency_ms", value))
            }),
        };
        if let Err(error) = std::fs::write(path, text) {
            eprintln!("dps368-sim: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("dps368-sim: samples written to {}", path.display());
    }
    // For CI: success only when everything made was acknowledged (or, with --allow-drops,
    // when anything got through).
    let dropped = totals.dropped > 0 && !options.allow_drops;
    // Nothing timed (never subscribed) fails as nothing acknowledged does.
    let lost = latency
        .as_ref()
        .is_some_and(|&(_, _, lost, _, _, ready)| !ready || (lost > 0 && !options.allow_drops));
    if dropped || lost || (totals.samples > 0 && totals.acked == 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// How long the latency subscriber is given after its last arrival, at the end of a run, for
/// what is still on its way, and at most in all.
const LATENCY_GRACE: Duration = Duration::from_secs(2);
const LATENCY_GRACE_MAX: Duration = Duration::from_secs(10);
/// How often the grace looks at what is still awaited.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How long the latency subscriber has to subscribe before the run gives up.
const SUBSCRIBE_DEADLINE: Duration = Duration::from_secs(30);

/// The run's latency in words on stderr, and loudly what the subscriber never got.
fn say_latency(
    whole: &latency::Summary,
    counts: &latency::Counts,
    lost: u64,
    down_ms: u64,
    drops: u64,
    ready: bool,
) {
    if !ready {
        eprintln!("dps368-sim: latency: the subscriber never subscribed; nothing was timed");
        return;
    }
    eprintln!("dps368-sim: latency, due to received: {}", whole.words());
    if let Some(words) = counts.others_words() {
        eprintln!("dps368-sim: latency: {words}");
    }
    if let Some(words) = latency::lost_words(lost, down_ms, drops) {
        eprintln!("dps368-sim: LATENCY: {words}");
    }
}

/// Clears the status line on a terminal, before a line of text is written.
fn clear_status(tty: bool) {
    if tty {
        eprint!("\r\x1b[K");
    }
}

/// Connections opened at once.
const OPEN_AT_ONCE: usize = 64;

/// Distinct reasons for failed connections printed in a run; then one line says more came.
const MAX_REASONS: usize = 20;

/// Raises the soft limit of open files to the hard one: a connection each is a descriptor each.
fn raise_file_limit(connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < connections as u64 + 64 => eprintln!(
            "dps368-sim: warning: {limit} open files allowed, for {connections} connections: some will fail (raise `ulimit -n`)"
        ),
        Ok(_) => {}
        Err(error) => eprintln!("dps368-sim: warning: cannot raise the open-files limit: {error}"),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
fn terminate_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
fn terminate_signal() -> Option<()> {
    None
}

#[cfg(unix)]
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv(_: &mut Option<()>) {
    std::future::pending().await
}
