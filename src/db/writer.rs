//! SQLite's group commit: one thread owns the writing connection and runs
//! the units of work that queue up while it is busy as one transaction,
//! each in a savepoint of its own.
//!
//! SQLite allows one writer at a time, so writes wait their turn whatever
//! we do. What batching saves is the commit: the pages that every change
//! touches (the ends of the ticket tables and their indexes) are written
//! to the log once per batch instead of once per change, and the single
//! writing connection keeps its page cache, which another connection's
//! write would have emptied. Each unit of work still succeeds or fails
//! alone: an error rolls back its savepoint and nothing else. No one hears
//! of a success before the batch has committed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use diesel::connection::{Connection, SimpleConnection, TransactionManager};
use diesel::sqlite::SqliteConnection;

use super::{DbConn, Tm};
use crate::error::StoreError;

/// Delivers a unit of work's result, told whether its batch committed:
/// `None` if it did, else why not.
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;
/// A unit of work, run in a savepoint; it returns whether it succeeded (so
/// its changes stay) and how to deliver its result.
type Job = Box<dyn FnOnce(&mut DbConn) -> (bool, Reply) + Send>;

/// The most units of work one transaction takes; the rest wait for the next.
const MAX_BATCH: usize = 64;

/// The queue to the writing thread. The thread stops when the last clone goes.
#[derive(Clone)]
pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    /// Opens the writing connection (with `setup`) and starts its thread,
    /// which works for the `Db` numbered `db`.
    /// Its statements are counted in `counters`.
    /// `lock` is the process's writer lock, held for each batch, so that
    /// `Db::write_sync` on other threads takes its turn with the batches.
    pub fn start(
        db: u64,
        clock: super::Clock,
        path: &str,
        setup: impl Fn(&mut SqliteConnection) -> diesel::QueryResult<()> + Send + 'static,
        counters: Arc<super::count::Counters>,
        lock: Arc<Mutex<()>>,
    ) -> anyhow::Result<Writer> {
        let open = {
            let path = path.to_string();
            move || -> anyhow::Result<DbConn> {
                let mut conn = SqliteConnection::establish(&path)
                    .map_err(|e| anyhow!("cannot open SQLite database {path}: {e}"))?;
                setup(&mut conn).map_err(|e| anyhow!("cannot set up {path}: {e}"))?;
                conn.set_instrumentation(super::count::Counter(Arc::clone(&counters)));
                Ok(DbConn::Sqlite(conn))
            }
        };
        let conn = open()?;
        let (jobs, queue) = channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Every unit of work this thread runs is for `db`.
                let _unit = super::UnitOf::enter(db, &clock);
                serve(conn, open, queue, lock)
            })
            .context("cannot start the writer thread")?;
        Ok(Writer { jobs })
    }

    /// Queues `f` and waits for its result, which arrives once the batch
    /// it ran in has committed (or failed to).
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &mut DbConn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |failed: Option<&str>| {
                let result = match (result, failed) {
                    (Ok(_), Some(why)) if crate::error::is_full(why) => {
                        Err(StoreError::StorageFull(why.to_string()))
                    }
                    (Ok(_), Some(why)) => Err(StoreError::Unexpected(anyhow!(
                        "the transaction this change was part of did not commit: {why}"
                    ))),
                    (other, _) => other,
                };
                let _ = tx.send(result);
            });
            (ok, reply)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unexpected(anyhow!("the database writer has stopped")))?;
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Unexpected(anyhow!(
                "a change failed in the database writer"
            )))
        })
    }
}

/// The writing thread: waits for a change, runs it and whatever queues
/// meanwhile as one transaction, commits, then answers everyone in it.
fn serve(
    mut conn: DbConn,
    open: impl Fn() -> anyhow::Result<DbConn>,
    queue: Receiver<Job>,
    lock: Arc<Mutex<()>>,
) {
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        // A poisoned lock only means a `write_sync` caller panicked.
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = run_batch(&mut conn, first, &queue, &mut replies);
        drop(guard);
        // What the batch's changes asked to run once committed (a change
        // rolled back in it may have asked too: a wake-up for nothing).
        super::commit_done(outcome.is_ok());
        if outcome.is_err() {
            tracing::error!("a batch of changes did not commit; reopening the connection");
            // Closing the connection rolls back whatever it still holds.
            match open() {
                Ok(fresh) => conn = fresh,
                Err(e) => tracing::error!(error = %e, "cannot reopen the writing connection"),
            }
        }
        let failed = outcome.as_ref().err().map(String::as_str);
        for reply in replies.drain(..) {
            reply(failed);
        }
    }
}

/// Runs `first`, then what has queued (up to `MAX_BATCH` in all, checking
/// again after each: changes arriving while the batch runs join it), in
/// one transaction; returns whether it committed, or why not.
///
/// Each change runs in a savepoint of the writer's own: released when the
/// change succeeds, rolled back when it fails or panics. Anything unusual
/// — a savepoint that cannot be released or rolled back, or a transaction
/// SQLite has ended by itself (a full disk, an I/O error) — ends the whole
/// batch: it is rolled back and everyone in it hears it failed, rather
/// than a change being kept that was reported failed or the other way
/// round.
fn run_batch(
    conn: &mut DbConn,
    first: Job,
    queue: &Receiver<Job>,
    replies: &mut Vec<Reply>,
) -> Result<(), String> {
    if let Err(e) = super::begin_write(conn) {
        tracing::error!(error = %e, "cannot begin a write transaction");
        return Err(e.to_string());
    }
    let mut next = Some(first);
    let mut ran = 0;
    let mut sound = true;
    while let Some(job) = next.take() {
        ran += 1;
        if let Err(e) = conn.batch_execute("SAVEPOINT change") {
            tracing::error!(error = %e, "cannot open a savepoint for a change");
            sound = false;
            break;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| job(conn)));
        let kept = match outcome {
            Ok((true, reply)) => {
                replies.push(reply);
                true
            }
            Ok((false, reply)) => {
                replies.push(reply);
                false
            }
            Err(_) => {
                // Its reply is gone with it: its caller hears of a failure.
                tracing::error!("a change panicked in the database writer");
                false
            }
        };
        sound = close_savepoint(conn, kept);
        if !sound {
            break;
        }
        if ran < MAX_BATCH {
            next = queue.try_recv().ok();
        }
    }
    if !sound {
        let _ = Tm::rollback_transaction(conn);
        return Err("the batch's transaction broke off".into());
    }
    match Tm::commit_transaction(conn) {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "committing a batch of changes failed");
            let _ = Tm::rollback_transaction(conn);
            Err(e.to_string())
        }
    }
}

/// Ends a change's savepoint: released if the change is `kept`, else
/// rolled back. First closes any transaction the change left open (a
/// panic inside a nested one). Returns whether the batch's transaction is
/// still whole, at the depth it began.
fn close_savepoint(conn: &mut DbConn, kept: bool) -> bool {
    let depth = |conn: &mut DbConn| {
        Tm::transaction_manager_status_mut(conn)
            .transaction_depth()
            .ok()
            .flatten()
            .map(|d| d.get())
    };
    while depth(conn).is_some_and(|d| d > 1) {
        if Tm::rollback_transaction(conn).is_err() {
            return false;
        }
    }
    if depth(conn) != Some(1) {
        tracing::error!("the write transaction ended in the middle of a batch");
        return false;
    }
    let sql = if kept {
        "RELEASE SAVEPOINT change"
    } else {
        "ROLLBACK TO SAVEPOINT change; RELEASE SAVEPOINT change"
    };
    match conn.batch_execute(sql) {
        Ok(()) => depth(conn) == Some(1),
        Err(e) => {
            tracing::error!(error = %e, "cannot close a change's savepoint");
            false
        }
    }
}
