//! Sluice's config: YAML in, a validated [`Config`] out.
//!
//! Loading runs in stages, each reporting every problem it finds with a field path
//! (`routes[1].policies[0].deny[2]`) rather than stopping at the first:
//!
//! 1. YAML syntax (`serde_yaml_ng::Value`; anchors and `<<` merge keys resolved);
//! 2. `${VAR}` / `${VAR:-default}` substitution in string values (`env.rs`);
//! 3. shape: known fields and value kinds, object by object (`raw.rs`);
//! 4. values: paths, URLs, CIDRs, durations, defaults (`validate.rs`, `route.rs`,
//!    `upstream.rs`, `policy.rs`, `auth.rs`, `traffic.rs`, `guards.rs`, `resilience.rs`,
//!    `routing.rs`, `observability.rs`, `consumer.rs`, `http.rs`), then
//!    the checks that span sections (an auth policy needs consumers it could let in; the
//!    admin listener needs an address of its own).
//!
//! ```
//! let config = sluice_config::load_str(
//!     "name: demo\nroutes:\n  - path: /health\n    upstream: {type: static, body: ok}\n",
//!     "gateway.yaml",
//! )
//! .unwrap();
//! assert_eq!(config.routes[0].path, "/health");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::Path;

use serde_yaml_ng::Value;

mod auth;
mod consumer;
pub mod control;
mod duration;
mod env;
mod error;
mod guards;
mod http;
pub mod model;
mod observability;
mod policy;
mod raw;
mod resilience;
mod route;
mod routing;
mod traffic;
mod upstream;
mod validate;

pub use duration::{parse_duration, MAX_DURATION_SECS};
pub use error::{ConfigErrors, FieldError};
pub use model::*;
pub use policy::POLICY_TYPES;

use error::Errors;

/// Reads and loads the config file at `path`; messages are prefixed with `path` as given.
///
/// # Errors
/// An unreadable file is one [`FieldError`] with an empty path; otherwise as [`load_str`].
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let source = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, &source),
        Err(e) => Err(ConfigErrors::whole_file(
            source,
            format!("cannot read file: {e}"),
        )),
    }
}

/// Loads a config from YAML `text`, substituting variables from the process environment.
/// `source` names the text in messages (usually the file name).
///
/// # Errors
/// Every problem found, each with its field path: a YAML syntax error (alone, with line and
/// column), unset variables, unknown fields, bad values and missing required fields.
pub fn load_str(text: &str, source: &str) -> Result<Config, ConfigErrors> {
    load_with_env(text, source, &|name| std::env::var(name).ok(), None)
}

/// [`load_str`] with the admin API's documents merged in (see [`control`]): its APIs become
/// routes after the file's, its consumers join the file's. Errors about them name the
/// admin document (`apis["orders"].path_prefix`), errors about the file name the file's
/// field; both carry `source` as their prefix when displayed.
///
/// # Errors
/// As [`load_str`], plus: a policy for an unknown API, an unknown policy type, an API whose
/// path and methods clash with another route.
pub fn load_str_with_control(
    text: &str,
    source: &str,
    state: &control::ControlState,
) -> Result<Config, ConfigErrors> {
    load_with_env(text, source, &|name| std::env::var(name).ok(), Some(state))
}

/// [`load_str`] with a chosen variable lookup, so tests need not touch the process
/// environment.
fn load_with_env(
    text: &str,
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    control: Option<&control::ControlState>,
) -> Result<Config, ConfigErrors> {
    let mut root: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigErrors::whole_file(source, format!("invalid YAML: {e}")))?;
    root.apply_merge()
        .map_err(|e| ConfigErrors::whole_file(source, format!("invalid YAML merge (<<): {e}")))?;

    let mut errors = Errors::default();
    let unset = env::substitute(&mut root, "", lookup, &mut errors);
    let appended = match control.map(|state| control::append(&mut root, state)) {
        None => None,
        Some((appended, found)) => {
            for e in found {
                errors.add(&e.path, e.message);
            }
            appended
        }
    };
    let mut later = Errors::default();
    let mut config = validate::config(root, &mut later);
    later.suppress_below(&unset);
    errors.append(later);
    if let (Some(appended), Some(state)) = (&appended, control) {
        errors = errors.map(|e| appended.translate(e));
        if let (Some(config), true) = (config.as_mut(), errors.is_empty()) {
            for e in control::finish(config, appended, state) {
                errors.add(&e.path, e.message);
            }
        }
    }

    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            if errors.is_empty() {
                // Every `None` above comes with a recorded error (possibly suppressed as a
                // consequence of an unset variable); this is a safety net, not a path.
                errors.add(
                    "",
                    "config rejected without a recorded reason (this is a bug)",
                );
            }
            Err(ConfigErrors {
                source: source.to_owned(),
                errors: errors.into_vec(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
