//! The one door: every action on a ticket, whichever way it comes (the
//! ticket page, the inbox batch, a mailed link; later the API, chat and
//! timers), is a typed request that `perform` checks and carries out in
//! the caller's transaction — or refuses with a typed `Refusal`, having
//! changed nothing. `allowed` says what a viewer may do now, from the same
//! rules, so a page offers exactly what the door accepts.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::super::StoreResult;
use super::super::audit::Channel;
use super::super::ticket_views::{self, TicketView};
use super::super::users::{self, SessionKey, SessionUser};
use super::rules::{self, StepFacts, Verb};
use super::{adding, applicant, copies, decide};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveUserId, UserId};
use crate::db::states::{AssignmentStatus, Decided};
use crate::flow::{NodeKind, ProcessDef};
use crate::refusal::Refusal;

/// Values as sent: each field's key and its text values (a form's
/// fields, or an API body's turned into text), checked at the door
/// against the step's fields exactly as the page's form is.
pub type Raw = HashMap<String, Vec<String>>;

/// A request to act on a ticket: who, through which channel, and what.
#[derive(Debug, Clone)]
pub struct Act {
    pub ticket: ApplyId,
    pub actor: UserId,
    pub channel: Channel,
    pub action: Action,
}

/// What is asked of the ticket. Acting for someone else is not claimed
/// but found: an assignment is the actor's own, or its person's whom the
/// actor stands in for now.
#[derive(Debug, Clone)]
pub enum Action {
    /// Approve, reject or send back an approval; complete a task or review.
    Decide {
        assignment: ApproveUserId,
        decision: Decision,
        comment: String,
    },
    /// Hand a pending step to someone else, by username (转交).
    HandOver {
        assignment: ApproveUserId,
        to: String,
        comment: String,
    },
    /// A comment on the timeline, with files uploaded for it (their ids).
    Comment {
        text: String,
        files: Vec<crate::db::ids::AttachmentId>,
    },
    Withdraw {
        reason: String,
    },
    /// Remind the people the ticket waits for.
    Urge,
    /// The applicant's corrected submit form, for a sent-back ticket.
    Resubmit {
        fields: Raw,
    },
    /// Add approvers to a pending approval (加签), by username, before,
    /// after or alongside its person, saying why.
    AddApprovers {
        assignment: ApproveUserId,
        people: Vec<String>,
        placement: crate::flow::added::Placement,
        reason: String,
    },
    /// Copy the ticket to people (抄送), by username, with a note: they
    /// may read it and decide nothing.
    Copy {
        to: Vec<String>,
        note: String,
    },
}

/// A decision on one assignment.
#[derive(Debug, Clone)]
pub enum Decision {
    Approve,
    Reject,
    /// Reject for now: the applicant corrects the form and resubmits —
    /// or, `to` an earlier step (by node key) where the approval allows
    /// it, that step runs again with its people.
    SendBack {
        to: Option<String>,
    },
    /// Complete a task or review with its fields and, for a review, one
    /// of its outcomes.
    Complete {
        fields: Raw,
        outcome: Option<String>,
    },
}

impl Decision {
    pub fn verb(&self) -> Verb {
        match self {
            Decision::Approve => Verb::Approve,
            Decision::Reject => Verb::Reject,
            Decision::SendBack { .. } => Verb::SendBack,
            Decision::Complete { .. } => Verb::Complete,
        }
    }

    /// As stored on the assignment.
    pub(super) fn stored(&self) -> Decided {
        match self {
            Decision::Approve => Decided::Approve,
            Decision::Reject => Decided::Reject,
            Decision::SendBack { .. } => Decided::SendBack,
            Decision::Complete { .. } => Decided::Done,
        }
    }
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Decided,
    HandedOver,
    Commented,
    Withdrawn,
    /// The people reminded.
    Urged(Vec<UserId>),
    Resubmitted,
    Copied,
    ApproversAdded,
}

/// Carries out `act` in the caller's transaction, or refuses it
/// (`StoreError::Refused`; the caller's transaction rolls back, so
/// nothing it checked along the way is left changed). Every rule of who
/// may do what is checked here, whatever the channel.
pub fn perform(conn: &mut DbConn, act: Act) -> StoreResult<Done> {
    Ok(performed(conn, act, None)?.0)
}

/// Like `perform`, for someone acting through the signed-in web session
/// `key` (as its person): the session is checked here with everything
/// else, and one that has ended or whose person was deactivated is
/// refused (`Refusal::SignedOut`). Its person is returned, as read before
/// the action (the menu's count is not updated), for the answer — a
/// redirect. A decision reads the session beside the step it acts on (no
/// statement of its own on PostgreSQL), and checks its generation on the
/// actor's locked row; other actions read it first.
pub fn perform_signed_in(
    conn: &mut DbConn,
    key: SessionKey,
    act: Act,
) -> StoreResult<(SessionUser, Done)> {
    let act = Act {
        actor: key.user,
        ..act
    };
    let (done, user) = performed(conn, act, Some(key))?;
    Ok((user.ok_or(Refusal::SignedOut)?, done))
}

/// Carries out `act` (checking the session `key` when it came through
/// one), then writes its events and mail together, once it has succeeded.
fn performed(
    conn: &mut DbConn,
    act: Act,
    session: Option<SessionKey>,
) -> StoreResult<(Done, Option<SessionUser>)> {
    let events = super::super::held::Held::begin();
    let done = carry_out(conn, act, session)?;
    events.write(conn)?;
    Ok(done)
}

fn carry_out(
    conn: &mut DbConn,
    act: Act,
    session: Option<SessionKey>,
) -> StoreResult<(Done, Option<SessionUser>)> {
    let Act {
        ticket,
        actor,
        channel,
        action,
    } = act;
    // A decision reads the session beside the step it acts on; any other
    // action reads it first.
    let user = match (&action, session) {
        (Action::Decide { .. }, _) | (_, None) => None,
        (_, Some(key)) => Some(users::session_user(conn, key)?.ok_or(Refusal::SignedOut)?),
    };
    let done = match action {
        Action::Decide {
            assignment,
            decision,
            comment,
        } => {
            return decide::decide(
                conn,
                (ticket, assignment),
                (actor, session),
                channel,
                decision,
                &comment,
            );
        }
        Action::HandOver {
            assignment,
            to,
            comment,
        } => decide::hand_over(conn, (ticket, assignment), actor, channel, &to, &comment),
        Action::Comment { text, files } => {
            applicant::comment(conn, ticket, (actor, channel), &text, &files)
        }
        Action::Withdraw { reason } => applicant::withdraw(conn, ticket, actor, channel, &reason),
        Action::Urge => applicant::urge(conn, ticket, actor, channel),
        Action::Resubmit { fields } => applicant::resubmit(conn, ticket, actor, channel, &fields),
        Action::AddApprovers {
            assignment,
            people,
            placement,
            reason,
        } => adding::add_approvers(
            conn,
            (ticket, assignment),
            (actor, channel),
            &people,
            placement,
            &reason,
        ),
        Action::Copy { to, note } => copies::by_hand(conn, ticket, actor, channel, &to, &note),
    }?;
    Ok((done, user))
}

/// Fires a step's timer claimed by `runner`, as countersign's clock
/// (channel `timer`), in the caller's transaction: the same checks of the
/// live state as any action, its events and mail written once it has
/// succeeded. A timer another runner fired meanwhile, or whose step no
/// longer waits, does nothing.
pub fn fire_timer(
    conn: &mut DbConn,
    timer: &super::super::timers::Timer,
    runner: &str,
) -> StoreResult<super::timed::Fired> {
    let events = super::super::held::Held::begin();
    let fired = super::timed::fire(conn, timer, runner)?;
    events.write(conn)?;
    Ok(fired)
}

/// The ticket an assignment belongs to (for a caller that knows only the
/// assignment, as the inbox batch does).
pub fn ticket_of(conn: &mut DbConn, assignment: ApproveUserId) -> StoreResult<ApplyId> {
    use crate::db::schema::approve_users as au;
    use diesel::prelude::*;
    crate::direct!(conn, |c| au::table
        .find(assignment)
        .select(au::apply_id)
        .first(c))
    .optional()?
    .ok_or_else(|| Refusal::NotFound.into())
}

/// One step a viewer may act on now.
#[derive(Debug, Clone)]
pub struct StepAllowed {
    pub assignment: ApproveUserId,
    pub node_key: String,
    pub node_kind: NodeKind,
    /// Whose step it is (someone else's when the viewer stands in).
    pub assignee: UserId,
    pub verbs: &'static [Verb],
    /// Whether they may add approvers here (加签).
    pub adds: bool,
}

/// What a viewer may do on a ticket now: what its page offers.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    /// Steps that are theirs, or their delegator's, to decide or complete.
    pub steps: Vec<StepAllowed>,
    /// Steps of people who can no longer act, which an administrator may
    /// hand over.
    pub stranded: Vec<StepAllowed>,
    pub withdraw: bool,
    /// Reminding: allowed, or why not (reminded a moment ago).
    pub urge: Option<Result<(), Refusal>>,
    pub resubmit: bool,
    /// Copying the ticket to someone (抄送).
    pub copy: bool,
}

/// What `viewer` (an administrator or not, signed in and so active) may
/// do on the ticket `view` shows, by the rules the door enforces.
pub fn allowed(
    conn: &mut DbConn,
    view: &TicketView,
    def: &ProcessDef,
    viewer: UserId,
    admin: bool,
    now: NaiveDateTime,
) -> StoreResult<Allowed> {
    let ticket = &view.apply;
    let kind = ticket.kind;
    let mut out = Allowed::default();
    let pending = view
        .nodes
        .iter()
        .flat_map(|n| n.people.iter().map(move |(x, _, _)| (n, x)))
        .filter(|(_, x)| x.status == AssignmentStatus::Pending);
    // Whose people can no longer act is read once, and only when it can
    // matter: a step of someone else's the viewer might act on.
    let mut inactive: Option<Vec<ApproveUserId>> = None;
    for (node, x) in pending {
        let Some(spec) = def.node(&node.node.node_key) else {
            continue;
        };
        let acts_for = decide::acts_for(conn, viewer, x.user_id, kind)?;
        let assignee_active = if x.user_id == viewer {
            true
        } else if acts_for || admin {
            let inactive = match &mut inactive {
                Some(list) => list,
                None => inactive.insert(ticket_views::inactive_assignees(conn, ticket.id)?),
            };
            !inactive.contains(&x.id)
        } else {
            continue;
        };
        let facts = StepFacts {
            ticket,
            assignment: x,
            node_kind: spec.kind,
            assignee_active,
            acts_for,
            actor_active: true,
        };
        let step = StepAllowed {
            assignment: x.id,
            node_key: node.node.node_key.clone(),
            node_kind: spec.kind,
            assignee: x.user_id,
            verbs: rules::offered(spec.kind),
            adds: spec.kind == NodeKind::Approval
                && spec.add_approvers
                && x.placement
                    .as_deref()
                    .and_then(crate::flow::added::Placement::parse)
                    .is_none_or(crate::flow::added::Placement::seats),
        };
        if rules::may_act(viewer, &facts).is_ok() {
            out.steps.push(step);
        } else if admin && !assignee_active && rules::may_hand_over(viewer, admin, &facts).is_ok() {
            out.stranded.push(StepAllowed {
                verbs: &[Verb::HandOver],
                ..step
            });
        }
    }
    out.withdraw = rules::may_withdraw(viewer, ticket).is_ok();
    out.urge = out.withdraw.then(|| rules::may_urge(viewer, ticket, now));
    out.resubmit = rules::may_resubmit(viewer, ticket).is_ok();
    out.copy = admin
        || viewer == ticket.applicant_id
        || !out.steps.is_empty()
        || view
            .nodes
            .iter()
            .flat_map(|n| n.people.iter())
            .any(|(x, _, _)| x.user_id == viewer || x.acted_by == Some(viewer))
        || ticket_views::stands_in_on(conn, ticket, viewer)?;
    Ok(out)
}
