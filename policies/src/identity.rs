//! Who the caller is, as established by the auth ops of a route.
//!
//! One [`Identity`] lives in each request's context. Auth ops fill it (`api-key-auth` and
//! `basic-auth` set [`Identity::consumer`], `jwt-auth` sets [`Identity::claims`]); later ops
//! (`rbac`, rate-limit keys, forwarded headers, access logs) only read it.

use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::consumers::Consumer;

/// The caller's identity for one request. `Default` is "nobody identified yet".
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The configured consumer an API key or basic credentials matched; `None` until then.
    /// An `Arc` because consumers live in the shared, read-only program.
    pub consumer: Option<Arc<Consumer>>,
    /// The verified JWT claims; `None` until a token verified. An `Rc` because claims are
    /// shard-local and may be shared with the shard's verified-token cache without a copy.
    pub claims: Option<Rc<Map<String, Value>>>,
}

impl Identity {
    /// True when any auth op identified the caller (a consumer or verified claims).
    pub fn is_authenticated(&self) -> bool {
        self.consumer.is_some() || self.claims.is_some()
    }

    /// The identified consumer's id, if a consumer was identified.
    pub fn consumer_id(&self) -> Option<&str> {
        self.consumer.as_deref().map(|c| c.id.as_str())
    }

    /// The claim at `path`, if there are claims and it exists.
    ///
    /// `path` is first tried as one literal claim name, because claim names are often URLs
    /// with dots in them (`https://example.com/roles`); only then as a dot path into nested
    /// objects (`realm_access.roles`).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        lookup_claim(self.claims.as_deref()?, path)
    }

    /// The caller's roles, for `rbac`.
    ///
    /// When there are claims, the roles are the claim at `roles_claim` (see [`Identity::claim`]
    /// and [`claim_strings`] for the accepted shapes), and a token without that claim has no
    /// roles: a token is not topped up with consumer roles it did not carry. Without claims,
    /// the roles are the consumer's configured roles. Empty when nobody was identified.
    pub fn roles(&self, roles_claim: &str) -> Vec<&str> {
        if let Some(claims) = self.claims.as_deref() {
            return lookup_claim(claims, roles_claim)
                .map(claim_strings)
                .unwrap_or_default();
        }
        match self.consumer.as_deref() {
            Some(c) => c.roles.iter().map(String::as_str).collect(),
            None => Vec::new(),
        }
    }

    /// The caller's permissions, for `rbac`: the claim at `permissions_claim`, in the shapes
    /// [`claim_strings`] accepts. Consumers have no permissions (only roles), so this is
    /// empty without claims.
    pub fn permissions(&self, permissions_claim: &str) -> Vec<&str> {
        self.claim(permissions_claim)
            .map(claim_strings)
            .unwrap_or_default()
    }
}

/// The value at `path` in `claims`: the literal name first, then a dot path.
pub fn lookup_claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The strings a role or permission claim holds.
///
/// A string claim is split on spaces and commas (OAuth `scope` style `"a b"` and `"a,b"`
/// both occur in the wild); an array claim gives its string elements, each split the same
/// way, and ignores non-strings. Any other shape holds nothing.
pub fn claim_strings(value: &Value) -> Vec<&str> {
    fn split(s: &str) -> impl Iterator<Item = &str> {
        s.split([' ', ',']).filter(|t| !t.is_empty())
    }
    match value {
        Value::String(s) => split(s).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(split)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_claims(v: Value) -> Identity {
        let Value::Object(map) = v else {
            panic!("claims must be an object")
        };
        Identity {
            consumer: None,
            claims: Some(Rc::new(map)),
        }
    }

    #[test]
    fn claim_shapes() {
        let id = with_claims(json!({
            "s": "admin editor,viewer",
            "a": ["x", "y z", 3],
            "n": 7,
            "realm_access": {"roles": ["deep"]},
            "https://example.com/roles": ["url"],
        }));
        assert_eq!(id.roles("s"), ["admin", "editor", "viewer"]);
        assert_eq!(id.roles("a"), ["x", "y", "z"]);
        assert!(id.roles("n").is_empty());
        assert!(id.roles("missing").is_empty());
        assert_eq!(id.roles("realm_access.roles"), ["deep"]);
        assert_eq!(id.roles("https://example.com/roles"), ["url"]);
        assert!(id.roles("realm_access.roles.more").is_empty());
        assert!(id.is_authenticated());
    }

    #[test]
    fn consumer_roles_without_claims() {
        let id = Identity {
            consumer: Some(Arc::new(Consumer {
                id: "c".into(),
                roles: vec!["ops".into()],
                metadata: Vec::new(),
            })),
            claims: None,
        };
        assert_eq!(id.roles("roles"), ["ops"]);
        assert!(id.permissions("permissions").is_empty());
        assert_eq!(id.consumer_id(), Some("c"));
        assert!(!Identity::default().is_authenticated());
    }
}
