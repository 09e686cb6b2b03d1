//! The live tally's pin count per segment: a vector sorted by segment,
//! looked up from its end.
//!
//! The tally adds a pin for every `Enqueue` (and moves pins for ranges and
//! acks), nearly always on the active segment, which is the newest and so
//! the last entry here: one comparison finds it, where a `BTreeMap` lookup
//! cost a tree descent per record. A log has a handful of segments, so the
//! rarer lookups of older ones (a binary search) and removals (a shift)
//! stay cheap.

/// Every existing segment (named by its first sequence number) and how many
/// pins it holds, in segment order.
#[derive(Debug, Default)]
pub(crate) struct SegmentPins(Vec<(u64, u64)>);

impl SegmentPins {
    /// Where `segment` is (`Ok`) or would go (`Err`): the last entry first.
    #[inline]
    fn find(&self, segment: u64) -> Result<usize, usize> {
        match self.0.last() {
            Some(&(last, _)) if last == segment => Ok(self.0.len() - 1),
            Some(&(last, _)) if last < segment => Err(self.0.len()),
            _ => self.0.binary_search_by_key(&segment, |&(s, _)| s),
        }
    }

    /// Adds `n` pins to `segment`, adding the segment if it is not there.
    #[inline]
    pub(crate) fn add(&mut self, segment: u64, n: u64) {
        match self.find(segment) {
            Ok(at) => {
                if let Some(entry) = self.0.get_mut(at) {
                    entry.1 += n;
                }
            }
            Err(at) => self.0.insert(at, (segment, n)),
        }
    }

    /// The pin count of `segment`, if it exists.
    #[inline]
    pub(crate) fn get_mut(&mut self, segment: u64) -> Option<&mut u64> {
        let at = self.find(segment).ok()?;
        self.0.get_mut(at).map(|entry| &mut entry.1)
    }

    /// Whether `segment` exists.
    pub(crate) fn contains(&self, segment: u64) -> bool {
        self.find(segment).is_ok()
    }

    /// Forgets `segment`.
    pub(crate) fn remove(&mut self, segment: u64) {
        if let Ok(at) = self.find(segment) {
            self.0.remove(at);
        }
    }

    /// Sets every count to zero.
    pub(crate) fn zero_all(&mut self) {
        for entry in &mut self.0 {
            entry.1 = 0;
        }
    }

    /// The number of segments.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Every segment and its count, in segment order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn counts_as_a_sorted_map_does() {
        // Segments added out of order, counts moved, segments removed: the
        // same as a `BTreeMap` at every step.
        let mut pins = SegmentPins::default();
        let mut model = BTreeMap::new();
        let ops: [(u8, u64, u64); 14] = [
            (0, 10, 0),
            (0, 30, 2),
            (0, 20, 1),
            (0, 30, 5),
            (1, 20, 1),
            (0, 5, 3),
            (2, 30, 0),
            (0, 40, 1),
            (1, 5, 2),
            (2, 99, 0),
            (1, 40, 1),
            (0, 10, 4),
            (2, 5, 0),
            (0, 40, 7),
        ];
        for (op, segment, n) in ops {
            match op {
                0 => {
                    pins.add(segment, n);
                    *model.entry(segment).or_insert(0) += n;
                }
                1 => {
                    if let Some(count) = pins.get_mut(segment) {
                        *count -= n;
                    }
                    if let Some(count) = model.get_mut(&segment) {
                        *count -= n;
                    }
                }
                _ => {
                    pins.remove(segment);
                    model.remove(&segment);
                }
            }
            let got: Vec<(u64, u64)> = pins.iter().collect();
            let want: Vec<(u64, u64)> = model.iter().map(|(&s, &c)| (s, c)).collect();
            assert_eq!(got, want);
            assert_eq!(pins.len(), model.len());
            for segment in [5, 10, 20, 30, 40, 99] {
                assert_eq!(pins.contains(segment), model.contains_key(&segment));
            }
        }
        pins.zero_all();
        assert!(pins.iter().all(|(_, count)| count == 0));
        assert_eq!(pins.len(), 3);
    }
}
