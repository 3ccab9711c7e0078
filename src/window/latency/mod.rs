//! Latency percentiles of one series: a ring of histogram panes, sparse once closed.
//!
//! Buckets are log-linear: each power of two is cut into 256 linear sub-buckets, read
//! straight from the bits of the f64 latency, and those are grouped so that every bucket
//! is at most 1.98 % wide (about 36 per power of two). A percentile reports the middle of
//! its bucket, within 0.99 % of the exact value: the contract asks for 1 %, and every
//! bucket less is memory saved in every pane. A closed pane stores only its non-empty
//! buckets.
//! Why not the hdrhistogram crate per pane: a dense 2-digit histogram is ~10 KB, and a
//! window of 60 panes per series would blow the 64 KB per series budget
//! (docs/performance.md).
//!
//! The open panes ([`open`]) keep sparse entries, `bucket << 20 | count` in sorted u32s,
//! until they are busy, and then a count per bucket; closed panes are varint-encoded.

use std::ops::Range;

use self::open::{OpenPane, merge, push_count};
use super::{Head, LatencyTier, PaneClock};
use crate::state::codec::{CodecError, Reader, Writer};

/// Linear sub-buckets per power of two, before grouping.
const RAW_BITS: u32 = 8;
const RAW: usize = 1 << RAW_BITS;
/// The widest a bucket may be, relative to its lower bound, in ten-thousandths: the
/// middle of a bucket is then within 0.99 % of any value in it.
const MAX_WIDTH: usize = 198;

/// For each raw sub-bucket, its group; and the first raw sub-bucket of each group.
const GROUPING: ([u8; RAW], [u16; RAW + 1], usize) = {
    let mut group_of = [0u8; RAW];
    let mut starts = [0u16; RAW + 1];
    let mut groups = 0;
    let mut s = 0;
    while s < RAW {
        starts[groups] = s as u16;
        // Widest group from `s` whose width stays within MAX_WIDTH of its lower bound.
        let mut k = 1;
        while s + k < RAW && (k + 1) * 10_000 <= MAX_WIDTH * (RAW + s) {
            k += 1;
        }
        let mut j = 0;
        while j < k {
            group_of[s + j] = groups as u8;
            j += 1;
        }
        groups += 1;
        s += k;
    }
    starts[groups] = RAW as u16;
    (group_of, starts, groups)
};
const GROUP_OF: [u8; RAW] = GROUPING.0;
const GROUP_START: [u16; RAW + 1] = GROUPING.1;
/// Buckets per power of two.
const SUB: u32 = GROUPING.2 as u32;

/// Bucket 0 holds latencies below 2^MIN_EXP ms; the last bucket those at 2^MAX_EXP and up.
const MIN_EXP: i32 = -10;
const MAX_EXP: i32 = 32;
pub const BUCKETS: usize = 2 + ((MAX_EXP - MIN_EXP) as usize) * SUB as usize;
const SATURATED: u32 = BUCKETS as u32 - 1;
const COUNT_BITS: u32 = 20;
const COUNT_MAX: u32 = (1 << COUNT_BITS) - 1;

/// The bucket of a latency in milliseconds (finite and >= 0).
#[inline]
pub fn bucket_of(latency_ms: f64) -> u32 {
    if latency_ms < f64::from_bits(((1023 + MIN_EXP) as u64) << 52) {
        return 0;
    }
    let bits = latency_ms.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exp >= MAX_EXP {
        return SATURATED;
    }
    let raw = ((bits >> (52 - RAW_BITS)) as usize) & (RAW - 1);
    1 + (exp - MIN_EXP) as u32 * SUB + u32::from(GROUP_OF[raw])
}

/// The value a bucket reports: the middle of its range (0 for bucket 0, the bound for
/// the saturated bucket).
pub fn bucket_value(bucket: u32) -> f64 {
    match bucket {
        0 => 0.0,
        SATURATED => 2f64.powi(MAX_EXP),
        b => {
            let exp = ((b - 1) / SUB) as i32 + MIN_EXP;
            let group = ((b - 1) % SUB) as usize;
            let (lo, hi) = (
                f64::from(GROUP_START[group]),
                f64::from(GROUP_START[group + 1]),
            );
            2f64.powi(exp) * (1.0 + (lo + hi) / 2.0 / RAW as f64)
        }
    }
}

/// The two newest panes (where late events near a pane boundary still land) live in
/// growable buffers that are reused pane after pane. When a pane falls further behind,
/// it is encoded into an exactly sized byte string ([`encode`]): about two bytes per
/// non-empty bucket, which is what keeps a busy series' hour of percentiles within its
/// memory budget. A batch for an older pane (rare) decodes, merges and encodes it again.
pub struct LatencyRing {
    head: Head,
    /// The newest pane and the one before it.
    open: [OpenPane; 2],
    closed: Box<[Box<[u8]>]>,
    /// Buckets for the closed pane `late_pane`, not yet merged into it. Kafka partitions
    /// read from a backlog run minutes apart in event time, so events for a closed pane
    /// come in runs; merging a run at once costs one decode and encode, not one per event.
    late: Vec<u16>,
    late_pane: i64,
}

/// Late buckets held before they are merged into their pane.
const LATE_MAX: usize = 256;

impl LatencyRing {
    pub fn new(tier: &LatencyTier) -> LatencyRing {
        LatencyRing {
            head: Head::EMPTY,
            open: [OpenPane::default(), OpenPane::default()],
            closed: vec![Box::default(); tier.len as usize].into(),
            late: Vec::new(),
            late_pane: i64::MIN,
        }
    }

    #[inline]
    pub fn record(&mut self, tier: &LatencyTier, clock: &PaneClock, bucket: u32) {
        self.record_unsorted(tier, clock.pane[tier.step], &[bucket as u16]);
    }

    /// Counts a batch of buckets of `pane` (at the tier's step), sorted, as a partial
    /// from scale-out's stage 1 holds them: an open pane takes them in one merge.
    pub fn record_sorted(&mut self, tier: &LatencyTier, pane: i64, buckets: &[u16]) {
        self.record_with(tier, pane, buckets, OpenPane::merge_sorted);
    }

    /// Counts a few buckets of `pane` in any order, as a series' stage holds them: an open
    /// pane takes each by itself, with no sort.
    pub fn record_unsorted(&mut self, tier: &LatencyTier, pane: i64, buckets: &[u16]) {
        self.record_with(tier, pane, buckets, OpenPane::add_each);
    }

    fn record_with(
        &mut self,
        tier: &LatencyTier,
        pane: i64,
        buckets: &[u16],
        add: fn(&mut OpenPane, &[u16]),
    ) {
        if self.head.pane != i64::MIN && pane > self.head.pane {
            self.close(tier, pane - self.head.pane);
        }
        let closed = &mut self.closed;
        let clear = |slots: Range<u32>| {
            closed[slots.start as usize..slots.end as usize].fill_with(Box::default);
        };
        // A pane the ring no longer holds is dropped.
        if self.head.slot_for(pane, tier.len, clear).is_none() {
            return;
        }
        match self.head.pane - pane {
            0 => add(&mut self.open[0], buckets),
            1 => add(&mut self.open[1], buckets),
            _ => {
                if self.late_pane != pane || self.late.len() + buckets.len() > LATE_MAX {
                    self.flush_late(tier);
                    self.late_pane = pane;
                }
                self.late.extend_from_slice(buckets);
            }
        }
    }

    /// Merges the late buckets into their pane, if the ring still holds it.
    fn flush_late(&mut self, tier: &LatencyTier) {
        if self.late.is_empty() {
            return;
        }
        if let Some(slot) = self.late_slot(tier) {
            self.late.sort_unstable();
            let mut entries = Vec::new();
            decode(&self.closed[slot], |b, n| push_count(&mut entries, b, n));
            merge(&mut entries, &self.late);
            self.closed[slot] = encode(&OpenPane::from_entries(entries));
        }
        self.late.clear();
    }

    /// The slot of the late pane, while the ring holds it (it only ever falls further
    /// behind the head, until its slot is recycled).
    fn late_slot(&self, tier: &LatencyTier) -> Option<usize> {
        let back = self.head.pane.checked_sub(self.late_pane)?;
        (back >= 2 && back < i64::from(tier.len))
            .then(|| self.head.slot_back(back as u32, tier.len) as usize)
    }

    /// Before the head moves `ahead` panes on: encodes the open panes that fall behind.
    fn close(&mut self, tier: &LatencyTier, ahead: i64) {
        let previous = self.head.slot_back(1, tier.len) as usize;
        if !self.open[1].is_empty() {
            self.closed[previous] = encode(&self.open[1]);
            self.open[1].clear();
        }
        if ahead == 1 {
            self.open.swap(0, 1);
        } else if !self.open[0].is_empty() {
            self.closed[self.head.slot as usize] = encode(&self.open[0]);
            self.open[0].clear();
        }
    }

    /// Adds the panes of `[lo, hi)` into `acc`.
    pub fn sum_into(&self, tier: &LatencyTier, lo: i64, hi: i64, acc: &mut Accumulator) {
        for (pane, slot) in self.head.held(lo, hi, tier.len) {
            match self.head.pane - pane {
                back @ (0 | 1) => self.open[back as usize].for_each_bucket(|b, n| acc.add(b, n)),
                _ => decode(&self.closed[slot as usize], |bucket, n| acc.add(bucket, n)),
            }
        }
        if (lo..hi).contains(&self.late_pane) && self.late_slot(tier).is_some() {
            self.late.iter().for_each(|&b| acc.add(u32::from(b), 1));
        }
    }

    /// This ring (of tier `old`) as a ring of tier `new` at the same step: the newest
    /// panes, as many as both hold, moved as they are.
    pub fn carry_into(mut self, old: &LatencyTier, new: &LatencyTier) -> LatencyRing {
        debug_assert_eq!(old.step, new.step);
        self.flush_late(old);
        let mut out = LatencyRing::new(new);
        if self.head.pane == i64::MIN {
            return out;
        }
        out.head = Head {
            pane: self.head.pane,
            slot: 0,
        };
        out.open = std::mem::take(&mut self.open);
        for back in 2..old.len.min(new.len) {
            let from = self.head.slot_back(back, old.len) as usize;
            let to = out.head.slot_back(back, new.len) as usize;
            out.closed[to] = std::mem::take(&mut self.closed[from]);
        }
        out
    }

    /// Writes every field, for a checkpoint ([`LatencyRing::read_state`] reads it back).
    pub fn write_state(&self, w: &mut Writer) {
        w.i64(self.head.pane);
        w.u64(u64::from(self.head.slot));
        for open in &self.open {
            let entries = open.entries();
            w.u64(entries.len() as u64);
            entries.iter().for_each(|&e| w.u64(u64::from(e)));
        }
        self.closed.iter().for_each(|pane| w.bytes(pane));
        w.i64(self.late_pane);
        w.u64(self.late.len() as u64);
        self.late.iter().for_each(|&b| w.u64(u64::from(b)));
    }

    /// The ring a checkpoint holds, checked against `tier`: every bucket in range and
    /// every open pane sorted, as the merge and the reads assume.
    pub fn read_state(tier: &LatencyTier, r: &mut Reader) -> Result<LatencyRing, CodecError> {
        let mut ring = LatencyRing::new(tier);
        let pane = r.i64()?;
        let slot: u32 = r.small("a latency slot")?;
        if slot >= tier.len {
            return Err(r.invalid("a latency slot"));
        }
        ring.head = Head { pane, slot };
        for open in &mut ring.open {
            let mut entries = Vec::new();
            for _ in 0..r.len(BUCKETS * 64, "an open latency pane's length")? {
                let entry: u32 = r.small("a latency entry")?;
                let sorted = entries
                    .last()
                    .is_none_or(|&last| last >> COUNT_BITS <= entry >> COUNT_BITS);
                if entry >> COUNT_BITS >= BUCKETS as u32 || !sorted {
                    return Err(r.invalid("a latency entry"));
                }
                entries.push(entry);
            }
            *open = OpenPane::from_entries(entries);
        }
        for pane in ring.closed.iter_mut() {
            let bytes = r.bytes()?;
            if !well_formed(bytes) {
                return Err(r.invalid("a closed latency pane"));
            }
            *pane = bytes.into();
        }
        ring.late_pane = r.i64()?;
        for _ in 0..r.len(LATE_MAX, "the number of late buckets")? {
            let bucket: u16 = r.small("a late bucket")?;
            if usize::from(bucket) >= BUCKETS {
                return Err(r.invalid("a late bucket"));
            }
            ring.late.push(bucket);
        }
        Ok(ring)
    }

    pub fn heap_bytes(&self) -> usize {
        let closed: usize = self
            .closed
            .iter()
            .map(|p| size_of::<Box<[u8]>>() + p.len())
            .sum();
        closed
            + self.open.iter().map(OpenPane::heap_bytes).sum::<usize>()
            + self.late.capacity() * 2
    }
}

/// A pane as bytes: per non-empty bucket, the gap from the previous bucket and the
/// count, each a LEB128 varint (one byte below 128). Sized first, so that its one
/// allocation (per latency pane a series closes) is exact: no growth, no shrink.
fn encode(pane: &OpenPane) -> Box<[u8]> {
    let (mut len, mut previous) = (0, 0);
    pane.for_each_bucket(|bucket, n| {
        len += varint_len(u64::from(bucket - previous)) + varint_len(n);
        previous = bucket;
    });
    let mut out = Vec::with_capacity(len);
    previous = 0;
    pane.for_each_bucket(|bucket, n| {
        varint(&mut out, u64::from(bucket - previous));
        varint(&mut out, n);
        previous = bucket;
    });
    debug_assert_eq!(out.len(), len);
    out.into_boxed_slice()
}

#[inline]
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Whether `bytes` is a pane [`encode`] could have written: whole varint pairs, with
/// every bucket in range.
fn well_formed(bytes: &[u8]) -> bool {
    let mut r = Reader::new(bytes);
    let mut bucket = 0u64;
    while !r.is_empty() {
        match (r.u64(), r.u64()) {
            (Ok(gap), Ok(_)) => bucket += gap,
            _ => return false,
        }
        if bucket >= BUCKETS as u64 {
            return false;
        }
    }
    true
}

/// Calls `f(bucket, count)` for every bucket of an encoded pane, ascending.
fn decode(bytes: &[u8], mut f: impl FnMut(u32, u64)) {
    let mut i = 0;
    let mut read = || {
        let mut v = 0u64;
        let mut shift = 0;
        while let Some(&b) = bytes.get(i) {
            i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
        None
    };
    let mut bucket = 0u32;
    while let (Some(gap), Some(n)) = (read(), read()) {
        bucket += gap as u32;
        f(bucket, n);
    }
}

/// A dense histogram for reading percentiles, reused across series and windows. Only the
/// range of buckets touched is scanned and cleared.
pub struct Accumulator {
    counts: Vec<u64>,
    low: usize,
    high: usize,
    total: u64,
}

/// Percentiles reported for every window that has them, as exact fractions: the rank of
/// `num / den` among `n` values is `ceil(num * n / den)`, computed in integers.
pub const QUANTILES: [(u64, u64); 4] = [(1, 2), (9, 10), (99, 100), (999, 1000)];

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator {
            counts: vec![0; BUCKETS],
            low: BUCKETS,
            high: 0,
            total: 0,
        }
    }
}

impl Accumulator {
    #[inline]
    pub fn add(&mut self, bucket: u32, n: u64) {
        let b = bucket as usize;
        self.counts[b] += n;
        self.low = self.low.min(b);
        self.high = self.high.max(b);
        self.total += n;
    }

    /// Nearest-rank [`QUANTILES`] of what has been added; `None` when empty.
    pub fn quantiles(&self) -> Option<[f64; 4]> {
        if self.total == 0 {
            return None;
        }
        let ranks = QUANTILES.map(|(num, den)| (num * self.total).div_ceil(den).max(1));
        let mut out = [0.0; 4];
        let mut next = 0;
        let mut seen = 0;
        for b in self.low..=self.high {
            seen += self.counts[b];
            while next < 4 && seen >= ranks[next] {
                out[next] = bucket_value(b as u32);
                next += 1;
            }
            if next == 4 {
                break;
            }
        }
        Some(out)
    }

    pub fn clear(&mut self) {
        if self.low <= self.high {
            self.counts[self.low..=self.high].fill(0);
        }
        self.low = BUCKETS;
        self.high = 0;
        self.total = 0;
    }
}

mod open;
#[cfg(test)]
mod tests;
