//! `rbac`: allow a request only when the identified caller has a required role and every
//! required permission.

use sluice_codec::Headers;

use crate::identity::Identity;
use crate::Reject;

/// Compiled `rbac` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rbac {
    /// The caller needs at least one of these. Default empty: no role check.
    pub roles: Vec<String>,
    /// The caller needs all of these. Default empty: no permission check.
    pub permissions: Vec<String>,
    /// Claim holding roles; a literal name or a dot path. Default `roles`.
    pub roles_claim: String,
    /// Claim holding permissions; a literal name or a dot path. Default `permissions`.
    pub permissions_claim: String,
    /// Lower-case header to read comma-separated roles from instead of the identity.
    /// Default `None`. Only safe when a trusted hop in front sets or strips this header,
    /// since otherwise the client chooses its own roles.
    pub role_header: Option<String>,
    /// Message of the 403. Default `Forbidden`.
    pub deny_message: String,
}

impl Default for Rbac {
    fn default() -> Self {
        Self {
            roles: Vec::new(),
            permissions: Vec::new(),
            roles_claim: "roles".into(),
            permissions_claim: "permissions".into(),
            role_header: None,
            deny_message: "Forbidden".into(),
        }
    }
}

impl Rbac {
    /// Request phase: `Err` when the caller may not pass.
    ///
    /// Roles come from `role_header` when configured, else from the identity (its
    /// `roles_claim` when there are JWT claims, else the consumer's roles; see
    /// [`Identity::roles`]). Permissions come only from the `permissions_claim` of the JWT
    /// claims: consumers carry roles, not permissions. Claims may be a string (split on
    /// spaces and commas) or an array of strings. Matching is exact and case-sensitive.
    ///
    /// Errors: 401 `unauthorized` "Authentication required" when no auth op identified the
    /// caller (and no role header was sent); 403 `forbidden` with `deny_message` when no
    /// required role or some required permission is missing.
    pub fn on_request(&self, headers: &Headers, identity: &Identity) -> Result<(), Reject> {
        let header_roles = self.role_header.as_deref().and_then(|name| {
            let mut values = headers.get_all(name).peekable();
            values.peek()?;
            Some(
                values
                    .flat_map(|v| v.split(|&b| b == b','))
                    .filter_map(|r| std::str::from_utf8(r.trim_ascii()).ok())
                    .filter(|r| !r.is_empty())
                    .collect::<Vec<_>>(),
            )
        });
        if header_roles.is_none() && !identity.is_authenticated() {
            return Err(Reject::new(401, "unauthorized", "Authentication required"));
        }
        let roles_ok = self.roles.is_empty() || {
            let held = match header_roles {
                Some(h) => h,
                None => identity.roles(&self.roles_claim),
            };
            self.roles.iter().any(|r| held.contains(&r.as_str()))
        };
        let permissions_ok = self.permissions.is_empty() || {
            let held = identity.permissions(&self.permissions_claim);
            self.permissions.iter().all(|p| held.contains(&p.as_str()))
        };
        if roles_ok && permissions_ok {
            Ok(())
        } else {
            Err(Reject::new(403, "forbidden", self.deny_message.clone()))
        }
    }
}

#[cfg(test)]
mod tests;
