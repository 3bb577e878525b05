//! The admin listener (`admin:`), `debug_headers` and the `request-log` policy: every field,
//! its default, and each error with its exact path.

use super::*;

/// The token [`env`] gives `SLUICE_ADMIN_TOKEN`.
const TOKEN: &str = "0123456789abcdef0123";

/// A valid file with `admin` (flow style) and, when not empty, `listen`.
fn with_admin(listen: &str, admin: &str) -> String {
    let listen = if listen.is_empty() {
        String::new()
    } else {
        format!("listen: {listen}\n")
    };
    format!("{listen}{MINIMAL}admin: {admin}\n")
}

fn admin(admin: &str) -> AdminConfig {
    ok(&with_admin("", admin))
        .admin
        .expect("admin should be configured")
}

/// Every error of a file with `listen` and `admin`.
fn admin_errors(listen: &str, admin: &str) -> Vec<(String, String)> {
    errors(&with_admin(listen, admin))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn admin_full() {
    let a = admin(
        "{listen: '127.0.0.1:9901', token: '${SLUICE_ADMIN_TOKEN}', metrics_public: true, \
         data_dir: /var/lib/sluice}",
    );
    assert_eq!(
        a,
        AdminConfig {
            listen: addr("127.0.0.1:9901"),
            token: Some(TOKEN.into()),
            metrics_public: true,
            data_dir: "/var/lib/sluice".into(),
        }
    );
    // Block style; `localhost:` and IPv6 as for `listen`; a literal token of exactly 16.
    let c = ok(&format!(
        "{MINIMAL}admin:\n  listen: localhost:9901\n  token: abcdefghijklmnop\n  \
         metrics_public: false\n  data_dir: ./state\n"
    ));
    let a = c.admin.unwrap();
    assert_eq!(a.listen, addr("127.0.0.1:9901"));
    assert_eq!(a.token.as_deref(), Some("abcdefghijklmnop"));
    assert!(!a.metrics_public);
    assert_eq!(a.data_dir, "./state");
    assert_eq!(admin("{listen: '[::1]:9901'}").listen, addr("[::1]:9901"));
    // Characters, not bytes, are counted; anything but whitespace and control characters.
    let unicode = "ключ-доступа-123";
    assert_eq!(unicode.chars().count(), 16);
    assert_eq!(
        admin(&format!("{{listen: '127.0.0.1:9901', token: {unicode}}}")).token,
        Some(unicode.into())
    );
}

#[test]
fn admin_defaults() {
    let a = admin("{listen: '127.0.0.1:9901'}");
    assert_eq!(a.listen, addr("127.0.0.1:9901"));
    assert_eq!(a.token, None);
    assert!(!a.metrics_public);
    assert_eq!(a.data_dir, "./sluice-data");
    // Absent, or present with no value: no admin listener.
    assert_eq!(ok(MINIMAL).admin, None);
    assert_eq!(ok(&format!("{MINIMAL}admin:\n")).admin, None);
    // An empty token, written or from the environment, is no token (/admin answers 503).
    for token in ["''", "'${EMPTY}'", "'${SLUICE_NOPE:-}'"] {
        assert_eq!(
            admin(&format!("{{listen: '127.0.0.1:9901', token: {token}}}")).token,
            None,
            "{token}"
        );
    }
}

#[test]
fn admin_listen_must_differ_from_the_gateways() {
    // Different ports, different addresses on one port, and port 0 on both are fine.
    let c = ok(&with_admin(
        "['127.0.0.1:8080', '0.0.0.0:8081']",
        "{listen: '127.0.0.1:9901'}",
    ));
    assert_eq!(c.listen, [addr("127.0.0.1:8080"), addr("0.0.0.0:8081")]);
    ok(&with_admin(
        "'127.0.0.1:8080'",
        "{listen: '127.0.0.2:8080'}",
    ));
    ok(&with_admin("'[::1]:8080'", "{listen: '0.0.0.0:8080'}"));
    ok(&with_admin("'127.0.0.1:0'", "{listen: '127.0.0.1:0'}"));
    let clash = |at: &str, what: &str| {
        (
            "admin.listen".to_owned(),
            format!(
                "admin listen address {at} clashes with {what}; the admin API needs an address \
                 of its own"
            ),
        )
    };
    let cases: &[(&str, &str, (String, String))] = &[
        (
            "['127.0.0.1:8080', '127.0.0.1:9901']",
            "{listen: '127.0.0.1:9901'}",
            clash("127.0.0.1:9901", "listen[1] 127.0.0.1:9901"),
        ),
        (
            "'127.0.0.1:9901'",
            "{listen: 'localhost:9901'}",
            clash("127.0.0.1:9901", "listen 127.0.0.1:9901"),
        ),
        (
            "",
            "{listen: 'localhost:8080'}",
            clash(
                "127.0.0.1:8080",
                "listen 127.0.0.1:8080 (the default when listen is left out)",
            ),
        ),
        (
            "'0.0.0.0:8080'",
            "{listen: '127.0.0.1:8080'}",
            clash(
                "127.0.0.1:8080",
                "listen 0.0.0.0:8080, the same port on a wildcard address",
            ),
        ),
        (
            "['127.0.0.1:1', '10.0.0.1:8080']",
            "{listen: '0.0.0.0:8080'}",
            clash(
                "0.0.0.0:8080",
                "listen[1] 10.0.0.1:8080, the same port on a wildcard address",
            ),
        ),
        (
            "'[::]:8080'",
            "{listen: '127.0.0.1:8080'}",
            clash(
                "127.0.0.1:8080",
                "listen [::]:8080, the same port on a wildcard address",
            ),
        ),
    ];
    for (listen, admin, expected) in cases {
        assert_eq!(
            admin_errors(listen, admin),
            std::slice::from_ref(expected),
            "{listen} / {admin}"
        );
    }
    // A bad `listen` is reported once, as itself: no clash is judged against it.
    assert_eq!(
        admin_errors("['127.0.0.1:9901', nowhere]", "{listen: '127.0.0.1:9901'}"),
        [(
            "listen[1]".to_owned(),
            "invalid listen address \"nowhere\" (expected IP:port or localhost:port, e.g. \
             127.0.0.1:8080 or [::1]:8080)"
                .to_owned()
        )]
    );
}

#[test]
fn admin_errors_have_exact_paths() {
    let short = |found: usize| {
        format!(
            "must be at least 16 characters, found {found}: a short token can be guessed by \
             trying (generate one with e.g. `openssl rand -hex 32`); leave token out or empty \
             to keep /admin closed (503)"
        )
    };
    let cases: &[(&str, &str, String)] = &[
        (
            "{token: abcdefghijklmnop}",
            "admin",
            "missing required field \"listen\"".into(),
        ),
        (
            "{listen: 9901}",
            "admin.listen",
            "invalid listen address \"9901\" (expected IP:port or localhost:port, e.g. \
             127.0.0.1:8080 or [::1]:8080)"
                .into(),
        ),
        (
            "{listen: 'admin.internal:9901'}",
            "admin.listen",
            "invalid listen address \"admin.internal:9901\" (expected IP:port or \
             localhost:port, e.g. 127.0.0.1:8080 or [::1]:8080)"
                .into(),
        ),
        (
            "{listen: ['127.0.0.1:9901']}",
            "admin.listen",
            "expected a single value, found a list".into(),
        ),
        (
            "{listen: '127.0.0.1:9901', token: short}",
            "admin.token",
            short(5),
        ),
        (
            "{listen: '127.0.0.1:9901', token: abcdefghijklmno}",
            "admin.token",
            short(15),
        ),
        (
            "{listen: '127.0.0.1:9901', token: 123456789012345}",
            "admin.token",
            short(15),
        ),
        (
            "{listen: '127.0.0.1:9901', token: 'abcdefgh ijklmnop'}",
            "admin.token",
            "must not contain whitespace or control characters (clients send it as \
             `Authorization: Bearer <token>`)"
                .into(),
        ),
        (
            "{listen: '127.0.0.1:9901', token: \"abcdefghijklmnop\\n\"}",
            "admin.token",
            "must not contain whitespace or control characters (clients send it as \
             `Authorization: Bearer <token>`)"
                .into(),
        ),
        (
            "{listen: '127.0.0.1:9901', token: '  '}",
            "admin.token",
            "must not contain whitespace or control characters (clients send it as \
             `Authorization: Bearer <token>`)"
                .into(),
        ),
        (
            "{listen: '127.0.0.1:9901', token: [abcdefghijklmnop]}",
            "admin.token",
            "expected a single value, found a list".into(),
        ),
        (
            "{listen: '127.0.0.1:9901', token: '${SLUICE_ADMIN_TOKN}'}",
            "admin.token",
            "environment variable SLUICE_ADMIN_TOKN is not set".into(),
        ),
        (
            "{listen: '127.0.0.1:9901', metrics_public: yes}",
            "admin.metrics_public",
            "expected true or false, found \"yes\"".into(),
        ),
        (
            "{listen: '127.0.0.1:9901', data_dir: ' '}",
            "admin.data_dir",
            "must not be empty".into(),
        ),
        (
            "{listen: '127.0.0.1:9901', data_dir: \"./data\\u0000\"}",
            "admin.data_dir",
            "path \"./data\\0\" must not contain control characters".into(),
        ),
        (
            "{listen: '127.0.0.1:9901', tokn: abcdefghijklmnop}",
            "admin.tokn",
            "unknown field \"tokn\" (did you mean \"token\"?), expected one of: listen, token, \
             metrics_public, data_dir"
                .into(),
        ),
        (
            "'127.0.0.1:9901'",
            "admin",
            "expected a mapping, found a string".into(),
        ),
    ];
    for (admin, path, message) in cases {
        assert_eq!(
            admin_errors("", admin),
            [(path.to_string(), message.clone())],
            "{admin}"
        );
    }
    // A token's text never appears in a message.
    let (_, message) = error(&with_admin(
        "",
        "{listen: '127.0.0.1:9901', token: s3cr3t-value}",
    ));
    assert!(!message.contains("s3cr3t"), "{message}");
}

#[test]
fn admin_errors_are_all_reported() {
    let paths: Vec<String> = admin_errors(
        "'127.0.0.1:9901'",
        "{listen: '127.0.0.1:9901', token: short, metrics_public: 1, data_dir: '', extra: 1}",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(
        paths,
        [
            "admin.extra",
            "admin.listen",
            "admin.token",
            "admin.metrics_public",
            "admin.data_dir"
        ]
    );
}

#[test]
fn debug_headers() {
    assert!(!ok(MINIMAL).debug_headers);
    assert!(ok(&format!("{MINIMAL}debug_headers: true\n")).debug_headers);
    assert!(!ok(&format!("{MINIMAL}debug_headers: false\n")).debug_headers);
    assert!(
        ok(&format!(
            "{MINIMAL}debug_headers: ${{SLUICE_DEBUG:-true}}\n"
        ))
        .debug_headers
    );
    assert_eq!(
        error(&format!("{MINIMAL}debug_headers: on\n")),
        (
            "debug_headers".into(),
            "expected true or false, found \"on\"".into()
        )
    );
    assert_eq!(
        error(&format!("{MINIMAL}debug_headers: [true]\n")),
        (
            "debug_headers".into(),
            "expected a single value, found a list".into()
        )
    );
}

/// A valid file with one global policy, `policy` (flow style), at `policies[0]`.
fn global_policy(policy: &str) -> String {
    format!("{MINIMAL}policies:\n  - {policy}\n")
}

fn request_log(options: &str) -> RequestLogOptions {
    let c = ok(&global_policy(&format!("{{type: request-log, {options}}}")));
    match &c.policies[0].kind {
        PolicyKind::RequestLog(o) => o.clone(),
        other => panic!("{other:?}"),
    }
}

/// Every error of a `request-log` with `options`, paths relative to `policies[0]`.
fn request_log_errors(options: &str) -> Vec<(String, String)> {
    errors(&global_policy(&format!("{{type: request-log, {options}}}")))
        .into_iter()
        .map(|(path, message)| {
            let relative = path
                .strip_prefix("policies[0]")
                .unwrap_or_else(|| panic!("error outside the policy: {path}: {message}"));
            (relative.to_owned(), message)
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn request_log_full() {
    let o = request_log(
        "output: file, file: /var/log/sluice/access.log, \
         redact_headers: [Authorization, X-Session], buffer: 5000, include_headers: true",
    );
    assert_eq!(
        o,
        RequestLogOptions {
            output: LogOutput::File("/var/log/sluice/access.log".into()),
            redact_headers: strings(&["authorization", "x-session"]),
            buffer: 5000,
            include_headers: true,
        }
    );
    let o = request_log("output: stdout, buffer: '1', include_headers: false");
    assert_eq!(o.output, LogOutput::Stdout);
    assert_eq!(o.buffer, 1);
    assert!(!o.include_headers);
    assert_eq!(request_log("buffer: 100000").buffer, 100_000);
    // An empty list redacts nothing; a given list replaces the default.
    assert!(request_log("redact_headers: []").redact_headers.is_empty());
    assert_eq!(
        request_log("redact_headers: [x-token]").redact_headers,
        ["x-token"]
    );
    // The file path is kept as written, relative paths included.
    assert_eq!(
        request_log("output: file, file: 'logs/${PORT}.log'").output,
        LogOutput::File("logs/9100.log".into())
    );
}

#[test]
fn request_log_defaults() {
    let c = ok(&global_policy("{type: request-log}"));
    let spec = &c.policies[0];
    assert_eq!((spec.name.as_str(), spec.priority), ("request-log", 0));
    let PolicyKind::RequestLog(o) = &spec.kind else {
        panic!("{:?}", spec.kind)
    };
    assert_eq!(
        o,
        &RequestLogOptions {
            output: LogOutput::Stdout,
            redact_headers: strings(&["authorization", "cookie", "x-api-key"]),
            buffer: 1000,
            include_headers: false,
        }
    );
    // Block style on a route, with the common fields and nothing else.
    let c = ok(&with_route_fields(
        "    policies:
      - type: request-log
        name: access
        priority: -1
        skip: {paths: ['^/health$']}
    upstream: {type: static}
",
    ));
    let spec = &c.routes[0].policies[0];
    assert_eq!((spec.name.as_str(), spec.priority), ("access", -1));
    assert_eq!(spec.field_path, "routes[0].policies[0]");
    let PolicyKind::RequestLog(o) = &spec.kind else {
        panic!("{:?}", spec.kind)
    };
    assert_eq!((&o.output, o.buffer), (&LogOutput::Stdout, 1000));
}

#[test]
fn request_log_error_cases() {
    const FIELDS: &str = "expected one of: type, name, priority, skip, output, file, \
                          redact_headers, buffer, include_headers";
    let cases: &[(&str, &str, String)] = &[
        (
            "output: file",
            "",
            "missing required field \"file\" (output: file writes to it)".into(),
        ),
        (
            "file: access.log",
            ".file",
            "file only applies to output: file (output here is stdout)".into(),
        ),
        (
            "output: stdout, file: access.log",
            ".file",
            "file only applies to output: file (output here is stdout)".into(),
        ),
        (
            "output: stdot",
            ".output",
            "unknown output \"stdot\" (did you mean \"stdout\"?), expected one of: stdout, file"
                .into(),
        ),
        (
            "output: stderr",
            ".output",
            "unknown output \"stderr\", expected one of: stdout, file".into(),
        ),
        (
            "output: syslog",
            ".output",
            "unknown output \"syslog\", expected one of: stdout, file".into(),
        ),
        (
            "output: File, file: a.log",
            ".output",
            "unknown output \"File\" (did you mean \"file\"?), expected one of: stdout, file"
                .into(),
        ),
        (
            "output: [file]",
            ".output",
            "expected a single value, found a list".into(),
        ),
        (
            "output: file, file: ''",
            ".file",
            "must not be empty".into(),
        ),
        (
            "output: file, file: \"a\\tb.log\"",
            ".file",
            "path \"a\\tb.log\" must not contain control characters".into(),
        ),
        (
            "redact_headers: [authorization, 'bad header']",
            ".redact_headers[1]",
            "invalid header name \"bad header\"".into(),
        ),
        (
            "redact_headers: [Cookie, cookie]",
            ".redact_headers[1]",
            "header \"cookie\" is listed twice".into(),
        ),
        (
            "redact_headers: authorization",
            ".redact_headers",
            "invalid type: string \"authorization\", expected a sequence".into(),
        ),
        ("buffer: 0", ".buffer", "must be greater than 0".into()),
        ("buffer: -1", ".buffer", "-1 is out of range".into()),
        ("buffer: 100001", ".buffer", "must be at most 100000".into()),
        (
            "buffer: lots",
            ".buffer",
            "expected an integer, found \"lots\"".into(),
        ),
        (
            "include_headers: yes",
            ".include_headers",
            "expected true or false, found \"yes\"".into(),
        ),
        (
            "redact: [cookie]",
            ".redact",
            format!("unknown field \"redact\", {FIELDS}"),
        ),
        (
            "buffers: 10",
            ".buffers",
            format!("unknown field \"buffers\" (did you mean \"buffer\"?), {FIELDS}"),
        ),
    ];
    for (options, path, message) in cases {
        assert_eq!(
            request_log_errors(options),
            [(path.to_string(), message.clone())],
            "{options}"
        );
    }
}

#[test]
fn request_log_errors_are_all_reported() {
    let paths = |options: &str| -> Vec<String> {
        request_log_errors(options)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    };
    assert_eq!(
        paths(
            "output: file, file: ' ', redact_headers: ['a b', c, C], buffer: 0, \
             include_headers: 1"
        ),
        [
            ".file",
            ".redact_headers[0]",
            ".redact_headers[2]",
            ".buffer",
            ".include_headers"
        ]
    );
    // A bad output is reported as itself; the file is then only checked on its own.
    assert_eq!(paths("output: disk, file: ok.log"), [".output"]);
    assert_eq!(paths("output: disk, file: ''"), [".output", ".file"]);
}
