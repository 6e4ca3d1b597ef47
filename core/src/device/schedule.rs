//! When samples are due, and the time they carry.
//!
//! Sample `k` is due once `(k - 1)` intervals have elapsed since Start. Elapsed time is the
//! larger of the time counted on the monotonic clock and the wall clock's time since Start, and
//! never goes back. So a wall clock set backwards neither stops nor repeats samples (the
//! monotonic clock carries on), a wall clock set back and then right again counts nothing
//! twice, and a laptop that slept, whose monotonic clock may have stood still, still owes the
//! samples of the time it slept (the wall clock moved on).

use super::Time;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Wall-clock time of Start: sample k is stamped `start + (k - 1) x interval`.
    start_wall_ms: i64,
    /// The monotonic clock when last seen.
    last_mono_ms: u64,
    /// Milliseconds elapsed since Start.
    elapsed_ms: u64,
}

impl Schedule {
    pub fn new(start: Time) -> Self {
        Self {
            start_wall_ms: start.wall_ms,
            last_mono_ms: start.mono_ms,
            elapsed_ms: 0,
        }
    }

    /// Moves the schedule to `now`.
    pub fn advance(&mut self, now: Time) {
        let mono = self
            .elapsed_ms
            .saturating_add(now.mono_ms.saturating_sub(self.last_mono_ms));
        let wall = u64::try_from(now.wall_ms.saturating_sub(self.start_wall_ms)).unwrap_or(0);
        self.elapsed_ms = mono.max(wall);
        self.last_mono_ms = now.mono_ms;
    }

    /// Milliseconds elapsed since Start, as of the last [`Schedule::advance`].
    pub fn elapsed_ms(&self) -> u64 {
        self.elapsed_ms
    }

    /// When `due_at` ms after Start comes on the monotonic clock, as of the last
    /// [`Schedule::advance`] (in the past when it has).
    pub fn mono_at(&self, due_at: u64) -> u64 {
        self.last_mono_ms
            .saturating_add(due_at.saturating_sub(self.elapsed_ms))
    }

    /// The timestamp of what happens `at_ms` after Start on the schedule: from the Start time
    /// setting, or from the wall clock at Start.
    pub fn stamp(&self, at_ms: u64, start_ms: Option<i64>) -> i64 {
        start_ms
            .unwrap_or(self.start_wall_ms)
            .saturating_add(i64::try_from(at_ms).unwrap_or(i64::MAX))
    }
}
