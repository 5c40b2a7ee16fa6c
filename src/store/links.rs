//! One-click links in approval mail: a 256-bit token per assignment, kept
//! only as its hash, bound to the person it was mailed to, expiring (from
//! when its mail was sent) and single-use; what a link leads to, checked against the live state; and
//! deciding through one. A link never acts for someone who can no longer
//! act (deactivated), whatever has become of their work since.

use diesel::prelude::*;

use super::audit::Channel;
use super::tickets::overtaken::{became, now_with};
use super::tickets::{self, Act, Action, Decision};
use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApproveUserId, UserId};
use crate::db::models::{Apply, Approve, ApproveUser};
use crate::db::prepared;
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, retired_links as r, users,
};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, TicketStatus};
pub use crate::refusal::Became;

/// A fresh 256-bit link token for an assignment, to be mailed to `to`
/// (the assignee or their stand-in), replacing any link mailed before;
/// only its hash is kept here. Its lifetime starts when its mail is sent
/// (`start_lifetime`).
pub(crate) fn issue(
    conn: &mut DbConn,
    assignment: ApproveUserId,
    to: UserId,
) -> StoreResult<String> {
    let token = crate::token::random_hex::<32>();
    crate::direct!(conn, |c| prepared::update(
        au::table.find(assignment),
        (
            au::email_token_hash.eq(crate::token::hash(&token)),
            au::email_token_expires_at.eq(None::<At>),
            au::email_token_to.eq(to),
        ),
    )
    .execute(c))?;
    Ok(token)
}

/// The link `token` was mailed: it is valid until `until` (the mail
/// worker's link lifetime from the moment the mail server took it).
pub(crate) fn start_lifetime(
    conn: &mut DbConn,
    token: &str,
    until: chrono::NaiveDateTime,
) -> StoreResult<()> {
    crate::direct!(conn, |c| prepared::update(
        au::table.filter(au::email_token_hash.eq(crate::token::hash(token))),
        au::email_token_expires_at.eq(At(until)),
    )
    .execute(c))?;
    Ok(())
}

/// The links `tokens` were mailed (a batch the mail worker recorded
/// together): each is valid until `until`. One statement for them all.
pub(crate) fn start_lifetimes(
    conn: &mut DbConn,
    tokens: &[&str],
    until: chrono::NaiveDateTime,
) -> StoreResult<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = tokens.iter().map(|t| crate::token::hash(t)).collect();
    crate::direct!(conn, |c| prepared::update(
        au::table.filter(au::email_token_hash.eq_any(&hashes)),
        au::email_token_expires_at.eq(At(until)),
    )
    .execute(c))?;
    Ok(())
}

/// Why a link was retired before it was used.
pub const RETIRED_DEACTIVATED: &str = "deactivated";

/// Takes the link of `assignment` out of use, remembering why, so that
/// opening it later says what happened rather than "unknown link".
pub(crate) fn retire(
    conn: &mut DbConn,
    assignment: ApproveUserId,
    reason: &str,
) -> StoreResult<()> {
    let Some((Some(hash), sent_to)) = au::table
        .find(assignment)
        .select((au::email_token_hash, au::email_token_to))
        .first::<(Option<String>, Option<UserId>)>(conn)
        .optional()?
    else {
        return Ok(());
    };
    crate::direct!(conn, |c| diesel::insert_into(r::table)
        .values((
            r::token_hash.eq(&hash),
            r::approve_user_id.eq(assignment),
            r::sent_to.eq(sent_to),
            r::reason.eq(reason),
            r::retired_at.eq(At(now())),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    diesel::update(au::table.find(assignment))
        .set(au::email_token_hash.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// What a one-click link leads to, checked against the live state.
pub enum LinkState {
    /// No assignment has this token (altered, or replaced by a newer mail).
    Unknown,
    Expired,
    /// The assignment was decided, handed over, or its step decided by
    /// others: what became of it, and when.
    Used {
        became: Became,
        sent_to: UserId,
        ticket: Box<Apply>,
    },
    /// The link went to a stand-in whose delegation has ended: the
    /// assignment is `assignee`'s own again.
    Returned {
        assignee: UserId,
    },
    /// The link went to `person`, who can no longer act in countersign
    /// (deactivated); the step is now with `now_with`, if anyone.
    Deactivated {
        person: UserId,
        now_with: Option<UserId>,
    },
    /// The ticket no longer runs (withdrawn, finished, rejected, sent back).
    Closed(Box<Apply>),
    Valid {
        assignment: Box<ApproveUser>,
        /// Who the link was mailed to, and so who decides: the assignee,
        /// or the stand-in acting for them.
        sent_to: UserId,
        ticket: Box<Apply>,
        node: Box<Approve>,
    },
}

/// Which of `ids` are active people.
fn active_among(conn: &mut DbConn, ids: [UserId; 2]) -> StoreResult<Vec<UserId>> {
    Ok(users::table
        .filter(users::id.eq(ids[0]).or(users::id.eq(ids[1])))
        .filter(users::active.eq(true))
        .select(users::id)
        .load(conn)?)
}

pub fn link_state(conn: &mut DbConn, token: &str) -> StoreResult<LinkState> {
    let hash = crate::token::hash(token);
    let Some((assignment, sent_to)) = au::table
        .filter(au::email_token_hash.eq(&hash))
        .select((ApproveUser::as_select(), au::email_token_to))
        .first::<(ApproveUser, Option<UserId>)>(conn)
        .optional()?
    else {
        return retired(conn, &hash);
    };
    let sent_to = sent_to.unwrap_or(assignment.user_id);
    let ticket: Apply = a::table
        .find(assignment.apply_id)
        .select(Apply::as_select())
        .first(conn)?;
    // Decided (by this link or otherwise), or its step decided by someone
    // else's vote: say who and when, even once the ticket has ended.
    if assignment.status == AssignmentStatus::Decided
        || assignment.status == AssignmentStatus::Cancelled
    {
        let became = became(conn, &assignment)?;
        let decided = !matches!(became, Became::StepDecided { by: None, .. });
        if decided {
            return Ok(LinkState::Used {
                became,
                sent_to,
                ticket: Box::new(ticket),
            });
        }
    }
    // Otherwise a closed ticket says why it closed (withdrawn, sent back…).
    if ticket.status != TicketStatus::Running {
        return Ok(LinkState::Closed(Box::new(ticket)));
    }
    // Whoever the link went to must still be someone who may act, and so
    // must the person it decides for.
    let active = active_among(conn, [sent_to, assignment.user_id])?;
    if !active.contains(&sent_to) {
        let now_with = now_with(conn, &assignment)?;
        return Ok(LinkState::Deactivated {
            person: sent_to,
            now_with,
        });
    }
    if !active.contains(&assignment.user_id) {
        return Ok(LinkState::Deactivated {
            person: assignment.user_id,
            now_with: None,
        });
    }
    if assignment.status != AssignmentStatus::Pending {
        return Ok(LinkState::Used {
            became: became(conn, &assignment)?,
            sent_to,
            ticket: Box::new(ticket),
        });
    }
    // A link whose mail is not yet recorded as sent has no end yet.
    if assignment
        .email_token_expires_at
        .is_some_and(|at| at <= now())
    {
        return Ok(LinkState::Expired);
    }
    let kind = ticket.kind;
    if !tickets::acts_for(conn, sent_to, assignment.user_id, kind)? {
        return Ok(LinkState::Returned {
            assignee: assignment.user_id,
        });
    }
    let node: Approve = n::table
        .find(assignment.approve_id)
        .select(Approve::as_select())
        .first(conn)?;
    Ok(LinkState::Valid {
        assignment: Box::new(assignment),
        sent_to,
        ticket: Box::new(ticket),
        node: Box::new(node),
    })
}

/// A link no assignment holds: one retired for a reason (its person was
/// deactivated), or unknown.
fn retired(conn: &mut DbConn, hash: &str) -> StoreResult<LinkState> {
    let Some((assignment, sent_to)) = r::table
        .find(hash)
        .filter(r::reason.eq(RETIRED_DEACTIVATED))
        .select((r::approve_user_id, r::sent_to))
        .first::<(ApproveUserId, Option<UserId>)>(conn)
        .optional()?
    else {
        return Ok(LinkState::Unknown);
    };
    let row: ApproveUser = au::table
        .find(assignment)
        .select(ApproveUser::as_select())
        .first(conn)?;
    let open = row.status == AssignmentStatus::Pending || row.status == AssignmentStatus::Waiting;
    Ok(LinkState::Deactivated {
        person: sent_to.unwrap_or(row.user_id),
        now_with: if open { now_with(conn, &row)? } else { None },
    })
}

/// Decides through a one-click link, as the person it was mailed to (the
/// assignee, or their stand-in: "B for A"), with channel "email link",
/// through the same door as every other way of deciding. Deciding spends
/// it: the assignment is no longer pending.
pub fn act_by_link(
    conn: &mut DbConn,
    token: &str,
    approve: bool,
    comment: &str,
) -> StoreResult<tickets::door::Done> {
    let LinkState::Valid {
        assignment,
        sent_to,
        ticket,
        ..
    } = link_state(conn, token)?
    else {
        return Err(super::StoreError::rule("", "errors.link_not_valid"));
    };
    // Single use: once decided, the link finds its assignment decided
    // and says so (who, what, when) rather than acting again.
    tickets::perform(
        conn,
        Act {
            ticket: ticket.id,
            actor: sent_to,
            channel: Channel::EmailLink,
            action: Action::Decide {
                assignment: assignment.id,
                decision: if approve {
                    Decision::Approve
                } else {
                    Decision::Reject
                },
                comment: comment.to_string(),
            },
        },
    )
}
