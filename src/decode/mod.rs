//! Step 1 of the data path: raw bytes → [`Event`], or the [`Invalid`] reason why not.
//!
//! A [`Decoder`] is built once from the [`EventSchema`] and reused: decoding borrows the
//! input, keeps unescaped strings in a reused buffer, and never allocates once warm. It
//! does no I/O, logging or counting; the caller counts reasons per batch.

mod json;
mod stops;
pub mod timestamp;

use crate::config::{EventSchema, MAX_LABELS};
use json::{Document, PathTree, Raw};

/// Events larger than this are refused unread (`too_large`); it bounds the work per event.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// A valid request event. Strings borrow from the input or the decoder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event<'a> {
    pub timestamp_ms: i64,
    pub service: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub latency_ms: f64,
    /// Values of the configured label fields, in schema order; `None` when absent.
    pub labels: [Option<&'a str>; MAX_LABELS],
}

/// Why an event was refused. `too_large` is decided before anything is read, then the
/// syntax (`json`, `not_object`); when several fields are bad, the first in this order
/// counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not JSON at all (including text that is not UTF-8).
    Json,
    /// JSON, but not an object.
    NotObject,
    /// Larger than [`MAX_EVENT_BYTES`].
    TooLarge,
    /// Missing, not an RFC 3339 string or integer epoch milliseconds, or out of range.
    Timestamp,
    /// Missing, empty or not a string.
    Service,
    /// Present but not a string.
    Route,
    /// Missing, not an integer, or outside 100..=599.
    Status,
    /// Missing, not a number, or negative.
    LatencyMs,
    /// A label field that is present but not a string.
    Label,
    /// Timestamped further ahead of the wall clock than `evaluation.max_clock_skew`
    /// (`run` only: the engine is told the bound, it reads no clock).
    Future,
}

impl Invalid {
    pub const ALL: [Invalid; 10] = [
        Invalid::Json,
        Invalid::NotObject,
        Invalid::TooLarge,
        Invalid::Timestamp,
        Invalid::Service,
        Invalid::Route,
        Invalid::Status,
        Invalid::LatencyMs,
        Invalid::Label,
        Invalid::Future,
    ];

    /// The name used in reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::Json => "json",
            Invalid::NotObject => "not_object",
            Invalid::TooLarge => "too_large",
            Invalid::Timestamp => "timestamp",
            Invalid::Service => "service",
            Invalid::Route => "route",
            Invalid::Status => "status",
            Invalid::LatencyMs => "latency_ms",
            Invalid::Label => "label",
            Invalid::Future => "future",
        }
    }
}

const TIMESTAMP: usize = 0;
const SERVICE: usize = 1;
const ROUTE: usize = 2;
const STATUS: usize = 3;
const LATENCY: usize = 4;
const FIRST_LABEL: usize = 5;

/// Where a decoded string lives: in the input, or unescaped in the decoder's buffer.
#[derive(Clone, Copy)]
enum Text {
    Input(u32, u32),
    Unescaped(u32, u32),
}

impl Text {
    fn is_empty(self) -> bool {
        let (Text::Input(s, e) | Text::Unescaped(s, e)) = self;
        s == e
    }
}

/// Cloning gives an independent decoder of the same schema (for another thread).
#[derive(Clone)]
pub struct Decoder {
    tree: PathTree,
    n_labels: usize,
    latency_to_ms: f64,
    slots: Vec<Raw>,
    unescaped: Vec<u8>,
    scratch: Vec<u8>,
    stops: stops::StopMap,
    minute: timestamp::MinuteCache,
}

impl Decoder {
    pub fn new(schema: &EventSchema) -> Decoder {
        let mut tree = PathTree::default();
        tree.insert(&schema.timestamp.0, TIMESTAMP);
        tree.insert(&schema.service.0, SERVICE);
        tree.insert(&schema.route.0, ROUTE);
        tree.insert(&schema.status.0, STATUS);
        tree.insert(&schema.latency.0, LATENCY);
        for (i, label) in schema.labels.iter().enumerate() {
            tree.insert(&label.path.0, FIRST_LABEL + i);
        }
        let n_labels = schema.labels.len();
        Decoder {
            tree,
            n_labels,
            latency_to_ms: schema.latency_to_ms,
            slots: vec![Raw::Absent; FIRST_LABEL + n_labels],
            unescaped: Vec::new(),
            scratch: Vec::new(),
            stops: stops::StopMap::default(),
            minute: timestamp::MinuteCache::default(),
        }
    }

    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<Event<'a>, Invalid> {
        if input.len() > MAX_EVENT_BYTES {
            return Err(Invalid::TooLarge);
        }
        // JSON text is UTF-8. Checking the whole event once (fast on ASCII) is cheaper than
        // checking each captured string, and makes every string a slice at its quotes.
        let text = simdutf8::basic::from_utf8(input).map_err(|_| Invalid::Json)?;
        match json::scan(
            input,
            &self.tree,
            &mut self.slots,
            &mut self.stops,
            &mut self.scratch,
        ) {
            Ok(Document::Object) => {}
            Ok(Document::Other) => return Err(Invalid::NotObject),
            Err(_) => return Err(Invalid::Json),
        }
        let slots = &self.slots;
        let timestamp_ms =
            timestamp(input, slots[TIMESTAMP], &mut self.minute).ok_or(Invalid::Timestamp)?;

        // Where each string lives; escaped ones (rare) are unescaped into one buffer.
        self.unescaped.clear();
        let unescaped = &mut self.unescaped;
        let scratch = &mut self.scratch;
        let mut locate = |raw: Raw, reason: Invalid| -> Result<Option<Text>, Invalid> {
            match raw {
                Raw::Absent | Raw::Null => Ok(None),
                Raw::Str {
                    start,
                    end,
                    escaped: false,
                } => Ok(Some(Text::Input(start, end))),
                Raw::Str {
                    start,
                    end,
                    escaped: true,
                } => {
                    let from = unescaped.len() as u32;
                    let body = &input[start as usize..end as usize];
                    json::unescape_into(body, scratch).ok_or(Invalid::Json)?;
                    unescaped.extend_from_slice(scratch);
                    Ok(Some(Text::Unescaped(from, unescaped.len() as u32)))
                }
                _ => Err(reason),
            }
        };
        // Checked in the documented order: the first bad field names the reason.
        let service = locate(slots[SERVICE], Invalid::Service)?.ok_or(Invalid::Service)?;
        if service.is_empty() {
            return Err(Invalid::Service);
        }
        let route = locate(slots[ROUTE], Invalid::Route)?;
        let status = status(input, slots[STATUS]).ok_or(Invalid::Status)?;
        // In milliseconds, and still finite: a huge value in seconds can overflow.
        let latency = latency(input, slots[LATENCY])
            .map(|v| v * self.latency_to_ms)
            .filter(|v| v.is_finite())
            .ok_or(Invalid::LatencyMs)?;
        let mut labels = [None; MAX_LABELS];
        for (i, label) in labels.iter_mut().enumerate().take(self.n_labels) {
            *label = locate(slots[FIRST_LABEL + i], Invalid::Label)?;
        }

        // Resolve to &str now that the unescape buffer no longer changes. It holds whole
        // characters only, and every span starts and ends at a quote, so slicing cannot
        // split a character; `get` keeps even that impossible case from panicking.
        let this: &'a Decoder = self;
        let unescaped = std::str::from_utf8(&this.unescaped).map_err(|_| Invalid::Json)?;
        let resolve = |t: Text| -> Result<&'a str, Invalid> {
            let (whole, s, e) = match t {
                Text::Input(s, e) => (text, s, e),
                Text::Unescaped(s, e) => (unescaped, s, e),
            };
            whole.get(s as usize..e as usize).ok_or(Invalid::Json)
        };
        let mut label_strs = [None; MAX_LABELS];
        for (out, label) in label_strs.iter_mut().zip(labels).take(this.n_labels) {
            *out = label.map(resolve).transpose()?;
        }
        Ok(Event {
            timestamp_ms,
            service: resolve(service)?,
            route: route.map(resolve).transpose()?,
            status,
            latency_ms: latency,
            labels: label_strs,
        })
    }
}

fn timestamp(input: &[u8], raw: Raw, minute: &mut timestamp::MinuteCache) -> Option<i64> {
    let ms = match raw {
        Raw::Str {
            start,
            end,
            escaped: false,
        } => timestamp::parse_rfc3339_cached(&input[start as usize..end as usize], minute)?,
        Raw::Num {
            start,
            end,
            integer: true,
        } => std::str::from_utf8(&input[start as usize..end as usize])
            .ok()?
            .parse()
            .ok()?,
        _ => return None,
    };
    (timestamp::MIN_MS..timestamp::MAX_MS)
        .contains(&ms)
        .then_some(ms)
}

fn status(input: &[u8], raw: Raw) -> Option<u16> {
    let Raw::Num {
        start,
        end,
        integer: true,
    } = raw
    else {
        return None;
    };
    let digits = &input[start as usize..end as usize];
    // Longer than three characters, or signed, is out of range, whatever it says.
    if digits.len() != 3 || digits[0] == b'-' {
        return None;
    }
    let v = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    (100..=599).contains(&v).then_some(v)
}

/// Powers of ten that f64 holds exactly: dividing an exact mantissa by one of them is a
/// single correctly rounded operation (Clinger's fast path).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

fn latency(input: &[u8], raw: Raw) -> Option<f64> {
    let Raw::Num { start, end, .. } = raw else {
        return None;
    };
    let text = &input[start as usize..end as usize];
    if text[0] == b'-' {
        // Negative zero (`-0`, `-0.0e5`) is zero; anything else negative is refused, even
        // what rounds to zero (`-1e-400`).
        let mut mantissa = text[1..].iter().take_while(|b| !matches!(b, b'e' | b'E'));
        return mantissa.all(|b| matches!(b, b'0' | b'.')).then_some(0.0);
    }
    // At most 16 characters: the mantissa cannot overflow, and the power of ten is exact.
    if text.len() <= 16 {
        let mut mantissa: u64 = 0;
        let mut fraction_digits = 0usize;
        let mut seen_dot = false;
        let mut fast = true;
        for &b in text {
            match b {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10 + u64::from(b - b'0');
                    fraction_digits += usize::from(seen_dot);
                }
                b'.' => seen_dot = true,
                _ => fast = false, // an exponent
            }
        }
        if fast && mantissa < (1 << 53) {
            return Some(mantissa as f64 / POW10[fraction_digits]);
        }
    }
    let v: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests;
