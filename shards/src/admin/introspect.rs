//! Read-only views of the running snapshot: `/admin/routes` and `/admin/policies`.

use serde_json::{json, Value};
use sluice_engine::config::control::ControlState;
use sluice_engine::Upstream;

pub(super) fn route_json(r: &sluice_engine::Route) -> Value {
    let program: Vec<Value> = r
        .program
        .ops
        .iter()
        .map(|e| json!({"op": e.op.type_name(), "name": e.name, "priority": e.priority}))
        .collect();
    let upstream = match &r.upstream {
        Upstream::Url(u) => {
            json!({"type": "url", "targets": u.targets.iter().map(|t| t.display.clone()).collect::<Vec<_>>()})
        }
        Upstream::Static(s) => json!({"type": "static", "status": s.status}),
        Upstream::Health(h) => {
            json!({"type": "health", "probes": h.probes.iter().map(|p| p.0.clone()).collect::<Vec<_>>()})
        }
    };
    json!({
        "path": r.pattern,
        "methods": r.methods.as_ref().map(|m| m.iter().map(|x| x.as_str().to_string()).collect::<Vec<_>>()),
        "program": program,
        "upstream": upstream,
    })
}

/// Every op of every running program. Ops of the admin API's policies carry `source:
/// "admin"` with the policy's `id` and `api_id`; the rest `source: "config"`.
pub(super) fn policies_json(snap: &sluice_engine::Snapshot, control: &ControlState) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for r in &snap.routes {
        // The API served at this route, if the admin API made it (`base_path` is prepended
        // to every route, so the pattern ends with the API's own).
        let api = control.apis.values().find(|a| {
            a.activated
                && r.pattern
                    .ends_with(&format!("{}/*", a.path_prefix.trim_end_matches('/')))
        });
        for e in &r.program.ops {
            let mut entry = json!({"route": r.pattern, "name": e.name, "type": e.op.type_name(),
                "priority": e.priority, "source": "config"});
            let doc = api.and_then(|a| {
                control.policies.values().find(|p| {
                    p.api_id == a.id
                        && p.name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&p.id) == e.name
                })
            });
            if let Some(p) = doc {
                entry["source"] = json!("admin");
                entry["id"] = json!(p.id);
                entry["api_id"] = json!(p.api_id);
            }
            out.push(entry);
        }
    }
    Value::Array(out)
}
