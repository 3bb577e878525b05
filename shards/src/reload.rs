//! Loading, compiling and swapping the running config: start-up, SIGHUP, `POST
//! /admin/reload` and every control-plane write share this one path.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use sluice_engine::config::control::ControlState;
use sluice_engine::config::{Config, FieldError, ShardsSpec};
use sluice_engine::{Resolver, Snapshot};

use crate::store::{Change, StoreHandle};

/// Validates and compiles the config `text` with the admin API's documents merged in.
/// Errors are `(field path, message)` pairs, the path naming the file's field or the admin
/// document.
pub fn compile_text(
    text: &str,
    source: &str,
    control: &ControlState,
    resolver: &Resolver,
) -> Result<(Config, Snapshot), Vec<FieldError>> {
    let cfg = sluice_engine::config::load_str_with_control(text, source, control)
        .map_err(|e| e.errors)?;
    let mut snap = sluice_engine::compile_with(&cfg, resolver).map_err(|errs| {
        errs.into_iter()
            .map(|e| FieldError::new(e.path, e.message))
            .collect::<Vec<_>>()
    })?;
    // The text parsed is the text the admin API shows.
    snap.source = text.to_owned();
    Ok((cfg, snap))
}

/// Reads `path` and compiles it with `control`, looking host names up through `resolver`;
/// errors as `FILE: field.path: message` lines.
pub fn load_file(
    path: &Path,
    control: &ControlState,
    resolver: &Resolver,
) -> Result<(String, Config, Snapshot), Vec<String>> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{source}: cannot read file: {e}")])?;
    let (cfg, snap) =
        compile_text(&text, &source, control, resolver).map_err(|errs| lines(&source, &errs))?;
    Ok((text, cfg, snap))
}

/// Loads, validates and compiles the config file alone (`sluice check`).
pub fn load_snapshot(path: &Path) -> Result<(Config, Snapshot), Vec<String>> {
    load_file(path, &ControlState::default(), &Resolver::default())
        .map(|(_, cfg, snap)| (cfg, snap))
}

fn lines(source: &str, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            if e.path.is_empty() {
                format!("{source}: {}", e.message)
            } else {
                format!("{source}: {}: {}", e.path, e.message)
            }
        })
        .collect()
}

/// What a control-plane write did.
#[derive(Debug)]
pub enum Applied {
    Created,
    Updated,
    Deleted,
    /// The same document again: nothing was written or swapped.
    Unchanged,
    NotFound,
    /// Refused by validation or compilation: nothing changed. `path: message` lines.
    Invalid(Vec<String>),
    /// The store could not commit: nothing changed.
    Failed(String),
}

/// The running config's owner. A bad file or a refused admin write changes nothing and
/// says why; a good one is one atomic swap. The lock serialises reloads and admin writes
/// (it is never taken on a request path).
pub struct Reloader {
    pub path: PathBuf,
    pub snapshots: Arc<ArcSwap<Snapshot>>,
    listen: Vec<std::net::SocketAddr>,
    shards: ShardsSpec,
    generation: AtomicU64,
    /// `(ok, error)` reload counts, for metrics.
    pub outcomes: [AtomicU64; 2],
    running: Mutex<Running>,
    /// A copy of `running.control`, published after each swap, so the admin API's reads
    /// never wait for the lock a write holds while it compiles.
    published: ArcSwap<ControlState>,
    store: Option<StoreHandle>,
}

/// What the running snapshot was compiled from.
struct Running {
    /// The file text of the last good load: admin writes compile against it, so an edit
    /// of the file on disk takes effect only through a reload.
    text: String,
    control: ControlState,
    /// Host names as the running config resolved them. A reload looks every name up again
    /// (a fresh resolver); an admin write reuses these, so it costs lookups only for hosts
    /// it adds.
    resolver: Resolver,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        snapshots: Arc<ArcSwap<Snapshot>>,
        running: &Config,
        text: String,
        control: ControlState,
        resolver: Resolver,
        store: Option<StoreHandle>,
    ) -> Self {
        Self {
            path,
            snapshots,
            listen: running.listen.clone(),
            shards: running.shards.clone(),
            generation: AtomicU64::new(1),
            outcomes: Default::default(),
            published: ArcSwap::from_pointee(control.clone()),
            running: Mutex::new(Running {
                text,
                control,
                resolver,
            }),
            store,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        // A panic while holding the lock leaves `Running` as it was before the write (it is
        // replaced only after a successful swap), so the poison carries no meaning.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The admin API's documents as they are running. Never blocks.
    pub fn control(&self) -> Arc<ControlState> {
        self.published.load_full()
    }

    /// The store, when the admin listener has one.
    pub fn store(&self) -> Option<&StoreHandle> {
        self.store.as_ref()
    }

    fn swap(&self, snap: Snapshot) -> u64 {
        self.snapshots.store(Arc::new(snap));
        self.outcomes[0].fetch_add(1, Relaxed);
        self.generation.fetch_add(1, Relaxed) + 1
    }

    /// Re-reads the file and swaps; returns the new generation or the error lines.
    pub fn reload(&self) -> Result<u64, Vec<String>> {
        let mut running = self.lock();
        let resolver = Resolver::default();
        match load_file(&self.path, &running.control, &resolver) {
            Ok((text, cfg, snap)) => {
                running.resolver = resolver;
                if cfg.listen != self.listen || cfg.shards != self.shards {
                    tracing::warn!("listen and shards changes take effect only after a restart");
                }
                running.text = text;
                let generation = self.swap(snap);
                tracing::info!(generation, routes = cfg.routes.len(), "config reloaded");
                Ok(generation)
            }
            Err(lines) => {
                self.outcomes[1].fetch_add(1, Relaxed);
                for l in &lines {
                    tracing::error!(error = %l, "reload refused; the running config is unchanged");
                }
                Err(lines)
            }
        }
    }

    /// Applies one control-plane change: validate and compile with it, commit it to the
    /// store, then swap. Blocks on the compiler and the disk: call it off the shards.
    pub fn apply(&self, change: Change) -> Applied {
        let mut running = self.lock();
        let mut next = running.control.clone();
        let existed = match &change {
            Change::PutApi(api) => next.apis.insert(api.id.clone(), api.clone()).is_some(),
            Change::DeleteApi(id) => {
                next.policies.retain(|_, p| &p.api_id != id);
                next.apis.remove(id).is_some()
            }
            Change::PutPolicy(p) => next.policies.insert(p.id.clone(), p.clone()).is_some(),
            Change::DeletePolicy(id) => next.policies.remove(id).is_some(),
            Change::PutConsumer(id, doc) => {
                next.consumers.insert(id.clone(), doc.clone()).is_some()
            }
            Change::DeleteConsumer(id) => next.consumers.remove(id).is_some(),
            Change::ReplaceAll(state) => {
                next = (**state).clone();
                true
            }
        };
        let deleting = matches!(
            change,
            Change::DeleteApi(_) | Change::DeletePolicy(_) | Change::DeleteConsumer(_)
        );
        if deleting && !existed {
            return Applied::NotFound;
        }
        if next == running.control {
            return Applied::Unchanged;
        }
        let source = self.path.display().to_string();
        let snap = match compile_text(&running.text, &source, &next, &running.resolver) {
            Ok((_, snap)) => snap,
            Err(errors) => {
                return Applied::Invalid(
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.path, e.message))
                        .collect(),
                )
            }
        };
        if let Some(store) = &self.store {
            if let Err(e) = store.commit(change) {
                tracing::error!(error = %e, "admin change not stored; nothing changed");
                return Applied::Failed(e);
            }
        }
        self.published.store(Arc::new(next.clone()));
        running.control = next;
        let generation = self.swap(snap);
        tracing::info!(generation, "admin change applied");
        match (deleting, existed) {
            (true, _) => Applied::Deleted,
            (false, true) => Applied::Updated,
            (false, false) => Applied::Created,
        }
    }
}
