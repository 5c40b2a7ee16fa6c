//! The month view's reads: how many changes touch each day and each
//! day's first few, counted and picked by the database from the index on
//! `(long_window, first_day, starts_at, apply_id, …)`, so that a busy
//! month costs a few dozen rows to the application, not every window;
//! and kept between changes to the calendar.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as Elapsed, Instant};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer};

use super::StoreResult;
use super::changes::{Filter, Slot, slots_of};
use crate::db::DbConn;
use crate::db::ids::ApplyId;
use crate::db::stamp::Stamp;
use crate::flow::change;

/// What the month view draws from: `counts[i]` changes touch day
/// `first + i`, and `slots`, by start, hold each day's first `a_day`
/// (and maybe a few more, which the view leaves out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Month {
    pub counts: Vec<usize>,
    pub slots: Vec<Slot>,
}

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = Integer)]
    day: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    crossing: i64,
}

#[derive(QueryableByName)]
struct Picked {
    #[diesel(sql_type = Integer)]
    apply_id: i32,
    #[diesel(sql_type = Stamp)]
    starts_at: NaiveDateTime,
    #[diesel(sql_type = Stamp)]
    ends_at: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    emergency: bool,
}

/// The statements' text for one backend: how it writes its `n`th
/// parameter, and the filter's conditions on the rows of `s`.
struct Sql {
    pg: bool,
    conditions: String,
    /// The number a day, the parameter after the filter's.
    limit: usize,
}

impl Sql {
    fn new(pg: bool, filter: &Filter) -> Sql {
        let mut sql = Sql {
            pg,
            conditions: String::new(),
            limit: 0,
        };
        // Parameters 1 and 2 are the first and last day; the filter's
        // come after.
        let mut n = 2;
        for (wanted, column) in [
            (filter.business.is_some(), "business_id"),
            (filter.service.is_some(), "service_id"),
        ] {
            if wanted {
                n += 1;
                let p = sql.param(n);
                sql.conditions += &format!(" AND s.{column} = {p}");
            }
        }
        sql.limit = n + 1;
        sql
    }

    fn param(&self, n: usize) -> String {
        if self.pg {
            format!("${n}::int4")
        } else {
            format!("?{n}")
        }
    }

    /// Each day's short windows starting on it, and of those the ones
    /// that run past midnight.
    fn counts(&self) -> String {
        format!(
            "SELECT s.first_day AS day, count(*) AS n, \
             sum(CASE WHEN s.last_day > s.first_day THEN 1 ELSE 0 END) AS crossing \
             FROM changes s WHERE s.long_window = FALSE \
             AND s.first_day >= {} AND s.first_day <= {}{} GROUP BY s.first_day",
            self.param(1),
            self.param(2),
            self.conditions
        )
    }

    /// Each day's first few short windows starting on it, then each
    /// day's first few starting the day before and running into it.
    fn picks(&self) -> String {
        let limit = if self.pg {
            format!("${}", self.limit)
        } else {
            format!("?{}", self.limit)
        };
        let pick = |day: &str, crossing: &str| {
            format!(
                "SELECT s.apply_id{} FROM changes s WHERE s.long_window = FALSE \
                 AND s.first_day = {day}{crossing}{} ORDER BY s.starts_at, s.apply_id LIMIT {limit}",
                // On PostgreSQL the pick is the row, read from the index.
                if self.pg {
                    ", s.starts_at, s.ends_at, s.emergency"
                } else {
                    ""
                },
                self.conditions
            )
        };
        let crossing = " AND s.last_day > s.first_day";
        let columns = "c.apply_id, c.starts_at, c.ends_at, c.emergency";
        if self.pg {
            // A lateral join runs each day's pick by the index.
            let part = |day: &str, crossing: &str| {
                format!(
                    "SELECT p.* FROM generate_series($1::int4, $2::int4) AS days(day) \
                     CROSS JOIN LATERAL ({}) p",
                    pick(day, crossing)
                )
            };
            format!(
                "{} UNION ALL {}",
                part("days.day", ""),
                part("days.day - 1", crossing)
            )
        } else {
            // SQLite has no lateral joins; a correlated `IN` runs each
            // day's pick by the index and reads the rows by their keys.
            let part = |day: &str, crossing: &str| {
                format!(
                    "SELECT {columns} FROM days JOIN changes c ON c.apply_id IN ({})",
                    pick(day, crossing)
                )
            };
            format!(
                "WITH RECURSIVE days(day) AS (SELECT ?1 UNION ALL SELECT day + 1 FROM days WHERE day < ?2) \
                 {} UNION ALL {}",
                part("days.day", ""),
                part("days.day - 1", crossing)
            )
        }
    }
}

/// A statement of [`Sql`] with its days (from the day before `from`, to
/// `to`) and its filter's values bound, in its parameters' order.
fn bound<DB>(
    text: String,
    (from, to): (i32, i32),
    filter: &Filter,
) -> diesel::query_builder::BoxedSqlQuery<'static, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Integer>,
    i32: diesel::serialize::ToSql<Integer, DB>,
{
    let mut q = diesel::sql_query(text)
        .into_boxed::<DB>()
        .bind::<Integer, _>(from - 1)
        .bind::<Integer, _>(to);
    for id in [filter.business.map(|b| b.0), filter.service.map(|s| s.0)]
        .into_iter()
        .flatten()
    {
        q = q.bind::<Integer, _>(id);
    }
    q
}

/// How long a month read here is kept: how long a change filed through
/// another instance may go uncounted on this one's month view. A change
/// filed or moved through this instance is counted at once.
const KEPT: Elapsed = Elapsed::from_secs(5);

/// At most this many months (of a database, filter and size) are kept.
const KEPT_MONTHS: usize = 512;

/// Bumped once a write that added, moved or removed a change's window has
/// committed (`changed`): a month read before it is read again.
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// A month read: database, first and last day, business, service, and
/// changes a day.
type Key = (u64, NaiveDate, NaiveDate, Option<i32>, Option<i32>, usize);

/// A kept read: the generation before it, when, and what it found.
type Kept = (u64, Instant, Arc<Month>);

static KEPT_READS: Mutex<Option<HashMap<Key, Kept>>> = Mutex::new(None);

/// The calendar's windows changed and the write has committed.
pub(super) fn changed() {
    CHANGES.fetch_add(1, Ordering::AcqRel);
}

/// [`read`], kept for [`KEPT`] unless a change's window is written
/// through this instance in the meantime. The generation is taken before
/// the read, so a read that raced a commit is never kept past it; on
/// SQLite that needs the read's snapshot to begin after it, so this is
/// the first read of its unit of work (as the calendar calls it).
pub fn month(
    conn: &mut DbConn,
    days: (NaiveDate, NaiveDate),
    filter: &Filter,
    a_day: usize,
) -> StoreResult<Arc<Month>> {
    let key = (
        crate::db::unit_of().unwrap_or(0),
        days.0,
        days.1,
        filter.business.map(|b| b.0),
        filter.service.map(|s| s.0),
        a_day,
    );
    let generation = CHANGES.load(Ordering::Acquire);
    let kept = || KEPT_READS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at_generation, at, month)) = kept().get_or_insert_with(HashMap::new).get(&key)
        && *at_generation == generation
        && at.elapsed() < KEPT
    {
        return Ok(month.clone());
    }
    let month = Arc::new(read(conn, days, filter, a_day)?);
    let mut kept = kept();
    let kept = kept.get_or_insert_with(HashMap::new);
    if kept.len() >= KEPT_MONTHS {
        kept.retain(|_, (g, at, _)| *g == generation && at.elapsed() < KEPT);
        if kept.len() >= KEPT_MONTHS {
            kept.clear();
        }
    }
    kept.insert(key, (generation, Instant::now(), month.clone()));
    Ok(month)
}

/// The changes touching each day from `first` to `last` narrowed by
/// `filter`'s business and service (not its status or item, which the
/// views read change by change), and each day's first `a_day`.
pub fn read(
    conn: &mut DbConn,
    (first, last): (NaiveDate, NaiveDate),
    filter: &Filter,
    a_day: usize,
) -> StoreResult<Month> {
    let days = (last - first).num_days() as usize + 1;
    let (from, to) = (first.to_epoch_days(), last.to_epoch_days());
    let limit = a_day.min(super::changes::VIEW_LIMIT as usize) as i64;
    let (counted, picked): (Vec<DayCount>, Vec<Picked>) = match conn {
        DbConn::Pg(c) => {
            let sql = Sql::new(true, filter);
            (
                bound::<diesel::pg::Pg>(sql.counts(), (from, to), filter).load(c)?,
                bound::<diesel::pg::Pg>(sql.picks(), (from, to), filter)
                    .bind::<BigInt, _>(limit)
                    .load(c)?,
            )
        }
        DbConn::Sqlite(c) => {
            let sql = Sql::new(false, filter);
            (
                bound::<diesel::sqlite::Sqlite>(sql.counts(), (from, to), filter).load(c)?,
                bound::<diesel::sqlite::Sqlite>(sql.picks(), (from, to), filter)
                    .bind::<BigInt, _>(limit)
                    .load(c)?,
            )
        }
    };
    let mut counts = vec![0usize; days];
    let mut add = |day: i32, n: i64| {
        if (from..=to).contains(&day) {
            counts[(day - from) as usize] += n as usize;
        }
    };
    for c in &counted {
        add(c.day, c.n);
        add(c.day + 1, c.crossing);
    }
    // Long windows are few: read them whole and count them here.
    let range = (
        first.and_time(chrono::NaiveTime::MIN),
        (last + Duration::days(1)).and_time(chrono::NaiveTime::MIN),
    );
    let longs = slots_of(conn, range, filter, &[true])?;
    for slot in &longs {
        let (a, b) = change::days(slot.window);
        for day in a.to_epoch_days().max(from)..=b.to_epoch_days().min(to) {
            counts[(day - from) as usize] += 1;
        }
    }
    let mut slots: Vec<Slot> = picked
        .into_iter()
        .map(|p| Slot {
            apply: ApplyId(p.apply_id),
            window: (p.starts_at, p.ends_at),
            emergency: p.emergency,
        })
        .chain(longs)
        .collect();
    slots.sort_by_key(|s| (s.window.0, s.apply));
    slots.dedup_by_key(|s| s.apply);
    Ok(Month { counts, slots })
}
