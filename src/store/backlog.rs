//! What waits in the database, for `/metrics`: mail not yet sent, webhook
//! deliveries and events not yet taken, timers due and not yet fired, and
//! steps past their deadline. Read in one unit of work at scrape time,
//! each by an index, every count capped so a large backlog costs no more.

use diesel::prelude::*;

use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::one_of::is;
use crate::db::prepared;
use crate::db::schema::{
    applies as a, approves as n, timers as t, webhook_deliveries as d, webhook_events as ev,
    webhooks as w,
};
use crate::db::stamp::At;
use crate::db::states::{ActiveStep, TicketStatus};
use crate::metrics::Backlog;

/// How far each count goes (as the outbox's own, `HEALTH_COUNT_CAP`).
const CAP: i64 = super::outbox::HEALTH_COUNT_CAP;

pub fn read(conn: &mut DbConn) -> StoreResult<Backlog> {
    let at = now();
    let mail = super::outbox::health(conn)?;
    // `status = 'pending'` as written in the partial index of deliveries
    // waiting to be tried again, so both databases use it.
    let webhook_retries = prepared::count_of(
        d::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "webhook_deliveries.status = 'pending'",
            ))
            .select(d::id)
            .limit(CAP),
    )
    .get_result(conn)?;
    Ok(Backlog {
        outbox_unsent: mail.pending,
        outbox_failed: mail.failed,
        oldest_unsent_secs: mail.oldest_pending.map_or(0.0, |written| {
            ((at - written).num_milliseconds() as f64 / 1000.0).max(0.0)
        }),
        webhook_retries,
        webhook_events_unsent: webhook_events_unsent(conn)?,
        timers_due: prepared::count_of(
            t::table
                .filter(t::due_at.le(At(at)))
                .select(t::id)
                .limit(CAP),
        )
        .get_result(conn)?,
        steps_overdue: steps_overdue(conn, at)?,
    })
}

/// Events of the stream after the place of the active endpoint furthest
/// behind (see `webhooks::read` for how each database orders the stream).
fn webhook_events_unsent(conn: &mut DbConn) -> StoreResult<i64> {
    let Some((tx, through)) = w::table
        .filter(w::active.eq(true))
        .order((w::read_tx, w::read_through))
        .select((w::read_tx, w::read_through))
        .first::<(i64, i32)>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    Ok(match conn {
        DbConn::Pg(pg) => prepared::count_of(
            ev::table
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "(webhook_events.tx, webhook_events.id) > (",
                    )
                    .bind::<diesel::sql_types::BigInt, _>(tx)
                    .sql(", ")
                    .bind::<diesel::sql_types::Integer, _>(through)
                    .sql(")"),
                )
                .select(ev::id)
                .limit(CAP),
        )
        .get_result(pg)?,
        DbConn::Sqlite(lite) => prepared::count_of(
            ev::table
                .filter(ev::tx.eq(tx))
                .filter(ev::id.gt(through))
                .select(ev::id)
                .limit(CAP),
        )
        .get_result(lite)?,
    })
}

/// Active steps of running tickets whose deadline has passed — what
/// `/admin/overdue` lists, counted. Read from the partial index of the
/// active steps (`'active'` written into the SQL, so a kept plan can use
/// it), never by reading every step there ever was.
fn steps_overdue(conn: &mut DbConn, at: chrono::NaiveDateTime) -> StoreResult<i64> {
    Ok(prepared::count_of(
        n::table
            .inner_join(a::table)
            .filter(a::status.eq(TicketStatus::Running))
            .filter(is::<ActiveStep, _>(n::status))
            .filter(n::due_at.le(At(at)))
            .select(n::id)
            .limit(CAP),
    )
    .get_result(conn)?)
}
