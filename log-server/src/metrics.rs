//! A small Prometheus text-format registry: counters, gauges and histograms
//! with fixed buckets, lock-free on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Latency buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Batch-size buckets, in entries.
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0,
];

impl Histogram {
    /// A histogram with the given bucket bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records a value (seconds for latencies, a count for sizes).
    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Relaxed);
            }
        }
        // Sums are kept in millionths so that they can be atomic integers.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.sum_micros.fetch_add((v * 1e6) as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                c.load(Relaxed)
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Every metric the server exports.
pub struct Metrics {
    /// Entries appended (acknowledged).
    pub appends: AtomicU64,
    /// Appends refused with 503 because the queue was full.
    pub pushbacks: AtomicU64,
    /// Entries per committed batch.
    pub batch_size: Histogram,
    /// Time of each fsync'd batch write.
    pub fsync_seconds: Histogram,
    /// Appends waiting for the sequencer.
    pub queue_depth: AtomicU64,
    /// Entries durably in the tree.
    pub tree_size: AtomicU64,
    /// Tree size of the latest signed checkpoint.
    pub checkpoint_size: AtomicU64,
    /// Checkpoints signed since start.
    pub checkpoints_signed: AtomicU64,
    /// Tree size of the latest checkpoint that met the witness policy.
    pub witnessed_size: AtomicU64,
    /// Witnessing rounds whose cosignatures did not meet the quorum.
    pub witness_quorum_misses: AtomicU64,
    /// Time from signing a checkpoint to serving it witnessed.
    pub witnessing_seconds: Histogram,
    /// Request bytes reserved in the budget of bytes in flight.
    pub inflight_bytes: AtomicU64,
    /// The budget of request bytes in flight.
    pub inflight_budget_bytes: AtomicU64,
    /// Requests refused before their body was read (or while it was), by
    /// reason: see [`Refused`].
    refused: [AtomicU64; Refused::ALL.len()],
    witness_outcomes: RwLock<BTreeMap<(String, String), u64>>,
    requests: RwLock<BTreeMap<(String, String), Histogram>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            appends: AtomicU64::new(0),
            pushbacks: AtomicU64::new(0),
            batch_size: Histogram::new(BATCH_BUCKETS),
            fsync_seconds: Histogram::new(LATENCY_BUCKETS),
            queue_depth: AtomicU64::new(0),
            tree_size: AtomicU64::new(0),
            checkpoint_size: AtomicU64::new(0),
            checkpoints_signed: AtomicU64::new(0),
            witnessed_size: AtomicU64::new(0),
            witness_quorum_misses: AtomicU64::new(0),
            witnessing_seconds: Histogram::new(LATENCY_BUCKETS),
            inflight_bytes: AtomicU64::new(0),
            inflight_budget_bytes: AtomicU64::new(0),
            refused: Default::default(),
            witness_outcomes: RwLock::new(BTreeMap::new()),
            requests: RwLock::new(BTreeMap::new()),
        }
    }
}

/// Why a request with a body was refused by the budget of bytes in flight
/// or the limits on bodies (`stateanchor_request_refusals_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// 503: the whole budget was held.
    Budget,
    /// 503: the caller's key held its share of the budget.
    KeyShare,
    /// 413: the body (declared or sent) is over the route's limit.
    TooLarge,
    /// 408: the body was not received within the body-read deadline.
    BodyTimeout,
    /// 401: no valid API key; the body was not read.
    Unauthenticated,
    /// 400: the body could not be read (a broken chunked encoding, or the
    /// client went away).
    BadBody,
    /// 429: over a rate limit (sign-in, share links, writes of a key).
    RateLimited,
}

impl Refused {
    /// Every reason, in the order of the exposition.
    pub const ALL: [Refused; 7] = [
        Refused::Budget,
        Refused::KeyShare,
        Refused::TooLarge,
        Refused::BodyTimeout,
        Refused::Unauthenticated,
        Refused::BadBody,
        Refused::RateLimited,
    ];

    /// The `reason` label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Refused::Budget => "budget",
            Refused::KeyShare => "key_share",
            Refused::TooLarge => "too_large",
            Refused::BodyTimeout => "body_timeout",
            Refused::Unauthenticated => "unauthenticated",
            Refused::BadBody => "bad_body",
            Refused::RateLimited => "rate_limited",
        }
    }
}

impl Metrics {
    /// Counts one request refused for `reason`.
    pub fn refused(&self, reason: Refused) {
        self.refused[reason as usize].fetch_add(1, Relaxed);
    }

    /// Requests refused for `reason` so far.
    #[must_use]
    pub fn refused_count(&self, reason: Refused) -> u64 {
        self.refused[reason as usize].load(Relaxed)
    }

    /// Counts one `add-checkpoint` request to a witness by its outcome
    /// (`cosigned`, `conflict`, `timeout`, `unreachable`, `forbidden`, ...).
    pub fn witness_outcome(&self, witness: &str, outcome: &str) {
        if let Ok(mut map) = self.witness_outcomes.write() {
            *map.entry((witness.to_owned(), outcome.to_owned()))
                .or_insert(0) += 1;
        }
    }

    /// Records one HTTP request's latency by route and status.
    pub fn observe_request(&self, route: &str, status: u16, d: Duration) {
        let key = (route.to_owned(), status.to_string());
        if let Ok(map) = self.requests.read()
            && let Some(h) = map.get(&key)
        {
            h.observe_duration(d);
            return;
        }
        if let Ok(mut map) = self.requests.write() {
            map.entry(key)
                .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
                .observe_duration(d);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let counter = |out: &mut String, name: &str, help: &str, v: u64, kind: &str| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "stateanchor_appends_total",
            "Entries appended and acknowledged.",
            self.appends.load(Relaxed),
            "counter",
        );
        counter(
            &mut out,
            "stateanchor_pushbacks_total",
            "Appends refused with 503 because the sequencer queue was full.",
            self.pushbacks.load(Relaxed),
            "counter",
        );
        counter(
            &mut out,
            "stateanchor_queue_depth",
            "Appends waiting for the sequencer.",
            self.queue_depth.load(Relaxed),
            "gauge",
        );
        counter(
            &mut out,
            "stateanchor_tree_size",
            "Entries durably in the tree.",
            self.tree_size.load(Relaxed),
            "gauge",
        );
        counter(
            &mut out,
            "stateanchor_checkpoint_tree_size",
            "Tree size of the latest signed checkpoint.",
            self.checkpoint_size.load(Relaxed),
            "gauge",
        );
        counter(
            &mut out,
            "stateanchor_checkpoints_signed_total",
            "Checkpoints signed since start.",
            self.checkpoints_signed.load(Relaxed),
            "counter",
        );
        counter(
            &mut out,
            "stateanchor_witnessed_tree_size",
            "Tree size of the latest checkpoint that met the witness policy.",
            self.witnessed_size.load(Relaxed),
            "gauge",
        );
        counter(
            &mut out,
            "stateanchor_witness_quorum_misses_total",
            "Witnessing rounds whose cosignatures did not meet the quorum.",
            self.witness_quorum_misses.load(Relaxed),
            "counter",
        );
        counter(
            &mut out,
            "stateanchor_inflight_bytes",
            "Request bytes reserved in the budget of bytes in flight.",
            self.inflight_bytes.load(Relaxed),
            "gauge",
        );
        counter(
            &mut out,
            "stateanchor_inflight_budget_bytes",
            "The budget of request bytes in flight.",
            self.inflight_budget_bytes.load(Relaxed),
            "gauge",
        );
        let _ = writeln!(
            out,
            "# HELP stateanchor_request_refusals_total Requests with a body refused by the budget of bytes in flight or the body limits, by reason.\n# TYPE stateanchor_request_refusals_total counter"
        );
        for r in Refused::ALL {
            let _ = writeln!(
                out,
                "stateanchor_request_refusals_total{{reason=\"{}\"}} {}",
                r.label(),
                self.refused_count(r)
            );
        }
        let _ = writeln!(
            out,
            "# HELP stateanchor_witness_requests_total add-checkpoint requests to witnesses by outcome.\n# TYPE stateanchor_witness_requests_total counter"
        );
        if let Ok(map) = self.witness_outcomes.read() {
            for ((witness, outcome), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "stateanchor_witness_requests_total{{witness=\"{}\",outcome=\"{outcome}\"}} {n}",
                    witness.replace(['"', '\\', '\n'], "_")
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP stateanchor_witnessing_seconds Time from signing a checkpoint to serving it witnessed.\n# TYPE stateanchor_witnessing_seconds histogram"
        );
        self.witnessing_seconds
            .render(&mut out, "stateanchor_witnessing_seconds", "");
        let _ = writeln!(
            out,
            "# HELP stateanchor_batch_size Entries per committed batch.\n# TYPE stateanchor_batch_size histogram"
        );
        self.batch_size
            .render(&mut out, "stateanchor_batch_size", "");
        let _ = writeln!(
            out,
            "# HELP stateanchor_fsync_seconds Duration of each fsync'd batch write.\n# TYPE stateanchor_fsync_seconds histogram"
        );
        self.fsync_seconds
            .render(&mut out, "stateanchor_fsync_seconds", "");
        self.write_http(&mut out);
        out
    }

    /// The Prometheus text exposition of the HTTP request histograms only
    /// (the witness's `/metrics`, which has no log).
    pub fn render_http(&self) -> String {
        let mut out = String::with_capacity(2048);
        self.write_http(&mut out);
        out
    }

    fn write_http(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP stateanchor_http_request_duration_seconds HTTP request latency by route and status.\n# TYPE stateanchor_http_request_duration_seconds histogram"
        );
        if let Ok(map) = self.requests.read() {
            for ((route, status), h) in map.iter() {
                let labels = format!(
                    "route=\"{}\",status=\"{status}\"",
                    route.replace(['"', '\\', '\n'], "_")
                );
                h.render(out, "stateanchor_http_request_duration_seconds", &labels);
            }
        }
    }
}
