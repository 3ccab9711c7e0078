//! Where a run of plain bytes inside a JSON string ends, for a whole event at once.
//!
//! A string body runs until a quote, a backslash or a control character (which JSON
//! forbids raw in strings). Rather than a loop per string, one pass over the event marks
//! every such byte in a bitmap, sixteen bytes per step with SSE2 on x86_64 (part of that
//! target's baseline, so no feature detection), and each string then ends in a few
//! instructions: the lowest set bit at or after its start.

/// One bit per input byte, set at each quote, backslash and byte below 0x20, and one more
/// just past the end: a search from inside the input always ends in the word it starts
/// in or a later one, with no test for the end on the way.
#[derive(Clone, Debug, Default)]
pub struct StopMap {
    words: Vec<u64>,
}

impl StopMap {
    /// Marks the stops of `input`, replacing what was marked before. The buffer is reused:
    /// no allocation once it has held an event as large.
    pub fn build(&mut self, input: &[u8]) {
        self.words.clear();
        let mut chunks = input.chunks_exact(64);
        for chunk in &mut chunks {
            let chunk: &[u8; 64] = chunk.try_into().expect("64 bytes");
            self.words.push(stops64(chunk));
        }
        // Padding with spaces, which are not stops, keeps the bits past the end clear but
        // the end's own.
        let tail = chunks.remainder();
        let mut padded = [b' '; 64];
        padded[..tail.len()].copy_from_slice(tail);
        self.words.push(stops64(&padded) | 1 << tail.len());
    }

    /// The position of the first stop at or after `from`, or the input's length; `from`
    /// itself when it is past the end.
    #[inline(always)]
    pub fn next(&self, from: usize) -> usize {
        let mut w = from / 64;
        let Some(&first) = self.words.get(w) else {
            return from;
        };
        let mut bits = first & (u64::MAX << (from % 64));
        // The bit past the end ends this loop within the words, unless `from` was past
        // it already.
        while bits == 0 {
            w += 1;
            match self.words.get(w) {
                Some(&word) => bits = word,
                None => return from,
            }
        }
        w * 64 + bits.trailing_zeros() as usize
    }
}

#[inline(always)]
fn stops64(chunk: &[u8; 64]) -> u64 {
    let mut bits = 0;
    for (i, block) in chunk.chunks_exact(16).enumerate() {
        let block: &[u8; 16] = block.try_into().expect("16 bytes");
        bits |= u64::from(stops16(block)) << (16 * i);
    }
    bits
}

/// Bit `i` set when `block[i]` is a stop.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stops16(block: &[u8; 16]) -> u16 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let v = load_unaligned_m128i(block);
    let quote = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'"' as i8));
    let slash = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\\' as i8));
    // Unsigned `v < 0x20` as `min(v, 0x1f) == v`: SSE2 compares only signed bytes.
    let control = cmp_eq_mask_i8_m128i(min_u8_m128i(v, set_splat_i8_m128i(0x1f)), v);
    move_mask_i8_m128i(bitor_m128i(bitor_m128i(quote, slash), control)) as u16
}

#[cfg(any(not(target_arch = "x86_64"), test))]
#[cfg_attr(not(target_arch = "x86_64"), inline(always))]
fn stops16_portable(block: &[u8; 16]) -> u16 {
    block
        .iter()
        .enumerate()
        .filter(|&(_, &b)| is_stop(b))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

#[cfg(not(target_arch = "x86_64"))]
use stops16_portable as stops16;

#[cfg(any(not(target_arch = "x86_64"), test))]
fn is_stop(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of inputs of lengths around the 16- and
    /// 64-byte steps, searched from every position, against a byte loop.
    #[test]
    fn finds_the_stops_a_byte_loop_finds() {
        let mut map = StopMap::default();
        for len in [0_usize, 1, 15, 16, 17, 63, 64, 65, 127, 128, 130] {
            for stop in 0..=255u8 {
                for at in (0..len).step_by(7).chain(len.checked_sub(1)) {
                    let mut input = vec![b'a'; len];
                    input[at] = stop;
                    map.build(&input);
                    for from in 0..=len {
                        let slow = (from..len).find(|&i| is_stop(input[i])).unwrap_or(len);
                        assert_eq!(map.next(from), slow, "len {len}, {stop:#x} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_simd_and_portable_blocks_agree() {
        for b in 0..=255u8 {
            let mut block = [b'x'; 16];
            for i in [0, 7, 8, 15] {
                block[i] = b;
            }
            assert_eq!(stops16(&block), stops16_portable(&block), "{b:#x}");
        }
        let mixed: [u8; 16] = *b"a\"b\\c\x00d\x1f\x20\x7f\x80\xff\"\t\n ";
        assert_eq!(stops16(&mixed), stops16_portable(&mixed));
        assert_eq!(stops16_portable(&mixed), 0b0111_0000_1010_1010);
    }

    #[test]
    fn a_reused_map_forgets_the_longer_input() {
        let mut map = StopMap::default();
        map.build(&[b'"'; 200]);
        map.build(b"abc");
        assert_eq!(map.next(0), 3);
        assert_eq!(map.next(3), 3);
        assert_eq!(map.next(100), 100);
        assert_eq!(map.next(10), 10);
    }
}
