//! Buckets, sparse panes and their encoding, the ring's late buckets, and quantiles.
use super::*;

#[test]
fn every_bucket_reports_within_one_percent() {
    assert!((35..=38).contains(&SUB), "{SUB} buckets per power of two");
    let mut v = 0.001;
    while v < 4.0e9 {
        let got = bucket_value(bucket_of(v));
        assert!(((got - v) / v).abs() <= 0.0099 + 1e-12, "{v} → {got}");
        v *= 1.000_37;
    }
    assert_eq!(bucket_value(bucket_of(0.0)), 0.0);
    assert_eq!(bucket_of(1e300), SATURATED);
}

#[test]
fn buckets_are_monotonic() {
    let mut last = 0;
    for i in 0..200_000 {
        let b = bucket_of(i as f64 * 0.37);
        assert!(b >= last);
        last = b;
    }
}

/// Sorted batches merged and unsorted ones added a search at a time, into one pane,
/// count as one by one would, the pane stays sorted, and a bucket whose entry is full
/// goes on in a new one.
#[test]
fn merged_and_added_batches_equal_counting_one_by_one() {
    let mut rng = crate::traffic::Rng::new(5);
    let mut pane = Vec::new();
    push_count(&mut pane, 40, u64::from(COUNT_MAX) - 2);
    let mut want = vec![0u64; BUCKETS];
    want[40] = u64::from(COUNT_MAX) - 2;
    for round in 0..2000 {
        let n = 1 + rng.below(36);
        let mut batch: Vec<u16> = (0..n)
            .map(|_| (rng.below(300) * 7 % (BUCKETS - 1)) as u16)
            .collect();
        batch.push(40);
        batch.iter().for_each(|&b| want[usize::from(b)] += 1);
        if round % 3 == 0 {
            batch.sort_unstable();
            merge(&mut pane, &batch);
        } else {
            open::add_each(&mut pane, &batch);
        }
        assert!(
            pane.windows(2)
                .all(|w| w[0] >> COUNT_BITS <= w[1] >> COUNT_BITS)
        );
    }
    let mut acc = Accumulator::default();
    pane.iter()
        .for_each(|&e| acc.add(e >> COUNT_BITS, u64::from(e & COUNT_MAX)));
    assert_eq!(acc.counts, want);
    assert_eq!(pane.iter().filter(|&&e| e >> COUNT_BITS == 40).count(), 2);
}

#[test]
fn encoded_panes_keep_every_count() {
    let mut pane = Vec::new();
    let mut rng = crate::traffic::Rng::new(11);
    for _ in 0..500 {
        let mut batch: Vec<u16> = (0..16).map(|_| rng.below(BUCKETS) as u16).collect();
        batch.sort_unstable();
        merge(&mut pane, &batch);
    }
    push_count(&mut pane, SATURATED, 3 * u64::from(COUNT_MAX) + 7);
    let mut want = Accumulator::default();
    pane.iter()
        .for_each(|&e| want.add(e >> COUNT_BITS, u64::from(e & COUNT_MAX)));
    let mut got = Accumulator::default();
    let bytes = encode(&OpenPane::from_entries(pane.clone()));
    decode(&bytes, |b, n| got.add(b, n));
    assert_eq!(got.counts, want.counts);
    assert!(
        bytes.len() < pane.len() * 3,
        "{} bytes for {} entries",
        bytes.len(),
        pane.len()
    );
}

#[test]
fn sparse_panes_count_past_the_entry_limit() {
    let mut pane = Vec::new();
    for _ in 0..(COUNT_MAX as u64 + 5) {
        merge(&mut pane, &[7]);
    }
    merge(&mut pane, &[3, 9]);
    assert_eq!(pane.len(), 4);
    let mut acc = Accumulator::default();
    for &e in &pane {
        acc.add(e >> COUNT_BITS, u64::from(e & COUNT_MAX));
    }
    assert_eq!(acc.total, COUNT_MAX as u64 + 7);
    assert_eq!(acc.counts[7], COUNT_MAX as u64 + 5);
}

#[test]
fn quantiles_use_nearest_rank() {
    let mut acc = Accumulator::default();
    for v in 1..=1000 {
        acc.add(bucket_of(f64::from(v)), 1);
    }
    let q = acc.quantiles().unwrap();
    for (got, want) in q.iter().zip([500.0, 900.0, 990.0, 999.0]) {
        assert!((got - want).abs() / want <= 0.0099, "{got} vs {want}");
    }
    acc.clear();
    assert_eq!(acc.quantiles(), None);
    assert!(acc.counts.iter().all(|&c| c == 0));
}

/// The counts per bucket of panes `[lo, hi)`, as a read sees them.
fn read(ring: &LatencyRing, tier: &LatencyTier, lo: i64, hi: i64) -> Vec<u64> {
    let mut acc = Accumulator::default();
    ring.sum_into(tier, lo, hi, &mut acc);
    acc.counts.clone()
}

#[test]
fn late_buckets_are_read_before_and_after_they_are_merged() {
    let tier = LatencyTier { step: 2, len: 10 };
    let mut ring = LatencyRing::new(&tier);
    for pane in 0..6 {
        ring.record_sorted(&tier, pane, &[7, 7, 9]);
    }
    // Panes 0..=3 are closed now; a run of late buckets for pane 1, then one for pane 2.
    ring.record_sorted(&tier, 1, &[7]);
    ring.record_sorted(&tier, 1, &[3, 9]);
    let pane_1 = read(&ring, &tier, 1, 2);
    assert_eq!((pane_1[3], pane_1[7], pane_1[9]), (1, 3, 2));
    ring.record_sorted(&tier, 2, &[9]);
    assert_eq!(
        read(&ring, &tier, 1, 2),
        pane_1,
        "merged into pane 1 unchanged"
    );
    let pane_2 = read(&ring, &tier, 2, 3);
    assert_eq!((pane_2[7], pane_2[9]), (2, 2));
    // Once the ring moves past a late pane, its buckets go with it.
    ring.record_sorted(&tier, 12, &[1]);
    assert!(read(&ring, &tier, 0, 3).iter().all(|&n| n == 0));
}

/// A busy pane, dense while open, reads the same while open, after a checkpoint's round
/// trip, and once closed (encoded from its dense counts).
#[test]
fn a_dense_open_pane_reads_the_same_open_restored_and_closed() {
    use crate::state::codec::{Reader, Writer};
    let tier = LatencyTier { step: 2, len: 10 };
    let mut ring = LatencyRing::new(&tier);
    let mut rng = crate::traffic::Rng::new(8);
    let mut want = vec![0u64; BUCKETS];
    for _ in 0..200 {
        let batch: Vec<u16> = (0..36).map(|_| (500 + rng.below(80)) as u16).collect();
        batch.iter().for_each(|&b| want[usize::from(b)] += 1);
        ring.record_unsorted(&tier, 3, &batch);
    }
    assert!(ring.open[0].is_dense());
    assert_eq!(read(&ring, &tier, 3, 4), want);
    let mut w = Writer::default();
    ring.write_state(&mut w);
    let restored = LatencyRing::read_state(&tier, &mut Reader::new(&w.buf)).unwrap();
    assert_eq!(read(&restored, &tier, 3, 4), want);
    ring.record_unsorted(&tier, 5, &[1]);
    assert!(
        ring.closed.iter().any(|p| !p.is_empty()),
        "pane 3 is closed"
    );
    assert_eq!(read(&ring, &tier, 3, 4), want);
}
