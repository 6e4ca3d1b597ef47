//! What a device reports: its status, its counters, each sample's fate, log lines, and the
//! typed observations a listener (a chart, a frame inspector, a detector) drains.

use std::fmt;

use crate::sensor::{AnomalyKind, Sample};

/// Totals of the current run, of one simulated sensor or summed over several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Samples made to be reported (dropouts, which are never sent, are counted apart). After
    /// Stop, `acked + dropped == samples`.
    pub samples: u64,
    /// Samples swallowed by a dropout anomaly: made and labelled, never sent.
    pub dropouts: u64,
    /// PUBLISHes sent (first sends; re-deliveries are counted in `redelivered`).
    pub published: u64,
    /// PUBACKs received.
    pub acked: u64,
    /// Sent and not yet acknowledged.
    pub in_flight: u64,
    /// Anomalous samples made (every sample of an event counts).
    pub anomalies: u64,
    /// Anomaly events started, by kind, in [`crate::sensor::AnomalyKind::ALL`] order.
    pub events_by_kind: [u64; AnomalyKind::ALL.len()],
    /// Samples waiting in the offline queue.
    pub queued: u64,
    /// Samples lost to a full queue or a catch-up longer than the queue, or left unsent or
    /// unacknowledged at Stop.
    pub dropped: u64,
    /// PUBLISHes sent again, with DUP, after a reconnect.
    pub redelivered: u64,
    /// Connections made again after an earlier one of the run was accepted.
    pub reconnects: u64,
}

impl Counters {
    /// The share of the run's samples (dropouts included) inside anomaly events, in tenths of
    /// a percent.
    pub fn anomalous_permille(&self) -> u64 {
        let made = self.samples + self.dropouts;
        (self.anomalies * 1000).checked_div(made).unwrap_or(0)
    }

    /// The totals a run ends with, as the seed program prints them on SIGINT: `samples 40,
    /// published 40, acknowledged 40, anomalies injected 4, dropped 0, reconnects 0`.
    pub fn totals(&self) -> String {
        format!(
            "samples {}, published {}, acknowledged {}, anomalies injected {}, dropped {}, reconnects {}",
            self.samples, self.published, self.acked, self.anomalies, self.dropped, self.reconnects
        )
    }

    /// Adds `other` in, field by field.
    pub fn add(&mut self, other: &Counters) {
        self.samples += other.samples;
        self.dropouts += other.dropouts;
        self.published += other.published;
        self.acked += other.acked;
        self.in_flight += other.in_flight;
        self.anomalies += other.anomalies;
        for (sum, n) in self.events_by_kind.iter_mut().zip(other.events_by_kind) {
            *sum += n;
        }
        self.queued += other.queued;
        self.dropped += other.dropped;
        self.redelivered += other.redelivered;
        self.reconnects += other.reconnects;
    }
}

/// Where a device is, for the page to show in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not running; `Some` with the reason when the run ended on an error.
    Stopped(Option<String>),
    /// The first connection of a run is being made.
    Connecting,
    /// Attempt `attempt` (2 or more) is under way.
    Reconnecting {
        attempt: u32,
    },
    Connected,
    /// Stop was pressed: waiting for what is in flight.
    Stopping,
    /// Waiting `in_s` seconds (rounded up) before attempt `attempt`, after `reason`; `refused`
    /// when the broker refused the connection.
    Retrying {
        attempt: u32,
        in_s: u64,
        reason: String,
        refused: bool,
    },
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Stopped(None) => f.write_str("disconnected"),
            Status::Stopped(Some(reason)) => write!(f, "error: {reason}"),
            Status::Connecting => f.write_str("connecting"),
            Status::Reconnecting { attempt } => write!(f, "reconnecting: attempt {attempt}"),
            Status::Connected => f.write_str("connected"),
            Status::Stopping => f.write_str("stopping"),
            Status::Retrying {
                attempt,
                in_s,
                reason,
                refused: true,
            } => write!(
                f,
                "error: {reason}; retrying: attempt {attempt} in {in_s} s"
            ),
            Status::Retrying {
                attempt,
                in_s,
                reason,
                refused: false,
            } => write!(f, "reconnecting: attempt {attempt} in {in_s} s ({reason})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// One line of the page's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub wall_ms: i64,
    pub level: LogLevel,
    pub text: String,
    /// Why the connection is down, when the line reports a failed or lost connection or a
    /// retry: a fleet says each reason once and sums the rest up ([`crate::fleet`]'s outage
    /// report), where a thousand devices would otherwise each write a line per attempt.
    pub outage: Option<String>,
}

/// What became of a sample, for the dataset export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Waiting in the offline queue.
    Queued,
    /// Sent; no PUBACK yet.
    InFlight,
    /// The broker acknowledged it (PUBACK).
    Acknowledged,
    /// Sent, but the run ended before a PUBACK came: counted as dropped.
    Unacknowledged,
    /// Lost to a full queue or a catch-up longer than the queue, or unsent at Stop.
    Dropped,
    /// Never reported: a dropout anomaly.
    Dropout,
}

impl Fate {
    pub fn name(self) -> &'static str {
        match self {
            Fate::Queued => "queued",
            Fate::InFlight => "in_flight",
            Fate::Acknowledged => "acknowledged",
            Fate::Unacknowledged => "unacknowledged",
            Fate::Dropped => "dropped",
            Fate::Dropout => "dropout",
        }
    }
}

/// What a listener sees of a device, in order, once it asked to observe it
/// ([`super::Device::observe`]): no text to parse.
#[derive(Clone, PartialEq)]
pub enum Observed {
    /// The device's sensor `source` made this sample (a dropout's too: its fate says so).
    Made {
        source: usize,
        sample: Sample,
        fate: Fate,
    },
    /// The fate of sample `sequence` of the device's sensor `source` changed.
    Sample {
        source: usize,
        sequence: u64,
        fate: Fate,
    },
    /// These bytes went to the broker (one MQTT packet).
    Sent(Vec<u8>),
    /// These bytes came from the broker (one WebSocket frame: any number of packets, or part of
    /// one).
    Received(Vec<u8>),
    /// The status changed.
    Status(Status),
    /// Events before the ones that follow were lost: the listener fell more than
    /// `OBSERVED_LIMIT` behind (a byte stream it was reassembling is broken).
    Skipped,
}

impl fmt::Debug for Observed {
    /// Packets show their size only: a CONNECT carries the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Made {
                source,
                sample,
                fate,
            } => write!(f, "Made({source}, {}, {fate:?})", sample.sequence),
            Observed::Sample {
                source,
                sequence,
                fate,
            } => write!(f, "Sample({source}, {sequence}, {fate:?})"),
            Observed::Sent(bytes) => write!(f, "Sent({} bytes)", bytes.len()),
            Observed::Received(bytes) => write!(f, "Received({} bytes)", bytes.len()),
            Observed::Status(status) => write!(f, "Status({status:?})"),
            Observed::Skipped => f.write_str("Skipped"),
        }
    }
}

/// Milliseconds shown as seconds with one decimal, without float formatting.
pub(crate) struct Seconds(pub u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 1000, self.0 % 1000 / 100)
    }
}
