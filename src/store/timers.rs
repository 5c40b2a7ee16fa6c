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
use crate::db::schema::{approve_users as au, approves as n, timers as t, users};
use crate::db::stamp::At;
use crate::db::states::AssignmentStatus;
use crate::flow::{NodeDef, ProcessDef};

/// A waiting step's timer (or, with no step, a whole ticket's): due at
/// its next stage.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct Timer {
    pub id: i32,
    pub apply_id: ApplyId,
    pub approve_id: Option<ApproveId>,
    pub stage: i32,
    pub due_at: NaiveDateTime,
    pub since: NaiveDateTime,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
}

/// Starts the clock of step `node` (just started) of a ticket of `def`,
/// its node `spec`, from `since`: the step's deadline is written on it
/// and its timer set to the first stage. A node without a deadline has no
/// clock; nothing is written.
pub(crate) fn start(
    conn: &mut DbConn,
    (apply, node): (ApplyId, ApproveId),
    def: &ProcessDef,
    spec: &NodeDef,
    since: NaiveDateTime,
) -> StoreResult<()> {
    set(conn, (apply, node), def, spec, since, false)
}

/// Starts the clock of step `node` again from `since` (handed over), in
/// place of the one it had.
pub(crate) fn restart(
    conn: &mut DbConn,
    (apply, node): (ApplyId, ApproveId),
    def: &ProcessDef,
    spec: &NodeDef,
    since: NaiveDateTime,
) -> StoreResult<()> {
    set(conn, (apply, node), def, spec, since, true)
}

fn set(
    conn: &mut DbConn,
    (apply, node): (ApplyId, ApproveId),
    def: &ProcessDef,
    spec: &NodeDef,
    since: NaiveDateTime,
    again: bool,
) -> StoreResult<()> {
    let Some(deadline) = &spec.deadline else {
        return Ok(());
    };
    let calendar = calendar_for(conn, def, deadline)?;
    let due = deadline.due(&calendar, since);
    let written = prepared::update(
        n::table.find(node),
        (n::due_at.eq(due.map(At)), n::overdue_at.eq(None::<At>)),
    );
    if again {
        stop_step(conn, node)?;
    }
    let Some((stage, at)) = deadline.first(&calendar, since) else {
        crate::direct!(conn, |c| written.execute(c))?;
        return Ok(());
    };
    let timer = diesel::insert_into(t::table).values((
        t::apply_id.eq(apply),
        t::approve_id.eq(node),
        t::stage.eq(stage),
        t::due_at.eq(At(at)),
        t::since.eq(At(since)),
    ));
    // On PostgreSQL the deadline and the timer are written in one round
    // trip.
    match conn {
        DbConn::Pg(pg) => {
            prepared::together(written, timer).execute(pg)?;
        }
        DbConn::Sqlite(sqlite) => {
            written.execute(sqlite)?;
            timer.execute(sqlite)?;
        }
    }
    Ok(())
}

/// Starts the clock of a whole ticket of `def`, just filed at `since`,
/// when its process gives tickets a deadline: the ticket's deadline is
/// written on it and a timer with no step set to it.
pub(crate) fn start_ticket(
    conn: &mut DbConn,
    apply: ApplyId,
    def: &ProcessDef,
    since: NaiveDateTime,
) -> StoreResult<()> {
    use crate::db::schema::applies as a;
    let Some(deadline) = def.deadline.map(crate::flow::TicketDeadline::as_deadline) else {
        return Ok(());
    };
    let calendar = calendar_for(conn, def, &deadline)?;
    let Some(due) = deadline.due(&calendar, since) else {
        return Ok(());
    };
    crate::direct!(conn, |c| prepared::update(
        a::table.find(apply),
        a::due_at.eq(At(due))
    )
    .execute(c))?;
    crate::direct!(conn, |c| diesel::insert_into(t::table)
        .values((
            t::apply_id.eq(apply),
            t::stage.eq(0),
            t::due_at.eq(At(due)),
            t::since.eq(At(since)),
        ))
        .execute(c))?;
    Ok(())
}

/// The calendar `deadline` counts in: the process's, or every hour of
/// every day for a deadline in wall-clock hours.
pub(crate) fn calendar_for(
    conn: &mut DbConn,
    def: &ProcessDef,
    deadline: &crate::flow::Deadline,
) -> StoreResult<std::sync::Arc<crate::flow::calendar::Calendar>> {
    static ALWAYS: std::sync::LazyLock<std::sync::Arc<crate::flow::calendar::Calendar>> =
        std::sync::LazyLock::new(|| std::sync::Arc::new(crate::flow::calendar::Calendar::always()));
    if deadline.working {
        calendars::for_process(conn, def.calendar.as_deref())
    } else {
        Ok(ALWAYS.clone())
    }
}

/// Takes away the timer of step `node` (decided, ended, or starting again).
pub(crate) fn stop_step(conn: &mut DbConn, node: ApproveId) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::delete(
        t::table.filter(t::approve_id.eq(node))
    )
    .execute(c))?;
    Ok(())
}

/// Takes away every timer of ticket `apply` (ended).
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
    let at = now();
    // The ids first (on PostgreSQL planned afresh each time), then the
    // conditional update of those ids: see `outbox::claim`.
    let due = t::table
        .filter(t::due_at.le(At(at)))
        .filter(t::claimed_until.is_null().or(t::claimed_until.lt(At(at))))
        .order(t::due_at)
        .limit(limit)
        .select(t::id);
    let due: Vec<i32> = match conn {
        DbConn::Pg(pg) => due.into_boxed().load(pg)?,
        DbConn::Sqlite(lite) => due.load(lite)?,
    };
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut claimed: Vec<Timer> = crate::direct!(conn, |c| crate::db::prepared::update(
        t::table
            .filter(crate::db::one_of::one_of(t::id, due.iter().copied()))
            .filter(t::due_at.le(At(at)))
            .filter(t::claimed_until.is_null().or(t::claimed_until.lt(At(at)))),
        (
            t::claimed_by.eq(runner),
            t::claimed_until.eq(At(at + lease))
        ),
    )
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

/// A step's deadline as reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDeadline {
    pub apply: ApplyId,
    /// The node's name in English and Chinese.
    pub node: (String, String),
    pub due: NaiveDateTime,
    pub overdue: Option<NaiveDateTime>,
    pub decided: Option<NaiveDateTime>,
}

/// A ticket past its own deadline as read: (ticket, serial, title),
/// (service names, business), due.
type TicketOverdueRow = (
    (ApplyId, String, String),
    (String, String, Option<String>),
    NaiveDateTime,
);

/// A step's deadline as read: ticket, node names, due, overdue, decided.
type DeadlineRow = (
    ApplyId,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// An overdue step as read: (ticket, step, serial, title), (service
/// names, business), (node names, due).
type OverdueRow = (
    (ApplyId, ApproveId, String, String),
    (String, String, Option<String>),
    (String, String, NaiveDateTime),
);

/// The deadlines of the steps of `applies`, each ticket's in its order.
pub fn deadlines_of(
    conn: &mut DbConn,
    applies: &[ApplyId],
) -> StoreResult<std::collections::HashMap<ApplyId, Vec<StepDeadline>>> {
    let mut out: std::collections::HashMap<ApplyId, Vec<StepDeadline>> = Default::default();
    for chunk in applies.chunks(5000) {
        let rows: Vec<DeadlineRow> = n::table
            .filter(n::apply_id.eq_any(chunk))
            .filter(n::due_at.is_not_null())
            .order((n::apply_id, n::position, n::id))
            .select((
                n::apply_id,
                n::name_en,
                n::name_zh,
                n::due_at.assume_not_null(),
                n::overdue_at,
                n::decided_at,
            ))
            .load(conn)?;
        for (apply, en, zh, due, overdue, decided) in rows {
            out.entry(apply).or_default().push(StepDeadline {
                apply,
                node: (en, zh),
                due,
                overdue,
                decided,
            });
        }
    }
    Ok(out)
}

/// A waiting step past its deadline, for the administrators' list.
#[derive(Debug, Clone)]
pub struct OverdueStep {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    /// The service's name in English and Chinese, and the business.
    pub service: (String, String),
    pub business: Option<String>,
    /// The step's name in English and Chinese; `None` for a whole ticket
    /// past its own deadline.
    pub node: Option<(String, String)>,
    pub due: NaiveDateTime,
    /// Who it waits for (display names).
    pub waiting: Vec<String>,
}

/// Every running ticket's step past its deadline, by service, business
/// and then the longest overdue first.
pub fn overdue(conn: &mut DbConn) -> StoreResult<Vec<OverdueStep>> {
    use crate::db::schema::{applies as a, businesses as b, services as sv};
    use crate::db::states::{ActiveStep, TicketStatus};
    let at = now();
    // From the partial index of the active steps.
    let rows: Vec<OverdueRow> = n::table
        .inner_join(a::table)
        .inner_join(sv::table.on(sv::id.eq(a::service_id)))
        .left_join(b::table.on(b::id.nullable().eq(a::business_id)))
        .filter(crate::db::one_of::is::<ActiveStep, _>(n::status))
        .filter(a::status.eq(TicketStatus::Running))
        .filter(n::due_at.le(At(at)))
        .order((
            sv::name_en,
            b::name.nullable().is_null(),
            b::name.nullable(),
            n::due_at,
            n::id,
        ))
        .select((
            (a::id, n::id, a::serial, a::title),
            (sv::name_en, sv::name_zh, b::name.nullable()),
            (n::name_en, n::name_zh, n::due_at.assume_not_null()),
        ))
        .load(conn)?;
    // Whole tickets past their own deadline, not yet ended.
    let tickets: Vec<TicketOverdueRow> = a::table
        .inner_join(sv::table.on(sv::id.eq(a::service_id)))
        .left_join(b::table.on(b::id.nullable().eq(a::business_id)))
        .filter(
            a::status
                .eq(TicketStatus::Running)
                .or(a::status.eq(TicketStatus::SentBack)),
        )
        .filter(a::due_at.le(At(at)))
        .select((
            (a::id, a::serial, a::title),
            (sv::name_en, sv::name_zh, b::name.nullable()),
            a::due_at.assume_not_null(),
        ))
        .load(conn)?;
    let steps: Vec<ApproveId> = rows.iter().map(|((_, s, _, _), _, _)| *s).collect();
    let ticket_ids: Vec<ApplyId> = tickets.iter().map(|((id, _, _), _, _)| *id).collect();
    let mut people: Vec<(ApplyId, ApproveId, String)> = Vec::new();
    for chunk in steps.chunks(5000) {
        people.extend(
            pending_people()
                .filter(au::approve_id.eq_any(chunk))
                .load::<(ApplyId, ApproveId, String)>(conn)?,
        );
    }
    for chunk in ticket_ids.chunks(5000) {
        people.extend(
            pending_people()
                .filter(au::apply_id.eq_any(chunk))
                .load::<(ApplyId, ApproveId, String)>(conn)?,
        );
    }
    // Who each step, and each ticket, waits for.
    let mut by_step: std::collections::HashMap<ApproveId, Vec<String>> = Default::default();
    let mut by_ticket: std::collections::HashMap<ApplyId, Vec<String>> = Default::default();
    // (A ticket past its own deadline and at an overdue step has its
    // people read twice.)
    for (apply, step, name) in people {
        for names in [
            by_ticket.entry(apply).or_default(),
            by_step.entry(step).or_default(),
        ] {
            if !names.contains(&name) {
                names.push(name.clone());
            }
        }
    }
    let mut out: Vec<OverdueStep> = rows
        .into_iter()
        .map(
            |((apply, step, serial, title), (en, zh, business), (node_en, node_zh, due))| {
                OverdueStep {
                    apply,
                    serial,
                    title,
                    service: (en, zh),
                    business,
                    node: Some((node_en, node_zh)),
                    due,
                    waiting: by_step.remove(&step).unwrap_or_default(),
                }
            },
        )
        .collect();
    out.extend(
        tickets.into_iter().map(
            |((apply, serial, title), (en, zh, business), due)| OverdueStep {
                apply,
                serial,
                title,
                service: (en, zh),
                business,
                node: None,
                due,
                waiting: by_ticket.get(&apply).cloned().unwrap_or_default(),
            },
        ),
    );
    // By service, business (none last), the longest overdue first.
    out.sort_by(|x, y| {
        (
            &x.service.0,
            x.business.is_none(),
            &x.business,
            x.due,
            x.apply,
        )
            .cmp(&(
                &y.service.0,
                y.business.is_none(),
                &y.business,
                y.due,
                y.apply,
            ))
    });
    Ok(out)
}

/// The pending people of some steps or tickets (a filter to add): their
/// ticket, step and name, in the order they were asked.
#[diesel::dsl::auto_type(no_type_alias)]
fn pending_people() -> _ {
    let pending: AssignmentStatus = AssignmentStatus::Pending;
    au::table
        .inner_join(users::table.on(users::id.eq(au::user_id)))
        .filter(au::status.eq(pending))
        .order(au::id)
        .select((au::apply_id, au::approve_id, users::display_name))
}
