//! Change dashboards: what happened to tickets, per day, business and
//! service, and who may see it.
//!
//! A day's figures are computed from the tickets filed that day and the
//! tickets that ended that day (finished, rejected, withdrawn: states a
//! ticket never leaves), so once the day is over they never change. The
//! job runner rolls each day up once it is over (`roll_up`, exactly once
//! across instances: the day's row in `insight_days` is inserted first,
//! `ON CONFLICT DO NOTHING`, in the transaction that writes its figures).
//! A dashboard adds up the rolled-up days of its range and computes the
//! rest — today, and any day the runner has not reached — live, with the
//! same function (`compute`), so both give the same numbers. What it
//! added up to five minutes ago is kept in memory (`kept`) and grows a
//! minute at a time; each request reads only the last minutes' tickets.
//!
//! Durations are kept as histograms with fixed log-scale buckets
//! (`flow::figures`): days add up, and percentiles are read from the sum.

mod compute;
mod kept;
mod people;
mod tally;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;

use super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::{BusinessId, ProcessId, ServiceId, UserId};
use crate::db::schema::{
    applies as a, insight_days as days, insight_figures as f, role_assignments as ra, services,
};
use crate::db::stamp::At;
use crate::flow::figures::{Period, date_of, day_number};

pub use compute::compute;
pub use people::{Approver, Waiting, approvers, oldest_waiting};
use tally::Tally;
pub use tally::{Durations, PeriodFigures, Summary};

/// One figure of one day, business (0: none) and service.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = f)]
pub struct FigureRow {
    pub day: i32,
    pub business_id: i32,
    pub service_id: i32,
    pub figure: String,
    pub subject: String,
    pub label_en: String,
    pub label_zh: String,
    pub n: i64,
    pub hist: String,
}

/// Whose figures a person may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// An administrator: every business, and tickets with none.
    All,
    /// Someone holding a role within these businesses: theirs only.
    Businesses(Vec<BusinessId>),
}

impl Viewer {
    pub fn may_see(&self, business: BusinessId) -> bool {
        match self {
            Viewer::All => true,
            Viewer::Businesses(ids) => ids.contains(&business),
        }
    }
}

/// Who `user` may read figures of: everything for an administrator, the
/// businesses they hold a role within for anyone else, nothing (`None`)
/// for someone holding no role within a business.
pub fn viewer(conn: &mut DbConn, user: UserId, is_admin: bool) -> StoreResult<Option<Viewer>> {
    if is_admin {
        return Ok(Some(Viewer::All));
    }
    let mut ids: Vec<BusinessId> = ra::table
        .filter(ra::user_id.eq(user))
        .filter(ra::business_id.is_not_null())
        .select(ra::business_id.assume_not_null())
        .load(conn)?;
    ids.sort();
    ids.dedup();
    Ok((!ids.is_empty()).then_some(Viewer::Businesses(ids)))
}

/// What the reader narrowed the figures to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    pub business: Option<BusinessId>,
    pub service: Option<ServiceId>,
    pub process: Option<ProcessId>,
}

/// The businesses (0 standing for none) and services a filter keeps,
/// `None` for all.
struct Scope {
    businesses: Option<Vec<i32>>,
    services: Option<Vec<i32>>,
}

impl Scope {
    fn of(conn: &mut DbConn, viewer: &Viewer, filter: &Filter) -> StoreResult<Scope> {
        let businesses = match (viewer, filter.business) {
            (_, Some(b)) if viewer.may_see(b) => Some(vec![b.0]),
            // A business the reader may not see: nothing.
            (_, Some(_)) => Some(vec![]),
            (Viewer::All, None) => None,
            (Viewer::Businesses(ids), None) => Some(ids.iter().map(|b| b.0).collect()),
        };
        let services = match filter.process {
            Some(p) => {
                let mut of_process: Vec<i32> = services::table
                    .filter(services::process_id.eq(p))
                    .select(services::id)
                    .load::<ServiceId>(conn)?
                    .into_iter()
                    .map(|s| s.0)
                    .collect();
                if let Some(s) = filter.service {
                    of_process.retain(|id| *id == s.0);
                }
                Some(of_process)
            }
            None => filter.service.map(|s| vec![s.0]),
        };
        Ok(Scope {
            businesses,
            services,
        })
    }

    fn keeps(&self, business: i32, service: i32) -> bool {
        self.businesses
            .as_ref()
            .is_none_or(|b| b.contains(&business))
            && self.services.as_ref().is_none_or(|s| s.contains(&service))
    }
}

fn midnight(day: i32) -> NaiveDateTime {
    date_of(day).and_hms_opt(0, 0, 0).expect("midnight")
}

/// The last day rolled up, if any.
pub fn rolled_through(conn: &mut DbConn) -> StoreResult<Option<i32>> {
    Ok(days::table
        .select(diesel::dsl::max(days::day))
        .first::<Option<i32>>(conn)?)
}

/// How long after its end a day is rolled up: by then no transaction
/// that stamped a ticket with it is still running.
const SETTLED: chrono::Duration = chrono::Duration::minutes(5);

/// The first day not yet settled (the current one, for five minutes
/// after midnight the one before).
fn unsettled() -> i32 {
    day_number((super::now() - SETTLED).date())
}

/// The next day to roll up: the day after the last one rolled up (or the
/// first ticket's day), if it is over and settled by now.
pub fn next_to_roll(conn: &mut DbConn) -> StoreResult<Option<i32>> {
    let today = unsettled();
    let next = match rolled_through(conn)? {
        Some(day) => day + 1,
        None => {
            let first: Option<NaiveDateTime> = a::table
                .select(diesel::dsl::min(a::created_at))
                .first(conn)?;
            match first {
                Some(at) => day_number(at.date()),
                None => return Ok(None),
            }
        }
    };
    Ok((next < today).then_some(next))
}

/// Writes `rows`, the figures of `day` (`compute`, read beforehand: an
/// ended day never changes, so the SQLite writer only writes), unless
/// some runner already has: whether this one did. The day's row is
/// inserted first; a runner racing this one waits for it (PostgreSQL) or
/// comes after it (SQLite's one writer), finds the row and writes nothing.
pub fn roll_up(conn: &mut DbConn, day: i32, rows: &[FigureRow]) -> StoreResult<bool> {
    if day >= unsettled() {
        return Ok(false);
    }
    let at = At(super::now());
    let claimed = crate::direct!(conn, |c| diesel::insert_into(days::table)
        .values((days::day.eq(day), days::rolled_at.eq(at)))
        .on_conflict_do_nothing()
        .execute(c))?;
    if claimed == 0 {
        return Ok(false);
    }
    for chunk in rows.chunks(500) {
        crate::direct!(conn, |c| diesel::insert_into(f::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(true)
}

/// The figures of days `from..until` (day numbers) that `viewer` may
/// read and `filter` keeps, added up by `period`. Up to the settled
/// moment (five minutes ago, to the minute) they come from the tally kept
/// for this dashboard (`kept`), built from the rolled-up days and the
/// tickets since and brought up to the moment; the tickets after it are
/// read now.
pub fn summary(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: &Filter,
    period: Period,
    from: i32,
    until: i32,
) -> StoreResult<Summary> {
    let scope = Scope::of(conn, viewer, filter)?;
    if until <= from {
        return Ok(Summary::default());
    }
    if scope.businesses.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Tally::new(period, from, until).summary());
    }
    let (start, end) = (midnight(from), midnight(until));
    let cut = settled_minute().clamp(start, end);
    let key: kept::Key = (
        crate::db::unit_of().unwrap_or(0),
        scope.businesses.clone(),
        scope.services.clone(),
        period,
        from,
        until,
    );
    let kept = kept::tally(
        conn,
        key,
        cut,
        |conn, shorter| -> StoreResult<kept::Kept> {
            let mut tally = Tally::new(period, from, until);
            if let Some(shorter) = shorter {
                tally.merge(&shorter.tally);
                return Ok(kept::Kept {
                    cut: shorter.cut,
                    tally: std::sync::Arc::new(tally),
                });
            }
            // The rolled-up days, then the tickets since (none, should a
            // runner with a clock ahead have rolled up past the cut).
            let live = rolled_through(conn)?.map_or(from, |d| (d + 1).clamp(from, until));
            tally.add(&rolled_rows(conn, &scope, from, live)?);
            let live = midnight(live);
            tally.add(&in_scope(compute::between(conn, live, cut)?, &scope));
            Ok(kept::Kept {
                cut: cut.max(live),
                tally: std::sync::Arc::new(tally),
            })
        },
        |conn, tally, since| {
            tally.add(&in_scope(compute::between(conn, since, cut)?, &scope));
            Ok(())
        },
    )?;
    // From where the kept tally ends, which a request that came a moment
    // later may have moved past this one's cut.
    let recent = in_scope(compute::between(conn, kept.cut, end)?, &scope);
    if recent.is_empty() {
        return Ok(kept.tally.summary());
    }
    let mut tally = (*kept.tally).clone();
    tally.add(&recent);
    Ok(tally.summary())
}

/// The moment before which every ticket's figures are settled: five
/// minutes ago, to the minute (so a kept dashboard grows once a minute).
fn settled_minute() -> NaiveDateTime {
    let settled = super::now() - SETTLED;
    settled
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(settled)
}

fn in_scope(rows: Vec<FigureRow>, scope: &Scope) -> Vec<FigureRow> {
    rows.into_iter()
        .filter(|r| scope.keeps(r.business_id, r.service_id))
        .collect()
}

/// The stored rows of days `from..until` in `scope`.
fn rolled_rows(
    conn: &mut DbConn,
    scope: &Scope,
    from: i32,
    until: i32,
) -> StoreResult<Vec<FigureRow>> {
    let mut q = f::table
        .filter(f::day.ge(from))
        .filter(f::day.lt(until))
        .into_boxed();
    if let Some(b) = &scope.businesses {
        q = q.filter(f::business_id.eq_any(b.clone()));
    }
    if let Some(s) = &scope.services {
        q = q.filter(f::service_id.eq_any(s.clone()));
    }
    Ok(q.select((
        f::day,
        f::business_id,
        f::service_id,
        f::figure,
        f::subject,
        f::label_en,
        f::label_zh,
        f::n,
        f::hist,
    ))
    .load::<FigureRow>(conn)?)
}
