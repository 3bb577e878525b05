//! Config -> compiled auth: `jwt-auth` with its key sets, the JWKS and introspection
//! endpoints every shard fetches, and the `http-callout` targets that share those side calls.

use std::collections::HashMap;

use bytes::Bytes;

use sluice_config::{Config, JwtKeySource, PolicyKind};
use sluice_policies::{JwtAuth, JwtKeys};

use super::{all_policies, compile_target, required_value, CompileError, Resolver};
use crate::FetchTarget;

pub(super) fn compile_jwt(o: &sluice_config::JwtAuthOptions) -> Result<JwtAuth, CompileError> {
    use sluice_policies::jwt::{Alg, KeySet, Validation};
    let allowed: Vec<Alg> = o
        .algorithms
        .iter()
        .filter_map(|a| Alg::from_name(a))
        .collect();
    let (keys, cache_key) = match &o.keys {
        JwtKeySource::Secret(secret) => {
            let set = KeySet::hmac(secret.as_bytes().to_vec()).map_err(|e| CompileError {
                path: "secret".into(),
                message: e.to_string(),
            })?;
            // Ops with the same secret and algorithms may share verified tokens; the digest
            // keeps the secret itself out of the key.
            let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
            let hex: String = digest.as_ref()[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (
                JwtKeys::Static(std::sync::Arc::new(set)),
                format!("secret:{hex}:{:?}", o.algorithms),
            )
        }
        JwtKeySource::JwksUrl(t) => {
            let url = jwks_url(t);
            (
                JwtKeys::Jwks {
                    url: url.clone(),
                    ttl: o.jwks_cache_ttl,
                },
                sluice_policies::jwt_auth::jwks_cache_key(&url, &o.algorithms.join(",")),
            )
        }
    };
    Ok(JwtAuth {
        cache_key,
        keys,
        allowed,
        validation: Validation {
            issuer: o.issuer.clone(),
            audience: o.audience.clone(),
            clock_skew: o.clock_skew.as_secs(),
            require_exp: o.require_exp,
            required_claims: o
                .required_claims
                .iter()
                .map(|(k, v)| (k.clone(), required_value(v)))
                .collect(),
        },
        header_name: o.header_name.clone(),
        token_prefix: o.token_prefix.clone(),
        query_param: o.query_param.clone(),
        cookie: o.cookie.clone(),
        forward_claims: o
            .forward_claims
            .iter()
            .map(|(claim, header)| (claim.clone(), Bytes::from(header.to_ascii_lowercase())))
            .collect(),
    })
}

/// The URL string a JWKS target is known by (the key of `Snapshot::jwks` and of shard state).
pub(super) fn jwks_url(t: &sluice_config::TargetUrl) -> String {
    format!("{}://{}:{}{}", t.scheme, t.host, t.port, t.path_prefix)
}

/// A side-call endpoint: resolved like an upstream target, requesting the URL's path.
pub(super) fn fetch_target(
    url: &sluice_config::TargetUrl,
    at: &str,
    timeout: std::time::Duration,
    authorization: Option<String>,
    resolver: &Resolver,
) -> Result<FetchTarget, CompileError> {
    let t = compile_target(url, at, resolver)?;
    Ok(FetchTarget {
        addrs: t.addrs,
        authority: String::from_utf8_lossy(&t.authority).into_owned(),
        path: if url.path_prefix.is_empty() {
            "/".into()
        } else {
            url.path_prefix.clone()
        },
        timeout,
        authorization,
    })
}

/// Every `jwks_url` in the config, resolved once.
pub(super) fn collect_jwks(
    cfg: &Config,
    errors: &mut Vec<CompileError>,
    resolver: &Resolver,
) -> HashMap<String, FetchTarget> {
    let mut out = HashMap::new();
    for p in all_policies(cfg) {
        let PolicyKind::JwtAuth(o) = &p.kind else {
            continue;
        };
        let JwtKeySource::JwksUrl(t) = &o.keys else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = out.entry(jwks_url(t)) {
            match fetch_target(
                t,
                &format!("{}.jwks_url", p.field_path),
                o.jwks_timeout,
                None,
                resolver,
            ) {
                Ok(f) => {
                    slot.insert(f);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    out
}

/// The key an `oauth2` op's endpoint and cache entries go by: URL and client id, since two
/// clients of one endpoint may see different answers.
pub(super) fn oauth2_key(o: &sluice_config::OAuth2Options) -> String {
    format!("{}#{}", jwks_url(&o.introspection_url), o.client_id)
}

pub(super) fn compile_oauth2(o: &sluice_config::OAuth2Options) -> sluice_policies::OAuth2 {
    use sluice_policies::oauth2::TokenSource;
    sluice_policies::OAuth2 {
        cache_key: oauth2_key(o),
        url: jwks_url(&o.introspection_url),
        token_source: match o.token_location {
            sluice_config::TokenLocation::Header => TokenSource::Header,
            sluice_config::TokenLocation::Query => TokenSource::Query,
        },
        required_scopes: o.required_scopes.clone(),
        cache_ttl: o.cache_ttl,
        forward_token_info: o
            .forward_token_info
            .iter()
            .map(|(f, h)| (f.clone(), Bytes::from(h.to_ascii_lowercase())))
            .collect(),
    }
}

/// Every `oauth2` introspection endpoint in the config, resolved once.
pub(super) fn collect_introspection(
    cfg: &Config,
    errors: &mut Vec<CompileError>,
    resolver: &Resolver,
) -> HashMap<String, FetchTarget> {
    use base64::Engine as _;
    let mut out = HashMap::new();
    for p in all_policies(cfg) {
        let (key, target) = match &p.kind {
            PolicyKind::HttpCallout(o) => (
                callout_key(o),
                fetch_target(
                    &o.url,
                    &format!("{}.url", p.field_path),
                    o.timeout,
                    None,
                    resolver,
                ),
            ),
            PolicyKind::OAuth2(o) => {
                // RFC 7662 section 2.1: the gateway authenticates as an OAuth client.
                let creds = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", o.client_id, o.client_secret));
                let at = format!("{}.introspection_url", p.field_path);
                let auth = Some(format!("Basic {creds}"));
                (
                    oauth2_key(o),
                    fetch_target(&o.introspection_url, &at, o.timeout, auth, resolver),
                )
            }
            _ => continue,
        };
        if out.contains_key(&key) {
            continue;
        }
        match target {
            Ok(t) => {
                out.insert(key, t);
            }
            Err(e) => errors.push(e),
        }
    }
    out
}

/// The side-target key of an `http-callout` endpoint.
pub(super) fn callout_key(o: &sluice_config::HttpCalloutOptions) -> String {
    format!("callout:{}", jwks_url(&o.url))
}
