//! `geo-ip-filter`: allow or deny clients by country, with 403 `geo_denied`.
//!
//! Phase: [`GeoIpFilter::on_request`] only.
//!
//! The country comes from one [`CountrySource`]:
//! - a request header (`country_header`, default `cf-ipcountry`) set by a CDN in front.
//!   Only use it behind a proxy that sets or strips that header: otherwise the client
//!   picks its own country;
//! - or a MaxMind DB (GeoIP2 / GeoLite2 Country or City), looked up by client address:
//!   `country.iso_code`, else `registered_country.iso_code` (set for anonymous and
//!   satellite ranges that have no located country). The file is read once at compile
//!   time ([`CountrySource::open_mmdb`]) and shared by every shard.
//!
//! Codes are ISO 3166-1 alpha-2, compared ignoring case; Cloudflare's special values such as
//! `XX` (no data) and `T1` (Tor) are ordinary codes and may be listed. A country that cannot
//! be found (no header, a malformed value, an address not in the DB, an IPv6 client on an
//! IPv4-only DB) is *unknown*: allowed in deny mode (nothing says it is denied) and refused
//! in allow mode (nothing says it is allowed).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use maxminddb::{path, Reader};
use sluice_codec::Headers;

use crate::ip_filter::forwarded_client;
use crate::Reject;

/// A loaded MaxMind DB, shared between shards and programs.
pub type GeoDb = Arc<Reader<Vec<u8>>>;

/// Where the client's country comes from.
#[derive(Clone)]
pub enum CountrySource {
    /// A request header, by name (compared ignoring case).
    Header(String),
    /// A MaxMind DB lookup of the client address.
    Mmdb(GeoDb),
}

/// Options of `geo-ip-filter`, as the config gives them.
#[derive(Debug, Clone)]
pub struct GeoIpOptions {
    /// Country codes that pass. Default empty.
    pub allow: Vec<String>,
    /// Country codes that are refused. Default empty.
    pub deny: Vec<String>,
    /// `true` for `mode: allow` (only `allow` passes); `false` (default) for `mode: deny`.
    pub allow_mode: bool,
    /// Default `Header("cf-ipcountry")`.
    pub source: CountrySource,
    /// With a MaxMind DB, look up the first `X-Forwarded-For` hop instead of the peer.
    /// Default false: any client could send that header.
    pub trust_forwarded: bool,
}

/// Compiled `geo-ip-filter`.
#[derive(Debug, Clone)]
pub struct GeoIpFilter {
    /// Upper-case codes.
    allow: Vec<[u8; 2]>,
    deny: Vec<[u8; 2]>,
    allow_mode: bool,
    source: CountrySource,
    trust_forwarded: bool,
}

impl std::fmt::Debug for CountrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CountrySource::Header(name) => f.debug_tuple("Header").field(name).finish(),
            // The reader's own Debug would print the whole metadata.
            CountrySource::Mmdb(db) => f
                .debug_tuple("Mmdb")
                .field(&db.metadata().database_type)
                .finish(),
        }
    }
}

impl Default for GeoIpOptions {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            allow_mode: false,
            source: CountrySource::Header("cf-ipcountry".into()),
            trust_forwarded: false,
        }
    }
}

impl CountrySource {
    /// Reads a MaxMind DB file into memory (for `mmdb_path`). The error names the file
    /// and says what is wrong with it, for the config loader to report.
    pub fn open_mmdb(path: impl AsRef<Path>) -> Result<GeoDb, String> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| format!("geo-ip-filter: cannot read {}: {e}", path.display()))?;
        Self::mmdb_from_bytes(bytes).map_err(|e| format!("geo-ip-filter: {}: {e}", path.display()))
    }

    /// Parses a MaxMind DB already in memory. The error says what is wrong with it.
    pub fn mmdb_from_bytes(bytes: Vec<u8>) -> Result<GeoDb, String> {
        let reader = Reader::from_source(bytes).map_err(|e| e.to_string())?;
        Ok(Arc::new(reader))
    }
}

impl GeoIpFilter {
    /// Compiles the options. Errors name a code that is not two ASCII letters or digits.
    pub fn new(options: GeoIpOptions) -> Result<Self, String> {
        let codes = |list: &[String]| -> Result<Vec<[u8; 2]>, String> {
            list.iter()
                .map(|c| {
                    parse_code(c.as_bytes()).ok_or_else(|| {
                        format!("geo-ip-filter: `{c}` is not a two-letter country code")
                    })
                })
                .collect()
        };
        Ok(Self {
            allow: codes(&options.allow)?,
            deny: codes(&options.deny)?,
            allow_mode: options.allow_mode,
            source: options.source,
            trust_forwarded: options.trust_forwarded,
        })
    }

    /// The client's upper-case country code, or `None` when unknown.
    pub fn country(&self, peer: IpAddr, headers: &Headers) -> Option<[u8; 2]> {
        match &self.source {
            CountrySource::Header(name) => parse_code(headers.get(name)?.trim_ascii()),
            CountrySource::Mmdb(db) => {
                let client = if self.trust_forwarded {
                    forwarded_client(headers).unwrap_or(peer)
                } else {
                    peer
                };
                lookup(db, canonical(client))
            }
        }
    }

    /// Request phase: `Err` with 403 `geo_denied` when the client's country may not pass.
    ///
    /// As in `ip-filter`, in deny mode an `allow` entry overrides a `deny` entry, and in
    /// allow mode only `allow` entries pass and `deny` still refuses inside them. Unknown
    /// countries: see the module docs.
    pub fn on_request(&self, peer: IpAddr, headers: &Headers) -> Result<(), Reject> {
        let country = self.country(peer, headers);
        let allowed = country.is_some_and(|c| self.allow.contains(&c));
        let denied = country.is_some_and(|c| self.deny.contains(&c));
        let pass = if self.allow_mode {
            allowed && !denied
        } else {
            allowed || !denied
        };
        if pass {
            Ok(())
        } else {
            Err(Reject::new(
                403,
                "geo_denied",
                "Access from your country is not allowed",
            ))
        }
    }
}

/// The country of `ip` in `db`, if the DB has one for it.
fn lookup(db: &Reader<Vec<u8>>, ip: IpAddr) -> Option<[u8; 2]> {
    let found = db.lookup(ip).ok()?;
    for field in ["country", "registered_country"] {
        if let Ok(Some(code)) = found.decode_path::<&str>(&path![field, "iso_code"]) {
            return parse_code(code.as_bytes());
        }
    }
    None
}

/// Two ASCII letters or digits, upper-cased.
fn parse_code(code: &[u8]) -> Option<[u8; 2]> {
    match code {
        [a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are looked up as IPv4, which also lets
/// them work with IPv4-only databases.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;
