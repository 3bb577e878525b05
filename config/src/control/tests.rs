use serde_json::json;

use super::*;
use crate::model::{PolicyKind, UpstreamSpec};

const FILE: &str = "name: t\nroutes:\n  - path: /health\n    upstream: {type: static, body: ok}\n\
                    consumers:\n  - id: file-user\n    api_keys: [file-key-0123456789]\n";

fn api(id: &str, prefix: &str) -> ApiDoc {
    serde_json::from_value(json!({
        "id": id, "name": id, "path_prefix": prefix, "backend_url": "http://127.0.0.1:9000"
    }))
    .unwrap()
}

fn policy(id: &str, api_id: &str, kind: &str, config: serde_json::Value) -> PolicyDoc {
    serde_json::from_value(json!({
        "id": id, "policy_type": kind, "config": config, "api_id": api_id
    }))
    .unwrap()
}

fn load(state: &ControlState) -> Result<Config, Vec<String>> {
    crate::load_str_with_control(FILE, "gw.yaml", state).map_err(|e| {
        e.errors
            .iter()
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect()
    })
}

fn state(apis: &[ApiDoc], policies: &[PolicyDoc]) -> ControlState {
    ControlState {
        apis: apis.iter().map(|a| (a.id.clone(), a.clone())).collect(),
        policies: policies.iter().map(|p| (p.id.clone(), p.clone())).collect(),
        consumers: Default::default(),
    }
}

#[test]
fn an_api_becomes_a_prefix_route_after_the_files_routes() {
    let s = state(
        &[api("orders", "/orders/")],
        &[policy(
            "rl",
            "orders",
            "rate_limit",
            json!({"maxRequests": 5, "intervalSeconds": 60}),
        )],
    );
    let cfg = load(&s).unwrap();
    assert_eq!(cfg.routes.len(), 2);
    let route = &cfg.routes[1];
    assert_eq!(route.path, "/orders/*");
    assert!(matches!(route.upstream, UpstreamSpec::Url(_)));
    assert_eq!(route.policies.len(), 1);
    assert_eq!(route.policies[0].name, "rl");
    let PolicyKind::RateLimit(rl) = &route.policies[0].kind else {
        panic!("expected a rate-limit, got {:?}", route.policies[0].kind);
    };
    assert_eq!(rl.max, 5);
    assert_eq!(rl.window.as_secs(), 60);
}

#[test]
fn errors_name_the_admin_document_and_its_field() {
    let mut bad_api = api("a", "/a");
    bad_api.backend_url = Some("ftp://x".into());
    let s = state(
        &[bad_api, api("b", "/b")],
        &[policy(
            "rl",
            "b",
            "rate_limit",
            json!({"maxRequests": 0, "intervalSeconds": 1}),
        )],
    );
    let errors = load(&s).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("apis[\"a\"].backend_url: ")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policies[\"rl\"].config.maxRequests: ")),
        "{errors:?}"
    );
}

#[test]
fn unknown_types_and_unknown_apis_are_refused() {
    let s = state(
        &[api("a", "/a")],
        &[
            policy("p1", "a", "no-such-policy", json!({})),
            policy("p2", "missing", "cors", json!({})),
            policy("p3", "missing", "teleport", json!({})),
        ],
    );
    let errors = load(&s).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policies[\"p1\"].policy_type: unknown policy type")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e == "policies[\"p2\"].api_id: no API with id \"missing\""),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("policies[\"p3\"].policy_type: unknown policy type")),
        "{errors:?}"
    );
}

#[test]
fn snake_case_types_and_cors_camel_case_keys_are_accepted() {
    let s = state(
        &[api("a", "/a")],
        &[
            policy("f", "a", "ip_filter", json!({"deny": ["10.0.0.0/8"]})),
            policy(
                "c",
                "a",
                "cors",
                json!({"origins": ["https://app.example"], "allowHeaders": ["x-a"], "maxAge": 60}),
            ),
        ],
    );
    let cfg = load(&s).unwrap();
    let kinds: Vec<&str> = cfg.routes[1]
        .policies
        .iter()
        .map(|p| p.kind.type_name())
        .collect();
    assert_eq!(kinds, ["cors", "ip-filter"]);
}

#[test]
fn a_path_clash_with_the_file_or_another_api_is_refused() {
    let file = FILE.replace(
        "consumers:",
        "  - path: /files/*\n    upstream: {type: static}\nconsumers:",
    );
    let mut files = api("files", "/files");
    files.methods = vec!["GET".into()];
    let errors = crate::load_str_with_control(&file, "gw.yaml", &state(&[files], &[]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        errors,
        "gw.yaml: apis[\"files\"].path_prefix: path /files/* clashes with the config file's \
         routes[1], which serves the same path and methods"
    );
    let s = state(&[api("one", "/same"), api("two", "/same/")], &[]);
    let errors = load(&s).unwrap_err();
    assert_eq!(
        errors,
        [
            "apis[\"two\"].path_prefix: path /same/* clashes with apis[\"one\"], which serves the \
          same path and methods"
        ]
    );
    // Disjoint methods share a path without clashing.
    let (mut get, mut post) = (api("one", "/same"), api("two", "/same"));
    get.methods = vec!["GET".into()];
    post.methods = vec!["POST".into()];
    assert_eq!(load(&state(&[get, post], &[])).unwrap().routes.len(), 3);
}

#[test]
fn an_inactive_api_is_validated_but_not_routed() {
    let mut off = api("off", "/off");
    off.activated = false;
    assert_eq!(load(&state(&[off.clone()], &[])).unwrap().routes.len(), 1);
    off.backend_url = Some("nope".into());
    assert!(load(&state(&[off], &[])).is_err());
}

#[test]
fn consumers_join_the_files_and_duplicates_are_named() {
    let mut s = state(&[], &[]);
    s.consumers.insert(
        "alice".into(),
        json!({"id": "alice", "api_keys": ["alice-key-0123456789"], "roles": ["admin"]}),
    );
    let cfg = load(&s).unwrap();
    assert_eq!(cfg.consumers.len(), 2);
    assert_eq!(cfg.consumers[1].roles, ["admin"]);
    s.consumers.insert(
        "file-user".into(),
        json!({"id": "file-user", "api_keys": ["other-key-0123456789"]}),
    );
    let errors = load(&s).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("consumers[\"file-user\"].id: duplicate consumer id")),
        "{errors:?}"
    );
}
