//! The browser edge: the only code that touches `WebSocket`, timers and clocks. It feeds a
//! [`Fleet`] what happens, carries out the [`Action`]s it asks for, and hands the page a
//! [`Snapshot`] at display rate. The page's other ties to the browser (files, clipboard,
//! storage, theme, the address bar) are in [`browser`].

pub mod browser;
#[cfg(feature = "latency")]
mod latency;
pub mod monitor;
mod socket;
mod ticker;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;

use crate::device::{Counters, LogEntry, LogLevel, Status, Time};
use crate::fleet::{Fleet, RateMeter, Row};
use crate::link::Action;
use crate::sensor::AnomalyKind;
use crate::settings::Settings;
use crate::watch::{self, Watch};
use socket::{Socket, SocketEvent};
use ticker::Ticker;

#[cfg(feature = "latency")]
pub use latency::LatencyView;

/// The longest the device sleeps: the status countdown and counters refresh at least this often.
const MAX_SLEEP_MS: u64 = 1000;

/// The current time on the page's two clocks.
pub fn now() -> Time {
    #[cfg(not(feature = "latency"))]
    thread_local! {
        // Looked up once: `now` runs for every frame from every socket.
        static PERFORMANCE: Option<web_sys::Performance> =
            web_sys::window().and_then(|w| w.performance());
    }
    #[cfg(not(feature = "latency"))]
    let mono = PERFORMANCE
        .with(|p| p.as_ref().map(web_sys::Performance::now))
        .unwrap_or_else(js_sys::Date::now);
    #[cfg(feature = "latency")]
    let mono = mono_ms_f64();
    Time {
        mono_ms: mono.max(0.0) as u64,
        wall_ms: js_sys::Date::now() as i64,
    }
}

/// The monotonic clock in fractional ms, counting whole milliseconds in step with the wall
/// clock's (from the page's time origin's own fraction): the schedule follows the larger of the
/// two, and out of step, samples would fall due up to 1 ms early for the latency subscriber.
#[cfg(feature = "latency")]
fn mono_ms_f64() -> f64 {
    thread_local! {
        static PERFORMANCE: Option<web_sys::Performance> =
            web_sys::window().and_then(|w| w.performance());
    }
    PERFORMANCE
        .with(|p| p.as_ref().map(|p| p.now() + p.time_origin().fract()))
        .unwrap_or_else(js_sys::Date::now)
        .max(0.0)
}

/// What the page shows of the fleet, sent at most [`RENDER_HZ`] times a second.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: Status,
    /// Connections accepted, of how many.
    pub connected: (usize, usize),
    /// The topic the devices publish to: `{device_id}` replaced for one device, as typed for a
    /// fleet.
    pub topic: String,
    pub active: bool,
    /// The fleet's totals.
    pub counters: Counters,
    /// PUBACKs per second over the last second.
    pub rate: u64,
    pub last_payload: Option<String>,
    /// One row per device of a fleet; empty for one device.
    pub rows: Vec<Row>,
    /// Log entries since the previous snapshot (the newest [`LOG_KEPT`]).
    pub new_log: Vec<LogEntry>,
    /// The watched sensor's chart (SVG), when it changed and the chart is shown.
    pub chart: Option<String>,
    /// The watched connection's packet list (table rows), when it changed and the inspector
    /// is shown.
    pub frames: Option<String>,
    /// Where a scenario's run is, ms after Start (the scenario player's build).
    #[cfg(feature = "scenario")]
    pub scenario_ms: Option<u64>,
    /// A run measuring latency: its figures.
    #[cfg(feature = "latency")]
    pub latency: Option<LatencyView>,
}

impl Snapshot {
    /// What the page shows before any run: nothing connected, nothing counted.
    pub fn idle() -> Self {
        Self {
            status: Status::Stopped(None),
            connected: (0, 0),
            topic: String::new(),
            active: false,
            counters: Counters::default(),
            rate: 0,
            last_payload: None,
            rows: vec![],
            new_log: vec![],
            chart: None,
            frames: None,
            #[cfg(feature = "scenario")]
            scenario_ms: None,
            #[cfg(feature = "latency")]
            latency: None,
        }
    }
}

/// The sensor the page watches, and for which views: nothing is recorded while both are
/// hidden.
struct Watching {
    sensor: usize,
    chart: bool,
    frames: bool,
    /// The device observed for it, once a fleet runs.
    device: Option<usize>,
    watch: Watch,
    /// The packet shown taken apart.
    selected: u64,
    /// When the chart was last drawn (monotonic ms).
    chart_drawn_ms: Option<u64>,
    /// The packet list keeps the device shown's packets only.
    only_shown: bool,
}

/// The chart is drawn at most this often (4 times a second). Drawn at the page's 10 Hz, a
/// 300-point SVG cost a fifth of the page's CPU at 100 msg/s in headless Chromium.
const CHART_MIN_INTERVAL_MS: u64 = 250;

/// The page redraws at most this often, whatever the message rate: the counters stay exact,
/// only their display is sampled.
pub const RENDER_HZ: u64 = 10;
/// The timer's granularity: a deadline may be met up to this late.
const TIMER_SLACK_MS: u64 = 20;
/// A change is drawn this long after it happened at the soonest.
const RENDER_MIN_DELAY_MS: u64 = 50;
/// Log entries kept between two snapshots; the page shows no more than this anyway.
pub const LOG_KEPT: usize = 200;

struct Runner {
    fleet: Option<Fleet>,
    /// One socket per device of the fleet (one in shared mode).
    sockets: Vec<Option<Socket>>,
    ticker: Option<Ticker>,
    /// When the ticker was last armed to fire (monotonic), until it fires.
    armed_at: Option<u64>,
    rate: RateMeter,
    pending_log: VecDeque<LogEntry>,
    watching: Option<Watching>,
    /// The inspector is paused.
    frames_paused: bool,
    /// The inspector lists the device shown only (a shared connection carries them all).
    frames_only: bool,
    /// A redraw is scheduled, and when the last one was.
    render_pending: bool,
    last_render_ms: u64,
    on_update: Rc<dyn Fn(Snapshot)>,
    /// The run's latency subscriber, when it measures latency, and whether the fleet waits to
    /// start (for the subscriber, if there is one: see [`drive`]).
    #[cfg(feature = "latency")]
    latency: Option<latency::Latency>,
    #[cfg(feature = "latency")]
    start_pending: bool,
}

/// Runs the page's fleet. Cloning gives another handle to the same fleet.
#[derive(Clone)]
pub struct Simulator {
    runner: Rc<RefCell<Runner>>,
}

impl Simulator {
    /// `on_update` receives a [`Snapshot`] after anything changes, at most [`RENDER_HZ`] times
    /// a second.
    pub fn new(on_update: impl Fn(Snapshot) + 'static) -> Self {
        let runner = Rc::new(RefCell::new(Runner {
            fleet: None,
            sockets: vec![],
            ticker: None,
            armed_at: None,
            rate: RateMeter::default(),
            pending_log: VecDeque::new(),
            watching: None,
            frames_paused: false,
            frames_only: false,
            render_pending: false,
            last_render_ms: 0,
            on_update: Rc::new(on_update),
            #[cfg(feature = "latency")]
            latency: None,
            #[cfg(feature = "latency")]
            start_pending: false,
        }));
        let weak = Rc::downgrade(&runner);
        let ticker = Ticker::new(move || {
            if let Some(shared) = weak.upgrade() {
                {
                    let mut runner = shared.borrow_mut();
                    runner.armed_at = None;
                    if let Some(fleet) = runner.fleet.as_mut() {
                        fleet.on_timer(now());
                    }
                    #[cfg(feature = "latency")]
                    if let Some(latency) = runner.latency.as_mut() {
                        latency.on_timer(now());
                    }
                }
                drive(&shared);
            }
        });
        if !ticker.in_worker() {
            browser::log(
                LogLevel::Warn,
                "no Web Worker: timers will be throttled while the tab is hidden",
            );
        }
        runner.borrow_mut().ticker = Some(ticker);
        Self { runner }
    }

    /// Starts a run with these settings, replacing any stopped fleet. `seed` drives the retry
    /// jitter only; the sensors' seed is in the settings.
    pub fn start(&self, settings: Settings, seed: u64) {
        {
            let mut runner = self.runner.borrow_mut();
            if runner.fleet.as_ref().is_some_and(Fleet::is_active) {
                return;
            }
            // Nor while a run waits for its subscriber or its last arrivals.
            #[cfg(feature = "latency")]
            if runner
                .latency
                .as_ref()
                .is_some_and(latency::Latency::is_active)
            {
                return;
            }
            #[cfg(feature = "latency")]
            let measured = settings.latency.then(|| settings.clone());
            let mut fleet = Fleet::new(settings, seed);
            runner.sockets = (0..fleet.connections().len()).map(|_| None).collect();
            // Watched from its first packet.
            let paused = runner.frames_paused;
            if let Some(watching) = runner.watching.as_mut() {
                watching.attach(&mut fleet, true, paused);
            }
            // Measuring latency, the fleet starts once its subscriber is subscribed; either way
            // `drive` starts it (one call, not two copies of Fleet::start in the bundle).
            #[cfg(feature = "latency")]
            {
                runner.latency =
                    measured.map(|settings| latency::Latency::new(&settings, &fleet, seed, now()));
                runner.start_pending = true;
            }
            #[cfg(not(feature = "latency"))]
            fleet.start(now());
            runner.fleet = Some(fleet);
        }
        drive(&self.runner);
    }

    /// Watches sensor `sensor` (counted over the fleet from 0) for the chart and the frame
    /// inspector, as they are shown; with neither shown, nothing is recorded.
    pub fn watch(&self, sensor: usize, chart: bool, frames: bool) {
        {
            let mut guard = self.runner.borrow_mut();
            let runner = &mut *guard;
            let same = runner.watching.as_ref().is_some_and(|w| w.sensor == sensor);
            if (!(chart || frames) || !same)
                && let Some(old) = runner.watching.take()
                && let (Some(fleet), Some(device)) = (runner.fleet.as_mut(), old.device)
            {
                fleet.observe(device, false);
            }
            if chart || frames {
                let watching = runner.watching.get_or_insert_with(|| Watching {
                    sensor,
                    chart,
                    frames,
                    device: None,
                    watch: Watch::new(0, watch::CHART_SAMPLES),
                    selected: 0,
                    chart_drawn_ms: None,
                    only_shown: runner.frames_only,
                });
                watching.watch.set_paused(runner.frames_paused);
                // Shown again, a view is drawn again.
                if chart && !watching.chart {
                    watching.watch.mark_chart_changed();
                }
                if frames && !watching.frames {
                    watching.watch.mark_frames_changed();
                }
                watching.chart = chart;
                watching.frames = frames;
                if let Some(fleet) = runner.fleet.as_mut() {
                    watching.attach(fleet, false, runner.frames_paused);
                }
            }
        }
        drive(&self.runner);
    }

    /// Lists only the device shown's packets in the inspector, or the whole connection's.
    pub fn frames_only_shown(&self, on: bool) {
        {
            let mut runner = self.runner.borrow_mut();
            runner.frames_only = on;
            if let Some(watching) = runner.watching.as_mut() {
                watching.only_shown = on;
                watching.watch.mark_frames_changed();
            }
        }
        drive(&self.runner);
    }

    /// Pauses or resumes the inspector's recording (also for the watches of later runs).
    pub fn pause_frames(&self, paused: bool) {
        {
            let mut guard = self.runner.borrow_mut();
            let runner = &mut *guard;
            runner.frames_paused = paused;
            if let Some(watching) = runner.watching.as_mut() {
                watching.watch.set_paused(paused);
                if let Some(fleet) = runner.fleet.as_mut() {
                    watching.attach(fleet, false, paused);
                }
            }
        }
        drive(&self.runner);
    }

    pub fn clear_frames(&self) {
        self.with_watch(|w| w.watch.clear_frames());
    }

    /// Selects packet `number` and returns it taken apart, as HTML.
    pub fn select_frame(&self, number: u64) -> Option<String> {
        let mut detail = None;
        self.with_watch(|w| {
            w.selected = number;
            w.watch.mark_frames_changed();
            detail = w.watch.frame(number).map(watch::frames::detail_html);
        });
        detail
    }

    fn with_watch(&self, f: impl FnOnce(&mut Watching)) {
        if let Some(watching) = self.runner.borrow_mut().watching.as_mut() {
            f(watching);
        }
        drive(&self.runner);
    }

    /// Stops gracefully: waits for PUBACKs (at most 2 s), sends DISCONNECT, closes.
    pub fn stop(&self) {
        #[cfg(feature = "latency")]
        {
            let mut runner = self.runner.borrow_mut();
            runner.start_pending = false;
            if let Some(latency) = runner.latency.as_mut() {
                let waiting = latency.is_active() && !latency.abandoned();
                latency.abandon(now());
                if waiting && latency.abandoned() {
                    let entry = latency::entry(
                        LogLevel::Info,
                        "stopped before the latency subscriber was subscribed: nothing was sent or timed".into(),
                        now(),
                    );
                    runner.pending_log.push_back(entry);
                }
            }
        }
        self.with_fleet(|fleet| fleet.stop(now()));
    }

    /// Connections waiting out a backoff try now ("Reconnect now").
    pub fn retry_now(&self) {
        self.with_fleet(|fleet| fleet.retry_now(now()));
    }

    /// Starts an anomaly of `kind` at the next sample of every device.
    /// Starts an anomaly of `kind` at the next sample of sensor `only`, or of every sensor.
    pub fn inject(&self, kind: AnomalyKind, only: Option<usize>) {
        self.with_fleet(|fleet| match only {
            Some(sensor) => fleet.inject_into(kind, sensor, now()),
            None => fleet.inject(kind, now()),
        });
    }

    /// Saves the run's samples as `dps368-<device>-<time>.csv` or `.jsonl`.
    pub fn download(&self, jsonl: bool) {
        let runner = self.runner.borrow();
        let Some(fleet) = runner.fleet.as_ref() else {
            return;
        };
        #[cfg(feature = "latency")]
        let probe = runner.latency.as_ref().map(latency::Latency::probe);
        #[cfg(feature = "latency")]
        let (text, extension, mime) = match (probe, jsonl) {
            // Each row's latency in ms, empty (null) where it never arrived.
            (Some(probe), true) => (
                fleet.export_jsonl_with(|id, seq| {
                    let value = probe
                        .latency_of(id, seq)
                        .map_or_else(|| "null".to_owned(), crate::latency::millis);
                    Some(("latency_ms", value))
                }),
                "jsonl",
                "application/jsonl",
            ),
            (Some(probe), false) => (
                fleet.export_csv_with(Some("latency_ms"), |id, seq| {
                    probe.latency_of(id, seq).map(crate::latency::millis)
                }),
                "csv",
                "text/csv",
            ),
            (None, true) => (fleet.export_jsonl(), "jsonl", "application/jsonl"),
            (None, false) => (fleet.export_csv(), "csv", "text/csv"),
        };
        #[cfg(not(feature = "latency"))]
        let (text, extension, mime) = if jsonl {
            (fleet.export_jsonl(), "jsonl", "application/jsonl")
        } else {
            (fleet.export_csv(), "csv", "text/csv")
        };
        let stamp =
            crate::sensor::format_rfc3339_millis(js_sys::Date::now() as i64).replace(':', "-");
        let device_id = fleet
            .connections()
            .first()
            .map(|d| d.settings().device_id.as_str())
            .unwrap_or_default();
        let name = format!("dps368-{device_id}-{stamp}.{extension}");
        browser::save_file(&name, &text, mime);
    }

    /// Ends at once, best effort (page unload): DISCONNECT if connected, then close.
    pub fn shutdown(&self) {
        self.with_fleet(|fleet| fleet.shutdown(now()));
    }

    /// Whether timers run in a Web Worker, and so keep time while the tab is hidden.
    pub fn timers_in_worker(&self) -> bool {
        self.runner
            .borrow()
            .ticker
            .as_ref()
            .is_some_and(Ticker::in_worker)
    }

    pub fn is_active(&self) -> bool {
        self.runner
            .borrow()
            .fleet
            .as_ref()
            .is_some_and(Fleet::is_active)
    }

    fn with_fleet(&self, f: impl FnOnce(&mut Fleet)) {
        {
            let mut runner = self.runner.borrow_mut();
            let Some(fleet) = runner.fleet.as_mut() else {
                return;
            };
            f(fleet);
        }
        drive(&self.runner);
    }
}

/// Carries out the fleet's actions, re-arms the one timer, and schedules a redraw. Runs after
/// every socket event, so it does no more than that: the snapshot is built at display rate.
fn drive(shared: &Rc<RefCell<Runner>>) {
    let weak = Rc::downgrade(shared);
    let mut guard = shared.borrow_mut();
    let runner = &mut *guard;
    let Some(fleet) = runner.fleet.as_mut() else {
        return;
    };
    #[cfg(feature = "latency")]
    if runner.start_pending
        && runner
            .latency
            .as_ref()
            .is_none_or(latency::Latency::may_start)
    {
        runner.start_pending = false;
        let t = now();
        fleet.start(t);
        if let Some(latency) = runner.latency.as_mut() {
            latency.started(t);
        }
    }
    // A recording played once has been read by every sensor and delivered: Stop, before the
    // actions are carried out, so that its DISCONNECTs go out now.
    fleet.stop_if_finished(now());
    // The latency subscriber first: it starts the fleet once subscribed.
    #[cfg(feature = "latency")]
    let measuring = match runner.latency.as_mut() {
        Some(latency) => {
            let pending_log = &mut runner.pending_log;
            let t = now();
            let subscriber_weak = weak.clone();
            latency.drive(
                fleet,
                t,
                |url| {
                    let weak = subscriber_weak.clone();
                    Socket::open(url, move |event| {
                        on_socket_event(&weak, latency::SUBSCRIBER, event)
                    })
                },
                &mut |level, text| {
                    browser::log(level, &text);
                    pending_log.push_back(latency::entry(level, text, t));
                },
            );
            latency.is_active()
        }
        None => false,
    };
    #[cfg(not(feature = "latency"))]
    let measuring = false;
    while let Some((index, action)) = fleet.poll_action() {
        let Some(slot) = runner.sockets.get_mut(index) else {
            continue;
        };
        match action {
            Action::Open { url } => {
                // Dropping the old socket first removes its handlers and closes it.
                *slot = None;
                let handler_weak = weak.clone();
                let opened = Socket::open(&url, move |event| {
                    on_socket_event(&handler_weak, index, event)
                });
                match opened {
                    Ok(socket) => *slot = Some(socket),
                    Err(reason) => {
                        browser::log(LogLevel::Error, &format!("WebSocket: {reason}"));
                        fleet.on_closed(index, now());
                    }
                }
            }
            Action::Send(bytes) => {
                let sent = slot.as_ref().map(|s| s.send(&bytes));
                if !matches!(sent, Some(Ok(()))) {
                    fleet.on_closed(index, now());
                }
            }
            Action::Close => *slot = None,
        }
    }
    let t = now();
    if (fleet.is_active() || measuring)
        && let Some(ticker) = runner.ticker.as_mut()
    {
        // Wake-ups fall on a grid of TIMER_SLACK_MS: the samples of a fleet (or of a fast
        // device) due within one step are made in one turn, each still stamped with its own due
        // time. 200 devices at 1 Hz wake the page 50 times a second, not 200.
        #[cfg(feature = "latency")]
        let subscriber = runner
            .latency
            .as_ref()
            .and_then(latency::Latency::poll_timeout);
        #[cfg(not(feature = "latency"))]
        let subscriber = None;
        let wake = fleet
            .poll_timeout()
            .into_iter()
            .chain(subscriber)
            .min()
            .unwrap_or(u64::MAX)
            .min(t.mono_ms + MAX_SLEEP_MS)
            .div_ceil(TIMER_SLACK_MS)
            .saturating_mul(TIMER_SLACK_MS);
        // Posting to the worker costs; only when the wake-up must come sooner. (An armed time
        // that has just passed means its tick is on its way, behind the events being handled;
        // one a second overdue was lost, and is armed again.)
        if runner
            .armed_at
            .is_none_or(|armed| wake < armed || armed + MAX_SLEEP_MS < t.mono_ms)
        {
            ticker.arm(wake.saturating_sub(t.mono_ms) as u32);
            runner.armed_at = Some(wake);
        }
    }
    while let Some(entry) = fleet.poll_log() {
        browser::log(entry.level, &entry.text);
        if runner.pending_log.len() == LOG_KEPT {
            runner.pending_log.pop_front();
        }
        runner.pending_log.push_back(entry);
    }
    schedule_render(runner, weak, t.mono_ms, RENDER_MIN_DELAY_MS);
}

/// Asks for a redraw at least `at_least_ms` from now, and at most [`RENDER_HZ`] a second,
/// unless one is already on its way.
fn schedule_render(
    runner: &mut Runner,
    weak: Weak<RefCell<Runner>>,
    now_ms: u64,
    at_least_ms: u64,
) {
    if runner.render_pending {
        return;
    }
    runner.render_pending = true;
    let delay = (runner.last_render_ms + 1000 / RENDER_HZ)
        .saturating_sub(now_ms)
        .max(at_least_ms);
    // A one-shot closure handed to JS frees itself once it has run (a forgotten `Timeout`
    // would leak one closure per redraw).
    let callback = wasm_bindgen::closure::Closure::once_into_js(move || {
        if let Some(shared) = weak.upgrade() {
            render(&shared);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
            callback.unchecked_ref(),
            delay as i32,
        );
    }
}

/// Builds the snapshot and hands it to the page.
fn render(shared: &Rc<RefCell<Runner>>) {
    let (snapshot, on_update) = {
        let mut guard = shared.borrow_mut();
        let runner = &mut *guard;
        runner.render_pending = false;
        let t = now();
        runner.last_render_ms = t.mono_ms;
        let Some(fleet) = runner.fleet.as_mut() else {
            return;
        };
        let (chart, frames, chart_later) = match runner.watching.as_mut() {
            Some(watching) => watching.draw(fleet, t),
            None => (None, None, None),
        };
        let counters = fleet.totals();
        #[cfg(feature = "latency")]
        let measuring = runner
            .latency
            .as_ref()
            .is_some_and(latency::Latency::is_active);
        #[cfg(not(feature = "latency"))]
        let measuring = false;
        let active = fleet.is_active() || measuring;
        let many = fleet.sensor_count() > 1;
        let topic = fleet.connections().first().map(|d| {
            let settings = d.settings();
            if many {
                settings.topic_template.clone()
            } else {
                settings.topic.clone()
            }
        });
        let snapshot = Snapshot {
            status: fleet.status(t),
            connected: fleet.connected(),
            topic: topic.unwrap_or_default(),
            active,
            counters,
            // Nothing is acknowledged once stopped, whatever the last second saw.
            rate: match active {
                true => runner.rate.record(t.mono_ms, counters.acked),
                false => 0,
            },
            last_payload: fleet.last_payload().map(str::to_owned),
            rows: if many { fleet.rows(t) } else { vec![] },
            new_log: std::mem::take(&mut runner.pending_log).into(),
            chart,
            frames,
            #[cfg(feature = "scenario")]
            scenario_ms: fleet.stage(t).map(|stage| stage.elapsed_ms),
            #[cfg(feature = "latency")]
            latency: runner.latency.as_mut().map(|l| l.view(fleet)),
        };
        // A chart held back to its own pace is drawn when its turn comes, even if nothing else
        // happens by then.
        if let Some(delay) = chart_later {
            schedule_render(runner, Rc::downgrade(shared), t.mono_ms, delay);
        }
        (snapshot, runner.on_update.clone())
    };
    // Outside the borrow: the page may call back into the simulator.
    on_update(snapshot);
}

impl Watching {
    /// Observes the device that publishes for the watched sensor, from a fresh watch when
    /// `fresh` (a new run) or when it is another device than before; with no such sensor in
    /// the fleet, an empty one.
    fn attach(&mut self, fleet: &mut Fleet, fresh: bool, paused: bool) {
        let Some((device, source)) = fleet.locate(self.sensor) else {
            self.device = None;
            self.fresh_watch(0, paused);
            return;
        };
        if fresh || self.device != Some(device) {
            self.fresh_watch(source, paused);
        }
        // Packets that were not recorded leave a broken stream behind.
        let packets = self.frames && !paused;
        if packets && !fleet.connections()[device].observes_packets() {
            self.watch.restart_stream();
        }
        self.device = Some(device);
        fleet.observe(device, true);
        fleet.observe_packets(device, packets);
    }

    fn fresh_watch(&mut self, source: usize, paused: bool) {
        self.watch = Watch::new(source, watch::CHART_SAMPLES);
        self.watch.set_paused(paused);
        self.selected = 0;
    }

    /// Takes in what the device did since the last redraw; the chart when a sample came (at
    /// most every [`CHART_MIN_INTERVAL_MS`]; else also how long until it may be drawn) and the
    /// packet list when a packet did, each only while shown.
    fn draw(
        &mut self,
        fleet: &mut Fleet,
        t: Time,
    ) -> (Option<String>, Option<String>, Option<u64>) {
        if let Some(device) = self.device {
            while let Some(event) = fleet.poll_observed(device) {
                self.watch.feed(event, t.wall_ms);
            }
        }
        let mut chart = None;
        let mut later = None;
        if self.chart && self.watch.chart_pending() {
            let since = self
                .chart_drawn_ms
                .map_or(u64::MAX, |drawn| t.mono_ms.saturating_sub(drawn));
            if since >= CHART_MIN_INTERVAL_MS {
                self.watch.take_chart_changed();
                self.chart_drawn_ms = Some(t.mono_ms);
                let title = format!(
                    "Pressure and temperature of {}, last {} samples",
                    fleet.sensor_id(self.sensor).unwrap_or("no such device"),
                    self.watch.chart_len()
                );
                let width = if browser::narrow_screen() {
                    watch::chart::NARROW
                } else {
                    watch::chart::WIDE
                };
                chart = Some(watch::chart::svg(
                    self.watch.points(),
                    self.watch.chart_len(),
                    &title,
                    width,
                ));
            } else {
                later = Some(CHART_MIN_INTERVAL_MS - since);
            }
        }
        let only = self
            .only_shown
            .then(|| fleet.sensor_id(self.sensor).map(str::to_owned))
            .flatten();
        let frames = (self.watch.take_frames_changed() && self.frames).then(|| {
            watch::frames::list_html(self.watch.frames().iter(), self.selected, only.as_deref())
        });
        (chart, frames, later)
    }
}

fn on_socket_event(weak: &Weak<RefCell<Runner>>, index: usize, event: SocketEvent) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    {
        let mut runner = shared.borrow_mut();
        let Some(fleet) = runner.fleet.as_mut() else {
            return;
        };
        let t = now();
        #[cfg(feature = "latency")]
        if index == latency::SUBSCRIBER {
            let received_us = (mono_ms_f64() * 1000.0) as u64;
            if let Some(latency) = runner.latency.as_mut() {
                latency.on_socket(event, received_us, t);
            }
            drop(runner);
            return drive(&shared);
        }
        match event {
            SocketEvent::Open => fleet.on_open(index, t),
            SocketEvent::Binary(bytes) => fleet.on_bytes(index, &bytes, t),
            SocketEvent::Text => fleet.on_text_frame(index, t),
            SocketEvent::Closed => fleet.on_closed(index, t),
        }
    }
    drive(&shared);
}
