//! Options of the resilience and chaos policies: `timeout`, `retry`, `circuit-breaker`,
//! `latency-injection`, `fault-injection` and `traffic-shadow`.

use std::time::Duration;

use crate::auth::lower_header;
use crate::error::{self, Errors};
use crate::guards::{distinct, distinct_or_default, flag};
use crate::http;
use crate::model::{
    Backoff, BreakerScope, BreakerTrip, CircuitBreakerOptions, FaultInjectionOptions,
    LatencyInjectionOptions, RetryOn, RetryOptions, TimeoutOptions, TrafficShadowOptions,
};
use crate::raw::{
    self, RawCircuitBreaker, RawFaultInjection, RawLatencyInjection, RawRetry, RawTimeout,
    RawTrafficShadow, Scalar,
};
use crate::route::target_url;
use crate::traffic::message;
use crate::upstream::status_code;
use crate::validate::{duration, positive, positive_duration, required};

const DEFAULT_MAX_RETRIES: u32 = 3;
const DEFAULT_RETRY_ON: &[RetryOn] = &[
    RetryOn::Status(502),
    RetryOn::Status(503),
    RetryOn::Status(504),
    RetryOn::ConnectError,
    RetryOn::Reset,
];
/// The idempotent methods of RFC 9110 section 9.2.2.
const DEFAULT_RETRY_METHODS: &[&str] = &["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"];
/// The `retry_on` words, in the order listed in messages.
const RETRY_ON_WORDS: &[&str] = &["connect_error", "reset", "timeout"];
/// The `backoff` names, in the order listed in messages.
const BACKOFFS: &[&str] = &["exponential", "fixed"];
const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(25);
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_BUDGET_PERCENT: u32 = 20;
/// linkerd's and Finagle's floor, for the whole process.
const DEFAULT_BUDGET_MIN_PER_SECOND: f64 = 10.0;
const DEFAULT_MAX_REPLAY_BYTES: u64 = 64 * 1024;
/// The `scope` names, in the order listed in messages.
const SCOPES: &[&str] = &["target", "route"];
const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
const DEFAULT_BREAKER_WINDOW: Duration = Duration::from_secs(10);
const DEFAULT_MIN_REQUESTS: u32 = 10;
const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_HALF_OPEN_MAX: u32 = 1;
const DEFAULT_FAILURE_ON: &[u16] = &[502, 503, 504];
const DEFAULT_PERCENTAGE: f64 = 100.0;
const DEFAULT_FAULT_MESSAGE: &str = "Fault injected";
const DEFAULT_SHADOW_TIMEOUT: Duration = Duration::from_secs(1);

/// `type: timeout` options at `path`.
pub(crate) fn timeout(raw: RawTimeout, path: &str, errors: &mut Errors) -> Option<TimeoutOptions> {
    if raw.request.is_none() && raw.first_byte.is_none() && raw.idle.is_none() {
        errors.add(
            path,
            "timeout does nothing: give at least one of request, first_byte, idle",
        );
        return None;
    }
    let at = |field: &str| error::key(path, field);
    let optional = |field: Option<Scalar>, name: &str, errors: &mut Errors| match field {
        // The default is never used: the field is there.
        Some(text) => positive_duration(Some(text), &at(name), Duration::ZERO, errors).map(Some),
        None => Some(None),
    };
    let request = optional(raw.request, "request", errors);
    let first_byte = optional(raw.first_byte, "first_byte", errors);
    let idle = optional(raw.idle, "idle", errors);
    // A part longer than the whole could never fire.
    let within_request =
        |part: Option<Option<Duration>>, name: &str, errors: &mut Errors| match (part, request) {
            (Some(Some(part)), Some(Some(whole))) if part > whole => {
                errors.add(
                    &at(name),
                    format!("must be at most request ({whole:?}), or it could never fire"),
                );
                None
            }
            (part, _) => part,
        };
    let first_byte = within_request(first_byte, "first_byte", errors);
    let idle = within_request(idle, "idle", errors);
    Some(TimeoutOptions {
        request: request?,
        first_byte: first_byte?,
        idle: idle?,
    })
}

/// `type: retry` options at `path`.
pub(crate) fn retry(raw: RawRetry, path: &str, errors: &mut Errors) -> Option<RetryOptions> {
    let at = |field: &str| error::key(path, field);
    let max_retries = positive(
        raw.max_retries,
        &at("max_retries"),
        DEFAULT_MAX_RETRIES,
        errors,
    );
    let retry_on = match raw.retry_on {
        Some(list) if list.is_empty() => {
            errors.add(
                &at("retry_on"),
                "must not be empty (leave it out for 502, 503, 504, connect_error, reset)",
            );
            None
        }
        Some(list) => distinct(
            list,
            &at("retry_on"),
            retry_condition,
            |c| describe_retry_on(*c),
            errors,
        ),
        None => Some(DEFAULT_RETRY_ON.to_vec()),
    };
    let methods = distinct_or_default(
        raw.methods,
        &at("methods"),
        DEFAULT_RETRY_METHODS,
        http::method,
        |m| format!("method {m}"),
        errors,
    );
    let backoff = match raw.backoff {
        Some(Scalar(text)) => errors.check(&at("backoff"), backoff(&text)),
        None => Some(Backoff::Exponential),
    };
    let max_delay_given = raw.max_delay.is_some();
    let base_delay_given = raw.base_delay.is_some();
    let base_delay = duration(
        raw.base_delay,
        &at("base_delay"),
        DEFAULT_BASE_DELAY,
        errors,
    );
    let max_delay = match (raw.max_delay, backoff) {
        (Some(_), Some(Backoff::Fixed)) => {
            errors.add(
                &at("max_delay"),
                "max_delay only applies to backoff: exponential (fixed waits base_delay every \
                 time)",
            );
            None
        }
        (field, _) => positive_duration(field, &at("max_delay"), DEFAULT_MAX_DELAY, errors),
    };
    // Judged only with exponential backoff: fixed never reads max_delay.
    let delays = match (base_delay, max_delay, backoff) {
        (Some(base), Some(max), Some(Backoff::Exponential)) if base > max => {
            if max_delay_given || !base_delay_given {
                errors.add(
                    &at("max_delay"),
                    format!("must be at least base_delay ({base:?})"),
                );
            } else {
                errors.add(
                    &at("base_delay"),
                    format!(
                        "must be at most max_delay ({max:?} by default); raise max_delay as well"
                    ),
                );
            }
            None
        }
        (Some(base), Some(max), _) => Some((base, max)),
        _ => None,
    };
    let jitter = flag(raw.jitter, &at("jitter"), true, errors);
    let budget_percent = match raw.budget_percent {
        Some(text) => errors.check(&at("budget_percent"), percent_integer(&text)),
        None => Some(DEFAULT_BUDGET_PERCENT),
    };
    let budget_min_per_second = match raw.budget_min_per_second {
        Some(text) => errors.check(&at("budget_min_per_second"), non_negative_number(&text)),
        None => Some(DEFAULT_BUDGET_MIN_PER_SECOND),
    };
    let retry_count_header = match raw.retry_count_header {
        Some(name) => lower_header(Some(name), &at("retry_count_header"), "", errors).map(Some),
        None => Some(None),
    };
    let max_replay_bytes = match raw.max_replay_bytes {
        Some(text) => errors.check(&at("max_replay_bytes"), text.integer::<u64>()),
        None => Some(DEFAULT_MAX_REPLAY_BYTES),
    };
    let (base_delay, max_delay) = delays?;
    Some(RetryOptions {
        max_retries: max_retries?,
        retry_on: retry_on?,
        methods: methods?,
        backoff: backoff?,
        base_delay,
        max_delay,
        jitter: jitter?,
        budget_percent: budget_percent?,
        budget_min_per_second: budget_min_per_second?,
        retry_count_header: retry_count_header?,
        max_replay_bytes: max_replay_bytes?,
    })
}

/// A status 400..=599 or one of [`RETRY_ON_WORDS`].
fn retry_condition(text: &str) -> Result<RetryOn, String> {
    match text {
        "connect_error" => return Ok(RetryOn::ConnectError),
        "reset" => return Ok(RetryOn::Reset),
        "timeout" => return Ok(RetryOn::Timeout),
        _ => {}
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return status_code(&Scalar(text.to_owned()), 400).map(RetryOn::Status);
    }
    Err(format!(
        "unknown retry_on {text:?}{}, expected a status (400..=599) or one of: {}",
        raw::did_you_mean(text, RETRY_ON_WORDS),
        RETRY_ON_WORDS.join(", ")
    ))
}

fn describe_retry_on(condition: RetryOn) -> String {
    match condition {
        RetryOn::Status(code) => format!("status {code}"),
        RetryOn::ConnectError => "connect_error".into(),
        RetryOn::Reset => "reset".into(),
        RetryOn::Timeout => "timeout".into(),
    }
}

fn backoff(text: &str) -> Result<Backoff, String> {
    match text {
        "exponential" => Ok(Backoff::Exponential),
        "fixed" => Ok(Backoff::Fixed),
        _ => Err(format!(
            "unknown backoff {text:?}{}, expected one of: {}",
            raw::did_you_mean(text, BACKOFFS),
            BACKOFFS.join(", ")
        )),
    }
}

/// An integer 0..=100.
fn percent_integer(text: &Scalar) -> Result<u32, String> {
    let value: u32 = text.integer()?;
    if value > 100 {
        return Err("must be at most 100".into());
    }
    Ok(value)
}

/// A finite number of 0 or more, fractions allowed (`0.5` retries a second is one in two
/// seconds).
fn non_negative_number(text: &Scalar) -> Result<f64, String> {
    let written = text.0.trim();
    let invalid = || {
        format!(
            "invalid number {:?} (expected 0 or more, e.g. 10 or 0.5)",
            text.0
        )
    };
    // Digits and one dot only: no sign, exponent, `inf` or `NaN`.
    if written.is_empty() || !written.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    match written.parse::<f64>() {
        // Hundreds of digits parse to infinity, which no budget can hold.
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(invalid()),
    }
}

/// A percentage 0..=100, fractions allowed (`0.5` is one request in two hundred).
fn percentage(text: &Scalar) -> Result<f64, String> {
    let written = text.0.trim();
    let invalid = || {
        format!(
            "invalid percentage {:?} (expected a number from 0 to 100)",
            text.0
        )
    };
    // Digits and one dot only: no sign, exponent, `inf` or `NaN`.
    if written.is_empty() || !written.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    match written.parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value),
        _ => Err(invalid()),
    }
}

/// An optional [`percentage`] at `path`, `default` when absent.
fn optional_percentage(
    field: Option<Scalar>,
    path: &str,
    default: f64,
    errors: &mut Errors,
) -> Option<f64> {
    match field {
        Some(text) => errors.check(path, percentage(&text)),
        None => Some(default),
    }
}

/// `type: circuit-breaker` options at `path`.
pub(crate) fn circuit_breaker(
    raw: RawCircuitBreaker,
    path: &str,
    errors: &mut Errors,
) -> Option<CircuitBreakerOptions> {
    let at = |field: &str| error::key(path, field);
    let scope = match raw.scope {
        Some(Scalar(text)) => errors.check(&at("scope"), scope(&text)),
        None => Some(BreakerScope::Target),
    };
    let trip = match (raw.failure_threshold, raw.failure_rate) {
        (Some(_), Some(_)) => {
            errors.add(
                path,
                "give either failure_threshold or failure_rate, not both (the breaker opens on \
                 one of them)",
            );
            None
        }
        (Some(text), None) => positive(
            Some(text),
            &at("failure_threshold"),
            DEFAULT_FAILURE_THRESHOLD,
            errors,
        )
        .map(BreakerTrip::FailureThreshold),
        (None, Some(text)) => errors
            .check(&at("failure_rate"), failure_rate(&text))
            .map(BreakerTrip::FailureRate),
        (None, None) => Some(BreakerTrip::FailureThreshold(DEFAULT_FAILURE_THRESHOLD)),
    };
    let window = positive_duration(raw.window, &at("window"), DEFAULT_BREAKER_WINDOW, errors);
    let min_requests = positive(
        raw.min_requests,
        &at("min_requests"),
        DEFAULT_MIN_REQUESTS,
        errors,
    );
    let reset_timeout = positive_duration(
        raw.reset_timeout,
        &at("reset_timeout"),
        DEFAULT_RESET_TIMEOUT,
        errors,
    );
    let half_open_max = positive(
        raw.half_open_max,
        &at("half_open_max"),
        DEFAULT_HALF_OPEN_MAX,
        errors,
    );
    let failure_on = match raw.failure_on {
        Some(list) if list.is_empty() => {
            errors.add(
                &at("failure_on"),
                "must not be empty (leave it out for 502, 503, 504)",
            );
            None
        }
        Some(list) => distinct(
            list,
            &at("failure_on"),
            |text| status_code(&Scalar(text.to_owned()), 400),
            |s| format!("status {s}"),
            errors,
        ),
        None => Some(DEFAULT_FAILURE_ON.to_vec()),
    };
    Some(CircuitBreakerOptions {
        scope: scope?,
        trip: trip?,
        window: window?,
        min_requests: min_requests?,
        reset_timeout: reset_timeout?,
        half_open_max: half_open_max?,
        failure_on: failure_on?,
    })
}

fn scope(text: &str) -> Result<BreakerScope, String> {
    match text {
        "target" => Ok(BreakerScope::Target),
        "route" => Ok(BreakerScope::Route),
        _ => Err(format!(
            "unknown scope {text:?}{}, expected one of: {}",
            raw::did_you_mean(text, SCOPES),
            SCOPES.join(", ")
        )),
    }
}

/// A fraction above 0 and at most 1.
fn failure_rate(text: &Scalar) -> Result<f64, String> {
    let written = text.0.trim();
    let invalid = || {
        format!(
            "invalid failure_rate {:?} (expected a fraction above 0 and at most 1, e.g. 0.5)",
            text.0
        )
    };
    if written.is_empty() || !written.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    match written.parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 1.0 => Ok(value),
        _ => Err(invalid()),
    }
}

/// `type: latency-injection` options at `path`.
pub(crate) fn latency_injection(
    raw: RawLatencyInjection,
    path: &str,
    errors: &mut Errors,
) -> Option<LatencyInjectionOptions> {
    let at = |field: &str| error::key(path, field);
    // Given whenever `positive_duration` sees it, so its default is never used.
    let delay = required(raw.delay, path, "delay", errors)
        .and_then(|d| positive_duration(Some(d), &at("delay"), Duration::ZERO, errors));
    let jitter = duration(raw.jitter, &at("jitter"), Duration::ZERO, errors);
    let percentage = optional_percentage(
        raw.percentage,
        &at("percentage"),
        DEFAULT_PERCENTAGE,
        errors,
    );
    Some(LatencyInjectionOptions {
        delay: delay?,
        jitter: jitter?,
        percentage: percentage?,
    })
}

/// `type: fault-injection` options at `path`.
pub(crate) fn fault_injection(
    raw: RawFaultInjection,
    path: &str,
    errors: &mut Errors,
) -> Option<FaultInjectionOptions> {
    let at = |field: &str| error::key(path, field);
    let abort_status = required(raw.abort_status, path, "abort_status", errors)
        .and_then(|text| errors.check(&at("abort_status"), status_code(&text, 400)));
    let percentage = required(raw.percentage, path, "percentage", errors)
        .and_then(|text| errors.check(&at("percentage"), percentage(&text)));
    let message = match raw.message {
        Some(Scalar(text)) => errors.check(&at("message"), message(text)),
        None => Some(DEFAULT_FAULT_MESSAGE.to_owned()),
    };
    Some(FaultInjectionOptions {
        abort_status: abort_status?,
        percentage: percentage?,
        message: message?,
    })
}

/// `type: traffic-shadow` options at `path`.
/// `traffic-shadow`'s `max_body_bytes` when absent: mirrored bodies are held in memory.
const DEFAULT_SHADOW_MAX_BODY_BYTES: u64 = 1024 * 1024;

pub(crate) fn traffic_shadow(
    raw: RawTrafficShadow,
    path: &str,
    errors: &mut Errors,
) -> Option<TrafficShadowOptions> {
    let at = |field: &str| error::key(path, field);
    let target = required(raw.target, path, "target", errors)
        .and_then(|Scalar(text)| errors.check(&at("target"), target_url(&text)));
    let percentage = optional_percentage(
        raw.percentage,
        &at("percentage"),
        DEFAULT_PERCENTAGE,
        errors,
    );
    let timeout = positive_duration(raw.timeout, &at("timeout"), DEFAULT_SHADOW_TIMEOUT, errors);
    let max_body_bytes = match raw.max_body_bytes {
        Some(text) => errors.check(&at("max_body_bytes"), text.integer::<u64>()),
        None => Some(DEFAULT_SHADOW_MAX_BODY_BYTES),
    };
    Some(TrafficShadowOptions {
        target: target?,
        percentage: percentage?,
        timeout: timeout?,
        max_body_bytes: max_body_bytes?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        let p = |t: &str| percentage(&Scalar(t.into()));
        assert_eq!(p("0"), Ok(0.0));
        assert_eq!(p("100"), Ok(100.0));
        assert_eq!(p("0.5"), Ok(0.5));
        assert_eq!(p(" 12.25 "), Ok(12.25));
        for bad in ["", "-1", "100.5", "1e2", "inf", "NaN", "50%", ".", "1.2.3"] {
            assert_eq!(
                p(bad),
                Err(format!(
                    "invalid percentage {bad:?} (expected a number from 0 to 100)"
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn failure_rates() {
        let r = |t: &str| failure_rate(&Scalar(t.into()));
        assert_eq!(r("0.5"), Ok(0.5));
        assert_eq!(r("1"), Ok(1.0));
        assert_eq!(r("0.001"), Ok(0.001));
        for bad in ["0", "0.0", "1.01", "2", "-0.5", "50%", "NaN", ""] {
            assert!(r(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_conditions() {
        assert_eq!(retry_condition("503"), Ok(RetryOn::Status(503)));
        assert_eq!(retry_condition("reset"), Ok(RetryOn::Reset));
        assert_eq!(
            retry_condition("200"),
            Err("invalid status \"200\" (expected 400..=599)".into())
        );
        assert_eq!(
            retry_condition("connect-error"),
            Err(
                "unknown retry_on \"connect-error\" (did you mean \"connect_error\"?), expected a \
                 status (400..=599) or one of: connect_error, reset, timeout"
                    .into()
            )
        );
    }
}
