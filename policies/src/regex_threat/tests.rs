use std::time::Instant;

use super::*;

fn pattern(regex: &str, targets: &[Target], message: &str) -> ThreatPattern {
    ThreatPattern {
        regex: regex.into(),
        targets: targets.to_vec(),
        message: message.into(),
    }
}

fn op(patterns: Vec<ThreatPattern>) -> RegexThreat {
    RegexThreat::new(RegexThreatOptions {
        patterns,
        ..RegexThreatOptions::default()
    })
    .unwrap()
}

fn sql_and_script() -> RegexThreat {
    op(vec![
        pattern(
            r"(?i)\bunion\s+select\b",
            &[Target::Path, Target::Query, Target::Headers, Target::Body],
            "SQL injection",
        ),
        pattern(r"(?i)<script", &[Target::Query, Target::Body], "Script tag"),
        pattern(r"\.\./", &[Target::Path], "Path traversal"),
    ])
}

fn message(r: Result<(), Reject>) -> String {
    let r = r.unwrap_err();
    assert_eq!((r.status, r.code), (400, "threat_detected"));
    r.message.into_owned()
}

#[test]
fn defaults() {
    let o = RegexThreatOptions::default();
    assert_eq!(o.max_body_scan_bytes, 64 * 1024);
    assert!(o.patterns.is_empty());
}

#[test]
fn path_raw_and_decoded() {
    let t = sql_and_script();
    let h = Headers::default();
    assert!(t.on_request(b"/users/42", None, &h).is_ok());
    assert_eq!(
        message(t.on_request(b"/files/../etc/passwd", None, &h)),
        "Path traversal"
    );
    assert_eq!(
        message(t.on_request(b"/files/%2e%2E%2Fetc", None, &h)),
        "Path traversal"
    );
    // `+` is not a space in a path.
    assert!(t.on_request(b"/q/union+select", None, &h).is_ok());
    assert_eq!(
        message(t.on_request(b"/q/union%20select", None, &h)),
        "SQL injection"
    );
    // Script patterns do not target the path.
    assert!(t.on_request(b"/%3Cscript%3E", None, &h).is_ok());
}

#[test]
fn query_raw_and_decoded() {
    let t = sql_and_script();
    let h = Headers::default();
    assert!(t.on_request(b"/", Some(b"q=hello&page=2"), &h).is_ok());
    for q in [&b"q=<script>"[..], b"q=%3Cscript%3E", b"q=%3cSCRIPT"] {
        assert_eq!(message(t.on_request(b"/", Some(q), &h)), "Script tag");
    }
    assert_eq!(
        message(t.on_request(b"/", Some(b"id=1+UNION+SELECT+pw"), &h)),
        "SQL injection"
    );
    // Broken escapes are kept as they are rather than failing.
    assert!(t.on_request(b"/", Some(b"a=%zz%4"), &h).is_ok());
    // Traversal patterns do not target the query.
    assert!(t.on_request(b"/", Some(b"f=../x"), &h).is_ok());
}

#[test]
fn header_values_not_names() {
    let t = sql_and_script();
    let mut h = Headers::default();
    h.append("User-Agent", "curl/8");
    h.append("X-Union-Select", "fine");
    assert!(t.on_request(b"/", None, &h).is_ok());
    h.append("X-Filter", "1 union select 2");
    assert_eq!(message(t.on_request(b"/", None, &h)), "SQL injection");
    // Not a header target.
    let mut h = Headers::default();
    h.append("Referer", "<script>");
    assert!(t.on_request(b"/", None, &h).is_ok());
}

#[test]
fn first_pattern_in_config_order_names_the_refusal() {
    let t = op(vec![
        pattern("b", &[Target::Query], "second letter"),
        pattern("a", &[Target::Query], "first letter"),
        pattern("c", &[Target::Query], ""),
    ]);
    let h = Headers::default();
    assert_eq!(
        message(t.on_request(b"/", Some(b"ab"), &h)),
        "second letter"
    );
    assert_eq!(message(t.on_request(b"/", Some(b"a"), &h)), "first letter");
    assert_eq!(
        message(t.on_request(b"/", Some(b"c"), &h)),
        "Request blocked by threat protection"
    );
}

#[test]
fn empty_targets_mean_every_target() {
    let t = op(vec![pattern("evil", &[], "Evil")]);
    let mut h = Headers::default();
    assert!(t.on_request(b"/evil", None, &h).is_err());
    assert!(t.on_request(b"/", Some(b"evil"), &h).is_err());
    h.append("X", "evil");
    assert!(t.on_request(b"/", None, &h).is_err());
    let mut c = t.body_checker().unwrap();
    assert!(c.feed(b"evil").is_ok());
    assert!(c.finish().is_err());
}

#[test]
fn invalid_pattern_is_named() {
    let err = RegexThreat::new(RegexThreatOptions {
        patterns: vec![
            pattern("fine", &[Target::Path], "x"),
            pattern("(unclosed", &[Target::Path], "y"),
        ],
        ..RegexThreatOptions::default()
    })
    .unwrap_err();
    assert!(err.contains("`(unclosed`"), "{err}");
}

#[test]
fn no_body_pattern_no_checker() {
    let t = op(vec![pattern("x", &[Target::Path, Target::Query], "x")]);
    assert!(t.body_checker().is_none());
    assert!(sql_and_script().body_checker().is_some());
}

#[test]
fn body_match_spanning_chunks() {
    let t = sql_and_script();
    // Small chunks: the prefix is scanned at `finish`.
    let mut c = t.body_checker().unwrap();
    assert!(c.feed(b"{\"comment\":\"<scr").is_ok());
    assert!(c.feed(b"ipt>alert(1)\"}").is_ok());
    assert_eq!(message(c.finish()), "Script tag");

    // Large chunks: found while streaming, before the end.
    let mut c = t.body_checker().unwrap();
    let mut first = vec![b' '; MIN_RESCAN_BYTES];
    first.extend_from_slice(b"UNION ");
    assert!(c.feed(&first).is_ok());
    let mut second = b"SELECT".to_vec();
    second.extend(vec![b' '; MIN_RESCAN_BYTES]);
    assert_eq!(message(c.feed(&second)), "SQL injection");
    // Stays refused.
    assert!(c.feed(b"").is_err());
    assert!(c.finish().is_err());

    let mut c = t.body_checker().unwrap();
    assert!(c.feed(b"{\"comment\":\"hello\"}").is_ok());
    assert!(c.finish().is_ok());
    let mut c = t.body_checker().unwrap();
    assert!(c.finish().is_ok(), "empty body");
}

#[test]
fn body_is_scanned_up_to_the_cap_only() {
    let t = RegexThreat::new(RegexThreatOptions {
        patterns: vec![pattern("<script", &[Target::Body], "Script tag")],
        max_body_scan_bytes: 16,
    })
    .unwrap();
    // Ends exactly at the cap: scanned (at once, since the cap was reached).
    let mut c = t.body_checker().unwrap();
    assert_eq!(message(c.feed(b"012345678<script")), "Script tag");
    let mut c = t.body_checker().unwrap();
    assert!(c.feed(b"123456789").is_ok());
    assert_eq!(message(c.feed(b"<script")), "Script tag");
    // Spans the cap: the part past it is never seen.
    let mut c = t.body_checker().unwrap();
    assert!(c.feed(b"0123456789a<script").is_ok());
    assert!(c.feed(b"<script<script").is_ok());
    assert!(c.finish().is_ok());
}

#[test]
fn non_utf8_body_is_scanned() {
    let t = sql_and_script();
    let mut c = t.body_checker().unwrap();
    assert!(c.feed(b"\xff\xfe<script\xff").is_ok());
    assert!(c.finish().is_err());
}

/// A body trickled one byte at a time must not cost a scan per byte.
#[test]
fn trickled_body_costs_little() {
    let t = sql_and_script();
    let body = vec![b'a'; 64 * 1024];
    let started = Instant::now();
    let mut c = t.body_checker().unwrap();
    for b in &body {
        c.feed(std::slice::from_ref(b)).unwrap();
    }
    c.finish().unwrap();
    let elapsed = started.elapsed();
    // Rescanning at every byte would scan about 2 GiB here; the schedule scans under
    // 4 x 64 KiB. The bound is loose so that a slow debug build still passes.
    assert!(elapsed.as_millis() < 2_000, "{elapsed:?}");
}
