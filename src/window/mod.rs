//! Step 3 of the data path: per-series window state, in panes (time buckets) on rings.
//!
//! A window of length `W` is kept at a resolution `r` from a fixed ladder (1s … 1h, every
//! step divides an hour) and summed from `W / r` panes. Windows of one resolution share a
//! ring (a [`Tier`]), so an event touches one pane per distinct resolution, whatever the
//! number of windows: O(1) per event, and a late event lands in its own pane at the same
//! cost as a fresh one. Counts are exact on the resolution grid; see docs/semantics.md.
//!
//! This module owns layout and time arithmetic; [`ring`] holds the counters and
//! [`latency`] the percentile histograms.

pub mod latency;
pub mod ring;
mod series;

pub use series::{STAGE_WIDTH, Series, Stage};

use std::ops::Range;

use crate::config::Span;

/// Pane widths in milliseconds. Each divides the next and divides one hour, so every whole
/// hour is on the grid of every window.
pub const LADDER_MS: [i64; 6] = [1_000, 10_000, 60_000, 300_000, 900_000, 3_600_000];

/// Fewest panes a window should span before a coarser resolution is taken (≈3 % edge).
const MIN_PANES: u64 = 30;

/// How far behind its newest pane a ring keeps room: events that arrive up to this late
/// (or, live, this early) still land in their own pane.
pub const SLACK: Span = Span::from_secs(300);

/// Percentiles are kept for windows up to this long, at a resolution of at most 1 minute.
pub const MAX_LATENCY_WINDOW: Span = Span::HOUR;
const MAX_LATENCY_STEP: usize = 2;

/// Index into [`LADDER_MS`] of the resolution a window is kept at: the coarsest step that
/// divides it into at least [`MIN_PANES`] panes, else the finest step that divides it.
pub fn resolution_of(window: Span) -> usize {
    let ms = window.millis();
    let divides = |step: &usize| ms % LADDER_MS[*step] == 0;
    (0..LADDER_MS.len())
        .rev()
        .filter(divides)
        .find(|&s| (ms / LADDER_MS[s]) as u64 >= MIN_PANES)
        .unwrap_or(0)
}

/// The pane index of a timestamp at every ladder step, computed once per event.
#[derive(Clone, Copy, Debug)]
pub struct PaneClock {
    pub pane: [i64; LADDER_MS.len()],
}

impl PaneClock {
    #[inline]
    pub fn at(ts_ms: i64) -> PaneClock {
        // Constant divisors compile to multiplications.
        let s = ts_ms.div_euclid(1000);
        PaneClock {
            pane: [
                s,
                s.div_euclid(10),
                s.div_euclid(60),
                s.div_euclid(300),
                s.div_euclid(900),
                s.div_euclid(3600),
            ],
        }
    }
}

/// One ring: all windows of one resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    /// Index into [`LADDER_MS`].
    pub step: usize,
    /// Panes in the ring: the longest window's panes plus [`SLACK`].
    pub len: u32,
    /// Where this ring starts in a series' counter cells.
    pub offset: usize,
}

/// The pane range `[lo, hi)` a window covers when evaluated at `at_ms`: the panes that
/// start in `[ceil_r(at) - W, ceil_r(at))`.
pub fn pane_range(at_ms: i64, window: Span, step: usize) -> (i64, i64) {
    let r = LADDER_MS[step];
    let hi = (at_ms + r - 1).div_euclid(r);
    (hi - window.millis() / r, hi)
}

fn panes_for(window_ms: i64, step: usize) -> u32 {
    let r = LADDER_MS[step];
    (window_ms / r + (SLACK.millis() + r - 1) / r) as u32
}

/// How the windows of one group of SLOs are laid out in memory. Shared by all its series.
#[derive(Clone, Debug)]
pub struct Layout {
    pub tiers: Vec<Tier>,
    /// Counters per pane: the total, then one good count per SLO.
    pub width: usize,
    /// Every window, ascending, with the index of its tier.
    pub windows: Vec<(Span, usize)>,
    /// The ring of percentile panes, if any window is short enough to have percentiles.
    pub latency: Option<LatencyTier>,
    /// The windows that keep percentiles, ascending (those up to an hour).
    pub percentile_windows: Vec<Span>,
    /// The finest step of all rings: a series stages its current pane at this step.
    pub stage_step: usize,
    /// The tier of the finest counter ring, which takes the writes.
    pub fine: usize,
    /// How many fine panes are added to the coarse rings at a time.
    pub rollup_panes: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LatencyTier {
    pub step: usize,
    pub len: u32,
}

impl Layout {
    /// `windows` must be ascending and distinct; `goods` is the number of SLOs counted.
    /// Every window up to an hour keeps percentiles.
    pub fn new(windows: &[Span], goods: usize) -> Layout {
        Layout::with_percentiles(windows, goods, windows)
    }

    /// As [`Layout::new`], with percentiles only for those of `percentile_windows` up to
    /// an hour (windows that only alert rules read need counts, not percentiles).
    pub fn with_percentiles(windows: &[Span], goods: usize, percentile_windows: &[Span]) -> Layout {
        let width = 1 + goods;
        let mut tiers: Vec<Tier> = Vec::new();
        let mut placed = Vec::with_capacity(windows.len());
        for &window in windows {
            let step = resolution_of(window);
            let len = panes_for(window.millis(), step);
            let t = match tiers.iter().position(|t| t.step == step) {
                Some(t) => {
                    tiers[t].len = tiers[t].len.max(len);
                    t
                }
                None => {
                    tiers.push(Tier {
                        step,
                        len,
                        offset: 0,
                    });
                    tiers.len() - 1
                }
            };
            placed.push((window, t));
        }
        let mut offset = 0;
        for tier in &mut tiers {
            tier.offset = offset;
            offset += tier.len as usize * width;
        }
        let short: Vec<Span> = percentile_windows
            .iter()
            .copied()
            .filter(|w| *w <= MAX_LATENCY_WINDOW)
            .collect();
        let latency = short.last().map(|longest| {
            let step = (0..=MAX_LATENCY_STEP)
                .rev()
                .find(|&s| short.iter().all(|w| w.millis() % LADDER_MS[s] == 0))
                .unwrap_or(0);
            LatencyTier {
                step,
                len: panes_for(longest.millis(), step),
            }
        });
        Layout::assemble(tiers, width, placed, latency, short)
    }

    /// The layout of rings `(step, panes)` and a latency ring, without windows: enough to
    /// read and carry series state written with it (a checkpoint's, see
    /// `engine::carry`). Offsets and the derived fields are computed as for any layout.
    pub fn storage(tiers: &[(usize, u32)], latency: Option<(usize, u32)>, width: usize) -> Layout {
        let mut offset = 0;
        let tiers = tiers
            .iter()
            .map(|&(step, len)| {
                let tier = Tier { step, len, offset };
                offset += len as usize * width;
                tier
            })
            .collect();
        let latency = latency.map(|(step, len)| LatencyTier { step, len });
        Layout::assemble(tiers, width, Vec::new(), latency, Vec::new())
    }

    fn assemble(
        tiers: Vec<Tier>,
        width: usize,
        windows: Vec<(Span, usize)>,
        latency: Option<LatencyTier>,
        percentile_windows: Vec<Span>,
    ) -> Layout {
        let steps = tiers
            .iter()
            .map(|t| t.step)
            .chain(latency.iter().map(|l| l.step));
        let stage_step = steps.min().unwrap_or(0);
        let fine = (0..tiers.len()).min_by_key(|&t| tiers[t].step).unwrap_or(0);
        let rollup_panes = tiers.get(fine).map_or(1, |t| (t.len / 2).max(1));
        Layout {
            tiers,
            width,
            windows,
            latency,
            percentile_windows,
            stage_step,
            fine,
            rollup_panes,
        }
    }

    /// Whether this layout's rings hold every pane `window` reads, at the resolution a
    /// layout with that window would keep it: then a series carried from this layout has
    /// the window's whole history.
    pub fn holds(&self, window: Span) -> bool {
        let step = resolution_of(window);
        let needed = panes_for(window.millis(), step);
        self.tiers.iter().any(|t| t.step == step && t.len >= needed)
    }

    /// Whether two layouts keep the same rings: state of one is state of the other.
    pub fn same_storage(&self, other: &Layout) -> bool {
        self.tiers == other.tiers && self.latency == other.latency && self.width == other.width
    }

    /// Counter cells per series.
    pub fn cells(&self) -> usize {
        self.tiers.iter().map(|t| t.len as usize).sum::<usize>() * self.width
    }

    /// The tier and pane span that holds the most history: it decides what is `too_old`.
    pub fn longest_tier(&self) -> &Tier {
        self.tiers
            .iter()
            .max_by_key(|t| i64::from(t.len) * LADDER_MS[t.step])
            .expect("a layout has at least one window")
    }
}

/// Where the newest pane of a ring is, and which slot holds it.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    pub pane: i64,
    pub slot: u32,
}

impl Head {
    pub const EMPTY: Head = Head {
        pane: i64::MIN,
        slot: 0,
    };

    /// The slot of `pane`, moving the head forward when `pane` is newer. Slots that the
    /// move recycles are passed to `clear` first, as at most two ranges of slots (the ring
    /// wraps at most once), so that a long move clears whole runs at once rather than slot
    /// by slot. `None` when `pane` is older than the ring holds. Amortised O(1): a slot is
    /// cleared at most once per pass of the head.
    #[inline]
    pub fn slot_for(
        &mut self,
        pane: i64,
        len: u32,
        mut clear: impl FnMut(Range<u32>),
    ) -> Option<u32> {
        if pane == self.pane {
            return Some(self.slot);
        }
        if pane > self.pane {
            let ahead = if self.pane == i64::MIN {
                i64::MAX
            } else {
                pane - self.pane
            };
            if ahead >= i64::from(len) {
                clear(0..len);
                self.slot = 0;
            } else {
                // Slots `slot + 1 ..= slot + ahead`, modulo `len`.
                let (from, to) = (self.slot + 1, self.slot + ahead as u32 + 1);
                if to <= len {
                    clear(from..to);
                } else {
                    if from < len {
                        clear(from..len);
                    }
                    clear(0..to - len);
                }
                // Both below `len`: a subtraction, not a division, wraps it.
                let slot = self.slot + ahead as u32;
                self.slot = if slot >= len { slot - len } else { slot };
            }
            self.pane = pane;
            return Some(self.slot);
        }
        let back = self.pane - pane;
        if back >= i64::from(len) {
            return None;
        }
        Some(self.slot_back(back as u32, len))
    }

    /// The slot `back` panes behind the head (`back < len`).
    #[inline]
    pub fn slot_back(self, back: u32, len: u32) -> u32 {
        if back <= self.slot {
            self.slot - back
        } else {
            self.slot + len - back
        }
    }

    /// The panes of `[lo, hi)` that the ring still holds, as `(pane, slot)` pairs.
    pub fn held(self, lo: i64, hi: i64, len: u32) -> impl Iterator<Item = (i64, u32)> {
        let (first, last) = if self.pane == i64::MIN {
            (1, 0)
        } else {
            (
                lo.max(self.pane - i64::from(len) + 1),
                (hi - 1).min(self.pane),
            )
        };
        (first..=last).map(move |p| (p, self.slot_back((self.pane - p) as u32, len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(s: &str) -> Span {
        Span::parse(s).unwrap()
    }

    #[test]
    fn resolutions_follow_the_documented_table() {
        let table = [
            ("5m", 10_000),
            ("30m", 60_000),
            ("1h", 60_000),
            ("2h", 60_000),
            ("6h", 300_000),
            ("1d", 900_000),
            ("3d", 3_600_000),
            ("30d", 3_600_000),
            ("45s", 1_000),
            ("7m", 10_000),
            ("20s", 1_000),
        ];
        for (w, r) in table {
            assert_eq!(LADDER_MS[resolution_of(span(w))], r, "{w}");
        }
    }

    #[test]
    fn every_window_up_to_30d_is_on_the_grid_at_every_whole_hour() {
        for secs in (1..=30 * 86_400u64).step_by(1) {
            if secs % 60 != 0 && secs > 3600 {
                continue;
            }
            let step = resolution_of(Span::from_secs(secs));
            assert_eq!(3_600_000 % LADDER_MS[step], 0);
            assert_eq!((secs as i64 * 1000) % LADDER_MS[step], 0);
        }
    }

    #[test]
    fn default_layout_shares_rings_and_fits_the_memory_budget() {
        let windows: Vec<Span> = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
            .map(span)
            .to_vec();
        let layout = Layout::new(&windows, 1);
        let steps: Vec<usize> = layout.tiers.iter().map(|t| t.step).collect();
        assert_eq!(steps, [1, 2, 3, 4, 5]);
        let lens: Vec<u32> = layout.tiers.iter().map(|t| t.len).collect();
        assert_eq!(lens, [60, 125, 73, 97, 721]);
        assert!(
            layout.cells() * 4 <= 12 * 1024,
            "{} bytes",
            layout.cells() * 4
        );
        assert_eq!(layout.latency, Some(LatencyTier { step: 2, len: 65 }));
        assert_eq!(layout.longest_tier().step, 5);
    }

    #[test]
    fn pane_range_is_exact_on_the_grid_and_rounds_up_between() {
        assert_eq!(pane_range(3_600_000, span("1h"), 2), (0, 60));
        assert_eq!(pane_range(3_600_001, span("1h"), 2), (1, 61));
    }

    #[test]
    fn head_places_new_late_and_too_old_panes() {
        let mut h = Head::EMPTY;
        let mut cleared = Vec::new();
        assert_eq!(h.slot_for(100, 4, |s| cleared.extend(s)), Some(0));
        assert_eq!(cleared.len(), 4);
        cleared.clear();
        assert_eq!(h.slot_for(102, 4, |s| cleared.extend(s)), Some(2));
        assert_eq!(cleared, [1, 2]);
        cleared.clear();
        // Three on from slot 2 of 4 wraps: slots 3, then 0 and 1.
        assert_eq!(h.slot_for(105, 4, |s| cleared.extend(s)), Some(1));
        assert_eq!(cleared, [3, 0, 1]);
        assert_eq!(h.slot_for(102, 4, |_| panic!()), Some(2));
        assert_eq!(h.slot_for(101, 4, |_| panic!()), None);
        let mut h = Head { pane: 102, slot: 2 };
        assert_eq!(h.slot_for(99, 4, |_| panic!()), Some(3));
        assert_eq!(h.slot_for(98, 4, |_| panic!()), None);
        let held: Vec<(i64, u32)> = h.held(90, 200, 4).collect();
        assert_eq!(held, [(99, 3), (100, 0), (101, 1), (102, 2)]);
        // From the last slot, the move wraps at once.
        let mut h = Head { pane: 10, slot: 3 };
        cleared.clear();
        assert_eq!(h.slot_for(12, 4, |s| cleared.extend(s)), Some(1));
        assert_eq!(cleared, [0, 1]);
    }
}
