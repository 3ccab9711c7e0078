//! A validating JSON scanner that captures only the values at wanted paths.
//!
//! It checks the whole grammar (strings, escapes, numbers, literals, nesting, trailing
//! bytes) but builds nothing: a wanted value is returned as a [`Raw`] span into the input,
//! everything else is skipped. This is what makes decoding cheaper than a serde parse,
//! which must at least materialise every key it compares. Skipped strings are checked for
//! escapes and control characters but not for UTF-8, as serde_json does when it ignores
//! a value; captured strings are UTF-8 checked when they are read. Most events take the
//! fast path of [`flat`]; this scanner decides the rest.

mod flat;

use super::stops::StopMap;

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: u32 = 64;

/// A captured value, as spans into the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Raw {
    Absent,
    Null,
    Bool,
    /// The bytes between the quotes; `escaped` if they contain a backslash.
    Str {
        start: u32,
        end: u32,
        escaped: bool,
    },
    /// `integer` if the number has neither a fraction nor an exponent.
    Num {
        start: u32,
        end: u32,
        integer: bool,
    },
    /// An object or an array.
    Composite,
}

/// The syntax is not JSON.
#[derive(Debug, PartialEq)]
pub struct SyntaxError;

/// A node of the tree of wanted paths.
#[derive(Clone, Debug, Default)]
pub struct PathTree {
    entries: Vec<(Key, Target)>,
    /// The entries by hash, for the fast path; `None` turns it off.
    index: Option<flat::KeyIndex>,
}

#[derive(Clone, Debug)]
enum Target {
    /// The value at this key goes to this capture slot.
    Slot(usize),
    /// Descend into the object at this key.
    Object(PathTree),
}

/// A wanted key, with its length and first eight bytes folded into a word: most keys of
/// an event are told apart by one integer comparison, without a call to memcmp.
#[derive(Clone, Debug)]
struct Key {
    head: u64,
    /// The first (up to) eight bytes as a little-endian word, and the mask of those bytes.
    first8: u64,
    mask: u64,
    /// For keys of 9 to 16 bytes, their last eight bytes as a word: such keys (`timestamp`,
    /// `latency_ms`) are then matched by two comparisons, without a call to memcmp.
    last8: u64,
    bytes: Box<[u8]>,
}

/// The eight bytes at `at` as a little-endian word; `at + 8` must be in bounds.
#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
fn head_word(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = key.len().min(8);
    word[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(word) ^ ((key.len() as u64) << 56)
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        let n = bytes.len().min(8);
        let mut word = [0u8; 8];
        word[..n].copy_from_slice(&bytes[..n]);
        let mask = if n == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        let last8 = match bytes.len() {
            9..=16 => word_at(bytes, bytes.len() - 8),
            _ => 0,
        };
        Key {
            head: head_word(bytes),
            first8: u64::from_le_bytes(word),
            mask,
            last8,
            bytes: bytes.into(),
        }
    }

    /// Whether the input spells this key at `at`, followed by a quote; `word` is the
    /// input's eight bytes at `at`, when there are that many.
    #[inline(always)]
    fn matches_at(&self, input: &[u8], at: usize, word: Option<u64>) -> bool {
        let n = self.bytes.len();
        if input.get(at + n) != Some(&b'"') {
            return false;
        }
        match word {
            // `at + n` is in the input, so the key's last eight bytes are too.
            Some(w) if n > 16 => w == self.first8 && input[at + 8..at + n] == self.bytes[8..],
            Some(w) if n > 8 => w == self.first8 && word_at(input, at + n - 8) == self.last8,
            Some(w) => w & self.mask == self.first8,
            None => input[at..at + n] == *self.bytes,
        }
    }

    #[inline]
    fn matches(&self, head: u64, key: &[u8]) -> bool {
        self.head == head
            && self.bytes.len() == key.len()
            && (key.len() <= 8 || self.bytes[8..] == key[8..])
    }
}

impl PathTree {
    /// Adds a path whose value is captured in `slot`. Paths never overlap (the config
    /// checks that), so a key is either a slot or an object, not both.
    pub fn insert(&mut self, keys: &[String], slot: usize) {
        let (first, rest) = keys.split_first().expect("a path has at least one key");
        let first = first.as_bytes();
        let pos = self.entries.iter().position(|(k, _)| *k.bytes == *first);
        if rest.is_empty() {
            self.entries.push((Key::new(first), Target::Slot(slot)));
        } else {
            let i = pos.unwrap_or_else(|| {
                self.entries
                    .push((Key::new(first), Target::Object(PathTree::default())));
                self.entries.len() - 1
            });
            if let Target::Object(child) = &mut self.entries[i].1 {
                child.insert(rest, slot);
            }
        }
        self.index = flat::KeyIndex::new(self.entries.iter().map(|(k, _)| k));
    }

    /// The wanted key that the input spells out, unescaped, at `at` (just after an opening
    /// quote): its index and target, and the position after its closing quote. Most keys
    /// of an event are wanted ones, so this spares scanning them as strings. Entry `hint`
    /// is tried first: events of one source list their keys in one order, so the entry
    /// after the last one matched is usually the next.
    #[inline(always)]
    fn match_at(&self, input: &[u8], at: usize, hint: usize) -> Option<(usize, &Target, usize)> {
        let word = input.get(at..at + 8).map(|_| word_at(input, at));
        let n = self.entries.len();
        // Every entry once, from `hint` on, wrapping around.
        let mut i = if hint < n { hint } else { 0 };
        for _ in 0..n {
            let (k, target) = &self.entries[i];
            if k.matches_at(input, at, word) {
                return Some((i, target, at + k.bytes.len() + 1));
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }

    /// Marks every value under this node absent.
    fn clear(&self, slots: &mut [Raw]) {
        for (_, target) in &self.entries {
            match target {
                Target::Slot(slot) => slots[*slot] = Raw::Absent,
                Target::Object(child) => child.clear(slots),
            }
        }
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<&Target> {
        let head = head_word(key);
        self.entries
            .iter()
            .find(|(k, _)| k.matches(head, key))
            .map(|(_, t)| t)
    }
}

/// What a top-level document turned out to be.
#[derive(Debug, PartialEq)]
pub enum Document {
    Object,
    /// Valid JSON, but not an object.
    Other,
}

/// Scans `input`, filling `slots` from the paths in `tree`. `stops` (the string stops of
/// the input) and `key_buf` (unescaped keys, rare) are reused across calls.
pub fn scan(
    input: &[u8],
    tree: &PathTree,
    slots: &mut [Raw],
    stops: &mut StopMap,
    key_buf: &mut Vec<u8>,
) -> Result<Document, SyntaxError> {
    stops.build(input);
    if flat::scan(input, tree, slots, stops).is_some() {
        return Ok(Document::Object);
    }
    scan_general(input, tree, slots, stops, key_buf)
}

/// [`scan`] without the fast path; `stops` must be built for `input`.
fn scan_general(
    input: &[u8],
    tree: &PathTree,
    slots: &mut [Raw],
    stops: &StopMap,
    key_buf: &mut Vec<u8>,
) -> Result<Document, SyntaxError> {
    slots.fill(Raw::Absent);
    let mut s = Scanner {
        b: input,
        i: 0,
        stops,
        key_buf,
    };
    s.ws();
    let doc = if s.peek() == Some(b'{') {
        s.i += 1;
        s.object(Some(tree), slots, 1)?;
        Document::Object
    } else {
        s.value(0)?;
        Document::Other
    };
    s.ws();
    if s.i != input.len() {
        return Err(SyntaxError);
    }
    Ok(doc)
}

struct Scanner<'a, 'k> {
    b: &'a [u8],
    i: usize,
    stops: &'k StopMap,
    key_buf: &'k mut Vec<u8>,
}

impl Scanner<'_, '_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(SyntaxError)
        }
    }

    /// After `{`. With a tree, captures wanted values; without one, only validates.
    fn object(
        &mut self,
        tree: Option<&PathTree>,
        slots: &mut [Raw],
        depth: u32,
    ) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError);
        }
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut hint = 0;
        loop {
            self.ws();
            self.expect(b'"')?;
            let known = tree.and_then(|t| t.match_at(self.b, self.i, hint));
            let target = match (known, tree) {
                (Some((entry, target, after)), _) => {
                    self.i = after;
                    hint = entry + 1;
                    Some(target)
                }
                (None, None) => {
                    self.string_body()?;
                    None
                }
                (None, Some(tree)) => {
                    // An unescaped key that `match_at` did not find is not wanted: only
                    // an escaped one can still spell a wanted key.
                    let (start, end, escaped) = self.string_body()?;
                    if escaped {
                        unescape_into(&self.b[start..end], self.key_buf).ok_or(SyntaxError)?;
                        tree.find(self.key_buf)
                    } else {
                        None
                    }
                }
            };
            self.ws();
            self.expect(b':')?;
            self.ws();
            match target {
                Some(Target::Slot(slot)) => slots[*slot] = self.value(depth)?,
                Some(Target::Object(child)) => {
                    // Of duplicate keys the last counts, even when it holds no wanted value.
                    child.clear(slots);
                    if self.peek() == Some(b'{') {
                        self.i += 1;
                        self.object(Some(child), slots, depth + 1)?;
                    } else {
                        self.value(depth)?;
                    }
                }
                _ => {
                    self.value(depth)?;
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(SyntaxError),
            }
        }
    }

    /// After `[`.
    fn array(&mut self, depth: u32) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError);
        }
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(SyntaxError),
            }
        }
    }

    /// Any value at `depth` (the depth of its container). Returns what it was. Scalars
    /// are handled inline; objects and arrays, which recurse, are not.
    #[inline(always)]
    fn value(&mut self, depth: u32) -> Result<Raw, SyntaxError> {
        match self.peek().ok_or(SyntaxError)? {
            b'"' => {
                self.i += 1;
                let (start, end, escaped) = self.string_body()?;
                Ok(Raw::Str {
                    start: start as u32,
                    end: end as u32,
                    escaped,
                })
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.other_value(depth),
        }
    }

    #[inline(never)]
    fn other_value(&mut self, depth: u32) -> Result<Raw, SyntaxError> {
        match self.peek().ok_or(SyntaxError)? {
            b'{' => {
                self.i += 1;
                self.object(None, &mut [], depth + 1)?;
                Ok(Raw::Composite)
            }
            b'[' => {
                self.i += 1;
                self.array(depth + 1)?;
                Ok(Raw::Composite)
            }
            b't' => self.literal(b"true", Raw::Bool),
            b'f' => self.literal(b"false", Raw::Bool),
            b'n' => self.literal(b"null", Raw::Null),
            _ => Err(SyntaxError),
        }
    }

    fn literal(&mut self, word: &[u8], raw: Raw) -> Result<Raw, SyntaxError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(raw)
        } else {
            Err(SyntaxError)
        }
    }

    /// After the opening quote; leaves `i` after the closing one.
    #[inline(always)]
    fn string_body(&mut self) -> Result<(usize, usize, bool), SyntaxError> {
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = self.stops.next(self.i);
            match self.peek().ok_or(SyntaxError)? {
                b'"' => {
                    self.i += 1;
                    return Ok((start, self.i - 1, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek().ok_or(SyntaxError)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5).ok_or(SyntaxError)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(SyntaxError);
                            }
                            self.i += 5;
                        }
                        _ => return Err(SyntaxError),
                    }
                }
                _ => return Err(SyntaxError), // a raw control character
            }
        }
    }

    #[inline(always)]
    fn number(&mut self) -> Result<Raw, SyntaxError> {
        let (raw, end) = number(self.b, self.i).ok_or(SyntaxError)?;
        self.i = end;
        Ok(raw)
    }
}

/// The number that starts at `i` (at a `-` or a digit) and the position after it, or
/// `None` if it does not follow JSON's grammar.
#[inline(always)]
fn number(b: &[u8], start: usize) -> Option<(Raw, usize)> {
    let digit = |i: usize| matches!(b.get(i), Some(b'0'..=b'9'));
    let digits = |mut i: usize| {
        while digit(i) {
            i += 1;
        }
        i
    };
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i + 1),
        _ => return None,
    }
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        integer = false;
        if !digit(i + 1) {
            return None;
        }
        i = digits(i + 1);
    }
    if let Some(b'e' | b'E') = b.get(i) {
        integer = false;
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if !digit(i) {
            return None;
        }
        i = digits(i);
    }
    let raw = Raw::Num {
        start: start as u32,
        end: i as u32,
        integer,
    };
    Some((raw, i))
}

/// Unescapes a string body (already syntax-checked) into `out`, replacing its contents.
/// `None` for a lone UTF-16 surrogate, which no Rust string can hold.
pub fn unescape_into(body: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let simple = match body[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        let unit = hex4(&body[i + 2..i + 6]);
        i += 6;
        let code = if (0xD800..0xDC00).contains(&unit) {
            let low = (body.get(i..i + 2) == Some(b"\\u"))
                .then(|| hex4(&body[i + 2..i + 6]))
                .filter(|low| (0xDC00..0xE000).contains(low))?;
            i += 6;
            0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        } else {
            unit
        };
        let c = char::from_u32(code)?;
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
    Some(())
}

fn hex4(h: &[u8]) -> u32 {
    h.iter().fold(0, |acc, &d| {
        acc * 16 + (d as char).to_digit(16).unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> PathTree {
        let mut t = PathTree::default();
        for (slot, p) in paths.iter().enumerate() {
            let keys: Vec<String> = p.split('.').map(str::to_owned).collect();
            t.insert(&keys, slot);
        }
        t
    }

    fn run(input: &str, paths: &[&str]) -> Result<(Document, Vec<Raw>), SyntaxError> {
        let t = tree(paths);
        let mut slots = vec![Raw::Absent; paths.len()];
        let mut stops = StopMap::default();
        let doc = scan(
            input.as_bytes(),
            &t,
            &mut slots,
            &mut stops,
            &mut Vec::new(),
        )?;
        Ok((doc, slots))
    }

    #[test]
    fn captures_nested_paths_and_skips_the_rest() {
        let input = r#" {"x":[1,{"a":null}],"response":{"status":503,"size":1.5e3},"s":"a\"b"} "#;
        let (doc, slots) = run(input, &["response.status", "s", "missing"]).unwrap();
        assert_eq!(doc, Document::Object);
        assert!(matches!(slots[0], Raw::Num { integer: true, .. }));
        assert!(matches!(slots[1], Raw::Str { escaped: true, .. }));
        assert_eq!(slots[2], Raw::Absent);
    }

    #[test]
    fn last_duplicate_wins_and_escaped_keys_match() {
        let (_, slots) = run(r#"{"a":1,"\u0061":true}"#, &["a"]).unwrap();
        assert_eq!(slots[0], Raw::Bool);
    }

    #[test]
    fn keys_of_every_length_match_in_any_order() {
        let paths = ["a", "eight_by", "twelve_bytes", "a_key_of_twenty_byte"];
        let input = r#"{"a_key_of_twenty_byte":1,"twelve_bytes":2,"eight_by":3,"a":4}"#;
        let (_, slots) = run(input, &paths).unwrap();
        assert!(
            slots.iter().all(|s| matches!(s, Raw::Num { .. })),
            "{slots:?}"
        );
        // Near misses: one byte off at the end, a prefix, a longer key.
        let input = r#"{"a_key_of_twenty_bytf":1,"twelve_byte":2,"eight_bys":3,"b":4}"#;
        let (_, slots) = run(input, &paths).unwrap();
        assert!(slots.iter().all(|s| *s == Raw::Absent), "{slots:?}");
        // A wanted key within eight bytes of the end of the input.
        let (_, slots) = run(r#"{"b":1,"a":2}"#, &paths).unwrap();
        assert!(matches!(slots[0], Raw::Num { .. }));
    }

    #[test]
    fn the_last_of_duplicate_objects_counts() {
        // Found by fuzzing: the first object's value outlived its key.
        let paths = ["response.status", "response.size"];
        for input in [
            r#"{"response":{"status":200},"response":{"size":1}}"#,
            r#"{"response":{"status":200},"response":"gone"}"#,
        ] {
            let (_, slots) = run(input, &paths).unwrap();
            assert_eq!(slots[0], Raw::Absent, "{input}");
        }
        let (_, slots) = run(r#"{"response":1,"response":{"status":200}}"#, &paths).unwrap();
        assert!(matches!(slots[0], Raw::Num { .. }));
    }

    #[test]
    fn a_path_through_a_scalar_is_absent() {
        let (_, slots) = run(r#"{"response":"gone"}"#, &["response.status"]).unwrap();
        assert_eq!(slots[0], Raw::Absent);
    }

    #[test]
    fn rejects_what_is_not_json() {
        for bad in [
            "",
            "{",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":1} x",
            "{a:1}",
            "[1,2",
            "NaN",
        ] {
            assert_eq!(run(bad, &["a"]).unwrap_err(), SyntaxError, "{bad:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(run(&deep, &[]).is_err());
    }

    #[test]
    fn recognises_valid_non_objects() {
        for other in ["[1,2]", "42", "\"s\"", "null", " true "] {
            assert_eq!(run(other, &["a"]).unwrap().0, Document::Other, "{other}");
        }
    }

    #[test]
    fn unescapes_every_form() {
        let mut out = Vec::new();
        unescape_into(br#"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"#, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "a\"\\/\u{8}\u{c}\n\r\té😀"
        );
        assert!(unescape_into(br"\ud800", &mut out).is_none());
        assert!(unescape_into(br"\udc00x", &mut out).is_none());
    }
}
