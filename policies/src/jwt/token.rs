//! A compact JWS taken apart: size limit, the three parts, strict base64url, the JOSE
//! header and the claims JSON. Also the bearer-token extraction from a header value.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::{Alg, Claims, JwtError};

/// Longest token accepted, in bytes (the issue's 8 KiB). Longer ones are refused before
/// any decoding or hashing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The verified parts of a JOSE header that the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The signing algorithm.
    pub alg: Alg,
    /// The key id, when the issuer set one.
    pub kid: Option<String>,
    /// The media type (`JWT` usually); informative only, never checked.
    pub typ: Option<String>,
}

/// The three base64url parts of a compact JWS, still encoded, borrowed from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

/// The header as it arrives. `jku`, `x5u`, `jwk` and `x5c` are ignored on purpose: keys
/// come only from configuration, never from the token that is being checked.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// Splits `token` into its three parts after the size check.
pub(crate) fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let mut it = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Parts {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// Decodes one part. Strict: URL-safe alphabet only, no padding, no whitespace, and no
/// non-zero trailing bits, so each byte string has exactly one spelling (the verified-token
/// cache keys on the spelling).
pub(crate) fn decode_part(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("bad base64url"))
}

/// Parses the decoded header.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, JwtError> {
    if !starts_as_object(bytes) {
        return Err(JwtError::Malformed("header is not a JSON object"));
    }
    let raw: RawHeader =
        serde_json::from_slice(bytes).map_err(|_| JwtError::Malformed("header is not JSON"))?;
    if raw.alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood, and none are.
    if raw.crit.is_some() {
        return Err(JwtError::Malformed("crit header"));
    }
    let alg = Alg::from_name(&raw.alg).ok_or(JwtError::UnsupportedAlg(raw.alg))?;
    Ok(Header {
        alg,
        kid: raw.kid,
        typ: raw.typ,
    })
}

/// `true` when the JSON text opens an object. Derived `Deserialize` structs also accept
/// arrays (fields by position), which a header or JWKS must never be.
pub(crate) fn starts_as_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Parses the decoded payload; it must be a JSON object. Duplicate names keep the last
/// value, which RFC 7519 §4 allows.
pub(crate) fn parse_claims(bytes: &[u8]) -> Result<Claims, JwtError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JwtError::Malformed("claims are not a JSON object")),
        Err(_) => Err(JwtError::Malformed("claims are not JSON")),
    }
}

/// The token in an `Authorization`-style header value: `<prefix> <token>`, the prefix
/// matched without regard to case (RFC 7235 auth schemes are case-insensitive) and
/// followed by one or more spaces. An empty `prefix` takes the whole trimmed value.
///
/// [`JwtError::MissingToken`] when the value is empty, uses another scheme, or has no
/// token after the prefix.
pub fn bearer_token<'a>(value: &'a str, prefix: &str) -> Result<&'a str, JwtError> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let rest = if prefix.is_empty() {
        value
    } else {
        let (scheme, rest) = value.split_once(' ').ok_or(JwtError::MissingToken)?;
        if !scheme.eq_ignore_ascii_case(prefix) {
            return Err(JwtError::MissingToken);
        }
        rest.trim_start_matches(' ')
    };
    if rest.is_empty() {
        Err(JwtError::MissingToken)
    } else {
        Ok(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_needs_exactly_three_parts() {
        assert!(split("a.b.c").is_ok());
        let p = split("aa.bbb.c").unwrap();
        assert_eq!((p.header, p.payload, p.signature), ("aa", "bbb", "c"));
        assert_eq!(p.signing_input, "aa.bbb");
        for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
            assert_eq!(
                split(bad),
                Err(JwtError::Malformed("not three dot-separated parts")),
                "{bad}"
            );
        }
        let big = format!("{}.b.c", "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(split(&big), Err(JwtError::TooLarge));
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(decode_part("aGk").unwrap(), b"hi");
        assert_eq!(decode_part("_-8").unwrap(), [0xff, 0xef]);
        // padding, standard alphabet, whitespace, non-canonical trailing bits
        for bad in ["aGk=", "+/8", "aG k", "aGl", "a"] {
            assert!(decode_part(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_parsing() {
        let h = parse_header(br#"{"alg":"RS256","kid":"k1","typ":"JWT","x":1}"#).unwrap();
        assert_eq!(h.alg, Alg::RS256);
        assert_eq!(h.kid.as_deref(), Some("k1"));
        for none in ["none", "None", "NONE", "nOnE"] {
            let json = format!(r#"{{"alg":"{none}"}}"#);
            assert_eq!(parse_header(json.as_bytes()), Err(JwtError::AlgNone));
        }
        assert_eq!(
            parse_header(br#"{"alg":"hs256"}"#),
            Err(JwtError::UnsupportedAlg("hs256".into()))
        );
        assert!(matches!(
            parse_header(br#"{"alg":"HS256","crit":["exp"]}"#),
            Err(JwtError::Malformed(_))
        ));
        for bad in [
            &b"{"[..],
            b"[]",
            b"{}",
            br#"{"alg":5}"#,
            br#"{"alg":"HS256","kid":1}"#,
        ] {
            assert!(matches!(parse_header(bad), Err(JwtError::Malformed(_))));
        }
    }

    #[test]
    fn claims_must_be_an_object() {
        assert!(parse_claims(br#"{"sub":"a"}"#).is_ok());
        for bad in [&b"[1]"[..], b"\"s\"", b"null", b"{", b""] {
            assert!(matches!(parse_claims(bad), Err(JwtError::Malformed(_))));
        }
    }

    #[test]
    fn bearer_extraction() {
        assert_eq!(bearer_token("Bearer abc", "Bearer"), Ok("abc"));
        assert_eq!(bearer_token("bearer   abc ", "Bearer"), Ok("abc"));
        assert_eq!(bearer_token("abc", ""), Ok("abc"));
        for bad in ["", "Bearer", "Bearer ", "Basic abc", "Bearerabc"] {
            assert_eq!(
                bearer_token(bad, "Bearer"),
                Err(JwtError::MissingToken),
                "{bad}"
            );
        }
        assert_eq!(bearer_token("  ", ""), Err(JwtError::MissingToken));
    }
}
