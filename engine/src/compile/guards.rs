//! Config -> compiled structs for `cors` and the request guards.

use sluice_codec::Method;
use sluice_config::{
    CorsOptions, CorsOrigins, GeoIpOptions, IpFilterMode, JsonThreatOptions, OverrideMethodOptions,
    RegexThreatOptions, SslEnforceOptions, ThreatTarget,
};
use sluice_policies::cors::{self, Cors, Origins};
use sluice_policies::geo_ip::{CountrySource, GeoIpFilter};
use sluice_policies::json_threat::{self, JsonThreat};
use sluice_policies::override_method::OverrideMethod;
use sluice_policies::regex_threat::{self, RegexThreat, Target};
use sluice_policies::ssl_enforce::{self, SslEnforce};

pub(super) fn cors(o: &CorsOptions) -> Result<Cors, String> {
    let origins = match &o.origins {
        CorsOrigins::Any => Origins::Any,
        CorsOrigins::List(list) => Origins::List(list.clone()),
        // Already anchored by the config loader; anchoring again is harmless.
        CorsOrigins::Patterns(res) => {
            Origins::patterns(res.iter().map(|r| r.as_str())).map_err(|e| e.to_string())?
        }
    };
    Cors::new(cors::CorsOptions {
        origins,
        methods: methods(&o.methods),
        allowed_headers: o.allowed_headers.clone(),
        exposed_headers: o.exposed_headers.clone(),
        credentials: o.credentials,
        max_age: o.max_age,
        preflight: o.preflight,
    })
}

pub(super) fn ssl_enforce(o: &SslEnforceOptions) -> SslEnforce {
    SslEnforce::new(ssl_enforce::SslEnforceOptions {
        redirect: o.redirect,
        max_age: o.hsts_max_age,
        include_subdomains: o.include_subdomains,
        preload: o.preload,
        trust_forwarded: o.trust_forwarded,
    })
}

pub(super) fn override_method(o: &OverrideMethodOptions) -> OverrideMethod {
    OverrideMethod {
        header: o.header.clone(),
        allowed_methods: methods(&o.allowed_methods),
    }
}

pub(super) fn json_threat(o: &JsonThreatOptions) -> JsonThreat {
    let mut content_types = o.content_types.clone();
    // `+json` media types (application/problem+json, ...) are JSON too.
    if !content_types.iter().any(|c| c == "+json") {
        content_types.push("+json".into());
    }
    JsonThreat::new(json_threat::JsonThreatOptions {
        max_depth: o.max_depth,
        max_keys: o.max_keys,
        max_string_length: o.max_string_length,
        max_array_size: o.max_array_size,
        max_body_bytes: o.max_body_bytes,
        content_types,
    })
}

pub(super) fn regex_threat(o: &RegexThreatOptions) -> Result<RegexThreat, String> {
    RegexThreat::new(regex_threat::RegexThreatOptions {
        patterns: o
            .patterns
            .iter()
            .map(|p| regex_threat::ThreatPattern {
                regex: p.regex.as_str().to_owned(),
                targets: p
                    .targets
                    .iter()
                    .map(|t| match t {
                        ThreatTarget::Path => Target::Path,
                        ThreatTarget::Query => Target::Query,
                        ThreatTarget::Headers => Target::Headers,
                        ThreatTarget::Body => Target::Body,
                    })
                    .collect(),
                message: p.message.clone(),
            })
            .collect(),
        max_body_scan_bytes: o.max_body_scan_bytes,
    })
}

pub(super) fn geo_ip(o: &GeoIpOptions) -> Result<GeoIpFilter, String> {
    let source = match &o.mmdb_path {
        Some(path) => CountrySource::Mmdb(CountrySource::open_mmdb(path)?),
        None => CountrySource::Header(o.country_header.clone()),
    };
    GeoIpFilter::new(sluice_policies::geo_ip::GeoIpOptions {
        allow: o.allow.clone(),
        deny: o.deny.clone(),
        allow_mode: o.mode == IpFilterMode::Allow,
        source,
        trust_forwarded: false,
    })
}

fn methods(names: &[String]) -> Vec<Method> {
    names
        .iter()
        .map(|m| Method::from_bytes(m.as_bytes()))
        .collect()
}
