//! The timers of steps with a deadline: started as a step starts (or is
//! handed over), taken away as it closes, and claimed by the job runner
//! under a lease when due. What a timer does when it fires lives with the
//! tickets (`tickets::fire_timer`), through the one door.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{StoreResult, calendars, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId};
use crate::db::prepared;
use crate::db::schema::{approves as n, timers as t};
use crate::db::stamp::At;
use crate::flow::{NodeDef, ProcessDef};

/// A waiting step's timer: due at its next stage.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct Timer {
    pub id: i32,
    pub apply_id: ApplyId,
    pub approve_id: ApproveId,
    pub stage: i32,
    pub due_at: NaiveDateTime,
    pub since: NaiveDateTime,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
}

/// Starts (or starts again, after a hand-over) the clock of step `node`
/// of a ticket of `def`, its node `spec`, from `since`: the step's
/// deadline is written on it and its timer set to the first stage. A
/// node without a deadline has no clock; nothing is written.
pub(crate) fn start(
    conn: &mut DbConn,
    (apply, node): (ApplyId, ApproveId),
    def: &ProcessDef,
    spec: &NodeDef,
    since: NaiveDateTime,
) -> StoreResult<()> {
    let Some(deadline) = &spec.deadline else {
        return Ok(());
    };
    let calendar = if deadline.working {
        calendars::for_process(conn, def.calendar.as_deref())?
    } else {
        crate::flow::calendar::Calendar::always()
    };
    let due = deadline.due(&calendar, since);
    crate::direct!(conn, |c| prepared::update(
        n::table.find(node),
        (n::due_at.eq(due.map(At)), n::overdue_at.eq(None::<At>)),
    )
    .execute(c))?;
    stop_step(conn, node)?;
    if let Some((stage, at)) = deadline.first(&calendar, since) {
        crate::direct!(conn, |c| diesel::insert_into(t::table)
            .values((
                t::apply_id.eq(apply),
                t::approve_id.eq(node),
                t::stage.eq(stage),
                t::due_at.eq(At(at)),
                t::since.eq(At(since)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// Takes away the timer of step `node` (decided, ended, or starting again).
pub(crate) fn stop_step(conn: &mut DbConn, node: ApproveId) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::delete(
        t::table.filter(t::approve_id.eq(node))
    )
    .execute(c))?;
    Ok(())
}

/// Takes away every timer of ticket `apply` (withdrawn).
pub(crate) fn stop_ticket(conn: &mut DbConn, apply: ApplyId) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::delete(
        t::table.filter(t::apply_id.eq(apply))
    )
    .execute(c))?;
    Ok(())
}

/// Claims up to `limit` due timers for `runner` for `lease`, earliest
/// first: one conditional `UPDATE … RETURNING`, which on PostgreSQL checks
/// each row again as it locks it, so two runners never both claim one.
pub fn claim(
    conn: &mut DbConn,
    runner: &str,
    limit: i64,
    lease: Duration,
) -> StoreResult<Vec<Timer>> {
    diesel::alias!(t as due: Due);
    let at = now();
    let due_ids = due
        .filter(due.field(t::due_at).le(At(at)))
        .filter(
            due.field(t::claimed_until)
                .is_null()
                .or(due.field(t::claimed_until).lt(At(at))),
        )
        .order(due.field(t::due_at))
        .limit(limit)
        .select(due.field(t::id));
    let mut claimed: Vec<Timer> = crate::direct!(conn, |c| diesel::update(
        t::table
            .filter(t::id.eq_any(due_ids))
            .filter(t::due_at.le(At(at)))
            .filter(t::claimed_until.is_null().or(t::claimed_until.lt(At(at)))),
    )
    .set((
        t::claimed_by.eq(runner),
        t::claimed_until.eq(At(at + lease))
    ))
    .returning(Timer::as_returning())
    .get_results(c))?;
    claimed.sort_by_key(|x| (x.due_at, x.id));
    Ok(claimed)
}

/// When the next timer is due, if any is waiting (claimed or not): what
/// an idle runner looks at, the first entry of the index on the due time.
pub fn next_due(conn: &mut DbConn) -> StoreResult<Option<NaiveDateTime>> {
    Ok(crate::direct!(conn, |c| t::table
        .select(t::due_at)
        .order(t::due_at)
        .first::<NaiveDateTime>(c))
    .optional()?)
}

/// Hands back what `runner` claimed and has not fired (it stops).
pub fn release(conn: &mut DbConn, runner: &str) -> StoreResult<usize> {
    Ok(crate::direct!(conn, |c| diesel::update(
        t::table.filter(t::claimed_by.eq(runner))
    )
    .set((
        t::claimed_by.eq(None::<String>),
        t::claimed_until.eq(None::<At>)
    ))
    .execute(c))?)
}

/// How many timers wait.
pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(t::table.count().get_result(conn)?)
}
