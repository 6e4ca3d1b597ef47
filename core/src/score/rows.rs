//! The samples of one device that arrived, as NAB's rows: each sequence number once, in
//! sequence order. Kept as sorted, disjoint ranges (a run has few gaps), so a row's index is
//! a binary search and a sum.

/// Received sequence numbers as sorted, disjoint, non-adjacent ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// `(first, last)` of each range, in order.
    ranges: Vec<(u64, u64)>,
    /// The row index of each range's first sequence number.
    starts: Vec<u64>,
    len: u64,
}

impl Rows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows for every sequence number in `sequences` (any order, repeats ignored).
    pub fn of(sequences: impl IntoIterator<Item = u64>) -> Self {
        let mut rows = Self::new();
        for sequence in sequences {
            rows.insert(sequence);
        }
        rows
    }

    /// How many rows.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gaps between ranges plus one: what the ranges cost in memory.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Adds `sequence`; false when it was a row already. Appending the next number, the usual
    /// case, costs nothing but a comparison.
    pub fn insert(&mut self, sequence: u64) -> bool {
        // The range that starts at or before `sequence`, if any.
        let at = self.ranges.partition_point(|&(first, _)| first <= sequence);
        if at > 0 && sequence <= self.ranges[at - 1].1 {
            return false;
        }
        let joins_left = at > 0 && self.ranges[at - 1].1.checked_add(1) == Some(sequence);
        let joins_right =
            at < self.ranges.len() && sequence.checked_add(1) == Some(self.ranges[at].0);
        match (joins_left, joins_right) {
            (true, true) => {
                self.ranges[at - 1].1 = self.ranges[at].1;
                self.ranges.remove(at);
                self.starts.remove(at);
            }
            (true, false) => self.ranges[at - 1].1 = sequence,
            (false, true) => self.ranges[at].0 = sequence,
            (false, false) => {
                self.ranges.insert(at, (sequence, sequence));
                self.starts.insert(at, 0);
            }
        }
        self.len += 1;
        // Row indices after the insertion move up by one; appending recounts one range.
        let from = at.saturating_sub(1);
        let mut index = match from {
            0 => 0,
            k => self.starts[k - 1] + (self.ranges[k - 1].1 - self.ranges[k - 1].0 + 1),
        };
        for k in from..self.ranges.len() {
            self.starts[k] = index;
            index += self.ranges[k].1 - self.ranges[k].0 + 1;
        }
        true
    }

    pub fn contains(&self, sequence: u64) -> bool {
        self.index_of(sequence).is_some()
    }

    /// The row index of `sequence`, if it arrived.
    pub fn index_of(&self, sequence: u64) -> Option<u64> {
        let at = self.ranges.partition_point(|&(first, _)| first <= sequence);
        let k = at.checked_sub(1)?;
        let (first, last) = self.ranges[k];
        (sequence <= last).then(|| self.starts[k] + (sequence - first))
    }

    /// The first row at or after `sequence`: `(index, sequence)`.
    pub fn at_or_after(&self, sequence: u64) -> Option<(u64, u64)> {
        let at = self.ranges.partition_point(|&(_, last)| last < sequence);
        let &(first, _) = self.ranges.get(at)?;
        let found = first.max(sequence);
        Some((self.starts[at] + (found - first), found))
    }

    /// The last row at or before `sequence`: `(index, sequence)`.
    pub fn at_or_before(&self, sequence: u64) -> Option<(u64, u64)> {
        let at = self.ranges.partition_point(|&(first, _)| first <= sequence);
        let k = at.checked_sub(1)?;
        let (first, last) = self.ranges[k];
        let found = last.min(sequence);
        Some((self.starts[k] + (found - first), found))
    }

    /// The sequence number of row `index`.
    pub fn sequence(&self, index: u64) -> Option<u64> {
        if index >= self.len {
            return None;
        }
        let k = self.starts.partition_point(|&start| start <= index) - 1;
        Some(self.ranges[k].0 + (index - self.starts[k]))
    }

    /// Every row's sequence number, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|&(first, last)| first..=last)
    }
}
