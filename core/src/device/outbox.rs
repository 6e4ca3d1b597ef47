//! What waits to be sent on one connection: each sensor's samples (a lane each, bounded by its
//! offline queue, the oldest dropped beyond it), the order they were made in across lanes,
//! blind mode's labels (sent ahead of any sample), the catch-up after a frozen tab, and what is
//! left unsent at Stop. Pure bookkeeping: the device decides what a drop means (fates, counters,
//! log lines) from what these calls return.

use std::collections::VecDeque;

use super::LabelCounts;
use crate::sensor::{GroundTruth, Sample};

#[derive(Debug, Clone)]
pub struct Outbox {
    lanes: Vec<Lane>,
    /// Which lane holds the next sample to send, one entry per queued sample, in the order
    /// they were made. An overflow drops a lane's oldest sample but keeps its entry, which then
    /// stands for the sample queued behind it.
    order: VecDeque<usize>,
    /// Blind mode: ended events' ground truth with its lane, ahead of any sample.
    labels: VecDeque<(usize, GroundTruth)>,
    label_limit: usize,
    label_counts: LabelCounts,
    /// Lanes in an overflow burst (full, and not yet drained to half since).
    bursting: usize,
    /// Samples up to this sequence are dropped as they are made: a catch-up brought more than
    /// a lane holds.
    catch_up_drop_to: u64,
}

#[derive(Debug, Clone)]
struct Lane {
    queue: VecDeque<Sample>,
    limit: usize,
    /// Samples dropped since the lane last had room, to say a burst once.
    burst_dropped: u64,
}

/// What queuing a sample did beside queuing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queued {
    /// The lane was full: this sequence, its oldest, was dropped to make room.
    pub dropped: Option<u64>,
    /// ... and that drop began a burst.
    pub burst_began: bool,
}

/// A catch-up larger than a lane: how many samples came due, and how many of the oldest are
/// dropped as they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    pub came_due: u64,
    pub dropped: u64,
}

/// What never left at the end of a run.
#[derive(Debug, Default, PartialEq)]
pub struct Unsent {
    pub labels: u64,
    /// Each with its lane.
    pub samples: Vec<(usize, Sample)>,
}

impl Outbox {
    /// An empty outbox with a lane per sensor, each holding at most its limit (at least one);
    /// at most `label_limit` labels (at least one) wait.
    pub fn new(limits: impl IntoIterator<Item = usize>, label_limit: usize) -> Self {
        Self {
            lanes: limits
                .into_iter()
                .map(|limit| Lane {
                    queue: VecDeque::new(),
                    limit: limit.max(1),
                    burst_dropped: 0,
                })
                .collect(),
            order: VecDeque::new(),
            labels: VecDeque::new(),
            label_limit: label_limit.max(1),
            label_counts: LabelCounts::default(),
            bursting: 0,
            catch_up_drop_to: 0,
        }
    }

    /// Empty again, for a new run.
    pub fn clear(&mut self) {
        for lane in &mut self.lanes {
            lane.queue.clear();
            lane.burst_dropped = 0;
        }
        self.order.clear();
        self.labels.clear();
        self.label_counts = LabelCounts::default();
        self.bursting = 0;
        self.catch_up_drop_to = 0;
    }

    /// Queues `sample` on `lane`; a full lane drops its oldest first.
    pub fn push_sample(&mut self, lane: usize, sample: Sample) -> Queued {
        let mut queued = Queued::default();
        let l = &mut self.lanes[lane];
        if l.queue.len() >= l.limit {
            queued.dropped = l.queue.pop_front().map(|oldest| oldest.sequence);
            if l.burst_dropped == 0 {
                self.bursting += 1;
                queued.burst_began = true;
            }
            l.burst_dropped += 1;
        } else {
            self.order.push_back(lane);
        }
        l.queue.push_back(sample);
        queued
    }

    /// The next sample to send, in the order made, with its lane.
    pub fn pop_sample(&mut self) -> Option<(usize, Sample)> {
        while let Some(lane) = self.order.pop_front() {
            if let Some(sample) = self.lanes[lane].queue.pop_front() {
                return Some((lane, sample));
            }
        }
        None
    }

    /// A sample the session had no room for, back at the head.
    pub fn put_back(&mut self, lane: usize, sample: Sample) {
        self.lanes[lane].queue.push_front(sample);
        self.order.push_front(lane);
    }

    /// Queues a label; a full label queue drops its oldest (counted). True when this is the
    /// run's first label dropped (to say so once).
    pub fn push_label(&mut self, lane: usize, truth: GroundTruth) -> bool {
        self.label_counts.made += 1;
        let mut first_drop = false;
        if self.labels.len() >= self.label_limit {
            self.labels.pop_front();
            self.label_counts.dropped += 1;
            first_drop = self.label_counts.dropped == 1;
        }
        self.labels.push_back((lane, truth));
        first_drop
    }

    /// The label to send next, if one waits (it goes ahead of any sample).
    pub fn next_label(&self) -> Option<(usize, GroundTruth)> {
        self.labels.front().copied()
    }

    /// The label [`Outbox::next_label`] gave was published.
    pub fn label_published(&mut self) {
        if self.labels.pop_front().is_some() {
            self.label_counts.published += 1;
        }
    }

    #[cfg(test)]
    pub(crate) fn labels_waiting(&self) -> impl Iterator<Item = &GroundTruth> {
        self.labels.iter().map(|(_, truth)| truth)
    }

    pub fn label_acked(&mut self) {
        self.label_counts.acked += 1;
    }

    pub fn label_counts(&self) -> LabelCounts {
        self.label_counts
    }

    /// Samples and labels waiting.
    pub fn waiting(&self) -> usize {
        self.order.len() + self.labels.len()
    }

    /// Samples waiting on `lane`.
    pub fn queued(&self, lane: usize) -> usize {
        self.lanes[lane].queue.len()
    }

    /// Bursts that are over (their lane drained to half): each lane with how many it dropped.
    /// A lane that hovers at full (made faster than sent) is one burst, not a line per PUBACK.
    pub fn ended_bursts(&mut self) -> Vec<(usize, u64)> {
        // Looked for only while a burst is on: this runs at every PUBACK, and a shared fleet
        // has up to 1000 lanes.
        if self.bursting == 0 {
            return vec![];
        }
        let mut ended = vec![];
        for (index, lane) in self.lanes.iter_mut().enumerate() {
            if lane.burst_dropped > 0 && lane.queue.len() <= lane.limit / 2 {
                ended.push((index, std::mem::take(&mut lane.burst_dropped)));
            }
        }
        self.bursting -= ended.len();
        ended
    }

    /// After a pause: `due` rounds came due and `made` were made. Beyond what the first lane
    /// holds, the oldest are dropped as they are made; said once per catch-up (while its
    /// chunks are made, time moves on and the drop extends silently).
    pub fn catch_up(&mut self, due: u64, made: u64) -> Option<CatchUp> {
        let keep = self.lane_limit() as u64;
        if due <= made + keep || due - keep <= self.catch_up_drop_to {
            return None;
        }
        let said = self.catch_up_drop_to > made;
        self.catch_up_drop_to = due - keep;
        (!said).then_some(CatchUp {
            came_due: due - made,
            dropped: due - keep - made,
        })
    }

    /// The most a lane holds (the first's; a fleet's lanes hold the same).
    pub fn lane_limit(&self) -> usize {
        self.lanes.first().map_or(1, |lane| lane.limit)
    }

    /// Whether the sample `sequence` is dropped as it is made (a catch-up's oldest).
    pub fn drops_on_arrival(&self, sequence: u64) -> bool {
        sequence <= self.catch_up_drop_to
    }

    /// Empties the outbox at the end of a run: what was never sent (the labels are counted as
    /// dropped here; the samples' fates are the device's).
    pub fn take_unsent(&mut self) -> Unsent {
        let labels = std::mem::take(&mut self.labels).len() as u64;
        self.label_counts.dropped += labels;
        self.order.clear();
        let mut samples = vec![];
        for (index, lane) in self.lanes.iter_mut().enumerate() {
            samples.extend(lane.queue.drain(..).map(|sample| (index, sample)));
        }
        Unsent { labels, samples }
    }

    /// Labels sent but never acknowledged, counted as dropped at the end of a run.
    pub fn labels_unacknowledged(&mut self, count: u64) {
        self.label_counts.dropped += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::{AnomalyKind, Generator, Label};
    use crate::settings::SettingsForm;

    fn samples(n: usize) -> Vec<Sample> {
        let sensor = SettingsForm::defaults("t").validate().unwrap().sensor;
        let mut generator = Generator::new(sensor);
        (0..n)
            .map(|k| generator.next_sample(1_000 * k as i64))
            .collect()
    }

    #[test]
    fn samples_leave_in_the_order_made_across_lanes_and_a_full_lane_drops_its_oldest() {
        let mut outbox = Outbox::new([2, 2], 4);
        let s = samples(4);
        assert_eq!(outbox.push_sample(0, s[0]), Queued::default());
        outbox.push_sample(1, s[0]);
        outbox.push_sample(0, s[1]);
        let full = outbox.push_sample(0, s[2]);
        assert_eq!(
            full,
            Queued {
                dropped: Some(s[0].sequence),
                burst_began: true
            }
        );
        // A second drop in the same burst does not begin another.
        assert!(!outbox.push_sample(0, s[3]).burst_began);
        assert_eq!(
            (outbox.queued(0), outbox.queued(1), outbox.waiting()),
            (2, 1, 3)
        );
        let lanes: Vec<(usize, u64)> = std::iter::from_fn(|| outbox.pop_sample())
            .map(|(lane, sample)| (lane, sample.sequence))
            .collect();
        assert_eq!(
            lanes,
            [(0, s[2].sequence), (1, s[0].sequence), (0, s[3].sequence)]
        );
        assert_eq!(outbox.ended_bursts(), [(0, 2)]);
        assert_eq!(outbox.ended_bursts(), [], "said once");
    }

    #[test]
    fn a_sample_put_back_leaves_first_and_the_end_of_a_run_takes_what_is_left() {
        let mut outbox = Outbox::new([3], 1);
        let s = samples(3);
        for sample in &s {
            outbox.push_sample(0, *sample);
        }
        let (lane, first) = outbox.pop_sample().unwrap();
        outbox.put_back(lane, first);
        assert_eq!(outbox.pop_sample().unwrap().1.sequence, s[0].sequence);
        let truth = GroundTruth {
            label: Label {
                id: 1,
                kind: AnomalyKind::Spike,
            },
            first_sequence: 1,
            last_sequence: 2,
            start_ms: 0,
            end_ms: 1_000,
            scale: 1.0,
            snr: Some(20.0),
        };
        assert!(!outbox.push_label(0, truth));
        assert!(outbox.push_label(0, truth), "the first label dropped");
        assert_eq!(outbox.next_label().map(|(lane, _)| lane), Some(0));
        let unsent = outbox.take_unsent();
        assert_eq!(unsent.labels, 1);
        let left: Vec<u64> = unsent.samples.iter().map(|(_, s)| s.sequence).collect();
        assert_eq!(left, [s[1].sequence, s[2].sequence]);
        assert_eq!(outbox.waiting(), 0);
        let counts = outbox.label_counts();
        assert_eq!((counts.made, counts.dropped), (2, 2));
    }

    #[test]
    fn a_catch_up_beyond_a_lane_is_said_once_and_drops_the_oldest_as_made() {
        let mut outbox = Outbox::new([10], 1);
        assert_eq!(outbox.catch_up(10, 0), None, "what a lane holds is kept");
        assert_eq!(
            outbox.catch_up(100, 0),
            Some(CatchUp {
                came_due: 100,
                dropped: 90
            })
        );
        assert!(outbox.drops_on_arrival(90) && !outbox.drops_on_arrival(91));
        // Time moves on while the chunks are made: the drop extends, unsaid.
        assert_eq!(outbox.catch_up(110, 50), None);
        assert!(outbox.drops_on_arrival(100));
    }
}
