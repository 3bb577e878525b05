//! Deadlines for connections without a timer per read.
//!
//! Each connection registers a [`ConnSlot`] holding a monoio `Canceller` and the deadline of
//! whatever it is waiting on. A per-shard tick (every [`TICK`]) cancels the reads and writes
//! of slots past their deadline, or idle ones when the shard shuts down. A cancelled read
//! returns `ECANCELED` together with its buffer, so no byte that already arrived is lost,
//! and the request path pays for no timer or clock syscall: it reads the shard's coarse clock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::{CancelHandle, Canceller};

/// Granularity of every deadline and of the coarse clock.
pub const TICK: Duration = Duration::from_millis(100);

/// Why a slot was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    None,
    /// Its deadline passed.
    Timeout,
    /// The shard is shutting down and the connection was idle.
    Shutdown,
}

/// The deadline state of one connection.
pub struct ConnSlot {
    canceller: RefCell<Canceller>,
    deadline: Cell<Option<Instant>>,
    /// Idle connections (between requests) are closed at once on shutdown.
    idle: Cell<bool>,
    expired: Cell<Expiry>,
}

impl ConnSlot {
    /// A handle to pass to `cancelable_read` / `cancelable_write`.
    pub fn handle(&self) -> CancelHandle {
        self.canceller.borrow().handle()
    }

    /// Arms the slot: the next waits must finish by `deadline`.
    pub fn arm(&self, deadline: Instant, idle: bool) {
        self.deadline.set(Some(deadline));
        self.idle.set(idle);
        self.expired.set(Expiry::None);
    }

    /// Why the last wait was cancelled.
    pub fn expiry(&self) -> Expiry {
        self.expired.get()
    }

    fn fire(&self, why: Expiry) {
        self.expired.set(why);
        self.deadline.set(None);
        let old = std::mem::take(&mut *self.canceller.borrow_mut());
        *self.canceller.borrow_mut() = old.cancel();
    }
}

/// The registry of a shard's connection slots and its coarse clock.
pub struct Watchdog {
    slots: RefCell<Vec<Option<Rc<ConnSlot>>>>,
    free: RefCell<Vec<usize>>,
    now: Cell<Instant>,
}

/// Unregisters its slot when the connection ends.
pub struct SlotGuard<'a> {
    dog: &'a Watchdog,
    index: usize,
    pub slot: Rc<ConnSlot>,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.dog.slots.borrow_mut()[self.index] = None;
        self.dog.free.borrow_mut().push(self.index);
    }
}

impl Default for Watchdog {
    fn default() -> Self {
        Self {
            slots: RefCell::default(),
            free: RefCell::default(),
            now: Cell::new(Instant::now()),
        }
    }
}

impl Watchdog {
    /// The coarse clock: at most one [`TICK`] behind.
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// Registers a new connection.
    pub fn register(&self) -> SlotGuard<'_> {
        let slot = Rc::new(ConnSlot {
            canceller: RefCell::new(Canceller::new()),
            deadline: Cell::new(None),
            idle: Cell::new(false),
            expired: Cell::new(Expiry::None),
        });
        let index = match self.free.borrow_mut().pop() {
            Some(i) => {
                self.slots.borrow_mut()[i] = Some(slot.clone());
                i
            }
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Some(slot.clone()));
                slots.len() - 1
            }
        };
        SlotGuard {
            dog: self,
            index,
            slot,
        }
    }

    /// Advances the clock and cancels what is overdue (and, when `shutting_down`,
    /// everything idle).
    pub fn tick(&self, shutting_down: bool) {
        let now = Instant::now();
        self.now.set(now);
        // Collect first: cancelling wakes tasks, which may (un)register slots.
        let mut due = Vec::new();
        for slot in self.slots.borrow().iter().flatten() {
            if shutting_down && slot.idle.get() {
                due.push((slot.clone(), Expiry::Shutdown));
            } else if slot.deadline.get().is_some_and(|d| d <= now) {
                due.push((slot.clone(), Expiry::Timeout));
            }
        }
        for (slot, why) in due {
            slot.fire(why);
        }
    }
}
