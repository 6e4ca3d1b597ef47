//! A fleet: every simulated sensor of a page, one scheduler for all of them.
//!
//! The settings' Devices and Connection decide the shape: one [`Device`] (one MQTT client) per
//! sensor (`per-device`, as real devices are), or one device publishing for every sensor
//! (`shared`, as a gateway does). Either way each sensor has its own id, topic, sequence, seed,
//! queue, dataset and counters, and every delivery promise holds per sensor.
//!
//! One queue of deadlines (a binary heap) holds the next wake-up of every device, so the page
//! needs one timer, armed to [`Fleet::poll_timeout`]. Sockets open a few at a time
//! ([`OPEN_SLOTS`]): browsers run WebSocket handshakes to one host one after another, and a
//! socket queued behind a hundred others would otherwise miss its opening deadline.

pub mod generate;
mod outage;
mod rate;
#[cfg(feature = "scenario")]
mod script;
pub mod table;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

pub use outage::grouped;
pub use rate::RateMeter;

use outage::{Line, Outage};
#[cfg(feature = "scenario")]
use script::Script;

use crate::device::{
    CATCH_UP_CHUNK, Counters, Device, HISTORY_LIMIT, LogEntry, LogLevel, Source, Status, Time,
};
use crate::link::Action;
#[cfg(feature = "scenario")]
use crate::scenario::Scenario;
use crate::sensor::{AnomalyKind, Rng, csv_header};
use crate::settings::{Connection, DEVICE_ID_PLACEHOLDER, Settings, numbered};

/// How many sockets may be opening at once.
pub const OPEN_SLOTS: usize = 4;
/// The most samples the offline queues of a fleet hold together: each sensor's queue is the
/// Offline queue setting, but at most this divided by the number of sensors.
pub const FLEET_QUEUE_LIMIT: usize = 100_000;
/// The most PUBLISHes a fleet keeps in flight together: each connection's window is the Max
/// in flight setting, but at most this divided by the number of connections.
pub const FLEET_IN_FLIGHT_LIMIT: usize = 65_535;

/// The most log lines a fleet passes on per second; beyond it they are counted and summed up
/// in one line. The counters count every event; a page publishing thousands of samples a second
/// would otherwise spend a quarter of its time writing anomaly lines to the console.
pub const LOG_LINES_PER_SECOND: u32 = 50;

/// One sensor's line in the fleet table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub device_id: String,
    pub status: Status,
    pub counters: Counters,
}

#[derive(Debug)]
pub struct Fleet {
    /// One per MQTT connection: a device per sensor, or one publishing for all in shared mode.
    connections: Vec<Device>,
    /// Next wake-up of each connection, earliest first; an entry that no longer matches `armed`
    /// is stale and skipped.
    deadlines: BinaryHeap<Reverse<(u64, usize)>>,
    armed: Vec<Option<u64>>,
    /// Devices waiting for a slot to open their socket, and which ones are opening now.
    waiting: VecDeque<usize>,
    queued_for_slot: Vec<bool>,
    opening: Vec<bool>,
    opening_count: usize,
    actions: VecDeque<(usize, Action)>,
    log: VecDeque<LogEntry>,
    /// The second (monotonic) the log budget counts in, lines passed and held back in it.
    log_second: u64,
    log_passed: u32,
    log_held: u64,
    /// Which devices are running, and how many: when the last one stops, the fleet's totals
    /// are logged.
    active: Vec<bool>,
    active_count: usize,
    /// Sockets opened at once: [`OPEN_SLOTS`] in a browser; a native runner may open more.
    open_slots: usize,
    /// Connections down together since a device said so: summed up, not a line each.
    outage: Option<Outage>,
    /// The scenario the settings name, the number of this fleet's first sensor (a shard's
    /// first is not 1), and the scenario as this run plays it.
    #[cfg(feature = "scenario")]
    scenario: Option<std::sync::Arc<Scenario>>,
    first: usize,
    #[cfg(feature = "scenario")]
    script: Option<Script>,
}

/// Where a scenario's run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageNow {
    /// The stage running, from 0, of `stages`.
    pub index: usize,
    pub stages: usize,
    /// Devices the stages want connected now (over the whole fleet, every shard).
    pub devices: usize,
    /// Since Start, and when the last stage ends, ms.
    pub elapsed_ms: u64,
    pub end_ms: u64,
}

impl Fleet {
    /// A stopped fleet as the settings describe it. `seed` drives retry jitter only.
    pub fn new(settings: Settings, seed: u64) -> Self {
        Self::shard(settings, seed, Shard::WHOLE)
    }

    /// The `shard.index`-th of `shard.count` equal slices of the fleet the settings describe:
    /// its devices keep the numbers, ids, topics, seeds and places in the interval they have in
    /// the whole fleet, so the slices together are that fleet.
    pub fn shard(settings: Settings, seed: u64, shard: Shard) -> Self {
        let first = *shard.numbers(settings.devices.max(1)).start();
        let mut fleet = Self::with_devices(build(&settings, seed, shard));
        #[cfg(feature = "scenario")]
        {
            fleet.scenario = settings.scenario;
        }
        fleet.first = first;
        fleet
    }

    fn with_devices(connections: Vec<Device>) -> Self {
        let n = connections.len();
        Self {
            connections,
            deadlines: BinaryHeap::new(),
            armed: vec![None; n],
            waiting: VecDeque::new(),
            queued_for_slot: vec![false; n],
            opening: vec![false; n],
            opening_count: 0,
            actions: VecDeque::new(),
            log: VecDeque::new(),
            log_second: 0,
            log_passed: 0,
            log_held: 0,
            active: vec![false; n],
            active_count: 0,
            open_slots: OPEN_SLOTS,
            outage: None,
            #[cfg(feature = "scenario")]
            scenario: None,
            first: 1,
            #[cfg(feature = "scenario")]
            script: None,
        }
    }

    /// Lets `slots` sockets open at once (at least one): a native runner's TCP connections do
    /// not queue behind each other as a browser's WebSocket handshakes do.
    pub fn set_open_slots(&mut self, slots: usize) {
        self.open_slots = slots.max(1);
    }

    /// The MQTT connections, each a [`Device`] publishing for its sensors: one per sensor, or
    /// one for all in shared mode. A connection's index is what the socket calls and
    /// [`Fleet::poll_action`] name; a sensor's is its number in the fleet ([`Fleet::locate`]).
    pub fn connections(&self) -> &[Device] {
        &self.connections
    }

    /// Starts or stops recording typed [`crate::device::Observed`] events of connection
    /// `connection` (a chart, a frame inspector or a detector listening); see
    /// [`Device::observe`].
    pub fn observe(&mut self, connection: usize, on: bool) {
        if let Some(device) = self.connections.get_mut(connection) {
            device.observe(on);
        }
    }

    /// While connection `connection` is observed, whether its packets are recorded as well.
    pub fn observe_packets(&mut self, connection: usize, on: bool) {
        if let Some(device) = self.connections.get_mut(connection) {
            device.observe_packets(on);
        }
    }

    /// The next observation of connection `connection`, oldest first.
    pub fn poll_observed(&mut self, connection: usize) -> Option<crate::device::Observed> {
        self.connections.get_mut(connection)?.poll_observed()
    }

    /// Starts the run: every device, or as the scenario's first stage says (and the rest as
    /// its steps come due, [`Fleet::on_timer`]).
    pub fn start(&mut self, now: Time) {
        if self.is_active() {
            return;
        }
        #[cfg(feature = "scenario")]
        if let Some(scenario) = self.scenario.clone() {
            self.script = Some(Script::new(scenario, now, self.connections.len()));
            self.play(now);
            return;
        }
        self.each(now, |device| device.start(now));
    }

    pub fn stop(&mut self, now: Time) {
        self.end_script(now);
        self.each(now, |device| device.stop(now));
    }

    /// Stops, saying why, when the run has [`Fleet::finished`] (a recording played once is
    /// read and delivered) or its scenario's last stage has ended; whether it did.
    pub fn stop_if_finished(&mut self, now: Time) -> bool {
        let unreported = self.script_unreported();
        let text = match () {
            _ if unreported => "the scenario ended with its last stage; stopping",
            _ if self.finished() => {
                "the recording ended: every sensor read each of its rows once; stopping"
            }
            _ => return false,
        };
        self.log.push_back(LogEntry {
            wall_ms: now.wall_ms,
            level: LogLevel::Info,
            text: text.into(),
            outage: None,
        });
        self.stop(now);
        true
    }

    pub fn shutdown(&mut self, now: Time) {
        self.end_script(now);
        self.each(now, |device| device.shutdown(now));
    }

    /// Every connection waiting out a backoff tries now ("Reconnect now"), a few sockets at a
    /// time as ever.
    pub fn retry_now(&mut self, now: Time) {
        self.each(now, |device| device.retry_now(now));
    }

    /// Starts an anomaly of `kind` at the next sample of every sensor.
    pub fn inject(&mut self, kind: AnomalyKind, now: Time) {
        self.each(now, |device| device.inject(kind, None, now));
    }

    /// Starts an anomaly of `kind` at the next sample of sensor `sensor` only (see
    /// [`Fleet::locate`]); nothing past the last.
    pub fn inject_into(&mut self, kind: AnomalyKind, sensor: usize, now: Time) {
        if let Some((connection, source)) = self.locate(sensor) {
            self.with(connection, now, |device| {
                device.inject(kind, Some(source), now);
            });
        }
    }

    pub fn on_open(&mut self, connection: usize, now: Time) {
        self.with(connection, now, |d| d.on_open(now));
    }

    pub fn on_bytes(&mut self, connection: usize, bytes: &[u8], now: Time) {
        self.with(connection, now, |d| d.on_bytes(bytes, now));
    }

    pub fn on_text_frame(&mut self, connection: usize, now: Time) {
        self.with(connection, now, |d| d.on_text_frame(now));
    }

    pub fn on_closed(&mut self, connection: usize, now: Time) {
        self.with(connection, now, |d| d.on_closed(now));
    }

    /// Wakes the devices whose deadline has come. Deadlines that come due while they run wait
    /// for the next call, so one call never runs away: once the devices woken have made
    /// [`CATCH_UP_CHUNK`] samples between them (a long catch-up after a sleep), the rest wait
    /// for the next call, which the transport makes at once.
    pub fn on_timer(&mut self, now: Time) {
        self.play(now);
        let mut due = vec![];
        while let Some(&Reverse((at, index))) = self.deadlines.peek() {
            if at > now.mono_ms {
                break;
            }
            self.deadlines.pop();
            if self.armed[index] == Some(at) {
                self.armed[index] = None;
                due.push((at, index));
            }
        }
        let mut made = 0;
        for (at, index) in due {
            if made >= CATCH_UP_CHUNK {
                // Keeps its place: its deadline is older than those of the devices that ran
                // (now), so the next call wakes it first, and a long catch-up goes round.
                self.armed[index] = Some(at);
                self.deadlines.push(Reverse((at, index)));
                continue;
            }
            let before = self.connections[index].samples_made();
            self.with(index, now, |d| d.on_timer(now));
            made += self.connections[index].samples_made() - before;
        }
        self.check_outage(now);
    }

    /// When [`Fleet::on_timer`] next has work, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let device = self.deadlines.peek().map(|Reverse((at, _))| *at);
        let outage = self.outage.as_ref().map(Outage::next_check);
        let step = self.script_timeout();
        device.into_iter().chain(outage).chain(step).min()
    }

    /// The next thing the transport must do, for connection `.0`.
    pub fn poll_action(&mut self) -> Option<(usize, Action)> {
        self.actions.pop_front()
    }

    pub fn poll_log(&mut self) -> Option<LogEntry> {
        self.log.pop_front()
    }

    /// Some device is running (counted as devices start and stop, not looked up: the
    /// transport asks after every socket event), or a scenario is playing (a stage may have
    /// none connected yet).
    pub fn is_active(&self) -> bool {
        self.active_count > 0 || self.script_playing()
    }

    /// Connections accepted now, of how many.
    /// Every sensor has made all its run makes (a recording played once has ended) and nothing
    /// waits to be delivered: the run ends as Stop ends it. Never for an endless run.
    pub fn finished(&self) -> bool {
        !self.connections.is_empty() && self.connections.iter().all(Device::finished)
    }

    pub fn connected(&self) -> (usize, usize) {
        let up = self.connections.iter().filter(|d| d.is_connected()).count();
        (up, self.connections.len())
    }

    /// The fleet's status: the device's own when there is one connection; otherwise stopped
    /// (with the first error, if every device ended on one), stopping, connected when all are,
    /// or connecting (the page adds how many are up, [`Fleet::connected`]).
    pub fn status(&self, now: Time) -> Status {
        if let [device] = self.connections.as_slice() {
            return device.status(now);
        }
        let mut all_connected = true;
        let mut any_active = false;
        let mut error = None;
        let mut refused = None;
        for status in self.connections.iter().map(|d| d.status(now)) {
            match status {
                Status::Stopping => return Status::Stopping,
                Status::Stopped(reason) => {
                    all_connected = false;
                    error = error.or(reason);
                }
                Status::Connected => any_active = true,
                status @ Status::Retrying { refused: true, .. } => {
                    any_active = true;
                    all_connected = false;
                    refused = refused.or(Some(status));
                }
                _ => {
                    any_active = true;
                    all_connected = false;
                }
            }
        }
        // A refusal says why in words (the first device's), rather than "connecting".
        match (any_active, all_connected, refused) {
            (false, _, _) => Status::Stopped(error),
            (true, true, _) => Status::Connected,
            (true, false, Some(refused)) => refused,
            (true, false, None) => Status::Connecting,
        }
    }

    /// The totals over every sensor and connection.
    pub fn totals(&self) -> Counters {
        let mut total = Counters::default();
        for device in &self.connections {
            total.add(&device.counters());
        }
        total
    }

    /// One row per sensor, in device order.
    pub fn rows(&self, now: Time) -> Vec<Row> {
        let mut rows = Vec::with_capacity(self.sensor_count());
        for device in &self.connections {
            let status = device.status(now);
            for (index, source) in device.sources().iter().enumerate() {
                rows.push(Row {
                    device_id: source.device_id.clone(),
                    status: status.clone(),
                    counters: device.source_counters(index),
                });
            }
        }
        rows
    }

    /// Which connection publishes for sensor `sensor` (counted over the fleet from 0), and which
    /// of its sources that sensor is; `None` past the last.
    pub fn locate(&self, sensor: usize) -> Option<(usize, usize)> {
        let mut first = 0;
        for (index, device) in self.connections.iter().enumerate() {
            let count = device.sources().len();
            if sensor < first + count {
                return Some((index, sensor - first));
            }
            first += count;
        }
        None
    }

    /// The id of sensor `sensor` (see [`Fleet::locate`]).
    pub fn sensor_id(&self, sensor: usize) -> Option<&str> {
        let (device, source) = self.locate(sensor)?;
        Some(&self.connections[device].sources()[source].device_id)
    }

    pub fn sensor_count(&self) -> usize {
        self.connections.iter().map(|d| d.sources().len()).sum()
    }

    /// The JSON of a recent PUBLISH: the last one of the last device (in fleet order) that
    /// has sent any.
    pub fn last_payload(&self) -> Option<&str> {
        self.connections.iter().rev().find_map(|d| d.last_payload())
    }

    /// Every sensor's samples as CSV, one header.
    pub fn export_csv(&self) -> String {
        self.export_csv_with(None, |_, _| None)
    }

    /// [`Fleet::export_csv`] with a last column `column` whose cells are `cell(device_id,
    /// sequence)` (empty for `None`): the native runner's measured latency.
    pub fn export_csv_with(
        &self,
        column: Option<&str>,
        cell: impl Fn(&str, u64) -> Option<String>,
    ) -> String {
        let mut out = csv_header().to_owned();
        // A replay's rows carry the recording's own time of each reading, last.
        let replaying = self.connections.iter().any(|d| {
            d.sources()
                .iter()
                .any(|s| s.generator.config().replay.is_some())
        });
        if replaying {
            out.push_str(",recorded_timestamp");
        }
        let every_row = |device: &str, sequence: u64| {
            column.map(|_| cell(device, sequence).unwrap_or_default())
        };
        if let Some(column) = column {
            out.push(',');
            out.push_str(column);
        }
        out.push('\n');
        for device in &self.connections {
            device.write_csv_with(&mut out, every_row);
        }
        out
    }

    pub fn export_jsonl(&self) -> String {
        self.export_jsonl_with(|_, _| None)
    }

    /// [`Fleet::export_jsonl`] with a last field `(key, JSON value)` on each line that
    /// `field(device_id, sequence)` gives one.
    pub fn export_jsonl_with(
        &self,
        field: impl Fn(&str, u64) -> Option<(&'static str, String)>,
    ) -> String {
        let mut out = String::new();
        for device in &self.connections {
            device.write_jsonl_with(&mut out, &field);
        }
        out
    }

    fn each(&mut self, now: Time, mut f: impl FnMut(&mut Device)) {
        for index in 0..self.connections.len() {
            f(&mut self.connections[index]);
            self.settle(index, now);
        }
        self.grant_slots(now);
        self.check_outage(now);
    }

    fn with(&mut self, index: usize, now: Time, f: impl FnOnce(&mut Device)) {
        let Some(device) = self.connections.get_mut(index) else {
            return;
        };
        let was_up = device.is_connected();
        f(device);
        let came_up = !was_up && device.is_connected();
        self.settle(index, now);
        self.grant_slots(now);
        // The last connection back ends an outage at once, not at the next check: a run
        // stopped within that second would not say it.
        if came_up
            && let Some(outage) = &mut self.outage
            && self.connections.iter().all(Device::is_connected)
        {
            outage.check_now(now);
        }
        self.check_outage(now);
    }

    /// Says how an outage goes (see [`outage`]), at most once a second, and forgets it when
    /// it is over.
    fn check_outage(&mut self, now: Time) {
        let Some(outage) = &mut self.outage else {
            return;
        };
        let (lasts, line) = outage.check(&self.connections, now);
        self.log.extend(line);
        if !lasts {
            self.outage = None;
        }
    }

    /// Passes a log line on. Information and warnings are held to [`LOG_LINES_PER_SECOND`], and
    /// what is held back is said in one line when a line comes in a later second, or the fleet
    /// stops; errors and the last lines of a device that has just stopped (its totals) always
    /// pass.
    fn pass_log(&mut self, entry: LogEntry, now: Time, ending: bool) {
        let second = now.mono_ms / 1000;
        if second != self.log_second {
            self.log_second = second;
            self.log_passed = 0;
            self.flush_held_log(now);
        }
        if entry.level == LogLevel::Error || ending || self.log_passed < LOG_LINES_PER_SECOND {
            self.log_passed += 1;
            self.log.push_back(entry);
        } else {
            self.log_held += 1;
        }
    }

    fn flush_held_log(&mut self, now: Time) {
        if self.log_held > 0 {
            self.log.push_back(LogEntry {
                wall_ms: now.wall_ms,
                level: LogLevel::Warn,
                text: format!(
                    "{} log line(s) not shown: more than {LOG_LINES_PER_SECOND} a second (the counters count every event)",
                    std::mem::take(&mut self.log_held)
                ),
                outage: None,
            });
        }
    }

    /// The run has ended for every device: what the log held back, and the fleet's totals.
    fn fleet_stopped(&mut self, now: Time) {
        self.flush_held_log(now);
        if self.sensor_count() > 1 {
            let text = format!(
                "fleet of {} stopped: {}",
                self.sensor_count(),
                self.totals().totals()
            );
            self.log.push_back(LogEntry {
                wall_ms: now.wall_ms,
                level: LogLevel::Info,
                text,
                outage: None,
            });
        }
    }

    /// Collects what device `index` asked for, and re-arms its deadline.
    fn settle(&mut self, index: usize, now: Time) {
        let several = self.connections.len() > 1;
        while let Some(action) = self.connections[index].poll_action() {
            self.actions.push_back((index, action));
        }
        let ending = !self.connections[index].is_active();
        while let Some(mut entry) = self.connections[index].poll_log() {
            if several {
                let id = &self.connections[index].settings().device_id;
                entry.text = format!("{id}: {}", entry.text);
                if let Some(reason) = &entry.outage {
                    let outage = self.outage.get_or_insert_with(|| Outage::new(now));
                    if outage.line(&entry, reason) == Line::Swallow {
                        continue;
                    }
                }
            }
            self.pass_log(entry, now, ending);
        }
        if ending && self.active[index] {
            self.active[index] = false;
            self.active_count -= 1;
            if self.active_count == 0 && !self.script_playing() {
                self.fleet_stopped(now);
            }
            #[cfg(feature = "scenario")]
            self.rejoin_if_asked(index, now);
        } else if !ending && !self.active[index] {
            self.active[index] = true;
            self.active_count += 1;
        }
        let device = &mut self.connections[index];
        let opening = device.is_opening();
        if opening != self.opening[index] {
            self.opening[index] = opening;
            if opening {
                self.opening_count += 1;
            } else {
                self.opening_count -= 1;
            }
        }
        if device.awaiting_slot() && !self.queued_for_slot[index] {
            self.queued_for_slot[index] = true;
            self.waiting.push_back(index);
        }
        // Only an earlier deadline is pushed: a later one is found when the earlier fires
        // early, so the heap does not fill with stale entries at every packet.
        if let Some(at) = device.poll_timeout()
            && self.armed[index].is_none_or(|armed| at < armed)
        {
            self.armed[index] = Some(at);
            self.deadlines.push(Reverse((at, index)));
        }
    }

    /// Lets waiting devices open their sockets while fewer than [`OPEN_SLOTS`] are opening.
    fn grant_slots(&mut self, now: Time) {
        while self.opening_count < self.open_slots {
            let Some(index) = self.waiting.pop_front() else {
                break;
            };
            self.queued_for_slot[index] = false;
            if self.connections[index].awaiting_slot() {
                self.connections[index].grant_open(now);
                self.settle(index, now);
            }
        }
    }
}

/// Without scenarios (the simulator page's build) there is nothing to play.
#[cfg(not(feature = "scenario"))]
impl Fleet {
    fn end_script(&mut self, _now: Time) {}

    fn script_unreported(&self) -> bool {
        false
    }

    fn script_playing(&self) -> bool {
        false
    }

    fn script_timeout(&self) -> Option<u64> {
        None
    }

    fn play(&mut self, _now: Time) {}

    pub fn scenario_ended(&self) -> bool {
        false
    }

    pub fn stage(&self, _now: Time) -> Option<StageNow> {
        None
    }
}

/// A slice of a fleet: the `index`-th (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The device numbers (from 1) of this slice of a fleet of `n`: contiguous, slices
    /// differing in length by at most one when `n` does not divide evenly; empty for a slice
    /// past the fleet (`index >= count`, or more slices than devices).
    pub fn numbers(self, n: usize) -> std::ops::RangeInclusive<usize> {
        let (index, count, n) = (self.index as u64, self.count.max(1) as u64, n as u64);
        if index >= count {
            return std::ops::RangeInclusive::new(1, 0);
        }
        let start = index * n / count;
        let end = (index + 1) * n / count;
        (start + 1) as usize..=end as usize
    }

    /// `K/N`, with K from 0 to N - 1 and N from 1 to `devices` (each slice has a device).
    pub fn parse(text: &str, devices: usize) -> Result<Shard, String> {
        let problem = || {
            crate::settings::bad(
                text,
                "must be K/N: slice K (from 0) of N, with K below N and N at most the devices",
            )
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(problem)?;
        let (index, count) = (
            k.parse::<usize>().map_err(|_| problem())?,
            n.parse::<usize>().map_err(|_| problem())?,
        );
        if count == 0 || index >= count || count > devices.max(1) {
            return Err(problem());
        }
        Ok(Shard { index, count })
    }
}

/// The devices the settings describe. One sensor is the settings as they are (its seed, id,
/// topic and client id unchanged). A fleet numbers its sensors `{device_id}-{n}`, gives each
/// its own seed and topic, and spreads their first samples over one interval.
fn build(settings: &Settings, seed: u64, shard: Shard) -> Vec<Device> {
    let n = settings.devices.max(1);
    // What one process holds: its slice. The queue and in-flight shares are of the slice's
    // devices, not the whole fleet's (a slice of 5,000 of 100,000 is 5,000 to this process).
    let held = shard.numbers(n).count();
    if held == 0 {
        return vec![];
    }
    if n == 1 {
        #[allow(unused_mut)]
        let mut device = Device::new(settings.clone(), seed);
        #[cfg(feature = "scenario")]
        if let Some(mut parts) = script::Parts::new(settings, 1..=1) {
            parts.give(&mut device.sources_mut()[0], 1);
        }
        return vec![device];
    }
    let queue_limit = settings.offline_queue.min(FLEET_QUEUE_LIMIT / held).max(1);
    #[cfg(feature = "scenario")]
    let mut parts = script::Parts::new(settings, shard.numbers(n));
    let sources = shard.numbers(n).map(|k| {
        let device_id = numbered(&settings.device_id, k, n);
        let topic = settings
            .topic_template
            .replace(DEVICE_ID_PLACEHOLDER, &device_id);
        let mut sensor = settings.sensor.clone();
        sensor.seed = sensor_seed(settings.sensor.seed, k);
        // One sky (the settings' seed's) over all; each stands where it stands.
        let place = Rng::new(sensor.seed ^ 0x6a09_e667_f3bc_c909).uniform(-1.0, 1.0);
        // Within the altitudes the setting takes, whatever the spread.
        sensor.air.altitude_m =
            (sensor.air.altitude_m + settings.altitude_spread_m * place).clamp(-500.0, 9000.0);
        if let Some(replay) = &mut sensor.replay
            && !settings.replay_in_step
        {
            replay.offset = (k - 1) * replay.recording.len() / n;
        }
        #[allow(unused_mut)]
        let mut source = Source::new(
            device_id,
            topic,
            sensor,
            (k as u64 - 1, n as u64),
            queue_limit,
            HISTORY_LIMIT / held,
        );
        #[cfg(feature = "scenario")]
        if let Some(parts) = &mut parts {
            parts.give(&mut source, k);
        }
        source
    });
    match settings.connection {
        Connection::Shared => {
            // One connection per slice: each its own client id.
            let mut own = settings.clone();
            if shard.count > 1 {
                own.client_id = format!("{}-s{}", settings.client_id, shard.index);
            }
            vec![Device::with_sources(own, sources.collect(), seed)]
        }
        Connection::PerDevice => sources
            .zip(shard.numbers(n))
            .map(|(source, k)| {
                let i = k - 1;
                let mut own = settings.clone();
                own.client_id = numbered(&settings.client_id, k, n);
                own.max_in_flight = settings
                    .max_in_flight
                    .min(FLEET_IN_FLIGHT_LIMIT / held)
                    .max(1);
                own.device_id = source.device_id.clone();
                own.topic = source.topic.clone();
                own.sensor = source.generator.config().clone();
                let mut device = Device::with_sources(own, vec![source], seed ^ i as u64);
                device.set_gated(true);
                device
            })
            .collect(),
    }
}

/// The seed of sensor `n` (from 1) of a fleet whose page seed is `seed`: distinct for every
/// sensor, and the same every time, so the whole fleet replays from one seed.
pub fn sensor_seed(seed: u64, n: usize) -> u64 {
    Rng::new(seed ^ (n as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)).next_u64()
}

#[cfg(test)]
mod tests;
