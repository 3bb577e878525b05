//! Start-up, signals, reload and shutdown: the main thread's whole job.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use crossbeam_channel::Sender;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use sluice_engine::config::ShardsSpec;

use crate::reload::{compile_text, load_file, Reloader};
use crate::shard::{shard_main, Shard, ShardMsg};
use sluice_engine::config::control::ControlState;

/// What `sluice run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    /// `--shards`: overrides the file's `shards`.
    pub shards: Option<usize>,
    /// `--cpus`: overrides the file's CPU list.
    pub cpus: Option<Vec<usize>>,
}

/// `admin.data_dir`, relative to the config file's folder when not absolute (so a gateway
/// finds its state wherever it is started from).
fn data_dir(config: &Path, dir: &str) -> PathBuf {
    let dir = Path::new(dir);
    if dir.is_absolute() {
        return dir.to_owned();
    }
    match config.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(dir),
        _ => dir.to_owned(),
    }
}

/// CPUs to pin shards to, from the file and the CLI overrides. `auto` and a count use the
/// CPUs this process may run on (its affinity mask, as set by `taskset` or a container's
/// cpuset), in order, so a gateway confined to CPUs 4-7 pins its shards there.
fn shard_cpus(spec: &ShardsSpec, opts: &RunOptions) -> Vec<usize> {
    let allowed = allowed_cpus();
    // available_parallelism also honours a cgroup CPU quota, which may be below the mask.
    let available = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, allowed.len().max(1));
    let nth = |i: usize| allowed[i % available];
    let list = match (&opts.cpus, spec) {
        (Some(cpus), _) => cpus.clone(),
        (None, ShardsSpec::Cpus(cpus)) => cpus.clone(),
        (None, ShardsSpec::Count(n)) => (0..*n).map(nth).collect(),
        (None, ShardsSpec::Auto) => (0..available).map(nth).collect(),
    };
    match (opts.shards, &opts.cpus) {
        // `--shards N --cpus LIST`: N shards over the listed CPUs.
        (Some(n), Some(_)) => (0..n.max(1)).map(|i| list[i % list.len().max(1)]).collect(),
        // `--shards N` alone replaces the file's setting entirely.
        (Some(n), None) => (0..n.max(1)).map(nth).collect(),
        (None, _) => list,
    }
}

/// The CPUs in this process's affinity mask, ascending; `[0]` if the mask cannot be read.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data for which all-zero is a valid (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the size passed is the size of `set`, which outlives the
    // call.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return vec![0];
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the capacity of `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

/// Runs the gateway until SIGTERM/SIGINT; returns the process exit code.
pub fn run(opts: RunOptions) -> i32 {
    // Installed before anything listens: a SIGHUP that arrives as soon as the port
    // accepts must reload, not kill the process with the default action.
    let mut signals = match Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR1]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    let resolver = sluice_engine::Resolver::default();
    let (text, cfg, snapshot) = match load_file(&opts.config, &ControlState::default(), &resolver) {
        Ok(x) => x,
        Err(lines) => {
            for l in lines {
                eprintln!("{l}");
            }
            return 2;
        }
    };
    // The admin API's durable state is loaded before any listener opens, so the first
    // request already sees every API, policy and consumer it stored.
    let (store, loaded) = match &cfg.admin {
        Some(admin) => {
            let dir = data_dir(&opts.config, &admin.data_dir);
            match crate::store::open(&dir) {
                Ok((store, loaded)) => (Some(store), loaded),
                Err(e) => {
                    eprintln!("{}: admin.data_dir: {e}", opts.config.display());
                    return 1;
                }
            }
        }
        None => (None, crate::store::Loaded::default()),
    };
    let (cfg, snapshot) = if loaded.state == ControlState::default() {
        (cfg, snapshot)
    } else {
        let source = opts.config.display().to_string();
        match compile_text(&text, &source, &loaded.state, &resolver) {
            Ok(x) => x,
            Err(errors) => {
                let db = store.as_ref().map(|s| s.path().display().to_string());
                for e in errors {
                    eprintln!(
                        "{source}: {}: {} (with the admin API's documents stored in {})",
                        e.path,
                        e.message,
                        db.as_deref().unwrap_or("-")
                    );
                }
                return 2;
            }
        }
    };
    tracing::info!(
        apis = loaded.state.apis.len(),
        policies = loaded.state.policies.len(),
        consumers = loaded.state.consumers.len(),
        history = loaded.history.len(),
        "admin state loaded"
    );
    let cpus = shard_cpus(&cfg.shards, &opts);
    let n = cpus.len();

    // Per shard, one listener per configured address.
    let mut per_shard: Vec<Vec<std::net::TcpListener>> = (0..n).map(|_| Vec::new()).collect();
    for addr in &cfg.listen {
        match crate::listener::bind_all(*addr, n) {
            Ok((bound, listeners)) => {
                tracing::info!(addr = %bound, shards = n, "listening");
                for (i, l) in listeners.into_iter().enumerate() {
                    per_shard[i].push(l);
                }
            }
            Err(e) => {
                eprintln!("{}: listen: cannot bind {addr}: {e}", opts.config.display());
                return 1;
            }
        }
    }

    // The admin listener is served by shard 0.
    let mut admin_listener = match &cfg.admin {
        Some(a) => match std::net::TcpListener::bind(a.listen).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        }) {
            Ok(l) => {
                tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "admin listening");
                Some((l, a.clone()))
            }
            Err(e) => {
                eprintln!(
                    "{}: admin.listen: cannot bind {}: {e}",
                    opts.config.display(),
                    a.listen
                );
                return 1;
            }
        },
        None => None,
    };

    let snapshots = Arc::new(ArcSwap::from_pointee(snapshot));
    let reloader = Arc::new(Reloader::new(
        opts.config.clone(),
        snapshots.clone(),
        &cfg,
        text,
        loaded.state,
        resolver,
        store,
    ));
    let mut history = Some(loaded.history);
    let started = std::time::Instant::now();
    let logs = Arc::new(crate::access_log::LogHub::default());
    let mut controls: Vec<Sender<ShardMsg>> = Vec::with_capacity(n);
    let mut threads = Vec::with_capacity(n);
    let mut mesh_ends = crate::mesh::build(n).into_iter();
    for (id, (cpu, listeners)) in cpus.iter().copied().zip(per_shard).enumerate() {
        let Some(mesh) = mesh_ends.next() else { break };
        let (tx, rx) = crossbeam_channel::unbounded();
        controls.push(tx);
        let snapshots = snapshots.clone();
        let shard_logs = logs.clone();
        let admin = admin_listener.take().map(|(l, a)| {
            let admin = crate::admin::Admin {
                reloader: reloader.clone(),
                token: a.token.clone(),
                metrics_public: a.metrics_public,
                started,
                shards: n,
                history: std::cell::RefCell::new(history.take().unwrap_or_default().into()),
            };
            (l, admin)
        });
        let spawned = std::thread::Builder::new()
            .name(format!("sluice-shard-{id}"))
            .spawn(move || {
                if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
                    tracing::warn!(shard = id, cpu, error = %e, "cannot pin shard to its CPU");
                }
                let shard = std::rc::Rc::new(Shard::new(id, snapshots, mesh, shard_logs));
                let for_driver = shard.clone();
                crate::runtime::block_on(
                    move || shard_main(shard, listeners, rx, admin),
                    move |driver| {
                        for_driver.set_driver(driver);
                        tracing::info!(shard = id, cpu, driver, "shard started");
                    },
                );
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                eprintln!("cannot start shard {id}: {e}");
                return 1;
            }
        }
    }

    for sig in signals.forever() {
        match sig {
            SIGHUP => {
                let _ = reloader.reload();
            }
            SIGUSR1 => {
                tracing::info!("reopening access log files");
                logs.reopen();
            }
            _ => {
                tracing::info!(signal = sig, "shutting down: draining in-flight requests");
                // The running snapshot's value: a reload may have changed it.
                let deadline = Instant::now() + snapshots.load().shutdown_timeout;
                for c in &controls {
                    let _ = c.send(ShardMsg::Shutdown { deadline });
                }
                break;
            }
        }
    }
    // Drain on another thread so a second SIGTERM/SIGINT can still force an exit.
    std::thread::spawn(move || {
        for t in threads {
            let _ = t.join();
        }
        tracing::info!("stopped");
        std::process::exit(0);
    });
    for sig in signals.forever() {
        if sig == SIGUSR1 {
            logs.reopen();
        } else if sig != SIGHUP {
            tracing::warn!(
                signal = sig,
                "second stop signal: exiting without waiting for the drain"
            );
            return 1;
        }
    }
    0
}
