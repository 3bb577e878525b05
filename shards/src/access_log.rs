//! `request-log`: one JSON line per request, written off the request path.
//!
//! Shards format the line and send it over a channel; one writer thread per output appends
//! it (stdout, or a file reopened after SIGUSR1 for log rotation) and keeps the last
//! `buffer` entries in a ring the admin API reads. The request path never touches a lock:
//! the ring's mutex is shared only by the writer threads and the admin shard.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};
use serde_json::Value;

/// Everything the process shares about access logs.
pub struct LogHub {
    writers: Mutex<HashMap<String, Sender<Value>>>,
    /// The last entries, newest last, for `/admin/logs`.
    pub ring: Mutex<VecDeque<Value>>,
    capacity: AtomicUsize,
    reopen: Arc<AtomicBool>,
}

impl Default for LogHub {
    fn default() -> Self {
        Self {
            writers: Mutex::default(),
            ring: Mutex::default(),
            // Raised to the largest `buffer` configured when the first writer starts.
            capacity: AtomicUsize::new(0),
            reopen: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl LogHub {
    /// The sender for `output`, starting its writer thread the first time.
    pub fn sender(self: &Arc<Self>, output: &str, buffer: usize) -> Option<Sender<Value>> {
        self.capacity.fetch_max(buffer, Ordering::Relaxed);
        let mut writers = self.writers.lock().ok()?;
        if let Some(tx) = writers.get(output) {
            return Some(tx.clone());
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let hub = self.clone();
        let out = output.to_owned();
        std::thread::Builder::new()
            .name("sluice-access-log".into())
            .spawn(move || hub.write_loop(&out, rx))
            .ok()?;
        writers.insert(output.to_owned(), tx.clone());
        Some(tx)
    }

    /// Asks file writers to reopen their file (SIGUSR1, after a rotation).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    fn write_loop(&self, output: &str, rx: Receiver<Value>) {
        let open = || -> Option<Box<dyn Write>> {
            if output == "stdout" {
                return Some(Box::new(std::io::stdout()));
            }
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(output)
            {
                Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
                Err(e) => {
                    tracing::error!(file = output, error = %e, "cannot open the access log");
                    None
                }
            }
        };
        let mut sink = open();
        while let Ok(first) = rx.recv() {
            if output != "stdout" && self.reopen.swap(false, Ordering::Relaxed) {
                sink = open();
            }
            // Drain what queued up meanwhile, then flush once.
            for entry in std::iter::once(first).chain(rx.try_iter()) {
                if let Some(w) = sink.as_mut() {
                    let _ = writeln!(w, "{entry}");
                }
                if let Ok(mut ring) = self.ring.lock() {
                    ring.push_back(entry);
                    let cap = self.capacity.load(Ordering::Relaxed);
                    while ring.len() > cap {
                        ring.pop_front();
                    }
                }
            }
            if let Some(w) = sink.as_mut() {
                let _ = w.flush();
            }
        }
    }
}
