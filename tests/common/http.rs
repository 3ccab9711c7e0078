//! A minimal HTTP/1.1 GET over a TCP stream, and the Prometheus text format: enough to
//! read `slipstream run`'s endpoints without an HTTP client dependency.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `(status, body)`, or `None` when nothing listens.
pub fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    get_with(addr, path, &[]).map(|r| (r.status, r.body))
}

pub struct Response {
    pub status: u16,
    /// The status line and the header lines, as sent.
    pub head: String,
    pub body: String,
}

impl Response {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A GET with extra request `headers`; `None` when nothing listens.
pub fn get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Option<Response> {
    request(addr, "GET", path, headers, None)
}

/// A POST of a JSON `body` with extra request `headers`; `None` when nothing listens.
pub fn post_with(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<Response> {
    request(addr, "POST", path, headers, Some(body))
}

fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Option<Response> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    if let Some(body) = body {
        extra.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n{}",
        body.unwrap_or("")
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).expect("HTTP response is UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("HTTP response has a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("HTTP status line");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some(Response {
        status,
        head: head.to_owned(),
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The samples of a Prometheus exposition: `name{labels}` (labels as rendered) → value.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("sample line has a value");
            (
                key.to_owned(),
                value.parse().expect("sample value is a number"),
            )
        })
        .collect()
}

/// The value of the sample of metric `name` whose labels are exactly `labels`, in any order.
pub fn sample(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    samples.iter().find_map(|(key, value)| {
        let (n, rest) = key.split_once('{').unwrap_or((key, "}"));
        if n != name {
            return None;
        }
        let inner = rest.strip_suffix('}').expect("labels end with }");
        let mut got: Vec<String> = split_labels(inner);
        got.sort();
        (got == want).then_some(*value)
    })
}

/// `a="x",b="y,z"` → [`a="x"`, `b="y,z"`]: commas inside quoted values do not split.
pub fn split_labels(inner: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in inner.chars() {
        match c {
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            '"' if !escaped => {
                quoted = !quoted;
                cur.push(c);
            }
            _ => cur.push(c),
        }
        escaped = c == '\\' && !escaped;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
