//! One device's telemetry as it arrives: which sequence numbers came, which never did, which
//! came twice or late.

use std::collections::{BTreeSet, VecDeque};

/// Sequence numbers above the settled floor that are remembered one by one; beyond that the
/// oldest unfilled gaps are settled as missing for good.
const TRACKED: usize = 1024;
/// The monitor's own outages remembered per device, to take a late sample off their count.
const MISSED_RANGES: usize = 16;
/// Arrivals counted for the rate, in milliseconds.
pub const RATE_WINDOW_MS: i64 = 5000;

/// Counts over one run of one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// Messages received, repeats included.
    pub received: u64,
    /// Different sequence numbers received.
    pub distinct: u64,
    /// Messages whose sequence number had come before (a QoS 1 redelivery, or a publisher
    /// that repeats itself).
    pub duplicates: u64,
    /// Messages below the highest sequence number seen that filled a gap (late, not lost).
    pub out_of_order: u64,
    pub max_sequence: u64,
    /// One below the first sequence number seen: a monitor that joins a run at sample 5,000
    /// counts gaps from there, not from 1.
    pub origin: u64,
    /// Every sequence number up to here has arrived or is given up as missing.
    floor: u64,
    /// Sequence numbers above `floor` that arrived.
    above: BTreeSet<u64>,
    /// The last message's readings and arrival time (wall clock, ms).
    pub last: Option<Reading>,
    /// Arrival times within the last [`RATE_WINDOW_MS`].
    arrivals: VecDeque<i64>,
    /// The run is known to start at sequence 1 (a restart was seen): gaps count from there.
    from_one: bool,
    /// Sequence numbers at or below `origin` that arrived (late: below the first one seen),
    /// remembered up to [`TRACKED`] of them, to tell a late one from a repeat.
    below: BTreeSet<u64>,
    /// Sequence numbers skipped while the monitor itself was disconnected and not come since:
    /// not the publisher's gaps ([`Stream::gaps`] leaves them out).
    pub missed_offline: u64,
    /// The ranges those were skipped in (the last few), so a late one is taken off again.
    missed_ranges: VecDeque<(u64, u64)>,
    /// The monitor was disconnected since the last new sequence number: the next jump is its own.
    offline: bool,
}

/// One telemetry message's contents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub sequence: u64,
    pub pressure: f64,
    pub temperature: f64,
    pub timestamp_ms: Option<i64>,
    pub arrived_ms: i64,
}

/// How one message fitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one, or one after a gap.
    New,
    /// Late: below the highest seen, filling a gap.
    Late,
    Duplicate,
}

impl Stream {
    /// A restarted run: known to start at sequence 1, so gaps count from there when its first
    /// sample is among the first [`TRACKED`] (its first samples were a dropout); from the first
    /// one seen otherwise (the monitor was away while the run began).
    pub fn new_run() -> Self {
        Self {
            from_one: true,
            ..Self::default()
        }
    }

    /// Sequence numbers below the highest seen that have not arrived, but for those skipped
    /// while the monitor itself was offline: the publisher's gaps.
    pub fn gaps(&self) -> u64 {
        self.all_gaps().saturating_sub(self.missed_offline)
    }

    /// Every sequence number below the highest seen that has not arrived, the monitor's own
    /// misses included (the report's `gaps`, whose meaning stays what it was).
    pub fn all_gaps(&self) -> u64 {
        self.max_sequence
            .saturating_sub(self.origin)
            .saturating_sub(self.distinct)
    }

    /// The monitor lost its own connection: what the next message skips was missed by it, not
    /// lost by the publisher.
    pub fn monitor_offline(&mut self) {
        self.offline = self.received > 0;
    }

    /// Counts `reading` in.
    pub fn receive(&mut self, reading: Reading) -> Arrival {
        let sequence = reading.sequence;
        if self.received == 0 && !(self.from_one && sequence <= TRACKED as u64) {
            self.origin = sequence.saturating_sub(1);
            self.floor = self.origin;
        }
        self.received += 1;
        let arrival = if sequence <= self.origin {
            // Below the first number seen: late the first time (gaps still count from the first
            // one seen), a repeat after; past the numbers remembered, a repeat.
            if self.below.len() < TRACKED && self.below.insert(sequence) {
                self.out_of_order += 1;
                Arrival::Late
            } else {
                self.duplicates += 1;
                Arrival::Duplicate
            }
        } else if sequence <= self.floor || self.above.contains(&sequence) {
            // Below the floor a late arrival cannot be told from a repeat once its gap was
            // given up; within the tracked range it can.
            if sequence <= self.floor
                && sequence.saturating_add(TRACKED as u64) <= self.max_sequence
            {
                self.out_of_order += 1;
                Arrival::Late
            } else {
                self.duplicates += 1;
                Arrival::Duplicate
            }
        } else {
            if self.offline && sequence > self.max_sequence {
                self.offline = false;
                if sequence > self.max_sequence + 1 {
                    self.missed_offline += sequence - self.max_sequence - 1;
                    self.missed_ranges
                        .push_back((self.max_sequence + 1, sequence - 1));
                    if self.missed_ranges.len() > MISSED_RANGES {
                        self.missed_ranges.pop_front();
                    }
                }
            } else if self
                .missed_ranges
                .iter()
                .any(|&(first, last)| (first..=last).contains(&sequence))
            {
                // Missed while offline, come after all (a session the broker kept).
                self.missed_offline = self.missed_offline.saturating_sub(1);
            }
            self.distinct += 1;
            self.above.insert(sequence);
            if sequence < self.max_sequence {
                self.out_of_order += 1;
                Arrival::Late
            } else {
                self.max_sequence = sequence;
                Arrival::New
            }
        };
        self.settle();
        while self.above.len() > TRACKED {
            // The oldest gap is given up: its numbers now count as missing for good.
            if let Some(first) = self.above.pop_first() {
                self.floor = first;
            }
            self.settle();
        }
        // The last readings are the newest sample's; the age is the last message's.
        if arrival == Arrival::New || self.last.is_none() {
            self.last = Some(reading);
        }
        if let Some(last) = &mut self.last {
            last.arrived_ms = reading.arrived_ms;
        }
        self.arrivals.push_back(reading.arrived_ms);
        self.trim(reading.arrived_ms);
        arrival
    }

    /// Moves the floor up over the sequence numbers that arrived right above it.
    fn settle(&mut self) {
        while self
            .floor
            .checked_add(1)
            .is_some_and(|next| self.above.first() == Some(&next))
        {
            self.above.pop_first();
            self.floor += 1;
        }
    }

    /// Sequence numbers remembered one by one (at most [`TRACKED`]).
    pub fn tracked(&self) -> usize {
        self.above.len()
    }

    fn trim(&mut self, now_ms: i64) {
        while self
            .arrivals
            .front()
            .is_some_and(|&t| t <= now_ms - RATE_WINDOW_MS)
        {
            self.arrivals.pop_front();
        }
    }

    /// Messages per second over the last five seconds, in tenths.
    pub fn rate_tenths(&mut self, now_ms: i64) -> u64 {
        self.trim(now_ms);
        self.arrivals.len() as u64 * 10_000 / RATE_WINDOW_MS as u64
    }
}
