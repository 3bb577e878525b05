//! The control-plane API: `/admin/apis`, `/admin/policies/{id}` (and `POST
//! /admin/policies`), `/admin/consumers`. Every write is validated and compiled with the
//! whole config, committed to the store, then swapped in (see [`Reloader::apply`]); a
//! refused write changes nothing.

use bytes::Bytes;
use serde_json::{json, Value};
use sluice_codec::Method;
use sluice_engine::config::control::{ApiDoc, PolicyDoc};

use super::{blocking, error, invalid, ok, percent_decode, query_pairs, Admin, AdminRequest};
use crate::reload::{Applied, Reloader};
use crate::store::Change;

/// Longest id accepted (ids appear in URLs and in messages).
const MAX_ID_LEN: usize = 200;

/// The three collections, by URL segment.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Apis,
    Policies,
    Consumers,
}

impl Kind {
    fn segment(self) -> &'static str {
        match self {
            Kind::Apis => "apis",
            Kind::Policies => "policies",
            Kind::Consumers => "consumers",
        }
    }
}

/// `/admin/{kind}` or `/admin/{kind}/{id}` (the id percent-decoded).
fn parse(path: &str) -> Option<(Kind, Option<String>)> {
    let rest = path.strip_prefix("/admin/")?;
    let (segment, id) = match rest.split_once('/') {
        Some((s, id)) => (s, Some(percent_decode(id))),
        None => (rest, None),
    };
    let kind = match segment {
        "apis" => Kind::Apis,
        "policies" => Kind::Policies,
        "consumers" => Kind::Consumers,
        _ => return None,
    };
    Some((kind, id))
}

/// Whether `path` is a control-plane endpoint. `GET /admin/policies` (the running programs)
/// is answered by the introspection module before this is asked.
pub(super) fn handles(path: &str) -> bool {
    parse(path).is_some()
}

pub(super) async fn route(req: &AdminRequest, admin: &Admin) -> (u16, Bytes) {
    let Some((kind, id)) = parse(&req.path) else {
        return error(404, "not_found", "No such admin endpoint");
    };
    match (&req.method, id) {
        (Method::Post, None) => upsert(kind, &req.body, admin).await,
        (Method::Get, None) => list(kind, admin, &req.query),
        (Method::Get, Some(id)) => match document(kind, &id, &admin.reloader) {
            Some(doc) => ok(doc),
            None => not_found(kind, &id),
        },
        (Method::Delete, Some(id)) => {
            let change = match kind {
                Kind::Apis => Change::DeleteApi(id.clone()),
                Kind::Policies => Change::DeletePolicy(id.clone()),
                Kind::Consumers => Change::DeleteConsumer(id.clone()),
            };
            match apply(admin, change).await {
                Applied::Deleted => (204, Bytes::new()),
                Applied::NotFound => not_found(kind, &id),
                other => outcome(other, &id),
            }
        }
        _ => error(
            405,
            "method_not_allowed",
            "Use POST or GET on the collection, GET or DELETE on one id",
        ),
    }
}

/// `GET /admin/policies?source=admin`: the stored policy documents.
pub(super) fn list_policies(admin: &Admin, query: &str) -> (u16, Bytes) {
    list(Kind::Policies, admin, query)
}

/// Every document of `kind`, ordered by id. `?tenant_id=` keeps the APIs of one tenant;
/// `?api_id=` the policies of one API.
fn list(kind: Kind, admin: &Admin, query: &str) -> (u16, Bytes) {
    let state = admin.reloader.control();
    let wanted = |name: &str| query_pairs(query).find(|(k, _)| k == name).map(|(_, v)| v);
    let tenant = wanted("tenant_id");
    let api_id = wanted("api_id");
    let docs: Vec<Value> = match kind {
        Kind::Apis => state
            .apis
            .values()
            .filter(|a| tenant.is_none() || a.tenant_id == tenant)
            .map(|d| json!(d))
            .collect(),
        Kind::Policies => state
            .policies
            .values()
            .filter(|p| api_id.as_ref().is_none_or(|id| &p.api_id == id))
            .map(|d| json!(d))
            .collect(),
        Kind::Consumers => state.consumers.values().cloned().collect(),
    };
    ok(Value::Array(docs))
}

fn document(kind: Kind, id: &str, reloader: &Reloader) -> Option<Value> {
    let state = reloader.control();
    match kind {
        Kind::Apis => state.apis.get(id).map(|d| json!(d)),
        Kind::Policies => state.policies.get(id).map(|d| json!(d)),
        Kind::Consumers => state.consumers.get(id).cloned(),
    }
}

fn not_found(kind: Kind, id: &str) -> (u16, Bytes) {
    let what = match kind {
        Kind::Apis => "API",
        Kind::Policies => "policy",
        Kind::Consumers => "consumer",
    };
    error(404, "not_found", &format!("No {what} with id {id:?}"))
}

async fn apply(admin: &Admin, change: Change) -> Applied {
    let reloader = admin.reloader.clone();
    blocking(move || reloader.apply(change))
        .await
        .unwrap_or_else(|| Applied::Failed("the admin write thread ended without an answer".into()))
}

fn outcome(applied: Applied, id: &str) -> (u16, Bytes) {
    let body = || Bytes::from(json!({"id": id, "status": "ok"}).to_string());
    match applied {
        Applied::Created => (201, body()),
        Applied::Updated | Applied::Unchanged => (200, body()),
        Applied::Deleted => (204, Bytes::new()),
        Applied::NotFound => error(404, "not_found", "No such document"),
        Applied::Invalid(errors) => invalid(errors),
        Applied::Failed(why) => error(
            500,
            "store_error",
            &format!("The change was not stored and nothing changed: {why}"),
        ),
    }
}

async fn upsert(kind: Kind, body: &[u8], admin: &Admin) -> (u16, Bytes) {
    let change = match kind {
        Kind::Apis => serde_json::from_slice::<ApiDoc>(body)
            .map_err(|e| vec![format!("body: {e}")])
            .and_then(|api| checked_id(&api.id, kind).map(|_| Change::PutApi(api))),
        Kind::Policies => serde_json::from_slice::<PolicyDoc>(body)
            .map_err(|e| vec![format!("body: {e}")])
            .and_then(|p| checked_id(&p.id, kind).map(|_| Change::PutPolicy(p))),
        Kind::Consumers => consumer(body),
    };
    let change = match change {
        Ok(c) => c,
        Err(errors) => return invalid(errors),
    };
    let id = match &change {
        Change::PutApi(a) => a.id.clone(),
        Change::PutPolicy(p) => p.id.clone(),
        Change::PutConsumer(id, _) => id.clone(),
        Change::DeleteApi(id) | Change::DeletePolicy(id) | Change::DeleteConsumer(id) => id.clone(),
        // Built only by `put_state`.
        Change::ReplaceAll(_) => String::new(),
    };
    outcome(apply(admin, change).await, &id)
}

fn checked_id(id: &str, kind: Kind) -> Result<(), Vec<String>> {
    let at = format!("{}.id", kind.segment());
    if id.trim().is_empty() {
        return Err(vec![format!("{at}: must not be empty")]);
    }
    if id.len() > MAX_ID_LEN {
        return Err(vec![format!("{at}: longer than {MAX_ID_LEN} bytes")]);
    }
    if id.chars().any(|c| c.is_control() || c == '/') {
        return Err(vec![format!(
            "{at}: must not contain '/' or control characters (ids appear in URLs)"
        )]);
    }
    Ok(())
}

/// A consumer document, its API keys turned into their at-rest `sha256:` form so no plain
/// key is ever written to disk or shown back. The rest is validated with the config.
fn consumer(body: &[u8]) -> Result<Change, Vec<String>> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| vec![format!("body: {e}")])?;
    consumer_doc(doc).map(|(id, doc)| Change::PutConsumer(id, doc))
}

/// A consumer document checked for its id and with its keys in their at-rest form.
fn consumer_doc(mut doc: Value) -> Result<(String, Value), Vec<String>> {
    let Some(map) = doc.as_object_mut() else {
        return Err(vec!["body: expected a JSON object".into()]);
    };
    let Some(id) = map.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return Err(vec![
            "consumers.id: missing required string field \"id\"".into()
        ]);
    };
    checked_id(&id, Kind::Consumers)?;
    if let Some(Value::Array(keys)) = map.get_mut("api_keys") {
        let mut errors = Vec::new();
        for (i, key) in keys.iter_mut().enumerate() {
            if let Value::String(text) = key {
                match sluice_policies::consumers::api_key_at_rest(text) {
                    Ok(digest) => *text = digest,
                    Err(why) => errors.push(format!("consumers[{id:?}].api_keys[{i}]: {why}")),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok((id, doc))
}

/// `GET /admin/state`: every stored document, by kind, each list ordered by id.
pub(super) fn get_state(admin: &Admin) -> (u16, Bytes) {
    let state = admin.reloader.control();
    ok(json!({
        "apis": state.apis.values().collect::<Vec<_>>(),
        "policies": state.policies.values().collect::<Vec<_>>(),
        "consumers": state.consumers.values().collect::<Vec<_>>(),
    }))
}

/// The body of `PUT /admin/state`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    #[serde(default)]
    apis: Vec<ApiDoc>,
    #[serde(default)]
    policies: Vec<PolicyDoc>,
    #[serde(default)]
    consumers: Vec<Value>,
}

/// `PUT /admin/state`: replaces every stored document with the body's, in one transaction
/// and one swap, or changes nothing. For a control plane that pushes its whole view.
pub(super) async fn put_state(body: &[u8], admin: &Admin) -> (u16, Bytes) {
    let doc: StateDoc = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => return invalid(vec![format!("body: {e}")]),
    };
    let mut state = sluice_engine::config::control::ControlState::default();
    let mut errors = Vec::new();
    let duplicate =
        |kind: &str, id: &str| format!("{kind}[{id:?}]: appears more than once in the body");
    for api in doc.apis {
        if let Err(e) = checked_id(&api.id, Kind::Apis) {
            errors.extend(e);
        } else if state.apis.contains_key(&api.id) {
            errors.push(duplicate("apis", &api.id));
        } else {
            state.apis.insert(api.id.clone(), api);
        }
    }
    for p in doc.policies {
        if let Err(e) = checked_id(&p.id, Kind::Policies) {
            errors.extend(e);
        } else if state.policies.contains_key(&p.id) {
            errors.push(duplicate("policies", &p.id));
        } else {
            state.policies.insert(p.id.clone(), p);
        }
    }
    for c in doc.consumers {
        match consumer_doc(c) {
            Ok((id, _)) if state.consumers.contains_key(&id) => {
                errors.push(duplicate("consumers", &id))
            }
            Ok((id, c)) => {
                state.consumers.insert(id, c);
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let counts = json!({
        "apis": state.apis.len(),
        "policies": state.policies.len(),
        "consumers": state.consumers.len(),
    });
    match apply(admin, Change::ReplaceAll(Box::new(state))).await {
        applied @ (Applied::Updated | Applied::Unchanged) => {
            let changed = matches!(applied, Applied::Updated);
            ok(json!({"status": "ok", "changed": changed, "counts": counts}))
        }
        other => outcome(other, ""),
    }
}
