//! Active health checks: shard 0 probes every target of every upstream with a
//! `health_check`, and publishes each flip (after the thresholds) to all shards by message.
//! A reload starts a new generation of checkers; the old ones notice and stop.

use std::rc::Rc;
use std::sync::Arc;

use sluice_codec::Method;
use sluice_engine::balance::HealthCounter;
use sluice_engine::{Snapshot, Upstream};

use crate::client::{call, SideRequest};
use crate::mesh::MeshMsg;
use crate::shard::Shard;

/// Starts checkers for every upstream of `snap` that asks for them (call on shard 0).
pub fn start(shard: &Rc<Shard>, snap: Arc<Snapshot>, generation: u64) {
    for (route, r) in snap.routes.iter().enumerate() {
        if let Upstream::Url(up) = &r.upstream {
            if up.health_check.is_some() {
                monoio::spawn(check_upstream(
                    shard.clone(),
                    snap.clone(),
                    route,
                    generation,
                ));
            }
        }
    }
}

async fn check_upstream(shard: Rc<Shard>, snap: Arc<Snapshot>, route: usize, generation: u64) {
    let Upstream::Url(up) = &snap.routes[route].upstream else {
        return;
    };
    let Some(hc) = &up.health_check else { return };
    let mut counter = HealthCounter::new(
        up.targets.len(),
        hc.healthy_threshold,
        hc.unhealthy_threshold,
    );
    // A reload starts new checkers; targets already down stay down until they pass
    // `healthy_threshold` checks (the counter starts healthy, so replay the verdict).
    for i in 0..up.targets.len() {
        if !shard.balancers.actively_healthy(up, i) {
            for _ in 0..hc.unhealthy_threshold {
                let _ = counter.observe(i, false);
            }
        }
    }
    loop {
        for (i, target) in up.targets.iter().enumerate() {
            if shard.health_generation() != generation || shard.shutting_down() {
                return;
            }
            let Some(&addr) = target.addrs.first() else {
                continue;
            };
            let req = SideRequest {
                addr,
                authority: String::from_utf8_lossy(&target.authority).into_owned(),
                target: hc.path.clone(),
                method: Method::Get,
                headers: vec![("user-agent".into(), "sluice-health-check".into())],
                body: bytes::Bytes::new(),
                timeout: hc.timeout,
            };
            let ok = matches!(call(&req).await, Ok(r) if hc.expected_status.contains(&r.status));
            if let Some(healthy) = counter.observe(i, ok) {
                tracing::warn!(target = %target.display, healthy, "health check verdict changed");
                let key = up.key.clone();
                shard.mesh.broadcast(|| MeshMsg::Health {
                    key: key.clone(),
                    target: i,
                    healthy,
                });
            }
        }
        monoio::time::sleep(hc.interval).await;
        if shard.health_generation() != generation {
            return;
        }
    }
}
