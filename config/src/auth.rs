//! Options of the authentication and authorisation policies: `jwt-auth`, `api-key-auth`,
//! `basic-auth`, `oauth2` and `rbac`.

use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use crate::consumer;
use crate::env::key_text;
use crate::error::{self, Errors};
use crate::http;
use crate::model::{
    ApiKeyAuthOptions, BasicAuthOptions, JwtAuthOptions, JwtKeySource, OAuth2Options, RbacOptions,
    TargetUrl, TokenLocation,
};
use crate::raw::{self, kind, RawApiKeyAuth, RawBasicAuth, RawJwtAuth, RawOAuth2, RawRbac, Scalar};
use crate::route::http_url;
use crate::validate::{duration, positive_duration, required};

/// Every algorithm `jwt-auth` accepts, spelled as stored (and as in RFC 7518 / RFC 8037).
pub(crate) const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];
/// The HMAC algorithms (verified with `secret`) and the shortest secret each allows: RFC 7518
/// section 3.2 asks for a key at least as long as the hash output.
const HMAC_ALGORITHMS: &[(&str, usize)] = &[("HS256", 32), ("HS384", 48), ("HS512", 64)];
/// Registered JOSE algorithms this version does not verify; named as such in messages.
const UNSUPPORTED_JWT_ALGORITHMS: &[&str] = &["ES512", "ES256K", "Ed25519", "Ed448"];
const DEFAULT_JWT_HEADER: &str = "authorization";
const DEFAULT_TOKEN_PREFIX: &str = "Bearer";
const DEFAULT_JWKS_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_API_KEY_HEADER: &str = "x-api-key";
const DEFAULT_CONSUMER_HEADER: &str = "x-consumer-id";
const DEFAULT_REALM: &str = "Restricted";
const DEFAULT_ROLES_CLAIM: &str = "roles";
const DEFAULT_PERMISSIONS_CLAIM: &str = "permissions";
const DEFAULT_DENY_MESSAGE: &str = "Forbidden";
const DEFAULT_INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// `type: jwt-auth` options at `path`: exactly one key source, algorithms that suit it, and
/// a secret long enough for the strongest HMAC algorithm allowed.
pub(crate) fn jwt_auth(raw: RawJwtAuth, path: &str, errors: &mut Errors) -> Option<JwtAuthOptions> {
    let at = |field: &str| error::key(path, field);
    let keys = match (raw.secret, raw.jwks_url) {
        (Some(_), Some(_)) => {
            errors.add(
                path,
                "give either secret or jwks_url, not both (one policy verifies one kind of key)",
            );
            None
        }
        (None, None) => {
            errors.add(
                path,
                "missing key source: give secret (HS256/HS384/HS512) or jwks_url",
            );
            None
        }
        (Some(Scalar(secret)), None) => Some(JwtKeySource::Secret(secret)),
        (None, Some(Scalar(url))) => errors
            .check(&at("jwks_url"), jwks_url(&url))
            .map(JwtKeySource::JwksUrl),
    };
    let algorithms = algorithms(raw.algorithms, keys.as_ref(), &at("algorithms"), errors);
    if let Some(JwtKeySource::Secret(secret)) = &keys {
        // Judged against the algorithms that were valid, so a typo in one does not hide a
        // short secret.
        let (alg, min) = HMAC_ALGORITHMS
            .iter()
            .filter(|(alg, _)| algorithms.iter().flatten().any(|a| a == alg))
            .max_by_key(|(_, min)| *min)
            .unwrap_or(&HMAC_ALGORITHMS[0]);
        if secret.len() < *min {
            errors.add(
                &at("secret"),
                format!("secret must be at least {min} bytes for {alg}"),
            );
        }
    }
    let with_secret = matches!(keys, Some(JwtKeySource::Secret(_)));
    let jwks_duration = |field: Option<Scalar>, name: &str, default, errors: &mut Errors| {
        if with_secret && field.is_some() {
            errors.add(&at(name), format!("{name} only applies with jwks_url"));
            return None;
        }
        positive_duration(field, &at(name), default, errors)
    };
    let jwks_cache_ttl = jwks_duration(
        raw.jwks_cache_ttl,
        "jwks_cache_ttl",
        DEFAULT_JWKS_CACHE_TTL,
        errors,
    );
    let jwks_timeout = jwks_duration(
        raw.jwks_timeout,
        "jwks_timeout",
        DEFAULT_JWKS_TIMEOUT,
        errors,
    );
    let issuer = match raw.issuer {
        Some(Scalar(issuer)) => errors.check(&at("issuer"), not_empty(issuer)).map(Some),
        None => Some(None),
    };
    let audience = audience(raw.audience, &at("audience"), errors);
    let header_name = lower_header(
        raw.header_name,
        &at("header_name"),
        DEFAULT_JWT_HEADER,
        errors,
    );
    let token_prefix = match raw.token_prefix {
        Some(Scalar(prefix)) => errors.check(&at("token_prefix"), token_prefix(prefix)),
        None => Some(DEFAULT_TOKEN_PREFIX.to_owned()),
    };
    let query_param = optional(raw.query_param, &at("query_param"), query_param, errors);
    let cookie = optional(raw.cookie, &at("cookie"), cookie_name, errors);
    let forward_claims = forward_headers(
        raw.forward_claims,
        &at("forward_claims"),
        "claim",
        claim_path,
        errors,
    );
    let clock_skew = duration(raw.clock_skew, &at("clock_skew"), Duration::ZERO, errors);
    let require_exp = match raw.require_exp {
        Some(text) => errors.check(&at("require_exp"), text.boolean()),
        None => Some(true),
    };
    let required_claims = required_claims(raw.required_claims, &at("required_claims"), errors);
    Some(JwtAuthOptions {
        keys: keys?,
        algorithms: algorithms.into_iter().collect::<Option<_>>()?,
        issuer: issuer?,
        audience: audience?,
        header_name: header_name?,
        token_prefix: token_prefix?,
        query_param: query_param?,
        cookie: cookie?,
        forward_claims: forward_claims?,
        clock_skew: clock_skew?,
        require_exp: require_exp?,
        required_claims: required_claims?,
        jwks_cache_ttl: jwks_cache_ttl?,
        jwks_timeout: jwks_timeout?,
    })
}

/// `type: api-key-auth` options at `path`.
pub(crate) fn api_key_auth(
    raw: RawApiKeyAuth,
    path: &str,
    errors: &mut Errors,
) -> Option<ApiKeyAuthOptions> {
    let header_name = lower_header(
        raw.header_name,
        &error::key(path, "header_name"),
        DEFAULT_API_KEY_HEADER,
        errors,
    );
    let query_param = optional(
        raw.query_param,
        &error::key(path, "query_param"),
        query_param,
        errors,
    );
    let forward_consumer_header = lower_header(
        raw.forward_consumer_header,
        &error::key(path, "forward_consumer_header"),
        DEFAULT_CONSUMER_HEADER,
        errors,
    );
    Some(ApiKeyAuthOptions {
        header_name: header_name?,
        query_param: query_param?,
        forward_consumer_header: forward_consumer_header?,
    })
}

/// `type: basic-auth` options at `path`.
pub(crate) fn basic_auth(
    raw: RawBasicAuth,
    path: &str,
    errors: &mut Errors,
) -> Option<BasicAuthOptions> {
    let realm = match raw.realm {
        Some(Scalar(realm)) => errors.check(&error::key(path, "realm"), realm_text(realm)),
        None => Some(DEFAULT_REALM.to_owned()),
    };
    let forward_consumer_header = lower_header(
        raw.forward_consumer_header,
        &error::key(path, "forward_consumer_header"),
        DEFAULT_CONSUMER_HEADER,
        errors,
    );
    Some(BasicAuthOptions {
        realm: realm?,
        forward_consumer_header: forward_consumer_header?,
    })
}

/// `type: oauth2` options at `path`: the introspection endpoint, the client credentials the
/// gateway presents to it (HTTP Basic, RFC 7662 section 2.1), and what a token must carry.
pub(crate) fn oauth2(raw: RawOAuth2, path: &str, errors: &mut Errors) -> Option<OAuth2Options> {
    let at = |field: &str| error::key(path, field);
    let introspection_url = required(raw.introspection_url, path, "introspection_url", errors)
        .and_then(|Scalar(url)| errors.check(&at("introspection_url"), introspection_url(&url)));
    let client_id = required(raw.client_id, path, "client_id", errors)
        .and_then(|Scalar(id)| errors.check(&at("client_id"), client_id(id)));
    // The secret is never part of a message: only "missing" or "empty" is said about it.
    let client_secret = required(raw.client_secret, path, "client_secret", errors)
        .and_then(|Scalar(secret)| errors.check(&at("client_secret"), not_empty(secret)));
    let token_location = match raw.token_location.as_ref().map(|t| t.0.as_str()) {
        None | Some("header") => Some(TokenLocation::Header),
        Some("query") => Some(TokenLocation::Query),
        Some(other) => {
            errors.add(
                &at("token_location"),
                format!("invalid token_location {other:?} (expected header or query)"),
            );
            None
        }
    };
    let required_scopes = scopes(raw.required_scopes, &at("required_scopes"), errors);
    let cache_ttl = duration(raw.cache_ttl, &at("cache_ttl"), Duration::ZERO, errors);
    let timeout = positive_duration(
        raw.timeout,
        &at("timeout"),
        DEFAULT_INTROSPECTION_TIMEOUT,
        errors,
    );
    let forward_token_info = forward_headers(
        raw.forward_token_info,
        &at("forward_token_info"),
        "field",
        token_field,
        errors,
    );
    Some(OAuth2Options {
        introspection_url: introspection_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        token_location: token_location?,
        required_scopes: required_scopes?,
        cache_ttl: cache_ttl?,
        timeout: timeout?,
        forward_token_info: forward_token_info?,
    })
}

/// `type: rbac` options at `path`: at least one role or permission.
pub(crate) fn rbac(raw: RawRbac, path: &str, errors: &mut Errors) -> Option<RbacOptions> {
    // Judged on what was written, so a bad entry is reported once, as itself.
    if raw.roles.as_ref().map_or(0, Vec::len) + raw.permissions.as_ref().map_or(0, Vec::len) == 0 {
        errors.add(
            path,
            "rbac does nothing: give at least one of roles, permissions",
        );
        return None;
    }
    let roles = consumer::roles(raw.roles, &error::key(path, "roles"), errors);
    let permissions = consumer::roles(raw.permissions, &error::key(path, "permissions"), errors);
    let claim = |field: Option<Scalar>, name: &str, default: &str, errors: &mut Errors| match field
    {
        Some(Scalar(text)) => errors.check(&error::key(path, name), claim_path(&text)),
        None => Some(default.to_owned()),
    };
    let roles_claim = claim(raw.roles_claim, "roles_claim", DEFAULT_ROLES_CLAIM, errors);
    let permissions_claim = claim(
        raw.permissions_claim,
        "permissions_claim",
        DEFAULT_PERMISSIONS_CLAIM,
        errors,
    );
    let role_header = optional(
        raw.role_header,
        &error::key(path, "role_header"),
        |name| http::header_name(name).map(|h| h.to_ascii_lowercase()),
        errors,
    );
    Some(RbacOptions {
        roles: roles?,
        permissions: permissions?,
        roles_claim: roles_claim?,
        permissions_claim: permissions_claim?,
        role_header: role_header?,
        deny_message: raw
            .deny_message
            .map_or_else(|| DEFAULT_DENY_MESSAGE.to_owned(), |m| m.0),
    })
}

/// `jwks_url`: see [`endpoint_url`].
fn jwks_url(text: &str) -> Result<TargetUrl, String> {
    endpoint_url(
        text,
        "jwks_url",
        "the path of the JWKS document, e.g. http://idp.internal/.well-known/jwks.json",
    )
}

/// `introspection_url`: see [`endpoint_url`].
fn introspection_url(text: &str) -> Result<TargetUrl, String> {
    endpoint_url(
        text,
        "introspection_url",
        "the path of the introspection endpoint, e.g. http://idp.internal/oauth2/introspect",
    )
}

/// The URL in field `field`: an `http://` URL with the rules of an upstream target, but a
/// whole address: the path (`needs` describes it) is required and kept exactly as written.
fn endpoint_url(text: &str, field: &str, needs: &str) -> Result<TargetUrl, String> {
    let url = http_url(
        text,
        field,
        &format!("https {field} is not supported yet (TLS is planned)"),
    )?;
    if url.path_prefix.is_empty() || url.path_prefix == "/" {
        return Err(format!("invalid {field} {text:?}: needs {needs}"));
    }
    http::literal_path(&url.path_prefix)
        .map_err(|why| format!("invalid {field} {text:?}: {why}"))?;
    Ok(url)
}

/// `algorithms`, one result per entry (so the secret length can be judged on the valid
/// ones). Names are matched case-insensitively and stored as [`JWT_ALGORITHMS`] spells them;
/// each must suit the key source.
fn algorithms(
    list: Option<Vec<Scalar>>,
    keys: Option<&JwtKeySource>,
    path: &str,
    errors: &mut Errors,
) -> Vec<Option<String>> {
    let Some(list) = list else {
        return Vec::new();
    };
    if list.is_empty() {
        errors.add(
            path,
            "must not be empty (leave it out to allow every algorithm the key source supports)",
        );
        // One failed entry, so the whole list fails.
        return vec![None];
    }
    let mut seen: Vec<&str> = Vec::new();
    list.iter()
        .enumerate()
        .map(|(i, Scalar(text))| {
            let at = error::index(path, i);
            let alg = errors.check(&at, algorithm(text))?;
            let hmac = HMAC_ALGORITHMS.iter().any(|(h, _)| *h == alg);
            let problem = match keys {
                _ if seen.contains(&alg) => Some(format!("algorithm {alg} is listed twice")),
                Some(JwtKeySource::Secret(_)) if !hmac => Some(format!(
                    "{alg} cannot be used with secret: a shared secret only verifies HS256, \
                     HS384 and HS512 (use jwks_url for {alg})"
                )),
                Some(JwtKeySource::JwksUrl(_)) if hmac => Some(format!(
                    "{alg} cannot be used with jwks_url: allowing an HMAC algorithm next to \
                     public keys invites algorithm confusion (a token signed with HMAC using \
                     the public key as the secret would verify); use secret for {alg}"
                )),
                _ => None,
            };
            if let Some(problem) = problem {
                errors.add(&at, problem);
                return None;
            }
            seen.push(alg);
            Some(alg.to_owned())
        })
        .collect()
}

/// One algorithm name, matched case-insensitively; `none` is refused outright.
fn algorithm(text: &str) -> Result<&'static str, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Err(
            "algorithm \"none\" is refused: it marks an unsigned token, which anyone can forge"
                .to_owned(),
        );
    }
    if let Some(alg) = JWT_ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(text)) {
        return Ok(alg);
    }
    let expected = JWT_ALGORITHMS.join(", ");
    if let Some(alg) = UNSUPPORTED_JWT_ALGORITHMS
        .iter()
        .find(|a| a.eq_ignore_ascii_case(text))
    {
        // A real algorithm: a "did you mean" a typo away (ES512 -> PS512) would mislead.
        return Err(format!(
            "algorithm {alg} is not supported, expected one of: {expected}"
        ));
    }
    // Compared upper-cased, suggested in the stored spelling (`EdDSA`).
    let upper: Vec<String> = JWT_ALGORITHMS
        .iter()
        .map(|a| a.to_ascii_uppercase())
        .collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    let hint = raw::closest(&text.to_ascii_uppercase(), &upper)
        .and_then(|u| JWT_ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(u)))
        .map(|a| format!(" (did you mean {a:?}?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown algorithm {text:?}{hint}, expected one of: {expected}"
    ))
}

/// `audience`: one value or a non-empty list of them, each non-blank.
fn audience(value: Option<Value>, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    let items: Vec<(String, Value)> = match value {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Sequence(items)) if items.is_empty() => {
            errors.add(
                path,
                "must not be empty (leave it out to accept any audience)",
            );
            return None;
        }
        Some(Value::Sequence(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (error::index(path, i), v))
            .collect(),
        Some(single) => vec![(path.to_owned(), single)],
    };
    let parsed: Vec<Option<String>> = items
        .into_iter()
        .map(|(at, item)| match Scalar::from_value(&item) {
            Some(Scalar(text)) => errors.check(&at, not_empty(text)),
            None => {
                errors.add(
                    &at,
                    format!("expected a single value, found {}", kind(&item)),
                );
                None
            }
        })
        .collect();
    parsed.into_iter().collect()
}

/// `forward_claims: {claim.path: header-name}` and `forward_token_info: {field:
/// header-name}`: each key (a `what`, checked by `check`) names a header, lower-cased; each
/// header is set from one key only.
fn forward_headers(
    map: Option<Mapping>,
    path: &str,
    what: &str,
    check: fn(&str) -> Result<String, String>,
    errors: &mut Errors,
) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut ok = true;
    for (k, v) in map.into_iter().flatten() {
        let at = error::key(path, &key_text(&k));
        let source = match k.as_str() {
            Some(name) => errors.check(&at, check(name)),
            None => {
                errors.add(&at, format!("{what} names must be strings"));
                None
            }
        };
        let header = match Scalar::from_value(&v) {
            Some(Scalar(name)) => errors.check(
                &at,
                http::header_name(&name).map(|h| h.to_ascii_lowercase()),
            ),
            None => {
                errors.add(&at, format!("expected a header name, found {}", kind(&v)));
                None
            }
        };
        match (source, header) {
            (Some(source), Some(header)) => {
                if let Some((first, _)) = out.iter().find(|(_, h)| *h == header) {
                    errors.add(
                        &at,
                        format!("header {header} is already set from {what} {first}"),
                    );
                    ok = false;
                } else {
                    out.push((source, header));
                }
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `required_claims: {claim: value}`; values are single values, kept as text.
fn required_claims(
    map: Option<Mapping>,
    path: &str,
    errors: &mut Errors,
) -> Option<Vec<(String, String)>> {
    let parsed: Vec<Option<(String, String)>> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let at = error::key(path, &key_text(&k));
            let claim = match k.as_str() {
                Some(claim) => errors.check(&at, claim_path(claim)),
                None => {
                    errors.add(&at, "claim names must be strings");
                    None
                }
            };
            let value = match Scalar::from_value(&v) {
                Some(Scalar(text)) => Some(text),
                None => {
                    errors.add(&at, format!("expected a single value, found {}", kind(&v)));
                    None
                }
            };
            Some((claim?, value?))
        })
        .collect();
    parsed.into_iter().collect()
}

/// A header name at `path`, lower-cased; `default` when absent.
pub(crate) fn lower_header(
    field: Option<Scalar>,
    path: &str,
    default: &str,
    errors: &mut Errors,
) -> Option<String> {
    match field {
        Some(Scalar(name)) => errors.check(
            path,
            http::header_name(&name).map(|h| h.to_ascii_lowercase()),
        ),
        None => Some(default.to_owned()),
    }
}

/// An optional field checked by `check`: `Some(None)` when absent, `None` when invalid.
fn optional(
    field: Option<Scalar>,
    path: &str,
    check: impl Fn(&str) -> Result<String, String>,
    errors: &mut Errors,
) -> Option<Option<String>> {
    match field {
        Some(Scalar(text)) => errors.check(path, check(&text)).map(Some),
        None => Some(None),
    }
}

fn not_empty(text: String) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(text)
    }
}

/// A claim name, or a path into nested objects with `.` between names
/// (`realm_access.roles`).
pub(crate) fn claim_path(text: &str) -> Result<String, String> {
    if text.is_empty() || text.split('.').any(str::is_empty) {
        return Err(format!(
            "invalid claim path {text:?} (expected names separated by '.', \
             e.g. realm_access.roles)"
        ));
    }
    Ok(text.to_owned())
}

/// A field of an introspection response, used as written: RFC 7662 responses are flat
/// objects, so no path syntax applies.
fn token_field(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(format!(
            "invalid field name {text:?} (expected a field of the introspection response, \
             e.g. sub)"
        ));
    }
    Ok(text.to_owned())
}

/// `client_id`: sent as the user name of HTTP Basic credentials to the introspection
/// endpoint.
fn client_id(text: String) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "client_id {text:?} must not contain control characters"
        ));
    }
    if text.contains(':') {
        return Err(format!(
            "client_id {text:?} must not contain ':' (it is sent in HTTP Basic credentials, \
             which are split at the first ':')"
        ));
    }
    Ok(text)
}

/// `required_scopes`: each a non-blank scope token, listed once.
fn scopes(list: Option<Vec<Scalar>>, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, Scalar(scope)) in list.unwrap_or_default().into_iter().enumerate() {
        let problem = if scope.trim().is_empty() {
            Some("must not be empty".to_owned())
        } else if scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some(format!(
                "scope {scope:?} must not contain whitespace or control characters \
                 (list each scope as its own entry)"
            ))
        } else if out.contains(&scope) {
            Some(format!("scope {scope:?} is listed twice"))
        } else {
            None
        };
        match problem {
            Some(problem) => {
                errors.add(&error::index(path, i), problem);
                ok = false;
            }
            None => out.push(scope),
        }
    }
    ok.then_some(out)
}

/// `token_prefix`: an auth scheme (a token, e.g. `Bearer`), or empty for a bare token.
fn token_prefix(text: String) -> Result<String, String> {
    if text.is_empty() || http::is_token(&text) {
        Ok(text)
    } else {
        Err(format!(
            "invalid token_prefix {text:?} (expected an auth scheme such as Bearer, \
             or \"\" when the header holds the bare token)"
        ))
    }
}

/// A query parameter name: characters that would end or split it in a query are refused.
pub(crate) fn query_param(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text
            .chars()
            .any(|c| "&=#?+".contains(c) || c.is_whitespace() || c.is_control())
    {
        return Err(format!("invalid query parameter name {text:?}"));
    }
    Ok(text.to_owned())
}

/// A cookie name: an RFC 6265 token.
pub(crate) fn cookie_name(text: &str) -> Result<String, String> {
    if http::is_token(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("invalid cookie name {text:?}"))
    }
}

/// `realm` is sent as a quoted string in `WWW-Authenticate`.
fn realm_text(text: String) -> Result<String, String> {
    if text.contains('"') || text.chars().any(char::is_control) {
        return Err(format!(
            "realm {text:?} must not contain '\"' or control characters such as CR and LF \
             (it is sent quoted in WWW-Authenticate)"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        assert_eq!(algorithm("hs256"), Ok("HS256"));
        assert_eq!(algorithm("eddsa"), Ok("EdDSA"));
        assert_eq!(algorithm(" Es384 "), Ok("ES384"));
        assert_eq!(
            algorithm("None"),
            Err(
                "algorithm \"none\" is refused: it marks an unsigned token, which anyone can forge"
                    .into()
            )
        );
        assert_eq!(
            algorithm("HS257"),
            Err(
                "unknown algorithm \"HS257\" (did you mean \"HS256\"?), expected one of: \
                 HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, \
                 EdDSA"
                    .into()
            )
        );
        assert!(algorithm("eddas")
            .unwrap_err()
            .contains("(did you mean \"EdDSA\"?)"));
        assert_eq!(
            algorithm("es512"),
            Err(
                "algorithm ES512 is not supported, expected one of: HS256, HS384, HS512, \
                 RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                    .into()
            )
        );
    }

    #[test]
    fn small_syntaxes() {
        assert_eq!(
            claim_path("realm_access.roles"),
            Ok("realm_access.roles".into())
        );
        for bad in ["", ".a", "a.", "a..b"] {
            assert!(claim_path(bad).is_err(), "{bad}");
        }
        assert_eq!(token_prefix(String::new()), Ok(String::new()));
        assert!(token_prefix("Bearer ".into()).is_err());
        assert_eq!(query_param("access_token"), Ok("access_token".into()));
        for bad in ["", "a&b", "a=b", "a b", "a#"] {
            assert!(query_param(bad).is_err(), "{bad}");
        }
        assert!(cookie_name("a;b").is_err());
        assert_eq!(realm_text("my realm".into()), Ok("my realm".into()));
        assert!(realm_text("a\"b".into()).is_err());
        assert!(realm_text("a\r\nb".into()).is_err());
    }

    #[test]
    fn jwks_urls_keep_the_path() {
        let url =
            jwks_url("http://IdP.local:8080/realms/x/protocol/openid-connect/certs/").unwrap();
        assert_eq!(
            url,
            TargetUrl {
                scheme: "http".into(),
                host: "idp.local".into(),
                port: 8080,
                path_prefix: "/realms/x/protocol/openid-connect/certs/".into(),
            }
        );
        for bad in ["http://idp", "http://idp/"] {
            assert!(
                jwks_url(bad)
                    .unwrap_err()
                    .contains("needs the path of the JWKS document"),
                "{bad}"
            );
        }
        assert_eq!(
            jwks_url("http://idp/jwks?x=1"),
            Err(
                "invalid jwks_url \"http://idp/jwks?x=1\": a query or fragment is not allowed"
                    .into()
            )
        );
        assert_eq!(
            jwks_url("https://idp/jwks"),
            Err("https jwks_url is not supported yet (TLS is planned)".into())
        );
        assert_eq!(
            jwks_url("http://idp/a/../jwks"),
            Err(
                "invalid jwks_url \"http://idp/a/../jwks\": path \"/a/../jwks\" must not \
                 contain '.' or '..' segments"
                    .into()
            )
        );
    }
}
