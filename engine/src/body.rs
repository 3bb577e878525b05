//! Request-body checks: ops that look at the body as it streams to the upstream
//! (`request-limit` on chunked bodies, `json-threat-protection`, `regex-threat-protection`).
//!
//! The request phase decides which checks apply and parks their state here; the shard feeds
//! every chunk before forwarding it and calls [`BodyChecks::finish`] before the body's last
//! bytes leave, so a refused body never fully reaches the upstream.

use sluice_policies::json_threat::JsonChecker;
use sluice_policies::regex_threat::RegexBodyChecker;
use sluice_policies::request_limit::RequestLimitChecker;
use sluice_policies::Reject;

/// One check's running state.
#[derive(Debug)]
pub enum BodyCheck {
    Limit(RequestLimitChecker),
    Json(JsonChecker),
    Regex(RegexBodyChecker),
}

/// The checks of one request, in program order.
#[derive(Debug, Default)]
pub struct BodyChecks {
    checks: Vec<BodyCheck>,
}

impl BodyChecks {
    /// Adds a check.
    pub fn push(&mut self, check: BodyCheck) {
        self.checks.push(check);
    }

    /// True when no op wants to see the body (the common case; then nothing is fed).
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Feeds one chunk to every check; the first refusal wins.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Reject> {
        for c in &mut self.checks {
            match c {
                BodyCheck::Limit(x) => x.feed(chunk)?,
                BodyCheck::Json(x) => x.feed(chunk)?,
                BodyCheck::Regex(x) => x.feed(chunk)?,
            }
        }
        Ok(())
    }

    /// Ends the body: checks that need the whole body (truncated JSON, a pattern in the last
    /// bytes) decide here.
    pub fn finish(&mut self) -> Result<(), Reject> {
        for c in &mut self.checks {
            match c {
                BodyCheck::Limit(x) => x.finish()?,
                BodyCheck::Json(x) => x.finish()?,
                BodyCheck::Regex(x) => x.finish()?,
            }
        }
        Ok(())
    }
}
