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
    /// The last stage is over (or the run was stopped), and whether the fleet has said so.
    pub ended: bool,
    pub reported: bool,
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
            ended: false,
            reported: false,
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
        if self.ended {
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
    /// A stop or the end of the scenario: no more steps, and nothing more to say of it.
    pub(super) fn end_script(&mut self) {
        if let Some(script) = &mut self.script {
            script.ended = true;
            script.reported = true;
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
        self.script.as_ref().is_some_and(|s| !s.ended)
    }

    /// The run played a scenario to its end (rather than being stopped).
    pub fn scenario_ended(&self) -> bool {
        self.script.as_ref().is_some_and(|s| s.ended)
    }

    /// Where the scenario's run is at `now`; none without a scenario or before Start.
    pub fn stage(&self, now: Time) -> Option<StageNow> {
        let script = self.script.as_ref()?;
        let scenario = &script.scenario;
        let elapsed_ms = script.elapsed(now).min(scenario.end_ms());
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
            let origin = script.origin;
            match step {
                Step::Interval(interval) => {
                    self.each(now, |device| device.set_interval(now, at, interval));
                }
                Step::Join(k) => {
                    let Some(connection) = self.connection_of(k) else {
                        continue;
                    };
                    let Some(script) = &mut self.script else {
                        return;
                    };
                    let fresh = !std::mem::replace(&mut script.joined[connection], true);
                    self.with(connection, now, |device| {
                        device.start_scripted(now, origin, at, fresh);
                    });
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
                        self.with(connection, now, |device| device.go_offline(now, until));
                    }
                }
                Step::End => {
                    script.ended = true;
                    self.each(now, |device| device.stop_at(now, at));
                }
            }
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

/// Gives sensor `k` (from 1) the scenario's anomalies for it, and its fronts.
#[cfg(feature = "scenario")]
pub(super) fn script_sensor(
    source: &mut crate::device::Source,
    settings: &crate::settings::Settings,
    k: usize,
) {
    let Some(scenario) = &settings.scenario else {
        return;
    };
    let script = scenario
        .events
        .iter()
        .filter(|event| event.devices.contains(k))
        .filter_map(|event| match event.what {
            What::Anomaly {
                kind,
                magnitude,
                duration,
            } => Some(crate::device::Scripted {
                at_ms: event.at_ms,
                kind,
                magnitude,
                duration,
            }),
            _ => None,
        })
        .collect();
    source.set_script(script, scenario.fronts());
}
