//! Short-lived caches of small tables that pages label things with (role,
//! service and business names): kept per database for a while, cleared at
//! once by a change made through this instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::StoreResult;

type Entries<T> = HashMap<u64, (Instant, Arc<T>)>;

/// One cached value per database (`db::unit_of`), read again after `ttl`:
/// how long another instance's change may go unseen here.
pub struct ShortCache<T> {
    entries: Mutex<Option<Entries<T>>>,
    ttl: Duration,
}

impl<T> ShortCache<T> {
    pub const fn new(ttl: Duration) -> ShortCache<T> {
        ShortCache {
            entries: Mutex::new(None),
            ttl,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Option<Entries<T>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This database's value, read with `read` when missing or stale.
    pub fn get(&self, read: impl FnOnce() -> StoreResult<T>) -> StoreResult<Arc<T>> {
        let db = crate::db::unit_of().unwrap_or(0);
        if let Some((at, value)) = self.entries().get_or_insert_with(Default::default).get(&db)
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = Arc::new(read()?);
        self.entries()
            .get_or_insert_with(Default::default)
            .insert(db, (Instant::now(), value.clone()));
        Ok(value)
    }

    /// Forgets this database's value (it was just changed).
    pub fn forget(&self) {
        let db = crate::db::unit_of().unwrap_or(0);
        if let Some(entries) = self.entries().as_mut() {
            entries.remove(&db);
        }
    }
}
