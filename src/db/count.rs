//! Round trips counted: every statement a `Db`'s connections send (each a
//! round trip on PostgreSQL) and every transaction they begin, read through
//! diesel's instrumentation, so the benchmark and the tests see how many a
//! page or a ticket takes without any setting on the database server.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// What a `Db` has sent so far (see `Db::sent`). Subtract two readings to
/// count what happened between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Statements, including `BEGIN`, `COMMIT` and savepoints.
    pub statements: u64,
    /// Transactions begun (savepoints are not counted).
    pub transactions: u64,
}

impl std::ops::Sub for Sent {
    type Output = Sent;

    fn sub(self, before: Sent) -> Sent {
        Sent {
            statements: self.statements.saturating_sub(before.statements),
            transactions: self.transactions.saturating_sub(before.transactions),
        }
    }
}

/// The counters one `Db`'s connections share.
#[derive(Debug, Default)]
pub struct Counters {
    statements: AtomicU64,
    transactions: AtomicU64,
    /// Statements sent by units of work run aside (`Aside`): `/metrics`'
    /// own reads, which would otherwise move what they report.
    aside: AtomicU64,
    /// Whether statements' text is kept (`Db::keep_statements`; tests).
    keeping: AtomicBool,
    kept: Mutex<Vec<String>>,
}

impl Counters {
    pub fn sent(&self) -> Sent {
        Sent {
            statements: self.statements.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
        }
    }

    /// Statements sent aside (`Aside`) so far.
    pub fn aside(&self) -> u64 {
        self.aside.load(Ordering::Relaxed)
    }

    /// Starts keeping the text of every statement sent from now on, and
    /// hands over (and forgets) what was kept before.
    pub fn keep(&self, on: bool) -> Vec<String> {
        self.keeping.store(on, Ordering::Relaxed);
        std::mem::take(&mut *self.kept.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

thread_local! {
    /// Whether the unit of work on this thread is counted aside.
    static ASIDE: Cell<bool> = const { Cell::new(false) };
}

/// Counts the statements this thread sends, until dropped, apart from the
/// others (`Counters::aside`); its transactions are not counted at all.
pub(crate) struct Aside(bool);

impl Aside {
    pub(crate) fn enter() -> Aside {
        Aside(ASIDE.replace(true))
    }
}

impl Drop for Aside {
    fn drop(&mut self) {
        ASIDE.set(self.0);
    }
}

/// The instrumentation each connection of a `Db` carries.
pub struct Counter(pub std::sync::Arc<Counters>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } if ASIDE.get() => {
                self.0.aside.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::BeginTransaction { .. } if ASIDE.get() => {}
            InstrumentationEvent::StartQuery { query, .. } => {
                self.0.statements.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(target: "countersign::sql", "{query}");
                if self.0.keeping.load(Ordering::Relaxed) {
                    let text = query.to_string();
                    self.0
                        .kept
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(text);
                }
            }
            InstrumentationEvent::BeginTransaction { depth, .. } if depth.get() == 1 => {
                self.0.transactions.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
