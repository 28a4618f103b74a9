//! Prometheus metrics for `GET /_kmsnap/metrics`: request counts by service, operation and
//! outcome, and a latency histogram. Counting takes one short lock per request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS_MS: [f64; 10] = [0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency_buckets: [u64; BUCKETS_MS.len()],
    latency_count: u64,
    latency_sum_s: f64,
}

impl Metrics {
    pub fn record(
        &self,
        service: &'static str,
        operation: &'static str,
        status: u16,
        took: Duration,
    ) {
        let Ok(mut m) = self.inner.lock() else { return };
        *m.requests.entry((service, operation, status)).or_default() += 1;
        let ms = took.as_secs_f64() * 1000.0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                m.latency_buckets[i] += 1;
            }
        }
        m.latency_count += 1;
        m.latency_sum_s += took.as_secs_f64();
    }

    pub fn render(&self, uptime: Duration) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP kmsnap_uptime_seconds Seconds since the server started."
        );
        let _ = writeln!(out, "# TYPE kmsnap_uptime_seconds gauge");
        let _ = writeln!(out, "kmsnap_uptime_seconds {:.3}", uptime.as_secs_f64());
        let Ok(m) = self.inner.lock() else { return out };
        let _ = writeln!(
            out,
            "# HELP kmsnap_requests_total Requests by service, operation and HTTP status."
        );
        let _ = writeln!(out, "# TYPE kmsnap_requests_total counter");
        for ((s, o, st), n) in &m.requests {
            let _ = writeln!(
                out,
                "kmsnap_requests_total{{service=\"{s}\",operation=\"{o}\",status=\"{st}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP kmsnap_request_duration_seconds Request latency."
        );
        let _ = writeln!(out, "# TYPE kmsnap_request_duration_seconds histogram");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "kmsnap_request_duration_seconds_bucket{{le=\"{}\"}} {}",
                b / 1000.0,
                m.latency_buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "kmsnap_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            m.latency_count
        );
        let _ = writeln!(
            out,
            "kmsnap_request_duration_seconds_sum {:.6}",
            m.latency_sum_s
        );
        let _ = writeln!(
            out,
            "kmsnap_request_duration_seconds_count {}",
            m.latency_count
        );
        out
    }
}

/// The blob collector's totals since the process started (docs/blob-collection.md).
pub fn render_blob_gc(out: &mut String, t: kmsnap_snapshots::gc::TotalsNow) {
    let counters = [
        (
            "kmsnap_blob_gc_sweeps_total",
            "Blob collector sweeps finished.",
            t.sweeps,
        ),
        (
            "kmsnap_blob_gc_deleted_blobs_total",
            "Unreferenced blobs the collector deleted.",
            t.blobs,
        ),
        (
            "kmsnap_blob_gc_deleted_bytes_total",
            "Bytes of the blobs the collector deleted.",
            t.bytes,
        ),
        (
            "kmsnap_blob_gc_failed_total",
            "Unreferenced blobs whose deletion failed (retried later).",
            t.failed,
        ),
        (
            "kmsnap_blob_gc_unmapped_total",
            "Copy-map entries dropped because they named orphans.",
            t.unmapped,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let m = Metrics::default();
        m.record("kms", "Encrypt", 200, Duration::from_micros(300));
        m.record("kms", "Encrypt", 200, Duration::from_millis(3));
        let text = m.render(Duration::from_secs(1));
        assert!(text.contains(
            "kmsnap_requests_total{service=\"kms\",operation=\"Encrypt\",status=\"200\"} 2"
        ));
        assert!(text.contains("kmsnap_request_duration_seconds_count 2"));
        assert!(text.contains("kmsnap_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
    }

    #[test]
    fn renders_blob_gc_totals() {
        let mut text = String::new();
        let totals = kmsnap_snapshots::gc::TotalsNow {
            sweeps: 3,
            blobs: 2,
            bytes: 1_048_634,
            failed: 0,
            unmapped: 1,
        };
        render_blob_gc(&mut text, totals);
        assert!(text.contains("kmsnap_blob_gc_deleted_blobs_total 2\n"));
        assert!(text.contains("kmsnap_blob_gc_deleted_bytes_total 1048634\n"));
        assert!(text.contains("# TYPE kmsnap_blob_gc_sweeps_total counter"));
    }
}
