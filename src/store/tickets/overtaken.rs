//! What became of an assignment that is no longer open — decided, handed
//! over, or its step decided by others — so a stale tab, a second click
//! or a used link says who got there first, and when.

use diesel::prelude::*;

use super::super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::models::ApproveUser;
use crate::db::schema::approve_users as au;
use crate::db::states::{AssignmentStatus, Decided};
use crate::refusal::Became;

/// What became of an assignment that is no longer open.
pub fn became(conn: &mut DbConn, assignment: &ApproveUser) -> StoreResult<Became> {
    Ok(match assignment.status {
        AssignmentStatus::Decided => Became::Decided {
            by: assignment.acted_by.unwrap_or(assignment.user_id),
            decision: assignment.decision.unwrap_or(Decided::Approve),
            at: assignment.decided_at,
        },
        AssignmentStatus::Transferred => Became::HandedOver {
            to: now_with(conn, assignment)?,
            at: assignment.decided_at,
        },
        _ => {
            // The vote that decided the step: the last one cast on it.
            let last: Option<(
                Option<UserId>,
                Option<Decided>,
                Option<chrono::NaiveDateTime>,
            )> = au::table
                .filter(au::approve_id.eq(assignment.approve_id))
                .filter(au::status.eq(AssignmentStatus::Decided))
                .order((au::decided_at.desc(), au::id.desc()))
                .select((au::acted_by, au::decision, au::decided_at))
                .first(conn)
                .optional()?;
            let (by, decision, at) = last.unwrap_or((None, None, None));
            Became::StepDecided { by, decision, at }
        }
    })
}

/// Who has the step an assignment stood for now: its assignee, or, once
/// it was handed over, whoever took its place.
pub fn now_with(conn: &mut DbConn, assignment: &ApproveUser) -> StoreResult<Option<UserId>> {
    if assignment.status != AssignmentStatus::Transferred {
        return Ok(Some(assignment.user_id));
    }
    Ok(au::table
        .filter(au::approve_id.eq(assignment.approve_id))
        .filter(au::position.eq(assignment.position))
        .filter(au::id.gt(assignment.id))
        .filter(au::status.ne(AssignmentStatus::Transferred))
        .order(au::id)
        .select(au::user_id)
        .first(conn)
        .optional()?)
}
