//! A scenario as a fleet plays it: the stages' joins and leaves, their intervals, the outages
//! and the end, in time from Start. (The scripted anomalies and the fronts are each sensor's
//! own, in its [`crate::device::Source`]: they land on samples, not on the clock.)
//!
//! The joins and leaves are worked out one at a time as they come, not listed ahead: a ramp of
//! 100,000 devices is one line of the file and need not be 100,000 entries in memory.

use std::sync::Arc;

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
    Offline { event: usize, until_ms: u64 },
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
            steps.extend(stage.interval_ms.map(|i| (stage.start_ms, Step::Interval(i))));
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
