//! A fleet's connections going down together, said in a few lines instead of one per device
//! per attempt: each reason (and kind of line) once, with the device it hit first; then, at
//! most once a second while connections are down, one summary of how many wait after which
//! reason and when they try again; and one line when every connection is up again.
//!
//! A broker that stops under 5,000 devices would otherwise make 5,000 to 10,000 lines per retry
//! round. The counters and the fleet table still count every attempt.

use std::fmt::Write;

use crate::device::{Device, LogEntry, LogLevel, Status, Time};

/// How often a summary is made while connections are down (at most), and how long an
/// unchanged summary waits before it is said again.
pub const SUMMARY_EVERY_MS: u64 = 1_000;
pub const UNCHANGED_SUMMARY_EVERY_MS: u64 = 10_000;

/// Device ids named per reason in a summary; the rest are counted.
const NAMED: usize = 3;
/// Distinct reasons said line by line in one outage, and grouped in a summary: a broker that
/// fails every connection its own way (a packet id in the reason) must not make a summary of
/// thousands of groups, nor a line per device. The rest are counted.
const REASONS: usize = 20;
const GROUPS: usize = 5;

#[derive(Debug)]
pub(super) struct Outage {
    since_ms: u64,
    /// The (level, reason) pairs already said in this outage: a few, so a list (a hash set
    /// or a tree would be the page's only one, and cost it kilobytes).
    said: Vec<(LogLevel, String)>,
    /// When the fleet next looks at its connections.
    next_check_ms: u64,
    /// When the last summary was said, and who was down and why in it.
    last_summary: Option<(u64, String)>,
}

/// What the fleet does with a line about a connection being down.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    Pass,
    Swallow,
}

impl Outage {
    pub(super) fn new(now: Time) -> Self {
        Self {
            since_ms: now.mono_ms,
            said: Vec::new(),
            // A second in, when the first lines have come and the picture is clear.
            next_check_ms: now.mono_ms + SUMMARY_EVERY_MS,
            last_summary: None,
        }
    }

    /// A device's line about `reason`: warnings and errors pass the first time their reason
    /// comes in this outage; retries (information) and repeats are left to the summary.
    pub(super) fn line(&mut self, entry: &LogEntry, reason: &str) -> Line {
        let said = |(level, said): &(LogLevel, String)| *level == entry.level && said == reason;
        if entry.level != LogLevel::Info && self.said.len() < REASONS && !self.said.iter().any(said)
        {
            self.said.push((entry.level, reason.to_owned()));
            Line::Pass
        } else {
            Line::Swallow
        }
    }

    /// Makes the next [`Outage::check`] look at the connections at once.
    pub(super) fn check_now(&mut self, now: Time) {
        self.next_check_ms = now.mono_ms;
    }

    /// When [`Outage::check`] wants to run.
    pub(super) fn next_check(&self) -> u64 {
        self.next_check_ms
    }

    /// Looks at every connection (at most once a [`SUMMARY_EVERY_MS`]): a summary line while
    /// some are down and who or why changed (or [`UNCHANGED_SUMMARY_EVERY_MS`] passed), a
    /// last line when all are up again. `None` in the first place means the outage is over.
    pub(super) fn check(&mut self, devices: &[Device], now: Time) -> (bool, Option<LogEntry>) {
        if now.mono_ms < self.next_check_ms {
            return (true, None);
        }
        self.next_check_ms = now.mono_ms + SUMMARY_EVERY_MS;
        let mut down = 0usize;
        let mut connected = 0usize;
        let mut connecting = 0usize;
        // Per reason: how many wait after it, and the first few of them by id.
        let mut waiting: Vec<(String, usize, Vec<&str>)> = Vec::new();
        let mut next = (u64::MAX, 0u64);
        // Connections waiting after a reason past the first GROUPS.
        let mut other_reasons = 0usize;
        for device in devices {
            match device.status(now) {
                Status::Connected => connected += 1,
                Status::Connecting | Status::Reconnecting { .. } => {
                    down += 1;
                    connecting += 1;
                }
                Status::Retrying { in_s, reason, .. } => {
                    down += 1;
                    next = (next.0.min(in_s), next.1.max(in_s));
                    // Kept in order of the reason, so the summary reads the same each time
                    // (inserted in place: a sort would cost the page kilobytes).
                    let at = match waiting.binary_search_by(|(r, ..)| r.cmp(&reason)) {
                        Ok(at) => at,
                        Err(at) if waiting.len() < GROUPS => {
                            waiting.insert(at, (reason, 0, Vec::new()));
                            at
                        }
                        Err(_) => {
                            other_reasons += 1;
                            continue;
                        }
                    };
                    let (_, count, named) = &mut waiting[at];
                    *count += 1;
                    if named.len() < NAMED {
                        named.push(&device.settings().device_id);
                    }
                }
                Status::Stopped(_) | Status::Stopping => {}
            }
        }
        let for_s = now.mono_ms.saturating_sub(self.since_ms).div_ceil(1000);
        if down == 0 {
            // Every connection up again, or the run is ending (said by its own lines).
            let line = (connected == devices.len()).then(|| {
                warn(
                    now,
                    format!(
                        "all {} connections up again, after {for_s} s",
                        grouped(connected)
                    ),
                )
            });
            return (false, line);
        }
        // Who is down and why: a summary is said again when this changes.
        let mut state = format!(
            "{} of {} connections down: ",
            grouped(down),
            grouped(devices.len())
        );
        for (i, (reason, count, named)) in waiting.iter().enumerate() {
            if i > 0 {
                state += "; ";
            }
            let _ = write!(state, "{} after \"{reason}\" (", grouped(*count));
            for (j, id) in named.iter().enumerate() {
                state += if j > 0 { ", " } else { "" };
                state += id;
            }
            state += if *count > named.len() { ", …)" } else { ")" };
        }
        if other_reasons > 0 {
            let _ = write!(state, "; {} after other reasons", grouped(other_reasons));
        }
        if connecting > 0 {
            let sep = if waiting.is_empty() { "" } else { "; " };
            let _ = write!(state, "{sep}{} connecting now", grouped(connecting));
        }
        let due = match &self.last_summary {
            None => true,
            Some((at, last)) => *last != state || now.mono_ms >= at + UNCHANGED_SUMMARY_EVERY_MS,
        };
        if !due {
            return (true, None);
        }
        let mut text = state.clone();
        if next.0 != u64::MAX {
            if next.0 == next.1 {
                text += &format!("; next attempts in {} s", next.0);
            } else {
                text += &format!("; next attempts in {}-{} s", next.0, next.1);
            }
        }
        self.last_summary = Some((now.mono_ms, state));
        (true, Some(warn(now, format!("{text} (for {for_s} s)"))))
    }
}

/// Said at warning level, so that a runner showing warnings and errors only (the native one)
/// shows an outage's end as well as its course.
fn warn(now: Time, text: String) -> LogEntry {
    LogEntry {
        wall_ms: now.wall_ms,
        level: LogLevel::Warn,
        text,
        outage: None,
    }
}

/// `4812` as `4,812`.
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn a_reason_per_connection_is_said_for_the_first_twenty_only() {
        let mut outage = Outage::new(at(0));
        let passed = (0..5_000)
            .filter(|i| {
                // A broker that fails each connection its own way (a packet id in the reason).
                let reason = format!("unknown packet id {i}");
                let entry = warn(at(10), format!("lab-{i}: error: {reason}"));
                outage.line(&entry, &reason) == Line::Pass
            })
            .count();
        assert_eq!(passed, REASONS);
        // A reason already said is swallowed; information lines always are.
        let again = warn(at(20), "lab-1: error: unknown packet id 0".into());
        assert_eq!(outage.line(&again, "unknown packet id 0"), Line::Swallow);
    }
}
