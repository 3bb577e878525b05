//! `skip:` conditions shared by every policy entry.

use regex::{Regex, RegexSet};
use sluice_codec::{Headers, Method};

/// Skips a policy when every given condition matches; an empty condition is not checked.
#[derive(Debug, Clone)]
pub struct Skip {
    /// Any pattern matching the path counts (`None` when no `paths` were given).
    pub paths: Option<RegexSet>,
    /// Upper-case method names.
    pub methods: Vec<String>,
    /// Lower-case header name and the regex its value must match.
    pub headers: Vec<(String, Regex)>,
}

impl Skip {
    /// True when the policy should not run for this request.
    pub fn matches(&self, method: &Method, path: &str, headers: &Headers) -> bool {
        if let Some(set) = &self.paths {
            if !set.is_match(path) {
                return false;
            }
        }
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m == method.as_str()) {
            return false;
        }
        self.headers.iter().all(|(name, re)| {
            headers
                .get_str(name)
                .map(|v| re.is_match(v))
                .unwrap_or(false)
        })
    }
}
