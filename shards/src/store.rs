//! Durable admin state: an embedded SQLite database, `{data_dir}/sluice.db`.
//!
//! One thread owns the connection (the store actor, [`StoreHandle`]); the admin API sends it
//! messages, so no request path ever waits on disk. Control-plane changes are written in one
//! transaction each and acknowledged only once committed (WAL, `synchronous=FULL`), and the
//! gateway swaps its snapshot only after that acknowledgement: a crash can lose a change that
//! was never acknowledged, never one that was, and at restart the state loaded from here is
//! the state served.

use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sluice_engine::config::control::{ApiDoc, ControlState, PolicyDoc};

/// The database file inside `data_dir`.
pub const DB_FILE: &str = "sluice.db";

/// How long metrics history is kept.
pub const HISTORY_SECONDS: i64 = 3600;

/// What the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: stored {what} {id:?} is not valid JSON: {source}")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        id: String,
        source: serde_json::Error,
    },
    #[error("the store thread has stopped")]
    Stopped,
}

/// One second of traffic, as kept by the metrics history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Unix seconds at the end of the second.
    pub timestamp: i64,
    /// Requests answered in that second.
    pub requests: u64,
    /// Of those, answered with a status other than 4xx.
    pub allowed: u64,
    /// Of those, answered with a 4xx.
    pub blocked: u64,
    /// Of those, refused by a rate limit.
    pub rate_limited: u64,
    /// Rate-limit buckets alive at the end of the second.
    pub active_buckets: u64,
    /// 99th percentile duration of that second's requests; `None` when there were none.
    pub p99_ms: Option<f64>,
}

/// One control-plane change, written in one transaction.
#[derive(Debug, Clone)]
pub enum Change {
    PutApi(ApiDoc),
    /// Also removes the policies attached to the API.
    DeleteApi(String),
    PutPolicy(PolicyDoc),
    DeletePolicy(String),
    /// The consumer's id and its document (API keys already in their at-rest form).
    PutConsumer(String, serde_json::Value),
    DeleteConsumer(String),
    /// Everything at once (`PUT /admin/state`): what is not in it is deleted.
    ReplaceAll(Box<ControlState>),
}

/// What was loaded at start-up.
#[derive(Default)]
pub struct Loaded {
    pub state: ControlState,
    /// The last hour, oldest first.
    pub history: Vec<Sample>,
}

enum Msg {
    Commit(Change, Sender<Result<(), String>>),
    History(Sample),
    ClearHistory(Sender<Result<(), String>>),
}

/// The store actor's address; cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    tx: Sender<Msg>,
    path: PathBuf,
}

struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Opens (creating when missing) the database in `dir`, loads what it holds and starts the
/// store thread.
///
/// # Errors
/// The directory cannot be created, the database cannot be opened or migrated, or a stored
/// document no longer parses.
pub fn open(dir: &Path) -> Result<(StoreHandle, Loaded), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        dir: dir.to_owned(),
        source,
    })?;
    let path = dir.join(DB_FILE);
    let store = Store::open(&path)?;
    let loaded = store.load()?;
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("sluice-store".into())
        .spawn(move || store.run(rx))
        .map_err(|source| StoreError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
    Ok((StoreHandle { tx, path }, loaded))
}

impl StoreHandle {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `change` and waits until it is committed. Blocks: call it off the shards.
    pub fn commit(&self, change: Change) -> Result<(), String> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.tx
            .send(Msg::Commit(change, reply))
            .map_err(|_| StoreError::Stopped.to_string())?;
        answer.recv().map_err(|_| StoreError::Stopped.to_string())?
    }

    /// Queues one history sample; never blocks.
    pub fn append_history(&self, sample: Sample) {
        let _ = self.tx.send(Msg::History(sample));
    }

    /// Deletes the stored history; blocks until done.
    pub fn clear_history(&self) -> Result<(), String> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.tx
            .send(Msg::ClearHistory(reply))
            .map_err(|_| StoreError::Stopped.to_string())?;
        answer.recv().map_err(|_| StoreError::Stopped.to_string())?
    }
}

impl Store {
    fn open(path: &Path) -> Result<Store, StoreError> {
        let sqlite = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(sqlite)?;
        // WAL keeps readers and the one writer apart; FULL makes every acknowledged commit
        // survive a crash of the process or of the machine.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS apis (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS policies (
                 id TEXT PRIMARY KEY, api_id TEXT NOT NULL, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS consumers (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
             -- Keyed by arrival, not by second: two samples can fall in one second.
             CREATE TABLE IF NOT EXISTS metrics_history (
                 seq INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, sample TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS metrics_history_by_time
                 ON metrics_history (timestamp);",
        )
        .map_err(sqlite)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn rows(&self, sql: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        id: &str,
        doc: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(doc).map_err(|source| StoreError::Corrupt {
            path: self.path.clone(),
            what,
            id: id.to_owned(),
            source,
        })
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let mut state = ControlState::default();
        for (id, doc) in self.rows("SELECT id, doc FROM apis")? {
            let api = self.parse("API", &id, &doc)?;
            state.apis.insert(id, api);
        }
        for (id, doc) in self.rows("SELECT id, doc FROM policies")? {
            let policy = self.parse("policy", &id, &doc)?;
            state.policies.insert(id, policy);
        }
        for (id, doc) in self.rows("SELECT id, doc FROM consumers")? {
            let consumer = self.parse("consumer", &id, &doc)?;
            state.consumers.insert(id, consumer);
        }
        let since = sluice_engine::context::unix_now() as i64 - HISTORY_SECONDS;
        let mut history = Vec::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT timestamp, sample FROM metrics_history WHERE timestamp > ?1 \
                 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([since], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.sqlite(e))?;
        for row in rows {
            let (ts, text) = row.map_err(|e| self.sqlite(e))?;
            history.push(self.parse("metrics sample", &ts.to_string(), &text)?);
        }
        Ok(Loaded { state, history })
    }

    fn run(mut self, rx: Receiver<Msg>) {
        for msg in rx {
            match msg {
                Msg::Commit(change, reply) => {
                    let _ = reply.send(self.commit(&change).map_err(|e| e.to_string()));
                }
                Msg::History(sample) => {
                    if let Err(e) = self.append_history(&sample) {
                        tracing::warn!(error = %e, "cannot store a metrics history sample");
                    }
                }
                Msg::ClearHistory(reply) => {
                    let result = self
                        .conn
                        .execute("DELETE FROM metrics_history", [])
                        .map(drop)
                        .map_err(|e| self.sqlite(e).to_string());
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn commit(&mut self, change: &Change) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sqlite)?;
        match change {
            Change::PutApi(api) => tx.execute(
                "INSERT INTO apis (id, doc) VALUES (?1, ?2) \
                 ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                params![api.id, json(api)],
            ),
            Change::DeleteApi(id) => tx
                .execute("DELETE FROM policies WHERE api_id = ?1", params![id])
                .and_then(|_| tx.execute("DELETE FROM apis WHERE id = ?1", params![id])),
            Change::PutPolicy(p) => tx.execute(
                "INSERT INTO policies (id, api_id, doc) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(id) DO UPDATE SET api_id = excluded.api_id, doc = excluded.doc",
                params![p.id, p.api_id, json(p)],
            ),
            Change::DeletePolicy(id) => {
                tx.execute("DELETE FROM policies WHERE id = ?1", params![id])
            }
            Change::PutConsumer(id, doc) => tx.execute(
                "INSERT INTO consumers (id, doc) VALUES (?1, ?2) \
                 ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                params![id, json(doc)],
            ),
            Change::DeleteConsumer(id) => {
                tx.execute("DELETE FROM consumers WHERE id = ?1", params![id])
            }
            Change::ReplaceAll(state) => replace_all(&tx, state),
        }
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)
    }

    fn append_history(&mut self, sample: &Sample) -> Result<(), StoreError> {
        let text = serde_json::to_string(sample).unwrap_or_default();
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sqlite)?;
        tx.execute(
            "INSERT INTO metrics_history (timestamp, sample) VALUES (?1, ?2)",
            params![sample.timestamp, text],
        )
        .map_err(sqlite)?;
        tx.execute(
            "DELETE FROM metrics_history WHERE timestamp <= ?1",
            params![sample.timestamp - HISTORY_SECONDS],
        )
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)
    }
}

/// Deletes every stored document and inserts `state`'s, inside the caller's transaction.
fn replace_all(tx: &rusqlite::Transaction<'_>, state: &ControlState) -> rusqlite::Result<usize> {
    tx.execute_batch("DELETE FROM policies; DELETE FROM apis; DELETE FROM consumers;")?;
    for api in state.apis.values() {
        tx.execute(
            "INSERT INTO apis (id, doc) VALUES (?1, ?2)",
            params![api.id, json(api)],
        )?;
    }
    for p in state.policies.values() {
        tx.execute(
            "INSERT INTO policies (id, api_id, doc) VALUES (?1, ?2, ?3)",
            params![p.id, p.api_id, json(p)],
        )?;
    }
    for (id, doc) in &state.consumers {
        tx.execute(
            "INSERT INTO consumers (id, doc) VALUES (?1, ?2)",
            params![id, json(doc)],
        )?;
    }
    Ok(state.apis.len() + state.policies.len() + state.consumers.len())
}

/// A stored document's text. Documents are plain data (strings, numbers, maps), so
/// serialising them cannot fail.
fn json<T: Serialize>(doc: &T) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests;
