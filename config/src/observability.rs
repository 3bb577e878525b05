//! The admin listener (`admin:` at the top level) and the observability policy
//! `request-log`.

use std::net::{IpAddr, SocketAddr};

use serde_yaml_ng::Value;

use crate::error::{self, Errors};
use crate::guards::{flag, header_names};
use crate::model::{AdminConfig, LogOutput, RequestLogOptions};
use crate::raw::{self, RawAdmin, RawRequestLog, Scalar};
use crate::validate::{positive, required, socket_addr};

const DEFAULT_DATA_DIR: &str = "./sluice-data";
/// Shortest admin token accepted: 16 characters of a random hex or base64 token are 64 or
/// more bits, beyond guessing over the network.
const MIN_TOKEN_CHARS: usize = 16;
const DEFAULT_REDACT_HEADERS: &[&str] = &["authorization", "cookie", "x-api-key"];
const DEFAULT_LOG_BUFFER: usize = 1000;
/// Ceiling of `buffer`: each entry is a whole log line kept in memory.
const MAX_LOG_BUFFER: usize = 100_000;
/// The `output` names, in the order listed in messages.
const LOG_OUTPUTS: &[&str] = &["stdout", "file"];

/// The gateway's `listen` addresses as parsed, for the admin listener's clash check.
pub(crate) struct Listen<'a> {
    /// Each address with its field path (`listen` or `listen[i]`).
    pub addrs: &'a [(String, SocketAddr)],
    /// `listen` was left out, so `addrs` is the default.
    pub defaulted: bool,
}

/// `admin:` at `path`. `listen` is `None` when the gateway's own addresses did not parse:
/// a clash is then not judged (a half-read list could only give false alarms).
pub(crate) fn admin(
    value: Value,
    path: &str,
    listen: Option<Listen<'_>>,
    errors: &mut Errors,
) -> Option<AdminConfig> {
    let raw: RawAdmin = raw::object(value, path, &[], errors)?;
    let at = |field: &str| error::key(path, field);
    let listen_at = at("listen");
    let address = required(raw.listen, path, "listen", errors)
        .and_then(|Scalar(text)| errors.check(&listen_at, socket_addr(&text)))
        .and_then(|addr| match listen.and_then(|l| clash(addr, &l)) {
            Some(message) => {
                errors.add(&listen_at, message);
                None
            }
            None => Some(addr),
        });
    let token = match raw.token {
        Some(Scalar(text)) => errors.check(&at("token"), token(text)),
        None => Some(None),
    };
    let metrics_public = flag(raw.metrics_public, &at("metrics_public"), false, errors);
    let data_dir = match raw.data_dir {
        Some(Scalar(text)) => errors.check(&at("data_dir"), file_path(text)),
        None => Some(DEFAULT_DATA_DIR.to_owned()),
    };
    Some(AdminConfig {
        listen: address?,
        token: token?,
        metrics_public: metrics_public?,
        data_dir: data_dir?,
    })
}

/// Why the admin address `admin` cannot be used next to the gateway's, if it cannot: the
/// same address, or the same port where either side is a wildcard address covering the
/// other. Port 0 never clashes: each bind picks its own free port.
fn clash(admin: SocketAddr, listen: &Listen<'_>) -> Option<String> {
    let covers = |wild: IpAddr, other: IpAddr| {
        // `[::]` also takes IPv4 (dual stack); `0.0.0.0` only IPv4.
        wild.is_unspecified() && (wild.is_ipv6() || other.is_ipv4())
    };
    listen.addrs.iter().find_map(|(at, addr)| {
        if admin.port() == 0 || admin.port() != addr.port() {
            return None;
        }
        let why = if admin.ip() == addr.ip() {
            ""
        } else if covers(addr.ip(), admin.ip()) || covers(admin.ip(), addr.ip()) {
            ", the same port on a wildcard address"
        } else {
            return None;
        };
        let default = if listen.defaulted {
            " (the default when listen is left out)"
        } else {
            ""
        };
        Some(format!(
            "admin listen address {admin} clashes with {at} {addr}{default}{why}; the admin API \
             needs an address of its own"
        ))
    })
}

/// `token`: empty means none (every `/admin/*` endpoint answers 503). The value never
/// appears in a message.
fn token(text: String) -> Result<Option<String>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "must not contain whitespace or control characters (clients send it as \
                    `Authorization: Bearer <token>`)"
                .to_owned(),
        );
    }
    let found = text.chars().count();
    if found < MIN_TOKEN_CHARS {
        return Err(format!(
            "must be at least {MIN_TOKEN_CHARS} characters, found {found}: a short token can be \
             guessed by trying (generate one with e.g. `openssl rand -hex 32`); leave token out \
             or empty to keep /admin closed (503)"
        ));
    }
    Ok(Some(text))
}

/// A file or directory path kept as written: not blank, no control characters.
fn file_path(text: String) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().any(char::is_control) {
        return Err(format!("path {text:?} must not contain control characters"));
    }
    Ok(text)
}

/// `type: request-log` options at `path`.
pub(crate) fn request_log(
    raw: RawRequestLog,
    path: &str,
    errors: &mut Errors,
) -> Option<RequestLogOptions> {
    let at = |field: &str| error::key(path, field);
    let output = match raw.output {
        Some(Scalar(text)) => errors.check(&at("output"), output_name(&text)),
        None => Some("stdout"),
    };
    let file_at = at("file");
    let output = match (output, raw.file) {
        (Some("file"), Some(Scalar(file))) => {
            errors.check(&file_at, file_path(file)).map(LogOutput::File)
        }
        (Some("file"), None) => {
            errors.add(
                path,
                "missing required field \"file\" (output: file writes to it)",
            );
            None
        }
        (Some(other), Some(_)) => {
            errors.add(
                &file_at,
                format!("file only applies to output: file (output here is {other})"),
            );
            None
        }
        (Some(_), None) => Some(LogOutput::Stdout),
        // The output is already reported; the file is still checked on its own.
        (None, Some(Scalar(file))) => {
            errors.check(&file_at, file_path(file));
            None
        }
        (None, None) => None,
    };
    let redact_at = at("redact_headers");
    let redact_headers = match raw.redact_headers {
        Some(list) => header_names(Some(list), &redact_at, true, errors),
        None => Some(
            DEFAULT_REDACT_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
        ),
    };
    let buffer_at = at("buffer");
    let buffer = positive(raw.buffer, &buffer_at, DEFAULT_LOG_BUFFER, errors).filter(|&n| {
        let ok = n <= MAX_LOG_BUFFER;
        if !ok {
            errors.add(&buffer_at, format!("must be at most {MAX_LOG_BUFFER}"));
        }
        ok
    });
    let include_headers = flag(raw.include_headers, &at("include_headers"), false, errors);
    Some(RequestLogOptions {
        output: output?,
        redact_headers: redact_headers?,
        buffer: buffer?,
        include_headers: include_headers?,
    })
}

fn output_name(text: &str) -> Result<&'static str, String> {
    LOG_OUTPUTS
        .iter()
        .find(|o| **o == text)
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown output {text:?}{}, expected one of: {}",
                raw::did_you_mean(text, LOG_OUTPUTS),
                LOG_OUTPUTS.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(addrs: &[&str]) -> Vec<(String, SocketAddr)> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("listen[{i}]"), a.parse().unwrap()))
            .collect()
    }

    fn clashes(admin: &str, addrs: &[&str]) -> bool {
        let addrs = listen(addrs);
        let listen = Listen {
            addrs: &addrs,
            defaulted: false,
        };
        clash(admin.parse().unwrap(), &listen).is_some()
    }

    #[test]
    fn clashes_follow_what_a_bind_would_share() {
        assert!(clashes("127.0.0.1:80", &["127.0.0.1:80"]));
        assert!(clashes("127.0.0.1:80", &["0.0.0.0:80"]));
        assert!(clashes("0.0.0.0:80", &["10.0.0.1:80"]));
        assert!(clashes("127.0.0.1:80", &["[::]:80"]));
        assert!(clashes("[::1]:80", &["[::]:80"]));
        assert!(!clashes("[::1]:80", &["0.0.0.0:80"]));
        assert!(!clashes("127.0.0.1:81", &["127.0.0.1:80", "0.0.0.0:82"]));
        assert!(!clashes("127.0.0.2:80", &["127.0.0.1:80"]));
        assert!(!clashes("127.0.0.1:0", &["127.0.0.1:0"]));
    }

    #[test]
    fn tokens() {
        assert_eq!(token(String::new()), Ok(None));
        assert_eq!(token("a".repeat(16)), Ok(Some("a".repeat(16))));
        // Characters, not bytes.
        assert!(token("é".repeat(15)).is_err());
        assert!(token(format!("{} x", "a".repeat(16))).is_err());
        assert!(!token("s3cret-s3cret".into())
            .unwrap_err()
            .contains("s3cret"));
    }
}
