//! The record of each whole-directory sync: who or what started it, when,
//! and what it did (`company::Report`) or why it failed. A scheduled sync
//! first takes its period's slot, so with several instances and restarts
//! each period syncs once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::company::Report;
use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::schema::directory_syncs as s;
use crate::db::stamp::At;

/// How a sync began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Admin,
    Cli,
}

impl Trigger {
    pub fn code(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Admin => "admin",
            Trigger::Cli => "cli",
        }
    }
}

/// A sync as the report pages show it.
#[derive(Debug, Clone)]
pub struct SyncRow {
    pub id: i32,
    pub trigger: String,
    pub started_by: Option<UserId>,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub report: Report,
    pub error: Option<String>,
}

type Raw = (
    i32,
    String,
    Option<UserId>,
    NaiveDateTime,
    Option<NaiveDateTime>,
    String,
    Option<String>,
);

fn row((id, trigger, started_by, started_at, finished_at, report, error): Raw) -> SyncRow {
    SyncRow {
        id,
        trigger,
        started_by,
        started_at,
        finished_at,
        report: serde_json::from_str(&report).unwrap_or_default(),
        error,
    }
}

/// How long a sync may run before another may start regardless (the
/// one that began has died, its row never finished).
pub const STALE: chrono::Duration = chrono::Duration::hours(1);

/// Records that a sync begins: `None` if another is running, or — for a
/// scheduled one, which takes `slot` — if another runner took the slot
/// first (that one syncs this period).
pub fn begin(
    conn: &mut DbConn,
    trigger: Trigger,
    slot: Option<String>,
    started_by: Option<UserId>,
) -> StoreResult<Option<i32>> {
    let at = At(now());
    diesel::update(
        s::table
            .filter(s::running.is_not_null())
            .filter(s::started_at.lt(At(now() - STALE))),
    )
    .set((
        s::running.eq(None::<i32>),
        s::finished_at.eq(Some(at)),
        s::error.eq(Some("errors.directory_sync_died")),
    ))
    .execute(conn)?;
    let code = trigger.code();
    Ok(crate::direct!(conn, |c| diesel::insert_into(s::table)
        .values((
            s::slot.eq(slot.as_deref()),
            s::running.eq(Some(1)),
            s::trigger.eq(code),
            s::started_by.eq(started_by),
            s::started_at.eq(at),
        ))
        .on_conflict_do_nothing()
        .returning(s::id)
        .get_result(c))
    .optional()?)
}

/// Records what the sync did, or why it failed.
pub fn finish(conn: &mut DbConn, id: i32, report: &Report, error: Option<&str>) -> StoreResult<()> {
    diesel::update(s::table.find(id))
        .set((
            s::running.eq(None::<i32>),
            s::finished_at.eq(Some(At(now()))),
            s::created.eq(report.created.len() as i32),
            s::updated.eq(report.updated.len() as i32),
            s::deactivated.eq(report.deactivated.len() as i32),
            s::unchanged.eq(report.unchanged as i32),
            s::report.eq(serde_json::to_string(report).unwrap_or_default()),
            s::error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

const COLUMNS: (
    s::id,
    s::trigger,
    s::started_by,
    s::started_at,
    s::finished_at,
    s::report,
    s::error,
) = (
    s::id,
    s::trigger,
    s::started_by,
    s::started_at,
    s::finished_at,
    s::report,
    s::error,
);

/// The newest syncs, newest first.
pub fn recent(conn: &mut DbConn, limit: i64) -> StoreResult<Vec<SyncRow>> {
    let rows: Vec<Raw> = s::table
        .order(s::id.desc())
        .limit(limit)
        .select(COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(row).collect())
}

pub fn find(conn: &mut DbConn, id: i32) -> StoreResult<SyncRow> {
    let raw: Raw = s::table.find(id).select(COLUMNS).first(conn)?;
    Ok(row(raw))
}
