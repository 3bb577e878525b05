use super::*;

fn op(options: JsonThreatOptions) -> JsonThreat {
    JsonThreat::new(options)
}

fn default_checker() -> JsonChecker {
    let options = JsonThreatOptions::default();
    JsonChecker::new(op(options.clone()).limits, options.max_body_bytes)
}

/// Feeds `chunks` in order, then finishes; the first refusal wins.
fn run(mut c: JsonChecker, chunks: &[&[u8]]) -> Result<(), Reject> {
    for chunk in chunks {
        c.feed(chunk)?;
    }
    c.finish()
}

fn check(doc: &[u8]) -> Result<(), Reject> {
    run(default_checker(), &[doc])
}

fn code(doc: &[u8]) -> &'static str {
    match check(doc) {
        Ok(()) => "ok",
        Err(r) => r.code,
    }
}

/// The verdict must not depend on where the body is split: every two-way split, every
/// three-way split of short documents, and byte-by-byte feeding.
fn assert_split_invariant(make: impl Fn() -> JsonChecker, doc: &[u8]) {
    let whole = run(make(), &[doc]);
    for i in 0..=doc.len() {
        let split = run(make(), &[&doc[..i], &doc[i..]]);
        assert_eq!(
            split,
            whole,
            "split at {i} of {:?}",
            String::from_utf8_lossy(doc)
        );
    }
    if doc.len() <= 40 {
        for i in 0..=doc.len() {
            for j in i..=doc.len() {
                let split = run(make(), &[&doc[..i], &doc[i..j], &doc[j..]]);
                assert_eq!(split, whole, "split at {i},{j}");
            }
        }
    }
    let mut c = make();
    let mut bytewise = Ok(());
    for b in doc {
        bytewise = c.feed(std::slice::from_ref(b));
        if bytewise.is_err() {
            break;
        }
    }
    if bytewise.is_ok() {
        bytewise = c.finish();
    }
    assert_eq!(bytewise, whole, "byte by byte");
}

const VALID: &[&str] = &[
    "{}",
    "[]",
    "0",
    "-0",
    "123",
    "-12.5e+3",
    "1E9",
    "0.000001",
    "1e-7",
    "\"\"",
    "\"plain\"",
    "true",
    "false",
    "null",
    " \t\r\n{ \"a\" : [ 1 , 2.0 , -3e2 , true , false , null , \"x\" ] }\n ",
    r#"{"nested":{"deeper":{"list":[[[]],[{}],{"k":[1,{"z":null}]}]}}}"#,
    r#"{"quote":"say \"hi\"","backslash":"C:\\dir\\","slash":"a\/b"}"#,
    r#"["\b\f\n\r\t", "\u00e9", "\u00E9t\u00e9", "\ud83d\ude00", "\u0000"]"#,
    "[\"caf\u{e9}\", \"\u{20ac}\", \"\u{1f600}\", \"\u{10ffff}\"]",
    r#"{"":"","a":{},"b":[]}"#,
    r#"[1,[2,[3,[4,[5]]]]]"#,
    r#"{"a":1,"a":2}"#,
];

const INVALID: &[&[u8]] = &[
    b" ",
    b"{",
    b"[",
    b"}",
    b"]",
    b"[}",
    b"{]",
    b"{\"a\":",
    b"{\"a\"",
    b"{\"a\" 1}",
    b"{a:1}",
    b"{'a':1}",
    b"{\"a\":1,}",
    b"[1,]",
    b"[,1]",
    b"[1 2]",
    b"[1,,2]",
    b"{\"a\":1 \"b\":2}",
    b"{} x",
    b"{}{}",
    b"[] []",
    b"1 2",
    b"truex",
    b"nul",
    b"tru",
    b"fals",
    b"True",
    b"NaN",
    b"Infinity",
    b"-",
    b"-a",
    b"+1",
    b"01",
    b"-01",
    b"1.",
    b"1.e5",
    b".5",
    b"1e",
    b"1e+",
    b"1.5.3",
    b"0x10",
    b"\"abc",
    b"\"a\\",
    b"\"\\x\"",
    b"\"\\u12g4\"",
    b"\"\\u12\"",
    b"\"tab\there\"",
    b"\"new\nline\"",
    b"\"\xc0\x80\"",
    b"\"\xc3\"",
    b"\"\xc3(\"",
    b"\"\x80\"",
    b"\"\xed\xa0\x80\"",
    b"\"\xe0\x80\xaf\"",
    b"\"\xf0\x80\x80\xaf\"",
    b"\"\xf4\x90\x80\x80\"",
    b"\"\xf5\x80\x80\x80\"",
    b"\"\xff\"",
    b"\xef\xbb\xbf{}",
    b"{\"a\":1}\x00",
];

#[test]
fn valid_documents_pass_in_any_split() {
    for doc in VALID {
        assert_eq!(code(doc.as_bytes()), "ok", "{doc}");
        assert_split_invariant(default_checker, doc.as_bytes());
    }
}

#[test]
fn malformed_documents_are_invalid_json_in_any_split() {
    for doc in INVALID {
        assert_eq!(
            code(doc),
            "invalid_json",
            "{:?}",
            String::from_utf8_lossy(doc)
        );
        assert_split_invariant(default_checker, doc);
    }
}

#[test]
fn invalid_json_message_says_what_and_where() {
    let r = check(b"{\"a\":1,}").unwrap_err();
    assert_eq!(r.status, 400);
    assert_eq!(r.message, "Invalid JSON: expected a string key at byte 7");
    let r = check(b"[1").unwrap_err();
    assert_eq!(
        r.message,
        "Invalid JSON: unexpected end of document at byte 2"
    );
    let r = check(b"{} x").unwrap_err();
    assert_eq!(
        r.message,
        "Invalid JSON: trailing data after the JSON value at byte 3"
    );
    let r = check(b"\"abc").unwrap_err();
    assert_eq!(r.message, "Invalid JSON: unterminated string at byte 4");
}

#[test]
fn empty_body_passes_but_whitespace_only_does_not() {
    assert!(run(default_checker(), &[]).is_ok());
    assert!(run(default_checker(), &[b""]).is_ok());
    assert_eq!(code(b"  \n"), "invalid_json");
}

/// Builds a checker with one limit changed.
fn with(f: impl Fn(&mut JsonThreatOptions)) -> impl Fn() -> JsonChecker {
    let mut options = JsonThreatOptions::default();
    f(&mut options);
    let threat = JsonThreat::new(options.clone());
    move || JsonChecker::new(threat.limits, options.max_body_bytes)
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn depth_limit() {
    let make = with(|o| o.max_depth = 3);
    assert!(run(make(), &[nested("[", "]", 3).as_bytes()]).is_ok());
    assert!(run(make(), &[br#"{"a":{"b":[1]}}"#]).is_ok());
    let r = run(make(), &[nested("[", "]", 4).as_bytes()]).unwrap_err();
    assert_eq!(
        (r.status, r.code, r.message.as_ref()),
        (400, "json_threat", "JSON depth exceeds 3")
    );
    let r = run(make(), &[br#"{"a":{"b":[{}]}}"#]).unwrap_err();
    assert_eq!(r.message, "JSON depth exceeds 3");
    assert_split_invariant(&make, br#"{"a":{"b":[{}]}}"#);

    // Default 20; the refusal comes at the opening bracket, before the document ends.
    let mut c = default_checker();
    assert!(c.feed(nested("{\"k\":", "}", 20).as_bytes()).is_err());
    let mut c = default_checker();
    assert!(c.feed("[".repeat(20).as_bytes()).is_ok());
    let r = c.feed(b"[").unwrap_err();
    assert_eq!(r.message, "JSON depth exceeds 20");
    assert!(check(nested("[", "]", 20).as_bytes()).is_ok());
}

#[test]
fn key_count_limit_is_per_object() {
    let make = with(|o| o.max_keys = 2);
    assert!(run(make(), &[br#"{"a":1,"b":{"c":1,"d":2},"e":3}"#]).is_err());
    assert!(run(make(), &[br#"{"a":1,"b":{"c":1,"d":2}}"#]).is_ok());
    // Repeated keys count each time.
    let r = run(make(), &[br#"{"a":1,"a":2,"a":3}"#]).unwrap_err();
    assert_eq!(
        (r.code, r.message.as_ref()),
        ("json_threat", "JSON object key count exceeds 2")
    );
    assert_split_invariant(&make, br#"{"a":1,"b":2,"c":3}"#);

    let keys = |n: usize| {
        let body: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        format!("{{{}}}", body.join(","))
    };
    assert!(check(keys(100).as_bytes()).is_ok());
    assert_eq!(
        check(keys(101).as_bytes()).unwrap_err().message,
        "JSON object key count exceeds 100"
    );
}

#[test]
fn array_size_limit_is_per_array() {
    let make = with(|o| o.max_array_size = 3);
    assert!(run(make(), &[b"[1,2,3]"]).is_ok());
    assert!(run(make(), &[b"[[1,2,3],[4,5,6],{\"a\":[7,8,9]}]"]).is_ok());
    let r = run(make(), &[b"[1,2,3,4]"]).unwrap_err();
    assert_eq!(r.message, "JSON array size exceeds 3");
    // Containers and strings count as one element each.
    assert!(run(make(), &[b"[[],{},\"x\",null]"]).is_err());
    assert_split_invariant(&make, b"[[],{},\"x\",null]");

    let items = |n: usize| format!("[{}]", vec!["0"; n].join(","));
    assert!(check(items(100).as_bytes()).is_ok());
    assert_eq!(
        check(items(101).as_bytes()).unwrap_err().message,
        "JSON array size exceeds 100"
    );
}

#[test]
fn string_length_counts_characters_after_unescaping() {
    let make = with(|o| o.max_string_length = 3);
    for ok in [
        r#""abc""#,
        r#""\"\\\/""#,
        r#""\u00e9\u00e9\u00e9""#,
        "\"\u{e9}\u{20ac}\u{1f600}\"",
        r#""\ud83d\ude00ab""#,
        r#"{"key":"val"}"#,
    ] {
        assert!(run(make(), &[ok.as_bytes()]).is_ok(), "{ok}");
        assert_split_invariant(&make, ok.as_bytes());
    }
    for long in [
        r#""abcd""#,
        r#""ab\n\t""#,
        "\"\u{e9}\u{e9}\u{e9}\u{e9}\"",
        r#""\ud83d\ude00abc""#,
        // Two lone low surrogates are two characters.
        r#""\ude00\ude00ab""#,
        r#"{"long":1}"#,
    ] {
        let r = run(make(), &[long.as_bytes()]).unwrap_err();
        assert_eq!(
            (r.code, r.message.as_ref()),
            ("json_threat", "JSON string length exceeds 3"),
            "{long}"
        );
        assert_split_invariant(&make, long.as_bytes());
    }
    let s = |n: usize| format!("\"{}\"", "x".repeat(n));
    assert!(check(s(10_000).as_bytes()).is_ok());
    assert_eq!(
        check(s(10_001).as_bytes()).unwrap_err().message,
        "JSON string length exceeds 10000"
    );
}

#[test]
fn body_size_limit() {
    let make = with(|o| o.max_body_bytes = 10);
    assert!(run(make(), &[b"[1,2,3,40]"]).is_ok());
    let r = run(make(), &[b"[1,2,3,", b"456]"]).unwrap_err();
    assert_eq!(
        (r.status, r.code, r.message.as_ref()),
        (413, "body_too_large", "Request body exceeds 10 bytes")
    );
    assert_split_invariant(&make, b"[1,2,3,456]");
    // Within the limit the body is still scanned first, so an earlier fault wins.
    let r = run(make(), &[b"[1,,2,3,456]"]).unwrap_err();
    assert_eq!(r.code, "invalid_json");
    // Default 1 MiB.
    let big = format!("\"{}\"", " ".repeat(1024 * 1024));
    let make = with(|o| o.max_string_length = usize::MAX);
    assert_eq!(run(make(), &[big.as_bytes()]).unwrap_err().status, 413);
}

#[test]
fn refusal_is_sticky() {
    let mut c = default_checker();
    let first = c.feed(b"[1,,").unwrap_err();
    assert_eq!(c.feed(b"2]").unwrap_err(), first);
    assert_eq!(c.finish().unwrap_err(), first);
}

#[test]
fn content_length_is_refused_up_front() {
    let t = op(JsonThreatOptions {
        max_body_bytes: 100,
        ..JsonThreatOptions::default()
    });
    let mut json = Headers::default();
    json.append("Content-Type", "application/json");
    let text = {
        let mut h = Headers::default();
        h.append("Content-Type", "text/plain");
        h
    };
    assert!(t.on_request(BodyFraming::Length(100), &json).is_ok());
    let r = t.on_request(BodyFraming::Length(101), &json).unwrap_err();
    assert_eq!((r.status, r.code), (413, "body_too_large"));
    // Chunked bodies are counted by the checker; unchecked types are not limited here.
    assert!(t.on_request(BodyFraming::Chunked, &json).is_ok());
    assert!(t.on_request(BodyFraming::Length(101), &text).is_ok());
}

#[test]
fn content_types() {
    let t = op(JsonThreatOptions::default());
    let with_type = |v: &str| {
        let mut h = Headers::default();
        h.append("content-type", v.to_string());
        h
    };
    for checked in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;charset=utf-8",
        "application/problem+json",
        "application/vnd.api+JSON; v=2",
    ] {
        assert!(t.body_checker(&with_type(checked)).is_some(), "{checked}");
    }
    for unchecked in [
        "text/plain",
        "application/jsonx",
        "application/x-www-form-urlencoded",
        "+json",
        "",
    ] {
        assert!(
            t.body_checker(&with_type(unchecked)).is_none(),
            "{unchecked}"
        );
    }
    assert!(t.body_checker(&Headers::default()).is_none());

    let custom = op(JsonThreatOptions {
        content_types: vec!["text/json".into()],
        ..JsonThreatOptions::default()
    });
    assert!(custom.body_checker(&with_type("text/json")).is_some());
    assert!(custom
        .body_checker(&with_type("application/json"))
        .is_none());
    assert!(custom
        .body_checker(&with_type("application/ld+json"))
        .is_none());
}

#[test]
fn checker_from_op_uses_its_limits() {
    let t = op(JsonThreatOptions {
        max_depth: 1,
        ..JsonThreatOptions::default()
    });
    let mut h = Headers::default();
    h.append("Content-Type", "application/json");
    let c = t.body_checker(&h).unwrap();
    assert!(run(c.clone(), &[b"[1]"]).is_ok());
    assert_eq!(
        run(c, &[b"[[1]]"]).unwrap_err().message,
        "JSON depth exceeds 1"
    );
}

/// Small deterministic generator, so the differential test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

/// Mutated ASCII documents get the same valid/invalid verdict as `serde_json`.
#[test]
fn agrees_with_serde_json_on_mutations() {
    const ALPHABET: &[u8] = b"{}[]:,\"\\ 0123456789.eE+-tfnrulsabx/";
    let seeds: Vec<&[u8]> = VALID
        .iter()
        .map(|d| d.as_bytes())
        .filter(|d| d.is_ascii())
        .collect();
    let loose = with(|o| {
        o.max_depth = 1000;
        o.max_keys = usize::MAX;
        o.max_array_size = usize::MAX;
        o.max_string_length = usize::MAX;
    });
    let mut rng = Lcg(42);
    for round in 0..20_000 {
        let mut doc = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + rng.next() % 3 {
            let at = rng.next() % (doc.len() + 1);
            let byte = ALPHABET[rng.next() % ALPHABET.len()];
            match rng.next() % 3 {
                0 if at < doc.len() => {
                    doc.remove(at);
                }
                1 if at < doc.len() => doc[at] = byte,
                _ => doc.insert(at, byte),
            }
        }
        let ours = run(loose(), &[&doc]).is_ok();
        // `IgnoredAny` checks syntax only: no number range or surrogate checks, which
        // belong to whoever builds values from the document.
        let theirs = serde_json::from_slice::<serde::de::IgnoredAny>(&doc).is_ok();
        assert_eq!(
            ours,
            theirs || doc.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&doc)
        );
        let mid = rng.next() % (doc.len() + 1);
        assert_eq!(
            run(loose(), &[&doc[..mid], &doc[mid..]]).is_ok(),
            ours,
            "split at {mid}"
        );
    }
}

/// Random bytes inside a string pass exactly when they are UTF-8 without control characters.
#[test]
fn utf8_validation_agrees_with_std() {
    const BYTES: &[u8] = &[
        b'a', 0x1f, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed,
        0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
    ];
    let mut rng = Lcg(7);
    for _ in 0..20_000 {
        let len = rng.next() % 6;
        let inner: Vec<u8> = (0..len).map(|_| BYTES[rng.next() % BYTES.len()]).collect();
        let expected = std::str::from_utf8(&inner).is_ok() && inner.iter().all(|&b| b >= 0x20);
        let doc = [b"\"".as_slice(), &inner, b"\""].concat();
        assert_eq!(code(&doc) == "ok", expected, "{inner:x?}");
        let mid = rng.next() % (doc.len() + 1);
        assert_eq!(
            run(default_checker(), &[&doc[..mid], &doc[mid..]]).is_ok(),
            expected
        );
    }
}
