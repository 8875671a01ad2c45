//! Prometheus metrics (`GET /metrics` on the separate `--metrics-listen` listener): request
//! counts by payload type and status, request and sync latency histograms, appends and bytes,
//! syncs, connections and subscribers, processes by state, store size, free disk and the
//! reserve, the storage writer's watchdog probes, start time, version and RSS. Every name here
//! is listed in README's metrics table; `contrib/` holds a Grafana dashboard and Prometheus
//! rules over them (tests/python/test_dashboards.py checks both against a real scrape).

use crate::store::Store;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Counters for metrics, all in one place.
#[derive(Debug, Default)]
pub struct Counters {
    /// RPC requests answered.
    pub requests: AtomicU64,
    /// Operations committed by the writer.
    pub writes: AtomicU64,
    /// Syncs performed by the writer.
    pub syncs: AtomicU64,
    /// Total nanoseconds spent in syncs.
    pub sync_nanos: AtomicU64,
    /// Open client connections.
    pub connections: AtomicUsize,
    /// Connections refused because of the connection cap.
    pub connections_refused: AtomicU64,
    /// Writes refused because the disk was below the reserve (`--min-free-disk`).
    pub disk_refusals: AtomicU64,
    /// Assign requests long-polling now.
    pub long_polls: AtomicUsize,
    /// Assign long-polls refused by `--max-long-polls`.
    pub long_polls_refused: AtomicU64,
    /// Idle connections closed to make room for a new one at `--max-connections`.
    pub connections_evicted: AtomicU64,
    /// Assigns rolled back because the reply could not be delivered.
    pub assign_rollbacks: AtomicU64,
    /// Open WebSocket connections.
    pub websockets: AtomicUsize,
    /// Active subscriptions.
    pub subscriptions: AtomicUsize,
    /// Requests by payload type and status.
    pub by_type: RequestCounts,
    /// Request latency.
    pub request_latency: Histogram,
    /// Sync latency.
    pub sync_latency: Histogram,
    /// Channel entries appended.
    pub appends: AtomicU64,
    /// Channel payload bytes appended.
    pub append_bytes: AtomicU64,
    /// Workflows submitted by crons (on their schedule; `runcronmsg` not counted).
    pub cron_runs: AtomicU64,
    /// Workflows submitted by generators.
    pub generator_runs: AtomicU64,
    /// Processes, workflows and log lines removed by retention.
    pub retention_purged: AtomicU64,
    /// Executors unregistered as stale.
    pub stale_executors: AtomicU64,
    /// Watchdog probes of the storage writer (one no-op operation each).
    pub watchdog_probes: AtomicU64,
    /// Probes the writer did not answer within the watchdog interval.
    pub watchdog_misses: AtomicU64,
}

/// Histogram bucket bounds in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fixed-bucket latency histogram (lock-free).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            if secs <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bucket, b) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Requests by (payload type, status).
#[derive(Debug, Default)]
pub struct RequestCounts(Mutex<BTreeMap<(&'static str, u16), u64>>);

impl RequestCounts {
    /// Counts one request.
    pub fn add(&self, payloadtype: &'static str, status: u16) {
        let mut m = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.entry((payloadtype, status)).or_insert(0) += 1;
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn gauge(out: &mut String, name: &str, help: &str, kind: &str, v: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
    );
}

/// Facts about this process the page reports beside the counters (from the server's info).
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// When this process started serving (UTC nanoseconds).
    pub started_ns: i64,
    /// `--min-free-disk`.
    pub min_free_disk: u64,
}

/// The metrics page.
pub fn render(c: &Counters, store: &Store, fanout_channels: usize, facts: Facts) -> String {
    let mut out = String::with_capacity(8192);
    let _ = writeln!(
        out,
        "# HELP colonyd_requests_total RPC requests by payload type and HTTP status\n# TYPE colonyd_requests_total counter"
    );
    {
        let m = c
            .by_type
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((pt, status), n) in m.iter() {
            let _ = writeln!(
                out,
                "colonyd_requests_total{{payloadtype=\"{pt}\",status=\"{status}\"}} {n}"
            );
        }
    }
    c.request_latency.render(
        &mut out,
        "colonyd_request_duration_seconds",
        "RPC request latency (long-polls included)",
    );
    gauge(
        &mut out,
        "colonyd_channel_appends_total",
        "channel entries appended",
        "counter",
        c.appends.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_channel_append_bytes_total",
        "channel payload bytes appended",
        "counter",
        c.append_bytes.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_writes_total",
        "operations committed by the storage writer",
        "counter",
        c.writes.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_syncs_total",
        "storage syncs (group commits)",
        "counter",
        c.syncs.load(Ordering::Relaxed),
    );
    c.sync_latency.render(
        &mut out,
        "colonyd_sync_duration_seconds",
        "storage sync latency",
    );
    gauge(
        &mut out,
        "colonyd_connections",
        "open HTTP connections",
        "gauge",
        c.connections.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_connections_refused_total",
        "connections refused by --max-connections",
        "counter",
        c.connections_refused.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_disk_refusals_total",
        "writes refused because free disk space was below --min-free-disk",
        "counter",
        c.disk_refusals.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_long_polls",
        "assign requests long-polling now",
        "gauge",
        c.long_polls.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_long_polls_refused_total",
        "assign long-polls refused by --max-long-polls",
        "counter",
        c.long_polls_refused.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_connections_evicted_total",
        "idle connections closed to admit a new one at --max-connections",
        "counter",
        c.connections_evicted.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_websockets",
        "open WebSocket connections",
        "gauge",
        c.websockets.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_subscriptions",
        "live subscriptions",
        "gauge",
        c.subscriptions.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "colonyd_fanout_channels",
        "channels with live subscribers",
        "gauge",
        fanout_channels,
    );
    gauge(
        &mut out,
        "colonyd_assign_rollbacks_total",
        "assignments rolled back because the reply could not be delivered",
        "counter",
        c.assign_rollbacks.load(Ordering::Relaxed),
    );
    for (name, help, v) in [
        (
            "colonyd_cron_runs_total",
            "workflows submitted by crons on their schedule",
            &c.cron_runs,
        ),
        (
            "colonyd_generator_runs_total",
            "workflows submitted by generators",
            &c.generator_runs,
        ),
        (
            "colonyd_retention_purged_total",
            "processes, workflows and log lines removed by retention",
            &c.retention_purged,
        ),
        (
            "colonyd_stale_executors_total",
            "executors unregistered because they were not heard from",
            &c.stale_executors,
        ),
        (
            "colonyd_watchdog_probes_total",
            "no-op operations sent to the storage writer by the watchdog",
            &c.watchdog_probes,
        ),
        (
            "colonyd_watchdog_misses_total",
            "watchdog probes the storage writer did not answer within the interval",
            &c.watchdog_misses,
        ),
    ] {
        gauge(&mut out, name, help, "counter", v.load(Ordering::Relaxed));
    }
    let _ = writeln!(
        out,
        "# HELP colonyd_processes processes by colony and state\n# TYPE colonyd_processes gauge"
    );
    // a storage error leaves these series out of this scrape (Prometheus then marks them
    // stale) and is logged; the server's own counters above are still reported
    let colonies = store.colonies().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "metrics: cannot list colonies");
        Vec::new()
    });
    for col in colonies {
        for (st, name) in [
            (0, "waiting"),
            (1, "running"),
            (2, "successful"),
            (3, "failed"),
            (4, "cancelled"),
        ] {
            match store.count(&store.index, &crate::store::keys::by_state(&col.name, st)) {
                Ok(n) => {
                    let _ = writeln!(
                        out,
                        "colonyd_processes{{colony=\"{}\",state=\"{name}\"}} {n}",
                        escape(&col.name)
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, colony = %col.name, "metrics: cannot count processes")
                }
            }
        }
    }
    gauge(
        &mut out,
        "colonyd_store_bytes",
        "bytes the store uses on disk",
        "gauge",
        store.disk_space(),
    );
    // statvfs failing leaves the series out of this scrape, like a storage error above
    match rustix::fs::statvfs(store.path()) {
        Ok(st) => gauge(
            &mut out,
            "colonyd_free_disk_bytes",
            "bytes available to colonyd on the data directory's filesystem",
            "gauge",
            st.f_bavail.saturating_mul(st.f_frsize),
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read free disk space"),
    }
    gauge(
        &mut out,
        "colonyd_min_free_disk_bytes",
        "the reserve (--min-free-disk): below it, writes that add data are refused",
        "gauge",
        facts.min_free_disk,
    );
    gauge(
        &mut out,
        "colonyd_start_time_seconds",
        "when this process started serving, Unix time",
        "gauge",
        facts.started_ns / 1_000_000_000,
    );
    let _ = writeln!(
        out,
        "# HELP colonyd_build_info version of this binary\n# TYPE colonyd_build_info gauge\ncolonyd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    gauge(
        &mut out,
        "colonyd_resident_memory_bytes",
        "resident set size",
        "gauge",
        rss_bytes(),
    );
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        let mut s = String::new();
        h.render(&mut s, "x", "help");
        assert!(s.contains("x_bucket{le=\"0.0005\"} 1"));
        assert!(s.contains("x_bucket{le=\"0.005\"} 2"));
        assert!(s.contains("x_bucket{le=\"+Inf\"} 2"));
        assert!(s.contains("x_count 2"));
    }
}
