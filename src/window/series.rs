//! The window state of one series: its rings ([`CounterRings`], [`LatencyRing`]) and its
//! [`Stage`], the pane it is filling now.
//!
//! Why a stage: a series' rings span several kilobytes, and an event written straight to
//! them touches one cache line per ring. With thousands of series in random order each of
//! those is a cache miss, and misses, not instructions, bound the hot path. The stage
//! holds the counts of the pane the series is filling, and of the one before it (events
//! around a pane boundary arrive a little out of order), and the latest latency buckets of
//! its current latency pane, in one aligned 128-byte block. Those events touch only the stage; the rings are written
//! when the series moves on by a pane or the bucket buffer fills. Older events go to the
//! rings directly. Reads add the stage to the rings, so the split is invisible.

use super::latency::{Accumulator, LatencyRing};
use super::ring::CounterRings;
use super::{LADDER_MS, Layout, PaneClock};
use crate::state::codec::{CodecError, Reader, Writer};

/// Most counters a stage holds: the total and three good counts. Wider populations write
/// to their rings directly.
pub const STAGE_WIDTH: usize = 4;
const STAGE_BUCKETS: usize = 36;
/// Set on a staged bucket of the latency pane before `latency_pane` (buckets use 12 bits).
const PREVIOUS: u16 = 1 << 15;

/// The panes a series is filling: `pane` and `pane - 1`, at the finest step of its layout,
/// so that each maps into exactly one pane of every ring; and the latency buckets of its
/// latency pane `latency_pane` (a minute, usually), which spans many counter panes.
#[derive(Clone, Debug)]
#[repr(align(128))]
pub struct Stage {
    pane: i64,
    counts: [u32; STAGE_WIDTH],
    previous: [u32; STAGE_WIDTH],
    latency_pane: i64,
    buckets: [u16; STAGE_BUCKETS],
    n_buckets: u8,
}

// Two cache lines, which `Stage::prefetch` asks for.
const _: () = assert!(size_of::<Stage>() == 128);

impl Stage {
    /// Asks for the stage's two cache lines, without waiting for them. The last bucket
    /// is in the second line wherever the compiler puts the fields: the buckets take 72
    /// of the 128 bytes.
    #[inline]
    pub fn prefetch(&self) {
        prefetch(self);
        prefetch(&self.buckets[STAGE_BUCKETS - 1]);
    }
}

/// Asks for the cache line that holds `value`, without waiting for it: unlike a load,
/// a prefetch holds up nothing behind it while the line is on its way.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

impl Default for Stage {
    fn default() -> Self {
        Stage {
            pane: i64::MIN,
            counts: [0; STAGE_WIDTH],
            previous: [0; STAGE_WIDTH],
            latency_pane: i64::MIN,
            buckets: [0; STAGE_BUCKETS],
            n_buckets: 0,
        }
    }
}

pub struct Series {
    counters: CounterRings,
    latency: Option<LatencyRing>,
}

impl Series {
    pub fn new(layout: &Layout) -> Series {
        Series {
            counters: CounterRings::new(layout),
            latency: layout.latency.as_ref().map(LatencyRing::new),
        }
    }

    /// Counts one event with its good mask and latency bucket. `stage` is this series'
    /// stage; the rings are only touched when it cannot take the event.
    #[inline]
    pub fn record(
        stage: &mut Stage,
        series: &mut Series,
        layout: &Layout,
        clock: &PaneClock,
        good: u32,
        bucket: u32,
    ) {
        let pane = clock.pane[layout.stage_step];
        let staged = stage.pane != i64::MIN;
        if layout.width > STAGE_WIDTH || (staged && pane < stage.pane - 1) {
            series.counters.record(layout, clock, good);
            if let (Some(ring), Some(tier)) = (&mut series.latency, &layout.latency) {
                ring.record(tier, clock, bucket);
            }
            return;
        }
        if pane > stage.pane {
            if staged && pane == stage.pane + 1 {
                series.drain_previous(stage, layout);
                stage.previous = stage.counts;
                stage.counts = [0; STAGE_WIDTH];
            } else {
                series.drain(stage, layout);
            }
            stage.pane = pane;
        }
        let counts = if pane == stage.pane {
            &mut stage.counts
        } else {
            &mut stage.previous
        };
        if counts[0] == u32::MAX {
            // Never in practice (4 billion events in one pane of one series), but exact.
            series.drain(stage, layout);
            return Series::record(stage, series, layout, clock, good, bucket);
        }
        counts[0] += 1;
        let mut bits = good;
        while bits != 0 {
            counts[1 + bits.trailing_zeros() as usize] += 1;
            bits &= bits - 1;
        }
        if let Some(tier) = &layout.latency {
            // Buckets of the latency pane and of the one before it, as for the counts.
            let latency_pane = clock.pane[tier.step];
            let full = usize::from(stage.n_buckets) == STAGE_BUCKETS;
            if full || (stage.n_buckets > 0 && latency_pane > stage.latency_pane) {
                series.drain_buckets(stage, layout);
            }
            // With buckets staged, `latency_pane` is set and the comparisons cannot overflow.
            let flag = if stage.n_buckets == 0 {
                stage.latency_pane = latency_pane;
                0
            } else if latency_pane == stage.latency_pane {
                0
            } else if latency_pane == stage.latency_pane - 1 {
                PREVIOUS
            } else {
                // Older than both staged latency panes: straight to the ring.
                if let Some(ring) = &mut series.latency {
                    ring.record(tier, clock, bucket);
                }
                return;
            };
            stage.buckets[usize::from(stage.n_buckets)] = bucket as u16 | flag;
            stage.n_buckets += 1;
        }
    }

    /// Counts a partial bucket made elsewhere (scale-out's stage 1): `counts` (the
    /// total, then each good count) in the pane of `clock`, and the latency `buckets` of
    /// its events, sorted. Straight into the rings, after the stage: a partial stands
    /// for many events of one pane, so the stage would only be drained again.
    pub fn add(
        stage: &mut Stage,
        series: &mut Series,
        layout: &Layout,
        clock: &PaneClock,
        counts: &[u32],
        buckets: &[u16],
    ) {
        series.drain(stage, layout);
        series.counters.add(layout, clock, counts);
        if let (Some(ring), Some(tier)) = (&mut series.latency, &layout.latency)
            && !buckets.is_empty()
        {
            ring.record_sorted(tier, clock.pane[tier.step], buckets);
        }
    }

    /// Moves everything staged into the rings; the stage keeps its pane, now empty.
    fn drain(&mut self, stage: &mut Stage, layout: &Layout) {
        if stage.pane == i64::MIN {
            return;
        }
        self.drain_previous(stage, layout);
        let clock = stage_clock(stage.pane, layout.stage_step);
        self.counters
            .add(layout, &clock, &stage.counts[..layout.width]);
        stage.counts = [0; STAGE_WIDTH];
        self.drain_buckets(stage, layout);
    }

    /// Moves the previous pane's counts into the rings.
    fn drain_previous(&mut self, stage: &mut Stage, layout: &Layout) {
        if stage.previous[0] > 0 {
            let clock = stage_clock(stage.pane - 1, layout.stage_step);
            self.counters
                .add(layout, &clock, &stage.previous[..layout.width]);
            stage.previous = [0; STAGE_WIDTH];
        }
    }

    /// Moves the staged latency buckets into the latency ring.
    fn drain_buckets(&mut self, stage: &mut Stage, layout: &Layout) {
        if let (Some(ring), Some(tier)) = (&mut self.latency, &layout.latency) {
            let buckets = &mut stage.buckets[..usize::from(stage.n_buckets)];
            // The current pane's buckets first, then the previous pane's, in any order.
            let (mut split, mut end) = (0, buckets.len());
            while split < end {
                if buckets[split] & PREVIOUS == 0 {
                    split += 1;
                } else {
                    end -= 1;
                    buckets.swap(split, end);
                }
            }
            let (current, previous) = buckets.split_at_mut(split);
            previous.iter_mut().for_each(|b| *b &= !PREVIOUS);
            // The older pane first: the ring's head then moves forward only once.
            for (pane, buckets) in [
                (stage.latency_pane - 1, previous),
                (stage.latency_pane, current),
            ] {
                if !buckets.is_empty() {
                    ring.record_unsorted(tier, pane, buckets);
                }
            }
        }
        stage.n_buckets = 0;
    }

    /// Adds the counters of window `w` (an index into `layout.windows`) at `at_ms` into
    /// `out`, staged counts included.
    pub fn sum(&self, stage: &Stage, layout: &Layout, w: usize, at_ms: i64, out: &mut [u64]) {
        let (window, t) = layout.windows[w];
        let step = layout.tiers[t].step;
        let (lo, hi) = super::pane_range(at_ms, window, step);
        self.counters.sum(layout, t, lo, hi, out);
        if stage.pane == i64::MIN {
            return;
        }
        for (pane, counts) in [
            (stage.pane, &stage.counts),
            (stage.pane - 1, &stage.previous),
        ] {
            let pane = stage_clock(pane, layout.stage_step).pane[step];
            if counts[0] > 0 && (lo..hi).contains(&pane) {
                for (o, c) in out.iter_mut().zip(&counts[..layout.width]) {
                    *o += u64::from(*c);
                }
            }
        }
    }

    /// Adds every count this series has seen (total, then each good count) into `out`:
    /// monotonic, whatever the panes, for the `_total` counters.
    pub fn lifetime(&self, stage: &Stage, layout: &Layout, out: &mut [u64]) {
        for (o, l) in out.iter_mut().zip(self.counters.lifetime()) {
            *o += l;
        }
        if stage.pane != i64::MIN {
            for counts in [&stage.counts, &stage.previous] {
                for (o, c) in out.iter_mut().zip(&counts[..layout.width]) {
                    *o += u64::from(*c);
                }
            }
        }
    }

    /// Adds the latency panes of `[lo, hi)` (at the latency step), staged buckets included.
    pub fn sum_latency(
        &self,
        stage: &Stage,
        layout: &Layout,
        lo: i64,
        hi: i64,
        acc: &mut Accumulator,
    ) {
        let (Some(ring), Some(tier)) = (&self.latency, &layout.latency) else {
            return;
        };
        ring.sum_into(tier, lo, hi, acc);
        for &b in &stage.buckets[..usize::from(stage.n_buckets)] {
            let pane = stage.latency_pane - i64::from(b & PREVIOUS != 0);
            if (lo..hi).contains(&pane) {
                acc.add(u32::from(b & !PREVIOUS), 1);
            }
        }
    }

    /// This series (laid out as `old`, with its stage) in layout `new`, counter `j` taken
    /// from counter `columns[j]`: the stage drained into the rings, then each ring
    /// carried (see [`CounterRings::carry_into`]). The latency ring is carried when its
    /// resolution is the same, else starts empty.
    pub fn carry_into(
        mut self,
        mut stage: Stage,
        old: &Layout,
        new: &Layout,
        columns: &[usize],
    ) -> Series {
        self.drain(&mut stage, old);
        let latency = match (self.latency, &old.latency, &new.latency) {
            (Some(ring), Some(from), Some(to)) if from.step == to.step => {
                Some(ring.carry_into(from, to))
            }
            (_, _, to) => to.as_ref().map(LatencyRing::new),
        };
        Series {
            counters: self.counters.carry_into(old, new, columns),
            latency,
        }
    }

    /// Writes the series and its stage, for a checkpoint.
    pub fn write_state(&self, stage: &Stage, w: &mut Writer) {
        w.i64(stage.pane);
        for &c in stage.counts.iter().chain(&stage.previous) {
            w.u64(u64::from(c));
        }
        w.i64(stage.latency_pane);
        w.u64(u64::from(stage.n_buckets));
        for &b in &stage.buckets[..usize::from(stage.n_buckets)] {
            w.u64(u64::from(b));
        }
        self.counters.write_state(w);
        if let Some(ring) = &self.latency {
            ring.write_state(w);
        }
    }

    /// A series and its stage as [`Series::write_state`] wrote them, for `layout`.
    pub fn read_state(layout: &Layout, r: &mut Reader) -> Result<(Series, Stage), CodecError> {
        let mut stage = Stage {
            pane: r.i64()?,
            ..Stage::default()
        };
        for c in stage.counts.iter_mut().chain(stage.previous.iter_mut()) {
            *c = r.small("a staged count")?;
        }
        stage.latency_pane = r.i64()?;
        stage.n_buckets = r.len(STAGE_BUCKETS, "the number of staged buckets")? as u8;
        for b in &mut stage.buckets[..usize::from(stage.n_buckets)] {
            *b = r.small("a staged bucket")?;
            if usize::from(*b & !PREVIOUS) >= super::latency::BUCKETS {
                return Err(r.invalid("a staged bucket"));
            }
        }
        let counters = CounterRings::read_state(layout, r)?;
        let latency = match &layout.latency {
            Some(tier) => Some(LatencyRing::read_state(tier, r)?),
            None => None,
        };
        Ok((Series { counters, latency }, stage))
    }

    pub fn heap_bytes(&self) -> usize {
        size_of::<Stage>()
            + self.counters.heap_bytes()
            + self.latency.as_ref().map_or(0, LatencyRing::heap_bytes)
    }
}

/// The clock of the first instant of a staged pane.
fn stage_clock(pane: i64, step: usize) -> PaneClock {
    PaneClock::at(pane * LADDER_MS[step])
}
