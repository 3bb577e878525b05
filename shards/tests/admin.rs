//! The admin listener: token rules (401, 503 without a token, `metrics_public`), health,
//! routes, policies, the redacted config, `POST /admin/reload`, Prometheus metrics (parsed
//! with Python's `prometheus_client`, merged across shards), the `request-log` policy
//! (JSON lines to a file, redacted headers, SIGUSR1 reopen) and `/admin/logs`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-0123456789abcdef";
const REDACTED: &str = "[REDACTED]";

/// A gateway with an admin listener on a port of its own.
struct AdminGw {
    gw: Gateway,
    admin: SocketAddr,
    /// The `admin:` block, kept so that a rewritten config keeps the same listener.
    admin_block: String,
}

/// `admin:` with `listen` on `port` and the given extra lines (`token: ...`, ...).
fn admin_block(port: u16, extra: &[&str]) -> String {
    let mut s = format!("admin:\n  listen: \"127.0.0.1:{port}\"\n");
    for line in extra {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

impl AdminGw {
    /// Starts the gateway with `admin:` (a free port, the token `TOKEN`) and `yaml`.
    fn start(yaml: &str) -> AdminGw {
        Self::start_with(&[&format!("token: {TOKEN}")], yaml, &[])
    }

    /// Starts the gateway with an `admin:` block holding `admin_extra` lines after
    /// `listen`, then `yaml`, with `args` after `run --config FILE`; waits for both ports.
    fn start_with(admin_extra: &[&str], yaml: &str, args: &[&str]) -> AdminGw {
        let port = free_port();
        let block = admin_block(port, admin_extra);
        let gw = Gateway::start_with_args(&format!("{block}{}", dedent(yaml)), args);
        let admin = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
        let me = AdminGw {
            gw,
            admin,
            admin_block: block,
        };
        me.wait_admin();
        me
    }

    /// Waits until the admin listener answers a request (any status).
    fn wait_admin(&self) {
        let ready = poll(Duration::from_secs(10), || {
            let Ok(s) = TcpStream::connect_timeout(&self.admin, Duration::from_millis(200)) else {
                return false;
            };
            drop(s);
            let mut c = Conn::connect(self.admin);
            c.try_request("GET", "/admin/health", &[], b"").is_ok()
        });
        assert!(
            ready,
            "admin listener {} not answering; stderr:\n{}",
            self.admin,
            self.gw.stderr()
        );
    }

    /// One admin request with `Authorization: Bearer TOKEN`.
    fn call(&self, method: &str, path: &str) -> Response {
        let auth = format!("Bearer {TOKEN}");
        self.call_with(method, path, &[("authorization", &auth)])
    }

    /// One admin request with exactly `headers`.
    fn call_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        Conn::connect(self.admin).request(method, path, headers, b"")
    }

    /// `GET path` with the token; asserts 200 and a JSON body.
    fn json(&self, path: &str) -> Value {
        let r = self.call("GET", path);
        assert_eq!(r.status, 200, "GET {path}: {r}");
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "GET {path}: not JSON: {r}"
        );
        r.json()
    }

    /// `GET /metrics` with the token, parsed by `prometheus_client`.
    fn metrics(&self) -> Metrics {
        let r = self.call("GET", "/metrics");
        assert_eq!(r.status, 200, "GET /metrics: {r}");
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("text/plain"),
            "{r}"
        );
        Metrics::parse(&r.text())
    }

    /// Rewrites the config file (same `listen`, same `admin:` block) with `yaml`.
    fn rewrite(&self, yaml: &str) {
        self.gw
            .rewrite_config(&format!("{}{}", self.admin_block, dedent(yaml)));
    }
}

/// Asserts an admin error: `status` and `{"error": code, "message": .., "statusCode": status}`.
fn assert_admin_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "expected {status} {code}: {r}");
    let j = r.json();
    assert_eq!(j["error"], code, "{r}");
    assert_eq!(j["statusCode"], status, "{r}");
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
}

// ---------------------------------------------------------------------------------------
// Prometheus text, parsed by a real parser
// ---------------------------------------------------------------------------------------

const PARSE_PROMETHEUS: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                            for s in f.samples]})
print(json.dumps(out))
"#;

/// Makes sure `python3` can import `prometheus_client`, installing it with pip once if
/// it is missing (as `scripts/test.sh` does for `requests`); panics with what to do if not.
fn ensure_prometheus_client() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let importable = || {
        Command::new("python3")
            .args(["-c", "import prometheus_client.parser"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ready = READY.get_or_init(|| {
        if importable() {
            return Ok(());
        }
        let pip = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "prometheus_client"])
            .stdin(Stdio::null())
            .output();
        if importable() {
            return Ok(());
        }
        Err(format!(
            "these tests parse /metrics with Python's prometheus_client, which is not \
             installed and could not be installed (`python3 -m pip install prometheus_client`: {})",
            match pip {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            }
        ))
    });
    if let Err(why) = ready {
        panic!("{why}");
    }
}

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The families `prometheus_client.parser.text_string_to_metric_families` found.
struct Metrics {
    /// family name -> (type, samples)
    families: BTreeMap<String, (String, Vec<Sample>)>,
    text: String,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        ensure_prometheus_client();
        let mut child = Command::new("python3")
            .args(["-c", PARSE_PROMETHEUS])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python3");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "prometheus_client refused the metrics text: {}\n--- text ---\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut families = BTreeMap::new();
        for f in parsed.as_array().unwrap() {
            let samples = f["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Sample {
                    name: s["name"].as_str().unwrap().to_string(),
                    labels: s["labels"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect(),
                    value: s["value"].as_f64().unwrap(),
                })
                .collect();
            let name = f["name"].as_str().unwrap().to_string();
            let kind = f["type"].as_str().unwrap().to_string();
            assert!(
                families.insert(name.clone(), (kind, samples)).is_none(),
                "family {name} appears twice"
            );
        }
        Metrics {
            families,
            text: text.to_string(),
        }
    }

    /// The family's type and samples; panics when it is missing.
    fn family(&self, name: &str) -> &(String, Vec<Sample>) {
        self.families.get(name).unwrap_or_else(|| {
            panic!(
                "no metric family {name}; families: {:?}\n--- text ---\n{}",
                self.families.keys().collect::<Vec<_>>(),
                self.text
            )
        })
    }

    /// The value of the sample `name` whose labels include all of `labels` (0 when none).
    fn value(&self, sample: &str, labels: &[(&str, &str)]) -> f64 {
        self.families
            .values()
            .flat_map(|(_, s)| s)
            .filter(|s| s.name == sample)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// `sluice_requests_total{route, method, status}`.
    fn requests(&self, route: &str, method: &str, status: &str) -> f64 {
        self.value(
            "sluice_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    }
}

// ---------------------------------------------------------------------------------------
// Token rules
// ---------------------------------------------------------------------------------------

const STATIC_ROUTES: &str = r#"
    routes:
      - path: /hello
        upstream: {type: static, status: 200, headers: {content-type: text/plain}, body: hello}
"#;

#[test]
fn every_admin_endpoint_needs_the_bearer_token() {
    let gw = AdminGw::start(STATIC_ROUTES);
    let good = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let short = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let scheme = format!("Basic {TOKEN}");
    let endpoints = [
        ("GET", "/admin/health"),
        ("GET", "/admin/routes"),
        ("GET", "/admin/policies"),
        ("GET", "/admin/config"),
        ("POST", "/admin/reload"),
        ("GET", "/admin/metrics"),
        ("GET", "/admin/logs"),
        ("DELETE", "/admin/logs"),
        ("GET", "/admin/logs/stats"),
        ("GET", "/metrics"),
        ("GET", "/health"),
        ("GET", "/admin/no-such-endpoint"),
    ];
    for (method, path) in endpoints {
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("authorization", short.as_str())],
            vec![("authorization", scheme.as_str())],
            vec![("authorization", TOKEN)],
            vec![("authorization", "Bearer ")],
        ] {
            let r = gw.call_with(method, path, &headers);
            assert_admin_error(&r, 401, "unauthorized");
            assert!(
                !r.text().contains(TOKEN),
                "{method} {path}: the answer repeats the token: {r}"
            );
        }
        let r = gw.call_with(method, path, &[("authorization", &good)]);
        if path == "/admin/no-such-endpoint" {
            assert_admin_error(&r, 404, "not_found");
        } else {
            assert_eq!(r.status, 200, "{method} {path} with the token: {r}");
        }
    }
    // The gateway's own port knows nothing of the admin API.
    assert_eq!(
        gw.gw
            .request("GET", "/admin/health", &[("authorization", &good)], b"")
            .status,
        404
    );
}

#[test]
fn without_a_token_every_admin_endpoint_answers_503() {
    // Left out, and empty through `${VAR:-}`: both mean "no token".
    for extra in [
        vec![],
        vec!["token: \"${SLUICE_TEST_ADMIN_TOKEN_NEVER_SET:-}\""],
    ] {
        let gw = AdminGw::start_with(&extra, STATIC_ROUTES, &[]);
        for (method, path) in [
            ("GET", "/admin/health"),
            ("GET", "/admin/config"),
            ("POST", "/admin/reload"),
            ("GET", "/admin/logs"),
            ("GET", "/metrics"),
            ("GET", "/health"),
        ] {
            for headers in [vec![], vec![("authorization", "Bearer ")]] {
                let r = gw.call_with(method, path, &headers);
                assert_admin_error(&r, 503, "admin_disabled");
            }
            let any = format!("Bearer {TOKEN}");
            let r = gw.call_with(method, path, &[("authorization", &any)]);
            assert_admin_error(&r, 503, "admin_disabled");
        }
    }
}

#[test]
fn metrics_public_opens_metrics_and_health_only() {
    let gw = AdminGw::start_with(
        &[&format!("token: {TOKEN}"), "metrics_public: true"],
        STATIC_ROUTES,
        &[],
    );
    let r = gw.call_with("GET", "/metrics", &[]);
    assert_eq!(r.status, 200, "{r}");
    Metrics::parse(&r.text()).family("sluice_requests");
    let r = gw.call_with("GET", "/health", &[]);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json()["status"], "ok", "{r}");
    // Even a wrong token does not matter on the public paths.
    let r = gw.call_with("GET", "/metrics", &[("authorization", "Bearer nope")]);
    assert_eq!(r.status, 200, "{r}");
    for path in [
        "/admin/metrics",
        "/admin/health",
        "/admin/config",
        "/admin/logs",
    ] {
        assert_admin_error(&gw.call_with("GET", path, &[]), 401, "unauthorized");
    }

    // metrics_public without a token: the public paths answer, /admin/* stays closed (503).
    let gw = AdminGw::start_with(&["metrics_public: true"], STATIC_ROUTES, &[]);
    assert_eq!(gw.call_with("GET", "/metrics", &[]).status, 200);
    assert_eq!(gw.call_with("GET", "/health", &[]).status, 200);
    for path in ["/admin/metrics", "/admin/health", "/admin/routes"] {
        assert_admin_error(&gw.call_with("GET", path, &[]), 503, "admin_disabled");
    }

    // Without metrics_public, /metrics and /health need the token like /admin/*.
    let gw = AdminGw::start(STATIC_ROUTES);
    for path in ["/metrics", "/health"] {
        assert_admin_error(&gw.call_with("GET", path, &[]), 401, "unauthorized");
        assert_eq!(gw.call("GET", path).status, 200);
    }
}

// ---------------------------------------------------------------------------------------
// Introspection
// ---------------------------------------------------------------------------------------

const PROGRAMS: &str = r#"
    policies:
      - {type: ip-filter, deny: ["203.0.113.0/24"]}
    routes:
      - path: /users/:id
        methods: [GET, POST]
        policies:
          - type: api-key-auth
          - {type: rate-limit, max: 5, window: 10s}
          - {type: request-transform, name: tag, priority: 7, set_headers: {x-gateway: sluice}}
        upstream: {type: url, target: "http://127.0.0.1:9/v1"}
      - path: /hello
        upstream: {type: static, status: 201, body: hi}
    consumers:
      - {id: alice, api_keys: ["alice-key-0001"]}
"#;

#[test]
fn health_reports_name_version_uptime_shards_driver_and_counts() {
    let gw = AdminGw::start_with(&[&format!("token: {TOKEN}")], PROGRAMS, &["--shards", "2"]);
    let h = gw.json("/admin/health");
    let keys: Vec<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "status",
        "name",
        "version",
        "uptime_seconds",
        "shards",
        "driver",
        "routes",
        "policies",
    ] {
        assert!(keys.contains(&k), "no {k} in {h}");
    }
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["name"], "test", "{h}");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"), "{h}");
    assert!(h["uptime_seconds"].as_u64().is_some_and(|u| u < 60), "{h}");
    assert_eq!(h["shards"], 2, "{h}");
    assert!(h["driver"].as_str().is_some_and(|d| !d.is_empty()), "{h}");
    assert_eq!(h["routes"], 2, "{h}");
    // Ops across every route's program: 4 on /users/:id, 1 (the global ip-filter) on /hello.
    assert_eq!(h["policies"], 5, "{h}");

    // uptime counts up.
    std::thread::sleep(Duration::from_millis(1100));
    let later = gw.json("/admin/health");
    assert!(
        later["uptime_seconds"].as_u64() > h["uptime_seconds"].as_u64(),
        "{h} then {later}"
    );
    // /health (with the token) is the same document.
    let plain = gw.json("/health");
    assert_eq!(plain["name"], "test");
    assert_eq!(plain["routes"], 2);
}

#[test]
fn routes_list_paths_methods_programs_and_upstreams() {
    let gw = AdminGw::start(PROGRAMS);
    let routes = gw.json("/admin/routes");
    let routes = routes.as_array().unwrap();
    assert_eq!(routes.len(), 2, "{routes:?}");
    let users = &routes[0];
    assert_eq!(users["path"], "/users/:id", "{users}");
    assert_eq!(
        users["methods"],
        serde_json::json!(["GET", "POST"]),
        "{users}"
    );
    let program: Vec<(String, String, i64)> = users["program"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["op"].as_str().unwrap().to_string(),
                op["name"].as_str().unwrap().to_string(),
                op["priority"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, i64)> = [
        ("ip-filter", "ip-filter", 1),
        ("request-transform", "tag", 7),
        ("api-key-auth", "api-key-auth", 10),
        ("rate-limit", "rate-limit", 20),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
    .collect();
    assert_eq!(program, expected, "the program in priority order: {users}");
    assert_eq!(users["upstream"]["type"], "url", "{users}");
    assert_eq!(
        users["upstream"]["targets"],
        serde_json::json!(["http://127.0.0.1:9/v1"]),
        "{users}"
    );

    let hello = &routes[1];
    assert_eq!(hello["path"], "/hello", "{hello}");
    assert!(hello["methods"].is_null(), "every method: {hello}");
    assert_eq!(hello["program"].as_array().unwrap().len(), 1, "{hello}");
    assert_eq!(hello["program"][0]["op"], "ip-filter", "{hello}");
    assert_eq!(hello["upstream"]["type"], "static", "{hello}");
    assert_eq!(hello["upstream"]["status"], 201, "{hello}");
}

#[test]
fn policies_list_every_op_with_its_route() {
    let gw = AdminGw::start(PROGRAMS);
    let policies = gw.json("/admin/policies");
    let got: Vec<(String, String, String, i64)> = policies
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["route"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
                p["type"].as_str().unwrap().to_string(),
                p["priority"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, i64)> = [
        ("/users/:id", "ip-filter", "ip-filter", 1),
        ("/users/:id", "tag", "request-transform", 7),
        ("/users/:id", "api-key-auth", "api-key-auth", 10),
        ("/users/:id", "rate-limit", "rate-limit", 20),
        ("/hello", "ip-filter", "ip-filter", 1),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), *d))
    .collect();
    assert_eq!(got, expected, "{policies}");
}

#[test]
fn config_shows_every_secret_and_env_value_as_redacted() {
    // Secret-looking values, each unique, so a leak anywhere in a body can be found.
    const JWT_SECRET: &str = "jwt-secret-LEAK1-0123456789abcdef0123";
    const CLIENT_SECRET: &str = "oauth-secret-LEAK2";
    const API_KEY: &str = "alice-key-LEAK3";
    const BEARER: &str = "Bearer upstream-LEAK4";
    const HEADER_KEY: &str = "header-key-LEAK5";
    const ENV_DEFAULT: &str = "env-default-LEAK6";
    const HASH: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    let digest = format!("sha256:{}", "ab".repeat(32));
    let home = std::env::var("HOME").expect("HOME is set");
    let yaml = format!(
        r#"
        policies:
          - type: request-transform
            set_headers: {{authorization: "{BEARER}", x-api-key: "{HEADER_KEY}", x-plain: plain-value}}
        routes:
          - path: /jwt
            policies:
              - {{type: jwt-auth, secret: "{JWT_SECRET}", issuer: https://issuer.example}}
            upstream: {{type: static, body: jwt}}
          - path: /oauth
            policies:
              - type: oauth2
                introspection_url: http://127.0.0.1:9/introspect
                client_id: gateway-client
                client_secret: "{CLIENT_SECRET}"
            upstream: {{type: url, target: "http://${{SLUICE_TEST_UNSET_HOST:-127.0.0.1}}:9/v1"}}
          - path: /env
            upstream: {{type: static, status: 200, body: "home is ${{HOME}}"}}
        consumers:
          - id: alice
            api_keys: ["{API_KEY}", "{digest}"]
            basic: {{username: alice-user, password_hash: "{HASH}"}}
            roles: [reader]
            metadata: {{team: "${{SLUICE_TEST_UNSET_TEAM:-{ENV_DEFAULT}}}", tier: gold}}
        "#
    );
    let gw = AdminGw::start(&yaml);
    // The ${ENV} values really are live (so redacting them hides something).
    assert_eq!(gw.gw.get("/env").text(), format!("home is {home}"));

    let r = gw.call("GET", "/admin/config");
    assert_eq!(r.status, 200, "{r}");
    let text = r.text();
    for leaked in [
        TOKEN,
        JWT_SECRET,
        CLIENT_SECRET,
        API_KEY,
        BEARER,
        HEADER_KEY,
        ENV_DEFAULT,
        HASH,
        digest.as_str(),
        &format!("home is {home}"),
        "${",
    ] {
        assert!(!text.contains(leaked), "{leaked:?} is shown: {text}");
    }
    let c = r.json();
    // Redacted: the token, secrets, keys, password hashes, secret headers, ${ENV} values.
    for (pointer, what) in [
        ("/admin/token", "admin token"),
        (
            "/policies/0/set_headers/authorization",
            "Authorization header value",
        ),
        (
            "/policies/0/set_headers/x-api-key",
            "x-api-key header value",
        ),
        ("/routes/0/policies/0/secret", "jwt-auth secret"),
        ("/routes/1/policies/0/client_secret", "oauth2 client_secret"),
        ("/routes/1/upstream/target", "${ENV} in an upstream target"),
        ("/routes/2/upstream/body", "${HOME} in a static body"),
        ("/consumers/0/api_keys", "api_keys"),
        ("/consumers/0/basic/password_hash", "password_hash"),
        ("/consumers/0/metadata/team", "${ENV:-default} in metadata"),
    ] {
        assert_eq!(
            c.pointer(pointer),
            Some(&Value::from(REDACTED)),
            "{what} at {pointer}: {c}"
        );
    }
    // Everything else is shown as written.
    for (pointer, value) in [
        ("/name", Value::from("test")),
        // The harness starts gateways on port 0 (the gateway picks a free port).
        ("/listen/0", Value::from(format!("{}:0", gw.gw.addr().ip()))),
        ("/admin/listen", Value::from(gw.admin.to_string())),
        ("/policies/0/type", Value::from("request-transform")),
        (
            "/policies/0/set_headers/x-plain",
            Value::from("plain-value"),
        ),
        ("/routes/0/path", Value::from("/jwt")),
        ("/routes/0/policies/0/type", Value::from("jwt-auth")),
        (
            "/routes/0/policies/0/issuer",
            Value::from("https://issuer.example"),
        ),
        (
            "/routes/1/policies/0/client_id",
            Value::from("gateway-client"),
        ),
        (
            "/routes/1/policies/0/introspection_url",
            Value::from("http://127.0.0.1:9/introspect"),
        ),
        ("/routes/1/upstream/type", Value::from("url")),
        ("/routes/2/upstream/status", Value::from(200)),
        ("/consumers/0/id", Value::from("alice")),
        ("/consumers/0/basic/username", Value::from("alice-user")),
        ("/consumers/0/roles/0", Value::from("reader")),
        ("/consumers/0/metadata/tier", Value::from("gold")),
    ] {
        assert_eq!(c.pointer(pointer), Some(&value), "{pointer}: {c}");
    }

    // The other introspection endpoints do not show the secrets either.
    for path in ["/admin/routes", "/admin/policies", "/admin/health"] {
        let body = gw.call("GET", path).text();
        for leaked in [
            TOKEN,
            JWT_SECRET,
            CLIENT_SECRET,
            API_KEY,
            BEARER,
            HEADER_KEY,
            HASH,
        ] {
            assert!(!body.contains(leaked), "{path} shows {leaked:?}: {body}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------

fn hello_route(body: &str) -> String {
    format!(
        r#"
        routes:
          - path: /hello
            upstream: {{type: static, status: 200, headers: {{content-type: text/plain}}, body: {body}}}
        "#
    )
}

#[test]
fn reload_applies_a_good_file_and_counts_it() {
    let gw = AdminGw::start(&hello_route("one"));
    assert_eq!(gw.gw.get("/hello").text(), "one");
    let before = gw.metrics();
    assert_eq!(
        before.value("sluice_config_reloads_total", &[("result", "ok")]),
        0.0
    );

    gw.rewrite(&format!(
        "{}\n          - path: /added\n            upstream: {{type: static, status: 202, body: added}}\n",
        hello_route("two").trim_end()
    ));
    let r = gw.call("POST", "/admin/reload");
    assert_eq!(r.status, 200, "{r}");
    let j = r.json();
    assert_eq!(j["status"], "ok", "{r}");
    assert_eq!(j["generation"], 2, "{r}");
    // Live at once: the answer came after the swap.
    assert_eq!(gw.gw.get("/hello").text(), "two");
    assert_eq!(gw.gw.get("/added").status, 202);
    let paths: Vec<Value> = gw
        .json("/admin/routes")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].clone())
        .collect();
    assert_eq!(paths, vec![Value::from("/hello"), Value::from("/added")]);
    assert_eq!(gw.json("/admin/health")["routes"], 2);

    gw.rewrite(&hello_route("three"));
    let j = gw.call("POST", "/admin/reload").json();
    assert_eq!(j["generation"], 3, "{j}");
    assert_eq!(gw.gw.get("/hello").text(), "three");
    assert_eq!(gw.gw.get("/added").status, 404);

    let after = gw.metrics();
    assert_eq!(
        after.value("sluice_config_reloads_total", &[("result", "ok")]),
        2.0
    );
    assert_eq!(
        after.value("sluice_config_reloads_total", &[("result", "error")]),
        0.0
    );
}

#[test]
fn reload_refuses_a_bad_file_naming_the_field_and_keeps_the_old_config() {
    let gw = AdminGw::start(&hello_route("kept"));
    let bad_files = [
        (
            r#"
            routes:
              - path: /hello
                upstream: {type: static, statuz: 200, body: new}
            "#,
            "routes[0].upstream.statuz",
        ),
        (
            r#"
            routes:
              - path: /hello
                policies: [{type: rate-limit, max: 0}]
                upstream: {type: static, body: new}
            "#,
            "routes[0].policies[0].max",
        ),
        (
            r#"
            routes:
              - path: /hello
                upstream: {type: teleport, body: new}
            "#,
            "routes[0].upstream",
        ),
    ];
    for (i, (yaml, field)) in bad_files.iter().enumerate() {
        gw.rewrite(yaml);
        let r = gw.call("POST", "/admin/reload");
        assert_eq!(r.status, 400, "{r}");
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{r}"
        );
        let j = r.json();
        assert_eq!(j["status"], "error", "{r}");
        let errors = j["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors list: {r}"));
        assert!(!errors.is_empty(), "{r}");
        assert!(
            errors.iter().any(|e| e.as_str().unwrap().contains(field)),
            "no error names {field}: {r}"
        );
        // Nothing changed.
        let hello = gw.gw.get("/hello");
        assert_eq!((hello.status, hello.text().as_str()), (200, "kept"));
        let m = gw.metrics();
        assert_eq!(
            m.value("sluice_config_reloads_total", &[("result", "error")]),
            (i + 1) as f64
        );
        assert_eq!(
            m.value("sluice_config_reloads_total", &[("result", "ok")]),
            0.0
        );
    }
    // A good file after the bad ones still reloads, as generation 2.
    gw.rewrite(&hello_route("fixed"));
    let j = gw.call("POST", "/admin/reload").json();
    assert_eq!(
        (j["status"].as_str(), j["generation"].as_u64()),
        (Some("ok"), Some(2))
    );
    assert_eq!(gw.gw.get("/hello").text(), "fixed");
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

#[test]
fn metrics_count_requests_by_route_method_and_status() {
    let gw = AdminGw::start(
        r#"
        routes:
          - path: /items/:id
            methods: [GET, POST]
            upstream: {type: static, status: 200, body: item}
          - path: /limited
            policies: [{type: rate-limit, max: 1, window: 60s}]
            upstream: {type: static, status: 200, body: ok}
          - path: /gone
            upstream: {type: static, status: 410, body: gone}
        "#,
    );
    let mut c = gw.gw.connect();
    for i in 0..3 {
        assert_eq!(
            c.request("GET", &format!("/items/{i}"), &[], b"").status,
            200
        );
    }
    assert_eq!(c.request("POST", "/items/9", &[], b"x").status, 200);
    assert_eq!(c.request("DELETE", "/items/9", &[], b"").status, 405);
    assert_eq!(c.request("GET", "/gone", &[], b"").status, 410);
    assert_eq!(c.request("GET", "/nowhere", &[], b"").status, 404);
    assert_eq!(c.request("GET", "/limited", &[], b"").status, 200);
    assert_eq!(c.request("GET", "/limited", &[], b"").status, 429);
    assert_eq!(c.request("GET", "/limited", &[], b"").status, 429);
    drop(c);

    // A request is counted just after its answer is written: wait for the last one.
    let mut m = gw.metrics();
    poll(Duration::from_secs(5), || {
        m = gw.metrics();
        m.requests("/limited", "GET", "429") == 2.0
    });
    let (kind, _) = m.family("sluice_requests");
    assert_eq!(kind, "counter");
    assert_eq!(m.requests("/items/:id", "GET", "200"), 3.0, "{}", m.text);
    assert_eq!(m.requests("/items/:id", "POST", "200"), 1.0, "{}", m.text);
    assert_eq!(m.requests("/gone", "GET", "410"), 1.0, "{}", m.text);
    assert_eq!(m.requests("/limited", "GET", "200"), 1.0, "{}", m.text);
    assert_eq!(m.requests("/limited", "GET", "429"), 2.0, "{}", m.text);
    assert_eq!(m.value("sluice_requests_total", &[]), 10.0, "{}", m.text);
    assert_eq!(
        m.value("sluice_rate_limited_total", &[("route", "/limited")]),
        2.0,
        "{}",
        m.text
    );

    // Histograms: per route, cumulative buckets ending in +Inf = _count.
    for family in [
        "sluice_request_duration_seconds",
        "sluice_upstream_duration_seconds",
        "sluice_policy_duration_seconds",
    ] {
        let (kind, _) = m.family(family);
        assert_eq!(kind, "histogram", "{family}");
    }
    let (_, samples) = m.family("sluice_request_duration_seconds");
    let buckets: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket") && s.labels["route"] == "/items/:id")
        .collect();
    assert!(buckets.len() >= 2, "{}", m.text);
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "{}",
        m.text
    );
    let inf = buckets.last().unwrap();
    assert_eq!(inf.labels["le"], "+Inf");
    assert_eq!(inf.value, 4.0, "{}", m.text);
    let count = m.value(
        "sluice_request_duration_seconds_count",
        &[("route", "/items/:id")],
    );
    assert_eq!(count, 4.0);
    assert!(
        m.value(
            "sluice_request_duration_seconds_sum",
            &[("route", "/items/:id")]
        ) > 0.0
    );
    assert!(
        m.value(
            "sluice_policy_duration_seconds_count",
            &[("policy", "rate-limit")]
        ) >= 3.0,
        "{}",
        m.text
    );
    for family in [
        "sluice_connections",
        "sluice_config_reloads",
        "sluice_rate_limited",
        "sluice_upstream_errors",
    ] {
        m.family(family);
    }

    // /admin/metrics is the same text.
    let admin = gw.call("GET", "/admin/metrics");
    assert_eq!(admin.status, 200);
    Metrics::parse(&admin.text()).family("sluice_requests");

    // A reload shows in sluice_config_reloads_total{result="ok"}.
    let before = m.value("sluice_config_reloads_total", &[("result", "ok")]);
    assert_eq!(gw.call("POST", "/admin/reload").status, 200);
    let after = gw.metrics();
    assert_eq!(
        after.value("sluice_config_reloads_total", &[("result", "ok")]),
        before + 1.0
    );
}

#[test]
fn metrics_merge_the_counts_of_both_shards() {
    let gw = AdminGw::start_with(
        &[&format!("token: {TOKEN}")],
        r#"
        routes:
          - path: /hello
            upstream: {type: static, status: 200, body: hi}
        "#,
        &["--shards", "2"],
    );
    assert_eq!(gw.json("/admin/health")["shards"], 2);
    // Many connections, held open: SO_REUSEPORT spreads them over both shards.
    const CONNS: usize = 32;
    const PER_CONN: usize = 3;
    let mut conns: Vec<Conn> = (0..CONNS).map(|_| gw.gw.connect()).collect();
    for c in &mut conns {
        for _ in 0..PER_CONN {
            assert_eq!(c.request("GET", "/hello", &[], b"").status, 200);
        }
    }
    let total = (CONNS * PER_CONN) as f64;
    let mut m = gw.metrics();
    poll(Duration::from_secs(5), || {
        m = gw.metrics();
        m.requests("/hello", "GET", "200") == total
            && m.value("sluice_connections", &[]) == CONNS as f64
    });
    let shard0 = m.value("sluice_connections", &[("shard", "0")]);
    let shard1 = m.value("sluice_connections", &[("shard", "1")]);
    assert_eq!(shard0 + shard1, CONNS as f64, "{}", m.text);
    assert!(
        shard0 > 0.0 && shard1 > 0.0,
        "both shards must hold some of the {CONNS} connections: {shard0} + {shard1}"
    );
    // Every request is counted, whichever shard served it.
    assert_eq!(m.requests("/hello", "GET", "200"), total, "{}", m.text);
    assert_eq!(
        m.value(
            "sluice_request_duration_seconds_count",
            &[("route", "/hello")]
        ),
        total,
        "{}",
        m.text
    );
    drop(conns);
    assert!(
        poll(Duration::from_secs(5), || gw
            .metrics()
            .value("sluice_connections", &[])
            == 0.0),
        "closed connections are still counted"
    );
}

// ---------------------------------------------------------------------------------------
// request-log and /admin/logs
// ---------------------------------------------------------------------------------------

/// The JSON lines of `path` (panics on a line that is not JSON).
fn log_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

fn wait_lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let mut lines = Vec::new();
    poll(Duration::from_secs(5), || {
        lines = log_lines(path);
        lines.len() >= n
    });
    assert_eq!(lines.len(), n, "lines in {}: {lines:#?}", path.display());
    lines
}

const LOG_FIELDS: [&str; 13] = [
    "timestamp",
    "request_id",
    "trace_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "client_ip",
    "user_agent",
    "route",
    "upstream",
    "consumer",
    "rate_limited",
];

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn request_log_writes_json_lines_with_redacted_headers_to_a_file() {
    let up = TestUpstream::new().start();
    let dir = TempDir::new();
    let file = dir.path().join("access.log");
    let gw = AdminGw::start(&up.fill(&format!(
        r#"
        policies:
          - {{type: request-log, output: file, file: "{}", include_headers: true}}
        routes:
          - path: /users/:id
            policies: [{{type: api-key-auth}}]
            upstream: {{type: url, target: "http://127.0.0.1:$UP"}}
          - path: /static
            upstream: {{type: static, status: 201, body: made}}
        consumers:
          - {{id: alice, api_keys: ["alice-key-0001"]}}
        "#,
        file.display()
    )));
    let started = now_ms();
    let ok = gw.gw.request(
        "GET",
        "/users/42?page=2",
        &[
            ("user-agent", "log-test/1.0"),
            ("x-api-key", "alice-key-0001"),
            ("authorization", "Bearer secret-bearer-value"),
            ("cookie", "session=secret-cookie-value"),
            ("x-custom", "visible-value"),
        ],
        b"",
    );
    assert_eq!(ok.status, 200, "{ok}");
    let denied = gw
        .gw
        .request("POST", "/users/7", &[("x-api-key", "wrong-key")], b"body");
    assert_eq!(denied.status, 401, "{denied}");
    let made = gw.gw.get("/static");
    assert_eq!(made.status, 201);

    let lines = wait_lines(&file, 3);
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [
        "alice-key-0001",
        "secret-bearer-value",
        "secret-cookie-value",
        "wrong-key",
    ] {
        assert!(!text.contains(secret), "{secret} is in the log:\n{text}");
    }
    for line in &lines {
        let obj = line.as_object().unwrap();
        for f in LOG_FIELDS {
            assert!(obj.contains_key(f), "no {f} in {line}");
        }
        assert!(obj.contains_key("headers"), "include_headers: true: {line}");
        let ts = line["timestamp"].as_u64().unwrap();
        assert!(
            ts + 1000 >= started && ts <= now_ms() + 1000,
            "timestamp {ts}: {line}"
        );
        assert!(
            line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
            "{line}"
        );
        assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
        assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "{line}");
    }

    // Found by request id: with two shards the lines of back-to-back requests may be
    // written in either order.
    let by_id = |r: &Response| -> &Value {
        let id = r.header("x-request-id").unwrap();
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("no line with request_id {id}: {lines:#?}"))
    };
    let (l, rid, tp) = (
        by_id(&ok),
        ok.header("x-request-id").unwrap(),
        ok.assert_ids().1,
    );
    assert_eq!(l["request_id"], rid, "{l}");
    assert_eq!(l["trace_id"], tp.trace_id.as_str(), "{l}");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["path"], "/users/42", "{l}");
    assert_eq!(l["status"], 200);
    assert_eq!(l["route"], "/users/:id");
    assert_eq!(
        l["upstream"],
        format!("http://127.0.0.1:{}", up.port()),
        "{l}"
    );
    assert_eq!(l["consumer"], "alice");
    assert_eq!(l["user_agent"], "log-test/1.0");
    assert_eq!(l["rate_limited"], false);
    let h = &l["headers"];
    assert_eq!(h["x-api-key"], REDACTED, "{l}");
    assert_eq!(h["authorization"], REDACTED, "{l}");
    assert_eq!(h["cookie"], REDACTED, "{l}");
    assert_eq!(h["x-custom"], "visible-value", "{l}");
    assert_eq!(h["user-agent"], "log-test/1.0", "{l}");

    let l = by_id(&denied);
    assert_eq!(
        (l["method"].as_str(), l["status"].as_u64()),
        (Some("POST"), Some(401))
    );
    assert!(l["consumer"].is_null() && l["upstream"].is_null(), "{l}");
    assert!(l["user_agent"].is_null(), "no user-agent sent: {l}");
    assert_eq!(l["headers"]["x-api-key"], REDACTED, "{l}");

    let l = by_id(&made);
    assert_eq!(
        (l["path"].as_str(), l["status"].as_u64()),
        (Some("/static"), Some(201))
    );
    assert_eq!(l["route"], "/static");

    // The same entries are in the ring buffer, newest first (the file's order reversed).
    let ring = gw.json("/admin/logs");
    let mut expected = lines.clone();
    expected.reverse();
    assert_eq!(ring, Value::Array(expected));
}

#[test]
fn request_log_redact_headers_replaces_the_default_list_and_stdout_gets_the_lines() {
    let gw = AdminGw::start(
        r#"
        policies:
          - {type: request-log, include_headers: true, redact_headers: [X-Session]}
        routes:
          - path: /a
            upstream: {type: static, body: a}
        "#,
    );
    let r = gw.gw.request(
        "GET",
        "/a",
        &[
            ("x-session", "s-secret"),
            ("authorization", "Bearer shown-now"),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    let mut line = Value::Null;
    assert!(
        poll(Duration::from_secs(5), || {
            if let Some(l) = gw.gw.stdout().lines().next() {
                line = serde_json::from_str(l).unwrap();
                true
            } else {
                false
            }
        }),
        "no line on stdout"
    );
    assert_eq!(line["headers"]["x-session"], REDACTED, "{line}");
    // The list replaced the default one: authorization is written as sent.
    assert_eq!(
        line["headers"]["authorization"], "Bearer shown-now",
        "{line}"
    );
    assert_eq!(line["request_id"], r.header("x-request-id").unwrap());
}

#[test]
fn requests_that_match_no_route_are_logged_by_the_global_request_log() {
    let dir = TempDir::new();
    let log = dir.path().join("access.log");
    let gw = AdminGw::start(&format!(
        r#"
        policies:
          - type: request-log
            output: file
            file: {}
            skip: {{paths: ["^/quiet"]}}
        routes:
          - path: /a
            methods: [GET]
            upstream: {{type: static, body: a}}
        "#,
        log.display()
    ));
    assert_eq!(gw.gw.get("/quiet/x").status, 404);
    let missing = gw.gw.get("/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(gw.gw.request("DELETE", "/a", &[], b"").status, 405);
    assert_eq!(gw.gw.get("/a").status, 200);
    let lines = wait_lines(&log, 3);
    let seen: Vec<(Value, Value, Value)> = lines
        .iter()
        .map(|l| (l["path"].clone(), l["status"].clone(), l["route"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("/nope"), json!(404), Value::Null),
            (json!("/a"), json!(405), Value::Null),
            (json!("/a"), json!(200), json!("/a")),
        ],
        "the skipped /quiet request is not logged: {lines:#?}"
    );
    assert_eq!(
        lines[0]["request_id"],
        missing.header("x-request-id").unwrap()
    );
    let buffered = gw.json("/admin/logs?status=404");
    assert_eq!(buffered.as_array().map(Vec::len), Some(1), "{buffered}");
}

#[test]
fn sigusr1_reopens_the_log_file_after_a_rotation() {
    let dir = TempDir::new();
    let file = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let gw = AdminGw::start(&format!(
        r#"
        policies:
          - {{type: request-log, output: file, file: "{}"}}
        routes:
          - path: /a
            upstream: {{type: static, body: a}}
        "#,
        file.display()
    ));
    let first = gw.gw.get("/a?n=1");
    wait_lines(&file, 1);
    std::fs::rename(&file, &rotated).unwrap();
    // Until the signal the gateway keeps writing to the file it has open (now renamed).
    let second = gw.gw.get("/a?n=2");
    let old = wait_lines(&rotated, 2);
    assert!(!file.exists(), "the gateway made a new file before SIGUSR1");

    gw.gw.signal(libc::SIGUSR1);
    assert!(
        gw.gw
            .wait_stderr("reopening access log files", Duration::from_secs(5)),
        "no reopen logged"
    );
    let third = gw.gw.get("/a?n=3");
    let new = wait_lines(&file, 1);
    assert_eq!(new[0]["request_id"], third.header("x-request-id").unwrap());
    let ids: Vec<&Value> = old.iter().map(|l| &l["request_id"]).collect();
    assert_eq!(
        ids,
        vec![
            first.header("x-request-id").unwrap(),
            second.header("x-request-id").unwrap()
        ]
    );
    // Nothing more reaches the rotated file.
    let fourth = gw.gw.get("/a?n=4");
    let new = wait_lines(&file, 2);
    assert_eq!(new[1]["request_id"], fourth.header("x-request-id").unwrap());
    assert_eq!(log_lines(&rotated).len(), 2);
}

/// One GET from `source` (a loopback address other than 127.0.0.1 is fine on Linux).
fn get_from(gw: &Gateway, source: Ipv4Addr, path: &str) -> Response {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())
        .unwrap();
    sock.connect(&gw.addr().into()).unwrap();
    let mut s: TcpStream = sock.into();
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        gw.addr()
    );
    s.write_all(req.as_bytes()).unwrap();
    read_raw(&mut s, Duration::from_secs(5)).first()
}

const LOGS_CONFIG: &str = r#"
    policies:
      - {type: request-log}
    routes:
      - path: /ok
        upstream: {type: static, status: 200, body: ok}
      - path: /missing
        upstream: {type: static, status: 404, body: missing}
      - path: /teapot
        upstream: {type: static, status: 418, body: teapot}
      - path: /broken
        upstream: {type: static, status: 500, body: broken}
      - path: /limited
        policies: [{type: rate-limit, max: 1, window: 60s}]
        upstream: {type: static, status: 200, body: limited}
"#;

fn statuses(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect()
}

fn paths(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn admin_logs_filter_by_status_route_ip_rate_limited_and_limit() {
    let gw = AdminGw::start(LOGS_CONFIG);
    let other = Ipv4Addr::new(127, 0, 0, 2);
    // In this order (newest last): 200, 404, 418, 500, 200 (from 127.0.0.2),
    // 200 /limited, 429 /limited, 404 (from 127.0.0.2), and one unrouted 404. Each entry
    // is awaited before the next request, so the buffer's order is the order sent even
    // when the two shards answer.
    let logged = |n: usize| {
        assert!(
            poll(Duration::from_secs(5), || gw
                .json("/admin/logs")
                .as_array()
                .unwrap()
                .len()
                == n),
            "expected {n} entries: {}",
            gw.json("/admin/logs")
        )
    };
    let mut c = gw.gw.connect();
    for (i, p) in ["/ok", "/missing", "/teapot", "/broken"].iter().enumerate() {
        c.request("GET", p, &[], b"");
        logged(i + 1);
    }
    assert_eq!(get_from(&gw.gw, other, "/ok").status, 200);
    logged(5);
    assert_eq!(c.request("GET", "/limited", &[], b"").status, 200);
    logged(6);
    assert_eq!(c.request("GET", "/limited", &[], b"").status, 429);
    logged(7);
    assert_eq!(get_from(&gw.gw, other, "/missing").status, 404);
    logged(8);
    assert_eq!(c.request("GET", "/no-route", &[], b"").status, 404);
    logged(9);

    let all = gw.json("/admin/logs");
    // The unrouted request is logged too, by the global request-log, with no route.
    assert_eq!(
        paths(&all),
        [
            "/no-route",
            "/missing",
            "/limited",
            "/limited",
            "/ok",
            "/broken",
            "/teapot",
            "/missing",
            "/ok"
        ],
        "newest first"
    );
    assert_eq!(
        statuses(&all),
        [404, 404, 429, 200, 200, 500, 418, 404, 200]
    );
    assert_eq!(all[0]["route"], Value::Null);

    assert_eq!(
        statuses(&gw.json("/admin/logs?status=4xx")),
        [404, 404, 429, 418, 404]
    );
    assert_eq!(statuses(&gw.json("/admin/logs?status=5xx")), [500]);
    assert_eq!(
        statuses(&gw.json("/admin/logs?status=404")),
        [404, 404, 404]
    );
    assert_eq!(
        statuses(&gw.json("/admin/logs?status=2xx")),
        [200, 200, 200]
    );
    assert_eq!(statuses(&gw.json("/admin/logs?limit=2")), [404, 404]);
    assert_eq!(
        statuses(&gw.json("/admin/logs?status=4xx&limit=3")),
        [404, 404, 429]
    );
    assert_eq!(statuses(&gw.json("/admin/logs?route=/limited")), [429, 200]);
    assert_eq!(
        statuses(&gw.json("/admin/logs?route=/nope")),
        Vec::<u64>::new()
    );

    let from_other = gw.json("/admin/logs?ip=127.0.0.2");
    assert_eq!(paths(&from_other), ["/missing", "/ok"]);
    assert!(
        from_other
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["client_ip"] == "127.0.0.2"),
        "{from_other}"
    );
    assert_eq!(
        gw.json("/admin/logs?ip=127.0.0.1")
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        statuses(&gw.json("/admin/logs?ip=127.0.0.2&status=4xx")),
        [404]
    );

    let limited = gw.json("/admin/logs?rate_limited=true");
    assert_eq!(statuses(&limited), [429]);
    assert_eq!(limited[0]["rate_limited"], true);
    assert_eq!(
        gw.json("/admin/logs?rate_limited=false")
            .as_array()
            .unwrap()
            .len(),
        8
    );

    // Stats over the whole buffer.
    let stats = gw.json("/admin/logs/stats");
    assert_eq!(stats["total"], 9, "{stats}");
    assert_eq!(stats["rate_limited"], 1, "{stats}");
    assert_eq!(
        stats["by_status"],
        serde_json::json!({"200": 3, "404": 3, "418": 1, "429": 1, "500": 1}),
        "{stats}"
    );
    let durations: Vec<f64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["duration_ms"].as_f64().unwrap())
        .collect();
    let avg = durations.iter().sum::<f64>() / durations.len() as f64;
    let max = durations.iter().cloned().fold(0.0, f64::max);
    let got_avg = stats["avg_duration_ms"].as_f64().unwrap();
    assert!(
        (got_avg - avg).abs() < 1e-6,
        "avg {got_avg}, expected {avg}: {stats}"
    );
    // With 9 entries the 99th percentile is the slowest one.
    assert_eq!(stats["p99_duration_ms"].as_f64().unwrap(), max, "{stats}");

    // DELETE empties the buffer.
    let r = gw.call("DELETE", "/admin/logs");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json()["cleared"], 9, "{r}");
    assert_eq!(gw.json("/admin/logs"), serde_json::json!([]));
    let stats = gw.json("/admin/logs/stats");
    assert_eq!(stats["total"], 0, "{stats}");
    assert_eq!(stats["by_status"], serde_json::json!({}), "{stats}");
    assert_eq!(gw.call("DELETE", "/admin/logs").json()["cleared"], 0);
    // New requests fill it again.
    gw.gw.get("/ok");
    assert!(poll(Duration::from_secs(5), || gw
        .json("/admin/logs")
        .as_array()
        .unwrap()
        .len()
        == 1));
}

#[test]
fn admin_logs_route_filter_accepts_a_percent_encoded_value() {
    // What curl --data-urlencode, Python's requests and browsers send for route=/limited.
    let gw = AdminGw::start(LOGS_CONFIG);
    gw.gw.get("/ok");
    gw.gw.get("/limited");
    assert!(poll(Duration::from_secs(5), || gw
        .json("/admin/logs")
        .as_array()
        .unwrap()
        .len()
        == 2));
    assert_eq!(statuses(&gw.json("/admin/logs?route=/limited")), [200]);
    assert_eq!(
        statuses(&gw.json("/admin/logs?route=%2Flimited")),
        [200],
        "route=%2Flimited is route=/limited"
    );
}

#[test]
fn the_log_buffer_keeps_the_newest_entries() {
    let gw = AdminGw::start(
        r#"
        policies:
          - {type: request-log, buffer: 3}
        routes:
          - path: /n/:i
            upstream: {type: static, body: n}
        "#,
    );
    let mut c = gw.gw.connect();
    for i in 0..6 {
        c.request("GET", &format!("/n/{i}"), &[], b"");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    // Wait for the last line to reach the buffer.
    loop {
        let logs = gw.json("/admin/logs");
        if logs[0]["path"] == "/n/5" || Instant::now() > deadline {
            assert_eq!(paths(&logs), ["/n/5", "/n/4", "/n/3"]);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gw.json("/admin/logs/stats")["total"], 3);
}

const LIMITED: &str = r#"
    routes:
      - path: /rl
        policies: [{type: rate-limit, max: 2, window: 60s, key_by: "header:x-k"}]
        upstream: {type: static, body: ok}
"#;

#[test]
fn stats_count_requests_blocked_and_active_buckets_across_shards() {
    let gw = AdminGw::start_with(&[&format!("token: {TOKEN}")], LIMITED, &["--shards", "2"]);
    for k in ["a", "b", "c"] {
        for _ in 0..3 {
            gw.gw.request("GET", "/rl", &[("x-k", k)], b"");
        }
    }
    let s = gw.json("/admin/stats");
    assert_eq!(s["requests"], 9, "{s}");
    assert_eq!(s["blocked"], 3, "{s}");
    assert_eq!(s["allowed"], 6, "{s}");
    assert_eq!(s["rate_limited"], 3, "{s}");
    assert_eq!(s["active_buckets"], 3, "{s}");
    assert_eq!(s["routes"]["/rl"], 9, "{s}");
}

#[test]
fn buckets_can_be_listed_deleted_and_cleared() {
    let gw = AdminGw::start(LIMITED);
    for k in ["a", "a", "b"] {
        gw.gw.request("GET", "/rl", &[("x-k", k)], b"");
    }
    let list = gw.json("/admin/rate-limit/buckets?sort=tokens");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    // Fewest tokens first: key a used both of its tokens.
    assert!(
        list[0]["key"].as_str().unwrap().ends_with("|h:a"),
        "{list:?}"
    );
    assert_eq!(list[0]["tokens"], 0);
    assert_eq!(list[1]["tokens"], 1);
    // Deleting a's bucket gives it a fresh one.
    assert_eq!(
        gw.gw.request("GET", "/rl", &[("x-k", "a")], b"").status,
        429
    );
    let key = list[0]["key"]
        .as_str()
        .unwrap()
        .replace('|', "%7C")
        .replace('/', "%2F")
        .replace('#', "%23");
    let r = gw.call("DELETE", &format!("/admin/rate-limit/buckets/{key}"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        gw.gw.request("GET", "/rl", &[("x-k", "a")], b"").status,
        200
    );
    assert_eq!(
        gw.call("DELETE", "/admin/rate-limit/buckets/nope").status,
        404
    );
    let cleared = gw.call("POST", "/admin/rate-limit/clear").json();
    assert_eq!(cleared["cleared"], 2, "{cleared}");
    assert_eq!(
        gw.json("/admin/rate-limit/buckets")
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn sse_sends_a_stats_event_every_second_and_needs_the_token() {
    use std::io::{Read, Write};
    let gw = AdminGw::start(LIMITED);
    assert_eq!(gw.call_with("GET", "/admin/sse", &[]).status, 401);
    let mut s = TcpStream::connect(gw.admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /admin/sse HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while seen.matches("event: stats").count() < 3 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "events come a second apart"
    );
    let events: Vec<Value> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let v = &events[0];
    assert!(v["requests"].is_u64(), "{v}");
    for class in ["2xx", "3xx", "4xx", "5xx"] {
        assert!(v["status_classes"][class].is_u64(), "{v}");
    }
    assert!(v["requests_per_second"].is_number(), "{v}");
    // Two seconds in, the sampler has taken a whole second: `last_second` is it.
    let last = &events[2]["last_second"];
    assert!(
        last["timestamp"].is_i64() && last["requests"].is_u64(),
        "{}",
        events[2]
    );
    // The rest of the gateway keeps answering while the stream is open.
    assert_eq!(
        gw.gw.request("GET", "/rl", &[("x-k", "z")], b"").status,
        200
    );
}
