//! Adding approvers by hand to a waiting approval (加签), through the
//! door: the person whose turn it is (or whoever stands in for them)
//! adds people before, after or alongside themself, saying why, where
//! the step allows it. The added are asked, with mail and links, when
//! their turn comes; how their votes count is `flow::added`.

use diesel::prelude::*;

use super::super::audit::{self, Channel};
use super::super::{StoreResult, now};
use super::decide::{
    acts_for, check, lock_running, not_on_step, overtaken_now, still_active, target,
};
use super::door::Done;
use super::{acted, def_of, notices, rules};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveUserId, UserId};
use crate::db::models::Approve;
use crate::db::schema::{approve_users as au, approves as n, users};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, StepStatus, TicketEvent};
use crate::flow::added::Placement;
use crate::flow::{Mode, NodeKind};
use crate::refusal::Refusal;

/// How many people one addition may name.
pub const MAX_ADDED: usize = 10;

/// `actor` adds `people` (usernames) to their pending approval
/// `assignment`, placed as `placement`, saying why (`reason`).
pub(super) fn add_approvers(
    conn: &mut DbConn,
    (apply, assignment): (ApplyId, ApproveUserId),
    (actor, channel): (UserId, Channel),
    people: &[String],
    placement: Placement,
    reason: &str,
) -> StoreResult<Done> {
    let target = target(conn, apply, assignment)?;
    let (mine, ticket) = (&target.assignment, &target.ticket);
    let who = (actor, acts_for(conn, actor, mine.user_id, ticket.kind)?);
    // As for a decision: theirs (or their stand-in's), open, running.
    check(conn, &target, who, |f| rules::may_act(actor, f), None)?;
    let def = def_of(conn, ticket)?;
    let spec = def.node(&target.node_key);
    let allowed = spec.is_some_and(|s| s.kind == NodeKind::Approval && s.add_approvers)
        && mine
            .placement
            .as_deref()
            .and_then(Placement::parse)
            .is_none_or(Placement::seats);
    if !allowed {
        return Err(Refusal::AddNotAllowed.into());
    }
    let sequence = spec.is_some_and(|s| s.mode == Mode::Sequence);
    let reason = rules::comment(reason, Refusal::ReasonRequired)?;
    let mut names: Vec<String> = Vec::new();
    for name in people
        .iter()
        .flat_map(|t| t.split([',', '，', ';', ' ', '\n']))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Err(Refusal::AddNobody.into());
    }
    if names.len() > MAX_ADDED {
        return Err(Refusal::TooLong("people").into());
    }
    let found: Vec<(UserId, String, String)> = users::table
        .filter(users::username.eq_any(&names))
        .filter(users::active.eq(true))
        .select((users::id, users::username, users::display_name))
        .load(conn)?;
    let mut added: Vec<(UserId, String)> = Vec::with_capacity(names.len());
    for name in &names {
        let Some((id, _, shown)) = found.iter().find(|(_, n, _)| n == name) else {
            return Err(Refusal::UnknownPerson(name.clone()).into());
        };
        // Nobody approves their own ticket, nor adds themself twice.
        if *id == ticket.applicant_id {
            return Err(Refusal::AddApplicant.into());
        }
        // Nor anyone whose seat they would decide too: someone the
        // actor or the assignee stands in for now.
        if *id == actor
            || *id == mine.user_id
            || acts_for(conn, actor, *id, ticket.kind)?
            || acts_for(conn, mine.user_id, *id, ticket.kind)?
        {
            return Err(Refusal::AddSelf.into());
        }
        added.push((*id, shown.clone()));
    }
    // Everyone involved active until this commits; the ticket locked
    // before the step's people are looked at, so two additions cannot
    // both pass the check.
    let mut involved = vec![actor, mine.user_id];
    involved.extend(added.iter().map(|(id, _)| *id));
    let active = still_active(conn, &involved)?;
    check(
        conn,
        &target,
        who,
        |f| rules::may_act(actor, f),
        Some(&active),
    )?;
    if let Some((_, name)) = added.iter().find(|(id, _)| !active.contains(id)) {
        return Err(Refusal::UnknownPerson(name.clone()).into());
    }
    lock_running(conn, ticket.id)?;
    let ids: Vec<UserId> = added.iter().map(|(id, _)| *id).collect();
    not_on_step(conn, mine.approve_id, &ids)?;
    let node: Approve = n::table
        .find(mine.approve_id)
        .filter(n::status.eq(StepStatus::Active))
        .select(Approve::as_select())
        .first(conn)
        .optional()?
        .ok_or(Refusal::Overtaken(crate::refusal::Became::StepDecided {
            by: None,
            decision: None,
            at: None,
        }))?;
    // Still theirs to decide, checked on the row: whoever added people
    // before them waits until those approved.
    let then = if placement == Placement::Before {
        AssignmentStatus::Waiting
    } else {
        AssignmentStatus::Pending
    };
    let still = diesel::update(
        au::table
            .find(mine.id)
            .filter(au::status.eq(AssignmentStatus::Pending)),
    )
    .set(au::status.eq(then))
    .execute(conn)?;
    if still == 0 {
        return Err(overtaken_now(conn, mine.id)?.into());
    }
    let asked_now = match placement {
        Placement::Before => true,
        Placement::After => false,
        Placement::Alongside => !sequence,
    };
    let last: Option<i32> = au::table
        .filter(au::approve_id.eq(mine.approve_id))
        .select(diesel::dsl::max(au::position))
        .first(conn)?;
    let at = now();
    let mut pending = Vec::new();
    for (i, (person, _)) in added.iter().enumerate() {
        let status = if asked_now {
            AssignmentStatus::Pending
        } else {
            AssignmentStatus::Waiting
        };
        let id: ApproveUserId = diesel::insert_into(au::table)
            .values((
                au::approve_id.eq(mine.approve_id),
                au::apply_id.eq(mine.apply_id),
                au::position.eq(last.unwrap_or(0) + 1 + i as i32),
                au::user_id.eq(person),
                au::status.eq(status),
                au::created_at.eq(At(at)),
                au::added_for.eq(mine.id),
                au::placement.eq(placement.as_str()),
            ))
            .returning(au::id)
            .get_result(conn)?;
        if asked_now {
            pending.push((id, *person));
        }
    }
    let to: Vec<&str> = added.iter().map(|(_, n)| n.as_str()).collect();
    audit::record(
        conn,
        acted(
            (actor, mine.user_id, channel),
            TicketEvent::ApproversAdded,
            ticket.id,
            serde_json::json!({
                "node": target.node_key,
                "to": to.join(", "),
                "placement": placement.as_str(),
                "comment": reason,
            }),
        ),
    )?;
    notices::ask(conn, &def, ticket, &node, &pending, &notices::Reach::new())?;
    Ok(Done::ApproversAdded)
}

/// Someone new has taken `old`'s place on its step (`new`: a hand-over,
/// a leaver's work moved, an overdue step handed to a manager): they
/// stand where `old` stood among people added by hand, and whoever was
/// added before or after `old` is now added for them.
pub(crate) fn took_place(
    conn: &mut DbConn,
    old: &crate::db::models::ApproveUser,
    new: ApproveUserId,
) -> StoreResult<()> {
    if old.added_for.is_some() {
        diesel::update(au::table.find(new))
            .set((
                au::added_for.eq(old.added_for),
                au::placement.eq(&old.placement),
            ))
            .execute(conn)?;
    }
    diesel::update(
        au::table
            .filter(au::approve_id.eq(old.approve_id))
            .filter(au::added_for.eq(old.id)),
    )
    .set(au::added_for.eq(new))
    .execute(conn)?;
    Ok(())
}
