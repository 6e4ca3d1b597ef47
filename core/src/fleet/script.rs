//! A scenario as a fleet plays it: the stages' joins and leaves, their intervals, the outages
//! and the end, as steps in time from Start. (The scripted anomalies and the fronts are each
//! sensor's own, in its [`crate::device::Source`]: they land on samples, not on the clock.)

use std::sync::Arc;

use crate::device::Time;
use crate::scenario::{Devices, Scenario, What};

/// What happens at a moment of the scenario. Steps at the same millisecond run in this order:
/// the stage's interval first (a device joining then starts on it), leaves before joins, then
/// outages, and the end last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Step {
    Interval(u64),
    Leave(usize),
    Join(usize),
    Offline { connection: usize, until_ms: u64 },
    End,
}

#[derive(Debug)]
pub(super) struct Script {
    pub scenario: Arc<Scenario>,
    /// When the run started: the scenario's clock counts from here.
    pub origin: Time,
    steps: Vec<(u64, Step)>,
    next: usize,
    /// Connections a stage has started in this run: one brought back carries on its sequences.
    pub joined: Vec<bool>,
    /// The last stage is over (or the run was stopped), and whether the fleet has said so.
    pub ended: bool,
    pub reported: bool,
}

impl Script {
    /// The steps of `scenario` for a fleet of `connections`, where sensor k (from 1) is
    /// published by connection `connection_of(k)` (none when another shard holds it).
    pub fn new(
        scenario: Arc<Scenario>,
        origin: Time,
        connections: usize,
        connection_of: impl Fn(usize) -> Option<usize>,
    ) -> Self {
        let mut steps = vec![];
        let mut before = 0;
        for stage in &scenario.stages {
            if let Some(interval) = stage.interval_ms {
                steps.push((stage.start_ms, Step::Interval(interval)));
            }
            let change = stage.devices.abs_diff(before);
            for i in 1..=change {
                let into = (stage.ramp_ms * i as u64).div_ceil(change as u64);
                let at = stage.start_ms + into;
                let step = if stage.devices > before {
                    connection_of(before + i).map(Step::Join)
                } else {
                    connection_of(before + 1 - i).map(Step::Leave)
                };
                steps.extend(step.map(|step| (at, step)));
            }
            before = stage.devices;
        }
        for event in &scenario.events {
            let What::Offline { for_ms } = event.what else {
                continue;
            };
            let until_ms = event.at_ms + for_ms;
            let mut hit = vec![false; connections];
            let mut mark = |k: usize| {
                if let Some(c) = connection_of(k) {
                    hit[c] = true;
                }
            };
            match &event.devices {
                Devices::All => hit.fill(true),
                Devices::Ranges(ranges) => {
                    for &(a, b) in ranges {
                        (a..=b).for_each(&mut mark);
                    }
                }
            }
            for (connection, _) in hit.iter().enumerate().filter(|(_, hit)| **hit) {
                steps.push((
                    event.at_ms,
                    Step::Offline {
                        connection,
                        until_ms,
                    },
                ));
            }
        }
        steps.push((scenario.end_ms(), Step::End));
        steps.sort();
        // A shared connection publishes for every device: it joins once.
        steps.dedup();
        Self {
            scenario,
            origin,
            steps,
            next: 0,
            joined: vec![false; connections],
            ended: false,
            reported: false,
        }
    }

    /// The next step once it is due at `now`, with its time from Start.
    pub fn due(&mut self, now: Time) -> Option<(u64, Step)> {
        let &(at, step) = self.steps.get(self.next)?;
        if self.ended || self.mono_at(at) > now.mono_ms {
            return None;
        }
        self.next += 1;
        Some((at, step))
    }

    /// When the next step is due, on the monotonic clock.
    pub fn poll_timeout(&self) -> Option<u64> {
        let &(at, _) = self.steps.get(self.next).filter(|_| !self.ended)?;
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
}
