//! Realistic gateway traffic in the default event schema, for benchmarks, tests and the
//! demo: services with routes of their own latency profile (log-normal), a small share of
//! 4xx and 5xx, operators, and a trace id, as a gateway would publish them.
//!
//! Deterministic for a seed, and allocation-free per event: lines are written into a
//! caller's buffer.

use std::io::Write;

use crate::decode::timestamp::format_rfc3339;

/// A small, fast, seedable generator (SplitMix64); statistical quality is ample for load.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const RESOURCES: [&str; 10] = [
    "items", "orders", "users", "carts", "payments", "search", "sessions", "stock", "prices",
    "reviews",
];
/// Share of requests that fail with a 5xx unless set per service; another 3 % get a 4xx.
pub const ERROR_RATE: f64 = 0.002;
pub const OPERATORS: [&str; 8] = [
    "eu-1", "eu-2", "eu-3", "us-1", "us-2", "us-3", "ap-1", "ap-2",
];

struct Route {
    name: String,
    /// Median latency (ms) and log-normal sigma.
    median_ms: f64,
    sigma: f64,
}

pub struct Generator {
    rng: Rng,
    services: Vec<String>,
    routes: Vec<Vec<Route>>,
    /// Per service: the share of its requests that fail with a 5xx.
    error_rates: Vec<f64>,
}

impl Generator {
    /// The given services, each with `routes` routes of its own latency profile.
    pub fn new(seed: u64, services: &[String], routes: usize) -> Generator {
        let mut rng = Rng::new(seed);
        let routes = services
            .iter()
            .map(|_| {
                (0..routes)
                    .map(|r| Route {
                        name: format!(
                            "{} /api/v1/{}/{{id}}/{r}",
                            METHODS[r % METHODS.len()],
                            RESOURCES[r % RESOURCES.len()]
                        ),
                        median_ms: 15.0 + rng.unit() * 120.0,
                        sigma: 0.3 + rng.unit() * 0.5,
                    })
                    .collect()
            })
            .collect();
        Generator {
            rng,
            services: services.to_vec(),
            routes,
            error_rates: vec![ERROR_RATE; services.len()],
        }
    }

    /// `n` services named `svc-000`, `svc-001`, ….
    pub fn numbered(seed: u64, n: usize, routes: usize) -> Generator {
        let names: Vec<String> = (0..n).map(|i| format!("svc-{i:03}")).collect();
        Generator::new(seed, &names, routes)
    }

    /// Sets the share of requests of service `s` (an index into the services given) that
    /// fail with a 5xx: how an incident is scripted.
    pub fn set_error_rate(&mut self, s: usize, rate: f64) {
        self.error_rates[s] = rate.clamp(0.0, 1.0);
    }

    /// Appends one event at `ts_ms`, without a newline.
    /// Writes one event at `ts_ms`; returns the index of its service.
    pub fn write_event(&mut self, ts_ms: i64, out: &mut Vec<u8>) -> usize {
        let s = self.rng.below(self.services.len());
        let route = &self.routes[s][self.rng.below(self.routes[s].len())];
        let latency = route.median_ms * (route.sigma * self.rng.normal()).exp();
        let roll = self.rng.unit();
        let error_rate = self.error_rates[s];
        let status = if roll < error_rate {
            [500, 502, 503, 504][self.rng.below(4)]
        } else if roll < error_rate + 0.03 {
            [400, 401, 404, 429][self.rng.below(4)]
        } else {
            200
        };
        let operator = OPERATORS[self.rng.below(OPERATORS.len())];
        let (trace, span) = (self.rng.next_u64(), self.rng.next_u64() as u32);
        let _ = write!(
            out,
            r#"{{"timestamp":"{}","service":"{}","route":"{}","status":{status},"latency_ms":{:.3},"operator":"{operator}","trace_id":"{trace:016x}{span:08x}"}}"#,
            format_rfc3339_millis(ts_ms),
            self.services[s],
            route.name,
            latency,
        );
        s
    }
}

/// RFC 3339 with milliseconds always written, as gateways do.
fn format_rfc3339_millis(ms: i64) -> String {
    let text = format_rfc3339(ms);
    if ms % 1000 == 0 {
        text.replace('Z', ".000Z")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_decode_and_are_gateway_sized() {
        let mut g = Generator::numbered(7, 50, 100);
        let mut buf = Vec::new();
        let mut total = 0;
        for i in 0..1000 {
            buf.clear();
            g.write_event(1_795_262_400_000 + i * 37, &mut buf);
            let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
            total += buf.len();
        }
        let mean = total / 1000;
        assert!((180..=190).contains(&mean), "mean event size {mean}");
    }

    #[test]
    fn same_seed_same_stream() {
        let run = |seed| {
            let mut g = Generator::numbered(seed, 3, 4);
            let mut buf = Vec::new();
            (0..10).for_each(|i| {
                g.write_event(i, &mut buf);
            });
            buf
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
