//! Config -> compiled structs for the resilience policies.

use sluice_codec::Method;
use sluice_config::{
    Backoff, BreakerScope, BreakerTrip, CircuitBreakerOptions, RequestMatch, RetryOn, RetryOptions,
};
use sluice_policies::circuit_breaker::{CircuitBreaker, Scope};
use sluice_policies::retry::{self, Retry};
use sluice_policies::when::Condition;

pub(super) fn retry(o: &RetryOptions) -> Retry {
    let mut on = retry::RetryOn {
        statuses: Vec::new(),
        connect_error: false,
        reset: false,
        timeout: false,
    };
    for r in &o.retry_on {
        match r {
            RetryOn::Status(s) => on.statuses.push(*s),
            RetryOn::ConnectError => on.connect_error = true,
            RetryOn::Reset => on.reset = true,
            RetryOn::Timeout => on.timeout = true,
        }
    }
    Retry {
        max_retries: o.max_retries,
        retry_on: on,
        methods: o
            .methods
            .iter()
            .map(|m| Method::from_bytes(m.as_bytes()))
            .collect(),
        backoff: match o.backoff {
            Backoff::Exponential => retry::Backoff::Exponential,
            Backoff::Fixed => retry::Backoff::Fixed,
        },
        base_delay: o.base_delay,
        max_delay: o.max_delay,
        jitter: o.jitter,
        budget_percent: f64::from(o.budget_percent),
        budget_min_per_sec: o.budget_min_per_second,
        retry_count_header: o.retry_count_header.clone(),
        max_replay_bytes: usize::try_from(o.max_replay_bytes).unwrap_or(usize::MAX),
    }
}

pub(super) fn breaker(o: &CircuitBreakerOptions, breaker_id: String) -> CircuitBreaker {
    let (failure_threshold, failure_rate) = match o.trip {
        BreakerTrip::FailureThreshold(n) => (Some(n), None),
        BreakerTrip::FailureRate(r) => (None, Some(r)),
    };
    CircuitBreaker {
        breaker_id,
        scope: match o.scope {
            BreakerScope::Target => Scope::Target,
            BreakerScope::Route => Scope::Route,
        },
        failure_threshold,
        failure_rate,
        window: o.window,
        min_requests: o.min_requests,
        reset_timeout: o.reset_timeout,
        half_open_max: o.half_open_max,
        failure_on: o.failure_on.clone(),
    }
}

pub(super) fn condition(m: &RequestMatch) -> Condition {
    Condition {
        headers: m.headers.clone(),
        query: m.query.clone(),
        path: m.path.clone(),
        method: m
            .methods
            .iter()
            .map(|x| Method::from_bytes(x.as_bytes()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_config::PolicyKind;

    use super::*;

    /// The compiled `retry` policy of a file whose one global policy is
    /// `{type: retry, <options>}`.
    fn compiled(options: &str) -> Retry {
        let yaml = format!(
            "name: t\nlisten: [\"127.0.0.1:0\"]\npolicies:\n  - {{type: retry, {options}}}\nroutes:\n  - path: /\n    upstream: {{type: static, status: 200}}\n"
        );
        let cfg = sluice_config::load_str(&yaml, "t.yaml").expect("a valid config");
        match &cfg.policies[0].kind {
            PolicyKind::Retry(o) => retry(o),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn budget_floor_and_share_reach_the_policy() {
        let r = compiled("budget_percent: 0, budget_min_per_second: 0");
        assert_eq!((r.budget_percent, r.budget_min_per_sec), (0.0, 0.0));
        let r = compiled("budget_min_per_second: 2.5");
        assert_eq!((r.budget_percent, r.budget_min_per_sec), (20.0, 2.5));
        let r = compiled("max_retries: 1");
        assert_eq!(
            r.budget_min_per_sec,
            sluice_policies::retry::DEFAULT_BUDGET_MIN_PER_SEC
        );
    }

    #[test]
    fn fixed_backoff_waits_its_whole_base_delay() {
        // Longer than the default max_delay, which fixed backoff ignores.
        let r = compiled("backoff: fixed, base_delay: 2s, jitter: false");
        assert_eq!(r.delay(1, 0.0), Duration::from_secs(2));
        assert_eq!(r.delay(3, 0.0), Duration::from_secs(2));
    }
}
