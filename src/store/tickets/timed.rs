//! What a step's timer does when it fires, as countersign acting through
//! the door with channel `timer`: a reminder to the people the step waits
//! for, or — its deadline passed — the step marked overdue and the node's
//! escalation policy carried out (managers told, a manager added or
//! handed the step, an automatic approval or rejection). The timer is
//! taken back from its claim and the live state read again first: a step
//! decided, withdrawn or handed over meanwhile is left alone.

use diesel::prelude::*;

use super::super::audit::{self, Audit, Channel};
use super::super::timers::{self, Timer};
use super::super::{StoreResult, now};
use super::{node_def, notices, progress};
use crate::db::DbConn;
use crate::db::ids::{ApproveUserId, UserId};
use crate::db::models::{Apply, Approve, ApproveUser, User};
use crate::db::schema::{applies as a, approve_users as au, approves as n, timers as t, users};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, Decided, StepStatus, TicketEvent, TicketStatus};
use crate::flow::deadline::StageKind;
use crate::flow::{Escalation, Mode, NodeKind, NotifyEvent};

/// What a timer did when it fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// The step no longer waits (or the timer was fired elsewhere): nothing.
    Nothing,
    /// The people the step waits for were reminded.
    Reminded,
    /// The deadline passed and the node's policy was carried out.
    Breached(Escalation),
}

/// Fires `timer`, claimed by `runner`, in the caller's transaction.
pub(super) fn fire(conn: &mut DbConn, timer: &Timer, runner: &str) -> StoreResult<Fired> {
    // The ticket locked first, as every action on it locks it (so a
    // person deciding at this moment and the clock never deadlock), with
    // how it stands.
    let status: Option<TicketStatus> = diesel::update(a::table.find(timer.apply_id))
        .set(a::row_version.eq(a::row_version + 1))
        .returning(a::status)
        .get_result(conn)
        .optional()?;
    // Still ours and at the stage we claimed: taken back from the claim.
    let ours = diesel::update(
        t::table
            .find(timer.id)
            .filter(t::claimed_by.eq(runner))
            .filter(t::stage.eq(timer.stage)),
    )
    .set((
        t::claimed_by.eq(None::<String>),
        t::claimed_until.eq(None::<At>),
    ))
    .execute(conn)?;
    if ours == 0 {
        return Ok(Fired::Nothing);
    }
    let Some(step) = timer.approve_id else {
        return ticket_breach(conn, timer, status);
    };
    let node: Option<Approve> = n::table
        .find(step)
        .filter(n::status.eq(StepStatus::Active))
        .select(Approve::as_select())
        .first(conn)
        .optional()?;
    let (Some(TicketStatus::Running), Some(node)) = (status, node) else {
        timers::stop_step(conn, step)?;
        return Ok(Fired::Nothing);
    };
    let ticket: Apply = a::table
        .find(timer.apply_id)
        .select(Apply::as_select())
        .first(conn)?;
    let def = super::def_of(conn, &ticket)?;
    let spec = node_def(&def, &node)?;
    let Some(deadline) = &spec.deadline else {
        timers::stop_step(conn, node.id)?;
        return Ok(Fired::Nothing);
    };
    let calendar = timers::calendar_for(conn, &def, deadline)?;
    let at = now();
    let (stage, next) = deadline.fire(&calendar, timer.since, timer.stage, at);
    // The timer moves on first: an act below that closes the step (or
    // starts its clock again) takes it away.
    match next {
        Some((stage, due)) => {
            diesel::update(t::table.find(timer.id))
                .set((t::stage.eq(stage), t::due_at.eq(At(due))))
                .execute(conn)?;
        }
        None => timers::stop_step(conn, node.id)?,
    }
    let pending = pending_on(conn, &node)?;
    let policy = deadline.on_breach;
    match deadline.kind(stage) {
        Some(StageKind::Reminder(percent)) => {
            record(
                conn,
                &node,
                TicketEvent::Reminded,
                serde_json::json!({
                    "node": node.node_key, "percent": percent,
                    "reminded": pending.iter().map(|x| x.user_id.0).collect::<Vec<_>>(),
                }),
            )?;
            notices::remind(conn, &ticket, &node, NotifyEvent::Reminder, &ids(&pending))?;
            Ok(Fired::Reminded)
        }
        Some(StageKind::Overdue(n)) => {
            record(
                conn,
                &node,
                TicketEvent::Reminded,
                serde_json::json!({
                    "node": node.node_key, "after": n,
                    "reminded": pending.iter().map(|x| x.user_id.0).collect::<Vec<_>>(),
                }),
            )?;
            notices::remind(conn, &ticket, &node, NotifyEvent::Overdue, &ids(&pending))?;
            Ok(Fired::Reminded)
        }
        None => Ok(Fired::Nothing),
        Some(StageKind::Breach) => {
            diesel::update(n::table.find(node.id))
                .set(n::overdue_at.eq(At(at)))
                .execute(conn)?;
            record(
                conn,
                &node,
                TicketEvent::Overdue,
                serde_json::json!({
                    "node": node.node_key, "policy": policy.as_str(),
                    "due": node.due_at.map(|d| d.to_string()),
                }),
            )?;
            escalate(conn, (&ticket, &def), (&node, spec), policy, &pending)?;
            Ok(Fired::Breached(policy))
        }
    }
}

/// A whole ticket's deadline has passed: it is marked overdue, and its
/// applicant and the people it waits for are told. A ticket that has
/// ended meanwhile is left alone; one sent back to its applicant still
/// counts (its time runs from filing to its end).
fn ticket_breach(
    conn: &mut DbConn,
    timer: &Timer,
    status: Option<TicketStatus>,
) -> StoreResult<Fired> {
    diesel::delete(t::table.find(timer.id)).execute(conn)?;
    if !matches!(status, Some(TicketStatus::Running | TicketStatus::SentBack)) {
        return Ok(Fired::Nothing);
    }
    let marked = diesel::update(
        a::table
            .find(timer.apply_id)
            .filter(a::overdue_at.is_null()),
    )
    .set(a::overdue_at.eq(At(now())))
    .execute(conn)?;
    if marked == 0 {
        return Ok(Fired::Nothing);
    }
    let ticket: Apply = a::table
        .find(timer.apply_id)
        .select(Apply::as_select())
        .first(conn)?;
    audit::record(
        conn,
        Audit {
            channel: Channel::Timer,
            ..super::ticket_event(
                None,
                TicketEvent::TicketOverdue,
                ticket.id,
                serde_json::json!({ "due": ticket.due_at.map(|d| d.to_string()) }),
            )
        },
    )?;
    // The people it waits for now, at whatever step, and its applicant.
    let waiting: Vec<(ApproveUserId, UserId)> = au::table
        .filter(au::apply_id.eq(ticket.id))
        .filter(au::status.eq(AssignmentStatus::Pending))
        .order(au::id)
        .select((au::id, au::user_id))
        .load(conn)?;
    let mut told: Vec<UserId> = waiting.iter().map(|(_, u)| *u).collect();
    told.push(ticket.applicant_id);
    told.sort();
    told.dedup();
    notices::ticket_overdue(conn, &ticket, &told)?;
    Ok(Fired::Breached(Escalation::MarkOverdue))
}

fn ids(people: &[ApproveUser]) -> Vec<(ApproveUserId, UserId)> {
    people.iter().map(|x| (x.id, x.user_id)).collect()
}

/// The step's people still to answer.
fn pending_on(conn: &mut DbConn, node: &Approve) -> StoreResult<Vec<ApproveUser>> {
    Ok(progress::live_assignments(conn, node.id)?
        .into_iter()
        .filter(|x| x.status == AssignmentStatus::Pending)
        .collect())
}

/// An event on the ticket by countersign's clock.
fn record(
    conn: &mut DbConn,
    node: &Approve,
    event: TicketEvent,
    detail: serde_json::Value,
) -> StoreResult<()> {
    audit::record(conn, timer_event(node, event, detail))
}

fn timer_event(node: &Approve, event: TicketEvent, detail: serde_json::Value) -> Audit<'static> {
    Audit {
        channel: Channel::Timer,
        ..super::ticket_event(None, event, node.apply_id, detail)
    }
}

/// Carries out the node's escalation policy on the step whose deadline
/// has just passed, `pending` being its people still to answer.
fn escalate(
    conn: &mut DbConn,
    (ticket, def): (&Apply, &crate::flow::ProcessDef),
    (node, spec): (&Approve, &crate::flow::NodeDef),
    policy: Escalation,
    pending: &[ApproveUser],
) -> StoreResult<()> {
    let approval = node.kind == NodeKind::Approval;
    match policy {
        Escalation::MarkOverdue => {
            notices::remind(conn, ticket, node, NotifyEvent::Overdue, &ids(pending))
        }
        Escalation::NotifyManagers => {
            notices::remind(conn, ticket, node, NotifyEvent::Overdue, &ids(pending))?;
            for x in pending {
                if let Some(manager) = manager_of(conn, ticket, node, x.user_id, approval)? {
                    notices::escalated(conn, ticket, node, manager, x.user_id)?;
                }
            }
            Ok(())
        }
        Escalation::AddManager | Escalation::HandToManager => {
            let mut moved = false;
            for x in pending {
                let Some(manager) = manager_of(conn, ticket, node, x.user_id, approval)? else {
                    // Nobody above may take part: they are told it is overdue.
                    let me = [(x.id, x.user_id)];
                    notices::remind(conn, ticket, node, NotifyEvent::Overdue, &me)?;
                    continue;
                };
                let handing = policy == Escalation::HandToManager;
                let at = now();
                if handing {
                    diesel::update(
                        au::table
                            .find(x.id)
                            .filter(au::status.eq(AssignmentStatus::Pending)),
                    )
                    .set((
                        au::status.eq(AssignmentStatus::Transferred),
                        au::channel.eq(Channel::Timer),
                        au::decided_at.eq(At(at)),
                    ))
                    .execute(conn)?;
                }
                let id: ApproveUserId = diesel::insert_into(au::table)
                    .values((
                        au::approve_id.eq(x.approve_id),
                        au::apply_id.eq(x.apply_id),
                        au::position.eq(x.position),
                        au::user_id.eq(manager),
                        au::status.eq(AssignmentStatus::Pending),
                        au::created_at.eq(At(at)),
                    ))
                    .returning(au::id)
                    .get_result(conn)?;
                super::took_place(conn, x, id)?;
                super::notices::mail_new_assignee(conn, id)?;
                let names = super::super::users::people_by_id(conn, &[x.user_id, manager])?;
                let name = |id: UserId| {
                    names
                        .get(&id)
                        .map(|p| p.display_name.clone())
                        .unwrap_or_default()
                };
                let event = if handing {
                    TicketEvent::HandedOver
                } else {
                    TicketEvent::ApproverAdded
                };
                record(
                    conn,
                    node,
                    event,
                    serde_json::json!({
                        "node": node.node_key, "policy": policy.as_str(),
                        "from": name(x.user_id), "to": name(manager), "to_ids": [manager.0],
                    }),
                )?;
                moved |= handing;
            }
            // Handed over, the step's clock starts again for its new people.
            if moved {
                timers::restart(conn, (node.apply_id, node.id), def, spec, now())?;
            }
            Ok(())
        }
        Escalation::AutoApprove | Escalation::AutoReject => {
            let (decision, event) = if policy == Escalation::AutoApprove {
                (Decided::Approve, TicketEvent::Approved)
            } else {
                (Decided::Reject, TicketEvent::Rejected)
            };
            // In a sequence each next person is asked as the one before
            // is decided for: decide until the step is decided. Nobody
            // deactivated is decided for: their stranded part waits for
            // an administrator.
            let active = |conn: &mut DbConn, people: Vec<ApproveUser>| -> StoreResult<_> {
                let ids: Vec<UserId> = people.iter().map(|x| x.user_id).collect();
                let active: Vec<UserId> = users::table
                    .filter(users::id.eq_any(&ids))
                    .filter(users::active.eq(true))
                    .select(users::id)
                    .load(conn)?;
                Ok(people
                    .into_iter()
                    .filter(|x| active.contains(&x.user_id))
                    .collect::<Vec<_>>())
            };
            let mut people = active(conn, pending.to_vec())?;
            for _ in 0..64 {
                let Some(x) = people.first() else { break };
                let at = now();
                let decided = diesel::update(
                    au::table
                        .find(x.id)
                        .filter(au::status.eq(AssignmentStatus::Pending)),
                )
                .set((
                    au::status.eq(AssignmentStatus::Decided),
                    au::decision.eq(decision),
                    au::channel.eq(Channel::Timer),
                    au::decided_at.eq(At(at)),
                ))
                .execute(conn)?;
                if decided == 0 {
                    people.remove(0);
                    continue;
                }
                super::note_vote(Channel::Timer, decision);
                audit::record(
                    conn,
                    Audit {
                        on_behalf_of: Some(x.user_id),
                        ..timer_event(
                            node,
                            event,
                            serde_json::json!({
                                "node": node.node_key, "policy": policy.as_str(), "comment": "",
                            }),
                        )
                    },
                )?;
                progress::after_vote(conn, ticket, node, spec, def, None)?;
                let still: bool = n::table
                    .find(node.id)
                    .filter(n::status.eq(StepStatus::Active))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
                if !still {
                    break;
                }
                people = if spec.mode == Mode::Sequence || people.len() <= 1 {
                    let now_pending = pending_on(conn, node)?;
                    active(conn, now_pending)?
                } else {
                    people.split_off(1)
                };
            }
            Ok(())
        }
    }
}

/// The manager (or the first one above) of `person` who may take part in
/// the step: active, not already on it, and on an approval not the
/// applicant.
fn manager_of(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    person: UserId,
    approval: bool,
) -> StoreResult<Option<UserId>> {
    let on_node: Vec<UserId> = au::table
        .filter(au::approve_id.eq(node.id))
        .filter(au::status.ne(AssignmentStatus::Cancelled))
        .filter(au::status.ne(AssignmentStatus::Transferred))
        .select(au::user_id)
        .load(conn)?;
    let user: User = users::table
        .find(person)
        .select(User::as_select())
        .first(conn)?;
    let eligible = |id: UserId, active: bool| {
        active && !on_node.contains(&id) && !(approval && id == ticket.applicant_id)
    };
    super::super::leavers::manager_for(conn, &user, &eligible)
}
