//! When someone is deactivated, nothing they could do stays open to them,
//! and nothing waiting for them is stranded: their delegations end, links
//! mailed to them as someone's stand-in are retired (and the assignee
//! mailed a fresh one), and their open work moves — to their manager (or
//! the first manager above who may take it), else where the process's
//! empty-assignee policy sends it: the administrators. Each move is an
//! audit event on the ticket. Their sessions end with the deactivation
//! itself (`users::set_active`).

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::links::{self, RETIRED_DEACTIVATED};
use super::tickets::{self};
use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApproveUserId, UserId};
use crate::db::models::{Apply, ApproveUser, User};
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, role_assignments as ra, roles, users,
};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, TicketEvent, TicketStatus};
use crate::flow::{EmptyPolicy, Mode, NodeKind};

/// How far up the manager chain a leaver's work may climb.
const MANAGER_LEVELS: usize = 5;

/// Everything deactivating `user` sets in motion, in the deactivation's
/// transaction.
pub fn leave(conn: &mut DbConn, user: &User, actor: Option<UserId>) -> StoreResult<()> {
    super::delegations::end_for(conn, user.id, actor)?;
    return_stood_in_work(conn, user.id)?;
    move_open_work(conn, user, actor)
}

/// Links mailed to `user` as someone's stand-in stop working (opening one
/// says why), and the person they stood in for gets the step back with a
/// fresh link (or their own other stand-in does).
fn return_stood_in_work(conn: &mut DbConn, user: UserId) -> StoreResult<()> {
    let stood_in: Vec<ApproveUserId> = au::table
        .filter(au::email_token_to.eq(user))
        .filter(au::user_id.ne(user))
        .filter(au::status.eq(AssignmentStatus::Pending))
        .filter(au::email_token_hash.is_not_null())
        .select(au::id)
        .load(conn)?;
    for assignment in stood_in {
        links::retire(conn, assignment, RETIRED_DEACTIVATED)?;
        tickets::mail_new_assignee(conn, assignment)?;
    }
    Ok(())
}

/// Moves each open (pending or waiting) assignment of a deactivated person.
fn move_open_work(conn: &mut DbConn, user: &User, actor: Option<UserId>) -> StoreResult<()> {
    let open: Vec<ApproveUser> = au::table
        .filter(au::user_id.eq(user.id))
        .filter(
            au::status
                .eq(AssignmentStatus::Pending)
                .or(au::status.eq(AssignmentStatus::Waiting)),
        )
        .order(au::id)
        .select(ApproveUser::as_select())
        .load(conn)?;
    for row in open {
        // Lock the ticket first, as every action on it does.
        let running = diesel::update(
            a::table
                .find(row.apply_id)
                .filter(a::status.eq(TicketStatus::Running)),
        )
        .set(a::row_version.eq(a::row_version + 1))
        .execute(conn)?;
        if running == 0 {
            continue;
        }
        let ticket: Apply = a::table
            .find(row.apply_id)
            .select(Apply::as_select())
            .first(conn)?;
        let (node_kind, node_key): (String, String) = n::table
            .find(row.approve_id)
            .select((n::kind, n::node_key))
            .first(conn)?;
        let approval = node_kind == NodeKind::Approval.as_str();
        let on_node = people_on_node(conn, &row)?;
        // Who may take it: active, not already on this step, and not the
        // applicant on an approval of their own ticket.
        let eligible = |id: UserId, active: bool| {
            active && !(on_node.contains(&id) || approval && id == ticket.applicant_id)
        };
        match manager_for(conn, user, &eligible)? {
            Some(manager) => hand_over(
                conn,
                (&row, &ticket, &node_key),
                &[manager],
                actor,
                TicketEvent::Reassigned,
            )?,
            None => by_empty_policy(conn, &row, &ticket, &node_key, &on_node, actor)?,
        }
    }
    Ok(())
}

/// The people on the assignment's step who are still to decide or have
/// decided (not those cancelled or handed over), other than its own.
fn people_on_node(conn: &mut DbConn, row: &ApproveUser) -> StoreResult<Vec<UserId>> {
    Ok(au::table
        .filter(au::approve_id.eq(row.approve_id))
        .filter(au::id.ne(row.id))
        .filter(au::status.ne(AssignmentStatus::Cancelled))
        .filter(au::status.ne(AssignmentStatus::Transferred))
        .select(au::user_id)
        .load(conn)?)
}

/// The person's manager, or the first manager above who may take the
/// work (`eligible`, given each one's id and whether they are active) —
/// a leaver's, or an overdue step's holder's (`tickets::timed`).
pub(crate) fn manager_for(
    conn: &mut DbConn,
    user: &User,
    eligible: &dyn Fn(UserId, bool) -> bool,
) -> StoreResult<Option<UserId>> {
    let mut current = user.manager_id;
    for _ in 0..MANAGER_LEVELS {
        let Some(id) = current.filter(|id| *id != user.id) else {
            return Ok(None);
        };
        let (active, above): (bool, Option<UserId>) = users::table
            .find(id)
            .select((users::active, users::manager_id))
            .first(conn)?;
        if eligible(id, active) {
            return Ok(Some(id));
        }
        current = above;
    }
    Ok(None)
}

/// No manager may take it: the process's empty-assignee policy decides.
/// "Skip" drops the leaver from a step others still hold (the step then
/// settles with them); a step that would be left with nobody goes to the
/// administrators instead, as "admins" sends it: an approval already under
/// way is never passed because the one person who could decide it left.
fn by_empty_policy(
    conn: &mut DbConn,
    row: &ApproveUser,
    ticket: &Apply,
    node_key: &str,
    on_node: &[UserId],
    actor: Option<UserId>,
) -> StoreResult<()> {
    let def = tickets::def_of(conn, ticket)?;
    let Some(spec) = def.node(node_key) else {
        return Ok(());
    };
    if spec.empty_assignees == EmptyPolicy::Skip && !on_node.is_empty() {
        let dropped = diesel::update(au::table.find(row.id).filter(au::status.eq(&row.status)))
            .set(au::status.eq(AssignmentStatus::Cancelled))
            .execute(conn)?;
        if dropped == 0 {
            return Ok(());
        }
        record(conn, row, TicketEvent::LeaverSkipped, &[], actor)?;
        return tickets::resettle(conn, ticket, row.approve_id, &def);
    }
    let approval = spec.kind == NodeKind::Approval;
    let admins: Vec<UserId> = ra::table
        .inner_join(roles::table)
        .inner_join(users::table.on(users::id.eq(ra::user_id)))
        .filter(roles::code.eq("admin"))
        .filter(ra::business_id.is_null())
        .filter(users::active.eq(true))
        .order(users::username)
        .select(users::id)
        .load(conn)?;
    let mut admins: Vec<UserId> = admins
        .into_iter()
        .filter(|id| !(on_node.contains(id) || approval && *id == ticket.applicant_id))
        .collect();
    admins.dedup();
    // Any one of them decides a step any one decides; where each person's
    // vote counts (all, quorum, sequence) the place goes to one of them:
    // the administrator who deactivated the leaver, if they may take it.
    let mode = if approval { spec.mode } else { Mode::Any };
    if mode != Mode::Any {
        let one = admins
            .iter()
            .copied()
            .find(|id| Some(*id) == actor)
            .or_else(|| admins.first().copied());
        admins = one.into_iter().collect();
    }
    if admins.is_empty() {
        // Nobody at all may take it: it stays (its links do not act), and
        // the timeline says so for an administrator to hand it over.
        return record(conn, row, TicketEvent::Stranded, &[], actor);
    }
    hand_over(
        conn,
        (row, ticket, node_key),
        &admins,
        actor,
        TicketEvent::RoutedToAdmins,
    )
}

/// Hands a leaver's assignment to `to`: it is kept as handed over (so its
/// mailed link, if opened, says its person was deactivated), and each new
/// person takes its place in the step, mailed a link of their own when it
/// is their turn.
fn hand_over(
    conn: &mut DbConn,
    (row, ticket, node_key): (&ApproveUser, &Apply, &str),
    to: &[UserId],
    actor: Option<UserId>,
    event: TicketEvent,
) -> StoreResult<()> {
    let at = now();
    let moved = diesel::update(au::table.find(row.id).filter(au::status.eq(&row.status)))
        .set((
            au::status.eq(AssignmentStatus::Transferred),
            au::acted_by.eq(actor),
            au::decided_at.eq(At(at)),
        ))
        .execute(conn)?;
    if moved == 0 {
        return Ok(());
    }
    // The step's clock starts again for whoever now holds it.
    if row.status == AssignmentStatus::Pending {
        let def = tickets::def_of(conn, ticket)?;
        if let Some(spec) = def.node(node_key).filter(|s| s.deadline.is_some()) {
            super::timers::restart(conn, (row.apply_id, row.approve_id), &def, spec, at)?;
        }
    }
    for (i, person) in to.iter().enumerate() {
        let id: ApproveUserId = diesel::insert_into(au::table)
            .values((
                au::approve_id.eq(row.approve_id),
                au::apply_id.eq(row.apply_id),
                au::position.eq(row.position),
                au::user_id.eq(person),
                au::status.eq(&row.status),
                au::created_at.eq(At(at)),
            ))
            .returning(au::id)
            .get_result(conn)?;
        // The first takes the leaver's place among people added by hand.
        if i == 0 {
            tickets::took_place(conn, row, id)?;
        }
        if row.status == AssignmentStatus::Pending {
            tickets::mail_new_assignee(conn, id)?;
        }
    }
    record(conn, row, event, to, actor)
}

/// The timeline's line for what became of a leaver's assignment.
fn record(
    conn: &mut DbConn,
    row: &ApproveUser,
    event: TicketEvent,
    to: &[UserId],
    actor: Option<UserId>,
) -> StoreResult<()> {
    let node_key: String = n::table
        .find(row.approve_id)
        .select(n::node_key)
        .first(conn)?;
    let people = super::users::people_by_id(conn, &[&[row.user_id], to].concat())?;
    let name = |id: &UserId| {
        people
            .get(id)
            .map(|p| p.display_name.clone())
            .unwrap_or_default()
    };
    let names: Vec<String> = to.iter().map(name).collect();
    audit::record(
        conn,
        Audit {
            apply_id: Some(row.apply_id.0),
            ..Audit::by(actor, event.as_str(), "apply", row.apply_id.0)
        }
        .with_detail(serde_json::json!({
            "node": node_key,
            "from": name(&row.user_id),
            "to": names.join(", "),
            "to_ids": to.iter().map(|u| u.0).collect::<Vec<_>>(),
        })),
    )
}
