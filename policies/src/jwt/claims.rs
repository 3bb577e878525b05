//! Claims checks that run on every request (cached tokens included, since they depend on
//! the clock), claim look-up by dot path, and claim values as header values.

use serde_json::Value;

use super::{Claims, JwtError};

/// The claims checks of one `jwt-auth` op. `Default` gives: no issuer or audience check,
/// zero clock skew, `exp` required, no required claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// `issuer`: when set, `iss` must be present and equal.
    pub issuer: Option<String>,
    /// `audience` (one or a list): when non-empty, `aud` (a string or a list) must name
    /// at least one of them.
    pub audience: Vec<String>,
    /// `clock_skew` in seconds, allowed on `exp`, `nbf` and `iat`.
    pub clock_skew: u64,
    /// `require_exp`: refuse tokens without `exp` (default `true`).
    pub require_exp: bool,
    /// `required_claims`: each claim (looked up with [`claim_at_path`]) must equal the
    /// value exactly (numbers compare by value, so `1` matches `1.0`; a string never
    /// matches a number or boolean).
    pub required_claims: Vec<(String, Value)>,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            issuer: None,
            audience: Vec::new(),
            clock_skew: 0,
            require_exp: true,
            required_claims: Vec::new(),
        }
    }
}

/// Checks `claims` at `now` (unix seconds), in this order: `exp`, `nbf`, `iat`, `iss`,
/// `aud`, required claims; the first failure is returned.
///
/// - `exp`: [`JwtError::Expired`] when `now > exp + skew`; absent with `require_exp` is
///   [`JwtError::MissingClaim`]`("exp")`.
/// - `nbf`: [`JwtError::NotYetValid`] when `now + skew < nbf`.
/// - `iat`: [`JwtError::IssuedInFuture`] when `iat > now + skew`.
/// - A time claim that is not a JSON number is [`JwtError::Malformed`]. Fractional
///   seconds are allowed (RFC 7519 NumericDate).
/// - `iss`: [`JwtError::InvalidIssuer`]; `aud`: [`JwtError::InvalidAudience`];
///   required claims: [`JwtError::MissingClaim`] with the configured name, whether the
///   claim is absent or has another value.
pub fn check_claims(claims: &Claims, v: &Validation, now: u64) -> Result<(), JwtError> {
    // f64 holds every plausible date exactly (2^53 s is far off) and takes fractional
    // NumericDates without a special case.
    let now = now as f64;
    let skew = v.clock_skew as f64;
    match numeric_date(claims, "exp")? {
        Some(exp) if now > exp + skew => return Err(JwtError::Expired),
        Some(_) => {}
        None if v.require_exp => return Err(JwtError::MissingClaim("exp".to_owned())),
        None => {}
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + skew < nbf) {
        return Err(JwtError::NotYetValid);
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + skew) {
        return Err(JwtError::IssuedInFuture);
    }
    if let Some(issuer) = &v.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(JwtError::InvalidIssuer);
        }
    }
    if !v.audience.is_empty() && !audience_matches(claims.get("aud"), &v.audience) {
        return Err(JwtError::InvalidAudience);
    }
    for (name, expected) in &v.required_claims {
        match claim_at_path(claims, name) {
            Some(actual) if same_value(actual, expected) => {}
            _ => return Err(JwtError::MissingClaim(name.clone())),
        }
    }
    Ok(())
}

/// The claim at `path`. A claim whose whole name is `path` wins (namespaced claims such
/// as `https://example.com/roles` contain dots); otherwise `a.b.c` walks nested objects.
/// `None` when any step is missing or not an object.
pub fn claim_at_path<'a>(claims: &'a Claims, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut segments = path.split('.');
    let mut value = claims.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// A claim as an HTTP header value for `forward_claims`: strings as they are, numbers
/// and booleans as text, arrays joined by `,` (each element converted the same way,
/// nested arrays and objects as compact JSON), objects as compact JSON.
///
/// `None` for `null`, an empty array, or a result holding control characters (CR/LF
/// would let a claim value inject headers), so the header is then not sent.
pub fn claim_to_header_value(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::Array(items) if items.is_empty() => return None,
        Value::Array(items) => {
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&scalar_or_json(item));
            }
            out
        }
        other => scalar_or_json(other),
    };
    let safe = text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
    safe.then_some(text)
}

/// The NumericDate claim `name`: `Ok(None)` when absent, `Malformed` when not a number.
pub(crate) fn numeric_date(claims: &Claims, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(JwtError::Malformed(match name {
            "exp" => "exp is not a number",
            "nbf" => "nbf is not a number",
            _ => "iat is not a number",
        })),
    }
}

fn scalar_or_json(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // `Value`'s `Display` is compact JSON and cannot fail.
        other => other.to_string(),
    }
}

fn audience_matches(aud: Option<&Value>, wanted: &[String]) -> bool {
    let is_wanted = |v: &Value| v.as_str().is_some_and(|s| wanted.iter().any(|w| w == s));
    match aud {
        Some(Value::Array(items)) => items.iter().any(is_wanted),
        Some(single) => is_wanted(single),
        None => false,
    }
}

/// JSON equality, except that numbers compare by value (`1` and `1.0` are equal; two
/// integers compare exactly, never through f64).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (as_int(x), as_int(y)) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64().is_some_and(|f| Some(f) == y.as_f64()),
        },
        _ => a == b,
    }
}

fn as_int(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}
