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
        retry_count_header: o.retry_count_header.clone(),
        max_replay_bytes: usize::try_from(o.max_replay_bytes).unwrap_or(usize::MAX),
        ..Retry::default()
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
