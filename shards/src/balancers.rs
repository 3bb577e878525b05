//! Per-shard balancer state for every `url` upstream, keyed by the upstream's identity
//! (route and target list) so it survives reloads that keep the targets.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use sluice_codec::RequestHead;
use sluice_engine::balance::{Algorithm, BalancerState, HashOn, Outcome};
use sluice_engine::{RequestContext, UrlUpstream};

/// The shard's balancer states.
#[derive(Default)]
pub struct Balancers {
    states: RefCell<HashMap<String, BalancerState>>,
    /// Health verdicts for upstreams this shard has not used yet, applied on first use.
    verdicts: RefCell<HashMap<String, Vec<(usize, bool)>>>,
}

impl Balancers {
    fn with<R>(&self, up: &UrlUpstream, f: impl FnOnce(&mut BalancerState) -> R) -> R {
        let mut states = self.states.borrow_mut();
        if let Some(state) = states.get_mut(&up.key) {
            if state.len() != up.targets.len() {
                state.resize(up.targets.len());
            }
            // A reload may change `outlier:` for the same targets.
            if state.outlier() != up.balancer.outlier() {
                state.set_outlier(*up.balancer.outlier());
            }
            return f(state);
        }
        // First request to this upstream on this shard: the only time the key is cloned.
        let mut state = up.balancer.new_state();
        for (i, healthy) in self
            .verdicts
            .borrow_mut()
            .remove(&up.key)
            .unwrap_or_default()
        {
            if i < state.len() {
                state.set_health(i, healthy);
            }
        }
        f(states.entry(up.key.clone()).or_insert(state))
    }

    /// The target for this request, preferring targets not in `tried` (retries); `None`
    /// when every target is down.
    pub fn pick_excluding(
        &self,
        up: &UrlUpstream,
        req: &RequestHead,
        ctx: &RequestContext,
        tried: &[usize],
    ) -> Option<usize> {
        if stateless(up) {
            return Some(0);
        }
        if up.targets.len() == 1 && tried.is_empty() {
            // A single target with health checks or ejection: honour its state.
            return self.with(up, |s| s.is_healthy(0).then_some(0));
        }
        let ip;
        let key: Option<&[u8]> = match up.balancer.algorithm() {
            Algorithm::Hash(HashOn::Ip) => {
                ip = ctx.client.ip().to_string();
                Some(ip.as_bytes())
            }
            Algorithm::Hash(HashOn::Header(name)) => req.headers.get(name).map(|v| v.as_ref()),
            Algorithm::Hash(HashOn::Cookie(name)) => cookie(req, name),
            Algorithm::Hash(HashOn::Path) => Some(&req.path[..]),
            _ => None,
        };
        let now = Instant::now();
        self.with(up, |s| {
            up.balancer.pick(s, key, tried, now, fastrand::u64(..))
        })
    }

    /// Counts a request in flight on target `i`.
    pub fn start(&self, up: &UrlUpstream, i: usize) {
        if stateless(up) {
            return;
        }
        self.with(up, |s| s.start(i));
    }

    /// Ends a request on target `i`; failures feed passive outlier detection.
    pub fn finish(&self, up: &UrlUpstream, i: usize, success: bool) {
        if stateless(up) {
            return;
        }
        let outcome = if success {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let ejected = self.with(up, |s| s.finish(i, outcome, Instant::now()));
        if let Some(for_how_long) = ejected {
            tracing::warn!(upstream = %up.targets[i].display, ?for_how_long, "target ejected after consecutive failures");
        }
    }

    /// Whether target `i` of `up` is in service on this shard (healthy and not ejected).
    pub fn is_healthy(&self, up: &UrlUpstream, i: usize) -> bool {
        let now = Instant::now();
        self.with(up, |s| s.is_healthy(i) && !s.is_ejected(i, now))
    }

    /// Whether target `i` of `up` passed its last active health verdict.
    pub fn actively_healthy(&self, up: &UrlUpstream, i: usize) -> bool {
        self.with(up, |s| s.is_healthy(i))
    }

    /// Applies an active health-check verdict published by the checking shard.
    pub fn set_health(&self, key: &str, i: usize, healthy: bool) {
        match self.states.borrow_mut().get_mut(key) {
            Some(s) if i < s.len() => s.set_health(i, healthy),
            Some(_) => {}
            None => {
                // Only the latest verdict per target matters: checks keep coming every
                // interval for an upstream this shard may never use.
                let mut verdicts = self.verdicts.borrow_mut();
                let list = verdicts.entry(key.to_owned()).or_default();
                match list.iter_mut().find(|(t, _)| *t == i) {
                    Some(v) => v.1 = healthy,
                    None => list.push((i, healthy)),
                }
            }
        }
    }

    /// Forgets the state of upstreams no route of `snap` has any more (a reload or an admin
    /// write removed them), so routes that come and go do not leak. A request still running
    /// on the old snapshot starts a fresh state if it touches one again.
    pub fn retain_upstreams_of(&self, snap: &sluice_engine::Snapshot) {
        let live: std::collections::HashSet<&str> = snap
            .routes
            .iter()
            .filter_map(|r| match &r.upstream {
                sluice_engine::Upstream::Url(u) => Some(u.key.as_str()),
                _ => None,
            })
            .collect();
        self.states
            .borrow_mut()
            .retain(|k, _| live.contains(k.as_str()));
        self.verdicts
            .borrow_mut()
            .retain(|k, _| live.contains(k.as_str()));
    }

    /// Upstreams with state on this shard (tests).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.states.borrow().len() + self.verdicts.borrow().len()
    }
}

/// One target, no health checks, no ejection: nothing to choose and nothing to track, so the
/// common case skips the state map (three look-ups of the upstream's key per request).
fn stateless(up: &UrlUpstream) -> bool {
    up.targets.len() == 1
        && up.health_check.is_none()
        && up.balancer.outlier().consecutive_failures == 0
}

fn cookie<'a>(req: &'a RequestHead, name: &str) -> Option<&'a [u8]> {
    for v in req.headers.get_all("cookie") {
        for part in v.split(|&b| b == b';') {
            let part = part.trim_ascii();
            if part.len() > name.len()
                && part.starts_with(name.as_bytes())
                && part[name.len()] == b'='
            {
                return Some(&part[name.len() + 1..]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(routes: &[&str]) -> sluice_engine::Snapshot {
        let mut yaml = String::from("name: t\nroutes:\n");
        for r in routes {
            yaml.push_str(&format!(
                "  - path: {r}\n    upstream:\n      type: url\n      targets:\n        \
                 - url: http://127.0.0.1:1\n        - url: http://127.0.0.1:2\n"
            ));
        }
        let cfg = sluice_engine::config::load_str(&yaml, "t.yaml").unwrap();
        sluice_engine::compile(&cfg).unwrap()
    }

    fn url(snap: &sluice_engine::Snapshot, i: usize) -> &UrlUpstream {
        match &snap.routes[i].upstream {
            sluice_engine::Upstream::Url(u) => u,
            _ => unreachable!("every test route has a url upstream"),
        }
    }

    #[test]
    fn state_of_removed_upstreams_is_freed_and_kept_ones_survive() {
        let balancers = Balancers::default();
        let both = snapshot(&["/a", "/b"]);
        balancers.start(url(&both, 0), 0);
        balancers.start(url(&both, 1), 1);
        balancers.set_health("not-used-yet", 0, false);
        assert_eq!(balancers.tracked(), 3);

        let only_a = snapshot(&["/a"]);
        balancers.retain_upstreams_of(&only_a);
        assert_eq!(balancers.tracked(), 1);
        // /a kept its state: the request started above is still in flight on target 0, so
        // least-loaded bookkeeping continues across the reload.
        balancers.finish(url(&only_a, 0), 0, true);
        assert_eq!(balancers.tracked(), 1);
    }

    #[test]
    fn verdicts_for_unused_upstreams_keep_only_the_latest_per_target() {
        let balancers = Balancers::default();
        for healthy in [true, false, true, false] {
            balancers.set_health("k", 0, healthy);
            balancers.set_health("k", 1, !healthy);
        }
        assert_eq!(balancers.verdicts.borrow()["k"], [(0, false), (1, true)]);
    }
}
