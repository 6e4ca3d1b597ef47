//! The samples of a run with their fates, kept for the CSV and JSONL exports.

use std::collections::VecDeque;

use super::Fate;
use crate::sensor::Sample;

/// The newest samples of one sensor, at most `limit`; older ones leave the export.
#[derive(Debug, Clone)]
pub struct Dataset {
    rows: VecDeque<(Sample, Fate)>,
    limit: usize,
}

impl Dataset {
    pub fn new(limit: usize) -> Self {
        Self {
            rows: VecDeque::new(),
            limit: limit.max(1),
        }
    }

    pub fn clear(&mut self) {
        self.rows.clear();
    }

    pub fn push(&mut self, sample: Sample, fate: Fate) {
        if self.rows.len() >= self.limit {
            self.rows.pop_front();
        }
        self.rows.push_back((sample, fate));
    }

    /// Records the fate of sample `sequence`, if it is still kept. Sequences are consecutive,
    /// so this is an index, not a search.
    pub fn set_fate(&mut self, sequence: u64, fate: Fate) {
        let Some(first) = self.rows.front().map(|(s, _)| s.sequence) else {
            return;
        };
        if let Some(entry) = sequence
            .checked_sub(first)
            .and_then(|i| self.rows.get_mut(i as usize))
        {
            entry.1 = fate;
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = &(Sample, Fate)> {
        self.rows.iter()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}
