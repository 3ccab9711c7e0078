//! Event counters of one series: for every tier of its [`Layout`], a ring of panes of
//! `width` u32 cells (the total, then one good count per SLO).
//!
//! Writes go to the finest ring only. Its closed panes are added to the coarser rings in
//! batches, half a ring at a time ([`Layout::rollup_panes`]): consecutive fine panes fall
//! in the same coarse pane, so a batch touches a few cache lines per coarse ring instead
//! of one per event. That matters for the many series that see an event every few
//! seconds, whose state is out of cache each time. Reads of a coarse ring add the fine
//! panes not yet rolled up, so the deferral is invisible. An event older than the rolled
//! up panes (late) goes to every ring directly.
//!
//! u32 cells keep a series within its memory budget (docs/performance.md); a cell that
//! wraps records the carry in a side list, which is empty unless one series sees more
//! than 2^32 events in one pane (over a million per second for an hour), so counts stay
//! exact at any rate.

use std::ops::Range;

use super::{Head, LADDER_MS, Layout, PaneClock};
use crate::state::codec::{CodecError, Reader, Writer};

pub struct CounterRings {
    /// The head of each ring, the first `tiers` used. Inline, as are the lifetime counts,
    /// because every ring add reads them: in allocations of their own they were misses
    /// of their own, the head's before the slot's, and about half of the time `replay`
    /// spent in ring adds (docs/performance.md).
    heads: [Head; LADDER_MS.len()],
    tiers: u8,
    cells: Box<[u32]>,
    /// `(cell, wraps)`: the cell holds `wraps * 2^32` more than it shows.
    carries: Vec<(u32, u32)>,
    /// Fine panes from this one on are not yet in the coarse rings.
    rolled: i64,
    /// Every count ever added, per counter: monotonic, for the `_total` counters.
    lifetime: Lifetime,
}

/// The widest layout that counts as narrow, the stage's: most layouts are. Its lifetime
/// counts are inline, and its roll-ups sum this wide.
const NARROW: usize = super::series::STAGE_WIDTH;

/// A series' lifetime counts: inline up to [`NARROW`] counters, boxed beyond.
enum Lifetime {
    Inline([u64; NARROW], u8),
    Boxed(Box<[u64]>),
}

impl Lifetime {
    fn new(width: usize) -> Lifetime {
        if width <= NARROW {
            Lifetime::Inline([0; NARROW], width as u8)
        } else {
            Lifetime::Boxed(vec![0; width].into_boxed_slice())
        }
    }
}

impl std::ops::Deref for Lifetime {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        match self {
            Lifetime::Inline(counts, width) => &counts[..usize::from(*width)],
            Lifetime::Boxed(counts) => counts,
        }
    }
}

impl std::ops::DerefMut for Lifetime {
    fn deref_mut(&mut self) -> &mut [u64] {
        match self {
            Lifetime::Inline(counts, width) => &mut counts[..usize::from(*width)],
            Lifetime::Boxed(counts) => counts,
        }
    }
}

impl CounterRings {
    pub fn new(layout: &Layout) -> CounterRings {
        CounterRings {
            heads: [Head::EMPTY; LADDER_MS.len()],
            tiers: layout.tiers.len() as u8,
            cells: vec![0; layout.cells()].into_boxed_slice(),
            carries: Vec::new(),
            rolled: i64::MIN,
            lifetime: Lifetime::new(layout.width),
        }
    }

    /// Counts one event: the total, and the good count of each SLO whose bit is set in
    /// `good`.
    pub fn record(&mut self, layout: &Layout, clock: &PaneClock, good: u32) {
        let mut counts = [0u32; 33];
        counts[0] = 1;
        for (j, c) in counts[1..layout.width].iter_mut().enumerate() {
            *c = (good >> j) & 1;
        }
        self.add(layout, clock, &counts[..layout.width]);
    }

    /// Adds `counts` (`width` of them) to the pane of `clock`, in every ring that still
    /// holds it.
    pub fn add(&mut self, layout: &Layout, clock: &PaneClock, counts: &[u32]) {
        let counts = &counts[..layout.width];
        for (l, &c) in self.lifetime.iter_mut().zip(counts) {
            *l += u64::from(c);
        }
        let fine = layout.fine;
        let tier = &layout.tiers[fine];
        let pane = clock.pane[tier.step];
        let head = self.heads[fine].pane;
        let len = i64::from(tier.len);
        let held = head == i64::MIN || pane > head - len;
        if layout.tiers.len() == 1 || (held && pane >= self.rolled) {
            if head != i64::MIN && pane > head {
                let unrolled = self.first_unrolled(layout);
                // Roll up before the move would recycle panes not yet rolled up, and
                // otherwise every half ring, so that batches stay small.
                if pane - len + 1 > unrolled || pane - unrolled >= i64::from(layout.rollup_panes) {
                    self.roll_up(layout, head);
                }
            }
            self.add_to(layout, fine, pane, counts);
            return;
        }
        if held {
            self.add_to(layout, fine, pane, counts);
        }
        for t in (0..layout.tiers.len()).filter(|&t| t != fine) {
            self.add_to(layout, t, clock.pane[layout.tiers[t].step], counts);
        }
    }

    /// Adds `counts` to `pane` of ring `t`, if the ring still holds it.
    fn add_to<C: Copy + Into<u64>>(&mut self, layout: &Layout, t: usize, pane: i64, counts: &[C]) {
        let width = layout.width;
        let tier = &layout.tiers[t];
        let cells = &mut self.cells[tier.offset..tier.offset + tier.len as usize * width];
        let carries = &mut self.carries;
        let clear = |slots: Range<u32>| {
            let (from, to) = (slots.start as usize * width, slots.end as usize * width);
            cells[from..to].fill(0);
            if !carries.is_empty() {
                let (from, to) = ((tier.offset + from) as u32, (tier.offset + to) as u32);
                carries.retain(|&(c, _)| c < from || c >= to);
            }
        };
        let Some(slot) = self.heads[t].slot_for(pane, tier.len, clear) else {
            return;
        };
        let base = tier.offset + slot as usize * width;
        for (j, &n) in counts.iter().enumerate() {
            let n: u64 = n.into();
            if n > 0 {
                self.bump(base + j, n);
            }
        }
    }

    /// Adds the fine panes not yet rolled up, through `last`, to the coarse rings: one
    /// pass over the fine panes, skipping empty ones; consecutive fine panes that share a
    /// coarse pane are summed and written once.
    fn roll_up(&mut self, layout: &Layout, last: i64) {
        // Sums as wide as the counters, not as the widest layout: they are zeroed per
        // roll-up.
        if layout.width <= NARROW {
            self.roll_up_with::<NARROW>(layout, last);
        } else {
            self.roll_up_with::<33>(layout, last);
        }
    }

    fn roll_up_with<const W: usize>(&mut self, layout: &Layout, last: i64) {
        let fine = &layout.tiers[layout.fine];
        let head = self.heads[layout.fine];
        let first = self.first_unrolled(layout);
        self.rolled = last + 1;
        let width = layout.width;
        let last = last.min(head.pane);
        if first > last {
            return;
        }
        // Per coarse tier: fine panes per coarse pane, the coarse pane being summed, the
        // first fine pane past it, and its sums. Fine panes come in ascending order, so a
        // pane below `end` is in the coarse pane being summed: no division per fine pane.
        // Only the first `width` sums are used; a new coarse pane overwrites them, so they
        // are zeroed once, not per pane.
        let mut ratio = [1; LADDER_MS.len()];
        for (t, r) in ratio.iter_mut().enumerate().take(layout.tiers.len()) {
            *r = fine_per_coarse(layout, t);
        }
        let mut pane = [i64::MIN; LADDER_MS.len()];
        let mut end = [i64::MIN; LADDER_MS.len()];
        let mut sums = [[0u64; W]; LADDER_MS.len()];
        let mut values = [0u64; W];
        let values = &mut values[..width];
        let mut slot = head.slot_back((head.pane - first) as u32, fine.len);
        for q in first..=last {
            let base = fine.offset + slot as usize * width;
            slot = if slot + 1 == fine.len { 0 } else { slot + 1 };
            if self.cells[base] == 0 && self.carries.is_empty() {
                continue;
            }
            values.fill(0);
            self.slot_values(base, values);
            if values[0] == 0 {
                continue;
            }
            for t in (0..layout.tiers.len()).filter(|&t| t != layout.fine) {
                if q < end[t] {
                    sums[t][..width]
                        .iter_mut()
                        .zip(&*values)
                        .for_each(|(s, v)| *s += v);
                    continue;
                }
                if pane[t] != i64::MIN {
                    self.add_to(layout, t, pane[t], &sums[t][..width]);
                }
                pane[t] = q.div_euclid(ratio[t]);
                end[t] = (pane[t] + 1) * ratio[t];
                sums[t][..width].copy_from_slice(values);
            }
        }
        for t in 0..layout.tiers.len() {
            if pane[t] != i64::MIN {
                self.add_to(layout, t, pane[t], &sums[t][..width]);
            }
        }
    }

    /// The first fine pane not yet in the coarse rings.
    fn first_unrolled(&self, layout: &Layout) -> i64 {
        let fine = &layout.tiers[layout.fine];
        self.rolled
            .max(self.heads[layout.fine].pane - i64::from(fine.len) + 1)
    }

    fn slot_values(&self, base: usize, out: &mut [u64]) {
        let width = out.len();
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

    #[inline]
    fn bump(&mut self, cell: usize, n: u64) {
        let (v, wrapped) = self.cells[cell].overflowing_add(n as u32);
        self.cells[cell] = v;
        let wraps = (n >> 32) as u32 + u32::from(wrapped);
        if wraps > 0 {
            self.carry(cell as u32, wraps);
        }
    }

    #[cold]
    fn carry(&mut self, cell: u32, n: u32) {
        match self.carries.iter_mut().find(|(c, _)| *c == cell) {
            Some((_, wraps)) => *wraps += n,
            None => self.carries.push((cell, n)),
        }
    }

    /// Adds the cells of panes `[lo, hi)` of tier `t` into `out` (`width` sums).
    pub fn sum(&self, layout: &Layout, t: usize, lo: i64, hi: i64, out: &mut [u64]) {
        let tier = &layout.tiers[t];
        let width = layout.width;
        for (_, slot) in self.heads[t].held(lo, hi, tier.len) {
            self.slot_values(tier.offset + slot as usize * width, out);
        }
        if t == layout.fine || self.heads[layout.fine].pane == i64::MIN {
            return;
        }
        // Fine panes not yet rolled up into this ring.
        let fine = &layout.tiers[layout.fine];
        let head = self.heads[layout.fine];
        let ratio = fine_per_coarse(layout, t);
        for (q, slot) in head.held(self.first_unrolled(layout), head.pane + 1, fine.len) {
            if (lo..hi).contains(&q.div_euclid(ratio)) {
                self.slot_values(fine.offset + slot as usize * width, out);
            }
        }
    }

    /// These rings in layout `new`, counter `j` of the new rings taken from counter
    /// `columns[j]` of these (laid out as `old`). Every ring is made complete first (the
    /// fine panes not rolled up yet are rolled up); then each ring of `new` takes the
    /// newest panes of the ring of `old` at the same resolution, as many as both hold,
    /// and a ring at a resolution `old` did not keep starts empty. Exact: the panes
    /// carried hold the same counts as before, and no count is in two panes of a ring.
    pub fn carry_into(mut self, old: &Layout, new: &Layout, columns: &[usize]) -> CounterRings {
        let fine_head = self.heads[old.fine].pane;
        if fine_head != i64::MIN && old.tiers.len() > 1 {
            self.roll_up(old, fine_head);
        }
        let mut out = CounterRings::new(new);
        let mut values = [0u64; 33];
        let mut counts = [0u64; 33];
        for (t, tier) in new.tiers.iter().enumerate() {
            let Some(o) = old.tiers.iter().position(|o| o.step == tier.step) else {
                continue;
            };
            let (from, head) = (&old.tiers[o], self.heads[o]);
            if head.pane == i64::MIN {
                continue;
            }
            let keep = i64::from(from.len.min(tier.len));
            // Ascending, so that the head of the new ring moves forward pane by pane and
            // ends where the old one was.
            for (pane, slot) in head.held(head.pane - keep + 1, head.pane + 1, from.len) {
                let values = &mut values[..old.width];
                values.fill(0);
                self.slot_values(from.offset + slot as usize * old.width, values);
                for (c, &j) in counts.iter_mut().zip(columns) {
                    *c = values[j];
                }
                out.add_to(new, t, pane, &counts[..new.width]);
            }
        }
        for (l, &j) in out.lifetime.iter_mut().zip(columns) {
            *l = self.lifetime[j];
        }
        // What the fine ring holds is in the coarse rings already (or, for a ring that
        // starts empty, is left out of it as the rest of that ring's past is).
        let head = out.heads[new.fine].pane;
        out.rolled = if head == i64::MIN { i64::MIN } else { head + 1 };
        out
    }

    /// Bytes held by this series' counters: the inline heads and lifetime counts too, as
    /// when they were allocations of their own.
    pub fn heap_bytes(&self) -> usize {
        usize::from(self.tiers) * size_of::<Head>()
            + self.cells.len() * size_of::<u32>()
            + self.carries.capacity() * size_of::<(u32, u32)>()
            + self.lifetime.len() * size_of::<u64>()
    }

    /// Every count added so far (total, then each good count), whatever its pane.
    pub fn lifetime(&self) -> &[u64] {
        &self.lifetime
    }

    /// Writes every field, for a checkpoint ([`CounterRings::read_state`] reads it back).
    pub fn write_state(&self, w: &mut Writer) {
        for head in &self.heads[..usize::from(self.tiers)] {
            w.i64(head.pane);
            w.u64(u64::from(head.slot));
        }
        w.cells(&self.cells);
        w.u64(self.carries.len() as u64);
        for &(cell, wraps) in &self.carries {
            w.u64(u64::from(cell));
            w.u64(u64::from(wraps));
        }
        w.i64(self.rolled);
        for &l in self.lifetime.iter() {
            w.u64(l);
        }
    }

    /// The rings a checkpoint holds, checked against `layout`.
    pub fn read_state(layout: &Layout, r: &mut Reader) -> Result<CounterRings, CodecError> {
        let mut rings = CounterRings::new(layout);
        for (head, tier) in rings.heads.iter_mut().zip(&layout.tiers) {
            let pane = r.i64()?;
            let slot: u32 = r.small("a ring slot")?;
            if slot >= tier.len {
                return Err(r.invalid("a ring slot"));
            }
            *head = Head { pane, slot };
        }
        r.cells(&mut rings.cells)?;
        for _ in 0..r.len(rings.cells.len(), "the number of carries")? {
            let cell: u32 = r.small("a carried cell")?;
            if cell as usize >= rings.cells.len() {
                return Err(r.invalid("a carried cell"));
            }
            rings.carries.push((cell, r.small("a carry")?));
        }
        rings.rolled = r.i64()?;
        for l in rings.lifetime.iter_mut() {
            *l = r.u64()?;
        }
        Ok(rings)
    }
}

/// How many fine panes make one pane of ring `t` (the ladder steps divide each other).
fn fine_per_coarse(layout: &Layout, t: usize) -> i64 {
    LADDER_MS[layout.tiers[t].step] / LADDER_MS[layout.tiers[layout.fine].step]
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
        // Recycling the fine pane moves its count, carry included, to the coarse ring.
        r.record(&l, &PaneClock::at(600_000), 0);
        assert_eq!(sum(&r, &l, 0, 0, 1)[0], 0);
        assert_eq!(sum(&r, &l, 1, 0, 1)[0], (1u64 << 32) + 1);
    }

    #[test]
    fn coarse_rings_see_fine_panes_before_and_after_rollup() {
        let l = layout();
        let mut r = CounterRings::new(&l);
        let mut want = 0;
        // One event every 7 s for 40 minutes: rollups happen every half fine ring.
        for i in 0..(40 * 60 / 7) {
            r.record(&l, &PaneClock::at(i * 7_000), 1);
            want += 1;
            let hi = (i * 7_000) / 60_000 + 1;
            assert_eq!(
                sum(&r, &l, 1, hi - 60, hi)[..2],
                [want, want],
                "after event {i}"
            );
        }
        // A late event, older than what has been rolled up, reaches the coarse ring too.
        r.record(&l, &PaneClock::at(60_000), 0);
        assert_eq!(sum(&r, &l, 1, 0, 60)[0], want + 1);
    }
}
