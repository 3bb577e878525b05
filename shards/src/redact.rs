//! The running config as the admin API shows it: every secret, token, password, key and
//! `${ENV}` value replaced by `[REDACTED]`.

use serde_json::Value;

/// Keys whose values are always secret, whatever they hold.
const SECRET_KEYS: &[&str] = &[
    "secret",
    "token",
    "password",
    "password_hash",
    "client_secret",
    "api_keys",
    "authorization",
    "x-api-key",
    "cookie",
];

const REDACTED: &str = "[REDACTED]";

/// Parses the config text (as loaded, before `${ENV}` substitution) and redacts it.
pub fn redacted(source: &str) -> Value {
    let yaml: serde_yaml_ng::Value = match serde_yaml_ng::from_str(source) {
        Ok(v) => v,
        Err(_) => return Value::Null,
    };
    let mut json = serde_json::to_value(&yaml).unwrap_or(Value::Null);
    scrub(&mut json);
    json
}

fn scrub(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                    *child = Value::String(REDACTED.into());
                } else {
                    scrub(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        // Anything taken from the environment may be a secret: never echo it.
        Value::String(s) if s.contains("${") => *s = REDACTED.into(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_env_values_are_redacted() {
        let v = redacted(
            "name: x\nadmin: {token: abcdefghijklmnopq}\nconsumers:\n  - {id: a, api_keys: [k1], basic: {username: u, password_hash: h}}\npolicies:\n  - {type: jwt-auth, secret: \"${JWT}\"}\nroutes:\n  - path: /a\n    upstream: {type: url, target: \"http://${HOST}:80\", headers: {Authorization: Bearer zz, x-ok: fine}}\n",
        );
        let s = v.to_string();
        for leaked in [
            "abcdefghijklmnopq",
            "k1",
            "\"h\"",
            "${JWT}",
            "${HOST}",
            "Bearer zz",
        ] {
            assert!(!s.contains(leaked), "{leaked} leaked: {s}");
        }
        assert!(s.contains("fine") && s.contains("\"u\""), "{s}");
    }
}
