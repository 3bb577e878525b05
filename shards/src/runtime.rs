//! Building a shard's runtime: io_uring with the best ring flags the kernel accepts,
//! else the epoll ("legacy") driver.

use std::future::Future;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// io_uring ring size per shard.
const RING_ENTRIES: u32 = 1024;

/// Which ring setups to try, best first. Measured on this kind of machine (see
/// docs/architecture.md): SINGLE_ISSUER + DEFER_TASKRUN cost 5.2 µs per static request against
/// 8.5 µs with default flags; COOP_TASKRUN alone 6.1 µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingSetup {
    DeferTaskrun,
    CoopTaskrun,
    Plain,
}

impl RingSetup {
    fn builder(self) -> io_uring::Builder {
        let mut b = io_uring::IoUring::builder();
        match self {
            RingSetup::DeferTaskrun => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            RingSetup::CoopTaskrun => {
                b.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingSetup::Plain => {}
        }
        b
    }

    /// Name for logs.
    pub fn name(self) -> &'static str {
        match self {
            RingSetup::DeferTaskrun => "io_uring(SINGLE_ISSUER|DEFER_TASKRUN)",
            RingSetup::CoopTaskrun => "io_uring(COOP_TASKRUN)",
            RingSetup::Plain => "io_uring",
        }
    }
}

/// Which driver to prefer, from `SLUICE_DRIVER`: unset or `auto` tries the ring setups best
/// first; `coop` and `uring` force one; `epoll` (or `legacy`) skips io_uring. Lets the load
/// script compare drivers without a rebuild. Unknown values mean `auto` and are logged.
fn preferred() -> Vec<RingSetup> {
    match std::env::var("SLUICE_DRIVER").as_deref() {
        Ok("epoll") | Ok("legacy") => vec![],
        Ok("coop") => vec![RingSetup::CoopTaskrun],
        Ok("uring") => vec![RingSetup::Plain],
        _ => vec![
            RingSetup::DeferTaskrun,
            RingSetup::CoopTaskrun,
            RingSetup::Plain,
        ],
    }
}

/// Runs `make()`'s future to completion on the best runtime available; returns the
/// driver name actually used (reported through `on_start` before the future runs).
pub fn block_on<F, Fut>(make: F, on_start: impl FnOnce(&'static str))
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    for setup in preferred() {
        let built = RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(RING_ENTRIES)
            .uring_builder(setup.builder())
            .enable_timer()
            .build();
        if let Ok(mut rt) = built {
            on_start(setup.name());
            rt.block_on(make());
            return;
        }
    }
    match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
        Ok(mut rt) => {
            on_start("epoll");
            rt.block_on(make());
        }
        Err(e) => tracing::error!(error = %e, "cannot build any runtime for this shard"),
    }
}
