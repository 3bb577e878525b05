use super::*;
use crate::consumers::tests::spec;

fn registry() -> ConsumerRegistry {
    ConsumerRegistry::new(vec![
        spec("alice", &["alice-key"]),
        spec("bob", &["b+b/key=="]),
    ])
    .unwrap()
}

fn with_query() -> ApiKeyAuth {
    ApiKeyAuth {
        query_param: Some("api_key".into()),
        ..ApiKeyAuth::default()
    }
}

#[test]
fn header_key_identifies_and_is_removed() {
    let reg = registry();
    let auth = ApiKeyAuth::default();
    let mut h = Headers::default();
    h.append("X-Api-Key", "alice-key");
    h.append("x-consumer-id", "spoofed");
    h.append("accept", "*/*");
    let mut id = Identity::default();
    auth.on_request(&reg, &mut h, None, &mut id).unwrap();
    assert_eq!(id.consumer_id(), Some("alice"));
    assert!(!h.contains("x-api-key"));
    assert_eq!(h.get_all("x-consumer-id").count(), 1);
    assert_eq!(h.get_str("x-consumer-id"), Some("alice"));
    assert!(h.contains("accept"));
}

#[test]
fn query_key_percent_decoded() {
    let reg = registry();
    let auth = with_query();
    let mut id = Identity::default();
    let mut h = Headers::default();
    let q = b"x=1&api_key=b%2Bb%2Fkey%3D%3D".as_slice();
    auth.on_request(&reg, &mut h, Some(q), &mut id).unwrap();
    assert_eq!(id.consumer_id(), Some("bob"));
    // A raw `+` is the key's own `+`, not a space.
    let mut id = Identity::default();
    let q = b"api_key=b+b/key==".as_slice();
    auth.on_request(&reg, &mut h, Some(q), &mut id).unwrap();
    assert_eq!(id.consumer_id(), Some("bob"));
    assert_eq!(h.get_str("x-consumer-id"), Some("bob"));
}

#[test]
fn header_wins_over_query_and_custom_names() {
    let reg = registry();
    let auth = ApiKeyAuth {
        header_name: "authorization-key".into(),
        query_param: Some("k".into()),
        forward_consumer_header: None,
    };
    let mut h = Headers::default();
    h.append("Authorization-Key", "alice-key");
    let mut id = Identity::default();
    auth.on_request(&reg, &mut h, Some(b"k=b+b/key=="), &mut id)
        .unwrap();
    assert_eq!(id.consumer_id(), Some("alice"));
    assert!(h.is_empty(), "no forwarded header when disabled: {h:?}");
}

#[test]
fn refusals_are_401() {
    let reg = registry();
    let auth = with_query();
    // (x-api-key header, query string, expected message)
    type Case = (Option<&'static str>, Option<&'static [u8]>, &'static str);
    let cases: [Case; 6] = [
        (None, None, "Missing API key"),
        (Some(""), None, "Missing API key"),
        (None, Some(b"other=alice-key&api_key="), "Missing API key"),
        (Some("nope"), None, "Invalid API key"),
        // An invalid header key is not rescued by a valid query key.
        (Some("nope"), Some(b"api_key=alice-key"), "Invalid API key"),
        (None, Some(b"api_key=alice-ke"), "Invalid API key"),
    ];
    for (header, query, message) in cases {
        let mut h = Headers::default();
        if let Some(v) = header {
            h.append("x-api-key", v.to_string());
        }
        let mut id = Identity::default();
        let err = auth.on_request(&reg, &mut h, query, &mut id).unwrap_err();
        assert_eq!(
            (err.status, err.code, err.message.as_ref()),
            (401, "unauthorized", message),
            "{header:?} {query:?}"
        );
        assert!(id.consumer.is_none());
    }
    // Without `query_param` the query string is never read.
    let mut id = Identity::default();
    let err = ApiKeyAuth::default()
        .on_request(
            &reg,
            &mut Headers::default(),
            Some(b"api_key=alice-key"),
            &mut id,
        )
        .unwrap_err();
    assert_eq!(err.message, "Missing API key");
}

#[test]
fn strip_query_removes_only_the_key() {
    let auth = with_query();
    let cases: [(&[u8], Option<&[u8]>); 6] = [
        (b"a=1&b=2", None),
        (b"api_key=k", Some(b"")),
        (b"a=1&api_key=k&b=%20", Some(b"a=1&b=%20")),
        (b"api%5Fkey=k&a=1", Some(b"a=1")),
        (b"api_key=k&api_key=j&a", Some(b"a")),
        (b"api_keys=k", None),
    ];
    for (query, want) in cases {
        assert_eq!(
            auth.strip_query(query).as_deref(),
            want,
            "{}",
            String::from_utf8_lossy(query)
        );
    }
    assert_eq!(ApiKeyAuth::default().strip_query(b"api_key=k"), None);
}

#[test]
fn percent_decode_keeps_bad_escapes() {
    assert_eq!(percent_decode(b"a%41%4a%zz%4").as_ref(), b"aAJ%zz%4");
    assert!(matches!(percent_decode(b"plain"), Cow::Borrowed(_)));
}
