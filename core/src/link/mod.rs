//! One connection's life, shared by everything here that holds a connection: the simulator's
//! devices, the monitor page and the native monitor.

/// What a QoS 1 PUBLISH carries, for its owner: the session hands it back with the PUBACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Sample `seq` of the connection's source (sensor) `source`.
    Sample { source: usize, seq: u64 },
    /// Blind mode's ground truth of event `id` of source `source`.
    Label { source: usize, id: u64 },
    /// A detector's verdict (the monitor's).
    Verdict,
}
