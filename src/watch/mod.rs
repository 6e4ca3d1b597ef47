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
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Counts from 1 over the watch: what a selection names.
    pub number: u64,
    pub wall_ms: i64,
    pub direction: Direction,
    pub bytes: Vec<u8>,
    /// What the codec made of it: the packet's name, id and flags, or why it could not read it.
    pub summary: Result<frames::Summary, DecodeError>,
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
    numbered: u64,
    paused: bool,
    changed: bool,
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
            numbered: 0,
            paused: false,
            changed: true,
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

    /// While paused, the inspector keeps what it has and records no new packets.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Forgets the packets kept (not the chart).
    pub fn clear_frames(&mut self) {
        self.frames.clear();
        self.changed = true;
    }

    /// Asks for a redraw (the selection changed).
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Whether anything changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
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
                self.changed = true;
            }
            Observed::Sent(bytes) => self.push_frame(wall_ms, Direction::Sent, bytes),
            Observed::Received(bytes) => {
                // A frame may hold half a packet or several [MQTT-6.0.0-2].
                self.partial.extend_from_slice(&bytes);
                loop {
                    match mqtt::decode(&self.partial, MAX_FRAME) {
                        Ok(Some((_, used))) => {
                            let rest = self.partial.split_off(used);
                            let packet = std::mem::replace(&mut self.partial, rest);
                            self.push_frame(wall_ms, Direction::Received, packet);
                        }
                        Ok(None) => break,
                        Err(_) => {
                            let bytes = std::mem::take(&mut self.partial);
                            self.push_frame(wall_ms, Direction::Received, bytes);
                            break;
                        }
                    }
                }
            }
            // A new connection starts a new byte stream.
            Observed::Status(_) => self.partial.clear(),
            Observed::Made { .. } | Observed::Sample { .. } => {}
        }
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
        self.changed = true;
    }
}

#[cfg(test)]
mod tests;
