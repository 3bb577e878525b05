use std::net::Ipv4Addr;

use super::*;

// ---- A minimal MaxMind DB writer (format spec: maxmind.github.io/MaxMind-DB) ----------

fn string(s: &str) -> Vec<u8> {
    assert!(s.len() < 29);
    let mut out = vec![(2 << 5) | s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

fn map(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![(7 << 5) | pairs.len() as u8];
    for (k, v) in pairs {
        out.extend(string(k));
        out.extend_from_slice(v);
    }
    out
}

/// Unsigned integer of type 5 (uint16) or 6 (uint32), minimal big-endian bytes.
fn uint(kind: u8, value: u32) -> Vec<u8> {
    let bytes: Vec<u8> = value
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![(kind << 5) | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn country(field: &str, code: &str) -> Vec<u8> {
    map(&[(field, map(&[("iso_code", string(code))]))])
}

enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// An IPv4 database (24-bit records) mapping each `(network, prefix, record)` to its data.
fn mmdb(entries: &[(Ipv4Addr, u8, Vec<u8>)]) -> Vec<u8> {
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    let mut data = Vec::new();
    for (net, prefix, record) in entries {
        let offset = data.len();
        data.extend_from_slice(record);
        let bits = u32::from(*net);
        let mut node = 0;
        for depth in 0..*prefix {
            let side = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == *prefix {
                nodes[node][side] = Rec::Data(offset);
            } else if let Rec::Node(next) = nodes[node][side] {
                node = next;
            } else {
                nodes.push([Rec::Empty, Rec::Empty]);
                let next = nodes.len() - 1;
                nodes[node][side] = Rec::Node(next);
                node = next;
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for rec in pair {
            let value = match rec {
                Rec::Empty => count,
                Rec::Node(n) => *n,
                Rec::Data(offset) => count + 16 + offset,
            } as u32;
            out.extend_from_slice(&value.to_be_bytes()[1..]);
        }
    }
    out.extend([0; 16]);
    out.extend(data);
    out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
    out.extend(map(&[
        ("binary_format_major_version", uint(5, 2)),
        ("binary_format_minor_version", uint(5, 0)),
        // uint64 (extended type 9 = 7 + 2), zero bytes long: 0.
        ("build_epoch", vec![0, 2]),
        ("database_type", string("Sluice-Test-Country")),
        ("description", map(&[("en", string("test"))])),
        ("ip_version", uint(5, 4)),
        // Array (extended type 11 = 7 + 4) of one string.
        ("languages", [vec![1, 4], string("en")].concat()),
        ("node_count", uint(6, count as u32)),
        ("record_size", uint(5, 24)),
    ]));
    out
}

fn test_db() -> GeoDb {
    let bytes = mmdb(&[
        (Ipv4Addr::new(1, 0, 0, 0), 8, country("country", "US")),
        (Ipv4Addr::new(2, 0, 0, 0), 8, country("country", "DE")),
        (
            Ipv4Addr::new(3, 0, 0, 0),
            8,
            country("registered_country", "FR"),
        ),
        (
            Ipv4Addr::new(4, 0, 0, 0),
            8,
            map(&[("continent", map(&[("code", string("EU"))]))]),
        ),
        (Ipv4Addr::new(5, 0, 0, 0), 8, country("country", "toolong")),
    ]);
    CountrySource::mmdb_from_bytes(bytes).unwrap()
}

// ---- Tests -------------------------------------------------------------------------------

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn header_filter(allow: &[&str], deny: &[&str], allow_mode: bool) -> GeoIpFilter {
    GeoIpFilter::new(GeoIpOptions {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: deny.iter().map(|s| s.to_string()).collect(),
        allow_mode,
        ..GeoIpOptions::default()
    })
    .unwrap()
}

fn from(country: Option<&str>) -> Headers {
    let mut h = Headers::default();
    if let Some(c) = country {
        h.append("CF-IPCountry", c.to_string());
    }
    h
}

const PEER: &str = "192.0.2.1";

#[test]
fn defaults() {
    let o = GeoIpOptions::default();
    assert!(!o.allow_mode && !o.trust_forwarded);
    assert!(matches!(o.source, CountrySource::Header(ref h) if h == "cf-ipcountry"));
}

#[test]
fn deny_mode_from_header() {
    let f = header_filter(&[], &["ru", "KP"], false);
    let r = f.on_request(ip(PEER), &from(Some("RU"))).unwrap_err();
    assert_eq!(
        (r.status, r.code, r.message.as_ref()),
        (403, "geo_denied", "Access from your country is not allowed")
    );
    assert!(f.on_request(ip(PEER), &from(Some("kp"))).is_err());
    assert!(f.on_request(ip(PEER), &from(Some(" KP "))).is_err());
    assert!(f.on_request(ip(PEER), &from(Some("US"))).is_ok());
    // Unknown passes in deny mode.
    assert!(f.on_request(ip(PEER), &from(None)).is_ok());
    assert!(f.on_request(ip(PEER), &from(Some("RUS"))).is_ok());
    assert!(f.on_request(ip(PEER), &from(Some(""))).is_ok());
}

#[test]
fn deny_mode_allow_entries_are_exceptions() {
    let f = header_filter(&["T1"], &["T1", "CN"], false);
    assert!(f.on_request(ip(PEER), &from(Some("t1"))).is_ok());
    assert!(f.on_request(ip(PEER), &from(Some("CN"))).is_err());
}

#[test]
fn allow_mode_from_header() {
    let f = header_filter(&["US", "CA", "DE"], &["DE"], true);
    assert!(f.on_request(ip(PEER), &from(Some("us"))).is_ok());
    assert!(f.on_request(ip(PEER), &from(Some("CA"))).is_ok());
    assert!(f.on_request(ip(PEER), &from(Some("FR"))).is_err());
    // `deny` still refuses inside `allow`.
    assert!(f.on_request(ip(PEER), &from(Some("DE"))).is_err());
    // Unknown is refused in allow mode.
    assert!(f.on_request(ip(PEER), &from(None)).is_err());
    assert!(f.on_request(ip(PEER), &from(Some("XXX"))).is_err());
}

#[test]
fn custom_header() {
    let f = GeoIpFilter::new(GeoIpOptions {
        deny: vec!["RU".into()],
        source: CountrySource::Header("X-Country".into()),
        ..GeoIpOptions::default()
    })
    .unwrap();
    let mut h = Headers::default();
    h.append("x-country", "RU");
    assert!(f.on_request(ip(PEER), &h).is_err());
    assert!(f.on_request(ip(PEER), &from(Some("RU"))).is_ok());
}

#[test]
fn invalid_codes_are_config_errors() {
    for bad in ["USA", "U", "", "é!"] {
        let err = GeoIpFilter::new(GeoIpOptions {
            deny: vec![bad.into()],
            ..GeoIpOptions::default()
        })
        .unwrap_err();
        assert!(err.contains(bad), "{err}");
    }
}

fn mmdb_filter(allow: &[&str], deny: &[&str], allow_mode: bool) -> GeoIpFilter {
    GeoIpFilter::new(GeoIpOptions {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: deny.iter().map(|s| s.to_string()).collect(),
        allow_mode,
        source: CountrySource::Mmdb(test_db()),
        trust_forwarded: false,
    })
    .unwrap()
}

#[test]
fn mmdb_countries() {
    let f = mmdb_filter(&[], &[], false);
    let h = Headers::default();
    assert_eq!(f.country(ip("1.2.3.4"), &h), Some(*b"US"));
    assert_eq!(f.country(ip("2.255.0.1"), &h), Some(*b"DE"));
    assert_eq!(f.country(ip("::ffff:1.2.3.4"), &h), Some(*b"US"));
    // No located country: the registered one.
    assert_eq!(f.country(ip("3.3.3.3"), &h), Some(*b"FR"));
    // A record without either, a malformed code, no record, IPv6 on an IPv4 DB.
    assert_eq!(f.country(ip("4.4.4.4"), &h), None);
    assert_eq!(f.country(ip("5.5.5.5"), &h), None);
    assert_eq!(f.country(ip("9.9.9.9"), &h), None);
    assert_eq!(f.country(ip("2001:db8::1"), &h), None);
    // The header is not looked at with a DB source.
    assert_eq!(f.country(ip("9.9.9.9"), &from(Some("US"))), None);
}

#[test]
fn mmdb_modes() {
    let deny = mmdb_filter(&[], &["DE"], false);
    let h = Headers::default();
    assert!(deny.on_request(ip("1.1.1.1"), &h).is_ok());
    assert_eq!(
        deny.on_request(ip("2.2.2.2"), &h).unwrap_err().code,
        "geo_denied"
    );
    assert!(deny.on_request(ip("9.9.9.9"), &h).is_ok());

    let allow = mmdb_filter(&["us", "fr"], &[], true);
    assert!(allow.on_request(ip("1.1.1.1"), &h).is_ok());
    assert!(allow.on_request(ip("3.1.1.1"), &h).is_ok());
    assert!(allow.on_request(ip("2.2.2.2"), &h).is_err());
    assert!(allow.on_request(ip("9.9.9.9"), &h).is_err());
}

#[test]
fn mmdb_forwarded_only_when_trusted() {
    let mut f = mmdb_filter(&[], &["DE"], false);
    let mut h = Headers::default();
    h.append("X-Forwarded-For", "2.0.0.1, 10.0.0.1");
    assert!(f.on_request(ip("1.1.1.1"), &h).is_ok());
    f.trust_forwarded = true;
    assert!(f.on_request(ip("1.1.1.1"), &h).is_err());
    // A header that does not parse falls back to the peer.
    let mut bad = Headers::default();
    bad.append("X-Forwarded-For", "unknown");
    assert!(f.on_request(ip("2.1.1.1"), &bad).is_err());
}

#[test]
fn opening_db_files() {
    let dir = std::env::temp_dir().join(format!("sluice-geo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.mmdb");
    std::fs::write(
        &good,
        mmdb(&[(Ipv4Addr::new(1, 0, 0, 0), 8, country("country", "US"))]),
    )
    .unwrap();
    let db = CountrySource::open_mmdb(&good).unwrap();
    assert_eq!(db.metadata().database_type, "Sluice-Test-Country");

    let missing = CountrySource::open_mmdb(dir.join("missing.mmdb")).unwrap_err();
    assert!(
        missing.contains("cannot read") && missing.contains("missing.mmdb"),
        "{missing}"
    );
    let junk = dir.join("junk.mmdb");
    std::fs::write(&junk, b"not a database").unwrap();
    let err = CountrySource::open_mmdb(&junk).unwrap_err();
    assert!(
        err.contains("junk.mmdb") && err.contains("metadata"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_does_not_dump_the_db() {
    let f = mmdb_filter(&[], &[], false);
    let text = format!("{f:?}");
    assert!(text.contains("Mmdb(\"Sluice-Test-Country\")"), "{text}");
}
