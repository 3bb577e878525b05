use serde_json::json;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sluice-store-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn api(id: &str) -> ApiDoc {
    serde_json::from_value(json!({"id": id, "path_prefix": format!("/{id}"),
        "backend_url": "http://127.0.0.1:1"}))
    .unwrap()
}

#[test]
fn changes_survive_reopening_and_deleting_an_api_drops_its_policies() {
    let dir = temp_dir("reopen");
    {
        let (store, loaded) = open(&dir).unwrap();
        assert_eq!(loaded.state, ControlState::default());
        store.commit(Change::PutApi(api("a"))).unwrap();
        store.commit(Change::PutApi(api("b"))).unwrap();
        let policy: PolicyDoc = serde_json::from_value(json!({"id": "p", "policy_type": "cors",
            "api_id": "a"}))
        .unwrap();
        store.commit(Change::PutPolicy(policy)).unwrap();
        store
            .commit(Change::PutConsumer("c".into(), json!({"id": "c"})))
            .unwrap();
        store.commit(Change::DeleteApi("b".into())).unwrap();
    }
    let (store, loaded) = open(&dir).unwrap();
    assert_eq!(loaded.state.apis.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(loaded.state.policies.keys().collect::<Vec<_>>(), ["p"]);
    assert_eq!(loaded.state.consumers["c"], json!({"id": "c"}));
    store.commit(Change::DeleteApi("a".into())).unwrap();
    drop(store);
    let (_, loaded) = open(&dir).unwrap();
    assert!(loaded.state.apis.is_empty() && loaded.state.policies.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn history_keeps_the_last_hour_in_order() {
    let dir = temp_dir("history");
    let now = sluice_engine::context::unix_now() as i64;
    let sample = |timestamp| Sample {
        timestamp,
        requests: 3,
        allowed: 2,
        blocked: 1,
        rate_limited: 1,
        active_buckets: 4,
        p99_ms: Some(1.5),
    };
    {
        let (store, _) = open(&dir).unwrap();
        // Two samples may fall in one second (the sampler drifts): both are kept.
        for ts in [now - 2 * HISTORY_SECONDS, now - 2, now - 1, now - 1] {
            store.append_history(sample(ts));
        }
        // A blocking call after the queued samples: they are all written by then.
        store.commit(Change::DeleteConsumer("none".into())).unwrap();
    }
    let (store, loaded) = open(&dir).unwrap();
    assert_eq!(
        loaded.history,
        [sample(now - 2), sample(now - 1), sample(now - 1)]
    );
    store.clear_history().unwrap();
    drop(store);
    assert!(open(&dir).unwrap().1.history.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_document_is_named_at_load() {
    let dir = temp_dir("corrupt");
    let (store, _) = open(&dir).unwrap();
    store.commit(Change::PutApi(api("a"))).unwrap();
    drop(store);
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute("UPDATE apis SET doc = 'nope' WHERE id = 'a'", [])
        .unwrap();
    drop(conn);
    let err = open(&dir)
        .err()
        .expect("a corrupt row must fail the load")
        .to_string();
    assert!(err.contains("stored API \"a\" is not valid JSON"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
