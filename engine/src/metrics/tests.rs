use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use sluice_codec::Method;

use super::histogram::{Latency, Unit, MICROS_LADDER, NANOS_LADDER};
use super::*;

// ---- A strict reader of text format 0.0.4, so the tests check the grammar itself ----

/// Label pairs as parsed, unescaped.
type Labels = Vec<(String, String)>;

/// One parsed sample: name, labels (unescaped, in written order) and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    help: HashMap<String, String>,
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample named `name` whose labels are exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: HashSet<(&str, &str)> = labels.iter().copied().collect();
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == want.len()
                    && s.labels
                        .iter()
                        .all(|(k, v)| want.contains(&(k.as_str(), v.as_str())))
            })
            .map(|s| s.value)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> f64 {
    match s {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        s => s.parse().unwrap_or_else(|_| panic!("bad value {s:?}")),
    }
}

/// Parses `name{labels} value`; panics on anything the format does not allow (and on
/// timestamps and trailing commas, which the renderer never writes).
fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect("sample has a value");
    let name = &line[..name_end];
    assert!(is_metric_name(name), "bad metric name {name:?}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            let eq = rest.find('=').expect("label has '='");
            let key = &rest[..eq];
            assert!(is_label_name(key), "bad label name {key:?}");
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .expect("label value is quoted");
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().expect("label value is closed") {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().expect("escape has a character").1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => panic!("bad escape \\{c}"),
                    },
                    (_, '\n') => panic!("raw newline in label value"),
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.to_owned(), value));
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
                assert!(!rest.starts_with('}'), "trailing comma");
            } else {
                rest = rest.strip_prefix('}').expect("label set is closed");
                break;
            }
        }
        let mut seen = HashSet::new();
        assert!(
            labels.iter().all(|(k, _)| seen.insert(k.clone())),
            "repeated label"
        );
    }
    let value = rest.strip_prefix(' ').expect("one space before the value");
    assert!(
        !value.contains(' '),
        "unexpected timestamp or spaces: {value:?}"
    );
    Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value),
    }
}

/// The family a sample belongs to: its name, less a histogram suffix when the base
/// name is typed `histogram`.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base;
            }
        }
    }
    name
}

/// Reads `text` as text format 0.0.4 and checks what a Prometheus server checks, plus
/// histogram consistency: families contiguous, one HELP and one TYPE each before their
/// samples, no duplicate series, buckets cumulative and ending in `+Inf` == `_count`.
fn parse_strict(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "exposition ends with a newline");
    let mut exp = Exposition::default();
    let mut closed: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        assert!(!line.is_empty(), "line {n}: empty line");
        let mut enter = |fam: &str| {
            if current.as_deref() != Some(fam) {
                assert!(!closed.contains(fam), "line {n}: family {fam} split");
                if let Some(prev) = current.replace(fam.to_owned()) {
                    closed.insert(prev);
                }
            }
        };
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').expect("HELP has text");
            assert!(is_metric_name(name), "line {n}: bad name");
            enter(name);
            let mut unescaped = String::new();
            let mut chars = doc.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('\\') => unescaped.push('\\'),
                        Some('n') => unescaped.push('\n'),
                        c => panic!("line {n}: bad HELP escape {c:?}"),
                    }
                } else {
                    unescaped.push(c);
                }
            }
            assert!(
                exp.help.insert(name.to_owned(), unescaped).is_none(),
                "line {n}: 2nd HELP"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a type");
            assert!(is_metric_name(name), "line {n}: bad name");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "line {n}: bad type {kind}"
            );
            enter(name);
            assert!(
                !exp.samples
                    .iter()
                    .any(|s| family(&s.name, &exp.types) == name),
                "line {n}: TYPE after samples"
            );
            assert!(
                exp.types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "line {n}: 2nd TYPE"
            );
        } else {
            assert!(!line.starts_with('#'), "line {n}: unexpected comment");
            let s = parse_sample(line);
            let fam = family(&s.name, &exp.types).to_owned();
            assert!(
                exp.types.contains_key(&fam),
                "line {n}: sample before its TYPE"
            );
            enter(&fam);
            let mut key = s.labels.clone();
            key.sort();
            assert!(
                series.insert((s.name.clone(), key)),
                "line {n}: duplicate series"
            );
            exp.samples.push(s);
        }
    }
    check_histograms(&exp);
    exp
}

fn check_histograms(exp: &Exposition) {
    for (fam, kind) in &exp.types {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{fam}_bucket");
        // (le, count) pairs by the series' other labels.
        let mut groups: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
        for s in exp.samples.iter().filter(|s| s.name == bucket) {
            let le = s
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .expect("bucket has le");
            let mut rest: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            rest.sort();
            groups
                .entry(rest)
                .or_default()
                .push((parse_value(&le.1), s.value));
        }
        for (labels, buckets) in groups {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "{fam}: le not ascending"
            );
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{fam}: not cumulative"
            );
            let (le, inf) = *buckets.last().expect("at least one bucket");
            assert_eq!(le, f64::INFINITY, "{fam}: last bucket is +Inf");
            assert_eq!(
                inf,
                exp.value(&format!("{fam}_count"), &pairs),
                "{fam}: +Inf != _count"
            );
            assert!(
                exp.get(&format!("{fam}_sum"), &pairs).is_some(),
                "{fam}: no _sum"
            );
        }
    }
}

// ---- Helpers ----

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn render(m: &ShardMetrics) -> String {
    render_prometheus(&m.snapshot(), &[])
}

// ---- Tests ----

#[test]
fn histogram_bounds_are_valid() {
    for unit in [Unit::Micros, Unit::Nanos] {
        let mut h = Latency::new(unit);
        h.record(u64::MAX);
        assert_eq!(h.count(), 1);
        assert_eq!(h.sum(), 60 * unit.per_second(), "clamped to 60 s");
    }
}

#[test]
fn types_are_send() {
    fn send<T: Send + 'static>() {}
    send::<MetricsSnapshot>();
    send::<ShardMetrics>();
    send::<ConfigReloads>();
}

#[test]
fn record_and_render() {
    let mut m = ShardMetrics::new(2);
    m.record_request("/users/:id", &Method::Get, 200, ms(1));
    m.record_request("/users/:id", &Method::Get, 200, ms(3));
    m.record_request("/users/:id", &Method::Post, 503, ms(20));
    m.record_request(
        UNMATCHED_ROUTE,
        &Method::Get,
        404,
        Duration::from_micros(40),
    );
    m.record_upstream("/users/:id", ms(2));
    m.record_policy("ip-filter", 800);
    m.record_policy("jwt-auth", 12_000);
    m.record_rate_limited("/users/:id");
    m.record_rate_limited("/users/:id");
    m.record_upstream_error("users", UpstreamErrorKind::Timeout);
    m.record_upstream_error("users", UpstreamErrorKind::Status5xx);
    m.record_upstream_error("users", UpstreamErrorKind::Status5xx);
    m.set_connections(9);
    let text = render(&m);
    let exp = parse_strict(&text);

    let req = "sluice_requests_total";
    let get200 = [
        ("route", "/users/:id"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(exp.value(req, &get200), 2.0);
    let post503 = [
        ("route", "/users/:id"),
        ("method", "POST"),
        ("status", "503"),
    ];
    assert_eq!(exp.value(req, &post503), 1.0);
    let miss = [
        ("route", "_unmatched"),
        ("method", "GET"),
        ("status", "404"),
    ];
    assert_eq!(exp.value(req, &miss), 1.0);

    let dur = "sluice_request_duration_seconds";
    let route = [("route", "/users/:id")];
    assert_eq!(exp.value(&format!("{dur}_count"), &route), 3.0);
    assert!((exp.value(&format!("{dur}_sum"), &route) - 0.024).abs() < 1e-12);
    let le = |le| [("route", "/users/:id"), ("le", le)];
    assert_eq!(exp.value(&format!("{dur}_bucket"), &le("0.0005")), 0.0);
    assert_eq!(exp.value(&format!("{dur}_bucket"), &le("0.001")), 1.0);
    assert_eq!(exp.value(&format!("{dur}_bucket"), &le("0.005")), 2.0);
    assert_eq!(exp.value(&format!("{dur}_bucket"), &le("0.025")), 3.0);
    assert_eq!(exp.value(&format!("{dur}_bucket"), &le("+Inf")), 3.0);

    let up = "sluice_upstream_duration_seconds_count";
    assert_eq!(exp.value(up, &route), 1.0);
    let pol = "sluice_policy_duration_seconds_bucket";
    assert_eq!(
        exp.value(pol, &[("policy", "ip-filter"), ("le", "0.000001")]),
        1.0
    );
    assert_eq!(
        exp.value(pol, &[("policy", "jwt-auth"), ("le", "0.00001")]),
        0.0
    );
    assert_eq!(
        exp.value(pol, &[("policy", "jwt-auth"), ("le", "0.000025")]),
        1.0
    );
    let pol_sum = exp.value(
        "sluice_policy_duration_seconds_sum",
        &[("policy", "ip-filter")],
    );
    assert!((pol_sum - 0.0000008).abs() < 1e-15);

    assert_eq!(exp.value("sluice_rate_limited_total", &route), 2.0);
    let err = "sluice_upstream_errors_total";
    assert_eq!(
        exp.value(err, &[("upstream", "users"), ("kind", "timeout")]),
        1.0
    );
    assert_eq!(
        exp.value(err, &[("upstream", "users"), ("kind", "status_5xx")]),
        2.0
    );
    assert!(exp
        .get(err, &[("upstream", "users"), ("kind", "reset")])
        .is_none());
    assert_eq!(exp.value("sluice_connections", &[("shard", "2")]), 9.0);
    assert_eq!(
        exp.value("sluice_config_reloads_total", &[("result", "ok")]),
        0.0
    );
    assert_eq!(
        exp.value("sluice_config_reloads_total", &[("result", "error")]),
        0.0
    );

    for fam in [
        "sluice_requests_total",
        "sluice_request_duration_seconds",
        "sluice_upstream_duration_seconds",
        "sluice_policy_duration_seconds",
        "sluice_rate_limited_total",
        "sluice_upstream_errors_total",
        "sluice_connections",
        "sluice_config_reloads_total",
    ] {
        assert!(exp.help.contains_key(fam), "HELP for {fam}");
        assert!(exp.types.contains_key(fam), "TYPE for {fam}");
    }
    assert_eq!(exp.types["sluice_request_duration_seconds"], "histogram");
    assert_eq!(exp.types["sluice_connections"], "gauge");
    // Exact text for one line, so the wire shape is pinned too.
    assert!(text
        .contains("sluice_requests_total{route=\"/users/:id\",method=\"GET\",status=\"200\"} 2\n"));
    assert!(text
        .contains("sluice_request_duration_seconds_bucket{route=\"/users/:id\",le=\"+Inf\"} 3\n"));
}

#[test]
fn empty_snapshot_renders_headers_only() {
    let text = render_prometheus(&MetricsSnapshot::default(), &[]);
    let exp = parse_strict(&text);
    assert_eq!(exp.types.len(), 8);
    // Only the reload results, which are always written.
    assert_eq!(exp.samples.len(), 2);
}

#[test]
fn label_values_are_escaped() {
    let nasty = "/a\"b\\c\nd{e},f=g";
    let mut m = ShardMetrics::default();
    m.record_request(nasty, &Method::Get, 200, ms(1));
    m.record_upstream_error("up\"\\\n", UpstreamErrorKind::Reset);
    let text = render(&m);
    assert!(text.contains(r#"route="/a\"b\\c\nd{e},f=g""#), "{text}");
    assert!(!text.contains("c\nd"), "raw newline leaked");
    let exp = parse_strict(&text);
    let labels = [("route", nasty), ("method", "GET"), ("status", "200")];
    assert_eq!(exp.value("sluice_requests_total", &labels), 1.0);
    let labels = [("upstream", "up\"\\\n"), ("kind", "reset")];
    assert_eq!(exp.value("sluice_upstream_errors_total", &labels), 1.0);

    let mut out = String::new();
    prometheus::escape_label_value("plain/é:ok", &mut out);
    assert_eq!(out, "plain/é:ok");
}

#[test]
fn unregistered_methods_share_one_label() {
    let mut m = ShardMetrics::default();
    for token in ["PROPFIND", "X-RANDOM-1", "X-RANDOM-2"] {
        let method = Method::Other(Bytes::from_static(token.as_bytes()));
        m.record_request("/", &method, 200, ms(1));
    }
    m.record_request("/", &Method::Head, 200, ms(1));
    let snap = m.snapshot();
    let series: Vec<_> = snap.requests().collect();
    assert_eq!(
        series,
        vec![("/", "HEAD", 200, 1), ("/", OTHER_METHOD, 200, 3)]
    );
}

#[test]
fn merge_two_shards() {
    let mut a = ShardMetrics::new(0);
    let mut b = ShardMetrics::new(1);
    for _ in 0..3 {
        a.record_request("/a", &Method::Get, 200, ms(1));
    }
    for _ in 0..2 {
        b.record_request("/a", &Method::Get, 200, ms(3));
    }
    b.record_request("/b", &Method::Put, 201, ms(7));
    a.record_upstream("/a", ms(1));
    b.record_upstream("/a", ms(2));
    a.record_policy("cors", 500);
    b.record_policy("cors", 1_500);
    a.record_rate_limited("/a");
    b.record_rate_limited("/a");
    b.record_rate_limited("/b");
    a.record_upstream_error("pool", UpstreamErrorKind::Connect);
    b.record_upstream_error("pool", UpstreamErrorKind::Connect);
    b.record_upstream_error("pool", UpstreamErrorKind::Reset);
    a.set_connections(4);
    b.set_connections(7);

    let reloads = ConfigReloads::new();
    reloads.record(true);
    reloads.record(true);
    reloads.record(false);

    let mut merged = MetricsSnapshot::merge_all([a.snapshot(), b.snapshot()]);
    merged.set_config_reloads(reloads.counts());

    assert_eq!(merged.requests_total(), 6);
    let by_route = merged.requests_by_route();
    assert_eq!((by_route["/a"], by_route["/b"]), (5, 1));
    assert_eq!(merged.requests_by_status()[&200], 5);
    assert_eq!(merged.rate_limited(Some("/a")), 2);
    assert_eq!(merged.rate_limited(None), 3);
    assert_eq!(
        merged.upstream_errors("pool", UpstreamErrorKind::Connect),
        2
    );
    assert_eq!(merged.upstream_errors("pool", UpstreamErrorKind::Reset), 1);
    assert_eq!(
        merged.upstream_errors("pool", UpstreamErrorKind::Timeout),
        0
    );
    assert_eq!(merged.connections(0), Some(4));
    assert_eq!(merged.connections(1), Some(7));
    assert_eq!(merged.connections_total(), 11);
    assert_eq!(merged.config_reloads(), ReloadCounts { ok: 2, error: 1 });

    // Histograms add: /a holds 3 x 1 ms and 2 x 3 ms.
    let p50 = merged.p50_ms(Some("/a")).unwrap();
    let p99 = merged.p99_ms(Some("/a")).unwrap();
    // Two significant figures: within 1%.
    assert!((p50 - 1.0).abs() <= 0.01, "p50 {p50}");
    assert!((p99 - 3.0).abs() <= 0.03, "p99 {p99}");
    assert!((merged.mean_ms(Some("/a")).unwrap() - 1.8).abs() < 1e-9);
    // Over all routes the 7 ms request on /b is the top.
    let p99_all = merged.p99_ms(None).unwrap();
    assert!((p99_all - 7.0).abs() <= 0.07, "p99 all {p99_all}");
    assert_eq!(merged.p99_ms(Some("/nope")), None);
    assert_eq!(MetricsSnapshot::default().p99_ms(None), None);

    let exp = parse_strict(&render_prometheus(&merged, &[]));
    let a_get = [("route", "/a"), ("method", "GET"), ("status", "200")];
    assert_eq!(exp.value("sluice_requests_total", &a_get), 5.0);
    let route_a = [("route", "/a")];
    assert_eq!(
        exp.value("sluice_request_duration_seconds_count", &route_a),
        5.0
    );
    let sum = exp.value("sluice_request_duration_seconds_sum", &route_a);
    assert!((sum - 0.009).abs() < 1e-12, "sum {sum}");
    let bucket = "sluice_request_duration_seconds_bucket";
    assert_eq!(exp.value(bucket, &[("route", "/a"), ("le", "0.001")]), 3.0);
    assert_eq!(exp.value(bucket, &[("route", "/a"), ("le", "0.0025")]), 3.0);
    assert_eq!(exp.value(bucket, &[("route", "/a"), ("le", "0.005")]), 5.0);
    assert_eq!(
        exp.value("sluice_upstream_duration_seconds_count", &route_a),
        2.0
    );
    let cors = [("policy", "cors")];
    assert_eq!(
        exp.value("sluice_policy_duration_seconds_count", &cors),
        2.0
    );
    assert_eq!(
        exp.value("sluice_rate_limited_total", &[("route", "/b")]),
        1.0
    );
    let connect = [("upstream", "pool"), ("kind", "connect")];
    assert_eq!(exp.value("sluice_upstream_errors_total", &connect), 2.0);
    assert_eq!(exp.value("sluice_connections", &[("shard", "0")]), 4.0);
    assert_eq!(exp.value("sluice_connections", &[("shard", "1")]), 7.0);
    assert_eq!(
        exp.value("sluice_config_reloads_total", &[("result", "ok")]),
        2.0
    );
    assert_eq!(
        exp.value("sluice_config_reloads_total", &[("result", "error")]),
        1.0
    );
}

#[test]
fn merge_keeps_the_latest_gauge_per_shard() {
    let mut m = ShardMetrics::new(3);
    m.set_connections(5);
    let mut merged = m.snapshot();
    m.set_connections(2);
    merged.merge(m.snapshot());
    assert_eq!(merged.connections(3), Some(2));
    assert_eq!(merged.connections_total(), 2);
}

#[test]
fn buckets_on_and_around_bounds() {
    let mut h = Latency::new(Unit::Micros);
    for v in [50, 100, 101, 1_000_000, 59_000_000, 61_000_000] {
        h.record(v);
    }
    let c = h.cumulative_buckets();
    assert_eq!(c.len(), MICROS_LADDER.len());
    let at = |le: &str| c[MICROS_LADDER.iter().position(|(_, l)| *l == le).unwrap()];
    assert_eq!(at("0.0001"), 2, "50 and exactly 100 µs");
    assert_eq!(at("0.00025"), 3);
    assert_eq!(at("0.5"), 3);
    assert_eq!(at("1"), 4, "exactly 1 s");
    assert_eq!(at("10"), 4);
    assert_eq!(h.count(), 6, "+Inf holds all, 61 s clamped to 60 s");
    assert_eq!(
        h.sum(),
        50 + 100 + 101 + 1_000_000 + 59_000_000 + 60_000_000
    );
}

#[test]
fn buckets_are_cumulative_and_match_count_between() {
    let mut rng = fastrand::Rng::with_seed(7);
    for unit in [Unit::Micros, Unit::Nanos] {
        let mut h = Latency::new(unit);
        for _ in 0..20_000 {
            // Log-uniform over 1 .. 2^36, so every bucket and the clamp are hit.
            let top = 1u64 << rng.u32(1..36);
            let v = rng.u64(1..=top);
            h.record(v);
        }
        let c = h.cumulative_buckets();
        assert!(c.windows(2).all(|w| w[0] <= w[1]), "cumulative");
        assert!(*c.last().unwrap() <= h.count());
        for (&(bound, le), n) in unit.ladder().iter().zip(&c) {
            assert_eq!(*n, h.hist().count_between(0, bound), "{unit:?} le={le}");
        }
    }
    // The label strings spell the bounds.
    for (ladder, per_second) in [(MICROS_LADDER, 1e6), (NANOS_LADDER, 1e9)] {
        for (bound, le) in ladder {
            let seconds: f64 = le.parse().unwrap();
            assert!((seconds * per_second - *bound as f64).abs() < 1e-6, "{le}");
        }
    }
}

#[test]
fn extras_are_grouped_prefixed_and_checked() {
    let extra = [
        ExtraMetric {
            name: "active_buckets",
            help: "Rate-limit buckets\nheld \\ now.",
            kind: MetricKind::Gauge,
            labels: &[("shard", "0")],
            value: 12.0,
        },
        ExtraMetric {
            name: "sluice_log_dropped_total",
            help: "Log lines dropped.",
            kind: MetricKind::Counter,
            labels: &[],
            value: 3.0,
        },
        ExtraMetric {
            name: "active_buckets",
            help: "ignored",
            kind: MetricKind::Gauge,
            labels: &[("shard", "1"), ("0bad-name", "x\"y")],
            value: f64::NAN,
        },
        ExtraMetric {
            name: "requests_total",
            help: "collides with a built-in family",
            kind: MetricKind::Counter,
            labels: &[],
            value: 1.0,
        },
        ExtraMetric {
            name: "request_duration_seconds_count",
            help: "collides with a histogram series",
            kind: MetricKind::Gauge,
            labels: &[],
            value: 1.0,
        },
        ExtraMetric {
            name: "odd.name",
            help: "ratio",
            kind: MetricKind::Gauge,
            labels: &[],
            value: f64::INFINITY,
        },
    ];
    let text = render_prometheus(&MetricsSnapshot::default(), &extra);
    let exp = parse_strict(&text);
    assert_eq!(
        exp.help["sluice_active_buckets"],
        "Rate-limit buckets\nheld \\ now."
    );
    assert_eq!(exp.types["sluice_active_buckets"], "gauge");
    assert_eq!(exp.value("sluice_active_buckets", &[("shard", "0")]), 12.0);
    let odd = exp.value(
        "sluice_active_buckets",
        &[("shard", "1"), ("_0bad_name", "x\"y")],
    );
    assert!(odd.is_nan());
    assert_eq!(exp.types["sluice_log_dropped_total"], "counter");
    assert_eq!(exp.value("sluice_log_dropped_total", &[]), 3.0);
    assert_eq!(exp.value("sluice_odd_name", &[]), f64::INFINITY);
    assert!(exp.get("sluice_requests_total", &[]).is_none());
    assert!(exp
        .get("sluice_request_duration_seconds_count", &[])
        .is_none());
}

#[test]
fn rendered_text_parses_with_prometheus_parse() {
    use prometheus_parse::{Scrape, Value};

    let mut a = ShardMetrics::new(0);
    let mut b = ShardMetrics::new(1);
    a.record_request("/api/users/:id", &Method::Get, 200, ms(2));
    b.record_request("/api/users/:id", &Method::Get, 200, ms(40));
    b.record_request(
        "/api/users/:id",
        &Method::Delete,
        500,
        Duration::from_secs(3),
    );
    a.record_policy("rate-limit", 2_000);
    a.record_rate_limited("/api/users/:id");
    b.record_upstream_error("users-svc", UpstreamErrorKind::Connect);
    a.set_connections(3);
    b.set_connections(1);
    let mut merged = a.snapshot();
    merged.merge(b.snapshot());
    merged.set_config_reloads(ReloadCounts { ok: 4, error: 1 });
    let extra = [ExtraMetric {
        name: "active_buckets",
        help: "Rate-limit buckets held.",
        kind: MetricKind::Gauge,
        labels: &[],
        value: 17.0,
    }];
    let text = render_prometheus(&merged, &extra);
    parse_strict(&text);

    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let find = |metric: &str, labels: &[(&str, &str)]| -> Value {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == metric
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .unwrap_or_else(|| panic!("no {metric}{labels:?}"))
            .value
            .clone()
    };

    let get = [
        ("route", "/api/users/:id"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(find("sluice_requests_total", &get), Value::Counter(2.0));
    let del = [
        ("route", "/api/users/:id"),
        ("method", "DELETE"),
        ("status", "500"),
    ];
    assert_eq!(find("sluice_requests_total", &del), Value::Counter(1.0));

    let route = [("route", "/api/users/:id")];
    let Value::Histogram(buckets) = find("sluice_request_duration_seconds", &route) else {
        panic!("request duration is a histogram");
    };
    assert_eq!(buckets.len(), MICROS_LADDER.len() + 1);
    let count_le = |le: f64| {
        buckets
            .iter()
            .find(|b| b.less_than == le)
            .map(|b| b.count)
            .unwrap()
    };
    assert_eq!(count_le(0.001), 0.0);
    assert_eq!(count_le(0.0025), 1.0);
    assert_eq!(count_le(0.05), 2.0);
    assert_eq!(count_le(2.5), 2.0);
    assert_eq!(count_le(5.0), 3.0);
    assert_eq!(count_le(f64::INFINITY), 3.0);
    // `_sum`/`_count` carry no TYPE of their own for this parser: untyped.
    let Value::Untyped(sum) = find("sluice_request_duration_seconds_sum", &route) else {
        panic!("sum is a plain sample");
    };
    assert!((sum - 3.042).abs() < 1e-9, "sum {sum}");
    assert_eq!(
        find("sluice_request_duration_seconds_count", &route),
        Value::Untyped(3.0)
    );

    let Value::Histogram(policy) = find(
        "sluice_policy_duration_seconds",
        &[("policy", "rate-limit")],
    ) else {
        panic!("policy duration is a histogram");
    };
    assert_eq!(policy.len(), NANOS_LADDER.len() + 1);
    assert_eq!(policy[0].count, 0.0, "le=1µs");
    assert_eq!(policy[1].count, 1.0, "le=2.5µs");

    assert_eq!(
        find("sluice_rate_limited_total", &route),
        Value::Counter(1.0)
    );
    let err = [("upstream", "users-svc"), ("kind", "connect")];
    assert_eq!(
        find("sluice_upstream_errors_total", &err),
        Value::Counter(1.0)
    );
    assert_eq!(
        find("sluice_connections", &[("shard", "0")]),
        Value::Gauge(3.0)
    );
    assert_eq!(
        find("sluice_connections", &[("shard", "1")]),
        Value::Gauge(1.0)
    );
    let ok = [("result", "ok")];
    assert_eq!(
        find("sluice_config_reloads_total", &ok),
        Value::Counter(4.0)
    );
    assert_eq!(find("sluice_active_buckets", &[]), Value::Gauge(17.0));
    assert_eq!(
        scrape.docs["sluice_requests_total"],
        "Requests answered, by route pattern, method and status."
    );
}

#[test]
fn recording_reuses_label_entries() {
    let mut m = ShardMetrics::default();
    m.record_request("/x", &Method::Get, 200, ms(1));
    m.record_policy("cors", 10);
    m.record_upstream_error("u", UpstreamErrorKind::Reset);
    for _ in 0..1000 {
        m.record_request("/x", &Method::Get, 200, ms(1));
        m.record_policy("cors", 10);
        m.record_upstream_error("u", UpstreamErrorKind::Reset);
    }
    let snap = m.snapshot();
    assert_eq!(snap.requests().count(), 1);
    assert_eq!(snap.requests_total(), 1001);
    assert_eq!(snap.upstream_errors("u", UpstreamErrorKind::Reset), 1001);
    assert_eq!(snap.policy_duration["cors"].count(), 1001);
}

#[test]
fn a_summary_totals_every_route_and_its_quantile_since_counts_only_newer_requests() {
    let mut m = ShardMetrics::new(0);
    for _ in 0..100 {
        m.record_request("/a", &Method::Get, 200, ms(50));
    }
    m.record_request("/b", &Method::Post, 429, ms(1));
    m.record_rate_limited("/b");
    m.set_connections(3);
    let earlier = m.summary();
    assert_eq!(earlier.requests_total(), 101);
    assert_eq!(
        earlier.requests_by_route().iter().collect::<Vec<_>>(),
        [(&"/a".to_string(), &100), (&"/b".to_string(), &1)]
    );
    assert_eq!(earlier.requests_by_status()[&429], 1);
    assert_eq!((earlier.rate_limited(), earlier.connections()), (1, 3));
    assert_eq!(earlier.quantile_ms(0.99), m.snapshot().p99_ms(None));
    assert_eq!(
        earlier.quantile_ms_since(&earlier, 0.99),
        None,
        "nothing new"
    );
    for _ in 0..10 {
        m.record_request("/b", &Method::Get, 200, ms(2));
    }
    let later = m.summary();
    let p99 = later.quantile_ms_since(&earlier, 0.99).unwrap();
    assert!(
        (1.9..2.1).contains(&p99),
        "only the 2 ms requests count: {p99}"
    );
    assert!(
        later.quantile_ms(0.99).unwrap() > 40.0,
        "since start still sees 50 ms"
    );
    assert_eq!(
        earlier.quantile_ms_since(&later, 0.99),
        None,
        "counts went down"
    );

    // Merged across shards: counts add, histograms add.
    let mut other = ShardMetrics::new(1);
    other.record_request("/a", &Method::Get, 500, ms(3));
    let merged = MetricsSummary::merge_all([later, other.summary()]);
    assert_eq!(merged.requests_total(), 112);
    assert_eq!(merged.requests_by_route()["/a"], 101);
    assert_eq!(merged.requests_by_status()[&500], 1);
}
