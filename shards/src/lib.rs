//! The Sluice runtime: one pinned monoio (io_uring) runtime per shard, SO_REUSEPORT
//! listeners, the downstream connection loop, per-shard upstream pools, signals and the CLI.
//!
//! Each shard owns its state outright (`Rc`/`Cell`/`RefCell`, never a lock); the only things
//! shared between shards are the read-only config snapshot behind one `ArcSwap` and the
//! crossbeam channels the main thread uses to send them control messages.

mod access_log;
mod admin;
mod balancers;
pub mod cli;
mod client;
mod conn;
mod health;
mod io;
mod listener;
mod mesh;
mod pool;
mod proxy;
mod redact;
mod reload;
mod respond;
mod runtime;
mod server;
mod shard;
mod side;
mod stats;
mod store;
mod tunnel;
mod watchdog;

pub use server::{run, RunOptions};
