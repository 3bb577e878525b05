//! Sluice policy ops: each policy's compiled config and what it does in each phase.
//!
//! Policies are data. The engine's compiler turns config entries into the structs here and
//! refers to them from a flat array of [`Op`]s; the interpreter dispatches with one `match`.
//! Nothing here knows about sockets, runtimes or config files.
#![forbid(unsafe_code)]

pub mod answer;
pub mod ip_filter;
pub mod mock;
pub mod skip;
pub mod transform;

pub use answer::{Answer, Reject};
pub use ip_filter::IpFilter;
pub use mock::Mock;
pub use skip::Skip;
pub use transform::HeaderTransform;

/// One instruction of a route program. The `u32` is an index into the program's
/// per-kind table, so an `Op` is 8 bytes and the op array stays in a few cache lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Refuses clients by address (request phase only).
    IpFilter(u32),
    /// Rewrites request headers before the upstream call (request phase only).
    RequestTransform(u32),
    /// Rewrites response headers on the way back (response phase only).
    ResponseTransform(u32),
    /// Answers without calling the upstream (request phase only).
    Mock(u32),
}

impl Op {
    /// The policy type name as written in config, e.g. `ip-filter`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::IpFilter(_) => "ip-filter",
            Op::RequestTransform(_) => "request-transform",
            Op::ResponseTransform(_) => "response-transform",
            Op::Mock(_) => "mock",
        }
    }
}
