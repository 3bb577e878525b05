//! Raw top level -> [`Config`]: required fields, defaults, and the top-level settings.
//!
//! Every function records what is wrong and goes on, returning `None` for a part it could not
//! build; the caller only assembles a [`Config`] when nothing was recorded.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_yaml_ng::Value;

use crate::error::{self, Errors};
use crate::guards::flag;
use crate::model::{Config, Limits, ShardsSpec};
use crate::observability::{self, Listen};
use crate::raw::{self, kind, RawConfig, RawLimits, Scalar};
use crate::{consumer, http, policy, route};

/// `listen` when absent.
const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
const DEFAULT_REQUEST_ID_HEADER: &str = "x-request-id";
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Ceiling of `limits.max_headers`: the codec parses into a caller-provided header array
/// (httparse style, see STYLE.md), so the limit needs a fixed upper bound.
const MAX_HEADERS_CAP: usize = 256;
/// Linux's `cpu_set_t` holds CPUs 0..1024 (`CPU_SETSIZE`); it also caps how many shards a
/// typo can ask for.
const MAX_CPUS: usize = 1024;

/// Validates the whole (already env-substituted) document.
pub(crate) fn config(root: Value, errors: &mut Errors) -> Option<Config> {
    let raw: RawConfig = raw::object(root, "", &[], errors)?;
    let name = required(raw.name, "", "name", errors).and_then(|name| {
        if name.0.trim().is_empty() {
            errors.add("name", "must not be empty");
            None
        } else {
            Some(name.0)
        }
    });
    let base_path = match raw.base_path {
        Some(text) => errors.check("base_path", http::prefix(&text.0)),
        None => Some(None),
    };
    let listen_defaulted = matches!(raw.listen, None | Some(Value::Null));
    let listen = listen(raw.listen, errors);
    let shards = match raw.shards {
        Some(text) => errors.check("shards", shards(&text.0)),
        None => Some(ShardsSpec::Auto),
    };
    let request_id_header = match raw.request_id_header {
        Some(text) => errors.check(
            "request_id_header",
            http::header_name(&text.0).map(|h| h.to_ascii_lowercase()),
        ),
        None => Some(DEFAULT_REQUEST_ID_HEADER.to_owned()),
    };
    let shutdown_timeout = duration(
        raw.shutdown_timeout,
        "shutdown_timeout",
        DEFAULT_SHUTDOWN_TIMEOUT,
        errors,
    );
    let limits = limits(raw.limits, errors);
    let policies = policy::list(raw.policies, "policies", errors);
    let routes = match raw.routes {
        Some(value) => route::list(value, "routes", errors),
        None => {
            errors.add("", "missing required field \"routes\"");
            None
        }
    };
    let consumers = consumer::list(raw.consumers, "consumers", errors);
    let admin = match raw.admin {
        None | Some(Value::Null) => Some(None),
        Some(value) => {
            let listen = listen.as_deref().map(|addrs| Listen {
                addrs,
                defaulted: listen_defaulted,
            });
            observability::admin(value, "admin", listen, errors).map(Some)
        }
    };
    let debug_headers = flag(raw.debug_headers, "debug_headers", false, errors);
    if let Some(consumers) = &consumers {
        // Judged on what parsed: the global list even when a route failed, and nothing when
        // the consumers did not parse (a half-read list could only give false alarms).
        let route_policies = routes.iter().flatten().map(|r| &r.policies[..]);
        for list in policies.as_deref().into_iter().chain(route_policies) {
            consumer::check_policies(list, consumers, errors);
        }
    }
    Some(Config {
        name: name?,
        base_path: base_path?,
        listen: listen?.into_iter().map(|(_, addr)| addr).collect(),
        shards: shards?,
        request_id_header: request_id_header?,
        shutdown_timeout: shutdown_timeout?,
        limits: limits?,
        policies: policies?,
        routes: routes?,
        consumers: consumers?,
        admin: admin?,
        debug_headers: debug_headers?,
    })
}

/// A required field of the object at `parent`, or a `missing required field` error there.
pub(crate) fn required<T>(
    field: Option<T>,
    parent: &str,
    name: &str,
    errors: &mut Errors,
) -> Option<T> {
    if field.is_none() {
        errors.add(parent, format!("missing required field {name:?}"));
    }
    field
}

/// An optional duration at `path`, `default` when absent.
pub(crate) fn duration(
    field: Option<Scalar>,
    path: &str,
    default: Duration,
    errors: &mut Errors,
) -> Option<Duration> {
    match field {
        Some(text) => errors.check(path, text.duration()),
        None => Some(default),
    }
}

/// An optional duration at `path` that must not be zero (a zero timeout fails everything).
pub(crate) fn positive_duration(
    field: Option<Scalar>,
    path: &str,
    default: Duration,
    errors: &mut Errors,
) -> Option<Duration> {
    let value = duration(field, path, default, errors)?;
    if value.is_zero() {
        errors.add(path, "must be greater than 0");
        return None;
    }
    Some(value)
}

/// An optional integer at `path` that must be at least 1, `default` when absent.
pub(crate) fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(
    field: Option<Scalar>,
    path: &str,
    default: T,
    errors: &mut Errors,
) -> Option<T> {
    let Some(text) = field else {
        return Some(default);
    };
    let value: T = errors.check(path, text.integer())?;
    if value < T::from(1) {
        errors.add(path, "must be greater than 0");
        return None;
    }
    Some(value)
}

fn limits(value: Option<Value>, errors: &mut Errors) -> Option<Limits> {
    let Some(value) = value else {
        return Some(Limits::default());
    };
    let raw: RawLimits = raw::object(value, "limits", &[], errors)?;
    let d = Limits::default();
    let max_header_bytes = positive(
        raw.max_header_bytes,
        "limits.max_header_bytes",
        d.max_header_bytes,
        errors,
    );
    let max_headers = positive(raw.max_headers, "limits.max_headers", d.max_headers, errors)
        .filter(|&n| {
            let ok = n <= MAX_HEADERS_CAP;
            if !ok {
                errors.add(
                    "limits.max_headers",
                    format!("must be at most {MAX_HEADERS_CAP}"),
                );
            }
            ok
        });
    let max_body_bytes = positive(
        raw.max_body_bytes,
        "limits.max_body_bytes",
        d.max_body_bytes,
        errors,
    );
    let header_timeout = positive_duration(
        raw.header_timeout,
        "limits.header_timeout",
        d.header_timeout,
        errors,
    );
    let idle_timeout = positive_duration(
        raw.idle_timeout,
        "limits.idle_timeout",
        d.idle_timeout,
        errors,
    );
    let max_connections_per_shard = positive(
        raw.max_connections_per_shard,
        "limits.max_connections_per_shard",
        d.max_connections_per_shard,
        errors,
    );
    Some(Limits {
        max_header_bytes: max_header_bytes?,
        max_headers: max_headers?,
        max_body_bytes: max_body_bytes?,
        header_timeout: header_timeout?,
        idle_timeout: idle_timeout?,
        max_connections_per_shard: max_connections_per_shard?,
    })
}

/// `listen`: one address or a list, each at most once; each with its field path (`listen`
/// for the default and a single address, `listen[i]` in a list).
fn listen(value: Option<Value>, errors: &mut Errors) -> Option<Vec<(String, SocketAddr)>> {
    let items: Vec<(String, Value)> = match value {
        None | Some(Value::Null) => return Some(vec![("listen".to_owned(), DEFAULT_LISTEN)]),
        Some(Value::Sequence(items)) if items.is_empty() => {
            errors.add("listen", "needs at least one address");
            return None;
        }
        Some(Value::Sequence(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (error::index("listen", i), v))
            .collect(),
        Some(single) => vec![("listen".to_owned(), single)],
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (at, item) in items {
        let addr = match &item {
            Value::String(text) => errors.check(&at, socket_addr(text)),
            other => {
                errors.add(
                    &at,
                    format!(
                        "expected an address like \"127.0.0.1:8080\", found {}",
                        kind(other)
                    ),
                );
                None
            }
        };
        match addr {
            Some(addr) if out.iter().any(|(_, a)| *a == addr) => {
                errors.add(&at, format!("{addr} is listed twice"));
                ok = false;
            }
            Some(addr) => out.push((at, addr)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `host:port` where host is an IP literal (IPv6 in brackets) or `localhost`. Other names are
/// refused: binding must not depend on DNS at start-up.
pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
        }
    }
    Err(format!(
        "invalid listen address {text:?} \
         (expected IP:port or localhost:port, e.g. 127.0.0.1:8080 or [::1]:8080)"
    ))
}

/// `auto`, a shard count, or a CPU list like `0-3,8`.
///
/// Digits alone are always a count, quoted or not, so `${SHARDS}` set to `4` means four
/// shards; pin one shard to CPU 4 with `4-4`.
pub(crate) fn shards(text: &str) -> Result<ShardsSpec, String> {
    let text = text.trim();
    let invalid = || {
        format!(
            "invalid shards {text:?} (expected auto, a shard count, or a CPU list like \"0-3,8\")"
        )
    };
    if text == "auto" {
        return Ok(ShardsSpec::Auto);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<usize>() {
            Ok(0) => Err("shards must be at least 1".to_owned()),
            Ok(n) if n <= MAX_CPUS => Ok(ShardsSpec::Count(n)),
            _ => Err(format!("shards must be at most {MAX_CPUS}")),
        };
    }
    let cpu = |s: &str| -> Result<usize, String> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match s.parse::<usize>() {
            Ok(n) if n < MAX_CPUS => Ok(n),
            _ => Err(format!(
                "CPU {s} in shards is beyond the last CPU Linux can address ({})",
                MAX_CPUS - 1
            )),
        }
    };
    let mut cpus = Vec::new();
    for item in text.split(',') {
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (cpu(a)?, cpu(b)?),
            None => {
                let n = cpu(item)?;
                (n, n)
            }
        };
        if first > last {
            return Err(format!(
                "CPU range {:?} in shards runs backwards",
                item.trim()
            ));
        }
        for n in first..=last {
            if cpus.contains(&n) {
                return Err(format!("CPU {n} appears twice in shards {text:?}"));
            }
            cpus.push(n);
        }
    }
    Ok(ShardsSpec::Cpus(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_forms() {
        assert_eq!(shards("auto"), Ok(ShardsSpec::Auto));
        assert_eq!(shards("4"), Ok(ShardsSpec::Count(4)));
        assert_eq!(shards("0-3,8"), Ok(ShardsSpec::Cpus(vec![0, 1, 2, 3, 8])));
        assert_eq!(shards(" 5 , 2-2"), Ok(ShardsSpec::Cpus(vec![5, 2])));
        assert_eq!(shards("0"), Err("shards must be at least 1".into()));
        assert_eq!(
            shards("0-3,2"),
            Err("CPU 2 appears twice in shards \"0-3,2\"".into())
        );
        assert_eq!(
            shards("3-1"),
            Err("CPU range \"3-1\" in shards runs backwards".into())
        );
        for bad in ["", "a", "1,", "-1", "1-", "1-2-3", "all"] {
            assert!(
                shards(bad).unwrap_err().starts_with("invalid shards"),
                "{bad}"
            );
        }
        assert!(shards("5000").is_err());
        assert!(shards("0-99999999999").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            socket_addr("localhost:80"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        assert_eq!(socket_addr("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert_eq!(
            socket_addr("0.0.0.0:0"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 0)))
        );
        assert!(socket_addr("example.com:80").is_err());
        assert!(socket_addr("127.0.0.1").is_err());
        assert!(socket_addr("::1:80").is_err());
    }
}
