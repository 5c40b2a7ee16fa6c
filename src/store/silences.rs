//! Monitoring silences as stored: which changes the job runner must look
//! at again (`due`), its claim on one under a lease, the silence a change
//! wants now (`wanted`: approved, not over, with hosts or resources to
//! match), what was last sent to Alertmanager (`record`), and the row the
//! ticket page shows. The calls to Alertmanager live in `jobs::silences`.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::ApplyId;
use crate::db::schema::{
    applies as a, approves as n, changes as ch, resources as r, silences as s,
};
use crate::db::stamp::At;
use crate::db::states::{StepStatus, TicketStatus};
use crate::flow::NodeKind;
use crate::flow::change::LONG_WINDOW_DAYS;

/// The longest change window `due` looks for: a window that ends after
/// `now` started less than this long before it. Forms do not refuse a
/// longer one yet: such a change is looked at in its first year only.
pub const LONGEST_WINDOW_DAYS: i64 = crate::flow::change::LONGEST_WINDOW_DAYS;

/// The longest error text kept.
const ERROR_CHARS: usize = 500;

/// A change to look at: its silence was never worked out, or the ticket
/// has moved on since (`version`, the ticket's `row_version` as read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub status: TicketStatus,
    pub version: i32,
    pub window: (NaiveDateTime, NaiveDateTime),
}

/// The changes whose windows have not ended at `now` and whose silence
/// is not in step with their ticket (no row yet, or one synced at another
/// `row_version`), leaving out those another runner holds under a live
/// claim; at most `limit`, soonest first. Short windows are found by a
/// range of their starts, long ones (at most `LONGEST_WINDOW_DAYS`)
/// apart: both read the index on `changes(long_window, first_day,
/// starts_at, …)`.
pub fn due(conn: &mut DbConn, at: NaiveDateTime, limit: i64) -> StoreResult<Vec<Candidate>> {
    type Row = (
        ApplyId,
        String,
        String,
        TicketStatus,
        i32,
        NaiveDateTime,
        NaiveDateTime,
    );
    let mut rows: Vec<Row> = Vec::new();
    for (long, span) in [(false, LONG_WINDOW_DAYS), (true, LONGEST_WINDOW_DAYS)] {
        let since = at - Duration::days(span);
        rows.extend(crate::direct!(conn, |c| ch::table
            .inner_join(a::table.on(a::id.eq(ch::apply_id)))
            .left_join(s::table.on(s::apply_id.eq(ch::apply_id)))
            .filter(ch::long_window.eq(long))
            .filter(ch::first_day.ge(since.date().to_epoch_days()))
            .filter(ch::starts_at.ge(At(since)))
            .filter(ch::ends_at.gt(At(at)))
            .filter(
                s::apply_id.is_null().or(s::synced_version
                    .ne(a::row_version)
                    .and(s::claimed_until.is_null().or(s::claimed_until.lt(At(at))))),
            )
            .select((
                a::id,
                a::serial,
                a::title,
                a::status,
                a::row_version,
                ch::starts_at,
                ch::ends_at,
            ))
            .order((ch::first_day, ch::starts_at, ch::apply_id))
            .limit(limit)
            .load::<Row>(c))?);
    }
    rows.sort_by_key(|row| (row.5, row.0));
    rows.truncate(limit.max(0) as usize);
    Ok(rows
        .into_iter()
        .map(
            |(apply, serial, title, status, version, starts, ends)| Candidate {
                apply,
                serial,
                title,
                status,
                version,
                window: (starts, ends),
            },
        )
        .collect())
}

/// Claims change `apply` for `runner` until `until`: its row is made if
/// missing, or taken if nobody holds it or the holder's lease has lapsed
/// — one conditional upsert, which on PostgreSQL checks the row again as
/// it locks it, so two runners never both hold one. Whether it is ours.
pub fn claim(
    conn: &mut DbConn,
    apply: ApplyId,
    runner: &str,
    until: NaiveDateTime,
) -> StoreResult<bool> {
    let at = now();
    use diesel::query_dsl::methods::FilterDsl;
    let lapsed = s::claimed_until.is_null().or(s::claimed_until.lt(At(at)));
    let upsert = diesel::insert_into(s::table)
        .values((
            s::apply_id.eq(apply),
            s::claimed_by.eq(runner),
            s::claimed_until.eq(At(until)),
            s::updated_at.eq(At(at)),
        ))
        .on_conflict(s::apply_id)
        .do_update()
        .set((s::claimed_by.eq(runner), s::claimed_until.eq(At(until))));
    // `ON CONFLICT … DO UPDATE … WHERE`: an upsert's own `filter`.
    let taken = crate::direct!(conn, |c| FilterDsl::filter(upsert, lapsed).execute(c))?;
    Ok(taken == 1)
}

/// The silence a change wants: its window, and the names its monitored
/// things go by (hosts, resources' names), sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub window: (NaiveDateTime, NaiveDateTime),
    pub matchers: Vec<String>,
}

/// What change `apply` wants as its ticket stands at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub version: i32,
    pub wanted: Option<Wanted>,
}

/// The steps of a ticket's latest round (after its last submit step).
fn latest_round(steps: &[(NodeKind, StepStatus)]) -> &[(NodeKind, StepStatus)] {
    steps
        .iter()
        .rposition(|(kind, _)| *kind == NodeKind::Submit)
        .map_or(steps, |submit| &steps[submit + 1..])
}

/// The silence change `apply` wants now, with the ticket's `row_version`
/// read first (a ticket moved on meanwhile is looked at again): one while
/// it is approved (`gate::approved`) and running or finished, no task of
/// its latest round is done (the change was carried out: done early), its
/// window has not ended, and it names at least one host or resource.
pub fn wanted(conn: &mut DbConn, apply: ApplyId) -> StoreResult<Desired> {
    let (status, version): (TicketStatus, i32) = crate::direct!(conn, |c| a::table
        .find(apply)
        .select((a::status, a::row_version))
        .first(c))?;
    let none = Desired {
        version,
        wanted: None,
    };
    if !matches!(status, TicketStatus::Running | TicketStatus::Finished) {
        return Ok(none);
    }
    let change: Option<(NaiveDateTime, NaiveDateTime, String)> =
        crate::direct!(conn, |c| ch::table
            .find(apply)
            .select((ch::starts_at, ch::ends_at, ch::items))
            .first(c)
            .optional())?;
    let Some((starts, ends, items)) = change else {
        return Ok(none);
    };
    if ends <= now() {
        return Ok(none);
    }
    let steps: Vec<(NodeKind, StepStatus)> = crate::direct!(conn, |c| n::table
        .filter(n::apply_id.eq(apply))
        .order((n::position, n::id))
        .select((n::kind, n::status))
        .load(c))?;
    let done = latest_round(&steps).contains(&(NodeKind::Task, StepStatus::Done));
    if done || !super::gate::approved(&steps) {
        return Ok(none);
    }
    let items: Vec<String> =
        serde_json::from_str(&items).map_err(|e| StoreError::Unexpected(e.into()))?;
    let mut matchers: Vec<String> = items
        .iter()
        .filter_map(|i| i.strip_prefix("host:"))
        .map(str::to_string)
        .collect();
    let resources: Vec<i32> = items
        .iter()
        .filter_map(|i| i.strip_prefix("resource:")?.parse().ok())
        .collect();
    if !resources.is_empty() {
        let names: Vec<String> = crate::direct!(conn, |c| r::table
            .filter(r::id.eq_any(&resources))
            .select(r::name)
            .load(c))?;
        matchers.extend(names);
    }
    matchers.retain(|m| !m.trim().is_empty());
    matchers.sort();
    matchers.dedup();
    if matchers.is_empty() {
        return Ok(none);
    }
    Ok(Desired {
        version,
        wanted: Some(Wanted {
            window: (starts, ends),
            matchers,
        }),
    })
}

/// What Alertmanager holds for a change after a look at it at `version`:
/// the silence last made (`window` is when it runs, or ran until it was
/// expired), or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub silence_id: Option<String>,
    pub window: Option<(NaiveDateTime, NaiveDateTime)>,
    pub matchers: Vec<String>,
    pub version: i32,
}

/// Records how the look at change `apply` by `runner` went and hands the
/// claim back: what Alertmanager now holds, in step with the ticket at
/// its version; or why it failed, the rest left as it was (the ticket
/// stays out of step, so the next turn tries again). Nothing is written
/// when `runner` no longer holds the claim (its lease lapsed and another
/// took it); whether it did.
pub fn record(
    conn: &mut DbConn,
    apply: ApplyId,
    runner: &str,
    outcome: Result<&Synced, &str>,
) -> StoreResult<bool> {
    let at = now();
    let ours = s::table
        .filter(s::apply_id.eq(apply))
        .filter(s::claimed_by.eq(runner));
    let written = match outcome {
        Ok(synced) => {
            let matchers = serde_json::to_string(&synced.matchers)
                .map_err(|e| StoreError::Unexpected(e.into()))?;
            crate::direct!(conn, |c| diesel::update(ours)
                .set((
                    s::silence_id.eq(&synced.silence_id),
                    s::starts_at.eq(synced.window.map(|w| At(w.0))),
                    s::ends_at.eq(synced.window.map(|w| At(w.1))),
                    s::matchers.eq(&matchers),
                    s::synced_version.eq(synced.version),
                    s::claimed_by.eq(None::<String>),
                    s::claimed_until.eq(None::<At>),
                    s::last_error.eq(None::<String>),
                    s::updated_at.eq(At(at)),
                ))
                .execute(c))?
        }
        Err(error) => {
            let error: String = error.chars().take(ERROR_CHARS).collect();
            crate::direct!(conn, |c| diesel::update(ours)
                .set((
                    s::claimed_by.eq(None::<String>),
                    s::claimed_until.eq(None::<At>),
                    s::last_error.eq(Some(&error)),
                    s::updated_at.eq(At(at)),
                ))
                .execute(c))?
        }
    };
    Ok(written == 1)
}

/// Hands back every change `runner` holds (it stops).
pub fn release(conn: &mut DbConn, runner: &str) -> StoreResult<usize> {
    Ok(crate::direct!(conn, |c| diesel::update(
        s::table.filter(s::claimed_by.eq(runner))
    )
    .set((
        s::claimed_by.eq(None::<String>),
        s::claimed_until.eq(None::<At>)
    ))
    .execute(c))?)
}

/// A change's silence as last recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRow {
    pub apply: ApplyId,
    /// Alertmanager's id of the silence last made, kept once it is
    /// expired; none when no silence was ever wanted.
    pub silence_id: Option<String>,
    /// When it runs (or ran: until it was expired).
    pub window: Option<(NaiveDateTime, NaiveDateTime)>,
    /// The hosts and resources' names it matches.
    pub matchers: Vec<String>,
    /// The ticket's `row_version` it is in step with: behind the
    /// ticket's, it is yet to be looked at again.
    pub synced_version: i32,
    /// Why the last look failed, if it did.
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
}

impl SilenceRow {
    /// Whether it names a silence that has not ended at `at`.
    pub fn live(&self, at: NaiveDateTime) -> bool {
        self.silence_id.is_some() && self.window.is_some_and(|(_, end)| end > at)
    }
}

type StoredRow = (
    Option<String>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    String,
    i32,
    Option<String>,
    NaiveDateTime,
);

/// The silence recorded for ticket `apply`, if the runner has looked at it.
pub fn of_ticket(conn: &mut DbConn, apply: ApplyId) -> StoreResult<Option<SilenceRow>> {
    let row: Option<StoredRow> = crate::direct!(conn, |c| s::table
        .find(apply)
        .select((
            s::silence_id,
            s::starts_at,
            s::ends_at,
            s::matchers,
            s::synced_version,
            s::last_error,
            s::updated_at,
        ))
        .first(c)
        .optional())?;
    let Some((silence_id, starts, ends, matchers, synced_version, last_error, updated_at)) = row
    else {
        return Ok(None);
    };
    Ok(Some(SilenceRow {
        apply,
        silence_id,
        window: starts.zip(ends),
        matchers: serde_json::from_str(&matchers).map_err(|e| StoreError::Unexpected(e.into()))?,
        synced_version,
        last_error,
        updated_at,
    }))
}
