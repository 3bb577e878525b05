//! Rendering a [`MetricsSnapshot`] in the Prometheus text exposition format 0.0.4
//! (`Content-Type: text/plain; version=0.0.4; charset=utf-8`).

use std::fmt::Write;

use super::histogram::Latency;
use super::snapshot::MetricsSnapshot;
use super::UpstreamErrorKind;

/// Prefix of every metric name.
const PREFIX: &str = "sluice_";

/// Built-in family names (for refusing extras that would collide with them).
const FAMILIES: [&str; 8] = [
    "sluice_requests_total",
    "sluice_request_duration_seconds",
    "sluice_upstream_duration_seconds",
    "sluice_policy_duration_seconds",
    "sluice_rate_limited_total",
    "sluice_upstream_errors_total",
    "sluice_connections",
    "sluice_config_reloads_total",
];

/// A caller-supplied sample rendered after the built-in families (e.g. active rate-limit
/// buckets, which live in policy state rather than in [`MetricsSnapshot`]).
#[derive(Debug, Clone, Copy)]
pub struct ExtraMetric<'a> {
    /// Metric name; `sluice_` is prepended unless already there, and characters outside
    /// `[a-zA-Z0-9_:]` become `_`.
    pub name: &'a str,
    /// `# HELP` text (escaped on output). The first sample of a name supplies it.
    pub help: &'a str,
    /// `# TYPE` of the family. The first sample of a name supplies it.
    pub kind: MetricKind,
    /// Label pairs; names are sanitised like metric names, values escaped.
    pub labels: &'a [(&'a str, &'a str)],
    /// Sample value; NaN and infinities are written `NaN`, `+Inf`, `-Inf`.
    pub value: f64,
}

/// The type of an [`ExtraMetric`] family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `# TYPE .. counter`: only ever goes up.
    Counter,
    /// `# TYPE .. gauge`: a level read now.
    Gauge,
}

/// Renders `merged` and then `extra` as Prometheus text format 0.0.4: for each family a
/// `# HELP` and `# TYPE` line (even when it has no samples), then its samples, with
/// label values escaped. Histograms get cumulative `_bucket{le=..}` lines on a fixed
/// ladder in seconds (request and upstream durations 100 µs..10 s, policy durations
/// 1 µs..1 s) plus `le="+Inf"`, `_sum` (exact) and `_count`.
///
/// Samples of one extra name are grouped under one `# HELP`/`# TYPE` in the order the
/// names first appear; extras named like a built-in family (or its `_bucket`, `_sum`,
/// `_count` series) are skipped, since a family may appear only once. Two extras with
/// the same name and labels are both written (a duplicate series): the caller avoids
/// that. Never panics.
pub fn render_prometheus(merged: &MetricsSnapshot, extra: &[ExtraMetric<'_>]) -> String {
    let mut out = String::with_capacity(4096);

    header(
        &mut out,
        "sluice_requests_total",
        "Requests answered, by route pattern, method and status.",
        "counter",
    );
    for ((route, method, status), n) in &merged.requests {
        let status = itoa::Buffer::new().format(*status).to_owned();
        sample(
            &mut out,
            "sluice_requests_total",
            &[("route", route), ("method", method), ("status", &status)],
            n,
        );
    }

    for (name, help, map) in [
        (
            "sluice_request_duration_seconds",
            "Time from request head received to response sent, by route pattern.",
            &merged.request_duration,
        ),
        (
            "sluice_upstream_duration_seconds",
            "Time from request sent upstream to response head received, by route pattern.",
            &merged.upstream_duration,
        ),
    ] {
        header(&mut out, name, help, "histogram");
        for (route, h) in map {
            histogram(&mut out, name, "route", route, h);
        }
    }

    let name = "sluice_policy_duration_seconds";
    header(
        &mut out,
        name,
        "Time spent in policy ops, by policy type.",
        "histogram",
    );
    for (policy, h) in &merged.policy_duration {
        histogram(&mut out, name, "policy", policy, h);
    }

    header(
        &mut out,
        "sluice_rate_limited_total",
        "Requests refused by a rate limit, by route pattern.",
        "counter",
    );
    for (route, n) in &merged.rate_limited {
        sample(
            &mut out,
            "sluice_rate_limited_total",
            &[("route", route)],
            n,
        );
    }

    header(
        &mut out,
        "sluice_upstream_errors_total",
        "Failed upstream calls, by upstream and kind.",
        "counter",
    );
    for (upstream, counts) in &merged.upstream_errors {
        for kind in UpstreamErrorKind::ALL {
            let n = counts[kind.index()];
            if n > 0 {
                let labels = [("upstream", upstream.as_str()), ("kind", kind.as_str())];
                sample(&mut out, "sluice_upstream_errors_total", &labels, n);
            }
        }
    }

    header(
        &mut out,
        "sluice_connections",
        "Open downstream connections, by shard.",
        "gauge",
    );
    for (shard, n) in &merged.connections {
        let shard = itoa::Buffer::new().format(*shard).to_owned();
        sample(&mut out, "sluice_connections", &[("shard", &shard)], n);
    }

    header(
        &mut out,
        "sluice_config_reloads_total",
        "Config reloads, by result.",
        "counter",
    );
    let reloads = merged.config_reloads;
    for (result, n) in [("ok", reloads.ok), ("error", reloads.error)] {
        sample(
            &mut out,
            "sluice_config_reloads_total",
            &[("result", result)],
            n,
        );
    }

    render_extra(&mut out, extra);
    out
}

/// Renders `extra`, grouped by sanitised name in order of first appearance.
fn render_extra(out: &mut String, extra: &[ExtraMetric<'_>]) {
    let names: Vec<String> = extra.iter().map(|e| metric_name(e.name)).collect();
    for (i, first) in extra.iter().enumerate() {
        let name = &names[i];
        if is_builtin(name) || names[..i].contains(name) {
            continue;
        }
        let kind = match first.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        };
        header(out, name, first.help, kind);
        for (e, _) in extra[i..]
            .iter()
            .zip(&names[i..])
            .filter(|(_, n)| *n == name)
        {
            let labels: Vec<(String, &str)> =
                e.labels.iter().map(|(k, v)| (label_name(k), *v)).collect();
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            sample(out, name, &labels, Float(e.value));
        }
    }
}

/// Whether `name` is a built-in family or one of its histogram series names.
fn is_builtin(name: &str) -> bool {
    FAMILIES.iter().any(|f| {
        name.strip_prefix(f)
            .is_some_and(|rest| matches!(rest, "" | "_bucket" | "_sum" | "_count"))
    })
}

/// Writes one histogram series: buckets, `_sum`, `_count`.
fn histogram(out: &mut String, name: &str, label: &str, value: &str, h: &Latency) {
    let bucket = format!("{name}_bucket");
    for (&(_, le), n) in h.unit().ladder().iter().zip(h.cumulative_buckets()) {
        sample(out, &bucket, &[(label, value), ("le", le)], n);
    }
    sample(out, &bucket, &[(label, value), ("le", "+Inf")], h.count());
    let seconds = h.sum() as f64 / h.unit().per_second() as f64;
    sample(
        out,
        &format!("{name}_sum"),
        &[(label, value)],
        Float(seconds),
    );
    sample(out, &format!("{name}_count"), &[(label, value)], h.count());
}

/// Writes `# HELP` and `# TYPE` for `name`.
fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// Writes `name{k="v",..} value\n`, escaping label values.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl SampleValue) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    value.write(out);
    out.push('\n');
}

/// Escapes a label value per format 0.0.4: `\` as `\\`, `"` as `\"`, newline as `\n`.
pub(super) fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name` with the `sluice_` prefix and only `[a-zA-Z0-9_:]`, not starting with a digit.
fn metric_name(name: &str) -> String {
    let bare = name.strip_prefix(PREFIX).unwrap_or(name);
    let mut out = String::with_capacity(PREFIX.len() + bare.len());
    out.push_str(PREFIX);
    out.extend(bare.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// `name` with only `[a-zA-Z0-9_]`, not starting with a digit, never empty.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A sample value: integers as written, floats in Go's spelling of the specials.
trait SampleValue {
    fn write(self, out: &mut String);
}

/// An `f64` sample value.
struct Float(f64);

impl SampleValue for &u64 {
    fn write(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(*self));
    }
}

impl SampleValue for u64 {
    fn write(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self));
    }
}

impl SampleValue for Float {
    fn write(self, out: &mut String) {
        let v = self.0;
        if v.is_nan() {
            out.push_str("NaN");
        } else if v.is_infinite() {
            out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            // `Display` for f64 never uses an exponent and round-trips; writing to a
            // `String` cannot fail.
            let _ = write!(out, "{v}");
        }
    }
}
