//! Fuzz entry points for `sluice-config`, shared by `fuzz_targets/load_config.rs` and
//! `config/tests/fuzz_regressions.rs` (which includes this file by path, as the codec's
//! replay test includes `lib.rs`).
//!
//! `load_config` feeds the input as a whole config file, then (when it parses as JSON) as
//! a control-plane document of each kind merged into a small valid file. Loading must never
//! panic, every error must render, and an accepted config must keep the promises the
//! compiler relies on.

use serde_json::Value;
use sluice_config::control::{ApiDoc, ControlState, PolicyDoc};
use sluice_config::{load_str, load_str_with_control, Config};

/// A valid file the control-plane documents are merged into.
const BASE: &str = "name: fuzz\nroutes:\n  - path: /health\n    upstream: {type: static}\n";

/// Loads `data` as a config file and as control-plane documents.
pub fn load_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check(load_str(&text, "fuzz.yaml"));

    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let api: ApiDoc = serde_json::from_value(serde_json::json!({
        "id": "a", "path_prefix": "/a", "backend_url": "http://127.0.0.1:1"
    }))
    .expect("a valid API document");
    let mut state = ControlState::default();
    state.apis.insert(api.id.clone(), api);
    if let Ok(p) = serde_json::from_value::<PolicyDoc>(doc.clone()) {
        let mut s = state.clone();
        s.policies.insert(p.id.clone(), p);
        check(load_str_with_control(BASE, "fuzz.yaml", &s));
    }
    if let Ok(a) = serde_json::from_value::<ApiDoc>(doc.clone()) {
        let mut s = state.clone();
        s.apis.insert(a.id.clone(), a);
        check(load_str_with_control(BASE, "fuzz.yaml", &s));
    }
    if let Some(id) = doc.get("id").and_then(Value::as_str) {
        let mut s = state;
        s.consumers.insert(id.to_owned(), doc.clone());
        check(load_str_with_control(BASE, "fuzz.yaml", &s));
    }
}

fn check(result: Result<Config, sluice_config::ConfigErrors>) {
    match result {
        Ok(cfg) => {
            assert!(
                !cfg.routes.is_empty(),
                "a config without routes was accepted"
            );
            for r in &cfg.routes {
                assert!(r.path.starts_with('/'), "route path {:?}", r.path);
                assert!(!r.field_path.is_empty());
            }
            assert!(!cfg.listen.is_empty());
        }
        Err(e) => {
            assert!(!e.errors.is_empty(), "refused without a reason");
            let _ = e.to_string();
        }
    }
}
