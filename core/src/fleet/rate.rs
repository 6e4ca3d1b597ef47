//! The acknowledged rate over the last second, from totals sampled at display rate.

use std::collections::VecDeque;

/// Totals seen at a few moments: the rate is the growth over the last second.
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    points: VecDeque<(u64, u64)>,
}

impl RateMeter {
    /// Notes that the total was `total` at `mono_ms`, and returns the rate per second over the
    /// last second (over what was seen of it, early on).
    pub fn record(&mut self, mono_ms: u64, total: u64) -> u64 {
        if self
            .points
            .back()
            .is_some_and(|&(t, n)| t > mono_ms || n > total)
        {
            self.points.clear(); // a new run, or a clock that went back
        }
        self.points.push_back((mono_ms, total));
        let window_start = mono_ms.saturating_sub(1000);
        // Keep the last point at or before the window's start, so the window spans a second.
        while self.points.len() >= 2 && self.points[1].0 <= window_start {
            self.points.pop_front();
        }
        let (t0, n0) = self.points[0];
        let elapsed = mono_ms - t0;
        if elapsed == 0 {
            return 0;
        }
        (total - n0) * 1000 / elapsed
    }
}
