use std::rc::Rc;
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::consumers::Consumer;

fn rbac(roles: &[&str], permissions: &[&str]) -> Rbac {
    Rbac {
        roles: roles.iter().map(|s| s.to_string()).collect(),
        permissions: permissions.iter().map(|s| s.to_string()).collect(),
        ..Rbac::default()
    }
}

fn claims(v: Value) -> Identity {
    let Value::Object(map) = v else {
        panic!("claims must be an object")
    };
    Identity {
        claims: Some(Rc::new(map)),
        ..Identity::default()
    }
}

fn consumer(roles: &[&str]) -> Identity {
    Identity {
        consumer: Some(Arc::new(Consumer {
            id: "c".into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            metadata: Vec::new(),
        })),
        ..Identity::default()
    }
}

/// `Ok` as 200, else the refusal's status, for compact tables.
fn status(r: &Rbac, h: &Headers, id: &Identity) -> u16 {
    r.on_request(h, id).map_or_else(|e| e.status, |()| 200)
}

#[test]
fn roles_from_claims_in_every_shape() {
    let r = rbac(&["admin", "editor"], &[]);
    let h = Headers::default();
    let cases = [
        (json!({"roles": "editor"}), 200),
        (json!({"roles": "viewer editor"}), 200),
        (json!({"roles": "viewer,admin"}), 200),
        (json!({"roles": ["viewer", "admin"]}), 200),
        (json!({"roles": ["viewer"]}), 403),
        (json!({"roles": "Admin"}), 403),
        (json!({"roles": 1}), 403),
        (json!({"sub": "x"}), 403),
    ];
    for (c, want) in cases {
        assert_eq!(status(&r, &h, &claims(c.clone())), want, "{c}");
    }
    let nested = Rbac {
        roles_claim: "realm_access.roles".into(),
        ..r
    };
    let id = claims(json!({"realm_access": {"roles": ["admin"]}}));
    assert_eq!(status(&nested, &h, &id), 200);
}

#[test]
fn roles_from_consumer() {
    let r = rbac(&["ops"], &[]);
    let h = Headers::default();
    assert_eq!(status(&r, &h, &consumer(&["dev", "ops"])), 200);
    assert_eq!(status(&r, &h, &consumer(&["dev"])), 403);
    // Claims, when present, are the source: consumer roles do not top them up.
    let mut both = claims(json!({"roles": []}));
    both.consumer = consumer(&["ops"]).consumer;
    assert_eq!(status(&r, &h, &both), 403);
}

#[test]
fn roles_from_header() {
    let r = Rbac {
        role_header: Some("x-roles".into()),
        ..rbac(&["ops"], &[])
    };
    let mut h = Headers::default();
    h.append("X-Roles", "dev, ops");
    assert_eq!(status(&r, &h, &Identity::default()), 200);
    // The header replaces the identity's roles when it is configured and sent.
    h.set("x-roles", "dev");
    assert_eq!(status(&r, &h, &consumer(&["ops"])), 403);
    h.append("x-roles", "ops");
    assert_eq!(status(&r, &h, &Identity::default()), 200);
    // Not sent: fall back to the identity, or 401 without one.
    let none = Headers::default();
    assert_eq!(status(&r, &none, &consumer(&["ops"])), 200);
    assert_eq!(status(&r, &none, &Identity::default()), 401);
}

#[test]
fn permissions_all_required() {
    let r = rbac(&[], &["read", "write"]);
    let h = Headers::default();
    let cases = [
        (json!({"permissions": "read write"}), 200),
        (json!({"permissions": ["write", "read", "delete"]}), 200),
        (json!({"permissions": "read"}), 403),
        (json!({}), 403),
    ];
    for (c, want) in cases {
        assert_eq!(status(&r, &h, &claims(c.clone())), want, "{c}");
    }
    let scoped = Rbac {
        permissions_claim: "scope".into(),
        ..r.clone()
    };
    assert_eq!(
        status(&scoped, &h, &claims(json!({"scope": "write read"}))),
        200
    );
    // Consumers carry no permissions.
    assert_eq!(status(&r, &h, &consumer(&["read", "write"])), 403);
    // Roles and permissions must both hold.
    let both = rbac(&["admin"], &["read"]);
    assert_eq!(
        status(
            &both,
            &h,
            &claims(json!({"roles": "admin", "permissions": "read"}))
        ),
        200
    );
    assert_eq!(status(&both, &h, &claims(json!({"roles": "admin"}))), 403);
}

#[test]
fn refusal_bodies() {
    let r = Rbac {
        deny_message: "Admins only".into(),
        ..rbac(&["admin"], &[])
    };
    let h = Headers::default();
    let e = r.on_request(&h, &Identity::default()).unwrap_err();
    assert_eq!(
        (e.status, e.code, e.message.as_ref()),
        (401, "unauthorized", "Authentication required")
    );
    let e = r.on_request(&h, &consumer(&[])).unwrap_err();
    assert_eq!(
        (e.status, e.code, e.message.as_ref()),
        (403, "forbidden", "Admins only")
    );
    // With nothing required, any identified caller passes.
    assert_eq!(status(&Rbac::default(), &h, &consumer(&[])), 200);
    assert_eq!(Rbac::default().deny_message, "Forbidden");
}
