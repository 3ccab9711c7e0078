//! The scanner's fast path, for the shape nearly every event has: one flat object whose
//! keys and string values have no escapes, and whose values are strings, numbers or
//! literals.
//!
//! It answers only "a valid flat object, and here are its captures" or "not sure". On
//! anything else (nesting, a backslash, a control character, any syntax error) it gives
//! up, and the general scanner reads the event from the start and decides. So it never
//! has to explain an error, only to accept exactly what the general scanner accepts, and
//! capture the same values: the tests compare the two on every input.
//!
//! What makes it cheap: string ends come from the event's [`StopMap`] (a bit scan instead
//! of a byte loop), a key is looked up by a hash of its length and first eight bytes in
//! one probe whatever its position, and one loop without recursion reads the object.

use super::{Key, PathTree, Raw, Target, number, word_at};
use crate::decode::stops::StopMap;

/// A slot of [`KeyIndex::buckets`]: no wanted key hashes here.
const EMPTY: u8 = u8::MAX;
const BUCKET_BITS: u32 = 6;

/// The wanted keys of one object, by a multiplicative hash that has no collisions
/// between them (a multiplier is searched for when the index is built).
#[derive(Clone, Debug)]
pub(super) struct KeyIndex {
    multiplier: u64,
    /// Entry index of the [`PathTree`] per bucket, or [`EMPTY`].
    buckets: [u8; 1 << BUCKET_BITS],
}

/// The key's first (up to) eight bytes as a word, zero beyond its length, as
/// [`Key::first8`] holds them.
#[inline(always)]
fn first8(b: &[u8], start: usize, len: usize) -> u64 {
    if start + 8 <= b.len() {
        let word = word_at(b, start);
        if len >= 8 {
            word
        } else {
            word & ((1u64 << (8 * len)) - 1)
        }
    } else {
        let n = len.min(8);
        let mut word = [0u8; 8];
        word[..n].copy_from_slice(&b[start..start + n]);
        u64::from_le_bytes(word)
    }
}

#[inline(always)]
fn bucket(multiplier: u64, len: usize, first8: u64) -> usize {
    (first8.wrapping_add(len as u64).wrapping_mul(multiplier) >> (64 - BUCKET_BITS)) as usize
}

impl KeyIndex {
    /// An index of `keys`, or `None` when they are too many, or no multiplier tried
    /// keeps them apart; the fast path is then off for this object.
    pub(super) fn new<'a>(keys: impl Iterator<Item = &'a Key> + Clone) -> Option<KeyIndex> {
        // Odd multiples of the golden ratio's word: well-mixing multipliers. With at
        // most a few dozen keys in 64 buckets, one of the first few is collision-free.
        (0..256u64)
            .map(|k| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(2 * k + 1))
            .find_map(|multiplier| {
                let mut buckets = [EMPTY; 1 << BUCKET_BITS];
                for (i, key) in keys.clone().enumerate() {
                    let b = bucket(multiplier, key.bytes.len(), key.first8);
                    if buckets[b] != EMPTY || i >= usize::from(EMPTY) {
                        return None;
                    }
                    buckets[b] = i as u8;
                }
                Some(KeyIndex {
                    multiplier,
                    buckets,
                })
            })
    }
}

/// The capture slot of the key spelled at `start..end` (unescaped), if it is wanted. A
/// key with wanted paths below it counts as unwanted: its value here is never an object
/// (the fast path gives up on those), and a path through a scalar is absent.
#[inline(always)]
fn lookup(tree: &PathTree, index: &KeyIndex, b: &[u8], start: usize, end: usize) -> Option<usize> {
    let len = end - start;
    let word = first8(b, start, len);
    let entry = index.buckets[bucket(index.multiplier, len, word)];
    let (key, target) = tree.entries.get(usize::from(entry))?;
    let n = key.bytes.len();
    let same = n == len
        && word == key.first8
        && match n {
            0..=8 => true,
            9..=16 => word_at(b, end - 8) == key.last8,
            _ => b[start + 8..end] == key.bytes[8..],
        };
    match target {
        Target::Slot(slot) if same => Some(*slot),
        _ => None,
    }
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The position of `byte` at `i`, or after whitespace at `i`. Events are mostly compact,
/// so the byte expected is checked first and whitespace skipped only when it is not there.
#[inline(always)]
fn at(b: &[u8], i: usize, byte: u8) -> Option<usize> {
    if b.get(i) == Some(&byte) {
        return Some(i);
    }
    let i = skip_ws(b, i);
    (b.get(i) == Some(&byte)).then_some(i)
}

/// The end of the string whose body starts at `start`, if it has no escape or control
/// character: the position of its closing quote.
#[inline(always)]
fn plain_string_end(b: &[u8], stops: &StopMap, start: usize) -> Option<usize> {
    let end = stops.next(start);
    (b.get(end) == Some(&b'"')).then_some(end)
}

/// Scans `b` as a flat object, filling `slots`. `None`: not sure, the general scanner
/// must decide (the slots are then in any state).
pub(super) fn scan(b: &[u8], tree: &PathTree, slots: &mut [Raw], stops: &StopMap) -> Option<()> {
    let index = tree.index.as_ref()?;
    slots.fill(Raw::Absent);
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(());
    }
    loop {
        i = at(b, i, b'"')?;
        let key_end = plain_string_end(b, stops, i + 1)?;
        let wanted = lookup(tree, index, b, i + 1, key_end);
        i = at(b, key_end + 1, b':')? + 1;
        let (raw, after) = loop {
            break match b.get(i)? {
                b'"' => {
                    let end = plain_string_end(b, stops, i + 1)?;
                    let raw = Raw::Str {
                        start: (i + 1) as u32,
                        end: end as u32,
                        escaped: false,
                    };
                    (raw, end + 1)
                }
                b'-' | b'0'..=b'9' => number(b, i)?,
                b't' if b[i..].starts_with(b"true") => (Raw::Bool, i + 4),
                b'f' if b[i..].starts_with(b"false") => (Raw::Bool, i + 5),
                b'n' if b[i..].starts_with(b"null") => (Raw::Null, i + 4),
                // Whitespace before the value; the byte after it is not whitespace.
                b' ' | b'\t' | b'\n' | b'\r' => {
                    i = skip_ws(b, i);
                    continue;
                }
                _ => return None,
            };
        };
        if let Some(slot) = wanted {
            slots[slot] = raw;
        }
        i = after;
        loop {
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(()),
                Some(b' ' | b'\t' | b'\n' | b'\r') => {
                    i = skip_ws(b, i);
                    continue;
                }
                _ => return None,
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests;
