//! Chaos testing: `fault-injection` (refuse a share of requests) and `latency-injection`
//! (default priority 5: delay a share of requests before anything else runs).
//!
//! Both decide with rolls the caller draws, so tests fix the outcome. A roll for a
//! percentage is uniform in `[0, 100)`; the request is hit when `roll < percentage`, so
//! `percentage: 0` never hits and `percentage: 100` always does.

use std::borrow::Cow;
use std::time::Duration;

use crate::Reject;

/// Default `abort_status` of `fault-injection`.
pub const DEFAULT_ABORT_STATUS: u16 = 503;
/// Default message of an injected fault.
pub const DEFAULT_FAULT_MESSAGE: &str = "Fault injected";

/// Compiled `fault-injection` options.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultInjection {
    /// Status of the refusal; default [`DEFAULT_ABORT_STATUS`] (503).
    pub abort_status: u16,
    /// Share of requests refused, `0.0..=100.0` (the compiler checks the range).
    pub percentage: f64,
    /// Message of the refusal; default [`DEFAULT_FAULT_MESSAGE`].
    pub message: Cow<'static, str>,
}

/// Compiled `latency-injection` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyInjection {
    /// Fixed part of the delay.
    pub delay: Duration,
    /// Up to this much more, drawn uniformly per request; default zero.
    pub jitter: Duration,
    /// Share of requests delayed, `0.0..=100.0`; default 100.
    pub percentage: f64,
}

impl FaultInjection {
    /// Request phase: `Err` with `abort_status` and code `fault_injected` when
    /// `roll < percentage`, else `Ok`. `roll` is uniform in `[0, 100)`; a NaN roll never hits.
    pub fn on_request(&self, roll: f64) -> Result<(), Reject> {
        if hits(roll, self.percentage) {
            Err(Reject::new(
                self.abort_status,
                "fault_injected",
                self.message.clone(),
            ))
        } else {
            Ok(())
        }
    }
}

impl LatencyInjection {
    /// Request phase: the delay to wait before going on, or `None` when this request is not
    /// delayed (`roll >= percentage`). The delay is `delay + jitter × jitter_roll`, with
    /// `roll` uniform in `[0, 100)` and `jitter_roll` uniform in `[0, 1)` (clamped into it).
    pub fn delay_for(&self, roll: f64, jitter_roll: f64) -> Option<Duration> {
        if !hits(roll, self.percentage) {
            return None;
        }
        Some(self.delay + self.jitter.mul_f64(unit(jitter_roll)))
    }
}

/// True when a `[0, 100)` roll falls under `percentage`. NaN never hits.
fn hits(roll: f64, percentage: f64) -> bool {
    roll < percentage
}

/// `roll` clamped into `[0, 1]`; NaN becomes 0.
pub(crate) fn unit(roll: f64) -> f64 {
    if roll.is_nan() {
        0.0
    } else {
        roll.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(percentage: f64) -> FaultInjection {
        FaultInjection {
            abort_status: 500,
            percentage,
            message: Cow::Borrowed("boom"),
        }
    }

    #[test]
    fn fault_hits_below_percentage_only() {
        let f = fault(25.0);
        let r = f.on_request(24.999).unwrap_err();
        assert_eq!(
            (r.status, r.code, r.message.as_ref()),
            (500, "fault_injected", "boom")
        );
        assert!(r.headers.is_empty());
        assert!(f.on_request(25.0).is_ok());
        assert!(f.on_request(99.9).is_ok());
        assert!(f.on_request(f64::NAN).is_ok());
    }

    #[test]
    fn fault_percentage_edges() {
        assert!(fault(0.0).on_request(0.0).is_ok());
        assert!(fault(100.0).on_request(0.0).is_err());
        assert!(fault(100.0).on_request(99.999_999).is_err());
    }

    #[test]
    fn latency_delay_plus_jitter_share() {
        let l = LatencyInjection {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(50),
            percentage: 50.0,
        };
        assert_eq!(l.delay_for(10.0, 0.0), Some(Duration::from_millis(100)));
        assert_eq!(l.delay_for(10.0, 0.5), Some(Duration::from_millis(125)));
        // Out-of-range jitter rolls are clamped, never negative or unbounded.
        assert_eq!(l.delay_for(10.0, -3.0), Some(Duration::from_millis(100)));
        assert_eq!(l.delay_for(10.0, 7.0), Some(Duration::from_millis(150)));
        assert_eq!(
            l.delay_for(10.0, f64::NAN),
            Some(Duration::from_millis(100))
        );
        assert_eq!(l.delay_for(50.0, 0.5), None);
    }

    #[test]
    fn latency_without_jitter_is_fixed() {
        let l = LatencyInjection {
            delay: Duration::from_secs(2),
            jitter: Duration::ZERO,
            percentage: 100.0,
        };
        assert_eq!(l.delay_for(99.0, 0.9), Some(Duration::from_secs(2)));
    }
}
