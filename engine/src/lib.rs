//! The Sluice engine: the router, the compiler from config to an immutable [`Snapshot`]
//! of per-route programs, the interpreter that runs a program over a request, the
//! request context, and the one function that turns errors into HTTP responses.
//!
//! No sockets here: the `shards` crate owns I/O and calls into this crate.
#![forbid(unsafe_code)]

/// The config model, re-exported so the runtime reads config only through the engine.
pub use sluice_config as config;

pub mod balance;
pub mod body;
pub mod callout;
pub mod compile;
pub mod context;
pub mod error;
pub mod forward;
pub mod interp;
pub mod metrics;
pub mod program;
pub mod router;
pub mod snapshot;
pub mod state;

pub use compile::{compile, compile_with, CompileError, Resolver};
pub use context::{RequestContext, TraceContext};
pub use error::{error_response, ErrorKind, LocalResponse};
pub use interp::{run_request, run_request_from, run_response, Flow, PolicyEnv};
pub use program::{OpEntry, Program};
pub use router::{RouteMatch, Router};
pub use snapshot::{
    FetchTarget, HealthCheck, HealthRoute, Route, RuntimeLimits, Snapshot, StaticResponse,
    Upstream, UpstreamTarget, UrlUpstream,
};
pub use state::ShardState;
