//! Glob patterns of `services` rules: `*` matches any run of characters (none too), `?`
//! exactly one character, anything else itself. No character classes and no escapes:
//! service names, routes and label values do not contain `*` or `?` in practice, and a
//! small language is one an SRE reads without looking it up.
//!
//! Matching runs once per stream (see `crate::classify`), never per event, but it is still
//! linear in practice and allocation-free: the classic two-pointer match that backtracks
//! only to the last `*`, which is enough because a later `*` can absorb whatever an earlier
//! one would have.

use std::fmt;

/// A validated glob pattern.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Glob {
    pattern: Box<str>,
    /// No `*` or `?`: matching is string equality.
    literal: bool,
}

impl Glob {
    /// A pattern; empty patterns are refused, as they match only the empty string, which
    /// no service name is.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches nothing; use `*` to match anything".into());
        }
        Ok(Glob {
            literal: !Glob::is_pattern(pattern),
            pattern: pattern.into(),
        })
    }

    /// Whether `text` has a wildcard (`*` or `?`), so that it names services by pattern
    /// rather than one service by name.
    pub fn is_pattern(text: &str) -> bool {
        text.contains(['*', '?'])
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern matches every string (`*`, `**`, ...).
    pub fn matches_all(&self) -> bool {
        self.pattern.bytes().all(|b| b == b'*')
    }

    pub fn matches(&self, text: &str) -> bool {
        if self.literal {
            return *self.pattern == *text;
        }
        let (p, t) = (self.pattern.as_bytes(), text.as_bytes());
        // Both indices stay on character boundaries: literals compare whole UTF-8
        // sequences (the pattern is valid UTF-8 too), `?` and backtracking step one
        // character, and `*`/`?` are ASCII, so never inside a multi-byte character.
        let (mut pi, mut ti) = (0, 0);
        // After the last `*` seen: where the pattern resumes, and where in the text the
        // run it absorbs ends so far.
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(b'*') => {
                    pi += 1;
                    star = Some((pi, ti));
                }
                Some(b'?') => {
                    pi += 1;
                    ti += char_len(t[ti]);
                }
                Some(&b) if b == t[ti] => {
                    pi += 1;
                    ti += 1;
                }
                _ => match star {
                    Some((resume, end)) => {
                        let end = end + char_len(t[end]);
                        star = Some((resume, end));
                        pi = resume;
                        ti = end;
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|&b| b == b'*')
    }
}

/// The pattern as written: it is what `check` shows and what a checkpoint's state key
/// records.
impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.pattern)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Length of the UTF-8 sequence that starts with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap()
    }

    #[test]
    fn wildcards_match_as_documented() {
        let cases = [
            ("payments-*", "payments-api", true),
            ("payments-*", "payments-", true),
            ("payments-*", "payments", false),
            ("payments-*", "legacy-payments-api", false),
            ("*-api", "payments-api", true),
            ("*pay*", "gateway", false),
            ("*pay*", "repay", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYcZ", false),
            ("svc-?", "svc-1", true),
            ("svc-?", "svc-12", false),
            ("svc-?", "svc-", false),
            ("?", "é", true),
            ("caf?", "café", true),
            ("*é", "café", true),
            ("*", "", true),
            ("checkout", "checkout", true),
            ("checkout", "checkout2", false),
            ("GET /a*", "GET /api/v1", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob(pattern).matches(text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn empty_patterns_are_refused() {
        assert!(Glob::new("").is_err());
        assert!(glob("**").matches_all());
        assert!(!glob("*a").matches_all());
    }

    /// The definition, by recursion over characters: exponential, obviously right.
    fn brute(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|k| brute(rest, &t[k..])),
            Some(('?', rest)) => !t.is_empty() && brute(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && brute(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_definition(
            p in "[ab*?é]{1,8}",
            t in "[abé]{0,10}",
        ) {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(glob(&p).matches(&t), brute(&pc, &tc), "{} ~ {}", p, t);
        }
    }
}
