//! A bounded top-k: the `k` smallest items of a stream in O(n log k) time and O(k)
//! memory, without sorting (or holding) everything.

use std::collections::BinaryHeap;

/// Keeps the `k` smallest items pushed (by `Ord`: "smaller" ranks first).
pub struct TopK<T: Ord> {
    k: usize,
    /// A max-heap: its top is the worst item kept, the one a better item evicts.
    heap: BinaryHeap<T>,
}

impl<T: Ord> TopK<T> {
    pub fn new(k: usize) -> TopK<T> {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1)),
        }
    }

    pub fn push(&mut self, item: T) {
        if self.heap.len() < self.k {
            self.heap.push(item);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && item < *worst
        {
            // Replacing the top in place sifts it down once: one O(log k) step.
            *worst = item;
        }
    }

    /// The items kept, best first.
    pub fn into_sorted(self) -> Vec<T> {
        self.heap.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::TopK;

    #[test]
    fn keeps_the_k_smallest_in_order() {
        let mut top = TopK::new(3);
        for x in [5, 1, 9, 3, 3, 7, 0, 8] {
            top.push(x);
        }
        assert_eq!(top.into_sorted(), [0, 1, 3]);
    }

    #[test]
    fn fewer_items_than_k_and_k_zero() {
        let mut top = TopK::new(10);
        [2, 1].into_iter().for_each(|x| top.push(x));
        assert_eq!(top.into_sorted(), [1, 2]);
        let mut none = TopK::new(0);
        none.push(1);
        assert!(none.into_sorted().is_empty());
    }
}
