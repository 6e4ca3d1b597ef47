//! A scenario as a fleet plays it: the stages' joins and leaves, their intervals, the outages
//! and the end, in time from Start. (The scripted anomalies and the fronts are each sensor's
//! own, in its [`crate::device::Source`]: they land on samples, not on the clock.)
//!
//! The joins and leaves are worked out one at a time as they come, not listed ahead: a ramp of
//! 100,000 devices is one line of the file and need not be 100,000 entries in memory.

use std::sync::Arc;

use super::{Fleet, StageNow};
use crate::device::Time;
use crate::scenario::{Devices, Scenario, What};

/// What happens at a moment of the scenario. Steps at the same millisecond run in this order:
/// the stage's interval first (a device joining then starts on it), leaves and joins, then
/// outages, and the end last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Interval(u64),
    /// Device `k` (from 1) joins, or leaves.
    Join(usize),
    Leave(usize),
    /// Event `event`'s devices go offline until `until_ms`.
    Offline {
        event: usize,
        until_ms: u64,
    },
    End,
}

impl Step {
    fn rank(&self) -> u8 {
        match self {
            Step::Interval(_) => 0,
            Step::Join(_) | Step::Leave(_) => 1,
            Step::Offline { .. } => 2,
            Step::End => 3,
        }
    }
}

#[derive(Debug)]
pub(super) struct Script {
    pub scenario: Arc<Scenario>,
    /// When the run started: the scenario's clock counts from here.
    pub origin: Time,
    /// The stages' intervals, the outages and the end, by time (the events are in time order
    /// in a checked scenario).
    steps: Vec<(u64, Step)>,
    next: usize,
    /// Devices 1 to `connected` are in, as the stages have it so far; the stage whose ramp
    /// comes next.
    connected: usize,
    stage: usize,
    /// Connections a stage has started in this run: one brought back carries on its sequences.
    pub joined: Vec<bool>,
    /// Until when (ms from Start) each connection is offline by an outage: one that joins
    /// meanwhile joins offline.
    pub offline_until: Vec<u64>,
    /// A connection a stage brought back while it was still saying goodbye: it joins again,
    /// from this time of the scenario, once that has ended.
    pub rejoin: Vec<Option<u64>>,
    /// The last stage is over, and whether the fleet has said so.
    pub ended: bool,
    pub reported: bool,
    /// Stopped (by its end or by Stop), when: no more steps, and the stage stays where it was.
    pub stopped_at: Option<u64>,
}

impl Script {
    /// The scenario for a fleet of `connections`, from `origin`.
    pub fn new(scenario: Arc<Scenario>, origin: Time, connections: usize) -> Self {
        let mut steps = vec![];
        let mut events = scenario.events.iter().enumerate().peekable();
        for stage in &scenario.stages {
            // The outages before this stage's start, then its interval.
            while let Some((index, event)) = events.next_if(|(_, e)| e.at_ms < stage.start_ms) {
                steps.extend(offline(index, event));
            }
            steps.extend(
                stage
                    .interval_ms
                    .map(|i| (stage.start_ms, Step::Interval(i))),
            );
        }
        steps.extend(events.flat_map(|(index, event)| offline(index, event)));
        steps.push((scenario.end_ms(), Step::End));
        Self {
            scenario,
            origin,
            steps,
            next: 0,
            connected: 0,
            stage: 0,
            joined: vec![false; connections],
            offline_until: vec![0; connections],
            rejoin: vec![None; connections],
            ended: false,
            reported: false,
            stopped_at: None,
        }
    }

    /// The next join or leave the stages call for: at what time, and which device.
    fn next_change(&self) -> Option<(u64, Step)> {
        let stages = &self.scenario.stages;
        let stage = stages.get(self.stage)?;
        let before = match self.stage {
            0 => 0,
            i => stages[i - 1].devices,
        };
        let change = stage.devices.abs_diff(before) as u64;
        let i = self.connected.abs_diff(before) + 1;
        let at = stage.start_ms + (stage.ramp_ms * i as u64).div_ceil(change);
        let step = if stage.devices > before {
            Step::Join(before + i)
        } else {
            Step::Leave(before + 1 - i)
        };
        Some((at, step))
    }

    /// Moves past the stages whose count is reached (so [`Script::next_change`] looks at the
    /// first whose ramp is still to come).
    fn settle_stage(&mut self) {
        while let Some(stage) = self.scenario.stages.get(self.stage)
            && self.connected == stage.devices
        {
            self.stage += 1;
        }
    }

    /// The next step once it is due at `now`, with its time from Start.
    pub fn due(&mut self, now: Time) -> Option<(u64, Step)> {
        let (at, step, change) = self.peek()?;
        if self.mono_at(at) > now.mono_ms {
            return None;
        }
        if change {
            self.connected = match step {
                Step::Join(k) => k,
                Step::Leave(k) => k - 1,
                _ => self.connected,
            };
            self.settle_stage();
        } else {
            self.next += 1;
        }
        Some((at, step))
    }

    /// The step that comes next, and whether it is a join or leave.
    fn peek(&self) -> Option<(u64, Step, bool)> {
        if self.stopped_at.is_some() {
            return None;
        }
        let listed = self.steps.get(self.next).cloned();
        match (self.next_change(), listed) {
            (Some((at, change)), Some((listed_at, step)))
                if (at, change.rank()) <= (listed_at, step.rank()) =>
            {
                Some((at, change, true))
            }
            (_, Some((at, step))) => Some((at, step, false)),
            (Some((at, change)), None) => Some((at, change, true)),
            (None, None) => None,
        }
    }

    /// When the next step is due, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let (at, _, _) = self.peek()?;
        Some(self.mono_at(at))
    }

    /// `at_ms` after Start, on the monotonic clock.
    pub fn mono_at(&self, at_ms: u64) -> u64 {
        self.origin.mono_ms.saturating_add(at_ms)
    }

    /// Milliseconds since Start at `now`.
    pub fn elapsed(&self, now: Time) -> u64 {
        now.mono_ms.saturating_sub(self.origin.mono_ms)
    }

    /// The devices (from 1) event `event` names, as ranges; none for all.
    pub fn devices(&self, event: usize) -> Option<&[(usize, usize)]> {
        match &self.scenario.events[event].devices {
            Devices::All => None,
            Devices::Ranges(ranges) => Some(ranges),
        }
    }
}

/// The fleet's side of a scenario: playing its steps, and saying where it is.
impl Fleet {
    /// A stop (or the end of the scenario, said): no more steps, and nothing more to say.
    pub(super) fn end_script(&mut self, now: Time) {
        if let Some(script) = &mut self.script {
            script.reported = true;
            let elapsed = script.elapsed(now);
            script.stopped_at.get_or_insert(elapsed);
        }
    }

    /// The scenario's end has come and the fleet has not said so yet.
    pub(super) fn script_unreported(&self) -> bool {
        self.script.as_ref().is_some_and(|s| s.ended && !s.reported)
    }

    pub(super) fn script_timeout(&self) -> Option<u64> {
        self.script.as_ref().and_then(Script::poll_timeout)
    }

    pub(super) fn script_playing(&self) -> bool {
        self.script.as_ref().is_some_and(|s| s.stopped_at.is_none())
    }

    /// The run played its scenario to the end of the last stage (rather than being stopped).
    pub fn scenario_ended(&self) -> bool {
        self.script.as_ref().is_some_and(|s| s.ended)
    }

    /// Where the scenario's run is at `now`; none without a scenario or before Start.
    pub fn stage(&self, now: Time) -> Option<StageNow> {
        let script = self.script.as_ref()?;
        let scenario = &script.scenario;
        let elapsed_ms = script
            .stopped_at
            .unwrap_or_else(|| script.elapsed(now))
            .min(scenario.end_ms());
        Some(StageNow {
            index: scenario.stage_at(elapsed_ms),
            stages: scenario.stages.len(),
            devices: scenario.devices_at(elapsed_ms),
            elapsed_ms,
            end_ms: scenario.end_ms(),
        })
    }

    /// Runs the scenario's steps that are due at `now`, in order.
    pub(super) fn play(&mut self, now: Time) {
        loop {
            let Some(script) = &mut self.script else {
                return;
            };
            let Some((at, step)) = script.due(now) else {
                return;
            };
            match step {
                Step::Interval(interval) => {
                    self.each(now, |device| device.set_interval(now, at, interval));
                }
                Step::Join(k) => {
                    if let Some(connection) = self.connection_of(k) {
                        self.join(connection, at, now);
                    }
                }
                Step::Leave(k) => {
                    if let Some(connection) = self.connection_of(k) {
                        self.with(connection, now, |device| device.stop_at(now, at));
                    }
                }
                Step::Offline { event, until_ms } => {
                    let until = script.mono_at(until_ms);
                    let ranges = script.devices(event).map(<[_]>::to_vec);
                    let mut hit = vec![ranges.is_none(); self.connections.len()];
                    for (a, b) in ranges.into_iter().flatten() {
                        for k in a..=b {
                            if let Some(connection) = self.connection_of(k) {
                                hit[connection] = true;
                            }
                        }
                    }
                    for (connection, _) in hit.into_iter().enumerate().filter(|(_, hit)| *hit) {
                        if let Some(script) = &mut self.script {
                            let own = &mut script.offline_until[connection];
                            *own = (*own).max(until_ms);
                        }
                        self.with(connection, now, |device| device.go_offline(now, until));
                    }
                }
                Step::End => {
                    script.ended = true;
                    script.stopped_at = Some(at);
                    self.each(now, |device| device.stop_at(now, at));
                }
            }
        }
    }

    /// Connection `connection` joins `at` ms after Start: offline if an outage holds it then;
    /// still saying goodbye from an earlier stage, once that has ended.
    fn join(&mut self, connection: usize, at: u64, now: Time) {
        let Some(script) = &mut self.script else {
            return;
        };
        if self.connections[connection].is_active() {
            script.rejoin[connection] = Some(at);
            return;
        }
        let fresh = !std::mem::replace(&mut script.joined[connection], true);
        let origin = script.origin;
        let until = script.offline_until[connection];
        let offline = (until > at).then(|| script.mono_at(until));
        self.with(connection, now, |device| {
            device.start_scripted(now, origin, at, fresh);
            if let Some(until) = offline {
                device.go_offline(now, until);
            }
        });
    }

    /// Connection `index` has ended: a stage that brought it back meanwhile has it join now.
    pub(super) fn rejoin_if_asked(&mut self, index: usize, now: Time) {
        let at = self.script.as_mut().and_then(|s| s.rejoin[index].take());
        if let Some(at) = at
            && self.script_playing()
        {
            self.join(index, at, now);
        }
    }

    /// The connection that publishes for sensor `k` (numbered from 1 in the whole fleet):
    /// its own, or the one shared; none when another shard holds it.
    fn connection_of(&self, k: usize) -> Option<usize> {
        let i = k.checked_sub(self.first)?;
        match self.connections.as_slice() {
            [one] => (i < one.sources().len()).then_some(0),
            all => (i < all.len()).then_some(i),
        }
    }
}

/// An outage's step, if the event is one.
fn offline(index: usize, event: &crate::scenario::Event) -> Option<(u64, Step)> {
    match event.what {
        What::Offline { for_ms } => Some((
            event.at_ms,
            Step::Offline {
                event: index,
                until_ms: event.at_ms + for_ms,
            },
        )),
        _ => None,
    }
}

/// Each sensor's part of the scenario, for the sensors numbered `numbers` (from 1): its
/// anomalies, in time order, and the fronts every sensor shares. Worked out event by event
/// over the devices each names, so the cost is what the scenario names (which its checks
/// bound), not events times sensors.
pub(super) struct Parts {
    first: usize,
    scripts: Vec<Vec<crate::device::Scripted>>,
    fronts: std::sync::Arc<[crate::scenario::Front]>,
}

impl Parts {
    pub(super) fn new(
        settings: &crate::settings::Settings,
        numbers: std::ops::RangeInclusive<usize>,
    ) -> Option<Self> {
        let scenario = settings.scenario.as_ref()?;
        let (first, last) = (*numbers.start(), *numbers.end());
        let mut scripts = vec![vec![]; numbers.count()];
        for event in &scenario.events {
            let What::Anomaly {
                kind,
                magnitude,
                duration,
            } = event.what
            else {
                continue;
            };
            let scripted = crate::device::Scripted {
                at_ms: event.at_ms,
                kind,
                magnitude,
                duration,
            };
            let all = [(first, last)];
            let ranges = match &event.devices {
                Devices::All => &all[..],
                Devices::Ranges(ranges) => ranges,
            };
            for &(a, b) in ranges {
                for k in a.max(first)..=b.min(last) {
                    // A device named twice by one event gets it once.
                    let own = &mut scripts[k - first];
                    if own.last() != Some(&scripted) {
                        own.push(scripted);
                    }
                }
            }
        }
        Some(Self {
            first,
            scripts,
            fronts: scenario.fronts().into(),
        })
    }

    /// Gives sensor `k` its part.
    pub(super) fn give(&mut self, source: &mut crate::device::Source, k: usize) {
        let script = std::mem::take(&mut self.scripts[k - self.first]);
        source.set_script(script, self.fronts.clone());
    }
}
