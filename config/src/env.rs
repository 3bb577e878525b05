//! `${VAR}` substitution in string scalars, done on the YAML tree before any typing so that
//! every field, whatever its type, can come from the environment.

use serde_yaml_ng::Value;

use crate::error::{self, Errors};

/// Substitutes `${VAR}` and `${VAR:-default}` in every string scalar under `value` (not in
/// mapping keys: those name fields, and paths must stay stable).
///
/// `$${` stands for a literal `${`. Substituted text is not scanned again, so a variable's
/// value may itself contain `${`. As in the shell, `:-` also applies when the variable is set
/// but empty. Errors are recorded at the scalar's path; the paths of failed scalars are
/// returned so later stages can stay quiet about them.
pub(crate) fn substitute(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors,
) -> Vec<String> {
    let mut failed = Vec::new();
    walk(value, path, lookup, errors, &mut failed);
    failed
}

fn walk(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors,
    failed: &mut Vec<String>,
) {
    match value {
        Value::String(text) if text.contains('$') => match expand(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(messages) => {
                for message in messages {
                    errors.add(path, message);
                }
                failed.push(path.to_owned());
            }
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &error::index(path, i), lookup, errors, failed);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                walk(v, &error::key(path, &key_text(k)), lookup, errors, failed);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup, errors, failed),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// A mapping key as it appears in a field path.
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "?".to_owned(),
    }
}

/// Expands one string, or returns every problem in it.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let from_dollar = &rest[dollar..];
        if let Some(after) = from_dollar.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body_and_rest) = from_dollar.strip_prefix("${") {
            let Some(end) = body_and_rest.find('}') else {
                problems.push(format!(
                    "unterminated \"${{\" in {text:?} (write \"$${{\" for a literal \"${{\")"
                ));
                break;
            };
            let body = &body_and_rest[..end];
            rest = &body_and_rest[end + 1..];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            if !is_var_name(name) {
                problems.push(format!(
                    "invalid environment variable name {name:?} in {text:?} \
                     (expected [A-Za-z_][A-Za-z0-9_]*)"
                ));
                continue;
            }
            let value = lookup(name).filter(|v| default.is_none() || !v.is_empty());
            match (value, default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => problems.push(format!("environment variable {name} is not set")),
            }
        } else {
            out.push('$');
            rest = &from_dollar[1..];
        }
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.1".into()),
            "EMPTY" => Some(String::new()),
            "TRICKY" => Some("${HOST}".into()),
            _ => None,
        }
    }

    #[test]
    fn expansions() {
        let cases = [
            ("plain", "plain"),
            ("${HOST}", "10.0.0.1"),
            ("http://${HOST}:${PORT:-9000}/x", "http://10.0.0.1:9000/x"),
            ("${EMPTY}", ""),
            ("${EMPTY:-fallback}", "fallback"),
            ("${UNSET:-}", ""),
            ("$${HOST}", "${HOST}"),
            ("cost: $5 $", "cost: $5 $"),
            ("${TRICKY}", "${HOST}"),
            ("${UNSET:-a:-b}", "a:-b"),
        ];
        for (input, expected) in cases {
            assert_eq!(expand(input, &env), Ok(expected.to_owned()), "{input}");
        }
    }

    #[test]
    fn problems() {
        assert_eq!(
            expand("${A}-${B}", &env),
            Err(vec![
                "environment variable A is not set".to_owned(),
                "environment variable B is not set".to_owned()
            ])
        );
        assert!(expand("${HOST", &env).unwrap_err()[0].starts_with("unterminated"));
        assert!(expand("${1X}", &env).unwrap_err()[0]
            .starts_with("invalid environment variable name \"1X\""));
        assert!(expand("${}", &env).is_err());
    }

    #[test]
    fn walks_values_with_paths() {
        let mut value: Value =
            serde_yaml_ng::from_str("a: [x, '${NOPE}']\nb: {c: '${HOST}'}\n'${HOST}': 1\n")
                .unwrap();
        let mut errors = Errors::default();
        let failed = substitute(&mut value, "", &env, &mut errors);
        assert_eq!(failed, ["a[1]"]);
        assert_eq!(value["b"]["c"], Value::String("10.0.0.1".into()));
        assert!(value.get("${HOST}").is_some(), "keys are left alone");
        let errors = errors.into_vec();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "a[1]");
    }
}
