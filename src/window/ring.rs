//! Event counters of one series: for every tier of its [`Layout`], a ring of panes of
//! `width` u32 cells (the total, then one good count per SLO).
//!
//! u32 cells keep a series within its memory budget (docs/performance.md); a cell that
//! wraps records the carry in a side list, which is empty unless one series sees more
//! than 2^32 events in one pane (over a million per second for an hour), so counts stay
//! exact at any rate.

use super::{Head, Layout, PaneClock};

pub struct CounterRings {
    heads: Box<[Head]>,
    cells: Box<[u32]>,
    /// `(cell, wraps)`: the cell holds `wraps * 2^32` more than it shows.
    carries: Vec<(u32, u32)>,
}

impl CounterRings {
    pub fn new(layout: &Layout) -> CounterRings {
        CounterRings {
            heads: vec![Head::EMPTY; layout.tiers.len()].into_boxed_slice(),
            cells: vec![0; layout.cells()].into_boxed_slice(),
            carries: Vec::new(),
        }
    }

    /// Counts one event: the total, and the good count of each SLO whose bit is set in
    /// `good`, in the pane of its time on every tier that still holds that pane.
    pub fn record(&mut self, layout: &Layout, clock: &PaneClock, good: u32) {
        let mut counts = [0u32; 33];
        counts[0] = 1;
        for (j, c) in counts[1..layout.width].iter_mut().enumerate() {
            *c = (good >> j) & 1;
        }
        self.add(layout, clock, &counts[..layout.width]);
    }

    /// Adds `counts` (`width` of them) to the pane of `clock` on every tier that still
    /// holds it.
    pub fn add(&mut self, layout: &Layout, clock: &PaneClock, counts: &[u32]) {
        let width = layout.width;
        for (t, tier) in layout.tiers.iter().enumerate() {
            let cells = &mut self.cells[tier.offset..tier.offset + tier.len as usize * width];
            let carries = &mut self.carries;
            let clear = |slot: u32| {
                let at = slot as usize * width;
                cells[at..at + width].fill(0);
                if !carries.is_empty() {
                    let first = (tier.offset + at) as u32;
                    carries.retain(|&(c, _)| c < first || c >= first + width as u32);
                }
            };
            let Some(slot) = self.heads[t].slot_for(clock.pane[tier.step], tier.len, clear) else {
                continue;
            };
            let base = tier.offset + slot as usize * width;
            for (j, &n) in counts.iter().enumerate() {
                if n > 0 {
                    self.bump(base + j, n);
                }
            }
        }
    }

    #[inline]
    fn bump(&mut self, cell: usize, n: u32) {
        let (v, wrapped) = self.cells[cell].overflowing_add(n);
        self.cells[cell] = v;
        if wrapped {
            self.carry(cell as u32);
        }
    }

    #[cold]
    fn carry(&mut self, cell: u32) {
        match self.carries.iter_mut().find(|(c, _)| *c == cell) {
            Some((_, wraps)) => *wraps += 1,
            None => self.carries.push((cell, 1)),
        }
    }

    /// Adds the cells of panes `[lo, hi)` of tier `t` into `out` (`width` sums).
    pub fn sum(&self, layout: &Layout, t: usize, lo: i64, hi: i64, out: &mut [u64]) {
        let tier = &layout.tiers[t];
        let width = layout.width;
        let head = self.heads[t];
        for (_, slot) in head.held(lo, hi, tier.len) {
            let base = tier.offset + slot as usize * width;
            for (o, &c) in out.iter_mut().zip(&self.cells[base..base + width]) {
                *o += u64::from(c);
            }
            for &(cell, wraps) in &self.carries {
                let cell = cell as usize;
                if (base..base + width).contains(&cell) {
                    out[cell - base] += u64::from(wraps) << 32;
                }
            }
        }
    }

    /// Bytes held by this series' counters.
    pub fn heap_bytes(&self) -> usize {
        self.heads.len() * size_of::<Head>()
            + self.cells.len() * size_of::<u32>()
            + self.carries.capacity() * size_of::<(u32, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;

    fn layout() -> Layout {
        Layout::new(&[Span::from_secs(300), Span::HOUR], 2)
    }

    fn sum(r: &CounterRings, l: &Layout, t: usize, lo: i64, hi: i64) -> Vec<u64> {
        let mut out = vec![0; l.width];
        r.sum(l, t, lo, hi, &mut out);
        out
    }

    #[test]
    fn counts_total_and_each_good_bit_on_every_tier() {
        let l = layout();
        let mut r = CounterRings::new(&l);
        r.record(&l, &PaneClock::at(0), 0b01);
        r.record(&l, &PaneClock::at(9_999), 0b11);
        r.record(&l, &PaneClock::at(10_000), 0b00);
        assert_eq!(sum(&r, &l, 0, 0, 1), [2, 2, 1]);
        assert_eq!(sum(&r, &l, 0, 0, 30), [3, 2, 1]);
        assert_eq!(sum(&r, &l, 1, 0, 60), [3, 2, 1]);
    }

    #[test]
    fn late_events_land_in_their_pane_and_old_ones_are_dropped() {
        let l = layout();
        let mut r = CounterRings::new(&l);
        r.record(&l, &PaneClock::at(1_000_000), 0);
        r.record(&l, &PaneClock::at(1_000_000 - 200_000), 0); // 20 panes late
        assert_eq!(sum(&r, &l, 0, 80, 81), [1, 0, 0]);
        r.record(&l, &PaneClock::at(1_000_000 - 700_000), 0); // beyond the 10s ring
        assert_eq!(sum(&r, &l, 0, 0, 101), [2, 0, 0]);
        assert_eq!(sum(&r, &l, 1, 0, 17), [3, 0, 0]);
    }

    #[test]
    fn advancing_recycles_old_panes() {
        let l = layout();
        let mut r = CounterRings::new(&l);
        r.record(&l, &PaneClock::at(0), 1);
        r.record(&l, &PaneClock::at(60 * 10_000), 1); // 60 panes on: pane 0 is recycled
        assert_eq!(sum(&r, &l, 0, -100, 1000), [1, 1, 0]);
    }

    #[test]
    fn wrapped_cells_keep_exact_counts() {
        let l = layout();
        let mut r = CounterRings::new(&l);
        r.record(&l, &PaneClock::at(0), 0);
        r.cells[0] = u32::MAX;
        r.record(&l, &PaneClock::at(0), 0);
        r.record(&l, &PaneClock::at(0), 0);
        assert_eq!(sum(&r, &l, 0, 0, 1)[0], (1u64 << 32) + 1);
        r.record(&l, &PaneClock::at(600_000), 0); // recycles the pane and its carry
        assert!(r.carries.is_empty());
    }
}
