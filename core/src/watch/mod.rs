//! What the page shows of one selected sensor: its last samples (the chart) and the last MQTT
//! packets of its connection (the frame inspector), kept from the device's typed
//! [`Observed`] events. Pure: the page feeds it and draws [`chart::svg`] and [`frames`].

pub mod chart;
pub mod frames;

use std::collections::VecDeque;

use crate::device::{Fate, Observed};
use crate::mqtt::{self, DecodeError};
use crate::sensor::Sample;

/// Samples the chart shows by default.
pub const CHART_SAMPLES: usize = 300;
/// Packets the inspector keeps.
pub const FRAMES_KEPT: usize = 200;
/// The largest packet from the broker the inspector reassembles; the session refuses larger.
const MAX_FRAME: usize = 1 << 20;

/// One sample on the chart; a dropout's sample is not reported, and is drawn as a gap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub sample: Sample,
    pub reported: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// One MQTT packet as it crossed the connection (or, when the codec refused it, the bytes it
/// refused).
#[derive(Clone, PartialEq)]
pub struct Frame {
    /// Counts from 1 over the watch: what a selection names.
    pub number: u64,
    pub wall_ms: i64,
    pub direction: Direction,
    pub bytes: Vec<u8>,
    /// What the codec made of it: the packet's name, id and flags, or why it could not read it.
    pub summary: Result<frames::Summary, DecodeError>,
}

impl std::fmt::Debug for Frame {
    /// The size only: a CONNECT carries the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frame(#{} {:?}, {} bytes, {:?})",
            self.number,
            self.direction,
            self.bytes.len(),
            self.summary
        )
    }
}

/// The chart's samples and the inspector's packets of sensor `source` of one device.
#[derive(Debug, Clone)]
pub struct Watch {
    source: usize,
    chart_len: usize,
    points: VecDeque<Point>,
    frames: VecDeque<Frame>,
    /// Bytes from the broker that do not yet make a whole packet.
    partial: Vec<u8>,
    /// The stream lost bytes: unreadable ones are dropped, not listed, until a packet reads.
    resyncing: bool,
    numbered: u64,
    paused: bool,
    /// What changed since it was last drawn.
    chart_changed: bool,
    frames_changed: bool,
}

impl Watch {
    /// Watches sensor `source` of a device, keeping its last `chart_len` samples.
    pub fn new(source: usize, chart_len: usize) -> Self {
        Self {
            source,
            chart_len: chart_len.max(2),
            points: VecDeque::new(),
            frames: VecDeque::new(),
            partial: vec![],
            resyncing: false,
            numbered: 0,
            paused: false,
            chart_changed: true,
            frames_changed: true,
        }
    }

    pub fn chart_len(&self) -> usize {
        self.chart_len
    }

    /// The samples on the chart, oldest first.
    pub fn points(&self) -> &VecDeque<Point> {
        &self.points
    }

    /// The packets kept, oldest first.
    pub fn frames(&self) -> &VecDeque<Frame> {
        &self.frames
    }

    pub fn frame(&self, number: u64) -> Option<&Frame> {
        self.frames.iter().find(|f| f.number == number)
    }

    /// While paused, the inspector keeps what it has and records no new packets (the device
    /// is asked not to copy them); on resuming, the broker's byte stream is picked up afresh.
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused && !paused {
            self.restart_stream();
        }
        self.paused = paused;
    }

    /// Forgets a partly received packet: packets were not recorded for a while.
    pub fn restart_stream(&mut self) {
        self.partial.clear();
        self.resyncing = true;
    }

    /// Forgets the packets kept (not the chart).
    pub fn clear_frames(&mut self) {
        self.frames.clear();
        self.frames_changed = true;
    }

    /// Asks for the chart to be drawn again (it is shown again).
    pub fn mark_chart_changed(&mut self) {
        self.chart_changed = true;
    }

    /// Asks for the packet list to be drawn again (the selection changed, or it is shown
    /// again).
    pub fn mark_frames_changed(&mut self) {
        self.frames_changed = true;
    }

    /// Whether a sample came since the chart was last taken, without taking it.
    pub fn chart_pending(&self) -> bool {
        self.chart_changed
    }

    /// Whether a sample came since the last call.
    pub fn take_chart_changed(&mut self) -> bool {
        std::mem::take(&mut self.chart_changed)
    }

    /// Whether the packets changed since the last call.
    pub fn take_frames_changed(&mut self) -> bool {
        std::mem::take(&mut self.frames_changed)
    }

    /// Takes in one observation of the device, seen at `wall_ms`.
    pub fn feed(&mut self, event: Observed, wall_ms: i64) {
        match event {
            Observed::Made {
                source,
                sample,
                fate,
            } if source == self.source => {
                if self.points.len() == self.chart_len {
                    self.points.pop_front();
                }
                self.points.push_back(Point {
                    sample,
                    reported: fate != Fate::Dropout,
                });
                self.chart_changed = true;
            }
            Observed::Sent(bytes) => self.push_frame(wall_ms, Direction::Sent, bytes),
            Observed::Received(bytes) => self.receive(wall_ms, &bytes),
            // A new connection starts a new byte stream.
            Observed::Status(_) => self.partial.clear(),
            // Bytes went missing: what is buffered no longer starts a packet, and what comes
            // next may start mid-packet; wait for a packet that reads.
            Observed::Skipped => {
                self.partial.clear();
                self.resyncing = true;
            }
            Observed::Made { .. } | Observed::Sample { .. } => {}
        }
    }

    /// Splits what came from the broker into packets: a frame may hold half a packet or
    /// thousands [MQTT-6.0.0-2]. Linear in the bytes, and only the packets that stay listed are
    /// copied and read (a 1 MiB frame of PINGRESPs is 524,288 packets).
    fn receive(&mut self, wall_ms: i64, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let mut packets = vec![];
        let mut at = 0;
        loop {
            match mqtt::decode(&self.partial[at..], MAX_FRAME) {
                Ok(Some((_, used))) => {
                    packets.push(at..at + used);
                    at += used;
                    self.resyncing = false;
                }
                Ok(None) => break,
                // Lost bytes left us mid-packet: try the next byte.
                Err(_) if self.resyncing => at += 1,
                // What the codec refuses is listed as it came, and the stream starts over.
                Err(_) => {
                    packets.push(at..self.partial.len());
                    at = self.partial.len();
                    break;
                }
            }
        }
        let skipped = packets.len().saturating_sub(FRAMES_KEPT);
        if !self.paused {
            self.numbered += skipped as u64;
        }
        for range in packets.into_iter().skip(skipped) {
            let packet = self.partial[range].to_vec();
            self.push_frame(wall_ms, Direction::Received, packet);
        }
        self.partial.drain(..at);
    }

    fn push_frame(&mut self, wall_ms: i64, direction: Direction, bytes: Vec<u8>) {
        if self.paused {
            return;
        }
        if self.frames.len() == FRAMES_KEPT {
            self.frames.pop_front();
        }
        self.numbered += 1;
        self.frames.push_back(Frame {
            number: self.numbered,
            wall_ms,
            direction,
            summary: frames::Summary::of(&bytes),
            bytes,
        });
        self.frames_changed = true;
    }
}

#[cfg(test)]
mod tests;
