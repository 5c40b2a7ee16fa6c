//! The time countersign acts at: the system clock, moved forward by an
//! offset that tests set instead of sleeping. Each `Db` has its own, so
//! tests running side by side in one process keep their own time; a unit
//! of work reads the clock of the database it works for (`store::now`).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, NaiveDateTime};

/// A clock: the system's, plus an offset in milliseconds (0 in production).
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<Moved>);

/// A clock's offset, and who waits to hear it moved (the job runner).
#[derive(Debug, Default)]
struct Moved {
    offset: AtomicI64,
    moved: tokio::sync::Notify,
}

impl Clock {
    /// The time now on this clock (UTC, as stored).
    pub fn now(&self) -> NaiveDateTime {
        let now = chrono::Utc::now().naive_utc();
        match self.0.offset.load(Ordering::Relaxed) {
            0 => now,
            offset => now + Duration::milliseconds(offset),
        }
    }

    /// Moves this clock forward by `by` (tests of expiry, deadlines,
    /// retries); whoever waits on `moved` wakes.
    pub fn advance(&self, by: Duration) {
        self.0
            .offset
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
        self.0.moved.notify_waiters();
    }

    /// How far this clock has been moved forward.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.0.offset.load(Ordering::Relaxed))
    }

    /// Completes when the clock is next moved forward (never, outside tests).
    pub async fn moved(&self) {
        self.0.moved.notified().await
    }
}

thread_local! {
    /// The clock of the unit of work this thread runs, if any.
    static CURRENT: RefCell<Option<Clock>> = const { RefCell::new(None) };
}

/// Makes `clock` the thread's clock; returns the one it replaces.
pub(super) fn enter(clock: &Clock) -> Option<Clock> {
    CURRENT.with_borrow_mut(|c| c.replace(clock.clone()))
}

/// Puts back the clock `enter` replaced.
pub(super) fn leave(previous: Option<Clock>) {
    CURRENT.with_borrow_mut(|c| *c = previous);
}

/// The time now on the clock of this thread's unit of work, or the
/// system's outside one.
pub fn now() -> NaiveDateTime {
    CURRENT.with_borrow(|c| match c {
        Some(clock) => clock.now(),
        None => chrono::Utc::now().naive_utc(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_units_clock_is_the_one_its_database_was_moved_to() {
        let clock = Clock::default();
        clock.advance(Duration::hours(5));
        let before = enter(&clock);
        let inside = now();
        leave(before);
        let outside = now();
        let gap = inside - outside;
        assert!(
            gap > Duration::minutes(299) && gap <= Duration::hours(5),
            "{gap}"
        );
    }
}
