//! Read-only views of the running snapshot: `/admin/routes` and `/admin/policies`.

use serde_json::{json, Value};
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

pub(super) fn policies_json(snap: &sluice_engine::Snapshot) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for r in &snap.routes {
        for e in &r.program.ops {
            out.push(json!({"route": r.pattern, "name": e.name, "type": e.op.type_name(), "priority": e.priority}));
        }
    }
    Value::Array(out)
}

