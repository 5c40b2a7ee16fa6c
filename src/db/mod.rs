//! The database: one connection enum over PostgreSQL and SQLite, one r2d2
//! pool, embedded migrations, and the `Db` handle that runs units of work.

mod clock;
mod count;
pub mod ids;
pub mod models;
pub mod one_of;
pub mod prepared;
pub mod schema;
pub mod stamp;
pub mod states;
mod writer;

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, MultiConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;
pub use clock::{Clock, now as clock_now};
pub use count::Sent;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Runs a diesel query on the concrete connection behind a `DbConn`:
/// `direct!(conn, |c| query.first(c))`. The query is compiled once per
/// backend. Through `MultiConnection` every execution renders the query
/// to SQL text twice, cached statement or not, which was an eighth of the
/// server's CPU in the ticket benchmark; the hot paths use this instead.
#[macro_export]
macro_rules! direct {
    ($conn:expr, |$c:ident| $body:expr) => {
        match &mut *$conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// A connection to either backend. PostgreSQL comes first, as diesel's
/// multi-connection tries the variants in order when establishing.
#[derive(MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// How a SQLite database syncs its commits to disk, chosen in its URL
/// (`sqlite://data/countersign.db?synchronous=normal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is on disk before anyone hears of it, as on
    /// PostgreSQL: a power loss keeps every acknowledged approval. The
    /// writer thread commits a batch of changes at once, so it pays one
    /// sync per batch. The default.
    Full,
    /// Commits reach the log without waiting for the disk; a power loss
    /// (not a crash of countersign) may take the last acknowledged
    /// changes with it. For those who accept that risk.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "PRAGMA synchronous = FULL;",
            Synchronous::Normal => "PRAGMA synchronous = NORMAL;",
        }
    }
}

/// A SQLite URL's file path and options: `sqlite://path`, `sqlite:path` or
/// a bare path, optionally followed by `?synchronous=full|normal`.
fn sqlite_target(url: &str) -> anyhow::Result<(&str, Synchronous)> {
    let url = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let Some((path, options)) = url.split_once('?') else {
        return Ok((url, Synchronous::Full));
    };
    let mut synchronous = Synchronous::Full;
    for option in options.split('&').filter(|o| !o.is_empty()) {
        synchronous = match option.to_ascii_lowercase().as_str() {
            "synchronous=full" => Synchronous::Full,
            "synchronous=normal" => Synchronous::Normal,
            _ => {
                return Err(anyhow!(
                    "unknown SQLite option {option:?} in DATABASE_URL (known: synchronous=full, synchronous=normal)"
                ));
            }
        };
    }
    Ok((path, synchronous))
}

/// SQLite settings every connection needs: foreign keys are off by
/// default per connection, and a busy timeout lets other processes'
/// writers finish. Checkpoints are left to the checkpointer thread, so a
/// commit never copies the log into the database (and syncs it) while
/// holding the writer lock.
fn sqlite_setup(c: &mut SqliteConnection, sync: Synchronous) -> diesel::QueryResult<()> {
    c.batch_execute(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;",
    )?;
    c.batch_execute(sync.pragma())
}

/// A reading connection's page cache is emptied whenever another
/// connection writes, so 1 MiB each is plenty (the default is 2 MiB,
/// times the pool).
fn sqlite_reader_setup(c: &mut SqliteConnection, sync: Synchronous) -> diesel::QueryResult<()> {
    sqlite_setup(c, sync)?;
    c.batch_execute("PRAGMA cache_size = -1024;")
}

/// The one writing connection keeps its cache (no one else writes), so
/// it may hold the pages every change touches. Each change in a batch is
/// a savepoint, whose journal of pages to restore would otherwise spill
/// to a temporary file past 64 KiB; in memory it is a copy, not a write.
fn sqlite_writer_setup(c: &mut SqliteConnection, sync: Synchronous) -> diesel::QueryResult<()> {
    sqlite_setup(c, sync)?;
    c.batch_execute("PRAGMA cache_size = -4096; PRAGMA temp_store = MEMORY;")
}

/// PostgreSQL plans each prepared statement once per connection and then
/// reuses that plan. Left to itself it re-plans every execution for the
/// statements that matter most: diesel sends every `LIMIT` as a parameter,
/// and the planner costs a reusable plan as if `LIMIT $n` kept a tenth of
/// the rows, so it never prefers it to a plan made for the values at hand.
/// Planning was half of PostgreSQL's work on an inbox page. Every query
/// countersign runs goes through an index chosen by its shape, not by its
/// values, so a reused plan is the same plan. The one partial index (the
/// webhook deliveries waiting) is named by its condition written out in
/// the query (`status = 'pending'`), never by a bound value, which a
/// generic plan could not match to it.
const PG_SETUP: &str = "SET plan_cache_mode = force_generic_plan";

/// Settings each pooled connection gets when it is opened (on SQLite how
/// commits sync), and the counters of its `Db` (statements after the
/// settings are counted).
#[derive(Debug)]
struct ConnectionSetup(Arc<count::Counters>, Synchronous);

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        let counter = count::Counter(Arc::clone(&self.0));
        match conn {
            DbConn::Sqlite(c) => {
                sqlite_reader_setup(c, self.1).map_err(diesel::r2d2::Error::QueryError)?;
                c.set_instrumentation(counter);
            }
            DbConn::Pg(c) => {
                c.batch_execute(PG_SETUP)
                    .map_err(diesel::r2d2::Error::QueryError)?;
                c.set_instrumentation(counter);
            }
        }
        Ok(())
    }
}

/// The transaction manager of either backend's connection.
type Tm = <DbConn as Connection>::TransactionManager;

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which
/// takes the write lock at once, waiting (busy timeout) if need be. A
/// deferred transaction that has read first cannot wait when it comes to
/// write: SQLite answers "database is locked" at once if anyone holds the
/// write lock just then, and readers take it for a moment when they meet
/// the log's index mid-update.
fn begin_write(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(_) => Tm::begin_transaction(conn),
    }
}

thread_local! {
    /// What the write running on this thread asked to run once it has
    /// committed (`after_commit`).
    static AFTER_COMMIT: std::cell::RefCell<Vec<fn()>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` once the write transaction running on this thread has
/// committed — a wake-up for a worker that reads what it wrote, which
/// before the commit it would not see — and not at all if it rolls back.
/// Each function once per commit.
pub fn after_commit(f: fn()) {
    AFTER_COMMIT.with_borrow_mut(|hooks| {
        if !hooks.contains(&f) {
            hooks.push(f);
        }
    });
}

/// Runs what asked to run after this thread's commit (`committed`), or
/// forgets it.
fn commit_done(committed: bool) {
    let hooks = AFTER_COMMIT.with_borrow_mut(std::mem::take);
    if committed {
        for hook in hooks {
            hook();
        }
    }
}

/// Runs the unit of work `f` and takes what it noted for `/metrics`
/// (`crate::metrics::note`): counted by the caller only once the unit has
/// committed, dropped with it otherwise. Whatever an earlier unit on this
/// thread left noted (one that failed) is forgotten first.
fn noting<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<(T, Vec<crate::metrics::Noted>), StoreError> {
    crate::metrics::take_noted();
    let result = f(conn);
    let noted = crate::metrics::take_noted();
    result.map(|value| (value, noted))
}

/// Runs `f` in a write transaction (`begin_write`): committed if it
/// succeeds, rolled back if it fails.
fn in_write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    commit_done(false);
    begin_write(conn)?;
    let result = in_begun_write(conn, f);
    commit_done(result.is_ok());
    result
}

fn in_begun_write<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match f(conn) {
        Ok(value) => match Tm::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Tm::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            Tm::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Runs a read-only unit of work. On SQLite it is one deferred transaction,
/// so the unit reads one snapshot (a ticket page's nodes, people and
/// timeline agree), and the connection checks for newer commits once:
/// outside a transaction every statement is its own read, and each read
/// that finds a commit since the last one drops the connection's page
/// cache. PostgreSQL reads statement by statement, as before, where a
/// `BEGIN` would cost two more round trips.
fn in_read_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if matches!(conn, DbConn::Pg(_)) {
        return f(conn);
    }
    Tm::begin_transaction(conn)?;
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            Tm::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// The PostgreSQL advisory lock that migrating and loading the demo hold,
/// so that instances starting together do them one at a time.
const SETUP_LOCK: i64 = 0x0063_6f75_6e74_6572; // "counter" in ASCII

/// Takes the setup lock for the rest of the caller's transaction (on
/// PostgreSQL; on SQLite every write transaction holds the database's
/// write lock anyway).
pub fn lock_setup(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SETUP_LOCK})")).execute(pg)?;
    }
    Ok(())
}

/// The shared database handle: the pool, and for SQLite a process-wide
/// writer lock and the writer thread. SQLite allows one writer at a time;
/// `write` queues the change for the writer thread, which commits what
/// queued together (see `writer`), and `write_sync` takes the lock before
/// `BEGIN`, so a write transaction never meets another writer half way
/// and never fails with `SQLITE_BUSY` on lock upgrade.
#[derive(Clone)]
pub struct Db {
    /// Tells this database from others the process has open (see `unit_of`).
    id: u64,
    pool: Pool<ConnectionManager<DbConn>>,
    write_lock: Option<Arc<Mutex<()>>>,
    writer: Option<writer::Writer>,
    /// One permit per pooled connection, handed out first come, first
    /// served to the units that go to a blocking thread (see `read`).
    gate: Arc<tokio::sync::Semaphore>,
    backend: Backend,
    /// The time this database's units of work see (`store::now`).
    clock: Clock,
    /// Statements and transactions its connections have sent (`sent`).
    counters: Arc<count::Counters>,
    /// What `/metrics` serves for this database and the server beside it.
    metrics: Arc<crate::metrics::Metrics>,
    /// Held by every clone; the checkpointer stops when the last one goes.
    _alive: Arc<()>,
}

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread that checkpoints a SQLite database in the background
/// (pooled connections never do), with a connection of its own.
///
/// Every second a passive checkpoint copies the log into the database
/// without waiting for anyone. Once the log holds `RESTART_AFTER_FRAMES`,
/// a restarting checkpoint also waits briefly (its busy timeout) for
/// readers to leave the log, so the next commit writes it from its start
/// again. Without that, under steady reading the log never restarts: it
/// grew by 100 MB a second in the ticket benchmark, every frame landing on
/// a fresh file block. The restart holds the writer lock while it waits,
/// hence the short timeout; when readers take longer, the next round
/// tries again. Checkpointing four times a second instead cost the
/// benchmark a tenth of its tickets: each one syncs the log and the
/// database while the writer appends.
fn checkpointer(path: String, alive: std::sync::Weak<()>) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::establish(&path)
        .map_err(|e| anyhow!("cannot open SQLite database {path}: {e}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 20;")
        .map_err(|e| anyhow!("cannot set up the checkpointer: {e}"))?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                let passive = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
                    .get_result::<Checkpoint>(&mut conn);
                let restart = match passive {
                    Ok(done) => done.log >= RESTART_AFTER_FRAMES,
                    Err(e) => {
                        tracing::warn!(error = %e, "checkpointing the SQLite log failed");
                        false
                    }
                };
                if restart && let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(RESTART);") {
                    tracing::warn!(error = %e, "restarting the SQLite log failed");
                }
            }
        })
        .context("cannot start the checkpointer thread")?;
    Ok(())
}

/// What `PRAGMA wal_checkpoint` answers that the checkpointer uses: the
/// frames now in the log.
#[derive(diesel::QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// The log is restarted once it holds this many frames (64 MiB of 4 KiB
/// pages); each restart makes the writer wait for it a moment.
const RESTART_AFTER_FRAMES: i32 = 16_384;

impl Db {
    /// Connects, applies pending migrations and builds the pool. Errors carry
    /// the database's own message (the pool alone would only time out).
    pub fn connect(url: &str, pool_size: u32) -> anyhow::Result<Db> {
        let backend = Backend::of_url(url);
        let conn_url = match backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(url)
                    .map_err(|e| anyhow!("cannot connect to PostgreSQL: {e}"))?;
                // Instances starting together migrate one at a time; the
                // later ones find nothing left to do.
                diesel::sql_query(format!("SELECT pg_advisory_lock({SETUP_LOCK})"))
                    .execute(&mut conn)
                    .map_err(|e| anyhow!("cannot lock PostgreSQL for migrating: {e}"))?;
                let migrated = conn
                    .run_pending_migrations(PG_MIGRATIONS)
                    .map(|_| ())
                    .map_err(|e| anyhow!("migrating PostgreSQL failed: {e}"));
                let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({SETUP_LOCK})"))
                    .execute(&mut conn);
                migrated?;
                url.to_string()
            }
            Backend::Sqlite => {
                let (path, _) = sqlite_target(url)?;
                if let Some(dir) = Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create folder {}", dir.display()))?;
                }
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| anyhow!("cannot open SQLite database {path}: {e}"))?;
                // Switching to WAL may meet another process's lock without
                // SQLite waiting for it (an instance starting beside one
                // already at work): tried again for up to ten seconds.
                let mut tries = 0;
                while let Err(e) =
                    conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
                {
                    tries += 1;
                    if tries > 200 || !e.to_string().contains("locked") {
                        return Err(anyhow!("cannot set SQLite to WAL mode: {e}"));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                // Holding the write lock while looking for and applying
                // migrations: processes starting together take turns.
                let mut conn = DbConn::Sqlite(conn);
                in_write_transaction(&mut conn, |c| {
                    c.run_pending_migrations(SQLITE_MIGRATIONS)
                        .map(|_| ())
                        .map_err(|e| StoreError::Unexpected(anyhow!("{e}")))
                })
                .map_err(|e| anyhow!("migrating SQLite failed: {e}"))?;
                path.to_string()
            }
        };
        let manager = ConnectionManager::<DbConn>::new(conn_url);
        let counters = Arc::new(count::Counters::default());
        let synchronous = match backend {
            Backend::Sqlite => sqlite_target(url)?.1,
            Backend::Postgres => Synchronous::Full,
        };
        let pool = Pool::builder()
            .max_size(pool_size)
            // No connection kept spare: r2d2 makes a replacement for each
            // one taken in its own thread, and a command that exited while
            // that thread still negotiated TLS with PostgreSQL crashed in
            // OpenSSL's exit-time cleanup (`token create`, one run in ten).
            // Now one is made (on that thread, the asker waiting) only
            // when none is idle; idle ones are closed after ten minutes,
            // as before, and not replaced until asked for.
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            // Testing every connection on checkout cost a statement (on
            // PostgreSQL a round trip) per unit of work. A SQLite
            // connection is a file handle and does not go stale; a
            // PostgreSQL one is checked by `checkout` when it has been
            // idle, and dropped once it has failed.
            .test_on_check_out(false)
            .connection_customizer(Box::new(ConnectionSetup(
                Arc::clone(&counters),
                synchronous,
            )))
            .build(manager)
            .context("cannot build the connection pool")?;
        let id = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let alive = Arc::new(());
        let clock = Clock::default();
        let writer = match &write_lock {
            Some(lock) => {
                let (path, _) = sqlite_target(url)?;
                checkpointer(path.to_string(), Arc::downgrade(&alive))?;
                Some(writer::Writer::start(
                    id,
                    clock.clone(),
                    path,
                    move |c| sqlite_writer_setup(c, synchronous),
                    Arc::clone(&counters),
                    Arc::clone(lock),
                )?)
            }
            None => None,
        };
        Ok(Db {
            id,
            pool,
            write_lock,
            writer,
            gate: Arc::new(tokio::sync::Semaphore::new(pool_size as usize)),
            backend,
            clock,
            counters,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            _alive: alive,
        })
    }

    /// The metrics of this database and the server beside it.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// What `/metrics` reads of this database as it is asked: the
    /// statements and transactions sent (scrapes' own reads apart, see
    /// `read_aside`) and the pool's connections.
    pub fn readings(&self) -> crate::metrics::Readings {
        let sent = self.sent();
        let pool = self.pool.state();
        crate::metrics::Readings {
            statements: sent.statements,
            transactions: sent.transactions,
            scrape_statements: self.counters.aside(),
            pool_in_use: pool.connections.saturating_sub(pool.idle_connections),
            pool_idle: pool.idle_connections,
            pool_max: self.pool.max_size(),
            ..Default::default()
        }
    }

    /// Statements and transactions this database's connections have sent
    /// so far (the checkpointer's aside); the difference between two
    /// readings is what happened between them.
    pub fn sent(&self) -> Sent {
        self.counters.sent()
    }

    /// Keeps the text of every statement sent from now on (`on`), or stops;
    /// returns what was kept since the last call. For tests that show
    /// which statements a page or an action costs.
    pub fn keep_statements(&self, on: bool) -> Vec<String> {
        self.counters.keep(on)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clock this database's units of work read (`store::now`); tests
    /// move it forward instead of sleeping.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The time now, as this database's units of work see it.
    pub fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
    }

    /// Runs a read-only unit of work on a pooled connection, off the async
    /// threads. Units wait for a connection in the order they came (the
    /// gate), not on a blocking thread each: the pool hands a returned
    /// connection to whichever thread asks first, so under load some
    /// pages waited many turns (on PostgreSQL the inbox's p99 was four
    /// times its median).
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let _turn = self.turn().await?;
        actix_web::web::block(move || db.read_sync(f))
            .await
            .map_err(|e| StoreError::Unexpected(anyhow!("blocking task failed: {e}")))?
    }

    /// Runs a read-only unit of work like `read`, its statements counted
    /// apart from all others (`Readings::scrape_statements`) and its
    /// transaction not at all: `/metrics`' own reads, which the ticket
    /// benchmark must not see in the statements it reads around each
    /// phase.
    pub async fn read_aside<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let _turn = self.turn().await?;
        actix_web::web::block(move || {
            let _aside = count::Aside::enter();
            db.read_sync(f)
        })
        .await
        .map_err(|e| StoreError::Unexpected(anyhow!("blocking task failed: {e}")))?
    }

    /// Waits for this unit's turn at a connection (see `read`); a wait is
    /// counted (`Metrics::waited`) when every connection was taken.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, StoreError> {
        if let Ok(permit) = self.gate.try_acquire() {
            return Ok(permit);
        }
        let asked = std::time::Instant::now();
        let permit = self
            .gate
            .acquire()
            .await
            .map_err(|e| StoreError::Unexpected(anyhow!("connection gate closed: {e}")))?;
        self.metrics.waited(asked.elapsed());
        Ok(permit)
    }

    /// Runs a short, indexed read (who is signed in, and with `SignedIn`
    /// the inbox or a ticket page) on the calling thread when the database
    /// is SQLite and a connection is idle: such a SQLite read costs less
    /// than handing it to a blocking thread and back. Otherwise, and
    /// always for PostgreSQL (a network round trip), it is `read`.
    pub async fn read_short<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend == Backend::Sqlite
            && let Some(mut conn) = self.pool.try_get()
        {
            let _unit = UnitOf::enter(self.id, &self.clock);
            return in_read_transaction(&mut conn, f);
        }
        self.read(f).await
    }

    /// Runs a unit of work as one transaction, off the async threads. The
    /// closure should check the state it expects; an error rolls back.
    /// On SQLite the writer thread runs it, committed together with the
    /// changes queued beside it; it succeeds or fails alone all the same.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(writer) = &self.writer {
            let (value, noted) = writer.run(move |c| noting(c, f)).await?;
            self.metrics.count(noted);
            return Ok(value);
        }
        let db = self.clone();
        let _turn = self.turn().await?;
        actix_web::web::block(move || db.write_sync(f))
            .await
            .map_err(|e| StoreError::Unexpected(anyhow!("blocking task failed: {e}")))?
    }

    pub fn read_sync<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError>,
    {
        let mut conn = self.checkout()?;
        let _unit = UnitOf::enter(self.id, &self.clock);
        let result = in_read_transaction(&mut conn, f);
        self.checked_in(&mut conn, &result);
        result
    }

    pub fn write_sync<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError>,
    {
        // Lock before borrowing a connection, so writers waiting their turn
        // do not hold connections that readers could use. A poisoned lock
        // only means another writer panicked; SQLite rolled it back.
        let _guard = self
            .write_lock
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|p| p.into_inner()));
        let mut conn = self.checkout()?;
        let _unit = UnitOf::enter(self.id, &self.clock);
        let result = in_write_transaction(&mut conn, |c| noting(c, f));
        self.checked_in(&mut conn, &result);
        let (value, noted) = result?;
        // Committed: what it did counts now, and only now.
        self.metrics.count(noted);
        Ok(value)
    }

    /// A pooled connection for a unit of work. A PostgreSQL connection
    /// that has not worked within `TRUSTED_FOR` is asked first whether the
    /// server is still there (the server may have restarted or the
    /// network dropped it); one that does not answer is dropped from the
    /// pool and the next is tried.
    fn checkout(&self) -> Result<Pooled, StoreError> {
        let mut tries = 0;
        loop {
            let mut conn = match self.pool.try_get() {
                Some(conn) => conn,
                // None idle: one is made, or the asker waits for one.
                None => {
                    let asked = std::time::Instant::now();
                    let conn = self.pool.get()?;
                    self.metrics.waited(asked.elapsed());
                    conn
                }
            };
            if self.backend == Backend::Sqlite || worked_recently(&conn) {
                return Ok(conn);
            }
            match diesel::r2d2::R2D2Connection::ping(&mut *conn) {
                Ok(()) => {
                    worked(&mut conn);
                    return Ok(conn);
                }
                Err(e) => {
                    discard(&mut conn);
                    tries += 1;
                    if tries > self.pool.max_size() {
                        return Err(e.into());
                    }
                }
            }
        }
    }

    /// Notes how a unit of work on a PostgreSQL connection went: a lost
    /// connection is dropped from the pool when it goes back; any other
    /// outcome shows the connection works.
    fn checked_in<T>(&self, conn: &mut Pooled, result: &Result<T, StoreError>) {
        if self.backend == Backend::Sqlite {
            return;
        }
        match result {
            Err(e) if e.is_unavailable() => discard(conn),
            _ => worked(conn),
        }
    }
}

/// Numbers the `Db`s a process opens.
static NEXT_DB: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The `Db` whose unit of work this thread is running, 0 for none.
    static UNIT_OF: Cell<u64> = const { Cell::new(0) };
}

/// Which database the unit of work running on this thread belongs to:
/// a key for caches of what never changes once written (a deployed
/// process version), so they need not read anything to tell one
/// database's rows from another's. `None` outside a unit of work.
pub fn unit_of() -> Option<u64> {
    Some(UNIT_OF.get()).filter(|id| *id != 0)
}

/// Marks this thread as working for one `Db` (and reading its clock)
/// until dropped.
pub(crate) struct UnitOf(u64, Option<Clock>);

impl UnitOf {
    pub(crate) fn enter(db: u64, clock: &Clock) -> UnitOf {
        UnitOf(UNIT_OF.replace(db), clock::enter(clock))
    }
}

impl Drop for UnitOf {
    fn drop(&mut self) {
        UNIT_OF.set(self.0);
        clock::leave(self.1.take());
    }
}

type Pooled = PooledConnection<ConnectionManager<DbConn>>;

/// How long a PostgreSQL connection that worked is used without checking
/// it first. A connection the server dropped within that time fails the
/// one unit of work that meets it, and is then dropped itself.
const TRUSTED_FOR: Duration = Duration::from_secs(2);

/// When a pooled connection last did its work, kept with it in the pool.
struct LastWorked(std::time::Instant);

fn worked_recently(conn: &Pooled) -> bool {
    PooledConnection::extensions(conn)
        .get::<LastWorked>()
        .is_some_and(|t| t.0.elapsed() < TRUSTED_FOR)
}

fn worked(conn: &mut Pooled) {
    let now = std::time::Instant::now();
    let extensions = PooledConnection::extensions_mut(conn);
    match extensions.get_mut::<LastWorked>() {
        Some(t) => t.0 = now,
        None => {
            extensions.insert(LastWorked(now));
        }
    }
}

/// Marks a connection broken, so the pool closes it instead of taking it back.
fn discard(conn: &mut Pooled) {
    Tm::transaction_manager_status_mut(conn).set_in_error();
}

#[cfg(test)]
mod tests {
    use super::{Synchronous, sqlite_target};

    #[test]
    fn a_sqlite_url_syncs_every_commit_unless_it_says_otherwise() {
        assert_eq!(
            sqlite_target("sqlite://data/countersign.db").unwrap(),
            ("data/countersign.db", Synchronous::Full)
        );
        assert_eq!(
            sqlite_target("sqlite:x.db?synchronous=normal").unwrap(),
            ("x.db", Synchronous::Normal)
        );
        assert_eq!(
            sqlite_target("/var/lib/c.db?synchronous=FULL").unwrap(),
            ("/var/lib/c.db", Synchronous::Full)
        );
    }

    #[test]
    fn an_unknown_sqlite_option_is_refused_by_name() {
        let refused = sqlite_target("sqlite://x.db?synchronous=off").unwrap_err();
        assert!(refused.to_string().contains("synchronous=off"), "{refused}");
    }
}
